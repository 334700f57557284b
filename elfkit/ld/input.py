"""Input objects: one ET_REL file (or archive member) as the link sees it -- its sections with
their bytes and relocations, its symbols, and its COMDAT groups (bfd's elf_object_p and
elf_link_add_object_symbols' reading half).

Only what ld reads is decoded: SHT_PROGBITS/NOBITS/NOTE/INIT_ARRAY/... sections that carry
code or data, the one SHT_SYMTAB, SHT_RELA sections (SHT_REL is refused: x86-64 objects use
RELA), SHT_GROUP. Everything read from the file is checked; damage is a LinkError naming the
object.
"""
from __future__ import annotations

import struct

from elfkit.elf import ElfFile
from elfkit.elf.constants import EM, ET, SHN, SHT
from elfkit.errors import ElfkitError

GRP_COMDAT = 1


class SHF:
    """Section flags as plain ints: the link tests them millions of times, and enum.IntFlag's
    `&` builds a new flag object each time."""
    WRITE, ALLOC, EXECINSTR, MERGE, STRINGS, INFO_LINK = 0x1, 0x2, 0x4, 0x10, 0x20, 0x40
    GROUP, TLS, EXCLUDE = 0x200, 0x400, 0x80000000
# sections an output never carries as such: tables the linker reads or rebuilds
_NOT_CONTENT = {SHT.NULL, SHT.SYMTAB, SHT.STRTAB, SHT.RELA, SHT.REL, SHT.GROUP,
                SHT.SYMTAB_SHNDX if hasattr(SHT, "SYMTAB_SHNDX") else 18}


class LinkError(ElfkitError):
    """A link that cannot be made: one line per problem, as ld reports them (exit 1)."""

    exit_code = 1

    def __init__(self, lines, path="elfkit link"):
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__(path, "; ".join(self.lines))

    def one_line(self) -> str:
        return "\n".join(f"elfkit link: {line}" for line in self.lines)


class InputSection:
    """A section of an input object. `out`/`out_offset` are set by the layout; `live` is
    false for a discarded COMDAT member or a section --gc-sections removed."""

    __slots__ = ("obj", "index", "name", "type", "flags", "align", "entsize", "size", "data",
                 "relocs", "out", "out_offset", "live", "merge_map")

    def __init__(self, obj, index, name, typ, flags, align, entsize, size, data):
        self.obj = obj
        self.index = index
        self.name = name
        self.type = typ
        self.flags = flags
        self.align = max(1, align)
        self.entsize = entsize
        self.size = size
        self.data = data              # bytes (b"" for NOBITS)
        self.relocs = None            # (offsets, infos, addends) columns, or None
        self.out = None               # OutputSection
        self.out_offset = 0
        self.live = True
        self.merge_map = None         # SHF_MERGE: sorted [(input offset, output offset)]

    @property
    def addr(self) -> int:
        return self.out.addr + self.out_offset

    def __repr__(self):
        return f"<{self.obj.name}({self.name})>"


class LocalSymbol:
    __slots__ = ("name", "value", "size", "type", "bind", "visibility", "shndx", "section")

    def __init__(self, name, value, size, info, other, shndx, section):
        self.name = name
        self.value = value
        self.size = size
        self.type = info & 0xF
        self.bind = info >> 4
        self.visibility = other & 3
        self.shndx = shndx
        self.section = section        # InputSection, or None (ABS, UNDEF, COMMON, discarded)


class ObjectFile:
    """An ET_REL x86-64 object: `sections[i]` (None for tables the link does not copy),
    `symbols[i]` as read, `globals[i]` the GlobalSymbol a global index resolves to (set by
    resolve.py), `groups`: (signature, [section indexes]) of its COMDAT groups."""

    def __init__(self, name: str, data, archive=None):
        self.name = name              # "a.o" or "libc.a(printf.o)": how messages name it
        self.archive = archive
        try:
            self.elf = elf = ElfFile(name, data)
        except ElfkitError as e:
            raise LinkError(f"{name}: {e.message}") from None
        h = elf.header
        if h.type != ET.REL:
            raise LinkError(f"{name}: not a relocatable object (ELF type {h.type}); elfkit link "
                            "takes ET_REL objects and ar archives")
        if h.machine != EM.X86_64 or not elf.is_64:
            raise LinkError(f"{name}: file in wrong format: elfkit link makes x86-64 "
                            "executables only")
        self.sections: list[InputSection | None] = []
        self.symbols: list[LocalSymbol] = []
        self.first_global = 0
        self.globals = []
        self.groups = []
        self.stack_note = None        # None: no .note.GNU-stack; else True when it asks for X
        self._read()
        if elf.warnings:
            raise LinkError(f"{name}: {elf.warnings[0]}")

    def _read(self):
        elf = self.elf
        data = elf.data
        secs = elf.sections
        for s in secs:
            if s.type in _NOT_CONTENT or s.flags & SHF.EXCLUDE and not s.flags & SHF.ALLOC:
                self.sections.append(None)
                continue
            if s.name == ".note.GNU-stack":
                self.stack_note = bool(s.flags & SHF.EXECINSTR)
                self.sections.append(None)
                continue
            if s.type == SHT.NOBITS:
                body = b""
            else:
                if s.offset + s.size > elf.size:
                    raise LinkError(f"{self.name}: section {s.name} lies outside the file")
                body = bytes(data[s.offset:s.offset + s.size])
            self.sections.append(InputSection(self, s.index, s.name, s.type, s.flags, s.align,
                                              s.entsize, s.size, body))
        symtab = next(iter(elf.symbol_tables), None)
        for s in secs:
            if s.type == SHT.SYMTAB:
                self.first_global = s.info
        if symtab is not None:
            for i in range(len(symtab)):
                shndx = symtab.shndxs[i]
                sec = self.sections[shndx] if 0 < shndx < len(self.sections) else None
                self.symbols.append(LocalSymbol(symtab.names[i], symtab.values[i],
                                                symtab.sizes[i], symtab.infos[i],
                                                symtab.others[i], shndx, sec))
        for table in elf.relocation_tables:
            sec = secs[table.section_index]
            if table.kind == "REL":
                raise LinkError(f"{self.name}: {sec.name}: REL relocations are not used on "
                                "x86-64")
            if table.kind != "RELA" or not (0 < sec.info < len(self.sections)):
                continue
            target = self.sections[sec.info]
            if target is not None:
                target.relocs = table.columns
        for s in secs:
            if s.type == SHT.GROUP:
                self._read_group(s)

    def _read_group(self, s):
        raw = bytes(self.elf.data[s.offset:s.offset + s.size])
        if len(raw) < 4 or len(raw) % 4:
            raise LinkError(f"{self.name}: group section {s.name} is damaged")
        words = struct.unpack(f"<{len(raw) // 4}I", raw)
        if not words[0] & GRP_COMDAT:
            return
        if not (0 < s.info < len(self.symbols)):
            raise LinkError(f"{self.name}: group section {s.name} names no signature symbol")
        sym = self.symbols[s.info]
        signature = sym.name or (sym.section.name if sym.section is not None else "")
        self.groups.append((signature, [i for i in words[1:] if i < len(self.sections)]))

    def __repr__(self):
        return f"<ObjectFile {self.name}>"


def is_elf(data) -> bool:
    return bytes(data[:4]) == b"\x7fELF"


__all__ = ["ObjectFile", "InputSection", "LocalSymbol", "LinkError", "is_elf", "SHN"]
