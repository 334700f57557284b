"""Descriptors for events: eventfd (fs/eventfd.c), signalfd (fs/signalfd.c), inotify
(fs/notify/inotify/inotify_user.c) and pidfds (kernel/pid.c, kernel/signal.c, pidfd_getfd).

The files are elfkit.kernel.fs.eventfd, signalfd, inotify and pidfd; timerfd is with the timers
(syscalls/timers.py) and epoll with poll (syscalls/poll.py).
"""
from __future__ import annotations

import errno
import struct

from elfkit.kernel.fs.files import O_CLOEXEC, O_NONBLOCK
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.files import resolve, s32
from elfkit.kernel.syscalls.numbers import NR

AT_FDCWD = -100
UNBLOCKABLE = (1 << 8) | (1 << 18)                # SIGKILL, SIGSTOP


# --- eventfd -----------------------------------------------------------------------------------

EFD_SEMAPHORE, EFD_NONBLOCK, EFD_CLOEXEC = 1, O_NONBLOCK, O_CLOEXEC


def sys_eventfd2(p, initval, flags, *_):
    from elfkit.kernel.fs.eventfd import EventFd
    flags &= 0xFFFFFFFF
    if flags & ~(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC):
        return -errno.EINVAL
    return p.files.install(EventFd(p.kernel, initval & 0xFFFFFFFF, flags), bool(flags & EFD_CLOEXEC))


def sys_eventfd(p, initval, *_):
    return sys_eventfd2(p, initval, 0)


# --- signalfd ----------------------------------------------------------------------------------

SFD_NONBLOCK, SFD_CLOEXEC = O_NONBLOCK, O_CLOEXEC


def sys_signalfd4(p, fd, mask_ptr, size, flags, *_):
    from elfkit.kernel.fs.signalfd import SignalFd
    if size != 8:
        return -errno.EINVAL
    raw = p.mm.read(mask_ptr, 8)
    if raw is None:
        return -errno.EFAULT
    flags &= 0xFFFFFFFF
    if flags & ~(SFD_NONBLOCK | SFD_CLOEXEC):
        return -errno.EINVAL
    mask = struct.unpack("<Q", raw)[0] & ~UNBLOCKABLE
    fd = s32(fd)
    if fd == -1:
        return p.files.install(SignalFd(p.kernel, mask, flags & SFD_NONBLOCK), bool(flags & SFD_CLOEXEC))
    f = p.files.get(fd)
    if f is None:
        return -errno.EBADF
    if not isinstance(f, SignalFd):
        return -errno.EINVAL
    f.set_mask(mask)
    return fd


def sys_signalfd(p, fd, mask_ptr, size, *_):
    return sys_signalfd4(p, fd, mask_ptr, size, 0)


# --- inotify -----------------------------------------------------------------------------------

IN_NONBLOCK, IN_CLOEXEC = O_NONBLOCK, O_CLOEXEC
IN_ALL_EVENTS = 0xFFF
IN_UNMOUNT, IN_Q_OVERFLOW, IN_IGNORED = 0x2000, 0x4000, 0x8000
IN_ONLYDIR, IN_DONT_FOLLOW, IN_EXCL_UNLINK, IN_MASK_CREATE, IN_MASK_ADD, IN_ONESHOT = \
    0x01000000, 0x02000000, 0x04000000, 0x10000000, 0x20000000, 0x80000000
ALL_INOTIFY_BITS = IN_ALL_EVENTS | IN_UNMOUNT | IN_Q_OVERFLOW | IN_IGNORED | IN_ONLYDIR | \
    IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_MASK_CREATE | IN_MASK_ADD | IN_ONESHOT


def sys_inotify_init1(p, flags, *_):
    from elfkit.kernel.fs.inotify import InotifyFile
    flags &= 0xFFFFFFFF
    if flags & ~(IN_NONBLOCK | IN_CLOEXEC):
        return -errno.EINVAL
    f = InotifyFile.create(flags)
    if isinstance(f, int):
        return f
    fd = p.files.install(f, bool(flags & IN_CLOEXEC))
    if fd < 0:
        f.release()
    return fd


def sys_inotify_init(p, *_):
    return sys_inotify_init1(p, 0)


def _inotify(p, fd):
    from elfkit.kernel.fs.inotify import InotifyFile
    f = p.files.get(s32(fd))
    if f is None:
        return -errno.EBADF
    return f if isinstance(f, InotifyFile) else -errno.EINVAL


def sys_inotify_add_watch(p, fd, path_ptr, mask, *_):
    mask &= 0xFFFFFFFF
    if mask & IN_MASK_ADD and mask & IN_MASK_CREATE or not mask & ALL_INOTIFY_BITS:
        return -errno.EINVAL
    f = _inotify(p, fd)
    if isinstance(f, int):
        return f
    r = resolve(p, AT_FDCWD, path_ptr, follow=not mask & IN_DONT_FOLLOW)
    if isinstance(r, int):
        return r
    return f.add_watch(r[1], mask)


def sys_inotify_rm_watch(p, fd, wd, *_):
    f = _inotify(p, fd)
    if isinstance(f, int):
        return f
    return f.rm_watch(s32(wd))


# --- pidfd -------------------------------------------------------------------------------------

