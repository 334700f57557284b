"""The bulk decoding and rendering helpers behind `inspect`'s symbol and relocation views.

Symbol and relocation tables are cut into columns with strided slices -- views of the
file's bytes when its byte order is the machine's, byte-swapped arrays otherwise -- and
rendered from columns (render/rows.py). The system files and fixtures the readelf
comparison uses are all little-endian, so the other byte order and both ELF classes are
checked here against struct's own decoding of the same bytes.
"""
from __future__ import annotations

import random
import struct
from array import array
from types import SimpleNamespace

import pytest

from elfkit.elf.header import Formats
from elfkit.elf.relocations import decode_rel_columns
from elfkit.elf.symbols import Symbol, _bulk_names, _decode
from elfkit.render import rows


def _elf(data: bytes, is_64: bool, endian: str):
    warnings = []
    return SimpleNamespace(data=data, size=len(data), fmt=Formats(is_64, endian), is_64=is_64,
                           warnings=warnings, warn=warnings.append)


@pytest.mark.parametrize("is_64", [True, False])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_symbol_columns_match_struct(is_64, endian):
    rng = random.Random(1)
    strtab = b"\0alpha\0beta\0xgamma\0"
    names = {0: "", 1: "alpha", 7: "beta", 12: "xgamma", 13: "gamma", 3: "pha"}
    fmt = Formats(is_64, endian)
    entries = []
    for _ in range(300):
        name = rng.choice(list(names))
        info, other, shndx = rng.randrange(256), rng.randrange(256), rng.randrange(65536)
        value, size = rng.randrange(1 << (64 if is_64 else 32)), rng.randrange(1 << 20)
        entries.append((name, info, other, shndx, value, size) if is_64 else
                       (name, value, size, info, other, shndx))
    table = b"".join(fmt.sym.pack(*e) for e in entries)
    data = strtab + table
    elf = _elf(data, is_64, endian)
    t = _decode(elf, ".symtab", 5, len(strtab), len(entries), (0, len(strtab)), None)
    assert len(t) == len(entries)
    for i, e in enumerate(entries):
        name, info, other, shndx, value, size = e if is_64 else (e[0], e[3], e[4], e[5], e[1], e[2])
        assert t.symbols[i] == Symbol(i, names[name], value, size, info, other, shndx)
        assert t.kinds[i] == info | other << 8 | shndx << 16
    assert not elf.warnings


@pytest.mark.parametrize("is_64", [True, False])
@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("rela", [True, False])
def test_relocation_columns_match_struct(is_64, endian, rela):
    rng = random.Random(2)
    fmt = Formats(is_64, endian)
    layout = fmt.rela if rela else fmt.rel
    bits = 64 if is_64 else 32
    entries = [(rng.randrange(1 << bits), rng.randrange(1 << bits)) +
               ((rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1)),) if rela else ())
               for _ in range(257)]
    data = b"junk" + b"".join(layout.pack(*e) for e in entries)
    offsets, infos, addends = decode_rel_columns(_elf(data, is_64, endian), 4,
                                                 len(data) - 4, rela)
    assert list(offsets) == [e[0] for e in entries]
    assert list(infos) == [e[1] for e in entries]
    assert list(addends) == ([e[2] for e in entries] if rela else [0] * len(entries))
    assert rows.any_negative(addends) == any(a < 0 for a in addends)


def test_names_read_once_per_string_and_in_the_middle_of_one():
    strtab = b"\0foo\0barfoo\0\xc3\xa9t\xe9\0tail"
    offsets = array("I", [0, 1, 5, 8, 12, 14, 17, 18, 19, 99, 8])
    elf = _elf(strtab, True, "<")
    got = _bulk_names(elf, (0, len(strtab)), offsets)
    assert got == ["", "foo", "barfoo", "foo", "\u00e9t\\xe9", "t\\xe9", "tail", "ail", "il",
                   "<corrupt>", "foo"]
    assert len(elf.warnings) == 1 and "0x63" in elf.warnings[0]


def test_any_negative_and_hex_column():
    for column in (array("q", [5, 0, 7]), [1, 2], memoryview(struct.pack("<4q", 1, 2, 3, 4)).cast("q")[1::2]):
        assert not rows.any_negative(column)
    for column in (array("q", [5, -1, 7]), (0, -3), memoryview(struct.pack("=4q", 1, 2, 3, -4)).cast("q")[1::2],
                   array("i", [-(1 << 31)])):
        assert rows.any_negative(column)
    values = [0, 1, 0xABC, (1 << 64) - 1]
    assert rows.hex_column(values, 8) == ["%016x" % v for v in values]
    assert rows.hex_column(memoryview(struct.pack("=4Q", *values)).cast("Q")[::1], 8) == \
        ["%016x" % v for v in values]
    assert rows.hex_column([0, 0xFFFFFFFF, 0x1234], 4) == ["00000000", "ffffffff", "00001234"]


def test_interleave_and_chunks():
    assert rows.interleave([1, 2], "ab", (None, 0)) == [1, "a", None, 2, "b", 0]
    assert list(rows.chunks(0)) == []
    spans = list(rows.chunks(2 * rows.CHUNK + 5))
    assert spans == [(0, rows.CHUNK), (rows.CHUNK, 2 * rows.CHUNK), (2 * rows.CHUNK, 2 * rows.CHUNK + 5)]
    assert rows.CHUNK % 1000 == 0           # the text symbol view relies on it


def test_json_strings_quoted_in_bulk_only_when_no_escape_is_needed():
    import json

    from elfkit.render.inspect_json import _strings
    plain = ["main", "a b~", "_ZN3foo3barEv", ""]
    assert _strings(plain) == (plain, '"')
    for odd in (["ok", "tab\there"], ["q\"uote"], ["back\\slash"], ["del\x7f"], ["\u00e9t\u00e9"]):
        column, quote = _strings(odd)
        assert quote == "" and [json.loads(c) for c in column] == odd
