"""`elfkit inspect --debug-dump=info|line|frames`: the compile units and their DIEs, the raw
line-number programs and the call frame information of one ELF file, as the text of
`readelf --debug-dump=no-follow-links,info|line|frames FILE` (GNU readelf 2.40, its default
narrow layout: no -W) or as one JSON document (docs/JSON.md, "debug_dump").

Structure comes from elfkit.debug: DwarfData (pyelftools' DWARFInfo for the unit headers,
this package's abbreviation tables and form reader for the DIEs), DebugSections for the
(possibly compressed) section bytes, pyelftools' CallFrameInfo for the CIEs and FDEs. The
layout -- spacing, number bases, readelf's quirks -- is written here, from readelf's output.

Only the file's own sections are read: readelf by default also follows .gnu_debuglink and
the build-id to a separate debug file and dumps that one too ("(loaded from ...)"); elfkit
does what `readelf --debug-dump=no-follow-links` (-wN) does.
"""
from __future__ import annotations

import io

from elfkit.debug.expr import block_text, decode_expr, register_names, regname
from elfkit.debug.forms import FORM_BY_CODE, cstr, entry_formats, legacy_tables, read_form, \
    sleb, uleb
from elfkit.debug.sections import DebugSections
from elfkit.errors import DebugInfoError

KINDS = ("info", "line", "frames")
# readelf's -w letters and --debug-dump words for the dumps elfkit has
ALIASES = {"i": "info", "info": "info", "l": "line", "line": "line", "rawline": "line",
           "f": "frames", "frames": "frames"}


def parse_kinds(values) -> list[str]:
    """The dumps asked for by --debug-dump values ("info,line", "l", "if")."""
    kinds: list[str] = []
    for value in values:
        for word in value.split(","):
            word = word.strip()
            if not word:
                continue
            if word in ALIASES:
                names = [ALIASES[word]]
            elif all(c in "ilf" for c in word):
                names = [ALIASES[c] for c in word]
            else:
                raise ValueError(f"unknown --debug-dump kind {word!r} (known: info, line "
                                 f"(rawline), frames; or the letters i, l, f)")
            for n in names:
                if n not in kinds:
                    kinds.append(n)
    return kinds


def hx(v: int) -> str:
    """C's %#x: "0" for zero, else 0x-prefixed hex (readelf's offsets and most values)."""
    return f"{v:#x}" if v else "0"


LANGUAGES = {
    0x1: "ANSI C", 0x2: "non-ANSI C", 0x3: "Ada", 0x4: "C++", 0x5: "Cobol 74",
    0x6: "Cobol 85", 0x7: "FORTRAN 77", 0x8: "Fortran 90", 0x9: "ANSI Pascal",
    0xa: "Modula 2", 0xb: "Java", 0xc: "ANSI C99", 0xd: "ADA 95", 0xe: "Fortran 95",
    0xf: "PLI", 0x10: "Objective C", 0x11: "Objective C++", 0x12: "Unified Parallel C",
    0x13: "D", 0x14: "Python", 0x15: "OpenCL", 0x16: "Go", 0x17: "Modula 3",
    0x18: "Haskell", 0x19: "C++03", 0x1a: "C++11", 0x1b: "OCaml", 0x1c: "Rust", 0x1d: "C11",
    0x1e: "Swift", 0x1f: "Julia", 0x20: "Dylan", 0x21: "C++14", 0x22: "Fortran 03",
    0x23: "Fortran 08", 0x24: "RenderScript", 0x8001: "MIPS assembler",
    0x8765: "Unified Parallel C",
}
ENCODINGS = {
    0x0: "void", 0x1: "machine address", 0x2: "boolean", 0x3: "complex float", 0x4: "float",
    0x5: "signed", 0x6: "signed char", 0x7: "unsigned", 0x8: "unsigned char",
    0x9: "imaginary float", 0xa: "packed_decimal", 0xb: "numeric_string", 0xc: "edited",
    0xd: "signed_fixed", 0xe: "unsigned_fixed", 0xf: "decimal_float", 0x10: "unicode string",
}
INLINE = {0: "not inlined", 1: "inlined", 2: "declared as inline but ignored",
          3: "declared as inline and inlined"}
ACCESSIBILITY = {1: "public", 2: "protected", 3: "private"}
VISIBILITY = {1: "local", 2: "exported", 3: "qualified"}
VIRTUALITY = {0: "none", 1: "virtual", 2: "pure_virtual"}
CALLING = {1: "normal", 2: "program", 3: "nocall", 4: "pass by ref",
           5: "pass by value"}
DEFAULTED = {0: "no", 1: "in class", 2: "out of class"}
_NAMED = {"DW_AT_language": LANGUAGES, "DW_AT_encoding": ENCODINGS, "DW_AT_inline": INLINE,
          "DW_AT_accessibility": ACCESSIBILITY, "DW_AT_visibility": VISIBILITY,
          "DW_AT_virtuality": VIRTUALITY, "DW_AT_calling_convention": CALLING,
          "DW_AT_defaulted": DEFAULTED}
