"""System calls against the kernel: each family's fixture (fixtures/src/sys/NAME.c) run natively and
under elfkit, line for line; the compatibility table (docs/SYSCALLS.md) against the dispatcher.

Each sys-* fixture gets its own empty scratch directory as argv[1] (elfkit's run may write there:
--allow-write) and prints what the kernel decided -- results, errno names, file modes, what a
socket delivered -- never pids, addresses or times. The native run drops every capability first
(setpriv), because elfkit models an unprivileged process even when the tests run as root.
stdout and the exit status must be equal; elfkit may add only `elfkit: warning:` lines to stderr,
and none of them may say "unsupported system call".
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, all_fixtures, run_elfkit

SYS_FIXTURES = [p for p in all_fixtures() if p.name.startswith("sys-")]
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
DROP_CAPS = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all"] \
    if shutil.which("setpriv") and os.geteuid() == 0 else []


def run_native(exe: Path, scratch: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*DROP_CAPS, str(exe), str(scratch)], capture_output=True, env=ENV,
                          timeout=60, cwd=ROOT)


def run_emulated(exe: Path, scratch: Path, *options) -> subprocess.CompletedProcess:
    return run_elfkit("load-and-run", "--allow-write", scratch, *options, exe, scratch,
                      env={**os.environ, **ENV}, timeout=180)


def elfkit_lines(stderr: bytes) -> list[str]:
    return [ln for ln in stderr.decode(errors="replace").splitlines() if ln.startswith("elfkit:")]


def test_family_fixtures_are_built():
    assert {"sys-refused"} <= {p.name for p in SYS_FIXTURES}


@pytest.mark.parametrize("exe", SYS_FIXTURES, ids=[p.name for p in SYS_FIXTURES])
def test_family_same_as_native(exe, tmp_path):
    native_dir, emu_dir = tmp_path / "native", tmp_path / "elfkit"
    native_dir.mkdir()
    emu_dir.mkdir()
    native = run_native(exe, native_dir)
    emu = run_emulated(exe, emu_dir)
    err = emu.stderr.decode(errors="replace")
    assert "Traceback" not in err and "internal error" not in err, err
    assert not [ln for ln in elfkit_lines(emu.stderr) if not ln.startswith("elfkit: warning:")], err
    assert "unsupported system call" not in err, err
    assert native.returncode == 0, native.stderr.decode(errors="replace")
    assert emu.stdout.decode() == native.stdout.decode(), err
    assert emu.returncode == native.returncode, err


def test_refusals_say_why_once(tmp_path):
    """Each refused call is reported once, naming the program, the call, the reason and errno."""
    emu = run_emulated(ROOT / "fixtures/build/sys-refused", tmp_path)
    lines = elfkit_lines(emu.stderr)
    mount = [ln for ln in lines if " mount is refused" in ln]
    assert mount == ["elfkit: warning: fixtures/build/sys-refused: mount is refused: needs "
                     "CAP_SYS_ADMIN, which the guest does not have (-EPERM)"] or \
        len(mount) == 1 and mount[0].endswith("(-EPERM)"), lines
    assert any("tuxcall does not exist on x86-64" in ln and ln.endswith("(-ENOSYS)") for ln in lines)


@pytest.mark.parametrize("traced", [False, True], ids=["plain", "strace"])
def test_every_number_with_hostile_arguments_stays_in_control(traced, tmp_path):
    """fixtures/build/sweep makes every system call number (but those that would end the sweep)
    with eleven sets of hostile arguments -- unmapped, kernel, -1, pages of zeros and of 0xff,
    mixes -- each number in a child of its own. Every call must come back as the kernel's
    would, with a result or an errno: never an elfkit internal error (which kills the caller),
    never a traceback, and elfkit itself must survive all of it (kill(1, ...), prlimit on init,
    ...). Only elfkit runs it: natively some of these calls would act on the host. Once more
    with --strace, whose decoders read the same hostile arguments."""
    options = ("--strace-output", tmp_path / "strace.txt") if traced else ()
    p = run_elfkit("load-and-run", *options, ROOT / "fixtures/build/sweep",
                   env={**os.environ, **ENV}, input=b"", timeout=600)   # (stdin at EOF: reads return)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    assert "internal error" not in err and "Traceback" not in err, err
    assert "unsupported system call" not in err, err
    assert p.returncode == 0, err
    assert out.splitlines()[-1].startswith("sweep: 365 numbers,"), out[-500:]
    # munmap of the page of zeros' address onwards unmaps the child's own stack: SIGSEGV, as
    # natively; poll with a 24-day timeout and select/pselect6 with no descriptors and no
    # timeout wait, as natively, until the child's own alarm (SIGALRM); any other child killed
    # by a signal would be elfkit's doing
    # (a child's own write(1, page of 0xff, 4096) can precede a line without a newline)
    killed = {m.group(1): int(m.group(2)) for m in
              re.finditer(r"(\d+): [A-Za-z0-9 ]*killed by signal (\d+)$", out, re.MULTILINE)}
    assert killed == {"11": 11, "7": 14, "23": 14, "270": 14}, killed


# ------------------------------------------------------------------ the compatibility table ----

def test_syscalls_doc_is_current():
    """docs/SYSCALLS.md is what `make syscalls-doc` writes from the dispatcher table now."""
    from elfkit.kernel.syscalls.compat import markdown
    assert (ROOT / "docs/SYSCALLS.md").read_text() == markdown(), \
        "docs/SYSCALLS.md is out of date: run `make syscalls-doc`"


def test_table_covers_every_x86_64_number():
    """Every number in the kernel's x86-64 table (numbers.py mirrors syscall_64.tbl: 0..334 and
    424..462) has a row, and each row's status is one of the documented ones."""
    from elfkit.kernel.syscalls.compat import STATUSES, rows
    from elfkit.kernel.syscalls.numbers import NAMES
    table = rows()
    assert [r["nr"] for r in table] == sorted(NAMES)
    assert {r["status"] for r in table} <= set(STATUSES)
    for r in table:
        if r["status"] in ("partial", "refused", "nosys"):
            assert r["note"], f"{r['name']}: {r['status']} needs a note saying what or why"


