"""`elfkit check` for people: one row per ELF file, the main verdicts as columns, then a summary.

Plain aligned text when writing to a file or pipe; with colour (rich,
imported only then) on a terminal. `verbose` adds, under each failing file,
the message of every failed required check.
"""
from __future__ import annotations

from elfkit.check import results as R
from elfkit.check.facts import KINDS
from elfkit.check.registry import BY_ID

# The columns, when their check runs; every other failing required check shows in "result".
COLUMNS = ("relro", "canary", "nx", "pie", "fortify", "cet-ibt", "cet-shstk", "glibc-version")
_STYLE = {R.PASS: "green", R.FAIL: "red", R.NA: "dim"}


def _rows(run, columns):
    for rep in run.files:
        cells = []
        for c in columns:
            r = rep.result(c)
            if r is None:
                cells.append(("-", "dim"))
            else:
                style = _STYLE[r.verdict] if r.required or r.verdict != R.FAIL else "yellow"
                cells.append((r.value, style))
        if rep.status == R.STATUS_MALFORMED:
            res = (f"MALFORMED: {rep.error}", "bold red")
        elif rep.status == R.STATUS_ERROR:
            res = f"ERROR: {rep.error}", "bold magenta"
        elif rep.failed:
            res = ("FAIL " + ",".join(rep.failed), "bold red")
        else:
            res = ("ok", "green")
        yield rep, [(rep.path, ""), (KINDS.get(rep.kind, "") if rep.kind else "", "")] + cells + [res]


def _details(rep):
    for r in rep.results:
        if r.verdict == R.FAIL and (r.required or rep.status == R.STATUS_MALFORMED):
            yield f"    {r.check}: {r.message}"
    for w in rep.warnings[:5]:
        yield f"    warning: {w}"


def summary_line(run) -> str:
    s = run.summary()
    parts = [f"{s['files']} ELF file(s) checked against policy {run.policy.name}: "
             f"{s['passed']} passed, {s['failed']} failed"]
    if s["malformed"]:
        parts.append(f"{s['malformed']} malformed")
    if s["errors"]:
        parts.append(f"{s['errors']} elfkit error(s)")
    skipped = [f"{s['not_elf']} not ELF"]
    if s["symlinks_skipped"]:
        skipped.append(f"{s['symlinks_skipped']} symlinks")
    if s["special_skipped"]:
        skipped.append(f"{s['special_skipped']} special files")
    if s["excluded"]:
        skipped.append(f"{s['excluded']} excluded")
    if s["outside_shard"]:
        skipped.append(f"{s['outside_shard']} in other shards")
    line = ", ".join(parts) + "; skipped " + ", ".join(skipped)
    if s["unreadable"]:
        line += f"; {s['unreadable']} unreadable"
    return line


def write_check_text(run, out, color: bool = False, verbose: bool = False):
    columns = [c for c in COLUMNS if c in run.policy.run_ids]
    header = ["FILE", "KIND"] + [BY_ID[c].title for c in columns] + ["RESULT"]
    rows = list(_rows(run, columns))
    if color:
        _write_rich(out, header, rows, verbose)
    else:
        _write_plain(out, header, rows, verbose)
    for path, why in run.unreadable:
        out.write(f"unreadable: {path}: {why}\n")
    out.write(summary_line(run) + "\n")


def _write_plain(out, header, rows, verbose):
    widths = [len(h) for h in header]
    for _, cells in rows:
        for i, (text, _) in enumerate(cells[:-1]):
            widths[i] = max(widths[i], len(text))
    fmt = lambda texts: "  ".join(t.ljust(w) for t, w in zip(texts[:-1], widths)) + \
        "  " + texts[-1]                                                   # noqa: E731
    out.write(fmt(header).rstrip() + "\n")
    for rep, cells in rows:
        out.write(fmt([t for t, _ in cells]).rstrip() + "\n")
        if verbose:
            for line in _details(rep):
                out.write(line + "\n")


def _write_rich(out, header, rows, verbose):
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    console = Console(file=out, force_terminal=True, highlight=False, soft_wrap=False)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for h in header:
        table.add_column(h, no_wrap=h != "RESULT", overflow="fold")
    for rep, cells in rows:
        table.add_row(*(Text(t, style=s) for t, s in cells))
        if verbose:
            for line in _details(rep):
                table.add_row(Text(line, style="dim"), *[""] * (len(header) - 1))
    console.print(table)
