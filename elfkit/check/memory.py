"""How the kernel and ld.so will map the file: PIE, NX, executable stack, RELRO, W+X, TEXTREL.

Each check models one decision of `fs/binfmt_elf.c` (load_elf_binary: ET_DYN
load bias, PT_GNU_STACK -> executable_stack) or of glibc's ld.so
(`_dl_map_object_from_fd`: PT_GNU_STACK and DEFAULT_STACK_PERMS,
`_dl_protect_relro`: mprotect of PT_GNU_RELRO rounded to pages after
relocation, `_dl_relocate_object`: DT_TEXTREL makes text writable while
relocating).
"""
from __future__ import annotations

import struct

from elfkit.check.facts import KINDS, page_down
from elfkit.check.results import FAIL, NA, PASS, result
from elfkit.elf.constants import DF, DT, PF, PT, SHF

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


def check_nx(facts, policy):
    """NX: PT_GNU_STACK present and without PF_X. A missing PT_GNU_STACK is its own finding."""
    if not facts.linked:
        return _not_linked("nx", facts)
    stack = _stack_segment(facts)
    if stack is None:
        return result("nx", FAIL, "no GNU_STACK", "no PT_GNU_STACK: ld.so then assumes an "
                      "executable stack (DEFAULT_STACK_PERMS includes PF_X)",
                      gnu_stack=None, finding="missing-gnu-stack")
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
        return result("execstack", FAIL, "default", "no PT_GNU_STACK: glibc's ld.so and "
                      "libpthread make stacks executable by default", gnu_stack=None)
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
    the three reserved words at DT_PLTGOT and every DT_JMPREL slot. A file that only
    *claims* BIND_NOW while its PLT slots lie outside the protected range is partial.
    """
    seg = facts.segment(PT.GNU_RELRO)
    now = facts.bind_now
    ev = {"gnu_relro": None, "bind_now": now, "protected": None, "got_outside": []}
    if seg is None:
        return "none", "no PT_GNU_RELRO: nothing is made read-only after relocation", ev
    start, end = page_down(seg.vaddr), page_down(seg.vaddr + seg.memsz)
    ev["gnu_relro"] = {"vaddr": seg.vaddr, "memsz": seg.memsz}
    ev["protected"] = [start, end]
    if not now:
        return "partial", ("PT_GNU_RELRO without BIND_NOW: the PLT's GOT slots stay writable "
                           "for lazy binding"), ev
    outside = [a for a in _got_slots(facts) if not start <= a < end]
    ev["got_outside"] = outside[:8]
    if outside:
        return "partial", (f"BIND_NOW, but {len(outside)} GOT slot(s) lie outside the pages "
                           f"PT_GNU_RELRO protects [{start:#x}, {end:#x}) and stay writable"), ev
    return "full", "PT_GNU_RELRO covers the GOT and BIND_NOW resolves it at start-up", ev


def _got_slots(facts) -> list[int]:
    """Addresses ld.so writes into the GOT: DT_PLTGOT's reserved words and the JMPREL slots."""
    elf, slots = facts.elf, []
    word = elf.fmt.word
    pltgot = facts.dyn_value(DT.PLTGOT)
    if pltgot is not None:
        slots += [pltgot + i * word for i in range(3)]
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
