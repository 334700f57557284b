"""Linux native AIO (fs/aio.c): io_setup, io_destroy, io_submit, io_getevents, io_pgetevents,
io_cancel. The context and its ring are elfkit.kernel.fs.aio's.

Reads, writes and syncs are done at submission (as the kernel's are for buffered I/O on most
file systems) and their completion written to the ring at once. An IOCB_CMD_POLL whose file is
not ready stays pending on the context: its readiness is checked when the process asks -- at
each io_submit, io_getevents and io_cancel on the context, and while an io_getevents waits
(woken by the poll queue every pipe and eventfd wakes) -- not by a wake-up of its own, so a
process that only watches the ring in user space does not see it complete.
"""
from __future__ import annotations

import errno
import os
import stat as stat_mod
import struct
import time

from elfkit.kernel.fs.aio import EVENT, PollRequest, ioctx_alloc, lookup_ioctx
from elfkit.kernel.fs.files import O_ACCMODE, O_NONBLOCK, O_PATH
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR
from elfkit.kernel.syscalls.files import s64
from elfkit.kernel.wait import Sleep

IOCB = struct.Struct("<QIiHhIQQqQII")     # struct iocb (64 bytes)
IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC = 0, 1, 2, 3
IOCB_CMD_POLL, IOCB_CMD_NOOP, IOCB_CMD_PREADV, IOCB_CMD_PWRITEV = 5, 6, 7, 8
IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO = 1, 2
KIOCB_KEY = 0
RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT = 0x1, 0x2, 0x4, 0x8
RWF_APPEND, RWF_NOAPPEND, RWF_ATOMIC, RWF_DONTCACHE = 0x10, 0x20, 0x40, 0x80
RWF_SUPPORTED = 0xFF
MAX_RW_COUNT = 0x7FFFF000
UIO_MAXIOV = 1024
TASK_SIZE_MAX = (1 << 47) - 4096
POLLERR, POLLHUP = 0x8, 0x10


def _access_ok(addr: int, size: int) -> bool:
    return size <= TASK_SIZE_MAX and addr <= TASK_SIZE_MAX - size


# --- io_setup / io_destroy -----------------------------------------------------------------------

def sys_io_setup(p, nr_events, ctxp, *_):
    nr_events &= 0xFFFFFFFF
    raw = p.mm.read(ctxp, 8)
    if raw is None:
        return -errno.EFAULT
    if int.from_bytes(raw, "little") or nr_events == 0:
        return -errno.EINVAL
    ctx = ioctx_alloc(p, nr_events, p.kernel.machine.max_cpus)
    if isinstance(ctx, int):
        return ctx
    if not p.mm.write(ctxp, ctx.user_id.to_bytes(8, "little")):
        ctx.kill(unmap=True)
        return -errno.EFAULT
    return 0


def sys_io_destroy(p, ctx_id, *_):
    ctx = lookup_ioctx(p, ctx_id)
    if ctx is None:
        return -errno.EINVAL
    return 0 if ctx.kill(unmap=True) else -errno.EINVAL


# --- io_submit ------------------------------------------------------------------------------------

def sys_io_submit(p, ctx_id, nr, iocbpp, *_):
    nr = s64(nr)
    if nr < 0:
        return -errno.EINVAL
    ctx = lookup_ioctx(p, ctx_id)
    if ctx is None:
        return -errno.EINVAL
    _reap_polls(ctx)
    nr = min(nr, ctx.nr_events)
    ret, i = 0, 0
    while i < nr:
        raw = p.mm.read(iocbpp + 8 * i, 8)
        if raw is None:
            ret = -errno.EFAULT
            break
        ret = _submit_one(p, ctx, int.from_bytes(raw, "little"))
        if ret:
            break
        i += 1
    return i if i else ret


