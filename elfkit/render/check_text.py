"""`elfkit check` for people: one row per ELF file, the main verdicts as columns, then a summary.

Aligned text; on a terminal the cells are coloured with SGR escapes (green
pass, red required failure, yellow failure the policy does not require, dim
n/a). Rows are never squeezed to the terminal's width: long paths wrap
rather than being cut. `verbose` adds, under each failing file, the message
of every failed required check.
"""
from __future__ import annotations

from elfkit.check import results as R
from elfkit.check.facts import KINDS
from elfkit.check.registry import BY_ID

# The columns, when their check runs; every other failing required check shows in "result".
COLUMNS = ("relro", "canary", "nx", "pie", "fortify", "cet-ibt", "cet-shstk", "bti", "pac",
           "glibc-version")
# Control-flow protection columns belong to one machine family each (FileReport.cfi): the x86
# ones show unless every file is AArch64 (so a run without AArch64 files looks as it always
# did), the AArch64 ones only when some file is AArch64.
CFI_COLUMNS = {"cet-ibt": "x86", "cet-shstk": "x86", "bti": "aarch64", "pac": "aarch64"}
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


def _columns(run) -> list[str]:
    families = {rep.cfi for rep in run.files}
    shown = {"aarch64"} & families
    if "x86" in families or "aarch64" not in families:
        shown.add("x86")
    return [c for c in COLUMNS if c in run.policy.run_ids
            and (c not in CFI_COLUMNS or CFI_COLUMNS[c] in shown)]


def write_check_text(run, out, color: bool = False, verbose: bool = False):
    columns = _columns(run)
    header = ["FILE", "KIND"] + [BY_ID[c].title for c in columns] + ["RESULT"]
    rows = list(_rows(run, columns))
    paint = _ansi if color else (lambda text, style: text)
    widths = [len(h) for h in header]
    for _, cells in rows:
        for i, (text, _) in enumerate(cells[:-1]):
            widths[i] = max(widths[i], len(text))

    def line(cells):
        # pad on the plain text, then colour: escape codes take no columns
        padded = [paint(t.ljust(w), st) for (t, st), w in zip(cells[:-1], widths)]
        return "  ".join(padded + [paint(*cells[-1])]).rstrip()

    out.write(line([(h, "bold") for h in header]) + "\n")
    for rep, cells in rows:
        out.write(line(cells) + "\n")
        if verbose:
            for detail in _details(rep):
                out.write(paint(detail, "dim") + "\n")
    for path, why in run.unreadable:
        out.write(paint(f"unreadable: {path}: {why}", "bold red") + "\n")
    out.write(summary_line(run) + "\n")


_SGR = {"green": "32", "red": "31", "yellow": "33", "dim": "2", "bold": "1",
        "bold red": "1;31", "bold magenta": "1;35"}


def _ansi(text: str, style: str) -> str:
    code = _SGR.get(style)
    return f"\x1b[{code}m{text}\x1b[0m" if code and text else text
