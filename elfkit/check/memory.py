"""How the kernel and ld.so will map the file: PIE, NX, executable stack, RELRO, W+X, TEXTREL.

Each check models one decision of `fs/binfmt_elf.c` (load_elf_binary: ET_DYN
load bias, PT_GNU_STACK -> executable_stack) or of glibc's ld.so
(`_dl_map_object_from_fd`: PT_GNU_STACK and DEFAULT_STACK_PERMS,
`_dl_protect_relro`: mprotect of PT_GNU_RELRO rounded to pages after
relocation, `_dl_relocate_object`: DT_TEXTREL makes text writable while
relocating). What a *missing* PT_GNU_STACK means, the page size and which
words of the GOT ld.so writes differ by machine (machines.py).
"""
from __future__ import annotations

import struct

from elfkit.check import machines as M
from elfkit.check.facts import KINDS, page_down
from elfkit.check.results import FAIL, NA, PASS, result
from elfkit.elf.constants import DF, DT, PF, PT, SHF

# Machine-specific dynamic tags ld.so reads to find the words of the GOT it writes.
DT_PPC_GOT = 0x70000000             # 32-bit PowerPC secure PLT: _GLOBAL_OFFSET_TABLE_
DT_MIPS_LOCAL_GOTNO = 0x7000000A    # MIPS GOT: local entries (relocated by the load bias)
DT_MIPS_SYMTABNO = 0x70000011
DT_MIPS_GOTSYM = 0x70000013         # first .dynsym entry with a global GOT entry
DT_MIPS_PLTGOT = 0x70000032         # MIPS .got.plt (non-PIC PLT)

RELRO_LEVELS = ("none", "partial", "full")


def _not_linked(check, facts):
    return result(check, NA, "n/a", f"{KINDS[facts.kind]}: not loaded by the kernel or ld.so",
                  kind=facts.kind)


def check_pie(facts, policy):
    """PIE: the kernel picks a random load bias only for ET_DYN (load_elf_binary)."""
    kind = facts.kind
    if kind == "pie":
        return result("pie", PASS, "PIE", "ET_DYN executable with PT_INTERP: loaded at a random "
                      "address", kind=kind)
    if kind == "static-pie":
        return result("pie", PASS, "static-PIE", "ET_DYN executable without PT_INTERP "
                      "(-static-pie): relocates itself at a random address", kind=kind)
    if kind in ("exec", "static-exec"):
        base = min((s.vaddr for s in facts.elf.load_segments), default=0)
        return result("pie", FAIL, "no", "ET_EXEC: always loaded at its link-time address "
                      f"{base:#x}", kind=kind, base=base)
    if kind == "shared-lib":
        return result("pie", NA, "DSO", "shared library: position-independent by nature",
                      kind=kind)
    return _not_linked("pie", facts)


def _stack_segment(facts):
    seg = facts.segment(PT.GNU_STACK)
    return None if seg is None else {"flags": int(seg.flags), "executable": bool(seg.flags & PF.X)}


def _missing_stack(facts) -> tuple[bool, str, dict]:
    """(stack stays non-executable, why, evidence) for a linked file without PT_GNU_STACK."""
    machine, executable = facts.machine, facts.executable
    ok = machine.nx_by_default or (not executable and not machine.ldso_exec)
    return ok, M.missing_stack_why(machine, executable), M.stack_default(machine, executable)


def check_nx(facts, policy):
    """NX: PT_GNU_STACK present and without PF_X. A missing PT_GNU_STACK is its own finding,
    a failure unless the machine's kernel and glibc both default to a non-executable stack
    (AArch64, RISC-V, PowerPC64, LoongArch)."""
    if not facts.linked:
        return _not_linked("nx", facts)
    stack = _stack_segment(facts)
    if stack is None:
        ok, why, default = _missing_stack(facts)
        if ok:
            return result("nx", PASS, "yes (default)", f"no PT_GNU_STACK, but {why}: the "
                          "stack is not executable", gnu_stack=None,
                          finding="missing-gnu-stack", default=default)
        if facts.machine is M.X86_64:
            why = "ld.so then assumes an executable stack (DEFAULT_STACK_PERMS includes PF_X)"
        return result("nx", FAIL, "no GNU_STACK", f"no PT_GNU_STACK: {why}",
                      gnu_stack=None, finding="missing-gnu-stack", default=default)
    if stack["executable"]:
        return result("nx", FAIL, "no", "PT_GNU_STACK asks for an executable stack (RWE)",
                      gnu_stack=stack, finding="executable-stack")
    return result("nx", PASS, "yes", "PT_GNU_STACK without PF_X: stack not executable",
                  gnu_stack=stack, finding=None)


