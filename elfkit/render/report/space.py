"""The address space on one axis, high addresses at the top as the classic figures draw it:
every memory area a band whose height grows with the logarithm of its size, the gaps between
areas compressed to one fixed break with their size written in it. Each band has its
permissions as a pattern, a colour and text, the exact range on hover (<title>), and the same
areas follow as a table (what `load-and-run --maps` prints)."""
from __future__ import annotations

import math

from elfkit.report.areas import owner
from elfkit.render.report.svg import esc, gap_text, perm_fill, size_text

WIDTH, BAR_X, BAR_W, GAP_H = 1200, 190, 150, 22


def _height(size: int) -> int:
    return int(min(56, 18 + 3 * max(0, math.log2(max(size, 4096) / 4096))))


def draw_space(areas, title: str) -> str:
    rows, y = [], 4
    ordered = sorted(areas, key=lambda a: -a.start)
    for i, a in enumerate(ordered):
        if i and ordered[i - 1].start > a.end:          # a gap above this area
            gap = ordered[i - 1].start - a.end
            rows.append(_gap(y, gap, a.end, ordered[i - 1].start))
            y += GAP_H
        h = _height(a.size)
        rows.append(_area(y, h, a))
        y += h
    head = (f'<svg class="space" viewBox="0 0 {WIDTH} {y + 4}" role="img" '
            f'aria-label="{esc(title)}">')
    return head + "".join(rows) + "</svg>"


def _area(y, h, a) -> str:
    who = owner(a)
    tip = f"{a.start:#x}-{a.end:#x} {a.perms} {who} ({size_text(a.size)}; {a.kind})"
    mid = y + h / 2 + 5
    return (f'<g class="area" data-start="{a.start:#x}" data-end="{a.end:#x}" '
            f'data-kind="{a.kind}"><title>{esc(tip)}</title>'
            f'<text x="{BAR_X - 8}" y="{y + 12}" class="addr" text-anchor="end">{a.end:#x}</text>'
            f'<rect x="{BAR_X}" y="{y}" width="{BAR_W}" height="{h}" fill="{perm_fill(a.perms)}" '
            f'stroke="#222"/>'
            f'<text x="{BAR_X + BAR_W + 10}" y="{mid:.0f}" class="perm">{a.perms}</text>'
            f'<text x="{BAR_X + BAR_W + 60}" y="{mid:.0f}">{esc(who)}</text>'
            f'<text x="{BAR_X + BAR_W + 330}" y="{mid:.0f}" class="muted">{esc(a.kind)}, '
            f'{size_text(a.size)}, {a.start:#x}-{a.end:#x}</text></g>')


def _gap(y, gap, lo, hi) -> str:
    z = " ".join(f"{BAR_X + x},{y + (4 if k % 2 else GAP_H - 4)}"
                 for k, x in enumerate(range(0, BAR_W + 1, 10)))
    return (f'<g class="gap"><title>unmapped: {lo:#x}-{hi:#x} ({gap_text(gap)})</title>'
            f'<polyline points="{z}" fill="none" stroke="#555"/>'
            f'<text x="{BAR_X + BAR_W + 10}" y="{y + 15}" class="muted">gap of {gap_text(gap)} '
            f'(not to scale)</text></g>')


def area_table(areas, caption: str) -> str:
    rows = []
    for a in areas:
        rows.append(f'<tr class="maps-row"><td class="range">{a.start:08x}-{a.end:08x}</td>'
                    f'<td class="perms">{a.perms}</td><td class="offset">{a.offset:08x}</td>'
                    f'<td>{esc(a.kind)}</td><td class="num">{size_text(a.size)}</td>'
                    f'<td class="name">{esc(a.name)}</td></tr>')
    return (f'<table class="data maps"><caption>{esc(caption)}</caption><thead><tr>'
            '<th>range</th><th>perms</th><th>offset</th><th>kind</th><th>size</th><th>name</th>'
            '</tr></thead><tbody>' + "".join(rows) + "</tbody></table>")
