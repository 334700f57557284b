"""mm_struct and vm_area_struct: the guest's memory areas, and mmap/munmap/mprotect/mremap/brk on them.

Areas are kept sorted, split and merged the way mm/mmap.c and mm/mprotect.c
do it, so /proc/self/maps reads as it would natively. Every change is
mirrored into the mm's own page tables (elfkit.kernel.mm.paging), which the CPU
uses while a task of this mm runs. File pages come from the page cache
(elfkit.kernel.mm.filemap) shared by every process.

Private anonymous memory (mmap, the brk heap, the stack, what mremap grows)
gets its frames on first touch, as mm/memory.c's handle_mm_fault gives them:
an area is made without frames, and the page fault of the first access
(or elfkit's own write to it, through `fill_hole`) maps them --
`do_anonymous_page` maps a write's page with its aligned neighbourhood of
FAULT_AROUND pages that have none yet (growing to FAULT_AROUND_MAX while the
faults come in order: not one fault per page), a read's page as the shared
zero page. MAP_POPULATE and
mlock fill a range at once (`populate`).

File mappings and shared memory are paged in the same way, from the page cache
(elfkit.kernel.mm.filemap): an area over a file, or a MAP_SHARED|MAP_ANONYMOUS
area (an anonymous shmem file), names its `AddressSpace` (Vma.mapping); a
fault there (`do_fault`: do_read_fault, do_shared_fault, do_cow_fault) maps
the file's pages of its FAULT_AROUND window from the cache -- writable into a
shared area, read-only into a private one, whose first write copies the page
-- and a page wholly past the end of the file is a SIGBUS (VM_FAULT_SIGBUS).
What a shared area wrote (the PTEs' dirty bits) goes back to the file before
its pages leave the area (munmap, mprotect, mremap, exit) and when msync or a
read or write of the file asks (`dirty_file_pages`). SysV shm keeps its
segment's own frames from the start.
"""
from __future__ import annotations

import bisect
import errno
import os
from dataclasses import dataclass, field, replace
from operator import attrgetter

from elfkit.loader.layout import MMAP_MIN_ADDR, PAGE_SIZE, STACK_RLIMIT, STACK_TOP, page_align

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_GROWSDOWN, MAP_DENYWRITE, MAP_NORESERVE, MAP_POPULATE = 0x100, 0x800, 0x4000, 0x8000
MAP_STACK, MAP_FIXED_NOREPLACE = 0x20000, 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
USER_END = 1 << 47
_U32_LAST = USER_END - 4                    # the last user address a 32-bit word can start at
VM_LOCKED, VM_LOCKONFAULT = 1, 2
# Pages a write fault maps at once (its aligned window, inside the area, only pages with no
# frame yet): each fault is a trip from translated code through Python and back (about
# 45 us), and touching memory page by page is the common case (memset, a growing heap).
# A fault maps FAULT_AROUND pages (64 KiB, Linux's fault_around_bytes); a fault at the page
# right after the last window doubles the next window, up to FAULT_AROUND_MAX (512 KiB, as
# readahead grows), so memory touched in order costs a fault per 512 KiB while scattered
# writes make only 64 KiB resident each. Measured (1 GiB touched page by page, 2 host
# CPUs): 16 pages fixed 1.7 s, 64 fixed 0.9-1.3 s, this 0.8-0.9 s; native 0.6 s.
FAULT_AROUND = 16
FAULT_AROUND_MAX = 128
POPULATE_CHUNK = 512        # pages per allocation when a range is filled up front
VM_FAULT_SIGBUS = "SIGBUS"  # handle_mm_fault: a file page past the end of the file (BUS_ADRERR)


@dataclass(slots=True)
class Vma:
    start: int
    end: int
    prot: int
    shared: bool = False
    name: str = ""              # file path, [heap], [stack] or "" (anonymous)
    offset: int = 0             # file offset of `start`
    dev: tuple[int, int] = (0, 0)
    inode: int = 0
    cow: bool = False           # a private file mapping that was writable: has its own pages
    locked: int = 0             # VM_LOCKED (1), VM_LOCKONFAULT (2): mlock, mlock2, mlockall
    sealed: bool = False        # VM_SEALED (mseal): no munmap, mprotect, mremap or MAP_FIXED over it
    policy: tuple | None = None  # mbind's (mode with flags, nodes, home node), else the task's
    maywrite: bool = True       # VM_MAYWRITE: not for a shared mapping of a read-only descriptor
    mapping: object = field(default=None, repr=False, compare=False)   # vm_file->f_mapping:
    #                             the file's (or shmem's) filemap.AddressSpace; None: anonymous

    @property
    def size(self) -> int:
        return self.end - self.start

    def maps_line(self) -> str:
        perms = ("r" if self.prot & PROT_READ else "-") + ("w" if self.prot & PROT_WRITE else "-") + \
                ("x" if self.prot & PROT_EXEC else "-") + ("s" if self.shared else "p")
        head = (f"{self.start:08x}-{self.end:08x} {perms} {self.offset:08x} "
                f"{self.dev[0]:02x}:{self.dev[1]:02x} {self.inode} ")
        # fs/proc/task_mmu.c pads the name to column 73; nameless lines end after the inode.
        return head.ljust(73) + self.name + "\n" if self.name else head + "\n"

    def mergeable_with(self, nxt: "Vma") -> bool:
        if self.end != nxt.start or self.prot != nxt.prot or self.shared != nxt.shared:
            return False
        if self.name != nxt.name or self.dev != nxt.dev or self.inode != nxt.inode:
            return False
        if self.locked != nxt.locked or self.sealed != nxt.sealed or self.policy != nxt.policy or \
                self.maywrite != nxt.maywrite or self.mapping is not nxt.mapping:
            return False                  # vm_flags and vm_policy differ: separate areas
        if self.name.startswith("/SYSV"):
            return False                # shm areas never merge (shm_vm_ops has a close)
        if self.inode:
            # The kernel keeps a written (copied-on-write) private file area apart from a clean
            # one: their anon_vma differ. So RELRO, once mprotect'ed read-only, stays its own line.
            return self.offset + self.size == nxt.offset and self.cow == nxt.cow
        return True


