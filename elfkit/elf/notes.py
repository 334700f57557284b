"""ELF notes (Elf64_Nhdr records): build-id, ABI tag, GNU properties (x86 IBT/SHSTK, ISA level;
AArch64 BTI/PAC), core notes."""
from __future__ import annotations

import struct

from elfkit.elf.constants import (ABI_TAG_OS, EM, GNU_PROPERTY, GNU_PROPERTY_X86_FEATURE_1_IBT,
                                  GNU_PROPERTY_X86_FEATURE_1_SHSTK, NT, PT, SHT, note_type_name)
from elfkit.elf.record import Record

# Processor-specific property types (GNU_PROPERTY_LOPROC..HIPROC) mean different things on
# each machine: 0xc0000000 is X86_COMPAT_ISA_1_USED on x86 and AARCH64_FEATURE_1_AND on
# AArch64 (ld ANDs it over every input: BTI = -mbranch-protection=bti, PAC = pac-ret).
GNU_PROPERTY_AARCH64_FEATURE_1_AND = 0xC0000000
GNU_PROPERTY_AARCH64_FEATURE_1_BTI = 0x1
GNU_PROPERTY_AARCH64_FEATURE_1_PAC = 0x2
_AARCH64_FEATURE_1 = {GNU_PROPERTY_AARCH64_FEATURE_1_BTI: "BTI",
                      GNU_PROPERTY_AARCH64_FEATURE_1_PAC: "PAC"}
_LOPROC, _LOUSER = 0xC0000000, 0xE0000000
_X86 = frozenset({EM.X86_64, EM.I386, 6})      # 6: EM_IAMCU, as readelf groups them


class GnuProperty(Record):
    __slots__ = ("type", "name", "value", "decoded")

    def __init__(self, type: int, name: str, value: int, decoded: list[str]):
        self.type = type
        self.name = name
        self.value = value
        self.decoded = decoded


class Note(Record):
    __slots__ = ("owner", "type", "type_name", "desc", "build_id", "abi_tag", "properties")

    def __init__(self, owner: str, type: int, type_name: str, desc: bytes,
                 build_id: str | None = None, abi_tag: dict | None = None,
                 properties: list[GnuProperty] | None = None):
        self.owner = owner
        self.type = type
        self.type_name = type_name
        self.desc = desc
        self.build_id = build_id
        self.abi_tag = abi_tag
        self.properties = properties


class NoteBlock(Record):
    __slots__ = ("section", "offset", "size", "notes")

    def __init__(self, section: str | None, offset: int, size: int,
                 notes: list[Note] | None = None):
        self.section = section
        self.offset = offset
        self.size = size
        self.notes = [] if notes is None else notes


def read_notes(elf) -> list[NoteBlock]:
    """Notes per SHT_NOTE section, or per PT_NOTE segment when there are no section headers."""
    if elf.sections:
        places = [(s.name, s.offset, s.size, s.align) for s in elf.sections if s.type == SHT.NOTE]
    else:
        places = [(None, p.offset, p.filesz, p.align) for p in elf.segments if p.type == PT.NOTE]
    return [_read_block(elf, *p) for p in places]


def _read_block(elf, name, offset, size, align) -> NoteBlock:
    block = NoteBlock(name, offset, size)
    if not elf.check_range(offset, size, f"notes {name or ''}".strip()):
        return block
    align = 8 if align == 8 else 4
    pad = lambda n: (n + align - 1) & ~(align - 1)   # noqa: E731
    pos, end = offset, offset + size
    core = elf.header.is_core
    while pos + 12 <= end:
        namesz, descsz, ntype = elf.fmt.nhdr.unpack_from(elf.data, pos)
        name_at = pos + 12
        desc_at = pos + pad(12 + namesz)       # desc is aligned from the note's start
        if desc_at + descsz > end:
            elf.warn(f"note at offset {pos:#x} runs past the end of its "
                     f"{'section' if name else 'segment'} (namesz {namesz}, descsz {descsz})")
            break
        owner = bytes(elf.data[name_at:name_at + namesz]).rstrip(b"\0").decode("utf-8", "backslashreplace")
        desc = bytes(elf.data[desc_at:desc_at + descsz])
        block.notes.append(_decode(elf, owner, ntype, desc, core))
        pos = desc_at + pad(descsz)
    return block


def _decode(elf, owner, ntype, desc, core) -> Note:
    note = Note(owner, ntype, note_type_name(owner, ntype, core), desc)
    if owner != "GNU":
        return note
    if ntype == NT.GNU_BUILD_ID:
        note.build_id = desc.hex()
    elif ntype == NT.GNU_ABI_TAG and len(desc) >= 16:
        os_, major, minor, sub = struct.unpack_from(elf.fmt.endian + "IIII", desc)
        note.abi_tag = {"os": ABI_TAG_OS.get(os_, f"<unknown: {os_}>"),
                        "version": f"{major}.{minor}.{sub}"}
    elif ntype == NT.GNU_PROPERTY_TYPE_0:
        note.properties = _properties(elf, desc)
    return note


