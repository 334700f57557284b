"""Program headers (Elf64_Phdr), PT_INTERP, and readelf's section-to-segment mapping."""
from __future__ import annotations

from elfkit.elf.constants import PT, SHF, SHT, segment_flags_name, segment_type_name
from elfkit.elf.record import Record


class Segment(Record):
    __slots__ = ("index", "type", "flags", "offset", "vaddr", "paddr", "filesz", "memsz",
                 "align", "machine")

    def __init__(self, index: int, type: int, flags: int, offset: int, vaddr: int, paddr: int,
                 filesz: int, memsz: int, align: int, machine: int = 0):
        self.index = index
        self.type = type
        self.flags = flags
        self.offset = offset
        self.vaddr = vaddr
        self.paddr = paddr
        self.filesz = filesz
        self.memsz = memsz
        self.align = align
        self.machine = machine

    @property
    def type_name(self) -> str:
        return segment_type_name(self.type, self.machine)

    @property
    def flags_name(self) -> str:
        return segment_flags_name(self.flags)


def read_segments(elf) -> list[Segment]:
    h = elf.header
    out = []
    for i, f in enumerate(elf.header_table(h.phoff, h.phnum, h.phentsize, elf.fmt.phdr,
                                           "e_phentsize", "program header")):
        if elf.is_64:
            typ, flags, offset, vaddr, paddr, filesz, memsz, align = f
        else:
            typ, offset, vaddr, paddr, filesz, memsz, flags, align = f
        out.append(Segment(i, typ, flags, offset, vaddr, paddr, filesz, memsz, align, h.machine))
    return out


def interpreter(elf) -> str | None:
    """The PT_INTERP path, if any."""
    for seg in elf.segments:
        if seg.type == PT.INTERP:
            if not elf.check_range(seg.offset, seg.filesz, "PT_INTERP"):
                return None
            return elf.cstring(seg.offset, seg.offset + seg.filesz)
    return None


_MASK = (1 << 64) - 1
_PT_GNU_MBIND_LO, _PT_GNU_MBIND_HI = 0x6474E555, 0x6474E555 + 4095
# The mapping below tests sections x segments: the numbers it compares are module globals and
# sets, not class attributes and tuples (when they were IntFlag members, each `&` also made a
# new one: ~10 ms of `inspect --all` on libc).
_TLS, _ALLOC, _NOBITS = SHF.TLS, SHF.ALLOC, SHT.NOBITS
_PT_TLS = PT.TLS
_TLS_SEGMENTS = frozenset({PT.TLS, PT.GNU_RELRO, PT.LOAD})
_NO_TLS_SEGMENTS = frozenset({PT.TLS, PT.PHDR})
_EMPTY_CHECKED = frozenset({PT.DYNAMIC, PT.NOTE})
_ALLOC_ONLY_SEGMENTS = frozenset({PT.LOAD, PT.DYNAMIC, PT.GNU_EH_FRAME, PT.GNU_STACK,
                                  PT.GNU_RELRO, PT.GNU_SFRAME})


def _tbss_special(sec, seg) -> bool:
    """.tbss takes neither file nor memory space outside PT_TLS (binutils' ELF_TBSS_SPECIAL)."""
    return bool(sec.flags & _TLS) and sec.type == _NOBITS and seg.type != _PT_TLS


def section_in_segment(sec, seg) -> bool:
    """binutils' ELF_SECTION_IN_SEGMENT_STRICT, with its unsigned arithmetic, as readelf -l uses it."""
    flags, stype, ptype = sec.flags, sec.type, seg.type
    tls = flags & _TLS
    size = 0 if tls and stype == _NOBITS and ptype != _PT_TLS else sec.size
    if tls:
        if ptype not in _TLS_SEGMENTS:
            return False
    elif ptype in _NO_TLS_SEGMENTS:
        return False
    alloc = flags & _ALLOC
    if not alloc and (ptype in _ALLOC_ONLY_SEGMENTS or
                      _PT_GNU_MBIND_LO <= ptype <= _PT_GNU_MBIND_HI):
        return False
    if stype != _NOBITS:
        rel = sec.offset - seg.offset
        if not (sec.offset >= seg.offset and rel <= (seg.filesz - 1) & _MASK
                and rel + size <= seg.filesz):
            return False
    if alloc:
        rel = sec.addr - seg.vaddr
        if not (sec.addr >= seg.vaddr and rel <= (seg.memsz - 1) & _MASK
                and rel + size <= seg.memsz):
            return False
    if ptype in _EMPTY_CHECKED and sec.size == 0 and seg.memsz != 0:
        in_file = stype == _NOBITS or (sec.offset > seg.offset and
                                       sec.offset - seg.offset < seg.filesz)
        in_mem = not alloc or (sec.addr > seg.vaddr and sec.addr - seg.vaddr < seg.memsz)
        if not (in_file and in_mem):
            return False
    return True


def section_to_segment_mapping(elf) -> list[list[str]]:
    """For each segment, the names of the sections it holds (readelf -l's last table)."""
    sections = elf.sections[1:] if elf.sections else []
    return [[s.name for s in sections if not _tbss_special(s, seg) and section_in_segment(s, seg)]
            for seg in elf.segments]
