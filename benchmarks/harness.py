"""Side-by-side wall-clock measurement: elfkit and its peer, alternated in one run, as a ratio."""
from __future__ import annotations

import os
import platform
import shlex
import statistics
import subprocess
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


def wall(cmd: list[str], runs: int, env=None, stdin=None) -> float:
    """Median wall time of `cmd` over `runs` runs, stdout discarded."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                       stdin=stdin or subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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


def cmdline(cmd) -> str:
    """The command as a reader would type it (the venv's elfkit shown as `elfkit`)."""
    shown = ["elfkit" if c.endswith("/bin/elfkit") else c for c in cmd]
    return " ".join(shlex.quote(c) for c in shown)
