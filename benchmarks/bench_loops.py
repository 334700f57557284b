"""Tight loops under `elfkit load-and-run` (issue 12, "Tight loops"): a loop of five instructions
per translated block and a `switch`-based bytecode interpreter, against qemu-user (Debian's
`qemu-x86_64`) and native.

fixtures/build/aluloop N (fixtures/src/aluloop.c, static): one block -- `xor`, `add`, `imul`,
`cmp`, `jl` -- run N times (N = 10^9). fixtures/build/stackvm N (fixtures/src/stackvm.c,
static): a stack VM running a fixed program (a hash loop with a data-dependent branch) for N
dispatched instructions (N = 1.5*10^8); each is a load of the instruction, a bounds check, an
indirect jump through gcc's jump table (QEMU's lookup_and_goto_ptr: no chaining) and a handler
of a few instructions that loads and stores the VM's stack. Neither makes a system call in its
loop. Each runs natively, under qemu-user, under elfkit, and under elfkit with Unicorn's own
per-block exit check kept (`ELFKIT_EXIT_CHECK=call`, what elfkit did before: the "before"
row), every one at N and at N/10 in one round-robin loop (bench_run.measure: a checked run of
each first -- the output must be native's -- then RUNS timed rounds; medians). The "whole run"
rows give the wall time at N, elfkit's start-up (~0.15 s) included; the "per iteration" rows
the cost of one pass, (wall at N - wall at N/10) / (0.9 N), so start-up cancels out.

Where a block's time went (perf record of both on the same binary, `perf annotate` of the JIT
code dumped from elfkit's process, qemu-x86_64 -d in_asm,out_asm -D FILE). The aluloop block
is the same 23 host instructions in Unicorn 2.1.4 and qemu-user 7.2 (each guest register loaded
from env and stored back) but for its head: QEMU tests `cpu->neg.icount_decr` inline (`mov
-8(%rbp),%ebx; test; jl`), Unicorn's gen_tb_start calls helper_check_exit_request (`movabs
$uc,%rdi; xor %esi,%esi; call`; in the helper two dependent loads, a test, a `ret`) in every
block. Before: 34-56% of elfkit's samples in that helper, 33-37% in the block (qemu-user: 98%
in the block), 2.0-2.6x qemu-user per iteration. elfkit now rewrites that head of each block
once translated into QEMU's test (elfkit/kernel/exitcheck.py; docs/ARCHITECTURE.md, "Unicorn,
as far as we know it"): 84% of the samples in the block, 1.3% in libunicorn, the rest Python's
start-up. (cpubound-static 40, pinned to one CPU: 1.54 s -> 1.12 s; qemu-user 1.07 s.)

What is left is inside Unicorn, and shows in stackvm (pinned to one CPU, per step): its
translated code takes 7.4-7.9 ns against qemu-user's 3.6-4.5 ns, as every guest load and
store goes through the soft TLB (a handler like XOR does three look-ups inline where qemu-user
does `mov (%r12),%r12`); its run-time 6.5-7.3 ns against 5.1-6.1 ns: helper_lookup_tb_ptr, the
indirect jump's look-up, is 28% of elfkit's samples and tb_htable_lookup + qht_lookup_custom +
tb_lookup_cmp another 6.5%, because Unicorn hashes its jump cache as QEMU's system mode does
(64 slots for the blocks of one page: here the SHR and JMP handlers, 0x4017e2 and 0x401721,
evict each other), where qemu-user's hash keeps both. A user-mode jump-cache hash in Unicorn
would save those 6.5%; the soft TLB is the price of a system-mode emulator with real page
tables. The machine these figures come from is shared (2 cores, other jobs running; two
runs of this table gave 1.11x and 1.40x per aluloop iteration, 1.55x and 1.49x per stackvm
step): pinned to one CPU (taskset), the same two-point fit gave 1.01-1.10x qemu-user for
aluloop and 1.26-1.42x for stackvm.

Knobs (environment): ELFKIT_BENCH_RUNS (timed rounds, default 3), ELFKIT_BENCH_ALULOOP_N
(default 1000000000), ELFKIT_BENCH_STACKVM_N (default 150000000), ELFKIT_BENCH_LOOPS_SCALE
(multiplies both, e.g. 0.1 for a quick run), ELFKIT_BENCH_TIMEOUT (seconds per run, default
600). qemu-x86_64 comes from Debian's qemu-user package; when it is missing its rows say so.
Run alone: `python benchmarks/bench_loops.py` (measures, then replaces this section of
BENCH.md and leaves the others as they were).
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_run import BUILD, Prog, RunRow, _nan, _run_once, measure, programs  # noqa: E402
from harness import env_number  # noqa: E402



SCALE = env_number("ELFKIT_BENCH_LOOPS_SCALE", 1.0, 0.0) or 1.0
ALULOOP_N = max(10, int(env_number("ELFKIT_BENCH_ALULOOP_N", 1_000_000_000, 0.0) * SCALE))
STACKVM_N = max(10, int(env_number("ELFKIT_BENCH_STACKVM_N", 150_000_000, 0.0) * SCALE))
GOAL = 1.5                  # x qemu-user
CALL_ENV = "ELFKIT_EXIT_CHECK=call"


def _runners(fixture: str, n: int) -> list[Prog]:
    """elfkit, elfkit keeping Unicorn's exit-check call, qemu-user and native, at `n`."""
    progs = programs(fixture, [str(n)], ["qemu", "native"])
    me = progs[0]
    call = Prog("elfkit, Unicorn's exit-check call", ["env", CALL_ENV] + me.cmd)
    return [me, call] + progs[1:]


