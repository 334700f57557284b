"""ipc/util.c: System V IPC identifiers, keys and permissions, shared by shm, sem and msg.

Each kind of object (segments, semaphore sets, message queues) has its own id
table (`IpcIds`, the kernel's `struct ipc_ids`): an id is `seq * 32768 + idx`,
the lowest free index and a sequence number that grows with every object made,
so a stale id stops matching. `ipcget` is shmget/semget/msgget's common part
(IPC_PRIVATE, IPC_CREAT, IPC_EXCL, the permission check); `ipcperms` is the
mode check; `obtain_for_change` is IPC_SET/IPC_RMID's owner check. The guest has
no capabilities, so CAP_IPC_OWNER and CAP_SYS_ADMIN never help it.
"""
from __future__ import annotations

import errno
import struct
import time
from dataclasses import dataclass

IPC_PRIVATE = 0
IPC_CREAT, IPC_EXCL, IPC_NOWAIT = 0o1000, 0o2000, 0o4000
IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO = 0, 1, 2, 3
S_IRWXUGO = 0o777
SEQ_MULTIPLIER = 32768                 # IPCMNI: ids are seq * IPCMNI + idx
IPC_PERM = struct.Struct("<iIIIIIHH4xQQ")   # struct ipc64_perm (48 bytes)


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def realtime() -> int:
    return int(time.time())


@dataclass
class IpcPerm:
    """kern_ipc_perm: the part every SysV object has."""
    key: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int
    id: int = -1
    seq: int = 0
    deleted: bool = False

    def pack(self) -> bytes:
        return IPC_PERM.pack(self.key, self.uid, self.gid, self.cuid, self.cgid, self.mode,
                             self.seq & 0xFFFF, 0, 0, 0)


class IpcIds:
    """struct ipc_ids: one kind of object, by index (idr) and by key."""

    def __init__(self, limit: int):
        self.limit = limit                   # shmmni, semmni, msgmni
        self.by_idx: dict[int, object] = {}
        self.seq = 1                         # (a fresh namespace's first id is then 32768, not 0:
        #                                       0 would look like "no inode" in /proc/PID/maps)

    @property
    def in_use(self) -> int:
        return len(self.by_idx)

    def max_idx(self) -> int:
        return max(self.by_idx, default=0)

    def add(self, obj) -> int:
        """ipc_addid: the lowest free index; ENOSPC at the limit."""
        if self.in_use >= self.limit:
            return -errno.ENOSPC
        idx = 0
        while idx in self.by_idx:
            idx += 1
        obj.perm.seq = self.seq
        self.seq = self.seq + 1 if self.seq + 1 < 65536 else 0
        obj.perm.id = obj.perm.seq * SEQ_MULTIPLIER + idx
        self.by_idx[idx] = obj
        return obj.perm.id

    def remove(self, obj):
        """ipc_rmid: the id is gone; the object may live on for those still using it."""
        self.by_idx.pop(obj.perm.id % SEQ_MULTIPLIER, None)
        obj.perm.deleted = True

    def find_key(self, key: int):
        for obj in self.by_idx.values():
            if obj.perm.key == key and key != IPC_PRIVATE:
                return obj
        return None

    def obtain(self, ident: int):
        """ipc_obtain_object_idr: by index only (the *_STAT commands)."""
        if ident < 0:
            return None
        return self.by_idx.get(ident % SEQ_MULTIPLIER)

    def obtain_check(self, ident: int):
        """ipc_obtain_object_check: the object, or -EINVAL for an id that names none."""
        obj = self.obtain(ident)
        if obj is None or obj.perm.id != ident:
            return -errno.EINVAL
        return obj

    def values(self):
        return [self.by_idx[i] for i in sorted(self.by_idx)]


def new_perm(p, key: int, flg: int) -> IpcPerm:
    c = p.creds
    return IpcPerm(key, c.euid, c.egid, c.euid, c.egid, flg & S_IRWXUGO)


def ipcperms(p, perm: IpcPerm, flag: int) -> bool:
    """True when the caller may access with the rwx bits of `flag` (owner, group, other)."""
    requested = ((flag >> 6) | (flag >> 3) | flag) & 7
    granted = perm.mode
    euid, egid = p.creds.euid, p.creds.egid
    if euid in (perm.cuid, perm.uid):
        granted >>= 6
    elif egid in (perm.cgid, perm.gid):
        granted >>= 3
    return not (requested & ~granted & 7)           # no CAP_IPC_OWNER to override it


def ipcget(p, ids: IpcIds, key: int, flg: int, newfn, more_checks=None) -> int:
    """ipcget: IPC_PRIVATE always makes a new object; otherwise the key's object, made with
    IPC_CREAT when missing (ENOENT without), EEXIST with IPC_CREAT|IPC_EXCL, then the
    object's own checks and the access check for the mode bits in flg."""
    if key == IPC_PRIVATE:
        return newfn()
    obj = ids.find_key(key)
    if obj is None:
        return newfn() if flg & IPC_CREAT else -errno.ENOENT
    if flg & IPC_CREAT and flg & IPC_EXCL:
        return -errno.EEXIST
    if more_checks is not None:
        err = more_checks(obj)
        if err:
            return err
    if not ipcperms(p, obj.perm, flg):
        return -errno.EACCES
    return obj.perm.id


def obtain_for_change(p, ids: IpcIds, ident: int):
    """ipcctl_obtain_check: IPC_SET and IPC_RMID are for the owner or creator only (EPERM)."""
    obj = ids.obtain_check(ident)
    if isinstance(obj, int):
        return obj
    euid = p.creds.euid
    if euid not in (obj.perm.cuid, obj.perm.uid):
        return -errno.EPERM                          # no CAP_SYS_ADMIN
    return obj


def update_perm(perm: IpcPerm, raw: bytes):
    """ipc_update_perm: IPC_SET takes uid, gid and the permission bits of mode."""
    _key, uid, gid, _cuid, _cgid, mode = struct.unpack_from("<iIIIII", raw)
    perm.uid, perm.gid = uid, gid
    perm.mode = (perm.mode & ~S_IRWXUGO) | (mode & S_IRWXUGO)


def check_ids(uid: int, gid: int) -> bool:
    """IPC_SET's new uid/gid must be valid ids ((uid_t)-1 is not)."""
    return uid != 0xFFFFFFFF and gid != 0xFFFFFFFF
