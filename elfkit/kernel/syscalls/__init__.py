"""The system call layer: a table from x86-64 syscall number to handler, and the dispatcher.

Each area's module (files, attrs, splice, aio, memory, process, timekeeping,
signals, poll, anonfd, net, ipc, timers, sched, misc, refused) exports TABLE: a list of Syscall records. A
handler takes the Task and the six argument registers and returns the value for
%rax (a negative errno on failure). Each record says how far it goes (`status`:
full, partial with what is missing, refused with the kernel's errno and why, or
nosys for numbers x86-64 Linux has never implemented); docs/SYSCALLS.md is made
from the records (elfkit.kernel.syscalls.compat). A number with no record returns
-ENOSYS and is reported once.
"""
from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass
from typing import Callable

from elfkit.kernel.syscalls.numbers import NAMES, name_of


@dataclass(frozen=True, slots=True)
class Syscall:
    nr: int
    handler: Callable
    args: tuple[str, ...] = ()      # argument kinds, for --strace (see elfkit.kernel.strace)
    ret: str = "int"               # result kind: int, hex (addresses), fd
    status: str = "full"           # full | partial | refused | nosys (docs/SYSCALLS.md)
    note: str = ""                 # partial: what is missing; refused/nosys: why

    @property
    def name(self) -> str:
        return name_of(self.nr)


def build_table() -> dict[int, Syscall]:
    from elfkit.kernel.syscalls import (aio, anonfd, attrs, files, ipc, memory, misc, net, poll,
                                        process, refused, sched, signals, splice, timekeeping,
                                        timers)
    table: dict[int, Syscall] = {}
    for module in (refused, files, attrs, splice, aio, memory, process, timekeeping, signals,
                   misc, poll, anonfd, net, ipc, timers, sched):
        for entry in module.TABLE:
            table[entry.nr] = entry            # a later module's handler replaces a refusal
    return table


def make_dispatcher(kernel, cpu):
    """The function `cpu` calls on every `syscall` instruction (must never raise).

    The common path is kept short (it runs ~200,000 times a second): one batched
    register read, a dict look-up, the handler, one batched write. A handler that
    must wait raises Sleep: the task sleeps and the scheduler makes the call again
    when it is woken (retry_call). The call runs under the big kernel lock (kernel.smp),
    and work other CPUs left for this one is done before the guest goes on."""
    from elfkit.kernel.wait import Sleep
    from elfkit.kernel.sched import switch_thread
    from elfkit.kernel.signals import deliver_pending, deliverable_signals
    from elfkit.kernel.task import GuestExit
    from elfkit.kernel.cpu import USER_RFLAGS
    table = getattr(kernel, "syscall_table", None) or build_table()
    kernel.syscall_table = table
    handlers = [None] * (max(table, default=0) + 1)     # by number: a list index, no dict call
    for nr, entry in table.items():
        handlers[nr] = entry.handler
    n_handlers = len(handlers)
    # the arguments' batched read and Cpu.syscall_return, inline (Cpu.syscall_io)
    read_batch, write_batch, uch, args_batch, ret_batch, env = cpu.syscall_io()
    a_ids, a_ptrs, a_n, a_buf, a_unpack = args_batch
    r_ids, r_ptrs, r_n, r_buf, r_pack = ret_batch
    pack_rax_rcx, pack_r11 = struct.Struct("<QQ").pack_into, struct.Struct("<Q").pack_into
    strace = kernel.strace
    enter, leave = kernel.bkl.acquire, kernel.bkl.release   # (no `with`: its look-ups cost)

    def dispatch():
        enter()
        try:
            try:
                proc = cpu.current
                if proc.exit is not None:                # ended by a hook: the rest of its block runs
                    cpu.stop()                           # until the stop lands, but makes no syscall
                    return
                read_batch(uch, a_ids, a_ptrs, a_n)
                v = a_unpack(a_buf)
                nr, a0, a1, a2, a3, a4, a5, rip, eflags = v
                h = handlers[nr] if nr < n_handlers else None
                try:
                    if h is not None and strace is None and proc.seccomp is None:
                        result = h(proc, a0, a1, a2, a3, a4, a5)      # (the common case first)
                    elif proc.seccomp is not None and not _from_vdso(proc, rip) and \
                            (result := _seccomp(proc, nr, v)) is not None:
                        pass                             # the filter answered: the call is skipped
                    elif h is not None and (strace is None or _from_vdso(proc, rip)):
                        result = h(proc, a0, a1, a2, a3, a4, a5)
                    else:
                        result = _traced_call(proc, table, nr, v)
                except Sleep as s:
                    result = s.with_traceback(None)     # (kept in blocked_call: no frame with it)
                except GuestExit as e:
                    proc.exit = e.status
                    cpu.stop()
                    return
                except Exception as e:  # noqa: BLE001 - a bug in elfkit: stop the guest, say where
                    proc.exit = _internal(proc, nr, e)
                    cpu.stop()
                    return
                if result.__class__ is Sleep:            # (raised, or returned: a futex wait)
                    kernel.sleep(proc, (nr, (a0, a1, a2, a3, a4, a5), rip, eflags, result))
                    if proc.state != "S" or not switch_thread(kernel, cpu, proc, rip + 2):
                        cpu.stop()
                    return
                if proc.restart_at is not None:          # rt_sigreturn or execve replaced the registers
                    cpu.stop()
                    return
                # In the hook %rip is the syscall instruction itself; the kernel returns after it
                # (RCX = return address, R11 = RFLAGS, as the instruction defines).
                if env is not None:                      # (stored in env: no ctypes call)
                    pack_rax_rcx(env, 0, result & 0xFFFFFFFFFFFFFFFF, rip + 2)
                    pack_r11(env, 88, eflags | USER_RFLAGS)
                else:
                    r_pack(r_buf, 0, result & 0xFFFFFFFFFFFFFFFF, rip + 2, eflags | USER_RFLAGS)
                    write_batch(uch, r_ids, r_ptrs, r_n)
                if proc.exit is not None or proc is not cpu.current or proc.state != "R":
                    cpu.stop()
                elif (proc.signals.pending or proc.group.pending) and deliverable_signals(proc):
                    # %rip written in the hook would be moved on by Unicorn after it: set it, act on
                    # the signals, and go on from restart_at (past the syscall, or a handler frame).
                    cpu.set_reg("rip", rip + 2)          # a handler frame must return past the syscall
                    if kernel.gdb is not None and proc is kernel.gdb.task:
                        proc.restart_at = rip + 2        # --gdb: gdb sees them first (sched)
                    elif not deliver_pending(proc):
                        proc.restart_at = rip + 2
                    cpu.stop()
            finally:
                if cpu.pending or cpu.tlb_stale:     # cpu.catch_up(), inlined: every syscall
                    cpu.apply_pending()
        finally:
            leave()

    return dispatch