def _submit_one(p, ctx, uiocb: int) -> int:
    raw = p.mm.read(uiocb, IOCB.size)
    if raw is None:
        return -errno.EFAULT
    cb = IOCB.unpack(raw)
    (data, _key, rw_flags, opcode, reqprio, fildes, buf, nbytes, offset, reserved2, flags,
     resfd) = cb
    if reserved2:
        return -errno.EINVAL
    if nbytes >> 63:                                   # (ssize_t)aio_nbytes < 0
        return -errno.EINVAL
    if not ctx.get_req():
        return -errno.EAGAIN
    err = _submit(p, ctx, uiocb, cb)
    if err:
        ctx.put_reqs(1)
    return err


def _submit(p, ctx, uiocb, cb) -> int:
    """__io_submit_one: 0 when the request completed or waits (a poll), else -errno."""
    (data, _key, rw_flags, opcode, reqprio, fildes, buf, nbytes, offset, _r2, flags, resfd) = cb
    f = p.files.get(fildes)
    if f is None or f.flags & O_PATH:                  # fget: no O_PATH descriptors
        return -errno.EBADF
    eventfd = None
    if flags & IOCB_FLAG_RESFD:
        from elfkit.kernel.fs.eventfd import EventFd
        eventfd = p.files.get(resfd)
        if eventfd is None:
            return -errno.EBADF
        if not isinstance(eventfd, EventFd):
            return -errno.EINVAL
    if not p.mm.write(uiocb + 8, KIOCB_KEY.to_bytes(4, "little")):
        return -errno.EFAULT
    if opcode in (IOCB_CMD_PREAD, IOCB_CMD_PREADV, IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV):
        writing = opcode in (IOCB_CMD_PWRITE, IOCB_CMD_PWRITEV)
        vectored = opcode in (IOCB_CMD_PREADV, IOCB_CMD_PWRITEV)
        prep = _prep_rw(p, f, cb, writing, vectored)
        if isinstance(prep, int):
            return prep
        vecs, rwf = prep
        res = _do_rw(p, f, vecs, offset, writing, rwf)
    elif opcode in (IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC):
        if buf or offset or nbytes or rw_flags:
            return -errno.EINVAL
        if not _has_fsync(f):
            return -errno.EINVAL
        res = 0                     # the guest's writes are already the host's (as sys_fsync)
    elif opcode == IOCB_CMD_POLL:
        return _aio_poll(p, ctx, f, uiocb, cb, eventfd)
    else:
        return -errno.EINVAL                           # IOCB_CMD_NOOP and unknown opcodes
    ctx.complete(uiocb, data, res, eventfd)
    return 0


def _mode(f) -> int:
    st = f.stat()
    return 0 if isinstance(st, int) else st.st_mode


def _has_fsync(f) -> bool:
    """f_op->fsync: regular files, directories and block devices of a file system; not pipes,
    sockets, terminals and other character devices, nor the anonymous-inode files."""
    mode = _mode(f)
    return f.host_fd() is not None and (stat_mod.S_ISREG(mode) or stat_mod.S_ISDIR(mode) or
                                        stat_mod.S_ISBLK(mode))


def _prep_rw(p, f, cb, writing: bool, vectored: bool):
    """aio_prep_rw, the mode checks, aio_setup_rw and rw_verify_area: ([(base, len)], RWF_*)
    or -errno (the submission fails)."""
    (_data, _key, rw_flags, _op, reqprio, _fd, buf, nbytes, offset, _r2, flags, _resfd) = cb
    if flags & IOCB_FLAG_IOPRIO:
        from elfkit.kernel.syscalls.sched import _ioprio_check
        r = _ioprio_check(p, reqprio)
        if r:
            return r
    rwf = rw_flags & 0xFFFFFFFF
    if rwf:                                                      # kiocb_set_rw_flags
        if rwf & ~RWF_SUPPORTED:
            return -errno.EOPNOTSUPP
        if rwf & RWF_APPEND and rwf & RWF_NOAPPEND:
            return -errno.EINVAL
        if rwf & (RWF_ATOMIC | RWF_DONTCACHE):     # no FMODE_CAN_ATOMIC_WRITE, FOP_DONTCACHE here
            return -errno.EOPNOTSUPP
    acc = f.flags & O_ACCMODE
    if acc == (0 if writing else 1):                             # FMODE_WRITE / FMODE_READ
        return -errno.EBADF
    if stat_mod.S_ISDIR(_mode(f)):                               # no read_iter/write_iter
        return -errno.EINVAL
    if not vectored:
        if not _access_ok(buf, nbytes):                          # import_ubuf
            return -errno.EFAULT
        vecs = [(buf, min(nbytes, MAX_RW_COUNT))]
    else:
        if nbytes > UIO_MAXIOV:
            return -errno.EINVAL
        raw = p.mm.read(buf, 16 * nbytes)
        if raw is None:
            return -errno.EFAULT
        vecs, total = [], 0
        for base, n in struct.iter_unpack("<QQ", raw):
            if n >> 63:
                return -errno.EINVAL
            if not _access_ok(base, n):
                return -errno.EFAULT
            n = min(n, MAX_RW_COUNT - total)
            total += n
            vecs.append((base, n))
    count = sum(n for _, n in vecs)
    if offset < 0 or offset + count >= 1 << 63:                  # rw_verify_area
        return -errno.EINVAL
    return vecs, rwf