PMD_SIZE = 2 << 20
# statfs f_type of the file systems whose mmap places files with thp_get_unmapped_area (their
# file_operations' get_unmapped_area): ext2/3/4, XFS, Btrfs, bcachefs
_THP_FS = {0xEF53, 0x58465342, 0x9123683E, 0xCA451A4E}
_fs_types: dict[int, int | None] = {}


def _thp_filesystem(file) -> bool:
    """Is `file` on a host file system whose mmap aligns large file mappings to 2 MiB? (The
    guest sees the host's files, so their placement is the host kernel's for that file
    system: statfs's f_type, asked once per device.)"""
    fd = file.host_fd() if hasattr(file, "host_fd") else None
    if fd is None:
        return False
    try:
        dev = os.fstat(fd).st_dev
    except OSError:
        return False
    if dev not in _fs_types:
        _fs_types[dev] = _statfs_type(fd)
    return _fs_types[dev] in _THP_FS


def _statfs_type(fd: int) -> int | None:
    import ctypes
    from elfkit.kernel.mm.paging import _LIBC     # (the C library elfkit already has loaded:
    buf = ctypes.create_string_buffer(120)        # finding it by name would run ldconfig)
    try:                                          # struct statfs: f_type first (x86-64: 120 bytes)
        if _LIBC.fstatfs(fd, buf) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return int.from_bytes(buf.raw[:8], "little")


_vma_start = attrgetter("start")          # (a bisect's key: C, not a Python call per step)


