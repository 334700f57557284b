"""fs/notify/inotify/inotify_user.c: inotify instances, by way of the host's own.

Each guest inotify instance is a host inotify instance (libc's inotify_init1 through ctypes), and
each watch a host watch on the host path the guest path resolves to inside the sysroot. The
events therefore come straight from the host kernel, the guest's own changes to its files
included, with the host's watch descriptors -- numbered per instance from 1, as the guest's
kernel numbers them -- and the names of the entries as they are. A read waits on the host
descriptor (the scheduler's select() wakes it), and poll asks the host descriptor too.
"""
from __future__ import annotations

import ctypes
import errno
import os

from elfkit.kernel.fs.files import O_NONBLOCK, O_RDONLY, OpenFile, read_waiting

IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
_libc = None


def _lib():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.inotify_init1.argtypes = [ctypes.c_int]
        _libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        _libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    return _libc


def _call(result: int) -> int:
    return result if result >= 0 else -(ctypes.get_errno() or errno.EIO)


class InotifyFile(OpenFile):
    """An inotify instance: a host inotify descriptor, read only when the host says it is
    ready (so elfkit itself never blocks in it)."""

    def __init__(self, host_fd: int, nonblock: int):
        self.fd = host_fd
        self.refs = 1
        self.flags = O_RDONLY | nonblock
        self.path = "anon_inode:inotify"

    @classmethod
    def create(cls, flags: int) -> "InotifyFile | int":
        fd = _call(_lib().inotify_init1(IN_CLOEXEC | (flags & IN_NONBLOCK)))
        return fd if fd < 0 else cls(fd, flags & IN_NONBLOCK)

    def add_watch(self, host_path: str, mask: int) -> int:
        return _call(_lib().inotify_add_watch(self.fd, os.fsencode(host_path), mask))

    def rm_watch(self, wd: int) -> int:
        return _call(_lib().inotify_rm_watch(self.fd, wd))

    def read(self, n: int):
        return read_waiting(self.fd, n, "inotify_read", nonblock=bool(self.flags & O_NONBLOCK))

    def lseek(self, off: int, whence: int) -> int:
        return 0                                 # noop_llseek

    def host_fd(self) -> int:
        return self.fd

    def stat(self):
        try:
            return os.fstat(self.fd)
        except OSError as e:
            return -(e.errno or errno.EIO)

    def release(self):
        try:
            os.close(self.fd)
        except OSError:
            pass
