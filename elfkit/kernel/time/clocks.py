"""kernel/time/posix-timers.c's clock table and posix-cpu-timers.c's clock ids: what each clock
reads, and how a time on it maps onto the monotonic time the machine's timers run on.

The wall clocks (CLOCK_REALTIME, TAI, BOOTTIME) are the host's; a timer on one is armed at the
monotonic time its expiry corresponds to now (the guest cannot set the clock: settimeofday needs
CAP_SYS_TIME). CPU-time clocks count the time a task has run on an emulated CPU
(Task.cputime, the running slice included); a timer on one is checked at the monotonic time it
would expire if the task ran all along, and checked again until its CPU time has come.
"""
from __future__ import annotations

import time

CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 0, 1, 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME = 4, 5, 6, 7
CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI = 8, 9, 11
NSEC = 1_000_000_000

WALL = {CLOCK_REALTIME: time.CLOCK_REALTIME, CLOCK_MONOTONIC: time.CLOCK_MONOTONIC,
        CLOCK_BOOTTIME: getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC),
        CLOCK_TAI: getattr(time, "CLOCK_TAI", time.CLOCK_REALTIME),
        CLOCK_REALTIME_ALARM: time.CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM: getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)}


def _thread_cputime(task) -> float:
    since = task.run_since
    return task.cputime + (time.monotonic() - since if since is not None else 0.0)


def task_cputime(who) -> float:
    """Seconds run on a CPU, up to now, by a thread (a Task) or by every thread a process
    (a ThreadGroup) has had: thread_group_cputime, the ended threads' time included."""
    threads = getattr(who, "threads", None)
    if threads is None:
        return _thread_cputime(who)
    return who.dead_cputime + sum(_thread_cputime(t) for t in threads if t.state != "X")


CPUCLOCK_PERTHREAD = 4


def cpu_clock_task(p, clock: int):
    """What a CPU-time clock id measures: the calling thread (CLOCK_THREAD_CPUTIME_ID, or
    pthread_getcpuclockid's id of a thread of the caller's process) or a process, as its
    ThreadGroup (CLOCK_PROCESS_CPUTIME_ID, clock_getcpuclockid's id of a process); None for
    an invalid id (another process's thread, a pid that is not a process)."""
    if clock == CLOCK_PROCESS_CPUTIME_ID:
        return p.group
    if clock == CLOCK_THREAD_CPUTIME_ID:
        return p
    if clock >= 0 or clock & 3 == 3:
        return None
    pid = ~(clock >> 3)
    t = p if pid == 0 else p.kernel.find_task(pid)
    if t is None:
        return None
    if clock & CPUCLOCK_PERTHREAD:
        return t if t.group is p.group and t.state not in ("Z", "X") else None
    if t.group.leader is not t or not t.group.live_threads():
        return None
    return t.group


def now(p, clock: int) -> float | None:
    """The clock's reading in seconds, or None for a clock timers cannot use."""
    host = WALL.get(clock)
    if host is not None:
        return time.clock_gettime_ns(host) / NSEC
    t = cpu_clock_task(p, clock)
    return task_cputime(t) if t is not None else None


def is_cpu_clock(clock: int) -> bool:
    return clock not in WALL


def to_monotonic(clock: int, expires: float, reading: float) -> float:
    """The monotonic time at which a wall clock reading `reading` (taken now) becomes
    `expires`."""
    return time.monotonic() + (expires - reading)


def ts_to_s(sec: int, nsec: int) -> float:
    return sec + nsec / NSEC


def s_to_ts(s: float) -> tuple[int, int]:
    ns = max(0, round(s * NSEC))
    return divmod(ns, NSEC)


class ClockTimer:
    """A timer on one clock (struct k_itimer's hrtimer or CPU timer): `fn(timer)` is called under
    the kernel lock once the clock reaches `expires`. A wall-clock expiry is kept as monotonic
    time; a CPU-time one as the task's CPU time, checked by an HrTimer until it has come."""

    def __init__(self, kernel, clock: int, fn, cpu_task=None):
        from elfkit.kernel.time.hrtimer import HrTimer
        self.queue = kernel.timers
        self.clock = clock
        self.fn = fn
        self.cpu_task = cpu_task if is_cpu_clock(clock) else None
        self.hr = HrTimer(self._check)
        self.expires: float | None = None

    @property
    def active(self) -> bool:
        return self.expires is not None

    def reading(self) -> float:
        """Now, on this timer's own scale (monotonic, or the task's CPU time)."""
        return task_cputime(self.cpu_task) if self.cpu_task is not None else time.monotonic()

    def start(self, delay: float):
        """Expire `delay` seconds (of this clock) from now."""
        self.expires = self.reading() + max(0.0, delay)
        self._arm()

    def restart(self):
        """Arm again at `expires` (after forward)."""
        if self.expires is not None:
            self._arm()

    def _arm(self):
        left = self.expires - self.reading()
        self.queue.arm(self.hr, time.monotonic() + max(0.0, left))

    def cancel(self):
        self.expires = None
        self.queue.cancel(self.hr)

    def remaining(self) -> float:
        return 0.0 if self.expires is None else self.expires - self.reading()

    def forward(self, interval: float) -> int:
        """hrtimer_forward: move `expires` on by whole intervals until it is after now; the
        number of intervals added."""
        if self.expires is None or interval <= 0:
            return 0
        now = self.reading()
        if now < self.expires:
            return 0
        n = int((now - self.expires) // interval) + 1
        self.expires += n * interval
        return n

    def _check(self, _now):
        if self.expires is None:
            return
        left = self.expires - self.reading()
        if left > 0.0001:                       # a CPU-time timer whose task did not run all along
            self.queue.arm(self.hr, time.monotonic() + left)
            return
        self.fn(self)
