"""Where the headers and tables of an ELF file are, read without elfkit's parser.

The mutations need to know where e_phoff's field is, where the third program header's
p_filesz is, where the dynamic array and the hash and version tables start. They find it
here, with struct and nothing of elfkit.elf: a parser bug must not decide which inputs are
made. Tolerant on purpose: used on the undamaged base files (and on files already mutated by
an earlier step of a recipe), it never raises; a table it cannot find is simply absent.
"""
from __future__ import annotations

import struct

# <elf.h>, only what the mutations aim at.
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR, PT_TLS = 1, 2, 3, 4, 6, 7
PT_GNU_STACK, PT_GNU_RELRO = 0x6474E551, 0x6474E552
SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_HASH, SHT_DYNAMIC, SHT_NOBITS = 2, 3, 4, 5, 6, 8
SHT_REL, SHT_DYNSYM, SHT_GNU_HASH = 9, 11, 0x6FFFFFF6
SHT_GNU_VERDEF, SHT_GNU_VERNEED, SHT_GNU_VERSYM = 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF
DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB = 0, 1, 4, 5, 6
DT_GNU_HASH, DT_VERSYM, DT_VERDEF, DT_VERNEED = 0x6FFFFEF5, 0x6FFFFFF0, 0x6FFFFFFC, 0x6FFFFFFE

# Each record's fields: (name, struct code) for ELF64, then ELF32; "W" is the class's word.
EHDR = [("e_ident", "16s"), ("e_type", "H"), ("e_machine", "H"), ("e_version", "I"),
        ("e_entry", "W"), ("e_phoff", "W"), ("e_shoff", "W"), ("e_flags", "I"),
        ("e_ehsize", "H"), ("e_phentsize", "H"), ("e_phnum", "H"), ("e_shentsize", "H"),
        ("e_shnum", "H"), ("e_shstrndx", "H")]
PHDR64 = [("p_type", "I"), ("p_flags", "I"), ("p_offset", "Q"), ("p_vaddr", "Q"),
          ("p_paddr", "Q"), ("p_filesz", "Q"), ("p_memsz", "Q"), ("p_align", "Q")]
PHDR32 = [("p_type", "I"), ("p_offset", "I"), ("p_vaddr", "I"), ("p_paddr", "I"),
          ("p_filesz", "I"), ("p_memsz", "I"), ("p_flags", "I"), ("p_align", "I")]
SHDR = [("sh_name", "I"), ("sh_type", "I"), ("sh_flags", "W"), ("sh_addr", "W"),
        ("sh_offset", "W"), ("sh_size", "W"), ("sh_link", "I"), ("sh_info", "I"),
        ("sh_addralign", "W"), ("sh_entsize", "W")]
DYN = [("d_tag", "W"), ("d_val", "W")]
VERNEED = [("vn_version", "H"), ("vn_cnt", "H"), ("vn_file", "I"), ("vn_aux", "I"),
           ("vn_next", "I")]
VERNAUX = [("vna_hash", "I"), ("vna_flags", "H"), ("vna_other", "H"), ("vna_name", "I"),
           ("vna_next", "I")]
VERDEF = [("vd_version", "H"), ("vd_flags", "H"), ("vd_ndx", "H"), ("vd_cnt", "H"),
          ("vd_hash", "I"), ("vd_aux", "I"), ("vd_next", "I")]
GNU_HASH = [("nbuckets", "I"), ("symoffset", "I"), ("bloom_size", "I"), ("bloom_shift", "I")]
SYSV_HASH = [("nbucket", "I"), ("nchain", "I")]
KINDS = {"ehdr": EHDR, "shdr": SHDR, "dyn": DYN, "verneed": VERNEED, "vernaux": VERNAUX,
         "verdef": VERDEF, "gnu_hash": GNU_HASH, "sysv_hash": SYSV_HASH}


