"""The initial stack as the classic start-up figure draws it (fs/binfmt_elf.c create_elf_tables):
top (high addresses) to bottom -- end marker, strings, platform, random bytes, padding, auxv,
envp, argv, argc -- one row per piece with its real address and value, the entry %rsp marked,
and each pointer (argv[i], envp[i], AT_EXECFN, AT_RANDOM, AT_PLATFORM) an arrow to what it
points at."""
from __future__ import annotations

from elfkit.render.report.svg import esc

WIDTH, ROW, TOP = 1200, 17, 6
BOX_X, BOX_W = 200, 640
KINDS = (("string", "#fff1b8"), ("platform", "#e6dcf5"), ("16 random", "#e6dcf5"),
         ("padding", "#eeeeee"), ("end marker", "#eeeeee"), ("auxv", "#d9e8fb"),
         ("envp", "#daf2d7"), ("argv", "#daf2d7"), ("argc", "#fde2c4"))


def _fill(label: str) -> str:
    if label.endswith("string"):
        return "#fff1b8"
    return next((c for k, c in KINDS if label.startswith(k)), "#ffffff")


def draw_stack(rows, sp: int) -> str:
    y_of = {}
    parts = []
    for i, r in enumerate(rows):
        y = TOP + i * ROW
        y_of[r.address] = y
        value = r.value if len(r.value) <= 70 else r.value[:67] + "..."
        text = f"{r.label}: {value}" if r.value else r.label
        tip = f"{r.address:#x} ({r.size} bytes) {r.label}: {r.value}"
        mark = ('<text x="{:d}" y="{:d}" class="rsp">&#8592; %rsp at entry</text>'
                .format(BOX_X + BOX_W + 8, y + 12)) if r.address == sp else ""
        parts.append(
            f'<g class="stack-row" data-address="{r.address:#x}" data-size="{r.size}" '
            f'data-label="{esc(r.label)}" data-value="{esc(r.value)}"><title>{esc(tip)}</title>'
            f'<text x="4" y="{y + 12}" class="addr">{r.address:#018x}</text>'
            f'<text x="{BOX_X - 8}" y="{y + 12}" class="num" text-anchor="end">{r.size}</text>'
            f'<rect x="{BOX_X}" y="{y}" width="{BOX_W}" height="{ROW}" fill="{_fill(r.label)}" '
            f'stroke="#666"/><text x="{BOX_X + 6}" y="{y + 12}">{esc(text)}</text>{mark}</g>')
    arrows = []
    right = BOX_X + BOX_W
    for r in rows:
        if r.points_to is None or r.points_to not in y_of:
            continue
        y1, y2 = y_of[r.address] + ROW / 2, y_of[r.points_to] + ROW / 2
        reach = min(340, 30 + abs(y1 - y2) * 0.35)
        arrows.append(f'<path class="pointer" d="M{right},{y1:.0f} C{right + reach:.0f},{y1:.0f} '
                      f'{right + reach:.0f},{y2:.0f} {right + 2},{y2:.0f}" '
                      f'marker-end="url(#arrow)"><title>{esc(r.label)} -&gt; '
                      f'{r.points_to:#x}</title></path>')
    height = TOP + len(rows) * ROW + 8
    return (f'<svg class="stackfig" viewBox="0 0 {WIDTH} {height}" role="img" aria-label='
            '"the initial stack, top to bottom, pointers drawn as arrows">'
            + "".join(parts) + "".join(arrows) + "</svg>")
