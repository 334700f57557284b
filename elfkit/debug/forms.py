"""DWARF attribute forms (DWARF 2-5 and the GNU extensions) as this package reads them: how
many bytes each takes (`FIXED`, or a kind whose size is in the data) and how to read a value."""
from __future__ import annotations

# Kinds of variable size
ULEB, SLEB, STRING, BLOCK, BLOCK1, BLOCK2, BLOCK4, INDIRECT = range(-1, -9, -1)
ADDR, OFFSET, REF_ADDR = -20, -21, -22         # address size, offset size (4/8), by version

FORM_SIZE = {
    "DW_FORM_addr": ADDR, "DW_FORM_block2": BLOCK2, "DW_FORM_block4": BLOCK4,
    "DW_FORM_data2": 2, "DW_FORM_data4": 4, "DW_FORM_data8": 8, "DW_FORM_string": STRING,
    "DW_FORM_block": BLOCK, "DW_FORM_block1": BLOCK1, "DW_FORM_data1": 1, "DW_FORM_flag": 1,
    "DW_FORM_sdata": SLEB, "DW_FORM_strp": OFFSET, "DW_FORM_udata": ULEB,
    "DW_FORM_ref_addr": REF_ADDR, "DW_FORM_ref1": 1, "DW_FORM_ref2": 2, "DW_FORM_ref4": 4,
    "DW_FORM_ref8": 8, "DW_FORM_ref_udata": ULEB, "DW_FORM_indirect": INDIRECT,
    "DW_FORM_sec_offset": OFFSET, "DW_FORM_exprloc": BLOCK, "DW_FORM_flag_present": 0,
    "DW_FORM_strx": ULEB, "DW_FORM_addrx": ULEB, "DW_FORM_ref_sup4": 4,
    "DW_FORM_strp_sup": OFFSET, "DW_FORM_data16": 16, "DW_FORM_line_strp": OFFSET,
    "DW_FORM_ref_sig8": 8, "DW_FORM_implicit_const": 0, "DW_FORM_loclistx": ULEB,
    "DW_FORM_rnglistx": ULEB, "DW_FORM_ref_sup8": 8, "DW_FORM_strx1": 1, "DW_FORM_strx2": 2,
    "DW_FORM_strx3": 3, "DW_FORM_strx4": 4, "DW_FORM_addrx1": 1, "DW_FORM_addrx2": 2,
    "DW_FORM_addrx3": 3, "DW_FORM_addrx4": 4, "DW_FORM_GNU_addr_index": ULEB,
    "DW_FORM_GNU_str_index": ULEB, "DW_FORM_GNU_ref_alt": OFFSET, "DW_FORM_GNU_strp_alt": OFFSET,
}
# DW_FORM_indirect's operand: the form's code
FORM_BY_CODE = {
    0x01: "DW_FORM_addr", 0x03: "DW_FORM_block2", 0x04: "DW_FORM_block4", 0x05: "DW_FORM_data2",
    0x06: "DW_FORM_data4", 0x07: "DW_FORM_data8", 0x08: "DW_FORM_string", 0x09: "DW_FORM_block",
    0x0a: "DW_FORM_block1", 0x0b: "DW_FORM_data1", 0x0c: "DW_FORM_flag", 0x0d: "DW_FORM_sdata",
    0x0e: "DW_FORM_strp", 0x0f: "DW_FORM_udata", 0x10: "DW_FORM_ref_addr", 0x11: "DW_FORM_ref1",
    0x12: "DW_FORM_ref2", 0x13: "DW_FORM_ref4", 0x14: "DW_FORM_ref8", 0x15: "DW_FORM_ref_udata",
    0x16: "DW_FORM_indirect", 0x17: "DW_FORM_sec_offset", 0x18: "DW_FORM_exprloc",
    0x19: "DW_FORM_flag_present", 0x1a: "DW_FORM_strx", 0x1b: "DW_FORM_addrx",
    0x1c: "DW_FORM_ref_sup4", 0x1d: "DW_FORM_strp_sup", 0x1e: "DW_FORM_data16",
    0x1f: "DW_FORM_line_strp", 0x20: "DW_FORM_ref_sig8", 0x21: "DW_FORM_implicit_const",
    0x22: "DW_FORM_loclistx", 0x23: "DW_FORM_rnglistx", 0x24: "DW_FORM_ref_sup8",
    0x25: "DW_FORM_strx1", 0x26: "DW_FORM_strx2", 0x27: "DW_FORM_strx3", 0x28: "DW_FORM_strx4",
    0x29: "DW_FORM_addrx1", 0x2a: "DW_FORM_addrx2", 0x2b: "DW_FORM_addrx3",
    0x2c: "DW_FORM_addrx4", 0x1f01: "DW_FORM_GNU_addr_index", 0x1f02: "DW_FORM_GNU_str_index",
    0x1f20: "DW_FORM_GNU_ref_alt", 0x1f21: "DW_FORM_GNU_strp_alt",
}
STRING_FORMS = {"DW_FORM_string", "DW_FORM_strp", "DW_FORM_line_strp", "DW_FORM_strx",
                "DW_FORM_strx1", "DW_FORM_strx2", "DW_FORM_strx3", "DW_FORM_strx4",
                "DW_FORM_GNU_str_index", "DW_FORM_strp_sup", "DW_FORM_GNU_strp_alt"}
