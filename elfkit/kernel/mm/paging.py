"""x86-64 4-level page tables over one physical memory: frames, reference counts, copy-on-write.

Why elfkit turns paging on: without it, Unicorn's x86 gives every page
read+write+execute permission in its TLB, and a page that may hold code never
leaves QEMU's "not dirty" slow path, so *every* store takes a helper call
(about 8x slower on store-heavy loops; Unicorn issue #1970). With real page
tables, data pages carry NX, stores run on the fast path, and the CPU itself
enforces read-only and no-execute pages, as the MMU does for a real process.

All guest memory and the page tables come from one physical pool that is
mapped into Unicorn once, before anything runs (`PhysMem`): Unicorn does not
see memory regions mapped or unmapped while it executes, so elfkit never
changes Unicorn's physical map mid-run and only rewrites page tables. Host
memory is committed lazily, so a large pool costs nothing until used.

Every guest process has its own `PageTables` (its own PML4, which the CPU's
CR3 points at while it runs), as every mm_struct has its own pgd. A mapping is
held by `Backing` runs: contiguous virtual pages on contiguous frames. Frames
can be held by several address spaces at once (after fork, or from the page
cache): `PhysMem.refs` counts them, as struct page's _refcount does. A private
page whose frame is shared is mapped without write permission; the first
write faults, and `PageTables.do_wp_page` gives the writer its own copy
(mm/memory.c: do_wp_page, wp_page_copy) or, when it has become the last
holder, just makes the page writable again (wp_page_reuse). The page tables
use frames no virtual address maps, so the guest can neither see nor change
them.

Frames are had on demand (mm/memory.c: handle_mm_fault): an anonymous area is
only a range of addresses until a page of it is touched. A page with no frame
is a hole in the backings; the CPU's page fault or elfkit's own access to it
(`on_hole`, set by the mm that knows its areas) fills it: a write with fresh
zeroed frames (`map_anon`, do_anonymous_page), a read by the CPU with the one
shared zero page, mapped read-only, which the first write then copies as
copy-on-write copies. elfkit's own reads of a hole see the zero page without
mapping anything. The pool is as large as the machine's memory
(--memory-limit) and committed by the host only as frames are used; when none
is left, `PhysMem.on_oom` (the OOM killer) is asked to free some before an
allocation fails with OutOfMemory.
"""
from __future__ import annotations

import bisect
import ctypes
import os
import struct
from dataclasses import dataclass

PAGE = 0x1000
PTE_P, PTE_W, PTE_U = 1, 2, 4
PTE_D = 0x40                    # dirty: the CPU sets it at the first store through the entry
PTE_NX = 1 << 63
TABLE_FLAGS = PTE_P | PTE_W | PTE_U
PROT_WRITE, PROT_EXEC = 2, 4
_U32 = struct.Struct("<I")
POOL_BASE = 0x1_0000_0000               # the physical pool: 4 GiB .. 4 GiB + the machine's memory
COW_BATCH = 1       # pages copied per write fault: one, as do_wp_page (neighbours stay shared)
COSTLY_PAGES = 8    # PAGE_ALLOC_COSTLY_ORDER 3: larger runs may fail rather than kill


@dataclass(slots=True)
class Backing:
    """[vaddr, vaddr+size) is held by physical [paddr, paddr+size) with protection `prot`."""
    vaddr: int
    size: int
    paddr: int
    prot: int = 0
    shared: bool = False    # MAP_SHARED (or elfkit's own page): writes go to the shared frames
    code: bool = False      # ever mapped executable: its frames may carry translated blocks

    @property
    def vend(self) -> int:
        return self.vaddr + self.size

    def piece(self, lo: int, hi: int) -> "Backing":
        return Backing(lo, hi - lo, self.paddr + (lo - self.vaddr), self.prot, self.shared, self.code)


