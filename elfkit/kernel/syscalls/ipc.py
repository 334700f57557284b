"""IPC system calls: System V shared memory, semaphores and message queues, POSIX message
queues (elfkit.kernel.ipc), keyrings (elfkit.kernel.keys), and process_vm_readv/writev.

The handlers decode registers (ints are 32-bit, pointers and sizes 64-bit) and hand the
work to the IPC namespace the Kernel holds: the guest's IPC objects are its own, never the
host's, and each elfkit run starts with an empty namespace.
"""
from __future__ import annotations

import errno
import struct
import time

from elfkit.kernel.ipc.util import s32
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR
from elfkit.kernel.syscalls.timekeeping import read_timespec


def _ns(p):
    return p.kernel.ipc


# --- System V shared memory (ipc/shm.c) ---------------------------------------------------------

def sys_shmget(p, key, size, flg, *_):
    return _ns(p).shm.shmget(p, s32(key), size, s32(flg))


def sys_shmat(p, shmid, addr, flg, *_):
    return _ns(p).shm.shmat(p, s32(shmid), addr, s32(flg))


def sys_shmdt(p, addr, *_):
    return _ns(p).shm.shmdt(p, addr)


def sys_shmctl(p, shmid, cmd, buf, *_):
    return _ns(p).shm.shmctl(p, s32(shmid), s32(cmd), buf)


# --- System V semaphores (ipc/sem.c) ------------------------------------------------------------

def sys_semget(p, key, nsems, flg, *_):
    return _ns(p).sem.semget(p, s32(key), s32(nsems), s32(flg))


def sys_semop(p, semid, sops, nsops, *_):
    return _ns(p).sem.semtimedop(p, s32(semid), sops, nsops, None)


def sys_semtimedop(p, semid, sops, nsops, timeout, *_):
    t = None
    if timeout:
        raw = p.mm.read(timeout, 16)
        t = -errno.EFAULT if raw is None else struct.unpack("<qq", raw)
    return _ns(p).sem.semtimedop(p, s32(semid), sops, nsops, t)


def sys_semctl(p, semid, semnum, cmd, arg, *_):
    return _ns(p).sem.semctl(p, s32(semid), semnum, s32(cmd), arg)


# --- System V message queues (ipc/msg.c) --------------------------------------------------------

def sys_msgget(p, key, flg, *_):
    return _ns(p).msg.msgget(p, s32(key), s32(flg))


def sys_msgsnd(p, msqid, msgp, size, flg, *_):
    return _ns(p).msg.msgsnd(p, s32(msqid), msgp, size, s32(flg))


def sys_msgrcv(p, msqid, msgp, size, msgtyp, flg, *_):
    typ = msgtyp - (1 << 64) if msgtyp >> 63 else msgtyp
    return _ns(p).msg.msgrcv(p, s32(msqid), msgp, size, typ, s32(flg))


def sys_msgctl(p, msqid, cmd, buf, *_):
    return _ns(p).msg.msgctl(p, s32(msqid), s32(cmd), buf)


# --- POSIX message queues (ipc/mqueue.c) --------------------------------------------------------

def _abs_deadline(p, ptr):
    """prepare_timeout: an absolute CLOCK_REALTIME timespec as a monotonic deadline."""
    if not ptr:
        return None
    ts = read_timespec(p, ptr)                     # EFAULT, EINVAL as the kernel's checks
    if isinstance(ts, int):
        return ts
    return time.monotonic() + (ts[0] + ts[1] / 1e9 - time.time())


def sys_mq_open(p, name, oflag, mode, attr, *_):
    return _ns(p).mq.mq_open(p, name, oflag & 0xFFFFFFFF, mode & 0xFFFF, attr)


def sys_mq_unlink(p, name, *_):
    return _ns(p).mq.mq_unlink(p, name)


def sys_mq_timedsend(p, fd, msg, length, prio, timeout, *_):
    deadline = _abs_deadline(p, timeout)
    if isinstance(deadline, int):
        return deadline
    return _ns(p).mq.timedsend(p, s32(fd), msg, length, prio & 0xFFFFFFFF, deadline)


