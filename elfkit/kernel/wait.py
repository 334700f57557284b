"""include/linux/wait.h: how a system call waits -- Sleep (what it waits for) and wait queues.

A system call that must wait raises Sleep; the scheduler (elfkit.kernel.sched)
puts the task to sleep on the queues it names, and makes the call again from
the start when the task is woken (by a queue, its deadline, a host descriptor
becoming ready, or a signal).
"""
from __future__ import annotations


class Sleep(Exception):
    """Raised by a system call that must wait; it is made again when the task is woken. A
    handler on a hot path (a futex wait) may return it instead: the dispatcher and retry_call
    take it the same way, without the cost of an exception. Its fields are slots: an
    exception's own attributes are looked up generically in Python 3.11, and the scheduler
    reads these on every sleep and wake-up."""
    __slots__ = ("wchan", "queues", "deadline", "read_fds", "write_fds", "interruptible")

    def __init__(self, wchan: str, queues=(), deadline: float | None = None, read_fds=(),
                 write_fds=(), interruptible: bool = True):
        self.wchan = wchan
        self.queues = queues
        self.deadline = deadline
        self.read_fds = read_fds
        self.write_fds = write_fds
        self.interruptible = interruptible


class WaitQueue:
    """wait_queue_head_t: the tasks sleeping until something happens here. `seq` counts the
    wake-ups: a new event for edge-triggered epoll (ep_poll_callback)."""
    __slots__ = ("waiters", "seq")

    def __init__(self):
        self.waiters: list = []
        self.seq = 0

    def wake_all(self):
        self.seq += 1
        if self.waiters:
            for t in list(self.waiters):
                t.kernel.wake(t)
