"""fs/signalfd.c: the signals of a mask, read as struct signalfd_siginfo records.

A signalfd reads the pending signals of the task that reads it (not of the one that made it)
that are in its mask, taking each as delivery would (real-time signals one instance at a time,
with their own siginfo); a read waits for the first unless O_NONBLOCK, and returns as many
128-byte records as fit. poll: POLLIN while such a signal is pending. The signals are usually
blocked, so that they wait for the read instead of being delivered.
"""
from __future__ import annotations

import errno
import struct

from elfkit.kernel.fs.eventpoll import AnonFile
from elfkit.kernel.fs.files import O_NONBLOCK
from elfkit.kernel.wait import Sleep

POLLIN = 0x1
SIGINFO_SIZE = 128
SI_USER, SI_KERNEL, SI_TIMER, SI_SIGIO = 0, 0x80, -2, -5
SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGTRAP, SIGCHLD, SIGPOLL = 4, 8, 11, 7, 5, 17, 29


def signalfd_siginfo(sig: int, raw: bytes) -> bytes:
    """signalfd_copyinfo: the record for one siginfo_t (`raw`, as the signal frame would
    carry it), its fields chosen by siginfo_layout."""
    code, = struct.unpack_from("<i", raw, 8)
    a, b = struct.unpack_from("<iI", raw, 16)
    value, = struct.unpack_from("<Q", raw, 24)
    pid = uid = tid = overrun = status = sival = addr = band = fd = 0
    ptr = utime = stime = 0
    if SI_USER < code < SI_KERNEL:
        if sig == SIGCHLD:                                  # SIL_CHLD
            pid, uid = a, b
            status, = struct.unpack_from("<i", raw, 24)
            utime, stime = struct.unpack_from("<QQ", raw, 32)
        elif sig in (SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGTRAP):   # SIL_FAULT
            addr = value
        elif sig == SIGPOLL:
            band, fd = struct.unpack_from("<qi", raw, 16)
        else:
            pid, uid = a, b
    elif code == SI_TIMER:                                  # SIL_TIMER
        tid, overrun, ptr = a, b, value
        sival = value & 0xFFFFFFFF
    elif code == SI_SIGIO:
        band, fd = struct.unpack_from("<qi", raw, 16)
    elif code < 0:                                          # SIL_RT: sigqueue, tgkill
        pid, uid, ptr = a, b, value
        sival = value & 0xFFFFFFFF
    else:                                                   # SIL_KILL
        pid, uid = a, b
    rec = struct.pack("<IiiIIiIIIIiIQQQQ", sig, 0, code, pid & 0xFFFFFFFF, uid, fd, tid,
                      band & 0xFFFFFFFF, overrun, 0, status, sival, ptr, utime, stime, addr)
    return rec + bytes(SIGINFO_SIZE - len(rec))


class SignalFd(AnonFile):
    name = "[signalfd]"

    def __init__(self, kernel, mask: int, nonblock: int):
        super().__init__(nonblock)
        self.kernel = kernel
        self.mask = mask

    def read(self, n: int):
        from elfkit.kernel.signals import dequeue_signal
        count = n // SIGINFO_SIZE
        if not count:
            return -errno.EINVAL
        task = self.kernel.current
        out = bytearray()
        while len(out) < count * SIGINFO_SIZE:
            got = dequeue_signal(task, self.mask)
            if got is None:
                break
            sig, info = got
            out += signalfd_siginfo(sig, info.pack(sig))
        if out:
            return bytes(out)
        if self.flags & O_NONBLOCK:
            return -errno.EAGAIN
        raise Sleep("signalfd_dequeue", queues=(self.kernel.poll_wait,))

    def lseek(self, off: int, whence: int) -> int:
        return 0                                 # noop_llseek

    def poll_events(self) -> int:
        task = self.kernel.current
        if task is None:
            return 0
        from elfkit.kernel.signals import pending_mask
        return POLLIN if pending_mask(task) & self.mask else 0

    def poll_seq(self, events: int) -> int:
        return self.kernel.poll_wait.seq         # (every queued blocked signal wakes it)

    def set_mask(self, mask: int):
        self.mask = mask
        self.kernel.poll_wait.wake_all()
