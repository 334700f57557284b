"""BENCH.md and everything `make bench` writes carry paths relative to the repository, never the
machine's absolute path of it (issue 12, "Loose ends").

benchmarks/run.py renders every table through harness.repo_relative and harness.cmdline; these
tests feed the renderer rows whose commands, notes and peer columns hold the repository's absolute
path in every form a bench module produces (a whole argument, `--opt=PATH`, a path inside a
`sh -c` script, an error message quoted in a note), and check the committed BENCH.md and whatever
is in benchmarks/out/. System paths (/usr/bin/..., /usr/lib/...) are not the repository's and
stay as they are.
"""
from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from conftest import ROOT

BENCH = ROOT / "benchmarks"
TOPS = sorted({str(ROOT), os.path.realpath(ROOT)})


def _load(name: str):
    """A module of benchmarks/ by file (they import each other as top-level modules)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"_bench_paths_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod             # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def run():
    return _load("run")


@pytest.fixture(scope="module")
def harness():
    return _load("harness")


def _assert_no_top(text: str, what: str):
    for top in TOPS:
        assert top not in text, f"{what} carries the repository's absolute path {top}:\n" + \
            "\n".join(ln for ln in text.splitlines() if top in ln)


def test_bench_md_has_no_absolute_repository_path():
    _assert_no_top((ROOT / "BENCH.md").read_text(), "BENCH.md")


def test_bench_out_has_no_absolute_repository_path():
    out = BENCH / "out"
    files = [p for p in out.rglob("*") if p.is_file()] if out.is_dir() else []
    for p in files:
        data = p.read_bytes()
        for top in TOPS:
            assert top.encode() not in data, f"{p.relative_to(ROOT)} carries {top}"


def test_renderer_writes_paths_relative_to_the_repository(run, harness):
    top = str(ROOT)
    elfkit = f"{top}/.venv/bin/elfkit"
    rows = [
        harness.Row(f"trace-plt of {top}/fixtures/build/cpubound",
                    [elfkit, "trace-plt", "-o", "/dev/null", f"{top}/fixtures/build/cpubound", "10"],
                    [f"{top}/.venv/bin/python", f"{top}/benchmarks/bench_run.py", "--elfkit-run",
                     f"{top}/fixtures/build/cpubound", "10"],
                    f"load-and-run: exit 1: elfkit: error: {top}/fixtures/build/x: not an ELF file",
                    elfkit_s=1.0, peer_s=2.0,
                    note=f"setup_peers.sh failed: creating {top}/benchmarks/.venv-qiling"),
        harness.Row("checksec", [elfkit, "check", f"--root={top}/fixtures", top],
                    ["sh", "-c", f"cd {top} && checksec --dir={top}/fixtures/build | wc -l"],
                    "checksec", elfkit_s=1.0, peer_s=None,
                    goal=f"as in {top}/docs/CHECK.md"),
        harness.Row("system paths stay", [elfkit, "inspect", "/usr/lib/x86_64-linux-gnu/libc.so.6"],
                    ["/usr/bin/python3", "-c", "pass"], "python3", elfkit_s=0.5, peer_s=0.25),
    ]
    doc = f"Fixtures in {top}/fixtures/build, sources {top}/fixtures/src/pollready.c."
    text = run.document(run.header() + run.section("bench_example", doc, rows))
    _assert_no_top(text, "the rendered BENCH.md")
    for shown in ("`elfkit trace-plt -o /dev/null fixtures/build/cpubound 10`",
                  ".venv/bin/python benchmarks/bench_run.py --elfkit-run fixtures/build/cpubound 10",
                  "elfkit: error: fixtures/build/x: not an ELF file",
                  "creating benchmarks/.venv-qiling",
                  "`elfkit check --root=fixtures .`",
                  "cd . && checksec --dir=fixtures/build \\| wc -l",
                  "as in docs/CHECK.md",
                  "Fixtures in fixtures/build, sources fixtures/src/pollready.c.",
                  "/usr/lib/x86_64-linux-gnu/libc.so.6", "`/usr/bin/python3 -c pass`"):
        assert shown in text, f"{shown!r} not in:\n{text}"


def test_repo_relative_touches_only_the_repository(harness):
    top = str(ROOT)
    rr = harness.repo_relative
    assert rr(top) == "."
    assert rr(top + "/") == "."
    assert rr(f"{top}/fixtures/build/nolibc") == "fixtures/build/nolibc"
    assert rr(f"'{top}/a b'") == "'a b'"
    assert rr(f"PATH=/usr/bin:{top}/bin") == "PATH=/usr/bin:bin"
    for other in (top + "2/x", top + ".old/x", "/x" + top + "/y", "/usr/bin/python3",
                  "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1"):
        assert rr(other) == other
    assert harness.cmdline([f"{top}/.venv/bin/elfkit", "load-and-run", f"{top}/fixtures/build/a b"]) \
        == "elfkit load-and-run 'fixtures/build/a b'"