def _do_rw(p, f, vecs, pos: int, writing: bool, rwf: int) -> int:
    """read_iter/write_iter at pos: the event's res (bytes moved or -errno)."""
    total = sum(n for _, n in vecs)
    mode = _mode(f)
    seekable = stat_mod.S_ISREG(mode) or stat_mod.S_ISBLK(mode)
    host = f.host_fd()
    if writing:
        parts = []
        for base, n in vecs:
            piece = p.mm.read(base, n) if n else b""
            if piece is None:                    # copy_from_user stops at the first bad page
                break
            parts.append(piece)
        data = b"".join(parts)
        if not data and total:
            return -errno.EFAULT
        if seekable and host is not None:
            try:
                return os.pwritev(host, [data], pos, rwf & ~RWF_HIPRI)
            except OSError as e:
                return -(e.errno or errno.EIO)
        return _stream(f, rwf, lambda: f.pwrite(data, pos) if seekable else f.write(data))
    if seekable and host is not None:
        st = f.stat()
        if stat_mod.S_ISREG(mode) and not isinstance(st, int):
            total = min(total, max(0, st.st_size - pos))    # no buffer for what is past the end
        buf = bytearray(total)
        try:
            n = os.preadv(host, [buf], pos, rwf & ~RWF_HIPRI) if total else 0
        except OSError as e:
            return -(e.errno or errno.EIO)
        data = bytes(buf[:n])
    else:
        data = _stream(f, rwf, lambda: f.pread(total, pos) if seekable else f.read(total))
        if isinstance(data, int):
            return data
    done = 0
    for base, n in vecs:
        piece = data[done:done + n]
        if not piece:
            break
        if not p.mm.write(base, piece):
            return done or -errno.EFAULT
        done += len(piece)
    return done


def _stream(f, rwf, call):
    """A read or write on a file of elfkit's own (a pipe, an eventfd, /proc) or a stream of
    the host: one that would wait completes with EAGAIN (the kernel would block io_submit)."""
    saved = f.flags
    if rwf & RWF_NOWAIT:
        f.flags |= O_NONBLOCK
    try:
        return call()
    except Sleep:
        return -errno.EAGAIN
    finally:
        f.flags = saved


# --- IOCB_CMD_POLL ----------------------------------------------------------------------------------

def _aio_poll(p, ctx, f, uiocb, cb, eventfd) -> int:
    from elfkit.kernel.syscalls.poll import file_events
    (data, _key, rw_flags, _op, _prio, _fd, buf, nbytes, offset, _r2, _flags, _resfd) = cb
    if buf & ~0xFFFF:
        return -errno.EINVAL
    if offset or nbytes or rw_flags:
        return -errno.EINVAL
    events = buf | POLLERR | POLLHUP                 # demangle_poll: the same bits on x86-64
    mask = file_events(f)[0] & events
    if mask:
        ctx.complete(uiocb, data, mask, eventfd)
        return 0
    mode = _mode(f)
    if getattr(f, "poll_events", None) is None and (f.host_fd() is None or stat_mod.S_ISREG(mode)
                                                    or stat_mod.S_ISDIR(mode)):
        return -errno.EINVAL                         # no ->poll, no wait queue: "not supported"
    ctx.active.append(PollRequest(uiocb, data, f.get(), events, eventfd))
    return 0


