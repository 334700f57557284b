"""`elfkit inspect --debug-dump=... --json`: the same dumps as elfkit/render/debug_dump.py's
text, as one JSON document (keys: docs/JSON.md, "inspect --debug-dump --json").

The document is written as it is made -- a unit, a line program, a CFI section at a time --
so that libc's debug file (millions of DIEs) does not have to be held whole in memory.
"""
from __future__ import annotations

import json

from elfkit.debug.expr import decode_expr
from elfkit.render.debug_dump import (LNCT, LOC_ATTRS, LOCLIST_ATTRS, _BLOCK_FORMS, _NAMED,
                                      _REF_FORMS, _STRX_FORMS, _damaged, _s64)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def write_debug_dump_json(dumper, kinds, write):
    elf = dumper.elf
    write('{"file":' + _dumps(elf.path) + ',"debug_dump":[')
    first = True
    for kind, sec in dumper.chosen_sections(kinds):
        if not first:
            write(",")
        first = False
        head = {"section": sec.name, "kind": kind, "size": sec.size,
                "nobits": not sec.occupies_file}
        write(_dumps(head)[:-1])
        if kind == "info":
            write(',"units":[')
            if sec.size and sec.occupies_file:
                _join(write, _guarded(dumper, (u for u in dumper.units()), unit_json,
                                      lambda u: f"compile unit at .debug_info+{u.offset:#x}"))
            write("]}")
        elif kind == "line":
            write(',"programs":[')
            if sec.size and sec.occupies_file:
                _join(write, _guarded(dumper, dumper.line_programs(),
                                      lambda _d, p: program_json(p),
                                      lambda p: f"line program at .debug_line+{p.offset:#x}"))
            write("]}")
        else:
            write(',"entries":')
            entries = []
            if sec.size and sec.occupies_file:
                try:
                    entries = frames_json(dumper, sec)
                except (IndexError, ValueError, KeyError, TypeError) as e:
                    raise _damaged(elf.path, f"section {sec.name}", e) from None
            write(_dumps(entries) + "}")
    write("]}\n")


def _guarded(dumper, items, make, where):
    """make(dumper, item) for each item; a decoding failure becomes one DebugInfoError."""
    for item in items:
        try:
            doc = make(dumper, item)
        except (IndexError, ValueError, KeyError, TypeError) as e:
            raise _damaged(dumper.elf.path, where(item), e) from None
        yield doc


def _join(write, docs):
    first = True
    for d in docs:
        write(("" if first else ",") + _dumps(d))
        first = False


# --- .debug_info ---------------------------------------------------------------------------------
def unit_json(dumper, unit):
    h = dumper._unit_header(unit)
    dies = []
    for level, off, code, tag, attrs in dumper.dies(unit):
        if code == 0:
            continue
        plan = unit.plans[code]
        dies.append({"offset": off, "level": level, "abbrev": code, "tag": tag,
                     "has_children": bool(plan.children),
                     "attributes": [attr_json(dumper, unit, *a) for a in attrs]})
    h["dies"] = dies
    return h


def attr_json(dumper, unit, aoff, name, form, value):
    a = {"offset": aoff, "name": name, "form": form if isinstance(form, str) else
         f"DW_FORM_{form:#x}"}
    if form in _REF_FORMS:
        a["value"] = value + unit.offset
    elif form in ("DW_FORM_strp", "DW_FORM_line_strp") or form in _STRX_FORMS:
        a["value"] = unit.string(form, value)
        a["str_offset" if form in ("DW_FORM_strp", "DW_FORM_line_strp") else "str_index"] = value
    elif form == "DW_FORM_string":
        a["value"] = value.decode("utf-8", "surrogateescape")
    elif form in _BLOCK_FORMS:
        a["value"] = value.hex()
        if name in LOC_ATTRS:
            e = decode_expr(value, unit.address_size, unit.offset_size, unit.version,
                            unit.offset, dumper.regs)
            a["expr"] = [{"offset": o, "op": op, "operands": args} for o, op, args in e.ops]
    elif form in ("DW_FORM_sdata", "DW_FORM_implicit_const"):
        a["value"] = _s64(value)
    elif isinstance(value, bytes):
        a["value"] = value.hex()
    else:
        a["value"] = value
    if name in LOCLIST_ATTRS and (form == "DW_FORM_sec_offset" or form == "DW_FORM_loclistx"
                                  or (unit.version < 4 and form in ("DW_FORM_data4",
                                                                    "DW_FORM_data8"))):
        a["location_list"] = True
    names = _NAMED.get(name)
    if names is not None and isinstance(value, int) and value in names:
        a["label"] = names[value]
    return a


