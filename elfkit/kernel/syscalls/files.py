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
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


# --- paths -------------------------------------------------------------------------------------

def guest_path(p, dirfd: int, path: str) -> str | int:
    """The absolute guest path of `path` relative to dirfd (AT_FDCWD: the cwd)."""
    if path.startswith("/"):
        return path
    dirfd = s32(dirfd)
    if dirfd == AT_FDCWD:
        base = p.cwd
    else:
        f = p.files.get(dirfd)
        if f is None:
            return -errno.EBADF
        base = f.path
    return os.path.join(base, path) if path else base


def read_path(p, ptr) -> str | int:
    raw = p.mm.read_cstring(ptr, 4096)
    if raw is None:
        return -errno.EFAULT
    return os.fsdecode(raw)


def resolve(p, dirfd, ptr, follow=True, allow_empty=False):
    """(guest path, host path) or -errno."""
    path = read_path(p, ptr)
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


def may_write(p, host_path: str) -> bool:
    real = os.path.realpath(host_path)
    if real in ("/dev/null", "/dev/tty", "/dev/zero", "/dev/full"):
        return True
    return any(real == w or real.startswith(w.rstrip("/") + "/") for w in p.writable)


# --- open / close ------------------------------------------------------------------------------

def do_open(p, dirfd, ptr, flags, mode):
    r = resolve(p, dirfd, ptr, follow=not flags & O_NOFOLLOW)
    if isinstance(r, int):
        return r
    gp, host = r
    special = procfs.open_file(p, gp)
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
    try:
        fd = os.open(host, host_flags | os.O_CLOEXEC, mode & ~p.umask & 0o7777)
    except OSError as e:
        return -(e.errno or errno.EIO)
    return p.files.install(HostFile(fd, gp, flags, host), bool(flags & O_CLOEXEC))


def sys_openat(p, dirfd, ptr, flags, mode, *_):
    return do_open(p, dirfd, ptr, flags & 0xFFFFFFFF, mode)


def sys_open(p, ptr, flags, mode, *_):
    return do_open(p, AT_FDCWD, ptr, flags & 0xFFFFFFFF, mode)


def sys_creat(p, ptr, mode, *_):
    return do_open(p, AT_FDCWD, ptr, 0o1101, mode)


def sys_close(p, fd, *_):
    return p.files.close(s32(fd))


def sys_close_range(p, first, last, flags, *_):
    for fd in [fd for fd in p.files.fds if first <= fd <= last]:
        if flags & 4:                     # CLOSE_RANGE_CLOEXEC
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
    return _sigpipe(p, f, f.write(data))


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
    data = f.pread(min(count, MAX_IO), off)
    if isinstance(data, int):
        return data
    return len(data) if p.mm.write(buf, data) else -errno.EFAULT


