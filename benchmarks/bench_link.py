"""link vs ld.bfd and ld.gold (issue 13, "Fast"): `elfkit link` against GNU ld (ld.bfd) and,
where it is installed, gold (ld.gold), each run directly with the same ld command line.

Links: (a) brotli 1.2.1's command-line tool, the largest link of issue 13: its 36 objects
(fixtures/build/brotli/obj/, `make -C fixtures brotli`) with -lm, crt1.o/crti.o/crtbeginT.o,
libc.a, libgcc.a and libgcc_eh.a as `gcc -static` passes them; (b) a glibc static hello
(fixtures/src/hello.c, compiled here with `gcc -O2 -c`), linked the same way; (c) the fixtures'
build/link/relocs (8 small objects, -nostdlib: `-static -e _start OBJECTS`, the Makefile's
ld.bfd line). For (a) and (b) the ld arguments are what gcc itself hands its linker: `gcc
-static -B DIR/ -o OUT OBJECTS [-lm]` is run once with a fake DIR/ld that records its argv
(ARGS in the table: -plugin options, --build-id, -m elf_x86_64, -static, the crt files, -L
directories, --start-group -lgcc -lgcc_eh -lc --end-group, ...); each linker then runs with
exactly those arguments, only the -o file differing (a temporary directory).

How: the linkers run round-robin (elfkit, ld.bfd, ld.gold, elfkit, ...), one warm-up run of each
(every linker must exit 0 there, else its row says why), then RUNS timed rounds; each reports
its median wall time. Goal: elfkit at most 3x ld.bfd's wall time; the gold rows are for
comparison only. Each note also gives elfkit's start-up alone (Python and its imports:
`elfkit link --version`, measured the same way), which every link pays. A link whose inputs
are missing (brotli not built) is left out with a note.

Knobs: ELFKIT_BENCH_RUNS (timed rounds, default 9). Run alone: `python
benchmarks/bench_link.py` (measures, then replaces this section of BENCH.md and leaves the
others as they were).
"""
from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness import Row, env_int, timed_run  # noqa: E402

TOP = HERE.parent
FIXTURES = TOP / "fixtures"
GOAL = "<= 3x ld.bfd"



RUNS = env_int("ELFKIT_BENCH_RUNS", 9)

RECORDER = '#!/bin/sh\nprintf \'%s\\0\' "$@" > "$ELFKIT_BENCH_LD_ARGV"\n'


def gcc_ld_argv(workdir: Path, gcc_args: list[str]) -> list[str]:
    """The argv (without argv[0]) `gcc -static` passes its ld for `gcc_args` (which hold
    `-o OUT`): gcc runs with -B pointing at a fake ld that writes its arguments down."""
    fake = workdir / "fakeld"
    fake.mkdir(exist_ok=True)
    (fake / "ld").write_text(RECORDER)
    (fake / "ld").chmod(0o755)
    record = workdir / "argv"
    env = dict(os.environ, ELFKIT_BENCH_LD_ARGV=str(record))
    r = subprocess.run(["gcc", "-B", f"{fake}/", *gcc_args], capture_output=True, text=True,
                       env=env)
    if r.returncode != 0 or not record.exists():
        raise RuntimeError(f"gcc {' '.join(gcc_args)}: {r.stderr.strip()[-300:]}")
    return record.read_bytes().decode().split("\0")[:-1]


def with_output(args: list[str], out: Path) -> list[str]:
    """`args` with the file after -o replaced by `out`."""
    i = args.index("-o")
    return args[:i + 1] + [str(out)] + args[i + 2:]


def linkers() -> dict[str, list[str]]:
    """The linkers to compare, name -> command prefix (elfkit first; ld.gold if installed)."""
    found = {"elfkit": [os.path.join(os.path.dirname(sys.executable), "elfkit"), "link"],
             "ld.bfd": ["ld.bfd"]}
    if shutil.which("ld.gold"):
        found["ld.gold"] = ["ld.gold"]
    return found


def round_robin(cmds: dict[str, list[str]], runs: int = RUNS) -> tuple[dict, dict]:
    """(median wall time of each command that succeeded, {name: why} of those that did not):
    one warm-up run of each (its exit status checked), then `runs` rounds in which every
    command runs once, in turn, so that machine noise hits them all alike."""
    failed = {}
    for name, cmd in cmds.items():
        _, status, _, err = timed_run(cmd, capture=True, timeout=600)
        if status != 0:
            failed[name] = f"{name} failed (status {status}): " + \
                (err.decode(errors="replace").strip().splitlines() or [""])[-1][:200]
    ok = {k: v for k, v in cmds.items() if k not in failed}
    times = {k: [] for k in ok}
    for _ in range(runs):
        for k, cmd in ok.items():
            times[k].append(timed_run(cmd)[0])
    return {k: statistics.median(v) for k, v in times.items()}, failed