def pte_flags(prot: int) -> int:
    """PROT_* -> PTE bits; PROT_NONE pages are not present."""
    if not prot & 7:
        return 0
    flags = PTE_P | PTE_U
    if prot & 2:
        flags |= PTE_W
    if not prot & 4:
        flags |= PTE_NX
    return flags


class OutOfMemory(MemoryError):
    """No frame is left and the OOM killer could free none (or chose the allocating task)."""


def host_memory() -> int:
    """The host's MemTotal (/proc/meminfo): the default size of the machine's memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 8 << 30


class FrameAllocator:
    """Runs of physical frames from the pool: first fit over the freed runs, else fresh ones."""

    def __init__(self, base: int, size: int, zero):
        self.next = base
        self.end = base + size
        self.free: list[tuple[int, int]] = []       # (start, size), sorted by start
        self._zero = zero

    def alloc(self, size: int) -> int:
        for i, (start, run) in enumerate(self.free):
            if run >= size:
                if run == size:
                    del self.free[i]
                else:
                    self.free[i] = (start + size, run - size)
                self._zero(start, size)               # reused frames must read as zero
                return start
        if self.next + size > self.end:
            raise OutOfMemory("the emulated physical memory is exhausted")
        start = self.next
        self.next += size
        return start

    def release(self, start: int, size: int):
        i = bisect.bisect_left(self.free, (start, size))
        # merge with the run before and the run after, when they touch
        if i > 0 and self.free[i - 1][0] + self.free[i - 1][1] == start:
            i -= 1
            start, size = self.free[i][0], self.free[i][1] + size
            del self.free[i]
        if i < len(self.free) and start + size == self.free[i][0]:
            size += self.free[i][1]
            del self.free[i]
        self.free.insert(i, (start, size))

    @property
    def in_use(self) -> int:
        return self.next - POOL_BASE - sum(n for _s, n in self.free)

    @property
    def total(self) -> int:
        return self.end - POOL_BASE


# Where the pool goes in elfkit's own address space: far below the libraries. Linux places
# mappings top-down, so a pool mapped among them pushes everything mapped later (QEMU's
# translated-code buffer) more than 2 GiB away from libunicorn's helpers, and every call from
# translated code to a helper becomes an indirect one: CPU-bound guests ran 1.45x slower.
POOL_HOST_HINT = 0x100000000000
MAP_PRIVATE, MAP_ANONYMOUS, MAP_NORESERVE = 0x02, 0x20, 0x4000
PROT_READ_WRITE, MADV_DONTNEED = 3, 4
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mmap.restype = ctypes.c_void_p
_LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                       ctypes.c_long]
_LIBC.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def _reserve_pool(size: int) -> int:
    """An anonymous, lazily committed host mapping for the pool, at POOL_HOST_HINT if free:
    MAP_NORESERVE, so a pool as large as the host's memory costs nothing until frames are
    used, and elfkit's own RSS grows with the pages guests touch."""
    addr = _LIBC.mmap(POOL_HOST_HINT, size, PROT_READ_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
                      MAP_NORESERVE, -1, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise MemoryError(f"cannot reserve {size >> 20} MiB for the emulated physical memory: "
                          f"{os.strerror(ctypes.get_errno())}")
    return addr


class PhysMem:
    """The machine's physical memory: the pool, its frames and their reference counts.

    The pool is elfkit's own anonymous host mapping (placed far from the libraries: see
    POOL_HOST_HINT), handed to Unicorn as RAM (uc_mem_map_ptr): elfkit reads and writes guest memory through a memoryview
    of it, without a call into Unicorn, and frames handed back are returned to
    the host (MADV_DONTNEED) so they read as zero when they are used again."""

    def __init__(self, uc, size: int | None = None):
        self.uc = uc
        self.size = size = max(1 << 20, (size or host_memory()) + PAGE - 1 & ~(PAGE - 1))
        self._address = _reserve_pool(size)
        self.view = memoryview((ctypes.c_char * size).from_address(self._address)).cast("B")
        uc.mem_map_ptr(POOL_BASE, size, 7, self._address)    # once, before anything runs
        self.frames = FrameAllocator(POOL_BASE, size, self.zero)
        self.refs: dict[int, int] = {}       # frame -> holders, for frames held more than once
        self.on_code_freed = None            # callable(paddr, size): drop its translated blocks
        self.on_oom = None                   # callable(size) -> bool: memory was freed, try again
        self.trap_frame: int | None = None   # the int3 frame every address space maps (Cpu.add_trap)
        # ZERO_PAGE: what a read of untouched anonymous memory maps; never freed (one holder
        # more than its mappings), so every mapping of it is copy-on-write
        self.zero_page = self.frames.alloc(PAGE)
        self.refs[self.zero_page] = 2

    def attach(self, uc):
        """Another CPU of the same machine (an SMP machine): the same pool is its RAM too."""
        uc.mem_map_ptr(POOL_BASE, self.size, 7, self._address)

    def zero(self, paddr: int, size: int):
        off = paddr - POOL_BASE
        if size >= 1 << 16 and not off & (PAGE - 1) and not size & (PAGE - 1):
            _LIBC.madvise(ctypes.c_void_p(self._address + off), ctypes.c_size_t(size), MADV_DONTNEED)
        else:
            self.view[off:off + size] = bytes(size)

    def alloc(self, size: int, oom: bool = True) -> int:
        """Zeroed frames for `size` bytes (alloc_pages). When none are left, the OOM killer
        (`on_oom`: reclaim, then a kill) frees some and the allocation is tried again;
        OutOfMemory when it cannot (oom=False: at once, for an allocation that has a smaller
        fallback). As __alloc_pages_may_oom, a run of more than COSTLY_PAGES pages is
        reclaimed for but never kills: the OOM killer does not help a costly allocation."""
        while True:
            try:
                return self.frames.alloc(size)
            except OutOfMemory:
                if not oom or self.on_oom is None or not self.on_oom(size):
                    raise

    def count(self, paddr: int) -> int:
        return self.refs.get(paddr, 1)

    def get(self, paddr: int, size: int):
        """One more holder for each frame of [paddr, paddr+size) (get_page)."""
        refs = self.refs
        for p in range(paddr, paddr + size, PAGE):
            refs[p] = refs.get(p, 1) + 1

    def put(self, paddr: int, size: int, code: bool = False):
        """One holder less for each frame; frames nobody holds go back to the allocator
        (put_page), their translated blocks dropped first when they held code."""
        refs = self.refs
        run_start = None
        for p in range(paddr, paddr + size, PAGE):
            n = refs.get(p, 1)
            if n > 1:
                if n == 2:
                    del refs[p]
                else:
                    refs[p] = n - 1
                if run_start is not None:
                    self._free(run_start, p - run_start, code)
                    run_start = None
            elif run_start is None:
                run_start = p
        if run_start is not None:
            self._free(run_start, paddr + size - run_start, code)

    def _free(self, paddr: int, size: int, code: bool):
        # back to the allocator first: dropping the blocks may need a page-table page (the
        # scratch mapping of Cpu.invalidate_phys), and with memory exhausted only these are free
        self.frames.release(paddr, size)
        if code and self.on_code_freed is not None:
            self.on_code_freed(paddr, size)

    def any_shared(self, paddr: int, size: int) -> bool:
        refs = self.refs
        if not refs:
            return False
        first = paddr & ~(PAGE - 1)
        if size // PAGE > len(refs):
            return any(first <= p < paddr + size for p in refs)
        return any(p in refs for p in range(first, paddr + size, PAGE))

    def read(self, paddr: int, size: int) -> bytes:
        off = paddr - POOL_BASE
        return self.view[off:off + size].tobytes()

    def write(self, paddr: int, data):
        off = paddr - POOL_BASE
        self.view[off:off + len(data)] = data

    def is_physical(self, addr: int) -> bool:
        """True for an address in the physical pool elfkit hands to Unicorn."""
        return POOL_BASE <= addr < POOL_BASE + self.size


class PageTables:
    """One address space as the MMU sees it (an mm's pgd and the frames it maps)."""

    def __init__(self, phys: PhysMem):
        self.phys = phys
        self.backings: list[Backing] = []    # sorted by vaddr, non-overlapping
        self._starts: list[int] = []
        self._tables: dict[tuple[int, int], int] = {}
        self.pml4 = phys.alloc(PAGE)
        self.traps: dict[int, object] = {}   # trap address -> handler (see Cpu.add_trap)
        self.on_change = None                # callable(): permissions were taken away (flush TLB)
        self.on_remap = None                 # callable(vaddr, size): present pages got new frames
        self.watched: dict[int, int] = {}    # page -> PTE bits a debugger's watchpoint takes away
        self.on_hole = None                  # callable(vaddr, write) -> bool: fill a page elfkit touches
        self.released = False                # its frames and tables went back (CR3 must leave it)

    # --- the tables ------------------------------------------------------------------------
    def _table_for(self, vaddr: int, create: bool) -> int | None:
        """The page table (level 1) that holds vaddr's PTE, creating levels as needed."""
        table = self.pml4
        for level, shift in ((3, 39), (2, 30), (1, 21)):
            key = (level, vaddr >> shift)
            child = self._tables.get(key)
            if child is None:
                if not create:
                    return None
                child = self.phys.alloc(PAGE)
                self._tables[key] = child
                # the entry for this child sits in the parent at index (vaddr >> shift) & 511
                self.phys.write(table + 8 * ((vaddr >> shift) & 511),
                                struct.pack("<Q", child | TABLE_FLAGS))
            table = child
        return table

    def set_ptes(self, vaddr: int, size: int, flags: int, phys_for):
        """Write the PTEs of [vaddr, vaddr+size): frame phys_for(page) with `flags` (0: not present)."""
        end = vaddr + size
        va = vaddr
        while va < end:
            run_end = min(end, (va | ((1 << 21) - 1)) + 1)       # up to the end of this page table
            table = self._table_for(va, create=bool(flags))
            if table is not None:
                n = (run_end - va) // PAGE
                if flags:
                    words = [phys_for(va + i * PAGE) | flags for i in range(n)]
                else:
                    words = [0] * n
                self.phys.write(table + 8 * ((va >> 12) & 511), struct.pack(f"<{n}Q", *words))
            va = run_end
        if self.watched:
            self._apply_watch(vaddr, end)

    def _write_backing_ptes(self, b: Backing, lo: int | None = None, hi: int | None = None):
        """The PTEs of backing b (or its part [lo, hi)): a private page whose frame is shared is
        mapped without write permission, so the first write faults (copy-on-write)."""
        lo = b.vaddr if lo is None else lo
        hi = b.vend if hi is None else hi
        flags = pte_flags(b.prot)
        base = b.paddr - b.vaddr
        if flags & PTE_W and not b.shared and self.phys.any_shared(base + lo, hi - lo):
            refs = self.phys.refs
            ro = flags & ~PTE_W

            def word(va):
                p = base + va
                return p | (ro if p in refs else flags)
            self.set_ptes(lo, hi - lo, PTE_P, lambda va: 0)      # make sure the tables exist
            self._write_words(lo, hi, word)
        else:
            self.set_ptes(lo, hi - lo, flags, lambda va: base + va)

    def _write_words(self, lo: int, hi: int, word):
        va = lo
        while va < hi:
            run_end = min(hi, (va | ((1 << 21) - 1)) + 1)
            table = self._table_for(va, create=True)
            n = (run_end - va) // PAGE
            self.phys.write(table + 8 * ((va >> 12) & 511),
                            struct.pack(f"<{n}Q", *[word(va + i * PAGE) for i in range(n)]))
            va = run_end
        if self.watched:
            self._apply_watch(lo, hi)

    # --- a debugger's watchpoints: pages the CPU may not write (or touch) ----------------------
    def _apply_watch(self, lo: int, hi: int):
        """Take the watched pages' bits (PTE_W: a write watchpoint; PTE_P: a read or access
        one) out of their PTEs in [lo, hi), whatever wrote them (a fault, a copy-on-write,
        mprotect, fork)."""
        for page, bits in self.watched.items():
            if lo <= page < hi:
                at = self.pte_address(page)
                if at is not None:
                    word = struct.unpack("<Q", self.phys.read(at, 8))[0]
                    if word & PTE_P:
                        self.phys.write(at, struct.pack("<Q", word & ~bits))

    def watch_page(self, page: int, bits: int | None):
        """Watch `page` (accesses the PTE's `bits` allow fault from now on), or stop watching
        it (bits None: its PTE made again from its backing); the TLB is flushed."""
        if bits:
            self.watched[page] = bits
            self._apply_watch(page, page + PAGE)
        else:
            self.watched.pop(page, None)
            b = self.find(page)
            if b is not None:
                flags = pte_flags(b.prot) & ~PTE_W if b.paddr == self.phys.zero_page else None
                if flags is None:
                    self._write_backing_ptes(b, page, page + PAGE)
                else:
                    self.set_ptes(page, PAGE, flags, lambda va: b.paddr)
        if self.on_change is not None:
            self.on_change()

    def pte_address(self, vaddr: int) -> int | None:
        """Physical address of vaddr's page table entry, if its page table exists."""
        table = self._table_for(vaddr, create=False)
        return None if table is None else table + 8 * ((vaddr >> 12) & 511)

    # --- backings ----------------------------------------------------------------------------
    def find(self, vaddr: int) -> Backing | None:
        i = bisect.bisect_right(self._starts, vaddr) - 1
        if i >= 0 and self.backings[i].vaddr <= vaddr < self.backings[i].vend:
            return self.backings[i]
        return None

    def _insert(self, b: Backing):
        i = bisect.bisect_left(self._starts, b.vaddr)
        self.backings.insert(i, b)
        self._starts.insert(i, b.vaddr)

    def _replace(self, old: Backing, new: list[Backing]):
        i = bisect.bisect_left(self._starts, old.vaddr)
        self.backings[i:i + 1] = new
        self._starts[i:i + 1] = [b.vaddr for b in new]

    def map(self, vaddr: int, size: int, prot: int, shared: bool = False):
        """Fresh zeroed frames for [vaddr, vaddr+size)."""
        paddr = self.phys.alloc(size)
        self.map_frames(vaddr, size, paddr, prot, shared, get=False)

    # --- demand paging (mm/memory.c) -----------------------------------------------------------
    def holes(self, lo: int, hi: int):
        """The runs of [lo, hi) that no backing holds: pages with no frame yet."""
        pos = lo
        for b in self._overlapping(lo, hi):
            if b.vaddr > pos:
                yield pos, b.vaddr
            pos = max(pos, b.vend)
        if pos < hi:
            yield pos, hi

    def map_anon(self, vaddr: int, size: int, prot: int, code: bool = False, oom: bool = True):
        """do_anonymous_page: fresh zeroed frames for a hole [vaddr, vaddr+size). A run that
        continues the one before it in both address spaces (the next pages of a buffer touched
        in order, on the next frames) joins it: one backing, however many faults made it."""
        paddr = self.phys.alloc(size, oom=oom)
        i = bisect.bisect_left(self._starts, vaddr)
        prev = self.backings[i - 1] if i > 0 else None
        if prev is not None and prev.vend == vaddr and prev.paddr + prev.size == paddr and \
                prev.prot == prot and not prev.shared and prev.code == code and \
                prev.paddr != self.phys.zero_page:
            prev.size += size
        else:
            self._insert(Backing(vaddr, size, paddr, prot, False, code))
        self.set_ptes(vaddr, size, pte_flags(prot), lambda va: paddr + (va - vaddr))

    def map_zero_page(self, vaddr: int, prot: int):
        """A read of untouched anonymous memory: the shared zero page, read-only (the first
        write copies it, as do_wp_page copies any shared page)."""
        zero = self.phys.zero_page
        self.phys.get(zero, PAGE)
        self._insert(Backing(vaddr, PAGE, zero, prot, False, False))
        self.set_ptes(vaddr, PAGE, pte_flags(prot) & ~PTE_W, lambda va: zero)

    def page_tables_bytes(self) -> int:
        """mm_pgtables_bytes: the page-table pages below the PML4."""
        return len(self._tables) * PAGE

    def map_frames(self, vaddr: int, size: int, paddr: int, prot: int, shared: bool = False,
                   get: bool = True, code: bool = False):
        """Map existing frames (the page cache's, elfkit's trap page); get: count this holder."""
        if get:
            self.phys.get(paddr, size)
        b = Backing(vaddr, size, paddr, prot, shared, code or bool(prot & PROT_EXEC))
        self._insert(b)
        self._write_backing_ptes(b)

    def _overlapping(self, vaddr: int, end: int) -> list[Backing]:
        i = max(0, bisect.bisect_right(self._starts, vaddr) - 1)
        out = []
        while i < len(self.backings) and self.backings[i].vaddr < end:
            if self.backings[i].vend > vaddr:
                out.append(self.backings[i])
            i += 1
        return out

    def unmap(self, vaddr: int, size: int):
        end = vaddr + size
        for b in self._overlapping(vaddr, end):
            lo, hi = max(b.vaddr, vaddr), min(b.vend, end)
            self.phys.put(b.paddr + (lo - b.vaddr), hi - lo, b.code)
            keep = []
            if b.vaddr < lo:
                keep.append(b.piece(b.vaddr, lo))
            if hi < b.vend:
                keep.append(b.piece(hi, b.vend))
            self._replace(b, keep)
        self.set_ptes(vaddr, size, 0, None)
        if self.on_change is not None:
            self.on_change()

    def protect(self, vaddr: int, size: int, prot: int):
        end = vaddr + size
        for b in self._overlapping(vaddr, end):
            lo, hi = max(b.vaddr, vaddr), min(b.vend, end)
            parts = []
            if b.vaddr < lo:
                parts.append(b.piece(b.vaddr, lo))
            mid = b.piece(lo, hi)
            mid.prot = prot
            mid.code |= bool(prot & PROT_EXEC)
            parts.append(mid)
            if hi < b.vend:
                parts.append(b.piece(hi, b.vend))
            self._replace(b, parts)
            self._write_backing_ptes(mid)
        if self.on_change is not None:
            self.on_change()

    # --- fork and copy-on-write --------------------------------------------------------------
    def fork(self) -> "PageTables":
        """copy_page_range: a new address space holding the same frames. Private writable pages
        become read-only on both sides; the first write to one copies it (do_wp_page)."""
        child = PageTables(self.phys)
        child.traps = dict(self.traps)
        for b in self.backings:
            self.phys.get(b.paddr, b.size)
            c = b.piece(b.vaddr, b.vend)
            child.backings.append(c)
            child._starts.append(c.vaddr)
            # every frame of the run is now held twice: private pages read-only on both sides
            flags = pte_flags(b.prot) & ~(0 if b.shared else PTE_W)
            child.set_ptes(c.vaddr, c.size, flags, lambda va, base=c.paddr - c.vaddr: base + va)
            if b.prot & PROT_WRITE and not b.shared:
                self.set_ptes(b.vaddr, b.size, flags, lambda va, base=b.paddr - b.vaddr: base + va)
        if self.on_change is not None:
            self.on_change()
        return child

    def do_wp_page(self, vaddr: int) -> bool:
        """A write fault on a present page: True when it was copy-on-write and is now writable."""
        b = self.find(vaddr)
        if b is None or b.shared or not b.prot & PROT_WRITE:
            return False
        va = vaddr & ~(PAGE - 1)
        old = b.paddr + (va - b.vaddr)
        pte = self.pte_address(va)
        if pte is None or struct.unpack("<Q", self.phys.read(pte, 8))[0] & PTE_W:
            return False                     # writable already: not a write-protect fault
        if self.phys.count(old) == 1:
            # wp_page_reuse: the last holder; the rest of the run is likely the same (a
            # child exited or exec'ed), so make every page of it that is alone writable.
            self._write_backing_ptes(b)
            return True
        # wp_page_copy: a copy of this page only; the untouched ones stay shared
        n = min(COW_BATCH, (b.vend - va) // PAGE)
        self._copy_page(b, va, old, n)
        return True

    def _copy_page(self, b: Backing, va: int, old: int, pages: int = 1):
        """wp_page_copy: frames of our own with the same bytes, in place of the shared ones."""
        size = pages * PAGE
        new = self.phys.alloc(size)
        self.phys.write(new, self.phys.read(old, size))
        self.phys.put(old, size)
        parts = []
        if b.vaddr < va:
            parts.append(b.piece(b.vaddr, va))
        mine = Backing(va, size, new, b.prot, False, b.code)
        parts.append(mine)
        if va + size < b.vend:
            parts.append(b.piece(va + size, b.vend))
        self._replace(b, parts)
        # consecutive copies get consecutive frames: keep them one run
        i = bisect.bisect_left(self._starts, va)
        if i > 0:
            prev = self.backings[i - 1]
            if prev.vend == va and prev.paddr + prev.size == new and prev.prot == mine.prot \
                    and not prev.shared and prev.code == mine.code:
                prev.size += size
                del self.backings[i]
                del self._starts[i]
        self.set_ptes(va, size, pte_flags(b.prot), lambda v: new + (v - va))
        if b.code and self.on_change is not None:
            self.on_change()        # the CPU's virtual-pc cache may still hold the old code
        elif self.on_remap is not None:
            # a TLB entry filled by a read still points at the old frame: the faulting store's
            # refill replaces it on this CPU, but not a copy elfkit made (copy_to_user), nor
            # the entry another CPU kept from when it last ran this address space
            self.on_remap(va, size)

    def release(self):
        """exit_mmap + free_pgtables: every frame and page table of this address space."""
        for b in self.backings:
            self.phys.put(b.paddr, b.size, b.code)
        self.backings, self._starts = [], []
        for t in self._tables.values():
            self.phys.frames.release(t, PAGE)
        self.phys.frames.release(self.pml4, PAGE)
        self._tables = {}
        self.released = True

    # --- access by elfkit (copy_from_user / copy_to_user go through these) -------------------
    def code_frames(self, vaddr: int, size: int):
        """(paddr, length) of the frames behind [vaddr, vaddr+size) that ever held executable
        pages (and so may carry translated blocks), from the start of the first one's page: a
        piece of one backing is contiguous in physical memory."""
        end = vaddr + size
        for b in self._overlapping(vaddr, end):
            if b.code:
                lo, hi = max(b.vaddr, vaddr), min(b.vend, end)
                paddr = b.paddr + (lo - b.vaddr)
                start = paddr & ~(PAGE - 1)
                yield start, paddr + (hi - lo) - start

    def pieces(self, vaddr: int, size: int, write: bool = False):
        """(paddr, length) runs that back [vaddr, vaddr+size); KeyError at a hole no area
        covers. A page of an area that has no frame yet is faulted in for a write (on_hole),
        and reads as the zero page. write=True: a private page whose frame is shared is copied
        first, as a store by the CPU would."""
        end = vaddr + size
        va = vaddr
        while va < end:
            b = self.find(va)
            if b is None:
                if self.on_hole is None or not self.on_hole(va, write):
                    raise KeyError(va)
                if write or self.find(va) is not None:
                    continue                            # filled: look the page up again
                n = min(end, (va | (PAGE - 1)) + 1) - va
                yield self.phys.zero_page + (va & (PAGE - 1)), n
                va += n
                continue
            n = min(end, b.vend) - va
            if write and not b.shared and self.phys.any_shared(b.paddr + (va - b.vaddr), n):
                page = va & ~(PAGE - 1)
                old = b.paddr + (page - b.vaddr)
                if self.phys.count(old) > 1:
                    self._copy_page(b, page, old)       # (its TLB entries go) then look again
                    continue
                n = min(n, page + PAGE - va)
            yield b.paddr + (va - b.vaddr), n
            va += n

    def read(self, vaddr: int, size: int) -> bytes:
        if size == 0:
            return b""
        b = self.find(vaddr)
        if b is not None and vaddr + size <= b.vaddr + b.size:      # one run: the common case
            return self.phys.read(b.paddr + (vaddr - b.vaddr), size)
        parts = [self.phys.read(pa, n) for pa, n in self.pieces(vaddr, size)]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_u32(self, vaddr: int) -> int:
        """read(vaddr, 4) of an aligned word, as a number (a futex's): find() and the frame's
        word, in one step and with no bytes made."""
        i = bisect.bisect_right(self._starts, vaddr) - 1
        if i >= 0:
            b = self.backings[i]
            if vaddr < b.vaddr + b.size:
                return _U32.unpack_from(self.phys.view, b.paddr + (vaddr - b.vaddr) - POOL_BASE)[0]
        return int.from_bytes(self.read(vaddr, 4), "little")

    def write(self, vaddr: int, data: bytes):
        b = self.find(vaddr)
        if b is not None and vaddr + len(data) <= b.vaddr + b.size and \
                (b.shared or not self.phys.refs or
                 not self.phys.any_shared(b.paddr + (vaddr - b.vaddr), len(data))):
            self.phys.write(b.paddr + (vaddr - b.vaddr), data)      # one run, no copy to make
            return
        data = bytes(data)
        pos = 0
        for pa, n in self.pieces(vaddr, len(data), write=True):
            self.phys.write(pa, data[pos:pos + n])
            pos += n

    def dirty_pages(self, lo: int, hi: int, clear: bool) -> list[int]:
        """The pages of [lo, hi) held by shared backings whose PTE has the dirty bit (a store
        went through it since it was mapped or last cleared); clear: clear those bits (the
        caller flushes the TLB, or a store through a stale entry would not set them again)."""
        out = []
        phys = self.phys
        for b in self._overlapping(lo, hi):
            if not b.shared:
                continue
            va, end = max(b.vaddr, lo), min(b.vend, hi)
            while va < end:
                run_end = min(end, (va | ((1 << 21) - 1)) + 1)
                table = self._table_for(va, create=False)
                if table is not None:
                    n = (run_end - va) // PAGE
                    at = table + 8 * ((va >> 12) & 511)
                    words = list(struct.unpack(f"<{n}Q", phys.read(at, 8 * n)))
                    hit = [i for i, w in enumerate(words) if w & PTE_D]
                    if hit:
                        out.extend(va + i * PAGE for i in hit)
                        if clear:
                            for i in hit:
                                words[i] &= ~PTE_D
                            phys.write(at, struct.pack(f"<{n}Q", *words))
                va = run_end
        return out

    def resident(self) -> int:
        """Bytes of frames mapped (VmRSS): pages touched, not the zero page."""
        zero = self.phys.zero_page
        return sum(b.size for b in self.backings if b.paddr != zero)
