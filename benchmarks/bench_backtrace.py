"""backtrace (issue 16, "Fast"): the cost of a fault report's backtrace, from the fault to the
last line made, for a crash about 30 frames deep through a library, ld.so, libc, libffi,
python3's _ctypes and the interpreter: `python3 -c "import ctypes; ctypes.CDLL(LIB)"`, where
LIB (built here: `gcc -shared -fPIC -g`) has a constructor that stores to address 0, so the
fault happens inside ld.so's `_dl_init`, under libc's `dlopen`. Goal: at most 0.5 s.

elfkit: `load-and-run` runs in-process and the report's backtrace call
(elfkit.debug.unwind.task_backtrace: reading each object's CFI, symbols and DWARF, unwinding,
symbolizing) is timed alone, nothing read before the fault. Peer: gdb on the same program run
natively, its `bt` after the SIGSEGV stop timed by gdb's own Python (`gdb.execute('bt',
to_string=True)` between two time.perf_counter() reads), nothing of it read before either; gdb
reads the same debug files (libc6-dbg) and names frames from the same DWARF, with arguments.
Medians of RUNS runs each (ELFKIT_BENCH_RUNS, default 5).
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from harness import Row, env_int

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
PYTHON = "/usr/bin/python3"
CRASH = "__attribute__((constructor)) static void crash(void) { *(volatile int *)0 = 1; }\n"
INNER = r"""
import sys, time
sys.path.insert(0, {root!r})
import elfkit.debug.unwind as u
took, frames = [], []
real = u.task_backtrace
def timed(task):
    t = time.perf_counter()
    out = real(task)
    took.append(time.perf_counter() - t)
    frames.append(len(out))
    return out
u.task_backtrace = timed
import elfkit.cli.run as run_cli
def survive(sig):                            # (elfkit would die by the guest's signal)
    raise SystemExit(128 + sig)
run_cli.die_by_signal = survive
from elfkit.cli.main import main
sys.argv = ["elfkit", "load-and-run", {python!r}, "-c", "import ctypes; ctypes.CDLL({lib!r})"]
try:
    main()
except SystemExit:
    pass
print("TIMED", took[0] if took else -1, frames[0] if frames else 0, file=sys.__stdout__)
"""


def _library() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    src, lib = OUT / "bt_crash.c", OUT / "libbtcrash.so"
    src.write_text(CRASH)
    # built in OUT from relative names, the repository's path mapped to "." in the DWARF
    # (DW_AT_comp_dir): no file `make bench` writes carries the machine's absolute paths
    subprocess.run(["gcc", "-shared", "-fPIC", "-g", "-O0", f"-fdebug-prefix-map={ROOT}=.",
                    "-o", lib.name, src.name], check=True, cwd=OUT)
    return lib


def _elfkit_once(lib: Path) -> tuple[float, int]:
    code = INNER.format(root=str(ROOT), python=PYTHON, lib=str(lib))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=ROOT)
    for line in r.stdout.splitlines():
        if line.startswith("TIMED "):
            _, s, n = line.split()
            return float(s), int(n)
    raise RuntimeError(f"no backtrace timed: {r.stderr[-400:]}")


GDB_TIMED_BT = ("python import time; t = time.perf_counter(); s = gdb.execute('bt', "
                "to_string=True); print('BT', time.perf_counter() - t, s.count(chr(10)))")


def _gdb_once(lib: Path) -> float:
    cmd = ["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off", "-ex", "run",
           "-ex", GDB_TIMED_BT, "--args", PYTHON, "-c", f"import ctypes; ctypes.CDLL({str(lib)!r})"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    for line in out.splitlines():
        if line.startswith("BT "):
            return float(line.split()[1])
    raise RuntimeError("gdb printed no BT line")


def rows():
    runs = env_int("ELFKIT_BENCH_RUNS", 5)
    what = "backtrace of a fault ~30 frames deep (library constructor, ld.so, libc, libffi, python3)"
    elfkit_cmd = ["elfkit", "load-and-run", PYTHON, "-c", "import ctypes; ctypes.CDLL(LIB)"]
    if not os.path.exists(PYTHON) or not shutil.which("gcc"):
        return [Row(what, elfkit_cmd, None, "", note="left out: needs /usr/bin/python3 and gcc")]
    lib = _library()
    mine, frames, theirs = [], 0, []
    for _ in range(runs):                      # round-robin: elfkit, gdb
        s, frames = _elfkit_once(lib)
        mine.append(s)
        if shutil.which("gdb"):
            theirs.append(_gdb_once(lib))
    row = Row(what, elfkit_cmd, ["gdb", "-batch", "-ex", "run", "-ex", "python ... bt ...",
                                 "--args", PYTHON, "-c", "..."], "gdb's bt", goal="<= 0.5 s",
              note=f"{frames} frame lines; both: the backtrace alone, timed in-process")
    row.elfkit_s = statistics.median(mine)
    if theirs:
        row.peer_s = statistics.median(theirs)
    return [row]


def main() -> None:
    """Measure, then replace this module's section of BENCH.md alone (run.run_alone)."""
    import run
    run.run_alone("bench_backtrace", __doc__, rows, "backtrace")


if __name__ == "__main__":
    main()
