"""x86-64 4-level page tables for the emulated CPU: guest virtual pages -> Unicorn physical memory.

Why elfkit turns paging on: without it, Unicorn's x86 gives every page
read+write+execute permission in its TLB, and a page that may hold code never
leaves QEMU's "not dirty" slow path, so *every* store takes a helper call
(about 8x slower on store-heavy loops; Unicorn issue #1970). With real page
tables, data pages carry NX, stores run on the fast path, and the CPU itself
enforces read-only and no-execute pages, as the MMU does for a real process.

All guest memory and the page tables come from one physical pool that is
mapped into Unicorn once, before anything runs: Unicorn does not see memory
regions mapped or unmapped while it executes until it leaves the translated
block, so elfkit never changes Unicorn's physical map mid-run and only
rewrites page tables. Host memory is committed lazily, so a large pool costs
nothing until used. Each mapping gets a contiguous run of frames; the page
tables use frames no virtual address maps, so the guest can neither see nor
change them.
"""
from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass

PAGE = 0x1000
PTE_P, PTE_W, PTE_U = 1, 2, 4
PTE_NX = 1 << 63
TABLE_FLAGS = PTE_P | PTE_W | PTE_U
POOL_BASE = 0x1_0000_0000               # the physical pool: 4 GiB .. 4 GiB + POOL_SIZE
POOL_SIZE = 8 << 30                     # reserved, not committed: pages cost host memory when used


@dataclass(slots=True)
class Backing:
    """[vaddr, vaddr+size) is held by physical [paddr, paddr+size)."""
    vaddr: int
    size: int
    paddr: int
    code: bool = False      # ever mapped executable: its frames may carry translated blocks

    @property
    def vend(self) -> int:
        return self.vaddr + self.size


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
            raise MemoryError("the emulated physical memory is exhausted")
        start = self.next
        self.next += size
        return start

    def release(self, start: int, size: int):
        bisect.insort(self.free, (start, size))
        merged: list[tuple[int, int]] = []
        for s, n in self.free:
            if merged and merged[-1][0] + merged[-1][1] == s:
                merged[-1] = (merged[-1][0], merged[-1][1] + n)
            else:
                merged.append((s, n))
        self.free = merged


class PageTables:
    """The address space as the MMU sees it; `uc` is the Unicorn engine that holds it."""

    def __init__(self, uc):
        self.uc = uc
        uc.mem_map(POOL_BASE, POOL_SIZE)                 # once, before anything runs
        self.frames = FrameAllocator(POOL_BASE, POOL_SIZE, self._zero)
        self.backings: list[Backing] = []    # sorted by vaddr, non-overlapping
        self._starts: list[int] = []
        self._tables: dict[tuple[int, int], int] = {}
        self.pml4 = self._new_table()

    def _zero(self, paddr: int, size: int):
        chunk = bytes(min(size, 1 << 20))
        for off in range(0, size, len(chunk)):
            self.uc.mem_write(paddr + off, chunk[:min(len(chunk), size - off)])

    # --- the tables ------------------------------------------------------------------------
    def _new_table(self) -> int:
        return self.frames.alloc(PAGE)

    def _table_for(self, vaddr: int, create: bool) -> int | None:
        """The page table (level 1) that holds vaddr's PTE, creating levels as needed."""
        table = self.pml4
        for level, shift in ((3, 39), (2, 30), (1, 21)):
            key = (level, vaddr >> shift)
            child = self._tables.get(key)
            if child is None:
                if not create:
                    return None
                child = self._new_table()
                self._tables[key] = child
                # the entry for this child sits in the parent at index (vaddr >> shift) & 511
                self.uc.mem_write(table + 8 * ((vaddr >> shift) & 511),
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
                self.uc.mem_write(table + 8 * ((va >> 12) & 511), struct.pack(f"<{n}Q", *words))
            va = run_end

    # --- backings ----------------------------------------------------------------------------
    def _find(self, vaddr: int) -> Backing | None:
        i = bisect.bisect_right(self._starts, vaddr) - 1
        if i >= 0 and self.backings[i].vaddr <= vaddr < self.backings[i].vend:
            return self.backings[i]
        return None

    def _insert(self, b: Backing):
        i = bisect.bisect_left(self._starts, b.vaddr)
        self.backings.insert(i, b)
        self._starts.insert(i, b.vaddr)

    def map(self, vaddr: int, size: int, prot: int):
        paddr = self.frames.alloc(size)
        b = Backing(vaddr, size, paddr, bool(prot & 4))
        self._insert(b)
        self.set_ptes(vaddr, size, pte_flags(prot), lambda va: paddr + (va - vaddr))

    def unmap(self, vaddr: int, size: int):
        end = vaddr + size
        kept = []
        for b in self.backings:
            if b.vend <= vaddr or b.vaddr >= end:
                kept.append(b)
                continue
            lo, hi = max(b.vaddr, vaddr), min(b.vend, end)
            self.frames.release(b.paddr + (lo - b.vaddr), hi - lo)
            if b.vaddr < lo:
                kept.append(Backing(b.vaddr, lo - b.vaddr, b.paddr, b.code))
            if hi < b.vend:
                kept.append(Backing(hi, b.vend - hi, b.paddr + (hi - b.vaddr), b.code))
        self.backings = sorted(kept, key=lambda b: b.vaddr)
        self._starts = [b.vaddr for b in self.backings]
        self.set_ptes(vaddr, size, 0, None)

    def protect(self, vaddr: int, size: int, prot: int):
        flags = pte_flags(prot)
        end = vaddr + size
        for b in list(self.backings):
            if b.vend <= vaddr or b.vaddr >= end:
                continue
            lo, hi = max(b.vaddr, vaddr), min(b.vend, end)
            self.set_ptes(lo, hi - lo, flags, lambda va, b=b: b.paddr + (va - b.vaddr))
            b.code |= bool(prot & 4)

    def is_physical(self, addr: int) -> bool:
        """True for an address in the physical pool elfkit hands to Unicorn."""
        return POOL_BASE <= addr < POOL_BASE + POOL_SIZE

    def code_pieces(self, vaddr: int, size: int):
        """(vaddr, length, paddr) of the parts of [vaddr, vaddr+size) whose frames ever held
        executable pages."""
        end = vaddr + size
        i = max(0, bisect.bisect_right(self._starts, vaddr) - 1)    # Cpu.write asks on every
        while i < len(self.backings) and self.backings[i].vaddr < end:   # write: no full scan
            b = self.backings[i]
            if b.code and vaddr < b.vend:
                lo, hi = max(b.vaddr, vaddr), min(b.vend, end)
                yield lo, hi - lo, b.paddr + (lo - b.vaddr)
            i += 1

    def pte_address(self, vaddr: int) -> int | None:
        """Physical address of vaddr's page table entry, if its page table exists."""
        table = self._table_for(vaddr, create=False)
        return None if table is None else table + 8 * ((vaddr >> 12) & 511)

    def pieces(self, vaddr: int, size: int):
        """(paddr, length) runs that back [vaddr, vaddr+size); KeyError at a hole."""
        end = vaddr + size
        va = vaddr
        while va < end:
            b = self._find(va)
            if b is None:
                raise KeyError(va)
            n = min(end, b.vend) - va
            yield b.paddr + (va - b.vaddr), n
            va += n