class Mm:
    """The address space of one guest process (mm_struct): its areas and its page tables."""

    def __init__(self, machine, mmap_base: int, start_brk: int, cache=None, pages=None):
        self.machine = machine              # elfkit.kernel.smp.Machine: its CPUs and memory
        self.on_cpu = None                  # the CPU running it now (one at a time)
        self.pages = pages if pages is not None else machine.new_address_space()
        self.cache = cache                  # the page cache (filemap.PageCache), if any
        self.users = 1                      # tasks using it (mm_users): CLONE_VM, vfork
        self.vmas: list[Vma] = []
        self.mmap_base = mmap_base
        self.start_brk = start_brk
        self.brk = start_brk
        self.stack_limit = STACK_TOP - STACK_RLIMIT
        self._shmem_inode = 1029
        self.membarrier_state = 0           # MEMBARRIER_CMD_REGISTER_* done (kernel/sched/membarrier.c)
        self.def_locked = 0                 # mm->def_flags' VM_LOCKED/VM_LOCKONFAULT (mlockall MCL_FUTURE)
        self.ioctx_table: list = []         # mm->ioctx_table: AIO contexts (elfkit.kernel.fs.aio)
        self.oom_skip = False               # MMF_OOM_SKIP: reaped by the OOM killer, not chosen again
        self.fault_next = 0                 # the page after the last fault-around window
        self.fault_window = FAULT_AROUND    # pages the next fault there maps
        self.hiwater_rss = 0                # VmHWM: the most bytes ever resident
        self.vdso_text = (0, 0)             # the vDSO's functions (mm->context.vdso): their
        #                                     system calls are the vDSO's, not the program's
        self.pages.on_hole = self.fill_hole

    # --- lookup ----------------------------------------------------------------------------
    def find(self, addr: int) -> Vma | None:
        vmas = self.vmas
        i = bisect.bisect_right(vmas, addr, key=_vma_start) - 1
        if i >= 0 and vmas[i].start <= addr < vmas[i].end:
            return vmas[i]
        return None

    def overlaps(self, start: int, end: int) -> list[Vma]:
        return [v for v in self.vmas if v.start < end and start < v.end]

    def is_mapped(self, start: int, end: int) -> bool:
        """Every byte of [start, end) lies in some area."""
        pos = start
        for v in self.vmas:
            if v.end <= pos:
                continue
            if v.start > pos:
                return False
            pos = v.end
            if pos >= end:
                return True
        return pos >= end

    # --- creating and removing areas --------------------------------------------------------
    def map_area(self, vma: Vma, data: bytes = b"", identity: tuple | None = None):
        """Create an area at a free, page-aligned range and fill its start with `data`.
        identity: the file's (dev, inode, mtime, size) -- its pages then come from the page
        cache, shared with every other mapping of the same range."""
        if vma.inode and not vma.shared and vma.prot & PROT_WRITE:
            vma.cow = True
        anonymous = False
        if identity is not None and self.cache is not None and not vma.shared:
            key = self.cache.key(identity, vma.offset, vma.size, data)
            paddr = self.cache.frames(key, vma.size, data)
            self.pages.map_frames(vma.start, vma.size, paddr, vma.prot)
        elif vma.mapping is not None:
            vma.mapping.attach(self)            # its pages come from the cache at each fault
            if vma.prot & PROT_EXEC:
                vma.mapping.code = True
            anonymous = bool(data)
        elif vma.shared:
            self.pages.map(vma.start, vma.size, vma.prot, shared=True)
            if data:
                self.pages.write(vma.start, data[:vma.size])   # fresh frames: no stale code
        else:
            anonymous = True                    # frames on first touch (handle_mm_fault)
        start, end = vma.start, vma.end
        bisect.insort(self.vmas, vma, key=_vma_start)
        self._merge_around(start, end)
        if anonymous:
            if data:
                self.pages.write(start, data[:end - start])  # faults in the pages it covers
            if vma.locked & VM_LOCKED and not vma.locked & VM_LOCKONFAULT:
                self.populate(start, end)

    def unmap_range(self, start: int, end: int):
        """munmap's core: split areas at the edges and drop what lies inside."""
        self.note_rss()
        kept = []
        spaces = set()
        for v in self.vmas:
            if v.end <= start or v.start >= end:
                kept.append(v)
                continue
            if v.start < start:
                kept.append(self._slice(v, v.start, start))
            if v.end > end:
                kept.append(self._slice(v, end, v.end))
            lo, hi = max(v.start, start), min(v.end, end)
            if v.mapping is not None:
                spaces.add(v.mapping)
                if v.shared:
                    self.sync_area(v, lo, hi)   # (the dirty bits go with the PTEs)
            self.pages.unmap(lo, hi - lo)
        self.vmas = sorted(kept, key=_vma_start)
        for space in spaces:
            if not any(v.mapping is space for v in self.vmas):
                space.detach(self)

    @staticmethod
    def _slice(v: Vma, start: int, end: int) -> Vma:
        return replace(v, start=start, end=end, offset=v.offset + (start - v.start) if v.inode else 0)

    def _merge_around(self, start: int, end: int):
        merged: list[Vma] = []
        for v in self.vmas:
            if merged and merged[-1].mergeable_with(v) and (start - PAGE_SIZE <= v.start <= end):
                merged[-1] = replace(merged[-1], end=v.end)
            else:
                merged.append(v)
        self.vmas = merged

    # --- placement -------------------------------------------------------------------------
    def unmapped_area_topdown(self, length: int, high: int | None = None) -> int | None:
        """The highest free range of `length` below mmap_base (mm/mmap.c)."""
        high = self.mmap_base if high is None else high
        for v in reversed(self.vmas):
            if v.start >= high:
                continue
            if v.end <= high and high - v.end >= length:
                return high - length
            high = min(high, v.start)
        if high - MMAP_MIN_ADDR >= length:
            return high - length
        return None

    def thp_unmapped_area(self, length: int, offset: int) -> int | None:
        """__thp_get_unmapped_area: a place where the mapping's file offsets and its addresses
        agree modulo 2 MiB (PMD_SIZE), so the kernel can map whole huge pages there -- found by
        asking for 2 MiB more than needed and moving up inside it (a top-down area already
        aligned moves up by a whole 2 MiB, as the kernel's does). None when the mapping holds
        no aligned 2 MiB of the file, or the padded length fits nowhere (then the caller
        places it as any other)."""
        off_align = -(-offset // PMD_SIZE) * PMD_SIZE
        if offset + length <= off_align or offset + length - off_align < PMD_SIZE:
            return None
        start = self.unmapped_area_topdown(length + PMD_SIZE)
        if start is None:
            return None
        shift = (offset - start) % PMD_SIZE
        return start + (shift or PMD_SIZE)

    # --- the system calls ------------------------------------------------------------------
    def mmap(self, addr: int, length: int, prot: int, flags: int, file=None, offset: int = 0,
             maywrite: bool = True, mapping=None) -> int:
        """mmap(2); `file` is an object with pread(size, offset) and stat(); returns addr or -errno.
        maywrite: False for a shared mapping of a descriptor not open for writing (mprotect may
        not add PROT_WRITE to it). mapping: the file's page-cache AddressSpace -- its pages
        come in at each fault; without one the file's bytes are read now (a file elfkit makes
        up, the linker's own mappings)."""
        if length == 0 or offset & (PAGE_SIZE - 1):
            return -errno.EINVAL
        length = page_align(length)
        if length >= USER_END:
            return -errno.ENOMEM
        if not flags & (MAP_SHARED | MAP_PRIVATE):
            return -errno.EINVAL
        fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)
        if fixed:
            if addr & (PAGE_SIZE - 1):
                return -errno.EINVAL
            if addr + length > USER_END or addr < MMAP_MIN_ADDR:
                return -errno.EPERM if addr < MMAP_MIN_ADDR else -errno.ENOMEM
            if flags & MAP_FIXED_NOREPLACE and not flags & MAP_FIXED and self.overlaps(addr, addr + length):
                return -errno.EEXIST
            if self.sealed_in(addr, addr + length):
                return -errno.EPERM
            self.unmap_range(addr, addr + length)
        else:
            hint = page_align(addr) if addr else 0
            if hint and hint >= MMAP_MIN_ADDR and hint + length <= USER_END and \
                    not self.overlaps(hint, hint + length):
                addr = hint
            else:
                found = None
                if file is not None and not flags & MAP_ANONYMOUS:
                    if length >= PMD_SIZE and _thp_filesystem(file):    # (fstat: big ones only)
                        found = self.thp_unmapped_area(length, offset)
                elif not flags & MAP_SHARED and not addr and length % PMD_SIZE == 0:
                    found = self.thp_unmapped_area(length, 0)   # larger anonymous mappings
                if found is None:
                    found = self.unmapped_area_topdown(length)
                if found is None:
                    return -errno.ENOMEM
                addr = found
        vma = Vma(addr, addr + length, prot & 7, bool(flags & MAP_SHARED), locked=self.def_locked,
                  maywrite=maywrite)
        if flags & MAP_SHARED and (file is None or flags & MAP_ANONYMOUS):
            # shared anonymous memory is a deleted shmem file, as the kernel shows it
            self._shmem_inode += 1
            vma.name, vma.dev, vma.inode = "/dev/zero (deleted)", (0, 1), self._shmem_inode
            if self.cache is not None and mapping is None:
                mapping = self.cache.shmem(length)
        data = b""
        if file is not None and not flags & MAP_ANONYMOUS:
            st = file.stat()
            vma.name, vma.offset = file.path, offset
            vma.dev, vma.inode = (os.major(st.st_dev), os.minor(st.st_dev)), st.st_ino
            if mapping is None:
                data = file.pread(length, offset)
        vma.mapping = mapping
        try:
            self.map_area(vma, data)
        except MemoryError as e:
            if getattr(e, "status", None) is not None:
                raise                           # (OomKill: this task was chosen: it ends)
            self.unmap_range(addr, addr + length)
            return -errno.ENOMEM                # frames mapped up front (shared, file) not had
        if flags & MAP_POPULATE and (not vma.shared or vma.mapping is not None):
            self.populate(addr, addr + length)
        return addr

    def map_shm_frames(self, addr: int, size: int, prot: int, paddr: int, name: str,
                       shmid: int) -> int:
        """shmat's do_mmap: a System V segment's own frames (elfkit.kernel.ipc.shm), MAP_SHARED,
        at addr (MAP_FIXED) or where mmap would put them (addr 0); the address or -errno."""
        if addr:
            if addr < MMAP_MIN_ADDR:
                return -errno.EPERM
            if addr + size > USER_END:
                return -errno.ENOMEM
            self.unmap_range(addr, addr + size)
        else:
            found = self.unmapped_area_topdown(size)
            if found is None:
                return -errno.ENOMEM
            addr = found
        vma = Vma(addr, addr + size, prot, True, name, 0, (0, 1), shmid)
        self.pages.map_frames(addr, size, paddr, prot, shared=True)
        bisect.insort(self.vmas, vma, key=_vma_start)
        return addr

    def munmap(self, addr: int, length: int) -> int:
        if addr & (PAGE_SIZE - 1) or length == 0:
            return -errno.EINVAL
        if self.sealed_in(addr, addr + page_align(length)):
            return -errno.EPERM
        self.unmap_range(addr, addr + page_align(length))
        return 0

    def mprotect(self, addr: int, length: int, prot: int) -> int:
        if addr & (PAGE_SIZE - 1):
            return -errno.EINVAL
        end = addr + page_align(length)
        if not self.is_mapped(addr, end):
            return -errno.ENOMEM
        if self.sealed_in(addr, end):
            return -errno.EPERM
        if prot & PROT_WRITE and any(not v.maywrite for v in self.overlaps(addr, end)):
            return -errno.EACCES              # mprotect_fixup's VM_MAYWRITE check (made up front)
        out = []
        for v in self.vmas:
            if v.end <= addr or v.start >= end:
                out.append(v)
                continue
            if v.shared and v.mapping is not None:
                self.sync_area(v, max(v.start, addr), min(v.end, end))   # (PTEs are rewritten)
            if v.start < addr:
                out.append(self._slice(v, v.start, addr))
            mid = self._slice(v, max(v.start, addr), min(v.end, end))
            mid.prot = prot & 7
            if mid.inode and not mid.shared and prot & PROT_WRITE:
                mid.cow = True
            out.append(mid)
            if v.end > end:
                out.append(self._slice(v, end, v.end))
        self.vmas = out
        self.pages.protect(addr, end - addr, prot & 7)
        self._merge_around(addr, end)
        if len(self.machine.cpus) > 1:
            # code this process rewrote while it was writable (a JIT's W^X flip) may have been
            # translated by another CPU before: drop those blocks there (see kernel.smp)
            for paddr, n in self.pages.code_frames(addr, end - addr):
                self.machine.invalidate_others(paddr, n)
        return 0

    def mremap(self, old: int, old_size: int, new_size: int, flags: int, new_addr: int = 0) -> int:
        if old & (PAGE_SIZE - 1) or new_size == 0:
            return -errno.EINVAL
        old_size, new_size = page_align(old_size), page_align(new_size)
        vma = self.find(old)
        if vma is None or old + old_size > vma.end:
            return -errno.EFAULT
        if vma.sealed or flags & MREMAP_FIXED and self.sealed_in(new_addr, new_addr + new_size):
            return -errno.EPERM
        if flags & MREMAP_FIXED:
            if not flags & MREMAP_MAYMOVE:
                return -errno.EINVAL
            return self._move(vma, old, old_size, new_size, new_addr)
        if new_size <= old_size:
            if new_size < old_size:
                self.unmap_range(old + new_size, old + old_size)
            return old
        # grow in place when the pages after it are free
        if old + old_size == vma.end and not self.overlaps(old + old_size, old + new_size) \
                and old + new_size <= USER_END:
            grown = replace(vma, start=vma.end, end=old + new_size,
                            offset=vma.offset + (vma.end - vma.start) if vma.inode else 0)
            self.map_area(grown)
            return old
        if not flags & MREMAP_MAYMOVE:
            return -errno.ENOMEM
        target = self.unmapped_area_topdown(new_size)
        if target is None:
            return -errno.ENOMEM
        return self._move(vma, old, old_size, new_size, target)

    def _move(self, vma, old, old_size, new_size, target):
        """move_vma: the same frames at the new place (a MAP_SHARED area stays shared with the
        other processes, copy-on-write pages stay copy-on-write); a grown tail is new memory."""
        keep = min(old_size, new_size)
        self.unmap_range(target, target + new_size)
        frames = [(max(b.vaddr, old), min(b.vend, old + keep), b) for b in
                  self.pages._overlapping(old, old + keep)]
        moved = replace(vma, start=target, end=target + new_size,
                        offset=vma.offset + (old - vma.start) if vma.inode else 0)
        for lo, hi, b in frames:                        # one more holder each, then the old
            self.pages.map_frames(target + (lo - old), hi - lo, b.paddr + (lo - b.vaddr),
                                  b.prot, b.shared, get=True, code=b.code)
        bisect.insort(self.vmas, moved, key=_vma_start)     # (it keeps its file mapped)
        self.unmap_range(old, old + old_size)           # place lets go of them
        if new_size > keep and moved.shared and moved.mapping is None:
            self.pages.map(target + keep, new_size - keep, moved.prot, shared=True)
        # (a private tail, or one over a file or shmem, is filled on touch)
        self._merge_around(moved.start, moved.end)
        return target

    # --- per-area flags: mlock, mseal, mbind ----------------------------------------------------
    def sealed_in(self, start: int, end: int) -> bool:
        return any(v.sealed for v in self.overlaps(start, end))

    def set_attr(self, start: int, end: int, **attrs):
        """Give [start, end) new flags (vm_flags, vm_policy): the areas at the edges split, as
        mlock_fixup, mseal and mbind_range split them; neighbours that now agree merge."""
        out = []
        for v in self.vmas:
            if v.end <= start or v.start >= end or all(getattr(v, k) == a for k, a in attrs.items()):
                out.append(v)
                continue
            if v.start < start:
                out.append(self._slice(v, v.start, start))
            out.append(replace(self._slice(v, max(v.start, start), min(v.end, end)), **attrs))
            if v.end > end:
                out.append(self._slice(v, end, v.end))
        self.vmas = out
        self._merge_around(start, end)

    def locked_bytes(self) -> int:
        return sum(v.size for v in self.vmas if v.locked)

    def set_brk(self, new: int) -> int:
        """brk(2): returns the (possibly unchanged) break."""
        if new < self.start_brk:
            return self.brk
        old_top, new_top = page_align(self.brk), page_align(new)
        if new_top > old_top:
            if self.overlaps(old_top, new_top + PAGE_SIZE) or new_top >= self.mmap_base:
                return self.brk
            self.map_area(Vma(old_top, new_top, PROT_READ | PROT_WRITE, name="[heap]",
                              locked=self.def_locked))
        elif new_top < old_top:
            self.unmap_range(new_top, old_top)
        self.brk = new
        return self.brk

    def grow_stack(self, addr: int) -> bool:
        """A fault just below [stack]: extend it, as the kernel's expand_stack does."""
        stack = next((v for v in self.vmas if v.name == "[stack]"), None)
        if stack is None or not (self.stack_limit <= addr < stack.start):
            return False
        new_start = addr & ~(PAGE_SIZE - 1)
        if self.overlaps(new_start, stack.start):
            return False
        stack.start = new_start                 # (its pages come as they are touched)
        return True

    # --- page faults (mm/memory.c) -----------------------------------------------------------
    def handle_mm_fault(self, addr: int, access: str = "access") -> bool | None:
        """A page fault: True when the kernel fixed it (the instruction is made again) -- a
        page of an area touched for the first time, a write to a copy-on-write or zero page,
        an access just below the stack, a file page read in; False: the task gets SIGSEGV;
        VM_FAULT_SIGBUS: a file page past the end of the file (the task gets SIGBUS); None: no
        memory could be had and the OOM killer ended this task (or the machine), so it must
        not go on. access: "read", "write", "execute", or "access" when the CPU did not say."""
        vma = self.find(addr)
        if vma is None:
            if not self.grow_stack(addr):
                return False
            vma = self.find(addr)
        if not vma.prot & {"write": PROT_WRITE, "execute": PROT_EXEC}.get(access, 7):
            return False
        try:
            if self.pages.find(addr) is not None:        # present: write-protected
                return bool(vma.prot & PROT_WRITE) and self.pages.do_wp_page(addr)
            if vma.mapping is not None:
                return self.do_fault(vma, addr, addr + 1, write=access in ("write", "access"))
            if vma.shared:
                return False
            self.do_anonymous_page(vma, addr, write=access in ("write", "access"))
        except MemoryError:
            return None
        return True

    def do_anonymous_page(self, vma: Vma, addr: int, write: bool):
        """The first touch of a private page with no frame: a read maps the zero page; a write
        fresh frames for the page and the rest of its FAULT_AROUND window that has none (what
        cannot be had at once for the window is left for later faults)."""
        page = addr & ~(PAGE_SIZE - 1)
        if not write:
            self.pages.map_zero_page(page, vma.prot)
            return
        if page == self.fault_next:             # in order after the last window: a larger one
            self.fault_window = min(self.fault_window * 2, FAULT_AROUND_MAX)
        else:
            self.fault_window = FAULT_AROUND
        window = self.fault_window * PAGE_SIZE
        lo = max(vma.start, page & ~(window - 1))
        hi = min(vma.end, (page & ~(window - 1)) + window)
        self.fault_next = hi
        code = bool(vma.prot & PROT_EXEC)
        for h_lo, h_hi in list(self.pages.holes(lo, hi)):
            try:
                self.pages.map_anon(h_lo, h_hi - h_lo, vma.prot, code, oom=False)
            except MemoryError:
                if h_lo <= page < h_hi:                  # the page itself: the OOM killer's
                    self.pages.map_anon(page, PAGE_SIZE, vma.prot, code)

    def do_fault(self, vma: Vma, lo: int, hi: int, write: bool, window: bool = True):
        """do_fault for [lo, hi) of an area over a file or shmem: the pages come from the page
        cache (read from the file if they are not there yet) with the rest of the first one's
        FAULT_AROUND window that has no frame (do_fault_around, not past the end of the file)
        and are mapped -- writable into a shared area (do_shared_fault: a store is seen by
        every mapping of the file), read-only into a private one (do_read_fault), whose
        write copies the page at once (do_cow_fault). True, or VM_FAULT_SIGBUS when the
        first page lies wholly past the end of the file."""
        space = vma.mapping
        page = lo & ~(PAGE_SIZE - 1)
        size = space.file_size()
        delta = vma.offset - vma.start                  # file offset = address + delta
        if page + delta >= size:
            return VM_FAULT_SIGBUS
        if window:
            span = FAULT_AROUND * PAGE_SIZE
            lo, hi = max(vma.start, page & ~(span - 1)), max(hi, (page & ~(span - 1)) + span)
        else:
            lo, hi = page, page_align(hi)
        hi = min(vma.end, hi, page_align(size) - delta)
        if vma.shared and vma.prot & PROT_WRITE:
            space.may_dirty = True
        try:
            self._map_file_pages(vma, lo, hi, oom=False)
        except MemoryError:
            # what cannot be had at once for the window is left for later faults; the page
            # itself is the OOM killer's (a window is a costly allocation: it never kills)
            self._map_file_pages(vma, page, min(page + PAGE_SIZE, hi), oom=True)
        if write and not vma.shared and vma.prot & PROT_WRITE:
            self.pages.do_wp_page(page)         # do_cow_fault: the private copy now
        return True

    def _map_file_pages(self, vma: Vma, lo: int, hi: int, oom: bool):
        """Map the page cache's pages of `vma.mapping` into the holes of [lo, hi)."""
        space, delta = vma.mapping, vma.offset - vma.start
        code = bool(vma.prot & PROT_EXEC)
        for h_lo, h_hi in list(self.pages.holes(lo, hi)):
            n = (h_hi - h_lo) // PAGE_SIZE
            frames = space.get_pages((h_lo + delta) // PAGE_SIZE, n, oom=oom)
            i = 0
            while i < n:                        # each run of consecutive frames: one backing
                j = i + 1
                while j < n and frames[j] == frames[j - 1] + PAGE_SIZE:
                    j += 1
                self.pages.map_frames(h_lo + i * PAGE_SIZE, (j - i) * PAGE_SIZE, frames[i],
                                      vma.prot, shared=vma.shared, code=code)
                i = j

    def fill_hole(self, addr: int, write: bool) -> bool:
        """PageTables.on_hole: elfkit itself touches a page with no frame (copy_to_user, the
        exec stack, a signal frame): a page of a private area is faulted in for a write and
        reads as zeros, a file or shmem page is read in from the cache; anywhere else (or past
        the end of the file) it is a hole (False)."""
        vma = self.find(addr)
        if vma is not None and vma.mapping is not None:
            return self.do_fault(vma, addr, addr + 1, write=False) is True
        if vma is None or vma.shared:
            return False
        if write:
            self.do_anonymous_page(vma, addr, True)
        return True

    def populate(self, start: int, end: int):
        """mm_populate (MAP_POPULATE, mlock): frames for every page of [start, end) in the
        private areas there, in runs of up to POPULATE_CHUNK pages."""
        for v in self.overlaps(start, end):
            if not v.prot & 7:
                continue
            lo, hi = max(v.start, start), min(v.end, end)
            if v.mapping is not None:               # a file's pages, as far as the file goes
                for pos in range(lo, hi, POPULATE_CHUNK * PAGE_SIZE):
                    self.do_fault(v, pos, min(hi, pos + POPULATE_CHUNK * PAGE_SIZE), write=False,
                                  window=False)
                continue
            if v.shared:
                continue
            code = bool(v.prot & PROT_EXEC)
            for h_lo, h_hi in list(self.pages.holes(lo, hi)):
                pos = h_lo
                while pos < h_hi:
                    n = min(h_hi - pos, POPULATE_CHUNK * PAGE_SIZE)
                    try:
                        self.pages.map_anon(pos, n, v.prot, code, oom=False)
                    except MemoryError:
                        n = PAGE_SIZE                   # page by page, the OOM killer's way
                        self.pages.map_anon(pos, n, v.prot, code)
                    pos += n

    # --- shared file pages: write-back and truncation (mm/msync.c, mm/truncate.c) --------------
    def dirty_file_pages(self, space, lo: int = 0, hi: int | None = None) -> set[int]:
        """The page indexes of file range [lo, hi) that this mm's shared areas over `space`
        wrote since the last write-back (their PTE dirty bits, cleared as they are taken --
        unless a CPU runs this mm's guest code right now: its TLB may hold a writable entry
        whose stores would not set the bit again, so those pages stay dirty and are written
        again next time)."""
        busy = any(c.running and c.pages is self.pages and c is not self.machine.cpu
                   for c in self.machine.cpus)
        out = set()
        for v in self.vmas:
            if v.mapping is not space or not v.shared:
                continue
            delta = v.offset - v.start
            a = max(v.start, lo - delta)
            b = v.end if hi is None else min(v.end, hi - delta)
            if a < b:
                out.update((va + delta) // PAGE_SIZE for va in
                           self.pages.dirty_pages(a & ~(PAGE_SIZE - 1), page_align(b), not busy))
        if out and not busy and self.pages.on_change is not None:
            self.pages.on_change()
        return out

    def sync_area(self, vma: Vma, lo: int, hi: int) -> int:
        """msync's write-back for [lo, hi) of a shared area: 0 or -errno."""
        delta = vma.offset - vma.start
        return vma.mapping.writeback(lo + delta, hi + delta)

    def zap_file_pages(self, space, from_off: int):
        """unmap_mapping_range: this mm's pages of `space` at file offsets from_off on leave
        its areas (a private copy too, as truncate does)."""
        for v in self.vmas:
            if v.mapping is space:
                lo = max(v.start, from_off - (v.offset - v.start))
                if lo < v.end:
                    self.pages.unmap(lo, v.end - lo)

    # --- what is resident (/proc/PID/status, the OOM killer's badness) ------------------------
    def note_rss(self):
        """update_hiwater_rss: keep VmHWM, the most ever resident, before pages go (munmap,
        exit, reaping); /proc reads the larger of it and what is resident now."""
        rss = self.pages.resident()
        if rss > self.hiwater_rss:
            self.hiwater_rss = rss

    def rss_counters(self) -> tuple[int, int, int]:
        """(MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES) in bytes: private pages of this mm's own
        (anonymous, or a file page copied on write), page-cache pages mapped from a file, and
        shared anonymous or SysV pages. The zero page counts as none of them."""
        anon = file = shmem = 0
        pages, zero = self.pages, self.pages.phys.zero_page
        cache = self.cache
        for v in self.vmas:
            shm = v.shared and (v.name.startswith(("/SYSV", "/memfd:", "/dev/shm/")) or
                                v.name == "/dev/zero (deleted)")
            for b in pages._overlapping(v.start, v.end):
                if b.paddr == zero:
                    continue
                n = min(b.vend, v.end) - max(b.vaddr, v.start)
                if shm:
                    shmem += n
                elif v.shared or b.vaddr >= 0xFFFF800000000000:
                    file += n
                elif v.inode and cache is not None and cache.holds(b.paddr + max(0, v.start - b.vaddr)):
                    file += n
                else:
                    anon += n
        return anon, file, shmem

    def total_vm(self) -> int:
        return sum(v.size for v in self.vmas)

    def reap(self) -> int:
        """__oom_reap_task_mm: give back the frames of every private area now (the areas stay
        until the dying task's exit_mmap); the bytes freed."""
        before = self.pages.phys.frames.in_use
        self.note_rss()
        for v in self.vmas:
            if not v.shared:
                self.pages.unmap(v.start, v.size)
        self.oom_skip = True
        return before - self.pages.phys.frames.in_use

    # --- fork and exit ---------------------------------------------------------------------
    def dup_mmap(self) -> "Mm":
        """kernel/fork.c dup_mmap: the child's mm -- the same areas over the same frames, every
        private writable page now copy-on-write in both."""
        child = Mm(self.machine, self.mmap_base, self.start_brk, self.cache,
                   self.machine.fork_address_space(self.pages))
        child.vmas = [replace(v) for v in self.vmas]
        child.brk, child.stack_limit, child._shmem_inode = self.brk, self.stack_limit, self._shmem_inode
        child.membarrier_state = self.membarrier_state      # dup_mm copies the whole mm_struct
        child.vdso_text = self.vdso_text
        child.hiwater_rss = self.pages.resident()
        for space in {v.mapping for v in child.vmas if v.mapping is not None}:
            space.attach(child)                 # (its i_mmap: the child's areas map it too)
        # dup_mmap: a child does not inherit memory locks (VM_LOCKED is cleared, def_flags too)
        if any(v.locked for v in child.vmas):
            child.vmas = [replace(v, locked=0) for v in child.vmas]
            child._merge_around(0, USER_END)
        return child

    def mmput(self):
        """One user less; the last one frees every frame and page table (exit_mmap)."""
        self.users -= 1
        if self.users <= 0:
            self.note_rss()
            for ctx in self.ioctx_table:        # exit_aio: the contexts die with the mm
                if ctx is not None:
                    ctx.kill()
            spaces = {v.mapping for v in self.vmas if v.mapping is not None}
            for v in self.vmas:
                if v.shared and v.mapping is not None:
                    self.sync_area(v, v.start, v.end)       # what was written reaches the file
            self.pages.release()
            self.vmas = []
            for space in spaces:
                space.detach(self)

    # --- /proc/self/maps -------------------------------------------------------------------
    def maps_text(self) -> str:
        return "".join(v.maps_line() for v in self.vmas)

    # --- guest memory access with the kernel's checks --------------------------------------
    def read(self, addr: int, size: int) -> bytes | None:
        """copy_from_user: None (EFAULT) unless the range is mapped and readable."""
        if size == 0:
            return b""
        if not self._accessible(addr, addr + size, PROT_READ):
            return None
        return self.pages.read(addr, size)

    def read_u32(self, addr: int) -> int | None:
        """get_user of an aligned 32-bit word (a futex's): read() for 4 bytes, in one step --
        an aligned word lies in one page, so in one area."""
        if addr > _U32_LAST:                     # (addr: a register's value, never negative)
            return None
        vmas = self.vmas
        i = bisect.bisect_right(vmas, addr, key=_vma_start) - 1
        if i < 0:
            return None
        v = vmas[i]
        if addr >= v.end or not v.prot & PROT_READ:
            return None
        return self.pages.read_u32(addr)

    def write(self, addr: int, data: bytes) -> bool:
        """copy_to_user: False (EFAULT) unless the range is mapped and writable."""
        if not data:
            return True
        if not self._accessible(addr, addr + len(data), PROT_WRITE):
            return False
        cpu = self.machine.cpu
        try:
            if self.pages is cpu.pages:
                cpu.write(addr, data)           # drops blocks translated from what it overwrites
            else:
                self.pages.write(addr, data)
        except MemoryError:
            return False                        # no frame for it: the OOM killer ended the task
        return True

    def poke(self, addr: int, data: bytes) -> bool:
        """access_process_vm with FOLL_FORCE (ptrace's POKEDATA, /proc/PID/mem, a debugger's
        writes): a private mapping is written even where it is read-only -- code -- into a
        private copy of each page the write touches (the file and the page cache keep their
        bytes), and the blocks translated from it are dropped; a shared mapping only where it is
        writable. False (EIO) for an address with no mapping."""
        if not data:
            return True
        end = addr + len(data)
        page = addr & ~(PAGE_SIZE - 1)
        while page < end:
            vma = self.find(page)
            if vma is None or vma.shared and not vma.prot & PROT_WRITE:
                return False
            if not vma.prot & PROT_WRITE:
                at = max(page, addr)
                if self.pages.find(at) is None and not self.handle_mm_fault(at, "access"):
                    return False
                b = self.pages.find(at)
                if b is None:
                    return False
                old = b.paddr + (page - b.vaddr)
                if self.pages.phys.count(old) > 1:          # the page cache's or a fork's frame
                    self.pages._copy_page(b, page, old, 1)
            page += PAGE_SIZE
        if not self._accessible(addr, end, PROT_WRITE):
            cpu = self.machine.cpu
            self.pages.write(addr, data)
            if self.pages is cpu.pages:
                cpu.invalidate_code(addr, len(data))
            else:
                for paddr, n in self.pages.code_frames(addr, len(data)):
                    self.machine.invalidate_phys(paddr, n)
            return True
        return self.write(addr, data)

    def _accessible(self, start: int, end: int, prot: int) -> bool:
        if start < 0 or end > USER_END or end < start:
            return False
        vmas = self.vmas
        i = bisect.bisect_right(vmas, start, key=_vma_start) - 1
        if i < 0:
            return False
        pos = start
        while i < len(vmas):
            v = vmas[i]
            if v.start > pos or v.end <= pos or not v.prot & prot:
                return False
            pos = v.end
            if pos >= end:
                return True
            i += 1
        return False

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes | None:
        """strncpy_from_user: a NUL-terminated string, at most `limit` bytes."""
        out = bytearray()
        while len(out) < limit:
            v = self.find(addr + len(out))
            if v is None or not v.prot & PROT_READ:
                return None
            chunk_end = min(v.end, addr + limit)
            chunk = self.pages.read(addr + len(out), chunk_end - (addr + len(out)))
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                return bytes(out)
            out += chunk
        return None
