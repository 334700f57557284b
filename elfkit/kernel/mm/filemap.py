"""mm/filemap.c: the page cache -- one set of frames per file page, shared by every process.

Two kinds of entries live here.

*Address spaces* (struct address_space, `AddressSpace`): one per inode, keyed by
the host file's (st_dev, st_ino), holding the file's pages that are in memory,
page index -> frame. mmap(2) of a file maps nothing at first; a fault in the
area (mm/memory.c: do_read_fault, do_shared_fault, do_cow_fault) reads the page
and its FAULT_AROUND neighbours from the file into frames held here
(`AddressSpace.get_pages`) and maps them: writable into every MAP_SHARED
mapping of the file, in this process and any other, so a store through one is
seen through all of them at once; read-only into a private mapping, whose first
write copies the page (PageTables.do_wp_page). A page wholly past the end of
the file is not there: the fault is a SIGBUS. MAP_SHARED|MAP_ANONYMOUS memory
is an address space too, of a file that has no host file (shmem_zero_setup):
its pages are zero until written, and fork's children map the same ones.

The host file stays the truth for read(2) and write(2): elfkit does not route
them through the frames. Coherence is kept at the edges instead, as
writeback and invalidation would keep it:
- `writeback`: pages a shared mapping wrote (the CPU set the PTE's dirty bit)
  are written to the host file -- before a read of the file, before a write to
  it, at msync, munmap, mprotect, exit and fsync (filemap_write_and_wait);
- `refresh`: after the guest wrote the host file (write, pwrite, writev,
  sendfile, copy_file_range, fallocate), the cached pages of what it wrote are
  read again, so every mapping sees the new bytes at once;
- `truncate`: pages past a new end of file leave the cache and every mapping
  (truncate_pagecache); the tail of the last page reads as zeros.
Writing back needs the file open for writing: a shared writable mapping is
only made from a descriptor the guest opened for writing (which --allow-write
governed), and the address space opens the file again for its own write-back.

*Exec ranges*: when exec maps a program or its interpreter (ExecImage areas with
their bytes), a range is known by the file's identity (device, inode, mtime,
size), the offset and length mapped, and the content of its last page, which
exec may have cleared after the file data (padzero). The first mapping reads
the bytes into frames, every later one (in this process or any other) maps the
same frames, so the code Unicorn translated from it in one process is found
again, by physical address, in the next.

Both keep their pages after the last mapping goes (an address space closes its
host descriptor then, and forgets its pages when the file changed in the
meantime or has no name left); when the machine runs out of frames, reclaim
(`shrink`, what kswapd and direct reclaim do to clean page-cache pages) drops
the pages nobody maps before the OOM killer is asked to kill anything.
"""
from __future__ import annotations

import bisect
import errno
import fcntl
import os

from elfkit.kernel.mm.paging import PAGE

MAX_READ = 1 << 24              # bytes read from the host file per pread when pages come in


