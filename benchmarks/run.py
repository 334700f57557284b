"""`make bench`: run every benchmarks/bench_*.py side by side with its peer and rewrite BENCH.md."""
from __future__ import annotations

import datetime
import importlib
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import cmdline, machine, repo_relative  # noqa: E402


def header() -> list[str]:
    return ["# Benchmarks", "",
            f"Written by `make bench` on {datetime.date.today().isoformat()}; "
            f"machine: {machine()}.", "",
            "Each row runs elfkit and its peer alternately in one run (after one warm-up run of "
            "each) and reports the median wall time; the ratio is elfkit / peer (lower is better).",
            ""]


def row_cells(r) -> list[str]:
    """One row's table cells, paths inside the repository relative to it (harness.repo_relative:
    the commands, and the notes and peer columns, which may quote an error message)."""
    ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
    peer = f"{r.peer_s:.3f} s ({r.peer_name})" if r.peer_s is not None else r.peer_name
    if r.elfkit_s is None or math.isnan(r.elfkit_s):
        mine = "-"                      # elfkit failed; the row's note says why
    elif r.unit.startswith("s"):
        mine = f"{r.elfkit_s:.3f} s"
    else:
        mine = f"{r.elfkit_s:.3g} {r.unit}"
    cmds = f"`{cmdline(r.elfkit_cmd)}`" + (f" vs `{cmdline(r.peer_cmd)}`" if r.peer_cmd else "")
    note = f" ({r.note})" if r.note else ""
    return [repo_relative(c) for c in (f"{r.what}{note}", mine, peer, ratio, r.goal, cmds)]


def section(name: str, doc: str | None, rows) -> list[str]:
    """BENCH.md's section of one bench module: its docstring, then one table row per Row."""
    lines = [f"## {name.removeprefix('bench_')}", "", repo_relative((doc or "").strip()), "",
             "| what | elfkit | peer | ratio | goal | commands |", "|---|---|---|---|---|---|"]
    for cells in map(row_cells, rows):
        # a `|` (a shell pipeline) would end the table cell, even inside a code span
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines + [""]


def document(lines: list[str]) -> str:
    """BENCH.md's text: no path of this machine inside the repository, whatever a module put in."""
    return repo_relative("\n".join(lines) + "\n")


def main(argv):
    only = set(argv[1:])
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    lines = header()
    for name in modules:
        if only and name not in only:
            continue
        mod = importlib.import_module(name)
        print(f"== {name}", flush=True)
        rows = mod.rows()
        lines += section(name, mod.__doc__, rows)
        for r in rows:
            _, mine, peer, ratio = row_cells(r)[:4]
            print(f"  {r.what}: elfkit {mine}, peer {peer}, ratio {ratio}", flush=True)
    (HERE.parent / "BENCH.md").write_text(document(lines))
    print("wrote BENCH.md")


def run_alone(name: str, doc: str, rows, title: str) -> None:
    """`python benchmarks/NAME.py`: measure `rows()`, then replace only the `## title` section
    of BENCH.md (rendered as `make bench` renders it) and keep every other one as it is; the
    file is read only after the measurements, just before it is written."""
    from bench_threads import splice
    measured = rows()
    for r in measured:
        _, mine, peer, ratio = row_cells(r)[:4]
        print(f"  {r.what}: elfkit {mine}, peer {peer}, ratio {ratio}", flush=True)
    new = document(header() + section(name, doc, measured))
    bench = HERE.parent / "BENCH.md"
    old = bench.read_text() if bench.exists() else ""
    bench.write_text(repo_relative(splice(old, new, title)) if old else new)
    print(f"replaced the {title} section of BENCH.md" if old else "wrote BENCH.md")


if __name__ == "__main__":
    main(sys.argv)