def _from_vdso(proc, rip) -> bool:
    """A system call made by the vDSO's own functions (elfkit.loader.vdso): the kernel's answer
    to a clock_gettime() that never leaves user space natively, so neither --strace nor a
    seccomp filter sees it, as they do not see the kernel's vDSO at work."""
    lo, hi = proc.mm.vdso_text
    return lo <= rip < hi


def _traced_call(proc, table, nr, v):
    """The slow path: an unknown number, or --strace around the handler."""
    from elfkit.kernel.task import GuestExit
    entry = table.get(nr)
    args = (v[1], v[2], v[3], v[4], v[5], v[6])
    strace = proc.strace
    if entry is None:
        _unknown(proc, nr)
        result = -errno.ENOSYS
        if strace is not None:
            strace.unknown(proc, nr, v, result)
        return result
    strace.enter(proc, entry, args)
    try:
        result = entry.handler(proc, *args)
    except GuestExit as e:
        strace.exit(proc, entry, e.status)
        raise
    except Exception as e:
        if type(e).__name__ == "Sleep":
            strace.unfinished(proc, entry, args)
        raise
    if type(result).__name__ == "Sleep":                # (a futex wait returns it)
        strace.unfinished(proc, entry, args)
        return result
    strace.leave(proc, entry, args, result)
    return result


def _seccomp(proc, nr, v):
    """The task's seccomp mode or filters on this call (elfkit.kernel.seccomp): None to make
    it, else the value it returns instead (or GuestExit: killed)."""
    from elfkit.kernel.seccomp import check
    return check(proc, nr, v[7] + 2, (v[1], v[2], v[3], v[4], v[5], v[6]))


def _internal(task, nr, e):
    """A bug in elfkit met in a handler: the task is killed (SIGKILL). The first process's is
    reported by the command line when elfkit ends; any other's is said at once, since only
    its parent would see it die."""
    from elfkit.kernel.task import ExitStatus
    reason = f"elfkit internal error in {_name(nr)}: {type(e).__name__}: {e}"
    if task is not task.kernel.first:
        task.kernel.warn(f"pid {task.pid}: {reason} (please report this); the process is killed")
    if os.environ.get("ELFKIT_DEBUG"):
        import traceback
        traceback.print_exception(e)
    return ExitStatus(signal=9, reason=reason, limit="internal")


