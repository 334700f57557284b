"""`elfkit inspect` as text: readelf -W's layout for the views readelf has, plus the PLT/GOT map.

The bulk tables (symbols, relocations) are written a CHUNK of rows at a time,
with one str.join or %-format over their columns (render/rows.py): nothing here
runs Python code per row, so text costs about what JSON costs.
"""
from __future__ import annotations

from itertools import compress, count, repeat
from operator import gt, itemgetter

from elfkit.elf.constants import DF_1_NAMES, DF_NAMES, DF_P1_NAMES, DT, DT_STRING_TAGS, EM, PT, \
    SHN, dynamic_tag_name, elf_type_name, flag_names, machine_name, osabi_name
from elfkit.elf.machines import dynamic_value_text, machine_flags, symbol_other
from elfkit.elf.segments import interpreter, section_to_segment_mapping
from elfkit.render import rows


def _demangle(name: str) -> str:
    from elfkit.elf.demangle import demangle
    return demangle(name)


def _ndx(shndx: int) -> str:
    if shndx == SHN.UNDEF:
        return "UND"
    if shndx == SHN.ABS:
        return "ABS"
    if shndx == SHN.COMMON:
        return "COM"
    return str(shndx)


def write_summary(elf, out, color=False):
    s = rows.summary(elf)
    w = out.write
    w(f"{elf.path}: {s['class']} {s['type']} {s['machine']}\n")
    w(f"  entry        {s['entry']:#x}\n")
    w(f"  interpreter  {s['interpreter'] or '(none)'}\n")
    w(f"  needed       {', '.join(s['needed']) or '(none)'}\n")
    if s["soname"]:
        w(f"  soname       {s['soname']}\n")
    for key in ("rpath", "runpath"):
        if s[key]:
            w(f"  {key:<12} {s[key]}\n")
    hd = s["hardening"]
    if hd is not None:
        if hd["gnu_stack"]:
            nx = "yes" if hd["nx"] else "NO (executable stack)"
        else:
            nx = f"yes (no PT_GNU_STACK; the {s['machine']} default)" if hd["nx"] else \
                "no PT_GNU_STACK"
        link = "static-pie" if s["static"] and s["pie"] else "static" if s["static"] else "dynamic"
        yes = {True: "yes", False: "no"}
        cfi = [f"{k.upper()} {yes[hd[k]]}" for k in ("ibt", "shstk", "bti", "pac")
               if hd[k] is not None] or ["CFI n/a"]
        w(f"  hardening    RELRO {hd['relro']}, NX {nx}, PIE {yes[hd['pie']]}, "
          f"canary {yes[hd['canary']]}, FORTIFY {yes[hd['fortify']]}, {', '.join(cfi)} "
          f"({link})\n")


def write_header(elf, out):
    h = elf.header
    w = out.write
    ident = " ".join(f"{b:02x}" for b in bytes(elf.data[:16]))
    w("ELF Header:\n")
    w(f"  Magic:   {ident} \n")
    rows_ = [
        ("Class", "ELF64" if h.is_64 else "ELF32"),
        ("Data", "2's complement, little endian" if h.ei_data == 1 else "2's complement, big endian"),
        ("Version", f"{h.ident_version}{' (current)' if h.ident_version == 1 else ''}"),
        ("OS/ABI", osabi_name(h.osabi)),
        ("ABI Version", str(h.abi_version)),
        ("Type", elf_type_name(h.type)),
        ("Machine", machine_name(h.machine)),
        ("Version", f"{h.version:#x}"),
        ("Entry point address", f"{h.entry:#x}"),
        ("Start of program headers", f"{h.phoff} (bytes into file)"),
        ("Start of section headers", f"{h.shoff} (bytes into file)"),
        ("Flags", "".join([f"{h.flags:#x}", *(", " + x for x in machine_flags(h.machine, h.flags))])),
        ("Size of this header", f"{h.ehsize} (bytes)"),
        ("Size of program headers", f"{h.phentsize} (bytes)"),
        ("Number of program headers", str(h.phnum) + (f" ({h.raw_phnum})" if h.raw_phnum != h.phnum else "")),
        ("Size of section headers", f"{h.shentsize} (bytes)"),
        ("Number of section headers", str(h.shnum) + (f" ({h.raw_shnum})" if h.raw_shnum != h.shnum else "")),
        ("Section header string table index", str(h.shstrndx) + (f" ({h.raw_shstrndx})" if h.raw_shstrndx != h.shstrndx else "")),
    ]
    for k, v in rows_:
        w(f"  {k + ':':<35}{v}\n")


