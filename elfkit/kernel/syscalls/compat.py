"""The system call compatibility table, made from the dispatcher's own records.

`docs/SYSCALLS.md` is this module's Markdown output (`python -m
elfkit.kernel.syscalls.compat > docs/SYSCALLS.md`; `make syscalls-doc`), and a
test checks that the file is current; `elfkit load-and-run --syscalls [--json]`
prints the same table. Like gVisor's published table, one row per x86-64 system
call: its number, name, status and, unless it is complete, what is missing or
why it is refused.
"""
from __future__ import annotations

import json
import sys

from elfkit.kernel.syscalls import build_table
from elfkit.kernel.syscalls.numbers import NAMES

STATUSES = ("full", "partial", "refused", "nosys", "unsupported")
MEANING = {
    "full": "does what the kernel does, for every argument",
    "partial": "works; the note says what is not modelled",
    "refused": "fails on purpose with the errno the kernel gives an unprivileged process "
               "configured as the note says",
    "nosys": "ENOSYS, as on x86-64 Linux (the number has no implementation there)",
    "unsupported": "no handler yet: ENOSYS and an `unsupported system call` warning",
}


def rows() -> list[dict]:
    """One dict per x86-64 system call number, in number order."""
    table = build_table()
    out = []
    for nr in sorted(NAMES):
        entry = table.get(nr)
        if entry is None:
            out.append({"nr": nr, "name": NAMES[nr], "status": "unsupported", "note": ""})
        else:
            out.append({"nr": nr, "name": NAMES[nr], "status": entry.status, "note": entry.note})
    return out


def counts(table_rows=None) -> dict[str, int]:
    table_rows = rows() if table_rows is None else table_rows
    return {s: sum(r["status"] == s for r in table_rows) for s in STATUSES}


def markdown() -> str:
    table_rows = rows()
    n = counts(table_rows)
    lines = [
        "# System calls",
        "",
        "Generated from elfkit's dispatcher table by `make syscalls-doc` (a test fails when this",
        "file is out of date); `elfkit load-and-run --syscalls [--json]` prints the same table.",
        "The guest is modelled as an unprivileged process on a Debian-configured x86-64 Linux 6.x.",
        "",
        "| status | calls | meaning |",
        "|---|---:|---|",
        *(f"| {s} | {n[s]} | {MEANING[s]} |" for s in STATUSES),
        f"| total | {len(table_rows)} | |",
        "",
        "| nr | name | status | note |",
        "|---:|---|---|---|",
    ]
    for r in table_rows:
        note = r["note"].replace("|", "\\|")
        lines.append(f"| {r['nr']} | {r['name']} | {r['status']} | {note} |")
    return "\n".join(lines) + "\n"


def text() -> str:
    """The table for a terminal: one line per call."""
    table_rows = rows()
    n = counts(table_rows)
    out = [f"{r['nr']:>3}  {r['name']:<24} {r['status']:<11} {r['note']}".rstrip() for r in table_rows]
    out.append("")
    out.append("  ".join(f"{s}: {n[s]}" for s in STATUSES) + f"  total: {len(table_rows)}")
    return "\n".join(out) + "\n"


def as_json() -> str:
    table_rows = rows()
    return json.dumps({"counts": counts(table_rows), "syscalls": table_rows}, indent=1) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
