"""File system calls: open/read/write and friends, stat, directories, fcntl/ioctl, pipes, cwd.

Paths resolve inside the sysroot; opening for writing, and every call that
changes the file system, is refused with EROFS outside the directories the
user allowed with --allow-write. The guest's /proc/self is elfkit's own.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat as stat_mod
import struct
import termios
import time

from elfkit.kernel.fs import devpts
from elfkit.kernel.fs import proc as procfs
from elfkit.kernel.fs.files import (O_ACCMODE, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_NOFOLLOW,
                                 O_NONBLOCK, O_PATH, O_RDONLY, O_TRUNC, HostFile, MemoryFile,
                                 RandomFile)
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR
from elfkit.loader.sysroot import PathError

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_EACCESS, AT_EMPTY_PATH = 0x100, 0x200, 0x200, 0x1000
MAX_IO = 0x7FFFF000                          # MAX_RW_COUNT
STAT = struct.Struct("<QQQIIIIQqqqqqqqqq24x")


def s32(v: int) -> int:
    """A register's low 32 bits as the C int the kernel reads there."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    """A register as a signed long (loff_t, ssize_t, long)."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


# --- paths -------------------------------------------------------------------------------------

def guest_path(p, dirfd: int, path: str) -> str | int:
    """The absolute guest path of `path` relative to dirfd (AT_FDCWD: the cwd)."""
    if path.startswith("/"):
        gp = path
    else:
        dirfd = s32(dirfd)
        if dirfd == AT_FDCWD:
            base = p.cwd
        else:
            f = p.files.get(dirfd)
            if f is None:
                return -errno.EBADF
            base = f.path
        gp = os.path.join(base, path) if path else base
    if gp.startswith("/proc/"):
        through = procfs.through_magic_link(p, gp)
        if through is not None:
            return through                        # /proc/PID/root/..., cwd/..., fd/N/...
    return gp


def read_path(p, ptr) -> str | int:
    raw = p.mm.read_cstring(ptr, 4096)
    if raw is None:
        return -errno.EFAULT
    return os.fsdecode(raw)


def resolve(p, dirfd, ptr, follow=True, allow_empty=False, path=None):
    """(guest path, host path) or -errno (`path`: already read from the guest)."""
    path = read_path(p, ptr) if path is None else path
    if isinstance(path, int):
        return path
    if not path and not allow_empty:
        return -errno.ENOENT
    gp = guest_path(p, dirfd, path)
    if isinstance(gp, int):
        return gp
    try:
        return gp, p.sysroot.host_path(gp, "/", follow_last=follow)
    except PathError as e:
        return -e.errno


def may_write(p, host_path: str, follow: bool = True, data: bool = True) -> bool:
    """The write policy: may the guest change what host_path names? follow: the call acts on
    what a final symbolic link points to (open, truncate); else on the name itself (rename,
    unlink, lchown): then the name's directory is what must be writable, wherever the link
    points. data: writing bytes (an open for writing), which /dev/null, /dev/tty, /dev/zero,
    /dev/full and the guest's own pseudo-terminals take from anyone; anything else -- modes,
    owners, times, xattrs, names -- only under --allow-write, devices included."""
    if follow:
        real = os.path.realpath(host_path)
    else:
        head, tail = os.path.split(os.path.normpath(host_path))
        real = os.path.join(os.path.realpath(head or "."), tail) if tail not in ("", ".", "..") \
            else os.path.realpath(host_path)
    if data and (real in ("/dev/null", "/dev/tty", "/dev/zero", "/dev/full") or
                 devpts.may_open(p.kernel, real)):
        return True
    return _under_writable(p, real)


def _under_writable(p, real: str) -> bool:
    return any(real == w or real.startswith(w.rstrip("/") + "/") for w in p.writable)


def fd_may_write(p, f, data: bool = True) -> bool:
    """The write policy for an open file: decided by where its inode is now (the host's
    /proc/self/fd link), never by the name it was opened by, which a rename may since have
    given to another file. Guest-made files (pipes, sockets, memfds) are the guest's own.
    data: as for may_write (attribute changes pass False)."""
    host = f.host_fd()
    if host is None or getattr(f, "anonymous", False):
        return True
    try:
        real = os.readlink(f"/proc/self/fd/{host}")
    except OSError:
        return False
    if real.endswith(" (deleted)"):              # unlinked since: where it was decides
        real = real[:-len(" (deleted)")]
    if not real.startswith("/"):                 # pipe:[N], socket:[N], anon_inode:...
        return False
    return may_write(p, real, data=data)


# --- open / close ------------------------------------------------------------------------------

def do_open(p, dirfd, ptr, flags, mode, path=None):
    r = resolve(p, dirfd, ptr, follow=not flags & O_NOFOLLOW, path=path)
    if isinstance(r, int):
        return r
    gp, host = r
    if gp.startswith(("/dev/std", "/dev/fd/", "//")):  # the usual ways into /proc by another name
        gp = procfs.canonical(p, gp, follow=not flags & O_NOFOLLOW) or gp
    special = procfs.open_file(p, gp, flags)
    if special is not None:
        if isinstance(special, int):
            return special
        return p.files.install(special, bool(flags & O_CLOEXEC))
    if p.seed is not None and os.path.realpath(host) in ("/dev/urandom", "/dev/random"):
        return p.files.install(RandomFile(gp, p.rng, os.stat(host)), bool(flags & O_CLOEXEC))
    writing = (flags & O_ACCMODE) != O_RDONLY or flags & (O_CREAT | O_TRUNC)
    if writing and not flags & O_PATH and not may_write(p, host):
        if flags & O_CREAT and not os.path.exists(host) or (flags & O_ACCMODE) != O_RDONLY or \
                flags & O_TRUNC:
            p.warn_once(f"erofs:{gp}", f"refused write access to {gp} (read-only; allow with "
                                       "--allow-write DIR)")
            return -errno.EROFS
    host_flags = flags & ~O_CLOEXEC
    if flags & O_PATH:
        host_flags = os.O_RDONLY | (flags & (O_DIRECTORY | O_NOFOLLOW)) | os.O_PATH
    fd = _open_host(p, host, host_flags, flags, mode)
    if fd < 0:
        return fd
    st = os.fstat(fd)
    if procfs.is_host_proc(st):
        # /proc reached by another name: the guest's own /proc answers, never the host's
        cg = procfs.canonical(p, gp, follow=not flags & O_NOFOLLOW)
        special = procfs.open_file(p, cg) if cg is not None else -errno.ENOENT
        if special is not None:
            os.close(fd)
            if isinstance(special, int):
                return special
            return p.files.install(special, bool(flags & O_CLOEXEC))
    f = HostFile(fd, gp, flags, host)
    if stat_mod.S_ISREG(st.st_mode):
        f.page_cache = p.kernel.page_cache          # (its mappings stay coherent: mm/filemap.py)
    if stat_mod.S_ISCHR(st.st_mode):               # by whatever name: a terminal must be its own
        real = os.path.realpath(host)
        if devpts.foreign_terminal(p.kernel, real, fd):
            os.close(fd)
            p.warn_once(f"tty:{gp}", f"refused to open {gp}: a terminal that is not the guest's")
            return -errno.EACCES
        devpts.opened(p.kernel, f, real)
    return p.files.install(f, bool(flags & O_CLOEXEC))


def _open_host(p, host, host_flags, flags, mode) -> int:
    """The host open(2) behind do_open: a host fd or -errno.

    O_NOCTTY always: a terminal the guest opens must never become elfkit's controlling
    terminal. A FIFO is opened O_NONBLOCK on the host whatever the guest asked, as a blocking
    open would stop every guest under the kernel lock until the other end came (fifo_open).
    The guest's O_NONBLOCK lives in the HostFile's flags (its read and write wait on the host
    descriptor with select; F_GETFL reports the guest's). fifo_open's waits, modelled:
    - a blocking writer with no reader yet (the host's ENXIO) waits, polling every 10 ms (the
      host has no event for "a reader opened" to wait on); O_WRONLY|O_NONBLOCK gets ENXIO;
    - a blocking reader does NOT wait for a writer: its open returns at once and its first
      read waits for data instead (no EOF until a writer has come and gone), which differs
      only for a reader whose writer never comes, or comes after the reader's open was
      expected to be still waiting."""
    host_flags |= os.O_CLOEXEC | os.O_NOCTTY
    fifo = False
    if not flags & O_PATH:
        try:
            fifo = stat_mod.S_ISFIFO(os.stat(host).st_mode)
        except OSError:
            pass
    if fifo:
        host_flags |= O_NONBLOCK
    try:
        return os.open(host, host_flags, mode & ~p.umask & 0o7777)
    except OSError as e:
        if fifo and e.errno == errno.ENXIO and not flags & O_NONBLOCK and \
                flags & O_ACCMODE == os.O_WRONLY:
            from elfkit.kernel.wait import Sleep
            raise Sleep("fifo_open", deadline=time.monotonic() + 0.01)
        return -(e.errno or errno.EIO)


