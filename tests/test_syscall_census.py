"""The system call census: ordinary system-call-heavy programs run under elfkit exactly as natively,
and elfkit meets no call it does not answer.

Each scenario is a shell script run by /bin/sh (dash) natively and under `elfkit load-and-run
--allow-write DIR`, with its own empty scratch directory as $1 (the script starts with `cd "$1"`)
and the same small environment. stdout and the exit status must be equal; elfkit may add only
`elfkit: warning:` lines to stderr, and none may say "unsupported system call". The native run
drops every capability first (setpriv), as elfkit models an unprivileged process.
Programs that are not installed are skipped (inotifywait: Debian's inotify-tools).
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import ROOT, run_elfkit
from test_syscalls import DROP_CAPS

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}

SCENARIOS = {
    # timer_create + timer_settime (coreutils' timeout), the timer's signal ending a sleep
    "timeout": "timeout 5 echo hi; timeout 0.2 sleep 5; echo status=$?",
    # setpriority and what /proc shows of it
    "nice": "nice -n 5 cut -d' ' -f19 /proc/self/stat; nice -n 3 nice",
    # utimensat, fchmodat, fchown to oneself, statx
    "attrs": ("touch -d '2001-02-03 04:05:06 UTC' f; stat -c '%Y %s' f; chmod 640 f; stat -c %a f; "
              "touch -m -d @1000000000 f; stat -c %Y f; chown $(id -u):$(id -g) f; echo chown=$?; "
              "mkfifo p; stat -c %F p; ln -s f l; stat -L -c %a l; install -m 751 f g; stat -c %a g"),
    # tar and cp -a: xattrs, times, modes, symlinks
    "archive": ("mkdir d; echo x > d/a; ln -s a d/s; chmod 600 d/a; touch -d @123456789 d/a; "
                "tar cf t.tar d && mkdir e && tar xf t.tar -C e && stat -c '%a %Y %F' e/d/a; stat -c %F e/d/s; "
                "cp -a d c && stat -c '%a %Y' c/a && readlink c/s"),
    # fdatasync, sync, fallocate through coreutils and util-linux
    "sync": ("dd if=/dev/zero of=z bs=1k count=4 conv=fdatasync status=none; sync; sync z; "
             "stat -c %s z; fallocate -l 65536 z; stat -c %s z; truncate -s 10 z; stat -c %s z"),
    # ionice (ioprio_set/get), chrt (sched_setscheduler/getscheduler), taskset
    "sched": ("ionice -c 3 ionice; ionice -c 2 -n 7 ionice; chrt -b 0 sh -c 'chrt -p $$' | "
              "sed 's/pid [0-9]*/pid PID/'; chrt -m | head -3; taskset -c 0 echo pinned"),
    # flock(1) between two guest processes
    "flock": ("flock L -c 'sleep 0.3' & sleep 0.1; flock -n L true; echo busy=$?; wait; "
              "flock -n L true; echo free=$?"),
    # python3: selectors over a socketpair, asyncio, a multiprocessing lock (POSIX semaphore)
    "python-selectors": ("python3 -c 'import selectors, socket; a, b = socket.socketpair(); "
                         "s = selectors.DefaultSelector(); s.register(b, selectors.EVENT_READ); "
                         "a.send(b\"ping\"); print([k.fileobj is b for k, e in s.select(1)], "
                         "b.recv(4))'"),
    "python-asyncio": ("python3 -c 'import asyncio; "
                       "print(asyncio.run(asyncio.sleep(0.01, result=42)))'"),
    "python-signals": ("python3 -c 'import signal, time; signal.setitimer(signal.ITIMER_REAL, 0.05); "
                       "signal.signal(signal.SIGALRM, lambda *a: print(\"alarm\")); "
                       "time.sleep(1); print(signal.getitimer(signal.ITIMER_REAL))'"),
    "python-multiprocessing": ("python3 -c 'import multiprocessing as m\n"
                               "l = m.Lock(); print(l.acquire(), l.acquire(False)); l.release()\n"
                               "p = m.Process(target=print, args=(\"child\",)); p.start(); p.join(); "
                               "print(p.exitcode)'"),
    # a terminal: script(1) runs its command on a pseudo-terminal
    "script": "script -q -c 'echo on a pty; tty >/dev/null && echo tty' /dev/null | tr -d '\\r'",
    # execve's MAY_EXEC for uid 0 without capabilities: the owner's x bit, not any x bit
    "exec-permission": ("for m in 0100 0010 0001 0700 0070; do cp /bin/true t$m; chmod $m t$m; "
                        "./t$m 2>/dev/null; echo \"$m=$?\"; done"),
    # inotify: inotifywait sees a file created by another process
    "inotifywait": ("(sleep 0.3; touch new) & inotifywait -q -e create --format '%e %f' .; wait"),
}
NEEDS = {"inotifywait": "inotifywait", "script": "script", "python-selectors": "python3",
         "python-asyncio": "python3", "python-signals": "python3",
         "python-multiprocessing": "python3", "flock": "flock", "sched": "chrt"}


def _run(argv, scratch, emulated: bool):
    script = ["/bin/sh", "-c", 'cd "$1" || exit 99\n' + argv, "sh", str(scratch)]
    if emulated:
        p = run_elfkit("load-and-run", "--allow-write", scratch, "--allow-write", "/dev/shm",
                       *script, env=ENV, timeout=240)
    else:
        p = subprocess.run([*DROP_CAPS, *script], capture_output=True, env=ENV, timeout=60, cwd=ROOT)
    return p


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_census_same_as_native(name, tmp_path):
    tool = NEEDS.get(name)
    if tool and not shutil.which(tool):
        pytest.skip(f"{tool} is not installed")
    native_dir, emu_dir = tmp_path / "native", tmp_path / "elfkit"
    native_dir.mkdir()
    emu_dir.mkdir()
    nat = _run(SCENARIOS[name], native_dir, emulated=False)
    emu = _run(SCENARIOS[name], emu_dir, emulated=True)
    err = emu.stderr.decode(errors="replace")
    assert "Traceback (most recent call last)" not in err or "Traceback" in nat.stderr.decode(), err
    assert "unsupported system call" not in err, err
    assert "internal error" not in err, err
    assert emu.stdout.decode(errors="replace") == nat.stdout.decode(errors="replace"), \
        f"native stderr: {nat.stderr.decode(errors='replace')}\nelfkit stderr: {err}"
    assert emu.returncode == nat.returncode, err
    guest_err = "".join(ln + "\n" for ln in err.splitlines() if not ln.startswith("elfkit: warning:"))
    assert guest_err == nat.stderr.decode(errors="replace"), err
