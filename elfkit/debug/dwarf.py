"""The DWARF of one file, read lazily: pyelftools' DWARFInfo over this package's decompressed
section bytes for the unit headers and .debug_aranges, and per compile unit -- found for an
address through .debug_aranges, else the units' own ranges -- its abbreviation table, top DIE,
scopes (scopes.py) and line table (lines.py), each decoded here the first time an address
falls in that unit: pyelftools' construct-based parsing of the same costs ~6 ms per
abbreviation table, ~1 ms per line-program header and ~30 us per DIE, 5-10x this for libc."""
from __future__ import annotations

import io
from bisect import bisect_right

from elftools.common.exceptions import DWARFError, ELFError
from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DWARFInfo, DwarfConfig
from elftools.dwarf.enums import ENUM_DW_AT, ENUM_DW_FORM, ENUM_DW_TAG

from elfkit.debug.forms import ADDRX_FORMS, CU_REF_FORMS, STRING_FORMS, cstr, read_form, sleb, \
    uleb
from elfkit.debug.lines import LineTable, file_namer, read_header, run_program
from elfkit.debug.scopes import Plan, scan_scopes
from elfkit.debug.sections import DebugSections
from elfkit.errors import DebugInfoError

_SECTIONS = ("info", "aranges", "abbrev", "frame", "eh_frame", "str", "loc", "ranges", "line",
             "pubtypes", "pubnames", "addr", "str_offsets", "line_str", "loclists",
             "rnglists", "sup", "gnu_debugaltlink", "types")
# What pyelftools is handed (each decompressed when first needed here): what unit headers,
# .debug_aranges and DIEs' strings take. A later user that wants more from pyelftools (CFI,
# location lists) adds to this.
_FOR_PYELFTOOLS = {"info", "aranges", "abbrev", "str", "line_str", "str_offsets", "addr"}

# DW_LANG_* whose names are not mangled (bfd/dwarf2.c mangle_style() == 0): their DW_AT_name is
# the symbol's name
UNMANGLED_LANGS = {0x0001, 0x0002, 0x0003, 0x0005, 0x0006, 0x0007, 0x000a, 0x000c, 0x000f,
                   0x0012, 0x001d, 0x002c, 0x8001, 0x8765}
TAG_NAMES = {v: k for k, v in ENUM_DW_TAG.items()}
AT_NAMES = {v: k for k, v in ENUM_DW_AT.items()}
FORM_NAMES = {v: k for k, v in ENUM_DW_FORM.items()}
NAME_ATTRS = {"DW_AT_name", "DW_AT_linkage_name", "DW_AT_MIPS_linkage_name",
              "DW_AT_abstract_origin", "DW_AT_specification"}