def link_rows(what: str, args: list[str], shown: list[str], note: str,
              workdir: Path, startup: str = "") -> list[Row]:
    """Rows of one link: elfkit vs ld.bfd (the goal), elfkit vs ld.gold (for comparison).
    `args` is the ld command line (its -o replaced per linker), `shown` the arguments as the
    table shows them."""
    tools = linkers()
    cmds = {name: prefix + with_output(args, workdir / f"out-{name}")
            for name, prefix in tools.items()}
    t, failed = round_robin(cmds)
    inputs = sum(1 for a in args if a.endswith((".o", ".a")))
    base_note = f"{note}; {inputs} .o/.a on the command line" + startup
    out = []
    for peer in [n for n in tools if n != "elfkit"]:
        why = [failed[n] for n in ("elfkit", peer) if n in failed]
        row = Row(f"link {what}", ["elfkit", "link", *shown], [peer, *shown], peer,
                  goal=GOAL if peer == "ld.bfd" else "(comparison)",
                  note="; ".join([base_note, *why]))
        row.elfkit_s = t.get("elfkit", math.nan)
        row.peer_s = t.get(peer)
        if row.peer_s is None:
            row.peer_name = f"{peer} (failed)"
        elif math.isnan(row.elfkit_s):      # no ratio: the peer's time goes into the note
            row.note += f"; {peer} {row.peer_s:.3f} s"
            row.peer_s = None
        out.append(row)
    return out


def brotli_objects() -> list[Path]:
    return sorted((FIXTURES / "build" / "brotli" / "obj").glob("*/*.o"))


def rows():
    out = []
    t, _ = round_robin({"startup": linkers()["elfkit"] + ["--version"]})
    startup = (f"; elfkit's start-up alone (`elfkit link --version`) {t['startup']:.3f} s"
               if "startup" in t else "")
    with tempfile.TemporaryDirectory(prefix="elfkit-bench-link-") as tmp:
        work = Path(tmp)
        # (a) brotli
        objs = brotli_objects()
        if len(objs) >= 30:
            args = gcc_ld_argv(work, ["-static", "-o", str(work / "OUT"), *map(str, objs),
                                      "-lm"])
            out += link_rows("brotli 1.2.1 (`gcc -static -o OUT fixtures/build/brotli/obj/*/*.o"
                             " -lm`)", args, ["ARGS"],
                             f"ARGS: the {len(args)} arguments gcc passes its ld for "
                             f"{len(objs)} objects", work, startup)
        else:
            row = Row("link brotli 1.2.1", ["elfkit", "link", "ARGS"], None,
                      "ld.bfd", goal=GOAL,
                      note="left out: fixtures/build/brotli not built "
                           "(`make venv && make -C fixtures brotli`)")
            row.elfkit_s = math.nan
            out.append(row)
        # (b) glibc static hello
        hello_o = work / "hello.o"
        subprocess.run(["gcc", "-O2", "-c", "-o", str(hello_o), str(FIXTURES / "src" / "hello.c")],
                       check=True)
        args = gcc_ld_argv(work, ["-static", "-o", str(work / "OUT"), str(hello_o)])
        out += link_rows("glibc static hello (`gcc -static -o OUT hello.o`)", args, ["ARGS"],
                         f"ARGS: the {len(args)} arguments gcc passes its ld; hello.o from "
                         "`gcc -O2 -c fixtures/src/hello.c`", work, startup)
        # (c) the fixtures' build/link/relocs, -nostdlib
        relocs = FIXTURES / "build" / "link" / "relocs"
        listed = relocs / "objects"
        if listed.exists():
            objs = [str(relocs / n) for n in listed.read_text().split()]
            args = ["-static", "-o", "OUT", "-e", "_start", *objs]
            out += link_rows("fixtures build/link/relocs (-nostdlib)", args, args,
                             f"{len(objs)} small objects, no C library", work, startup)
    return out


# --- running alone -----------------------------------------------------------------------------

def main() -> None:
    """Measure, then replace this module's section of BENCH.md alone (run.run_alone)."""
    import run
    run.run_alone("bench_link", __doc__, rows, "link")


if __name__ == "__main__":
    main()
