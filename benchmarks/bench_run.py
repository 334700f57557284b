"""`elfkit load-and-run` vs qemu-user (Debian's `qemu-x86_64`), Qiling and the program run natively.

All programs of one table (elfkit and its peers) run round-robin in one loop: first one
checked run of each (exit status 0 and the expected output, else the row says why; this is
also the warm-up), then RUNS timed rounds; each reports its median wall time, and the ratio
is elfkit / peer. CPU-bound: `cpubound ROUNDS` (no syscalls in the hot loop), at the
fixture's own default of 40 rounds (about 1 s under qemu-user), against qemu-user and
native; then a short run of 10 rounds against qemu-user and Qiling (Qiling needs about 18 s
for 40), in which elfkit's start-up (its own rows below) weighs more. Syscall cost:
microseconds per `getppid` from a two-point fit, (wall at N calls - wall at N=0) / N, both
points in the same loop. Start-up: the whole wall time of a static hello and of the nolibc
program. Qiling 1.4.6 runs in a venv of its own (benchmarks/.venv-qiling, made with a small
rootfs in benchmarks/.qiling-rootfs by benchmarks/setup_peers.sh, which this benchmark runs
when they are missing) through benchmarks/qiling_runner.py, logging off, multithread off;
the runner copies the program into the rootfs's bin/ first, as Qiling wants it there.
Knobs (environment): ELFKIT_BENCH_ROUNDS (cpubound rounds, default 40),
ELFKIT_BENCH_SHORT_ROUNDS (the short run's, default 10), ELFKIT_BENCH_RUNS
(timed rounds, default 3; CPU-bound at 40 rounds and start-up at least 5), ELFKIT_BENCH_QILING_SYSCALLS (Qiling's N,
default 20000, as Qiling needs ~0.1 ms per syscall), ELFKIT_BENCH_NO_QILING=1 (no Qiling).
"""
from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness import Row, timed_run  # noqa: E402

BUILD = "fixtures/build"                       # commands are run from TOP, paths shown relative
QILING_VENV = "benchmarks/.venv-qiling"
QILING_ROOTFS = "benchmarks/.qiling-rootfs"
TIMEOUT_S = float(os.environ.get("ELFKIT_BENCH_TIMEOUT", "600"))


def _env_int(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(name, default)))
    except ValueError:
        return default


ROUNDS = max(1, _env_int("ELFKIT_BENCH_ROUNDS", 40))
SHORT_ROUNDS = max(1, _env_int("ELFKIT_BENCH_SHORT_ROUNDS", 10))
RUNS = max(1, _env_int("ELFKIT_BENCH_RUNS", 3))
SYSCALLS_N = 200000
QILING_SYSCALLS_N = max(1, _env_int("ELFKIT_BENCH_QILING_SYSCALLS", 20000))


class RunRow(Row):
    """A Row whose ratio is None (shown as "-") when either side failed, and which can carry a
    peer value in another unit than seconds (run.py prints peer_s as seconds, so such a value
    is spelled out in peer_name and given to the ratio through extra["peer_value"])."""

    @property
    def ratio(self):
        mine = self.elfkit_s
        theirs = self.extra.get("peer_value", self.peer_s)
        if mine is None or theirs is None or not theirs or math.isnan(mine) or math.isnan(theirs):
            return None
        return mine / theirs


# --- the programs --------------------------------------------------------------------------

class Prog:
    """One way of running a fixture: a command, or the reason there is none."""

    def __init__(self, name: str, cmd: list[str] | None, missing: str = ""):
        self.name, self.cmd, self.missing = name, cmd, missing
        self.times: list[float] = []
        self.failed = ""
        self.expect: bytes | None = None      # the output it must print (default: native's)

    @property
    def ok(self) -> bool:
        return self.cmd is not None and not self.failed

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.ok and self.times else None

    @property
    def why_not(self) -> str:
        return self.missing or self.failed


