"""kernel/fork.c: kernel_clone and copy_process -- fork, vfork, clone and threads.

copy_process reads as the man page's list of clone flags, one after another:
the new task gets a copy of each part of its parent (copy_files, copy_fs,
copy_sighand, copy_mm with copy-on-write) unless the flag for that part says
to share it. A thread (CLONE_THREAD, as glibc's pthread_create asks with
CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_SYSVSEM|CLONE_SETTLS|
CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID) is a task like any other -- its own
tid, registers, stack and FS base -- that joins its creator's thread group
(task.ThreadGroup): the same tgid, parent, signal state shared with it, and no
exit signal to anyone; its children are the process's.
"""
from __future__ import annotations

import errno
import random
import struct

from elfkit.kernel.cpu import USER_RFLAGS
from elfkit.kernel.wait import Sleep
from elfkit.kernel.task import TASK_DEAD, TASK_ZOMBIE, ExitStatus, FsStruct, SignalState, Task

CSIGNAL = 0xFF
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT = 0x1000, 0x2000, 0x4000, 0x8000
CLONE_THREAD, CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS = 0x10000, 0x20000, 0x40000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_DETACHED = 0x100000, 0x200000, 0x400000
CLONE_UNTRACED, CLONE_CHILD_SETTID, CLONE_NEWCGROUP = 0x800000, 0x1000000, 0x2000000
CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_IO = \
    0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000, 0x80000000
CLONE_NEWS = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
    CLONE_NEWPID | CLONE_NEWNET