_FIFO_NOTE = ("a blocking open of a FIFO for reading returns at once rather than waiting for a "
              "writer (its reads wait for the data instead); a blocking writer waits for a "
              "reader by polling every 10 ms")


def _guest_nonblock_only(f) -> bool:
    """A FIFO do_open opened by name: its host descriptor stays O_NONBLOCK (_open_host), and
    whether the guest's is non-blocking is the HostFile's flags' business."""
    if not isinstance(f, HostFile) or not f.host_path:
        return False
    try:
        return stat_mod.S_ISFIFO(os.fstat(f.fd).st_mode)
    except OSError:
        return False


def sys_openat(p, dirfd, ptr, flags, mode, *_):
    return do_open(p, dirfd, ptr, flags & 0xFFFFFFFF, mode)


def sys_open(p, ptr, flags, mode, *_):
    return do_open(p, AT_FDCWD, ptr, flags & 0xFFFFFFFF, mode)


def sys_creat(p, ptr, mode, *_):
    return do_open(p, AT_FDCWD, ptr, 0o1101, mode)


OPEN_HOW = struct.Struct("<QQQ")
RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS = 1, 2, 4
RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_CACHED = 8, 0x10, 0x20


def copy_struct_from_user(p, ptr, ksize: int, usize: int) -> bytes | int:
    """copy_struct_from_user: the `ksize` bytes the kernel knows of a user structure of `usize`
    bytes -- a shorter (older) one zero-filled, a longer (newer) one only when all the kernel
    does not know is zero (else -E2BIG); -EFAULT when it cannot be read."""
    raw = p.mm.read(ptr, usize)
    if raw is None:
        return -errno.EFAULT
    if any(raw[ksize:]):
        return -errno.E2BIG
    return raw[:ksize].ljust(ksize, b"\0")


def sys_openat2(p, dirfd, ptr, how_ptr, size, *_):
    """openat2: struct open_how (copy_struct_from_user's size rules), strict flag and mode
    checks, and the RESOLVE_* restrictions applied while walking the path."""
    if size < OPEN_HOW.size:
        return -errno.EINVAL
    if size > 4096:
        return -errno.E2BIG
    raw = copy_struct_from_user(p, how_ptr, OPEN_HOW.size, size)
    if isinstance(raw, int):
        return raw
    flags, mode, res = OPEN_HOW.unpack(raw)
    if flags & ~0o37777777 or flags & 0o20000000 and not flags & O_DIRECTORY:
        return -errno.EINVAL                        # unknown flags; __O_TMPFILE without O_DIRECTORY
    if res & ~0x3F or res & RESOLVE_BENEATH and res & RESOLVE_IN_ROOT:
        return -errno.EINVAL
    creating = flags & O_CREAT or flags & 0o20000000
    if creating and mode & ~0o7777 or not creating and mode:
        return -errno.EINVAL
    if flags & O_PATH and flags & ~(O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC):
        return -errno.EINVAL
    if res & RESOLVE_CACHED and flags & (O_TRUNC | O_CREAT | 0o20000000):
        return -errno.EAGAIN
    path = read_path(p, ptr)
    if isinstance(path, int):
        return path
    if res & 0x1F:
        path = _walk_restricted(p, dirfd, path, res, not flags & O_NOFOLLOW)
        if isinstance(path, int):
            return path
    return do_open(p, dirfd, 0, flags, mode, path=path)


def _walk_restricted(p, dirfd, path, res, follow_last):
    """The path with RESOLVE_* applied (fs/namei.c's LOOKUP_* flags), as a guest path, or -errno:
    EXDEV for leaving the start directory (BENEATH) or crossing a mount (NO_XDEV), ELOOP for a
    symlink (NO_SYMLINKS) or a /proc magic link (NO_MAGICLINKS); IN_ROOT treats the start
    directory as "/"."""
    base = guest_path(p, dirfd, "")
    if isinstance(base, int):
        return base
    if not path:
        return -errno.ENOENT
    if path.startswith("/"):
        if res & RESOLVE_BENEATH:
            return -errno.EXDEV
        if not res & RESOLVE_IN_ROOT:
            base = "/"
    todo = [c for c in path.split("/") if c and c != "."]
    done: list[str] = []
    links = 0
    dev = _dev_of(p, base)
    while todo:
        name = todo.pop(0)
        if name == "..":
            if not done:
                if res & RESOLVE_BENEATH:
                    return -errno.EXDEV
                if res & RESOLVE_IN_ROOT or base == "/":
                    continue
                base = os.path.dirname(base.rstrip("/")) or "/"
                if res & RESOLVE_NO_XDEV and _dev_of(p, base) != dev:
                    return -errno.EXDEV
                continue
            done.pop()
            continue
        gp = os.path.join(base, *done, name)
        if gp.startswith("/proc/") and procfs.readlink(p, gp) is not None and \
                res & RESOLVE_NO_MAGICLINKS and (todo or follow_last) and "/fd/" in gp:
            return -errno.ELOOP
        try:
            host = p.sysroot.host_path(gp, "/", follow_last=False)
            st = os.lstat(host)
        except (PathError, OSError):
            done.append(name)                          # the open reports what is missing
            continue
        if stat_mod.S_ISLNK(st.st_mode) and (todo or follow_last):
            if res & RESOLVE_NO_SYMLINKS:
                return -errno.ELOOP
            links += 1
            if links > 40:
                return -errno.ELOOP
            target = os.readlink(host)
            if target.startswith("/"):
                if res & RESOLVE_BENEATH:
                    return -errno.EXDEV
                if res & RESOLVE_IN_ROOT:
                    done = []
                else:
                    base, done = "/", []
            todo = [c for c in target.split("/") if c and c != "."] + todo
            continue
        if res & RESOLVE_NO_XDEV and st.st_dev != dev:
            return -errno.EXDEV
        done.append(name)
    return os.path.join(base, *done)


def _dev_of(p, gp):
    try:
        return os.stat(p.sysroot.host_path(gp, "/")).st_dev
    except (PathError, OSError):
        return None


def sys_close(p, fd, *_):
    return p.files.close(s32(fd))


CLOSE_RANGE_UNSHARE, CLOSE_RANGE_CLOEXEC = 2, 4


def sys_close_range(p, first, last, flags, *_):
    first, last, flags = first & 0xFFFFFFFF, last & 0xFFFFFFFF, flags & 0xFFFFFFFF
    if flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) or first > last:
        return -errno.EINVAL
    if flags & CLOSE_RANGE_UNSHARE and p.files.users > 1:
        shared = p.files                  # unshare_fd: a table of its own first, as unshare()
        p.files = shared.dup_table()
        shared.users -= 1
    for fd in [fd for fd in p.files.fds if first <= fd <= last]:
        if flags & CLOSE_RANGE_CLOEXEC:
            p.files.set_cloexec(fd, True)
        else:
            p.files.close(fd)
    return 0


# --- read / write ------------------------------------------------------------------------------

def _file(p, fd):
    return p.files.get(s32(fd))


