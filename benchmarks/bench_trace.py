"""trace-plt's cost: against plain load-and-run on a CPU-bound program that calls through the
PLT (goal: at most 1.1x), and the cost of each call counted with --calls."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness import Row, measure_pair

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
MANY_CALLS = 200_000
SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 0, s = 0;
    for (long i = 0; i < n; i++)
        s += labs(i - n / 2);          /* one call through the PLT each time */
    printf("%ld\n", s);
    return 0;
}
"""


def many_calls_program() -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    src, exe = OUT / "pltloop.c", OUT / "pltloop"
    src.write_text(SOURCE)
    # compiled in OUT by relative names, so no path of this machine goes into the program
    subprocess.run(["gcc", "-O1", "-fno-builtin", "-Wl,-z,lazy", "-o", exe.name, src.name],
                   cwd=OUT, check=True)
    return str(exe)


def rows():
    elfkit = os.path.join(os.path.dirname(sys.executable), "elfkit")
    cpu = str(ROOT / "fixtures" / "build" / "cpubound")
    loop = many_calls_program()
    base = measure_pair(Row("trace-plt vs load-and-run, `cpubound 10` (CPU-bound, PLT calls)",
                            [elfkit, "trace-plt", "-o", "/dev/null", cpu, "10"],
                            [elfkit, "load-and-run", cpu, "10"], "load-and-run", goal="<= 1.1x"))
    with_calls = measure_pair(Row(f"--calls, {MANY_CALLS} calls of labs@plt",
                                  [elfkit, "trace-plt", "--calls", "-o", "/dev/null", loop,
                                   str(MANY_CALLS)],
                                  [elfkit, "trace-plt", "-o", "/dev/null", loop, str(MANY_CALLS)],
                                  "trace-plt without --calls"))
    per_call = (with_calls.elfkit_s - with_calls.peer_s) / MANY_CALLS * 1e6
    with_calls.note = f"{per_call:.2f} us per counted call"
    return [base, with_calls]
