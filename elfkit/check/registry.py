"""Every check elfkit knows, in report order: id, the function, and its text for people and SARIF.

A table, not discovery by name: the order here is the order of table
columns, JSON keys and SARIF rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from elfkit.check import compiler, linking, memory, metadata


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    run: Callable
    title: str          # short name for a column / SARIF rule name
    summary: str        # one line: what passing means
    help: str           # why it matters and how to fix a failure


CHECKS: tuple[Check, ...] = (
    Check("pie", memory.check_pie, "PIE",
          "Executables are position-independent (ET_DYN), so the kernel loads them at a random "
          "address.",
          "Build with -fPIE -pie (or -static-pie). An ET_EXEC is always mapped at its link "
          "address, which lets an attacker find code without an information leak."),
    Check("nx", memory.check_nx, "NX",
          "PT_GNU_STACK is present and not executable.",
          "A missing PT_GNU_STACK (its own finding) or one with PF_X gives the process an "
          "executable stack. Link with -z noexecstack and make sure every assembly source "
          "has a .note.GNU-stack section."),
    Check("relro", memory.check_relro, "RELRO",
          "Relocated data and the GOT are read-only after start-up (full: PT_GNU_RELRO + "
          "BIND_NOW + the GOT inside the protected pages).",
          "Link with -Wl,-z,relro,-z,now. Partial RELRO leaves the PLT's GOT slots writable "
          "for lazy binding, a classic target for overwrites."),
    Check("canary", compiler.check_canary, "Canary",
          "Some function was compiled with a stack protector (__stack_chk_fail referenced).",
          "Build with -fstack-protector-strong. A file whose functions have no arrays or "
          "address-taken locals references no __stack_chk_fail even when built with it."),
    Check("fortify", compiler.check_fortify, "FORTIFY",
          "Calls to libc functions that have __*_chk variants use the checked variants.",
          "Build with -O2 -D_FORTIFY_SOURCE=2 (or 3). Counts are fortified / (fortified + "
          "plain calls to functions that have a __*_chk variant)."),
    Check("cet-ibt", compiler.check_cet_ibt, "IBT",
          "The GNU property note marks the file IBT-compatible (every input built with "
          "-fcf-protection=branch).",
          "Build every object with -fcf-protection=full; one object without the marking "
          "(an assembly file, an old static library) clears it for the whole file."),
    Check("cet-shstk", compiler.check_cet_shstk, "SHSTK",
          "The GNU property note marks the file shadow-stack compatible (every input built "
          "with -fcf-protection=return).",
          "Build every object with -fcf-protection=full; one object without the marking "
          "clears it for the whole file."),
    Check("bti", compiler.check_bti, "BTI",
          "AArch64: the GNU property note marks the file BTI-compatible (every input built "
          "with -mbranch-protection=bti or =standard); n/a on other machines.",
          "Build every object with -mbranch-protection=standard; one object without the "
          "marking (an assembly file, an old static library) clears it for the whole file, "
          "and the kernel and ld.so then map its code without PROT_BTI."),
    Check("pac", compiler.check_pac, "PAC",
          "AArch64: the GNU property note marks the file as signing return addresses (every "
          "input built with -mbranch-protection=pac-ret or =standard); n/a on other machines.",
          "Build every object with -mbranch-protection=standard; one object without the "
          "marking clears it for the whole file."),
    Check("isa-level", compiler.check_isa_level, "ISA",
          "The x86-64 micro-architecture level the file needs is within the policy's limit.",
          "GNU_PROPERTY_X86_ISA_1_NEEDED comes from -march=x86-64-v2/v3/v4 (or -z "
          "x86-64-vN); glibc refuses to load the file on a CPU below that level."),
    Check("execstack", memory.check_execstack, "ExecStack",
          "Nothing asks for an executable stack (PT_GNU_STACK, or .note.GNU-stack in objects).",
          "Link with -z noexecstack; find the object without .note.GNU-stack (ld warns about "
          "it) and add `.section .note.GNU-stack,\"\",@progbits` to its assembly."),
    Check("wx-segments", memory.check_wx_segments, "W^X",
          "No loadable segment is both writable and executable.",
          "An RWX PT_LOAD comes from a linker script, -N/--omagic or a section with "
          "\"awx\" flags; split code from data."),
    Check("textrel", memory.check_textrel, "TEXTREL",
          "No relocations against read-only text (DT_TEXTREL / DF_TEXTREL).",
          "Compile every object with -fPIC/-fPIE; TEXTREL makes ld.so write to code pages "
          "and defeats W^X."),
    Check("rpath", linking.check_rpath, "RPATH",
          "DT_RPATH is absent, or holds only entries of kinds the policy allows ($ORIGIN, "
          "absolute).",
          "Prefer DT_RUNPATH (--enable-new-dtags) or none; a relative or empty entry is "
          "searched from the current directory, so running the program from an "
          "attacker's directory loads the attacker's libraries."),
    Check("runpath", linking.check_runpath, "RUNPATH",
          "DT_RUNPATH is absent, or holds only entries of kinds the policy allows.",
          "Use $ORIGIN-based entries for relocatable installs; never relative or empty ones."),
    Check("glibc-version", linking.check_glibc_version, "GLIBC",
          "The newest GLIBC_x.y symbol version needed is within the policy's limit.",
          "Build against an older glibc (a manylinux image or sysroot) to run on older "
          "systems."),
    Check("glibcxx-version", linking.check_glibcxx_version, "GLIBCXX",
          "The newest GLIBCXX_x.y.z (libstdc++) version needed is within the policy's limit.",
          "Build with an older libstdc++ or link it statically."),
    Check("cxxabi-version", linking.check_cxxabi_version, "CXXABI",
          "The newest CXXABI_x.y.z (libstdc++ ABI) version needed is within the policy's "
          "limit.",
          "Build with an older libstdc++ or link it statically."),
    Check("needed", linking.check_needed, "NEEDED",
          "Every DT_NEEDED library is on the policy's allow-list.",
          "Bundle other libraries with the program (and reach them through $ORIGIN) or link "
          "them statically."),
    Check("stripped", metadata.check_stripped, "Stripped",
          "No .symtab: the file carries only the dynamic symbols ld.so needs.",
          "strip --strip-unneeded, or keep symbols in a separate debug file."),
    Check("debug-info", metadata.check_debug_info, "Debug",
          "No DWARF sections in the file itself.",
          "objcopy --only-keep-debug into a separate file, then strip and add "
          "--add-gnu-debuglink."),
    Check("build-id", metadata.check_build_id, "BuildID",
          "An NT_GNU_BUILD_ID note identifies this build.",
          "Link with -Wl,--build-id (the default on most distributions)."),
    Check("well-formed", metadata.check_well_formed, "WellFormed",
          "No damage was found while reading the parts of the file the checks needed.",
          "The file is truncated or has out-of-range fields; the other verdicts may rest on "
          "partial data."),
)

BY_ID: dict[str, Check] = {c.id: c for c in CHECKS}
IDS: tuple[str, ...] = tuple(BY_ID)
