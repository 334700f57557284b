"""load-and-run --gdb (issue 17, "Fast"): what `continue` with no breakpoint costs against a
plain run, and the time from `target remote` to the first breakpoint in python3, against
gdbserver (native) and qemu-user's gdb stub (Debian's `qemu-x86_64 -g PORT`).

Every gdb runs as `gdb -nx -batch -iex 'set debuginfod enabled off' -iex 'set confirm off'
-ex 'target remote 127.0.0.1:PORT' ... FILE`, as tests/test_gdb.py runs it: gdb's default
sysroot (`target:`), so gdb reads the program's libraries through the connection wherever the
stub offers that (elfkit and gdbserver do; qemu-user 7.2's stub does not: see below).

(1) `continue` with no breakpoints: fixtures/build/cpubound-static ROUNDS (static, CPU-bound,
no system call in its loop; ~2 s under elfkit at 40 rounds) run plainly, `elfkit load-and-run
--cpus 1 FILE ROUNDS` (one CPU, as --gdb forces one: the same machine on both sides), against
`elfkit load-and-run --gdb 0 FILE ROUNDS` driven by `gdb ... -ex continue FILE`. The --gdb time
is the wall time from starting elfkit to elfkit's exit: elfkit's start-up, its "waiting for
gdb on 127.0.0.1:P" line on stderr (port 0: the kernel picks a free one), gdb started then
(its own start-up, reading the program's symbols, `target remote`), `continue`, the run to
the end and gdb's "exited normally". The peer column is the plain run's; goal: at most 1.05x.
The gdb session pays gdb's start-up besides the emulation itself; the note gives gdb's start-up
alone (`gdb -nx -batch ... FILE` with no target, same median) to weigh it. A second row gives
the cost of one cpubound round from a two-point fit, (wall at ROUNDS - wall at ROUNDS/10) /
(ROUNDS - ROUNDS/10), both sides measured the same way at both points in one round-robin
loop: the fixed costs (elfkit's and gdb's start-up, the connection) cancel out, leaving what
`continue` does to the emulation itself (same goal).

(2) `target remote` to the first breakpoint in main, python3: Debian's /usr/bin/python3 is
stripped and has no `main` symbol (`break main` is refused there, as in every debugger), so
the breakpoint goes on `Py_BytesMain`, the exported function its main() calls first thing
(`nm -D /usr/bin/python3`). The server starts first and is left to get ready, untimed (elfkit:
its "waiting for gdb" line; gdbserver: `gdbserver --once 127.0.0.1:P /usr/bin/python3`, its
"Listening on port P" line; qemu-user: `qemu-x86_64 -g P /usr/bin/python3`, its socket in
LISTEN state in /proc/net/tcp, as its stub accepts one connection only), P a free port found
by binding port 0 and closing the socket; elfkit uses PORT 0 itself. Then the measured part:
the whole run of `gdb ... -ex 'target remote 127.0.0.1:P' -ex 'break Py_BytesMain' -ex
continue -ex kill /usr/bin/python3`, from gdb's start to its exit, nothing subtracted: gdb's
start-up and symbol reading, the connection, the stop at the first instruction (ld.so's
entry), the libraries read through the connection, ld.so's run up to Py_BytesMain, gdb's
"Breakpoint 1, ... in Py_BytesMain ()" (checked) and the `kill`. One row compares elfkit with
gdbserver, one with qemu-user; the issue sets no number for them. qemu-user 7.2's stub offers
neither file access (vFile) nor the library list (qXfer:libraries-svr4), so against it gdb
reads no ld.so and no shared library at all (it shows the first stop as `?? ()`): that
session does less work than the other two.

How: the runs of one table go round-robin (plain, --gdb, plain, ..., at both points; elfkit, gdbserver,
qemu-user, elfkit, ...), one checked warm-up run of each first (plain and --gdb must print the
same and exit 0; each python3 session must stop at Py_BytesMain; else the row says why), then
RUNS timed rounds; medians. Every process has a timeout and is killed (by its pid) on failure;
a peer that is not installed leaves its row with a note instead of a time.

Knobs (environment): ELFKIT_BENCH_RUNS (timed rounds, default 5), ELFKIT_BENCH_GDB_ROUNDS
(cpubound-static's rounds, default 40), ELFKIT_BENCH_TIMEOUT (seconds per session, default
120). Run alone: `python benchmarks/bench_gdb.py` (measures, then replaces this section of
BENCH.md and leaves the others as they were).
"""
from __future__ import annotations

import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_run import RunRow  # noqa: E402
from harness import env_number, timed_run  # noqa: E402



