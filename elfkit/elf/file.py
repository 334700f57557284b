"""An ELF file opened for reading: bounded access to its bytes, and each view decoded once.

Everything taken from the file (offsets, counts, sizes, string indices) is
checked against the file's size before it is used; damage found while
decoding a view is recorded in `warnings` and that view comes back empty or
partial, the way readelf keeps going after a complaint.
"""
from __future__ import annotations

import mmap
import os

from elfkit.errors import ElfFormatError, InputError
from elfkit.elf.header import ElfHeader, parse_header
from elfkit.elf.record import cached_property


def map_readonly(path: str, kind: str):
    """The bytes of the regular file `path`, mapped read-only (read, where it cannot be
    mapped); a directory, a pipe or device, an empty file or an unreadable one is one
    InputError/ElfFormatError naming it (`kind`: what it should have been, "an ELF file")."""
    import stat as stat_mod
    try:
        st = os.stat(path)
        if stat_mod.S_ISDIR(st.st_mode):
            raise InputError(path, f"is a directory, not {kind}")
        if not stat_mod.S_ISREG(st.st_mode):
            raise InputError(path, "is not an ordinary file (a pipe, socket or device)")
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise ElfFormatError(path, f"empty file, not {kind}")
            try:
                return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                return f.read()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None


class ElfFile:
    """One ELF file. Views (`sections`, `segments`, `dynamic`, ...) are decoded on first use."""

    def __init__(self, path: str, data):
        self.path = str(path)
        self.data = data                      # bytes or a read-only mmap
        self.size = len(data)
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._suppressed = 0
        self.warn_log: list[str] | None = None  # every warn() call, when a list (render/split.py)
        self.header: ElfHeader = parse_header(self)
        self.fmt = self.header.fmt           # struct formats for this class/byte order

    # --- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path) -> "ElfFile":
        """Map a regular file read-only; anything else is an InputError naming the problem."""
        path = os.fspath(path)
        return cls(path, map_readonly(path, "an ELF file"))

    @classmethod
    def from_bytes(cls, data: bytes, path: str = "<bytes>") -> "ElfFile":
        return cls(path, bytes(data))

    def close(self):
        if isinstance(self.data, mmap.mmap):
            # Views may still hold memoryviews of the map; let GC close it then.
            try:
                self.data.close()
            except BufferError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- bounded access --------------------------------------------------------------------
    def check_range(self, offset: int, size: int, what: str) -> bool:
        """True if [offset, offset+size) lies in the file; otherwise record why not."""
        if offset < 0 or size < 0 or offset + size > self.size:
            self.warn(f"{what} at offset {offset:#x} size {size:#x} lies outside the file "
                      f"(file size {self.size:#x})")
            return False
        return True

    def header_table(self, offset: int, count: int, entsize: int, fmt, entsize_field: str,
                     what: str) -> list[tuple]:
        """The `count` entries of the section or program header table at `offset`, unpacked
        with `fmt`: [] when there is none, and [] with one warning when its entry size is not
        fmt's or it runs past the end of the file."""
        if offset == 0 or count == 0:
            return []
        if entsize != fmt.size:
            self.warn(f"{entsize_field} is {entsize}, expected {fmt.size}: {what}s not read")
            return []
        if not self.check_range(offset, count * entsize, f"{what} table ({count} entries)"):
            return []
        return [fmt.unpack_from(self.data, offset + i * entsize) for i in range(count)]

    def read(self, offset: int, size: int, what: str) -> bytes:
        """Bytes [offset, offset+size), or ElfFormatError naming what was wanted."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise ElfFormatError(self.path, f"{what} (size {size:#x}) lies outside the file "
                                            f"(file size {self.size:#x})", offset)
        return self.data[offset:offset + size]

    MAX_WARNINGS = 50

    def warn(self, message: str):
        """Record damage once, on one printable line; past MAX_WARNINGS, only count it."""
        message = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in message)
        if self.warn_log is not None:
            self.warn_log.append(message)
        if message in self._warned:
            return
        self._warned.add(message)
        if len(self.warnings) < self.MAX_WARNINGS:
            self.warnings.append(message)
            return
        self._suppressed += 1
        note = f"... and {self._suppressed} more problems of this file not shown"
        if self.warnings[-1].startswith("... and "):
            self.warnings[-1] = note
        else:
            self.warnings.append(note)

    def cstring(self, offset: int, limit: int | None = None) -> str | None:
        """The NUL-terminated string at file offset `offset` (None if out of range)."""
        end_limit = self.size if limit is None else min(limit, self.size)
        if offset < 0 or offset >= end_limit:
            return None
        end = self.data.find(b"\0", offset, end_limit)
        if end < 0:
            end = end_limit
        return self.data[offset:end].decode("utf-8", "backslashreplace")

    # --- addresses -------------------------------------------------------------------------
    def vaddr_to_offset(self, vaddr: int) -> int | None:
        """File offset holding virtual address `vaddr`, through the PT_LOAD segments."""
        for seg in self.load_segments:
            if seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return seg.offset + (vaddr - seg.vaddr)
        return None

    # --- views -----------------------------------------------------------------------------
    @cached_property
    def sections(self):
        from elfkit.elf.sections import read_sections
        return read_sections(self)

    @cached_property
    def segments(self):
        from elfkit.elf.segments import read_segments
        return read_segments(self)

    @cached_property
    def load_segments(self):
        from elfkit.elf.constants import PT
        return [s for s in self.segments if s.type == PT.LOAD]

    @cached_property
    def load_extent(self) -> tuple[int, int] | None:
        """(lowest p_vaddr, highest p_vaddr + p_memsz) of the PT_LOAD segments, unaligned;
        None without any."""
        loads = self.load_segments
        if not loads:
            return None
        return min(s.vaddr for s in loads), max(s.vaddr + s.memsz for s in loads)

    @cached_property
    def dynamic(self):
        from elfkit.elf.dynamic import read_dynamic
        return read_dynamic(self)

    @cached_property
    def symbol_tables(self):
        from elfkit.elf.symbols import read_symbol_tables
        return read_symbol_tables(self)

    @cached_property
    def dynsym(self):
        from elfkit.elf.symbols import read_dynsym
        return read_dynsym(self)

    @cached_property
    def versions(self):
        from elfkit.elf.versions import read_versions
        return read_versions(self)

    @cached_property
    def relocation_tables(self):
        from elfkit.elf.relocations import read_relocation_tables
        return read_relocation_tables(self)

    @cached_property
    def notes(self):
        from elfkit.elf.notes import read_notes
        return read_notes(self)

    @cached_property
    def arch_specific(self):
        """What readelf -A shows (elf/attributes.py's ArchSpecific), or None for a file with
        nothing to show there: no SHT_GNU_ATTRIBUTES or processor-specific section and not
        MIPS (whose ABI flags and GOT readelf -A prints). Told apart without importing
        attributes.py, ~40 KB of tables."""
        if self.header.machine not in (8, 10) and not any(
                s.type == 0x6FFFFFF5 or 0x70000000 <= s.type < 0x80000000 for s in self.sections):
            return None
        from elfkit.elf.attributes import read_arch_specific
        return read_arch_specific(self)

    def section_by_name(self, name: str):
        for s in self.sections:
            if s.name == name:
                return s
        return None

    @property
    def is_64(self) -> bool:
        return self.header.is_64
