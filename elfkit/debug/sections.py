"""The `.debug_*` sections of one ELF file as plain bytes: SHF_COMPRESSED (zlib, zstd) and the
older `.zdebug_*` ("ZLIB" + big-endian size) sections decompressed, each once, on first use."""
from __future__ import annotations

import struct
import zlib

from elfkit.errors import DebugInfoError

SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB = 1
ELFCOMPRESS_ZSTD = 2
_CHDR64 = struct.Struct("<IIQQ")             # Elf64_Chdr: ch_type, ch_reserved, ch_size, ch_addralign
_CHDR32 = struct.Struct("<III")              # Elf32_Chdr: ch_type, ch_size, ch_addralign


class DebugSections:
    """Section name -> decompressed bytes, for the DWARF sections of `elf` (an ElfFile)."""

    def __init__(self, elf):
        self.elf = elf
        self._cache: dict[str, bytes | None] = {}
        self._by_name = {}
        for s in elf.sections:
            if s.name.startswith(".debug_") or s.name.startswith(".zdebug_"):
                if s.occupies_file and s.size:
                    self._by_name[s.name] = s

    def has(self, name: str) -> bool:
        return name in self._by_name or (".z" + name[1:]) in self._by_name

    def get(self, name: str) -> bytes | None:
        """The bytes of section `name` (".debug_info"), decompressed; None when absent."""
        if name not in self._cache:
            self._cache[name] = self._read(name)
        return self._cache[name]

    def _read(self, name: str) -> bytes | None:
        sec = self._by_name.get(name)
        if sec is not None:
            raw = self.elf.read(sec.offset, sec.size, f"section {name}")
            if sec.flags & SHF_COMPRESSED:
                return self._decompress_chdr(name, bytes(raw))
            return bytes(raw)
        sec = self._by_name.get(".z" + name[1:])
        if sec is None:
            return None
        raw = bytes(self.elf.read(sec.offset, sec.size, f"section .z{name[1:]}"))
        if raw[:4] != b"ZLIB" or len(raw) < 12:
            raise DebugInfoError(self.elf.path, f"section .z{name[1:]}: no ZLIB header",
                                 sec.offset)
        size = struct.unpack_from(">Q", raw, 4)[0]
        return self._check(name, zlib.decompress(raw[12:]), size)

    def _decompress_chdr(self, name: str, raw: bytes) -> bytes:
        if self.elf.is_64:
            ctype, _res, size, _align = _CHDR64.unpack_from(raw)
            body = raw[_CHDR64.size:]
        else:
            ctype, size, _align = _CHDR32.unpack_from(raw)
            body = raw[_CHDR32.size:]
        if ctype == ELFCOMPRESS_ZLIB:
            return self._check(name, zlib.decompress(body), size)
        if ctype == ELFCOMPRESS_ZSTD:
            return self._check(name, zstd_decompress(body, size, self.elf.path, name), size)
        raise DebugInfoError(self.elf.path, f"section {name}: unknown compression type {ctype}")

    def _check(self, name: str, data: bytes, size: int) -> bytes:
        if len(data) != size:
            raise DebugInfoError(self.elf.path, f"section {name}: decompressed to {len(data)} "
                                                f"bytes, its header says {size}")
        return data


def zstd_decompress(body: bytes, size: int, path: str, name: str) -> bytes:
    """ELFCOMPRESS_ZSTD: one or more zstd frames. Python 3.14's compression.zstd, else the
    `zstandard` package (pyelftools 0.33 reads only zlib)."""
    try:
        from compression import zstd            # Python >= 3.14
        return zstd.decompress(body)
    except ImportError:
        pass
    try:
        import zstandard
    except ImportError:
        raise DebugInfoError(path, f"section {name} is zstd-compressed: install the "
                                   "'zstandard' package to read it") from None
    return zstandard.ZstdDecompressor().decompress(body, max_output_size=size)
