"""fs/eventpoll.c: an epoll instance -- an interest list of files and the events asked of each.

Readiness is asked of each file when epoll_wait runs (as poll does), level-triggered;
EPOLLONESHOT disarms an entry once it has been reported; EPOLLET is reported as
level-triggered (a program that reads until EAGAIN, as edge-triggered programs must,
sees the same events). A waiter sleeps on the kernel's poll queue and on the host
descriptors among the files.
"""
from __future__ import annotations

import errno
import os

from elfkit.kernel.fs.files import OpenFile

EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP = 0x1, 0x4, 0x8, 0x10
EPOLLONESHOT, EPOLLET = 1 << 30, 1 << 31
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3


class EpollFile(OpenFile):
    _next_inode = 0x20000

    def __init__(self):
        self.interest: dict[int, list] = {}      # fd -> [file, events, data]
        self.refs = 1
        self.flags = 2
        EpollFile._next_inode += 1
        self.inode = EpollFile._next_inode
        self.path = "anon_inode:[eventpoll]"

    def ctl(self, op: int, fd: int, f, events: int, data: int) -> int:
        if f is None:
            return -errno.EBADF
        if f is self:
            return -errno.EINVAL
        if op == EPOLL_CTL_ADD:
            if fd in self.interest and self.interest[fd][0] is f:
                return -errno.EEXIST
            self.interest[fd] = [f, events | EPOLLERR | EPOLLHUP, data]
            return 0
        entry = self.interest.get(fd)
        if entry is None or entry[0] is not f:
            return -errno.ENOENT
        if op == EPOLL_CTL_DEL:
            del self.interest[fd]
            return 0
        if op == EPOLL_CTL_MOD:
            self.interest[fd] = [f, events | EPOLLERR | EPOLLHUP, data]
            return 0
        return -errno.EINVAL

    def ready(self, files, file_events, limit: int):
        """[(events, data)] of the entries ready now (at most `limit`), and host fds to watch."""
        out, watch = [], []
        for fd, entry in list(self.interest.items()):
            f, events, data = entry
            if files.get(fd) is not f:
                continue                          # closed (and maybe reused) since it was added
            if not events & ~(EPOLLONESHOT | EPOLLET | EPOLLERR | EPOLLHUP) and events & EPOLLONESHOT:
                continue                          # a disarmed one-shot entry
            ev, host = file_events(f)
            if host is not None:
                watch.append(host)
            ev &= events
            if ev and len(out) < limit:
                out.append((ev, data))
                if events & EPOLLONESHOT:
                    entry[1] = EPOLLONESHOT       # disarmed until EPOLL_CTL_MOD
        return out, watch

    def poll_events(self) -> int:
        return 0

    def stat(self):
        return os.stat_result((0o600, self.inode, 0xE, 1, 0, 0, 0, 0, 0, 0))
