"""kernel/kthread.c: kernel threads -- tasks of the kernel's own, with no memory of a process.

A kernel thread is a task like any other in the task list (it has a pid, a
state, a parent; `ps` shows it, in brackets, since it has no command line),
but it has no mm and never runs guest code: it exists to do work the kernel
does on its own behalf. As in Linux, kthreadd (pid 2, parent 0: started by the
kernel itself, not by init) is the parent of every other kernel thread. elfkit
has one such thread, oom_reaper (mm/oom_kill.c): the OOM killer's reaping of a
victim's memory is done, and reported by --trace-procs, as its work.

Kernel threads are never guests: the run ends when no guest is left whatever
they do, the OOM killer never chooses one, and signals sent to one are
accepted and ignored (kill(-1) passes them by). Their pids come before the
first guest's (kernel.FIRST_PID), so pid numbers read as on Linux.
"""
from __future__ import annotations

KTHREADD_PID = 2
KTHREAD_NAMES = ("kthreadd", "oom_reaper")    # pids 2, 3


def start_kthreads(kernel, first_pid: int):
    """Make kthreadd and its children with the pids after init's; returns them by name."""
    from elfkit.kernel.fs.files import FdTable
    from elfkit.kernel.task import TASK_SLEEPING, FsStruct, SignalState, Task
    from elfkit.kernel.wait import WaitQueue
    made = {}
    parent = None
    for pid, name in enumerate(KTHREAD_NAMES, start=KTHREADD_PID):
        assert pid < first_pid
        t = Task(kernel, pid, parent=parent, fs=FsStruct("/"), files=FdTable(),
                 creds=kernel.init.creds, signals=SignalState(), rng=kernel.rng, seed=kernel.seed)
        t.kthread = True                      # PF_KTHREAD
        t.comm, t.state, t.wchan = name, TASK_SLEEPING, name
        t.pgid = t.sid = 0
        t.wait_chldexit = WaitQueue()
        kernel.tasks[pid] = t
        if parent is not None:
            parent.children.append(t)
        else:
            parent = t                        # kthreadd: the others are its children
        made[name] = t
    return made


__all__ = ["start_kthreads", "KTHREADD_PID"]
