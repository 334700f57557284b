"""fs/eventpoll.c: an epoll instance -- an interest list of files and the events asked of each.

Readiness is asked of each file when epoll_wait runs (as poll does). Level-triggered entries are
reported while the file is ready. An edge-triggered one (EPOLLET) is reported when the file is
ready and something happened to it since the entry was last reported: a file says so by a count
of its wake-ups for those events (`poll_seq`, ep_poll_callback's cue; a pipe's reader and writer
queues count theirs), so a reader who stops before EAGAIN waits for the next write, as natively.
Files that cannot say (the host's descriptors) are reported as level-triggered. EPOLLONESHOT
disarms an entry once it has been reported, until EPOLL_CTL_MOD. EPOLLEXCLUSIVE is accepted on
EPOLL_CTL_ADD with the kernel's checks; every waiter is woken (the kernel wakes one or more).
A waiter sleeps on the kernel's poll queue and on the host descriptors among the files.
"""
from __future__ import annotations

import errno
import os
import stat as stat_mod

from elfkit.kernel.fs.files import O_RDWR, OpenFile

ANON_INODE = 0x1000                  # the one inode of every anon_inode file (anon_inode_inode)
ANON_DEV = 0xE                       # the anon_inodefs superblock's device


class AnonFile(OpenFile):
    """fs/anon_inodes.c: an open file on the anonymous inode that eventfd, timerfd, signalfd
    and pidfd-less anon files share ("anon_inode:[eventfd]" in /proc/PID/fd): no bytes of its
    own, no seeking, and fstat shows mode 0600 with no type, owned by root."""
    name = "[anon]"

    def __init__(self, nonblock: int = 0, access: int = O_RDWR):
        self.refs = 1
        self.flags = access | nonblock
        self.path = f"anon_inode:{self.name}"

    def stat(self):
        return os.stat_result((0o600, ANON_INODE, ANON_DEV, 1, 0, 0, 0, 0, 0, 0))


EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP = 0x1, 0x4, 0x8, 0x10
EPOLLRDNORM, EPOLLWRNORM = 0x40, 0x100
EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 29, 1 << 30, 1 << 31
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
EXCLUSIVE_OK_BITS = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE


class Epitem:
    """One entry: the file, the events asked (EPOLLERR|EPOLLHUP always), the user's data, and
    for an edge-triggered entry the file's wake-up count when it was last reported."""
    __slots__ = ("file", "events", "data", "seen")

    def __init__(self, f, events: int, data: int):
        self.file, self.events, self.data, self.seen = f, events, data, None


def pollable(f) -> bool:
    """file_can_poll: regular files and directories of the host have no poll method."""
    host = f.host_fd()
    if host is None or getattr(f, "poll_events", None) is not None:
        return True
    try:
        mode = os.fstat(host).st_mode
    except OSError:
        return True
    return not (stat_mod.S_ISREG(mode) or stat_mod.S_ISDIR(mode))


def wake_count(f, events: int) -> int | None:
    """How many times the file was woken for `events` (None: it cannot say)."""
    seq = getattr(f, "poll_seq", None)
    if seq is not None:
        return seq(events)
    pipe = getattr(f, "pipe", None)
    if pipe is not None and hasattr(pipe, "rd_wait"):
        return pipe.wr_wait.seq if f.writing else pipe.rd_wait.seq
    return None


class EpollFile(AnonFile):
    name = "[eventpoll]"

    def __init__(self, kernel=None):
        super().__init__()
        self.kernel = kernel
        self.interest: dict[int, Epitem] = {}     # fd -> its entry

    def ctl(self, op: int, fd: int, f, events: int, data: int) -> int:
        """do_epoll_ctl after the descriptors were looked up (f: the target file)."""
        if not pollable(f):
            return -errno.EPERM
        if op != EPOLL_CTL_DEL:
            events &= ~EPOLLWAKEUP                # without CAP_BLOCK_SUSPEND it is dropped
        if f is self or op not in (EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD):
            return -errno.EINVAL
        if op != EPOLL_CTL_DEL and events & EPOLLEXCLUSIVE:
            if op == EPOLL_CTL_MOD or isinstance(f, EpollFile) or events & ~EXCLUSIVE_OK_BITS:
                return -errno.EINVAL
        item = self.interest.get(fd)
        if item is not None and item.file is not f:
            item = None                           # (the fd was closed and reused)
        if op == EPOLL_CTL_ADD:
            if item is not None:
                return -errno.EEXIST
            self.interest[fd] = Epitem(f, events | EPOLLERR | EPOLLHUP, data)
            return 0
        if item is None:
            return -errno.ENOENT
        if op == EPOLL_CTL_DEL:
            del self.interest[fd]
            return 0
        if item.events & EPOLLEXCLUSIVE:
            return -errno.EINVAL
        item.events, item.data, item.seen = events | EPOLLERR | EPOLLHUP, data, None
        return 0

    def ready(self, files, file_events, limit: int, consume: bool = True):
        """[(events, data)] of the entries to report now (at most `limit`), and host fds to
        watch. consume=False: only look (an epoll file polled inside another)."""
        out, watch = [], []
        for fd, item in list(self.interest.items()):
            f, events = item.file, item.events
            if files.get(fd) is not f:
                continue                          # closed (and maybe reused) since it was added
            if not events & ~PRIVATE_BITS:
                continue                          # a disarmed one-shot entry
            ev, host = file_events(f)
            if host is not None:
                watch.append((host, events))      # (EPOLLIN/EPOLLOUT are POLLIN/POLLOUT)
            ev &= events & ~PRIVATE_BITS
            if not ev or len(out) >= limit:
                continue
            seq = wake_count(f, events) if events & EPOLLET else None
            if seq is not None and item.seen == seq:
                continue                          # edge-triggered: nothing new since
            out.append((ev, item.data))
            if consume:
                item.seen = seq
                if events & EPOLLONESHOT:
                    item.events = events & PRIVATE_BITS     # disarmed until EPOLL_CTL_MOD
        return out, watch

    def poll_events(self) -> int:
        """Ready for reading when an entry would be reported (ep_eventpoll_poll)."""
        task = self.kernel.current if self.kernel is not None else None
        if task is None or task.files is None:
            return 0
        from elfkit.kernel.syscalls.poll import file_events
        return EPOLLIN if self.ready(task.files, file_events, 1, consume=False)[0] else 0