class Record:
    """One record of the file: its kind, where it starts, and each field's (offset, size)."""
    __slots__ = ("kind", "offset", "fields", "values")

    def __init__(self, kind: str, offset: int, fields: dict, values: dict):
        self.kind, self.offset, self.fields, self.values = kind, offset, fields, values

    def __getitem__(self, name):
        return self.values.get(name, 0)


class ElfLayout:
    """The records of `data` that the mutations patch, found by struct alone."""

    def __init__(self, data: bytes):
        self.data = data
        self.ok = len(data) >= 52 and data[:4] == b"\x7fELF" and data[4] in (1, 2) \
            and data[5] in (1, 2)
        self.is64 = self.ok and data[4] == 2
        self.endian = ">" if self.ok and data[5] == 2 else "<"
        self.word = 8 if self.is64 else 4
        self.ehdr = self.record("ehdr", 0) if self.ok else None
        self.phdrs: list[Record] = []
        self.shdrs: list[Record] = []
        if self.ehdr is None:
            return
        h = self.ehdr
        psize, ssize = (56, 64) if self.is64 else (32, 40)
        if h["e_phentsize"] == psize:
            for i in range(min(h["e_phnum"], 512)):
                off = h["e_phoff"] + i * psize
                if off + psize > len(data):
                    break
                self.phdrs.append(self.record("phdr", off))
        if h["e_shentsize"] == ssize:
            for i in range(min(h["e_shnum"], 4096)):
                off = h["e_shoff"] + i * ssize
                if off + ssize > len(data):
                    break
                self.shdrs.append(self.record("shdr", off))

    def layout_of(self, kind: str) -> list[tuple[str, str]]:
        if kind == "phdr":
            return PHDR64 if self.is64 else PHDR32
        return KINDS[kind]

    def record(self, kind: str, offset: int) -> Record:
        fields, values, pos = {}, {}, offset
        for name, code in self.layout_of(kind):
            if code == "W":
                code = "Q" if self.is64 else "I"
            size = struct.calcsize(code)
            fields[name] = (pos, code)
            if code[-1] != "s" and 0 <= pos and pos + size <= len(self.data):
                values[name] = struct.unpack_from(self.endian + code, self.data, pos)[0]
            pos += size
        return Record(kind, offset, fields, values)

    # --- finding tables ------------------------------------------------------------------------
    def segments(self, p_type: int) -> list[tuple[int, Record]]:
        return [(i, p) for i, p in enumerate(self.phdrs) if p["p_type"] == p_type]

    def sections(self, sh_type: int) -> list[tuple[int, Record]]:
        return [(i, s) for i, s in enumerate(self.shdrs) if s["sh_type"] == sh_type]

    def vaddr_to_offset(self, vaddr: int) -> int | None:
        for _, p in self.segments(PT_LOAD):
            if p["p_vaddr"] <= vaddr < p["p_vaddr"] + p["p_filesz"]:
                return p["p_offset"] + vaddr - p["p_vaddr"]
        return None

    def dynamic(self) -> tuple[int, int] | None:
        """(file offset, vaddr) of the dynamic array: SHT_DYNAMIC, else PT_DYNAMIC."""
        for _, s in self.sections(SHT_DYNAMIC):
            return s["sh_offset"], s["sh_addr"]
        for _, p in self.segments(PT_DYNAMIC):
            return p["p_offset"], p["p_vaddr"]
        return None

    def dynamic_entries(self) -> list[Record]:
        where = self.dynamic()
        if where is None:
            return []
        size = 2 * self.word
        out = []
        for k in range(4096):
            pos = where[0] + k * size
            if pos + size > len(self.data):
                break
            d = self.record("dyn", pos)
            out.append(d)
            if d["d_tag"] == DT_NULL:
                break
        return out

    def table(self, sh_type: int, tag: int) -> int | None:
        """File offset of a table, through its section or else its dynamic tag."""
        for _, s in self.sections(sh_type):
            if s["sh_offset"] < len(self.data):
                return s["sh_offset"]
        for d in self.dynamic_entries():
            if d["d_tag"] == tag:
                return self.vaddr_to_offset(d["d_val"])
        return None
