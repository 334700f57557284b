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


def futex_key(task, uaddr: int, shared: bool = True):
    """get_futex_key: FUTEX_PRIVATE_FLAG -> (mm, address). Without it, a word in a MAP_SHARED
    area is known by its frame (processes meet on it at any address); any other by (mm,
    address) again, but marked as a shared-style key (FUT_OFF_MMSHARED), so a wake without the
    flag does not wake a waiter that used it. None (EFAULT) for an address no area maps."""
    if uaddr + 4 > 1 << 47:
        return None                              # access_ok: not a user address (the vsyscall page)
    if not shared:
        return ("private", id(task.mm), uaddr)
    mm = task.mm
    vma = mm.find(uaddr)
    if vma is None:
        return None
    if vma.shared:
        b = mm.pages.find(uaddr)
        if b is None and mm.handle_mm_fault(uaddr, "read"):
            b = mm.pages.find(uaddr)
        if b is not None:
            return ("shared", b.paddr + (uaddr - b.vaddr))
    return ("mmshared", id(mm), uaddr)


def futex_wait(task, uaddr: int, val: int, deadline: float | None, bitset: int = 0xFFFFFFFF,
               shared: bool = True, timed: bool = False):
    """0 when woken, -EAGAIN when the word is not `val`, -ETIMEDOUT; while it must wait, the
    Sleep to wait in, returned, not raised (a futex hand-over between two threads makes one
    per wait; the handlers pass it on to the dispatcher as it is). `bitset`: only a wake whose
    bitset meets it wakes this waiter. `timed`: the call has a timeout (a signal's handler then
    ends it with EINTR, never a restart: futex_restarts)."""
    if uaddr & 3:
        return -errno.EINVAL
    state = task.restart
    key = None
    if state:                                    # made again: woken, timed out, or a signal
        state["futex_bitset"] = bitset
        if state.get("futex_woken"):
            task.restart = {}
            return 0
        key = state.get("futex")
    if key is None:
        word = task.mm.read_u32(uaddr)
        if word is None:
            return -errno.EFAULT
        if word != val & 0xFFFFFFFF:
            return -errno.EAGAIN
        key = futex_key(task, uaddr, shared)
        if key is None:
            return -errno.EFAULT
        if state:
            state["futex_bitset"] = bitset
            state["futex"] = key
            state["deadline"] = deadline
        else:                                    # (a fresh call: a new restart block)
            state = task.restart = {"futex_bitset": bitset, "futex": key, "deadline": deadline}
        if timed:
            state["futex_timed"] = True
    else:
        deadline = state["deadline"]
    if deadline is not None and time.monotonic() >= deadline:
        task.restart = {}
        return -errno.ETIMEDOUT
    futexes = task.kernel.futexes
    queue = futexes.get(key)
    if queue is None:
        if len(futexes) >= _EMPTY_QUEUES_KEPT:
            _drop_empty_queues(futexes)
        queue = futexes[key] = WaitQueue()
    return Sleep("futex_wait_queue", (queue,), deadline)


# A futex's wait queue stays when its last waiter is woken: the next wait on the word (a
# hand-over between two threads waits on the same one each time) finds it. The empty ones go
# when this many queues are kept.
_EMPTY_QUEUES_KEPT = 1024


def _drop_empty_queues(futexes: dict):
    for key in [k for k, q in futexes.items() if not q.waiters]:
        del futexes[key]



def futex_wait_multiple(task, words, deadline: float | None):
    """futex_waitv: wait on several words at once -- each (uaddr, val) or (uaddr, val, shared);
    the index of the one woken, -EAGAIN when a word is not its value (checked once, at the
    start), -ETIMEDOUT."""
    state = task.restart
    keys = state.get("futexv")
    if keys is None:
        for uaddr, val, *_ in words:
            raw = task.mm.read(uaddr, 4)
            if raw is None:
                return -errno.EFAULT
            if struct.unpack("<I", raw)[0] != val & 0xFFFFFFFF:
                return -errno.EAGAIN
        keys = [futex_key(task, w[0], w[2] if len(w) > 2 else True) for w in words]
        if None in keys:
            return -errno.EFAULT
        state["futexv"] = keys
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


def futex_wake(task, uaddr: int, count: int, bitset: int = 0xFFFFFFFF, shared: bool = True) -> int:
    """Wake up to `count` waiters on the futex whose bitset meets `bitset`; how many were woken."""
    if uaddr & 3:
        return -errno.EINVAL
    key = futex_key(task, uaddr, shared)
    if key is None:
        return -errno.EFAULT
    futexes = task.kernel.futexes
    queue = futexes.get(key)
    if queue is None:
        return 0
    woken = 0
    kernel = task.kernel
    waiters = queue.waiters
    # (a wake-up takes the task off `waiters`: iterated as it is only when one is to be woken,
    # since the loop then ends at the first wake-up)
    for t in waiters if count == 1 else list(waiters):
        if woken >= count:
            break
        restart = t.restart
        if not restart.get("futex_bitset", 0xFFFFFFFF) & bitset:
            continue
        restart["futex_woken"] = True
        restart["futex_woken_key"] = key
        kernel.wake(t)
        woken += 1
    return woken                                 # (an empty queue stays: _EMPTY_QUEUES_KEPT)


