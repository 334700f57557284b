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
    """A process's pidfd names its thread group, whichever thread leads it (execve in another
    thread makes that one the leader); a PIDFD_THREAD pidfd names one thread."""
    name = "[pidfd]"

    def __init__(self, task, nonblock: int, thread: bool = False):
        super().__init__(nonblock)
        self._task = task
        self.group = None if thread else task.group
        self.pid = task.pid

    @property
    def task(self):
        return self._task if self.group is None else self.group.leader

    def _state(self) -> str:
        """X once reaped, Z once every thread has ended (thread_group_exited), else R."""
        t = self.task
        if t.state == "X":
            return "X"
        if self.group is not None:
            return "R" if self.group.live_threads() else "Z"
        return "Z" if t.state == "Z" else "R"

    @property
    def alive(self) -> bool:
        """Not yet reaped (a zombie still counts: it can be signalled and waited for)."""
        return self._state() != "X"

    @property
    def exited(self) -> bool:
        return self._state() != "R"

    def poll_events(self) -> int:
        state = self._state()
        if state == "X":
            return POLLIN | POLLHUP
        return POLLIN if state == "Z" else 0

    def poll_seq(self, events: int) -> int:
        return {"Z": 1, "X": 2}.get(self._state(), 0)
