"""`elfkit inspect --json`: one JSON document per run, keys as docs/JSON.md defines them.

Small views are built as dicts and dumped; the bulk tables (symbols,
relocations) are written a CHUNK of rows at a time from their columns
(render/rows.py), the text between the numbers made once per distinct value:
no dict and no Python code per row.
"""
from __future__ import annotations

try:                     # the json package's own C encoder, without importing json: its
    from _json import encode_basestring_ascii as _s    # decoder imports re (and enum), ~8 ms
    from _json import make_encoder as _make_encoder    # of every inspect --json, which reads
except ImportError:                                    # no JSON (a Python without _json: json
    from json.encoder import encode_basestring_ascii as _s    # itself, slower)
    _make_encoder = None

from elfkit import __version__
from elfkit.elf.constants import PT, elf_type_name, machine_name, osabi_name
from elfkit.elf.machines import dynamic_value_text, machine_flags, symbol_other
from elfkit.elf.segments import section_to_segment_mapping
from elfkit.render import rows

SCHEMA = 1


def _n(v):
    return "null" if v is None else _s(v)


def _not_serializable(v):
    raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")


if _make_encoder is not None:
    # json.dumps(v)'s own C encoder as json.encoder.JSONEncoder.iterencode makes it (json.dumps'
    # separators and ASCII escapes; no circular check: the views are trees)
    _ENCODE = _make_encoder(None, _not_serializable, _s, None, ": ", ", ", False, False, True)

    def _dump(v) -> str:
        """json.dumps(v) for the views' dicts, lists, strings, ints, floats, booleans and
        None, without importing json."""
        return "".join(_ENCODE(v, 0))
else:
    from json import dumps as _dump


def header_view(elf) -> dict:
    h = elf.header
    return {
        "class": "ELF64" if h.is_64 else "ELF32", "data": "little" if h.ei_data == 1 else "big",
        "ident_version": h.ident_version, "osabi": h.osabi, "osabi_name": osabi_name(h.osabi),
        "abi_version": h.abi_version, "type": h.type, "type_name": elf_type_name(h.type),
        "machine": h.machine, "machine_name": machine_name(h.machine), "version": h.version,
        "entry": h.entry, "phoff": h.phoff, "shoff": h.shoff, "flags": h.flags,
        "flags_names": machine_flags(h.machine, h.flags),
        "ehsize": h.ehsize, "phentsize": h.phentsize, "phnum": h.phnum,
        "shentsize": h.shentsize, "shnum": h.shnum, "shstrndx": h.shstrndx,
    }


def segments_view(elf) -> list:
    from elfkit.elf.segments import interpreter
    mapping = section_to_segment_mapping(elf)
    out = []
    for seg, names in zip(elf.segments, mapping):
        d = {"index": seg.index, "type": seg.type, "type_name": seg.type_name, "offset": seg.offset,
             "vaddr": seg.vaddr, "paddr": seg.paddr, "filesz": seg.filesz, "memsz": seg.memsz,
             "flags": seg.flags, "flags_name": seg.flags_name, "align": seg.align,
             "sections": names}
        if seg.type == PT.INTERP:
            d["interp"] = interpreter(elf)
        out.append(d)
    return out


def sections_view(elf) -> list:
    m = elf.header.machine
    return [{"index": s.index, "name": s.name, "type": s.type, "type_name": s.type_name(m),
             "addr": s.addr, "offset": s.offset, "size": s.size, "entsize": s.entsize,
             "flags": s.flags, "flags_name": s.flags_name(m, elf.header.osabi), "link": s.link, "info": s.info,
             "align": s.align} for s in elf.sections]


# bytes.translate: ASCII control characters -> 0x80, everything else -> 0
_CONTROL = bytes(0x80 if b < 0x20 or b == 0x7F else 0 for b in range(256))


def _strings(strings: list[str]) -> tuple[list[str], str]:
    """(column, quote) to write `strings` as JSON strings, each between two quotes: when none
    needs an escape (printable ASCII without `"` or `\\`, checked on all of them at once:
    bytes.translate marks control characters with a high bit, bytes.isascii finds none) the
    strings themselves and '"', else each one encoded, quotes included, and ''."""
    joined = "".join(strings)
    if joined.isascii() and '"' not in joined and "\\" not in joined and \
            joined.encode("ascii").translate(_CONTROL).isascii():
        return strings, '"'
    return list(map(_s, strings)), ""