def sys_read(p, fd, buf, count, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    data = f.read(min(count, MAX_IO))
    if isinstance(data, int):
        return data
    return len(data) if p.mm.write(buf, data) else -errno.EFAULT


def sys_write(p, fd, buf, count, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    data = p.mm.read(buf, min(count, MAX_IO))
    if data is None:
        return -errno.EFAULT
    return _sigpipe(p, f, f.write_waiting(p, data) if isinstance(f, HostFile) else f.write(data))


def _sigpipe(p, f, result):
    """A write to a pipe or socket of the host whose reader is gone: SIGPIPE, then EPIPE (the
    guest's own pipes send it themselves)."""
    if result == -errno.EPIPE and isinstance(f, HostFile):
        from elfkit.kernel.signals import send_sig
        send_sig(p, 13, p)
    return result


def sys_pread64(p, fd, buf, count, off, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    if off >= 1 << 63:                           # loff_t: a negative offset
        return -errno.EINVAL
    data = f.pread(min(count, MAX_IO), off)
    if isinstance(data, int):
        return data
    return len(data) if p.mm.write(buf, data) else -errno.EFAULT


def sys_pwrite64(p, fd, buf, count, off, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    if off >= 1 << 63:                           # loff_t: a negative offset
        return -errno.EINVAL
    data = p.mm.read(buf, min(count, MAX_IO))
    return -errno.EFAULT if data is None else f.pwrite(data, off)


def _file_and_iovecs(p, fd, iov, cnt):
    """(open file, [(base, len)]) for the vector calls, or -errno."""
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    if cnt > 1024:                                   # UIO_MAXIOV
        return -errno.EINVAL
    raw = p.mm.read(iov, 16 * cnt)
    if raw is None:
        return -errno.EFAULT
    return f, list(struct.iter_unpack("<QQ", raw))


def sys_readv(p, fd, iov, cnt, *_):
    return _readv(p, fd, iov, cnt, None)


def sys_preadv(p, fd, iov, cnt, off, *_):
    return _readv(p, fd, iov, cnt, off)


def _readv(p, fd, iov, cnt, off):
    got = _file_and_iovecs(p, fd, iov, cnt)
    if isinstance(got, int):
        return got
    f, vecs = got
    total = sum(n for _, n in vecs)
    data = f.read(min(total, MAX_IO)) if off is None else f.pread(min(total, MAX_IO), off)
    if isinstance(data, int):
        return data
    pos = 0
    for base, n in vecs:
        piece = data[pos:pos + n]
        if piece and not p.mm.write(base, piece):
            return -errno.EFAULT
        pos += len(piece)
        if pos >= len(data):
            break
    return len(data)


def sys_writev(p, fd, iov, cnt, *_):
    return _writev(p, fd, iov, cnt, None)


def sys_pwritev(p, fd, iov, cnt, off, *_):
    return _writev(p, fd, iov, cnt, off)


def gather(p, vecs) -> list[bytes] | int:
    """The bytes of each (base, length) of an iovec array, or -EFAULT if any is unreadable."""
    parts = []
    for base, n in vecs:
        piece = p.mm.read(base, n)
        if piece is None:
            return -errno.EFAULT
        parts.append(piece)
    return parts


def _writev(p, fd, iov, cnt, off):
    got = _file_and_iovecs(p, fd, iov, cnt)
    if isinstance(got, int):
        return got
    f, vecs = got
    parts = gather(p, vecs)
    if isinstance(parts, int):
        return parts
    data = b"".join(parts)
    if off is not None:
        return _sigpipe(p, f, f.pwrite(data, off))
    return _sigpipe(p, f, f.write_waiting(p, data) if isinstance(f, HostFile) else f.write(data))


RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT, RWF_APPEND, RWF_NOAPPEND = 1, 2, 4, 8, 0x10, 0x20
RWF_SUPPORTED = 0xFF                                # ... RWF_ATOMIC, RWF_DONTCACHE (6.14)


def sys_preadv2(p, fd, iov, cnt, off, _off_hi, flags):
    return _rw2(p, fd, iov, cnt, s64(off), flags & 0xFFFFFFFF, False)


def sys_pwritev2(p, fd, iov, cnt, off, _off_hi, flags):
    return _rw2(p, fd, iov, cnt, s64(off), flags & 0xFFFFFFFF, True)


def _rw2(p, fd, iov, cnt, off, flags, writing):
    """preadv2/pwritev2: offset -1 is the file position; the RWF_* flags are the host's to honour
    for a host file (os.preadv/os.pwritev pass them on); a guest pipe takes RWF_NOWAIT as
    O_NONBLOCK and ignores the others, as pipe_read/pipe_write do."""
    if off < -1:
        return -errno.EINVAL
    got = _file_and_iovecs(p, fd, iov, cnt)
    if isinstance(got, int):
        return got
    f, vecs = got
    acc = f.flags & O_ACCMODE
    if f.flags & O_PATH or (acc == 0 if writing else acc == 1):
        return -errno.EBADF
    host = f.host_fd()
    if host is None:
        if off != -1 and hasattr(f, "pipe"):
            return -errno.ESPIPE
        if not sum(n for _, n in vecs):
            return 0
        if flags & ~RWF_SUPPORTED:
            return -errno.EOPNOTSUPP
        if flags & RWF_APPEND and flags & RWF_NOAPPEND:
            return -errno.EINVAL
        saved = f.flags
        if flags & RWF_NOWAIT:
            f.flags |= O_NONBLOCK
        try:
            return (_writev if writing else _readv)(p, fd, iov, cnt, None if off == -1 else off)
        finally:
            f.flags = saved
    p.kernel.page_cache.before_io(f)
    if writing:
        parts = gather(p, vecs)
        if isinstance(parts, int):
            return parts
        try:
            n = os.pwritev(host, parts, off, flags)
        except OSError as e:
            return _sigpipe(p, f, -(e.errno or errno.EIO))
        if n > 0:
            p.kernel.page_cache.after_write(f)
        return n
    bufs = [bytearray(min(n, MAX_IO)) for _, n in vecs]
    try:
        got = os.preadv(host, bufs, off, flags)
    except OSError as e:
        return -(e.errno or errno.EIO)
    left = got
    for (base, _), b in zip(vecs, bufs):
        if left <= 0:
            break
        if not p.mm.write(base, bytes(b[:left])):
            return -errno.EFAULT
        left -= len(b)
    return got


def sys_lseek(p, fd, off, whence, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    whence &= 0xFFFFFFFF
    if whence > 4:                               # SEEK_SET .. SEEK_HOLE
        return -errno.EINVAL
    if off >= 1 << 63:
        off -= 1 << 64
    return f.lseek(off, whence)


# --- stat --------------------------------------------------------------------------------------

def pack_stat(st) -> bytes:
    # stat_results elfkit makes up (procfs) lack the optional fields: they read as None
    return STAT.pack(st.st_dev, st.st_ino, st.st_nlink, st.st_mode, st.st_uid, st.st_gid, 0,
                     getattr(st, "st_rdev", 0) or 0, st.st_size,
                     getattr(st, "st_blksize", 4096) or 1024, getattr(st, "st_blocks", 0) or 0,
                     int(st.st_atime), _nsec(st, "st_atime"), int(st.st_mtime), _nsec(st, "st_mtime"),
                     int(st.st_ctime), _nsec(st, "st_ctime"))


def _nsec(st, name):
    ns = getattr(st, name + "_ns", None)
    return ns % 1_000_000_000 if ns is not None else 0


def _stat_path(p, dirfd, ptr, flags):
    """os.stat_result for (dirfd, path, AT_* flags), or -errno."""
    follow = not flags & AT_SYMLINK_NOFOLLOW
    path = read_path(p, ptr) if ptr else ""
    if isinstance(path, int):
        return path
    if not path:
        if not flags & AT_EMPTY_PATH:
            return -errno.ENOENT
        if s32(dirfd) == AT_FDCWD:
            return _host_stat(p, p.sysroot.host_path(p.cwd), True)
        f = _file(p, dirfd)
        return -errno.EBADF if f is None else f.stat()
    gp = guest_path(p, dirfd, path)
    if isinstance(gp, int):
        return gp
    special = procfs.stat(p, gp, follow)
    if special is not None:
        return special
    try:
        host = p.sysroot.host_path(gp, "/", follow_last=follow)
    except PathError as e:
        return -e.errno
    return _host_stat(p, host, follow, gp)


def _host_stat(p, host, follow, gp=None):
    try:
        st = os.stat(host, follow_symlinks=follow)
    except OSError as e:
        return -(e.errno or errno.EIO)
    if gp is not None and procfs.is_host_proc(st):      # /proc by another name: the guest's own
        cg = procfs.canonical(p, gp, follow)
        special = procfs.stat(p, cg, follow) if cg is not None else -errno.ENOENT
        if special is not None:
            return special
    return st


def _put_stat(p, st, buf):
    if isinstance(st, int):
        return st
    return 0 if p.mm.write(buf, pack_stat(st)) else -errno.EFAULT


def sys_fstat(p, fd, buf, *_):
    f = _file(p, fd)
    return -errno.EBADF if f is None else _put_stat(p, f.stat(), buf)


def sys_stat(p, ptr, buf, *_):
    return _put_stat(p, _stat_path(p, AT_FDCWD, ptr, 0), buf)


def sys_lstat(p, ptr, buf, *_):
    return _put_stat(p, _stat_path(p, AT_FDCWD, ptr, AT_SYMLINK_NOFOLLOW), buf)


def sys_newfstatat(p, dirfd, ptr, buf, flags, *_):
    return _put_stat(p, _stat_path(p, dirfd, ptr, flags), buf)


STATX_BASIC_STATS, STATX_BTIME, STATX_MNT_ID, STATX__RESERVED = 0x7FF, 0x800, 0x1000, 0x80000000
AT_NO_AUTOMOUNT, AT_STATX_SYNC_TYPE = 0x800, 0x6000


def sys_statx(p, dirfd, ptr, flags, mask, buf, *_):
    """statx: the host's own answer for host files (its mask: btime, mount id, attributes as
    the file system gives them), elfkit's stat for the files it makes up."""
    flags &= 0xFFFFFFFF
    mask &= 0xFFFFFFFF
    if mask & STATX__RESERVED or flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE:
        return -errno.EINVAL
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE):
        return -errno.EINVAL
    st = _stat_path(p, dirfd, ptr, flags)
    if isinstance(st, int):
        return st
    body = _host_statx(p, dirfd, ptr, flags, mask)
    if body is None:
        body = _made_statx(st)
    return 0 if p.mm.write(buf, body) else -errno.EFAULT


def _host_statx(p, dirfd, ptr, flags, mask) -> bytes | None:
    """struct statx from the host for a host file, or None (made-up files, or no host statx)."""
    import ctypes
    path = read_path(p, ptr) if ptr else ""
    if isinstance(path, int):
        return None
    if not path:
        f = _file(p, dirfd) if s32(dirfd) != AT_FDCWD else None
        target, host = (f.host_fd() if f is not None else None), b""
        if target is None and f is None:
            target, host = AT_FDCWD, os.fsencode(p.sysroot.host_path(p.cwd))
        if target is None:
            return None
        hflags = flags | AT_EMPTY_PATH if not host else flags & ~AT_EMPTY_PATH
    else:
        gp = guest_path(p, dirfd, path)
        if isinstance(gp, int) or procfs.stat(p, gp, not flags & AT_SYMLINK_NOFOLLOW) is not None:
            return None
        try:
            host = os.fsencode(p.sysroot.host_path(gp, "/", follow_last=not flags & AT_SYMLINK_NOFOLLOW))
        except PathError:
            return None
        target, hflags = AT_FDCWD, flags & ~AT_EMPTY_PATH
    out = ctypes.create_string_buffer(256)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.statx(ctypes.c_int(target), host, ctypes.c_int(hflags), ctypes.c_uint(mask), out) != 0:
        return None
    return out.raw


def _made_statx(st) -> bytes:
    def ts(name):
        return struct.pack("<qIi", int(getattr(st, name)), _nsec(st, name), 0)
    dev = st.st_dev
    rdev = getattr(st, "st_rdev", 0) or 0
    body = struct.pack("<IIQIIIHHQQQQ", STATX_BASIC_STATS | STATX_MNT_ID,
                       getattr(st, "st_blksize", 4096) or 1024, 0, st.st_nlink, st.st_uid,
                       st.st_gid, st.st_mode, 0, st.st_ino, st.st_size,
                       getattr(st, "st_blocks", 0) or 0, 0)
    body += ts("st_atime") + bytes(16) + ts("st_ctime") + ts("st_mtime")
    body += struct.pack("<IIII", os.major(rdev), os.minor(rdev), os.major(dev), os.minor(dev))
    return body.ljust(256, b"\0")


def sys_access(p, ptr, mode, *_):
    return sys_faccessat2(p, AT_FDCWD, ptr, mode, 0)


def sys_faccessat(p, dirfd, ptr, mode, *_):
    return sys_faccessat2(p, dirfd, ptr, mode, 0)


def sys_faccessat2(p, dirfd, ptr, mode, flags, *_):
    st = _stat_path(p, dirfd, ptr, flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
    if isinstance(st, int):
        return st
    if mode & 2:                                   # W_OK
        r = resolve(p, dirfd, ptr)
        if not isinstance(r, int) and not may_write(p, r[1]):
            return -errno.EROFS
    if mode & 1 and not st.st_mode & 0o111 and not stat_mod.S_ISDIR(st.st_mode):
        return -errno.EACCES
    return 0


def sys_readlinkat(p, dirfd, ptr, buf, size, *_):
    path = read_path(p, ptr)
    if isinstance(path, int):
        return path
    gp = guest_path(p, dirfd, path)
    if isinstance(gp, int):
        return gp
    target = procfs.readlink(p, gp)
    if target is None:
        try:
            host = p.sysroot.host_path(gp, "/", follow_last=False)
            if procfs.is_host_proc(os.lstat(host)):     # /proc by another name
                cg = procfs.canonical(p, gp, follow=False)
                target = procfs.readlink(p, cg) if cg is not None else -errno.ENOENT
                if isinstance(target, int):
                    return target
            if target is None:
                target = os.readlink(host)
        except PathError as e:
            return -e.errno
        except OSError as e:
            return -(e.errno or errno.EIO)
    elif isinstance(target, int):
        return target
    data = os.fsencode(target)[:size]
    return len(data) if p.mm.write(buf, data) else -errno.EFAULT


def sys_readlink(p, ptr, buf, size, *_):
    return sys_readlinkat(p, AT_FDCWD, ptr, buf, size)


# --- directories -------------------------------------------------------------------------------

def _dirent64(ino, off, dtype, raw):
    """struct linux_dirent64: d_type before the name."""
    reclen = (19 + len(raw) + 7) & ~7
    return struct.pack("<QqHB", ino, off, reclen, dtype) + raw + bytes(reclen - 19 - len(raw))


def _dirent(ino, off, dtype, raw):
    """The old struct linux_dirent: d_type in the record's last byte."""
    reclen = (18 + len(raw) + 1 + 7) & ~7
    rec = struct.pack("<QqH", ino, off, reclen) + raw
    return rec + bytes(reclen - len(rec) - 1) + bytes([dtype])


def _getdents(p, fd, buf, count, record):
    """iterate_dir: the directory's next entries that fit in `count` bytes, each made by
    `record`, resumed where the last call stopped."""
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    entries = f.getdents()
    if isinstance(entries, int):
        return entries
    out = bytearray()
    pos = getattr(f, "_dir_pos", 0)
    while pos < len(entries):
        ino, dtype, name = entries[pos]
        rec = record(ino, pos + 1, dtype, os.fsencode(name) + b"\0")
        if len(out) + len(rec) > count:
            break
        out += rec
        pos += 1
    if not out and pos < len(entries):
        return -errno.EINVAL
    f._dir_pos = pos
    return len(out) if p.mm.write(buf, bytes(out)) else -errno.EFAULT


def sys_getdents64(p, fd, buf, count, *_):
    return _getdents(p, fd, buf, count, _dirent64)


def sys_getdents(p, fd, buf, count, *_):
    return _getdents(p, fd, buf, count, _dirent)


MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_HUGETLB, MFD_NOEXEC_SEAL, MFD_EXEC = 1, 2, 4, 8, 0x10
MFD_NAME_MAX_LEN = 249


def sys_memfd_create(p, name_ptr, flags, *_):
    """An anonymous file: a host memfd (its seals, sizes and hugetlb answers are the host's)."""
    flags &= 0xFFFFFFFF
    allowed = 0x1F | (0x3F << 26 if flags & MFD_HUGETLB else 0)
    if flags & ~allowed or flags & MFD_EXEC and flags & MFD_NOEXEC_SEAL:
        return -errno.EINVAL
    raw = p.mm.read_cstring(name_ptr, MFD_NAME_MAX_LEN + 1)
    if raw is None:                                 # strnlen_user: no NUL in reach, or a fault
        return -errno.EINVAL if p.mm.read(name_ptr, MFD_NAME_MAX_LEN + 1) else -errno.EFAULT
    if len(raw) > MFD_NAME_MAX_LEN:
        return -errno.EINVAL
    try:
        fd = os.memfd_create(os.fsdecode(raw), (flags & ~MFD_CLOEXEC) | MFD_CLOEXEC)
    except OSError as e:
        return -(e.errno or errno.EIO)
    f = HostFile(fd, "/memfd:" + os.fsdecode(raw) + " (deleted)", os.O_RDWR)
    f.page_cache = p.kernel.page_cache
    f.anonymous = True
    return p.files.install(f, bool(flags & MFD_CLOEXEC))


class SecretMemFile(HostFile):
    """mm/secretmem.c: an anonymous file whose pages are reached only by mapping it MAP_SHARED
    (read and write: EINVAL; no position: ESPIPE). Its pages are a host memfd's, which the
    mapping code reads through map_pread."""

    def read(self, n):
        return -errno.EINVAL

    def write(self, data):
        return -errno.EINVAL

    def write_waiting(self, task, data):
        return -errno.EINVAL

    def pread(self, n, off):
        return -errno.ESPIPE

    def pwrite(self, data, off):
        return -errno.ESPIPE

    def lseek(self, off, whence):
        return -errno.ESPIPE

    def map_pread(self, n, off):
        return HostFile.pread(self, n, off)


def sys_memfd_secret(p, flags, *_):
    """memfd_secret: flags may only be O_CLOEXEC; the file is mapped MAP_SHARED or not at all
    (sys_mmap refuses the rest with EINVAL)."""
    flags &= 0xFFFFFFFF
    if flags & ~O_CLOEXEC:
        return -errno.EINVAL
    try:
        fd = os.memfd_create("secretmem", MFD_CLOEXEC)
    except OSError as e:
        return -(e.errno or errno.EIO)
    f = SecretMemFile(fd, "/secretmem (deleted)", os.O_RDWR)
    f.anonymous = True
    return p.files.install(f, bool(flags & O_CLOEXEC))


def sys_name_to_handle_at(p, dirfd, ptr, handle_ptr, mnt_ptr, flags, *_):
    """The host's file handle for the file (read with the host's name_to_handle_at)."""
    import ctypes
    flags &= 0xFFFFFFFF
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH | 0x200 | 0x2):   # AT_HANDLE_FID, _MNT_ID_UNIQUE
        return -errno.EINVAL
    raw = p.mm.read(handle_ptr, 4)
    if raw is None:
        return -errno.EFAULT
    size = struct.unpack("<I", raw)[0]
    if size > 128:                                  # MAX_HANDLE_SZ
        return -errno.EINVAL
    r = resolve(p, dirfd, ptr, follow=bool(flags & AT_SYMLINK_FOLLOW), allow_empty=bool(flags & AT_EMPTY_PATH))
    if isinstance(r, int):
        return r
    out = ctypes.create_string_buffer(struct.pack("<I", size), 8 + 128)
    mnt = ctypes.c_int(0)
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.name_to_handle_at(ctypes.c_int(AT_FDCWD), os.fsencode(r[1]), out, ctypes.byref(mnt),
                                ctypes.c_int(flags & ~AT_EMPTY_PATH))
    err = ctypes.get_errno() if rc != 0 else 0
    if rc != 0 and err != errno.EOVERFLOW:
        return -(err or errno.EIO)
    got = struct.unpack("<I", out.raw[:4])[0]
    data = out.raw[:8] if err else out.raw[:8 + got]
    if not p.mm.write(handle_ptr, data) or not err and not p.mm.write(mnt_ptr, struct.pack("<i", mnt.value)):
        return -errno.EFAULT
    return -err if err else 0


AT_SYMLINK_FOLLOW = 0x400


def sys_getcwd(p, buf, size, *_):
    data = os.fsencode(p.cwd) + b"\0"
    if len(data) > size:
        return -errno.ERANGE
    return len(data) if p.mm.write(buf, data) else -errno.EFAULT


def sys_chdir(p, ptr, *_):
    r = resolve(p, AT_FDCWD, ptr)
    if isinstance(r, int):
        return r
    gp, host = r
    if not os.path.isdir(host):
        return -errno.ENOTDIR if os.path.exists(host) else -errno.ENOENT
    p.cwd = os.path.normpath(gp) if p.sysroot.identity is False else os.path.realpath(host)
    return 0


def sys_fchdir(p, fd, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    st = f.stat()
    if isinstance(st, int) or not stat_mod.S_ISDIR(st.st_mode):
        return -errno.ENOTDIR
    p.cwd = f.path
    return 0


def sys_umask(p, mask, *_):
    old, p.umask = p.umask, mask & 0o777
    return old


# --- descriptors -------------------------------------------------------------------------------

def sys_dup(p, fd, *_):
    return p.files.dup(s32(fd))


def sys_dup2(p, old, new, *_):
    return p.files.dup2(s32(old), s32(new))


def sys_dup3(p, old, new, flags, *_):
    if s32(old) == s32(new):
        return -errno.EINVAL
    return p.files.dup2(s32(old), s32(new), bool(flags & O_CLOEXEC))


def sys_pipe2(p, fds_ptr, flags, *_):
    """A pipe inside elfkit (elfkit.kernel.fs.pipe): the guest's processes share it, never the host."""
    from elfkit.kernel.fs.pipe import make_pipe
    if flags & ~(O_CLOEXEC | O_NONBLOCK | 0o40000):           # O_DIRECT: packet mode, accepted
        return -errno.EINVAL
    r, w = make_pipe(p.kernel, flags)
    return install_pair(p, r, w, bool(flags & O_CLOEXEC), fds_ptr)


def install_pair(p, a, b, cloexec: bool, ptr) -> int:
    """pipe2/socketpair's end: both files get descriptors, written to `ptr` as two ints; on
    any failure neither descriptor stays."""
    fa = p.files.install(a, cloexec)
    if fa < 0:
        a.put(), b.put()
        return fa
    fb = p.files.install(b, cloexec)
    if fb < 0:
        p.files.close(fa)
        b.put()
        return fb
    if not p.mm.write(ptr, struct.pack("<ii", fa, fb)):
        p.files.close(fa), p.files.close(fb)
        return -errno.EFAULT
    return 0


def sys_pipe(p, fds_ptr, *_):
    return sys_pipe2(p, fds_ptr, 0)


F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 5, 6, 7, 36, 37, 38
F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG, F_SETOWN_EX, F_GETOWN_EX = 8, 9, 10, 11, 15, 16
F_SETLEASE, F_GETLEASE, F_NOTIFY, F_SETPIPE_SZ, F_GETPIPE_SZ = 1024, 1025, 1026, 1031, 1032
F_ADD_SEALS, F_GET_SEALS, F_GET_RW_HINT, F_SET_RW_HINT = 1033, 1034, 1035, 1036
FLOCK = struct.Struct("<hh4xqqi4x")              # struct flock (x86-64)
_LOCK_CMDS = (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)


def sys_fcntl(p, fd, cmd, arg, *_):
    fd = s32(fd)
    cmd &= 0xFFFFFFFF
    f = p.files.get(fd)
    if f is None:
        return -errno.EBADF
    if cmd == F_DUPFD:
        return p.files.dup(fd, lowest=arg) if arg < p.files.nofile else -errno.EINVAL
    if cmd == F_DUPFD_CLOEXEC:
        return p.files.dup(fd, lowest=arg, cloexec=True) if arg < p.files.nofile else -errno.EINVAL
    if cmd == F_GETFD:
        return 1 if p.files.cloexec(fd) else 0
    if cmd == F_SETFD:
        p.files.set_cloexec(fd, bool(arg & 1))
        return 0
    host = f.host_fd()
    if cmd == F_GETFL:
        if host is None:
            return f.flags
        fl = (fcntl.fcntl(host, fcntl.F_GETFL) & ~os.O_CLOEXEC) | (f.flags & O_ACCMODE)
        if _guest_nonblock_only(f):
            fl = (fl & ~O_NONBLOCK) | (f.flags & O_NONBLOCK)
        return fl
    if f.flags & O_PATH:                          # an O_PATH descriptor allows no more than these
        return -errno.EBADF
    if cmd == F_SETFL:
        if host is not None:
            cur = fcntl.fcntl(host, fcntl.F_GETFL)
            keep = O_NONBLOCK if _guest_nonblock_only(f) else 0
            fcntl.fcntl(host, fcntl.F_SETFL, (cur & ~(O_APPEND | O_NONBLOCK)) |
                        (arg & (O_APPEND | O_NONBLOCK)) | keep)
        f.flags = (f.flags & ~(O_APPEND | O_NONBLOCK)) | (arg & (O_APPEND | O_NONBLOCK))
        return 0
    if cmd in _LOCK_CMDS:
        return _fcntl_lock(p, f, cmd, arg)
    if cmd in (F_SETPIPE_SZ, F_GETPIPE_SZ):
        return _pipe_size(f, host, cmd, arg)
    if cmd in (F_GETLEASE, F_SETLEASE):
        return _lease(p, f, cmd, arg)
    if cmd == F_NOTIFY:
        return _dnotify(p, f, arg)
    if cmd in (F_ADD_SEALS, F_GET_SEALS):
        if host is None:
            return -errno.EINVAL                  # only shmem (memfd) files take seals
        try:
            return fcntl.fcntl(host, cmd, arg & 0xFFFFFFFF)
        except OSError as e:
            return -(e.errno or errno.EINVAL)
    return _fcntl_owner(p, f, cmd, arg)


def _fcntl_owner(p, f, cmd, arg):
    """F_SETOWN/F_GETOWN/F_SETSIG/F_GETSIG/F_*OWN_EX and the write-life hints: recorded on the
    open file description (SIGIO itself is never sent: see the table's note)."""
    if cmd == F_SETOWN:
        f.sigio_owner = s32(arg)
        return 0
    if cmd == F_GETOWN:
        return getattr(f, "sigio_owner", 0)
    if cmd == F_SETSIG:
        if arg > 64:
            return -errno.EINVAL
        f.sigio_signal = arg
        return 0
    if cmd == F_GETSIG:
        return getattr(f, "sigio_signal", 0)
    if cmd == F_GETOWN_EX:
        owner = getattr(f, "sigio_owner", 0)
        raw = struct.pack("<ii", 2 if owner < 0 else 1, abs(owner))     # F_OWNER_PGRP / F_OWNER_PID
        return 0 if p.mm.write(arg, raw) else -errno.EFAULT
    if cmd == F_SETOWN_EX:
        raw = p.mm.read(arg, 8)
        if raw is None:
            return -errno.EFAULT
        kind, pid = struct.unpack("<ii", raw)
        if kind not in (0, 1, 2):                 # F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP
            return -errno.EINVAL
        f.sigio_owner = -pid if kind == 2 else pid
        return 0
    if cmd in (F_GET_RW_HINT, F_SET_RW_HINT):
        if cmd == F_GET_RW_HINT:
            return 0 if p.mm.write(arg, struct.pack("<Q", getattr(f, "rw_hint", 0))) else -errno.EFAULT
        raw = p.mm.read(arg, 8)
        if raw is None:
            return -errno.EFAULT
        hint = struct.unpack("<Q", raw)[0]
        if hint > 5:                              # RWH_WRITE_LIFE_EXTREME
            return -errno.EINVAL
        f.rw_hint = hint
        return 0
    return -errno.EINVAL


def _lock_range(f, whence, start, length):
    """flock_to_posix_lock: (first, last) byte of the range, or -errno."""
    from elfkit.kernel.fs.locks import OFFSET_MAX
    if whence == 0:
        base = 0
    elif whence == 1:
        base = f.lseek(0, 1)
        if base < 0:
            base = 0
    elif whence == 2:
        st = f.stat()
        base = 0 if isinstance(st, int) else st.st_size
    else:
        return -errno.EINVAL
    if start > OFFSET_MAX - base:
        return -errno.EOVERFLOW
    first = base + start
    if first < 0:
        return -errno.EINVAL
    if length > 0:
        if length - 1 > OFFSET_MAX - first:
            return -errno.EOVERFLOW
        return first, first + length - 1
    if length < 0:
        if first + length < 0:
            return -errno.EINVAL
        return first + length, first - 1
    return first, OFFSET_MAX


def _fcntl_lock(p, f, cmd, arg):
    """F_GETLK/F_SETLK/F_SETLKW and the OFD variants (fcntl_getlk, fcntl_setlk)."""
    from elfkit.kernel.fs.locks import F_RDLCK, F_UNLCK, F_WRLCK, OFFSET_MAX, table_of
    raw = p.mm.read(arg, FLOCK.size)
    if raw is None:
        return -errno.EFAULT
    ltype, whence, start, length, pid = FLOCK.unpack(raw)
    ofd = cmd in (F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
    getting = cmd in (F_GETLK, F_OFD_GETLK)
    if getting and ltype not in (F_RDLCK, F_WRLCK):
        return -errno.EINVAL
    rng = _lock_range(f, whence, start, length)
    if isinstance(rng, int):
        return rng
    first, last = rng
    table = table_of(p.kernel)
    owner = f if ofd else p.files
    if getting:
        if ofd and pid != 0:
            return -errno.EINVAL
        held = table.test(owner, f, ltype, first, last)
        if held is None:
            out = FLOCK.pack(F_UNLCK, whence, start, length, pid)
        else:
            out = FLOCK.pack(held.type, 0, held.start,
                             0 if held.end == OFFSET_MAX else held.end - held.start + 1,
                             -1 if held.kind == "ofd" else held.pid)
        return 0 if p.mm.write(arg, out) else -errno.EFAULT
    acc = f.flags & O_ACCMODE
    if ltype == F_RDLCK and acc == 1 or ltype == F_WRLCK and acc == 0:     # check_fmode_for_setlk
        return -errno.EBADF
    if ofd and pid != 0:
        return -errno.EINVAL
    if ltype not in (F_RDLCK, F_WRLCK, F_UNLCK):
        return -errno.EINVAL
    return table.setlk(p, owner, "ofd" if ofd else "posix", f, ltype, first, last,
                       cmd in (F_SETLKW, F_OFD_SETLKW))


def _fcntl_interrupted(p, *_):
    from elfkit.kernel.fs.locks import table_of
    table_of(p.kernel).blocked.pop(id(p.files), None)    # no longer waiting: no deadlock through it


sys_fcntl.interrupted = _fcntl_interrupted


def sys_flock(p, fd, op, *_):
    """flock(2): whole-file locks of the open file description (fs/locks.py)."""
    from elfkit.kernel.fs.locks import F_RDLCK, F_UNLCK, F_WRLCK, LOCK_MAND, LOCK_NB, table_of
    op &= 0xFFFFFFFF
    if op & LOCK_MAND:
        p.warn_once("flock:mand", "flock: LOCK_MAND is ignored, as Linux ignores it")
        return 0
    type_ = {1: F_RDLCK, 2: F_WRLCK, 8: F_UNLCK}.get(op & ~LOCK_NB)
    if type_ is None:
        return -errno.EINVAL
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    if f.flags & O_PATH:                          # fdget() does not see O_PATH files
        return -errno.EBADF
    return table_of(p.kernel).flock(p, f, type_, bool(op & LOCK_NB))


def _pipe_size(f, host, cmd, arg):
    """F_GETPIPE_SZ/F_SETPIPE_SZ (pipe_fcntl): EBADF on anything but a pipe."""
    if hasattr(f, "pipe_size"):
        return f.pipe_size(arg & 0xFFFFFFFF if cmd == F_SETPIPE_SZ else None)
    if host is not None:
        try:
            if stat_mod.S_ISFIFO(os.fstat(host).st_mode):
                return fcntl.fcntl(host, cmd, arg & 0xFFFFFFFF)
        except OSError as e:
            return -(e.errno or errno.EINVAL)
    return -errno.EBADF


def _lease(p, f, cmd, arg):
    """F_GETLEASE: no lease is ever held. F_SETLEASE (generic_setlease): the checks an
    unprivileged process meets; a lease on one's own regular file is refused as if another
    open conflicted (lease breaking is not modelled)."""
    if cmd == F_GETLEASE:
        return 2                                    # F_UNLCK
    st = f.stat()
    if isinstance(st, int):
        return st
    if st.st_uid != p.creds.euid:
        return -errno.EACCES                        # not the owner, and no CAP_LEASE
    if not stat_mod.S_ISREG(st.st_mode):
        return -errno.EINVAL
    arg = s32(arg)
    if arg == 2:
        return -errno.EAGAIN                        # F_UNLCK: there was none (generic_delete_lease)
    if arg not in (0, 1):
        return -errno.EINVAL
    p.warn_once("lease", "fcntl F_SETLEASE: leases are not modelled; refused with EAGAIN as when "
                         "another open of the file conflicts")
    return -errno.EAGAIN


def _dnotify(p, f, arg):
    """F_NOTIFY (fcntl_dirnotify): accepted on directories; the signals are never sent."""
    st = f.stat()
    if isinstance(st, int):
        return st
    if arg & ~0x80000000 == 0:                      # DN_MULTISHOT alone: remove the watch
        return 0
    if not stat_mod.S_ISDIR(st.st_mode):
        return -errno.ENOTDIR
    p.warn_once("dnotify", "fcntl F_NOTIFY: accepted, but directory change signals are not sent")
    return 0


TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, TIOCGPGRP, FIONREAD, FIONBIO, FIOCLEX = \
    0x5401, 0x5402, 0x5403, 0x5404, 0x5413, 0x5414, 0x540F, 0x541B, 0x5421, 0x5451
TIOCSPGRP = 0x5410


def sys_ioctl(p, fd, req, arg, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    req &= 0xFFFFFFFF
    if getattr(f, "pty", None) is not None:     # a pseudo-terminal the guest made
        r = devpts.ioctl(p, f, req, arg)
        if r is not None:
            return r
    host = f.host_fd()
    tty = host is not None and f.isatty()
    if req == FIOCLEX:
        p.files.set_cloexec(s32(fd), True)
        return 0
    if req == FIONBIO:                          # what fcntl(F_SETFL, O_NONBLOCK) does
        raw = p.mm.read(arg, 4)
        if raw is None:
            return -errno.EFAULT
        f.flags = f.flags | O_NONBLOCK if struct.unpack("<i", raw)[0] else f.flags & ~O_NONBLOCK
        return 0
    if req == FIONREAD and hasattr(f, "pipe"):
        return 0 if p.mm.write(arg, struct.pack("<i", len(f.pipe.buf))) else -errno.EFAULT
    if req == TIOCSPGRP and tty:
        raw = p.mm.read(arg, 4)
        if raw is None:
            return -errno.EFAULT
        pgrp = struct.unpack("<i", raw)[0]
        if not any(t.pgid == pgrp for t in p.kernel.guests()):
            return -errno.ESRCH if pgrp > 0 else -errno.EINVAL
        p.kernel.tty_pgrp = pgrp                 # the guests' foreground group (not the host's)
        return 0
    if req == TIOCGPGRP and tty:
        return 0 if p.mm.write(arg, struct.pack("<i", p.kernel.foreground_pgrp())) else -errno.EFAULT
    if req == FIONREAD and host is not None:
        try:
            raw = fcntl.ioctl(host, FIONREAD, b"\0\0\0\0")
        except OSError as e:
            return -(e.errno or errno.ENOTTY)
        return 0 if p.mm.write(arg, raw) else -errno.EFAULT
    if req in (TCGETS, TIOCGWINSZ, TIOCGPGRP, TCSETS, TCSETSW, TCSETSF, TIOCSWINSZ):
        if not tty:
            return -errno.ENOTTY
        if req == TCGETS:
            iflag, oflag, cflag, lflag, _ispeed, _ospeed, cc = termios.tcgetattr(host)
            cc_bytes = bytes(c if isinstance(c, int) else c[0] for c in cc)[:19].ljust(19, b"\0")
            raw = struct.pack("<IIIIB", iflag, oflag, cflag, lflag, 0) + cc_bytes
            return 0 if p.mm.write(arg, raw) else -errno.EFAULT
        if req == TIOCGWINSZ:
            raw = fcntl.ioctl(host, termios.TIOCGWINSZ, bytes(8))
            return 0 if p.mm.write(arg, raw) else -errno.EFAULT
        if req == TIOCGPGRP:
            return 0 if p.mm.write(arg, struct.pack("<i", os.tcgetpgrp(host))) else -errno.EFAULT
        return 0          # TCSETS*/TIOCSWINSZ: the user's terminal settings are not the guest's to change
    return -errno.ENOTTY


# --- changes to the file system: refused unless allowed --------------------------------------

def _mutating(op):
    def handler(p, *args):
        ptr_positions = {"unlink": [0], "mkdir": [0], "rmdir": [0], "rename": [0, 1], "link": [0, 1],
                         "symlink": [1], "chmod": [0], "chown": [0], "lchown": [0], "truncate": [0],
                         "unlinkat": [1], "mkdirat": [1], "renameat": [1, 3], "renameat2": [1, 3],
                         "linkat": [1, 3], "symlinkat": [2], "fchmodat": [1], "fchownat": [1],
                         "utimensat": [1], "mknod": [0], "mknodat": [1]}[op]
        dirfd_for = {1: 0, 3: 2, 2: 1}
        if op in ("symlink", "symlinkat") and isinstance(read_path(p, args[0]), int):
            return read_path(p, args[0])             # the link's text: EFAULT, ENAMETOOLONG
        for pos in ptr_positions:
            ptr = args[pos]
            dirfd = args[dirfd_for[pos]] if op.endswith("at") or op.startswith("renameat") and \
                pos in dirfd_for else AT_FDCWD
            r = resolve(p, dirfd, ptr, follow=False)  # (a NULL name: EFAULT, as the kernel's)
            if isinstance(r, int):
                return r
            # the name itself is what changes; and where the call follows a final symbolic
            # link (truncate, mkdir's re-resolution, linkat's AT_SYMLINK_FOLLOW source) the
            # file it reaches must be writable too
            follows = op in ("truncate", "mkdir", "mkdirat") or \
                op == "linkat" and pos == 1 and args[4] & AT_SYMLINK_FOLLOW
            if follows:
                rf = resolve(p, dirfd, ptr, follow=True)
                if isinstance(rf, int):
                    return rf
            if not may_write(p, r[1], follow=False, data=False) or \
                    follows and not may_write(p, rf[1], data=op == "truncate"):
                p.warn_once(f"erofs:{r[0]}", f"refused to {op} {r[0]} (read-only; allow with "
                                              "--allow-write DIR)")
                return -errno.EROFS
        return _do_mutation(p, op, args)
    return handler


def _do_mutation(p, op, args):
    try:
        if op in ("unlink", "unlinkat"):
            path = resolve(p, AT_FDCWD if op == "unlink" else args[0], args[0 if op == "unlink" else 1],
                           follow=False)[1]
            flags = args[2] if op == "unlinkat" else 0
            (os.rmdir if flags & AT_REMOVEDIR else os.unlink)(path)
        elif op in ("mkdir", "mkdirat"):
            path = resolve(p, AT_FDCWD if op == "mkdir" else args[0], args[0 if op == "mkdir" else 1])[1]
            os.mkdir(path, (args[1] if op == "mkdir" else args[2]) & ~p.umask & 0o7777)
        elif op == "rmdir":
            os.rmdir(resolve(p, AT_FDCWD, args[0])[1])
        elif op in ("rename", "renameat", "renameat2"):
            if op == "rename":
                a, b = resolve(p, AT_FDCWD, args[0], False)[1], resolve(p, AT_FDCWD, args[1], False)[1]
            else:
                a, b = resolve(p, args[0], args[1], False)[1], resolve(p, args[2], args[3], False)[1]
            if op == "renameat2" and args[4] & 0xFFFFFFFF:
                return _renameat2(a, b, args[4] & 0xFFFFFFFF)
            os.rename(a, b)
        elif op == "truncate":
            if args[1] >= 1 << 63:                # loff_t: a negative length
                return -errno.EINVAL
            os.truncate(resolve(p, AT_FDCWD, args[0])[1], args[1])
            p.kernel.page_cache.truncated(host_path=resolve(p, AT_FDCWD, args[0])[1])
        elif op == "symlinkat":
            target = read_path(p, args[0])
            os.symlink(target, resolve(p, args[1], args[2], False)[1])
        elif op == "symlink":
            target = read_path(p, args[0])
            os.symlink(target, resolve(p, AT_FDCWD, args[1], False)[1])
        elif op in ("mknod", "mknodat"):
            return _mknod(p, *(args[:3] if op == "mknod" else args[:4]), at=op == "mknodat")
        elif op in ("link", "linkat"):
            if op == "link":
                a, b, follow = resolve(p, AT_FDCWD, args[0], False)[1], \
                    resolve(p, AT_FDCWD, args[1], False)[1], False
            else:
                if args[4] & 0xFFFFFFFF & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
                    return -errno.EINVAL
                a, b = resolve(p, args[0], args[1], bool(args[4] & AT_SYMLINK_FOLLOW))[1], \
                    resolve(p, args[2], args[3], False)[1]
                follow = bool(args[4] & AT_SYMLINK_FOLLOW)
            os.link(a, b, follow_symlinks=follow)
    except OSError as e:
        return -(e.errno or errno.EIO)
    return 0


RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4
_libc = None


def _renameat2(a: str, b: str, flags: int) -> int:
    """The host's renameat2 with the guest's flags (its checks: EEXIST for NOREPLACE, ENOENT
    for EXCHANGE with a missing target, EINVAL where the file system has no such rename)."""
    global _libc
    import ctypes
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), flags) == 0:
        return 0
    return -(ctypes.get_errno() or errno.EIO)


def _flags_valid(op, args) -> int:
    """The flag checks the kernel makes before it looks a name up (so EINVAL wins over ENOENT
    and EROFS): do_unlinkat's, do_linkat's, do_renameat2's. 0 or -errno."""
    if op == "unlinkat" and args[2] & 0xFFFFFFFF & ~AT_REMOVEDIR:
        return -errno.EINVAL
    if op == "linkat" and args[4] & 0xFFFFFFFF & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        return -errno.EINVAL
    if op == "renameat2":
        flags = args[4] & 0xFFFFFFFF
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) or \
                flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) and flags & RENAME_EXCHANGE:
            return -errno.EINVAL
        # (RENAME_WHITEOUT needs no CAP_MKNOD since Linux 5.8: the host decides)
    return 0


def _mutating_checked(op):
    """_mutating's handler behind the flag checks that come first (_flags_valid)."""
    handler = _mutating(op)
    if op not in ("unlinkat", "linkat", "renameat2"):
        return handler

    def checked(p, *args):
        return _flags_valid(op, args) or handler(p, *args)
    return checked


def _mknod(p, *args, at):
    """mknod/mknodat: FIFOs, sockets and regular files; device nodes need CAP_MKNOD."""
    dirfd, ptr, mode, dev = args if at else (AT_FDCWD, *args)
    mode &= 0xFFFFFFFF
    kind = mode & 0o170000                          # S_IFMT
    if kind in (stat_mod.S_IFCHR, stat_mod.S_IFBLK):
        return -errno.EPERM
    if kind not in (0, stat_mod.S_IFREG, stat_mod.S_IFIFO, stat_mod.S_IFSOCK):
        return -errno.EINVAL
    host = resolve(p, dirfd, ptr, follow=False)[1]
    os.mknod(host, (kind or stat_mod.S_IFREG) | (mode & 0o7777 & ~p.umask), 0)
    return 0


def sys_ftruncate(p, fd, length, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    if length >= 1 << 63:                        # loff_t: a negative length
        return -errno.EINVAL
    host = f.host_fd()
    if host is None or not fd_may_write(p, f):
        return -errno.EROFS if host is not None else -errno.EINVAL
    try:
        os.ftruncate(host, length)
    except OSError as e:
        return -(e.errno or errno.EIO)
    p.kernel.page_cache.truncated(f)
    return 0


def _sync_target(p, fd):
    """The open file fsync/fdatasync/syncfs act on: EBADF, or EINVAL for what has no fsync
    (pipes, sockets, terminals, character devices)."""
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    st = f.stat()
    if isinstance(st, int) or stat_mod.S_ISFIFO(st.st_mode) or stat_mod.S_ISSOCK(st.st_mode) or \
            stat_mod.S_ISCHR(st.st_mode):
        return -errno.EINVAL
    return f


def sys_fsync(p, fd, *_):
    """Accepted: the guest's writes are already the host's; elfkit does not flush the host's disk."""
    f = _sync_target(p, fd)
    if not isinstance(f, int):
        p.kernel.page_cache.before_io(f)        # what shared mappings wrote reaches the file
    return f if isinstance(f, int) else 0


def sys_sync(p, *_):
    return 0


def sys_syncfs(p, fd, *_):
    return 0 if _file(p, fd) is not None else -errno.EBADF


def sys_sync_file_range(p, fd, off, nbytes, flags, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    off, nbytes = s64(off), s64(nbytes)
    if flags & 0xFFFFFFFF & ~7 or off < 0 or off + nbytes < 0 or nbytes < 0 and off + nbytes < off:
        return -errno.EINVAL
    st = f.stat()
    if isinstance(st, int) or not (stat_mod.S_ISREG(st.st_mode) or stat_mod.S_ISDIR(st.st_mode) or
                                   stat_mod.S_ISBLK(st.st_mode) or stat_mod.S_ISLNK(st.st_mode)):
        return -errno.ESPIPE
    return 0


def sys_readahead(p, fd, off, count, *_):
    f = _file(p, fd)
    if f is None or (f.flags & O_ACCMODE) == 1 or f.flags & O_PATH:
        return -errno.EBADF
    st = f.stat()
    if isinstance(st, int) or not stat_mod.S_ISREG(st.st_mode) or s64(off) < 0:
        return -errno.EINVAL
    return 0


def sys_fallocate(p, fd, mode, off, length, *_):
    """The host's fallocate on the host file (its modes, its EOPNOTSUPP); ESPIPE for a pipe."""
    import ctypes
    f = _file(p, fd)
    if f is None or f.flags & O_PATH:
        return -errno.EBADF
    off, length = s64(off), s64(length)
    if off < 0 or length <= 0:
        return -errno.EINVAL
    host = f.host_fd()
    if host is None:
        st = f.stat()
        if not isinstance(st, int) and stat_mod.S_ISFIFO(st.st_mode):
            return -errno.ESPIPE
        return -errno.ENODEV
    libc = ctypes.CDLL(None, use_errno=True)
    p.kernel.page_cache.before_io(f)
    if libc.fallocate(ctypes.c_int(host), ctypes.c_int(s32(mode)), ctypes.c_int64(off),
                      ctypes.c_int64(length)) != 0:
        return -(ctypes.get_errno() or errno.EIO)
    p.kernel.page_cache.after_write(f)          # (holes punched, ranges zeroed or collapsed)
    p.kernel.page_cache.truncated(f)
    return 0


def sys_statfs(p, ptr, buf, *_):
    r = resolve(p, AT_FDCWD, ptr)
    if isinstance(r, int):
        return r
    return _put_statfs(p, r[1], buf)


def sys_fstatfs(p, fd, buf, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    return _put_statfs(p, getattr(f, "host_path", None) or "/proc", buf)


def _put_statfs(p, host, buf):
    """struct statfs, exactly as the host kernel fills it for the file (f_type included)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    out = ctypes.create_string_buffer(120)
    if libc.statfs(os.fsencode(host), out) != 0:
        return -(ctypes.get_errno() or errno.EIO)
    return 0 if p.mm.write(buf, out.raw) else -errno.EFAULT


def sys_fadvise(p, fd, *_):
    return 0 if _file(p, fd) is not None else -errno.EBADF


TABLE = [
    Syscall(NR.read, sys_read, ("fd", "buf_out", "size")),
    Syscall(NR.write, sys_write, ("fd", "buf_in", "size")),
    Syscall(NR.pread64, sys_pread64, ("fd", "buf_out", "size", "int")),
    Syscall(NR.pwrite64, sys_pwrite64, ("fd", "buf_in", "size", "int")),
    Syscall(NR.readv, sys_readv, ("fd", "iovec", "int")),
    Syscall(NR.writev, sys_writev, ("fd", "iovec", "int")),
    Syscall(NR.preadv, sys_preadv, ("fd", "iovec", "int", "int")),
    Syscall(NR.pwritev, sys_pwritev, ("fd", "iovec", "int", "int")),
    Syscall(NR.open, sys_open, ("path", "open_flags", "mode"), "fd", status="partial",
            note=_FIFO_NOTE),
    Syscall(NR.openat, sys_openat, ("dirfd", "path", "open_flags", "mode"), "fd",
            status="partial", note=_FIFO_NOTE),
    Syscall(NR.openat2, sys_openat2, ("dirfd", "path", "hex", "size"), "fd", status="partial",
            note="RESOLVE_* are checked by elfkit's own walk before the open (not atomic with "
                 "it); RESOLVE_CACHED never fails with EAGAIN for a lookup"),
    Syscall(NR.creat, sys_creat, ("path", "mode"), "fd"),
    Syscall(NR.close, sys_close, ("fd",)),
    Syscall(NR.close_range, sys_close_range, ("int", "int", "int")),
    Syscall(NR.lseek, sys_lseek, ("fd", "int", "whence")),
    Syscall(NR.fstat, sys_fstat, ("fd", "stat")),
    Syscall(NR.stat, sys_stat, ("path", "stat")),
    Syscall(NR.lstat, sys_lstat, ("path", "stat")),
    Syscall(NR.newfstatat, sys_newfstatat, ("dirfd", "path", "stat", "at_flags")),
    Syscall(NR.statx, sys_statx, ("dirfd", "path", "at_flags", "hex", "hex")),
    Syscall(NR.access, sys_access, ("path", "access_mode")),
    Syscall(NR.faccessat, sys_faccessat, ("dirfd", "path", "access_mode")),
    Syscall(NR.faccessat2, sys_faccessat2, ("dirfd", "path", "access_mode", "at_flags")),
    Syscall(NR.readlink, sys_readlink, ("path", "buf_out", "size")),
    Syscall(NR.readlinkat, sys_readlinkat, ("dirfd", "path", "buf_out", "size")),
    Syscall(NR.getdents64, sys_getdents64, ("fd", "hex", "size")),
    Syscall(NR.getcwd, sys_getcwd, ("buf_out", "size")),
    Syscall(NR.chdir, sys_chdir, ("path",)),
    Syscall(NR.fchdir, sys_fchdir, ("fd",)),
    Syscall(NR.umask, sys_umask, ("mode",), "oct"),
    Syscall(NR.dup, sys_dup, ("fd",), "fd"),
    Syscall(NR.dup2, sys_dup2, ("fd", "fd"), "fd"),
    Syscall(NR.dup3, sys_dup3, ("fd", "fd", "open_flags"), "fd"),
    Syscall(NR.pipe, sys_pipe, ("hex",)),
    Syscall(NR.pipe2, sys_pipe2, ("hex", "open_flags")),
    Syscall(NR.fcntl, sys_fcntl, ("fd", "fcntl_cmd", "hex"), status="partial",
            note="F_SETOWN/F_SETSIG are recorded but SIGIO is never sent; F_SETLEASE is refused "
                 "with EAGAIN (leases are not modelled); F_NOTIFY is accepted without signals"),
    Syscall(NR.flock, sys_flock, ("fd", "int")),
    Syscall(NR.ioctl, sys_ioctl, ("fd", "ioctl_req", "hex")),
    Syscall(NR.ftruncate, sys_ftruncate, ("fd", "int")),
    Syscall(NR.fsync, sys_fsync, ("fd",)),
    Syscall(NR.fdatasync, sys_fsync, ("fd",)),
    Syscall(NR.sync, sys_sync, ()),
    Syscall(NR.syncfs, sys_syncfs, ("fd",)),
    Syscall(NR.sync_file_range, sys_sync_file_range, ("fd", "int", "int", "hex")),
    Syscall(NR.readahead, sys_readahead, ("fd", "int", "size")),
    Syscall(NR.fallocate, sys_fallocate, ("fd", "hex", "int", "int")),
    Syscall(NR.preadv2, sys_preadv2, ("fd", "iovec", "int", "int", "int", "hex")),
    Syscall(NR.pwritev2, sys_pwritev2, ("fd", "iovec", "int", "int", "int", "hex")),
    Syscall(NR.getdents, sys_getdents, ("fd", "hex", "size")),
    Syscall(NR.memfd_secret, sys_memfd_secret, ("hex",), ret="fd", status="partial",
            note="pages come from a host memfd: not removed from the host's direct map, and no "
                 "RLIMIT_MEMLOCK accounting"),
    Syscall(NR.memfd_create, sys_memfd_create, ("str", "hex"), "fd", status="partial",
            note="a MAP_SHARED mapping is a copy made at mmap time: stores through it do not "
                 "reach read(), nor writes the mapping"),
    Syscall(NR.name_to_handle_at, sys_name_to_handle_at, ("dirfd", "path", "hex", "hex", "at_flags")),
    Syscall(NR.statfs, sys_statfs, ("path", "hex")),
    Syscall(NR.fstatfs, sys_fstatfs, ("fd", "hex")),
    Syscall(NR.fadvise64, sys_fadvise, ("fd", "int", "int", "int")),
] + [Syscall(getattr(NR, op), _mutating_checked(op), ("path",)) for op in (
    "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link",
    "linkat", "symlink", "symlinkat", "truncate", "mknod", "mknodat")]     # modes, owners, times: attrs

__all__ = ["TABLE", "MemoryFile"]