PIDFD_NONBLOCK, PIDFD_THREAD = O_NONBLOCK, 0o200               # (O_EXCL)
PIDFD_SIGNAL_THREAD, PIDFD_SIGNAL_THREAD_GROUP, PIDFD_SIGNAL_PROCESS_GROUP = 1, 2, 4
SI_TKILL = -6
PIDFD_SELF_THREAD, PIDFD_SELF_THREAD_GROUP = -10000, -10001


def sys_pidfd_open(p, pid, flags, *_):
    from elfkit.kernel.fs.pidfd import PidFd
    pid, flags = s32(pid), flags & 0xFFFFFFFF
    if flags & ~(PIDFD_NONBLOCK | PIDFD_THREAD) or pid <= 0:
        return -errno.EINVAL
    t = p.kernel.find_task(pid)
    if t is None:
        return -errno.ESRCH
    if t.group.leader is not t and not flags & PIDFD_THREAD:
        return -errno.EINVAL                     # a thread's pidfd only with PIDFD_THREAD
    return p.files.install(PidFd(t, flags & PIDFD_NONBLOCK, thread=t.group.leader is not t),
                           True)                 # always close-on-exec


def pidfd_task(p, fd):
    """The PidFd behind `fd`, or -EBADF (no descriptor, or not a pidfd)."""
    from elfkit.kernel.fs.pidfd import PidFd
    f = p.files.get(s32(fd))
    return f if isinstance(f, PidFd) else -errno.EBADF


def sys_pidfd_send_signal(p, pidfd, signum, info_ptr, flags, *_):
    from elfkit.kernel import signals as sig
    flags &= 0xFFFFFFFF
    scope = flags & (PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP)
    if flags & ~scope or bin(scope).count("1") > 1:
        return -errno.EINVAL
    if s32(pidfd) in (PIDFD_SELF_THREAD, PIDFD_SELF_THREAD_GROUP):
        from elfkit.kernel.fs.pidfd import PidFd
        f = PidFd(p, 0, thread=s32(pidfd) == PIDFD_SELF_THREAD)
    else:
        f = pidfd_task(p, pidfd)
    if isinstance(f, int):
        return f
    signum = s32(signum)
    info = None
    if info_ptr:
        info = read_user_siginfo(p, info_ptr, signum)
        if isinstance(info, int):
            return info
        if struct.unpack_from("<i", info.raw, 0)[0] != signum:
            return -errno.EINVAL
        if (f.task is not p or scope == PIDFD_SIGNAL_PROCESS_GROUP) and \
                (info.code >= 0 or info.code == SI_TKILL):
            return -errno.EPERM
    if not f.alive:
        return -errno.ESRCH
    if not 0 <= signum <= 64:
        return -errno.EINVAL
    if scope == PIDFD_SIGNAL_PROCESS_GROUP:
        sig.kill_pgrp(p.kernel, f.task.pgid, signum, p)
        return 0
    if not f.exited and signum:
        sig.send_sig(f.task, signum, p, info=info)   # (a leader that ended: a live thread takes it)
    return 0


def read_user_siginfo(p, ptr, signum: int):
    """copy_siginfo_from_user: the kernel_siginfo (48 bytes) a process passes, or -EFAULT."""
    from elfkit.kernel.signals import SigInfo
    raw = p.mm.read(ptr, 48)
    if raw is None:
        return -errno.EFAULT
    code, = struct.unpack_from("<i", raw, 8)
    pid, uid = struct.unpack_from("<iI", raw, 16)
    return SigInfo(code, pid, uid, raw=raw + bytes(80))


def sys_pidfd_getfd(p, pidfd, targetfd, flags, *_):
    if flags:
        return -errno.EINVAL
    f = pidfd_task(p, pidfd)
    if isinstance(f, int):
        return f
    t = f.task
    if not f.alive:
        return -errno.ESRCH
    if t.state == "Z" or t.files is None:
        return -errno.ESRCH
    # ptrace_may_access(PTRACE_MODE_ATTACH_REALCREDS): same uid, a dumpable process and no
    # Yama restriction (Debian leaves kernel.yama.ptrace_scope unset): allowed among the guests
    target = t.files.get(s32(targetfd))
    if target is None:
        return -errno.EBADF
    fd = p.files.install(target, True)
    if fd >= 0:
        target.get()
    return fd


TABLE = [
    Syscall(NR.eventfd, sys_eventfd, ("u32",), "fd"),
    Syscall(NR.eventfd2, sys_eventfd2, ("u32", "hex"), "fd"),
    Syscall(NR.signalfd, sys_signalfd, ("fd", "sigset", "int"), "fd"),
    Syscall(NR.signalfd4, sys_signalfd4, ("fd", "sigset", "int", "hex"), "fd"),
    Syscall(NR.inotify_init, sys_inotify_init, (), "fd"),
    Syscall(NR.inotify_init1, sys_inotify_init1, ("hex",), "fd"),
    Syscall(NR.inotify_add_watch, sys_inotify_add_watch, ("fd", "path", "hex"), status="partial",
            note="a host inotify watch on the host path: the host's events, so elfkit's own "
                 "accesses to the file (loading it, stat) show too; permission is the host's"),
    Syscall(NR.inotify_rm_watch, sys_inotify_rm_watch, ("fd", "int")),
    Syscall(NR.pidfd_open, sys_pidfd_open, ("int", "hex"), "fd"),
    Syscall(NR.pidfd_send_signal, sys_pidfd_send_signal, ("fd", "signal", "hex", "hex")),
    Syscall(NR.pidfd_getfd, sys_pidfd_getfd, ("fd", "int", "hex"), "fd"),
]