def _elfkit_cmd() -> list[str]:
    """`elfkit load-and-run`, or (before that command exists) this file's own fallback runner."""
    exe = os.path.join(os.path.dirname(sys.executable), "elfkit")
    if os.path.exists(exe):
        probe = subprocess.run([exe, "load-and-run", "--help"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False)
        if probe.returncode == 0:
            return [exe, "load-and-run"]
    return [sys.executable, str(HERE / "bench_run.py"), "--elfkit-run"]


def _qemu_cmd() -> tuple[list[str] | None, str]:
    qemu = shutil.which("qemu-x86_64") or shutil.which("qemu-x86_64-static")
    if qemu is None:
        return None, "qemu-x86_64 not installed (apt-get install qemu-user)"
    return [os.path.basename(qemu)], ""


_qiling_state: tuple[list[str] | None, str] | None = None


def _qiling_cmd() -> tuple[list[str] | None, str]:
    """The Qiling runner command, running setup_peers.sh first when its venv or rootfs is missing."""
    global _qiling_state
    if _qiling_state is not None:
        return _qiling_state
    if os.environ.get("ELFKIT_BENCH_NO_QILING"):
        _qiling_state = (None, "Qiling skipped (ELFKIT_BENCH_NO_QILING)")
        return _qiling_state
    py = TOP / QILING_VENV / "bin" / "python"
    ready = (TOP / QILING_ROOTFS / ".complete").exists() and py.exists()
    if not ready:
        print("  setting up Qiling: sh benchmarks/setup_peers.sh", flush=True)
        try:
            env = dict(os.environ)
            env.setdefault("PYTHON", getattr(sys, "_base_executable", None) or "python3")
            r = subprocess.run(["sh", str(HERE / "setup_peers.sh")], cwd=TOP, check=False, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=1800)
            ok, tail = r.returncode == 0, (r.stdout.strip().splitlines() or [""])[-1]
        except (OSError, subprocess.TimeoutExpired) as e:
            ok, tail = False, str(e)
        if not ok:
            _qiling_state = (None, f"Qiling unavailable: setup_peers.sh failed: {tail[:120]}")
            return _qiling_state
    _qiling_state = ([QILING_VENV + "/bin/python", "benchmarks/qiling_runner.py", QILING_ROOTFS], "")
    return _qiling_state


def programs(fixture: str, args: list[str], peers: list[str]) -> list[Prog]:
    """elfkit first, then the named peers ("qemu", "qiling", "native") for one invocation."""
    path = f"{BUILD}/{fixture}"
    out = [Prog("elfkit", _elfkit_cmd() + [path] + args)]
    for peer in peers:
        if peer == "qemu":
            cmd, why = _qemu_cmd()
            out.append(Prog("qemu-user", cmd + [path] + args if cmd else None, why))
        elif peer == "qiling":
            cmd, why = _qiling_cmd()
            out.append(Prog("Qiling", cmd + [path] + args if cmd else None, why))
        elif peer == "native":
            out.append(Prog("native", [path] + args))
    return out


# --- measuring ------------------------------------------------------------------------------

def _run_once(cmd: list[str], capture: bool) -> tuple[float, int | None, bytes, bytes]:
    """(wall seconds, exit status or None on timeout, stdout, stderr)."""
    try:
        return timed_run(cmd, capture=capture, timeout=TIMEOUT_S, cwd=TOP)
    except OSError as e:
        return 0.0, 127, b"", str(e).encode()


def _last_line(data: bytes) -> str:
    lines = [ln for ln in data.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip()[:140] if lines else ""


def measure(progs: list[Prog], runs: int = RUNS, reference: str = "native") -> list[Prog]:
    """One checked (warm-up) run of each, then `runs` timed rounds, round-robin.  A program whose
    checked run fails (exit status, timeout, output unlike its `expect` or else the
    reference's) is left out of the timed rounds and carries the reason."""
    ref_out = None
    ref = next((p for p in progs if p.name == reference and p.cmd), None)
    if ref is not None:
        _, rc, ref_out, _ = _run_once(ref.cmd, True)
        if rc != 0:
            ref_out = None
    for p in progs:
        if p.cmd is None:
            continue
        _, rc, out, err = _run_once(p.cmd, True)
        if rc is None:
            p.failed = f"timed out after {TIMEOUT_S:g} s"
        elif rc != 0:
            p.failed = f"exit {rc}" + (f": {_last_line(err)}" if _last_line(err) else "")
        elif (p.expect if p.expect is not None else ref_out) not in (None, out):
            p.failed = f"wrong output: {_last_line(out) or '(none)'}"
    for _ in range(runs):
        for p in progs:
            if p.ok:
                p.times.append(_run_once(p.cmd, False)[0])
    return progs


# --- the rows ---------------------------------------------------------------------------------

def _nan() -> float:
    return float("nan")


def wall_rows(what: str, progs: list[Prog], goals: dict[str, str], note: str = "") -> list[RunRow]:
    """One row per peer: elfkit's median wall time against that peer's."""
    me, peers = progs[0], progs[1:]
    rows = []
    for p in peers:
        # a failed peer says why in the peer column; a failed elfkit, here
        notes = [n for n in (note, "elfkit failed: " + me.why_not if not me.ok else "") if n]
        rows.append(RunRow(f"{what}, vs {p.name}", me.cmd, p.cmd,
                           p.name if p.ok else f"{p.name}: {p.why_not}",
                           elfkit_s=me.median if me.ok else _nan(), peer_s=p.median,
                           goal=goals.get(p.name, ""), note="; ".join(notes)))
    return rows


def cpu_rows() -> list[RunRow]:
    rows = []
    for fixture in ("cpubound-static", "cpubound"):
        progs = measure(programs(fixture, [str(ROUNDS)], ["qemu", "native"]), runs=max(RUNS, 5))
        rows += wall_rows(f"CPU-bound `{fixture} {ROUNDS}`", progs, {"qemu-user": "<= 2x qemu-user"})
    progs = measure(programs("cpubound-static", [str(SHORT_ROUNDS)], ["qemu", "qiling"]))
    rows += wall_rows(f"CPU-bound `cpubound-static {SHORT_ROUNDS}` (short: start-up weighs more)",
                      progs, {})
    return rows


def _per_call_us(hi: Prog, lo: Prog, n: int) -> float | None:
    if not (hi.ok and lo.ok and hi.times and lo.times):
        return None
    return (hi.median - lo.median) / n * 1e6


def syscall_rows() -> list[RunRow]:
    """Two programs per runner (N calls and N=0), all in one round-robin loop."""
    runners = programs("syscalls", [], ["qiling", "qemu", "native"])
    progs, pairs = [], []
    for r in runners:
        n = QILING_SYSCALLS_N if r.name == "Qiling" else SYSCALLS_N
        hi = Prog(r.name, r.cmd + [str(n)] if r.cmd else None, r.missing)
        lo = Prog(r.name + " N=0", r.cmd + ["0"] if r.cmd else None, r.missing)
        hi.expect = f"syscalls: getppid calls={n} consistent=yes\n".encode()
        lo.expect = b"syscalls: getppid calls=0 consistent=yes\n"
        progs += [hi, lo]
        pairs.append((r.name, hi, lo, n))
    measure(progs)
    (_, me_hi, me_lo, me_n), peers = pairs[0], pairs[1:]
    mine = _per_call_us(me_hi, me_lo, me_n)

    def describe(name, hi, lo, n):
        if hi.ok and lo.ok:
            return f"{name}: {hi.median:.3f} s at N={n}, {lo.median:.3f} s at N=0"
        return f"{name}: {hi.why_not or lo.why_not}"

    rows = []
    for name, hi, lo, n in peers:
        theirs = _per_call_us(hi, lo, n)
        shown = f"{theirs:.3g} us/syscall ({name})" if theirs is not None else \
            f"{name}: {hi.why_not or lo.why_not}"
        rows.append(RunRow(f"getppid syscall cost, vs {name}", me_hi.cmd, hi.cmd, shown,
                           elfkit_s=mine if mine is not None else _nan(), peer_s=None,
                           unit="us/syscall", goal="<= 5 us/syscall",
                           note="; ".join([describe("elfkit", me_hi, me_lo, me_n),
                                           describe(name, hi, lo, n)]),
                           extra={"peer_value": theirs}))
    return rows


def startup_rows() -> list[RunRow]:
    rows = []
    for fixture, goal in (("hello-static", "<= 0.25 s"), ("nolibc", "")):
        progs = measure(programs(fixture, [], ["qemu", "qiling", "native"]), runs=max(RUNS, 5))
        goals = {"qemu-user": goal, "Qiling": goal, "native": goal} if goal else {}
        rows += wall_rows(f"start-up, `{fixture}` (whole run)", progs, goals,
                          note="goal is elfkit's own wall time" if goal else "")
    return rows


def rows():
    return cpu_rows() + syscall_rows() + startup_rows()


# --- fallback runner (used only while `elfkit load-and-run` is missing) -----------------------

def _elfkit_run(argv: list[str]) -> int:
    from elfkit.kernel.exec import spawn
    from elfkit.kernel.process import RunLimits
    env = [os.fsencode(f"{k}={v}") for k, v in os.environ.items()]
    proc = spawn(argv[0], [os.fsencode(a) for a in argv], env)
    return proc.run(RunLimits()).shell_status


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--elfkit-run":
        sys.exit(_elfkit_run(sys.argv[2:]))
    print(__doc__)
