"""The one-line hardening summary of `elfkit inspect`: RELRO, NX, PIE, stack protector, FORTIFY, CET.

Booleans for a summary line; `elfkit check` (registry.py and the modules it
lists) gives the full verdicts with evidence. The rules are shared: RELRO is
`memory.relro_level`, FORTIFY counts only glibc's `__*_chk` entry points
(fortify.py), PIE is `Facts.kind`.
"""
from __future__ import annotations

from elfkit.check.facts import Facts
from elfkit.check.fortify import CHK_FUNCTIONS
from elfkit.check.memory import relro_level
from elfkit.elf.constants import GNU_PROPERTY_X86_FEATURE_1_IBT, GNU_PROPERTY_X86_FEATURE_1_SHSTK, \
    PF, PT


def bind_now(elf) -> bool:
    return bool(Facts(elf).bind_now)


def relro_segment(elf):
    return next((s for s in elf.segments if s.type == PT.GNU_RELRO), None)


def relro(elf) -> str:
    """none / partial / full. Full needs PT_GNU_RELRO, BIND_NOW, and the whole GOT (DT_PLTGOT's
    reserved words and every DT_JMPREL slot) inside the pages RELRO protects."""
    return relro_level(Facts(elf))[0]


def nx(elf) -> bool | None:
    """True when PT_GNU_STACK is not executable; None when there is no PT_GNU_STACK."""
    seg = next((s for s in elf.segments if s.type == PT.GNU_STACK), None)
    if seg is None:
        return None
    return not seg.flags & PF.X


def is_pie(elf) -> bool:
    """A PIE or static-PIE executable (not a shared library, not ET_EXEC)."""
    return Facts(elf).kind in ("pie", "static-pie")


_CANARY = frozenset({"__stack_chk_fail", "__stack_chk_guard", "__stack_chk_fail_local"})


def _symbol_names(elf) -> set[str]:
    """The names canary() and fortified() look for that the file's symbols have: .dynsym's
    read whole (ld.so's table, small), the SHT_SYMTAB tables' searched for them alone
    (elf.symbols.names_among: a library's .symtab can hold 100,000 names)."""
    from elfkit.elf.symbols import names_among
    wanted = _CANARY | CHK_FUNCTIONS.keys()
    names = names_among(elf, wanted)
    if elf.dynsym:
        names.update(n for n in elf.dynsym.names if n in wanted)
    return names


def canary(elf, names=None) -> bool:
    names = _symbol_names(elf) if names is None else names
    return not _CANARY.isdisjoint(names)


def fortified(elf, names=None) -> list[str]:
    """The glibc __*_chk functions referenced (never __stack_chk_fail or unrelated *_chk names)."""
    names = _symbol_names(elf) if names is None else names
    return sorted(CHK_FUNCTIONS.keys() & names)


def x86_features(elf) -> tuple[bool, bool]:
    """(IBT, SHSTK) from GNU_PROPERTY_X86_FEATURE_1_AND."""
    value = Facts(elf).x86_feature_1() or 0
    return bool(value & GNU_PROPERTY_X86_FEATURE_1_IBT), bool(value & GNU_PROPERTY_X86_FEATURE_1_SHSTK)


def nx_default(elf) -> bool:
    """Whether a stack stays non-executable without PT_GNU_STACK on this file's machine (the
    kernel's and ld.so's defaults, as `elfkit check`'s NX rule reads them)."""
    from elfkit.check.memory import _missing_stack
    return _missing_stack(Facts(elf))[0]


def summary(elf) -> dict:
    """The summary line's facts. `nx`: the stack is not executable (PT_GNU_STACK without
    PF_X, or none and the machine defaults to that); `gnu_stack`: PT_GNU_STACK is there. The
    control-flow protection of the machine's GNU property note: `ibt`/`shstk` on x86,
    `bti`/`pac` on AArch64; None where the machine has no such bit."""
    from elfkit.elf.constants import EM
    from elfkit.elf.notes import GNU_PROPERTY_AARCH64_FEATURE_1_BTI, \
        GNU_PROPERTY_AARCH64_FEATURE_1_PAC
    names = _symbol_names(elf)
    facts = Facts(elf)
    ibt = shstk = bti = pac = None
    if facts.x86:
        ibt, shstk = x86_features(elf)
    elif elf.header.machine == EM.AARCH64:
        value = facts.aarch64_feature_1() or 0
        bti, pac = bool(value & GNU_PROPERTY_AARCH64_FEATURE_1_BTI), \
            bool(value & GNU_PROPERTY_AARCH64_FEATURE_1_PAC)
    stack = nx(elf)
    return {"relro": relro(elf), "nx": stack if stack is not None else nx_default(elf),
            "gnu_stack": stack is not None, "pie": is_pie(elf), "canary": canary(elf, names),
            "fortify": bool(fortified(elf, names)), "ibt": ibt, "shstk": shstk, "bti": bti,
            "pac": pac}
