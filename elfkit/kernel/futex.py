"""kernel/futex: fast user-space mutexes -- wait queues keyed by the address of a 32-bit word.

A futex in a MAP_SHARED mapping is known by its physical frame and offset, so
processes that map the same memory (at any address) meet on it: glibc's
process-shared semaphores and mutexes. Any other futex is private to its
address space (the mm and the virtual address), as the kernel's
FUTEX_PRIVATE_FLAG keys are. FUTEX_WAIT checks the word once, when it is
called, and then sleeps until FUTEX_WAKE, its timeout or a signal.
"""
from __future__ import annotations

import errno
import struct
import time

from elfkit.kernel.wait import Sleep, WaitQueue

FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 0, 1, 9, 10
FUTEX_CLOCK_REALTIME = 256


def futex_key(task, uaddr: int):
    vma = task.mm.find(uaddr)
    if vma is not None and vma.shared:
        b = task.mm.pages.find(uaddr)
        if b is not None:
            return ("shared", b.paddr + (uaddr - b.vaddr))
    return ("private", id(task.mm), uaddr)


def futex_wait(task, uaddr: int, val: int, deadline: float | None):
    """0 when woken, -EAGAIN when the word is not `val`, -ETIMEDOUT; Sleep while waiting."""
    if uaddr & 3:
        return -errno.EINVAL
    state = task.restart
    if state.get("futex_woken"):
        task.restart = {}
        return 0
    key = state.get("futex")
    if key is None:
        raw = task.mm.read(uaddr, 4)
        if raw is None:
            return -errno.EFAULT
        if struct.unpack("<I", raw)[0] != val & 0xFFFFFFFF:
            return -errno.EAGAIN
        key = state["futex"] = futex_key(task, uaddr)
        state["deadline"] = deadline
    deadline = state["deadline"]
    if deadline is not None and time.monotonic() >= deadline:
        task.restart = {}
        return -errno.ETIMEDOUT
    queue = task.kernel.futexes.setdefault(key, WaitQueue())
    raise Sleep("futex_wait_queue", queues=(queue,), deadline=deadline)


def futex_wake(task, uaddr: int, count: int) -> int:
    """Wake up to `count` waiters on the futex; how many were woken."""
    if uaddr & 3:
        return -errno.EINVAL
    key = futex_key(task, uaddr)
    queue = task.kernel.futexes.get(key)
    woken = 0
    if queue is not None:
        for t in list(queue.waiters)[:max(count, 0)]:
            t.restart["futex_woken"] = True
            t.kernel.wake(t)
            woken += 1
        if not queue.waiters:
            del task.kernel.futexes[key]
    return woken