def _wake_key(f, events: int) -> int:
    """The events a pending poll completes with: the kernel's aio_poll_wake takes the wake-up's
    key as it is -- a pipe's EPOLLIN|EPOLLRDNORM or EPOLLOUT|EPOLLWRNORM, an eventfd's bare
    EPOLLIN/EPOLLOUT."""
    from elfkit.kernel.fs.eventfd import EventFd
    from elfkit.kernel.syscalls.poll import POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM
    if isinstance(f, EventFd):
        return events
    return events | (POLLRDNORM if events & POLLIN else 0) | (POLLWRNORM if events & POLLOUT else 0)


def _reap_polls(ctx):
    """Complete the pending polls whose files are ready now."""
    if not ctx.active:
        return
    from elfkit.kernel.syscalls.poll import file_events
    for req in list(ctx.active):
        mask = file_events(req.file)[0] & _wake_key(req.file, req.events)
        if mask and req in ctx.active:
            ctx.active.remove(req)
            req.file.put()
            ctx.complete(req.obj, req.data, mask, req.eventfd)


def _poll_watch(ctx):
    """What a waiting io_getevents also waits on while polls are pending: the poll queue and
    the host descriptors among their files."""
    from elfkit.kernel.syscalls.poll import POLLOUT, file_events
    reads, writes = [], []
    for req in ctx.active:
        host = file_events(req.file)[1]
        if host is not None:
            (writes if req.events & POLLOUT else reads).append(host)
    return tuple(reads), tuple(writes)


# --- io_getevents / io_pgetevents ---------------------------------------------------------------------

_NO_TIMEOUT = object()


def _read_timeout(p, ptr):
    """get_timespec64 (no range check): seconds, None for NULL, or -EFAULT."""
    if not ptr:
        return None
    raw = p.mm.read(ptr, 16)
    if raw is None:
        return -errno.EFAULT
    sec, nsec = struct.unpack("<qq", raw)
    return sec + nsec / 1e9


def do_io_getevents(p, ctx_id, min_nr, nr, events, timeout_s):
    """read_events: timeout_s None waits for ever, <= 0 does not wait. Events are taken as
    they come (they are in `events` and the head moved on), so a wait that ends with some
    returns them: at the deadline, on io_destroy, or on a signal."""
    from elfkit.kernel.syscalls.poll import _deadline
    got = p.restart.get("got", 0)
    ctx = lookup_ioctx(p, ctx_id)
    min_nr, nr = s64(min_nr), s64(nr)
    if ctx is None or not 0 <= min_nr <= nr:
        p.restart = {}
        return got or -errno.EINVAL                  # (a destroyed context ends a wait: EINVAL)
    _reap_polls(ctx)
    r = ctx.read_events(p.mm, events + EVENT.size * got, nr - got)
    if r < 0:
        p.restart = {}
        return got or r
    got += r
    if "deadline" not in p.restart and timeout_s is not None and timeout_s <= 0:
        p.restart = {}
        return got
    if got >= min_nr:
        p.restart = {}
        return got
    deadline = _deadline(p, timeout_s)
    if deadline is not None and time.monotonic() >= deadline:
        p.restart = {}
        return got
    p.restart["got"] = got
    if got:
        p.restart["done"] = got                      # what a signal ending the wait returns
    reads, writes = _poll_watch(ctx)
    queues = (ctx.wait, p.kernel.poll_wait) if ctx.active else (ctx.wait,)
    raise Sleep("read_events", queues=queues, deadline=deadline, read_fds=reads, write_fds=writes)


def _eintr_unless_events(p, result):
    """io_getevents: 0 events with a signal pending is EINTR."""
    if result == 0:
        from elfkit.kernel.signals import deliverable_signals
        if deliverable_signals(p):
            return -errno.EINTR
    return result


