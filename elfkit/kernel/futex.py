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


def futex_wait(task, uaddr: int, val: int, deadline: float | None, bitset: int = 0xFFFFFFFF):
    """0 when woken, -EAGAIN when the word is not `val`, -ETIMEDOUT; Sleep while waiting.
    `bitset`: only a wake whose bitset meets it wakes this waiter."""
    if uaddr & 3:
        return -errno.EINVAL
    state = task.restart
    state["futex_bitset"] = bitset
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


def futex_wait_multiple(task, words, deadline: float | None):
    """futex_waitv: wait on several (uaddr, val) words at once; the index of the one woken,
    -EAGAIN when a word is not its value (checked once, at the start), -ETIMEDOUT."""
    state = task.restart
    keys = state.get("futexv")
    if keys is None:
        for uaddr, val in words:
            raw = task.mm.read(uaddr, 4)
            if raw is None:
                return -errno.EFAULT
            if struct.unpack("<I", raw)[0] != val & 0xFFFFFFFF:
                return -errno.EAGAIN
        keys = state["futexv"] = [futex_key(task, uaddr) for uaddr, _ in words]
        state["deadline"] = deadline
    woken = state.get("futex_woken_key")
    if woken is not None:
        task.restart = {}
        return keys.index(woken) if woken in keys else 0
    deadline = state["deadline"]
    if deadline is not None and time.monotonic() >= deadline:
        task.restart = {}
        return -errno.ETIMEDOUT
    queues = tuple(task.kernel.futexes.setdefault(k, WaitQueue()) for k in keys)
    raise Sleep("futex_wait_multiple", queues=queues, deadline=deadline)


def futex_wake(task, uaddr: int, count: int, bitset: int = 0xFFFFFFFF) -> int:
    """Wake up to `count` waiters on the futex whose bitset meets `bitset`; how many were woken."""
    if uaddr & 3:
        return -errno.EINVAL
    key = futex_key(task, uaddr)
    queue = task.kernel.futexes.get(key)
    woken = 0
    if queue is not None:
        for t in list(queue.waiters):
            if woken >= max(count, 0):
                break
            if not t.restart.get("futex_bitset", 0xFFFFFFFF) & bitset:
                continue
            t.restart["futex_woken"] = True
            t.restart["futex_woken_key"] = key
            t.kernel.wake(t)
            woken += 1
        if not queue.waiters:
            del task.kernel.futexes[key]
    return woken


def futex_requeue(task, uaddr1: int, uaddr2: int, nr_wake: int, nr_requeue: int,
                  cmpval: int | None) -> int:
    """FUTEX_CMP_REQUEUE: wake nr_wake waiters of uaddr1 and move up to nr_requeue others to
    wait on uaddr2; how many were woken and moved. -EAGAIN if *uaddr1 is not cmpval."""
    if uaddr1 & 3 or uaddr2 & 3:
        return -errno.EINVAL
    if cmpval is not None:
        raw = task.mm.read(uaddr1, 4)
        if raw is None:
            return -errno.EFAULT
        if struct.unpack("<I", raw)[0] != cmpval & 0xFFFFFFFF:
            return -errno.EAGAIN
    woken = futex_wake(task, uaddr1, nr_wake)
    key1, key2 = futex_key(task, uaddr1), futex_key(task, uaddr2)
    queue = task.kernel.futexes.get(key1)
    moved = 0
    if queue is not None and key1 != key2:
        target = task.kernel.futexes.setdefault(key2, WaitQueue())
        for t in list(queue.waiters)[:max(nr_requeue, 0)]:
            if t.blocked_call is None or "futex" not in t.restart:
                continue                             # (a futex_waitv waiter stays where it is)
            queue.waiters.remove(t)
            target.waiters.append(t)
            t.blocked_call[4].queues = (target,)     # woken from there, and sleeps there again
            t.restart["futex"] = key2
            moved += 1
        if not queue.waiters:
            del task.kernel.futexes[key1]
    return woken + moved
