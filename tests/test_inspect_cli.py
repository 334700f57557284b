"""`elfkit inspect` without click (elfkit/cli/inspect_run.py) answers exactly as the click command.

elfkit.cli.main hands plain inspect command lines -- view flags and one FILE -- to
inspect_run.from_argv before importing click; everything else goes to the click command. Each
command line here runs both ways, as `python -m elfkit inspect ...` (the entry point users run)
and straight through the click group, and must give the same stdout, stderr and exit status.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, fixture_path, run_elfkit

CLICK_ONLY = "import sys; from elfkit.cli.main import cli; cli(prog_name='elfkit')"


def _both(args):
    fast = run_elfkit("inspect", *args)
    slow = subprocess.run([sys.executable, "-c", CLICK_ONLY, "inspect", *map(str, args)],
                          capture_output=True, cwd=ROOT, timeout=300)
    return fast, slow


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """/bin/ls cut short: its section headers are past the end (a warning, exit 2)."""
    data = open("/bin/ls", "rb").read()
    path = tmp_path_factory.mktemp("cli") / "ls-cut"
    path.write_bytes(data[:len(data) // 2])
    return str(path)


def _argvs(damaged):
    pie, lib = str(fixture_path("hello-pie")), "/usr/lib/x86_64-linux-gnu/libc.so.6"
    return [
        [pie], ["--all", pie], [pie, "--all"], ["-a", "--json", pie], ["--json", pie, "--json"],
        ["--header", "--dyn-syms", "--relocs", lib], ["--got", "--versions", "--notes", lib],
        ["--all", damaged], ["--all", "--json", damaged],
        ["--all", "/nonexistent"], ["--all", "/etc/passwd"], ["--all", "/usr"],
        ["--bogus", pie], ["--all"], ["--all", pie, pie], ["--all", "--", pie], ["-h"],
        ["--all", "-x"],
    ]


def test_without_click_as_with_click(damaged):
    for args in _argvs(damaged):
        fast, slow = _both(args)
        assert (fast.returncode, fast.stderr) == (slow.returncode, slow.stderr), args
        assert fast.stdout == slow.stdout, args


def test_plain_inspect_does_not_import_click():
    probe = ("import sys, runpy; sys.argv = ['elfkit', 'inspect', '--all', sys.argv[1]];\n"
             "import elfkit.cli.inspect_run as r, os\n"
             "status = r.from_argv(sys.argv[2:])\n"
             "sys.stdout.flush(); os.write(2, b'click imported: %d status: %d' "
             "% ('click' in sys.modules, status))\n")
    p = subprocess.run([sys.executable, "-c", probe, str(fixture_path("hello-pie"))],
                       capture_output=True, cwd=ROOT, timeout=120, env=dict(os.environ))
    assert p.stderr.decode().endswith("click imported: 0 status: 0"), p.stderr.decode()


# Modules that cost start-up (2-10 ms each against readelf's ~40 ms on a 2 MB library) and that
# inspect and link do not need: `python -X importtime` of the real command lines finds none
# (-C imports re and ctypes with the toolchain's demangler: not here).
HEAVY = ("enum", "re", "json", "dataclasses", "shutil", "typing", "click", "inspect", "ast",
         "functools", "collections", "array")


@pytest.mark.parametrize("argv", [
    ["inspect", "--all", "LIBC"], ["inspect", "--all", "--json", "LIBC"], ["inspect", "LIBC"],
    ["inspect", "--all", "PIE"], ["link", "--version"]], ids=" ".join)
def test_start_up_imports_nothing_heavy(argv):
    files = {"LIBC": "/usr/lib/x86_64-linux-gnu/libc.so.6", "PIE": str(fixture_path("hello-pie"))}
    argv = [files.get(a, a) for a in argv]
    # as the console script pip writes starts (`-m` would add runpy's own imports, functools
    # among them)
    script = "import sys; from elfkit.cli.main import main; sys.exit(main())"
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", script, *argv],
                       capture_output=True, cwd=ROOT, timeout=120, env=dict(os.environ))
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    imported = {line.rpartition("|")[2].strip() for line in p.stderr.decode().splitlines()
                if line.startswith("import time:")}
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