ERESTART_NEVER = {"nanosleep", "clock_nanosleep", "pause", "rt_sigsuspend", "poll", "ppoll",
                  "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2", "rt_sigtimedwait",
                  "semop", "semtimedop", "msgsnd", "msgrcv",   # SysV IPC: EINTR, SA_RESTART or not
                  "io_getevents", "io_pgetevents"}


def retry_call(kernel, task) -> bool:
    """The woken task's system call, made again: True when it returned to the task (result in
    %rax) or a signal ended it, False when the task waits on. As the kernel does, the call is
    made again first -- it may be able to complete now (a child to reap, data in the pipe) --
    and only a call that would wait again is interrupted by a pending signal: with a handler,
    EINTR (or a restart, for SA_RESTART); with a default action (stop, terminate), the call
    stays where it is and is made again after SIGCONT. The task is current."""
    from elfkit.kernel.signals import deliverable_signals
    from elfkit.kernel.task import GuestExit
    from elfkit.kernel.wait import Sleep
    nr, args, rip, eflags, _sleep = task.blocked_call
    task.blocked_call = None
    cpu = kernel.cpu
    entry = kernel.syscall_table.get(nr)
    try:
        result = entry.handler(task, *args) if entry else -errno.ENOSYS
        if result.__class__ is Sleep:                 # (a futex wait returns it)
            raise result
    except Sleep as s:
        s.__traceback__ = None                        # (kept in blocked_call: no frame with it)
        signals = deliverable_signals(task) if s.interruptible and task.exit is None else []
        if signals and kernel.gdb is not None:
            # --gdb: gdb sees each signal first (get_signal under ptrace), the task shown
            # asleep in its call; it may drop it, change it, or kill the program
            task.blocked_call = (nr, args, rip, eflags, s)
            kernel.gdb.signals_due(task)
            task.blocked_call = None
            if task.exit is not None:
                return True
            signals = deliverable_signals(task)
        if not signals:
            kernel.sleep(task, (nr, args, rip, eflags, s))
            return False
        return _interrupted(kernel, task, entry, (nr, args, rip, eflags, s), signals)
    except GuestExit as e:
        task.exit = e.status
        if task.strace is not None:
            task.strace.exit(task, None, e.status)
        return True
    except Exception as e:  # noqa: BLE001
        task.exit = _internal(task, nr, e)
        return True
    task.restart = {}
    if task.strace is not None and entry is not None:
        task.strace.resumed(task, entry, args, result)
    if task.restart_at is None:
        cpu.syscall_return(result, rip + 2, eflags)
    return True


def _interrupted(kernel, task, entry, call, signals) -> bool:
    """A signal ends the wait of `call` (see retry_call)."""
    from elfkit.kernel.signals import SA_RESTART, _action, deliver_pending
    nr, args, rip, eflags, _sleep = call
    cpu = kernel.cpu
    handled = [s for s in signals if _action(task, s)[0] > 1]
    if not handled:                                   # stop or die: the call waits where it is
        task.blocked_call = call
        deliver_pending(task)
        return task.exit is not None
    name = entry.name if entry else ""
    restart = all(_action(task, s)[1] & SA_RESTART for s in handled) and name not in ERESTART_NEVER
    restarts = getattr(entry.handler, "restarts", None) if entry else None
    if restart and restarts is not None:
        restart = restarts(task, *args)           # the call's own rule (futex: not when timed)
    done = task.restart.get("done")
    if done:                                          # a pipe write that got some bytes out
        cpu.syscall_return(done, rip + 2, eflags)
    elif restart:
        cpu.set_regs(rax=nr, rip=rip)                 # -ERESTARTSYS: the handler returns to it
    else:
        interrupted = getattr(entry.handler, "interrupted", None) if entry else None
        if interrupted is not None:
            interrupted(task, *args)
        cpu.syscall_return(-errno.EINTR, rip + 2, eflags)
        if task.strace is not None:
            task.strace.resumed(task, entry, args, -errno.EINTR)
    task.restart = {}
    return True


def _name(nr):
    return NAMES.get(nr, f"syscall {nr}")


def _unknown(proc, nr):
    name = _name(nr)
    proc.warn_once(f"nosys:{nr}", f"{proc.image.execfn if proc.image else 'guest'}: unsupported "
                                  f"system call {name} ({nr}) returns -ENOSYS")
