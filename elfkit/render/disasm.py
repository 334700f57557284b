"""Disassembly with capstone, every call/jump target named (`call puts@plt`, `call main`)."""
from __future__ import annotations

from dataclasses import dataclass

from elfkit.elf.constants import EM, SHF, STT
from elfkit.elf.plt import plt_got_map
from elfkit.errors import ElfkitError


@dataclass(slots=True)
class Line:
    address: int
    raw: bytes
    mnemonic: str
    operands: str
    target_name: str | None


_NAMED_TYPES = (STT.FUNC, STT.OBJECT, STT.GNU_IFUNC, STT.NOTYPE)
_BIND_RANK = {1: 2, 2: 1}      # GLOBAL, WEAK; LOCAL and others 0


def symbol_map(elf) -> dict[int, str]:
    """Address -> name: functions and objects from .symtab/.dynsym, PLT stubs as name@plt."""
    best: dict[int, tuple] = {}
    tables = list(elf.symbol_tables) + ([elf.dynsym] if elf.dynsym else [])
    for table in tables:
        for s in table.symbols:
            if s.name and s.value and s.shndx and s.type in _NAMED_TYPES:
                # Of several aliases, prefer functions, then GLOBAL over WEAK over LOCAL.
                rank = (s.type in (STT.FUNC, STT.GNU_IFUNC), _BIND_RANK.get(s.bind, 0))
                old = best.get(s.value)
                if old is None or rank > old[0]:
                    best[s.value] = (rank, s.name)
    names = {addr: name for addr, (_rank, name) in best.items()}
    for slot in plt_got_map(elf).slots:
        if slot.stub is not None and slot.symbol:
            names[slot.stub] = f"{slot.symbol}@plt"
        elif slot.stub is not None and slot.reloc_type.endswith("IRELATIVE"):
            names[slot.stub] = f"*ABS*+{slot.initial or 0:#x}@plt"
    return names


def find_symbol(elf, name: str):
    tables = list(elf.symbol_tables) + ([elf.dynsym] if elf.dynsym else [])
    for table in tables:
        for s in table.symbols:
            if s.name == name and s.shndx and s.value:
                return s
    return None


def disassemble(elf, start: int, code: bytes, count: int | None = None):
    """Yield Lines for `code` loaded at `start`; stops after `count` instructions if given."""
    import capstone  # imported here: capstone costs ~0.1 s to import
    if elf.header.machine == EM.X86_64:
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    elif elf.header.machine == EM.I386:
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    else:
        raise ElfkitError(elf.path, f"cannot disassemble machine {elf.header.machine}: "
                                    "only x86-64 and i386 are supported")
    md.skipdata = True
    names = symbol_map(elf)
    n = 0
    for address, size, mnemonic, op_str in md.disasm_lite(code, start):
        target = None
        if mnemonic.startswith(("call", "j", "bnd j", "notrack j")) and op_str.startswith("0x"):
            try:
                target = names.get(int(op_str, 16))
            except ValueError:
                target = None
        off = address - start
        yield Line(address, code[off:off + size], mnemonic, op_str, target)
        n += 1
        if count is not None and n >= count:
            return


def code_sections(elf):
    return [s for s in elf.sections if s.flags & SHF.EXECINSTR and s.type != 8 and s.size]
