"""What the bulk views (symbols, relocations) share between text and JSON: names resolved once.

The tables are columns (elf/symbols.py, elf/relocations.py); everything here is
computed once per distinct value -- per st_info/st_other/st_shndx triple, per
versym entry, per r_info -- so that a renderer turns a table of hundreds of
thousands of entries into text with a few C-level passes over its columns
(map over a dict's __getitem__, strided slice assignments, one str.join or
%-format per few thousand rows) instead of Python code per row.
"""
from __future__ import annotations

import struct
import sys
from itertools import compress, count, repeat
from operator import gt, lshift, not_, or_

from elfkit.elf.constants import STT, SHN, reloc_type_name, symbol_bind_name, symbol_type_name, \
    symbol_visibility_name
from elfkit.elf.segments import interpreter

CHUNK = 4000         # rows joined into one string at a time: ~1 MB of JSON, reused memory
                     # rather than fresh pages (a multiple of 1000: see index_columns)

_SECTION_INFOS = frozenset(i for i in range(256) if i & 0xF == STT.SECTION)


class Memo(dict):
    """A dict that fills itself: `make(key)` on the first look-up of each key, so that
    `map(memo.__getitem__, column)` runs in C for every row but the first of each value."""

    __slots__ = ("make",)

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, key):
        value = self[key] = self.make(key)
        return value


def symbol_kind(elf):
    """SymbolTable.kinds value -> (type, type_name, bind, bind_name, visibility,
    visibility_name, shndx), memoised: a table has a few dozen distinct kinds."""
    osabi, machine = elf.header.osabi, elf.header.machine

    def make(kind):
        info, other, shndx = kind & 0xFF, kind >> 8 & 0xFF, kind >> 16
        vis = other & 3
        return (info & 0xF, symbol_type_name(info & 0xF, osabi, machine), info >> 4,
                symbol_bind_name(info >> 4, osabi), vis, symbol_visibility_name(vis), shndx)
    return Memo(make)


def symbol_names(elf, table, demangle: bool = False) -> list[str]:
    """The name shown for each symbol: st_name, or for an unnamed STT_SECTION symbol the
    section's name (readelf names section symbols so); C++ and Rust names demangled when
    `demangle` (readelf -C: elf/demangle.py)."""
    names = table.names
    if demangle:
        from elfkit.elf.demangle import demangle_all
        names = demangle_all(names)
    sections, shndxs = elf.sections, table.shndxs
    fix = [i for i in compress(count(), map(_SECTION_INFOS.__contains__, table.infos))
           if not names[i] and shndxs[i] < len(sections)]
    if fix:
        names = list(names)
        for i in fix:
            names[i] = sections[shndxs[i]].name
    return names


def symbol_version_codes(elf, table):
    """(codes, versions): per symbol an index into `versions`, a list of (version name or None,
    hidden, versym entry or None) -- the version readelf shows after the name (`@` hidden,
    `@@` default), found once per distinct (versym entry, defined)."""
    ver = elf.versions
    versym = ver.versym.entries if ver.versym is not None else []
    versions = [(None, False, None)]

    def make(key):                     # key: the versym entry, | 1 << 16 when undefined
        raw = key & 0xFFFF
        version, hidden = ver.version_of(raw, not key >> 16)
        versions.append((version, hidden, raw))
        return len(versions) - 1
    n = len(table)
    m = min(n, len(versym))
    keys = map(or_, versym[:m], map(lshift, map(not_, table.shndxs[:m]), repeat(16)))
    codes = list(map(Memo(make).__getitem__, keys))
    return codes + [0] * (n - m), versions


def reloc_info_resolver(elf, table, demangle: bool = False):
    """A function r_info -> (type, type_name, symbol_index, symbol_name, symbol_value,
    symbol_version, version_hidden, ifunc, bad_index), memoised: tables repeat the same r_info
    (RELATIVE, one symbol's slots). A symbol index past the table warns once and is named
    `<corrupt symbol index N>` (bad_index True)."""
    fmt, machine = elf.fmt, elf.header.machine
    symtab = table.symtab
    names = symbol_names(elf, symtab, demangle) if symtab is not None else []
    nsyms = len(names)
    versions = elf.versions if table.dynamic else None

    def make(info):
        rtype, sym = fmt.r_type(info), fmt.r_sym(info)
        sname = svalue = sver = None
        hidden = ifunc = bad = False
        if sym:
            if sym >= nsyms:
                warn_bad_symbol_index(elf, table, sym, nsyms)
                sname, svalue, bad = f"<corrupt symbol index {sym}>", 0, True
            else:
                sname, svalue = names[sym], symtab.values[sym]
                ifunc = symtab.infos[sym] & 0xF == STT.GNU_IFUNC
                if versions:
                    sver, hidden = versions.symbol_version(sym, symtab.shndxs[sym] != SHN.UNDEF)
        return (rtype, reloc_type_name(rtype, machine), sym, sname, svalue, sver, hidden, ifunc,
                bad)
    return Memo(make).__getitem__


def warn_bad_symbol_index(elf, table, sym: int, nsyms: int):
    where = f"section {table.section}" if table.section else f"{table.kind} table at {table.offset:#x}"
    elf.warn(f"relocation {where}: symbol index {sym} is past the end of its symbol table "
             f"({nsyms} entries)")