def _native_output(fixture: str, n: int) -> bytes | None:
    """What the fixture prints natively at `n` (every runner must print the same)."""
    _, rc, out, _ = _run_once([f"{BUILD}/{fixture}", str(n)], True)
    return out if rc == 0 else None


def loop_rows(fixture: str, n: int, what: str, unit: str) -> list[RunRow]:
    lo_n = max(1, n // 10)
    hi, lo = _runners(fixture, n), _runners(fixture, lo_n)
    for progs, count in ((hi, n), (lo, lo_n)):
        want = _native_output(fixture, count)
        for p in progs:
            p.expect = want
    for p in lo:
        p.name += f" N={lo_n}"
    measure(hi + lo, reference="")                # (outputs checked against `expect`)
    me, call, peers = hi[0], hi[1], hi[2:]
    rows = []

    def per_iteration(h: Prog, low: Prog) -> float | None:
        if not (h.ok and low.ok and h.times and low.times):
            return None
        return (h.median - low.median) / (n - lo_n) * 1e9

    def failed(p: Prog) -> str:
        return "" if p.ok else f"{p.name} failed: {p.why_not}"

    for mine, label in ((me, ""), (call, " (before: Unicorn's exit-check call kept, "
                                           f"`{CALL_ENV}`)")):
        for p in peers:
            if mine is call and p.name != "qemu-user":
                continue
            goal = f"<= {GOAL:g}x qemu-user" if p.name == "qemu-user" and mine is me else ""
            rows.append(RunRow(f"{what}, whole run{label}, vs {p.name}", mine.cmd, p.cmd,
                               p.name if p.ok else f"{p.name}: {p.why_not}",
                               elfkit_s=mine.median if mine.ok else _nan(), peer_s=p.median,
                               goal=goal, note=failed(mine)))
    lows = dict(zip((p.name for p in hi), lo))
    for mine, label in ((me, ""), (call, f" (before: `{CALL_ENV}`)")):
        ours = per_iteration(mine, lows[mine.name])
        for p in peers:
            if mine is call and p.name != "qemu-user":
                continue
            theirs = per_iteration(p, lows[p.name])
            shown = f"{theirs:.3g} {unit} ({p.name})" if theirs is not None else \
                f"{p.name}: {p.why_not or lows[p.name].why_not}"
            goal = f"<= {GOAL:g}x qemu-user" if p.name == "qemu-user" and mine is me else ""
            rows.append(RunRow(f"{what}, per {unit.split('/')[-1]}{label}, vs {p.name} "
                               f"((N - N/10) / 0.9 N)", mine.cmd, p.cmd, shown,
                               elfkit_s=ours if ours is not None else _nan(), peer_s=None,
                               unit=unit, goal=goal, note=failed(mine),
                               extra={"peer_value": theirs}))
    return rows


def rows():
    return (loop_rows("aluloop", ALULOOP_N, f"5-instruction ALU loop `aluloop {ALULOOP_N}`",
                      "ns/iteration") +
            loop_rows("stackvm", STACKVM_N, f"switch-based bytecode interpreter `stackvm "
                      f"{STACKVM_N}`", "ns/step"))


# --- running alone -----------------------------------------------------------------------------

def main() -> None:
    """Measure, then replace this section of BENCH.md (or add it where run.py would put it),
    leaving every other section as it is; the file is read and written only at the end."""
    import run
    from bench_threads import splice
    from harness import repo_relative
    print("== bench_loops", flush=True)
    table = rows()
    for r in table:
        _, mine, peer, ratio = run.row_cells(r)[:4]
        print(f"  {r.what}: elfkit {mine}, peer {peer}, ratio {ratio}", flush=True)
    ours = run.document(run.header() + run.section("bench_loops", __doc__, table))
    bench = TOP / "BENCH.md"
    old = bench.read_text() if bench.exists() else ""
    bench.write_text(repo_relative(splice(old, ours, "loops")) if old else ours)
    print("wrote the loops section of BENCH.md")


if __name__ == "__main__":
    main()
