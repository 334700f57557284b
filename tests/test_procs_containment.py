"""The guest's process tree stays inside elfkit: what it can signal, what it can start, where it can
write. These are promises about elfkit itself, so the oracle is the host: strace of elfkit, and
host processes and files that must come out untouched.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import ROOT

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
ELFKIT = [sys.executable, "-m", "elfkit", "load-and-run"]


def test_no_host_program_is_started():
    """A shell pipeline with command substitution and a subshell: strace -f of elfkit shows one
    execve (python itself) and no new host process (the only clone is elfkit's ticker thread)."""
    script = 'x=$(echo hi | tr a-z A-Z); (ls / | wc -l) > /dev/null; echo "$x"'
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve,fork,vfork,clone,clone3",
                        *ELFKIT, "/bin/sh", "-c", script], capture_output=True, env=ENV,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert r.stdout == b"HI\n"
    trace = r.stderr.decode()
    execs = [line for line in trace.splitlines() if "execve(" in line]
    assert len(execs) == 1 and sys.executable.split("/")[-1] in execs[0], execs
    clones = [line for line in trace.splitlines() if re.search(r"\b(v?fork|clone3?)\(", line)]
    assert clones and all("CLONE_THREAD" in c for c in clones), clones


def test_kill_minus_one_reaches_only_the_guests():
    """kill(-1, SIGKILL) natively kills every process the user may signal; a guest's reaches
    only its own pid namespace: a host process of the same user survives it."""
    host = subprocess.Popen(["sleep", "60"])
    try:
        r = subprocess.run(ELFKIT + ["/bin/sh", "-c", "sleep 30 & kill -9 -1; echo after $?"],
                           capture_output=True, env=ENV, cwd=ROOT, timeout=60)
        assert host.poll() is None, "a host process was killed by the guest's kill(-1)"
        assert r.stdout == b"after 0\n", r
        assert r.returncode == 0
    finally:
        host.kill()
        host.wait()


def test_signals_to_host_pids_do_not_leave_the_namespace():
    """A host pid is not a pid in the guest's namespace: kill fails with ESRCH and the host
    process lives on."""
    host = subprocess.Popen(["sleep", "60"])
    try:
        r = subprocess.run(ELFKIT + ["/bin/sh", "-c", f"kill -TERM {host.pid}; echo $?"],
                           capture_output=True, env=ENV, cwd=ROOT, timeout=60)
        assert host.poll() is None
        assert r.stdout == b"1\n" and b"No such process" in r.stderr, r
    finally:
        host.kill()
        host.wait()


def test_write_policy_holds_in_every_process(tmp_path):
    """Children and grandchildren are refused writes outside --allow-write, allowed inside."""
    allowed, denied = tmp_path / "allowed", tmp_path / "denied"
    allowed.mkdir()
    denied.mkdir()
    script = (f"(echo a > {denied}/f1) 2>/dev/null; echo denied=$?; "
              f"sh -c 'echo b > {allowed}/f2'; echo allowed=$?; "
              f"echo c | (cat > {denied}/f3) 2>/dev/null; echo piped=$?")
    r = subprocess.run(ELFKIT + ["--allow-write", str(allowed), "/bin/sh", "-c", script],
                       capture_output=True, env=ENV, cwd=ROOT, timeout=60)
    assert r.stdout == b"denied=2\nallowed=0\npiped=2\n", r
    assert os.listdir(denied) == []
    assert (allowed / "f2").read_text() == "b\n"
