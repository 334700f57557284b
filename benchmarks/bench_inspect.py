"""inspect vs readelf (issue 12, "inspect on every large library"): `inspect --all`, as text and as
JSON, against `readelf -W -a` on the shared libraries of this machine with the most symbols plus
relocations, and the start-up cost alone on /bin/ls.

Which libraries: every regular file with ".so" in its name (symbolic links skipped, hard links
counted once) under /usr/lib, /usr/lib/x86_64-linux-gnu, /lib/x86_64-linux-gnu and the JDKs
(/usr/lib/jvm), searched recursively, that is an ELF shared object (ET_DYN). Each is ranked by
its symbols (.dynsym and .symtab entries) plus its relocations (REL and RELA entries), both read
from the section headers alone as sh_size / sh_entsize; the TOP with the largest sums are
measured, largest first.

How: for each library five commands run round-robin, stdout to /dev/null -- `elfkit inspect
--all`, `elfkit inspect --all --json`, `readelf -W -a`, and the cheapest view of each tool
(`elfkit inspect --header`, `readelf -W -h`) -- one warm-up run of each, then RUNS timed rounds;
each reports its median wall time, and both elfkit rows are divided by the same readelf runs.
Goal: at most 1.0x readelf on every library. Each row's note gives the rows the file has
(symbols + relocations) and what a row costs each tool beyond its start-up: (median of the full
run - median of the header-only run) / rows.

Two processes: on a file with 20,000 symbols + relocations or more, elfkit forks a child that
makes the symbol views and the last part of the relocation view while the parent makes the rest
(elfkit/render/split.py; the machine has two CPUs). The ratio is of wall times, what a user
waits; so that nothing is hidden, each row's note also gives the median CPU time of every
process each tool ran (user + system, from getrusage of the children), and the same run in one
process (`ELFKIT_INSPECT_JOBS=1`, measured in the same round-robin) with its ratio to readelf.

One more library is measured the same way on another architecture (issue 18): Debian's arm64
libc.so.6 (fixtures/build/debs/arm64, `make -C fixtures cross-debs`) against the cross readelf
of binutils-aarch64-linux-gnu; left out when either is missing.

Knobs (environment): ELFKIT_BENCH_RUNS (timed rounds, default 9), ELFKIT_BENCH_INSPECT_TOP
(libraries, default 5), ELFKIT_BENCH_INSPECT_LIBS (files to measure instead of the search,
separated by ':'). Run alone: `python benchmarks/bench_inspect.py` (measures, then replaces this
section of BENCH.md and leaves the others as they were).
"""
from __future__ import annotations

import os
import resource
import statistics
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness import Row, env_int, timed_run  # noqa: E402

LIBDIRS = ["/usr/lib", "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/jvm"]
GOAL = "<= 1.0x readelf"



RUNS = env_int("ELFKIT_BENCH_RUNS", 9)      # the libraries take 0.1-2 s a run: medians of 9
TOP = env_int("ELFKIT_BENCH_INSPECT_TOP", 5)

SHT_SYMTAB, SHT_RELA, SHT_REL, SHT_DYNSYM = 2, 4, 9, 11
ET_DYN = 3


