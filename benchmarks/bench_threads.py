"""Threads under `elfkit load-and-run` (issue 11, "Fast"): creating and joining threads, a futex
round trip between two threads and the pthread fixture, against qemu-user (Debian's
`qemu-x86_64`) and native.

Each table's programs (elfkit and its peers) run round-robin in one loop (bench_run.measure):
first one checked run of each (exit status 0 and the expected output, else the row says why and
the ratio is "-"; this run is also the warm-up), then RUNS timed rounds; each reports its
median, and the ratio is elfkit / peer. elfkit runs with its default `--cpus` (the host CPUs it
may use), so two guest threads can run at once, as under qemu-user and natively.

Thread create+join: fixtures/build/threadspawn (fixtures/src/threadspawn.c, static) makes N
threads one after another, each pthread_create'd and pthread_join'ed before the next (clone
with the thread flags, the new thread's first run, its exit, the CLONE_CHILD_CLEARTID wake-up
pthread_join waits for). Microseconds per thread = (wall at N - wall at N=0) / N, both points
in the same loop, so start-up cancels out. N = 1000. Goal: no slower than 3x qemu-user.

Futex round trip: fixtures/build/futexpingpong (fixtures/src/futexpingpong.c, static) passes a
turn between two threads N times through one word with raw FUTEX_WAIT_PRIVATE and
FUTEX_WAKE_PRIVATE (one round trip: two hand-overs, two wake-ups, usually a sleep on each
side). Microseconds per round trip by the same two-point fit. N = 20000. Goal: at most 10 us
per round trip (an absolute figure: the host's own is that of two cross-CPU wake-ups).

pthread fixture: the whole wall time of fixtures/build/pthread (fixtures/src/pthread.c, PIE:
ld.so and libc included): a mutex under contention from 4 threads, a condition-variable
producer/consumer, a barrier, a detached thread and a semaphore; its output must be native's.

Knobs (environment): ELFKIT_BENCH_RUNS (timed rounds, default 3), ELFKIT_BENCH_THREADS_N
(threads created, default 1000), ELFKIT_BENCH_PINGPONG_N (round trips, default 20000),
ELFKIT_BENCH_TIMEOUT (seconds per run, default 600). qemu-x86_64 comes from Debian's qemu-user
package; when it is missing its rows say so. Run alone: `python benchmarks/bench_threads.py`
(measures, then replaces this section of BENCH.md and leaves the others as they were).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_run import Prog, RunRow, _nan, _per_call_us, measure, programs, wall_rows  # noqa: E402


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


THREADS_N = _env_int("ELFKIT_BENCH_THREADS_N", 1000)
PINGPONG_N = _env_int("ELFKIT_BENCH_PINGPONG_N", 20000)
THREADS_GOAL = 3.0          # x qemu-user, per thread created and joined
ROUND_TRIP_GOAL_US = 10.0   # per futex round trip


def two_point(fixture: str, n: int, expect) -> list[tuple[str, Prog, Prog]]:
    """For elfkit, qemu-user and native: the fixture at N and at N=0, measured in one loop;
    `expect(n)` is the output each must print."""
    pairs, progs = [], []
    for r in programs(fixture, [], ["qemu", "native"]):
        hi = Prog(r.name, r.cmd + [str(n)] if r.cmd else None, r.missing)
        lo = Prog(r.name + " N=0", r.cmd + ["0"] if r.cmd else None, r.missing)
        hi.expect, lo.expect = expect(n), expect(0)
        pairs.append((r.name, hi, lo))
        progs += [hi, lo]
    measure(progs)
    return pairs


def per_item_rows(what: str, pairs, n: int, unit: str, goal_for) -> list[RunRow]:
    """One row per peer: elfkit's microseconds per item against the peer's (the ratio)."""
    (_, me_hi, me_lo), peers = pairs[0], pairs[1:]
    mine = _per_call_us(me_hi, me_lo, n)
    failed = "" if mine is not None else "elfkit failed: " + (me_hi.why_not or me_lo.why_not)
    rows = []
    for name, hi, lo in peers:
        theirs = _per_call_us(hi, lo, n)
        shown = f"{theirs:.3g} {unit} ({name})" if theirs is not None else \
            f"{name}: {hi.why_not or lo.why_not}"
        rows.append(RunRow(f"{what}, vs {name}", me_hi.cmd, hi.cmd, shown,
                           elfkit_s=mine if mine is not None else _nan(), peer_s=None, unit=unit,
                           goal=goal_for(name), note=failed,
                           extra={"peer_value": theirs}))
    return rows


def create_join_rows() -> list[RunRow]:
    def expect(n: int) -> bytes:
        return f"threadspawn: created={n} joined={n} sum={n * (n - 1) // 2}\n".encode()

    def goal(peer: str) -> str:
        return f"<= {THREADS_GOAL:g}x qemu-user" if peer == "qemu-user" else ""
    pairs = two_point("threadspawn", THREADS_N, expect)
    return per_item_rows(f"pthread_create + pthread_join, per thread ({THREADS_N} threads, "
                         "one at a time)", pairs, THREADS_N, "us/thread", goal)


def round_trip_rows() -> list[RunRow]:
    def expect(n: int) -> bytes:
        return f"futexpingpong: round trips={n} partner saw={n}\n".encode()

    def goal(peer: str) -> str:
        return f"<= {ROUND_TRIP_GOAL_US:g} us/round trip" if peer == "qemu-user" else ""
    pairs = two_point("futexpingpong", PINGPONG_N, expect)
    return per_item_rows(f"futex round trip between two threads, FUTEX_WAIT/WAKE_PRIVATE "
                         f"({PINGPONG_N} round trips)", pairs, PINGPONG_N, "us/round trip", goal)


def fixture_rows() -> list[RunRow]:
    progs = programs("pthread", [], ["qemu", "native"])   # output checked against native's
    measure(progs)
    return wall_rows("pthread fixture (mutex under contention, condition variable, barrier, "
                     "detached thread, TLS), whole run", progs, {})


def rows():
    return create_join_rows() + round_trip_rows() + fixture_rows()


# --- running alone -----------------------------------------------------------------------------

def _section(text: str, title: str) -> tuple[int, int] | None:
    """The [start, end) line span of `## title` in a BENCH.md, or None."""
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln == f"## {title}"]
    if not starts:
        return None
    end = next((i for i in range(starts[0] + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    return starts[0], end


def splice(old: str, new: str, title: str) -> str:
    """`old` BENCH.md with its `## title` section replaced by `new`'s (or inserted where run.py,
    which writes sections in the sorted order of the bench modules, would put it)."""
    span = _section(new, title)
    if span is None:
        return old
    ours = new.splitlines()[span[0]:span[1]]
    lines = old.splitlines()
    at = _section(old, title)
    if at is not None:
        lines[at[0]:at[1]] = ours
    else:
        later = [i for i, ln in enumerate(lines) if ln.startswith("## ") and ln[3:] > title]
        i = later[0] if later else len(lines)
        lines[i:i] = ours
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure through run.py (the table as `make bench` writes it), then keep every other
    section of BENCH.md as it was: `run.py NAME` alone rewrites the file with NAME's only."""
    import run
    from harness import repo_relative
    bench = TOP / "BENCH.md"
    old = bench.read_text() if bench.exists() else ""
    run.main(["run.py", "bench_threads"])
    if old:
        bench.write_text(repo_relative(splice(old, bench.read_text(), "threads")))
        print("kept the other sections of BENCH.md")


if __name__ == "__main__":
    main()
