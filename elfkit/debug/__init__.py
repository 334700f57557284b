"""Debug information: DWARF found as gdb finds it (the file's own, or a separate debug file
through its build-id or .gnu_debuglink) and what it says about an address.

The API later users build on:

    store = DebugStore(debug_dirs=["/opt/dbg"])     # one per run: decoded DWARF is kept in it,
    sym = store.symbolizer(elf)                       # per build-id, for the life of the store
    sym.frames(addr)      # [Frame(function, file, line, discriminator, inlined)], innermost first
    sym.function_at(addr), sym.find_function(name)   # names of a stripped file (disasm -S)
    store.locate(elf)     # DebugFileLocation(path, how) or None

| module | models |
|---|---|
| `debuglink.py` | gdb's separate debug files: build-id path, .gnu_debuglink with its CRC32 |
| `sections.py` | the .debug_* sections' bytes, SHF_COMPRESSED (zlib, zstd) and .zdebug_* decompressed |
| `forms.py` | attribute forms: sizes and raw values |
| `dwarf.py` | `DwarfData`: pyelftools' DWARFInfo for structure, units found by address, decoded lazily |
| `scopes.py` | a unit's functions and inlined subroutines with their ranges (binutils' funcinfo) |
| `lines.py` | line-number programs run in a tight loop; binutils' sequence table |
| `addr2line.py` | `Symbolizer`, `Frame`: addr2line -f -i's answer for an address |

Nothing is read until an address is asked for, and then only the compile unit holding it.
"""
from __future__ import annotations

import os

from elfkit.debug.addr2line import Frame, Symbolizer, format_frames
from elfkit.debug.debuglink import DebugFileLocation, build_id, find_debug_file

__all__ = ["DebugStore", "Symbolizer", "Frame", "format_frames", "DebugFileLocation",
           "find_debug_file"]


class DebugStore:
    """Where debug files are looked for (`debug_dirs` before /usr/lib/debug), and the DWARF
    decoded so far, keyed by build-id (by path and mtime for a file without one)."""

    def __init__(self, debug_dirs=()):
        self.debug_dirs = [os.path.abspath(d) for d in debug_dirs]
        self._dwarf: dict = {}
        self._located: dict = {}

    def _key(self, elf):
        bid = build_id(elf)
        if bid:
            return ("build-id", bid)
        try:
            st = os.stat(elf.path)
            return ("path", os.path.realpath(elf.path), st.st_mtime_ns, st.st_size)
        except OSError:
            return ("object", id(elf))

    def locate(self, elf) -> DebugFileLocation | None:
        """Where the DWARF of `elf` (an ElfFile) is, or None."""
        key = self._key(elf)
        if key not in self._located:
            self._located[key] = find_debug_file(elf, self.debug_dirs)
        return self._located[key]

    def dwarf(self, elf):
        """The DwarfData of `elf`'s debug information (decoded on demand), or None."""
        key = self._key(elf)
        if key not in self._dwarf:
            loc = self.locate(elf)
            dd = None
            if loc is not None:
                from elfkit.debug.dwarf import DwarfData
                if loc.how == "self":
                    dd = DwarfData(elf)
                else:
                    from elfkit.elf import ElfFile
                    dd = DwarfData(ElfFile.open(loc.path))
            self._dwarf[key] = dd
        return self._dwarf[key]

    def symbolizer(self, elf) -> Symbolizer:
        return Symbolizer(elf, self.dwarf(elf))
