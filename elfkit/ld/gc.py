"""--gc-sections (bfd's elflink.c, bfd_elf_gc_sections) and the .eh_frame records of
discarded code (elf-eh-frame.c, _bfd_elf_discard_section_eh_frame).

Marking starts from the roots ld keeps: the entry symbol's section and those of -u symbols,
the sections its script KEEPs (.init, .fini, .preinit_array, .init_array*, .fini_array*,
.ctors, .dtors), SHT_NOTE sections, sections marked SHF_GNU_RETAIN, sections named like a C
identifier (their __start_/__stop_ symbols may be used) and every section that is not
allocated (debug information, .comment). A marked section marks whatever its relocations
name, and the other members of its COMDAT group. .eh_frame is no root: an FDE is kept when
the code it describes is, and then marks what it names (its LSDA in .gcc_except_table, its
CIE's personality routine). An unmarked section is removed; `--print-gc-sections` says so in
ld's words.

Whatever removed code (a COMDAT duplicate, a collected section), its FDEs are removed from
.eh_frame with it, and the relocations of the records kept are moved to their new offsets,
as ld does, so the .eh_frame_hdr table lists only code that is in the output.
"""
from __future__ import annotations

from bisect import bisect_right

from elfkit.elf.constants import SHT
from elfkit.ld import eh_frame as EH
from elfkit.ld.input import SHF, LinkError

SHF_GNU_RETAIN = 0x200000
_KEEP = (".init", ".fini", ".preinit_array", ".init_array", ".fini_array", ".ctors", ".dtors",
         ".jcr", ".tm_clone_table")


def _is_root(sec) -> bool:
    name = sec.name
    if not sec.flags & SHF.ALLOC or sec.type == SHT.NOTE or sec.flags & SHF_GNU_RETAIN:
        return True
    if name in _KEEP or any(name.startswith(k + ".") for k in _KEEP):
        return True
    return name.isidentifier()


def reloc_target(obj, info):
    """The InputSection the symbol of relocation `info` (r_info) of `obj` is defined in, or
    None (no symbol, an absolute or undefined one, or an index past the table: relocate.py
    reports that)."""
    index = info >> 32
    if not index or index >= len(obj.symbols):
        return None
    g = obj.globals[index] if index < len(obj.globals) else None
    target = g.section if g is not None else obj.symbols[index].section
    return target if target is not None and hasattr(target, "obj") else None


def _targets(sec, indexes=None):
    """The InputSections the relocations of `sec` name (only relocations `indexes`, when
    given)."""
    obj = sec.obj
    infos = sec.relocs[1]
    for i in (range(len(infos)) if indexes is None else indexes):
        target = reloc_target(obj, infos[i])
        if target is not None:
            yield target


def _records(sec):
    try:
        return EH.split_records(sec.data)
    except ValueError as e:
        raise LinkError(f"{sec.obj.name}: .eh_frame: {e}") from None


def _fde_relocs(sec):
    """For each FDE of an input .eh_frame: (the index of the relocation at its pc_begin, or
    None; the indexes of its other relocations and of its CIE's -- its LSDA, the CIE's
    personality), from one pass over its records."""
    offsets = sec.relocs[0] if sec.relocs is not None else ()
    records = _records(sec)
    where = {}                                   # record offset -> its relocation indexes
    starts = [r.offset for r in records]
    for i, o in enumerate(offsets):
        k = bisect_right(starts, o) - 1
        if k >= 0 and o < records[k].offset + records[k].size:
            where.setdefault(records[k].offset, []).append(i)
    out = []
    for rec in records:
        if rec.kind != "fde":
            continue
        try:
            pc = EH.fde_pc_begin_offset(sec.data, rec.offset)
        except ValueError:
            continue
        mine = where.get(rec.offset, [])
        pc_index = next((i for i in mine if offsets[i] == pc), None)
        others = [i for i in mine if i != pc_index] + where.get(rec.cie_offset, [])
        out.append((pc_index, others))
    return out


