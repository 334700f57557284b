"""mm/: memory management -- the address space of a process (mmap: mm_struct and its areas, demand
paging), the page tables and frames under it with copy-on-write (paging), the page cache
(filemap), and the OOM killer for when frames run out (oom_kill)."""
from elfkit.kernel.mm.mmap import (MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_EXEC,
                                   PROT_READ, PROT_WRITE, Mm, Vma)

__all__ = ["Mm", "Vma", "MAP_ANONYMOUS", "MAP_FIXED", "MAP_PRIVATE", "MAP_SHARED", "PROT_READ",
           "PROT_WRITE", "PROT_EXEC"]