# Attributes whose block value readelf decodes as a DWARF expression, and whose
# section-offset value it calls a location list.
LOC_ATTRS = {"DW_AT_location", "DW_AT_string_length", "DW_AT_return_addr",
             "DW_AT_data_member_location", "DW_AT_vtable_elem_location", "DW_AT_segment",
             "DW_AT_static_link", "DW_AT_use_location", "DW_AT_call_value",
             "DW_AT_GNU_call_site_value", "DW_AT_call_data_value",
             "DW_AT_GNU_call_site_data_value", "DW_AT_call_target",
             "DW_AT_GNU_call_site_target", "DW_AT_call_target_clobbered",
             "DW_AT_GNU_call_site_target_clobbered", "DW_AT_frame_base", "DW_AT_allocated",
             "DW_AT_associated", "DW_AT_data_location", "DW_AT_stride",
             "DW_AT_upper_bound", "DW_AT_lower_bound", "DW_AT_rank"}
LOCLIST_ATTRS = {"DW_AT_location", "DW_AT_string_length", "DW_AT_return_addr",
                 "DW_AT_data_member_location", "DW_AT_vtable_elem_location",
                 "DW_AT_segment", "DW_AT_static_link", "DW_AT_use_location",
                 "DW_AT_frame_base", "DW_AT_call_value", "DW_AT_GNU_call_site_value",
                 "DW_AT_call_data_value", "DW_AT_GNU_call_site_data_value",
                 "DW_AT_call_target", "DW_AT_GNU_call_site_target",
                 "DW_AT_call_target_clobbered", "DW_AT_GNU_call_site_target_clobbered"}
# readelf's "[without DW_AT_frame_base]": a DW_OP_fbreg after a DW_TAG_subprogram (or
# entry point) DIE that had no DW_AT_frame_base (state kept across DIEs and units, as
# readelf keeps it)
FRAME_BASE_RESETS = {"DW_TAG_subprogram", "DW_TAG_entry_point"}
_HEX_FORMS = {"DW_FORM_data4", "DW_FORM_data8", "DW_FORM_sec_offset", "DW_FORM_addr"}
_DEC_FORMS = {"DW_FORM_data1", "DW_FORM_data2", "DW_FORM_udata", "DW_FORM_flag",
              "DW_FORM_flag_present"}
_REF_FORMS = {"DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8",
              "DW_FORM_ref_udata"}
_BLOCK_FORMS = {"DW_FORM_block", "DW_FORM_block1", "DW_FORM_block2", "DW_FORM_block4",
                "DW_FORM_exprloc"}
_STRX_FORMS = {"DW_FORM_strx", "DW_FORM_strx1", "DW_FORM_strx2", "DW_FORM_strx3",
               "DW_FORM_strx4", "DW_FORM_GNU_str_index"}
UNIT_TYPES = {1: "DW_UT_compile", 2: "DW_UT_type", 3: "DW_UT_partial", 4: "DW_UT_skeleton",
              5: "DW_UT_split_compile", 6: "DW_UT_split_type"}


def _damaged(path, what, e):
    return DebugInfoError(path, f"{what} cannot be decoded ({e or type(e).__name__})")


