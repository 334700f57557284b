"""ipc/sem.c: System V semaphore sets, inside the guest.

semop applies its whole array of operations at once or not at all
(perform_atomic_semop): each operation adds sem_op to its semaphore; a negative
result, or a wait-for-zero on a non-zero value, blocks -- EAGAIN with IPC_NOWAIT on
the operation that blocks, otherwise the task sleeps on the set's wait queue
and the whole array is tried again whenever the set changes (update_queue's
effect; the order in which several sleepers then succeed is the order they
retry, not the kernel's strict FIFO for the same semaphore). The operation
that blocked is remembered, for GETNCNT/GETZCNT. A removed set wakes its
sleepers with EIDRM; a timeout (semtimedop) gives EAGAIN; a signal EINTR
(semop is never restarted after a handler, SA_RESTART or not).

SEM_UNDO keeps per-process adjustments (the sem_undo list, one per process:
CLONE_SYSVSEM sharing between threads is not modelled), applied when the
process exits, clamped to 0..SEMVMX as the kernel's exit_sem does.
"""
from __future__ import annotations

import errno
import struct
import time

from elfkit.kernel.ipc.util import (IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT, IpcIds,
                                    ipcget, ipcperms, new_perm, obtain_for_change, realtime,
                                    s32, update_perm, check_ids)
from elfkit.kernel.wait import Sleep, WaitQueue

SEMMSL, SEMMNS, SEMOPM, SEMMNI = 32000, 1024000000, 500, 32000
SEMVMX = SEMAEM = 32767
SEMUME, SEMUSZ = SEMOPM, 20
SEM_UNDO = 0x1000
GETPID, GETVAL, GETALL, GETNCNT, GETZCNT, SETVAL, SETALL = 11, 12, 13, 14, 15, 16, 17
SEM_STAT, SEM_INFO, SEM_STAT_ANY = 18, 19, 20
SEMID_DS_TAIL = struct.Struct("<qQqQQQQ")       # after ipc64_perm: otime .. __unused4
SEMINFO = struct.Struct("<10i")
SEMBUF = struct.Struct("<HhH")                   # sem_num, sem_op, sem_flg (6 bytes)


class Sem:
    __slots__ = ("val", "pid", "otime")

    def __init__(self):
        self.val, self.pid, self.otime = 0, 0, 0


class SemSet:
    def __init__(self, perm, nsems: int):
        self.perm = perm
        self.sems = [Sem() for _ in range(nsems)]
        self.ctime = realtime()
        self.wait = WaitQueue()              # tasks whose semop blocks on this set

    @property
    def otime(self) -> int:
        return max((s.otime for s in self.sems), default=0)