def _write_symbol_tables(elf, tables, out, versions: bool, demangle: bool = False, part=None):
    """Each symbol as `{"index": .., "value": .., "size": .., "type": .., ..., "name": ..}`
    (and the version keys for .dynsym): all the rows of a CHUNK in one str.join of the
    table's columns laid side by side (rows.interleave): the index in two pieces (thousands,
    the rest), st_value by str(), the text between the numbers made once per distinct size,
    kind of symbol and version. Each row's last piece opens the next row. `part` (lo, hi or
    None for the end): only what belongs to rows lo..hi-1 of the tables counted together
    (render/split.py): a table's opening at its first row's place, its closing after its
    last row's, the list's "]" at the end."""
    w = out.write
    part = rows.RowPart(part)
    if part.ours(0):
        w("[")
    for ti, table, heading, first, last, closing in part.tables(tables):
        n = len(table)
        if heading:
            if ti:
                w(", ")
            w('{"section": %s, "section_index": %s, "entries": [\n'
              % (_n(table.section), _dump(table.section_index)))
            if n:
                w('{"index": ')
        if first < last:
            names, quote = _strings(rows.symbol_names(elf, table, demangle))
            kinds = rows.symbol_kind(elf)
            machine = elf.header.machine
            middle = rows.Memo(lambda kind: (
                '"type": %d, "type_name": %s, "bind": %d, "bind_name": %s, "visibility": %d, '
                '"visibility_name": %s, "shndx": %d, ' % tuple(
                    _s(v) if isinstance(v, str) else v for v in kinds[kind])) + (
                '"other": %d, "other_name": %s, ' % (kind >> 8 & 0xFC, _s(symbol_other(
                    kind >> 8 & 0xFC, machine))) if kind >> 8 & 0xFC else '') + '"name": ' + quote)
            size_text = rows.Memo(', "size": %d, '.__mod__)
            if versions:
                codes, found = rows.symbol_version_codes(elf, table)
                ends = [quote + ', "version": %s, "version_index": %s, "version_hidden": %s}'
                        % (_n(ver), "null" if raw is None else raw, "true" if hidden else "false")
                        for ver, hidden, raw in found]
                tails = [e + ',\n{"index": ' for e in ends]
                tail = list(map(tails.__getitem__, codes))
                tail[-1] = ends[codes[-1]]
            else:
                tail = [quote + '},\n{"index": '] * n
                tail[-1] = quote + "}"
            for start, stop in rows.chunks(last - first):
                start, stop = start + first, stop + first
                heads, lows = rows.index_columns(start, stop, lambda k: str(k) if k else "",
                                                 *rows.row_number_pieces(', "value": ', ""))
                w("".join(rows.interleave(
                    heads, lows, list(map(str, table.values[start:stop])),
                    list(map(size_text.__getitem__, table.sizes[start:stop])),
                    list(map(middle.__getitem__, table.kinds[start:stop])),
                    names[start:stop], tail[start:stop])))
        if closing:
            w("]}")
    if part.last:
        w("]")


def dynamic_view(elf):
    from elfkit.elf.constants import DF_1_NAMES, DF_NAMES, DF_P1_NAMES, DT, DT_STRING_TAGS, \
        dynamic_tag_name, flag_names
    dyn = elf.dynamic
    if dyn is None:
        return None
    entries = []
    m = elf.header.machine
    for tag, value in dyn.entries:
        d = {"tag": tag, "tag_name": dynamic_tag_name(tag, m), "value": value}
        if tag == 0x70000005 and dynamic_value_text(tag, value, m) is not None:   # DT_MIPS_FLAGS
            d["flags"] = [x for x in dynamic_value_text(tag, value, m).split() if x != "NONE"]
        if tag in DT_STRING_TAGS:
            d["string"] = dyn.string(value)
        elif tag == DT.FLAGS:
            d["flags"] = flag_names(value, DF_NAMES)
        elif tag == DT.FLAGS_1:
            d["flags"] = flag_names(value, DF_1_NAMES)
        elif tag == DT.POSFLAG_1:
            d["flags"] = flag_names(value, DF_P1_NAMES)
        entries.append(d)
    return {"offset": dyn.offset, "address": dyn.address, "entries": entries}


_REL_HEAD = (', "info": %d, "type": %d, "type_name": %s, "symbol_index": %d, "symbol_name": %s, '
             '"symbol_value": %s, "symbol_version": %s, "formula": %s, "addend": ')
# MIPS64: r_info's second and third types and special symbol, before the addend.
_REL_HEAD_MIPS64 = _REL_HEAD.replace(
    '"addend": ', '"type2": %d, "type2_name": %s, "type3": %d, "type3_name": %s, "ssym": %d, '
                  '"addend": ')


