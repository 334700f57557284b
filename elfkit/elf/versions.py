"""GNU symbol versioning: .gnu.version (versym), .gnu.version_d (verdef), .gnu.version_r (verneed).

Found through section headers, or through DT_VERSYM / DT_VERDEF / DT_VERNEED
when the file has none (as `readelf -D` does).
"""
from __future__ import annotations

import struct

from elfkit.elf.constants import DT, SHT, VERSYM_HIDDEN
from elfkit.elf.record import Record


class VerdefEntry(Record):
    __slots__ = ("offset", "version", "flags", "index", "count", "hash", "names")

    def __init__(self, offset: int, version: int, flags: int, index: int, count: int, hash: int,
                 names: list[str]):
        self.offset = offset
        self.version = version
        self.flags = flags
        self.index = index
        self.count = count
        self.hash = hash
        self.names = names


class VernauxEntry(Record):
    __slots__ = ("offset", "name", "hash", "flags", "other")

    def __init__(self, offset: int, name: str, hash: int, flags: int, other: int):
        self.offset = offset
        self.name = name
        self.hash = hash
        self.flags = flags
        self.other = other


class VerneedEntry(Record):
    __slots__ = ("offset", "version", "file", "count", "aux")

    def __init__(self, offset: int, version: int, file: str, count: int,
                 aux: list[VernauxEntry]):
        self.offset = offset
        self.version = version
        self.file = file
        self.count = count
        self.aux = aux


class VersionTable(Record):
    """Where one versioning table lives, and what it holds."""
    __slots__ = ("section", "address", "offset", "link", "entries")

    def __init__(self, section: str | None, address: int, offset: int, link: int | None,
                 entries: list):
        self.section = section
        self.address = address
        self.offset = offset
        self.link = link
        self.entries = entries


class Versions(Record):
    __slots__ = ("versym", "verdef", "verneed", "verdef_names", "verneed_names")

    def __init__(self, versym: VersionTable | None = None, verdef: VersionTable | None = None,
                 verneed: VersionTable | None = None, verdef_names: dict[int, str] | None = None,
                 verneed_names: dict[int, str] | None = None):
        self.versym = versym
        self.verdef = verdef
        self.verneed = verneed
        # version index (hidden bit cleared) -> name, from verdef and from verneed
        self.verdef_names = {} if verdef_names is None else verdef_names
        self.verneed_names = {} if verneed_names is None else verneed_names

    def symbol_version(self, symbol_index: int, defined: bool):
        """(version name, hidden) for a dynamic symbol, as readelf picks its `@` or `@@` suffix."""
        if self.versym is None or symbol_index >= len(self.versym.entries):
            return None, False
        return self.version_of(self.versym.entries[symbol_index], defined)

    def version_of(self, raw: int, defined: bool):
        """symbol_version for a symbol whose versym entry is `raw` (the bulk views ask once
        per distinct entry)."""
        ndx = raw & ~VERSYM_HIDDEN
        if ndx < 2:                      # *local* / *global*
            return None, False
        if defined and raw != 0x8001 and ndx in self.verdef_names:
            return self.verdef_names[ndx], bool(raw & VERSYM_HIDDEN)
        if ndx in self.verneed_names:
            return self.verneed_names[ndx], True
        if ndx in self.verdef_names:
            return self.verdef_names[ndx], bool(raw & VERSYM_HIDDEN)
        return None, False


def read_versions(elf) -> Versions:
    out = Versions()
    sections = elf.sections
    if sections:
        for s in sections:
            if s.type == SHT.GNU_VERSYM:
                out.versym = _versym(elf, s.name, s.addr, s.offset, s.size, s.link)
            elif s.type == SHT.GNU_VERDEF:
                out.verdef = _verdef(elf, s.name, s.addr, s.offset, s.size, s.info, s.link)
            elif s.type == SHT.GNU_VERNEED:
                out.verneed = _verneed(elf, s.name, s.addr, s.offset, s.size, s.info, s.link)
    else:
        _from_dynamic(elf, out)
    for e in out.verdef.entries if out.verdef else ():
        if e.names:
            out.verdef_names[e.index] = e.names[0]
    for need in out.verneed.entries if out.verneed else ():
        for aux in need.aux:
            out.verneed_names[aux.other & ~VERSYM_HIDDEN] = aux.name
    return out


def _strtab_bounds(elf, link):
    """(offset, end) of the string table a version section links to."""
    if link is None:
        strtab = elf.dynamic.strtab_offset if elf.dynamic else None
        size = elf.dynamic.strtab_size if elf.dynamic else None
        if strtab is None:
            return None
        return strtab, strtab + (size or 0)
    if link >= len(elf.sections):
        elf.warn(f"version section links to section {link}, which does not exist")
        return None
    s = elf.sections[link]
    if not elf.check_range(s.offset, s.size, f"string table {s.name}"):
        return None
    return s.offset, s.offset + s.size


