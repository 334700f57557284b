"""ipc/msg.c: System V message queues, inside the guest.

A queue holds (mtype, text) messages up to msg_qbytes bytes of text (and as
many messages). msgsnd waits for room, msgrcv for a message of the type it asks
for (0: any; > 0: that type, or any other with MSG_EXCEPT; < 0: the lowest type
up to |msgtyp|); each retries when the other side changes the queue. MSG_COPY
(with IPC_NOWAIT, the kernel's rule) copies the msgtyp'th message without taking
it. A message taken is gone even if copying it to the caller then faults, as in
the kernel. A removed queue wakes its sleepers to EIDRM; a signal handler ends
a wait with EINTR (never restarted). A sender waiting for room is not handed
straight to a waiting receiver (pipelined_send): the message is queued and the
receiver takes it when it runs, which the guest cannot tell apart.
"""
from __future__ import annotations

import errno
import struct

from elfkit.kernel.ipc.util import (IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT, IpcIds,
                                    ipcget, ipcperms, new_perm, obtain_for_change, realtime,
                                    s32, update_perm, check_ids)
from elfkit.kernel.wait import Sleep, WaitQueue

MSGMNI, MSGMAX, MSGMNB, MSGSSZ = 32000, 8192, 16384, 16
MSGPOOL = MSGMNI * MSGMNB // 1024
MSGTQL = MSGMAP = MSGMNB
MSGSEG = min(MSGPOOL * 1024 // MSGSSZ, 0xFFFF)
MSG_NOERROR, MSG_EXCEPT, MSG_COPY = 0o10000, 0o20000, 0o40000
MSG_STAT, MSG_INFO, MSG_STAT_ANY = 11, 12, 13
MSQID_DS_TAIL = struct.Struct("<qqqQQQiiQQ")     # after ipc64_perm: stime .. __unused5
MSGINFO = struct.Struct("<7iH2x")
LONG_MIN = -(1 << 63)


class MsgQueue:
    def __init__(self, perm):
        self.perm = perm
        self.messages: list[tuple[int, bytes]] = []
        self.cbytes = 0
        self.qbytes = MSGMNB
        self.stime = self.rtime = 0
        self.ctime = realtime()
        self.lspid = self.lrpid = 0
        self.senders = WaitQueue()
        self.receivers = WaitQueue()

    def fits(self, size: int) -> bool:
        return size + self.cbytes <= self.qbytes and 1 + len(self.messages) <= self.qbytes


class MsgNamespace:
    def __init__(self, kernel):
        self.kernel = kernel
        self.ids = IpcIds(MSGMNI)

    def msgget(self, p, key: int, flg: int) -> int:
        def newque():
            q = MsgQueue(new_perm(p, key, flg))
            return self.ids.add(q)
        return ipcget(p, self.ids, key, flg, newque)

    # --- msgsnd --------------------------------------------------------------------------
    def msgsnd(self, p, msqid: int, msgp: int, size: int, flg: int) -> int:
        w = p.restart.get("msgsnd")
        if w is None:
            raw = p.mm.read(msgp, 8)
            if raw is None:
                return -errno.EFAULT
            mtype = struct.unpack("<q", raw)[0]
            if size > MSGMAX or size >= 1 << 63 or msqid < 0:
                return -errno.EINVAL
            if mtype < 1:
                return -errno.EINVAL
            text = p.mm.read(msgp + 8, size)
            if text is None:
                return -errno.EFAULT
            q = self.ids.obtain_check(msqid)
            if isinstance(q, int):
                return q
            w = {"q": q, "mtype": mtype, "text": text}
        q = w["q"]
        if not ipcperms(p, q.perm, 0o222):
            p.restart = {}
            return -errno.EACCES
        if q.perm.deleted:
            p.restart = {}
            return -errno.EIDRM
        if not q.fits(len(w["text"])):
            if flg & IPC_NOWAIT:
                p.restart = {}
                return -errno.EAGAIN
            p.restart["msgsnd"] = w
            raise Sleep("do_msgsnd", queues=(q.senders,))
        p.restart = {}
        q.messages.append((w["mtype"], w["text"]))
        q.cbytes += len(w["text"])
        q.lspid, q.stime = p.tgid, realtime()
        q.receivers.wake_all()
        return 0

    # --- msgrcv --------------------------------------------------------------------------
    def msgrcv(self, p, msqid: int, msgp: int, bufsz: int, msgtyp: int, flg: int) -> int:
        if msqid < 0 or bufsz >= 1 << 63:
            return -errno.EINVAL
        if flg & MSG_COPY and (flg & MSG_EXCEPT or not flg & IPC_NOWAIT):
            return -errno.EINVAL
        w = p.restart.get("msgrcv")
        if w is None:
            q = self.ids.obtain_check(msqid)
            if isinstance(q, int):
                return q
            w = {"q": q}
        q = w["q"]
        if not ipcperms(p, q.perm, 0o444):
            p.restart = {}
            return -errno.EACCES
        if q.perm.deleted:
            p.restart = {}
            return -errno.EIDRM
        i = self._find(q, msgtyp, flg)
        if i is None:
            if flg & IPC_NOWAIT:
                p.restart = {}
                return -errno.ENOMSG
            p.restart["msgrcv"] = w
            raise Sleep("do_msgrcv", queues=(q.receivers,))
        p.restart = {}
        mtype, text = q.messages[i]
        if bufsz < len(text) and not flg & MSG_NOERROR:
            return -errno.E2BIG
        if not flg & MSG_COPY:
            del q.messages[i]
            q.cbytes -= len(text)
            q.lrpid, q.rtime = p.tgid, realtime()
            q.senders.wake_all()
        n = min(bufsz, len(text))
        if not p.mm.write(msgp, struct.pack("<q", mtype)) or not p.mm.write(msgp + 8, text[:n]):
            return -errno.EFAULT
        return n

    @staticmethod
    def _find(q, msgtyp: int, flg: int):
        """find_msg: the index of the message msgrcv takes, or None."""
        msgs = q.messages
        if flg & MSG_COPY:
            return msgtyp if 0 <= msgtyp < len(msgs) else None
        if msgtyp == 0:
            return 0 if msgs else None
        if msgtyp < 0:
            limit = (1 << 63) - 1 if msgtyp == LONG_MIN else -msgtyp
            best = None
            for i, (t, _) in enumerate(msgs):
                if t <= limit and (best is None or t < msgs[best][0]):
                    best = i
            return best
        for i, (t, _) in enumerate(msgs):
            if (t != msgtyp) if flg & MSG_EXCEPT else (t == msgtyp):
                return i
        return None

    # --- msgctl --------------------------------------------------------------------------
    def msgctl(self, p, msqid: int, cmd: int, buf: int) -> int:
        if cmd < 0 or msqid < 0:
            return -errno.EINVAL
        if cmd in (IPC_INFO, MSG_INFO):
            if cmd == MSG_INFO:
                qs = self.ids.by_idx.values()
                info = MSGINFO.pack(self.ids.in_use, sum(len(q.messages) for q in qs), MSGMAX,
                                    MSGMNB, MSGMNI, MSGSSZ, sum(q.cbytes for q in qs), MSGSEG)
            else:
                info = MSGINFO.pack(MSGPOOL, MSGMAP, MSGMAX, MSGMNB, MSGMNI, MSGSSZ, MSGTQL, MSGSEG)
            return self.ids.max_idx() if p.mm.write(buf, info) else -errno.EFAULT
        if cmd in (IPC_STAT, MSG_STAT, MSG_STAT_ANY):
            return self._stat(p, msqid, cmd, buf)
        if cmd in (IPC_SET, IPC_RMID):
            return self._down(p, msqid, cmd, buf)
        return -errno.EINVAL

    def _stat(self, p, msqid, cmd, buf):
        if cmd == IPC_STAT:
            q = self.ids.obtain_check(msqid)
            if isinstance(q, int):
                return q
        else:
            q = self.ids.obtain(msqid)
            if q is None:
                return -errno.EINVAL
        if cmd != MSG_STAT_ANY and not ipcperms(p, q.perm, 0o444):
            return -errno.EACCES
        data = q.perm.pack() + MSQID_DS_TAIL.pack(q.stime, q.rtime, q.ctime, q.cbytes,
                                                  len(q.messages), q.qbytes, q.lspid, q.lrpid, 0, 0)
        if not p.mm.write(buf, data):
            return -errno.EFAULT
        return 0 if cmd == IPC_STAT else q.perm.id

    def _down(self, p, msqid, cmd, buf):
        raw = None
        if cmd == IPC_SET:
            raw = p.mm.read(buf, 48 + MSQID_DS_TAIL.size)
            if raw is None:
                return -errno.EFAULT
        q = obtain_for_change(p, self.ids, msqid)
        if isinstance(q, int):
            return q
        if cmd == IPC_RMID:
            self.ids.remove(q)
            q.senders.wake_all()
            q.receivers.wake_all()
            return 0
        qbytes = struct.unpack_from("<Q", raw, 88)[0]
        if qbytes > MSGMNB:
            return -errno.EPERM                          # raising it needs CAP_SYS_RESOURCE
        uid, gid = struct.unpack_from("<II", raw, 4)
        if not check_ids(uid, gid):
            return -errno.EINVAL
        update_perm(q.perm, raw)
        q.qbytes = qbytes
        q.ctime = realtime()
        q.senders.wake_all()
        return 0

    def proc_text(self) -> str:
        head = ("       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid"
                "  cgid      stime      rtime      ctime\n")
        rows = [f"{s32(q.perm.key):10d} {q.perm.id:10d}  {q.perm.mode:4o}  {q.cbytes:10d} "
                f"{len(q.messages):10d} {q.lspid:5d} {q.lrpid:5d} {q.perm.uid:5d} {q.perm.gid:5d} "
                f"{q.perm.cuid:5d} {q.perm.cgid:5d} {q.stime:10d} {q.rtime:10d} {q.ctime:10d}\n"
                for q in self.ids.values()]
        return head + "".join(rows)
