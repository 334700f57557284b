"""kernel/futex.py's wait queues, on their own: what the futex tests of whole programs
(tests/test_threads.py, tests/test_sys_misc.py) cannot see."""
from __future__ import annotations


def test_empty_futex_queues_stay_until_many_then_go():
    """A futex's wait queue outlives its last waiter (the next wait on the word finds it: a
    hand-over waits on the same word each time), but the empty ones go once
    futex._EMPTY_QUEUES_KEPT are kept; a queue with a waiter always stays."""
    from elfkit.kernel import futex
    from elfkit.kernel.wait import Sleep, WaitQueue

    class Mm:
        def read_u32(self, _addr):
            return 7

    class Kernel:
        futexes = {}

    class Task:
        def __init__(self):
            self.restart, self.mm, self.kernel = {}, mm, kernel

    mm, kernel = Mm(), Kernel()
    busy = WaitQueue()
    busy.waiters.append(object())
    kernel.futexes[("private", id(mm), 0x10)] = busy
    for i in range(1, futex._EMPTY_QUEUES_KEPT):
        kernel.futexes[("private", id(mm), 0x10 + 4 * i)] = WaitQueue()
    assert futex.futex_wait(Task(), 0x10 + 4, 7, None, shared=False).__class__ is Sleep
    assert len(kernel.futexes) == futex._EMPTY_QUEUES_KEPT       # found: nothing made, no sweep
    s = futex.futex_wait(Task(), 0x9000, 7, None, shared=False)  # a new word: the sweep
    assert s.queues[0] is kernel.futexes[("private", id(mm), 0x9000)]
    assert set(kernel.futexes) == {("private", id(mm), 0x10), ("private", id(mm), 0x9000)}
    assert futex.futex_wait(Task(), 0x9000, 8, None, shared=False) == -11    # EAGAIN
