"""Timer system calls: alarm, getitimer, setitimer (kernel/time/itimer.c), timer_create and the
POSIX timer calls (kernel/time/posix-timers.c), timerfd_create/settime/gettime (fs/timerfd.c).

The timers themselves are elfkit.kernel.time (itimer, posix_timers) and elfkit.kernel.fs.timerfd;
they fire on the machine's timer queue (kernel.time.hrtimer), which interrupts a CPU-bound guest.
"""
from __future__ import annotations

import errno
import struct

from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.files import s32
from elfkit.kernel.syscalls.numbers import NR
from elfkit.kernel.time import clocks
from elfkit.kernel.time.itimer import ITIMER_PROF, ITIMER_REAL, timers_of
from elfkit.kernel.time.posix_timers import (SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD,
                                             SIGEV_THREAD_ID, PosixTimer)

USEC, NSEC = 1_000_000, 1_000_000_000
TIMER_ABSTIME = 1
SIGRTMAX = 64


# --- alarm, getitimer, setitimer -------------------------------------------------------------

def _timeval(s: float) -> tuple[int, int]:
    us = max(0, int(s * USEC + 0.5))
    return divmod(us, USEC)


def _pack_itimerval(value: float, interval: float) -> bytes:
    return struct.pack("<qqqq", *_timeval(interval), *_timeval(value))


def sys_getitimer(p, which, value_ptr, *_):
    which = s32(which)
    if not ITIMER_REAL <= which <= ITIMER_PROF:
        return -errno.EINVAL
    value, interval = timers_of(p).itimer(which).get()
    return 0 if p.mm.write(value_ptr, _pack_itimerval(value, interval)) else -errno.EFAULT


def _read_itimerval(p, ptr):
    """((value, interval) in seconds), or -errno (get_itimerval, then the timeval check)."""
    raw = p.mm.read(ptr, 32)
    if raw is None:
        return -errno.EFAULT
    isec, iusec, vsec, vusec = struct.unpack("<qqqq", raw)
    for sec, usec in ((isec, iusec), (vsec, vusec)):
        if sec < 0 or not 0 <= usec < USEC:
            return -errno.EINVAL
    return vsec + vusec / USEC, isec + iusec / USEC


def sys_setitimer(p, which, new_ptr, old_ptr, *_):
    which = s32(which)
    value = interval = 0.0
    if new_ptr:                                  # (a null one disarms, as Linux still allows)
        r = _read_itimerval(p, new_ptr)
        if isinstance(r, int):
            return r
        value, interval = r
    if not ITIMER_REAL <= which <= ITIMER_PROF:
        return -errno.EINVAL
    old = timers_of(p).itimer(which).set(value, interval)
    if old_ptr and not p.mm.write(old_ptr, _pack_itimerval(*old)):
        return -errno.EFAULT
    return 0


def sys_alarm(p, seconds, *_):
    """alarm_setitimer: ITIMER_REAL in whole seconds; the old one's seconds, rounded to nearest
    (and a fraction of a second left counts as 1)."""
    old, _interval = timers_of(p).itimer(ITIMER_REAL).set(float(seconds & 0xFFFFFFFF), 0.0)
    sec, usec = _timeval(old)
    if not sec and usec or usec >= USEC // 2:
        sec += 1
    return sec


# --- POSIX timers ---------------------------------------------------------------------------

TIMER_CLOCKS = (clocks.CLOCK_REALTIME, clocks.CLOCK_MONOTONIC, clocks.CLOCK_PROCESS_CPUTIME_ID,
                clocks.CLOCK_THREAD_CPUTIME_ID, clocks.CLOCK_BOOTTIME, clocks.CLOCK_TAI)
ALARM_CLOCKS = (clocks.CLOCK_REALTIME_ALARM, clocks.CLOCK_BOOTTIME_ALARM)


NO_TIMERS = (clocks.CLOCK_MONOTONIC_RAW, clocks.CLOCK_REALTIME_COARSE,
             clocks.CLOCK_MONOTONIC_COARSE)             # clocks with no timer_create


def _timer_clock_ok(p, clock: int) -> int:
    if clock in TIMER_CLOCKS or clock in ALARM_CLOCKS:
        return 0
    if clock in NO_TIMERS:
        return -errno.EOPNOTSUPP
    if clock < 0:
        return 0 if clocks.cpu_clock_task(p, clock) is not None else -errno.EINVAL
    return -errno.EINVAL


