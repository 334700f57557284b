"""Symbol tables (.symtab, .dynsym: Elf64_Sym arrays), decoded in bulk into columns.

A table is held as columns -- `names` (a list of str) and sequences of
st_value, st_size, st_info, st_other and st_shndx, strided views of the file's
own bytes (byte-swapped arrays for the other byte order) -- with its names read
out of the string table in one pass (`_bulk_names`), so a table of 100,000
symbols costs a few C-level passes, not a Python object per symbol.
`SymbolTable.symbols` makes the `Symbol` tuples the linker and the checks use,
on first use.
"""
from __future__ import annotations

import struct
import sys
try:
    from _bisect import bisect_right     # (bisect.py itself adds only an import to it)
except ImportError:
    from bisect import bisect_right
from itertools import accumulate, compress, repeat
from itertools import count as _count
from operator import add, is_

from elfkit.elf.constants import DT, SHN, SHT
from elfkit.elf.record import TupleRecord


# shndx: extended indices already resolved through SHT_SYMTAB_SHNDX.
class Symbol(TupleRecord):
    __slots__ = ()
    _fields = ("index", "name", "value", "size", "info", "other", "shndx")

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


def _kind(info: int, other: int, shndx: int) -> int:
    return info | other << 8 | shndx << 16


class SymbolTable:
    """One symbol table as columns, index i of each column being symbol i."""

    __slots__ = ("section", "section_index", "names", "values", "sizes", "infos", "others",
                 "shndxs", "kinds", "_symbols")

    def __init__(self, section, section_index, names, values, sizes, infos, others, shndxs,
                 kinds=None):
        self.section: str | None = section          # ".symtab" / ".dynsym"; None through DT_SYMTAB
        self.section_index: int | None = section_index
        self.names: list[str] = names
        self.values = values                        # st_value (a sequence of ints)
        self.sizes = sizes                          # st_size
        self.infos = infos                          # st_info (type | bind << 4)
        self.others = others                        # st_other (visibility in the low 2 bits)
        self.shndxs = shndxs                        # st_shndx, SHN_XINDEX resolved
        # st_info | st_other << 8 | st_shndx << 16: one int per symbol, on which the bulk
        # views key the text they make once per kind of symbol
        self.kinds = kinds if kinds is not None else list(map(
            _kind, infos, others, shndxs))
        self._symbols = None

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"SymbolTable({self.section!r}, {self.section_index!r}, {len(self.names)} symbols)"

    @property
    def symbols(self) -> list[Symbol]:
        """A Symbol per entry (made once, on first use: the bulk views read the columns)."""
        if self._symbols is None:
            self._symbols = list(map(tuple.__new__, repeat(Symbol), zip(
                _count(), self.names, self.values, self.sizes, self.infos, self.others,
                self.shndxs)))
        return self._symbols


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
    return _decode(elf, None, None, offset, count, strtab, None)


def names_among(elf, wanted) -> set[str]:
    """The names in `wanted` that some symbol of a SHT_SYMTAB table has: what
    `set(all their names) & wanted` gives, without decoding a library's 100,000 names when the
    tables are not read yet (inspect's summary line asks for the stack protector's and
    FORTIFY's few names). Each wanted name is found in the raw string table (at an offset where
    it starts and a NUL ends it), then looked for among the symbols' st_name. A table whose
    names would warn (an index past its string table) is read whole, so the warnings are
    those of read_symbol_tables, in its order."""
    def decoded():
        return {n for t in elf.symbol_tables for n in t.names if n in wanted}
    if "symbol_tables" in elf.__dict__:                 # (ElfFile caches it there)
        return decoded()
    found: set[str] = set()
    raw_wanted = {w.encode() for w in wanted if w and "\0" not in w}
    if not raw_wanted:
        return found
    longest = max(map(len, raw_wanted))
    # one pass over the table per needle: "_chk" for the names that hold it (all of the
    # summary's), each other name whole with its NUL
    needles = {b"_chk" if b"_chk" in raw else raw + b"\0" for raw in raw_wanted}
    for sec in elf.sections:
        if sec.type != SHT.SYMTAB:
            continue
        offset, count, strtab, _ = _locate(elf, sec)
        entsize = elf.fmt.sym.size
        length = max(0, min(count * entsize, elf.size - offset))
        offsets = _columns(elf, offset, length - length % entsize)["name"]
        table = b"" if strtab is None else bytes(elf.data[strtab[0]:min(strtab[1], elf.size)])
        if len(offsets) and max(offsets) >= len(table):
            return decoded()
        starts: dict[int, str] = {}
        unended = table.rfind(b"\0") + 1                  # a last string with no NUL
        for needle in needles:
            at = table.find(needle)
            while at >= 0:
                begin = table.rfind(b"\0", 0, at) + 1      # the string holding it
                end = table.find(b"\0", at)
                end = len(table) if end < 0 else end    # (read to the table's end, as names are)
                # a symbol may name any tail of it (ld shares string tails)
                for i in range(max(begin, end - longest), end):
                    if i > 0 and table[i:end] in raw_wanted:
                        starts[i] = table[i:end].decode()
                at = table.find(needle, end) if end < len(table) else -1
        for i in range(max(unended, len(table) - longest), len(table)):
            if i > 0 and table[i:] in raw_wanted:       # a NUL-ended needle misses it there
                starts[i] = table[i:].decode()
        if starts:
            used = set(offsets)
            found.update(name for i, name in starts.items() if i in used)
    return found


def _locate(elf, sec):
    """(offset, entries, string table bounds or None, SHT_SYMTAB_SHNDX words or None) of a
    symbol table section, with read_symbol_tables' warnings."""
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
    return sec.offset, count, strtab, _extended_indices(elf, sec.index)


