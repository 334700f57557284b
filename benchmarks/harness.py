"""Side-by-side wall-clock measurement: elfkit and its peer, alternated in one run, as a ratio."""
from __future__ import annotations

import os
import platform
import re
import shlex
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Row:
    what: str
    elfkit_cmd: list[str]
    peer_cmd: list[str] | None
    peer_name: str
    elfkit_s: float = 0.0
    peer_s: float | None = None
    goal: str = ""
    note: str = ""
    unit: str = "s wall (median)"
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.peer_s is None or not self.peer_s:
            return None
        return self.elfkit_s / self.peer_s


def env_number(name: str, default: float, low: float = 1.0) -> float:
    """A knob from the environment (ELFKIT_BENCH_*): a number, at least `low`; `default` when
    it is unset or not a number."""
    try:
        return max(low, float(os.environ.get(name, default)))
    except ValueError:
        return default


def env_int(name: str, default: int, low: int = 1) -> int:
    return int(env_number(name, default, low))


def timed_run(cmd: list[str], *, capture: bool = False, timeout: float | None = None,
              cwd=None, env=None, stdin=None) -> tuple[float, int | None, bytes, bytes]:
    """Run `cmd` once: (wall seconds, exit status or None if the timeout killed it, stdout,
    stderr). The wait blocks in waitpid: subprocess's own timeout polls with sleeps of up to
    50 ms, which rounded every measured time up to its next poll."""
    pipe = subprocess.PIPE if capture else subprocess.DEVNULL
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=stdin or subprocess.DEVNULL,
                            stdout=pipe, stderr=pipe)
    killed = threading.Event()

    def kill():
        killed.set()
        proc.kill()
    timer = threading.Timer(timeout, kill) if timeout else None
    if timer is not None:
        timer.start()
    try:
        out, err = proc.communicate()
    finally:
        if timer is not None:
            timer.cancel()
    seconds = time.perf_counter() - t
    return seconds, None if killed.is_set() else proc.returncode, out or b"", err or b""


def wall(cmd: list[str], runs: int, env=None, stdin=None) -> float:
    """Median wall time of `cmd` over `runs` runs, stdout discarded."""
    return statistics.median(timed_run(cmd, env=env, stdin=stdin)[0] for _ in range(runs))


def measure_pair(row: Row, runs: int = 5, env=None):
    """Alternate elfkit and peer runs so machine noise hits both alike."""
    mine, theirs = [], []
    wall(row.elfkit_cmd, 1, env)           # warm the page cache for both
    if row.peer_cmd:
        wall(row.peer_cmd, 1, env)
    for _ in range(runs):
        mine.append(wall(row.elfkit_cmd, 1, env))
        if row.peer_cmd:
            theirs.append(wall(row.peer_cmd, 1, env))
    row.elfkit_s = statistics.median(mine)
    row.peer_s = statistics.median(theirs) if theirs else None
    return row


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The repository's absolute path as it may appear in text (also through a symbolic link): not
# preceded by a path character, and either followed by `/REST` or not by a name character
# (so /work/main2 is not /work/main).
_TOPS = sorted({TOP, os.path.realpath(TOP)}, key=len, reverse=True)
_TOP_RE = re.compile(r"(?<![\w.+~/-])(?:" + "|".join(re.escape(t) for t in _TOPS) +
                     r")(?:(?P<rest>/[^\s'\"`|;:,()\[\]<>]*)|(?![\w.+-]))")


def repo_relative(text: str) -> str:
    """`text` with every path inside the repository written relative to the repository's top
    (the top itself as `.`), wherever it occurs: a whole command argument, `--opt=PATH`, a path
    inside a `sh -c` script, an error message in a note. Paths outside the repository
    (/usr/bin/python3, /usr/lib/...) stay as they are. Everything `make bench` writes goes
    through this: BENCH.md must carry no path of this machine."""
    def rel(m: re.Match) -> str:
        rest = (m.group("rest") or "").lstrip("/")
        return rest or "."
    return _TOP_RE.sub(rel, text)


def cmdline(cmd) -> str:
    """The command as a reader would type it from the repository's top (the venv's elfkit shown
    as `elfkit`, paths inside the repository relative to it: no path of this machine)."""
    shown = ["elfkit" if c.endswith("/bin/elfkit") else repo_relative(c) for c in map(str, cmd)]
    return " ".join(shlex.quote(c) for c in shown)
