"""kernel/time/itimer.c and alarm: the three interval timers of a process.

ITIMER_REAL counts wall time and sends SIGALRM (si_code SI_KERNEL); a periodic one is armed again
when its SIGALRM is taken (dequeue_signal), so a blocked SIGALRM holds it. ITIMER_VIRTUAL
(SIGVTALRM) and ITIMER_PROF (SIGPROF) count the process's CPU time: here both count the time the
task ran on an emulated CPU (elfkit does not split user from system time), and are re-armed at
expiry, as check_cpu_itimer does. alarm() is ITIMER_REAL in whole seconds. The timers survive
exec, are not inherited by fork and end with the process.
"""
from __future__ import annotations

from elfkit.kernel.time.clocks import (CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, ClockTimer)

ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF = 0, 1, 2
SIGALRM, SIGVTALRM, SIGPROF = 14, 26, 27
SIGNALS = {ITIMER_REAL: SIGALRM, ITIMER_VIRTUAL: SIGVTALRM, ITIMER_PROF: SIGPROF}


class Itimer:
    def __init__(self, task, which: int):
        self.task = task
        self.which = which
        clock = CLOCK_MONOTONIC if which == ITIMER_REAL else CLOCK_PROCESS_CPUTIME_ID
        self.timer = ClockTimer(task.kernel, clock, self._expired, cpu_task=task.group)
        self.interval = 0.0
        self.last: float | None = None             # ITIMER_REAL's last expiry, for the re-arm

    def _expired(self, timer):
        from elfkit.kernel.signals import SI_KERNEL, SigInfo, send_sig
        if self.which != ITIMER_REAL and self.interval:
            timer.forward(self.interval)
            timer.restart()
        else:
            self.last, timer.expires = timer.expires, None
        send_sig(self.task, SIGNALS[self.which], info=SigInfo(SI_KERNEL))

    def get(self) -> tuple[float, float]:
        """(value, interval) as getitimer reports them: an expired ITIMER_REAL not yet re-armed
        reads 0, one due but not yet fired 1 us (itimer_get_remtime)."""
        if not self.timer.active:
            return 0.0, self.interval
        return max(self.timer.remaining(), 1e-6), self.interval

    def set(self, value: float, interval: float) -> tuple[float, float]:
        old = self.get()
        self.timer.cancel()
        self.last = None
        if self.which == ITIMER_REAL:
            self.interval = interval if value else 0.0
        else:
            self.interval = interval               # (set_cpu_itimer keeps it even when disarming)
        if value:
            self.timer.start(value)
        return old

    def dequeued(self):
        """SIGALRM taken: a periodic ITIMER_REAL goes on from its last expiry."""
        if self.which == ITIMER_REAL and self.interval and not self.timer.active \
                and self.last is not None:
            self.timer.expires, self.last = self.last, None
            self.timer.forward(self.interval)
            self.timer.restart()

    def cancel(self):
        self.timer.cancel()


class TaskTimers:
    """The timers of a process (signal_struct): its itimers, and its POSIX timers by id."""

    def __init__(self, task):
        self.task = task
        self.itimers: dict[int, Itimer] = {}
        self.posix: dict[int, object] = {}
        self.next_id = 0

    def itimer(self, which: int) -> Itimer:
        it = self.itimers.get(which)
        if it is None:
            it = self.itimers[which] = Itimer(self.task, which)
        return it


def timers_of(task) -> TaskTimers:
    if task.timers is None:
        task.timers = TaskTimers(task)
    return task.timers
