"""Relocation type names of the machines other than x86 (x86-64 and i386 live in
constants.py), as readelf -W -r prints them: r_type -> name, the same for REL and RELA. One
module per machine (aarch64.py, arm.py, ...), imported when a file of that machine is shown:
all nine tables were ~1 ms of every inspect's start-up.

Each table is stored with its common prefix taken off ("R_ARM_" + "ABS32"); names readelf
prints without that prefix are kept whole. The numbers are the psABIs' (binutils
include/elf/<machine>.h names them); the tables were checked entry by entry against readelf
2.40 with a generated relocation section holding every r_type.
"""
from __future__ import annotations


# e_machine -> the module of its table (EM_SPARC, EM_SPARC32PLUS and EM_SPARCV9 share one, as
# do EM_MIPS and EM_MIPS_RS3_LE; EM_S390 serves both classes).
_MODULES = {183: "aarch64", 40: "arm", 243: "riscv", 20: "ppc", 21: "ppc64", 22: "s390",
            8: "mips", 10: "mips", 258: "loongarch", 2: "sparc", 18: "sparc", 43: "sparc"}
_EXPANDED: dict[int, dict[int, str]] = {}


def reloc_names(machine: int) -> dict[int, str] | None:
    """r_type -> name for e_machine `machine`, or None for a machine without a table here."""
    names = _EXPANDED.get(machine)
    if names is None:
        module = _MODULES.get(machine)
        if module is None:
            return None
        table = __import__(f"{__name__}.{module}", fromlist=("NAMES",))
        prefix = table.PREFIX
        names = _EXPANDED[machine] = {n: s[1:] if s.startswith("=") else prefix + s
                                      for n, s in table.NAMES.items()}
    return names


# The x86-64 psABI's calculation for each relocation type (Table 4.9 and the TLS ABI's):
# S the symbol's value, A the addend, P the place, G the symbol's GOT slot offset, GOT the
# GOT's address, L the symbol's PLT entry, Z its size, B the image base, TP the thread
# pointer's offset of the symbol (@tpoff), DTP its offset in its module's TLS block.
X86_64_FORMULAS = {
    1: "S + A", 2: "S + A - P", 3: "G + A", 4: "L + A - P", 5: "copy", 6: "S", 7: "S",
    8: "B + A", 9: "G + GOT + A - P", 10: "S + A", 11: "S + A", 12: "S + A", 13: "S + A - P",
    14: "S + A", 15: "S + A - P", 16: "module id", 17: "DTP + A", 18: "TP + A",
    19: "GOT slot pair (TLS GD) - P", 20: "GOT slot pair (TLS LD) - P", 21: "DTP + A",
    22: "G(TP) + GOT + A - P", 23: "TP + A", 24: "S + A - P", 25: "S + A - GOT",
    26: "GOT + A - P", 27: "G + A", 28: "G + GOT - P + A", 29: "GOT - P + A", 30: "G + A",
    31: "L - GOT + A", 32: "Z + A", 33: "Z + A", 34: "G(TLSDESC) + GOT + A - P",
    35: "(TLSDESC call)", 36: "TLS descriptor", 37: "indirect (B + A)", 38: "B + A",
    41: "G + GOT + A - P (relaxable)", 42: "G + GOT + A - P (relaxable)",
}
