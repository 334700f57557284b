"""addr2line (issue 16, "Fast"): `elfkit inspect LIBC --addr -` symbolizing 10,000 random
addresses of libc's .text (seed 16, one per line on stdin) against its separate debug file
(libc6-dbg's /usr/lib/debug/.build-id/...), with -f -i's answer (function, file:line, inlined
frames), against binutils `addr2line -f -i -e LIBC` and elfutils `eu-addr2line -f -i -e LIBC`
reading the same addresses. Goal: no slower than eu-addr2line (ratio <= 1.0 on its row).

Every compile unit an address falls in is decoded (its DIEs' scopes and its line program):
10,000 random addresses touch about 1,100 of libc's 2,063 units, so this is close to decoding
the whole line table, in one process, from a cold start (Python's start-up included).
"""
from __future__ import annotations

import os
import random
import shlex
import shutil
import sys
from pathlib import Path

from harness import Row, env_int, measure_pair

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
COUNT = 10_000
SEED = 16


def _addresses() -> Path:
    sys.path.insert(0, str(ROOT))
    from elfkit.elf import ElfFile
    with ElfFile.open(LIBC) as elf:
        text = elf.section_by_name(".text")
        lo, hi = text.addr, text.addr + text.size
    rng = random.Random(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "addr2line-libc.txt"
    path.write_text("".join(f"{rng.randrange(lo, hi):#x}\n" for _ in range(COUNT)))
    return path


def _shell(cmd: list[str], stdin: Path) -> list[str]:
    return ["sh", "-c", f"{shlex.join(cmd)} < {shlex.quote(str(stdin))} > /dev/null"]


def rows():
    elfkit = os.path.join(os.path.dirname(sys.executable), "elfkit")
    runs = env_int("ELFKIT_BENCH_RUNS", 3)
    if not os.path.exists(LIBC):
        return [Row("addr2line on libc", [elfkit], None, f"{LIBC} not found")]
    addrs = _addresses()
    mine = _shell([elfkit, "inspect", LIBC, "--addr", "-"], addrs)
    out = []
    for tool, name in (("addr2line", "binutils addr2line -f -i"),
                       ("eu-addr2line", "elfutils eu-addr2line -f -i")):
        goal = "<= 1.0x" if tool == "eu-addr2line" else ""
        what = f"{COUNT} random libc .text addresses vs {tool}"
        if not shutil.which(tool):
            out.append(Row(what, mine, None, f"{tool} not installed", goal=goal))
            continue
        peer = _shell([tool, "-f", "-i", "-e", LIBC], addrs)
        out.append(measure_pair(Row(what, mine, peer, name, goal=goal), runs=runs))
    return out


def main() -> None:
    """Measure, then replace this module's section of BENCH.md alone (run.run_alone)."""
    import run
    run.run_alone("bench_addr2line", __doc__, rows, "addr2line")


if __name__ == "__main__":
    main()