def _write_relocations(elf, out, demangle: bool = False, part=None):
    """Each relocation as `{"offset": .., "info": .., ..., "addend": ..}`: all the rows of a
    CHUNK in one %-format, the keys between the numbers made once per r_info. `part` (lo, hi
    or None for the end): only what belongs to rows lo..hi-1 of all tables counted together
    (render/split.py): a table's opening (or a RELR table whole) belongs to its first row's
    place, its closing to the place after its last row, the list's "]" to the end."""
    w = out.write
    part = rows.RowPart(part)
    if part.ours(0):
        w("[")
    for ti, table, heading, first, last, closing in part.tables(elf.relocation_tables,
                                                                rows.relocation_rows):
        if heading:
            if ti:
                w(", ")
            w('{"section": %s, "offset": %d, "kind": %s' % (_n(table.section), table.offset,
                                                             _s(table.kind)))
            if table.kind == "RELR":
                w(', "addresses": [%s]}' % ", ".join(map(str, table.relr_addresses)))
                continue
            w(', "entries": [\n')
        elif table.kind == "RELR":
            continue
        offsets, infos, addends = table.columns
        n = len(offsets)
        if last > first:
            resolve = rows.reloc_info_resolver(elf, table, demangle)
            mips64, machine = elf.fmt.mips64, elf.header.machine
            from elfkit.elf.constants import EM, reloc_type_name
            from elfkit.elf.reloc_names import X86_64_FORMULAS
            formulas = X86_64_FORMULAS if machine == EM.X86_64 else {}

            def head(info):
                rtype, tname, sym, sname, svalue, sver, *_ = resolve(info)
                if mips64:
                    t2, t3 = (info >> 8) & 0xFF, (info >> 16) & 0xFF
                    return _REL_HEAD_MIPS64 % (
                        info, rtype, _s(tname), sym, _n(sname),
                        "null" if svalue is None else svalue, _n(sver), "null",
                        t2, _s(reloc_type_name(t2, machine)), t3,
                        _s(reloc_type_name(t3, machine)), (info >> 24) & 0xFF)
                return _REL_HEAD % (info, rtype, _s(tname), sym, _n(sname),
                                    "null" if svalue is None else svalue, _n(sver),
                                    _n(formulas.get(rtype)))
            heads = rows.Memo(head)
            row = '{"offset": %d%s%d}'
            for start, stop in rows.chunks(last - first):
                start, stop = start + first, stop + first
                fmt = (row + ",\n") * (stop - start) if stop < n else \
                    (row + ",\n") * (stop - start - 1) + row
                w(fmt % tuple(rows.interleave(offsets[start:stop],
                                              list(map(heads.__getitem__, infos[start:stop])),
                                              addends[start:stop])))
        if closing:
            w("]}")
    if part.last:
        w("]")


def notes_view(elf) -> list:
    out = []
    for block in elf.notes:
        notes = []
        for n in block.notes:
            d = {"owner": n.owner, "type": n.type, "type_name": n.type_name, "descsz": len(n.desc),
                 "desc": n.desc.hex()}
            if n.build_id is not None:
                d["build_id"] = n.build_id
            if n.abi_tag is not None:
                d["abi_tag"] = n.abi_tag
            if n.properties is not None:
                d["properties"] = [{"type": p.type, "name": p.name, "value": p.value,
                                    "decoded": p.decoded} for p in n.properties]
            notes.append(d)
        out.append({"section": block.section, "offset": block.offset, "size": block.size,
                    "notes": notes})
    return out


def versions_view(elf) -> dict:
    v = elf.versions

    def where(t):
        return {"section": t.section, "address": t.address, "offset": t.offset}

    out = {"versym": None, "verdef": None, "verneed": None}
    if v.versym is not None:
        out["versym"] = {**where(v.versym), "entries": v.versym.entries}
    if v.verdef is not None:
        out["verdef"] = {**where(v.verdef), "entries": [
            {"offset": e.offset, "version": e.version, "flags": e.flags, "index": e.index,
             "count": e.count, "hash": e.hash, "names": e.names} for e in v.verdef.entries]}
    if v.verneed is not None:
        out["verneed"] = {**where(v.verneed), "entries": [
            {"offset": e.offset, "version": e.version, "file": e.file, "count": e.count,
             "aux": [{"offset": a.offset, "name": a.name, "hash": a.hash, "flags": a.flags,
                      "other": a.other} for a in e.aux]} for e in v.verneed.entries]}
    return out


