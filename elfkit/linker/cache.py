"""/etc/ld.so.cache (glibc's "glibc-ld.so.cache1.1" format): soname -> path, as ld.so reads it."""
from __future__ import annotations

import struct

MAGIC = b"glibc-ld.so.cache1.1"
OLD_MAGIC = b"ld.so-1.7.0"
FLAG_ELF_LIBC6 = 0x0003
FLAG_X8664_LIB64 = 0x0300
FLAG_TYPE_MASK = 0x00FF
FLAG_REQUIRED_MASK = 0xFF00


def read_cache(data: bytes) -> dict[str, str]:
    """soname -> path for the x86-64 libc6 entries; the first entry for a name wins (ld.so's
    binary search ends on the first of equal keys, which ldconfig sorts by preference)."""
    start = 0
    if data.startswith(OLD_MAGIC):
        # old format first, then the new one aligned after it
        (nlibs,) = struct.unpack_from("<I", data, 12)
        start = (16 + nlibs * 12 + 7) & ~7
        start = data.find(MAGIC, start)
        if start < 0:
            return {}
    if data[start:start + len(MAGIC)] != MAGIC or len(data) < start + 48:
        return {}
    nlibs, _len_strings = struct.unpack_from("<II", data, start + 20)
    out: dict[str, str] = {}
    entry = start + 48
    for i in range(nlibs):
        pos = entry + 24 * i
        if pos + 24 > len(data):
            break
        flags, key, value, _osv, _hwcap = struct.unpack_from("<iIIIQ", data, pos)
        if flags & FLAG_TYPE_MASK != FLAG_ELF_LIBC6 or flags & FLAG_REQUIRED_MASK != FLAG_X8664_LIB64:
            continue
        name, path = _cstr(data, start + key), _cstr(data, start + value)
        if name is not None and path is not None:
            out.setdefault(name, path)
    return out


def _cstr(data: bytes, off: int) -> str | None:
    if off >= len(data):
        return None
    end = data.find(b"\0", off)
    return data[off:end if end >= 0 else len(data)].decode("utf-8", "surrogateescape")
