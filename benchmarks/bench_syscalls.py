"""System calls (the system call issue): how many of x86-64's calls elfkit answers, and the cost of
asking whether a descriptor is ready, against qemu-user and native.

Handled: the rows of docs/SYSCALLS.md (elfkit's dispatcher table) that are not `unsupported`
-- full, partial, refused on purpose and ENOSYS where x86-64 has no implementation -- out of
the 374 numbers of x86-64's syscall_64.tbl; no peer (qemu-user forwards most calls to the
host kernel, which is not the same work).

Readiness: fixtures/build/pollready (fixtures/src/pollready.c, static) calls poll(2), or
epoll_wait(2), N times with a zero timeout on a pipe that holds one byte, so each call finds
it ready at once. Microseconds per call from a two-point fit, (wall at N - wall at N=0) / N,
both points in the same round-robin loop, so start-up cancels out. qemu-user runs the same
static program (its calls go to the host kernel after qemu's own translation of the
arguments); native is the host. Knobs: ELFKIT_BENCH_POLL_N (default 100000), ELFKIT_BENCH_RUNS.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
if str(TOP) not in sys.path:
    sys.path.insert(0, str(TOP))

from bench_run import Prog, RunRow, _nan, _per_call_us, measure, programs  # noqa: E402

POLL_N = max(1, int(os.environ.get("ELFKIT_BENCH_POLL_N", "100000") or 100000))


def handled_rows() -> list[RunRow]:
    from elfkit.kernel.syscalls.compat import counts
    n = counts()
    total = sum(n.values())
    handled = total - n["unsupported"]
    note = (f"of {total}: full {n['full']}, partial {n['partial']}, refused {n['refused']}, "
            f"ENOSYS as on x86-64 {n['nosys']}, unsupported {n['unsupported']}")
    return [RunRow("system calls handled (docs/SYSCALLS.md)", ["elfkit", "load-and-run", "--syscalls"],
                   None, "-", elfkit_s=float(handled), peer_s=None, unit="calls",
                   goal=f"{total} (all)", note=note)]


def readiness_rows(mode: str) -> list[RunRow]:
    runners = programs("pollready", [mode], ["qemu", "native"])
    progs, pairs = [], []
    for r in runners:
        hi = Prog(r.name, r.cmd + [str(POLL_N)] if r.cmd else None, r.missing)
        lo = Prog(r.name + " N=0", r.cmd + ["0"] if r.cmd else None, r.missing)
        hi.expect = f"pollready: {mode} calls={POLL_N} ready={POLL_N}\n".encode()
        lo.expect = f"pollready: {mode} calls=0 ready=0\n".encode()
        progs += [hi, lo]
        pairs.append((r.name, hi, lo))
    measure(progs)
    (_, me_hi, me_lo), peers = pairs[0], pairs[1:]
    mine = _per_call_us(me_hi, me_lo, POLL_N)
    rows = []
    for name, hi, lo in peers:
        theirs = _per_call_us(hi, lo, POLL_N)
        shown = f"{theirs:.3g} us/call ({name})" if theirs is not None else \
            f"{name}: {hi.why_not or lo.why_not}"
        why = "" if mine is not None else "elfkit failed: " + (me_hi.why_not or me_lo.why_not)
        rows.append(RunRow(f"{mode} on a ready pipe, vs {name}", me_hi.cmd, hi.cmd, shown,
                           elfkit_s=mine if mine is not None else _nan(), peer_s=None,
                           unit="us/call", goal="", note=why,
                           extra={"peer_value": theirs}))
    return rows


def rows():
    return handled_rows() + readiness_rows("poll") + readiness_rows("epoll")


if __name__ == "__main__":
    for r in rows():
        print(r.what, r.elfkit_s, r.unit, r.peer_name, r.ratio, r.note)