# --- .debug_line ---------------------------------------------------------------------------------
def program_json(p):
    doc = {"offset": p.offset, "length": p.length,
           "format": 64 if p.offset_size == 8 else 32, "version": p.version,
           "address_size": p.address_size if p.version >= 5 else None,
           "segment_selector_size": p.seg_size, "header_length": p.header_length,
           "min_instruction_length": p.min_inst, "max_ops_per_instruction": p.max_ops,
           "default_is_stmt": bool(p.default_is_stmt), "line_base": p.line_base,
           "line_range": p.line_range, "opcode_base": p.opcode_base,
           "standard_opcode_lengths": p.std_lengths}
    if p.version >= 5:
        doc["directories"] = [_entry(p, i, row) for i, row in enumerate(p.dirs)]
        doc["files"] = [_entry(p, i, row) for i, row in enumerate(p.files)]
    else:
        doc["directories"] = [{"index": i, "path": d} for i, d in enumerate(p.dirs, 1)]
        doc["files"] = [{"index": i, "path": n, "directory_index": d, "timestamp": t,
                         "size": s} for i, (n, d, t, s) in enumerate(p.files, 1)]
    statements = 0
    for _ in p.statements():
        statements += 1
    doc["statement_count"] = statements
    doc["rows"] = [{"address": a, "file": f, "line": ln, "column": c, "is_stmt": bool(st),
                    "end_sequence": end, "view": v, "discriminator": d}
                   for a, f, ln, c, st, end, v, d in p.rows]
    return doc


def _entry(p, index, row):
    e = {"index": index}
    for ctype, form, value in row:
        key = {1: "path", 2: "directory_index"}.get(ctype, LNCT.get(ctype, f"lnct_{ctype}"))
        e[key] = p.entry_value(ctype, form, value)
        e[key + "_form"] = form
    return e


# --- CFI -----------------------------------------------------------------------------------------
def frames_json(dumper, sec):
    from elftools.dwarf.callframe import CIE, ZERO
    ptr = 8 if dumper.elf.is_64 else 4
    out = []
    for e in dumper.cfi_entries(sec):
        if isinstance(e, ZERO):
            out.append({"offset": e.offset, "kind": "ZERO"})
            continue
        h = e.header
        if isinstance(e, CIE):
            aug = h.get("augmentation", b"")
            doc = {"offset": e.offset, "kind": "CIE", "length": h["length"],
                   "cie_id": h["CIE_id"], "version": h["version"],
                   "augmentation": aug.decode("latin-1") if isinstance(aug, bytes) else aug,
                   "code_alignment_factor": h["code_alignment_factor"],
                   "data_alignment_factor": h["data_alignment_factor"],
                   "return_address_register": h["return_address_register"],
                   "augmentation_data": (e.augmentation_bytes or b"").hex()}
            cie, loc = e, 0
        else:
            cie = e.cie
            loc = h["initial_location"]
            mask = (1 << (8 * ptr)) - 1
            doc = {"offset": e.offset, "kind": "FDE", "length": h["length"],
                   "cie_pointer": h["CIE_pointer"], "cie_offset": cie.offset,
                   "pc_begin": loc & mask, "pc_end": (loc + h["address_range"]) & mask,
                   "augmentation_data": (e.augmentation_bytes or b"").hex()}
        doc["instructions"] = [{"op": n, "operands": o, "text": t}
                               for n, o, t in dumper.cfa_program(e, cie, loc, ptr)]
        out.append(doc)
    return out
