"""struct file and the fd table: what a guest file descriptor refers to.

A guest fd refers to an OpenFile: a host file descriptor elfkit opened on the
guest's behalf (inside the sysroot, write access only where the user allowed
it), one of elfkit's own duplicates of its stdin/stdout/stderr, or a file whose
contents elfkit makes up (the guest's /proc/self/maps, /proc/self/cmdline, ...).
"""
from __future__ import annotations

import errno
import fcntl
import os
import select
import struct
import termios
import stat as stat_mod
from dataclasses import dataclass, field

O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 3, 0, 1, 2
O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND, O_NONBLOCK = 0o100, 0o200, 0o400, 0o1000, 0o2000, 0o4000
O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, O_PATH, O_TMPFILE = 0o200000, 0o400000, 0o2000000, 0o10000000, 0o20200000
FD_CLOEXEC = 1
MAX_FDS = 1024                  # RLIMIT_NOFILE's default soft limit: a new table's bound
NR_OPEN = 1 << 20               # fs.nr_open: no RLIMIT_NOFILE above it
PIPE_BUF, F_GETPIPE_SZ = 4096, 1032


class OpenFile:
    """An open file description; subclasses say where the bytes come from. Descriptors in any
    process's table hold references to it (dup, fork); the last put() releases it."""
    path: str = ""
    flags: int = 0
    refs: int = 1
    lock_key = None                 # the file's identity, once a lock was taken (fs/locks.py)
    lock_table = None               # set while flock or OFD locks may be held through it

    def get(self) -> "OpenFile":
        self.refs += 1
        return self

    def put(self):
        self.refs -= 1
        if self.refs <= 0:
            if self.lock_table is not None:
                self.lock_table.release_file(self)
            self.release()

    def release(self):
        pass

    def read(self, n: int) -> bytes | int:
        return -errno.EINVAL

    def write(self, data: bytes) -> int:
        return -errno.EBADF

    def pread(self, n: int, off: int) -> bytes | int:
        return -errno.ESPIPE

    def pwrite(self, data: bytes, off: int) -> int:
        return -errno.ESPIPE

    def lseek(self, off: int, whence: int) -> int:
        return -errno.ESPIPE

    def stat(self) -> os.stat_result | int:
        return -errno.EBADF

    def getdents(self) -> list | int:
        return -errno.ENOTDIR

    def isatty(self) -> bool:
        return False

    def host_fd(self) -> int | None:
        return None


def read_host(fd: int, n: int) -> bytes | int:
    """read(2) on a host descriptor: the bytes, or -errno (EAGAIN when it would block)."""
    try:
        return os.read(fd, n)
    except BlockingIOError:
        return -errno.EAGAIN
    except OSError as e:
        return -(e.errno or errno.EIO)


def read_waiting(fd: int, n: int, wchan: str, nonblock: bool = False) -> bytes | int:
    """read(2) on a host descriptor that may have nothing yet: the calling task sleeps on it
    (the scheduler's select watches it) instead of the host call holding every guest; with
    nonblock, EAGAIN instead of sleeping."""
    if not select.select([fd], [], [], 0)[0]:
        if nonblock:
            return -errno.EAGAIN
        from elfkit.kernel.wait import Sleep
        raise Sleep(wchan, read_fds=(fd,))
    return read_host(fd, n)


