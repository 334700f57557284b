"""elf/dl-lookup.c: find a symbol's definition in a scope, with the GNU hash (bloom filter first),
the SysV hash as fallback, and symbol versioning.

The version rules are do_lookup_x's: a reference that asks for a version
matches a definition of exactly that version (or an unversioned object); a
reference without one matches the default (`@@`) definition, or a hidden one
only when the object defines nothing else under that name. Local symbols,
undefined entries and types other than NOTYPE/OBJECT/FUNC/COMMON/TLS/IFUNC
are never definitions. The first object in scope order that defines the
name wins (weak definitions included, as glibc does without LD_DYNAMIC_WEAK).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from elfkit.elf.constants import SHN, STB, STT, VERSYM_HIDDEN
from elfkit.elf.hash import gnu_hash, sysv_hash

DEFINABLE_TYPES = {STT.NOTYPE, STT.OBJECT, STT.FUNC, STT.COMMON, STT.TLS, STT.GNU_IFUNC}
DEFINING_BINDS = {STB.GLOBAL, STB.WEAK, STB.GNU_UNIQUE}


@dataclass(frozen=True, slots=True)
class Version:
    name: str
    hash: int
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class Definition:
    dso: object            # the defining Dso
    symbol: object         # its Symbol
    version: str | None

    @property
    def value(self) -> int:
        """The symbol's run-time address (not called through an IFUNC resolver yet)."""
        if self.symbol.shndx == SHN.ABS:
            return self.symbol.value
        return self.dso.base + self.symbol.value


def requested_version(dso, sym_index: int) -> Version | None:
    """The version a reference (symbol sym_index of dso) asks for, from verneed via versym."""
    versions = dso.elf.versions
    if versions.versym is None or sym_index >= len(versions.versym.entries):
        return None
    raw = versions.versym.entries[sym_index]
    ndx = raw & ~VERSYM_HIDDEN
    if ndx < 2:
        return None
    name = versions.verneed_names.get(ndx) or versions.verdef_names.get(ndx)
    if name is None:
        return None
    return Version(name, sysv_hash(name.encode()), bool(raw & VERSYM_HIDDEN))


def lookup(name: str, scope: list, version: Version | None = None, skip=None) -> Definition | None:
    """The first definition of `name` in `scope` (a list of Dso), optionally skipping one object
    (copy relocations look past the executable)."""
    raw = name.encode()
    gh = gnu_hash(raw)
    sh = None
    for dso in scope:
        if dso is skip:
            continue
        gnu, sysv = dso.hash_tables()
        if gnu is not None:
            found = _gnu_lookup(dso, gnu, raw, name, gh, version)
        elif sysv is not None:
            if sh is None:
                sh = sysv_hash(raw)
            found = _sysv_lookup(dso, sysv, name, sh, version)
        else:
            found = _linear_lookup(dso, name, version)
        if found is not None:
            return found
    return None


def _gnu_lookup(dso, table, raw, name, h, version):
    if not table.nbuckets or not table.bloom_may_contain(h):
        return None
    i = table.buckets[h % table.nbuckets]
    if i < table.symoffset:
        return None
    data, e = dso.elf.data, dso.elf.fmt.endian + "I"
    symbols = dso.symbols
    hidden_match = None
    while True:
        pos = table.chains_offset + 4 * (i - table.symoffset)
        if pos + 4 > dso.elf.size or i >= len(symbols):
            return hidden_match
        (chain,) = struct.unpack_from(e, data, pos)
        if (chain | 1) == (h | 1):
            verdict = _check(dso, symbols[i], name, version)
            if verdict == "yes":
                return Definition(dso, symbols[i], _version_name(dso, i))
            if verdict == "hidden" and hidden_match is None:
                hidden_match = Definition(dso, symbols[i], _version_name(dso, i))
        if chain & 1:
            return hidden_match if _only_hidden(dso, name) else None
        i += 1


def _sysv_lookup(dso, table, name, h, version):
    if not table.nbucket:
        return None
    symbols = dso.symbols
    i = table.buckets[h % table.nbucket]
    hidden_match = None
    seen = 0
    while i and i < len(symbols) and seen <= table.nchain:
        verdict = _check(dso, symbols[i], name, version)
        if verdict == "yes":
            return Definition(dso, symbols[i], _version_name(dso, i))
        if verdict == "hidden" and hidden_match is None:
            hidden_match = Definition(dso, symbols[i], _version_name(dso, i))
        i = table.chains[i] if i < len(table.chains) else 0
        seen += 1
    return hidden_match if hidden_match and _only_hidden(dso, name) else None


def _linear_lookup(dso, name, version):
    for i, s in enumerate(dso.symbols):
        if _check(dso, s, name, version) == "yes":
            return Definition(dso, s, _version_name(dso, i))
    return None


def _check(dso, sym, name, version) -> str:
    """'yes', 'hidden' (a hidden version, acceptable only if alone) or 'no'."""
    if sym.name != name or sym.shndx == SHN.UNDEF:
        return "no"
    if sym.type not in DEFINABLE_TYPES or sym.bind not in DEFINING_BINDS:
        return "no"
    if sym.value == 0 and sym.type != STT.TLS and sym.shndx != SHN.ABS:
        return "no"
    versions = dso.elf.versions
    if versions.versym is None:
        return "yes"                         # an unversioned object satisfies any request
    raw = versions.versym.entries[sym.index] if sym.index < len(versions.versym.entries) else 1
    ndx = raw & ~VERSYM_HIDDEN
    if version is not None:
        if ndx < 2:
            return "yes" if ndx == 1 else "no"
        return "yes" if versions.verdef_names.get(ndx) == version.name else "no"
    if raw & VERSYM_HIDDEN:
        return "hidden"
    return "yes"


def _only_hidden(dso, name) -> bool:
    return sum(1 for s in dso.symbols if s.name == name and s.shndx != SHN.UNDEF) == 1


def _version_name(dso, index) -> str | None:
    versions = dso.elf.versions
    if versions.versym is None or index >= len(versions.versym.entries):
        return None
    ndx = versions.versym.entries[index] & ~VERSYM_HIDDEN
    return versions.verdef_names.get(ndx) if ndx >= 2 else None