def sys_timer_create(p, clock, sevp, id_ptr, *_):
    """do_timer_create: the clock, then an id is taken (a failure after that still uses it
    up, as posix_timer_add's counter does), the sigevent, the id written, the clock's own
    timer_create (an alarm clock needs CAP_WAKE_ALARM)."""
    clock = s32(clock)
    event = None
    if sevp:
        raw = p.mm.read(sevp, 64)
        if raw is None:
            return -errno.EFAULT
        event = struct.unpack_from("<Qiii", raw)
    err = _timer_clock_ok(p, clock)
    if err:
        return err
    state = timers_of(p)
    timer_id = state.next_id
    state.next_id = timer_id + 1 if timer_id < 0x7FFFFFFF else 0
    if event is None:                            # SIGEV_SIGNAL, SIGALRM, the id as its value
        value, signo, notify, target = timer_id, 14, SIGEV_SIGNAL, p.group.leader
    else:
        value, signo, notify, tid = event
        target = _good_sigevent(p, signo, notify, tid)
        if target is None:
            return -errno.EINVAL
    if not p.mm.write(id_ptr, struct.pack("<i", timer_id)):
        return -errno.EFAULT
    if clock in ALARM_CLOCKS:
        return -errno.EPERM                      # alarm_timer_create: needs CAP_WAKE_ALARM
    state.posix[timer_id] = PosixTimer(p, timer_id, clock, notify, signo, value, target)
    return 0


def _good_sigevent(p, signo: int, notify: int, tid: int):
    """good_sigevent: the task the timer's signal goes to (the process, through its leader,
    unless SIGEV_THREAD_ID names a thread of it), or None (EINVAL)."""
    target = p.group.leader
    if notify == SIGEV_SIGNAL | SIGEV_THREAD_ID:
        t = p.kernel.find_task(tid)
        if t is None or t.tgid != p.tgid or t.state in ("Z", "X"):
            return None
        target = t
    elif notify == SIGEV_NONE:
        return p
    elif notify not in (SIGEV_SIGNAL, SIGEV_THREAD):
        return None
    if not 0 < signo <= SIGRTMAX:
        return None
    return target


def _timer(p, timer_id):
    t = p.timers.posix.get(s32(timer_id)) if p.timers is not None else None
    return t


def _read_itimerspec(p, ptr):
    """(value, interval) as (sec, nsec) pairs, or -EFAULT."""
    raw = p.mm.read(ptr, 32)
    if raw is None:
        return -errno.EFAULT
    isec, insec, vsec, vnsec = struct.unpack("<qqqq", raw)
    return (vsec, vnsec), (isec, insec)


def _valid(ts) -> bool:
    return ts[0] >= 0 and 0 <= ts[1] < NSEC


def _pack_itimerspec(value: float, interval: float) -> bytes:
    return struct.pack("<qqqq", *clocks.s_to_ts(interval), *clocks.s_to_ts(value))


def _delay(p, clock: int, value, flags: int) -> float | None:
    """The time from now to the expiry `value` asks for (None: disarm)."""
    if value == (0, 0):
        return None
    v = clocks.ts_to_s(*value)
    if not flags & TIMER_ABSTIME:
        return v
    now = clocks.now(p, clock)
    return max(0.0, v - now) if now is not None else v


def sys_timer_settime(p, timer_id, flags, new_ptr, old_ptr, *_):
    if not new_ptr:
        return -errno.EINVAL
    spec = _read_itimerspec(p, new_ptr)
    if isinstance(spec, int):
        return spec
    value, interval = spec
    if not _valid(value) or not _valid(interval):
        return -errno.EINVAL
    t = _timer(p, timer_id)
    if t is None:
        return -errno.EINVAL
    old = t.set(_delay(p, t.clock, value, s32(flags)), clocks.ts_to_s(*interval))
    if old_ptr and not p.mm.write(old_ptr, _pack_itimerspec(*old)):
        return -errno.EFAULT
    return 0


def sys_timer_gettime(p, timer_id, cur_ptr, *_):
    t = _timer(p, timer_id)
    if t is None:
        return -errno.EINVAL
    return 0 if p.mm.write(cur_ptr, _pack_itimerspec(*t.get())) else -errno.EFAULT