def write_segments(elf, out):
    w = out.write
    segs = elf.segments
    if not segs:
        w("\nThere are no program headers in this file.\n")
        return
    wide = 18 if elf.is_64 else 10
    w(f"\nProgram Headers ({len(segs)}):\n")
    w(f"  {'Type':<14} {'Offset':<8} {'VirtAddr':<{wide}} {'PhysAddr':<{wide}} {'FileSiz':<8} "
      f"{'MemSiz':<8} Flg Align\n")
    aw = 16 if elf.is_64 else 8
    for s in segs:
        w(f"  {s.type_name[:14]:<14} 0x{s.offset:06x} 0x{s.vaddr:0{aw}x} 0x{s.paddr:0{aw}x} "
          f"0x{s.filesz:06x} 0x{s.memsz:06x} {s.flags_name} {s.align:#x}\n")
        if s.type == PT.INTERP:
            w(f"      [Requesting program interpreter: {interpreter(elf)}]\n")
    if elf.sections:
        w("\n Section to Segment mapping:\n  Segment Sections...\n")
        for i, names in enumerate(section_to_segment_mapping(elf)):
            w(f"   {i:02d}     {' '.join(names)} \n")


def write_sections(elf, out):
    w = out.write
    secs = elf.sections
    if not secs:
        w("\nThere are no sections in this file.\n")
        return
    m = elf.header.machine
    aw = 16 if elf.is_64 else 8
    w(f"\nSection Headers ({len(secs)}, at offset {elf.header.shoff:#x}):\n")
    w(f"  [Nr] {'Name':<17} {'Type':<15} {'Address':<{aw}} Off    Size   ES Flg Lk Inf Al\n")
    for s in secs:
        w(f"  [{s.index:2d}] {s.name:<17} {s.type_name(m):<15} {s.addr:0{aw}x} {s.offset:06x} "
          f"{s.size:06x} {s.entsize:02x} {s.flags_name(m, elf.header.osabi):>3} {s.link:2d} {s.info:3d} {s.align:2d}\n")


