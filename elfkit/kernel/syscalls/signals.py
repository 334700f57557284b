"""Signal system calls: rt_sigaction, rt_sigprocmask, sigaltstack, rt_sigreturn, kill/tgkill/tkill
to the guest's own processes, pause, rt_sigsuspend, rt_sigpending, rt_sigtimedwait,
rt_sigqueueinfo/rt_tgsigqueueinfo (a siginfo of the sender's making) and restart_syscall."""
from __future__ import annotations

import errno
import struct
import time

from elfkit.kernel import signals as sig
from elfkit.kernel.wait import Sleep
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.task import TASK_DEAD, TASK_ZOMBIE
from elfkit.kernel.syscalls.numbers import NR
from elfkit.kernel.syscalls.files import s32

SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
UNBLOCKABLE = (1 << 8) | (1 << 18)          # SIGKILL, SIGSTOP


def sys_rt_sigaction(p, signum, act, oldact, sigsetsize, *_):
    if not 1 <= signum <= 64 or sigsetsize != 8:
        return -errno.EINVAL
    old = p.signals.actions.get(signum, (0, 0, 0, 0))
    if act:
        raw = p.mm.read(act, 32)
        if raw is None:
            return -errno.EFAULT
        if signum in (9, 19):
            return -errno.EINVAL
        handler, flags, restorer, mask = struct.unpack("<QQQQ", raw)
        p.signals.actions[signum] = (handler, flags, restorer, mask)
    if oldact and not p.mm.write(oldact, struct.pack("<QQQQ", *old)):
        return -errno.EFAULT
    return 0


def sys_rt_sigprocmask(p, how, set_ptr, old_ptr, sigsetsize, *_):
    if sigsetsize != 8:
        return -errno.EINVAL
    old = p.signals.blocked
    if set_ptr:
        raw = p.mm.read(set_ptr, 8)
        if raw is None:
            return -errno.EFAULT
        new = struct.unpack("<Q", raw)[0]
        if how == SIG_BLOCK:
            p.signals.blocked |= new
        elif how == SIG_UNBLOCK:
            p.signals.blocked &= ~new
        elif how == SIG_SETMASK:
            p.signals.blocked = new
        else:
            return -errno.EINVAL
        p.signals.blocked &= ~UNBLOCKABLE
    if old_ptr and not p.mm.write(old_ptr, struct.pack("<Q", old)):
        return -errno.EFAULT
    return 0


def sys_sigaltstack(p, ss, old, *_):
    if old and not p.mm.write(old, struct.pack("<QiiQ", p.signals.altstack[0], p.signals.altstack[1],
                                                   0, p.signals.altstack[2])):
        return -errno.EFAULT
    if ss:
        raw = p.mm.read(ss, 24)
        if raw is None:
            return -errno.EFAULT
        sp, flags, _pad, size = struct.unpack("<QiiQ", raw)
        if flags & 2:                              # SS_DISABLE
            p.signals.altstack = (0, 2, 0)
        elif size < 2048:
            return -errno.ENOMEM
        else:
            p.signals.altstack = (sp, 0, size)
    return 0


def sys_rt_sigreturn(p, *_):
    if sig.rt_sigreturn(p):
        p.restart_at = p.cpu.pc()
    return 0


def _alive(t) -> bool:
    return t is not None and t.state not in (TASK_DEAD,)


def sys_kill(p, pid, signum, *_):
    """kill_something_info: a process, the caller's group (0), a group (-pgid), or every guest
    process but init and the caller (-1). The guest reaches only its own pid namespace."""
    pid = s32(pid)
    signum &= 0xFFFFFFFF
    if not 0 <= signum <= 64:
        return -errno.EINVAL
    kernel = p.kernel
    if pid > 0:
        t = kernel.find_task(pid)
        if t is None:
            return -errno.ESRCH
        sig.send_sig(t.group.leader, signum, p)          # (a tid names its process too)
        return 0
    if pid == -1:
        targets = [t for t in kernel.processes() if t.group is not p.group and t.group.live_threads()]
        for t in targets:
            sig.send_sig(t, signum, p)
        return 0 if targets else -errno.ESRCH
    group = p.pgid if pid == 0 else -pid
    if pid == -(1 << 31):
        return -errno.ESRCH
    return 0 if sig.kill_pgrp(kernel, group, signum, p) else -errno.ESRCH


def sys_tgkill(p, tgid, tid, signum, *_):
    tgid, tid = s32(tgid), s32(tid)
    if tgid <= 0 or tid <= 0 or not 0 <= signum <= 64:
        return -errno.EINVAL
    t = p.kernel.find_task(tid)
    if t is None or t.tgid != tgid:
        return -errno.ESRCH
    sig.send_sig(t, signum, p, code=sig.SI_TKILL)
    return 0


def sys_tkill(p, tid, signum, *_):
    tid = s32(tid)
    if tid <= 0 or not 0 <= signum <= 64:
        return -errno.EINVAL
    t = p.kernel.find_task(tid)
    if t is None:
        return -errno.ESRCH
    sig.send_sig(t, signum, p, code=sig.SI_TKILL)
    return 0


def sys_pause(p, *_):
    """Sleep until a signal is delivered: its handler runs, then pause returns EINTR."""
    raise Sleep("sys_pause")


def sys_rt_sigsuspend(p, mask_ptr, size, *_):
    """Wait with `mask` in place; after the handler the old mask is back (saved_mask)."""
    if size != 8:
        return -errno.EINVAL
    if "sigsuspend" not in p.restart:
        raw = p.mm.read(mask_ptr, 8)
        if raw is None:
            return -errno.EFAULT
        p.restart["sigsuspend"] = p.signals.blocked
        p.signals.saved_mask = p.signals.blocked
        p.signals.blocked = struct.unpack("<Q", raw)[0] & ~UNBLOCKABLE
    raise Sleep("sigsuspend")


