"""`make bench`: run every benchmarks/bench_*.py side by side with its peer and rewrite BENCH.md."""
from __future__ import annotations

import datetime
import importlib
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import cmdline, machine  # noqa: E402


def main(argv):
    only = set(argv[1:])
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    lines = ["# Benchmarks", "",
             f"Written by `make bench` on {datetime.date.today().isoformat()}; "
             f"machine: {machine()}.", "",
             "Each row runs elfkit and its peer alternately in one run (after one warm-up run of "
             "each) and reports the median wall time; the ratio is elfkit / peer (lower is better).",
             ""]
    for name in modules:
        if only and name not in only:
            continue
        mod = importlib.import_module(name)
        print(f"== {name}", flush=True)
        rows = mod.rows()
        lines += [f"## {name.removeprefix('bench_')}", "", (mod.__doc__ or "").strip(), "",
                  "| what | elfkit | peer | ratio | goal | commands |", "|---|---|---|---|---|---|"]
        for r in rows:
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
            cells = [f"{r.what}{note}", mine, peer, ratio, r.goal, cmds]
            # a `|` (a shell pipeline) would end the table cell, even inside a code span
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            print(f"  {r.what}: elfkit {mine}, peer {peer}, ratio {ratio}", flush=True)
        lines.append("")
    (HERE.parent / "BENCH.md").write_text("\n".join(lines) + "\n")
    print("wrote BENCH.md")


if __name__ == "__main__":
    main(sys.argv)
