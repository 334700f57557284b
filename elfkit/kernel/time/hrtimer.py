"""kernel/time/hrtimer.c: the machine's timer queue -- callbacks due at a monotonic time.

Every timer of the guests (alarm and ITIMER_REAL, POSIX timers, timerfds) is an `HrTimer` armed
on the kernel's one `TimerQueue`, an earliest-deadline heap. Timers fire under the big kernel
lock, where the scheduler already looks at the time: each CPU's loop runs the due ones before it
picks the next task (Kernel.wake_timers), the boot CPU's wait on the host and an idle CPU's wait
end at the earliest expiry, and the ticker thread stops a CPU that runs guest code (or kicks the
boot CPU's wait) once the earliest expiry has passed -- so a timer interrupts a CPU-bound guest
within one tick (sched.TICK_S), as the local timer interrupt does.

A timer is cancelled by forgetting its expiry: heap entries whose generation is stale are
dropped when they reach the top.
"""
from __future__ import annotations

import heapq
import itertools
import time


class HrTimer:
    """struct hrtimer: `fn(now)` is called once `expires` (time.monotonic()) has passed."""
    __slots__ = ("fn", "expires", "gen")

    def __init__(self, fn):
        self.fn = fn
        self.expires: float | None = None
        self.gen = 0

    @property
    def active(self) -> bool:
        return self.expires is not None

    def remaining(self, now: float | None = None) -> float:
        """Seconds to expiry (0 when not armed)."""
        if self.expires is None:
            return 0.0
        return max(0.0, self.expires - (time.monotonic() if now is None else now))


class TimerQueue:
    """The armed timers, earliest first; `next` (read by the ticker thread without the lock)
    is the earliest expiry or None."""

    def __init__(self):
        self.heap: list = []
        self.seq = itertools.count()
        self.next: float | None = None

    def arm(self, timer: HrTimer, expires: float):
        timer.gen += 1
        timer.expires = expires
        heapq.heappush(self.heap, (expires, next(self.seq), timer.gen, timer))
        if self.next is None or expires < self.next:
            self.next = expires

    def cancel(self, timer: HrTimer):
        timer.gen += 1
        timer.expires = None
        self._settle()

    def _settle(self):
        heap = self.heap
        while heap and heap[0][3].gen != heap[0][2]:
            heapq.heappop(heap)
        self.next = heap[0][0] if heap else None

    def run(self, now: float | None = None) -> bool:
        """Fire every timer due by `now`; True if any fired. A callback may re-arm its timer."""
        if self.next is None:
            return False
        now = time.monotonic() if now is None else now
        if now < self.next:
            return False
        fired = False
        heap = self.heap
        while heap and heap[0][0] <= now:
            expires, _, gen, timer = heapq.heappop(heap)
            if timer.gen != gen:
                continue
            timer.expires = None
            timer.gen += 1
            fired = True
            timer.fn(now)
        self._settle()
        return fired