def sys_io_getevents(p, ctx_id, min_nr, nr, events, timeout, *_):
    t = _NO_TIMEOUT
    if "deadline" not in p.restart:
        t = _read_timeout(p, timeout)
        if isinstance(t, int):
            return t
    return _eintr_unless_events(p, do_io_getevents(p, ctx_id, min_nr, nr, events,
                                                   None if t is _NO_TIMEOUT else t))


def sys_io_pgetevents(p, ctx_id, min_nr, nr, events, timeout, usig):
    from elfkit.kernel.syscalls.poll import _keep_sigmask, with_sigmask
    t = _NO_TIMEOUT
    mask_ptr = size = 0
    if "deadline" not in p.restart:
        t = _read_timeout(p, timeout)
        if isinstance(t, int):
            return t
    if usig:                                         # struct __aio_sigset {sigmask, sigsetsize}
        raw = p.mm.read(usig, 16)
        if raw is None:
            return -errno.EFAULT
        mask_ptr, size = struct.unpack("<QQ", raw)
    t = None if t is _NO_TIMEOUT else t
    return with_sigmask(p, mask_ptr, size, lambda: _keep_sigmask(p, lambda: _eintr_unless_events(
        p, do_io_getevents(p, ctx_id, min_nr, nr, events, t))))


# --- io_cancel -------------------------------------------------------------------------------------

def sys_io_cancel(p, ctx_id, iocb, _result, *_):
    raw = p.mm.read(iocb + 8, 4)                    # get_user(key, &iocb->aio_key)
    if raw is None:
        return -errno.EFAULT
    if int.from_bytes(raw, "little") != KIOCB_KEY:
        return -errno.EINVAL
    ctx = lookup_ioctx(p, ctx_id)
    if ctx is None:
        return -errno.EINVAL
    _reap_polls(ctx)
    for req in ctx.active:
        if req.obj == iocb:
            # aio_poll_cancel: the poll completes with no events (res 0), in the ring as always
            ctx.active.remove(req)
            req.file.put()
            ctx.complete(req.obj, req.data, 0, req.eventfd)
            return -errno.EINPROGRESS
    return -errno.EINVAL                             # done already, or never submitted here


_SETUP_NOTE = ("the ring is mapped as the kernel maps it (ring->nr rounded up as the kernel "
               "does for this machine's CPUs; fs.aio-max-nr fixed at 65536); mremap of the ring "
               "is not followed (the context is then not found: EINVAL)")
_SUBMIT_NOTE = ("reads, writes and syncs complete at submission; one on a pipe or socket that "
                "would wait completes with -EAGAIN instead of blocking io_submit; RWF_ATOMIC and "
                "RWF_DONTCACHE are EOPNOTSUPP; a pending IOCB_CMD_POLL completes when a later "
                "io_submit/io_getevents/io_cancel finds its file ready (and while io_getevents "
                "waits), not by a wake-up of its own; ring slots counted as for one CPU")
_GETEVENTS_NOTE = "pending polls are checked when it runs and when the poll queue wakes it"

TABLE = [
    Syscall(NR.io_setup, sys_io_setup, ("int", "hex"), status="partial", note=_SETUP_NOTE),
    Syscall(NR.io_destroy, sys_io_destroy, ("hex",), status="full"),
    Syscall(NR.io_submit, sys_io_submit, ("hex", "int", "hex"), status="partial",
            note=_SUBMIT_NOTE),
    Syscall(NR.io_getevents, sys_io_getevents, ("hex", "int", "int", "hex", "hex"),
            status="full", note=_GETEVENTS_NOTE),
    Syscall(NR.io_pgetevents, sys_io_pgetevents, ("hex", "int", "int", "hex", "hex", "hex"),
            status="full", note=_GETEVENTS_NOTE),
    Syscall(NR.io_cancel, sys_io_cancel, ("hex", "hex", "hex"), status="full",
            note="only a pending IOCB_CMD_POLL can be cancelled (-EINPROGRESS, as the kernel)"),
]
