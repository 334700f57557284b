"""One loaded object (glibc's struct link_map, musl's struct dso), and mapping it (dl-map-segments.h).

Mapping follows _dl_map_segments: one mmap reserves the whole span with the
first segment's file pages, each further PT_LOAD is mapped MAP_FIXED over
it, the tail of the last file page of a segment with bss is zeroed, the rest
of the bss is anonymous memory, and holes between segments become PROT_NONE.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from elfkit.elf import ElfFile
from elfkit.elf.constants import DT, PF, PT
from elfkit.elf.hash import read_gnu_hash, read_sysv_hash
from elfkit.kernel.mm import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE
from elfkit.loader.layout import page_align, page_start


class LinkError(Exception):
    """ld.so would stop here: a missing library or symbol, an unsupported relocation."""


# What a damaged object makes the linker's Python code raise where glibc's ld.so, running in
# the process, would read or write outside the object and die of SIGSEGV: a symbol or
# relocation index past its table (IndexError), an address no area maps (the page tables'
# KeyError), a value that does not fit its field (struct.error, OverflowError, ValueError).
DAMAGE = (IndexError, KeyError, struct.error, OverflowError, ValueError)


def damage_error(path: str | None, e: Exception) -> LinkError:
    """The one-line LinkError for a DAMAGE exception met while linking or binding `path` (None:
    the program, which the caller's message names already)."""
    if isinstance(e, KeyError) and e.args and isinstance(e.args[0], int):
        why = f"it makes the linker touch {e.args[0]:#x}, which no area maps"
    elif isinstance(e, IndexError):
        why = f"an index in its tables is out of range ({e})"
    else:
        why = f"a value in its tables does not fit ({type(e).__name__}: {e})"
    return LinkError(f"{path + ': ' if path else ''}damaged object: {why} (ld.so would fault here)")


@dataclass
class Dso:
    id: int
    name: str                      # as asked for (DT_NEEDED, or the program's path)
    path: str                      # guest path it was loaded from
    host_path: str
    elf: ElfFile
    base: int                      # l_addr: load bias
    loader: "Dso | None" = None
    is_main: bool = False
    deps: list["Dso"] = field(default_factory=list)
    tls_module: int = 0            # 0: no PT_TLS
    tls_offset: int = 0            # its static TLS block lies at tp - tls_offset
    relocated: bool = False
    initialized: bool = False
    real_path: str = ""

    # --- the dynamic section, as ld.so reads it ----------------------------------------------
    @property
    def dyn(self):
        return self.elf.dynamic

    def dt(self, tag) -> int | None:
        return self.dyn.value(tag) if self.dyn is not None else None

    @property
    def origin(self) -> str:
        """$ORIGIN: the directory of the object, absolute and with links resolved (as ld.so
        takes it from the kernel's AT_EXECFN/realpath for the program, l_name for libraries)."""
        return os.path.dirname(self.real_path or self.path) or "/"

    @property
    def rpath(self) -> str | None:
        return self._string(DT.RPATH)

    @property
    def runpath(self) -> str | None:
        return self._string(DT.RUNPATH)

    @property
    def soname(self) -> str | None:
        return self._string(DT.SONAME)

    @property
    def needed(self) -> list[str]:
        return self.dyn.needed if self.dyn is not None else []

    @property
    def flags(self) -> int:
        return self.dyn.flags if self.dyn is not None else 0

    @property
    def flags_1(self) -> int:
        return self.dyn.flags_1 if self.dyn is not None else 0

    def _string(self, tag) -> str | None:
        if self.dyn is None:
            return None
        v = self.dyn.strings(tag)
        return v[0] if v else None

    # --- symbols -----------------------------------------------------------------------------
    @property
    def symbols(self):
        return self.elf.dynsym.symbols if self.elf.dynsym is not None else []

    def hash_tables(self):
        """(GNU hash table or None, SysV hash table or None), read once."""
        if not hasattr(self, "_hashes"):
            gnu = sysv = None
            for tag in (DT.GNU_HASH, DT.HASH):
                addr = self.dt(tag)
                off = self.elf.vaddr_to_offset(addr) if addr is not None else None
                if off is None:
                    continue
                if tag == DT.GNU_HASH:
                    gnu = read_gnu_hash(self.elf, off)
                else:
                    sysv = read_sysv_hash(self.elf, off)
            self._hashes = (gnu, sysv)
        return self._hashes

    def jmprel(self):
        """The PLT relocations, read from DT_JMPREL/DT_PLTRELSZ as ld.so reads them (a section
        table could share their offset: ld puts an empty .rela.dyn right there)."""
        from elfkit.elf.relocations import RelocationTable, decode_rel
        addr, size = self.dt(DT.JMPREL), self.dt(DT.PLTRELSZ)
        if addr is None or not size:
            return None
        off = self.elf.vaddr_to_offset(addr)
        if off is None or off + size > self.elf.size:
            return None
        rela = self.dt(DT.PLTREL) != DT.REL
        return RelocationTable(".rela.plt" if rela else ".rel.plt", off, "RELA" if rela else "REL",
                               decode_rel(self.elf, off, size, rela), size=size)

    def tls_segment(self):
        return next((s for s in self.elf.segments if s.type == PT.TLS), None)

    def relro(self):
        return next((s for s in self.elf.segments if s.type == PT.GNU_RELRO), None)

    def __repr__(self):
        return f"<Dso {self.id} {self.name} @ {self.base:#x}>"


class FileForMapping:
    """What Mm.mmap needs of a file: the name /proc/self/maps shows, stat(), pread()."""

    def __init__(self, host_path: str, shown: str):
        self.host_path = host_path
        self.path = shown
        self._fd = os.open(host_path, os.O_RDONLY | os.O_CLOEXEC)

    def stat(self):
        return os.fstat(self._fd)

    def pread(self, n: int, off: int) -> bytes:
        return os.pread(self._fd, n, off)

    def close(self):
        os.close(self._fd)


def _prot(flags: int) -> int:
    return (1 if flags & PF.R else 0) | (2 if flags & PF.W else 0) | (4 if flags & PF.X else 0)


def map_object(proc, elf: ElfFile, host_path: str, shown: str) -> int:
    """Map `elf` into proc's address space as ld.so does; returns the load bias (l_addr)."""
    loads = elf.load_segments
    if not loads:
        raise LinkError(f"{shown}: no PT_LOAD segment")
    first = loads[0]
    lo = page_start(first.vaddr)
    hi = page_align(elf.load_extent[1])
    f = FileForMapping(host_path, shown)
    try:
        mm = proc.mm
        # 1. reserve the span with the first segment
        start = mm.mmap(0 if elf.header.type != 2 else lo, hi - lo, _prot(first.flags),
                        MAP_PRIVATE | (MAP_FIXED if elf.header.type == 2 else 0), f,
                        page_start(first.offset))
        if start < 0:
            raise LinkError(f"{shown}: cannot map {hi - lo:#x} bytes (errno {-start})")
        bias = start - lo
        # 2. each segment over it; holes PROT_NONE
        prev_end = None
        for seg in loads:
            seg_start = page_start(bias + seg.vaddr)
            file_end = page_align(bias + seg.vaddr + seg.filesz)
            mem_end = page_align(bias + seg.vaddr + seg.memsz)
            if prev_end is not None and seg_start > prev_end:
                mm.mprotect(prev_end, seg_start - prev_end, 0)
            if seg is not first and seg.filesz:
                mm.mmap(seg_start, file_end - seg_start, _prot(seg.flags), MAP_PRIVATE | MAP_FIXED, f,
                        page_start(seg.offset))
            if seg.memsz > seg.filesz:
                zero_from = bias + seg.vaddr + seg.filesz
                zero_to = min(file_end, bias + seg.vaddr + seg.memsz)
                if seg.filesz and zero_to > zero_from:
                    proc.cpu.write(zero_from, bytes(zero_to - zero_from))
                if mem_end > file_end:
                    mm.mmap(file_end, mem_end - file_end, _prot(seg.flags),
                            MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS)
            prev_end = mem_end
        return bias
    finally:
        f.close()
