"""What the guests see of each other, against the real kernel: `ps` inside a guest shell, and
Ctrl-C on the terminal reaching the guests' foreground process group.

ps: natively the comparison runs in a new pid namespace (`unshare --pid --fork
--mount-proc`), where ps lists only the command's own processes, as elfkit's
/proc does for its guests. The namespace's init differs (natively the shell is
pid 1; in elfkit, init is elfkit itself and the shell is its child), so init's
line is left out on both sides and each process is compared by its command
name, its state letters and its parent's command name. elfkit lists its kernel
threads too (kthreadd, pid 2, and its children), as a root-namespace ps does;
a new namespace hides the host's, so they are left out of that comparison and
compared on their own with the host's kthreadd line.

Ctrl-C: the terminal sends SIGINT to the whole foreground process group. Both
runs start in a new session, the test waits until the guest says it is ready,
then signals the group (elfkit's, natively the shell's); stdout and the exit
status must match.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from conftest import ROOT

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
ELFKIT = [sys.executable, "-m", "elfkit", "load-and-run"]


def _ps_rows(text: str, init: str) -> list[tuple[str, str, str]]:
    rows = [line.split() for line in text.strip().splitlines()[1:]]
    by_pid = {r[0]: r for r in rows}
    out = []
    kthreads = {pid for pid, ppid, _stat, comm in rows if ppid == "0" and pid != "1"}
    for pid, ppid, stat, comm in rows:
        if comm == init or pid == "1" or pid in kthreads or ppid in kthreads:
            continue
        parent = by_pid.get(ppid, [None, None, None, "?"])[3]
        if parent == init or ppid == "1":
            parent = "<init>"
        if stat == "R" and comm == "sh":
            stat = "S"     # ps's parent shell: natively it may not be in wait() yet (a race)
        out.append((comm, stat, parent))
    return sorted(out)


def test_ps_in_a_guest_shell_lists_the_guests_processes():
    # (the short sleep lets the background jobs reach their exec before ps looks, on both sides)
    script = "sleep 2 & sleep 2 | cat & sleep 0.5; ps -o pid,ppid,stat,comm; wait"
    nat = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
                          f"sh -c '{script}'"], capture_output=True, env=ENV, cwd=ROOT, timeout=60)
    assert nat.returncode == 0, f"unshare (the native oracle) failed: {nat.stderr!r}"
    emu = subprocess.run(ELFKIT + ["/bin/sh", "-c", script], capture_output=True, env=ENV,
                         cwd=ROOT, timeout=120)
    assert emu.returncode == 0, emu.stderr
    # natively pid 1 is the outer sh (the namespace's init), the script's sh its child
    native_rows = _ps_rows(nat.stdout.decode(), "<no name>")
    emu_rows = _ps_rows(emu.stdout.decode(), "elfkit")
    assert emu_rows == native_rows, f"native:\n{nat.stdout.decode()}\nelfkit:\n{emu.stdout.decode()}"


def test_ps_shows_kthreadd_as_the_host_kernel_does():
    """pid 2 is kthreadd, a kernel thread: parent 0, sleeping, no command line (so `ps`
    shows its name in brackets) -- as on the host; and the OOM killer's oom_reaper is its
    child."""
    cmd = ["ps", "-o", "pid,ppid,stat,comm,args", "-p", "2"]
    nat = subprocess.run(cmd, capture_output=True, env=ENV, timeout=60)
    assert nat.returncode == 0 and b"kthreadd" in nat.stdout, nat
    emu = subprocess.run(ELFKIT + ["/bin/ps", "-o", "pid,ppid,stat,comm,args", "-p", "2,3"],
                         capture_output=True, env=ENV, cwd=ROOT, timeout=120)
    assert emu.returncode == 0, emu.stderr
    lines = emu.stdout.decode().splitlines()
    assert lines[:2] == nat.stdout.decode().splitlines()
    assert lines[2].split() == ["3", "2", "S", "oom_reaper", "[oom_reaper]"]


def _interrupt(argv) -> tuple[bytes, int]:
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT,
                         start_new_session=True)
    first = p.stdout.readline()                      # "ready": the trap is set
    assert first == b"ready\n", (first, p.stderr.read() if p.poll() is not None else b"")
    os.killpg(p.pid, signal.SIGINT)                  # what Ctrl-C on a terminal does
    out, _err = p.communicate(timeout=60)
    return first + out, p.returncode


def test_ctrl_c_reaches_the_foreground_group():
    script = 'trap "echo interrupted; exit 5" INT; echo ready; sleep 10 & wait; echo not reached'
    native = _interrupt(["sh", "-c", script])
    emulated = _interrupt(ELFKIT + ["/bin/sh", "-c", script])
    assert emulated == native


def test_ctrl_c_kills_a_program_without_a_handler_like_natively():
    script = "echo ready; exec sleep 10"
    native = _interrupt(["sh", "-c", script])
    emulated = _interrupt(ELFKIT + ["/bin/sh", "-c", script])
    assert emulated == native and native[1] == -signal.SIGINT


def _stop_and_continue(argv) -> tuple[int, bytes, int]:
    """Run argv, wait until it stops (as a parent shell's waitpid(WUNTRACED) does), continue it."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    _pid, status = os.waitpid(p.pid, os.WUNTRACED)
    stopped_by = os.WSTOPSIG(status) if os.WIFSTOPPED(status) else 0
    os.kill(p.pid, signal.SIGCONT)
    out, _err = p.communicate(timeout=60)
    return stopped_by, out, p.returncode


def test_a_stopped_guest_stops_elfkit_and_continues_with_it():
    """The first guest stopping (SIGSTOP here; Ctrl-Z's SIGTSTP alike) stops elfkit by the same
    signal, so the calling shell sees a stopped job; SIGCONT to elfkit continues the guest."""
    script = "kill -STOP $$; echo resumed"
    native = _stop_and_continue(["sh", "-c", script])
    emulated = _stop_and_continue(ELFKIT + ["/bin/sh", "-c", script])
    assert emulated == native and native[0] == signal.SIGSTOP