class DwarfData:
    """The DWARF of the ELF file `elf` (an ElfFile): units found by address, decoded on
    demand and kept for the life of this object."""

    def __init__(self, elf):
        self.elf = elf
        self.path = elf.path
        self.sections = DebugSections(elf)
        if not self.sections.has(".debug_info"):
            raise DebugInfoError(elf.path, "no .debug_info section")
        self._dwarf = None
        self._units: dict[int, Unit] = {}
        self._unit_offsets = None
        self._by_address = None
        self._abbrev_tables: dict[int, dict] = {}
        self._plans: dict[tuple, Plan] = {}

    @property
    def info(self) -> bytes:
        """.debug_info's bytes, decompressed on first use."""
        return self.sections.get(".debug_info")

    # --- pyelftools -------------------------------------------------------------------------
    @property
    def dwarf(self) -> DWARFInfo:
        if self._dwarf is None:
            def desc(short):
                name = ".eh_frame" if short == "eh_frame" else (
                    ".gnu_debugaltlink" if short == "gnu_debugaltlink" else f".debug_{short}")
                if short not in _FOR_PYELFTOOLS:
                    return None
                data = self.sections.get(name)
                if data is None:
                    return None
                return DebugSectionDescriptor(io.BytesIO(data), name, None, len(data), 0)
            secs = {f"{s}_sec" if s in ("eh_frame", "gnu_debugaltlink") else f"debug_{s}_sec":
                    desc(s) for s in _SECTIONS}
            self._dwarf = DWARFInfo(
                config=DwarfConfig(little_endian=self.elf.fmt.endian == "<",
                                   machine_arch="x64",
                                   default_address_size=8 if self.elf.is_64 else 4),
                **secs)
        return self._dwarf

    # --- units --------------------------------------------------------------------------------
    def unit_at(self, offset: int) -> "Unit":
        u = self._units.get(offset)
        if u is None:
            try:
                u = self._units[offset] = Unit(self, self.dwarf.get_CU_at(offset))
            except (IndexError, ValueError, KeyError, DWARFError, ELFError) as e:
                raise DebugInfoError(self.path, f"compile unit at .debug_info+{offset:#x} "
                                                f"cannot be decoded ({e})") from None
        return u

    def abbrev_table(self, offset: int) -> dict:
        """The abbreviation table at `offset` of .debug_abbrev: code -> (DW_TAG, has children,
        [(DW_AT, DW_FORM, implicit constant)]), as numbers (`plan` names them). Decoded
        here: pyelftools' construct-based parser costs ~6 ms a table, and libc's debug file
        has one table per unit."""
        table = self._abbrev_tables.get(offset)
        if table is not None:
            return table
        data = self.sections.get(".debug_abbrev") or b""
        table = {}
        pos = offset
        size = len(data)
        while pos < size:
            # one-byte ULEB128s (nearly all of them) read inline: this loop runs once per
            # attribute specification of every table, ~300,000 times for libc
            code = data[pos]
            if code < 0x80:
                pos += 1
            else:
                code, pos = uleb(data, pos)
            if code == 0:
                break
            tag = data[pos]
            if tag < 0x80:
                pos += 1
            else:
                tag, pos = uleb(data, pos)
            children = data[pos] != 0
            pos += 1
            specs = []
            while True:
                at = data[pos]
                if at < 0x80:
                    pos += 1
                else:
                    at, pos = uleb(data, pos)
                form = data[pos]
                if form < 0x80:
                    pos += 1
                else:
                    form, pos = uleb(data, pos)
                if at == 0 and form == 0:
                    break
                if form == 0x21:                       # DW_FORM_implicit_const
                    implicit, pos = sleb(data, pos)
                    specs.append((at, form, implicit))
                else:
                    specs.append((at, form, None))
            table[code] = (tag, children, specs)
        self._abbrev_tables[offset] = table
        return table

    def plan(self, decl, address_size: int, offset_size: int, version: int) -> Plan:
        """The walk's plan of one abbreviation, shared by every unit with the same one (the
        units of one compiler repeat the same few hundred abbreviations)."""
        tag, children, specs = decl
        key = (tag, children, tuple(specs), address_size, offset_size, version)
        p = self._plans.get(key)
        if p is None:
            p = self._plans[key] = Plan(
                TAG_NAMES.get(tag, tag), children,
                [(AT_NAMES.get(at, at), FORM_NAMES.get(form, form), imp)
                 for at, form, imp in specs],
                address_size, offset_size, version)
        return p

    def unit_offsets(self) -> list[int]:
        if self._unit_offsets is None:
            self._unit_offsets = [cu.cu_offset for cu in self.dwarf.iter_CUs()]
        return self._unit_offsets

    def unit_containing(self, die_offset: int) -> "Unit":
        offs = self.unit_offsets()
        return self.unit_at(offs[bisect_right(offs, die_offset) - 1])

    def units_for(self, addr: int, by_lines: bool = True) -> list["Unit"]:
        """The compile units whose code holds `addr` (usually one): by their ranges
        (.debug_aranges, else DW_AT_ranges/low_pc/high_pc), else (`by_lines`) by a
        line-number sequence of a neighbouring unit."""
        if self._by_address is None:
            self._by_address = self._address_map()
        lows, entries = self._by_address
        found = []
        i = bisect_right(lows, addr) - 1
        for i in range(i, max(i - 64, -1), -1):     # units' ranges seldom overlap
            low, high, off = entries[i]
            if low <= addr < high and off not in found:
                found.append(off)
        if not found and by_lines:
            # binutils also counts a unit's line-number sequences as its ranges: padding
            # between two functions of a unit lies inside one sequence, outside its ranges.
            # Such a sequence's unit has ranges on both sides of it: the neighbours are asked.
            # (binutils adds them once it has read that unit's line table for another
            # address, so its answer there depends on what was asked before; elfkit's not.)
            below = bisect_right(lows, addr) - 1
            for j in (below, below + 1):
                if 0 <= j < len(entries):
                    off = entries[j][2]
                    lines = self.unit_at(off).lines
                    if lines is not None and lines.covers(addr) and off not in found:
                        found.append(off)
        return [self.unit_at(o) for o in found]

    def _address_map(self):
        try:
            return self._read_address_map()
        except (IndexError, ValueError, KeyError, DWARFError, ELFError) as e:
            raise DebugInfoError(self.path, f".debug_aranges cannot be decoded ({e})") from None

    def _read_address_map(self):
        entries = []
        if self.sections.has(".debug_aranges"):
            for e in self.dwarf.get_aranges().entries:
                if e.length:
                    entries.append((e.begin_addr, e.begin_addr + e.length, e.info_offset))
        if not entries:
            for off in self.unit_offsets():
                u = self.unit_at(off)
                entries += [(lo, hi, off) for lo, hi in u.ranges if hi > lo]
        entries.sort()
        return [e[0] for e in entries], entries


