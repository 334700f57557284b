"""ipc/shm.c: System V shared memory segments, inside the guest.

A segment owns its frames (allocated zeroed when it is made, one reference held
by the segment itself). shmat maps those frames MAP_SHARED into the caller's
address space (Mm.map_shm_frames), so every attach in every process -- and the
copies fork makes of them -- reads and writes the same memory; the frames go
back when the segment is destroyed and the last mapping is gone (the physical
reference counts do that). /proc/PID/maps shows an attach as the kernel does:
`/SYSV<key> (deleted)`, device 00:01, inode = the shmid.

shm_nattch is the number of areas that map the segment (the kernel counts vma
opens and closes; a partial munmap or mprotect that splits an attach counts
twice there too), found by looking at the live processes' areas, so exit, exec
and munmap detach without hooks. A segment marked for removal (IPC_RMID while
attached: SHM_DEST, key IPC_PRIVATE) is destroyed once nothing maps it -- noticed
by the next shm call or /proc/sysvipc/shm read, which is all that could see it.
"""
from __future__ import annotations

import errno
import struct

from elfkit.kernel.ipc.util import (IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, IpcIds, ipcget,
                                    ipcperms, new_perm, obtain_for_change, realtime, s32,
                                    update_perm, check_ids)
from elfkit.loader.layout import PAGE_SIZE

SHMMIN, SHMMNI = 1, 4096
SHMMAX = SHMALL = 0xFFFFFFFFFFFFFFFF - (1 << 24)        # ULONG_MAX - 2^24: "no limit"
SHM_DEST, SHM_LOCKED = 0o1000, 0o2000
SHM_HUGETLB, SHM_NORESERVE = 0o4000, 0o10000
SHM_RDONLY, SHM_RND, SHM_REMAP, SHM_EXEC = 0o10000, 0o20000, 0o40000, 0o100000
SHM_LOCK, SHM_UNLOCK, SHM_STAT, SHM_INFO, SHM_STAT_ANY = 11, 12, 13, 14, 15
SHMLBA = PAGE_SIZE
RLIMIT_MEMLOCK = 8
SHMID_DS_TAIL = struct.Struct("<QqqqiiQQQ")     # shm_segsz .. __unused5, after ipc64_perm
SHMINFO = struct.Struct("<9Q")
SHM_INFO_S = struct.Struct("<i4x5Q")


class Segment:
    """shmid_kernel."""

    def __init__(self, perm, size: int, paddr: int, cpid: int):
        self.perm = perm
        self.size = size
        self.paddr = paddr                   # the frames, page_align(size) bytes
        self.cpid, self.lpid = cpid, 0
        self.atime = self.dtime = 0
        self.ctime = realtime()

    @property
    def pages(self) -> int:
        return (self.size + PAGE_SIZE - 1) // PAGE_SIZE

    @property
    def name(self) -> str:
        return f"/SYSV{self.perm.key & 0xFFFFFFFF:08x} (deleted)"


