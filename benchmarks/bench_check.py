"""check vs Debian's checksec over every ELF file under /usr/bin and /usr/lib/x86_64-linux-gnu.

Both walk the same two trees (regular files, symbolic links skipped, non-ELF
files recognised and skipped) and write JSON. checksec runs `readelf` about
fifteen times and `file` twice per file, so one run takes minutes: it is
measured once, after elfkit's runs have warmed the page cache, and both
elfkit rows are compared with that one time. Goal: at least 10x checksec's
throughput (ratio <= 0.1).
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys

from harness import Row, wall

TREES = ["/usr/bin", "/usr/lib/x86_64-linux-gnu"]


def _count_elf() -> int:
    n = 0
    for top in TREES:
        for d, _, files in os.walk(top):
            for f in files:
                p = os.path.join(d, f)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                try:
                    with open(p, "rb") as fh:
                        n += fh.read(4) == b"\x7fELF"
                except OSError:
                    pass
    return n


def rows():
    elfkit = [os.path.join(os.path.dirname(sys.executable), "elfkit")]
    base = elfkit + ["check", "--no-config", "--no-progress", "--format", "json", "-o", os.devnull]
    peer = None
    if shutil.which("checksec"):
        peer = ["sh", "-c", " && ".join(f"checksec --format=json --dir={t} >/dev/null 2>&1"
                                        for t in TREES)]
    nfiles = _count_elf()
    out = []
    for jobs in (1, 2):
        cmd = base + ["--jobs", str(jobs)] + TREES
        wall(cmd, 1)                                              # warm-up
        mine = statistics.median(wall(cmd, 1) for _ in range(3))
        out.append(Row(f"check {nfiles} ELF files, --jobs {jobs}", cmd, peer,
                       "checksec --format=json --dir", elfkit_s=mine,
                       goal="<= 0.1x (10x checksec's throughput)",
                       note=f"{nfiles / mine:.0f} files/s"))
    if peer:
        theirs = wall(peer, 1)
        for r in out:
            r.peer_s = theirs
            r.note += f"; checksec {nfiles / theirs:.1f} files/s, measured once"
    else:
        for r in out:
            r.peer_name = "checksec not installed"
    return out
