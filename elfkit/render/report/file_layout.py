"""The file's PT_LOAD segments drawn to scale twice -- against file offsets and against virtual
addresses -- with the allocated sections inside them and the mapping between the two as bands:
what binfmt_elf's elf_map does with each segment (file bytes mapped, the rest of p_memsz zero)."""
from __future__ import annotations

from elfkit.render.report.svg import esc, perm_fill

WIDTH, LEFT, RIGHT = 1200, 10, 10
SHF_ALLOC, SHT_NOBITS = 0x2, 8


def _perm(flags: int) -> str:
    return ("r" if flags & 4 else "-") + ("w" if flags & 2 else "-") + ("x" if flags & 1 else "-")


def draw_file_layout(elf, file_size: int) -> str:
    loads = list(elf.load_segments)
    if not loads:
        return "<p>No PT_LOAD segment: nothing is mapped from this file.</p>"
    span = WIDTH - LEFT - RIGHT
    f_hi = max(file_size, 1)
    v_lo = min(s.vaddr for s in loads)
    v_hi = max(s.vaddr + s.memsz for s in loads)
    xo = lambda off: LEFT + span * off / f_hi                          # noqa: E731
    xv = lambda va: LEFT + span * (va - v_lo) / max(v_hi - v_lo, 1)    # noqa: E731
    secs = [s for s in elf.sections if s.flags & SHF_ALLOC and s.size]
    yo, yv, h = 28, 220, 40
    out = [f'<svg class="filemap" viewBox="0 0 {WIDTH} 330" role="img" aria-label="PT_LOAD '
           'segments against file offsets (top) and virtual addresses (bottom)">',
           f'<text x="{LEFT}" y="18" class="axis">file offsets 0x0 - {file_size:#x} '
           f'({file_size} bytes), to scale</text>',
           f'<text x="{LEFT}" y="{yv - 10}" class="axis">virtual addresses {v_lo:#x} - '
           f'{v_hi:#x} (link-time; + the load bias at run time), to scale</text>',
           f'<rect x="{LEFT}" y="{yo}" width="{span}" height="{h}" fill="#f4f4f4" stroke="#777"/>',
           f'<rect x="{LEFT}" y="{yv}" width="{span}" height="{h}" fill="#f4f4f4" stroke="#777"/>']
    for s in loads:                               # the bands first, under the segments
        a, b = xo(s.offset), xo(s.offset + s.filesz)
        c, d = xv(s.vaddr), xv(s.vaddr + s.filesz)
        out.append(f'<path class="band" d="M{a:.1f},{yo + h + 30} L{b:.1f},{yo + h + 30} '
                   f'L{d:.1f},{yv} L{c:.1f},{yv} Z"><title>PT_LOAD[{s.index}]: file '
                   f'{s.offset:#x}+{s.filesz:#x} -&gt; {s.vaddr:#x}+{s.filesz:#x}</title></path>')
    for s in loads:
        perm = _perm(s.flags)
        tip = (f"PT_LOAD[{s.index}] {perm}: offset {s.offset:#x}, filesz {s.filesz:#x}; "
               f"vaddr {s.vaddr:#x}, memsz {s.memsz:#x}, align {s.align:#x}")
        a, b = xo(s.offset), xo(s.offset + s.filesz)
        out.append(f'<g class="segment" data-index="{s.index}"><title>{esc(tip)}</title>'
                   f'<rect x="{a:.1f}" y="{yo}" width="{max(b - a, 1):.1f}" height="{h}" '
                   f'fill="{perm_fill(perm)}" stroke="#222"/>')
        c, d, e = xv(s.vaddr), xv(s.vaddr + s.filesz), xv(s.vaddr + s.memsz)
        out.append(f'<rect x="{c:.1f}" y="{yv}" width="{max(d - c, 1):.1f}" height="{h}" '
                   f'fill="{perm_fill(perm)}" stroke="#222"/>')
        if e - d >= 1:
            out.append(f'<rect x="{d:.1f}" y="{yv}" width="{e - d:.1f}" height="{h}" '
                       f'fill="url(#p-bss)" stroke="#222"><title>bss: {s.memsz - s.filesz:#x} '
                       'bytes of zeros (p_memsz past p_filesz)</title></rect>')
        for x, y in ((a, yo), (c, yv)):
            if (b - a if y == yo else e - c) > 36:
                out.append(f'<text x="{x + 3:.1f}" y="{y + 15}" class="seglabel">{perm}</text>')
        out.append("</g>")
    for i, sec in enumerate(secs):                # sections: a row under each bar
        tip = esc(f"{sec.name}: addr {sec.addr:#x}, offset {sec.offset:#x}, size {sec.size:#x}")
        lane = 14 * (i % 2)
        if sec.type != SHT_NOBITS:
            a, b = xo(sec.offset), xo(sec.offset + sec.size)
            out.append(_section(a, b, yo + h + 2 + lane, sec.name, tip))
        a, b = xv(sec.addr), xv(sec.addr + sec.size)
        out.append(_section(a, b, yv + h + 2 + lane, sec.name, tip))
    out.append("</svg>")
    return "".join(out)


def _section(a, b, y, name, tip) -> str:
    w = max(b - a, 1)
    label = f'<text x="{a + 2:.1f}" y="{y + 10}" class="seclabel">{esc(name)}</text>' \
        if w > 7 * len(name) + 4 else ""
    return (f'<g class="section"><title>{tip}</title><rect x="{a:.1f}" y="{y}" width="{w:.1f}" '
            f'height="12" fill="#eef" stroke="#446"/>{label}</g>')


def segment_table(elf) -> str:
    rows = []
    for s in elf.segments:
        rows.append(f"<tr><td>{esc(s.type_name)}</td><td>{s.offset:#x}</td><td>{s.vaddr:#x}</td>"
                    f"<td>{s.filesz:#x}</td><td>{s.memsz:#x}</td><td>{esc(s.flags_name.strip())}"
                    f"</td><td>{s.align:#x}</td></tr>")
    return ('<table class="data"><caption>Program headers</caption><thead><tr><th>type</th>'
            '<th>offset</th><th>vaddr</th><th>filesz</th><th>memsz</th><th>flags</th>'
            '<th>align</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")