class Dumper:
    """The dumps of one ElfFile, section by section in section-header order, as readelf
    goes. `text_sink(str)` receives text in pieces (a unit or a program at a time)."""

    def __init__(self, elf):
        self.elf = elf
        self.sections = RelocatedSections(elf)
        self.regs = register_names(elf.is_64, elf.header.machine)
        self._dd = None
        self.have_frame_base = False

    @property
    def dd(self):
        if self._dd is None:
            from elfkit.debug.dwarf import DwarfData
            self._dd = DwarfData(self.elf)
            self._dd.sections = self.sections         # the same bytes, relocated in a .o
        return self._dd

    def chosen_sections(self, kinds):
        """(kind, section) for each section a chosen dump reads, in header order."""
        out = []
        for s in self.elf.sections:
            name = s.name
            if "info" in kinds and name in (".debug_info", ".zdebug_info"):
                out.append(("info", s))
            elif "line" in kinds and name in (".debug_line", ".zdebug_line"):
                out.append(("line", s))
            elif "frames" in kinds and name in (".eh_frame", ".debug_frame", ".zdebug_frame"):
                out.append(("frames", s))
        return out

    # --- text ----------------------------------------------------------------------------------
    def write_text(self, kinds, write):
        for kind, sec in self.chosen_sections(kinds):
            if kind == "frames" and not sec.occupies_file:
                note = (f"section '{sec.name}' has the NOBITS type - its contents are "
                        "unreliable.\n")
                write(note)
                continue
            if not sec.size:
                write(f"\nSection '{sec.name}' has no debugging data.\n")
                continue
            if not sec.occupies_file:
                continue
            if kind == "info":
                self.info_text(write, sec.name)
            elif kind == "line":
                self.line_text(write, sec.name)
            else:
                try:
                    self.frames_text(sec, write)
                except (IndexError, ValueError, KeyError, TypeError, AttributeError) as e:
                    raise _damaged(self.elf.path, f"section {sec.name}", e) from None

    # --- .debug_info -----------------------------------------------------------------------------
    def units(self):
        dd = self.dd
        try:
            offsets = dd.unit_offsets()
        except Exception as e:                    # noqa: BLE001 - pyelftools' many errors
            raise _damaged(self.elf.path, ".debug_info's unit headers", e) from None
        for off in offsets:
            yield dd.unit_at(off)

    def info_text(self, write, name=".debug_info"):
        write(f"Contents of the {name} section:\n\n")
        for unit in self.units():
            buf: list[str] = []
            try:
                self._unit_text(unit, buf.append)
            except (IndexError, ValueError, KeyError, TypeError) as e:
                write("".join(buf))
                raise _damaged(self.elf.path,
                               f"compile unit at .debug_info+{unit.offset:#x}", e) from None
            write("".join(buf))
        write("\n")

    def _unit_header(self, unit):
        h = unit.cu.header
        ut = h.get("unit_type")
        if isinstance(ut, str):
            code = {v: k for k, v in UNIT_TYPES.items()}.get(ut, 0)
        else:
            code = ut or 0
            ut = UNIT_TYPES.get(code, f"Unknown ({code})")
        return {"offset": unit.offset, "length": h["unit_length"],
                "format": 64 if unit.offset_size == 8 else 32, "version": unit.version,
                "unit_type": ut if unit.version >= 5 else None,
                "unit_type_code": code if unit.version >= 5 else None,
                "abbrev_offset": unit.abbrev_offset, "address_size": unit.address_size}

    def _unit_text(self, unit, w):
        h = self._unit_header(unit)
        w(f"  Compilation Unit @ offset {hx(unit.offset)}:\n")
        w(f"   Length:        {hx(h['length'])} ({h['format']}-bit)\n")
        w(f"   Version:       {unit.version}\n")
        if unit.version >= 5:
            w(f"   Unit Type:     {h['unit_type']} ({h['unit_type_code']})\n")
        w(f"   Abbrev Offset: {hx(unit.abbrev_offset)}\n")
        w(f"   Pointer Size:  {unit.address_size}\n")
        for level, off, code, tag, attrs in self.dies(unit):
            if code == 0:
                w(f" <{level}><{off:x}>: Abbrev Number: 0\n")
                continue
            w(f" <{level}><{off:x}>: Abbrev Number: {code} ({tag})\n")
            if tag in FRAME_BASE_RESETS:
                self.have_frame_base = False
            for aoff, name, form, value in attrs:
                if name == "DW_AT_frame_base":
                    self.have_frame_base = True
                w(f"    <{aoff:x}>   {name:<18}: {self.attr_text(unit, name, form, value)}\n")

    def dies(self, unit):
        """(level, offset, abbrev code, tag, [(offset, attribute, form, raw value)]) for
        every DIE and null entry of `unit`, in order."""
        data = unit.info
        pos = unit.die_start
        end = unit.end
        level = 0
        plans = unit.plans
        av, ov, ver = unit.address_size, unit.offset_size, unit.version
        while pos < end:
            off = pos
            code, pos = uleb(data, pos)
            if code == 0:
                if level == 0 and not any(data[off:end]):
                    return                       # padding after the unit's last DIE
                yield level, off, 0, None, ()
                level -= 1
                continue
            plan = plans.get(code) or unit.plan(code)
            attrs = []
            for name, form, _size, implicit in plan.attrs:
                aoff = pos
                if form == "DW_FORM_indirect":
                    fcode, pos = uleb(data, pos)
                    form = FORM_BY_CODE.get(fcode, fcode)
                    value, pos = read_form(data, pos, form, av, ov, ver, implicit)
                else:
                    value, pos = read_form(data, pos, form, av, ov, ver, implicit)
                attrs.append((aoff, name if isinstance(name, str)
                              else f"Unknown AT value: {name:x}", form, value))
            tag = plan_tag(unit, code)
            yield level, off, code, tag, attrs
            if plan.children:
                level += 1

    def attr_text(self, unit, name, form, value) -> str:
        if form in _DEC_FORMS:
            text = str(value)
        elif form in _HEX_FORMS:
            text = hx(value)
            if name in LOCLIST_ATTRS and form != "DW_FORM_addr" and (
                    form == "DW_FORM_sec_offset" or unit.version < 4):
                return text + " (location list)"
        elif form in _REF_FORMS:
            if name == "DW_AT_import":
                return f"<{value + unit.offset:#x}>" + self._import_note(unit,
                                                                        value + unit.offset)
            return f"<{value + unit.offset:#x}>"
        elif form == "DW_FORM_sdata":
            text = str(_s64(value))
        elif form == "DW_FORM_implicit_const":
            text = str(_s64(value))
        elif form == "DW_FORM_strp":
            return f"(indirect string, offset: {hx(value)}): {unit.string(form, value)}"
        elif form == "DW_FORM_line_strp":
            return (f"(indirect line string, offset: {hx(value)}): "
                    f"{unit.string(form, value)}")
        elif form == "DW_FORM_string":
            return value.decode("utf-8", "surrogateescape")
        elif form in _STRX_FORMS:
            return f"(indexed string: {hx(value)}): {unit.string(form, value)}"
        elif form in _BLOCK_FORMS:
            text = block_text(value)
            if name in LOC_ATTRS:
                e = decode_expr(value, unit.address_size, unit.offset_size, unit.version,
                                unit.offset, self.regs)
                text += f"\t({e.text})"
                if e.uses_frame_base and not self.have_frame_base:
                    text += " [without DW_AT_frame_base]"
            return text
        elif form == "DW_FORM_ref_addr":
            if name == "DW_AT_import":
                return f"<{hx(value)}>" + self._import_note(None, value)
            return f"<{hx(value)}>"
        elif form == "DW_FORM_ref_sig8":
            return f"signature: {value:#x}"
        elif form == "DW_FORM_GNU_ref_alt":
            return f"<alt {hx(value)}>"
        elif form == "DW_FORM_GNU_strp_alt":
            return f"(alt indirect string, offset: {hx(value)})"
        elif form == "DW_FORM_data16":
            return " ".join(f"{b:02x}" for b in value.to_bytes(16, "little"))
        else:
            text = hx(value) if isinstance(value, int) else str(value)
        names = _NAMED.get(name)
        if names is not None and isinstance(value, int):
            label = names.get(value)
            if label is None:
                label = f"Unknown: {value:x}"
            text += f"\t({label})"
        return text

    def _import_note(self, unit, target) -> str:
        """readelf's "\t[Abbrev Number: 5 (DW_TAG_typedef)]" after a DW_AT_import: the DIE
        it names."""
        if unit is None or not (unit.offset <= target < unit.end):
            try:
                unit = self.dd.unit_containing(target)
            except (IndexError, DebugInfoError):
                return ""
        code, _ = uleb(unit.info, target)
        if code == 0:
            return "\t[Abbrev Number: 0]"
        if unit._abbrevs is None:
            unit._abbrevs = self.dd.abbrev_table(unit.abbrev_offset)
        if code not in unit._abbrevs:
            return f"\t[Unknown abbrev number {code}]"
        return f"\t[Abbrev Number: {code} ({plan_tag(unit, code)})]"

    # --- .debug_line ------------------------------------------------------------------------
    def line_programs(self):
        data = self.sections.get(".debug_line") or b""
        pos = 0
        while pos < len(data):
            try:
                prog = LineProgram(data, pos, self)
            except (IndexError, ValueError, KeyError) as e:
                raise _damaged(self.elf.path, f"line program at .debug_line+{pos:#x}",
                               e) from None
            yield prog
            if prog.end <= pos:
                break
            pos = prog.end

    def line_text(self, write, name=".debug_line"):
        write(f"Raw dump of debug contents of section {name}:\n\n")
        for prog in self.line_programs():
            buf: list[str] = []
            try:
                prog.text(buf.append)
            except (IndexError, ValueError, KeyError) as e:
                write("".join(buf))
                raise _damaged(self.elf.path, f"line program at .debug_line+{prog.offset:#x}",
                               e) from None
            write("".join(buf))

    def line_string(self, form, value):
        if form == "DW_FORM_line_strp":
            return cstr(self.sections.get(".debug_line_str"), value)
        if form == "DW_FORM_strp":
            return cstr(self.sections.get(".debug_str"), value)
        if form == "DW_FORM_string":
            return value.decode("utf-8", "surrogateescape")
        return None

    # --- .eh_frame / .debug_frame -----------------------------------------------------------
    def cfi_entries(self, sec):
        from elftools.dwarf.callframe import CallFrameInfo
        from elftools.dwarf.structs import DWARFStructs
        eh = sec.name == ".eh_frame"
        if eh:
            data = self.sections.relocate(
                sec, bytes(self.elf.read(sec.offset, sec.size, f"section {sec.name}")))
        else:
            data = self.sections.get(sec.name.replace(".zdebug", ".debug"))
        structs = DWARFStructs(little_endian=self.elf.fmt.endian == "<", dwarf_format=32,
                               address_size=8 if self.elf.is_64 else 4)
        cfi = CallFrameInfo(io.BytesIO(data), len(data), sec.addr if eh else 0, structs,
                            for_eh_frame=eh)
        try:
            return cfi.get_entries()
        except Exception as e:                     # noqa: BLE001 - pyelftools' many errors
            raise _damaged(self.elf.path, f"section {sec.name}", e) from None

    def frames_text(self, sec, write):
        ptr = 8 if self.elf.is_64 else 4
        write(f"Contents of the {sec.name} section:\n\n")
        from elftools.dwarf.callframe import CIE, ZERO
        entries = self.cfi_entries(sec)
        buf: list[str] = []
        w = buf.append
        for e in entries:
            if isinstance(e, ZERO):
                w(f"\n{e.offset:08x} ZERO terminator\n\n")
                continue
            h = e.header
            length = h["length"]
            if isinstance(e, CIE):
                cie_id = h["CIE_id"]
                w(f"\n{e.offset:08x} {length:0{2 * ptr}x} {cie_id:08x} CIE\n")
                w(f"  Version:               {h['version']}\n")
                w(f"  Augmentation:          \"{_aug(h)}\"\n")
                w(f"  Code alignment factor: {h['code_alignment_factor']}\n")
                w(f"  Data alignment factor: {h['data_alignment_factor']}\n")
                w(f"  Return address column: {h['return_address_register']}\n")
                if e.augmentation_bytes:
                    w("  Augmentation data:     "
                      + " ".join(f"{b:02x}" for b in e.augmentation_bytes))
                w("\n")
                cie, loc = e, 0
            else:
                cie = e.cie
                cie_ptr = h["CIE_pointer"]
                cie_off = cie.offset
                loc = h["initial_location"]
                end = loc + h["address_range"]
                mask = (1 << (8 * ptr)) - 1
                w(f"\n{e.offset:08x} {length:0{2 * ptr}x} {cie_ptr:08x} FDE "
                  f"cie={cie_off:08x} pc={loc & mask:0{2 * ptr}x}..{end & mask:0{2 * ptr}x}\n")
                if e.augmentation_bytes:
                    w("  Augmentation data:     "
                      + " ".join(f"{b:02x}" for b in e.augmentation_bytes) + "\n")
            for text in self.cfa_texts(e, cie, loc, ptr):
                w(f"  {text}\n")
        # readelf puts the blank line between entries before each one, and one more at the end
        write("".join(buf))
        write("\n")

    def cfa_program(self, entry, cie, loc, ptr):
        """[(DW_CFA name, operands, text)] of one CIE's or FDE's instructions."""
        ca = cie.header["code_alignment_factor"]
        da = cie.header["data_alignment_factor"]
        regs = self.regs
        out = []
        mask = (1 << (8 * ptr)) - 1
        for ins in entry.instructions:
            op = ins.opcode
            name = "DW_CFA_" + op.name if hasattr(op, "name") else str(op)
            name = name.replace("DW_CFA_DW_CFA_", "DW_CFA_")
            a = list(ins.args)
            if name in ("DW_CFA_advance_loc", "DW_CFA_advance_loc1", "DW_CFA_advance_loc2",
                        "DW_CFA_advance_loc4"):
                delta = a[0] * ca
                loc += delta
                text = f"{name}: {delta} to {loc & mask:0{2 * ptr}x}"
                ops = [delta, loc & mask]
            elif name == "DW_CFA_set_loc":
                loc = a[0]
                text, ops = f"{name}: {loc:0{2 * ptr}x}", [loc]
            elif name in ("DW_CFA_offset", "DW_CFA_offset_extended",
                          "DW_CFA_offset_extended_sf"):
                off = a[1] * da
                text, ops = f"{name}: {regname(regs, a[0])} at cfa{off:+d}", [a[0], off]
            elif name in ("DW_CFA_val_offset", "DW_CFA_val_offset_sf"):
                off = a[1] * da
                text, ops = f"{name}: {regname(regs, a[0])} is cfa{off:+d}", [a[0], off]
            elif name in ("DW_CFA_restore", "DW_CFA_restore_extended", "DW_CFA_undefined",
                          "DW_CFA_same_value", "DW_CFA_def_cfa_register"):
                text, ops = f"{name}: {regname(regs, a[0])}", [a[0]]
            elif name == "DW_CFA_register":
                text = f"{name}: {regname(regs, a[0])} in {regname(regs, a[1])}"
                ops = [a[0], a[1]]
            elif name == "DW_CFA_def_cfa":
                text, ops = f"{name}: {regname(regs, a[0])} ofs {a[1]}", [a[0], a[1]]
            elif name == "DW_CFA_def_cfa_sf":
                off = a[1] * da
                text, ops = f"{name}: {regname(regs, a[0])} ofs {off}", [a[0], off]
            elif name == "DW_CFA_def_cfa_offset":
                text, ops = f"{name}: {a[0]}", [a[0]]
            elif name == "DW_CFA_def_cfa_offset_sf":
                off = a[0] * da
                text, ops = f"{name}: {off}", [off]
            elif name == "DW_CFA_GNU_args_size":
                text, ops = f"{name}: {a[0]}", [a[0]]
            elif name == "DW_CFA_def_cfa_expression":
                e = self._expr(a[0], ptr)
                text, ops = f"{name} ({e.text})", [[list(o) for o in e.ops]]
            elif name in ("DW_CFA_expression", "DW_CFA_val_expression"):
                e = self._expr(a[1], ptr)
                text = f"{name}: {regname(regs, a[0])} ({e.text})"
                ops = [a[0], [list(o) for o in e.ops]]
            else:
                text, ops = name, a
            out.append((name, ops, text))
        return out

    def cfa_texts(self, entry, cie, loc, ptr):
        return [t for _n, _o, t in self.cfa_program(entry, cie, loc, ptr)]

    def _expr(self, block, ptr):
        return decode_expr(bytes(block), ptr, 4, 4, 0, self.regs)