def futex_requeue(task, uaddr1: int, uaddr2: int, nr_wake: int, nr_requeue: int,
                  cmpval: int | None, shared: bool = True) -> int:
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
    key1, key2 = futex_key(task, uaddr1, shared), futex_key(task, uaddr2, shared)
    if key1 is None or key2 is None:
        return -errno.EFAULT
    woken = futex_wake(task, uaddr1, nr_wake, shared=shared)
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


# --- FUTEX_WAKE_OP ----------------------------------------------------------------------------

FUTEX_OP_SET, FUTEX_OP_ADD, FUTEX_OP_OR, FUTEX_OP_ANDN, FUTEX_OP_XOR = 0, 1, 2, 3, 4
FUTEX_OP_OPARG_SHIFT = 8


def _sign12(v: int) -> int:
    return v - 0x1000 if v & 0x800 else v


def futex_wake_op(task, uaddr1: int, uaddr2: int, nr_wake: int, nr_wake2: int,
                  encoded: int, shared: bool = True) -> int:
    """FUTEX_WAKE_OP: change *uaddr2 by the encoded operation (atomically: nothing else runs in
    the kernel meanwhile), wake nr_wake waiters of uaddr1, and if the old value of *uaddr2
    passes the encoded comparison, nr_wake2 waiters of uaddr2 too (futex_atomic_op_inuser)."""
    if uaddr1 & 3 or uaddr2 & 3:
        return -errno.EINVAL
    op, cmp = encoded >> 28 & 0xF, encoded >> 24 & 0xF
    oparg, cmparg = _sign12(encoded >> 12 & 0xFFF), _sign12(encoded & 0xFFF)
    if op & FUTEX_OP_OPARG_SHIFT:
        oparg = 1 << (oparg & 31)                # (the kernel warns once about a shift > 31)
        op &= ~FUTEX_OP_OPARG_SHIFT
    raw = task.mm.read(uaddr2, 4)
    if raw is None:
        return -errno.EFAULT
    old = struct.unpack("<i", raw)[0]
    ops = {FUTEX_OP_SET: lambda a: oparg, FUTEX_OP_ADD: lambda a: a + oparg,
           FUTEX_OP_OR: lambda a: a | oparg, FUTEX_OP_ANDN: lambda a: a & ~oparg,
           FUTEX_OP_XOR: lambda a: a ^ oparg}
    cmps = {0: old == cmparg, 1: old != cmparg, 2: old < cmparg, 3: old <= cmparg,
            4: old > cmparg, 5: old >= cmparg}
    if op not in ops:
        return -errno.ENOSYS
    if not task.mm.write(uaddr2, struct.pack("<I", ops[op](old) & 0xFFFFFFFF)):
        return -errno.EFAULT
    if cmp not in cmps:
        return -errno.ENOSYS                     # (the operation is done: the kernel's order)
    woken = futex_wake(task, uaddr1, nr_wake, shared=shared)
    if woken < 0:
        return woken
    if cmps[cmp]:
        woken += futex_wake(task, uaddr2, nr_wake2, shared=shared)
    return woken


# --- priority-inheritance futexes (kernel/futex/pi.c) --------------------------------------------

FUTEX_WAITERS, FUTEX_OWNER_DIED, FUTEX_TID_MASK = 0x80000000, 0x40000000, 0x3FFFFFFF


def _pi_key(task, uaddr: int, shared: bool):
    key = futex_key(task, uaddr, shared)
    return None if key is None else ("pi",) + key


