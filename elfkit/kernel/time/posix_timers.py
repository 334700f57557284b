"""kernel/time/posix-timers.c (and posix-cpu-timers.c): timer_create and its timers.

A POSIX timer belongs to its process and has an id numbered from 0 in creation order. It runs on
one clock (the wall clocks or a CPU-time clock, kernel.time.clocks) and notifies by a signal to
the process (SIGEV_SIGNAL), to one of its threads (SIGEV_THREAD_ID), or not at all (SIGEV_NONE).
Its signal carries si_code SI_TIMER, the timer id, the overrun count and the sigev_value. As in
the kernel, the signal is preallocated: a periodic timer is re-armed only when its signal is
taken (posixtimer_rearm), and the periods that passed meanwhile are its overrun. Timers are
deleted by timer_delete, exec and exit.
"""
from __future__ import annotations

from elfkit.kernel.time.clocks import ClockTimer, cpu_clock_task

SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, SIGEV_THREAD_ID = 0, 1, 2, 4
INT_MAX = 0x7FFFFFFF


class PosixTimer:
    """struct k_itimer."""

    def __init__(self, owner, timer_id: int, clock: int, notify: int, signo: int, value: int,
                 target):
        self.owner = owner
        self.id = timer_id
        self.clock = clock
        self.notify = notify
        self.signo = signo
        self.value = value                          # sigev_value, as the signal carries it
        self.target = target                        # the task its signal goes to
        cpu_task = cpu_clock_task(owner, clock)
        self.timer = ClockTimer(owner.kernel, clock, self._expired, cpu_task=cpu_task)
        self.interval = 0.0
        self.overrun = -1                           # it_overrun
        self.overrun_last = 0                       # it_overrun_last: timer_getoverrun
        self.last: float | None = None              # the expiry whose signal is pending
        self.queued = False                         # its signal is pending

    # --- expiry and the signal ----------------------------------------------------------------
    def _expired(self, timer):
        from elfkit.kernel.signals import SI_TIMER, SigInfo, _ignored, send_sig
        if self.notify == SIGEV_NONE:
            self._rearm_now()
            return
        self.last, timer.expires = timer.expires, None
        target = self.target
        if target.state in ("Z", "X"):
            return
        if _ignored(target, self.signo):            # nobody takes it: go on as if taken
            self.taken()
            return
        self.queued = True
        send_sig(target, self.signo, info=SigInfo(SI_TIMER, value=self.value, timer=self,
                                                  private=self.notify & SIGEV_THREAD_ID != 0))

    def _rearm_now(self):
        if self.interval:
            self.overrun += self.timer.forward(self.interval)
            self.timer.restart()
        else:
            self.timer.expires = None

    def taken(self) -> tuple[int, int]:
        """posixtimer_rearm, when its signal is taken: (timer id, si_overrun)."""
        self.queued = False
        if self.interval and self.last is not None and not self.timer.active:
            self.timer.expires, self.last = self.last, None
            self.overrun += self.timer.forward(self.interval)
            self.timer.restart()
            self.overrun_last, self.overrun = self.overrun, -1
        return self.id, min(max(self.overrun_last, 0), INT_MAX)

    def _drop_signal(self):
        """Its pending signal goes with it (deleted or set again before it was taken)."""
        if not self.queued:
            return
        self.queued = False
        # (pending on the thread, or on its process when that has several threads)
        for owner, pending in ((self.target.siginfo, self.target.signals.pending),
                               (self.target.group.siginfo, self.target.group.pending)):
            queue = owner.get(self.signo) or []
            for i, info in enumerate(queue):
                if info.timer is self:
                    del queue[i]
                    if self.signo in pending:
                        pending.remove(self.signo)
                    if not queue:
                        owner.pop(self.signo, None)
                    return

    # --- timer_settime / timer_gettime ---------------------------------------------------------
    def get(self) -> tuple[float, float]:
        """(value, interval) as common_timer_get reports them."""
        t = self.timer
        if t.active:
            left = t.remaining()
            if left <= 0 and self.interval:
                left = self.interval - (-left % self.interval)
            return (left if left > 0 else 0 if self.notify == SIGEV_NONE else 1e-9), self.interval
        if self.interval and self.last is not None:     # its signal is pending: not re-armed yet
            now = t.reading()
            passed = now - self.last
            return self.interval - (passed % self.interval), self.interval
        return 0.0, self.interval

    def set(self, delay: float | None, interval: float) -> tuple[float, float]:
        """Arm `delay` seconds from now on its clock (None: disarm); the old setting."""
        old = self.get()
        self.timer.cancel()
        self._drop_signal()
        self.last = None
        self.overrun, self.overrun_last = -1, 0
        self.interval = interval if delay is not None else 0.0
        if delay is not None:
            self.timer.start(delay)
        return old

    def delete(self):
        self.timer.cancel()
        self._drop_signal()


def exit_itimers(task):
    """exec and exit: the process's POSIX timers are deleted."""
    timers = task.timers
    if timers is None:
        return
    for t in list(timers.posix.values()):
        t.delete()
    timers.posix.clear()


def exit_timers(task):
    """exit: every timer of the process ends (its itimers too)."""
    exit_itimers(task)
    if task.timers is not None:
        for it in task.timers.itimers.values():
            it.cancel()