def test_cli_prints_the_table():
    text = run_elfkit("load-and-run", "--syscalls")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["0", "read", "full"]
    doc = run_elfkit("load-and-run", "--syscalls", "--json")
    assert doc.returncode == 0, doc.stderr
    data = json.loads(doc.stdout)
    from elfkit.kernel.syscalls.compat import rows
    assert data["syscalls"] == rows()
    assert sum(data["counts"].values()) == len(data["syscalls"])
    usage = run_elfkit("load-and-run", "--json")
    assert usage.returncode == 2 and b"--json" in usage.stderr


def test_a_full_host_pipe_holds_only_its_writer():
    """A guest writing to a host pipe nobody reads (elfkit's own stdout) waits in its write, as
    natively, while the other guest processes go on: here the shell's `echo alive >&2` must
    come out while the megabyte for stdout is still unread (before, the writer held every
    guest until the pipe drained, and this waited for ever)."""
    import select as host_select
    import sys
    p = subprocess.Popen([sys.executable, "-m", "elfkit", "load-and-run", "/bin/sh", "-c",
                          "head -c 1000000 /dev/zero & sleep 0.3; echo alive >&2; wait"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                         env={**os.environ, **ENV})
    try:
        ready, _, _ = host_select.select([p.stderr], [], [], 60)
        assert ready, "no guest ran while one waited to write to a full host pipe"
        assert p.stderr.readline() == b"alive\n"
        out = p.stdout.read()
        assert len(out) == 1000000 and p.wait(60) == 0
    finally:
        p.kill()
        p.wait()