def table_sizes(path: str) -> tuple[int, int] | None:
    """(symbols in .dynsym and .symtab, relocations in REL/RELA sections) from the section
    headers alone; None for anything but an ELF shared object with section headers."""
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
            if len(ident) < 52 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) \
                    or ident[5] not in (1, 2):
                return None
            is_64, end = ident[4] == 2, "<" if ident[5] == 1 else ">"
            if struct.unpack_from(end + "H", ident, 16)[0] != ET_DYN:
                return None
            if is_64:
                shoff, = struct.unpack_from(end + "Q", ident, 0x28)
                shentsize, shnum = struct.unpack_from(end + "HH", ident, 0x3A)
                shdr = struct.Struct(end + "IIQQQQIIQQ")
            else:
                shoff, = struct.unpack_from(end + "I", ident, 0x20)
                shentsize, shnum = struct.unpack_from(end + "HH", ident, 0x2E)
                shdr = struct.Struct(end + "IIIIIIIIII")
            if not shoff or not shnum or shentsize != shdr.size:
                return None
            f.seek(shoff)
            table = f.read(shnum * shentsize)
    except OSError:
        return None
    symbols = relocations = 0
    for i in range(len(table) // shdr.size):
        fields = shdr.unpack_from(table, i * shdr.size)
        sh_type, sh_size, sh_entsize = fields[1], fields[5], fields[9]
        if not sh_entsize:
            continue
        if sh_type in (SHT_SYMTAB, SHT_DYNSYM):
            symbols += sh_size // sh_entsize
        elif sh_type in (SHT_REL, SHT_RELA):
            relocations += sh_size // sh_entsize
    return symbols, relocations


def largest_libraries(top: int = TOP) -> list[tuple[str, int, int]]:
    """(path, symbols, relocations) of the `top` shared objects with the most of both."""
    if os.environ.get("ELFKIT_BENCH_INSPECT_LIBS"):
        chosen = [p for p in os.environ["ELFKIT_BENCH_INSPECT_LIBS"].split(":") if p]
        return [(p, *(table_sizes(p) or (0, 0))) for p in chosen]
    seen, found = set(), []
    for root in LIBDIRS:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if ".so" not in name:
                    continue
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if not os.path.isfile(path) or os.path.islink(path) or \
                        (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                sizes = table_sizes(path)
                if sizes is not None:
                    found.append((path, *sizes))
    found.sort(key=lambda f: (-(f[1] + f[2]), f[0]))
    return found[:top]


CROSS_READELF = "aarch64-linux-gnu-readelf"


def arm64_libc() -> str | None:
    """Debian's arm64 libc.so.6 as `make -C fixtures cross-debs` unpacks it (issue 18's row,
    against binutils-aarch64-linux-gnu's readelf); None when either is missing."""
    import shutil
    root = HERE.parent / "fixtures" / "build" / "debs" / "arm64"
    found = sorted(root.glob("*/aarch64-linux-gnu/libc.so.6")) + \
        sorted(root.glob("usr/lib/aarch64-linux-gnu/libc.so.6"))
    if not found or shutil.which(CROSS_READELF) is None:
        return None
    return str(found[0])


def round_robin(cmds: dict[str, list[str]], runs: int = RUNS,
                cpu: dict | None = None) -> dict[str, float]:
    """Median wall time of each command: one warm-up run of each, then `runs` rounds in which
    every command runs once, in turn, so that machine noise hits them all alike. With `cpu`, a
    dict, it gets each command's median CPU time too (user + system, of every process it
    made: getrusage of the children)."""
    for cmd in cmds.values():
        _timed(cmd)
    times = {k: [] for k in cmds}
    cpus = {k: [] for k in cmds}
    for _ in range(runs):
        for k, cmd in cmds.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[k].append(_timed(cmd))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[k].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if cpu is not None:
        cpu.update({k: statistics.median(v) for k, v in cpus.items()})
    return {k: statistics.median(v) for k, v in times.items()}


def _timed(cmd: list[str]) -> float:
    command, env = _with_env(cmd)
    return timed_run(command, env=env)[0]


def _with_env(cmd: list[str]) -> tuple[list[str], dict | None]:
    """(command, environment): `env K=V ... CMD` runs as CMD with K=V in its environment, so
    no env process is timed."""
    if cmd[:1] != ["env"]:
        return cmd, None
    i, extra = 1, {}
    while "=" in cmd[i]:
        k, _, v = cmd[i].partition("=")
        extra[k] = v
        i += 1
    return cmd[i:], {**os.environ, **extra}


def library_rows(elfkit: list[str], path: str, symbols: int, relocations: int,
                 readelf: str = "readelf") -> list[Row]:
    cmds = {"text": elfkit + ["inspect", "--all", path],
            "json": elfkit + ["inspect", "--all", "--json", path],
            "readelf": [readelf, "-W", "-a", path],
            "elfkit header": elfkit + ["inspect", "--header", path],
            "readelf header": [readelf, "-W", "-h", path],
            "text, one process": ["env", "ELFKIT_INSPECT_JOBS=1"] + elfkit +
                                 ["inspect", "--all", path],
            "json, one process": ["env", "ELFKIT_INSPECT_JOBS=1"] + elfkit +
                                 ["inspect", "--all", "--json", path]}
    cpu: dict = {}
    t = round_robin(cmds, cpu=cpu)
    n = max(1, symbols + relocations)
    size_mb = os.path.getsize(path) / 1e6
    peer_row = (t["readelf"] - t["readelf header"]) / n * 1e6
    out = []
    for kind, label in (("text", ""), ("json", " --json")):
        per_row = (t[kind] - t["elfkit header"]) / n * 1e6
        row = Row(f"inspect --all{label}: {path} ({size_mb:.0f} MB)",
                  cmds[kind], cmds["readelf"], f"{readelf} -W -a", goal=GOAL,
                  note=f"{symbols:,} symbols + {relocations:,} relocations; per row beyond "
                       f"start-up: elfkit {per_row:.2f} us, readelf {peer_row:.2f} us; "
                       f"start-up (`inspect --header`) {t['elfkit header']:.3f} s; CPU time "
                       f"(user+sys, every process) elfkit {cpu[kind]:.3f} s, readelf "
                       f"{cpu['readelf']:.3f} s; in one process (ELFKIT_INSPECT_JOBS=1) "
                       f"{t[kind + ', one process']:.3f} s wall, "
                       f"{t[kind + ', one process'] / t['readelf']:.2f}x")
        row.elfkit_s, row.peer_s = t[kind], t["readelf"]
        out.append(row)
    return out


def rows():
    elfkit = [os.path.join(os.path.dirname(sys.executable), "elfkit")]
    out = []
    for path, symbols, relocations in largest_libraries():
        out += library_rows(elfkit, path, symbols, relocations)
    arm64 = arm64_libc()
    if arm64 is not None:
        out += library_rows(elfkit, arm64, *(table_sizes(arm64) or (0, 0)),
                            readelf=CROSS_READELF)
    cmds = {"elfkit": elfkit + ["inspect", "/bin/ls"],
            "readelf": ["readelf", "-W", "-h", "-d", "-n", "/bin/ls"]}
    t = round_robin(cmds)
    summary = Row("inspect (summary) of /bin/ls", cmds["elfkit"], cmds["readelf"],
                  "readelf -W -h -d -n", note="start-up dominated: Python + imports")
    summary.elfkit_s, summary.peer_s = t["elfkit"], t["readelf"]
    return out + [summary]


# --- running alone -----------------------------------------------------------------------------

def main() -> None:
    """Measure, then replace this module's section of BENCH.md alone (run.run_alone)."""
    import run
    run.run_alone("bench_inspect", __doc__, rows, "inspect")


if __name__ == "__main__":
    main()
