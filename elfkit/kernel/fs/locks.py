"""fs/locks.c: advisory file locks -- flock(2), POSIX record locks and open file description locks.

The lock state is the guest kernel's own: one table per Kernel, keyed by the
identity of the file (st_dev, st_ino of the host file; a guest pipe by its
inode), never a lock taken on the host. Three kinds, as Linux keeps them:

- flock locks belong to an open file description: shared by dup and fork,
  released when its last descriptor is closed; they never meet the others.
- POSIX record locks (F_SETLK...) belong to a process's descriptor table (the
  kernel's fl_owner is the files_struct), cover byte ranges that split and
  merge, and are all dropped when the process closes ANY descriptor of the
  file. l_pid is the process that set them.
- OFD locks (F_OFD_SETLK...) are byte ranges owned by the open file
  description; they conflict with POSIX locks of any other owner; l_pid -1.

A waiting request sleeps on the table's queue and is made again whenever
anything is unlocked; a POSIX waiter whose chain of holders leads back to
itself gets EDEADLK (posix_locks_deadlock).
"""
from __future__ import annotations

import errno
import os

from elfkit.kernel.wait import Sleep, WaitQueue

F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN, LOCK_MAND = 1, 2, 4, 8, 32
OFFSET_MAX = (1 << 63) - 1


class Lock:
    __slots__ = ("kind", "owner", "type", "start", "end", "pid", "file")

    def __init__(self, kind, owner, type_, start, end, pid, file):
        self.kind, self.owner, self.type = kind, owner, type_
        self.start, self.end, self.pid, self.file = start, end, pid, file

    def conflicts(self, type_) -> bool:
        return self.type == F_WRLCK or type_ == F_WRLCK


class LockTable:
    """Every file lock of one machine: file key -> [Lock] (file_lock_context)."""

    def __init__(self):
        self.inodes: dict[object, list[Lock]] = {}
        self.wait = WaitQueue()                    # every waiter; woken by every unlock
        self.blocked: dict[int, tuple] = {}        # id(POSIX owner) -> (task, owner it waits for)

    # --- flock -------------------------------------------------------------------------------
    def flock(self, task, f, type_, nonblock) -> int:
        """flock_lock_inode: a conversion drops the old lock first (not atomic, as Linux)."""
        key = file_key(f)
        locks = self.inodes.setdefault(key, [])
        mine = next((l for l in locks if l.kind == "flock" and l.file is f), None)
        if mine is not None:
            if mine.type == type_:
                return 0
            locks.remove(mine)
            self._changed(key)
        if type_ == F_UNLCK:
            return 0
        if any(l.kind == "flock" and l.file is not f and l.conflicts(type_) for l in locks):
            if nonblock:
                return -errno.EWOULDBLOCK
            raise Sleep("flock_lock_inode_wait", queues=(self.wait,))
        locks.append(Lock("flock", f, type_, 0, OFFSET_MAX, task.tgid, f))
        _remember(f, key, self)
        return 0

    # --- POSIX and OFD record locks -------------------------------------------------------------
    def test(self, owner, f, type_, start, end) -> Lock | None:
        """posix_test_lock: the first lock of another owner that conflicts, or None."""
        for l in self.inodes.get(file_key(f), ()):
            if l.kind != "flock" and l.owner is not owner and l.conflicts(type_) and \
                    l.start <= end and start <= l.end:
                return l
        return None

    def setlk(self, task, owner, kind, f, type_, start, end, wait) -> int:
        key = file_key(f)
        if type_ != F_UNLCK:
            holder = self.test(owner, f, type_, start, end)
            if holder is not None:
                if not wait:
                    return -errno.EAGAIN
                if kind == "posix" and self._deadlock(owner, holder.owner):
                    self.blocked.pop(id(owner), None)
                    return -errno.EDEADLK
                if kind == "posix":
                    self.blocked[id(owner)] = (task, holder.owner)
                raise Sleep("posix_lock_inode_wait", queues=(self.wait,))
        self.blocked.pop(id(owner), None)
        locks = self.inodes.setdefault(key, [])
        self.inodes[key] = _replace_range(locks, owner, kind, type_, start, end, task.tgid, f)
        if kind == "posix":
            owner.lock_table = self
        else:
            _remember(f, key, self)
        self._changed(key)
        return 0

    def _deadlock(self, owner, holder) -> bool:
        """posix_locks_deadlock: does the chain of waiters starting at `holder` reach `owner`?"""
        seen = 0
        while seen < 10:                                  # MAX_DEADLK_ITERATIONS
            entry = self.blocked.get(id(holder))
            if entry is None:
                return False
            task, holder = entry
            if task.blocked_call is None or task.exit is not None:
                return False                              # no longer waiting
            if holder is owner:
                return True
            seen += 1
        return False

    # --- releases -------------------------------------------------------------------------------
    def close_posix(self, f, owner):
        """locks_remove_posix: a process closed a descriptor of the file: all its POSIX locks go."""
        key = file_key(f)
        locks = self.inodes.get(key)
        if locks and any(l.owner is owner and l.kind == "posix" for l in locks):
            self.inodes[key] = [l for l in locks if not (l.owner is owner and l.kind == "posix")]
            self._changed(key)

    def release_file(self, f):
        """locks_remove_file: the last reference to an open file description is gone."""
        key = getattr(f, "lock_key", None)
        locks = self.inodes.get(key)
        if locks and any(l.file is f and l.kind != "posix" for l in locks):
            self.inodes[key] = [l for l in locks if l.file is not f or l.kind == "posix"]
            self._changed(key)

    def _changed(self, key):
        if not self.inodes.get(key):
            self.inodes.pop(key, None)
        self.wait.wake_all()


def _replace_range(locks, owner, kind, type_, start, end, pid, f):
    """posix_lock_inode: the owner's locks over [start, end] are cut out (split where they stick
    out on both sides), the new lock put in, and neighbours of the same type merged."""
    others = [l for l in locks if l.owner is not owner]
    pieces = []
    for l in locks:
        if l.owner is not owner:
            continue
        if l.end < start or l.start > end:
            pieces.append(l)
            continue
        if l.start < start:
            pieces.append(Lock(l.kind, owner, l.type, l.start, start - 1, l.pid, l.file))
        if l.end > end:
            pieces.append(Lock(l.kind, owner, l.type, end + 1, l.end, l.pid, l.file))
    if type_ != F_UNLCK:
        pieces.append(Lock(kind, owner, type_, start, end, pid, f))
    pieces.sort(key=lambda l: l.start)
    merged: list[Lock] = []
    for l in pieces:
        last = merged[-1] if merged else None
        if last is not None and last.type == l.type and last.end + 1 >= l.start:
            last.end = max(last.end, l.end)
        else:
            merged.append(Lock(l.kind, owner, l.type, l.start, l.end, l.pid, l.file))
    return others + merged


def file_key(f):
    """The identity of the file behind an open file description (its inode)."""
    key = getattr(f, "lock_key", None)
    if key is None:
        key = _host_key(f)
        if key is None:
            key = ("guest", id(getattr(f, "pipe", f)))
        f.lock_key = key
    return key


def _host_key(f):
    host = f.host_fd()
    if host is None:
        return None
    try:
        st = os.fstat(host)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _remember(f, key, table):
    f.lock_key = key
    f.lock_table = table


def table_of(kernel) -> LockTable:
    table = getattr(kernel, "file_locks", None)
    if table is None:
        table = kernel.file_locks = LockTable()
    return table