class SemNamespace:
    def __init__(self, kernel):
        self.kernel = kernel
        self.ids = IpcIds(SEMMNI)
        self.used_sems = 0
        self.undo: dict = {}                 # task -> {semid: [adjustment per semaphore]}

    # --- semget --------------------------------------------------------------------------
    def semget(self, p, key: int, nsems: int, flg: int) -> int:
        if nsems < 0 or nsems > SEMMSL:
            return -errno.EINVAL

        def newary():
            if not nsems:
                return -errno.EINVAL
            if self.used_sems + nsems > SEMMNS:
                return -errno.ENOSPC
            sma = SemSet(new_perm(p, key, flg), nsems)
            err = self.ids.add(sma)
            if err < 0:
                return err
            self.used_sems += nsems
            return sma.perm.id

        def more_checks(sma):
            return -errno.EINVAL if nsems > len(sma.sems) else 0
        return ipcget(p, self.ids, key, flg, newary, more_checks)

    # --- semop ---------------------------------------------------------------------------
    def semtimedop(self, p, semid: int, sops_ptr: int, nsops: int, timeout) -> int:
        """timeout: None, -EFAULT, or the relative timespec as (sec, nsec)."""
        waiting = p.restart.get("semop")
        if waiting is not None:
            return self._retry(p, waiting)
        if nsops > SEMOPM:
            return -errno.E2BIG
        if nsops < 1:
            return -errno.EINVAL
        raw = p.mm.read(sops_ptr, nsops * SEMBUF.size)
        if raw is None:
            return -errno.EFAULT
        if isinstance(timeout, int):
            return timeout                   # the timespec could not be read: EFAULT
        if semid < 0:
            return -errno.EINVAL
        if timeout is not None:
            sec, nsec = timeout
            if sec < 0 or not 0 <= nsec < 1_000_000_000:
                return -errno.EINVAL
            timeout = sec + nsec / 1e9
        sops = [SEMBUF.unpack_from(raw, i * SEMBUF.size) for i in range(nsops)]
        sops = [(n, op, s32(fl) & 0xFFFF) for n, op, fl in sops]
        maxnum = max(n for n, _, _ in sops)
        alter = any(op for _, op, _ in sops)
        sma = self.ids.obtain_check(semid)
        if isinstance(sma, int):
            return sma
        if maxnum >= len(sma.sems):
            return -errno.EFBIG
        if not ipcperms(p, sma.perm, 0o222 if alter else 0o444):
            return -errno.EACCES
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._attempt(p, {"sma": sma, "sops": sops, "deadline": deadline})

    def _retry(self, p, w):
        if w["sma"].perm.deleted:
            p.restart = {}
            return -errno.EIDRM
        return self._attempt(p, w)

    def _attempt(self, p, w):
        sma, sops = w["sma"], w["sops"]
        r = self._perform(p, sma, sops)
        if isinstance(r, tuple):             # would block on sops[r[1]]
            i = r[1]
            if sops[i][2] & IPC_NOWAIT:
                p.restart = {}
                return -errno.EAGAIN
            if w["deadline"] is not None and time.monotonic() >= w["deadline"]:
                p.restart = {}
                return -errno.EAGAIN
            w["blocking"] = sops[i]
            p.restart["semop"] = w
            raise Sleep("do_semtimedop", queues=(sma.wait,), deadline=w["deadline"])
        p.restart = {}
        return r

    def _perform(self, p, sma: SemSet, sops):
        """perform_atomic_semop: 0 (done), -ERANGE, or ("block", index)."""
        vals = [s.val for s in sma.sems]
        adj = self.undo.get(p.group.leader, {}).get(sma.perm.id)
        for i, (num, op, flg) in enumerate(sops):
            result = vals[num] + op
            if op == 0 and result or result < 0:
                return ("block", i)
            if result > SEMVMX:
                return -errno.ERANGE
            if flg & SEM_UNDO:
                undo = (adj[num] if adj else 0) - op
                if undo < -SEMAEM - 1 or undo > SEMAEM:
                    return -errno.ERANGE
            vals[num] = result
        now = realtime()
        for num, op, flg in sops:
            sem = sma.sems[num]
            sem.val = vals[num]
            sem.pid = p.tgid
            if flg & SEM_UNDO and op:
                adjs = self.undo.setdefault(p.group.leader, {}).setdefault(sma.perm.id, [0] * len(sma.sems))
                adjs[num] -= op
        sma.sems[sops[0][0]].otime = now
        if any(op for _, op, _ in sops):
            sma.wait.wake_all()
        return 0

    def interrupted(self, p):
        p.restart.pop("semop", None)

    # --- semctl --------------------------------------------------------------------------
    def semctl(self, p, semid: int, semnum: int, cmd: int, arg: int) -> int:
        if semid < 0:
            return -errno.EINVAL
        if cmd in (IPC_INFO, SEM_INFO):
            info = SEMINFO.pack(SEMMNS, SEMMNI, SEMMNS, SEMMNS, SEMMSL, SEMOPM, SEMUME,
                                self.ids.in_use if cmd == SEM_INFO else SEMUSZ,
                                SEMVMX, self.used_sems if cmd == SEM_INFO else SEMAEM)
            return self.ids.max_idx() if p.mm.write(arg, info) else -errno.EFAULT
        if cmd in (IPC_STAT, SEM_STAT, SEM_STAT_ANY):
            return self._stat(p, semid, cmd, arg)
        if cmd in (GETALL, GETVAL, GETPID, GETNCNT, GETZCNT, SETALL):
            return self._main(p, semid, semnum, cmd, arg)
        if cmd == SETVAL:
            return self._setval(p, semid, semnum, s32(arg))
        if cmd in (IPC_SET, IPC_RMID):
            return self._down(p, semid, cmd, arg)
        return -errno.EINVAL

    def _stat(self, p, semid, cmd, buf):
        if cmd == IPC_STAT:
            sma = self.ids.obtain_check(semid)
            if isinstance(sma, int):
                return sma
        else:
            sma = self.ids.obtain(semid)
            if sma is None:
                return -errno.EINVAL
        if cmd != SEM_STAT_ANY and not ipcperms(p, sma.perm, 0o444):
            return -errno.EACCES
        data = sma.perm.pack() + SEMID_DS_TAIL.pack(sma.otime, 0, sma.ctime, 0, len(sma.sems), 0, 0)
        if not p.mm.write(buf, data):
            return -errno.EFAULT
        return 0 if cmd == IPC_STAT else sma.perm.id

    def _main(self, p, semid, semnum, cmd, arg):
        sma = self.ids.obtain_check(semid)
        if isinstance(sma, int):
            return sma
        nsems = len(sma.sems)
        if not ipcperms(p, sma.perm, 0o222 if cmd == SETALL else 0o444):
            return -errno.EACCES
        if cmd == GETALL:
            data = struct.pack(f"<{nsems}H", *(s.val for s in sma.sems))
            return 0 if p.mm.write(arg, data) else -errno.EFAULT
        if cmd == SETALL:
            raw = p.mm.read(arg, 2 * nsems)
            if raw is None:
                return -errno.EFAULT
            vals = struct.unpack(f"<{nsems}H", raw)
            if any(v > SEMVMX for v in vals):
                return -errno.ERANGE
            for s, v in zip(sma.sems, vals):
                s.val, s.pid = v, p.tgid
            self._clear_adj(sma, None)
            sma.ctime = realtime()
            sma.wait.wake_all()
            return 0
        semnum = s32(semnum)
        if semnum < 0 or semnum >= nsems:
            return -errno.EINVAL
        sem = sma.sems[semnum]
        if cmd == GETVAL:
            return sem.val
        if cmd == GETPID:
            return sem.pid
        return self._count(sma, semnum, zero=cmd == GETZCNT)

    def _count(self, sma, semnum, zero: bool) -> int:
        """count_semcnt: sleepers whose blocking operation waits on this semaphore."""
        n = 0
        for t in sma.wait.waiters:
            w = t.restart.get("semop")
            b = w.get("blocking") if w else None
            if b and b[0] == semnum and (b[1] == 0 if zero else b[1] < 0):
                n += 1
        return n

    def _setval(self, p, semid, semnum, val):
        if val > SEMVMX or val < 0:
            return -errno.ERANGE
        sma = self.ids.obtain_check(semid)
        if isinstance(sma, int):
            return sma
        semnum = s32(semnum)
        if semnum < 0 or semnum >= len(sma.sems):
            return -errno.EINVAL
        if not ipcperms(p, sma.perm, 0o222):
            return -errno.EACCES
        self._clear_adj(sma, semnum)
        sem = sma.sems[semnum]
        sem.val, sem.pid = val, p.tgid
        sma.ctime = realtime()
        sma.wait.wake_all()
        return 0

    def _clear_adj(self, sma, semnum):
        for lists in self.undo.values():
            adj = lists.get(sma.perm.id)
            if adj is not None:
                if semnum is None:
                    adj[:] = [0] * len(adj)
                else:
                    adj[semnum] = 0

    def _down(self, p, semid, cmd, buf):
        raw = None
        if cmd == IPC_SET:
            raw = p.mm.read(buf, 48 + SEMID_DS_TAIL.size)
            if raw is None:
                return -errno.EFAULT
        sma = obtain_for_change(p, self.ids, semid)
        if isinstance(sma, int):
            return sma
        if cmd == IPC_RMID:
            self.freeary(sma)
            return 0
        uid, gid = struct.unpack_from("<II", raw, 4)
        if not check_ids(uid, gid):
            return -errno.EINVAL
        update_perm(sma.perm, raw)
        sma.ctime = realtime()
        return 0

    def freeary(self, sma):
        """IPC_RMID: the id goes, sleepers wake to EIDRM, undo entries for it are dropped."""
        self.ids.remove(sma)
        self.used_sems -= len(sma.sems)
        for lists in self.undo.values():
            lists.pop(sma.perm.id, None)
        sma.wait.wake_all()

    # --- exit ----------------------------------------------------------------------------
    def exit_sem(self, task):
        """exit_sem: apply the exiting process's SEM_UNDO adjustments."""
        lists = self.undo.pop(task, None)
        if not lists:
            return
        for semid, adj in lists.items():
            sma = self.ids.obtain_check(semid)
            if isinstance(sma, int):
                continue
            for sem, a in zip(sma.sems, adj):
                if a:
                    sem.val = min(max(sem.val + a, 0), SEMVMX)
                    sem.pid = task.tgid
            sma.wait.wake_all()

    # --- /proc/sysvipc/sem ---------------------------------------------------------------
    def proc_text(self) -> str:
        head = "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n"
        rows = [f"{s32(s.perm.key):10d} {s.perm.id:10d}  {s.perm.mode:4o} {len(s.sems):10d} "
                f"{s.perm.uid:5d} {s.perm.gid:5d} {s.perm.cuid:5d} {s.perm.cgid:5d} "
                f"{s.otime:10d} {s.ctime:10d}\n" for s in self.ids.values()]
        return head + "".join(rows)