def sys_timer_getoverrun(p, timer_id, *_):
    t = _timer(p, timer_id)
    if t is None:
        return -errno.EINVAL
    return min(max(t.overrun_last, 0), 0x7FFFFFFF)


def sys_timer_delete(p, timer_id, *_):
    t = _timer(p, timer_id)
    if t is None:
        return -errno.EINVAL
    t.delete()
    del p.timers.posix[t.id]
    return 0


# --- timerfd ---------------------------------------------------------------------------------

TFD_CLOEXEC, TFD_NONBLOCK = 0o2000000, 0o4000
TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET = 1, 2
TIMERFD_CLOCKS = (clocks.CLOCK_REALTIME, clocks.CLOCK_MONOTONIC, clocks.CLOCK_BOOTTIME)


def sys_timerfd_create(p, clock, flags, *_):
    from elfkit.kernel.fs.timerfd import TimerFd
    clock, flags = s32(clock), flags & 0xFFFFFFFF
    if flags & ~(TFD_CLOEXEC | TFD_NONBLOCK) or clock not in TIMERFD_CLOCKS + ALARM_CLOCKS:
        return -errno.EINVAL
    if clock in ALARM_CLOCKS:
        return -errno.EPERM                      # needs CAP_WAKE_ALARM
    return p.files.install(TimerFd(p.kernel, clock, flags & TFD_NONBLOCK), bool(flags & TFD_CLOEXEC))


def _timerfd(p, fd):
    from elfkit.kernel.fs.timerfd import TimerFd
    f = p.files.get(s32(fd))
    if f is None:
        return -errno.EBADF
    return f if isinstance(f, TimerFd) else -errno.EINVAL


def sys_timerfd_settime(p, fd, flags, new_ptr, old_ptr, *_):
    spec = _read_itimerspec(p, new_ptr)
    if isinstance(spec, int):
        return spec
    value, interval = spec
    flags &= 0xFFFFFFFF
    if flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) or not _valid(value) \
            or not _valid(interval):
        return -errno.EINVAL
    f = _timerfd(p, fd)
    if isinstance(f, int):
        return f
    old = f.settime(_delay(p, f.clock, value, flags), clocks.ts_to_s(*interval))
    if old_ptr and not p.mm.write(old_ptr, _pack_itimerspec(*old)):
        return -errno.EFAULT
    return 0


def sys_timerfd_gettime(p, fd, cur_ptr, *_):
    f = _timerfd(p, fd)
    if isinstance(f, int):
        return f
    return 0 if p.mm.write(cur_ptr, _pack_itimerspec(*f.gettime())) else -errno.EFAULT


TABLE = [
    Syscall(NR.alarm, sys_alarm, ("u32",)),
    Syscall(NR.getitimer, sys_getitimer, ("int", "hex")),
    Syscall(NR.setitimer, sys_setitimer, ("int", "hex", "hex"), status="partial",
            note="ITIMER_VIRTUAL and ITIMER_PROF both count the time the process ran on an "
                 "emulated CPU (elfkit does not split user from system time)"),
    Syscall(NR.timer_create, sys_timer_create, ("clock", "hex", "hex"), status="partial",
            note="a signal of a timer that is ignored when it expires is dropped and a periodic "
                 "timer goes on (Linux 6.13+ parks it until the signal is unignored); CPU-time "
                 "clocks count the time run on an emulated CPU; no RLIMIT_SIGPENDING limit"),
    Syscall(NR.timer_settime, sys_timer_settime, ("int", "timer_flags", "hex", "hex")),
    Syscall(NR.timer_gettime, sys_timer_gettime, ("int", "hex")),
    Syscall(NR.timer_getoverrun, sys_timer_getoverrun, ("int",)),
    Syscall(NR.timer_delete, sys_timer_delete, ("int",)),
    Syscall(NR.timerfd_create, sys_timerfd_create, ("clock", "hex"), "fd"),
    Syscall(NR.timerfd_settime, sys_timerfd_settime, ("fd", "hex", "hex", "hex"), status="partial",
            note="TFD_TIMER_CANCEL_ON_SET is accepted but never cancels: the guest cannot set "
                 "the clock; no TFD_IOC_SET_TICKS"),
    Syscall(NR.timerfd_gettime, sys_timerfd_gettime, ("fd", "hex")),
]