def sys_mq_timedreceive(p, fd, msg, length, prio_ptr, timeout, *_):
    deadline = _abs_deadline(p, timeout)
    if isinstance(deadline, int):
        return deadline
    return _ns(p).mq.timedreceive(p, s32(fd), msg, length, prio_ptr, deadline)


def sys_mq_notify(p, fd, sev, *_):
    return _ns(p).mq.notify(p, s32(fd), sev)


def sys_mq_getsetattr(p, fd, new, old, *_):
    return _ns(p).mq.getsetattr(p, s32(fd), new, old)


_SHM_NOTE = ("shm_lpid/shm_dtime are not updated by implicit detaches (munmap, exit, exec); "
             "SHM_HUGETLB is ignored; shm_rss counts every page")
_SEM_NOTE = ("several sleepers that could proceed retry in wake-up order, not the kernel's "
             "FIFO; SEM_UNDO lists are per process (CLONE_SYSVSEM sharing is not modelled)")
_MSG_NOTE = "a waiting sender's message is queued rather than handed straight to a receiver"
_MQ_NOTE = ("mq_notify SIGEV_THREAD is refused (needs a netlink socket); a registration ends "
            "at the last close, not the owner's first")

TABLE = [
    Syscall(NR.shmget, sys_shmget, ("int", "size", "hex")),
    Syscall(NR.shmat, sys_shmat, ("int", "hex", "hex"), "hex", status="partial", note=_SHM_NOTE),
    Syscall(NR.shmdt, sys_shmdt, ("hex",)),
    Syscall(NR.shmctl, sys_shmctl, ("int", "int", "hex"), status="partial", note=_SHM_NOTE),
    Syscall(NR.semget, sys_semget, ("int", "int", "hex")),
    Syscall(NR.semop, sys_semop, ("int", "hex", "int"), status="partial", note=_SEM_NOTE),
    Syscall(NR.semtimedop, sys_semtimedop, ("int", "hex", "int", "hex"), status="partial",
            note=_SEM_NOTE),
    Syscall(NR.semctl, sys_semctl, ("int", "int", "int", "hex")),
    Syscall(NR.msgget, sys_msgget, ("int", "hex")),
    Syscall(NR.msgsnd, sys_msgsnd, ("int", "hex", "size", "hex"), status="partial", note=_MSG_NOTE),
    Syscall(NR.msgrcv, sys_msgrcv, ("int", "hex", "size", "d64", "hex")),
    Syscall(NR.msgctl, sys_msgctl, ("int", "int", "hex")),
    Syscall(NR.mq_open, sys_mq_open, ("str", "open_flags", "mode", "hex"), "fd"),
    Syscall(NR.mq_unlink, sys_mq_unlink, ("str",)),
    Syscall(NR.mq_timedsend, sys_mq_timedsend, ("fd", "hex", "size", "u32", "hex")),
    Syscall(NR.mq_timedreceive, sys_mq_timedreceive, ("fd", "hex", "size", "hex", "hex")),
    Syscall(NR.mq_notify, sys_mq_notify, ("fd", "hex"), status="partial", note=_MQ_NOTE),
    Syscall(NR.mq_getsetattr, sys_mq_getsetattr, ("fd", "hex", "hex")),
]


# --- process_vm_readv / process_vm_writev (mm/process_vm_access.c) ------------------------------

UIO_MAXIOV, MAX_RW_COUNT, PAGE = 1024, 0x7FFFF000, 4096


def _iovecs(p, ptr, cnt):
    """import_iovec: [(base, len)] or -errno (EINVAL past UIO_MAXIOV or for a negative length)."""
    if cnt > UIO_MAXIOV:
        return -errno.EINVAL
    if cnt == 0:
        return []
    raw = p.mm.read(ptr, 16 * cnt)
    if raw is None:
        return -errno.EFAULT
    vecs = list(struct.iter_unpack("<QQ", raw))
    if any(n >> 63 for _, n in vecs):
        return -errno.EINVAL
    return vecs


def _may_attach(p, t) -> bool:
    """ptrace_may_access(PTRACE_MODE_ATTACH_REALCREDS) without CAP_SYS_PTRACE: the same process,
    or a dumpable one whose uids and gids all equal the caller's real ones (no Yama)."""
    if t.tgid == p.tgid:
        return True
    c, tc = p.creds, t.creds
    return {tc.uid, tc.euid, tc.suid} == {c.uid} and {tc.gid, tc.egid, tc.sgid} == {c.gid} and \
        getattr(t, "dumpable", 1) == 1