def _write_symtab(elf, table, out, versions, demangle=False, first=0, last=None,
                  heading=True, ending=True):
    """`%6d: %016x %5d %-7s %-6s %-8s %3s %s` per symbol, all the rows of a CHUNK in one
    str.join of the table's columns laid side by side (rows.interleave): the index as two
    pieces (newline and thousands, the rest), st_value's hex digits from one bytes.hex()
    call, st_size and the type/bind/visibility/ndx text made once per distinct value. Each
    row starts with its newline, so the header's own comes last."""
    w = out.write
    title = table.section or "dynamic symbols (through DT_SYMTAB)"
    n = len(table)
    vw = 16 if elf.is_64 else 8
    if heading:
        w(f"\nSymbol table '{title}' contains {n} entries:\n")
        w(f"   Num:    {'Value':<{vw}}  Size Type    Bind   Vis      Ndx Name")
    last = n if last is None else last
    if first >= last:                     # (rows lo..hi-1 of the view: render/split.py)
        if ending:
            w("\n")
        return
    kinds = rows.symbol_kind(elf)

    machine = elf.header.machine

    def middle(kind):
        k = kinds[kind]
        other = kind >> 8 & 0xFC          # st_other's bits above the visibility
        if other:
            return " %-7s %-6s %-7s [%s]  %4s " % (k[1], k[3], k[5], symbol_other(other, machine),
                                                 _ndx(k[6]))
        return " %-7s %-6s %-8s %3s " % (k[1], k[3], k[5], _ndx(k[6]))
    middle = rows.Memo(middle)
    size_text = rows.Memo(" %5d".__mod__)
    names = rows.symbol_names(elf, table, demangle)
    if versions:
        codes, found = rows.symbol_version_codes(elf, table)
        suffix = [f"{'@' if hidden else '@@'}{ver}" if ver is not None else ""
                  for ver, hidden, _raw in found]
        suffixes = list(map(suffix.__getitem__, codes))
    for start, stop in rows.chunks(last - first):
        start, stop = start + first, stop + first
        heads, lows = rows.index_columns(start, stop, lambda k: "\n%3d" % k if k else "\n   ",
                                         *rows.row_number_pieces(": ", " "))
        columns = [heads, lows, rows.hex_column(table.values[start:stop], vw // 2),
                   list(map(size_text.__getitem__, table.sizes[start:stop])),
                   list(map(middle.__getitem__, table.kinds[start:stop])), names[start:stop]]
        if versions:
            columns.append(suffixes[start:stop])
        w("".join(rows.interleave(*columns)))
    if ending:
        w("\n")


def _write_symbol_view(elf, tables, out, versions, demangle, part, none):
    """The tables' rows lo..hi-1 counted together (`part`, or all of them): a table's heading
    belongs to its first row's place, its closing newline to the place after its last row;
    `none` (no table at all) to place 0."""
    part = rows.RowPart(part)
    if not tables:
        if part.ours(0):
            out.write(none)
        return
    for _, t, heading, first, last, ending in part.tables(tables):
        if heading or first < last or ending:
            _write_symtab(elf, t, out, versions, demangle, first, last, heading, ending)


def write_symbols(elf, out, demangle=False, part=None):
    _write_symbol_view(elf, elf.symbol_tables, out, False, demangle, part,
                       "\nNo symbol table (.symtab) in this file.\n")


def write_dyn_syms(elf, out, demangle=False, part=None):
    _write_symbol_view(elf, [elf.dynsym] if elf.dynsym is not None else [], out, True,
                       demangle, part, "\nNo dynamic symbol table in this file.\n")


def write_dynamic(elf, out):
    w = out.write
    dyn = elf.dynamic
    if dyn is None:
        w("\nThere is no dynamic section in this file.\n")
        return
    w(f"\nDynamic section at offset {dyn.offset:#x} contains {len(dyn.entries)} entries:\n")
    w(f"  {'Tag':<18} {'Type':<28} Name/Value\n")
    labels = {DT.NEEDED: "Shared library", DT.SONAME: "Library soname",
              DT.RPATH: "Library rpath", DT.RUNPATH: "Library runpath"}
    m = elf.header.machine
    for tag, value in dyn.entries:
        name = f"({dynamic_tag_name(tag, m)})"
        special = dynamic_value_text(tag, value, m, dyn.string) if 0x70000000 <= tag <= 0x7FFFFFFC \
            else None
        if special is not None:
            text = special
        elif tag in DT_STRING_TAGS:
            s = dyn.string(value)
            text = f"{labels.get(tag, 'String')}: [{s if s is not None else '<corrupt>'}]"
        elif tag in (DT.FLAGS, DT.FLAGS_1, DT.POSFLAG_1):
            table = {DT.FLAGS: DF_NAMES, DT.FLAGS_1: DF_1_NAMES, DT.POSFLAG_1: DF_P1_NAMES}[tag]
            text = ("Flags: " if tag == DT.FLAGS_1 else "") + " ".join(flag_names(value, table))
        elif tag == DT.PLTREL:
            text = dynamic_tag_name(value)
        elif tag in (DT.PLTRELSZ, DT.RELASZ, DT.RELAENT, DT.STRSZ, DT.SYMENT, DT.RELSZ, DT.RELENT,
                     DT.INIT_ARRAYSZ, DT.FINI_ARRAYSZ, DT.PREINIT_ARRAYSZ, DT.RELRSZ, DT.RELRENT,
                     DT.SYMINSZ, DT.SYMINENT, DT.MOVEENT, DT.MOVESZ):
            text = f"{value} (bytes)"
        elif tag in (DT.VERDEFNUM, DT.VERNEEDNUM, DT.RELACOUNT, DT.RELCOUNT):
            text = str(value)
        else:
            text = f"{value:#x}"
        w(f" 0x{tag:016x} {name:<28} {text}\n")


def write_relocations(elf, out, demangle=False, part=None):
    """The relocation view; `part` (lo, hi or None for the end): only what belongs to rows
    lo..hi-1 of all the tables counted together (render/split.py makes the view in two
    processes): a table's heading, or a RELR table whole, belongs to its first row's place."""
    w = out.write
    tables = elf.relocation_tables
    part = rows.RowPart(part)
    if not tables:
        if part.ours(0):
            w("\nThere are no relocations in this file.\n")
        return
    aw = 16 if elf.is_64 else 8
    for _, t, heading, first, last, _closing in part.tables(tables, rows.relocation_rows):
        if not heading:                                         # its heading is not ours
            _write_reloc_rows(elf, t, w, aw, demangle, first, last)
            continue
        where = f"'{t.section}'" if t.section else f"'{t.kind}' (from the dynamic section)"
        if t.kind == "RELR":
            w(f"\nRelocation section {where} at offset {t.offset:#x} contains "
              f"{t.size // elf.fmt.word} entries ({len(t.relr_addresses)} relocations):\n")
            w("Address\n")
            if t.relr_addresses:
                w("\n".join(rows.hex_column(t.relr_addresses, aw // 2)))
                w("\n")
            continue
        n = len(t.columns[0])
        w(f"\nRelocation section {where} at offset {t.offset:#x} contains {n} "
          f"{'entry' if n == 1 else 'entries'}:\n")
        w(_RELOC_HEADER[elf.is_64] + (" + Addend\n" if t.kind == "RELA" else "\n"))
        _write_reloc_rows(elf, t, w, aw, demangle, first, last)


def _write_reloc_rows(elf, t, w, aw, demangle, first, last):
    """Rows first..last-1 of relocation table `t`."""
    if last <= first:
        return
    offsets, infos, addends = t.columns
    rela = t.kind == "RELA"
    middle = rows.Memo(_reloc_middle(elf, t, aw, demangle))
    extra = _mips64_more(elf.header.machine) if elf.fmt.mips64 else \
        _sparc_olo10_more if elf.fmt.sparcv9 and any(i & 0xFF == 33 for i in infos) else None
    if first or last != len(offsets):
        offsets, infos = offsets[first:last], infos[first:last]
        addends = addends[first:last] if rela else addends
    n = len(offsets)
    if extra is not None:
        _write_lines_with_extra(w, offsets, infos, addends if rela else None, middle,
                                aw // 2, extra)
        return
    for start, stop in rows.chunks(n):
        _write_reloc_lines(w, offsets[start:stop], infos[start:stop],
                           addends[start:stop] if rela else None, middle, aw // 2)


def _write_reloc_lines(w, offsets, infos, addends, middle, width):
    """Relocation lines in one str.join (REL) or %-format (RELA): r_offset's hex digits from one
    bytes.hex() call, the text up to the addend made once per r_info."""
    mids = list(map(middle.__getitem__, infos))
    hexes = rows.hex_column(offsets, width)
    if addends is None:
        w("".join(rows.interleave(hexes, mids)))
        return
    if rows.any_negative(addends) or any(map(_NO_ADDEND.__eq__, map(itemgetter(-1), mids))):
        addends = list(addends)
        for i in compress(count(), map(gt, repeat(0), addends)):
            if mids[i].endswith(" + "):                 # " - 5" after a symbol; "-5" alone
                mids[i] = mids[i][:-3] + " - "
                addends[i] = -addends[i]
        w("".join(f"{h}{m[:-1]}\n" if m[-1] == _NO_ADDEND else f"{h}{m}{a:x}\n"
                  for h, m, a in zip(hexes, mids, addends)))
        return
    w("%s%s%x\n" * len(mids) % tuple(rows.interleave(hexes, mids, addends)))


def _mips64_more(machine):
    """r_info -> MIPS64's two lines after a relocation: r_type2 and r_type3 named as readelf
    does (the name cut or padded to 17 columns)."""
    from elfkit.elf.constants import reloc_type_name

    def name(t):
        n = reloc_type_name(t, machine)
        return f"unrecognized: {t:<7x}" if n.startswith("unrecognized") else f"{n:<17.17}"

    def make(info):
        return ("", f"                    Type2: {name((info >> 8) & 0xFF)}\n"
                    f"                    Type3: {name((info >> 16) & 0xFF)}\n")
    return make


def _sparc_olo10_more(info):
    """SPARCV9: R_SPARC_OLO10 (33) carries a signed 24-bit number above its type, which
    readelf prints after the addend (" + " and its 64-bit hex)."""
    if info & 0xFF != 33:
        return "", ""
    data = (((info >> 8) & 0xFFFFFF) ^ 0x800000) - 0x800000
    return f" + {data & 0xFFFFFFFFFFFFFFFF:x}", ""


def _write_lines_with_extra(w, offsets, infos, addends, middle, width, extra):
    """Relocation lines with more after them, one at a time (MIPS64, SPARCV9's OLO10):
    extra(r_info) -> (text before the line's end, lines after it)."""
    more = rows.Memo(extra)
    hexes = rows.hex_column(offsets, width)
    out = []
    for i, (h, info) in enumerate(zip(hexes, infos)):
        mid = middle[info]
        before, after = more[info]
        if addends is None:
            out.append(f"{h}{mid[:-1]}{before}\n{after}")
            continue
        if mid[-1] == _NO_ADDEND:                    # a bad symbol index: no addend
            out.append(f"{h}{mid[:-1]}{before}\n{after}")
            continue
        a = addends[i]
        if a < 0 and mid.endswith(" + "):            # as _write_reloc_lines
            mid, a = mid[:-3] + " - ", -a
        out.append(f"{h}{mid}{a:x}{before}\n{after}")
    w("".join(out))


# readelf -W's relocation columns: Offset and Info in 8 or 16 hex digits, the type name in 22
# columns, then " value name" (three blanks after an ELF32 value), then " + addend".
_RELOC_HEADER = {False: " Offset     Info    Type                Sym. Value  Symbol's Name",
                 True: "    Offset             Info             Type               "
                       "Symbol's Value  Symbol's Name"}
_NO_ADDEND = "\x00"      # ends the text of a RELA line that takes no addend (bad symbol index)
# A control character in a name is shown as readelf shows it, ^ and the character + 0x40 (DEL
# as ^?): RISC-V's local labels (".L1\x021"), and no escape sequence reaches the terminal.
_CARET = {c: f"^{chr(c + 0x40)}" for c in range(0x20)} | {0x7F: "^?"}


def _reloc_middle(elf, table, aw, demangle=False):
    """r_info -> what follows the offset on its line, as readelf -W prints it: for REL the
    rest of the line; for RELA the text up to the addend: after a symbol it ends in ` + `;
    without one the addend follows 12 (ELF32) or 20 (ELF64) blanks. A symbol index past the
    table ends the line after the type, with a warning (readelf 2.40's error, its line cut)."""
    resolve = rows.reloc_info_resolver(elf, table, demangle)
    rela = table.kind == "RELA"
    value_gap = " " if elf.is_64 else "   "
    ifunc_width = 14 if elf.is_64 else 8

    def make(info):
        rtype, tname, sym, sname, svalue, version, hidden, ifunc, bad = resolve(info)
        text = f"  {info:0{aw}x} " + (f"unrecognized: {rtype:<7x}" if tname.startswith(
            "unrecognized") else f"{tname:<22}")
        if not sym:
            return text + " " * (20 if elf.is_64 else 12) if rela else text + "\n"
        if bad:                                         # readelf 2.40: an error, the line cut
            return text + (_NO_ADDEND if rela else "\n")
        name = (sname or "<null>").translate(_CARET)
        if ifunc:                                       # the function is called: no value
            text += f" {name}(){' ' * max(ifunc_width + 1 - len(name), 1)}"
        else:
            text += f" {svalue:0{aw}x}{value_gap}"
        if version:
            name += f"{'@' if hidden else '@@'}{version}"
        return text + name + (" + " if rela else "\n")
    return make


def write_notes(elf, out):
    w = out.write
    if not elf.notes:
        w("\nThere are no notes in this file.\n")
    for block in elf.notes:
        where = block.section or f"segment at offset {block.offset:#x} (size {block.size:#x})"
        w(f"\nDisplaying notes found in: {where}\n")
        w(f"  {'Owner':<20} {'Data size':<10} Description\n")
        for n in block.notes:
            w(f"  {n.owner:<20} 0x{len(n.desc):08x} {n.type_name}")
            if n.build_id is not None:
                w(f"    Build ID: {n.build_id}")
            elif n.abi_tag is not None:
                w(f"    OS: {n.abi_tag['os']}, ABI: {n.abi_tag['version']}")
            elif n.properties is not None:
                w("    Properties: " + "; ".join(
                    f"{p.name}: {', '.join(p.decoded) or hex(p.value)}" for p in n.properties))
            elif n.owner == "GNU" and n.type == 4:
                w(f"    Version: {n.desc.rstrip(bytes(1)).decode('utf-8', 'replace')}")
            w("\n")


def write_versions(elf, out):
    w = out.write
    v = elf.versions
    if v.versym is None and v.verdef is None and v.verneed is None:
        w("\nNo version information found in this file.\n")
        return
    if v.verdef is not None:
        t = v.verdef
        w(f"\nVersion definition section '{t.section}' contains {len(t.entries)} entries:\n")
        w(f" Addr: 0x{t.address:016x}  Offset: {t.offset:#08x}\n")
        for e in t.entries:
            flags = "BASE" if e.flags & 1 else ("WEAK" if e.flags & 2 else "none")
            w(f"  {e.offset:#06x}: Rev: {e.version}  Flags: {flags}  Index: {e.index}  "
              f"Cnt: {e.count}  Name: {e.names[0] if e.names else ''}\n")
            for j, parent in enumerate(e.names[1:], 1):
                w(f"  {'':6}  Parent {j}: {parent}\n")
    if v.versym is not None:
        t = v.versym
        w(f"\nVersion symbols section '{t.section}' contains {len(t.entries)} entries:\n")
        w(f" Addr: 0x{t.address:016x}  Offset: {t.offset:#08x}\n")
        names = {0: "*local*", 1: "*global*", **v.verneed_names, **v.verdef_names}

        def cell(raw):
            ndx = raw & 0x7FFF
            return f"{ndx:3x}{'h' if raw & 0x8000 else ' '}({names.get(ndx, '???')})"
        # four cells a line, each padded to 18 and followed by a space but the last: its text
        # made once per distinct entry, the lines assembled from columns in one str.join
        inner = rows.Memo(lambda raw: f"{cell(raw):<18} ")
        last = rows.Memo(lambda raw: cell(raw) + "\n")
        entries = t.entries
        full = len(entries) // 4 * 4
        if full:
            w("".join(rows.interleave(
                list(map("  %03x: ".__mod__, range(0, full, 4))),
                list(map(inner.__getitem__, entries[0:full:4])),
                list(map(inner.__getitem__, entries[1:full:4])),
                list(map(inner.__getitem__, entries[2:full:4])),
                list(map(last.__getitem__, entries[3:full:4])))))
        if full < len(entries):
            cells = [f"{cell(raw):<18}" for raw in entries[full:]]
            w(f"  {full:03x}: " + " ".join(cells).rstrip() + "\n")
    if v.verneed is not None:
        t = v.verneed
        w(f"\nVersion needs section '{t.section}' contains {len(t.entries)} entries:\n")
        w(f" Addr: 0x{t.address:016x}  Offset: {t.offset:#08x}\n")
        for e in t.entries:
            w(f"  {e.offset:#06x}: Version: {e.version}  File: {e.file}  Cnt: {e.count}\n")
            for a in e.aux:
                flags = "WEAK" if a.flags & 2 else "none"
                w(f"  {a.offset:#06x}:   Name: {a.name}  Flags: {flags}  Version: {a.other}\n")


def write_got(elf, out, demangle=False):
    w = out.write
    from elfkit.elf.plt import plt_got_map, plt_got_unsupported   # the got view only
    why = plt_got_unsupported(elf)
    if why is not None:
        w(f"\nPLT/GOT map: {why}.\n")
        return
    m = plt_got_map(elf)
    if not m.slots and not m.plt_sections:
        w("\nNo PLT or PLT GOT slots in this file.\n")
        return
    w("\nPLT/GOT map:\n")
    if m.got_plt is not None:
        res = ", ".join(f"GOT[{i}]={v:#x}" for i, v in enumerate(m.reserved))
        table = ".plt" if elf.header.machine == EM.PPC64 else ".got.plt"   # PPC64: slots in .plt
        w(f"  {table} (DT_PLTGOT) at {m.got_plt:#x}: {res}\n")
    for p in m.plt_sections:
        w(f"  {p.name:<9} {p.addr:#x} size {p.size:#x}\n")
    w(f"  {'Stub':<18} {'Section':<9} {'GOT slot':<18} {'Initial':<18} {'Reloc':<16} "
      f"{'Type':<20} Symbol\n")
    for s in m.slots:
        stub = f"{s.stub:#x}" if s.stub is not None else "-"
        initial = f"{s.initial:#x}" if s.initial is not None else "-"
        reloc = f"{s.reloc_section or 'JMPREL'}[{s.reloc_index}]"
        sym = (_demangle(s.symbol) if demangle and s.symbol else s.symbol or "-") + \
            (f"@{s.version}" if s.version else "")
        lazy = f"  (lazy stub {s.lazy_stub:#x})" if s.lazy_stub not in (None, s.stub) else ""
        w(f"  {stub:<18} {s.plt_section or '-':<9} {s.got_slot:<#18x} {initial:<18} {reloc:<16} "
          f"{s.reloc_type:<20} {sym}{lazy}\n")


def write_arch_specific(elf, out):
    """readelf -A: build attributes (ARM, RISC-V, the GNU vendor's), MIPS ABI flags. Nothing at
    all for a file without them, as readelf."""
    a = elf.arch_specific
    if a is None:
        return
    from elfkit.elf.attributes import SCOPES, mips_reg_size
    w = out.write
    for sec in a.sections:
        if sec.version != 0x41:
            w(f"Unknown attributes version '{chr(sec.version)}'({sec.version}) - expecting 'A'\n")
            continue
        for sub in sec.subsections:
            w(f"Attribute Section: {sub.vendor}\n")
            for b in sub.blocks:
                if b.scope in SCOPES:
                    w(SCOPES[b.scope] + "".join(f" {i}" for i in b.indices) + "\n")
                else:
                    w(f"Unknown tag: {b.scope}\n")
                for at in b.attributes:
                    w(f"  {at.name}: {at.text}" if at.name is not None else at.text)
                    if at.newline:
                        w("\n")
                if b.gnu_unknown is not None:
                    w(f"  Unknown GNU attribute: {b.gnu_unknown}\n")
                elif b.raw is not None:
                    w("  Unknown attribute:\n")
                if b.raw is not None:
                    w(_raw_attribute_dump(b.raw))
    f = a.mips_abiflags
    if f is not None:
        w(f"\nMIPS ABI Flags Version: {f.version}\n\nISA: {f.isa}\n"
          f"GPR size: {mips_reg_size(f.gpr_size)}\nCPR1 size: {mips_reg_size(f.cpr1_size)}\n"
          f"CPR2 size: {mips_reg_size(f.cpr2_size)}\nFP ABI: {f.fp_abi_name}\n"
          f"ISA Extension: {f.isa_ext_name}\nASEs:" + "".join(f"\n\t{n}" for n in f.ases_names) +
          f"\nFLAGS 1: {f.flags1:08x}\nFLAGS 2: {f.flags2:08x}\n")
    if a.unsupported is not None:
        w(f"\n(elfkit: {a.unsupported})\n")


def _raw_attribute_dump(raw: bytes) -> str:
    """readelf's display_raw_attribute: 16 bytes a line, offset, hex in groups of 4, ASCII."""
    lines = []
    for at in range(0, len(raw), 16):
        chunk = raw[at:at + 16]
        hexes = "".join(f"{chunk[j]:02x}" if j < len(chunk) else "  " for j in range(16))
        groups = " ".join(hexes[k:k + 8] for k in range(0, 32, 8)) + " "
        text = "".join(chr(c) if 0x20 <= c < 0x7F else "." for c in chunk)
        lines.append(f"  0x{at:08x} {groups}{text}\n")
    return "".join(lines) + "\n"


WRITERS = {
    "summary": write_summary, "header": write_header, "segments": write_segments,
    "sections": write_sections, "symbols": write_symbols, "dyn_syms": write_dyn_syms,
    "dynamic": write_dynamic, "relocations": write_relocations, "notes": write_notes,
    "arch_specific": write_arch_specific,
    "versions": write_versions, "got": write_got,
}


# the views whose symbol names -C/--demangle demangles (readelf -C; its version view prints
# no symbol names)
_DEMANGLING = frozenset(("symbols", "dyn_syms", "relocations", "got"))


def write_inspect_text(elf, views: list[str], out, demangle: bool = False):
    from elfkit.render.split import write_views

    def write_view(view, stream, part=None):
        if part is not None:                            # rows lo..hi-1 (render/split.py)
            WRITERS[view](elf, stream, demangle=demangle, part=part)
        elif demangle and view in _DEMANGLING:
            WRITERS[view](elf, stream, demangle=True)
        else:
            WRITERS[view](elf, stream)
    write_views(elf, views, write_view, out, json=False)
