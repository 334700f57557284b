"""fs/timerfd.c: a timer read through a file descriptor.

Each expiry counts a tick; read() takes the count (8 bytes), waiting for one unless O_NONBLOCK,
and poll reports POLLIN while it is not zero. As in the kernel, the timer is not re-armed when it
expires: a periodic one is moved on (hrtimer_forward) when it is read or asked for its time, and
the periods that passed meanwhile are added to the count. Setting the timer clears the count.
"""
from __future__ import annotations

import errno
import struct

from elfkit.kernel.fs.eventpoll import AnonFile
from elfkit.kernel.fs.files import O_NONBLOCK
from elfkit.kernel.time.clocks import ClockTimer
from elfkit.kernel.wait import Sleep, WaitQueue

POLLIN = 0x1


class TimerFd(AnonFile):
    name = "[timerfd]"

    def __init__(self, kernel, clock: int, nonblock: int):
        super().__init__(nonblock)
        self.kernel = kernel
        self.clock = clock
        self.timer = ClockTimer(kernel, clock, self._expired)
        self.interval = 0.0
        self.ticks = 0
        self.expired = False
        self.last: float | None = None          # the expiry the count stands at
        self.wq = WaitQueue()
        self.in_seq = 0                          # events for edge-triggered epoll

    def _expired(self, timer):
        """timerfd_tmrproc: one more tick, and the readers woken."""
        self.last, timer.expires = timer.expires, None
        self.expired = True
        self.ticks += 1
        self.in_seq += 1
        self.wq.wake_all()
        self.kernel.poll_wait.wake_all()

    def _catch_up(self):
        """A periodic timer that expired goes on from its last expiry, counting what passed."""
        if self.expired and self.interval:
            self.timer.expires = self.last
            self.ticks += self.timer.forward(self.interval) - 1
            self.timer.restart()
            self.expired = False

    def read(self, n: int):
        if n < 8:
            return -errno.EINVAL
        if not self.ticks:
            if self.flags & O_NONBLOCK:
                return -errno.EAGAIN
            raise Sleep("timerfd_read", queues=(self.wq,))
        self._catch_up()
        ticks, self.ticks = self.ticks, 0
        return struct.pack("<Q", ticks)

    def settime(self, delay: float | None, interval: float) -> tuple[float, float]:
        old = self.gettime()
        self.timer.cancel()
        self.expired, self.ticks, self.last = False, 0, None
        self.interval = interval if delay is not None else 0.0
        if delay is not None:
            self.timer.start(delay)
        return old

    def gettime(self) -> tuple[float, float]:
        self._catch_up()
        return max(0.0, self.timer.remaining()), self.interval

    def lseek(self, off: int, whence: int) -> int:
        return 0                                 # noop_llseek

    def poll_events(self) -> int:
        return POLLIN if self.ticks else 0

    def poll_seq(self, events: int) -> int:
        return self.in_seq

    def release(self):
        self.timer.cancel()
