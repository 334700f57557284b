"""poll, ppoll, select, pselect6 (fs/select.c): ask each file what it is ready for, and sleep
until one is ready, a signal comes or the timeout passes.

A sleeping poller waits on the kernel's poll queue, which every pipe wakes when
its state changes, and on the host descriptors among its files, which the
scheduler's select() watches; each wake-up asks every file again.
"""
from __future__ import annotations

import errno
import select as host_select
import struct
import time

from elfkit.kernel.wait import Sleep
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.files import s32
from elfkit.kernel.syscalls.numbers import NR
from elfkit.kernel.syscalls.timekeeping import read_timespec

POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
POLLRDNORM, POLLWRNORM = 0x40, 0x100
IN_SET = POLLIN | POLLRDNORM | POLLHUP | POLLERR
OUT_SET = POLLOUT | POLLWRNORM | POLLERR


def file_events(f) -> tuple[int, int | None]:
    """(revents the file would report now, host fd to watch for it or None)."""
    if f is None:
        return POLLNVAL, None
    events = getattr(f, "poll_events", None)
    if events is not None:
        ev = events()
        return ev | (POLLRDNORM if ev & POLLIN else 0) | (POLLWRNORM if ev & POLLOUT else 0), None
    host = f.host_fd()
    if host is None:
        return POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM, None
    try:
        r, w, x = host_select.select([host], [host], [host], 0)
    except (OSError, ValueError):
        return POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM, None
    ev = (POLLIN | POLLRDNORM if r else 0) | (POLLOUT | POLLWRNORM if w else 0) | (POLLPRI if x else 0)
    return ev, host


def _deadline(p, timeout_s: float | None) -> float | None:
    """The call's deadline, fixed at its first try and kept across retries."""
    if "deadline" not in p.restart:
        p.restart["deadline"] = None if timeout_s is None else time.monotonic() + timeout_s
    p.restart_deadline = p.restart["deadline"]
    return p.restart["deadline"]


def _wait(p, deadline, host_fds, wchan):
    """Sleep until a change in the guest's files (poll_wait), the deadline, or one of the host
    descriptors `host_fds` -- (fd, events) pairs -- becoming ready the way it is asked: for
    reading, or for writing (a full host pipe polled for POLLOUT)."""
    if deadline is not None and time.monotonic() >= deadline:
        p.restart = {}
        return 0
    reads = tuple(fd for fd, events in host_fds if events & (IN_SET | POLLPRI))
    writes = tuple(fd for fd, events in host_fds if events & (POLLOUT | POLLWRNORM))
    raise Sleep(wchan, queues=(p.kernel.poll_wait,), deadline=deadline, read_fds=reads,
                write_fds=writes)


def do_poll(p, fds_ptr, nfds, timeout_s: float | None, wchan="do_poll"):
    if nfds > 1 << 20:
        return -errno.EINVAL
    raw = p.mm.read(fds_ptr, 8 * nfds)
    if raw is None:
        return -errno.EFAULT
    files, out, ready, watch = p.files, bytearray(raw), 0, []
    for i, (fd, events, _rev) in enumerate(struct.iter_unpack("<ihh", raw)):
        rev = 0
        if fd >= 0:
            ev, host = file_events(files.get(fd))
            rev = ev & ((events & 0xFFFF) | POLLERR | POLLHUP | POLLNVAL)
            if host is not None:
                watch.append((host, events))
            if rev:
                ready += 1
        out[8 * i + 6:8 * i + 8] = (rev & 0xFFFF).to_bytes(2, "little")
    if ready or timeout_s == 0:
        if p.restart:
            p.restart = {}
        return ready if p.mm.write(fds_ptr, out) or not nfds else -errno.EFAULT
    deadline = _deadline(p, timeout_s)          # fixed at the first try, kept across retries
    r = _wait(p, deadline, tuple(watch), wchan)
    if r == 0:
        p.mm.write(fds_ptr, out)
    return r


def sys_poll(p, fds, nfds, timeout, *_):
    t = timeout & 0xFFFFFFFF
    t = t - (1 << 32) if t & 0x80000000 else t
    return do_poll(p, fds, nfds, None if t < 0 else t / 1000)


def _timespec(p, ptr):
    """A timeout in seconds (None: wait for ever), or -errno."""
    if not ptr:
        return None
    ts = read_timespec(p, ptr)
    return ts if isinstance(ts, int) else ts[0] + ts[1] / 1e9