def _pieces(vecs):
    """The (address, length) runs of an iovec array, split at page boundaries."""
    for base, n in vecs:
        while n:
            k = min(n, PAGE - (base & (PAGE - 1)))
            yield base, k
            base, n = base + k, n - k


def process_vm_rw(p, pid, lvec, liovcnt, rvec, riovcnt, flags, write: bool) -> int:
    if flags:
        return -errno.EINVAL
    local = _iovecs(p, lvec, liovcnt)
    if isinstance(local, int):
        return local
    if not sum(n for _, n in local):
        return 0                                    # nothing to copy: not even the pid is looked at
    remote = _iovecs(p, rvec, riovcnt)
    if isinstance(remote, int):
        return remote
    t = p.kernel.find_task(s32(pid))
    if t is None or t.mm is None or t.state in ("Z", "X") or t is p.kernel.init:
        return -errno.ESRCH
    if not _may_attach(p, t):
        return -errno.EPERM
    mm, prot = t.mm, 2 if write else 1
    want = min(sum(n for _, n in local), MAX_RW_COUNT)
    lit = _pieces(local)
    lbase, lleft = 0, 0
    done, rc = 0, 0
    for rbase, rlen in _pieces(remote):
        if done >= want:
            break
        if not mm._accessible(rbase, rbase + rlen, prot):
            rc = -errno.EFAULT                      # get_user_pages_remote found no page
            break
        pos = 0
        while pos < rlen and done < want:
            if not lleft:
                lbase, lleft = next(lit)
            n = min(rlen - pos, lleft, want - done)
            if write:
                data = p.mm.read(lbase, n)
                if data is None:
                    rc = -errno.EFAULT
                    break
                _remote_write(p, mm, rbase + pos, data)
            elif not p.mm.write(lbase, mm.pages.read(rbase + pos, n)):
                rc = -errno.EFAULT
                break
            pos, done, lbase, lleft = pos + n, done + n, lbase + n, lleft - n
        if rc:
            break
    return done if done else rc


def _remote_write(p, mm, addr, data):
    """Into another process's memory: a shared private page is copied first (pages.write), and
    code translated from what is overwritten is dropped."""
    if mm is p.mm:
        p.mm.write(addr, data)
        return
    mm.pages.write(addr, data)
    machine = p.kernel.machine
    for paddr, n in mm.pages.code_frames(addr, len(data)):
        p.cpu.invalidate_phys(paddr, n)
        machine.invalidate_others(paddr, n)


def sys_process_vm_readv(p, pid, lvec, liovcnt, rvec, riovcnt, flags):
    return process_vm_rw(p, pid, lvec, liovcnt, rvec, riovcnt, flags, False)


def sys_process_vm_writev(p, pid, lvec, liovcnt, rvec, riovcnt, flags):
    return process_vm_rw(p, pid, lvec, liovcnt, rvec, riovcnt, flags, True)


TABLE += [
    Syscall(NR.process_vm_readv, sys_process_vm_readv, ("pid", "hex", "u64", "hex", "u64", "hex")),
    Syscall(NR.process_vm_writev, sys_process_vm_writev, ("pid", "hex", "u64", "hex", "u64", "hex")),
]


# --- keyrings (security/keys) -------------------------------------------------------------------

from elfkit.kernel import keys as _keys  # noqa: E402

_KEYS_NOTE = ("types user and keyring only; no request-key upcall; no persistent keyrings, "
              "restrictions, notifications, DH/pkey operations or SESSION_TO_PARENT")
TABLE += [
    Syscall(NR.add_key, _keys.sys_add_key, ("str", "str", "hex", "size", "int"), status="partial",
            note=_KEYS_NOTE),
    Syscall(NR.request_key, _keys.sys_request_key, ("str", "str", "str", "int"), status="partial",
            note=_KEYS_NOTE),
    Syscall(NR.keyctl, _keys.sys_keyctl, ("int", "hex", "hex", "hex", "hex"), status="partial",
            note=_KEYS_NOTE),
]
