"""Time system calls: clock_gettime, gettimeofday, time, nanosleep, clock_nanosleep, times."""
from __future__ import annotations

import errno
import os
import struct
import time

from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR

CLOCKS = {0: time.CLOCK_REALTIME, 1: time.CLOCK_MONOTONIC, 4: getattr(time, "CLOCK_MONOTONIC_RAW", 1),
          5: getattr(time, "CLOCK_REALTIME_COARSE", 0), 6: getattr(time, "CLOCK_MONOTONIC_COARSE", 1),
          7: getattr(time, "CLOCK_BOOTTIME", 1)}
CPU_CLOCKS = (2, 3)                  # CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID


def _now_ns(p, clock: int) -> int | None:
    """The clock's reading; CPU-time clocks (the caller's, or another process's by its
    clock_getcpuclockid id) count the guest's own time on an emulated CPU, never elfkit's."""
    clock &= 0xFFFFFFFF
    clock = clock - (1 << 32) if clock & 0x80000000 else clock
    host = CLOCKS.get(clock)
    if host is not None:
        return time.clock_gettime_ns(host)
    from elfkit.kernel.time import clocks
    s = clocks.now(p, clock)
    return None if s is None else int(s * clocks.NSEC)


def sys_clock_gettime(p, clock, ts, *_):
    ns = _now_ns(p, clock)
    if ns is None:
        return -errno.EINVAL
    return 0 if p.mm.write(ts, struct.pack("<qq", *divmod(ns, 1_000_000_000))) else -errno.EFAULT


def sys_clock_getres(p, clock, ts, *_):
    if _now_ns(p, clock) is None:
        return -errno.EINVAL
    if ts and not p.mm.write(ts, struct.pack("<qq", 0, 1)):
        return -errno.EFAULT
    return 0


def sys_gettimeofday(p, tv, tz, *_):
    ns = time.time_ns()
    if tv and not p.mm.write(tv, struct.pack("<qq", ns // 1_000_000_000, ns // 1000 % 1_000_000)):
        return -errno.EFAULT
    if tz and not p.mm.write(tz, struct.pack("<ii", 0, 0)):
        return -errno.EFAULT
    return 0


def sys_time(p, tloc, *_):
    t = int(time.time())
    if tloc and not p.mm.write(tloc, struct.pack("<q", t)):
        return -errno.EFAULT
    return t


def read_timespec(p, ptr) -> tuple[int, int] | int:
    """A struct timespec from the guest: (sec, nsec), or -EFAULT / -EINVAL."""
    raw = p.mm.read(ptr, 16)
    if raw is None:
        return -errno.EFAULT
    sec, nsec = struct.unpack("<qq", raw)
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        return -errno.EINVAL
    return sec, nsec


def _sleep(p, req, rem=0, absolute_ns: int | None = None, clock: int = 1) -> int:
    """hrtimer_nanosleep: the task sleeps until its deadline (kept across retries in
    task.restart); a signal with a handler ends it early with EINTR and the time left in rem."""
    from elfkit.kernel.wait import Sleep
    deadline = p.restart.get("deadline")
    if deadline is None:
        ts = read_timespec(p, req)
        if isinstance(ts, int):
            return ts
        sec, nsec = ts
        delay = sec + nsec / 1e9
        if absolute_ns is not None:
            delay = (sec * 1_000_000_000 + nsec - absolute_ns) / 1e9
        deadline = time.monotonic() + max(0.0, delay)
        p.restart = {"deadline": deadline, "rem": rem if absolute_ns is None else 0}
    if time.monotonic() >= deadline:
        p.restart = {}
        return 0
    raise Sleep("hrtimer_nanosleep", deadline=deadline)


def _sleep_interrupted(p, *_):
    """Called when a signal ends the sleep: store the time left where the caller asked."""
    deadline, rem = p.restart.get("deadline"), p.restart.get("rem")
    if deadline is not None and rem:
        left = max(0.0, deadline - time.monotonic())
        p.mm.write(rem, struct.pack("<qq", int(left), int(left % 1 * 1e9)))


def sys_nanosleep(p, req, rem, *_):
    return _sleep(p, req, rem)


def sys_clock_nanosleep(p, clock, flags, req, rem, *_):
    if flags & 1:                                  # TIMER_ABSTIME
        now = _now_ns(p, clock)
        if now is None:
            return -errno.EINVAL
        return _sleep(p, req, 0, absolute_ns=now, clock=clock)
    return -errno.EINVAL if _now_ns(p, clock) is None else _sleep(p, req, rem)


sys_nanosleep.interrupted = _sleep_interrupted
sys_clock_nanosleep.interrupted = _sleep_interrupted


def sys_times(p, buf, *_):
    """The guest's own CPU time (all of it user time) and its reaped children's, in ticks of
    USER_HZ (100); the result is the host's clock in ticks, as the kernel's jiffies count."""
    from elfkit.kernel.time.clocks import task_cputime
    own, children = task_cputime(p.group), p.children_usage[0]
    ticks = [int(own * 100), 0, int(children * 100), 0]
    if buf and not p.mm.write(buf, struct.pack("<4q", *ticks)):
        return -errno.EFAULT
    return int(os.times().elapsed * 100)


TABLE = [
    Syscall(NR.clock_gettime, sys_clock_gettime, ("clock", "hex")),
    Syscall(NR.clock_getres, sys_clock_getres, ("clock", "hex")),
    Syscall(NR.gettimeofday, sys_gettimeofday, ("hex", "hex")),
    Syscall(NR.time, sys_time, ("hex",)),
    Syscall(NR.nanosleep, sys_nanosleep, ("timespec", "hex")),
    Syscall(NR.clock_nanosleep, sys_clock_nanosleep, ("clock", "int", "timespec", "hex")),
    Syscall(NR.times, sys_times, ("hex",), status="partial",
            note="all CPU time is user time (elfkit does not split user and system time)"),
]