def with_sigmask(p, mask_ptr: int, size: int, call):
    """ppoll/pselect6/epoll_pwait: `mask` replaces the blocked signals while the call waits (a
    signal it lets through is taken with the old mask saved, as sigsuspend does); when the
    call returns by itself the old mask is back."""
    saved = p.restart.get("sigmask")
    if mask_ptr and saved is None:
        if size != 8:
            return -errno.EINVAL
        raw = p.mm.read(mask_ptr, 8)
        if raw is None:
            return -errno.EFAULT
        saved = p.signals.blocked
        p.signals.blocked = struct.unpack("<Q", raw)[0] & ~((1 << 8) | (1 << 18))
        p.signals.saved_mask = saved
    result = call()                       # Sleep propagates, keeping the mask while it waits
    if saved is not None:
        p.signals.blocked = saved
        p.signals.saved_mask = None
    return result


def _keep_sigmask(p, call):
    """Run a call that may sleep, remembering the mask with_sigmask saved across retries."""
    saved = p.restart.get("sigmask", p.signals.saved_mask)
    try:
        return call()
    except Sleep:
        if saved is not None:
            p.restart["sigmask"] = saved
        raise


def sys_ppoll(p, fds, nfds, tsp, sigmask, size, *_):
    t = _timespec(p, tsp) if "deadline" not in p.restart else None
    if isinstance(t, int) and t < 0:
        return t
    return with_sigmask(p, sigmask, size, lambda: _keep_sigmask(
        p, lambda: _finishing(p, tsp, False, lambda: do_poll(p, fds, nfds, t, "do_poll"))))


def do_select(p, nfds, rptr, wptr, xptr, timeout_s):
    if nfds < 0 or nfds > 1 << 20:
        return -errno.EINVAL
    nbytes = (nfds + 63) // 64 * 8
    sets = []
    for ptr in (rptr, wptr, xptr):
        if ptr and nbytes:
            raw = p.mm.read(ptr, nbytes)
            if raw is None:
                return -errno.EFAULT
            sets.append(int.from_bytes(raw, "little"))
        else:
            sets.append(0)
    deadline = _deadline(p, timeout_s)
    result, ready, watch = [0, 0, 0], 0, []
    for fd in range(nfds):
        bit = 1 << fd
        if not (sets[0] | sets[1] | sets[2]) & bit:
            continue
        f = p.files.get(fd)
        if f is None:
            p.restart = {}
            return -errno.EBADF
        ev, host = file_events(f)
        if host is not None:
            watch.append((host, (POLLIN if (sets[0] | sets[2]) & bit else 0) |
                          (POLLOUT if sets[1] & bit else 0)))
        for i, mask in enumerate((IN_SET, OUT_SET, POLLPRI)):
            if sets[i] & bit and ev & mask:
                result[i] |= bit
                ready += 1
    if ready or timeout_s == 0:
        p.restart = {}
        for ptr, bits in zip((rptr, wptr, xptr), result):
            if ptr and nbytes and not p.mm.write(ptr, bits.to_bytes(nbytes, "little")):
                return -errno.EFAULT
        return ready
    r = _wait(p, deadline, tuple(watch), "do_select")
    for ptr in (rptr, wptr, xptr):
        if ptr and nbytes:
            p.mm.write(ptr, bytes(nbytes))
    return r


def _finishing(p, ptr, micro: bool, call):
    """Run a select-like call; when it completes, write the time that was left into its
    timeout argument (0 at expiry), as poll_select_finish does."""
    result = call()                                   # Sleep propagates: not finished yet
    deadline = p.restart_deadline
    if ptr and deadline is not None and result >= 0:
        left = max(0.0, deadline - time.monotonic())
        p.mm.write(ptr, struct.pack("<qq", int(left), int(left % 1 * (1e6 if micro else 1e9))))
    return result


def sys_select(p, nfds, rptr, wptr, xptr, tvp, *_):
    t = None
    if tvp and "deadline" not in p.restart:
        raw = p.mm.read(tvp, 16)
        if raw is None:
            return -errno.EFAULT
        sec, usec = struct.unpack("<qq", raw)
        if sec < 0 or usec < 0:
            return -errno.EINVAL
        t = sec + usec / 1e6
    return _finishing(p, tvp, True, lambda: do_select(p, nfds & 0xFFFFFFFF, rptr, wptr, xptr, t))


def sys_pselect6(p, nfds, rptr, wptr, xptr, tsp, sig, *_):
    t = _timespec(p, tsp) if "deadline" not in p.restart else None
    if isinstance(t, int) and t < 0:
        return t
    mask_ptr = size = 0
    if sig:                                   # struct { const sigset_t *ss; size_t ss_len; }
        raw = p.mm.read(sig, 16)
        if raw is None:
            return -errno.EFAULT
        mask_ptr, size = struct.unpack("<QQ", raw)
    return with_sigmask(p, mask_ptr, size, lambda: _keep_sigmask(p, lambda: _finishing(
        p, tsp, False, lambda: do_select(p, nfds & 0xFFFFFFFF, rptr, wptr, xptr, t))))


