"""The guest's IPC namespace: System V shared memory, semaphores and message queues, POSIX
message queues (ipc/) and keyrings (elfkit.kernel.keys), held by the Kernel object, so nothing is shared with the host's IPC
objects nor between two elfkit runs."""
from __future__ import annotations


class IpcNamespace:
    def __init__(self, kernel):
        from elfkit.kernel.ipc.mqueue import MqNamespace
        from elfkit.kernel.ipc.msg import MsgNamespace
        from elfkit.kernel.ipc.sem import SemNamespace
        from elfkit.kernel.ipc.shm import ShmNamespace
        from elfkit.kernel.keys import KeyTable
        self.shm = ShmNamespace(kernel)
        self.sem = SemNamespace(kernel)
        self.msg = MsgNamespace(kernel)
        self.mq = MqNamespace(kernel)
        self.keys = KeyTable(kernel)

    def exit_task(self, task):
        """do_exit's exit_sem: SEM_UNDO adjustments (the mm's release detaches shm)."""
        self.sem.exit_sem(task)
