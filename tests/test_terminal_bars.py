"""The scaled bars in the terminal (issue 15, "In the terminal"; elfkit/render/bars.py):
`inspect --segments`, `load-and-run --maps` and `--show-stack` draw a bar to scale with
--color=always (or auto on a terminal), and stay today's plain text when piped.

What the bars say is compared with the real thing: the PT_LOAD segments with readelf -lW (one
piece each, its flags, a `≈` exactly where a page or more lies between two, columns ordered as
the sizes are); the memory areas with the kernel's own /proc/self/maps of the same program run
natively under setarch -R (tests/test_maps_native.py shows elfkit's equal the kernel's); the
stack's auxv, envp and argv counts with glibc's LD_SHOW_AUXV of a native run and the arguments
given. COLUMNS=100 fixes the width.
"""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import fixture_path, run_elfkit

ENV = {**os.environ, "COLUMNS": "100", "LANG": "C"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FILES = ["hello-pie", "hello-static", "libfixture.so"]


def plain(data: bytes) -> list[str]:
    return ANSI.sub("", data.decode()).splitlines()


def bar_after(lines: list[str], title: str) -> tuple[list[tuple[str, int]], list[str]]:
    """The bar under `title`: [(cells, columns) per piece, with "≈" for gaps] and its legend."""
    at = next(i for i, ln in enumerate(lines) if ln.startswith(title))
    bar = lines[at + 1]
    assert bar.startswith("│") and bar.endswith("│"), bar
    cells = [(m.group(0), len(m.group(0))) for m in re.finditer(r"≈|[^│≈]+", bar)]
    legend = []
    for ln in lines[at + 3:]:
        if not re.match(r"  \d+: ", ln):
            break
        legend.append(ln)
    return cells, legend


def readelf_loads(path) -> list[tuple[int, int, str]]:
    out = subprocess.run(["readelf", "-lW", str(path)], capture_output=True, text=True).stdout
    loads = []
    for m in re.finditer(r"^\s+LOAD\s+0x[0-9a-f]+ (0x[0-9a-f]+) 0x[0-9a-f]+ 0x[0-9a-f]+ "
                         r"(0x[0-9a-f]+) ([RWE ]{3})", out, re.M):
        flags = m.group(3)
        perms = ("r" if "R" in flags else "-") + ("w" if "W" in flags else "-") + \
            ("x" if "E" in flags else "-")
        loads.append((int(m.group(1), 16), int(m.group(2), 16), perms))
    return loads


@pytest.mark.parametrize("name", FILES)
def test_segments_bar_is_readelfs(name):
    path = fixture_path(name)
    r = run_elfkit("inspect", "--segments", "--color=always", str(path), env=ENV)
    assert r.returncode == 0, r.stderr
    cells, legend = bar_after(plain(r.stdout), "PT_LOAD segments by virtual address")
    loads = readelf_loads(path)
    pieces = [c for c in cells if c[0] != "≈"]
    assert len(pieces) == len(loads) == len(legend), (cells, loads)
    assert sum(n for _c, n in cells) + len(pieces) + 1 == 100        # (a │ before each, one after)
    sizes = [memsz for _v, memsz, _p in loads]
    for (text, cols), (_v, _m, perms), line in zip(pieces, loads, legend):
        assert text.startswith(perms[:cols]) and f" {perms} " in line, (text, perms, line)
    for i in range(len(loads)):
        for j in range(len(loads)):
            if sizes[i] > sizes[j]:
                assert pieces[i][1] >= pieces[j][1], (i, j, cells, sizes)
    gaps_there = [cells[k + 1][0] == "≈" for k in range(len(cells) - 1) if cells[k][0] != "≈"]
    gaps_want = [loads[k + 1][0] - (loads[k][0] + loads[k][1]) >= 4096 for k in range(len(loads) - 1)]
    assert gaps_there == gaps_want, (cells, loads)


@pytest.mark.parametrize("name", FILES)
def test_piped_stays_plain(name):
    path = str(fixture_path(name))
    auto = run_elfkit("inspect", "--segments", path, env=ENV)
    never = run_elfkit("inspect", "--segments", "--color=never", path, env=ENV)
    assert auto.stdout == never.stdout and b"\x1b[" not in auto.stdout and b"to scale" not in auto.stdout
    r = run_elfkit("load-and-run", "--maps", "--show-stack", "/bin/true", env=ENV)
    assert b"\x1b[" not in r.stderr and b"to scale" not in r.stderr and b"compressed" not in r.stderr


MAPS_PRINTER = r"""
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    char *p = malloc(100000);
    FILE *f = fopen("/proc/self/maps", "r");
    int c;
    while ((c = fgetc(f)) != EOF) putchar(c);
    return p == NULL;
}
"""


def test_maps_bar_is_the_kernels(tmp_path):
    """The legend of the bar of a program's areas at exit: every line of the kernel's
    /proc/self/maps for the same program run natively (setarch -R), which reads it just before
    exiting: the same addresses, permissions and names, in order; one piece each."""
    src, exe = tmp_path / "maps.c", tmp_path / "maps"
    src.write_text(MAPS_PRINTER)
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(src)], check=True)
    native = subprocess.run(["setarch", "x86_64", "-R", str(exe)], capture_output=True,
                            text=True, env={"LANG": "C"}).stdout
    want = []
    for line in native.splitlines():
        f = line.split(None, 5)
        want.append((f[0], f[1][:3], f[5].strip() if len(f) > 5 else "[anonymous]"))
    r = run_elfkit("load-and-run", "--maps", "--color=always", "--clear-env", "--env", "LANG=C",
                   str(exe), env=ENV)
    assert r.returncode == 0, r.stderr
    cells, legend = bar_after(plain(r.stderr), "The memory areas at exit")
    got = []
    for line in legend:
        m = re.match(r"  \d+: (.*) (\S{3}) (0x[0-9a-f]+)-(0x[0-9a-f]+) \(", line)
        got.append((f"{int(m.group(3), 16):x}-{int(m.group(4), 16):x}", m.group(2), m.group(1)))
    assert got == want, (got, want)
    assert len([c for c in cells if c[0] != "≈"]) == len(want)


def test_stack_bar_counts_are_glibcs():
    """The stack's parts, high to low: strings, padding, platform, random bytes, padding, auxv
    with as many entries as glibc's LD_SHOW_AUXV lists natively, envp and argv with the
    counts given, argc."""
    native = subprocess.run(["/bin/true"], env={"LD_SHOW_AUXV": "1"}, capture_output=True,
                            text=True).stdout
    n_auxv = len(native.splitlines())
    r = run_elfkit("load-and-run", "--show-stack", "--color=always", "--clear-env",
                   "--env", "LD_SHOW_AUXV=1", "--env", "B=2", "/bin/true", "x", "yy", env=ENV)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.decode().splitlines()) == n_auxv       # (the guest's own LD_SHOW_AUXV)
    _cells, legend = bar_after(plain(r.stderr), "The initial stack")
    names = [re.match(r"  \d+: (.*?) 0x", ln).group(1) for ln in legend]
    assert names == ["strings", "padding", "platform", "random", "padding",
                     f"auxv ({n_auxv} + NULL)", "envp (2 + NULL)", "argv (3 + NULL)", "argc"], names
