"""gdb's "separate debug files": where the DWARF of a stripped ELF file lives, found as gdb
finds it (gdb manual, "Debugging Information in Separate Files").

A file's own `.debug_info` wins. Else, for each debug directory (`--debug-dir` ones first, then
/usr/lib/debug):

  1. the build-id path   DIR/.build-id/xx/yyyyyyyy.debug   (xx: the first byte of the
     NT_GNU_BUILD_ID note in hex, the rest after it; the file found must carry the same
     build-id) -- Debian's -dbgsym packages and libc6-dbg install there;
  2. `.gnu_debuglink`'s NAME (a file name, then a CRC32 of the whole debug file) in the
     file's own directory, its `.debug/` subdirectory, and DIR + the file's directory
     (/usr/lib/debug/usr/bin/NAME), the first whose CRC32 matches.
"""
from __future__ import annotations

import os
import struct
import zlib

from elfkit.elf.record import Record

DEFAULT_DEBUG_DIRS = ("/usr/lib/debug",)


class DebugFileLocation(Record):
    """Where the DWARF of an ELF file is: `path` (the file itself or its separate debug file)
    and `how` ("self", "build-id", "debuglink")."""
    __slots__ = ("path", "how")

    def __init__(self, path: str, how: str):
        self.path = path
        self.how = how


def build_id(elf) -> str | None:
    """The NT_GNU_BUILD_ID note's bytes in hex, or None."""
    for block in elf.notes:
        for note in block.notes:
            if note.build_id:
                return note.build_id
    return None


def gnu_debuglink(elf) -> tuple[str, int] | None:
    """`.gnu_debuglink`: (file name, CRC32), or None. The name is NUL-terminated and padded to
    4 bytes; the CRC follows in the file's byte order."""
    sec = elf.section_by_name(".gnu_debuglink")
    if sec is None or not sec.occupies_file or sec.size < 8:
        return None
    if not elf.check_range(sec.offset, sec.size, "section .gnu_debuglink"):
        return None
    data = bytes(elf.data[sec.offset:sec.offset + sec.size])
    end = data.find(b"\0")
    if end <= 0:
        return None
    crc_at = (end + 4) & ~3
    if crc_at + 4 > len(data):
        return None
    (crc,) = struct.unpack_from(elf.fmt.endian + "I", data, crc_at)
    return data[:end].decode("utf-8", "surrogateescape"), crc


def build_id_paths(bid: str, debug_dirs) -> list[str]:
    return [os.path.join(d, ".build-id", bid[:2], bid[2:] + ".debug") for d in debug_dirs]


def debuglink_paths(elf_path: str, name: str, debug_dirs) -> list[str]:
    """gdb's order: the file's directory, its .debug/, then each debug directory + the file's
    directory (both absolute, with symbolic links resolved as gdb's realpath does)."""
    real_dir = os.path.dirname(os.path.realpath(elf_path))
    places = [os.path.join(real_dir, name), os.path.join(real_dir, ".debug", name)]
    places += [os.path.join(d + real_dir, name) for d in debug_dirs]
    return places


def file_crc32(path: str) -> int | None:
    try:
        crc = 0
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
        return crc
    except OSError:
        return None


def has_own_debug_info(elf) -> bool:
    return any(s.name in (".debug_info", ".zdebug_info") and s.occupies_file
               for s in elf.sections)


def find_debug_file(elf, debug_dirs=()) -> DebugFileLocation | None:
    """Where the DWARF of `elf` (an ElfFile) is: itself, a build-id file or a debuglink file
    (checked as described above); None when there is none. `debug_dirs` are searched before
    the default /usr/lib/debug."""
    if has_own_debug_info(elf):
        return DebugFileLocation(elf.path, "self")
    dirs = [*debug_dirs, *(d for d in DEFAULT_DEBUG_DIRS if d not in debug_dirs)]
    bid = build_id(elf)
    if bid and len(bid) > 2:
        for path in build_id_paths(bid, dirs):
            if os.path.isfile(path) and _same_build_id(path, bid):
                return DebugFileLocation(path, "build-id")
    link = gnu_debuglink(elf)
    if link:
        name, crc = link
        own = os.path.realpath(elf.path)
        for path in debuglink_paths(elf.path, name, dirs):
            if (os.path.isfile(path) and os.path.realpath(path) != own
                    and file_crc32(path) == crc):
                return DebugFileLocation(path, "debuglink")
    return None


def _same_build_id(path: str, bid: str) -> bool:
    from elfkit.elf import ElfFile
    try:
        with ElfFile.open(path) as other:
            return build_id(other) == bid
    except Exception:                  # noqa: BLE001 - an unreadable candidate is no match
        return False