def sys_pwrite64(p, fd, buf, count, off, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
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


def _writev(p, fd, iov, cnt, off):
    got = _file_and_iovecs(p, fd, iov, cnt)
    if isinstance(got, int):
        return got
    f, vecs = got
    parts = []
    for base, n in vecs:
        piece = p.mm.read(base, n)
        if piece is None:
            return -errno.EFAULT
        parts.append(piece)
    data = b"".join(parts)
    return _sigpipe(p, f, f.write(data) if off is None else f.pwrite(data, off))


def sys_lseek(p, fd, off, whence, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    if off >= 1 << 63:
        off -= 1 << 64
    return f.lseek(off, whence)


def sys_sendfile(p, out_fd, in_fd, offset_ptr, count, *_):
    out, inp = _file(p, out_fd), _file(p, in_fd)
    if out is None or inp is None:
        return -errno.EBADF
    if offset_ptr:
        raw = p.mm.read(offset_ptr, 8)
        if raw is None:
            return -errno.EFAULT
        off = struct.unpack("<q", raw)[0]
        data = inp.pread(min(count, MAX_IO), off)
    else:
        data = inp.read(min(count, MAX_IO))
    if isinstance(data, int):
        return data
    n = out.write(data)
    if offset_ptr and n >= 0:
        p.mm.write(offset_ptr, struct.pack("<q", off + n))
    return n


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
    return _host_stat(p, host, follow)


def _host_stat(p, host, follow):
    try:
        return os.stat(host, follow_symlinks=follow)
    except OSError as e:
        return -(e.errno or errno.EIO)


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


def sys_statx(p, dirfd, ptr, flags, mask, buf, *_):
    st = _stat_path(p, dirfd, ptr, flags)
    if isinstance(st, int):
        return st
    def ts(name):
        return struct.pack("<qIi", int(getattr(st, name)), _nsec(st, name), 0)
    dev = st.st_dev
    rdev = getattr(st, "st_rdev", 0) or 0
    body = struct.pack("<IIQIIIHHQQQQ", 0x7FF, getattr(st, "st_blksize", 4096) or 1024, 0,
                       st.st_nlink, st.st_uid, st.st_gid, st.st_mode, 0, st.st_ino, st.st_size,
                       getattr(st, "st_blocks", 0) or 0, 0)
    body += ts("st_atime") + bytes(16) + ts("st_ctime") + ts("st_mtime")
    body += struct.pack("<IIII", os.major(rdev), os.minor(rdev), os.major(dev), os.minor(dev))
    body = body.ljust(256, b"\0")
    return 0 if p.mm.write(buf, body) else -errno.EFAULT


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

def sys_getdents64(p, fd, buf, count, *_):
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
        raw = os.fsencode(name) + b"\0"
        reclen = (19 + len(raw) + 7) & ~7
        if len(out) + reclen > count:
            break
        out += struct.pack("<QqHB", ino, pos + 1, reclen, dtype) + raw
        out += bytes(reclen - 19 - len(raw))
        pos += 1
    if not out and pos < len(entries):
        return -errno.EINVAL
    f._dir_pos = pos
    return len(out) if p.mm.write(buf, bytes(out)) else -errno.EFAULT


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
    cloexec = bool(flags & O_CLOEXEC)
    a = p.files.install(r, cloexec)
    if a < 0:
        r.put(), w.put()
        return a
    b = p.files.install(w, cloexec)
    if b < 0:
        p.files.close(a)
        w.put()
        return b
    if not p.mm.write(fds_ptr, struct.pack("<ii", a, b)):
        p.files.close(a), p.files.close(b)
        return -errno.EFAULT
    return 0


def sys_pipe(p, fds_ptr, *_):
    return sys_pipe2(p, fds_ptr, 0)


F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030


def sys_fcntl(p, fd, cmd, arg, *_):
    fd = s32(fd)
    f = p.files.get(fd)
    if f is None:
        return -errno.EBADF
    if cmd == F_DUPFD:
        return p.files.dup(fd, lowest=arg)
    if cmd == F_DUPFD_CLOEXEC:
        return p.files.dup(fd, lowest=arg, cloexec=True)
    if cmd == F_GETFD:
        return 1 if p.files.cloexec(fd) else 0
    if cmd == F_SETFD:
        p.files.set_cloexec(fd, bool(arg & 1))
        return 0
    host = f.host_fd()
    if cmd in (1031, 1032) and hasattr(f, "pipe_size"):     # F_SETPIPE_SZ, F_GETPIPE_SZ
        return f.pipe_size(arg & 0xFFFFFFFF if cmd == 1031 else None)
    if cmd == F_GETFL:
        if host is None:
            return f.flags
        return (fcntl.fcntl(host, fcntl.F_GETFL) & ~os.O_CLOEXEC) | (f.flags & O_ACCMODE)
    if cmd == F_SETFL:
        if host is not None:
            cur = fcntl.fcntl(host, fcntl.F_GETFL)
            fcntl.fcntl(host, fcntl.F_SETFL, (cur & ~(O_APPEND | O_NONBLOCK)) |
                        (arg & (O_APPEND | O_NONBLOCK)))
        f.flags = (f.flags & ~(O_APPEND | O_NONBLOCK)) | (arg & (O_APPEND | O_NONBLOCK))
        return 0
    if cmd in (5, 36):                          # F_GETLK, F_OFD_GETLK: nobody else holds a lock
        raw = p.mm.read(arg, 2)
        if raw is None:
            return -errno.EFAULT
        return 0 if p.mm.write(arg, struct.pack("<h", 2)) else -errno.EFAULT   # l_type = F_UNLCK
    if cmd in (6, 7, 37, 38):                   # set locks: granted (one process, no contention)
        return 0
    if cmd == 1032 and host is not None:        # F_GETPIPE_SZ
        try:
            return fcntl.fcntl(host, 1032)
        except OSError as e:
            return -(e.errno or errno.EINVAL)
    return -errno.EINVAL


TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, TIOCGPGRP, FIONREAD, FIONBIO, FIOCLEX = \
    0x5401, 0x5402, 0x5403, 0x5404, 0x5413, 0x5414, 0x540F, 0x541B, 0x5421, 0x5451
TIOCSPGRP = 0x5410


def sys_ioctl(p, fd, req, arg, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    req &= 0xFFFFFFFF
    host = f.host_fd()
    tty = host is not None and f.isatty()
    if req == FIOCLEX:
        p.files.set_cloexec(s32(fd), True)
        return 0
    if req == FIONBIO:
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
        for pos in ptr_positions:
            ptr = args[pos]
            if not ptr:
                continue
            dirfd = args[dirfd_for[pos]] if op.endswith("at") or op.startswith("renameat") and \
                pos in dirfd_for else AT_FDCWD
            r = resolve(p, dirfd, ptr, follow=False)
            if isinstance(r, int):
                return r
            if not may_write(p, r[1]):
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
            os.rename(a, b)
        elif op in ("chmod", "fchmodat"):
            path = resolve(p, AT_FDCWD if op == "chmod" else args[0], args[0 if op == "chmod" else 1])[1]
            os.chmod(path, (args[1] if op == "chmod" else args[2]) & 0o7777)
        elif op == "truncate":
            os.truncate(resolve(p, AT_FDCWD, args[0])[1], args[1])
        elif op == "symlinkat":
            target = read_path(p, args[0])
            os.symlink(target, resolve(p, args[1], args[2], False)[1])
        elif op == "symlink":
            target = read_path(p, args[0])
            os.symlink(target, resolve(p, AT_FDCWD, args[1], False)[1])
        else:
            return 0                                   # chown/utimensat/...: accepted, no-op
    except OSError as e:
        return -(e.errno or errno.EIO)
    return 0


def sys_ftruncate(p, fd, length, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    host = f.host_fd()
    if host is None or not may_write(p, getattr(f, "host_path", "") or ""):
        return -errno.EROFS if host is not None else -errno.EINVAL
    try:
        os.ftruncate(host, length)
    except OSError as e:
        return -(e.errno or errno.EIO)
    return 0


def sys_fchmod(p, fd, mode, *_):
    """chmod through a descriptor: allowed where writes are (--allow-write)."""
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    host = f.host_fd()
    if host is None:
        return -errno.EPERM
    if not may_write(p, getattr(f, "host_path", "") or ""):
        return -errno.EROFS
    try:
        os.fchmod(host, mode & 0o7777)
    except OSError as e:
        return -(e.errno or errno.EIO)
    return 0


def sys_fchown(p, fd, uid, gid, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    if f.host_fd() is not None and not may_write(p, getattr(f, "host_path", "") or ""):
        return -errno.EROFS
    return 0                                  # accepted, as chown is: the owner stays the user


def _xattr_value(p, value, buf, size):
    if size == 0:
        return len(value)
    if len(value) > size:
        return -errno.ERANGE
    return len(value) if p.mm.write(buf, value) else -errno.EFAULT


def _getxattr(p, ptr, name_ptr, buf, size, follow):
    r = resolve(p, AT_FDCWD, ptr, follow=follow)
    if isinstance(r, int):
        return r
    name = p.mm.read_cstring(name_ptr, 256)
    if name is None:
        return -errno.EFAULT
    try:
        value = os.getxattr(r[1], name, follow_symlinks=follow)
    except OSError as e:
        return -(e.errno or errno.EIO)
    return _xattr_value(p, value, buf, size)


def sys_getxattr(p, ptr, name, buf, size, *_):
    return _getxattr(p, ptr, name, buf, size, True)


def sys_lgetxattr(p, ptr, name, buf, size, *_):
    return _getxattr(p, ptr, name, buf, size, False)


def sys_fgetxattr(p, fd, name_ptr, buf, size, *_):
    f = _file(p, fd)
    if f is None:
        return -errno.EBADF
    name = p.mm.read_cstring(name_ptr, 256)
    if name is None:
        return -errno.EFAULT
    if f.host_fd() is None:
        return -errno.ENODATA
    try:
        value = os.getxattr(f.host_fd(), name)
    except OSError as e:
        return -(e.errno or errno.EIO)
    return _xattr_value(p, value, buf, size)


def _listxattr(p, ptr, buf, size, follow):
    r = resolve(p, AT_FDCWD, ptr, follow=follow)
    if isinstance(r, int):
        return r
    try:
        names = os.listxattr(r[1], follow_symlinks=follow)
    except OSError as e:
        return -(e.errno or errno.EIO)
    return _xattr_value(p, b"".join(os.fsencode(n) + b"\0" for n in names), buf, size)


def sys_listxattr(p, ptr, buf, size, *_):
    return _listxattr(p, ptr, buf, size, True)


def sys_llistxattr(p, ptr, buf, size, *_):
    return _listxattr(p, ptr, buf, size, False)


def sys_fsync(p, fd, *_):
    return 0 if _file(p, fd) is not None else -errno.EBADF


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


def sys_copy_file_range(p, *_):
    return -errno.EXDEV                 # callers fall back to read/write


TABLE = [
    Syscall(NR.read, sys_read, ("fd", "buf_out", "size")),
    Syscall(NR.write, sys_write, ("fd", "buf_in", "size")),
    Syscall(NR.pread64, sys_pread64, ("fd", "buf_out", "size", "int")),
    Syscall(NR.pwrite64, sys_pwrite64, ("fd", "buf_in", "size", "int")),
    Syscall(NR.readv, sys_readv, ("fd", "iovec", "int")),
    Syscall(NR.writev, sys_writev, ("fd", "iovec", "int")),
    Syscall(NR.preadv, sys_preadv, ("fd", "iovec", "int", "int")),
    Syscall(NR.pwritev, sys_pwritev, ("fd", "iovec", "int", "int")),
    Syscall(NR.open, sys_open, ("path", "open_flags", "mode"), "fd"),
    Syscall(NR.openat, sys_openat, ("dirfd", "path", "open_flags", "mode"), "fd"),
    Syscall(NR.creat, sys_creat, ("path", "mode"), "fd"),
    Syscall(NR.close, sys_close, ("fd",)),
    Syscall(NR.close_range, sys_close_range, ("int", "int", "int")),
    Syscall(NR.lseek, sys_lseek, ("fd", "int", "whence")),
    Syscall(NR.sendfile, sys_sendfile, ("fd", "fd", "hex", "size")),
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
    Syscall(NR.fcntl, sys_fcntl, ("fd", "fcntl_cmd", "hex")),
    Syscall(NR.ioctl, sys_ioctl, ("fd", "ioctl_req", "hex")),
    Syscall(NR.ftruncate, sys_ftruncate, ("fd", "int")),
    Syscall(NR.fchmod, sys_fchmod, ("fd", "mode")),
    Syscall(NR.fchown, sys_fchown, ("fd", "int", "int")),
    Syscall(NR.fsync, sys_fsync, ("fd",)),
    Syscall(NR.fdatasync, sys_fsync, ("fd",)),
    Syscall(NR.statfs, sys_statfs, ("path", "hex")),
    Syscall(NR.fstatfs, sys_fstatfs, ("fd", "hex")),
    Syscall(NR.fadvise64, sys_fadvise, ("fd", "int", "int", "int")),
    Syscall(NR.copy_file_range, sys_copy_file_range, ("fd", "hex", "fd", "hex", "size", "int")),
    Syscall(NR.getxattr, sys_getxattr, ("path", "str", "hex", "size")),
    Syscall(NR.lgetxattr, sys_lgetxattr, ("path", "str", "hex", "size")),
    Syscall(NR.fgetxattr, sys_fgetxattr, ("fd", "str", "hex", "size")),
    Syscall(NR.listxattr, sys_listxattr, ("path", "hex", "size")),
    Syscall(NR.llistxattr, sys_llistxattr, ("path", "hex", "size")),
] + [Syscall(getattr(NR, op), _mutating(op), ("path",)) for op in (
    "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link",
    "linkat", "symlink", "symlinkat", "chmod", "fchmodat", "chown", "lchown", "fchownat",
    "truncate", "utimensat", "mknod", "mknodat")]

__all__ = ["TABLE", "MemoryFile"]