_ISA_NAMES = ["x86-64-baseline", "x86-64-v2", "x86-64-v3", "x86-64-v4"]
_FEATURE_2_NAMES = ["x86", "x87", "MMX", "XMM", "YMM", "ZMM", "FXSR", "XSAVE", "XSAVEOPT",
                    "XSAVEC", "TMM", "MASK"]


def _properties(elf, desc) -> list[GnuProperty]:
    out, pos, word = [], 0, elf.fmt.word
    e = elf.fmt.endian
    while pos + 8 <= len(desc):
        ptype, datasz = struct.unpack_from(e + "II", desc, pos)
        data = desc[pos + 8:pos + 8 + datasz]
        value = int.from_bytes(data[:4], "little" if e == "<" else "big") if len(data) >= 4 else 0
        out.append(_property(ptype, value, data, elf.header.machine))
        pos += 8 + ((datasz + word - 1) & ~(word - 1))
    return out


# readelf's wording for each property
_PROPERTY_NAMES = {
    GNU_PROPERTY.STACK_SIZE: "stack size", GNU_PROPERTY.NO_COPY_ON_PROTECTED: "no copy on protected",
    GNU_PROPERTY.X86_FEATURE_1_AND: "x86 feature", GNU_PROPERTY.X86_ISA_1_NEEDED: "x86 ISA needed",
    GNU_PROPERTY.X86_ISA_1_USED: "x86 ISA used", GNU_PROPERTY.X86_FEATURE_2_USED: "x86 feature used",
    GNU_PROPERTY.X86_FEATURE_2_NEEDED: "x86 feature needed",
    GNU_PROPERTY.X86_COMPAT_ISA_1_USED: "x86 compat ISA used",
    GNU_PROPERTY.X86_COMPAT_ISA_1_NEEDED: "x86 compat ISA needed",
}


def _property(ptype, value, data, machine=EM.X86_64) -> GnuProperty:
    if _LOPROC <= ptype < _LOUSER and machine not in _X86:
        return _processor_property(ptype, value, data, machine)
    name = _PROPERTY_NAMES.get(ptype, f"<unknown: {ptype:#x}>")
    decoded = []
    if ptype == GNU_PROPERTY.X86_FEATURE_1_AND:
        if value & GNU_PROPERTY_X86_FEATURE_1_IBT:
            decoded.append("IBT")
        if value & GNU_PROPERTY_X86_FEATURE_1_SHSTK:
            decoded.append("SHSTK")
        if value & ~3:
            decoded.append(f"<unknown: {value & ~3:x}>")
    elif ptype in (GNU_PROPERTY.X86_ISA_1_NEEDED, GNU_PROPERTY.X86_ISA_1_USED):
        decoded = [n for bit, n in enumerate(_ISA_NAMES) if value >> bit & 1]
        if value >> len(_ISA_NAMES):
            decoded.append(f"<unknown: {value >> len(_ISA_NAMES) << len(_ISA_NAMES):x}>")
    elif ptype in (GNU_PROPERTY.X86_FEATURE_2_USED, GNU_PROPERTY.X86_FEATURE_2_NEEDED):
        decoded = [n for bit, n in enumerate(_FEATURE_2_NAMES) if value >> bit & 1]
    elif ptype == GNU_PROPERTY.STACK_SIZE:
        value = int.from_bytes(data, "little")
        decoded = [f"{value:#x}"]
    return GnuProperty(ptype, name, value, decoded)


def _processor_property(ptype, value, data, machine) -> GnuProperty:
    """A GNU_PROPERTY_LOPROC..HIPROC property of a machine other than x86, as readelf -n
    words it: "AArch64 feature: BTI, PAC" (one name per bit, "<unknown: N>" for others),
    else "<processor-specific type 0x.. data: xx xx >"."""
    if machine == EM.AARCH64 and ptype == GNU_PROPERTY_AARCH64_FEATURE_1_AND:
        if len(data) != 4:
            return GnuProperty(ptype, "AArch64 feature", value,
                               [f"<corrupt length: {len(data):#x}>"])
        decoded = [_AARCH64_FEATURE_1.get(1 << b, f"<unknown: {1 << b:x}>")
                   for b in range(32) if value >> b & 1]
        return GnuProperty(ptype, "AArch64 feature", value, decoded)
    text = "".join(f"{b:02x} " for b in data)
    return GnuProperty(ptype, f"<processor-specific type {ptype:#x} data: {text}>", value, [])