def _read_section_table(elf, sec) -> SymbolTable:
    offset, count, strtab, shndx_table = _locate(elf, sec)
    return _decode(elf, sec.name, sec.index, offset, count, strtab, shndx_table)


def _extended_indices(elf, symtab_index):
    for s in elf.sections:
        if s.type == SHT.SYMTAB_SHNDX and s.link == symtab_index:
            if elf.check_range(s.offset, s.size, f"section {s.name}"):
                fmt = elf.fmt.endian + "I"
                return [v for (v,) in struct.iter_unpack(fmt, elf.data[s.offset:s.offset + s.size - s.size % 4])]
    return None


# Where each field lies in one entry: (array type, item index, items per entry), for
# Elf64_Sym (name info other shndx value size) and Elf32_Sym (name value size info other shndx).
# "kind" is the 32-bit word st_info, st_other, st_shndx, read little-endian: SymbolTable.kinds.
_LAYOUT64 = {"name": ("I", 0, 6), "info": ("B", 4, 24), "other": ("B", 5, 24),
             "shndx": ("H", 3, 12), "value": ("Q", 1, 3), "size": ("Q", 2, 3), "kind": ("I", 1, 6)}
_LAYOUT32 = {"name": ("I", 0, 4), "value": ("I", 1, 4), "size": ("I", 2, 4),
             "info": ("B", 12, 16), "other": ("B", 13, 16), "shndx": ("H", 7, 8), "kind": ("I", 3, 4)}
# (memoryview.cast's and array's item sizes are the C types', as struct's native ones)
_ARRAYS_OK = struct.calcsize("H") == 2 and struct.calcsize("I") == 4 and \
    struct.calcsize("Q") == 8


def _columns(elf, offset: int, length: int) -> dict:
    """Each field of the entries in the file's bytes [offset, offset+length) as a sequence of
    ints, by strided slices: views of the file's own bytes when its byte order is the
    machine's (no copy), else byte-swapped arrays."""
    layout = _LAYOUT64 if elf.is_64 else _LAYOUT32
    native = (elf.fmt.endian == "<") == (sys.byteorder == "little")
    if not _ARRAYS_OK:                                   # not on any platform elfkit runs on
        fields = ("name", "info", "other", "shndx", "value", "size") if elf.is_64 else \
            ("name", "value", "size", "info", "other", "shndx")
        rows = list(elf.fmt.sym.iter_unpack(elf.data[offset:offset + length]))
        return {f: [r[k] for r in rows] for k, f in enumerate(fields)}
    if native:
        raw = memoryview(elf.data)[offset:offset + length]
        views = {code: raw.cast(code) for code in "BHIQ"}
        return {field: views[code][first::step] for field, (code, first, step) in layout.items()
                if field != "kind" or elf.fmt.endian == "<"}
    from array import array                             # (imports collections: not for most)
    raw = bytes(elf.data[offset:offset + length])
    whole, out = {}, {}
    for field, (code, first, step) in layout.items():
        if field == "kind" and elf.fmt.endian != "<":
            continue                                     # packed otherwise: made from the others
        a = whole.get(code)
        if a is None:
            a = whole[code] = array(code, raw)
            if code != "B":
                a.byteswap()
        out[field] = a[first::step]
    return out


def _decode(elf, section, section_index, offset, n, strtab, shndx_table) -> SymbolTable:
    entsize = elf.fmt.sym.size
    length = max(0, min(n * entsize, elf.size - offset))
    cols = _columns(elf, offset, length - length % entsize)
    shndxs, kinds = cols["shndx"], cols.get("kind")
    xindex = int(SHN.XINDEX)
    if shndx_table is not None and xindex in shndxs:
        from array import array
        shndxs, kinds = array("I", shndxs), None
        for i in compress(range(len(shndxs)), map(xindex.__eq__, shndxs)):
            if i < len(shndx_table):
                shndxs[i] = shndx_table[i]
    names = _bulk_names(elf, strtab, cols["name"])
    return SymbolTable(section, section_index, names, cols["value"], cols["size"], cols["info"],
                       cols["other"], shndxs, kinds)


def _bulk_names(elf, bounds, offsets) -> list[str]:
    """The name at each string-table index of `offsets`: every string of the table is read once
    (split at its NULs) and looked up by where it starts; an index into the middle of a string
    (ld shares string tails) or past the table's end is read on its own, with `_NameReader`."""
    if bounds is None:
        table = b""
    else:
        start, end = bounds
        table = bytes(elf.data[start:min(end, elf.size)])
    ascii = table.isascii()
    if ascii:                            # offsets into the bytes are offsets into the text
        parts = table.decode("ascii").split("\0")
        lengths = map(len, parts)
    else:
        raw = table.split(b"\0")
        parts = [p.decode("utf-8", "backslashreplace") for p in raw]
        lengths = map(len, raw)
    starts = list(accumulate(map(add, lengths, repeat(1)), initial=0))
    by_start = dict(zip(starts, parts))
    by_start.pop(len(table), None)       # the empty string after a final NUL: past the end
    by_start[0] = ""                     # index 0 is the empty name, whatever byte is there
    names = list(map(by_start.get, offsets))
    if None in names:
        missing = list(compress(_count(), map(is_, names, repeat(None))))
        reader = None
        size = len(table)
        for i in missing:
            index = offsets[i]
            if ascii and index < size:   # the tail of the string it falls in (ld shares tails)
                k = bisect_right(starts, index) - 1
                names[i] = parts[k][index - starts[k]:]
            else:
                if reader is None:
                    reader = _NameReader(elf, table)
                names[i] = reader(index)
    return names


class _NameReader:
    """Reads names out of one string table, checking every index against the table's end."""

    def __init__(self, elf, table: bytes):
        self.elf = elf
        self.table = table
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