def check_execstack(facts, policy):
    """Executable stack: requested by PT_GNU_STACK (linked files) or .note.GNU-stack (objects)."""
    if facts.kind == "object":
        note = next((s for s in facts.elf.sections if s.name == ".note.GNU-stack"), None)
        if note is None:
            if not facts.machine.ld_exec:
                return result("execstack", PASS, "unmarked", "no .note.GNU-stack section, "
                              f"but GNU ld for {facts.machine.name} does not take that as a "
                              "request for an executable stack", section=None)
            return result("execstack", FAIL, "unmarked", "no .note.GNU-stack section: ld "
                          "treats the object as needing an executable stack", section=None)
        if note.flags & SHF.EXECINSTR:
            return result("execstack", FAIL, "yes", ".note.GNU-stack is SHF_EXECINSTR: the "
                          "object asks for an executable stack", section=int(note.flags))
        return result("execstack", PASS, "no", ".note.GNU-stack without SHF_EXECINSTR",
                      section=int(note.flags))
    if not facts.linked:
        return _not_linked("execstack", facts)
    stack = _stack_segment(facts)
    if stack is None:
        ok, why, default = _missing_stack(facts)
        if ok:
            return result("execstack", PASS, "no (default)", f"no PT_GNU_STACK, but {why}",
                          gnu_stack=None, default=default)
        if facts.machine is M.X86_64:
            why = "glibc's ld.so and libpthread make stacks executable by default"
        return result("execstack", FAIL, "default", f"no PT_GNU_STACK: {why}",
                      gnu_stack=None, default=default)
    if stack["executable"]:
        return result("execstack", FAIL, "yes", "PT_GNU_STACK is RWE: the kernel maps the "
                      "stack executable", gnu_stack=stack)
    return result("execstack", PASS, "no", "PT_GNU_STACK is not executable", gnu_stack=stack)


def check_wx_segments(facts, policy):
    """Writable-and-executable PT_LOAD segments: code that can be rewritten at run time."""
    if not facts.linked:
        return _not_linked("wx-segments", facts)
    wx = [{"index": s.index, "vaddr": s.vaddr, "memsz": s.memsz, "flags": int(s.flags)}
          for s in facts.elf.load_segments if s.flags & PF.W and s.flags & PF.X]
    if wx:
        return result("wx-segments", FAIL, f"{len(wx)} RWX", f"{len(wx)} PT_LOAD segment(s) "
                      "writable and executable", segments=wx)
    return result("wx-segments", PASS, "none", "no PT_LOAD segment is both writable and "
                  "executable", segments=[])


def check_textrel(facts, policy):
    """TEXTREL: ld.so must make code writable to relocate it (DT_TEXTREL / DF_TEXTREL)."""
    if not facts.linked:
        return _not_linked("textrel", facts)
    if facts.dynamic is None:
        return result("textrel", NA, "static", "no dynamic section: nothing relocates the "
                      "text at run time", tags=[])
    tags = []
    if facts.dyn_value(DT.TEXTREL) is not None:
        tags.append("DT_TEXTREL")
    if facts.dynamic.flags & DF.TEXTREL:
        tags.append("DT_FLAGS TEXTREL")
    if tags:
        return result("textrel", FAIL, "yes", "relocations against read-only text: ld.so "
                      "makes the code writable while relocating", tags=tags)
    return result("textrel", PASS, "no", "no DT_TEXTREL / DF_TEXTREL", tags=[])


# --- RELRO ---------------------------------------------------------------------------------
def relro_level(facts) -> tuple[str, str, dict]:
    """(none/partial/full, why, evidence).

    Full RELRO needs three things, as glibc applies them: a PT_GNU_RELRO segment
    (`_dl_protect_relro` mprotects [vaddr, vaddr+memsz) rounded *down* to pages at both
    ends), BIND_NOW (DT_BIND_NOW, DF_BIND_NOW or DF_1_NOW: no lazy binding, so no GOT
    slot is written after start-up), and the GOT itself inside the protected pages:
    the words of the GOT ld.so writes (machine by machine, `_got_slots`) and every
    DT_JMPREL slot. A file that only *claims* BIND_NOW while its PLT slots lie outside the
    protected range is partial. glibc rounds to the run-time page size, so the range
    protected on every kernel the file can run on starts at vaddr rounded down to 4 KiB
    and ends at vaddr+memsz rounded down to the largest page the machine's kernels use
    that the file's PT_LOAD alignment allows (`page_size`; 4 KiB on x86, so both ends as
    before).
    """
    seg = facts.segment(PT.GNU_RELRO)
    now = facts.bind_now
    page = M.relro_page_size(facts.machine, facts.elf.load_segments)
    ev = {"gnu_relro": None, "bind_now": now, "protected": None, "got_outside": [],
          "page_size": page}
    note = _RELRO_NOTES.get(facts.machine.key, "")
    if facts.machine is M.PPC and facts.dyn_value(DT_PPC_GOT) is None:
        note = (" (BSS-PLT: the PLT is code ld.so patches at start-up, in a writable and "
                "executable segment; link with --secure-plt)")
    if seg is None:
        why = "no PT_GNU_RELRO: nothing is made read-only after relocation"
        if facts.machine is M.MIPS:
            why += (" (on MIPS, ld makes PT_GNU_RELRO only when there is relro data besides "
                    "the GOT: .data.rel.ro, .init_array...; the GOT is never in it)")
        return "none", why, ev
    start, end = page_down(seg.vaddr), page_down(seg.vaddr + seg.memsz, page)
    ev["gnu_relro"] = {"vaddr": seg.vaddr, "memsz": seg.memsz}
    ev["protected"] = [start, end]
    outside = [a for a in _got_slots(facts) if not start <= a < end]
    if not outside:
        note = ""
    if not now:
        return "partial", ("PT_GNU_RELRO without BIND_NOW: the PLT's GOT slots stay writable "
                           f"for lazy binding{note}"), ev
    ev["got_outside"] = outside[:8]
    if outside:
        return "partial", (f"BIND_NOW, but {len(outside)} GOT slot(s) lie outside the pages "
                           f"PT_GNU_RELRO protects [{start:#x}, {end:#x}) and stay writable"
                           f"{note}"), ev
    return "full", "PT_GNU_RELRO covers the GOT and BIND_NOW resolves it at start-up", ev