TABLE = [
    Syscall(NR.poll, sys_poll, ("hex", "int", "int")),
    Syscall(NR.ppoll, sys_ppoll, ("hex", "int", "hex", "hex", "int")),
    Syscall(NR.select, sys_select, ("int", "hex", "hex", "hex", "hex")),
    Syscall(NR.pselect6, sys_pselect6, ("int", "hex", "hex", "hex", "hex", "hex")),
]


# --- epoll (elfkit.kernel.fs.eventpoll) --------------------------------------------------------------

def sys_epoll_create1(p, flags, *_):
    from elfkit.kernel.fs.eventpoll import EpollFile
    if flags & ~0o2000000:
        return -errno.EINVAL
    return p.files.install(EpollFile(p.kernel), bool(flags & 0o2000000))


def sys_epoll_create(p, size, *_):
    size = size & 0xFFFFFFFF
    if size == 0 or size & 0x80000000:
        return -errno.EINVAL
    return sys_epoll_create1(p, 0)


def _epoll(p, epfd):
    from elfkit.kernel.fs.eventpoll import EpollFile
    f = p.files.get(epfd & 0xFFFFFFFF)
    if f is None:
        return -errno.EBADF
    return f if isinstance(f, EpollFile) else -errno.EINVAL


def sys_epoll_ctl(p, epfd, op, fd, event_ptr, *_):
    """The event is read first (EFAULT), then both descriptors looked up (EBADF), then
    do_epoll_ctl's checks (EventpollFile.ctl)."""
    op = op & 0xFFFFFFFF
    events = data = 0
    if op != 2:                                    # EPOLL_CTL_DEL ignores the event
        raw = p.mm.read(event_ptr, 12)
        if raw is None:
            return -errno.EFAULT
        events, data = struct.unpack("<IQ", raw)
    f = p.files.get(fd & 0xFFFFFFFF)
    ep = p.files.get(epfd & 0xFFFFFFFF)
    if ep is None or f is None:
        return -errno.EBADF
    ep = _epoll(p, epfd)
    if isinstance(ep, int):
        from elfkit.kernel.fs.eventpoll import pollable
        return -errno.EPERM if not pollable(f) else ep
    return ep.ctl(op, fd & 0xFFFFFFFF, f, events, data)


def _epoll_wait(p, epfd, events_ptr, maxevents, timeout_s):
    if p.files.get(epfd & 0xFFFFFFFF) is None:
        return -errno.EBADF
    maxevents = s32(maxevents)
    if maxevents <= 0 or maxevents > 0x7FFFFFFF // 12:
        return -errno.EINVAL
    ep = _epoll(p, epfd)
    if isinstance(ep, int):
        return ep
    ready, watch = ep.ready(p.files, file_events, maxevents)
    if ready or timeout_s == 0:
        if p.restart:
            p.restart = {}
        raw = b"".join(struct.pack("<IQ", ev, data) for ev, data in ready)
        return len(ready) if p.mm.write(events_ptr, raw) or not raw else -errno.EFAULT
    deadline = _deadline(p, timeout_s)          # fixed at the first try, kept across retries
    return _wait(p, deadline, tuple(watch), "ep_poll")


def sys_epoll_wait(p, epfd, events, maxevents, timeout, *_):
    t = timeout & 0xFFFFFFFF
    t = t - (1 << 32) if t & 0x80000000 else t
    return _epoll_wait(p, epfd, events, maxevents, None if t < 0 else t / 1000)


def sys_epoll_pwait(p, epfd, events, maxevents, timeout, sigmask, size):
    return with_sigmask(p, sigmask, size, lambda: _keep_sigmask(
        p, lambda: sys_epoll_wait(p, epfd, events, maxevents, timeout)))


def sys_epoll_pwait2(p, epfd, events, maxevents, tsp, sigmask, size):
    t = _timespec(p, tsp) if "deadline" not in p.restart else None
    if isinstance(t, int) and t < 0:
        return t
    return with_sigmask(p, sigmask, size, lambda: _keep_sigmask(
        p, lambda: _epoll_wait(p, epfd, events, maxevents, t)))


TABLE += [
    Syscall(NR.epoll_create, sys_epoll_create, ("int",), "fd"),
    Syscall(NR.epoll_create1, sys_epoll_create1, ("int",), "fd"),
    Syscall(NR.epoll_ctl, sys_epoll_ctl, ("fd", "int", "fd", "hex")),
    Syscall(NR.epoll_wait, sys_epoll_wait, ("fd", "hex", "int", "int")),
    Syscall(NR.epoll_pwait, sys_epoll_pwait, ("fd", "hex", "int", "int", "hex", "int")),
    Syscall(NR.epoll_pwait2, sys_epoll_pwait2, ("fd", "hex", "int", "hex", "hex", "int")),
]
