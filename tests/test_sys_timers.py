"""Timers that must reach a process while it runs guest code (elfkit/kernel/time/hrtimer.py): on
one CPU and on two, for processes that never make a system call, compared with native runs.

The family fixtures (sys-itimer, sys-timerfd, sys-signalfd) run under the default number of
CPUs in tests/test_syscalls.py; here they run again with --cpus 1 (everything on the boot CPU,
which also waits on the host) and --cpus 2 (a timer can fire while its process runs on the other
CPU). A small program then keeps two CPU-bound children and the parent spinning until their
timers end them, as alarm(1) ends a busy loop natively.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import ROOT, run_elfkit
from test_syscalls import ENV, run_emulated, run_native

FIXTURES = ["sys-itimer", "sys-timerfd", "sys-signalfd"]


@pytest.mark.parametrize("cpus", [1, 2])
@pytest.mark.parametrize("name", FIXTURES)
def test_timer_fixtures_on_one_and_two_cpus(name, cpus, tmp_path):
    exe = ROOT / "fixtures/build" / name
    if not exe.exists():
        pytest.skip(f"{name} is not built (make -C fixtures)")
    (tmp_path / "n").mkdir()
    (tmp_path / "e").mkdir()
    native = run_native(exe, tmp_path / "n")
    emu = run_emulated(exe, tmp_path / "e", "--cpus", cpus)
    assert native.returncode == 0, native.stderr
    assert emu.stdout.decode() == native.stdout.decode(), emu.stderr.decode(errors="replace")
    assert emu.returncode == 0


SPINNERS = r"""
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile unsigned long spin;
static volatile sig_atomic_t fired;
static void on_alarm(int s) { (void)s; fired = 1; }
int main(void) {
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {             /* SIG_DFL: the timer's SIGALRM ends the busy loop */
            struct itimerval it = {{0, 0}, {0, 30000 + 20000 * i}};
            setitimer(ITIMER_REAL, &it, NULL);
            for (;;)
                spin++;
        }
    }
    signal(SIGALRM, on_alarm);
    alarm(1);
    while (!fired)
        spin++;
    for (int i = 0; i < 2; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        printf("child %d: signaled=%d sig=%d\n", i, WIFSIGNALED(st), WTERMSIG(st));
    }
    printf("parent: alarm(1) ended its loop\n");
    return 0;
}
"""


@pytest.fixture(scope="module")
def spinners(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("spinners")
    (d / "spinners.c").write_text(SPINNERS)
    exe = d / "spinners"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(d / "spinners.c")], check=True)
    return exe


@pytest.mark.parametrize("cpus", [1, 2])
def test_timers_interrupt_cpu_bound_processes(spinners, cpus):
    native = subprocess.run([str(spinners)], capture_output=True, env=ENV, timeout=60)
    emu = run_elfkit("load-and-run", "--cpus", cpus, "--timeout", 30, spinners, timeout=120)
    assert native.returncode == 0
    assert emu.stdout.decode() == native.stdout.decode(), emu.stderr.decode(errors="replace")
    assert emu.returncode == 0