# Why a machine's GOT (or PLT) is outside PT_GNU_RELRO whatever the flags: the toolchain's
# layout, not something a build option changes.
_RELRO_NOTES = {
    "mips": " (ld never places the MIPS GOT, which ld.so writes, under PT_GNU_RELRO)",
    "sparc64": " (on SPARC the PLT is code ld.so patches at start-up, so ld never places it "
               "under PT_GNU_RELRO)",
    "sparc": " (on SPARC the PLT is code ld.so patches at start-up, so ld never places it "
             "under PT_GNU_RELRO)",
    "riscv": " (GNU ld's RISC-V linker script places .got after the end of PT_GNU_RELRO, "
             "beside .sdata)",
}


def _got_header(facts) -> list[int]:
    """The words at the head of the GOT (or PLT) that ld.so writes, per machine's psABI and
    glibc's elf_machine_runtime_setup."""
    elf, m = facts.elf, facts.machine
    word = elf.fmt.word
    pltgot = facts.dyn_value(DT.PLTGOT)
    if m is M.PPC and facts.dyn_value(DT_PPC_GOT) is not None:
        got = facts.dyn_value(DT_PPC_GOT)       # secure PLT: got[1], got[2]; .plt holds slots
        return [got + word, got + 2 * word]
    if m is M.MIPS:
        out = []
        if pltgot is not None:                  # every local and global entry of the GOT
            local = facts.dyn_value(DT_MIPS_LOCAL_GOTNO) or 0
            symtabno, gotsym = facts.dyn_value(DT_MIPS_SYMTABNO), facts.dyn_value(DT_MIPS_GOTSYM)
            glob = max(0, symtabno - gotsym) if symtabno is not None and gotsym is not None else 0
            out += [pltgot + i * word for i in range(min(local + glob, 1 << 20))]
        mips_pltgot = facts.dyn_value(DT_MIPS_PLTGOT)
        if mips_pltgot is not None:
            out += [mips_pltgot, mips_pltgot + word]
        return out
    if pltgot is None:
        return []
    if m in (M.RISCV, M.LOONGARCH) or (m is M.PPC64 and not facts.ppc64_elfv1):
        count = 2
    else:
        count = 3
    return [pltgot + i * word for i in range(count)]


def _got_slots(facts) -> list[int]:
    """Addresses ld.so writes into the GOT: its reserved words (`_got_header`) and the
    JMPREL slots."""
    elf, slots = facts.elf, _got_header(facts)
    word = elf.fmt.word
    jmprel, size = facts.dyn_value(DT.JMPREL), facts.dyn_value(DT.PLTRELSZ)
    if jmprel is None or not size:
        return slots
    layout = elf.fmt.rela if facts.dyn_value(DT.PLTREL) == DT.RELA else elf.fmt.rel
    offset = elf.vaddr_to_offset(jmprel)
    if offset is None or not elf.check_range(offset, size, "DT_JMPREL table"):
        return slots
    size -= size % layout.size
    first = struct.Struct(elf.fmt.endian + ("Q" if word == 8 else "I"))
    slots += [first.unpack_from(elf.data, offset + i)[0] for i in range(0, size, layout.size)]
    return slots


def check_relro(facts, policy):
    if not facts.linked:
        return _not_linked("relro", facts)
    level, why, ev = relro_level(facts)
    want = policy.relro
    ok = RELRO_LEVELS.index(level) >= RELRO_LEVELS.index(want)
    ev["required_level"] = want
    return result("relro", PASS if ok else FAIL, level, why, **ev)