class ShmNamespace:
    def __init__(self, kernel):
        self.kernel = kernel
        self.ids = IpcIds(SHMMNI)
        self.tot = 0                         # pages of every segment (shm_tot)

    # --- attachments ---------------------------------------------------------------------
    def _mms(self):
        seen = {}
        for t in self.kernel.tasks.values():
            if t.mm is not None and t.state not in ("Z", "X") and t is not self.kernel.init:
                seen[id(t.mm)] = t.mm
        return seen.values()

    def nattch(self, seg: Segment) -> int:
        return sum(1 for mm in self._mms() for v in mm.vmas if is_attach(v, seg))

    def collect(self):
        """Destroy the segments marked for removal that nothing maps any more."""
        for seg in list(self.ids.by_idx.values()):
            if seg.perm.mode & SHM_DEST and self.nattch(seg) == 0:
                self.destroy(seg)

    def destroy(self, seg: Segment):
        self.ids.remove(seg)
        self.tot -= seg.pages
        self.kernel.machine.phys.put(seg.paddr, seg.pages * PAGE_SIZE)

    # --- the system calls ----------------------------------------------------------------
    def shmget(self, p, key: int, size: int, flg: int) -> int:
        self.collect()

        def newseg():
            if size < SHMMIN or size > SHMMAX:
                return -errno.EINVAL
            pages = (size + PAGE_SIZE - 1) // PAGE_SIZE
            if self.tot + pages > SHMALL:
                return -errno.ENOSPC
            if self.ids.in_use >= self.ids.limit:
                return -errno.ENOSPC
            try:
                paddr = self.kernel.machine.phys.alloc(pages * PAGE_SIZE)
            except MemoryError:
                return -errno.ENOMEM
            seg = Segment(new_perm(p, key, flg), size, paddr, p.tgid)
            self.ids.add(seg)
            self.tot += pages
            return seg.perm.id

        def more_checks(seg):
            return -errno.EINVAL if seg.size < size else 0
        return ipcget(p, self.ids, key, flg, newseg, more_checks)

    def shmat(self, p, shmid: int, addr: int, flg: int) -> int:
        self.collect()
        if shmid < 0:
            return -errno.EINVAL
        if addr:
            if addr & (SHMLBA - 1):
                if not flg & SHM_RND:
                    return -errno.EINVAL
                addr &= ~(SHMLBA - 1)
                if not addr and flg & SHM_REMAP:
                    return -errno.EINVAL
        elif flg & SHM_REMAP:
            return -errno.EINVAL
        prot, acc = (1, 0o444) if flg & SHM_RDONLY else (3, 0o666)
        if flg & SHM_EXEC:
            prot, acc = prot | 4, acc | 0o111
        seg = self.ids.obtain_check(shmid)
        if isinstance(seg, int):
            return seg
        if not ipcperms(p, seg.perm, acc):
            return -errno.EACCES
        size = seg.pages * PAGE_SIZE
        if addr and not flg & SHM_REMAP and p.mm.overlaps(addr, addr + seg.size):
            return -errno.EINVAL
        result = p.mm.map_shm_frames(addr, size, prot, seg.paddr, seg.name, seg.perm.id)
        if result >= 0:
            seg.atime, seg.lpid = realtime(), p.tgid
        return result

    def shmdt(self, p, addr: int) -> int:
        """ksys_shmdt: the attach starting at addr (a fragment whose offset matches its distance
        from addr), then its other fragments within the segment's size."""
        if addr & (PAGE_SIZE - 1):
            return -errno.EINVAL
        mm = p.mm
        first = next((v for v in mm.vmas if v.end > addr and v.name.startswith("/SYSV")
                      and v.start - addr == v.offset), None)
        if first is None:
            return -errno.EINVAL
        seg = self._segment_of(first)
        size = seg.pages * PAGE_SIZE if seg is not None else first.size
        doomed = [first] + [v for v in mm.vmas if v.start > first.start and v.end - addr <= size
                            and v.inode == first.inode and v.name == first.name
                            and v.start - addr == v.offset]
        for v in doomed:
            mm.unmap_range(v.start, v.end)
        if seg is not None:
            seg.dtime, seg.lpid = realtime(), p.tgid
        self.collect()
        return 0

    def _segment_of(self, vma):
        return next((s for s in self.ids.by_idx.values() if is_attach(vma, s)), None)

    def shmctl(self, p, shmid: int, cmd: int, buf: int) -> int:
        self.collect()
        if cmd < 0 or shmid < 0:
            return -errno.EINVAL
        if cmd == IPC_INFO:
            info = SHMINFO.pack(SHMMAX, SHMMIN, SHMMNI, SHMMNI, SHMALL, 0, 0, 0, 0)
            return self.ids.max_idx() if p.mm.write(buf, info) else -errno.EFAULT
        if cmd == SHM_INFO:
            # shm_rss: every page of a segment is resident here (its frames are made with it)
            info = SHM_INFO_S.pack(self.ids.in_use, self.tot, self.tot, 0, 0, 0)
            return self.ids.max_idx() if p.mm.write(buf, info) else -errno.EFAULT
        if cmd in (IPC_STAT, SHM_STAT, SHM_STAT_ANY):
            return self._stat(p, shmid, cmd, buf)
        if cmd in (IPC_SET, IPC_RMID):
            raw = None
            if cmd == IPC_SET:
                raw = p.mm.read(buf, 48 + SHMID_DS_TAIL.size)
                if raw is None:
                    return -errno.EFAULT
            seg = obtain_for_change(p, self.ids, shmid)
            if isinstance(seg, int):
                return seg
            if cmd == IPC_RMID:
                seg.perm.mode |= SHM_DEST
                seg.perm.key = 0                 # ipc_set_key_private: no one finds it by key
                self.collect()
                return 0
            uid, gid = struct.unpack_from("<II", raw, 4)
            if not check_ids(uid, gid):
                return -errno.EINVAL
            update_perm(seg.perm, raw)
            seg.ctime = realtime()
            return 0
        if cmd in (SHM_LOCK, SHM_UNLOCK):
            return self._lock(p, shmid, cmd)
        return -errno.EINVAL

    def _stat(self, p, shmid, cmd, buf):
        if cmd == IPC_STAT:
            seg = self.ids.obtain_check(shmid)
            if isinstance(seg, int):
                return seg
        else:
            seg = self.ids.obtain(shmid)
            if seg is None:
                return -errno.EINVAL
        if cmd != SHM_STAT_ANY and not ipcperms(p, seg.perm, 0o444):
            return -errno.EACCES
        data = seg.perm.pack() + SHMID_DS_TAIL.pack(seg.size, seg.atime, seg.dtime, seg.ctime,
                                                    seg.cpid, seg.lpid, self.nattch(seg), 0, 0)
        if not p.mm.write(buf, data):
            return -errno.EFAULT
        return 0 if cmd == IPC_STAT else seg.perm.id

    def _lock(self, p, shmid, cmd):
        """SHM_LOCK/SHM_UNLOCK: the owner may, and for SHM_LOCK only with RLIMIT_MEMLOCK > 0
        (the guest has no CAP_IPC_LOCK). Locking changes nothing else here: no page is ever
        swapped out."""
        seg = self.ids.obtain_check(shmid)
        if isinstance(seg, int):
            return seg
        if p.creds.euid not in (seg.perm.uid, seg.perm.cuid):
            return -errno.EPERM
        if cmd == SHM_LOCK:
            if p.rlimit(RLIMIT_MEMLOCK)[0] == 0:
                return -errno.EPERM
            seg.perm.mode |= SHM_LOCKED
        else:
            seg.perm.mode &= ~SHM_LOCKED
        return 0

    # --- /proc/sysvipc/shm ---------------------------------------------------------------
    def proc_text(self) -> str:
        self.collect()
        head = ("       key      shmid perms                  size  cpid  lpid nattch   uid   gid"
                "  cuid  cgid      atime      dtime      ctime                   rss"
                "                  swap\n")
        rows = []
        for s in self.ids.values():
            q = s.perm
            rows.append(f"{s32(q.key):10d} {q.id:10d}  {q.mode:4o} {s.size:21d} {s.cpid:5d} "
                        f"{s.lpid:5d}  {self.nattch(s):5d} {q.uid:5d} {q.gid:5d} {q.cuid:5d} "
                        f"{q.cgid:5d} {s.atime:10d} {s.dtime:10d} {s.ctime:10d} "
                        f"{s.pages * PAGE_SIZE:21d} {0:21d}\n")
        return head + "".join(rows)


def is_attach(vma, seg: Segment) -> bool:
    return vma.inode == seg.perm.id and vma.dev == (0, 1) and vma.name.startswith("/SYSV")
