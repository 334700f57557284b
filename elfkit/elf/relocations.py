"""Relocation tables: SHT_REL / SHT_RELA (Elf64_Rel[a]) and SHT_RELR (packed relative relocations).

Entries stay as raw (r_offset, r_info, r_addend) tuples decoded in bulk; the
symbol a relocation names is looked up in the table its section links to.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from elfkit.elf.constants import DT, SHT


class Relocation(NamedTuple):
    """The fields of one entry; tables hold plain (offset, info, addend) tuples of this shape."""
    offset: int
    info: int
    addend: int


@dataclass(slots=True)
class RelocationTable:
    section: str | None          # None when found through the dynamic section
    offset: int                  # file offset
    kind: str                    # "REL", "RELA" or "RELR"
    entries: list[tuple[int, int, int]] = field(default_factory=list)  # Relocation-shaped
    symtab: object = None        # the SymbolTable named by sh_link (None for symbol-less)
    dynamic: bool = False        # relocations resolved against .dynsym (versions apply)
    relr_addresses: list[int] = field(default_factory=list)
    size: int = 0                # bytes (as DT_*SZ or sh_size gives it)
    section_index: int | None = None


def read_relocation_tables(elf) -> list[RelocationTable]:
    if elf.sections:
        # an empty table relocates nothing; readelf does not list it either
        return [t for t in (_from_section(elf, s) for s in elf.sections
                            if s.type in (SHT.REL, SHT.RELA, SHT.RELR) and s.size)
                if t is not None]
    return _from_dynamic(elf)


def _from_section(elf, sec) -> RelocationTable | None:
    kind = {SHT.REL: "REL", SHT.RELA: "RELA", SHT.RELR: "RELR"}[sec.type]
    table = RelocationTable(sec.name, sec.offset, kind, size=sec.size, section_index=sec.index)
    if not elf.check_range(sec.offset, sec.size, f"relocation section {sec.name}"):
        return table
    if kind == "RELR":
        table.relr_addresses = decode_relr(elf, sec.offset, sec.size)
        return table
    if sec.link and sec.link < len(elf.sections):
        link = elf.sections[sec.link]
        if link.type == SHT.DYNSYM:
            table.symtab, table.dynamic = elf.dynsym, True
        elif link.type == SHT.SYMTAB:
            table.symtab = next((t for t in elf.symbol_tables if t.section_index == link.index), None)
    table.entries = decode_rel(elf, sec.offset, sec.size, kind == "RELA")
    return table


def decode_rel(elf, offset: int, size: int, rela: bool) -> list[tuple[int, int, int]]:
    """(r_offset, r_info, r_addend) tuples; r_addend is 0 for REL."""
    fmt = elf.fmt.rela if rela else elf.fmt.rel
    end = offset + size - size % fmt.size
    if rela:
        return list(fmt.iter_unpack(elf.data[offset:end]))
    return [(o, i, 0) for o, i in fmt.iter_unpack(elf.data[offset:end])]


def decode_relr(elf, offset: int, size: int) -> list[int]:
    """Every address a packed RELR table relocates (an address word, then bitmap words)."""
    word = elf.fmt.word
    bits = word * 8 - 1
    out, where = [], 0
    for (entry,) in elf.fmt.addr.iter_unpack(elf.data[offset:offset + size - size % word]):
        if entry & 1 == 0:
            out.append(entry)
            where = entry + word
        else:
            i, bitmap = 0, entry >> 1
            while bitmap:
                if bitmap & 1:
                    out.append(where + i * word)
                bitmap >>= 1
                i += 1
            where += bits * word
    return out


# (table tag, size tag, kind) for the tables readelf -D -r finds through the dynamic section.
_DYNAMIC_TABLES = [(DT.RELA, DT.RELASZ, "RELA"), (DT.REL, DT.RELSZ, "REL"), (DT.RELR, DT.RELRSZ, "RELR")]


def _from_dynamic(elf) -> list[RelocationTable]:
    dyn = elf.dynamic
    if dyn is None:
        return []
    tables = []
    specs = list(_DYNAMIC_TABLES)
    pltrel = dyn.value(DT.PLTREL)
    specs.append((DT.JMPREL, DT.PLTRELSZ, "REL" if pltrel == DT.REL else "RELA"))
    for addr_tag, size_tag, kind in specs:
        addr, size = dyn.value(addr_tag), dyn.value(size_tag)
        if addr is None or not size:
            continue
        offset = elf.vaddr_to_offset(addr)
        if offset is None:
            elf.warn(f"DT_{DT(addr_tag).name} address {addr:#x} is not in any loaded segment")
            continue
        table = RelocationTable(None, offset, kind, size=size, dynamic=True, symtab=elf.dynsym)
        if elf.check_range(offset, size, f"DT_{DT(addr_tag).name} relocations"):
            if kind == "RELR":
                table.relr_addresses = decode_relr(elf, offset, size)
            else:
                table.entries = decode_rel(elf, offset, size, kind == "RELA")
        tables.append(table)
    return tables
