"""Programs of other machines (fixtures/build/cross/, issue 18) under `load-and-run`: the kernel
refuses them (execve: ENOEXEC, the shell's 126); elfkit says so in one line that names the
machine as readelf does, its class and byte order -- never a loader error about something else."""
import re
import subprocess

import pytest

from conftest import cross_fixtures, run_elfkit

PROGRAMS = [p for p in cross_fixtures() if p.name in ("pie", "exe")]


def readelf_header(path):
    out = subprocess.run(["readelf", "-h", str(path)], capture_output=True, text=True).stdout
    field = lambda name: re.search(rf"^\s*{name}:\s+(.*)$", out, re.M).group(1).strip()  # noqa: E731
    return field("Machine"), field("Class"), field("Data")


@pytest.mark.skipif(not PROGRAMS, reason="no cross fixtures (make -C fixtures cross)")
@pytest.mark.parametrize("path", PROGRAMS, ids=[f"{p.parent.name}-{p.name}" for p in PROGRAMS])
def test_other_machine_refused_with_its_name(path):
    machine, klass, data = readelf_header(path)
    r = run_elfkit("load-and-run", str(path))
    assert r.returncode == 126
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr.decode(), r.stderr
    order = "little-endian" if "little" in data else "big-endian"
    assert lines[0] == (f"elfkit: error: {path}: program is for {machine} ({klass}, {order}), "
                        "not x86-64: elfkit runs x86-64 programs only")
