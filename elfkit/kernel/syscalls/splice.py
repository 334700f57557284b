"""Moving bytes between descriptors in the kernel: splice, tee, vmsplice, sendfile,
copy_file_range (fs/splice.c, fs/read_write.c do_sendfile, vfs_copy_file_range).

A guest pipe (elfkit.kernel.fs.pipe) is elfkit's own buffer: splice moves bytes
into or out of it and waits the way pipe reads and writes wait (only the
calling task; SPLICE_F_NONBLOCK or O_NONBLOCK turns a wait into EAGAIN). When
both ends are host descriptors the host kernel does the whole call (os.splice,
os.sendfile, os.copy_file_range), its checks included. Bytes are copied, not
moved page by page: SPLICE_F_MOVE and SPLICE_F_GIFT are hints Linux itself
ignores.

A host descriptor that can wait (a host pipe, socket or terminal) is never asked to:
elfkit holds the kernel lock around every host call, so a host splice or sendfile that
waited would stop every guest. _host_ready selects on it first (timeout 0) and the call
sleeps on the host descriptor (or fails with EAGAIN when non-blocking) until it is ready,
and the host call itself is asked for no more than it can do at once (SPLICE_F_NONBLOCK,
counts capped to the room in an output pipe or socket).
"""
from __future__ import annotations

import errno
import fcntl
import os
import select
import stat as stat_mod
import struct
import termios

from elfkit.kernel.fs.files import F_GETPIPE_SZ, O_ACCMODE, O_APPEND, O_NONBLOCK, O_PATH, PIPE_BUF
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.files import MAX_IO, _file
from elfkit.kernel.syscalls.numbers import NR
from elfkit.kernel.wait import Sleep

SPLICE_F_MOVE, SPLICE_F_NONBLOCK, SPLICE_F_MORE, SPLICE_F_GIFT = 1, 2, 4, 8
SPLICE_F_ALL = 15


def _get(p, fd):
    f = _file(p, fd)
    return None if f is None or f.flags & O_PATH else f


def _readable(f) -> bool:
    return (f.flags & O_ACCMODE) in (0, 2)


def _writable(f) -> bool:
    return (f.flags & O_ACCMODE) in (1, 2)


def _guest_pipe(f):
    return getattr(f, "pipe", None)


def _host_pipe(f) -> bool:
    host = f.host_fd()
    try:
        return host is not None and stat_mod.S_ISFIFO(os.fstat(host).st_mode)
    except OSError:
        return False


def _host_waits(f) -> str | None:
    """"fifo" or "stream" for a host descriptor whose reads or writes may wait (a host pipe;
    a socket or terminal), else None (regular files, /dev nodes, elfkit's own files)."""
    host = f.host_fd()
    if host is None:
        return None
    try:
        mode = os.fstat(host).st_mode
        if stat_mod.S_ISFIFO(mode):
            return "fifo"
        if stat_mod.S_ISSOCK(mode) or stat_mod.S_ISCHR(mode) and os.isatty(host):
            return "stream"
    except OSError:
        pass
    return None


def _host_ready(fin, fout, nonblock) -> int | None:
    """None when the host descriptors among fin (to read) and fout (to write) that may wait are
    ready now; else -EAGAIN (nonblock) or Sleep on those that are not."""
    rd = fin.host_fd() if fin is not None and _host_waits(fin) else None
    wr = fout.host_fd() if fout is not None and _host_waits(fout) else None
    if rd is None and wr is None:
        return None
    r, w, _ = select.select([] if rd is None else [rd], [] if wr is None else [wr], [], 0)
    rd = None if r else rd
    wr = None if w else wr
    if rd is None and wr is None:
        return None
    if nonblock:
        return -errno.EAGAIN
    raise Sleep("splice_host", read_fds=() if rd is None else (rd,),
                write_fds=() if wr is None else (wr,))


