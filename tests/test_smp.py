"""More than one emulated CPU (elfkit/kernel/smp.py): guest processes run at the same time, each
CPU with its own translated code, and a guest sees the machine's CPUs as it would see the host's.

Compared with the real thing where there is one: `nproc`, `taskset` and /proc/self/status of a
pinned process against the same commands run natively on a host that has the CPUs; code that a
process rewrites while it moves between CPUs (fixtures/src/edge/smp_jit.c) against its native
run. That two processes really ran at once is read off the machine: both CPUs were inside
Unicorn for overlapping stretches (the sum of their guest time exceeds the run's wall time),
which does not depend on how fast or loaded the host is.
"""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import fixture_path, run_elfkit

HOST_CPUS = len(os.sched_getaffinity(0))
needs_two = pytest.mark.skipif(HOST_CPUS < 2, reason="the native half needs two host CPUs")
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}


def native(*argv) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, env=ENV, timeout=60)


def same(args, nat):
    emu = run_elfkit("load-and-run", *args, env=ENV, timeout=120)
    assert b"Traceback" not in emu.stderr
    assert (emu.stdout, emu.returncode) == (nat.stdout, nat.returncode), emu.stderr.decode()


def test_nproc_is_the_machines_cpus():
    """`--cpus 1`: the guest's nproc says 1, as nproc pinned to one host CPU does; by default
    the machine has the host's CPUs."""
    same(["--cpus", "1", "/usr/bin/nproc"], native("taskset", "-c", "0", "nproc"))
    same(["/usr/bin/nproc"], native("nproc"))


@needs_two
def test_taskset_pins_a_guest():
    """taskset run inside elfkit pins the program it starts (sched_setaffinity), and the pinned
    process's /proc/self/status and getcpu say so."""
    cmd = ["/usr/bin/taskset", "-c", "1", "/bin/grep", "Cpus_allowed_list", "/proc/self/status"]
    same(["--cpus", "2", *cmd], native(*cmd))
    cmd = ["/usr/bin/taskset", "-p", "-c", "1", "4194000"]     # no such process: ESRCH
    same(["--cpus", "2", *cmd], native(*cmd))


@needs_two
def test_code_rewritten_while_moving_between_cpus():
    """A JIT's page (writable and executable) and a W^X page rewritten on one CPU and run on the
    other, which had translated the old code: both CPUs must run the new code."""
    exe = str(fixture_path("procs-edge-smp_jit"))
    nat = native(exe)
    assert nat.returncode == 0, nat.stdout
    same(["--cpus", "2", exe], nat)


PIPELINES = "i=0; while [ $i -lt 200 ]; do echo $((6*7)) | tr 4 X; i=$((i+1)); done; echo done"


@needs_two
def test_copy_on_write_seen_by_the_cpu_that_comes_back():
    """A shell running 200 pipelines forks twice per line and moves between the two CPUs: a
    page it shares copy-on-write with a child is copied on one CPU (its own store, or elfkit's
    write of a signal frame), and the CPU it ran on before must not read the old frame through
    the TLB entry it kept -- that frame is the child's, or freed and handed out again. (It did:
    the SIGCHLD handler returned to a child's stack word; dash crashed or said "Out of space"
    in about half of the runs.) Compared with the same shell line run natively."""
    cmd = ["/bin/sh", "-c", PIPELINES]
    nat = native(*cmd)
    assert nat.stdout.endswith(b"X2\ndone\n")
    same(["--cpus", "2", *cmd], nat)


def test_two_processes_run_at_once():
    """Two CPU-bound children of one shell: the machine brings its second CPU up, both CPUs
    run guest code, and their guest time overlaps (the sum exceeds the wall time)."""
    from elfkit.kernel.exec import spawn
    from elfkit.kernel.task import RunLimits
    loop = str(fixture_path("cpubound"))
    script = f"{loop} 30 >/dev/null & {loop} 30 >/dev/null & wait"
    task = spawn("/bin/sh", [b"sh", b"-c", script.encode()], [b"PATH=/usr/bin:/bin"], cpus=2)
    start = time.monotonic()
    status = task.run(RunLimits(timeout_s=120))
    wall = time.monotonic() - start
    assert status.code == 0, status
    cpus = task.kernel.machine.cpus
    assert len(cpus) == 2
    assert all(c.guest_s > 0.05 for c in cpus), [c.guest_s for c in cpus]
    assert sum(c.guest_s for c in cpus) > wall * 1.15, ([c.guest_s for c in cpus], wall)


def test_one_cpu_when_asked():
    """--cpus 1 (and --max-insns, which counts one CPU's instructions): a pipeline still runs,
    on the boot CPU alone."""
    from elfkit.kernel.exec import spawn
    from elfkit.kernel.task import RunLimits
    task = spawn("/bin/sh", [b"sh", b"-c", b"echo hi | tr a-z A-Z >/dev/null"],
                 [b"PATH=/usr/bin:/bin"], cpus=1)
    assert task.run(RunLimits(timeout_s=60)).code == 0
    assert len(task.kernel.machine.cpus) == 1


class _FailingObserver:
    """A process tracer whose fork hook raises (a bug in elfkit's own observer code)."""

    def cloned(self, *_):
        raise RuntimeError("observer bug")

    def __getattr__(self, _name):
        return lambda *args, **kwargs: None


def test_a_failing_fork_observer_does_not_hang_elfkit():
    """An exception in a hook of kernel_clone (a bug in elfkit) kills the caller with elfkit's
    internal-error status; the child already made still runs and ends, so the run ends (it hung
    until --timeout: the child was registered but never queued)."""
    from elfkit.kernel.exec import spawn
    from elfkit.kernel.task import RunLimits
    task = spawn("/bin/sh", [b"sh", b"-c", b"/bin/true; exit 5"], [b"PATH=/usr/bin:/bin"],
                 tracer=_FailingObserver(), warn=lambda msg: None)
    start = time.monotonic()
    status = task.run(RunLimits(timeout_s=60))
    assert time.monotonic() - start < 30, status
    assert status.limit == "internal" and "observer bug" in status.reason, status
    assert not task.kernel.live_tasks()