class Unit:
    """One compile unit: its header and top DIE's facts from pyelftools, its scopes and line
    table decoded on first use."""

    def __init__(self, dd: DwarfData, cu):
        self.dd = dd
        self.cu = cu
        self.info = dd.info
        h = cu.header
        self.offset = cu.cu_offset
        self.version = h["version"]
        self.address_size = h["address_size"]
        self.offset_size = 8 if cu.dwarf_format() == 64 else 4
        self.die_start = cu.cu_die_offset
        self.end = self.offset + cu.size
        self.plans: dict[int, Plan] = {}
        self._abbrevs = None
        self.abbrev_offset = h["debug_abbrev_offset"]
        top = self.die_attrs(self.die_start)[1]
        get = lambda name, default=None: top[name][1] if name in top else default  # noqa: E731
        self.str_offsets_base = get("DW_AT_str_offsets_base", 8 if self.version >= 5 else 0)
        self.addr_base = get("DW_AT_addr_base", get("DW_AT_GNU_addr_base", 8))
        self.rnglists_base = get("DW_AT_rnglists_base", 0)
        self.lang = get("DW_AT_language", 0)
        self.comp_dir = self.string(*top["DW_AT_comp_dir"]) if "DW_AT_comp_dir" in top else None
        self.name = self.string(*top["DW_AT_name"]) if "DW_AT_name" in top else None
        self.base = 0
        if "DW_AT_low_pc" in top:
            form, value = top["DW_AT_low_pc"]
            self.base = self.address(value) if form in ADDRX_FORMS else value
        self.stmt_list = get("DW_AT_stmt_list")
        self.has_lines = self.stmt_list is not None
        self.ranges = self.ranges_of(top)
        self._scopes = None
        self._lines = None

    # --- abbreviations and attributes ---------------------------------------------------------
    def plan(self, code: int) -> Plan:
        if self._abbrevs is None:
            self._abbrevs = self.dd.abbrev_table(self.abbrev_offset)
        decl = self._abbrevs.get(code)
        if decl is None:
            raise DebugInfoError(self.dd.path, f"unit at {self.offset:#x}: no abbreviation "
                                               f"{code}")
        p = self.plans[code] = self.dd.plan(decl, self.address_size, self.offset_size,
                                            self.version)
        return p

    def read_attrs(self, pos: int, plan: Plan, wanted=None):
        """The DIE's attributes at `pos` (those in `wanted`, or all): name -> (form, raw
        value); and the position after them."""
        out = {}
        data = self.info
        for name, form, _size, implicit in plan.attrs:
            value, pos = read_form(data, pos, form, self.address_size, self.offset_size,
                                   self.version, implicit)
            if wanted is None or name in wanted:
                out[name] = (form, value)
        return out, pos

    def die_attrs(self, die: int, wanted=None):
        """(tag-kind plan, attributes) of the DIE at .debug_info offset `die`."""
        code, pos = uleb(self.info, die)
        if code == 0:
            return None, {}
        plan = self.plans.get(code) or self.plan(code)
        return plan, self.read_attrs(pos, plan, wanted)[0]

    # --- values ---------------------------------------------------------------------------------
    def address(self, index: int) -> int:
        data = self.dd.sections.get(".debug_addr")
        if data is None:
            raise DebugInfoError(self.dd.path, "DW_FORM_addrx without .debug_addr")
        at = self.addr_base + index * self.address_size
        return int.from_bytes(data[at:at + self.address_size], "little")

    def string(self, form: str, value) -> str | None:
        if form == "DW_FORM_string":
            return _text(value)
        if form in ("DW_FORM_strp", "DW_FORM_line_strp"):
            sec = ".debug_str" if form == "DW_FORM_strp" else ".debug_line_str"
            return cstr(self.dd.sections.get(sec), value)
        if form in ("DW_FORM_strx", "DW_FORM_strx1", "DW_FORM_strx2", "DW_FORM_strx3",
                    "DW_FORM_strx4", "DW_FORM_GNU_str_index"):
            offs = self.dd.sections.get(".debug_str_offsets")
            if offs is None:
                return None
            at = self.str_offsets_base + value * self.offset_size
            return cstr(self.dd.sections.get(".debug_str"),
                         int.from_bytes(offs[at:at + self.offset_size], "little"))
        return None                               # DW_FORM_GNU_strp_alt: dwz's other file

    def ranges_of(self, attrs) -> list[tuple[int, int]]:
        """The address ranges of a DIE from its DW_AT_low_pc/high_pc or DW_AT_ranges."""
        if "DW_AT_ranges" in attrs:
            form, value = attrs["DW_AT_ranges"]
            return self._range_list(form, value)
        if "DW_AT_low_pc" in attrs and "DW_AT_high_pc" in attrs:
            lform, low = attrs["DW_AT_low_pc"]
            if lform in ADDRX_FORMS:
                low = self.address(low)
            hform, high = attrs["DW_AT_high_pc"]
            if hform in ADDRX_FORMS:
                high = self.address(high)
            elif hform != "DW_FORM_addr":
                high += low
            return [(low, high)] if high > low else []
        return []

    def _range_list(self, form: str, value: int) -> list[tuple[int, int]]:
        if self.version < 5:
            return self._debug_ranges(value)
        data = self.dd.sections.get(".debug_rnglists")
        if data is None:
            return []
        if form == "DW_FORM_rnglistx":
            at = self.rnglists_base + value * self.offset_size
            value = self.rnglists_base + int.from_bytes(data[at:at + self.offset_size],
                                                        "little")
        return self._rnglists(data, value)

    def _debug_ranges(self, offset: int) -> list[tuple[int, int]]:
        data = self.dd.sections.get(".debug_ranges")
        if data is None:
            return []
        n = self.address_size
        top = (1 << (8 * n)) - 1
        base = self.base
        out = []
        while offset + 2 * n <= len(data):
            lo = int.from_bytes(data[offset:offset + n], "little")
            hi = int.from_bytes(data[offset + n:offset + 2 * n], "little")
            offset += 2 * n
            if lo == 0 and hi == 0:
                break
            if lo == top:
                base = hi
                continue
            if hi > lo:
                out.append((base + lo, base + hi))
        return out

    def _rnglists(self, data, pos: int) -> list[tuple[int, int]]:
        n = self.address_size
        base = self.base
        out = []
        while pos < len(data):
            kind = data[pos]
            pos += 1
            if kind == 0:                               # DW_RLE_end_of_list
                break
            if kind == 1:                               # base_addressx
                i, pos = uleb(data, pos)
                base = self.address(i)
            elif kind == 2:                             # startx_endx
                a, pos = uleb(data, pos)
                b, pos = uleb(data, pos)
                out.append((self.address(a), self.address(b)))
            elif kind == 3:                             # startx_length
                a, pos = uleb(data, pos)
                ln, pos = uleb(data, pos)
                s = self.address(a)
                out.append((s, s + ln))
            elif kind == 4:                             # offset_pair
                a, pos = uleb(data, pos)
                b, pos = uleb(data, pos)
                out.append((base + a, base + b))
            elif kind == 5:                             # base_address
                base = int.from_bytes(data[pos:pos + n], "little")
                pos += n
            elif kind == 6:                             # start_end
                a = int.from_bytes(data[pos:pos + n], "little")
                b = int.from_bytes(data[pos + n:pos + 2 * n], "little")
                pos += 2 * n
                out.append((a, b))
            elif kind == 7:                             # start_length
                a = int.from_bytes(data[pos:pos + n], "little")
                ln, pos = uleb(data, pos + n)
                out.append((a, a + ln))
            else:
                raise DebugInfoError(self.dd.path, f"unknown range list entry {kind}", pos - 1)
        return [r for r in out if r[1] > r[0]]

    # --- what addr2line asks ----------------------------------------------------------------------
    @property
    def scopes(self):
        if self._scopes is None:
            try:
                self._scopes = scan_scopes(self)
            except (IndexError, ValueError, KeyError) as e:
                raise self._damaged("DIEs", e) from None
        return self._scopes

    def _damaged(self, what: str, e: Exception) -> DebugInfoError:
        return DebugInfoError(self.dd.path, f"compile unit at .debug_info+{self.offset:#x}: "
                                            f"its {what} cannot be decoded ({e or type(e).__name__})")

    @property
    def lines(self) -> LineTable | None:
        if self._lines is None and self.has_lines:
            data = self.dd.sections.get(".debug_line")
            if data is None:
                raise DebugInfoError(self.dd.path, "DW_AT_stmt_list without .debug_line")
            try:
                h = read_header(data, self.stmt_list, self)
                seqs = run_program(data, h.program_start, min(h.program_end, len(data)),
                                   h.min_inst, h.line_base, h.line_range, h.opcode_base,
                                   h.std_lengths, h.default_is_stmt)
            except (IndexError, ValueError, KeyError) as e:
                raise self._damaged(f"line program at .debug_line+{self.stmt_list:#x}", e) \
                    from None
            self._lines = LineTable(seqs, file_namer(h.version, self.comp_dir, h.dirs, h.files))
        return self._lines

    def function_name(self, f) -> tuple[str | None, bool]:
        """(name, is_linkage) of scope `f` as bfd/dwarf2.c reads them: DW_AT_linkage_name wins
        over DW_AT_name, both followed through DW_AT_abstract_origin/DW_AT_specification; a
        DW_AT_name counts as the linkage name in languages that do not mangle."""
        if f.name is None and f.is_linkage is None:
            f.name, f.is_linkage = self._names(f.die, 0)
        return f.name, bool(f.is_linkage)

    def _names(self, die: int, depth: int):
        name = None
        is_linkage = False
        _plan, attrs = self.die_attrs(die, NAME_ATTRS)
        for attr, (form, value) in attrs.items():
            if attr in ("DW_AT_abstract_origin", "DW_AT_specification") and depth < 16:
                target, unit = self._reference(form, value)
                if target is not None:
                    n, linkage = unit._names(target, depth + 1)
                    if n is not None:
                        name, is_linkage = n, linkage
            elif attr == "DW_AT_name":
                if name is None and form in STRING_FORMS:
                    name = self.string(form, value)
                    if self.lang in UNMANGLED_LANGS:
                        is_linkage = True
            elif attr in ("DW_AT_linkage_name", "DW_AT_MIPS_linkage_name"):
                if form in STRING_FORMS:
                    name = self.string(form, value)
                    is_linkage = True
        return name, is_linkage

    def _reference(self, form: str, value: int):
        if form in CU_REF_FORMS:
            return self.offset + value, self
        if form == "DW_FORM_ref_addr":
            return value, self.dd.unit_containing(value)
        return None, None                        # ref_sig8, dwz's ref_alt: not followed


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)