def collect(link, entry: str, undefined=(), print_removed=None):
    """Mark from the roots; unmark (live = False) what nothing reaches."""
    table = link.table
    groups = {}
    for obj in table.objects:
        for _signature, members in obj.groups:
            secs = [obj.sections[i] for i in members if obj.sections[i] is not None]
            for s in secs:
                groups[id(s)] = secs
    marked = set()
    work = []

    def mark(sec):
        if sec is None or not sec.live or id(sec) in marked:
            return
        marked.add(id(sec))
        work.append(sec)
        for other in groups.get(id(sec), ()):
            if id(other) not in marked and other.live:
                marked.add(id(other))
                work.append(other)

    for name in [entry, *undefined]:
        g = table.symbols.get(name)
        if g is not None and g.section is not None:
            mark(g.section)
    eh_frames = []
    for obj in table.objects:
        for sec in obj.sections:
            if sec is None or not sec.live:
                continue
            if sec.name == ".eh_frame" and sec.type != SHT.NOBITS:
                eh_frames.append(sec)
            elif _is_root(sec):
                mark(sec)
    fde_relocs = [(sec, _fde_relocs(sec)) for sec in eh_frames if sec.relocs is not None]
    while True:
        while work:
            sec = work.pop()
            if sec.relocs is not None and (sec.flags & SHF.ALLOC or sec.type == SHT.NOTE):
                for t in _targets(sec):
                    mark(t)
        before = len(marked)
        for sec, fdes in fde_relocs:               # FDEs of live code, and their CIEs
            infos = sec.relocs[1]
            for pc_index, others in fdes:
                code = reloc_target(sec.obj, infos[pc_index]) if pc_index is not None else None
                if code is not None and id(code) in marked:
                    for t in _targets(sec, others):
                        mark(t)
        if len(marked) == before and not work:
            break
    for obj in table.objects:
        for sec in obj.sections:
            if sec is None or not sec.live or id(sec) in marked or sec in eh_frames:
                continue
            sec.live = False
            if print_removed is not None and sec.size:      # ld names no empty section
                print_removed(f"removing unused section '{sec.name}' in file '{obj.name}'")


def prune_eh_frames(link):
    """Drop the FDEs of code that is not in the output (dead sections), in every live input
    .eh_frame, moving the relocations of what is kept. link.fde_counts gets the FDEs left in
    each .eh_frame it looked at (for .eh_frame_hdr's size)."""
    counts = link.fde_counts = {}
    for obj in link.table.objects:
        if not any(s is not None and not s.live and s.flags & SHF.EXECINSTR
                   for s in obj.sections):
            continue                      # FDEs describe code: none of this object's is gone
        for sec in obj.sections:
            if sec is None or not sec.live or sec.name != ".eh_frame" or sec.relocs is None:
                continue
            offsets, infos, addends = sec.relocs
            records = _records(sec)
            counts[sec] = sum(1 for r in records if r.kind == "fde")
            pc_reloc = {o: i for i, o in enumerate(offsets)}
            dead = set()
            for rec in records:
                if rec.kind != "fde":
                    continue
                try:
                    i = pc_reloc.get(EH.fde_pc_begin_offset(sec.data, rec.offset))
                except ValueError:
                    continue
                if i is None:
                    continue
                target = reloc_target(obj, infos[i])
                if target is not None and not target.live:
                    dead.add(rec.offset)
            if not dead:
                continue
            counts[sec] -= len(dead)
            try:
                new, moved = EH.rebuild(sec.data, lambda r: r.offset not in dead)
            except ValueError as e:
                raise LinkError(f"{obj.name}: .eh_frame: {e}") from None
            rows = []
            for o, info, a in zip(offsets, infos, addends):
                n = EH.moved_offset(records, moved, o)
                if n is not None:
                    rows.append((n, info, a))
            sec.data = new
            sec.size = len(new)
            sec.relocs = (tuple(r[0] for r in rows), tuple(r[1] for r in rows),
                          tuple(r[2] for r in rows))


__all__ = ["collect", "prune_eh_frames"]