RUNS = int(env_number("ELFKIT_BENCH_RUNS", 5))          # each run takes seconds: medians of 5
ROUNDS = int(env_number("ELFKIT_BENCH_GDB_ROUNDS", 40))
TIMEOUT_S = env_number("ELFKIT_BENCH_TIMEOUT", 120)
CONTINUE_GOAL = "<= 1.05x plain run"
FIXTURE = "fixtures/build/cpubound-static"           # commands run from TOP, paths relative
PYTHON = "/usr/bin/python3"
PY_BREAK = "Py_BytesMain"
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C", "HOME": "/nonexistent"}
GDB = shutil.which("gdb")
ELFKIT_LINE = rb"waiting for gdb on 127\.0\.0\.1:(\d+)"


def _elfkit() -> str:
    return os.path.join(os.path.dirname(sys.executable), "elfkit")


def gdb_cmd(port: int | str | None, commands: list[str], program: str) -> list[str]:
    argv = ["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off",
            "-iex", "set confirm off"]
    if port is not None:
        argv += ["-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        argv += ["-ex", c]
    return argv + [program]


def free_port() -> int:
    """A port free just now: bound to port 0 (the kernel picks), then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    """Whether a TCP socket listens on 127.0.0.1:port or *:port (/proc/net/tcp: no connection
    made, as qemu-user's stub would take a probe for gdb and then close its port)."""
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                addr, hexport = fields[1].split(":")
                if fields[3] == "0A" and int(hexport, 16) == port and \
                        addr in ("0100007F", "00000000"):
                    return True
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return False


class Server:
    """A gdb stub process (elfkit --gdb, gdbserver, qemu-user -g): started, waited for until it
    listens, then killed by its pid if it outlives the session."""

    def __init__(self, argv: list[str], ready: str, port: int | None = None):
        self.argv, self.ready, self.port = argv, ready, port
        self.proc: subprocess.Popen | None = None
        self.err = b""
        self.out = b""                            # the program's stdout (elfkit's)
        self._out_reader: threading.Thread | None = None
        self._out: list[bytes] = []
        self.inferior: int | None = None          # gdbserver's child
        self._reader: threading.Thread | None = None
        self._chunks: list[bytes] = []

    def start(self) -> float:
        """Start it and wait until it listens: the seconds from its start to then."""
        t = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, cwd=TOP, env=ENV, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._out_reader = threading.Thread(
            target=lambda f=self.proc.stdout: self._out.extend(iter(lambda: f.read(4096), b"")),
            daemon=True)
        self._out_reader.start()
        deadline = time.monotonic() + TIMEOUT_S
        if self.ready in ("elfkit", "gdbserver"):
            pattern = ELFKIT_LINE if self.ready == "elfkit" else rb"Listening on port (\d+)"
            while True:
                line = self._readline(deadline)
                if not line:
                    raise RuntimeError(f"no port line: {self._tail()}")
                self._chunks.append(line)
                m = re.search(rb"created; pid = (\d+)", line)
                if m:
                    self.inferior = int(m.group(1))
                m = re.search(pattern, line)
                if m:
                    self.port = int(m.group(1))
                    break
            self._drain()
        else:                                   # qemu-user: says nothing; its socket listens
            self._drain()
            while not _listening(self.port):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"exited ({self.proc.returncode}): {self._tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError("timed out waiting for its port")
                time.sleep(0.002)
        return time.perf_counter() - t

    def _readline(self, deadline: float) -> bytes:
        """One line of stderr, or b"" at its end or at the deadline (the process killed)."""
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), self.kill)
        timer.start()
        try:
            return self.proc.stderr.readline()
        finally:
            timer.cancel()

    def _drain(self):
        def read():
            for chunk in iter(lambda: self.proc.stderr.read(4096), b""):
                self._chunks.append(chunk)
        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def _tail(self) -> str:
        text = b"".join(self._chunks).decode(errors="replace").strip().splitlines()
        return text[-1][:160] if text else ""

    def wait(self, timeout: float = TIMEOUT_S) -> int | None:
        """Its exit status (None: killed after `timeout`)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.inferior is not None:           # left behind when gdbserver dies before it
            try:
                os.kill(self.inferior, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.inferior = None

    def close(self):
        self.kill()
        for reader in (self._reader, self._out_reader):
            if reader is not None:
                reader.join(5)
        if self.proc is not None:
            for f in (self.proc.stdout, self.proc.stderr):
                if f is not None:
                    f.close()
        self.err = b"".join(self._chunks)
        self.out = b"".join(self._out)


# --- (1) continue with no breakpoints ---------------------------------------------------------

def plain_cmd(rounds: int = ROUNDS) -> list[str]:
    return [_elfkit(), "load-and-run", "--cpus", "1", FIXTURE, str(rounds)]


def gdb_server_cmd(program: str, args: list[str]) -> list[str]:
    return [_elfkit(), "load-and-run", "--gdb", "0", program, *args]


def plain_run(rounds: int) -> tuple[float, str, bytes]:
    """(seconds, "" or why it failed, the program's output) of one plain run."""
    seconds, status, out, err = timed_run(plain_cmd(rounds), capture=True, timeout=TIMEOUT_S,
                                          cwd=TOP, env=ENV)
    if status != 0:
        return math.nan, f"plain run: exit {status}: {_last(err)}", out
    return seconds, "", out


def continue_run(rounds: int) -> tuple[float, str, bytes]:
    """(seconds from elfkit's start to its exit, "" or why it failed, the program's output)
    of one --gdb run driven by `gdb -ex continue`."""
    t = time.perf_counter()
    server = Server(gdb_server_cmd(FIXTURE, [str(rounds)]), "elfkit")
    try:
        server.start()
        _, gdb_status, out, err = timed_run(gdb_cmd(server.port, ["continue"], FIXTURE),
                                            capture=True, timeout=TIMEOUT_S, cwd=TOP, env=ENV)
        status = server.wait()
        seconds = time.perf_counter() - t
    except (OSError, RuntimeError) as e:
        return math.nan, f"--gdb run: {e}", b""
    finally:
        server.close()
    text = (out + err).decode(errors="replace")
    if status != 0 or gdb_status != 0 or "exited normally" not in text:
        return math.nan, f"--gdb run: elfkit exit {status}, gdb exit {gdb_status}: " + \
            _last(server.err or (out + err)), server.out
    return seconds, "", server.out


def continue_rows() -> list[RunRow]:
    low = max(1, ROUNDS // 10)
    runs = {("plain", ROUNDS): plain_run, ("gdb", ROUNDS): continue_run,
            ("plain", low): plain_run, ("gdb", low): continue_run}
    failed, printed = {}, {}
    for (name, n), run in runs.items():         # the warm-up: a checked run of each
        _, why, printed[name, n] = run(n)
        if why:
            failed.setdefault(name, why)
    for n in (ROUNDS, low):
        if not failed and printed["gdb", n] != printed["plain", n]:
            failed["gdb"] = f"--gdb run at {n} rounds printed {_last(printed['gdb', n])!r}, " \
                f"not {_last(printed['plain', n])!r}"
    times = {k: [] for k in runs}
    alone = []
    gdb_alone = gdb_cmd(None, [], FIXTURE)
    for _ in range(RUNS):
        for (name, n), run in runs.items():
            if name not in failed:
                times[name, n].append(run(n)[0])
        alone.append(timed_run(gdb_alone, timeout=TIMEOUT_S, cwd=TOP, env=ENV)[0])
    med = {k: _median(v) for k, v in times.items()}
    mine, peer = med["gdb", ROUNDS], med["plain", ROUNDS]
    shown = gdb_server_cmd(FIXTURE, [str(ROUNDS)]) + ["+", *gdb_cmd("P", ["continue"], FIXTURE)]
    note = [f"medians of {RUNS} runs; --cpus 1 on both sides (--gdb forces one CPU); the --gdb time includes gdb's "
            f"start-up, {statistics.median(alone):.3f} s alone (`gdb -nx -batch ... FILE`, no "
            "target)", *failed.values()]
    rows = [RunRow(f"continue with no breakpoints, `cpubound-static {ROUNDS}` under --gdb "
                   "(elfkit's start to its exit)", shown, plain_cmd(),
                   "plain run" if peer is not None else "plain run (failed)",
                   elfkit_s=mine if mine is not None else math.nan, peer_s=peer,
                   goal=CONTINUE_GOAL, note="; ".join(note))]

    def per_round(name):
        hi, lo = med[name, ROUNDS], med[name, low]
        return None if hi is None or lo is None else (hi - lo) / (ROUNDS - low) * 1e3
    ours, theirs = per_round("gdb"), per_round("plain")
    fit = f"medians of {RUNS} runs; " + "; ".join(f"{name} {med[name, ROUNDS]:.3f} s at {ROUNDS} rounds, "
                    f"{med[name, low]:.3f} s at {low}"
                    for name in ("gdb", "plain") if per_round(name) is not None)
    rows.append(RunRow(f"continue with no breakpoints, per cpubound round ((wall at {ROUNDS} - "
                       f"wall at {low}) / {ROUNDS - low}: start-up, gdb and the connection "
                       "cancel out)", shown, plain_cmd(),
                       f"{theirs:.3g} ms/round (plain run)" if theirs is not None
                       else "plain run (failed)",
                       elfkit_s=ours if ours is not None else math.nan, peer_s=None,
                       unit="ms/round", goal=CONTINUE_GOAL,
                       note="; ".join([fit, *failed.values()]),
                       extra={"peer_value": theirs}))
    return rows


# --- (2) target remote to the first breakpoint, python3 ----------------------------------------

PY_COMMANDS = [f"break {PY_BREAK}", "continue", "kill"]


def servers() -> dict[str, tuple[list[str] | None, str]]:
    """name -> (the server's argv with PORT for the port, or None and why it is missing)."""
    out = {"elfkit": (gdb_server_cmd(PYTHON, []), "")}
    gs = shutil.which("gdbserver")
    out["gdbserver"] = (["gdbserver", "--once", "127.0.0.1:PORT", PYTHON], "") if gs else \
        (None, "gdbserver not installed (Debian: gdbserver)")
    qemu = shutil.which("qemu-x86_64")
    out["qemu-user"] = (["qemu-x86_64", "-g", "PORT", PYTHON], "") if qemu else \
        (None, "qemu-x86_64 not installed (Debian: qemu-user)")
    return out


def python_session(name: str, argv: list[str]) -> tuple[float, float, str]:
    """(seconds of the gdb run, seconds the server took to listen, "" or why it failed)."""
    port = None if name == "elfkit" else free_port()
    argv = [a.replace("PORT", str(port)) for a in argv]
    ready = {"elfkit": "elfkit", "gdbserver": "gdbserver"}.get(name, "port")
    server = Server(argv, ready, port)
    try:
        startup = server.start()
        seconds, gdb_status, out, err = timed_run(gdb_cmd(server.port, PY_COMMANDS, PYTHON),
                                                  capture=True, timeout=TIMEOUT_S, cwd=TOP,
                                                  env=ENV)
        server.wait(timeout=30)
    except (OSError, RuntimeError) as e:
        return math.nan, math.nan, f"{name}: {e}"
    finally:
        server.close()
    text = (out + err).decode(errors="replace")
    if gdb_status != 0 or not re.search(rf"Breakpoint 1, 0x[0-9a-f]+ in {PY_BREAK} \(\)", text):
        return math.nan, math.nan, f"{name}: gdb exit {gdb_status}, no stop at {PY_BREAK}: " + \
            _last(out + err)
    return seconds, startup, ""


def python_rows() -> list[RunRow]:
    found = servers()
    ok = {k: argv for k, (argv, _) in found.items() if argv is not None}
    failed = {}
    for name, argv in ok.items():                # the checked warm-up
        _, _, why = python_session(name, argv)
        if why:
            failed[name] = why
    times = {k: [] for k in ok if k not in failed}
    ready = {k: [] for k in times}
    for _ in range(RUNS):
        for name in times:
            seconds, startup, why = python_session(name, ok[name])
            if why:                               # a timed run failing: left out, said so
                failed.setdefault(name, why)
                continue
            times[name].append(seconds)
            ready[name].append(startup)
    med = {k: _median(v) for k, v in times.items()}
    rdy = {k: _median(v) for k, v in ready.items()}
    mine = med.get("elfkit")

    def shown(name):
        argv = found[name][0] or [name, "..."]
        return [a.replace("PORT", "P") for a in argv] + ["+", *gdb_cmd("P", PY_COMMANDS, PYTHON)]

    rows = []
    for peer in ("gdbserver", "qemu-user"):
        argv, missing = found[peer]
        notes = [f"medians of {RUNS} runs; breakpoint on {PY_BREAK} (python3 has no `main` symbol); the whole gdb run, "
                 "its start-up and `kill` included; the server's time to listen, untimed: " +
                 ", ".join(f"{k} {v:.3f} s" for k, v in rdy.items() if v is not None)]
        if peer == "qemu-user" and not missing:
            notes.append("qemu-user's stub offers no file access nor library list: gdb reads "
                         "no shared library there")
        notes += [failed[k] for k in ("elfkit", peer) if k in failed]
        if missing:
            notes.append(f"left out: {missing}")
        theirs = med.get(peer)
        peer_name = peer if theirs is not None else \
            f"{peer} ({'missing' if missing else 'failed'})"
        rows.append(RunRow(f"`target remote` to the first breakpoint in main, python3, vs {peer}",
                           shown("elfkit"), shown(peer) if argv else None, peer_name,
                           elfkit_s=mine if mine is not None else math.nan, peer_s=theirs,
                           goal="(no goal in the issue)", note="; ".join(notes)))
    return rows


# --- helpers and the module's entry points ---------------------------------------------------

def _median(values: list[float]) -> float | None:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else None


def _last(data: bytes) -> str:
    lines = [ln for ln in data.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip()[:160] if lines else "(no output)"


def rows():
    if GDB is None:
        row = RunRow("load-and-run --gdb", [_elfkit(), "load-and-run", "--gdb", "0", "FILE"],
                     None, "gdb", elfkit_s=math.nan, peer_s=None,
                     note="left out: gdb not installed")
        return [row]
    return continue_rows() + python_rows()


def main() -> None:
    """Measure, then replace this module's section of BENCH.md alone (run.run_alone)."""
    import run
    run.run_alone("bench_gdb", __doc__, rows, "gdb")


if __name__ == "__main__":
    main()
