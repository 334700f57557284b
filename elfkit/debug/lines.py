"""DWARF line-number programs (.debug_line, DWARF 2-5) run into an address -> file:line table.

pyelftools parses each program's header (directories, files, opcode parameters: the
structure); the opcodes themselves run here, in one tight loop per program (`run_program`):
pyelftools' per-opcode decoding makes an object per opcode and per row, which is the floor of
its `get_entries()` -- about 14 s for libc's debug file against well under one second here.

The table is kept and searched as binutils' bfd/dwarf2.c keeps it, so that `addr2line` output
agrees: rows grouped in sequences, of two rows at one address in a sequence the later kept,
sequences sorted by start (the longest first on a tie), nested ones dropped and overlapping
ones trimmed; an address is found in the row at or below it whose next row lies above it.
"""
from __future__ import annotations

from bisect import bisect_right

from elfkit.debug.forms import entry_formats, legacy_tables, uleb as _uleb

DW_LNS_copy, DW_LNS_advance_pc, DW_LNS_advance_line, DW_LNS_set_file = 1, 2, 3, 4
DW_LNS_set_column, DW_LNS_negate_stmt, DW_LNS_set_basic_block, DW_LNS_const_add_pc = 5, 6, 7, 8
DW_LNS_fixed_advance_pc, DW_LNS_set_prologue_end, DW_LNS_set_epilogue_begin = 9, 10, 11
DW_LNS_set_isa = 12
DW_LNE_end_sequence, DW_LNE_set_address, DW_LNE_define_file = 1, 2, 3
DW_LNE_set_discriminator = 4


class Sequence:
    """One DW_LNE_end_sequence-terminated run of rows: `addrs` ascending (the last one is the
    end-of-sequence row, one past the code), `rows[i]` = (file index, line, discriminator)."""
    __slots__ = ("low", "high", "addrs", "rows", "order")

    def __init__(self, addrs: list[int], rows: list[tuple], order: int):
        self.addrs = addrs
        self.rows = rows
        self.low = min(addrs)
        self.high = addrs[-1]
        self.order = order


