"""fs/eventfd.c: a 64-bit counter read and written through a file descriptor.

write() adds an 8-byte value (not 2^64-1), waiting while the sum would pass 2^64-2; read() takes
the whole count, or 1 with EFD_SEMAPHORE, waiting while it is 0; each wakes the other side.
Reads under 8 bytes and writes of other than 8 are EINVAL; O_NONBLOCK turns a wait into EAGAIN. poll: POLLIN while the
count is not 0, POLLOUT while another 1 fits.
"""
from __future__ import annotations

import errno
import struct

from elfkit.kernel.fs.eventpoll import AnonFile
from elfkit.kernel.fs.files import O_NONBLOCK
from elfkit.kernel.wait import Sleep, WaitQueue

ULLONG_MAX = (1 << 64) - 1
EFD_SEMAPHORE = 1
POLLIN, POLLOUT, POLLERR = 0x1, 0x4, 0x8


class EventFd(AnonFile):
    name = "[eventfd]"

    def __init__(self, kernel, count: int, flags: int):
        super().__init__(flags & O_NONBLOCK)
        self.kernel = kernel
        self.count = count
        self.semaphore = bool(flags & EFD_SEMAPHORE)
        self.wq = WaitQueue()
        self.in_seq = self.out_seq = 0          # events for edge-triggered epoll

    def _changed(self, readable: bool):
        if readable:
            self.in_seq += 1
        else:
            self.out_seq += 1
        self.wq.wake_all()
        self.kernel.poll_wait.wake_all()

    def read(self, n: int):
        if n < 8:
            return -errno.EINVAL
        if self.count == 0:
            if self.flags & O_NONBLOCK:
                return -errno.EAGAIN
            raise Sleep("eventfd_read", queues=(self.wq,))
        value = 1 if self.semaphore else self.count
        self.count -= value
        self._changed(readable=False)
        return struct.pack("<Q", value)

    def write(self, data: bytes):
        if len(data) != 8:
            return -errno.EINVAL
        value = struct.unpack_from("<Q", data)[0]
        if value == ULLONG_MAX:
            return -errno.EINVAL
        if ULLONG_MAX - self.count <= value:
            if self.flags & O_NONBLOCK:
                return -errno.EAGAIN
            raise Sleep("eventfd_write", queues=(self.wq,))
        self.count += value
        self._changed(readable=True)             # (a 0 wakes the readers too, as the kernel's)
        return 8

    def signal(self, n: int = 1):
        """eventfd_signal_mask: the kernel's own add (an AIO completion): never waits, the count
        stops at ULLONG_MAX."""
        self.count += min(n, ULLONG_MAX - self.count)
        self._changed(readable=True)

    def lseek(self, off: int, whence: int) -> int:
        return 0                                 # noop_llseek

    def poll_events(self) -> int:
        ev = POLLIN if self.count else 0
        if self.count == ULLONG_MAX:
            ev |= POLLERR
        if ULLONG_MAX - 1 > self.count:
            ev |= POLLOUT
        return ev

    def poll_seq(self, events: int) -> int:
        return (self.in_seq if events & POLLIN else 0) + (self.out_seq if events & POLLOUT else 0)
