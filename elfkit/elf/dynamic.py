"""The dynamic section (Elf64_Dyn array): tags, their strings, and where the tables it points to live."""
from __future__ import annotations

from elfkit.elf.constants import DT, PT, SHT
from elfkit.elf.record import Record


class DynamicSection(Record):
    __slots__ = ("offset", "address", "entries", "strtab_offset", "strtab_size", "elf")

    def __init__(self, offset: int, address: int, entries: list[tuple[int, int]],
                 strtab_offset: int | None, strtab_size: int | None, elf: object = None):
        self.offset = offset                    # file offset of the array
        self.address = address                  # its virtual address
        self.entries = entries              # (d_tag, d_val) up to and including the first DT_NULL
        self.strtab_offset = strtab_offset      # file offset of DT_STRTAB
        self.strtab_size = strtab_size
        self.elf = elf

    def value(self, tag: int) -> int | None:
        for t, v in self.entries:
            if t == tag:
                return v
        return None

    def values(self, tag: int) -> list[int]:
        return [v for t, v in self.entries if t == tag]

    def string(self, index: int) -> str | None:
        """The DT_STRTAB string at `index`, or None if it lies outside the table or file."""
        if self.strtab_offset is None:
            return None
        end = self.strtab_offset + self.strtab_size if self.strtab_size else None
        if end is not None and self.strtab_offset + index >= end:
            return None
        return self.elf.cstring(self.strtab_offset + index, end)

    def strings(self, tag: int) -> list[str]:
        return [s for s in (self.string(v) for v in self.values(tag)) if s is not None]

    @property
    def needed(self) -> list[str]:
        return self.strings(DT.NEEDED)

    @property
    def soname(self) -> str | None:
        v = self.strings(DT.SONAME)
        return v[0] if v else None

    @property
    def flags(self) -> int:
        return self.value(DT.FLAGS) or 0

    @property
    def flags_1(self) -> int:
        return self.value(DT.FLAGS_1) or 0

    @property
    def symbol_count(self) -> int:
        """Number of dynamic symbols, from DT_HASH's nchain or a DT_GNU_HASH walk (readelf -D)."""
        from elfkit.elf.hash import dynamic_symbol_count
        return dynamic_symbol_count(self.elf, self)


def read_dynamic(elf) -> DynamicSection | None:
    seg = next((s for s in elf.segments if s.type == PT.DYNAMIC), None)
    sec = next((s for s in elf.sections if s.type == SHT.DYNAMIC), None)
    if sec is not None:
        offset, address, size = sec.offset, sec.addr, sec.size
    elif seg is not None:
        offset, address, size = seg.offset, seg.vaddr, seg.filesz
    else:
        return None
    if not elf.check_range(offset, size, "dynamic section"):
        size = max(0, min(size, elf.size - offset))
    entsize = elf.fmt.dyn.size
    entries = []
    for tag, val in elf.fmt.dyn.iter_unpack(elf.data[offset:offset + size - size % entsize]):
        entries.append((tag & ((1 << 64) - 1) if tag < 0 else tag, val))
        if tag == DT.NULL:
            break
    dyn = DynamicSection(offset, address, entries, None, None, elf)
    _locate_strtab(elf, dyn)
    return dyn


def _locate_strtab(elf, dyn: DynamicSection):
    """Find DT_STRTAB in the file: via the section it names, else through PT_LOAD."""
    addr = dyn.value(DT.STRTAB)
    if addr is None:
        return
    size = dyn.value(DT.STRSZ)
    for s in elf.sections:
        if s.type == SHT.STRTAB and s.addr == addr and s.addr:
            dyn.strtab_offset, dyn.strtab_size = s.offset, s.size
            break
    else:
        off = elf.vaddr_to_offset(addr)
        if off is None:
            elf.warn(f"DT_STRTAB address {addr:#x} is not in any loaded segment")
            return
        dyn.strtab_offset, dyn.strtab_size = off, size
    if dyn.strtab_size is not None and dyn.strtab_offset + dyn.strtab_size > elf.size:
        elf.warn(f"DT_STRTAB ({dyn.strtab_size:#x} bytes at offset {dyn.strtab_offset:#x}) runs "
                 f"past the end of the file")
        dyn.strtab_size = max(0, elf.size - dyn.strtab_offset)