CU_REF_FORMS = {"DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8",
                "DW_FORM_ref_udata"}
ADDRX_FORMS = {"DW_FORM_addrx", "DW_FORM_addrx1", "DW_FORM_addrx2", "DW_FORM_addrx3",
               "DW_FORM_addrx4", "DW_FORM_GNU_addr_index"}


def cstr(data, offset: int) -> str | None:
    """The NUL-ended string at `offset` of a string section (.debug_str, .debug_line_str), to
    the section's end when no NUL follows; None past its end or with no section."""
    if data is None or offset >= len(data):
        return None
    end = data.find(b"\0", offset)
    return data[offset:end if end >= 0 else len(data)].decode("utf-8", "surrogateescape")


def uleb(data, pos: int) -> tuple[int, int]:
    v = 0
    shift = 0
    while True:
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, pos
        shift += 7


def sleb(data, pos: int) -> tuple[int, int]:
    v = 0
    shift = 0
    while True:
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                v -= 1 << shift
            return v, pos


def legacy_tables(data, pos: int) -> tuple[list[str], int, list[tuple[str, int, int, int]], int]:
    """A DWARF 2-4 line-table header's include_directories and file_names, from `pos`: (the
    directories, where the file names start, [(name, directory index, mtime, length)], the
    position after both tables)."""
    dirs = []
    while data[pos]:
        end = data.index(b"\0", pos)
        dirs.append(data[pos:end].decode("utf-8", "surrogateescape"))
        pos = end + 1
    pos += 1
    files_start = pos
    files = []
    while data[pos]:
        end = data.index(b"\0", pos)
        name = data[pos:end].decode("utf-8", "surrogateescape")
        d, pos = uleb(data, end + 1)
        t, pos = uleb(data, pos)
        s, pos = uleb(data, pos)
        files.append((name, d, t, s))
    return dirs, files_start, files, pos + 1


def entry_formats(data, pos: int) -> tuple[list[tuple[int, str | int]], int, int]:
    """A DWARF 5 line-table header's entry format (directory_entry_format, file_name_entry_format)
    and the entry count after it: ([(content type, form name -- or the code, unknown)], count,
    the position of the first entry)."""
    nformats = data[pos]
    pos += 1
    formats = []
    for _ in range(nformats):
        ctype, pos = uleb(data, pos)
        code, pos = uleb(data, pos)
        formats.append((ctype, FORM_BY_CODE.get(code, code)))
    count, pos = uleb(data, pos)
    return formats, count, pos


def form_size(form: str, address_size: int, offset_size: int, version: int) -> int:
    """FORM_SIZE of `form` with the unit's address and offset sizes filled in (negative: the
    kinds whose size is in the data)."""
    size = FORM_SIZE.get(form)
    if size is None:
        raise ValueError(f"unknown attribute form {form}")
    if size == ADDR:
        return address_size
    if size == OFFSET:
        return offset_size
    if size == REF_ADDR:
        return address_size if version == 2 else offset_size
    return size


def read_form(data, pos: int, form: str, address_size: int, offset_size: int, version: int,
              implicit=None) -> tuple[object, int]:
    """The raw value of one attribute (an int, or bytes for strings and blocks) and the
    position after it."""
    size = form_size(form, address_size, offset_size, version)
    if size >= 0:
        if form == "DW_FORM_implicit_const":
            return implicit, pos
        if form == "DW_FORM_flag_present":
            return 1, pos
        return int.from_bytes(data[pos:pos + size], "little"), pos + size
    if size == ULEB:
        return uleb(data, pos)
    if size == SLEB:
        return sleb(data, pos)
    if size == STRING:
        end = data.index(b"\0", pos)
        return bytes(data[pos:end]), end + 1
    if size == INDIRECT:
        code, pos = uleb(data, pos)
        return read_form(data, pos, FORM_BY_CODE[code], address_size, offset_size, version)
    if size == BLOCK:
        n, pos = uleb(data, pos)
    elif size == BLOCK1:
        n, pos = data[pos], pos + 1
    elif size == BLOCK2:
        n, pos = int.from_bytes(data[pos:pos + 2], "little"), pos + 2
    else:
        n, pos = int.from_bytes(data[pos:pos + 4], "little"), pos + 4
    return bytes(data[pos:pos + n]), pos + n
