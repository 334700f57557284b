"""Scaled bars for the terminal (issue 15, "In the terminal"): an address space or the initial
stack drawn to scale in one line, under the plain-text view it belongs to.

`inspect --segments` draws the PT_LOAD segments by virtual address, `load-and-run --maps` the
memory areas at exit, `--show-stack` the initial stack's parts (high addresses on the left, as
the stack grows down). Each piece is a run of columns in proportion to its size (one column at
least) between `│` marks, headed by its permissions (`r-x`) and coloured by them; a gap of a page
or more between two pieces is compressed to one `≈` column; the line below names each piece as
far as its columns allow, and a numbered legend after it gives every piece's name, addresses and
size. Colour and the bar come with `--color=always`, or `auto` (the default) when the stream the
view goes to is a terminal; piped, the views stay plain text as they were (`never` too).
"""
from __future__ import annotations

import os
import sys

from elfkit.elf.record import Record

PAGE = 4096
PERM_STYLE = {"r-x": "bold white on red", "rwx": "bold white on magenta", "rw-": "black on green",
              "r--": "white on blue", "---": "white on bright_black"}


class Piece(Record):
    """One bar segment: [start, end), its label and permissions ("r-x", "rw-", ...; "" for
    the stack's parts). A Record, not a dataclass: `inspect --segments` imports this module,
    and `dataclasses` (with `inspect`, `ast`, `dis`) was a third of inspect's start-up."""
    __slots__ = ("start", "end", "label", "perms")

    def __init__(self, start: int, end: int, label: str, perms: str = ""):
        self.start, self.end, self.label, self.perms = start, end, label, perms


def widths(sizes: list[int], room: int) -> list[int]:
    """Columns for each size: one at least, the rest shared in proportion (largest remainders
    first), `room` in all when it allows."""
    n = len(sizes)
    if room <= n:
        return [1] * n
    total = sum(sizes) or 1
    spare = room - n
    exact = [s * spare / total for s in sizes]
    cols = [1 + int(e) for e in exact]
    left = room - sum(cols)
    for i in sorted(range(n), key=lambda i: exact[i] - int(exact[i]), reverse=True)[:left]:
        cols[i] += 1
    return cols


def layout(pieces: list[Piece], width: int, descending: bool = False):
    """The bar's cells: [("piece", index, columns) | ("gap", size, 1)] left to right."""
    order = list(range(len(pieces)))
    order.sort(key=lambda i: pieces[i].start, reverse=descending)
    items, prev = [], None
    for i in order:
        p = pieces[i]
        if prev is not None:
            gap = (prev.start - p.end) if descending else (p.start - prev.end)
            if gap >= PAGE:
                items.append(["gap", gap, 1])
        items.append(["piece", i, 0])
        prev = p
    bars = sum(1 for it in items if it[0] == "piece")
    room = max(bars, width - 1 - bars - sum(1 for it in items if it[0] == "gap"))
    cols = widths([pieces[it[1]].end - pieces[it[1]].start for it in items if it[0] == "piece"], room)
    k = 0
    for it in items:
        if it[0] == "piece":
            it[2] = cols[k]
            k += 1
    return items


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.0f} {unit}" if v >= 10 else f"{v:.1f} {unit}"
    return f"{n} B"


def draw(title: str, pieces: list[Piece], stream=None, width: int | None = None,
         descending: bool = False):
    """Write the bar, its name line and the legend to `stream` with colour (rich)."""
    from rich.console import Console
    from rich.text import Text
    stream = stream or sys.stdout
    if not width:
        import shutil
        width = shutil.get_terminal_size((100, 24)).columns
    console = Console(file=stream, force_terminal=True, width=max(width, 20), highlight=False,
                      soft_wrap=True)
    items = layout(pieces, width, descending)
    bar, names = Text(), Text()
    number = {}
    for kind, what, cols in items:
        if kind == "gap":
            bar.append("≈", style="dim")
            names.append(" ")
            continue
        p = pieces[what]
        number[what] = len(number) + 1
        fill = (p.perms + "·" * cols)[:cols] if p.perms else "·" * cols
        bar.append("│", style="dim")
        bar.append(fill, style=PERM_STYLE.get(p.perms, "reverse"))
        names.append(" ")
        label = f"{number[what]}:{os.path.basename(p.label) or p.label}"
        names.append(label[:cols].ljust(cols))
    bar.append("│", style="dim")
    console.print(Text(title, style="bold"))            # (Text: never read as markup)
    console.print(bar)
    console.print(names)
    for i, n in sorted(number.items(), key=lambda x: x[1]):
        p = pieces[i]
        perms = f" {p.perms}" if p.perms else ""
        console.print(f"  {n}: {p.label}{perms} {p.start:#x}-{p.end:#x} ({_size(p.end - p.start)})",
                      highlight=False, markup=False)
    if any(kind == "gap" for kind, _w, _c in items):
        console.print("  ≈: a gap of a page or more, not to scale", highlight=False, markup=False)


# --- the three views' pieces -------------------------------------------------------------------

def segment_pieces(elf) -> list[Piece]:
    """inspect --segments: the PT_LOAD segments by virtual address (p_vaddr to +p_memsz)."""
    out = []
    for i, ph in enumerate(elf.segments):
        if ph.type_name != "LOAD":
            continue
        perms = ("r" if ph.flags & 4 else "-") + ("w" if ph.flags & 2 else "-") + \
            ("x" if ph.flags & 1 else "-")
        out.append(Piece(ph.vaddr, ph.vaddr + max(ph.memsz, 1), f"LOAD[{i}]", perms))
    return out


def area_pieces(mm) -> list[Piece]:
    """load-and-run --maps: the memory areas, named as /proc/PID/maps names them (read back by
    elfkit/report's parser, which `elfkit report` draws from too)."""
    from elfkit.report.areas import parse_maps
    return [Piece(a.start, a.end, a.name.strip() or "[anonymous]", a.perms[:3])
            for a in parse_maps(mm.maps_text(), None, None)]


def stack_pieces(stack) -> list[Piece]:
    """--show-stack: the initial stack's parts, grouped as the start-up figure names them."""
    groups: list[list] = []
    for it in stack.items:
        label = it.label
        if " string" in label or label.startswith("end marker"):
            name = "strings" if not label.startswith(("platform", "16 random")) else None
        else:
            name = None
        if name is None:
            name = ("platform" if label.startswith("platform") else
                    "random" if "random bytes" in label else
                    "padding" if label.startswith("padding") else
                    "auxv" if label.startswith("auxv") else
                    "envp" if label.startswith("envp") else
                    "argv" if label.startswith("argv") else
                    "argc" if label.startswith("argc") else label)
        if groups and groups[-1][0] == name:
            g = groups[-1]
            g[1], g[2], g[3] = min(g[1], it.address), max(g[2], it.address + it.size), g[3] + 1
        else:
            groups.append([name, it.address, it.address + it.size, 1])
    out = []
    for name, lo, hi, count in groups:
        if name in ("auxv", "envp", "argv"):
            name = f"{name} ({count - 1} + NULL)"
        out.append(Piece(lo, hi, name))
    return out
