"""Section headers (Elf64_Shdr) and their names from the section header string table."""
from __future__ import annotations

from elfkit.elf.constants import SHT, section_flags_name, section_type_name
from elfkit.elf.record import Record


class Section(Record):
    __slots__ = ("index", "name", "name_offset", "type", "flags", "addr", "offset", "size",
                 "link", "info", "align", "entsize")

    def __init__(self, index: int, name: str, name_offset: int, type: int, flags: int,
                 addr: int, offset: int, size: int, link: int, info: int, align: int,
                 entsize: int):
        self.index = index
        self.name = name
        self.name_offset = name_offset
        self.type = type
        self.flags = flags
        self.addr = addr
        self.offset = offset
        self.size = size
        self.link = link
        self.info = info
        self.align = align
        self.entsize = entsize

    @property
    def occupies_file(self) -> bool:
        return self.type != SHT.NOBITS

    def type_name(self, machine: int) -> str:
        return section_type_name(self.type, machine)

    def flags_name(self, machine: int, osabi: int = 0) -> str:
        return section_flags_name(self.flags, machine, osabi)


def read_sections(elf) -> list[Section]:
    """Every section header, named; [] with a warning when the table is damaged."""
    h = elf.header
    fields = elf.header_table(h.shoff, h.shnum, h.shentsize, elf.fmt.shdr, "e_shentsize",
                              "section header")
    if not fields:
        return []
    sections = []
    for i, (name, typ, flags, addr, offset, size, link, info, align, entsize) in enumerate(fields):
        sections.append(Section(i, "", name, typ, flags, addr, offset, size, link, info, align,
                                entsize))
    _name_sections(elf, sections)
    return sections


def _name_sections(elf, sections):
    strndx = elf.header.shstrndx
    if strndx == 0:
        return
    if strndx >= len(sections):
        elf.warn(f"e_shstrndx {strndx} is not a section (there are {len(sections)}): "
                 "sections are unnamed")
        return
    strtab = sections[strndx]
    if strtab.type == SHT.NOBITS or not elf.check_range(strtab.offset, strtab.size,
                                                        "section name string table"):
        return
    end = strtab.offset + strtab.size
    for s in sections:
        if s.name_offset >= strtab.size:
            elf.warn(f"section {s.index}: name offset {s.name_offset:#x} is past the end of "
                     f"the string table (size {strtab.size:#x})")
            s.name = "<corrupt>"
            continue
        s.name = elf.cstring(strtab.offset + s.name_offset, end) or ""