class HostFile(OpenFile):
    """A host file descriptor (a regular file, directory, pipe, tty or /dev node).

    A regular file's pages may be in the page cache, mapped by the guest (mm/filemap.py):
    `page_cache` is set for it (at open, at mmap), and its reads and writes keep the mappings
    coherent -- what shared mappings wrote reaches the host file before the host reads or
    writes it (`before_io`), and what the guest wrote is read into the cached pages after
    (`after_write`). `inode_key` is the file's (st_dev, st_ino), found once."""
    pty = None                        # the guest's own pseudo-terminal pair it is an end of (devpts)
    page_cache = None                 # the kernel's PageCache, for a regular file
    inode_key = None
    output = None                     # --max-output: elfkit's own stdout/stderr (OutputBudget)

    def __init__(self, fd: int, path: str, flags: int, host_path: str | None = None):
        self.fd = fd
        self.path = path
        self.host_path = host_path
        self.flags = flags
        self._dir_entries = None
        self._dir_pos = 0
        self._may_block = None
        self._write_kind = None
        self.refs = 1

    def read(self, n):
        if self._may_block is None:
            try:
                mode = os.fstat(self.fd).st_mode
                # pipes, sockets and terminals wait for a writer; files and /dev/zero never do --
                # but a descriptor open for writing only is not read at all (EBADF below)
                self._may_block = (stat_mod.S_ISFIFO(mode) or stat_mod.S_ISSOCK(mode) or
                                   stat_mod.S_ISCHR(mode) and os.isatty(self.fd)) and \
                    fcntl.fcntl(self.fd, fcntl.F_GETFL) & O_ACCMODE != O_WRONLY
            except OSError:
                self._may_block = False
        if self._may_block and not self.flags & O_NONBLOCK:
            # a pipe, tty or socket of the host: wait without stopping the other guests
            return read_waiting(self.fd, n, "host_read")
        if self.page_cache is not None:
            self.page_cache.before_io(self)
        return read_host(self.fd, n)

    def write_waiting(self, task, data: bytes) -> int:
        """write(2) on a host pipe, socket or terminal without holding up the other guests: the
        bytes go out in pieces the host takes at once (select says there is room), and the
        call sleeps on the descriptor when there is none -- all of it written before it
        returns, as a blocking write does, or the count so far when a signal interrupts it
        (task.restart["done"], as a guest pipe's write keeps it). Anything else, or
        O_NONBLOCK, is one plain write."""
        kind = self._write_kind
        if kind is None:
            try:
                mode = os.fstat(self.fd).st_mode
                kind = "fifo" if stat_mod.S_ISFIFO(mode) else "stream" if \
                    stat_mod.S_ISSOCK(mode) or stat_mod.S_ISCHR(mode) and os.isatty(self.fd) else "file"
                if kind != "file" and fcntl.fcntl(self.fd, fcntl.F_GETFL) & O_ACCMODE == O_RDONLY:
                    kind = "file"            # not open for writing: the plain write says EBADF
            except OSError:
                kind = "file"
            self._write_kind = kind
        if kind == "file" or self.flags & O_NONBLOCK:
            return self.write(data)
        from elfkit.kernel.wait import Sleep
        done = task.restart.get("done", 0)
        while done < len(data):
            if not select.select([], [self.fd], [], 0)[1]:
                task.restart["done"] = done
                raise Sleep("pipe_write", write_fds=(self.fd,))
            n = self.write(data[done:done + self._room()])
            if n < 0:
                task.restart = {}
                return done or n
            done += n
        task.restart = {}
        return done

    def _room(self) -> int:
        """Bytes one write may give the host now without blocking: a writable pipe has a free
        page slot at least (PIPE_BUF); its capacity less what it holds less two pages (the
        partly filled slots at either end) when that is more."""
        if self._write_kind != "fifo":
            return PIPE_BUF
        try:
            size = fcntl.fcntl(self.fd, F_GETPIPE_SZ)
            held = struct.unpack("i", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return PIPE_BUF
        return max(PIPE_BUF, size - held - 2 * PIPE_BUF)

    def write(self, data):
        cache = self.page_cache
        if cache is not None:
            cache.before_io(self)
        budget = self.output
        if budget is not None:
            data = budget.take(data)
            if not data:
                return -errno.EIO               # (every guest is ending: nothing more goes out)
        try:
            n = os.write(self.fd, data)
        except BlockingIOError:
            return -errno.EAGAIN
        except BrokenPipeError:
            return -errno.EPIPE               # (the write system call raises SIGPIPE)
        except OSError as e:
            return -(e.errno or errno.EIO)
        if cache is not None and n > 0 and cache.lookup(self) is not None:
            try:
                cache.after_write(self, os.lseek(self.fd, 0, os.SEEK_CUR) - n, n)
            except OSError:
                cache.after_write(self)
        return n

    def pread(self, n, off):
        if self.page_cache is not None:
            self.page_cache.before_io(self)
        try:
            return os.pread(self.fd, n, off)
        except OSError as e:
            return -(e.errno or errno.EIO)

    def pwrite(self, data, off):
        cache = self.page_cache
        if cache is not None:
            cache.before_io(self)
        if self.output is not None:
            data = self.output.take(data)
            if not data:
                return -errno.EIO
        try:
            n = os.pwrite(self.fd, data, off)
        except OSError as e:
            return -(e.errno or errno.EIO)
        if cache is not None and n > 0:
            # (O_APPEND: Linux's pwrite appends, wherever `off` says)
            cache.after_write(self, None if self.flags & O_APPEND else off, n)
        return n

    def lseek(self, off, whence):
        try:
            pos = os.lseek(self.fd, off, whence)
        except OSError as e:
            return -(e.errno or errno.EIO)
        if whence == os.SEEK_SET and off == 0:
            self._dir_entries, self._dir_pos = None, 0
        return pos

    def stat(self):
        try:
            return os.fstat(self.fd)
        except OSError as e:
            return -(e.errno or errno.EIO)

    def getdents(self):
        """The directory's entries, resumed where the last call stopped: [(ino, type, name)]."""
        if self._dir_entries is None:
            try:
                st = os.fstat(self.fd)
                if not stat_mod.S_ISDIR(st.st_mode):
                    return -errno.ENOTDIR
                entries = [(st.st_ino, 4, "."), (0, 4, "..")]
                with os.scandir(self.fd) as it:
                    for e in it:
                        entries.append((e.inode(), _dtype(e), e.name))
            except OSError as e:
                return -(e.errno or errno.EIO)
            try:
                entries[1] = (os.stat("..", dir_fd=self.fd).st_ino, 4, "..")
            except OSError:
                pass
            self._dir_entries = entries
        return self._dir_entries

    def isatty(self):
        try:
            return os.isatty(self.fd)
        except OSError:
            return False

    def host_fd(self):
        return self.fd

    def release(self):
        if self.pty is not None and getattr(self, "pty_master", False):
            self.pty.master_closed()
        try:
            os.close(self.fd)
        except OSError:
            pass


def _dtype(entry) -> int:
    try:
        if entry.is_symlink():
            return 10
        if entry.is_dir(follow_symlinks=False):
            return 4
        if entry.is_file(follow_symlinks=False):
            return 8
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError:
        return 0
    if stat_mod.S_ISCHR(mode):
        return 2
    if stat_mod.S_ISBLK(mode):
        return 6
    if stat_mod.S_ISFIFO(mode):
        return 1
    if stat_mod.S_ISSOCK(mode):
        return 12
    return 0


class MemoryFile(OpenFile):
    """A read-only file whose bytes elfkit makes (procfs contents), with its own position.

    `data` may be a callable: like the kernel's seq_file, the text is produced when it is
    first read, not when the file is opened (/proc/self/maps read after an mmap shows it)."""

    def __init__(self, path: str, data, mode: int = 0o100444):
        self.path = path
        self._data = data
        self.pos = 0
        self.flags = O_RDONLY
        self.mode = mode

    @property
    def data(self) -> bytes:
        if callable(self._data):
            self._data = self._data()
        return self._data

    def read(self, n):
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk

    def pread(self, n, off):
        return self.data[off:off + n]

    def lseek(self, off, whence):
        base = {0: 0, 1: self.pos, 2: len(self.data)}.get(whence)
        if base is None or base + off < 0:
            return -errno.EINVAL
        self.pos = base + off
        return self.pos

    def stat(self):
        # procfs files report size 0, as the kernel does
        return os.stat_result((self.mode, 0, 0x16, 1, 0, 0, 0, 0, 0, 0))


class RandomFile(OpenFile):
    """/dev/urandom and /dev/random when --seed makes randomness deterministic."""

    def __init__(self, path, rng, st):
        self.path, self.rng, self._st = path, rng, st

    def read(self, n):
        return self.rng.randbytes(n)

    def write(self, data):
        return len(data)

    def stat(self):
        return self._st


class OutputBudget:
    """--max-output: what the guests may still write to the stdout and stderr elfkit was
    started with, together. The write that reaches the limit is cut there, and `on_limit` ends
    every guest."""

    def __init__(self, limit: int, on_limit):
        self.left = limit
        self.on_limit = on_limit

    def take(self, data):
        if len(data) <= self.left:
            self.left -= len(data)
            return data
        data, self.left = data[:self.left], 0
        self.on_limit()
        return data


@dataclass
class FdTable:
    """files_struct: guest fd -> (OpenFile, close-on-exec); shared by tasks made with
    CLONE_FILES (`users`), copied by fork (dup_fd: same open file descriptions)."""
    fds: dict[int, list] = field(default_factory=dict)
    users: int = 1
    lock_table: object = None       # set once this table (a POSIX lock owner) has held locks
    nofile: int = MAX_FDS           # RLIMIT_NOFILE's soft limit: no descriptor at or above it
    max_open: int | None = None     # --max-fds: more open descriptors end every guest
    on_limit: object = None         # ... by calling this (Kernel.limit_exceeded's partial)

    def _drop(self, f: OpenFile):
        """filp_close: a process closing any descriptor of a file loses its POSIX locks on it."""
        if self.lock_table is not None:
            self.lock_table.close_posix(f, self)
        f.put()

    def dup_table(self) -> "FdTable":
        return FdTable({fd: [f.get(), cloexec] for fd, (f, cloexec) in self.fds.items()},
                       nofile=self.nofile, max_open=self.max_open, on_limit=self.on_limit)

    def _over_limit(self, new: int) -> bool:
        """--max-fds: one more descriptor would pass the limit; every guest is ended."""
        if self.max_open is None or len(self.fds) + new <= self.max_open:
            return False
        if self.on_limit is not None:
            self.on_limit(self)
        return True

    def put(self):
        self.users -= 1
        if self.users <= 0:
            self.close_all()

    def close_on_exec(self):
        for fd in [fd for fd, e in self.fds.items() if e[1]]:
            self.close(fd)

    def get(self, fd: int) -> OpenFile | None:
        e = self.fds.get(fd)
        return e[0] if e is not None else None

    def install(self, f: OpenFile, cloexec: bool = False, lowest: int = 0) -> int:
        fd = lowest
        while fd in self.fds:
            fd += 1
        if fd >= self.nofile or self._over_limit(1):
            return -errno.EMFILE
        self.fds[fd] = [f, cloexec]
        return fd

    def install_at(self, fd: int, f: OpenFile, cloexec: bool = False):
        if fd not in self.fds and self._over_limit(1):
            return                          # (every guest is ending: the descriptor is not made)
        old = self.fds.get(fd)
        self.fds[fd] = [f, cloexec]
        if old is not None:
            self._drop(old[0])

    def close(self, fd: int) -> int:
        e = self.fds.pop(fd, None)
        if e is None:
            return -errno.EBADF
        self._drop(e[0])
        return 0

    def dup(self, fd: int, lowest: int = 0, cloexec: bool = False) -> int:
        f = self.get(fd)
        if f is None:
            return -errno.EBADF
        fd = self.install(f, cloexec, lowest)
        if fd >= 0:
            f.get()
        return fd

    def dup2(self, old: int, new: int, cloexec: bool = False) -> int:
        f = self.get(old)
        if f is None:
            return -errno.EBADF
        if new < 0 or new >= self.nofile:
            return -errno.EBADF
        if old == new:
            return new
        self.install_at(new, f.get(), cloexec)
        return new

    def cloexec(self, fd: int) -> bool:
        return self.fds[fd][1]

    def set_cloexec(self, fd: int, value: bool):
        self.fds[fd][1] = value

    def close_all(self):
        for fd in list(self.fds):
            self.close(fd)
