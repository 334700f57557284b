"""Memory under `elfkit load-and-run` (issue 11, "Fast"): demand paging -- touching 1 GiB page by
page -- against qemu-user (Debian's `qemu-x86_64`) and native.

fixtures/build/mem-touch (fixtures/src/mem_touch.c) mmaps N MiB of private anonymous
memory and writes one byte of every page in order: every write is the page's first touch,
a page fault that gives it its frame (in elfkit: a #PF taken by Unicorn's interrupt hook,
handled by mm.mmap's handle_mm_fault, which maps the page's aligned 64 KiB window at once --
FAULT_AROUND -- and lets the instruction run again without leaving the CPU loop). The table
gives the whole wall time at N=1024 (262144 pages), and the cost per page from two points
of the same loop: (wall at N - wall at N=0) / pages, so start-up cancels out.

The commands run round-robin (bench_procs.measure): one checked run each (exit status 0,
`touched <pages> pages`), then RUNS timed rounds; medians; the ratio is elfkit / peer.

Knobs (environment): ELFKIT_BENCH_RUNS (timed rounds, default 3), ELFKIT_BENCH_TOUCH_MIB
(MiB touched, default 1024), ELFKIT_BENCH_TIMEOUT (seconds per run, default 600).
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_procs import (RUNS, Job, ProcRow, _QEMU_MISSING, _elfkit, _failed_note,  # noqa: E402
                         _join, _nan, _qemu, measure)
from harness import env_int  # noqa: E402

TOUCH_MIB = env_int("ELFKIT_BENCH_TOUCH_MIB", 1024)
MEM_TOUCH = "fixtures/build/mem-touch"


def _check(mib: int):
    want = f"touched {mib * 256} pages".encode()

    def check(out: bytes) -> str:
        got = out.strip()
        return "" if got == want else got.decode(errors="replace")[:60] or "(none)"
    return check


def touch_rows() -> list[ProcRow]:
    what = f"touch {TOUCH_MIB} MiB page by page ({TOUCH_MIB * 256} first-touch page faults)"
    if not (TOP / MEM_TOUCH).exists():
        why = f"{MEM_TOUCH} missing: run `make fixtures`"
        return [ProcRow(what, [MEM_TOUCH], None, why, elfkit_s=_nan(), note=f"elfkit failed: {why}")]
    qemu = _qemu()
    jobs = {}
    for side, prefix, missing in (("elfkit", _elfkit(), ""), ("qemu-user", [qemu] if qemu else None,
                                                              _QEMU_MISSING), ("native", [], "")):
        for mib in (TOUCH_MIB, 0):
            cmd = None if prefix is None else prefix + [MEM_TOUCH, str(mib)]
            jobs[side, mib] = Job(f"{side} mem-touch {mib}", cmd, missing, check=_check(mib))
    measure(list(jobs.values()), RUNS)
    pages = TOUCH_MIB * 256

    def per_page_us(side: str) -> float | None:
        hi, lo = jobs[side, TOUCH_MIB], jobs[side, 0]
        if hi.median is None or lo.median is None:
            return None
        return (hi.median - lo.median) / pages * 1e6

    me = jobs["elfkit", TOUCH_MIB]
    mine_pp = per_page_us("elfkit")
    rows = []
    for side, goal in (("qemu-user", "elfkit's time against qemu-user's"), ("native", "")):
        peer = jobs[side, TOUCH_MIB]
        theirs_pp = per_page_us(side)
        per_page = _join(f"elfkit {mine_pp:.2f} us/page" if mine_pp is not None else "",
                         f"{side} {theirs_pp:.2f} us/page" if theirs_pp is not None else "")
        rows.append(ProcRow(
            f"{what}, vs {side}", me.cmd, peer.cmd, side if peer.ok else f"{side}: {peer.why_not}",
            elfkit_s=me.median if me.ok else _nan(), peer_s=peer.median, goal=goal,
            note=_join(_failed_note(me), per_page)))
    return rows


def rows():
    return touch_rows()


if __name__ == "__main__":
    print(__doc__)