def _host_room(f, want: int) -> int:
    """At most `want`, and no more than a host pipe, socket or terminal takes without waiting
    (as HostFile._room: a free page at least, the free capacity less two pages if more)."""
    kind = _host_waits(f)
    if kind is None:
        return want
    if kind == "stream":
        return min(want, PIPE_BUF)
    host = f.host_fd()
    try:
        size = fcntl.fcntl(host, F_GETPIPE_SZ)
        held = struct.unpack("i", fcntl.ioctl(host, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return min(want, PIPE_BUF)
    return min(want, max(PIPE_BUF, size - held - 2 * PIPE_BUF))


def _host_sleep(fin, fout):
    """The host said EAGAIN to a call the guest made blocking: wait for either side."""
    rd = fin.host_fd() if _host_waits(fin) else None
    wr = fout.host_fd() if _host_waits(fout) else None
    raise Sleep("splice_host", read_fds=() if rd is None else (rd,),
                write_fds=() if wr is None else (wr,))


def _host(fn, *args):
    try:
        return fn(*args)
    except BlockingIOError:
        return -errno.EAGAIN
    except OSError as e:
        return -(e.errno or errno.EIO)


def _host_copy(p, fin, fout, fn, *args):
    """_host for a copy the host makes between two host files: the mappings of either stay
    coherent with it (mm/filemap.py: written back before, the output's pages read again after)."""
    cache = p.kernel.page_cache
    cache.before_io(fin)
    cache.before_io(fout)
    n = _host(fn, *args)
    if n > 0:
        cache.after_write(fout)
    return n


def _read_off(p, ptr):
    if not ptr:
        return None
    raw = p.mm.read(ptr, 8)
    return -errno.EFAULT if raw is None else struct.unpack("<q", raw)[0]


def _write_off(p, ptr, value) -> bool:
    return p.mm.write(ptr, struct.pack("<q", value))


# --- the pipe buffer, as splice sees it ----------------------------------------------------------

def _take(p, pipe, n, nonblock, consume=True) -> bytes | int:
    """Up to n bytes from a guest pipe, waiting for some (ipipe_prep / splice_from_pipe_next)."""
    if pipe.buf:
        data = bytes(pipe.buf[:n])
        if consume:
            del pipe.buf[:len(data)]
            pipe.wake_writers()
        return data
    if pipe.writers == 0:
        return b""
    if nonblock:
        return -errno.EAGAIN
    raise Sleep("pipe_read", queues=(pipe.rd_wait,))


def _room(p, pipe, nonblock) -> int:
    """Free bytes in a guest pipe, waiting for some (opipe_prep / wait_for_space); SIGPIPE and
    EPIPE when nobody reads it."""
    if pipe.readers == 0:
        from elfkit.kernel.signals import send_sig
        send_sig(p, 13, p)
        return -errno.EPIPE
    room = pipe.size - len(pipe.buf)
    if room > 0:
        return room
    if nonblock:
        return -errno.EAGAIN
    raise Sleep("pipe_write", queues=(pipe.wr_wait,))


def _put(pipe, data):
    if data:
        pipe.buf += data
        pipe.wake_readers()


# --- splice ------------------------------------------------------------------------------------

def sys_splice(p, fd_in, off_in, fd_out, off_out, length, flags):
    if length == 0:
        return 0
    if flags & ~SPLICE_F_ALL:
        return -errno.EINVAL
    fin, fout = _get(p, fd_in), None
    if fin is None or (fout := _get(p, fd_out)) is None:
        return -errno.EBADF
    ipipe, opipe = _guest_pipe(fin), _guest_pipe(fout)
    in_is_pipe, out_is_pipe = ipipe is not None or _host_pipe(fin), opipe is not None or _host_pipe(fout)
    if in_is_pipe and off_in or out_is_pipe and off_out:
        return -errno.ESPIPE
    pos_out, pos_in = _read_off(p, off_out), _read_off(p, off_in)
    if pos_out == -errno.EFAULT or pos_in == -errno.EFAULT:
        return -errno.EFAULT
    if not _readable(fin) or not _writable(fout):
        return -errno.EBADF
    length = min(length, MAX_IO)
    if ipipe is None and opipe is None:
        if not in_is_pipe and not out_is_pipe:
            return -errno.EINVAL
        # do_splice: a pipe end's O_NONBLOCK counts as SPLICE_F_NONBLOCK
        nonblock = flags & SPLICE_F_NONBLOCK or (fin.flags if in_is_pipe else 0) & O_NONBLOCK or \
            (fout.flags if out_is_pipe else 0) & O_NONBLOCK
        ready = _host_ready(fin, fout, nonblock)
        if ready is not None:
            return ready
        n = _host_copy(p, fin, fout, os.splice, fin.host_fd(), fout.host_fd(),
                       _host_room(fout, length), pos_in, pos_out, flags | SPLICE_F_NONBLOCK)
        if n == -errno.EAGAIN and not nonblock:
            _host_sleep(fin, fout)
    elif ipipe is not None and opipe is not None:
        if ipipe is opipe:
            return -errno.EINVAL
        n = _pipe_to_pipe(p, ipipe, opipe, length, flags, fin, fout, consume=True)
    elif ipipe is not None:
        if fout.flags & O_APPEND:
            return -errno.EINVAL
        if pos_out is not None and pos_out < 0:
            return -errno.EINVAL
        nonblock = flags & SPLICE_F_NONBLOCK or fin.flags & O_NONBLOCK
        data = _take(p, ipipe, length, nonblock, consume=False)
        if isinstance(data, int) or not data:
            return data if isinstance(data, int) else 0
        ready = _host_ready(None, fout, nonblock or fout.flags & O_NONBLOCK)
        if ready is not None:
            return ready
        data = data[:_host_room(fout, len(data))]
        n = fout.write(data) if pos_out is None else fout.pwrite(data, pos_out)
        if n > 0:
            del ipipe.buf[:n]
            ipipe.wake_writers()
    else:
        if pos_in is not None and pos_in < 0:
            return -errno.EINVAL
        nonblock = flags & SPLICE_F_NONBLOCK or fout.flags & O_NONBLOCK
        room = _room(p, opipe, nonblock)
        if room < 0:
            return room
        ready = _host_ready(fin, None, nonblock or fin.flags & O_NONBLOCK)
        if ready is not None:
            return ready
        data = fin.read(min(length, room)) if pos_in is None else fin.pread(min(length, room), pos_in)
        if isinstance(data, int):
            return data
        _put(opipe, data)
        n = len(data)
    if isinstance(n, int) and n > 0:
        if pos_in is not None:
            _write_off(p, off_in, pos_in + n)
        if pos_out is not None:
            _write_off(p, off_out, pos_out + n)
    return n


def _pipe_to_pipe(p, ipipe, opipe, length, flags, fin, fout, consume):
    """splice_pipe_to_pipe / link_pipe: wait for input, then for room; move (or copy) what fits."""
    nonblock = flags & SPLICE_F_NONBLOCK or (fin.flags | fout.flags) & O_NONBLOCK
    data = _take(p, ipipe, length, nonblock, consume=False)
    if isinstance(data, int) or not data:
        return data if isinstance(data, int) else 0
    room = _room(p, opipe, nonblock)
    if room < 0:
        return room
    data = data[:room]
    if consume:
        del ipipe.buf[:len(data)]
        ipipe.wake_writers()
    _put(opipe, data)
    return len(data)


def sys_tee(p, fd_in, fd_out, length, flags, *_):
    if flags & ~SPLICE_F_ALL:
        return -errno.EINVAL
    if length == 0:
        return 0
    fin, fout = _get(p, fd_in), None
    if fin is None or (fout := _get(p, fd_out)) is None:
        return -errno.EBADF
    if not _readable(fin) or not _writable(fout):
        return -errno.EBADF
    ipipe, opipe = _guest_pipe(fin), _guest_pipe(fout)
    if ipipe is None or opipe is None or ipipe is opipe:
        return -errno.EINVAL                      # (two host pipes: see the table's note)
    return _pipe_to_pipe(p, ipipe, opipe, min(length, MAX_IO), flags, fin, fout, consume=False)


def sys_vmsplice(p, fd, iov, nr_segs, flags, *_):
    """vmsplice: user memory into a pipe (write end) or out of it (read end), copied."""
    if flags & ~SPLICE_F_ALL:
        return -errno.EINVAL
    f = _get(p, fd)
    if f is None or not _readable(f) and not _writable(f):
        return -errno.EBADF
    if nr_segs > 1024:
        return -errno.EINVAL
    raw = p.mm.read(iov, 16 * nr_segs) if nr_segs else b""
    if raw is None:
        return -errno.EFAULT
    vecs = list(struct.iter_unpack("<QQ", raw))
    total = sum(n for _, n in vecs)
    if total == 0:
        return 0
    pipe = _guest_pipe(f)
    if pipe is None:
        return -errno.EBADF
    nonblock = flags & SPLICE_F_NONBLOCK or f.flags & O_NONBLOCK
    if _writable(f):
        room = _room(p, pipe, nonblock)
        if room < 0:
            return room
        parts, want = [], min(total, room)
        for base, n in vecs:
            if want <= 0:
                break
            piece = p.mm.read(base, min(n, want))
            if piece is None:
                if parts:
                    break
                return -errno.EFAULT
            parts.append(piece)
            want -= len(piece)
        data = b"".join(parts)
        _put(pipe, data)
        return len(data)
    data = _take(p, pipe, min(total, MAX_IO), nonblock, consume=False)
    if isinstance(data, int) or not data:
        return data if isinstance(data, int) else 0
    done = 0
    for base, n in vecs:
        piece = data[done:done + n]
        if not piece:
            break
        if not p.mm.write(base, piece):
            if done:
                break
            return -errno.EFAULT
        done += len(piece)
    del pipe.buf[:done]
    pipe.wake_writers()
    return done


# --- sendfile, copy_file_range -------------------------------------------------------------------

def sys_sendfile(p, out_fd, in_fd, offset_ptr, count, *_):
    """do_sendfile: from a file (never a pipe) into a file, socket or pipe."""
    pos = _read_off(p, offset_ptr)
    if pos == -errno.EFAULT:
        return pos
    fin = _get(p, in_fd)
    if fin is None or not _readable(fin):
        return -errno.EBADF
    if pos is not None and pos < 0 or count >= 1 << 63:
        return -errno.EINVAL
    fout = _get(p, out_fd)
    if fout is None or not _writable(fout):
        return -errno.EBADF
    count = min(count, MAX_IO)
    opipe = _guest_pipe(fout)
    if _guest_pipe(fin) is not None:
        return -errno.EINVAL                      # a pipe has no splice_read for sendfile
    if opipe is None and fout.flags & O_APPEND:
        return -errno.EINVAL
    if fin.host_fd() is not None and fout.host_fd() is not None:
        # do_sendfile: the input's O_NONBLOCK (and a pipe output's) make it non-blocking
        nonblock = (fin.flags | (fout.flags if _host_waits(fout) == "fifo" else 0)) & O_NONBLOCK
        ready = _host_ready(fin, fout, nonblock)
        if ready is not None:
            return ready
        n = _host_copy(p, fin, fout, os.sendfile, fout.host_fd(), fin.host_fd(), pos,
                       _host_room(fout, count))
        if n == -errno.EAGAIN and not nonblock:
            _host_sleep(fin, fout)
    else:
        if opipe is not None:
            room = _room(p, opipe, fout.flags & O_NONBLOCK)
            if room < 0:
                return room
            count = min(count, room)
        ready = _host_ready(fin, None, (fin.flags | fout.flags) & O_NONBLOCK)
        if ready is not None:
            return ready
        data = fin.read(count) if pos is None else fin.pread(count, pos)
        if isinstance(data, int):
            return data
        if opipe is not None:
            _put(opipe, data)
            n = len(data)
        else:
            n = fout.write(data)
    if pos is not None and n > 0 and not _write_off(p, offset_ptr, pos + n):
        return -errno.EFAULT
    return n


def sys_copy_file_range(p, fd_in, off_in, fd_out, off_out, length, flags):
    """Between two regular files of the host: the host's own copy_file_range (its checks:
    EINVAL for flags and non-regular files, EISDIR, EBADF for modes and O_APPEND, EXDEV)."""
    fin = _get(p, fd_in)
    if fin is None:
        return -errno.EBADF
    fout = _get(p, fd_out)
    if fout is None:
        return -errno.EBADF
    pos_in, pos_out = _read_off(p, off_in), _read_off(p, off_out)
    if pos_in == -errno.EFAULT or pos_out == -errno.EFAULT:
        return -errno.EFAULT
    if flags:
        return -errno.EINVAL
    if fin.host_fd() is None or fout.host_fd() is None:
        st_in, st_out = fin.stat(), fout.stat()
        if any(not isinstance(st, int) and stat_mod.S_ISDIR(st.st_mode) for st in (st_in, st_out)):
            return -errno.EISDIR
        return -errno.EINVAL                      # a guest pipe or a made-up file: not regular
    n = _host_copy(p, fin, fout, os.copy_file_range, fin.host_fd(), fout.host_fd(),
                   min(length, MAX_IO), pos_in, pos_out)
    if n > 0:
        if pos_in is not None and not _write_off(p, off_in, pos_in + n):
            return -errno.EFAULT
        if pos_out is not None and not _write_off(p, off_out, pos_out + n):
            return -errno.EFAULT
    return n


TABLE = [
    Syscall(NR.splice, sys_splice, ("fd", "hex", "fd", "hex", "size", "hex")),
    Syscall(NR.tee, sys_tee, ("fd", "fd", "size", "hex"), status="partial",
            note="between guest pipes; between two host pipes EINVAL"),
    Syscall(NR.vmsplice, sys_vmsplice, ("fd", "iovec", "int", "hex"), status="partial",
            note="the bytes are copied: SPLICE_F_GIFT pages are not shared with the pipe"),
    Syscall(NR.sendfile, sys_sendfile, ("fd", "fd", "hex", "size")),
    Syscall(NR.copy_file_range, sys_copy_file_range, ("fd", "hex", "fd", "hex", "size", "int")),
]
