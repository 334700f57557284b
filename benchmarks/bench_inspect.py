"""inspect vs readelf on the largest shared library on the machine (issue: foundation, Fast)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from harness import Row, measure_pair

LIBDIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib", "/lib/x86_64-linux-gnu"]


def largest_shared_library() -> str:
    best, best_size = None, -1
    for d in LIBDIRS:
        p = Path(d)
        if not p.is_dir():
            continue
        for f in p.iterdir():
            if ".so" not in f.name or f.is_symlink() or not f.is_file():
                continue
            size = f.stat().st_size
            if size > best_size:
                with open(f, "rb") as fh:
                    if fh.read(4) != b"\x7fELF":
                        continue
                best, best_size = str(f), size
    return best


def rows():
    lib = largest_shared_library()
    elfkit = [os.path.join(os.path.dirname(sys.executable), "elfkit")]
    size_mb = os.path.getsize(lib) / 1e6
    return [
        measure_pair(Row(f"inspect --all, text ({os.path.basename(lib)}, {size_mb:.0f} MB)",
                         elfkit + ["inspect", "--all", lib], ["readelf", "-W", "-a", lib], "readelf -W -a",
                         goal="<= 1.5x readelf")),
        measure_pair(Row(f"inspect --all --json ({os.path.basename(lib)}, {size_mb:.0f} MB)",
                         elfkit + ["inspect", "--all", "--json", lib], ["readelf", "-W", "-a", lib],
                         "readelf -W -a", goal="<= 1.5x readelf")),
        measure_pair(Row("inspect (summary) of /bin/ls", elfkit + ["inspect", "/bin/ls"],
                         ["readelf", "-W", "-h", "-d", "-n", "/bin/ls"], "readelf -W -h -d -n",
                         note="start-up dominated: Python + imports")),
    ]