def interleave(*columns) -> list:
    """The columns' items row by row -- row 0's item of each column, then row 1's... -- for one
    str.join or %-format of all the rows at once: strided slice assignments, no tuple per row."""
    k = len(columns)
    out = [None] * (k * len(columns[0]))
    for j, column in enumerate(columns):
        out[j::k] = column
    return out


_DIGITS = "0123456789"
_LOWS: dict = {}


def row_number_pieces(suffix: str, pad: str) -> tuple[list[str], list[str]]:
    """index_columns' `first` and `low` for row numbers followed by `suffix`: `low[k]` is k in
    three digits ("%03d"), `first[k]` k as "%3d" (pad " ") or "%d" (pad "") -- made by
    concatenation, once per process (2,000 %-formats were ~0.5 ms of every inspect)."""
    got = _LOWS.get((suffix, pad))
    if got is None:
        tens = [a + b for a in _DIGITS for b in _DIGITS]
        low = [h + t + suffix for h in _DIGITS for t in tens]
        first = [pad + pad + s[2:] for s in low[:10]] + [pad + s[1:] for s in low[10:100]] + \
            low[100:]
        got = _LOWS[suffix, pad] = first, low
    return got


def index_columns(start: int, stop: int, head, first: list[str], low: list[str]):
    """Row numbers start..stop-1 as two columns of pieces made once, not a string per row:
    head(n // 1000) for the thousands (head(0) below 1000), and the rest from `low` (`first`
    below 1000) -- the last three digits and what follows them (row_number_pieces)."""
    heads, lows = [], []
    k = start
    while k < stop:
        block, skip = divmod(k, 1000)
        m = min(1000 - skip, stop - k)
        heads += [head(block)] * m
        lows += (low if block else first)[skip:skip + m]
        k += m
    return heads, lows


class RowPart:
    """Rows lo..hi-1 (hi None: to the end) of a view's tables counted together, for a view made
    in two parts (render/split.py); RowPart(None) is the whole view. `tables()` walks them:
    for each, whether its heading (at its first row's place) and its closing (at the place
    after its last row) are this part's, and the rows first..last-1 of it that are; `ours(0)`
    and `last` say whether the view's own opening and end are."""

    __slots__ = ("lo", "hi")

    def __init__(self, part):
        self.lo, self.hi = part if part is not None else (0, None)

    def ours(self, at: int) -> bool:
        return self.lo <= at and (self.hi is None or at < self.hi)

    def tables(self, tables, rows_of=len):
        """(index, table, heading ours, first, last, closing ours) for each of `tables`, whose
        rows `rows_of(table)` counts."""
        base = 0
        for i, table in enumerate(tables):
            n = rows_of(table)
            at, base = base, base + n
            first = max(self.lo - at, 0)
            last = n if self.hi is None else max(first, min(self.hi - at, n))
            yield i, table, self.ours(at), first, last, self.ours(base)

    @property
    def last(self) -> bool:
        return self.hi is None


def relocation_rows(table) -> int:
    """A relocation table's rows in the relocation views: a RELR table is one piece (its
    heading's place), no rows."""
    return 0 if table.kind == "RELR" else len(table.columns[0])


def chunks(n: int):
    """[start, stop) ranges of at most CHUNK rows covering n rows."""
    return ((i, min(i + CHUNK, n)) for i in range(0, n, CHUNK))


def hex_column(values, width: int) -> list[str]:
    """Each value as `width` bytes' worth of zero-padded lower-case hex digits ("%016x" for
    width 8), all in one bytes.hex() call: the values big-endian, one separator per value."""
    code = "Q" if width == 8 else "I"
    if isinstance(values, memoryview) and values.format == code:
        raw = values.tobytes()                   # a strided view of the file: gathered in C
        if sys.byteorder == "little":            # reversed whole: each value big-endian, the
            return raw[::-1].hex(" ", width).split(" ")[::-1]   # values last first
        return raw.hex(" ", width).split(" ")
    return struct.pack(f">{len(values)}{code}", *values).hex(" ", width).split(" ")


def any_negative(column) -> bool:
    """Whether a column of ints has a negative one; for a view or an array of signed ints, by
    the sign bits of its bytes (bytes.isascii: no byte with its top bit set) rather than by
    comparing each item."""
    size, code = getattr(column, "itemsize", 0), getattr(column, "typecode", None) or \
        getattr(column, "format", "")
    if size and code and code in "bhilq":
        sign = size - 1 if sys.byteorder == "little" else 0      # the byte with the sign bit
        return not column.tobytes()[sign::size].isascii()
    return any(map(gt, repeat(0), column))


def summary(elf) -> dict:
    from elfkit.check.hardening import is_pie, summary as hardening
    from elfkit.elf.constants import DT, ET, PT, elf_type_name, machine_name
    h = elf.header
    dyn = elf.dynamic
    strings = lambda tag: (dyn.strings(tag) or [None])[0] if dyn else None   # noqa: E731
    return {
        "type": elf_type_name(h.type),
        "machine": machine_name(h.machine),
        "class": "ELF64" if h.is_64 else "ELF32",
        "entry": h.entry,
        "interpreter": interpreter(elf),
        "needed": dyn.needed if dyn else [],
        "soname": dyn.soname if dyn else None,
        "rpath": strings(DT.RPATH),
        "runpath": strings(DT.RUNPATH),
        "static": h.type in (ET.EXEC, ET.DYN) and not any(s.type == PT.INTERP for s in elf.segments)
                  and not (dyn and dyn.needed),
        "pie": is_pie(elf),
        "hardening": hardening(elf) if h.type != ET.CORE else None,
    }