def sys_rt_sigpending(p, set_ptr, size, *_):
    if size > 8:
        return -errno.EINVAL
    bits = sig.pending_mask(p) & p.signals.blocked
    return 0 if p.mm.write(set_ptr, struct.pack("<Q", bits)[:size]) else -errno.EFAULT


def sys_rt_sigtimedwait(p, set_ptr, info_ptr, ts_ptr, size, *_):
    """do_sigtimedwait: take a pending signal of the set, waiting for one (at most the
    timeout: EAGAIN). While it waits the set is unblocked, so that such a signal wakes it
    (real_blocked keeps an ignored one from being dropped); another signal with a handler
    ends the wait with EINTR."""
    from elfkit.kernel.syscalls.timekeeping import read_timespec
    if size != 8:
        return -errno.EINVAL
    raw = p.mm.read(set_ptr, 8)
    if raw is None:
        return -errno.EFAULT
    wanted = struct.unpack("<Q", raw)[0] & ~UNBLOCKABLE
    deadline = p.restart.get("sigwait_deadline")
    if "sigwait_blocked" not in p.restart and ts_ptr:
        ts = read_timespec(p, ts_ptr)
        if isinstance(ts, int):
            return ts
        deadline = time.monotonic() + ts[0] + ts[1] / 1e9
    _sigwait_done(p)
    got = sig.dequeue_signal(p, wanted)
    if got is not None:
        p.restart = {}
        signum, info = got
        if info_ptr and not p.mm.write(info_ptr, info.pack(signum)):
            return -errno.EFAULT
        return signum
    if deadline is not None and time.monotonic() >= deadline:
        p.restart = {}
        return -errno.EAGAIN
    p.restart["sigwait_blocked"] = p.signals.blocked
    p.restart["sigwait_deadline"] = deadline
    p.signals.real_blocked = p.signals.blocked
    p.signals.blocked &= ~wanted
    raise Sleep("do_sigtimedwait", deadline=deadline)


def _sigwait_done(p, *_):
    """The wait is over (or interrupted): the mask it had before."""
    blocked = p.restart.pop("sigwait_blocked", None)
    if blocked is not None:
        p.signals.blocked = blocked
        p.signals.real_blocked = 0


sys_rt_sigtimedwait.interrupted = _sigwait_done


def _queueinfo(p, uinfo, signum):
    from elfkit.kernel.syscalls.anonfd import read_user_siginfo
    return read_user_siginfo(p, uinfo, s32(signum))


def _impersonates(info) -> bool:
    """si_code >= 0 (kill, the kernel) or SI_TKILL: only a process signalling itself may."""
    return info.code >= 0 or info.code == sig.SI_TKILL


def sys_rt_sigqueueinfo(p, pid, signum, uinfo, *_):
    info = _queueinfo(p, uinfo, signum)
    if isinstance(info, int):
        return info
    pid, signum = s32(pid), s32(signum)
    if _impersonates(info) and pid != p.tgid:
        return -errno.EPERM
    t = p.kernel.find_task(pid) if pid > 0 else None
    if t is None:
        return -errno.ESRCH
    if not 0 <= signum <= 64:
        return -errno.EINVAL
    if signum:
        sig.send_sig(t.group.leader, signum, p, info=info)
    return 0


def sys_rt_tgsigqueueinfo(p, tgid, tid, signum, uinfo, *_):
    info = _queueinfo(p, uinfo, signum)
    if isinstance(info, int):
        return info
    tgid, tid, signum = s32(tgid), s32(tid), s32(signum)
    if tgid <= 0 or tid <= 0:
        return -errno.EINVAL
    if _impersonates(info) and tid != p.tid:
        return -errno.EPERM
    t = p.kernel.find_task(tid)
    if t is None or t.tgid != tgid:
        return -errno.ESRCH
    if not 0 <= signum <= 64:
        return -errno.EINVAL
    if signum:
        info.private = True                       # to the thread
        sig.send_sig(t, signum, p, info=info)
    return 0


def sys_restart_syscall(p, *_):
    """The restart block's function; elfkit never leaves one (an interrupted sleep is made
    again whole, or returns EINTR), so this is do_no_restart_syscall."""
    return -errno.EINTR


TABLE = [
    Syscall(NR.rt_sigaction, sys_rt_sigaction, ("signal", "sigaction", "hex", "int")),
    Syscall(NR.rt_sigprocmask, sys_rt_sigprocmask, ("sigmask_how", "sigset", "hex", "int")),
    Syscall(NR.sigaltstack, sys_sigaltstack, ("hex", "hex")),
    Syscall(NR.rt_sigreturn, sys_rt_sigreturn, ()),
    Syscall(NR.kill, sys_kill, ("int", "signal")),
    Syscall(NR.tgkill, sys_tgkill, ("int", "int", "signal")),
    Syscall(NR.tkill, sys_tkill, ("int", "signal")),
    Syscall(NR.pause, sys_pause),
    Syscall(NR.rt_sigsuspend, sys_rt_sigsuspend, ("sigset", "int")),
    Syscall(NR.rt_sigpending, sys_rt_sigpending, ("hex", "int")),
    Syscall(NR.rt_sigtimedwait, sys_rt_sigtimedwait, ("sigset", "hex", "timespec", "int")),
    Syscall(NR.rt_sigqueueinfo, sys_rt_sigqueueinfo, ("int", "signal", "hex")),
    Syscall(NR.rt_tgsigqueueinfo, sys_rt_tgsigqueueinfo, ("int", "int", "signal", "hex")),
    Syscall(NR.restart_syscall, sys_restart_syscall, ()),
]
