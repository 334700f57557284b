"""Rows for the bulk views: symbols and relocations with every name resolved, shared by text and JSON.

Rows are plain tuples, produced with per-table caches so that a table of
hundreds of thousands of entries costs a few dict look-ups per row.
"""
from __future__ import annotations

from elfkit.elf.constants import STT, SHN, reloc_type_name, symbol_bind_name, symbol_type_name, \
    symbol_visibility_name
from elfkit.elf.segments import interpreter


def symbol_rows(elf, table, versions: bool):
    """(index, value, size, type, type_name, bind, bind_name, vis, vis_name, shndx, name,
    version, version_index, hidden) per symbol."""
    osabi, machine = elf.header.osabi, elf.header.machine
    info_names = {}
    vis_names = [symbol_visibility_name(v) for v in range(4)]
    ver = elf.versions if versions else None
    versym = ver.versym.entries if ver is not None and ver.versym is not None else None
    sections = elf.sections
    for s in table.symbols:
        names = info_names.get(s.info)
        if names is None:
            names = info_names[s.info] = (symbol_type_name(s.info & 0xF, osabi, machine),
                                          symbol_bind_name(s.info >> 4, osabi))
        if ver is not None:
            version, hidden = ver.symbol_version(s.index, s.shndx != SHN.UNDEF)
            vindex = versym[s.index] if versym is not None and s.index < len(versym) else None
        else:
            version, hidden, vindex = None, False, None
        vis = s.other & 3
        name = s.name
        if not name and s.info & 0xF == STT.SECTION and s.shndx < len(sections):
            name = sections[s.shndx].name           # readelf names section symbols so
        yield (s.index, s.value, s.size, s.info & 0xF, names[0], s.info >> 4, names[1], vis,
               vis_names[vis], s.shndx, name, version, vindex, hidden)


def reloc_info_resolver(elf, table):
    """A function r_info -> (type, type_name, symbol_index, symbol_name, symbol_value,
    symbol_version), memoised: tables repeat the same r_info (RELATIVE, one symbol's slots)."""
    fmt, machine = elf.fmt, elf.header.machine
    symbols = table.symtab.symbols if table.symtab is not None else []
    sections = elf.sections
    versions = elf.versions if table.dynamic else None
    cache = {}

    def resolve(info):
        hit = cache.get(info)
        if hit is None:
            rtype, sym = fmt.r_type(info), fmt.r_sym(info)
            if sym:
                sname, svalue, sver = _reloc_symbol(symbols, len(symbols), sym, sections, versions)
            else:
                sname = svalue = sver = None
            hit = cache[info] = (rtype, reloc_type_name(rtype, machine), sym, sname, svalue, sver)
        return hit
    return resolve


def reloc_rows(elf, table):
    """(offset, info, type, type_name, symbol_index, symbol_name, symbol_value, symbol_version,
    addend) per relocation; symbol fields are None for symbol 0."""
    resolve = reloc_info_resolver(elf, table)
    for off, info, addend in table.entries:
        yield (off, info, *resolve(info), addend)


def _reloc_symbol(symbols, nsyms, index, sections, versions):
    if index >= nsyms:
        return (f"<corrupt symbol index {index}>", 0, None)
    s = symbols[index]
    name = s.name
    if not name and s.info & 0xF == STT.SECTION and s.shndx < len(sections):
        name = sections[s.shndx].name
    version = versions.symbol_version(index, s.shndx != SHN.UNDEF)[0] if versions else None
    return (name, s.value, version)


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
