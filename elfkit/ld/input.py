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
        self.sections: list[InputSection | None] = []
        self.symbols: list[LocalSymbol] = []
        self.first_global = 0
        self.globals = []
        self.groups = []
        self.stack_note = None        # None: no .note.GNU-stack; else True when it asks for X
        self.data = data = bytes(data)
        self._read_header()
        self._read()

    def _bad(self, what: str):
        raise LinkError(f"{self.name}: {what}")

    def _read_header(self):
        data = self.data
        if len(data) < 64 or data[:4] != b"\x7fELF":
            self._bad("file format not recognized (truncated ELF header)" if data[:4] ==
                      b"\x7fELF" else "file format not recognized")
        if data[4] != 2 or data[5] != 1:
            self._bad("file in wrong format: elfkit link makes x86-64 executables only "
                      "(this is not a 64-bit little-endian ELF file)")
        e_type, e_machine = struct.unpack_from("<HH", data, 16)
        if e_machine != EM.X86_64:
            self._bad("file in wrong format: elfkit link makes x86-64 executables only")
        if e_type != ET.REL:
            self._bad(f"not a relocatable object (ELF type {e_type}); elfkit link takes ET_REL "
                      "objects and ar archives")
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        if shnum == 0 and shoff:                       # more than 0xff00 sections
            if shoff + 64 > len(data):
                self._bad("section headers lie outside the file")
            shnum = struct.unpack_from("<Q", data, shoff + 0x20)[0]
        if shstrndx == 0xFFFF and shoff:               # SHN_XINDEX: section 0's sh_link
            if shoff + 64 > len(data):
                self._bad("section headers lie outside the file")
            shstrndx = struct.unpack_from("<I", data, shoff + 0x28)[0]
        if shnum and (shentsize != 64 or shoff + 64 * shnum > len(data)):
            self._bad("section headers lie outside the file (or e_shentsize is not 64)")
        self.headers = list(struct.iter_unpack("<IIQQQQIIQQ", data[shoff:shoff + 64 * shnum]))
        names = b""
        if 0 < shstrndx < shnum:
            h = self.headers[shstrndx]
            if h[4] + h[5] > len(data):
                self._bad("the section name table lies outside the file")
            names = data[h[4]:h[4] + h[5]]
        self.section_names = _names(names, [h[0] for h in self.headers])
        if None in self.section_names:
            bad = self.headers[self.section_names.index(None)][0]
            self._bad(f"a name offset {bad:#x} is past the end of its string table")

    def _read(self):
        data, size = self.data, len(self.data)
        headers, names = self.headers, self.section_names
        sections = self.sections
        symtab_header = None
        for i, (_n, typ, flags, _addr, offset, sz, link, info, align, entsize) in \
                enumerate(headers):
            name = names[i]
            if typ == SHT.SYMTAB:
                symtab_header = (offset, sz, link, info, entsize)
            if typ in _NOT_CONTENT or flags & _EXCLUDE and not flags & _ALLOC:
                sections.append(None)
                continue
            if name == ".note.GNU-stack":
                self.stack_note = bool(flags & _EXEC)
                sections.append(None)
                continue
            if typ == _NOBITS:
                body = b""
            else:
                if offset + sz > size:
                    self._bad(f"section {name} lies outside the file")
                body = data[offset:offset + sz]
            if align & (align - 1) or align > 1 << 32:
                self._bad(f"section {name}: alignment {align:#x} is not a power of two up to "
                          "4 GiB")
            sections.append(InputSection(self, i, name, typ, flags, align, entsize, sz, body))
        if symtab_header is not None:
            self._read_symbols(*symtab_header)
        nsec = len(sections)
        for i, h in enumerate(headers):
            typ = h[1]
            if typ == SHT.REL:
                self._bad(f"{names[i]}: REL relocations are not used on x86-64")
            if typ != SHT.RELA or not h[5]:
                continue
            offset, sz, info = h[4], h[5], h[7]
            if offset + sz > size or sz % 24 or h[9] not in (0, 24):
                self._bad(f"relocation section {names[i]} is damaged (outside the file, or "
                          "not whole 24-byte entries)")
            if not 0 < info < nsec:
                continue
            target = sections[info]
            if target is None:
                continue
            words = memoryview(data[offset:offset + sz]).cast("Q")
            target.relocs = (words[0::3].tolist(), words[1::3].tolist(),
                             memoryview(data[offset:offset + sz]).cast("q")[2::3].tolist())
        for i, h in enumerate(headers):
            if h[1] == SHT.GROUP:
                self._read_group_at(names[i], h[4], h[5], h[7])

    def _read_symbols(self, offset, sz, link, info, entsize):
        data = self.data
        if entsize not in (0, 24) or offset + sz > len(data) or sz % 24:
            self._bad("the symbol table is damaged (outside the file, or not 24-byte entries)")
        strtab = b""
        if 0 < link < len(self.headers):
            h = self.headers[link]
            if h[4] + h[5] > len(data):
                self._bad("the symbol string table lies outside the file")
            strtab = data[h[4]:h[4] + h[5]]
        self.first_global = info
        sections = self.sections
        nsec = len(sections)
        append = self.symbols.append
        entries = list(struct.iter_unpack("<IBBHQQ", data[offset:offset + sz]))
        names = _names(strtab, [e[0] for e in entries])
        for (st_name, st_info, st_other, shndx, value, size), name in zip(entries, names):
            sec = sections[shndx] if 0 < shndx < nsec else None
            if shndx >= nsec and shndx < 0xFF00:
                self._bad(f"a symbol's section index {shndx} is not a section")
            if name is None:
                self._bad(f"a name offset {st_name:#x} is past the end of its string table")
            append(LocalSymbol(name, value, size, st_info, st_other, shndx, sec))

    def _read_group_at(self, name, offset, size, info):
        raw = self.data[offset:offset + size]
        if len(raw) < 4 or len(raw) % 4 or offset + size > len(self.data):
            raise LinkError(f"{self.name}: group section {name} is damaged")
        words = struct.unpack(f"<{len(raw) // 4}I", raw)
        if not words[0] & GRP_COMDAT:
            return
        if not (0 < info < len(self.symbols)):
            raise LinkError(f"{self.name}: group section {name} names no signature symbol")
        sym = self.symbols[info]
        signature = sym.name or (sym.section.name if sym.section is not None else "")
        self.groups.append((signature, [i for i in words[1:] if i < len(self.sections)]))

    def __repr__(self):
        return f"<ObjectFile {self.name}>"


_ALLOC, _EXEC, _EXCLUDE, _NOBITS = 0x2, 0x4, 0x80000000, 8


def _names(table: bytes, offsets: list[int]) -> list[str | None]:
    """The names at `offsets` of a string table (offset 0: ""), None for an offset past its
    end or with no NUL after it: an ASCII table (nearly all are) is decoded once and each name
    cut from it with str.find; another's names are decoded one by one (UTF-8, backslashes for
    bad bytes)."""
    n, out = len(table), []
    if table.isascii():
        text = table.decode("ascii")
        find = text.find
        for o in offsets:
            end = find("\0", o) if o else o
            out.append(text[o:end] if not o or o < n and end >= 0 else None)
        return out
    for o in offsets:
        if not o:
            out.append("")
            continue
        end = table.find(b"\0", o)
        out.append(table[o:end].decode("utf-8", "backslashreplace") if o < n and end >= 0
                   else None)
    return out


def is_elf(data) -> bool:
    return bytes(data[:4]) == b"\x7fELF"


__all__ = ["ObjectFile", "InputSection", "LocalSymbol", "LinkError", "is_elf", "SHN"]
