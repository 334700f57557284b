"""Process trees under `elfkit load-and-run` (issue 10, "Fast"): fork + execve + wait, a
pipeline and the fork of a big process, against qemu-user (Debian's `qemu-x86_64`) and native.

Each table's commands (elfkit and its peers) run round-robin in one loop: first one
checked run of each (exit status 0, the expected output, no complaint on stderr other than
`elfkit: warning:` lines; else the row says why and the ratio is "-"; this run is also the
warm-up), then RUNS timed rounds; each reports its median, and the ratio is elfkit / peer.
An elfkit that cannot run a scenario yet (before issue 10, fork returns EAGAIN) makes its
rows say "elfkit failed: <first stderr line>"; its peers are measured all the same.

fork + execve + wait: `elfkit load-and-run /bin/sh -c 'i=0; while [ $i -lt 200 ]; do
/bin/true; i=$((i+1)); done'` (Debian's sh is dash; /bin/true is dynamically linked, so each
iteration forks the emulated shell, execs /bin/true through ld.so and libc, and waits for
it). Per iteration = (wall at N=200 - wall at N=0) / 200, both points in the same loop, so
elfkit's own start-up and the shell's cancel out. The peer is ONE cold `qemu-x86_64
/bin/true`, its whole wall time (median of 10 runs per round): qemu-user does not emulate a
guest's execve, the new program runs natively on an x86-64 host, so `qemu-x86_64 /bin/sh -c
'<the loop>'` would time one emulated fork and a native exec per iteration, not an emulated
process; a cold start is what qemu-user pays for every program it emulates, with a fresh
translator and no code translated before. Goal: an emulated fork+exec+wait costs no more
than that (elfkit keeps its translator, and library code translated once stays translated
through the page cache shared by every guest process). Native: the same loop run by the
host's sh, per iteration by the same two-point fit.

Pipeline: `elfkit load-and-run /bin/sh -c 'head -c 64M /dev/zero | gzip -1 | gzip -dc | wc
-c'` (shell and all four stages emulated) against the same pipeline with every stage
started as `qemu-x86_64 /usr/bin/STAGE` by a native sh (the four stages emulated, each by
its own qemu-user process on its own host CPU, the shell native), and native. elfkit runs
with its default `--cpus` (the host CPUs it may use, two here): its processes share those
emulated CPUs as qemu-user's share the host's. Whole wall times; each side must print
67108864 (MIB * 1048576) before it is timed. Goal: at most 2x the qemu-user pipeline.

fork of a big process: fixtures/build/forkbig (fixtures/src/forkbig.c) mallocs 1024 MiB,
asks for 4 KiB pages (MADV_NOHUGEPAGE), writes every page, then times one fork() in the
parent with CLOCK_MONOTONIC around the call and prints `fork_ns=`; the child _exits at
once. The rows compare the fork_ns elfkit's guest prints with the one the native run
prints (with copy-on-write a fork copies page tables, not bytes: 262144 page-table entries
here); `forkbig 1024 cow` keeps the child alive while the parent writes every page again
and prints `cow_ns=`, the cost of the copy-on-write faults. A third row gives the whole
wall time of `forkbig 1024` (allocate, touch, fork, wait) under elfkit against native.

Knobs (environment): ELFKIT_BENCH_RUNS (timed rounds, default 3), ELFKIT_BENCH_LOOP_N
(loop iterations, default 200), ELFKIT_BENCH_PIPE_MIB (pipeline size in MiB, default 64),
ELFKIT_BENCH_FORK_MIB (forkbig's memory in MiB, default 1024), ELFKIT_BENCH_TIMEOUT
(seconds per run, default 600). qemu-x86_64 comes from Debian's qemu-user package; when it
is missing its rows say so.
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_run import Prog, RunRow as ProcRow  # noqa: E402
from harness import env_int, timed_run  # noqa: E402

TIMEOUT_S = float(os.environ.get("ELFKIT_BENCH_TIMEOUT", "600"))



RUNS = env_int("ELFKIT_BENCH_RUNS", 3)
LOOP_N = env_int("ELFKIT_BENCH_LOOP_N", 200)
PIPE_MIB = env_int("ELFKIT_BENCH_PIPE_MIB", 64)
FORK_MIB = env_int("ELFKIT_BENCH_FORK_MIB", 1024)
QEMU_TRUE_REPS = 10                  # cold qemu /bin/true runs per round (each ~20 ms)
FORKBIG = "fixtures/build/forkbig"   # commands run from TOP, paths shown relative


# --- the commands ---------------------------------------------------------------------------

def _elfkit() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "elfkit")
    if os.path.exists(exe):
        return [exe, "load-and-run"]
    return [sys.executable, "-m", "elfkit", "load-and-run"]


_QEMU_MISSING = ("qemu-x86_64 not installed (Debian package qemu-user: "
                 "apt-get install qemu-user)")


def _qemu() -> str | None:
    qemu = shutil.which("qemu-x86_64") or shutil.which("qemu-x86_64-static")
    if qemu is None:
        print(f"  bench_procs: {_QEMU_MISSING}; its rows say so", flush=True)
        return None
    return os.path.basename(qemu)


def _tool(name: str) -> str:
    """Absolute path of a host program (qemu-user wants one; Debian: /usr/bin/NAME)."""
    return shutil.which(name) or f"/usr/bin/{name}"


def _first_line(data: bytes, skip_warnings: bool = False) -> str:
    for ln in data.decode(errors="replace").splitlines():
        if ln.strip() and not (skip_warnings and ln.startswith("elfkit: warning:")):
            return ln.strip()[:160]
    return ""


class Job(Prog):
    """One command timed in the loop (bench_run's Prog): `reps` runs per round; `check(stdout)`
    returns what is wrong with the output of the checked run ("" if nothing). `values` collects
    what `parse(stdout)` returns for every timed run (a number the program prints itself)."""

    def __init__(self, name: str, cmd: list[str] | None, missing: str = "", *, reps: int = 1,
                 check=None, parse=None):
        super().__init__(name, cmd, missing)
        self.reps, self.check, self.parse = reps, check, parse
        self.values: list[float] = []

    @property
    def value(self) -> float | None:
        return statistics.median(self.values) if self.ok and self.values else None


def _run(cmd: list[str]) -> tuple[float, int | None, bytes, bytes]:
    try:
        return timed_run(cmd, capture=True, timeout=TIMEOUT_S, cwd=TOP)
    except OSError as e:
        return 0.0, 127, b"", str(e).encode()


def _verdict(job: Job, rc: int | None, out: bytes, err: bytes) -> str:
    """Why the checked run failed, or ""."""
    if rc is None:
        return f"timed out after {TIMEOUT_S:g} s"
    if rc != 0:
        first = _first_line(err)
        return f"{first} (exit {rc})" if first else f"exit {rc}"
    complaint = _first_line(err, skip_warnings=True)
    if complaint:                     # e.g. sh's "Cannot fork" or "not found" with status 0
        return complaint
    wrong = job.check(out) if job.check else ""
    if not wrong and job.parse is not None and job.parse(out) is None:
        wrong = "no value in its output"
    return f"wrong output: {wrong}" if wrong else ""


def measure(jobs: list[Job], runs: int = RUNS) -> list[Job]:
    """One checked (warm-up) run of each job, then `runs` rounds of every job that passed."""
    for j in jobs:
        if j.cmd is None:
            continue
        _, rc, out, err = _run(j.cmd)
        j.failed = _verdict(j, rc, out, err)
        print(f"  {j.name}: {'ok' if not j.failed else j.failed}", flush=True)
    for _ in range(runs):
        for j in jobs:
            if not j.ok:
                continue
            for _ in range(j.reps):
                seconds, rc, out, _ = _run(j.cmd)
                if rc != 0:           # a flaky later run: say so rather than time it
                    j.failed = f"exit {rc} in a timed run" if rc is not None else \
                        f"timed out after {TIMEOUT_S:g} s in a timed run"
                    break
                j.times.append(seconds)
                if j.parse is not None:
                    v = j.parse(out)
                    if v is not None:
                        j.values.append(v)
    return jobs


def _nan() -> float:
    return float("nan")


def _failed_note(me: Job) -> str:
    return "" if me.ok else f"elfkit failed: {me.why_not}"


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _expect_empty(out: bytes) -> str:
    return "" if not out.strip() else out.decode(errors="replace").strip()[:80]


# --- fork + execve + wait --------------------------------------------------------------------

def loop_script(n: int) -> str:
    return f"i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done"


def exec_rows() -> list[ProcRow]:
    qemu = _qemu()
    me_hi = Job("elfkit sh loop N", _elfkit() + ["/bin/sh", "-c", loop_script(LOOP_N)],
                check=_expect_empty)
    me_lo = Job("elfkit sh loop N=0", _elfkit() + ["/bin/sh", "-c", loop_script(0)],
                check=_expect_empty)
    cold = Job("qemu-user /bin/true", [qemu, "/bin/true"] if qemu else None, _QEMU_MISSING,
               reps=QEMU_TRUE_REPS)
    nat_hi = Job("native sh loop N", ["/bin/sh", "-c", loop_script(LOOP_N)], check=_expect_empty)
    nat_lo = Job("native sh loop N=0", ["/bin/sh", "-c", loop_script(0)], check=_expect_empty,
                 reps=3)
    measure([me_hi, me_lo, cold, nat_hi, nat_lo])

    def per_iter_ms(hi: Job, lo: Job) -> float | None:
        if hi.median is None or lo.median is None:
            return None
        return (hi.median - lo.median) / LOOP_N * 1e3

    def describe(name: str, hi: Job, lo: Job) -> str:
        if hi.ok and lo.ok:
            return f"{name}: {hi.median:.3f} s at N={LOOP_N}, {lo.median:.3f} s at N=0"
        return f"{name}: failed: {hi.why_not or lo.why_not}"

    mine = per_iter_ms(me_hi, me_lo)
    me_ok = me_hi.ok and me_lo.ok
    me_note = describe("elfkit", me_hi, me_lo) if me_ok else \
        f"elfkit failed: {me_hi.why_not or me_lo.why_not}"
    what = f"fork + execve + wait of /bin/true from a sh loop, per iteration ({LOOP_N} iterations)"
    rows = []

    cold_ms = cold.median * 1e3 if cold.median is not None else None
    rows.append(ProcRow(
        f"{what}, vs one cold qemu-user /bin/true", me_hi.cmd, cold.cmd,
        f"{cold_ms:.3g} ms (qemu-user, one cold `/bin/true`)" if cold_ms is not None
        else f"qemu-user: {cold.why_not}",
        elfkit_s=mine if mine is not None else _nan(), peer_s=None, unit="ms/iteration",
        goal="<= qemu-user cold start",
        note=_join(me_note, f"qemu-user: median of {len(cold.times)} cold runs" if cold.ok else ""),
        extra={"peer_value": cold_ms}))

    theirs = per_iter_ms(nat_hi, nat_lo)
    rows.append(ProcRow(
        f"{what}, vs native", me_hi.cmd, nat_hi.cmd,
        f"{theirs:.3g} ms/iteration (native)" if theirs is not None
        else f"native: {nat_hi.why_not or nat_lo.why_not}",
        elfkit_s=mine if mine is not None else _nan(), peer_s=None, unit="ms/iteration",
        note=_join(me_note, describe("native", nat_hi, nat_lo)),
        extra={"peer_value": theirs}))
    return rows


# --- a pipeline ------------------------------------------------------------------------------

def pipeline_rows() -> list[ProcRow]:
    qemu = _qemu()
    size = PIPE_MIB * 1048576
    want = str(size).encode()

    def check(out: bytes) -> str:
        got = out.strip()
        return "" if got == want else f"{got.decode(errors='replace')[:40] or '(none)'}, not {size}"

    script = f"head -c {PIPE_MIB}M /dev/zero | gzip -1 | gzip -dc | wc -c"
    head, gzip, wc = _tool("head"), _tool("gzip"), _tool("wc")
    qscript = (f"{qemu} {head} -c {PIPE_MIB}M /dev/zero | {qemu} {gzip} -1 | "
               f"{qemu} {gzip} -dc | {qemu} {wc} -c") if qemu else ""
    me = Job("elfkit pipeline", _elfkit() + ["/bin/sh", "-c", script], check=check)
    q = Job("qemu-user pipeline", ["sh", "-c", qscript] if qemu else None, _QEMU_MISSING,
            check=check)
    nat = Job("native pipeline", ["sh", "-c", script], check=check)
    measure([me, q, nat])
    what = f"pipeline moving {PIPE_MIB} MiB (head, gzip -1, gzip -dc, wc -c)"
    rows = []
    for peer, goal in ((q, "<= 2x the qemu-user pipeline"), (nat, "")):
        name = peer.name.removesuffix(" pipeline")
        rows.append(ProcRow(
            f"{what}, vs {name}", me.cmd, peer.cmd,
            name if peer.ok else f"{name}: {peer.why_not}",
            elfkit_s=me.median if me.ok else _nan(), peer_s=peer.median, goal=goal,
            note=_failed_note(me)))
    return rows


# --- fork of a big process -------------------------------------------------------------------

def _number(key: str):
    pattern = re.compile(rb"^" + key.encode() + rb"=(\d+)$", re.M)

    def parse(out: bytes) -> float | None:
        m = pattern.search(out)
        return int(m.group(1)) / 1e6 if m else None          # ns -> ms
    return parse


def _forkbig_check(mode: str):
    head = f"forkbig: mib={FORK_MIB} pages={FORK_MIB * 256} mode={mode}".encode()

    def check(out: bytes) -> str:
        lines = out.splitlines()
        if not lines or lines[0] != head:
            return _first_line(out) or "(none)"
        if b"child=exited status=0" not in lines:
            return next((ln.decode(errors="replace") for ln in lines if ln.startswith(b"child=")),
                        "no child= line")
        return ""
    return check


def _ns(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def fork_rows() -> list[ProcRow]:
    if not (TOP / FORKBIG).exists():
        why = f"{FORKBIG} missing: run `make fixtures`"
        return [ProcRow(f"fork of a process with {FORK_MIB} MiB touched", [FORKBIG], None,
                        why, elfkit_s=_nan(), note=f"elfkit failed: {why}")]
    arg = str(FORK_MIB)
    me = Job("elfkit forkbig", _elfkit() + [FORKBIG, arg], check=_forkbig_check("fork"),
             parse=_number("fork_ns"))
    nat = Job("native forkbig", [FORKBIG, arg], check=_forkbig_check("fork"),
              parse=_number("fork_ns"))
    me_cow = Job("elfkit forkbig cow", _elfkit() + [FORKBIG, arg, "cow"],
                 check=_forkbig_check("cow"), parse=_number("cow_ns"))
    nat_cow = Job("native forkbig cow", [FORKBIG, arg, "cow"], check=_forkbig_check("cow"),
                  parse=_number("cow_ns"))
    measure([me, nat, me_cow, nat_cow])
    pages = FORK_MIB * 256

    def value_row(what: str, mine: Job, theirs: Job, key: str) -> ProcRow:
        """`key`=N as the guest prints it (ms in the table), elfkit's against native's."""
        v, pv = mine.value, theirs.value
        per_page = _join(f"elfkit {_ns(v * 1e6 / pages)} ns/page" if v is not None else "",
                         f"native {_ns(pv * 1e6 / pages)} ns/page" if pv is not None else "")
        walls = _join(f"elfkit whole run {mine.median:.3f} s" if mine.ok else "",
                      f"native whole run {theirs.median:.3f} s" if theirs.ok else "")
        return ProcRow(
            what, mine.cmd, theirs.cmd,
            f"{pv:.3g} ms (native {key})" if pv is not None else f"native: {theirs.why_not}",
            elfkit_s=v if v is not None else _nan(), peer_s=None, unit="ms",
            note=_join(_failed_note(mine), per_page, walls), extra={"peer_value": pv})

    rows = [value_row(f"fork() of a process with {FORK_MIB} MiB touched ({pages} pages): "
                      "`fork_ns`, the call's own time as the guest measures it", me, nat,
                      "fork_ns"),
            value_row(f"first write to every page after that fork, child alive "
                      f"(copy-on-write faults): `cow_ns` of `forkbig {FORK_MIB} cow`",
                      me_cow, nat_cow, "cow_ns")]
    rows.append(ProcRow(
        f"whole run of `forkbig {FORK_MIB}` (malloc, touch every page, fork, wait), vs native",
        me.cmd, nat.cmd, "native" if nat.ok else f"native: {nat.why_not}",
        elfkit_s=me.median if me.ok else _nan(), peer_s=nat.median, note=_failed_note(me)))
    return rows


def rows():
    return exec_rows() + pipeline_rows() + fork_rows()


if __name__ == "__main__":
    print(__doc__)
