"""Symbol tables (.symtab, .dynsym: Elf64_Sym arrays), decoded in bulk with struct.iter_unpack."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from elfkit.elf.constants import DT, SHN, SHT


class Symbol(NamedTuple):
    index: int
    name: str
    value: int
    size: int
    info: int
    other: int
    shndx: int            # extended indices already resolved through SHT_SYMTAB_SHNDX

    @property
    def type(self) -> int:
        return self.info & 0xF

    @property
    def bind(self) -> int:
        return self.info >> 4

    @property
    def visibility(self) -> int:
        return self.other & 3

    @property
    def defined(self) -> bool:
        return self.shndx != SHN.UNDEF


@dataclass(slots=True)
class SymbolTable:
    section: str | None       # ".symtab" / ".dynsym", None when found through DT_SYMTAB
    section_index: int | None
    symbols: list[Symbol]


def read_symbol_tables(elf) -> list[SymbolTable]:
    """Every SHT_SYMTAB table (readelf -s shows these besides .dynsym)."""
    return [_read_section_table(elf, s) for s in elf.sections if s.type == SHT.SYMTAB]


def read_dynsym(elf) -> SymbolTable | None:
    """The dynamic symbol table: SHT_DYNSYM, or DT_SYMTAB sized by the hash tables."""
    for s in elf.sections:
        if s.type == SHT.DYNSYM:
            return _read_section_table(elf, s)
    if elf.sections or elf.dynamic is None:
        return None
    dyn = elf.dynamic
    addr = dyn.value(DT.SYMTAB)
    if addr is None:
        return None
    offset = elf.vaddr_to_offset(addr)
    if offset is None:
        elf.warn(f"DT_SYMTAB address {addr:#x} is not in any loaded segment")
        return None
    count = dyn.symbol_count
    entsize = elf.fmt.sym.size
    if not elf.check_range(offset, count * entsize, f"dynamic symbol table ({count} entries)"):
        count = max(0, (elf.size - offset) // entsize)
    strtab = (dyn.strtab_offset, dyn.strtab_offset + (dyn.strtab_size or 0)) \
        if dyn.strtab_offset is not None else None
    return SymbolTable(None, None, _decode(elf, offset, count, strtab, None))


def _read_section_table(elf, sec) -> SymbolTable:
    entsize = elf.fmt.sym.size
    if sec.entsize not in (0, entsize):
        elf.warn(f"section {sec.name}: sh_entsize {sec.entsize} is not {entsize}")
    size = sec.size
    if not elf.check_range(sec.offset, size, f"symbol table {sec.name}"):
        size = max(0, elf.size - sec.offset) if sec.offset < elf.size else 0
    count = size // entsize
    strtab = None
    if sec.link < len(elf.sections):
        st = elf.sections[sec.link]
        if elf.check_range(st.offset, st.size, f"string table {st.name} of {sec.name}"):
            strtab = (st.offset, st.offset + st.size)
    else:
        elf.warn(f"section {sec.name}: sh_link {sec.link} is not a section")
    shndx_table = _extended_indices(elf, sec.index)
    return SymbolTable(sec.name, sec.index, _decode(elf, sec.offset, count, strtab, shndx_table))


def _extended_indices(elf, symtab_index):
    for s in elf.sections:
        if s.type == SHT.SYMTAB_SHNDX and s.link == symtab_index:
            if elf.check_range(s.offset, s.size, f"section {s.name}"):
                fmt = elf.fmt.endian + "I"
                return [v for (v,) in struct.iter_unpack(fmt, elf.data[s.offset:s.offset + s.size - s.size % 4])]
    return None


def _decode(elf, offset, count, strtab, shndx_table) -> list[Symbol]:
    entsize = elf.fmt.sym.size
    raw = elf.fmt.sym.iter_unpack(elf.data[offset:offset + count * entsize])
    names = _NameReader(elf, strtab)
    out = []
    append = out.append
    if elf.is_64:
        for i, (name, info, other, shndx, value, size) in enumerate(raw):
            if shndx == SHN.XINDEX and shndx_table is not None and i < len(shndx_table):
                shndx = shndx_table[i]
            append(Symbol(i, names(name), value, size, info, other, shndx))
    else:
        for i, (name, value, size, info, other, shndx) in enumerate(raw):
            if shndx == SHN.XINDEX and shndx_table is not None and i < len(shndx_table):
                shndx = shndx_table[i]
            append(Symbol(i, names(name), value, size, info, other, shndx))
    return out


class _NameReader:
    """Reads names out of one string table, checking every index against the table's end."""

    def __init__(self, elf, bounds):
        self.elf = elf
        if bounds is None:
            self.table = b""
        else:
            start, end = bounds
            self.table = bytes(elf.data[start:min(end, elf.size)])
        self.cache = {0: ""}

    def __call__(self, index: int) -> str:
        name = self.cache.get(index)
        if name is not None:
            return name
        table = self.table
        if index >= len(table):
            self.elf.warn(f"symbol name index {index:#x} is past the end of its string table "
                          f"(size {len(table):#x})")
            name = "<corrupt>"
        else:
            end = table.find(b"\0", index)
            name = table[index:end if end >= 0 else len(table)].decode("utf-8", "backslashreplace")
        self.cache[index] = name
        return name