def futex_lock_pi(task, uaddr: int, deadline: float | None, trylock: bool = False,
                  shared: bool = True) -> int:
    """FUTEX_LOCK_PI(2) / FUTEX_TRYLOCK_PI: the word holds the owner's tid. A free word (tid 0,
    perhaps with FUTEX_OWNER_DIED) becomes ours; otherwise FUTEX_WAITERS is set and the caller
    sleeps until the owner's FUTEX_UNLOCK_PI hands the lock over (the kernel writes the new
    owner's tid for it). Waiters are served in order: elfkit's scheduler has no priorities to
    boost, so inheritance changes nothing here. EDEADLK for our own lock, ESRCH for an owner
    that does not exist."""
    if uaddr & 3:
        return -errno.EINVAL
    state = task.restart
    if state.get("pi_owned"):
        task.restart = {}
        return 0
    raw = task.mm.read(uaddr, 4)
    if raw is None:
        task.restart = {}
        return -errno.EFAULT
    word = struct.unpack("<I", raw)[0]
    owner_tid = word & FUTEX_TID_MASK
    key = _pi_key(task, uaddr, shared)
    if key is None:
        task.restart = {}
        return -errno.EFAULT
    queue = task.kernel.futexes.get(key)          # (made only when someone must wait)
    if owner_tid == task.pid:
        task.restart = {}
        return -errno.EDEADLK
    owner = task.kernel.find_task(owner_tid) if owner_tid else None
    if owner_tid == 0 or (owner is None or owner.state in ("Z", "X")) and word & FUTEX_OWNER_DIED:
        others = [t for t in queue.waiters if t is not task] if queue is not None else []
        new = (word & FUTEX_OWNER_DIED) | task.pid | (FUTEX_WAITERS if others else 0)
        if not task.mm.write(uaddr, struct.pack("<I", new)):
            return -errno.EFAULT
        task.restart = {}
        return 0
    if trylock:                                  # (futex_lock_pi_atomic sets the bit first)
        if not word & FUTEX_WAITERS:
            task.mm.write(uaddr, struct.pack("<I", word | FUTEX_WAITERS))
        return -errno.EAGAIN
    if owner is None or owner.state == "X":
        task.restart = {}
        return -errno.ESRCH
    if "pi" not in state:
        state["pi"], state["deadline"] = True, deadline
    deadline = state["deadline"]
    if deadline is not None and time.monotonic() >= deadline:
        task.restart = {}
        return -errno.ETIMEDOUT
    if not word & FUTEX_WAITERS and not task.mm.write(uaddr, struct.pack("<I", word | FUTEX_WAITERS)):
        return -errno.EFAULT
    if queue is None:
        queue = task.kernel.futexes[key] = WaitQueue()
    raise Sleep("futex_lock_pi", queues=(queue,), deadline=deadline, interruptible=False)


def futex_unlock_pi(task, uaddr: int, shared: bool = True) -> int:
    """FUTEX_UNLOCK_PI: the owner lets go; the first waiter becomes the owner (its tid written,
    with FUTEX_WAITERS), or the word becomes 0. EPERM when the caller does not own it."""
    if uaddr & 3:
        return -errno.EINVAL
    raw = task.mm.read(uaddr, 4)
    if raw is None:
        return -errno.EFAULT
    word = struct.unpack("<I", raw)[0]
    if word & FUTEX_TID_MASK != task.pid:
        return -errno.EPERM
    key = _pi_key(task, uaddr, shared)
    queue = task.kernel.futexes.get(key) if key is not None else None
    waiters = [t for t in queue.waiters if t.exit is None] if queue is not None else []
    if not waiters:
        return 0 if task.mm.write(uaddr, b"\0\0\0\0") else -errno.EFAULT
    heir = waiters[0]
    if not task.mm.write(uaddr, struct.pack("<I", FUTEX_WAITERS | heir.pid)):
        return -errno.EFAULT
    heir.restart["pi_owned"] = True
    task.kernel.wake(heir)
    if not queue.waiters:
        del task.kernel.futexes[key]
    return 0


def pi_owner_died(task, uaddr: int):
    """The owner of a PI futex died (its robust list said so): the first waiter is woken to
    take the lock over, FUTEX_OWNER_DIED set in the word (exit_pi_state_list)."""
    for shared in (True, False):
        key = _pi_key(task, uaddr, shared)
        queue = task.kernel.futexes.get(key) if key is not None else None
        if queue is not None and queue.waiters:
            task.kernel.wake(queue.waiters[0])
            return


def exit_pi_state_list(task):
    """kernel/futex/pi.c exit_pi_state_list: PI futexes the dying thread still owns (their
    word holds its tid) pass to their first waiter -- its tid written with FUTEX_OWNER_DIED,
    FUTEX_WAITERS if others wait -- which returns from FUTEX_LOCK_PI owning it. (A robust
    list already marked those it listed: their word no longer holds the tid.)"""
    kernel = task.kernel
    for key, queue in list(kernel.futexes.items()):
        if key[0] != "pi" or not queue.waiters:
            continue
        waiters = [t for t in queue.waiters if t.exit is None and t.blocked_call is not None]
        if not waiters:
            continue
        heir = waiters[0]
        uaddr = heir.blocked_call[1][0]
        raw = heir.mm.read(uaddr, 4) if heir.mm is not None else None
        if raw is None or struct.unpack("<I", raw)[0] & FUTEX_TID_MASK != task.pid:
            continue
        new = heir.pid | FUTEX_OWNER_DIED | (FUTEX_WAITERS if len(waiters) > 1 else 0)
        if heir.mm.write(uaddr, struct.pack("<I", new)):
            heir.restart["pi_owned"] = True
            kernel.wake(heir)
