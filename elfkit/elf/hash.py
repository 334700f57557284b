"""Symbol hash tables: the SysV ELF hash (DT_HASH) and the GNU hash (DT_GNU_HASH) with its bloom filter."""
from __future__ import annotations

import struct

from elfkit.elf.constants import DT
from elfkit.elf.record import Record


def sysv_hash(name: bytes) -> int:
    """The System V ABI's elf_hash."""
    h = 0
    for c in name:
        h = ((h << 4) + c) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


def gnu_hash(name: bytes) -> int:
    """The GNU hash: djb2 (h*33 + c) from 5381, 32 bits."""
    h = 5381
    for c in name:
        h = (h * 33 + c) & 0xFFFFFFFF
    return h


class SysvHashTable(Record):
    __slots__ = ("nbucket", "nchain", "buckets", "chains")

    def __init__(self, nbucket: int, nchain: int, buckets: tuple, chains: tuple):
        self.nbucket = nbucket
        self.nchain = nchain
        self.buckets = buckets
        self.chains = chains


class GnuHashTable(Record):
    __slots__ = ("nbuckets", "symoffset", "bloom_shift", "bloom", "buckets", "chains_offset",
                 "word_bits")

    def __init__(self, nbuckets: int, symoffset: int, bloom_shift: int, bloom: tuple,
                 buckets: tuple, chains_offset: int, word_bits: int):
        self.nbuckets = nbuckets
        self.symoffset = symoffset
        self.bloom_shift = bloom_shift
        self.bloom = bloom
        self.buckets = buckets
        self.chains_offset = chains_offset  # file offset of the chain word for symbol `symoffset`
        self.word_bits = word_bits

    def bloom_may_contain(self, h: int) -> bool:
        """The bloom filter test ld.so does before touching the buckets."""
        if not self.bloom:
            return True
        bits = self.word_bits
        word = self.bloom[(h // bits) % len(self.bloom)]
        mask = (1 << (h % bits)) | (1 << ((h >> self.bloom_shift) % bits))
        return word & mask == mask


def read_sysv_hash(elf, offset: int) -> SysvHashTable | None:
    if not elf.check_range(offset, 8, "DT_HASH header"):
        return None
    nbucket, nchain = struct.unpack_from(elf.fmt.endian + "II", elf.data, offset)
    if not elf.check_range(offset + 8, 4 * (nbucket + nchain), f"DT_HASH table ({nbucket} buckets, {nchain} chains)"):
        return None
    words = struct.unpack_from(f"{elf.fmt.endian}{nbucket + nchain}I", elf.data, offset + 8)
    return SysvHashTable(nbucket, nchain, words[:nbucket], words[nbucket:])


def read_gnu_hash(elf, offset: int) -> GnuHashTable | None:
    e = elf.fmt.endian
    if not elf.check_range(offset, 16, "DT_GNU_HASH header"):
        return None
    nbuckets, symoffset, bloom_size, bloom_shift = struct.unpack_from(e + "IIII", elf.data, offset)
    word = elf.fmt.word
    pos = offset + 16
    if not elf.check_range(pos, bloom_size * word + nbuckets * 4,
                           f"DT_GNU_HASH table ({bloom_size} bloom words, {nbuckets} buckets)"):
        return None
    bloom = struct.unpack_from(f"{e}{bloom_size}{'Q' if word == 8 else 'I'}", elf.data, pos)
    pos += bloom_size * word
    buckets = struct.unpack_from(f"{e}{nbuckets}I", elf.data, pos)
    pos += nbuckets * 4
    return GnuHashTable(nbuckets, symoffset, bloom_shift, bloom, buckets, pos, word * 8)


def gnu_hash_symbol_count(elf, table: GnuHashTable) -> int:
    """One past the highest symbol index reachable through the buckets' chains."""
    last = max(table.buckets, default=0)
    if last < table.symoffset:
        return table.symoffset
    e = elf.fmt.endian + "I"
    i = last - table.symoffset
    while table.chains_offset + 4 * i + 4 <= elf.size:
        (word,) = struct.unpack_from(e, elf.data, table.chains_offset + 4 * i)
        if word & 1:
            return table.symoffset + i + 1
        i += 1
    elf.warn("DT_GNU_HASH chain runs past the end of the file")
    return table.symoffset + i


def dynamic_symbol_count(elf, dyn) -> int:
    for tag in (DT.HASH, DT.GNU_HASH):
        addr = dyn.value(tag)
        if addr is None:
            continue
        off = elf.vaddr_to_offset(addr)
        if off is None:
            elf.warn(f"DT_{DT(tag).name} address {addr:#x} is not in any loaded segment")
            continue
        if tag == DT.HASH:
            table = read_sysv_hash(elf, off)
            if table is not None:
                return table.nchain
        else:
            table = read_gnu_hash(elf, off)
            if table is not None:
                return gnu_hash_symbol_count(elf, table)
    return 0
