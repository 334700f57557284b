"""x86-64 4-level page tables for the emulated CPU: guest virtual pages -> Unicorn physical memory.

Why elfkit turns paging on: without it, Unicorn's x86 gives every page
read+write+execute permission in its TLB, and a page that may hold code never
leaves QEMU's "not dirty" slow path, so *every* store takes a helper call
(about 8x slower on store-heavy loops; Unicorn issue #1970). With real page
tables, data pages carry NX, stores run on the fast path, and the CPU itself
enforces read-only and no-execute pages, as the MMU does for a real process.

Each mapping gets its own contiguous physical range (Unicorn memory regions
are physical); the page tables live in a pool of their own that no virtual
address maps, so the guest can neither see nor change them.
"""
from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass

PAGE = 0x1000
PTE_P, PTE_W, PTE_U = 1, 2, 4
PTE_NX = 1 << 63
TABLE_FLAGS = PTE_P | PTE_W | PTE_U
PHYS_DATA_BASE = 0x1_0000_0000          # guest memory frames from 4 GiB up
PHYS_DATA_LIMIT = 1 << 40               # the emulated CPU's physical address width
PHYS_TABLE_BASE = 0x1000_0000           # page-table pages: 256 MiB .. 4 GiB
TABLE_CHUNK = 64                        # page-table pages mapped per Unicorn region


@dataclass(slots=True)
class Backing:
    """[vaddr, vaddr+size) is held by physical [paddr, paddr+size)."""
    vaddr: int
    size: int
    paddr: int

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


class PageTables:
    """The address space as the MMU sees it; `uc` is the Unicorn engine that holds it."""

    def __init__(self, uc, mem_map, mem_unmap):
        self.uc = uc
        self._map = mem_map                  # (paddr, size) -> None: create physical memory
        self._unmap = mem_unmap
        self.backings: list[Backing] = []    # sorted by vaddr, non-overlapping
        self._starts: list[int] = []
        self._next_phys = PHYS_DATA_BASE
        self._free_tables: list[int] = []
        self._next_table = PHYS_TABLE_BASE
        self._tables: dict[tuple[int, int], int] = {}
        self.pml4 = self._new_table()

    # --- the tables ------------------------------------------------------------------------
    def _new_table(self) -> int:
        if not self._free_tables:
            self._map(self._next_table, TABLE_CHUNK * PAGE)
            self._free_tables = [self._next_table + i * PAGE for i in range(TABLE_CHUNK - 1, -1, -1)]
            self._next_table += TABLE_CHUNK * PAGE
        return self._free_tables.pop()

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
        paddr = self._next_phys
        if paddr + size > PHYS_DATA_LIMIT:
            raise MemoryError("emulated physical memory exhausted")
        self._next_phys += size
        self._map(paddr, size)
        b = Backing(vaddr, size, paddr)
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
            self._unmap(b.paddr + (lo - b.vaddr), hi - lo)
            if b.vaddr < lo:
                kept.append(Backing(b.vaddr, lo - b.vaddr, b.paddr))
            if hi < b.vend:
                kept.append(Backing(hi, b.vend - hi, b.paddr + (hi - b.vaddr)))
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

    def is_physical(self, addr: int) -> bool:
        """True for an address in the physical ranges elfkit hands to Unicorn."""
        return PHYS_TABLE_BASE <= addr < self._next_table or PHYS_DATA_BASE <= addr < self._next_phys

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