def got_view(elf, demangle: bool = False) -> dict:
    from elfkit.elf.plt import plt_got_map, plt_got_unsupported   # the got view only
    why = plt_got_unsupported(elf)
    if why is not None:
        return {"unsupported": why}
    m = plt_got_map(elf)
    return {
        "got_plt": m.got_plt, "reserved": m.reserved,
        "plt_sections": [{"name": p.name, "addr": p.addr, "size": p.size, "entsize": p.entsize}
                         for p in m.plt_sections],
        "slots": [{"plt_section": s.plt_section, "stub": s.stub, "lazy_stub": s.lazy_stub,
                   "got_slot": s.got_slot, "got_section": s.got_section,
                   "reloc_section": s.reloc_section, "reloc_index": s.reloc_index,
                   "reloc_type": s.reloc_type,
                   "symbol": _demangle(s.symbol) if demangle and s.symbol else s.symbol,
                   "version": s.version,
                   "initial": s.initial} for s in m.slots],
    }


def arch_specific_view(elf) -> dict:
    """readelf -A as data (docs/JSON.md, `arch_specific`)."""
    a = elf.arch_specific
    if a is None:
        return {"sections": [], "mips_abiflags": None, "unsupported": None}
    from elfkit.elf.attributes import mips_reg_size
    sections = []
    for sec in a.sections:
        subs = []
        for sub in sec.subsections:
            blocks = []
            for b in sub.blocks:
                d = {"scope": b.scope, "scope_name": {1: "file", 2: "section", 3: "symbol"}
                     .get(b.scope), "offset": b.offset, "size": b.size,
                     "attributes": [{"tag": at.tag, "name": at.name, "value": at.value,
                                     "string": at.string, "text": at.text}
                                    for at in b.attributes]}
                if b.scope in (2, 3):
                    d["indices"] = b.indices
                if b.raw is not None:
                    d["raw"] = b.raw.hex()
                if b.gnu_unknown is not None:
                    d["gnu_unknown"] = b.gnu_unknown
                blocks.append(d)
            subs.append({"vendor": sub.vendor, "offset": sub.offset, "length": sub.length,
                         "blocks": blocks})
        sections.append({"section": sec.section, "index": sec.index, "type": sec.type,
                         "offset": sec.offset, "size": sec.size, "version": sec.version,
                         "subsections": subs})
    f = a.mips_abiflags
    abiflags = None if f is None else {
        "section": f.section, "version": f.version, "isa_level": f.isa_level,
        "isa_rev": f.isa_rev, "isa": f.isa, "gpr_size": mips_reg_size(f.gpr_size),
        "cpr1_size": mips_reg_size(f.cpr1_size), "cpr2_size": mips_reg_size(f.cpr2_size),
        "fp_abi": f.fp_abi, "fp_abi_name": f.fp_abi_name, "isa_ext": f.isa_ext,
        "isa_ext_name": f.isa_ext_name, "ases": f.ases, "ases_names": f.ases_names,
        "flags1": f.flags1, "flags2": f.flags2}
    return {"sections": sections, "mips_abiflags": abiflags, "unsupported": a.unsupported}


_SMALL_VIEWS = {
    "summary": rows.summary, "header": header_view, "segments": segments_view,
    "sections": sections_view, "dynamic": dynamic_view, "notes": notes_view,
    "arch_specific": arch_specific_view,
    "versions": versions_view, "got": got_view,
}


def _demangle(name: str) -> str:
    from elfkit.elf.demangle import demangle
    return demangle(name)


def write_inspect_json(elf, views: list[str], out, demangle: bool = False):
    """Write the document for `views` (names from VIEW_ORDER) to the text stream `out`; with
    `demangle` (-C), symbol names as readelf -C shows them."""
    out.write('{"elfkit": {"version": %s, "schema": %d}, "file": %s'
              % (_s(__version__), SCHEMA, _s(elf.path)))
    from elfkit.render.split import write_views

    def write_view(view, out, part=None):
        """One view; `part`: rows lo..hi-1 of a row view (render/split.py), the key written
        by the part that begins it."""
        if part is None or part[0] == 0:
            out.write(', "%s": ' % view)
        if view == "symbols":
            _write_symbol_tables(elf, elf.symbol_tables, out, versions=False, demangle=demangle,
                                 part=part)
        elif view == "dyn_syms":
            _write_symbol_tables(elf, [elf.dynsym] if elf.dynsym else [], out, versions=True,
                                 demangle=demangle, part=part)
        elif view == "relocations":
            _write_relocations(elf, out, demangle, part)
        elif view == "got" and demangle:
            out.write(_dump(got_view(elf, demangle=True)))
        else:
            out.write(_dump(_SMALL_VIEWS[view](elf)))
    write_views(elf, views, write_view, out, json=True)
    out.write(', "warnings": %s}\n' % _dump(elf.warnings))