def _versym(elf, name, addr, offset, size, link):
    if not elf.check_range(offset, size, "version symbol table"):
        return None
    half = elf.fmt.endian + "H"
    entries = [v for (v,) in struct.iter_unpack(half, elf.data[offset:offset + size - size % 2])]
    return VersionTable(name, addr, offset, link, entries)


def _budget(elf, size):
    """How many records and aux entries a table of `size` bytes can honestly hold: each
    takes at least 8 bytes, so a chain that yields more is looping over itself."""
    return max(1, min(size, elf.size) // 8)


def _verdef(elf, name, addr, offset, size, count, link):
    bounds = _strtab_bounds(elf, link)
    entries, fmt, pos, end = [], elf.fmt, offset, offset + size
    budget = _budget(elf, max(0, min(size, elf.size - offset)))
    for _ in range(count):
        if pos + fmt.verdef.size > min(end, elf.size):
            elf.warn(f"verdef entry at {pos:#x} lies outside its section")
            break
        vd_version, vd_flags, vd_ndx, vd_cnt, vd_hash, vd_aux, vd_next = fmt.verdef.unpack_from(elf.data, pos)
        names, apos = [], pos + vd_aux
        for _ in range(vd_cnt):
            if apos + fmt.verdaux.size > min(end, elf.size):
                elf.warn(f"verdaux entry at {apos:#x} lies outside its section")
                break
            vda_name, vda_next = fmt.verdaux.unpack_from(elf.data, apos)
            names.append(_string(elf, bounds, vda_name))
            budget -= 1
            if not vda_next or budget <= 0:
                break
            apos += vda_next
        entries.append(VerdefEntry(pos - offset, vd_version, vd_flags, vd_ndx, vd_cnt, vd_hash, names))
        budget -= 1
        if budget <= 0:
            elf.warn("version definitions: more entries than the section can hold (a loop?)")
            break
        if not vd_next:
            break
        pos += vd_next
    return VersionTable(name, addr, offset, link, entries)


def _verneed(elf, name, addr, offset, size, count, link):
    bounds = _strtab_bounds(elf, link)
    entries, fmt, pos, end = [], elf.fmt, offset, offset + size
    budget = _budget(elf, max(0, min(size, elf.size - offset)))
    for _ in range(count):
        if pos + fmt.verneed.size > min(end, elf.size):
            elf.warn(f"verneed entry at {pos:#x} lies outside its section")
            break
        vn_version, vn_cnt, vn_file, vn_aux, vn_next = fmt.verneed.unpack_from(elf.data, pos)
        aux, apos = [], pos + vn_aux
        for _ in range(vn_cnt):
            if apos + fmt.vernaux.size > min(end, elf.size):
                elf.warn(f"vernaux entry at {apos:#x} lies outside its section")
                break
            vna_hash, vna_flags, vna_other, vna_name, vna_next = fmt.vernaux.unpack_from(elf.data, apos)
            aux.append(VernauxEntry(apos - offset, _string(elf, bounds, vna_name), vna_hash,
                                    vna_flags, vna_other))
            budget -= 1
            if not vna_next or budget <= 0:
                break
            apos += vna_next
        entries.append(VerneedEntry(pos - offset, vn_version, _string(elf, bounds, vn_file),
                                    vn_cnt, aux))
        budget -= 1
        if budget <= 0:
            elf.warn("version needs: more entries than the section can hold (a loop?)")
            break
        if not vn_next:
            break
        pos += vn_next
    return VersionTable(name, addr, offset, link, entries)


def _string(elf, bounds, index):
    if bounds is None:
        return f"<corrupt: {index:#x}>"
    start, end = bounds
    if start + index >= end:
        elf.warn(f"version string index {index:#x} is past the end of its string table")
        return f"<corrupt: {index:#x}>"
    return elf.cstring(start + index, end)


def _from_dynamic(elf, out: Versions):
    """No section headers: find the tables through the dynamic section (readelf -D)."""
    dyn = elf.dynamic
    if dyn is None:
        return
    nsyms = dyn.symbol_count
    big = 1 << 30

    def where(tag):
        addr = dyn.value(tag)
        if addr is None:
            return None, None
        off = elf.vaddr_to_offset(addr)
        if off is None:
            elf.warn(f"DT_{DT(tag).name} address {addr:#x} is not in any loaded segment")
        return addr, off

    addr, off = where(DT.VERSYM)
    if off is not None and nsyms:
        out.versym = _versym(elf, None, addr, off, 2 * nsyms, None)
    addr, off = where(DT.VERDEF)
    if off is not None:
        out.verdef = _verdef(elf, None, addr, off, big, dyn.value(DT.VERDEFNUM) or 0, None)
    addr, off = where(DT.VERNEED)
    if off is not None:
        out.verneed = _verneed(elf, None, addr, off, big, dyn.value(DT.VERNEEDNUM) or 0, None)