class RelocatedSections(DebugSections):
    """DebugSections whose bytes, in a relocatable object (ET_REL), have the relocations of
    their .rel(a).* section applied, as readelf applies them before dumping: the string
    offsets, addresses and section offsets a .o leaves to the linker. The x86 relocations a
    compiler puts there: absolute 32/64-bit (S + A) and PC-relative (S + A - P)."""

    def _read(self, name):
        data = super()._read(name)
        if data is None or self.elf.header.type != 1:
            return data
        sec = self._by_name.get(name) or self._by_name.get(".z" + name[1:])
        return self.relocate(sec, data)

    def relocate(self, sec, data: bytes) -> bytes:
        if sec is None or self.elf.header.type != 1 or self.elf.header.machine not in (62, 3):
            return data                          # x86 relocations only
        tables = [t for t in self.elf.relocation_tables
                  if t.kind in ("REL", "RELA") and t.section_index is not None
                  and self.elf.sections[t.section_index].info == sec.index]
        if not tables:
            return data
        out = bytearray(data)
        is64 = self.elf.is_64
        for t in tables:
            syms = t.symtab.symbols if t.symtab is not None else []
            for off, info, addend in t.entries:
                rtype = info & 0xFFFFFFFF if is64 else info & 0xFF
                rsym = info >> 32 if is64 else info >> 8
                svalue = syms[rsym].value if rsym < len(syms) else 0
                if is64:
                    size, pcrel = {1: (8, False), 10: (4, False), 11: (4, False),
                                   2: (4, True), 24: (8, True)}.get(rtype, (0, False))
                else:
                    size, pcrel = {1: (4, False), 2: (4, True)}.get(rtype, (0, False))
                    addend = int.from_bytes(out[off:off + 4], "little")
                if not size or off + size > len(out):
                    continue
                value = svalue + addend - (off if pcrel else 0)
                out[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        return bytes(out)


def plan_tag(unit, code):
    decl = unit._abbrevs.get(code)
    from elfkit.debug.dwarf import TAG_NAMES
    tag = decl[0]
    name = TAG_NAMES.get(tag)
    return name if name else f"Unknown TAG value: {tag:x}"


def _aug(h) -> str:
    aug = h.get("augmentation", b"")
    if isinstance(aug, bytes):
        return aug.decode("latin-1")
    return str(aug)


def _s64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


# --- line-number programs ----------------------------------------------------------------------
STD_OPCODE_NAMES = {1: "DW_LNS_copy", 2: "DW_LNS_advance_pc", 3: "DW_LNS_advance_line",
                    4: "DW_LNS_set_file", 5: "DW_LNS_set_column", 6: "DW_LNS_negate_stmt",
                    7: "DW_LNS_set_basic_block", 8: "DW_LNS_const_add_pc",
                    9: "DW_LNS_fixed_advance_pc", 10: "DW_LNS_set_prologue_end",
                    11: "DW_LNS_set_epilogue_begin", 12: "DW_LNS_set_isa"}
LNCT = {1: "path", 2: "directory_index", 3: "timestamp", 4: "size", 5: "MD5"}


class LineProgram:
    """One line-number program of .debug_line: its header as read (every field readelf
    shows, with the forms of a DWARF 5 table's entries) and where its opcodes are."""

    def __init__(self, data: bytes, offset: int, dumper: Dumper):
        self.data = data
        self.offset = offset
        self.dumper = dumper
        pos = offset
        length = int.from_bytes(data[pos:pos + 4], "little")
        pos += 4
        self.offset_size = 4
        if length == 0xFFFFFFFF:
            length = int.from_bytes(data[pos:pos + 8], "little")
            pos += 8
            self.offset_size = 8
        self.length = length
        self.end = pos + length
        if self.end > len(data):
            raise ValueError(f"length {length} runs past the section's end")
        self.version = int.from_bytes(data[pos:pos + 2], "little")
        pos += 2
        if self.version < 2 or self.version > 5:
            raise ValueError(f"unsupported DWARF version {self.version}")
        self.address_size = 8 if dumper.elf.is_64 else 4
        self.seg_size = None
        if self.version >= 5:
            self.address_size = data[pos]
            self.seg_size = data[pos + 1]
            pos += 2
        self.header_length = int.from_bytes(data[pos:pos + self.offset_size], "little")
        pos += self.offset_size
        self.program_start = pos + self.header_length
        self.min_inst = data[pos]
        pos += 1
        self.max_ops = 1
        if self.version >= 4:
            self.max_ops = data[pos]
            pos += 1
        self.default_is_stmt = data[pos]
        b = data[pos + 1]
        self.line_base = b - 256 if b >= 128 else b
        self.line_range = data[pos + 2]
        self.opcode_base = data[pos + 3]
        pos += 4
        self.std_lengths = list(data[pos:pos + self.opcode_base - 1])
        pos += max(self.opcode_base - 1, 0)
        self.dirs_offset = pos
        if self.version >= 5:
            self.dir_formats, self.dirs, self.dirs_offset, pos = self._table(pos)
            self.file_formats, self.files, self.files_offset, pos = self._table(pos)
        else:
            self.dirs, self.files_offset, self.files, pos = legacy_tables(data, pos)
        self.tables_end = pos

    def _table(self, pos):
        data = self.data
        formats, count, pos = entry_formats(data, pos)
        start = pos
        rows = []
        for _ in range(count):
            row = []
            for ctype, form in formats:
                if not isinstance(form, str):
                    raise ValueError(f"unknown form {form:#x} in the line table header")
                value, pos = read_form(data, pos, form, self.address_size, self.offset_size,
                                       self.version)
                row.append((ctype, form, value))
            rows.append(row)
        return formats, rows, start, pos

    # -- text
    def text(self, w):
        w(f"  Offset:                      {hx(self.offset)}\n")
        w(f"  Length:                      {self.length}\n")
        w(f"  DWARF Version:               {self.version}\n")
        if self.version >= 5:
            w(f"  Address size (bytes):        {self.address_size}\n")
            w(f"  Segment selector (bytes):    {self.seg_size}\n")
        w(f"  Prologue Length:             {self.header_length}\n")
        w(f"  Minimum Instruction Length:  {self.min_inst}\n")
        if self.version >= 4:
            w(f"  Maximum Ops per Instruction: {self.max_ops}\n")
        w(f"  Initial value of 'is_stmt':  {self.default_is_stmt}\n")
        w(f"  Line Base:                   {self.line_base}\n")
        w(f"  Line Range:                  {self.line_range}\n")
        w(f"  Opcode Base:                 {self.opcode_base}\n")
        w("\n Opcodes:\n")
        for i, n in enumerate(self.std_lengths, 1):
            w(f"  Opcode {i} has {n} {'arg' if n == 1 else 'args'}\n")
        if self.version >= 5:
            self._table_text(w, "Directory", self.dir_formats, self.dirs, self.dirs_offset)
            self._table_text(w, "File Name", self.file_formats, self.files, self.files_offset)
        else:
            if not self.dirs:
                w("\n The Directory Table is empty.\n")
            else:
                w(f"\n The Directory Table (offset {hx(self.dirs_offset)}):\n")
                for i, d in enumerate(self.dirs, 1):
                    w(f"  {i}\t{d}\n")
            if not self.files:
                w("\n The File Name Table is empty.\n")
            else:
                w(f"\n The File Name Table (offset {hx(self.files_offset)}):\n")
                w("  Entry\tDir\tTime\tSize\tName\n")
                for i, (name, d, t, s) in enumerate(self.files, 1):
                    w(f"  {i}\t{d}\t{t}\t{s}\t{name}\n")
        if self.program_start >= self.end:
            w("\n No Line Number Statements.\n")
        else:
            w("\n Line Number Statements:\n")
            for off, _name, _ops, text in self.statements():
                w(f"  [0x{off:08x}]  {text}\n")
            w("\n")

    def _table_text(self, w, what, formats, rows, offset):
        if not rows:
            w(f"\n The {what} Table is empty.\n")
            return
        w(f"\n The {what} Table (offset {hx(offset)}, lines {len(rows)}, "
          f"columns {len(formats)}):\n")
        heads = {1: "Name", 2: "Dir", 3: "Time", 4: "Size", 5: "MD5\t\t\t"}
        order = [i for i, (c, _f) in enumerate(formats) if c != 1] + \
                [i for i, (c, _f) in enumerate(formats) if c == 1]
        w("  Entry" + "".join("\t" + heads.get(formats[i][0],
                                               f"(Unknown format content type {formats[i][0]})")
                              for i in order) + "\n")
        for n, row in enumerate(rows):
            w(f"  {n}" + "".join("\t" + self._entry_text(*row[i]) for i in order) + "\n")

    def _entry_text(self, ctype, form, value):
        if form == "DW_FORM_line_strp":
            return (f"(indirect line string, offset: {hx(value)}): "
                    f"{self.dumper.line_string(form, value)}")
        if form == "DW_FORM_strp":
            return f"(indirect string, offset: {hx(value)}): {self.dumper.line_string(form, value)}"
        if form == "DW_FORM_string":
            return value.decode("utf-8", "surrogateescape")
        if form == "DW_FORM_data16":
            if isinstance(value, int):
                return "0x" + value.to_bytes(16, "little").hex()
            return str(value)
        if form in ("DW_FORM_data4", "DW_FORM_data8", "DW_FORM_sec_offset"):
            return hx(value)
        if isinstance(value, bytes):
            return block_text(value)
        return str(value)

    def entry_value(self, ctype, form, value):
        """A table entry's value for JSON: the string for paths, else the number."""
        if ctype == 1:
            return self.dumper.line_string(form, value)
        if isinstance(value, bytes):
            return value.hex()
        return value

    def statements(self):
        """(offset, opcode name, operands, readelf's text) of each opcode; the rows made
        are in `rows` after the walk: (address, file, line, column, is_stmt, end_sequence,
        view, discriminator)."""
        data = self.data
        pos = self.program_start
        end = self.end
        ob = self.opcode_base
        lr = self.line_range
        lb = self.line_base
        mi = self.min_inst
        std = self.std_lengths
        addr, file, line, col, view = 0, 1, 1, 0, 0
        is_stmt = 1 if self.default_is_stmt else 0
        disc = 0
        rows = self.rows = []
        while pos < end:
            at = pos
            op = data[pos]
            pos += 1
            if op >= ob:
                adj = op - ob
                adv = (adj // lr) * mi if lr else 0
                ladv = lb + (adj % lr if lr else 0)
                addr += adv
                if adv:
                    view = 0
                line += ladv
                text = (f"Special opcode {adj}: advance Address by {adv} to {hx(addr)} and "
                        f"Line by {ladv} to {line}")
                if view:
                    text += f" (view {view})"
                rows.append((addr, file, line, col, is_stmt, False, view, disc))
                view += 1
                disc = 0
                yield at, "special", [adj, adv, ladv], text
                continue
            if op == 0:
                length, pos = uleb(data, pos)
                if length == 0:
                    yield (at, "DW_LNE_badly_formed", [],
                           "Badly formed extended line op encountered!")
                    continue
                sub = data[pos]
                body = pos + 1
                pos += length
                if sub == 1:
                    rows.append((addr, file, line, col, is_stmt, True, view, disc))
                    yield at, "DW_LNE_end_sequence", [], "Extended opcode 1: End of Sequence\n"
                    addr, file, line, col, view, disc = 0, 1, 1, 0, 0, 0
                    is_stmt = 1 if self.default_is_stmt else 0
                elif sub == 2:
                    addr = int.from_bytes(data[body:pos], "little")
                    view = 0
                    yield at, "DW_LNE_set_address", [addr], \
                        f"Extended opcode 2: set Address to {hx(addr)}"
                elif sub == 4:
                    disc, _ = uleb(data, body)
                    yield at, "DW_LNE_set_discriminator", [disc], \
                        f"Extended opcode 4: set Discriminator to {disc}"
                elif sub == 3:
                    yield at, "DW_LNE_define_file", [], \
                        "Extended opcode 3: define new File Table entry"
                else:
                    yield at, f"DW_LNE_{sub:#x}", [], \
                        f"Extended opcode {sub}: UNKNOWN: length {length - 1}"
                continue
            if op == 1:
                text = "Copy" + (f" (view {view})" if view else "")
                rows.append((addr, file, line, col, is_stmt, False, view, disc))
                view += 1
                disc = 0
                yield at, "DW_LNS_copy", [], text
            elif op == 2:
                v, pos = uleb(data, pos)
                adv = v * mi
                addr += adv
                if adv:
                    view = 0
                yield at, "DW_LNS_advance_pc", [adv], f"Advance PC by {adv} to {hx(addr)}"
            elif op == 3:
                v, pos = sleb(data, pos)
                line += v
                yield at, "DW_LNS_advance_line", [v], f"Advance Line by {v} to {line}"
            elif op == 4:
                file, pos = uleb(data, pos)
                yield at, "DW_LNS_set_file", [file], \
                    f"Set File Name to entry {file} in the File Name Table"
            elif op == 5:
                col, pos = uleb(data, pos)
                yield at, "DW_LNS_set_column", [col], f"Set column to {col}"
            elif op == 6:
                is_stmt = 0 if is_stmt else 1
                yield at, "DW_LNS_negate_stmt", [is_stmt], f"Set is_stmt to {is_stmt}"
            elif op == 7:
                yield at, "DW_LNS_set_basic_block", [], "Set basic block"
            elif op == 8:
                adv = ((255 - ob) // lr) * mi if lr else 0
                addr += adv
                if adv:
                    view = 0
                yield at, "DW_LNS_const_add_pc", [adv], \
                    f"Advance PC by constant {adv} to {hx(addr)}"
            elif op == 9:
                adv = int.from_bytes(data[pos:pos + 2], "little")
                pos += 2
                addr += adv
                view = 0
                yield at, "DW_LNS_fixed_advance_pc", [adv], \
                    f"Advance PC by fixed size amount {adv} to {hx(addr)}"
            elif op == 10:
                yield at, "DW_LNS_set_prologue_end", [], "Set prologue_end to true"
            elif op == 11:
                yield at, "DW_LNS_set_epilogue_begin", [], "Set epilogue_begin to true"
            elif op == 12:
                v, pos = uleb(data, pos)
                yield at, "DW_LNS_set_isa", [v], f"Set ISA to {v}"
            else:
                args = []
                for _ in range(std[op - 1] if op - 1 < len(std) else 0):
                    v, pos = uleb(data, pos)
                    args.append(v)
                yield at, f"DW_LNS_{op}", args, (f"Unknown opcode {op} with operands: "
                                                 + "".join(f"{a:#x}, " for a in args))