FLAG_NAMES = [(CLONE_VM, "CLONE_VM"), (CLONE_FS, "CLONE_FS"), (CLONE_FILES, "CLONE_FILES"),
              (CLONE_SIGHAND, "CLONE_SIGHAND"), (CLONE_PIDFD, "CLONE_PIDFD"),
              (CLONE_PTRACE, "CLONE_PTRACE"), (CLONE_VFORK, "CLONE_VFORK"),
              (CLONE_PARENT, "CLONE_PARENT"), (CLONE_THREAD, "CLONE_THREAD"),
              (CLONE_NEWNS, "CLONE_NEWNS"), (CLONE_SYSVSEM, "CLONE_SYSVSEM"),
              (CLONE_SETTLS, "CLONE_SETTLS"), (CLONE_PARENT_SETTID, "CLONE_PARENT_SETTID"),
              (CLONE_CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"), (CLONE_DETACHED, "CLONE_DETACHED"),
              (CLONE_UNTRACED, "CLONE_UNTRACED"), (CLONE_CHILD_SETTID, "CLONE_CHILD_SETTID"),
              (CLONE_NEWCGROUP, "CLONE_NEWCGROUP"), (CLONE_NEWUTS, "CLONE_NEWUTS"),
              (CLONE_NEWIPC, "CLONE_NEWIPC"), (CLONE_NEWUSER, "CLONE_NEWUSER"),
              (CLONE_NEWPID, "CLONE_NEWPID"), (CLONE_NEWNET, "CLONE_NEWNET"), (CLONE_IO, "CLONE_IO")]


def clone_flag_names(flags: int) -> list[str]:
    from elfkit.kernel.task import signal_name
    names = [n for bit, n in FLAG_NAMES if flags & bit]
    if flags & CSIGNAL:
        names.append(signal_name(flags & CSIGNAL))
    return names


def kernel_clone(parent: Task, flags: int, stack: int = 0, parent_tid: int = 0,
                 child_tid: int = 0, tls: int = 0, syscall_rip: int = 0, eflags: int = 0) -> int:
    """fork/vfork/clone/clone3 from the running task: the child's pid, or -errno. A vfork
    parent sleeps here until the child execs or exits (then the call returns its pid)."""
    waiting = parent.restart.get("vfork_child")
    if waiting is not None:                      # woken: has the child let go of our memory?
        child = parent.kernel.tasks.get(waiting)
        if child is not None and child.vfork_parent is parent:
            raise Sleep("vfork", interruptible=False)
        parent.restart = {}
        return waiting
    err = _check_flags(parent, flags)
    if err:
        return err
    child = copy_process(parent, flags, stack, child_tid, tls, syscall_rip, eflags)
    if isinstance(child, int):
        return child
    kernel = parent.kernel
    try:
        if flags & CLONE_PARENT_SETTID and parent_tid:
            parent.mm.write(parent_tid, struct.pack("<i", child.pid))
        if kernel.tracer is not None:
            kernel.tracer.cloned(parent, child, flags)
        if kernel.gdb is not None:
            kernel.gdb.cloned(parent, child, flags)     # (--gdb: fork/vfork events)
        if kernel.strace is not None and kernel.strace.pid_of is None:
            kernel.strace.pid_of = lambda: kernel.current.pid if kernel.current else 0
    finally:
        # the child is made: it runs even when an observer above failed (a bug in elfkit, which
        # kills the caller); a task made and never queued would keep elfkit waiting forever
        kernel.enqueue(child)
    if flags & CLONE_VFORK:
        child.vfork_parent = parent
        parent.restart["vfork_child"] = child.pid
        raise Sleep("vfork", interruptible=False)
    return child.pid


def _check_flags(parent: Task, flags: int) -> int:
    """The combinations copy_process refuses, and what elfkit does not do yet."""
    if flags & CLONE_SIGHAND and not flags & CLONE_VM:
        return -errno.EINVAL
    if flags & CLONE_THREAD and not flags & CLONE_SIGHAND:
        return -errno.EINVAL
    if flags & CLONE_FS and flags & CLONE_NEWNS:
        return -errno.EINVAL
    if flags & CLONE_THREAD and parent.group.group_exit is not None:
        return -errno.EAGAIN                     # the process is exiting (or exec'ing)
    if flags & CLONE_NEWS:
        return -errno.EPERM                      # no namespaces for an unprivileged guest
    return 0


def copy_process(parent: Task, flags: int, stack: int, child_tid: int, tls: int,
                 syscall_rip: int, eflags: int) -> Task | int:
    kernel = parent.kernel
    state = kernel.schedule_state
    limit = state.limits.max_procs if state is not None else None
    if limit is not None and sum(1 for t in kernel.guests() if t.state not in
                                 (TASK_ZOMBIE, TASK_DEAD)) >= limit:
        kernel.limit_exceeded(ExitStatus(          # --max-procs: every guest ends
            signal=9, limit="max-procs",
            reason=f"stopped: more than {limit} processes and threads (--max-procs)"))
        return -errno.EAGAIN
    leader = parent.group.leader
    # The process's children are the leader's, whichever thread forked them (a thread's parent
    # is its process's parent: CLONE_THREAD implies CLONE_PARENT).
    if flags & (CLONE_PARENT | CLONE_THREAD):
        real_parent = leader.parent if leader.parent is not None else leader
    else:
        real_parent = leader
    # CLONE_FILES: the same table; otherwise a copy holding the same open file descriptions.
    files = parent.files if flags & CLONE_FILES else parent.files.dup_table()
    if flags & CLONE_FILES:
        files.users += 1
    # CLONE_FS: the same working directory and umask; otherwise a copy.
    fs = parent.fs if flags & CLONE_FS else FsStruct(parent.fs.cwd, parent.fs.umask)
    # CLONE_SIGHAND: the same handler table; otherwise a copy. Blocked signals are inherited,
    # pending ones are not; a child sharing memory without vfork gets no alternate stack.
    actions = parent.signals.actions if flags & CLONE_SIGHAND else dict(parent.signals.actions)
    altstack = (0, 2, 0) if flags & CLONE_VM and not flags & CLONE_VFORK else parent.signals.altstack
    signals = SignalState(actions=actions, blocked=parent.signals.blocked, altstack=altstack)
    rng = random.Random(parent.rng.getrandbits(64)) if parent.seed is not None else parent.rng
    child = kernel.new_task(real_parent, fs=fs, files=files, creds=parent.creds, signals=signals,
                            rng=rng, seed=parent.seed, thread=bool(flags & CLONE_THREAD))
    if flags & CLONE_THREAD:
        _join_group(parent, child)
    else:
        child.pgid, child.sid = parent.pgid, parent.sid
        child.rlimits = dict(parent.rlimits)
        child.group.oom_score_adj = parent.group.oom_score_adj
        child.group.oom_score_adj_min = parent.group.oom_score_adj_min
    child.cpus_allowed = parent.cpus_allowed       # the calling thread's mask, thread or fork
    child.image, child.argv, child.envp, child.comm = parent.image, parent.argv, parent.envp, parent.comm
    child.exit_signal = -1 if flags & CLONE_THREAD else flags & CSIGNAL
    child.rseq_area = None if flags & CLONE_VM else parent.rseq_area
    child.rseq_sig, child.rseq_cpu = parent.rseq_sig, -1
    child.robust_list = (0, 0)
    child.sigframes = {} if flags & CLONE_THREAD else dict(parent.sigframes)
    _copy_sched_and_flags(parent, child)
    # copy_mm: CLONE_VM shares the address space; otherwise dup_mmap, copy-on-write.
    if flags & CLONE_VM:
        child.mm = parent.mm
        parent.mm.users += 1
    else:
        child.mm = parent.mm.dup_mmap()
        if getattr(parent.mm, "ldt", None):              # ldt_dup_context: modify_ldt's table
            child.mm.ldt = dict(parent.mm.ldt)
    if flags & CLONE_CHILD_SETTID and child_tid and child.mm.find(child_tid) is not None:
        child.mm.pages.write(child_tid, struct.pack("<i", child.pid))
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_child_tid = child_tid
    # copy_thread: the parent's registers, returning 0 from the call, on its own stack and TLS
    child.ctx = parent.cpu.context()
    regs = {"rax": 0, "rip": syscall_rip + 2, "rcx": syscall_rip + 2, "r11": eflags | USER_RFLAGS}
    if stack:
        regs["rsp"] = stack
    child.initial_regs = regs
    if flags & CLONE_SETTLS:
        child.initial_regs["fs_base"] = tls
    if flags & CLONE_THREAD:
        child.linker = parent.linker               # (one process: one link map)
    elif parent.linker is not None and hasattr(parent.linker, "fork"):
        child.linker = parent.linker.fork(child)
    return child


def _join_group(parent: Task, child: Task):
    """CLONE_THREAD: the child is one more thread of the caller's process. Signals sent to the
    process while it had one thread waited on that thread; from now on any thread that does not
    block them may take them, so they move to the shared queue."""
    group = parent.group
    child.group = group
    child.tgid = group.leader.pid
    child.wait_chldexit = group.leader.wait_chldexit
    group.threads.append(child)
    if len(group.threads) == 2:
        leader = group.leader
        for s in [s for s in leader.signals.pending
                  if not any(i.private for i in leader.siginfo.get(s, ()))]:
            leader.signals.pending.remove(s)
            group.pending.append(s)
            group.siginfo[s] = leader.siginfo.pop(s, [])


def _copy_sched_and_flags(parent: Task, child: Task):
    """What dup_task_struct copies and sched_fork resets: the scheduling settings (the
    parent's, unless it asked for SCHED_RESET_ON_FORK), personality, no_new_privs and the
    seccomp filters (shared: they never change once installed), prctl's settings."""
    child.nice, child.policy, child.rt_priority = parent.nice, parent.policy, parent.rt_priority
    child.ioprio = parent.ioprio
    if parent.reset_on_fork:                     # sched_fork: back to SCHED_OTHER, nice >= 0
        if child.policy in (1, 2, 6):            # SCHED_FIFO, SCHED_RR, SCHED_DEADLINE
            child.policy, child.rt_priority, child.nice = 0, 0, 0
        elif child.nice < 0:
            child.nice = 0
    child.reset_on_fork = False
    child.personality, child.no_new_privs = parent.personality, parent.no_new_privs
    child.seccomp, child.mempolicy = parent.seccomp, parent.mempolicy
    child.pdeath_signal = 0                      # copy_process: never inherited
    child.timer_slack_ns = child.default_timer_slack_ns = parent.timer_slack_ns
    child.thp_disable, child.tsc_mode, child.mce_kill = \
        parent.thp_disable, parent.tsc_mode, parent.mce_kill


# --- the system calls ------------------------------------------------------------------------------

def sys_fork(p, *_):
    rip, eflags = _syscall_site(p)
    return kernel_clone(p, 17, syscall_rip=rip, eflags=eflags)


def sys_vfork(p, *_):
    rip, eflags = _syscall_site(p)
    return kernel_clone(p, CLONE_VM | CLONE_VFORK | 17, syscall_rip=rip, eflags=eflags)


def sys_clone(p, flags, stack, parent_tid, child_tid, tls, *_):
    rip, eflags = _syscall_site(p)
    return kernel_clone(p, flags & 0xFFFFFFFFFFFFFFFF, stack, parent_tid, child_tid, tls, rip, eflags)


def sys_clone3(p, args_ptr, size, *_):
    """struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size,
    tls, set_tid, set_tid_size, cgroup."""
    if size < 64 or size > 4096:
        return -errno.EINVAL
    raw = p.mm.read(args_ptr, min(size, 88))
    if raw is None:
        return -errno.EFAULT
    raw = raw.ljust(88, b"\0")
    flags, _pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, \
        set_tid_size, _cgroup = struct.unpack("<11Q", raw)
    if exit_signal & ~CSIGNAL or flags & CSIGNAL or set_tid or set_tid_size:
        return -errno.EINVAL
    if exit_signal and flags & (CLONE_THREAD | CLONE_PARENT):
        return -errno.EINVAL                     # clone3_args_valid: no exit signal for those
    rip, eflags = _syscall_site(p)
    top = stack + stack_size if stack else 0
    return kernel_clone(p, flags | exit_signal, top, parent_tid, child_tid, tls, rip, eflags)


def _syscall_site(p) -> tuple[int, int]:
    """Where the running task's syscall instruction is, and its RFLAGS (the child returns past
    it with the same flags)."""
    return p.cpu.reg("rip"), p.cpu.reg("eflags")      # in the syscall hook: the instruction
