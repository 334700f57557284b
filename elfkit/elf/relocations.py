"""Relocation tables: SHT_REL / SHT_RELA (Elf64_Rel[a]) and SHT_RELR (packed relative relocations).

Entries are decoded in bulk into three columns (r_offset, r_info, r_addend) --
strided views of the file's own bytes -- and made into (offset, info, addend)
tuples only when asked for; the symbol a relocation names is looked up in the
table its section links to.
"""
from __future__ import annotations

import struct
import sys

from elfkit.elf.constants import DT, SHT
from elfkit.elf.record import TupleRecord


class Relocation(TupleRecord):
    """The fields of one entry; tables hold plain (offset, info, addend) tuples of this shape."""
    __slots__ = ()
    _fields = ("offset", "info", "addend")


class RelocationTable:
    """One REL, RELA or RELR table. REL/RELA entries are decoded in bulk into three columns
    (`columns`: r_offset, r_info, r_addend); `entries`, the (offset, info, addend) tuples,
    are made from them on first use."""

    __slots__ = ("section", "offset", "kind", "_entries", "_columns", "symtab", "dynamic",
                 "relr_addresses", "size", "section_index")

    def __init__(self, section, offset, kind, entries=None, symtab=None, dynamic=False,
                 relr_addresses=None, size=0, section_index=None, columns=None):
        self.section: str | None = section      # None when found through the dynamic section
        self.offset: int = offset               # file offset
        self.kind: str = kind                   # "REL", "RELA" or "RELR"
        self._entries = entries                 # Relocation-shaped tuples, or None: from columns
        self._columns = columns                 # (offsets, infos, addends), or None: from entries
        self.symtab = symtab                    # the SymbolTable named by sh_link (None for symbol-less)
        self.dynamic: bool = dynamic            # relocations resolved against .dynsym (versions apply)
        self.relr_addresses: list[int] = [] if relr_addresses is None else relr_addresses
        self.size: int = size                   # bytes (as DT_*SZ or sh_size gives it)
        self.section_index: int | None = section_index

    def __repr__(self) -> str:
        return (f"RelocationTable({self.section!r}, {self.offset:#x}, {self.kind!r}, "
                f"{len(self)} entries)")

    def __len__(self) -> int:
        if self._columns is not None:
            return len(self._columns[0])
        return len(self._entries) if self._entries is not None else 0

    @property
    def entries(self) -> list[tuple[int, int, int]]:
        if self._entries is None:
            self._entries = list(zip(*self._columns)) if self._columns is not None else []
        return self._entries

    @entries.setter
    def entries(self, value):
        self._entries, self._columns = value, None

    @property
    def columns(self):
        """(r_offset, r_info, r_addend) as three sequences of ints (r_addend 0 for REL)."""
        if self._columns is None:
            entries = self._entries or []
            self._columns = (tuple(e[0] for e in entries), tuple(e[1] for e in entries),
                             tuple(e[2] for e in entries))
        return self._columns


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
    table._columns = decode_rel_columns(elf, sec.offset, sec.size, kind == "RELA")
    return table


def decode_rel(elf, offset: int, size: int, rela: bool) -> list[tuple[int, int, int]]:
    """(r_offset, r_info, r_addend) tuples; r_addend is 0 for REL."""
    fmt = elf.fmt.rela if rela else elf.fmt.rel
    end = offset + size - size % fmt.size
    if rela:
        rows = list(fmt.iter_unpack(elf.data[offset:end]))
    else:
        rows = [(o, i, 0) for o, i in fmt.iter_unpack(elf.data[offset:end])]
    if elf.fmt.mips64 and elf.fmt.endian == "<":
        rows = [(o, mips64_info(i), a) for o, i, a in rows]
    return rows


def mips64_info(word: int) -> int:
    """A little-endian MIPS64 r_info word in the order readelf shows (and Formats.r_type reads):
    the file holds r_sym as a little-endian 32-bit word, then the bytes r_ssym, r_type3, r_type2,
    r_type -- so read as one little-endian word the four bytes come out reversed."""
    return ((word & 0xFFFFFFFF) << 32 | (word >> 56) & 0xFF | (word >> 40) & 0xFF00
            | (word >> 24) & 0xFF0000 | (word >> 8) & 0xFF000000)


_ARRAY = {4: ("I", "i"), 8: ("Q", "q")}


def decode_rel_columns(elf, offset: int, size: int, rela: bool):
    """(r_offsets, r_infos, r_addends) of a REL/RELA table as sequences of ints, by strided
    slices: views of the file's own bytes when its byte order is the machine's (no copy), else
    byte-swapped arrays (r_addends all 0 for REL). Little-endian MIPS64's r_infos are put in
    readelf's order (mips64_info)."""
    offsets, infos, addends = _rel_columns(elf, offset, size, rela)
    if elf.fmt.mips64 and elf.fmt.endian == "<":
        from array import array
        infos = array("Q", map(mips64_info, infos))
    return offsets, infos, addends


def _rel_columns(elf, offset: int, size: int, rela: bool):
    fmt = elf.fmt.rela if rela else elf.fmt.rel
    end = offset + size - size % fmt.size
    per = 3 if rela else 2
    unsigned, signed = _ARRAY[elf.fmt.word]
    if struct.calcsize(unsigned) != elf.fmt.word:    # no such platform; keep it correct anyway
        rows = list(fmt.iter_unpack(elf.data[offset:end]))
        return ([r[0] for r in rows], [r[1] for r in rows],
                [r[2] for r in rows] if rela else [0] * len(rows))
    n = (end - offset) // fmt.size
    if (elf.fmt.endian == "<") == (sys.byteorder == "little"):
        raw = memoryview(elf.data)[offset:end]
        words = raw.cast(unsigned)
        addends = raw.cast(signed)[2::3] if rela else \
            memoryview(bytes(elf.fmt.word * n)).cast(signed)
        return words[0::per], words[1::per], addends
    from array import array                             # (imports collections: not for most)
    raw = bytes(elf.data[offset:end])
    words = array(unsigned, raw)
    words.byteswap()
    if rela:
        addends = array(signed, raw)
        addends.byteswap()
        addends = addends[2::3]
    else:
        addends = array(signed, bytes(elf.fmt.word * n))
    return words[0::per], words[1::per], addends


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
                table._columns = decode_rel_columns(elf, offset, size, kind == "RELA")
        tables.append(table)
    return tables
