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
have cleared after the end of the file data (padzero). Nothing is evicted yet:
the next issue's reclaim and OOM killer are where that belongs.
"""
from __future__ import annotations

from elfkit.kernel.mm.paging import PAGE


class PageCache:
    def __init__(self, phys):
        self.phys = phys
        self.ranges: dict[tuple, int] = {}      # key -> first frame of a contiguous run

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
        return paddr

    @property
    def size(self) -> int:
        return sum(k[-3] for k in self.ranges)
