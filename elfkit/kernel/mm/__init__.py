"""mm/: memory management -- the address space of a process (mmap: mm_struct and its areas), the
page tables and frames under it with copy-on-write (paging), and the page cache (filemap)."""
from elfkit.kernel.mm.mmap import (MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_EXEC,
                                   PROT_READ, PROT_WRITE, Mm, Vma)

__all__ = ["Mm", "Vma", "MAP_ANONYMOUS", "MAP_FIXED", "MAP_PRIVATE", "MAP_SHARED", "PROT_READ",
           "PROT_WRITE", "PROT_EXEC"]
