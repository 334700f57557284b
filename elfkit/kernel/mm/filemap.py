"""mm/filemap.c: the page cache -- one set of frames per file range, shared by every process.

When exec or mmap maps a file, its pages come from here: the first mapping
reads the bytes into frames, every later one (in this process or any other)
maps the same frames. So a library mapped by a hundred processes is in memory
once, and the code Unicorn translated from it in one process is found again,
by physical address, in the next. Private writable mappings share the frames
too; the cache's own reference makes the first write to such a page copy it
(paging.PageTables.do_wp_page), as a private file page is copied on write.

A range is known by the file's identity (device, inode, mtime, size) and the
offset and length mapped, plus the content of its last page, which exec may
have cleared after the end of the file data (padzero). The cache keeps a range
after the last mapping of it goes, for the next exec of the same program; when
the machine runs out of frames, reclaim (`shrink`, what kswapd and direct
reclaim do to clean page-cache pages) drops the ranges nobody maps before the
OOM killer is asked to kill anything.
"""
from __future__ import annotations

import bisect

from elfkit.kernel.mm.paging import PAGE


class PageCache:
    def __init__(self, phys):
        self.phys = phys
        self.ranges: dict[tuple, int] = {}      # key -> first frame of a contiguous run
        self._runs: list | None = None          # sorted (start, end) of the ranges (holds)
        self._run_starts: list[int] = []

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
        if self._runs is None:
            self._runs = sorted((p, p + k[-3]) for k, p in self.ranges.items())
            self._run_starts = [r[0] for r in self._runs]
        i = bisect.bisect_right(self._run_starts, paddr) - 1
        return i >= 0 and paddr < self._runs[i][1]

    def shrink(self) -> int:
        """Reclaim: drop every range no address space maps (each of its frames held by the
        cache alone); the bytes given back."""
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
        return freed

    @property
    def size(self) -> int:
        return sum(k[-3] for k in self.ranges)