class AddressSpace:
    """struct address_space: one file's pages in memory, and the mms that map it (i_mmap)."""

    def __init__(self, cache, key: tuple, fd: int | None, size: int = 0, shmem: bool = False):
        self.cache = cache
        self.key = key                  # (st_dev, st_ino) of the host file; (0, n) for shmem
        self.fd = fd                    # host descriptor (None: anonymous shared memory)
        self.writable = False           # fd is open for writing (write-back possible)
        self.shmem = shmem              # tmpfs-like: no host file behind it (or a memfd)
        self.size = size                # the file's size when it has no host file
        self.pages: dict[int, int] = {}     # page index -> frame (the cache's own reference)
        self.mms: set = set()           # the mms with an area over it (i_mmap, by mm)
        self.may_dirty = False          # mapped writable into a shared mapping at some time
        self.code = False               # mapped executable at some time (frames may hold blocks)
        self.stamp = None               # (mtime, ctime, size) when the last mapping went
        self.busy = False               # pages are being read in (reclaim leaves it alone)

    # --- the host file ----------------------------------------------------------------------------
    def file_size(self) -> int:
        """i_size: the host file's size now (a guest or host write may have changed it)."""
        if self.fd is None:
            return self.size
        try:
            return os.fstat(self.fd).st_size
        except OSError:
            return 0

    def open_for(self, host_fd: int, write: bool) -> bool:
        """Hold a host descriptor of the file, open for writing when a shared writable mapping
        is made (write): the guest's own may be closed or moved before the write-back. Opened
        again through /proc/self/fd (its own file position and flags: never O_APPEND), else a
        duplicate."""
        if self.fd is not None and (self.writable or not write):
            return True
        mode = os.O_RDWR if write else os.O_RDONLY
        try:
            fd = os.open(f"/proc/self/fd/{host_fd}", mode | os.O_CLOEXEC)
        except OSError:
            try:
                fd = os.dup(host_fd)
            except OSError:
                return False
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            write = write and flags & 3 == os.O_RDWR and not flags & os.O_APPEND
        if self.fd is not None:
            os.close(self.fd)
        self.fd, self.writable = fd, write
        return True

    def get_pages(self, first: int, count: int, oom: bool = True) -> list[int]:
        """find_get_page / filemap_fault for pages first .. first+count-1 (below EOF): the
        frames, reading the missing ones from the file, each run of them in one pread into
        contiguous frames (zeros after the end of the file). oom=False: MemoryError rather
        than the OOM killer when no frame is left (a fault-around window has a fallback)."""
        self.busy = True                # (reclaim must not take the pages read so far)
        try:
            return self._get_pages(first, count, oom)
        finally:
            self.busy = False

    def _get_pages(self, first: int, count: int, oom: bool) -> list[int]:
        pages = self.pages
        out = [pages.get(i) for i in range(first, first + count)]
        i = 0
        while i < count:
            if out[i] is not None:
                i += 1
                continue
            j = i
            while j < count and out[j] is None and (j - i) * PAGE < MAX_READ:
                j += 1
            paddr = self.cache.phys.alloc((j - i) * PAGE, oom=oom)
            if self.fd is not None:
                try:
                    data = os.pread(self.fd, (j - i) * PAGE, (first + i) * PAGE)
                except OSError:
                    data = b""
                if data:
                    self.cache.phys.write(paddr, data)
            for k in range(i, j):
                out[k] = pages[first + k] = paddr + (k - i) * PAGE
                self.cache.frame_space[out[k]] = self
            i = j
        return out

    # --- coherence with read(2) and write(2) ---------------------------------------------------------
    def writeback(self, lo: int = 0, hi: int | None = None) -> int:
        """Write the pages of [lo, hi) (file offsets) that a shared mapping wrote to the host
        file: the PTE dirty bits of every mapping tell which (msync_pte_range's
        ptep_clear_flush_dirty, then write_cache_pages). 0 or -errno."""
        if not self.may_dirty or self.fd is None:
            return 0
        dirty = set()
        for mm in list(self.mms):
            dirty.update(mm.dirty_file_pages(self, lo, hi))
        if not dirty:
            return 0
        if not self.writable:
            return -errno.EIO
        size = self.file_size()
        phys = self.cache.phys
        runs = []                           # (first index, first frame, pages): one pwrite each
        for index in sorted(dirty):
            paddr = self.pages.get(index)
            if paddr is None or index * PAGE >= size:
                continue                    # (past the end: never written, as the kernel)
            if runs and runs[-1][0] + runs[-1][2] == index and \
                    runs[-1][1] + runs[-1][2] * PAGE == paddr:
                runs[-1][2] += 1
            else:
                runs.append([index, paddr, 1])
        for index, paddr, n in runs:
            off = index * PAGE
            try:
                os.pwrite(self.fd, phys.read(paddr, min(n * PAGE, size - off)), off)
            except OSError as e:
                return -(e.errno or errno.EIO)
        return 0

    def refresh(self, lo: int = 0, hi: int | None = None):
        """The host file's bytes in [lo, hi) changed (the guest wrote them): the cached pages
        there read them again, so every mapping sees them (the kernel's write goes through
        the same pages; here it goes to the file, then to them)."""
        if self.fd is None or not self.pages:
            return
        first = lo // PAGE
        last = len(self.pages) and max(self.pages) if hi is None else (hi - 1) // PAGE
        phys = self.cache.phys
        if last - first + 1 > len(self.pages):
            todo = sorted(i for i in self.pages if first <= i <= last)
        else:
            todo = [i for i in range(first, last + 1) if i in self.pages]
        for index in todo:
            paddr = self.pages[index]
            try:
                data = os.pread(self.fd, PAGE, index * PAGE)
            except OSError:
                continue
            phys.write(paddr, data + bytes(PAGE - len(data)))
            if self.code and phys.on_code_freed is not None:
                phys.on_code_freed(paddr, PAGE)         # (code that changed: its blocks go)

    def truncate(self, new_size: int):
        """truncate_pagecache: pages wholly past the new end leave every mapping and the cache
        (a later touch there is a SIGBUS); the last page's tail after the end reads zeros."""
        keep = (new_size + PAGE - 1) // PAGE
        gone = [i for i in self.pages if i >= keep]
        if gone:
            for mm in list(self.mms):
                mm.zap_file_pages(self, keep * PAGE)
            phys = self.cache.phys
            for i in gone:
                paddr = self.pages.pop(i)
                self.cache.frame_space.pop(paddr, None)
                phys.put(paddr, PAGE, code=self.code)
        tail = new_size % PAGE
        if tail and new_size // PAGE in self.pages:
            self.cache.phys.write(self.pages[new_size // PAGE] + tail, bytes(PAGE - tail))

    # --- the mms that map it ------------------------------------------------------------------------
    def attach(self, mm):
        self.mms.add(mm)

    def detach(self, mm):
        """An mm has no area over the file left. With the last one, the descriptor is closed;
        the pages stay for the next mapping, unless the file has no name (memfd, deleted) or
        no file at all: then nothing can map them again and they go now."""
        self.mms.discard(mm)
        if self.mms:
            return
        if self.fd is None:
            self.cache.forget(self)
            return
        try:
            st = os.fstat(self.fd)
        except OSError:
            st = None
        if st is None or st.st_nlink == 0:
            self.cache.forget(self)
            return
        self.stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_size)
        os.close(self.fd)
        self.fd, self.writable, self.may_dirty = None, False, False

    def release(self):
        """Every page back (the cache's reference), the descriptor closed."""
        phys = self.cache.phys
        for paddr in self.pages.values():
            self.cache.frame_space.pop(paddr, None)
            phys.put(paddr, PAGE, code=self.code)
        self.pages = {}
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def unmapped_pages(self) -> list[int]:
        """The page indexes only the cache holds (no mapping has their frame)."""
        count = self.cache.phys.count
        return [i for i, p in self.pages.items() if count(p) == 1]


class PageCache:
    def __init__(self, phys):
        self.phys = phys
        self.ranges: dict[tuple, int] = {}      # exec ranges: key -> first frame of a run
        self._runs: list | None = None          # sorted (start, end) of the ranges (holds)
        self._run_starts: list[int] = []
        self.spaces: dict[tuple, AddressSpace] = {}     # (st_dev, st_ino) -> its address space
        self.frame_space: dict[int, AddressSpace] = {}  # frame -> the address space holding it
        self._shmem = 0

    # --- address spaces -------------------------------------------------------------------------
    def space_for(self, host_fd: int, st, write: bool) -> AddressSpace | None:
        """The address space of the host file open as host_fd (stat result st), made on first
        use; write: a shared writable mapping will need to write it back. Pages kept from a
        mapping that went are forgotten when the file changed since."""
        key = (st.st_dev, st.st_ino)
        space = self.spaces.get(key)
        if space is not None and space.fd is None and space.stamp is not None and \
                space.stamp != (st.st_mtime_ns, st.st_ctime_ns, st.st_size):
            self.forget(space)
            space = None
        if space is None:
            space = AddressSpace(self, key, None)
            self.spaces[key] = space
        if not space.open_for(host_fd, write):
            return None
        space.stamp = None
        return space

    def shmem(self, size: int) -> AddressSpace:
        """shmem_zero_setup: the anonymous file behind a MAP_SHARED|MAP_ANONYMOUS area."""
        self._shmem += 1
        space = AddressSpace(self, (0, -self._shmem), None, size, shmem=True)
        self.spaces[space.key] = space
        return space

    def forget(self, space: AddressSpace):
        if self.spaces.get(space.key) is space:
            del self.spaces[space.key]
        space.release()

    def lookup(self, f) -> AddressSpace | None:
        """The address space of an open host file, if its pages are cached (one fstat per open
        file, the first time)."""
        if not self.spaces:
            return None
        key = getattr(f, "inode_key", None)
        if key is None:
            try:
                st = os.fstat(f.host_fd())
            except (OSError, TypeError):
                return None
            key = f.inode_key = (st.st_dev, st.st_ino)
        return self.spaces.get(key)

    def before_io(self, f):
        """A read or write of the file is coming: what shared mappings wrote goes to it first."""
        space = self.lookup(f)
        if space is not None and space.may_dirty:
            space.writeback()

    def after_write(self, f, off: int | None = None, n: int | None = None):
        """The guest wrote [off, off+n) of the file (off None: somewhere): the cached pages
        there take the new bytes."""
        space = self.lookup(f)
        if space is None or not space.pages:
            return
        if space.fd is None:
            self.forget(space)          # nobody maps it: its pages are simply out of date
        else:
            space.refresh(off or 0, None if off is None or n is None else off + n)

    def truncated(self, f=None, host_path: str | None = None):
        """ftruncate or truncate changed the file's size."""
        if not self.spaces:
            return
        try:
            st = os.fstat(f.host_fd()) if f is not None else os.stat(host_path)
        except (OSError, TypeError):
            return
        space = self.spaces.get((st.st_dev, st.st_ino))
        if space is not None and space.fd is None:
            self.forget(space)                  # (nobody maps it)
        elif space is not None:
            space.truncate(st.st_size)

    # --- exec ranges ----------------------------------------------------------------------------
    @staticmethod
    def key(identity: tuple, offset: int, size: int, data: bytes) -> tuple:
        tail = data[(len(data) - 1) & ~(PAGE - 1):] if data else b""
        return identity + (offset, size, len(data), hash(tail))

    def frames(self, key: tuple, size: int, data: bytes) -> int:
        """The frames holding `data` (zero after it) for `size` bytes; the cache keeps its own
        reference, so they outlive every mapping."""
        paddr = self.ranges.get(key)
        if paddr is None:
            paddr = self.phys.alloc(size)
            if data:
                self.phys.write(paddr, data[:size])
            self.ranges[key] = paddr
            self._runs = None
        return paddr

    def holds(self, paddr: int) -> bool:
        """Is this frame one of the cache's (a file page, not a private copy)?"""
        if paddr & ~(PAGE - 1) in self.frame_space:
            return True
        if self._runs is None:
            self._runs = sorted((p, p + k[-3]) for k, p in self.ranges.items())
            self._run_starts = [r[0] for r in self._runs]
        i = bisect.bisect_right(self._run_starts, paddr) - 1
        return i >= 0 and paddr < self._runs[i][1]

    def shrink(self) -> int:
        """Reclaim: drop every exec range no address space maps (each of its frames held by
        the cache alone) and every file page no mapping has (clean: a page leaves its last
        shared mapping written back); the bytes given back. Anonymous shared memory has no
        file to read it again from: it stays."""
        freed = 0
        for key, paddr in list(self.ranges.items()):
            if key not in self.ranges:
                continue
            size = (key[-3] + PAGE - 1) & ~(PAGE - 1)
            if any(self.phys.count(p) > 1 for p in range(paddr, paddr + size, PAGE)):
                continue
            del self.ranges[key]
            self._runs = None
            self.phys.put(paddr, size, code=True)       # (its translated blocks go too)
            freed += size
        for space in list(self.spaces.values()):
            if space.shmem and space.fd is None or space.may_dirty or space.busy:
                continue
            for i in space.unmapped_pages():
                paddr = space.pages.pop(i)
                del self.frame_space[paddr]
                self.phys.put(paddr, PAGE, code=True)
                freed += PAGE
        return freed

    @property
    def size(self) -> int:
        return sum(k[-3] for k in self.ranges) + PAGE * len(self.frame_space)
