"""kernel/pid.c and fs/pidfs.c: a file descriptor that names a process.

A pidfd refers to the process itself, not to its number, so it cannot be fooled by pid reuse:
pidfd_send_signal, pidfd_getfd and waitid(P_PIDFD) act on that process or fail with ESRCH once it
has been reaped. poll reports POLLIN when the process has exited (a zombie), and POLLIN|POLLHUP
once it is reaped (pidfd_poll). Reading one is EINVAL.
"""
from __future__ import annotations

from elfkit.kernel.fs.eventpoll import AnonFile

POLLIN, POLLHUP = 0x1, 0x10


class PidFd(AnonFile):
    name = "[pidfd]"

    def __init__(self, task, nonblock: int):
        super().__init__(nonblock)
        self.task = task
        self.pid = task.pid

    @property
    def alive(self) -> bool:
        """Not yet reaped (a zombie still counts: it can be signalled and waited for)."""
        return self.task.state != "X"

    def poll_events(self) -> int:
        state = self.task.state
        if state == "X":
            return POLLIN | POLLHUP
        return POLLIN if state == "Z" else 0

    def poll_seq(self, events: int) -> int:
        return {"Z": 1, "X": 2}.get(self.task.state, 0)
