"""The hardening properties of one ELF file: RELRO, NX, PIE, stack protector, FORTIFY, CET.

Each function takes an ElfFile and answers from its parsed views only.
"""
from __future__ import annotations

from elfkit.elf.constants import DF, DF_1, DT, ET, GNU_PROPERTY, GNU_PROPERTY_X86_FEATURE_1_IBT, \
    GNU_PROPERTY_X86_FEATURE_1_SHSTK, PF, PT


def bind_now(elf) -> bool:
    dyn = elf.dynamic
    if dyn is None:
        return False
    return (dyn.value(DT.BIND_NOW) is not None or bool(dyn.flags & DF.BIND_NOW)
            or bool(dyn.flags_1 & DF_1.NOW))


def relro_segment(elf):
    return next((s for s in elf.segments if s.type == PT.GNU_RELRO), None)


def relro(elf) -> str:
    """none / partial / full. Full needs PT_GNU_RELRO, BIND_NOW, and the GOT (DT_PLTGOT) inside RELRO."""
    seg = relro_segment(elf)
    if seg is None:
        return "none"
    if not bind_now(elf):
        return "partial"
    pltgot = elf.dynamic.value(DT.PLTGOT) if elf.dynamic else None
    if pltgot is not None and not seg.vaddr <= pltgot < seg.vaddr + seg.memsz:
        return "partial"
    return "full"


def nx(elf) -> bool | None:
    """True when PT_GNU_STACK is not executable; None when there is no PT_GNU_STACK."""
    seg = next((s for s in elf.segments if s.type == PT.GNU_STACK), None)
    if seg is None:
        return None
    return not seg.flags & PF.X


def is_pie(elf) -> bool:
    if elf.header.type != ET.DYN:
        return False
    dyn = elf.dynamic
    if dyn is not None and dyn.flags_1 & DF_1.PIE:
        return True
    return any(s.type == PT.INTERP for s in elf.segments) and (dyn is None or dyn.soname is None)


def _symbol_names(elf):
    names = set()
    if elf.dynsym:
        names.update(s.name for s in elf.dynsym.symbols)
    for t in elf.symbol_tables:
        names.update(s.name for s in t.symbols)
    return names


def canary(elf, names=None) -> bool:
    names = _symbol_names(elf) if names is None else names
    return "__stack_chk_fail" in names or "__stack_chk_guard" in names or \
        "__stack_chk_fail_local" in names


def fortified(elf, names=None) -> list[str]:
    """The __*_chk functions referenced (not __stack_chk_fail and friends)."""
    names = _symbol_names(elf) if names is None else names
    return sorted(n for n in names if n.startswith("__") and n.endswith("_chk")
                  and not n.startswith("__stack_chk"))


def x86_features(elf) -> tuple[bool, bool]:
    """(IBT, SHSTK) from GNU_PROPERTY_X86_FEATURE_1_AND."""
    value = 0
    for block in elf.notes:
        for note in block.notes:
            for prop in note.properties or ():
                if prop.type == GNU_PROPERTY.X86_FEATURE_1_AND:
                    value |= prop.value
    return bool(value & GNU_PROPERTY_X86_FEATURE_1_IBT), bool(value & GNU_PROPERTY_X86_FEATURE_1_SHSTK)


def summary(elf) -> dict:
    names = _symbol_names(elf)
    ibt, shstk = x86_features(elf)
    return {"relro": relro(elf), "nx": nx(elf), "pie": is_pie(elf), "canary": canary(elf, names),
            "fortify": bool(fortified(elf, names)), "ibt": ibt, "shstk": shstk}