def run_program(data: bytes, pos: int, end: int, min_inst: int, line_base: int,
                line_range: int, opcode_base: int, std_lengths, default_is_stmt: bool
                ) -> list[Sequence]:
    """Run the opcodes in data[pos:end]; the sequences in the order the program ends them.
    The LEB128 operands of the opcodes that come once per row or more (advance_pc,
    advance_line) are decoded inline, not through forms.uleb/sleb: in this loop a call per
    operand costs more than the decoding itself."""
    spec_addr = [0] * 256
    spec_line = [0] * 256
    for op in range(opcode_base, 256):
        adj = op - opcode_base
        spec_addr[op] = (adj // line_range) * min_inst if line_range else 0
        spec_line[op] = line_base + (adj % line_range if line_range else 0)
    const_add = spec_addr[255]
    seqs: list[Sequence] = []
    addr = 0
    file = 1
    line = 1
    disc = 0
    addrs: list[int] = []
    rows: list[tuple] = []
    while pos < end:
        op = data[pos]
        pos += 1
        if op >= opcode_base:
            addr += spec_addr[op]
            line += spec_line[op]
            if addrs and addrs[-1] == addr:
                rows[-1] = (file, line, disc)
            else:
                addrs.append(addr)
                rows.append((file, line, disc))
            disc = 0
        elif op == DW_LNS_advance_pc:
            v = data[pos]
            pos += 1
            if v & 0x80:
                v &= 0x7F
                shift = 7
                while True:
                    b = data[pos]
                    pos += 1
                    v |= (b & 0x7F) << shift
                    if b < 0x80:
                        break
                    shift += 7
            addr += v * min_inst
        elif op == DW_LNS_advance_line:
            v = 0
            shift = 0
            while True:
                b = data[pos]
                pos += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            if b & 0x40:
                v -= 1 << shift
            line += v
        elif op == DW_LNS_copy:
            if addrs and addrs[-1] == addr:
                rows[-1] = (file, line, disc)
            else:
                addrs.append(addr)
                rows.append((file, line, disc))
            disc = 0
        elif op == DW_LNS_set_file:
            file, pos = _uleb(data, pos)
        elif op == DW_LNS_const_add_pc:
            addr += const_add
        elif op == 0:
            length, pos = _uleb(data, pos)
            sub = data[pos] if length else 0
            if sub == DW_LNE_end_sequence:
                addrs.append(addr)
                rows.append((file, line, disc))
                seqs.append(Sequence(addrs, rows, len(seqs)))
                addrs = []
                rows = []
                addr = 0
                file = 1
                line = 1
                disc = 0
            elif sub == DW_LNE_set_address:
                addr = int.from_bytes(data[pos + 1:pos + length], "little")
            elif sub == DW_LNE_set_discriminator:
                disc, _ = _uleb(data, pos + 1)
            pos += length
        elif op == DW_LNS_fixed_advance_pc:
            addr += data[pos] | data[pos + 1] << 8
            pos += 2
        elif op in (DW_LNS_negate_stmt, DW_LNS_set_basic_block, DW_LNS_set_prologue_end,
                    DW_LNS_set_epilogue_begin):
            pass
        else:                                   # set_column, set_isa, and unknown opcodes
            for _ in range(std_lengths[op - 1] if op - 1 < len(std_lengths) else 0):
                _, pos = _uleb(data, pos)
    return seqs




class LineTable:
    """The line table of one compile unit, searchable by address."""

    def __init__(self, sequences: list[Sequence], file_name):
        self.sequences = _sort_and_trim(sequences)
        self.lows = [s.low for s in self.sequences]
        self.file_name = file_name           # file index -> path, binutils' concat_filename

    def lookup(self, addr: int):
        """(path, line, discriminator) of the row covering `addr`, or None."""
        i = bisect_right(self.lows, addr) - 1
        if i < 0:
            return None
        seq = self.sequences[i]
        if not (seq.low <= addr < seq.high):
            return None
        addrs = seq.addrs
        j = bisect_right(addrs, addr) - 1
        if j < 0 or j >= len(addrs) - 1 or addrs[j] > addr:
            return None
        file, line, disc = seq.rows[j]
        return self.file_name(file), line, disc

    def covers(self, addr: int) -> bool:
        """Does a sequence span `addr` (a row of it may still not: a gap's address)?"""
        i = bisect_right(self.lows, addr) - 1
        return i >= 0 and addr < self.sequences[i].high

    def ranges(self):
        return [(s.low, s.high) for s in self.sequences]


def _sort_and_trim(seqs: list[Sequence]) -> list[Sequence]:
    """binutils' sort_line_sequences: by start, the longest first, then program order; drop
    sequences nested in the one before, trim the start of overlapping ones."""
    seqs = [s for s in seqs if s.high > s.low]
    if not seqs:
        return []
    seqs.sort(key=lambda s: (s.low, -s.high, s.order))
    out = [seqs[0]]
    last_high = seqs[0].high
    for s in seqs[1:]:
        if s.low < last_high:
            if s.high <= last_high:
                continue
            s.low = last_high
        last_high = s.high
        out.append(s)
    return out


def file_namer(version: int, comp_dir: str | None, dirs: list[str], files: list[tuple]):
    """binutils' concat_filename for one line table: file index -> the path addr2line prints.
    `files` are (name, directory index). Before DWARF 5 both tables count from 1 (index 0 is
    "unknown"); from DWARF 5 on from 0."""
    cache: dict[int, str] = {}
    zero_based = version >= 5

    def name(index: int) -> str:
        got = cache.get(index)
        if got is not None:
            return got
        cache[index] = got = _concat(index)
        return got

    def _concat(index: int) -> str:
        if not zero_based:
            if index == 0:
                return "<unknown>"
            index -= 1
        if index >= len(files):
            return "<unknown>"
        fname, dir_index = files[index]
        if fname.startswith("/"):
            return fname
        if not zero_based:
            dir_index -= 1
        subdir = dirs[dir_index] if 0 <= dir_index < len(dirs) else None
        dir_name = comp_dir if (not subdir or not subdir.startswith("/")) else None
        if not dir_name:
            dir_name, subdir = subdir, None
        if not dir_name:
            return fname
        if subdir:
            return f"{dir_name}/{subdir}/{fname}"
        return f"{dir_name}/{fname}"

    return name


# DW_LNCT_* content types and the forms a DWARF 5 file table uses
DW_LNCT_path, DW_LNCT_directory_index = 1, 2


class LineProgramHeader:
    """A line-number program's header (DWARF 2-5): its opcode parameters, directories and
    files (name, directory index), and where its opcodes lie."""
    __slots__ = ("version", "min_inst", "default_is_stmt", "line_base", "line_range",
                 "opcode_base", "std_lengths", "dirs", "files", "program_start", "program_end")


def read_header(data: bytes, offset: int, unit) -> LineProgramHeader:
    """The header at `offset` of .debug_line; `unit` resolves DWARF 5's string forms
    (DW_FORM_line_strp, strp, strx) and gives the address and offset sizes."""
    from elfkit.debug.forms import read_form
    h = LineProgramHeader()
    length = int.from_bytes(data[offset:offset + 4], "little")
    pos = offset + 4
    offset_size = 4
    if length == 0xFFFFFFFF:
        length = int.from_bytes(data[pos:pos + 8], "little")
        pos += 8
        offset_size = 8
    h.program_end = pos + length
    h.version = version = int.from_bytes(data[pos:pos + 2], "little")
    pos += 2
    address_size = unit.address_size
    if version >= 5:
        address_size = data[pos]
        pos += 2                                     # address_size, segment_selector_size
    header_length = int.from_bytes(data[pos:pos + offset_size], "little")
    pos += offset_size
    h.program_start = pos + header_length
    h.min_inst = data[pos]
    pos += 1
    if version >= 4:
        pos += 1                                     # maximum_operations_per_instruction
    h.default_is_stmt = data[pos] != 0
    h.line_base = data[pos + 1] - 256 if data[pos + 1] >= 128 else data[pos + 1]
    h.line_range = data[pos + 2]
    h.opcode_base = data[pos + 3]
    pos += 4
    h.std_lengths = list(data[pos:pos + h.opcode_base - 1])
    pos += h.opcode_base - 1
    if version < 5:
        h.dirs, _start, files, _end = legacy_tables(data, pos)
        h.files = [(name, d) for name, d, _mtime, _size in files]
        return h

    def entries(pos):
        formats, count, pos = entry_formats(data, pos)
        out = []
        for _ in range(count):
            path, index = None, 0
            for ctype, form in formats:
                value, pos = read_form(data, pos, form, address_size, offset_size, version)
                if ctype == DW_LNCT_path:
                    path = unit.string(form, value)
                elif ctype == DW_LNCT_directory_index:
                    index = value
            out.append((path or "", index))
        return out, pos

    dirs, pos = entries(pos)
    h.dirs = [d for d, _ in dirs]
    h.files, pos = entries(pos)
    return h
