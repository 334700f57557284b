"""Signal system calls: rt_sigaction, rt_sigprocmask, sigaltstack, rt_sigreturn, kill/tgkill/tkill."""
from __future__ import annotations

import errno
import struct

from elfkit.kernel import signals as sig
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR

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


def _to_self(p, signum):
    if signum == 0:
        return 0
    if not 1 <= signum <= 64:
        return -errno.EINVAL
    p.signals.pending.append(signum)
    return 0


def sys_kill(p, pid, signum, *_):
    pid = pid - (1 << 64) if pid >= 1 << 63 else pid
    if pid in (p.pid, 0, -1, -p.pid):
        return _to_self(p, signum)
    return -errno.ESRCH


def sys_tgkill(p, tgid, tid, signum, *_):
    if tgid != p.pid or tid != p.tid:
        return -errno.ESRCH
    return _to_self(p, signum)


def sys_tkill(p, tid, signum, *_):
    if tid != p.tid:
        return -errno.ESRCH
    return _to_self(p, signum)


TABLE = [
    Syscall(NR.rt_sigaction, sys_rt_sigaction, ("signal", "sigaction", "hex", "int")),
    Syscall(NR.rt_sigprocmask, sys_rt_sigprocmask, ("sigmask_how", "sigset", "hex", "int")),
    Syscall(NR.sigaltstack, sys_sigaltstack, ("hex", "hex")),
    Syscall(NR.rt_sigreturn, sys_rt_sigreturn, ()),
    Syscall(NR.kill, sys_kill, ("int", "signal")),
    Syscall(NR.tgkill, sys_tgkill, ("int", "int", "signal")),
    Syscall(NR.tkill, sys_tkill, ("int", "signal")),
]
