"""Hostile ELF inputs: truncations and field corruptions of real files, made without elfkit.

A tiny struct reader (`Layout`) finds where the headers and tables of an ELF
file are, so that the generators can cut the file at every header boundary
and patch individual fields.  Nothing here imports elfkit: the damage is
derived from the bytes on their own, so a bug in elfkit's parser cannot hide
a case.

Every generator yields `Case(id, data)` with a short, stable id usable as a
pytest id; a generator that does not apply to a file (no .dynamic, no
verneed, ...) yields nothing.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

U16, U32, U64 = 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF

# Constants from <elf.h>, only the ones used here.
SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_HASH, SHT_DYNAMIC, SHT_NOTE = 2, 3, 4, 5, 6, 7
SHT_NOBITS, SHT_REL, SHT_DYNSYM, SHT_RELR = 8, 9, 11, 19
SHT_GNU_HASH, SHT_GNU_VERDEF, SHT_GNU_VERNEED, SHT_GNU_VERSYM = \
    0x6FFFFFF6, 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR = 1, 2, 3, 4, 6
DT_NULL, DT_NEEDED, DT_PLTRELSZ, DT_PLTGOT, DT_HASH, DT_STRTAB, DT_SYMTAB = 0, 1, 2, 3, 4, 5, 6
DT_RELA, DT_RELASZ, DT_STRSZ, DT_SONAME, DT_RPATH, DT_JMPREL, DT_RUNPATH = 7, 8, 10, 14, 15, 23, 29
DT_RELR, DT_RELRSZ = 36, 35
DT_GNU_HASH, DT_VERSYM = 0x6FFFFEF5, 0x6FFFFFF0
DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFC, 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF

# An address no sane x86-64 file maps.
NOWHERE = 0x7EADBEEF000


@dataclass(frozen=True)
class Case:
    id: str
    data: bytes


def _struct(endian: str, fields: list[tuple[str, str]]):
    """{name: (offset, struct.Struct)} and the total size for a packed C struct."""
    out, off = {}, 0
    for name, code in fields:
        s = struct.Struct(endian + code)
        out[name] = (off, s)
        off += s.size
    return out, off


@dataclass
class Entry:
    """One record found in the file: where it is, and its decoded fields."""
    offset: int
    layout: dict
    values: dict = field(default_factory=dict)

    def __getitem__(self, name):
        return self.values[name]

    def field_offset(self, name) -> int:
        return self.offset + self.layout[name][0]


class Layout:
    """Where the ELF header, program headers, section headers and their tables are in `data`.

    Tolerant on purpose: it is used on good files only (the corruption comes
    afterwards), but never raises on anything odd; it just finds less.
    """

    def __init__(self, data: bytes):
        self.data = bytes(data)
        if len(data) < 20 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
            raise ValueError("not an ELF file this reader understands")
        self.is64 = data[4] == 2
        self.e = "<" if data[5] == 1 else ">"
        e, w = self.e, ("Q" if self.is64 else "I")
        self.word = 8 if self.is64 else 4
        self.ehdr_fields, self.ehdr_size = _struct(e, [
            ("e_ident", "16s"), ("e_type", "H"), ("e_machine", "H"), ("e_version", "I"),
            ("e_entry", w), ("e_phoff", w), ("e_shoff", w), ("e_flags", "I"), ("e_ehsize", "H"),
            ("e_phentsize", "H"), ("e_phnum", "H"), ("e_shentsize", "H"), ("e_shnum", "H"),
            ("e_shstrndx", "H")])
        if self.is64:
            ph = [("p_type", "I"), ("p_flags", "I"), ("p_offset", "Q"), ("p_vaddr", "Q"),
                  ("p_paddr", "Q"), ("p_filesz", "Q"), ("p_memsz", "Q"), ("p_align", "Q")]
            sym = [("st_name", "I"), ("st_info", "B"), ("st_other", "B"), ("st_shndx", "H"),
                   ("st_value", "Q"), ("st_size", "Q")]
            dyn = [("d_tag", "q"), ("d_val", "Q")]
        else:
            ph = [("p_type", "I"), ("p_offset", "I"), ("p_vaddr", "I"), ("p_paddr", "I"),
                  ("p_filesz", "I"), ("p_memsz", "I"), ("p_flags", "I"), ("p_align", "I")]
            sym = [("st_name", "I"), ("st_value", "I"), ("st_size", "I"), ("st_info", "B"),
                   ("st_other", "B"), ("st_shndx", "H")]
            dyn = [("d_tag", "i"), ("d_val", "I")]
        self.phdr_fields, self.phdr_size = _struct(e, ph)
        self.shdr_fields, self.shdr_size = _struct(e, [
            ("sh_name", "I"), ("sh_type", "I"), ("sh_flags", w), ("sh_addr", w),
            ("sh_offset", w), ("sh_size", w), ("sh_link", "I"), ("sh_info", "I"),
            ("sh_addralign", w), ("sh_entsize", w)])
        self.sym_fields, self.sym_size = _struct(e, sym)
        self.dyn_fields, self.dyn_size = _struct(e, dyn)
        self.rel_fields, self.rel_size = _struct(e, [("r_offset", w), ("r_info", w)])
        self.rela_fields, self.rela_size = _struct(e, [("r_offset", w), ("r_info", w),
                                                        ("r_addend", w.lower())])
        self.nhdr_fields, self.nhdr_size = _struct(e, [("n_namesz", "I"), ("n_descsz", "I"),
                                                        ("n_type", "I")])
        self.verneed_fields, _ = _struct(e, [("vn_version", "H"), ("vn_cnt", "H"), ("vn_file", "I"),
                                             ("vn_aux", "I"), ("vn_next", "I")])
        self.vernaux_fields, _ = _struct(e, [("vna_hash", "I"), ("vna_flags", "H"),
                                             ("vna_other", "H"), ("vna_name", "I"), ("vna_next", "I")])
        self.verdef_fields, _ = _struct(e, [("vd_version", "H"), ("vd_flags", "H"), ("vd_ndx", "H"),
                                            ("vd_cnt", "H"), ("vd_hash", "I"), ("vd_aux", "I"),
                                            ("vd_next", "I")])
        self.verdaux_fields, _ = _struct(e, [("vda_name", "I"), ("vda_next", "I")])
        self.gnuhash_fields, _ = _struct(e, [("nbuckets", "I"), ("symoffset", "I"),
                                             ("bloom_size", "I"), ("bloom_shift", "I")])
        self.sysvhash_fields, _ = _struct(e, [("nbucket", "I"), ("nchain", "I")])

        self.ehdr = self.entry(0, self.ehdr_fields) if len(data) >= self.ehdr_size else None
        self.phdrs: list[Entry] = []
        self.shdrs: list[Entry] = []
        self.names: list[str] = []
        if self.ehdr is None:
            return
        h = self.ehdr
        if h["e_phoff"] and h["e_phentsize"] == self.phdr_size:
            for i in range(h["e_phnum"]):
                off = h["e_phoff"] + i * self.phdr_size
                if off + self.phdr_size > len(data):
                    break
                self.phdrs.append(self.entry(off, self.phdr_fields))
        if h["e_shoff"] and h["e_shentsize"] == self.shdr_size:
            for i in range(h["e_shnum"]):
                off = h["e_shoff"] + i * self.shdr_size
                if off + self.shdr_size > len(data):
                    break
                self.shdrs.append(self.entry(off, self.shdr_fields))
        strndx = h["e_shstrndx"]
        strtab = self.shdrs[strndx] if strndx < len(self.shdrs) else None
        for s in self.shdrs:
            name = ""
            if strtab is not None:
                start = strtab["sh_offset"] + s["sh_name"]
                end = self.data.find(b"\0", start, strtab["sh_offset"] + strtab["sh_size"])
                if 0 <= start < len(data) and end >= 0:
                    name = self.data[start:end].decode("ascii", "replace")
            self.names.append(name)

    # --- decoding ---------------------------------------------------------------------------
    def entry(self, offset: int, layout: dict) -> Entry:
        values = {}
        for name, (off, s) in layout.items():
            if offset + off + s.size <= len(self.data):
                values[name] = s.unpack_from(self.data, offset + off)[0]
        return Entry(offset, layout, values)

    def sections_of_type(self, sh_type: int) -> list[tuple[int, str, Entry]]:
        return [(i, self.names[i], s) for i, s in enumerate(self.shdrs) if s["sh_type"] == sh_type]

    def section(self, name: str) -> tuple[int, Entry] | None:
        for i, (n, s) in enumerate(zip(self.names, self.shdrs)):
            if n == name:
                return i, s
        return None

    def segments_of_type(self, p_type: int) -> list[Entry]:
        return [p for p in self.phdrs if p["p_type"] == p_type]

    def vaddr_to_offset(self, vaddr: int) -> int | None:
        for p in self.segments_of_type(PT_LOAD):
            if p["p_vaddr"] <= vaddr < p["p_vaddr"] + p["p_filesz"]:
                return p["p_offset"] + vaddr - p["p_vaddr"]
        return None

    def dynamic_entries(self) -> list[Entry]:
        """The Elf_Dyn array, from SHT_DYNAMIC or PT_DYNAMIC, up to and including DT_NULL."""
        secs = self.sections_of_type(SHT_DYNAMIC)
        if secs:
            off, size = secs[0][2]["sh_offset"], secs[0][2]["sh_size"]
        else:
            segs = self.segments_of_type(PT_DYNAMIC)
            if not segs:
                return []
            off, size = segs[0]["p_offset"], segs[0]["p_filesz"]
        out = []
        for pos in range(off, min(off + size, len(self.data)) - self.dyn_size + 1, self.dyn_size):
            d = self.entry(pos, self.dyn_fields)
            out.append(d)
            if d["d_tag"] == DT_NULL:
                break
        return out

    def dyn(self, tag: int) -> Entry | None:
        return next((d for d in self.dynamic_entries() if d["d_tag"] == tag), None)

    def table_offset(self, sh_type: int, dt_tag: int | None) -> int | None:
        """File offset of a table: through its section, else through the dynamic tag."""
        secs = self.sections_of_type(sh_type)
        if secs:
            return secs[0][2]["sh_offset"]
        if dt_tag is not None:
            d = self.dyn(dt_tag)
            if d is not None:
                return self.vaddr_to_offset(d["d_val"])
        return None

    def note_headers(self) -> list[Entry]:
        """Every Elf_Nhdr in SHT_NOTE sections (or PT_NOTE segments when there are none)."""
        places = [(s["sh_offset"], s["sh_size"], s["sh_addralign"])
                  for _, _, s in self.sections_of_type(SHT_NOTE)]
        if not places:
            places = [(p["p_offset"], p["p_filesz"], p["p_align"]) for p in self.segments_of_type(PT_NOTE)]
        out = []
        for off, size, align in places:
            align = 8 if align == 8 else 4
            pad = lambda n: (n + align - 1) & ~(align - 1)   # noqa: E731
            pos, end = off, min(off + size, len(self.data))
            while pos + 12 <= end:
                n = self.entry(pos, self.nhdr_fields)
                out.append(n)
                pos = pos + pad(12 + n["n_namesz"]) + pad(n["n_descsz"])
        return out

    # --- patching ---------------------------------------------------------------------------
    def patch(self, entry: Entry, name: str, value: int, data: bytes | None = None) -> bytes:
        """A copy of `data` (default: the original) with one field of `entry` set to `value`."""
        off, s = entry.layout[name]
        buf = bytearray(self.data if data is None else data)
        fmt = s.format
        code = fmt[-1]
        bits = s.size * 8
        if code.islower() and value >= 1 << (bits - 1):
            value -= 1 << bits            # the same bit pattern in a signed field
        if code.isupper():
            value &= (1 << bits) - 1
        struct.pack_into(fmt, buf, entry.offset + off, value)
        return bytes(buf)

    def patch_many(self, changes: list[tuple[Entry, str, int]], data: bytes | None = None) -> bytes:
        for entry, name, value in changes:
            data = self.patch(entry, name, value, data)
        return data


# ------------------------------------------------------------------------------------------
# Derived inputs
# ------------------------------------------------------------------------------------------

def strip_section_headers(data: bytes) -> bytes:
    """The file as `hello-noshdr` is made: e_shoff, e_shnum, e_shstrndx zeroed.

    elfkit then has to find everything through PT_DYNAMIC and the DT_* tags
    (readelf -D), which is where most of the address-based code paths are.
    """
    lay = Layout(data)
    return lay.patch_many([(lay.ehdr, "e_shoff", 0), (lay.ehdr, "e_shnum", 0),
                           (lay.ehdr, "e_shstrndx", 0)])


# ------------------------------------------------------------------------------------------
# Truncations
# ------------------------------------------------------------------------------------------

INTERESTING_SECTIONS = (".dynsym", ".dynstr", ".rela.dyn", ".rela.plt", ".rel.dyn", ".rel.plt",
                        ".relr.dyn", ".dynamic", ".gnu.version", ".gnu.version_r",
                        ".gnu.version_d", ".gnu.hash", ".hash", ".interp", ".symtab", ".strtab",
                        ".shstrtab", ".plt", ".plt.sec", ".got.plt", ".text")


def truncation_points(data: bytes) -> list[tuple[str, int]]:
    """(label, length) pairs: cut the file to `length` bytes at every header boundary.

    A length that is several boundaries at once has all their names in its
    label, joined by "|" (e.g. "ehdr.end|phdr[0]").

    Covers: inside e_ident and at every ELF header field boundary; the
    program header table at each entry boundary and in the middle of each
    entry; the section header table likewise; and, for the interesting
    tables (dynsym, dynstr, relocations, dynamic, notes, versions, hashes,
    symtab, ...), their first byte, middle and last byte, plus each note
    header and a few Elf_Dyn / Elf_Sym entry boundaries.
    """
    lay = Layout(data)
    size = len(data)
    points: dict[int, list[str]] = {}

    def add(label, n):
        if 0 <= n < size:
            points.setdefault(n, []).append(label)

    for n in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16):
        add(f"ident+{n}", n)
    for name, (off, s) in lay.ehdr_fields.items():
        add(f"ehdr.{name}", off)
        add(f"ehdr.{name}.mid", off + s.size // 2)
    add("ehdr.end-1", lay.ehdr_size - 1)
    add("ehdr.end", lay.ehdr_size)
    h = lay.ehdr
    if h["e_phoff"]:
        for i in range(h["e_phnum"] + 1):
            base = h["e_phoff"] + i * lay.phdr_size
            add(f"phdr[{i}]", base)
            if i < h["e_phnum"]:
                add(f"phdr[{i}].mid", base + lay.phdr_size // 2)
        add("phdr.end-1", h["e_phoff"] + h["e_phnum"] * lay.phdr_size - 1)
        add("phdr.end", h["e_phoff"] + h["e_phnum"] * lay.phdr_size)
    if h["e_shoff"]:
        for i in range(h["e_shnum"] + 1):
            base = h["e_shoff"] + i * lay.shdr_size
            add(f"shdr[{i}]", base)
            if i < h["e_shnum"]:
                add(f"shdr[{i}].mid", base + lay.shdr_size // 2)
        add("shdr.end-1", h["e_shoff"] + h["e_shnum"] * lay.shdr_size - 1)
        add("shdr.end", h["e_shoff"] + h["e_shnum"] * lay.shdr_size)
    for i, (name, s) in enumerate(zip(lay.names, lay.shdrs)):
        if s["sh_type"] == SHT_NOBITS or not s["sh_size"]:
            continue
        if name in INTERESTING_SECTIONS or s["sh_type"] == SHT_NOTE:
            off, sz = s["sh_offset"], s["sh_size"]
            add(f"{name}.start", off)
            add(f"{name}.mid", off + sz // 2)
            add(f"{name}.end-1", off + sz - 1)
            if s["sh_type"] in (SHT_DYNSYM, SHT_SYMTAB):
                add(f"{name}[1].mid", off + lay.sym_size + lay.sym_size // 2)
    dyn = lay.dynamic_entries()
    for j, d in enumerate(dyn[:: max(1, len(dyn) // 6)]):
        add(f"dynamic.entry{j}", d.offset + lay.dyn_size // 2)
    for k, n in enumerate(lay.note_headers()):
        add(f"note{k}.nhdr.mid", n.offset + 6)
        add(f"note{k}.name", n.offset + 12)
    for p in lay.phdrs:                      # segments (for files without section headers)
        if p["p_type"] in (PT_DYNAMIC, PT_INTERP, PT_NOTE) and p["p_filesz"]:
            add(f"PT{p['p_type']}.mid", p["p_offset"] + p["p_filesz"] // 2)
    return [("|".join(points[n]), n) for n in sorted(points)]


def truncations(data: bytes) -> list[Case]:
    return [Case(f"trunc@{n}:{label}", data[:n]) for label, n in truncation_points(data)]


def truncation(data: bytes, label: str) -> Case | None:
    """The cut named `label` (any one of the names of its length), or None."""
    for labels, n in truncation_points(data):
        if label in labels.split("|"):
            return Case(f"trunc@{n}:{labels}", data[:n])
    return None


# ------------------------------------------------------------------------------------------
# Field corruptions
# ------------------------------------------------------------------------------------------

def header_corruptions(data: bytes) -> list[Case]:
    lay = Layout(data)
    h = lay.ehdr
    size = len(data)
    big = U64 if lay.is64 else U32
    c = []

    def add(id_, changes):
        c.append(Case(id_, lay.patch_many(changes)))

    add("e_phoff=EOF", [(h, "e_phoff", size)])
    add("e_phoff=EOF-8", [(h, "e_phoff", size - 8)])
    add("e_phoff=max", [(h, "e_phoff", big)])
    add("e_shoff=EOF", [(h, "e_shoff", size)])
    add("e_shoff=EOF-8", [(h, "e_shoff", size - 8)])
    add("e_shoff=max", [(h, "e_shoff", big)])
    add("e_phnum=0xffff", [(h, "e_phnum", U16)])
    add("e_shnum=0xffff", [(h, "e_shnum", U16)])
    add("e_phnum=0xffff,e_shnum=0xffff", [(h, "e_phnum", U16), (h, "e_shnum", U16)])
    add("e_phentsize=0", [(h, "e_phentsize", 0)])
    add("e_phentsize=1", [(h, "e_phentsize", 1)])
    add("e_phentsize+1", [(h, "e_phentsize", lay.phdr_size + 1)])
    add("e_phentsize=0xffff", [(h, "e_phentsize", U16)])
    add("e_shentsize=0", [(h, "e_shentsize", 0)])
    add("e_shentsize-1", [(h, "e_shentsize", lay.shdr_size - 1)])
    add("e_shentsize=0xffff", [(h, "e_shentsize", U16)])
    add("e_shstrndx=shnum", [(h, "e_shstrndx", h["e_shnum"])])
    add("e_shstrndx=0xfeff", [(h, "e_shstrndx", 0xFEFF)])
    add("e_shstrndx=0xffff", [(h, "e_shstrndx", U16)])       # SHN_XINDEX -> section 0's sh_link
    add("e_entry=max", [(h, "e_entry", big)])
    add("e_ehsize=0", [(h, "e_ehsize", 0)])
    add("e_type=0xffff", [(h, "e_type", U16)])
    add("e_type=CORE", [(h, "e_type", 4)])
    add("e_machine=0", [(h, "e_machine", 0)])
    add("e_machine=i386", [(h, "e_machine", 3)])
    if lay.shdrs:
        s0 = lay.shdrs[0]
        # Extended numbering: the real counts come from section header 0.
        add("xnum:e_shnum=0,sh0.size=max", [(h, "e_shnum", 0), (s0, "sh_size", big)])
        add("xnum:e_shnum=0,sh0.size=2^20", [(h, "e_shnum", 0), (s0, "sh_size", 1 << 20)])
        add("xnum:e_shstrndx=XINDEX,sh0.link=max", [(h, "e_shstrndx", U16), (s0, "sh_link", U32)])
        add("xnum:e_phnum=XNUM,sh0.info=max", [(h, "e_phnum", U16), (s0, "sh_info", U32)])
        add("xnum:e_phnum=XNUM,e_shoff=EOF", [(h, "e_phnum", U16), (h, "e_shoff", size - 8)])
        bss = next((i for i, s in enumerate(lay.shdrs) if s["sh_type"] == SHT_NOBITS), None)
        if bss is not None:
            add("e_shstrndx->NOBITS", [(h, "e_shstrndx", bss)])
        text = lay.section(".text")
        if text is not None:
            add("e_shstrndx->.text", [(h, "e_shstrndx", text[0])])
    # e_ident damage.
    buf = bytearray(data)
    for id_, pos, val in (("EI_CLASS=0", 4, 0), ("EI_CLASS=3", 4, 3), ("EI_DATA=0", 5, 0),
                          ("EI_DATA=3", 5, 3), ("EI_DATA=MSB", 5, 2), ("EI_VERSION=0xff", 6, 0xFF),
                          ("EI_CLASS=other", 4, 1 if lay.is64 else 2), ("magic=7f454c47", 3, 0x47)):
        b = bytearray(buf)
        b[pos] = val
        c.append(Case(id_, bytes(b)))
    return c


def section_corruptions(data: bytes, every_section: bool = True,
                        only: tuple[str, ...] = ()) -> list[Case]:
    """Per section: sh_offset/sh_size past EOF or huge, sh_link/sh_name out of range.

    Every section, or (every_section=False) the INTERESTING_SECTIONS and notes,
    or only the sections named in `only`.
    """
    lay = Layout(data)
    size = len(data)
    big = U64 if lay.is64 else U32
    huge = (1 << 63) if lay.is64 else 0x80000000
    strtab = lay.shdrs[lay.ehdr["e_shstrndx"]] if lay.ehdr["e_shstrndx"] < len(lay.shdrs) else None
    c = []
    for i, (name, s) in enumerate(zip(lay.names, lay.shdrs)):
        if i == 0:
            continue
        if only and name not in only:
            continue
        if not every_section and name not in INTERESTING_SECTIONS and s["sh_type"] != SHT_NOTE:
            continue
        tag = f"[{i}]{name}"
        c.append(Case(f"{tag}.sh_offset=EOF", lay.patch(s, "sh_offset", size)))
        c.append(Case(f"{tag}.sh_offset=max", lay.patch(s, "sh_offset", big)))
        c.append(Case(f"{tag}.sh_size=2^63", lay.patch(s, "sh_size", huge)))
        c.append(Case(f"{tag}.sh_size=past-EOF", lay.patch(s, "sh_size", size - s["sh_offset"] + 1)))
        c.append(Case(f"{tag}.sh_link=max", lay.patch(s, "sh_link", U32)))
        if strtab is not None:
            c.append(Case(f"{tag}.sh_name=past-strtab", lay.patch(s, "sh_name", strtab["sh_size"] + 5)))
        c.append(Case(f"{tag}.sh_name=max", lay.patch(s, "sh_name", U32)))
        if s["sh_type"] in (SHT_SYMTAB, SHT_DYNSYM, SHT_RELA, SHT_REL, SHT_DYNAMIC, SHT_GNU_VERSYM):
            c.append(Case(f"{tag}.sh_entsize=7", lay.patch(s, "sh_entsize", 7)))
            c.append(Case(f"{tag}.sh_size=odd", lay.patch(s, "sh_size", max(1, s["sh_size"] - 3))))
        if s["sh_type"] in (SHT_GNU_VERDEF, SHT_GNU_VERNEED):
            c.append(Case(f"{tag}.sh_info=max", lay.patch(s, "sh_info", U32)))
        if s["sh_type"] in (SHT_RELA, SHT_REL):
            c.append(Case(f"{tag}.sh_link->self", lay.patch(s, "sh_link", i)))
        c.append(Case(f"{tag}.sh_type=NOBITS,size=max", lay.patch_many(
            [(s, "sh_type", SHT_NOBITS), (s, "sh_size", big)])))
    return c


def symbol_corruptions(data: bytes) -> list[Case]:
    """st_name past the string table, st_shndx out of range, relocation symbol index out of range."""
    lay = Layout(data)
    c = []
    for sh_type, tname in ((SHT_DYNSYM, "dynsym"), (SHT_SYMTAB, "symtab")):
        secs = lay.sections_of_type(sh_type)
        if secs:
            _, _, s = secs[0]
            off, count = s["sh_offset"], s["sh_size"] // lay.sym_size
        elif sh_type == SHT_DYNSYM and lay.dyn(DT_SYMTAB) is not None:
            off = lay.vaddr_to_offset(lay.dyn(DT_SYMTAB)["d_val"])
            count = 8
        else:
            continue
        if off is None or count < 2:
            continue
        syms = [lay.entry(off + k * lay.sym_size, lay.sym_fields) for k in range(min(count, 64))]
        strsz = None
        link = s["sh_link"] if secs else None
        if link is not None and link < len(lay.shdrs):
            strsz = lay.shdrs[link]["sh_size"]
        elif lay.dyn(DT_STRSZ) is not None:
            strsz = lay.dyn(DT_STRSZ)["d_val"]
        if strsz is not None:
            c.append(Case(f"{tname}.st_name=strsz", lay.patch_many(
                [(e, "st_name", strsz) for e in syms[1:]])))
        c.append(Case(f"{tname}.st_name=max", lay.patch_many([(e, "st_name", U32) for e in syms[1:]])))
        c.append(Case(f"{tname}.st_shndx=0xfff0", lay.patch_many([(e, "st_shndx", 0xFFF0) for e in syms[1:]])))
        c.append(Case(f"{tname}.st_shndx=XINDEX", lay.patch_many([(e, "st_shndx", U16) for e in syms[1:]])))
        c.append(Case(f"{tname}.section-sym,shndx=0xfeff", lay.patch_many(
            [(e, "st_info", 3) for e in syms[1:]] + [(e, "st_shndx", 0xFEFF) for e in syms[1:]]
            + [(e, "st_name", 0) for e in syms[1:]])))
        c.append(Case(f"{tname}.st_info=0xff,st_other=0xff", lay.patch_many(
            [(e, "st_info", 0xFF) for e in syms[1:]] + [(e, "st_other", 0xFF) for e in syms[1:]])))
        c.append(Case(f"{tname}.st_value=max", lay.patch_many(
            [(e, "st_value", U64 if lay.is64 else U32) for e in syms[1:]]
            + [(e, "st_size", U64 if lay.is64 else U32) for e in syms[1:]])))
    for sh_type, dt, rela in ((SHT_RELA, DT_RELA, True), (SHT_RELA, DT_JMPREL, True),
                              (SHT_REL, None, False)):
        secs = lay.sections_of_type(sh_type)
        tables = [(n, s["sh_offset"], s["sh_size"]) for _, n, s in secs]
        if not secs and dt is not None and lay.dyn(dt) is not None:
            o = lay.vaddr_to_offset(lay.dyn(dt)["d_val"])
            if o is not None:
                tables = [(f"DT{dt}", o, 4 * (lay.rela_size if rela else lay.rel_size))]
        for name, off, sz in tables:
            fields, esz = (lay.rela_fields, lay.rela_size) if rela else (lay.rel_fields, lay.rel_size)
            ents = [lay.entry(off + k * esz, fields) for k in range(min(sz // esz, 64))]
            if not ents:
                continue
            shift = 32 if lay.is64 else 8
            mask = (1 << shift) - 1
            c.append(Case(f"{name}.r_sym=max", lay.patch_many(
                [(e, "r_info", (((1 << (64 - shift if lay.is64 else 24)) - 1) << shift) | (e["r_info"] & mask))
                 for e in ents])))
            c.append(Case(f"{name}.r_sym=1000000", lay.patch_many(
                [(e, "r_info", (1000000 << shift) | (e["r_info"] & mask)) for e in ents])))
            c.append(Case(f"{name}.r_type=0xff", lay.patch_many(
                [(e, "r_info", (e["r_info"] & ~mask) | 0xFF) for e in ents])))
            c.append(Case(f"{name}.r_offset=max", lay.patch_many(
                [(e, "r_offset", U64 if lay.is64 else U32) for e in ents])))
    return c


def dynamic_corruptions(data: bytes) -> list[Case]:
    """DT_* values pointing outside every segment, huge string offsets and sizes, no DT_NULL."""
    lay = Layout(data)
    entries = lay.dynamic_entries()
    if not entries:
        return []
    c = []
    big = U64 if lay.is64 else U32
    by_tag = {}
    for d in entries:
        by_tag.setdefault(d["d_tag"], d)
    nowhere = NOWHERE if lay.is64 else 0xFEEDF000
    for tag, label in ((DT_STRTAB, "DT_STRTAB"), (DT_SYMTAB, "DT_SYMTAB"), (DT_HASH, "DT_HASH"),
                       (DT_GNU_HASH, "DT_GNU_HASH"), (DT_RELA, "DT_RELA"), (DT_JMPREL, "DT_JMPREL"),
                       (DT_RELR, "DT_RELR"), (DT_VERSYM, "DT_VERSYM"), (DT_VERNEED, "DT_VERNEED"),
                       (DT_VERDEF, "DT_VERDEF"), (DT_PLTGOT, "DT_PLTGOT")):
        if tag in by_tag:
            c.append(Case(f"{label}=unmapped", lay.patch(by_tag[tag], "d_val", nowhere)))
            c.append(Case(f"{label}=max", lay.patch(by_tag[tag], "d_val", big)))
    for tag, label in ((DT_NEEDED, "DT_NEEDED"), (DT_SONAME, "DT_SONAME"), (DT_RUNPATH, "DT_RUNPATH"),
                       (DT_RPATH, "DT_RPATH")):
        ds = [d for d in entries if d["d_tag"] == tag]
        if ds:
            c.append(Case(f"{label}=0xffffffff", lay.patch_many([(d, "d_val", U32) for d in ds])))
            c.append(Case(f"{label}=max", lay.patch_many([(d, "d_val", big) for d in ds])))
            if DT_STRSZ in by_tag:
                c.append(Case(f"{label}=strsz", lay.patch_many(
                    [(d, "d_val", by_tag[DT_STRSZ]["d_val"]) for d in ds])))
    for tag, label in ((DT_STRSZ, "DT_STRSZ"), (DT_RELASZ, "DT_RELASZ"), (DT_PLTRELSZ, "DT_PLTRELSZ"),
                       (DT_RELRSZ, "DT_RELRSZ"), (DT_VERNEEDNUM, "DT_VERNEEDNUM"),
                       (DT_VERDEFNUM, "DT_VERDEFNUM")):
        if tag in by_tag:
            c.append(Case(f"{label}=max", lay.patch(by_tag[tag], "d_val", big)))
            c.append(Case(f"{label}=0", lay.patch(by_tag[tag], "d_val", 0)))
    if DT_STRSZ in by_tag:
        # DT_STRSZ gone (retagged as an unknown tag): the string table has no known end.
        c.append(Case("DT_STRSZ-removed", lay.patch(by_tag[DT_STRSZ], "d_tag", 0x7FFFFFF0)))
    # No DT_NULL: the array runs to the end of its section/segment.
    nulls = [d for d in entries if d["d_tag"] == DT_NULL]
    if nulls:
        c.append(Case("no-DT_NULL", lay.patch_many([(d, "d_tag", DT_NEEDED) for d in nulls]
                                                   + [(d, "d_val", U32) for d in nulls])))
    c.append(Case("all-tags=max", lay.patch_many([(d, "d_tag", big) for d in entries])))
    c.append(Case("all-tags=NEEDED,val=max", lay.patch_many(
        [(d, "d_tag", DT_NEEDED) for d in entries] + [(d, "d_val", big) for d in entries])))
    c.append(Case("DT_FLAGS=all", lay.patch_many([(entries[0], "d_tag", 30), (entries[0], "d_val", big)])))
    c.append(Case("DT_FLAGS_1=all", lay.patch_many([(entries[0], "d_tag", 0x6FFFFFFB),
                                                    (entries[0], "d_val", big)])))
    c.append(Case("DT_PLTREL=max", lay.patch_many([(entries[0], "d_tag", 20), (entries[0], "d_val", big)])))
    return c


def note_corruptions(data: bytes) -> list[Case]:
    lay = Layout(data)
    c = []
    for k, n in enumerate(lay.note_headers()):
        c.append(Case(f"note{k}.namesz=max", lay.patch(n, "n_namesz", U32)))
        c.append(Case(f"note{k}.descsz=max", lay.patch(n, "n_descsz", U32)))
        c.append(Case(f"note{k}.namesz=descsz=max", lay.patch_many([(n, "n_namesz", U32),
                                                                    (n, "n_descsz", U32)])))
        c.append(Case(f"note{k}.namesz=0x7ffffff0", lay.patch(n, "n_namesz", 0x7FFFFFF0)))
        if n["n_descsz"] >= 8:
            # GNU property: pr_datasz huge (the desc of NT_GNU_PROPERTY_TYPE_0)
            desc = n.offset + 12 + ((n["n_namesz"] + 3) & ~3)
            prop = lay.entry(desc, _struct(lay.e, [("pr_type", "I"), ("pr_datasz", "I")])[0])
            c.append(Case(f"note{k}.desc[4:8]=max", lay.patch(prop, "pr_datasz", U32)))
    return c


def _versions(lay: Layout):
    need = lay.table_offset(SHT_GNU_VERNEED, DT_VERNEED)
    defn = lay.table_offset(SHT_GNU_VERDEF, DT_VERDEF)
    return need, defn


def version_corruptions(data: bytes) -> list[Case]:
    """verneed/verdef chains: self-loops, backwards links, huge counts and offsets."""
    lay = Layout(data)
    need, defn = _versions(lay)
    c = []
    if need is not None:
        vn = lay.entry(need, lay.verneed_fields)
        aux = lay.entry(need + vn["vn_aux"], lay.vernaux_fields)
        # vn_next is relative to the record itself: 0 would point back at itself (it means
        # "last"); -16 (mod 2**32) points back into the previous bytes.
        c.append(Case("verneed.vn_next=0(self),vn_cnt=max", lay.patch_many(
            [(vn, "vn_next", 0), (vn, "vn_cnt", U16)])))
        c.append(Case("verneed.vn_next=-16", lay.patch(vn, "vn_next", (-16) & U32)))
        c.append(Case("verneed.vn_next=max", lay.patch(vn, "vn_next", U32)))
        c.append(Case("verneed.vn_next=1", lay.patch(vn, "vn_next", 1)))
        c.append(Case("verneed.vn_cnt=max", lay.patch(vn, "vn_cnt", U16)))
        c.append(Case("verneed.vn_cnt=max,vna_next=0", lay.patch_many(
            [(vn, "vn_cnt", U16), (aux, "vna_next", 0)])))
        c.append(Case("verneed.vn_aux=0(aux-is-self)", lay.patch(vn, "vn_aux", 0)))
        c.append(Case("verneed.vn_aux=max", lay.patch(vn, "vn_aux", U32)))
        c.append(Case("verneed.vn_file=max", lay.patch(vn, "vn_file", U32)))
        c.append(Case("vernaux.vna_name=max", lay.patch(aux, "vna_name", U32)))
        c.append(Case("vernaux.vna_next=-16", lay.patch(aux, "vna_next", (-16) & U32)))
        c.append(Case("vernaux.vna_next=1,vn_cnt=max", lay.patch_many(
            [(aux, "vna_next", 1), (vn, "vn_cnt", U16)])))
        c.append(Case("vernaux.vna_other=0xffff", lay.patch(aux, "vna_other", U16)))
    if defn is not None:
        vd = lay.entry(defn, lay.verdef_fields)
        aux = lay.entry(defn + vd["vd_aux"], lay.verdaux_fields)
        c.append(Case("verdef.vd_next=-20", lay.patch(vd, "vd_next", (-20) & U32)))
        c.append(Case("verdef.vd_next=max", lay.patch(vd, "vd_next", U32)))
        c.append(Case("verdef.vd_next=1", lay.patch(vd, "vd_next", 1)))
        c.append(Case("verdef.vd_cnt=max", lay.patch(vd, "vd_cnt", U16)))
        c.append(Case("verdef.vd_aux=0(aux-is-self)", lay.patch(vd, "vd_aux", 0)))
        c.append(Case("verdef.vd_aux=max", lay.patch(vd, "vd_aux", U32)))
        c.append(Case("verdaux.vda_name=max", lay.patch(aux, "vda_name", U32)))
        c.append(Case("verdaux.vda_next=-8", lay.patch(aux, "vda_next", (-8) & U32)))
        c.append(Case("verdef.vd_ndx=0xffff", lay.patch(vd, "vd_ndx", U16)))
    versym = lay.table_offset(SHT_GNU_VERSYM, DT_VERSYM)
    if versym is not None:
        half = struct.Struct(lay.e + "H")
        buf = bytearray(data)
        for k in range(1, 16):
            if versym + 2 * k + 2 <= len(buf):
                half.pack_into(buf, versym + 2 * k, 0x7FFF if k % 2 else 0xFFFF)
        c.append(Case("versym=0x7fff/0xffff", bytes(buf)))
    return c


def verneed_chain_amplifier(data: bytes, entries: int = 4096) -> list[Case]:
    """A verneed table of `entries` records, each claiming vn_cnt=0xffff and whose aux chain
    runs over every following record (vn_aux=0, vna_next == vn_next == 16).

    Every count and offset is inside the file and the section, yet decoding
    it naively costs entries**2 / 2 aux records: what a hostile file does to
    a parser that bounds each loop but not the total.
    """
    lay = Layout(data)
    secs = lay.sections_of_type(SHT_GNU_VERNEED)
    if not secs:
        return []
    i = secs[0][0]
    # The records are appended to the file and the section is pointed at them.
    rec = struct.pack(lay.e + "HHIII", 1, U16, 0, 0, 16)   # vn_version vn_cnt vn_file vn_aux vn_next
    table = rec * entries
    start = len(data)
    out = data + table
    lay2 = Layout(out)
    s2 = lay2.shdrs[i]
    out = lay2.patch_many([(s2, "sh_offset", start), (s2, "sh_size", len(table)),
                           (s2, "sh_info", entries)], out)
    return [Case(f"verneed-amplifier-{entries}", out)]


def verdef_chain_amplifier(data: bytes, entries: int = 4096) -> list[Case]:
    """The verdef twin of `verneed_chain_amplifier`: `entries` 24-byte records (vd_next=24),
    each with vd_cnt=0xffff and vd_aux=12, so that every record's verdaux chain
    (vda_name=12, vda_next=24: the vd_aux/vd_next words of the records) runs over
    every following record.
    """
    lay = Layout(data)
    secs = lay.sections_of_type(SHT_GNU_VERDEF)
    if not secs:
        return []
    i = secs[0][0]
    # vd_version vd_flags vd_ndx vd_cnt vd_hash vd_aux vd_next, padded to 24 bytes
    rec = struct.pack(lay.e + "HHHHIIII", 1, 0, 2, U16, 0, 12, 24, 0)
    table = rec * entries
    start = len(data)
    out = data + table
    lay2 = Layout(out)
    s2 = lay2.shdrs[i]
    out = lay2.patch_many([(s2, "sh_offset", start), (s2, "sh_size", len(table)),
                           (s2, "sh_info", entries)], out)
    return [Case(f"verdef-amplifier-{entries}", out)]


def control_characters_in_names(data: bytes) -> list[Case]:
    """Section names containing a newline (every "." becomes "\\n"), plus damage that elfkit reports
    by naming the section: the report must still be one line per problem."""
    lay = Layout(data)
    strndx = lay.ehdr["e_shstrndx"]
    if strndx >= len(lay.shdrs):
        return []
    st = lay.shdrs[strndx]
    o, n = st["sh_offset"], st["sh_size"]
    buf = bytearray(data)
    buf[o:o + n] = buf[o:o + n].replace(b".", b"\n")          # ".dynsym" -> "\ndynsym"
    base = bytes(buf)
    c = []
    for i, (name, s) in enumerate(zip(lay.names, lay.shdrs)):
        if s["sh_type"] in (SHT_DYNSYM, SHT_SYMTAB):
            c.append(Case(f"newline-names,[{i}]{name}.sh_entsize=7", lay.patch(s, "sh_entsize", 7, base)))
        if s["sh_type"] in (SHT_NOTE, SHT_RELA, SHT_REL, SHT_DYNSYM):
            c.append(Case(f"newline-names,[{i}]{name}.sh_size=2^40",
                          lay.patch(s, "sh_size", 1 << 40, base)))
    return c


def hash_corruptions(data: bytes) -> list[Case]:
    """DT_GNU_HASH / DT_HASH headers with huge nbuckets, bloom size, symoffset, nchain."""
    lay = Layout(data)
    c = []
    gh = lay.table_offset(SHT_GNU_HASH, DT_GNU_HASH)
    if gh is not None:
        e = lay.entry(gh, lay.gnuhash_fields)
        c.append(Case("gnu_hash.nbuckets=max", lay.patch(e, "nbuckets", U32)))
        c.append(Case("gnu_hash.bloom_size=max", lay.patch(e, "bloom_size", U32)))
        c.append(Case("gnu_hash.bloom_size=2^26", lay.patch(e, "bloom_size", 1 << 26)))
        c.append(Case("gnu_hash.symoffset=max", lay.patch(e, "symoffset", U32)))
        c.append(Case("gnu_hash.bloom_shift=max", lay.patch(e, "bloom_shift", U32)))
        c.append(Case("gnu_hash.nbuckets=0,bloom=0", lay.patch_many([(e, "nbuckets", 0),
                                                                     (e, "bloom_size", 0)])))
        # Every bucket pointing at the last symbol index: the chain walk starts past the table.
        nb, bs = e["nbuckets"], e["bloom_size"]
        buckets = gh + 16 + bs * lay.word
        buf = bytearray(data)
        for k in range(min(nb, 4096)):
            if buckets + 4 * k + 4 <= len(buf):
                struct.pack_into(lay.e + "I", buf, buckets + 4 * k, U32)
        c.append(Case("gnu_hash.buckets=max", bytes(buf)))
        # Chains with no terminating bit: the walk must stop at the end of the file.
        buf = bytearray(data)
        chains = buckets + 4 * nb
        for pos in range(chains, len(buf) - 3, 4):
            buf[pos] &= 0xFE if lay.e == "<" else 0xFF
            if lay.e == ">":
                buf[pos + 3] &= 0xFE
        c.append(Case("gnu_hash.chains-unterminated", bytes(buf)))
    h = lay.table_offset(SHT_HASH, DT_HASH)
    if h is not None:
        e = lay.entry(h, lay.sysvhash_fields)
        c.append(Case("sysv_hash.nbucket=max", lay.patch(e, "nbucket", U32)))
        c.append(Case("sysv_hash.nchain=max", lay.patch(e, "nchain", U32)))
        c.append(Case("sysv_hash.nchain=2^20", lay.patch(e, "nchain", 1 << 20)))
    return c


def segment_corruptions(data: bytes) -> list[Case]:
    lay = Layout(data)
    size = len(data)
    big = U64 if lay.is64 else U32
    c = []
    for i, p in enumerate(lay.phdrs):
        t = p["p_type"]
        if t not in (PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR):
            continue
        tag = f"phdr[{i}]type{t}"
        c.append(Case(f"{tag}.p_offset=EOF", lay.patch(p, "p_offset", size)))
        c.append(Case(f"{tag}.p_offset=max", lay.patch(p, "p_offset", big)))
        c.append(Case(f"{tag}.p_filesz=max", lay.patch(p, "p_filesz", big)))
        c.append(Case(f"{tag}.p_filesz=past-EOF", lay.patch(p, "p_filesz", size - p["p_offset"] + 16)))
        c.append(Case(f"{tag}.p_vaddr=max", lay.patch(p, "p_vaddr", big)))
        c.append(Case(f"{tag}.p_memsz=0", lay.patch(p, "p_memsz", 0)))
    interp = lay.segments_of_type(PT_INTERP)
    if interp:
        # An interpreter path with no NUL inside its segment.
        p = interp[0]
        buf = bytearray(data)
        for k in range(p["p_offset"], min(size, p["p_offset"] + p["p_filesz"])):
            buf[k] = 0x41
        c.append(Case("PT_INTERP-unterminated", bytes(buf)))
    return c


def all_corruptions(data: bytes, every_section: bool = True) -> list[Case]:
    out = []
    for gen in (header_corruptions, segment_corruptions, dynamic_corruptions, note_corruptions,
                version_corruptions, hash_corruptions, symbol_corruptions):
        out += gen(data)
    out += section_corruptions(data, every_section)
    return out


# ------------------------------------------------------------------------------------------
# Not ELF at all
# ------------------------------------------------------------------------------------------

def minimal_elf32() -> bytes:
    """A 52-byte ELF32 i386 header with one PT_LOAD: enough to be an ELF32 file of its own."""
    ehdr = struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + bytes(9), 2, 3, 1,
                       0x8048054, 52, 0, 0, 52, 32, 1, 40, 0, 0)
    phdr = struct.pack("<IIIIIIII", 1, 0, 0x8048000, 0x8048000, 52 + 32 + 2, 52 + 32 + 2, 5, 0x1000)
    return ehdr + phdr + b"\xeb\xfe"          # jmp .


def non_elf_inputs() -> list[Case]:
    """Byte strings that are not (whole) ELF files."""
    return [
        Case("empty", b""),
        Case("text", b"#!/bin/sh\necho this is not an ELF file\n"),
        Case("one-byte", b"\x7f"),
        Case("magic-only", b"\x7fELF"),
        Case("ident-only", b"\x7fELF\x02\x01\x01" + bytes(9)),
        Case("ident+1", b"\x7fELF\x02\x01\x01" + bytes(10)),
        Case("ehdr64-minus-1", b"\x7fELF\x02\x01\x01" + bytes(63 - 7)),
        Case("zeros-4k", bytes(4096)),
        Case("random-4k", bytes((i * 2654435761 >> 13) & 0xFF for i in range(4096))),
        Case("magic+random", b"\x7fELF" + bytes((i * 2654435761 >> 11) & 0xFF for i in range(4092))),
        Case("utf8-garbage", "ÿØÿà – 日本語\n".encode() * 50),
        Case("elf32-minimal", minimal_elf32()),
        Case("elf32-minimal-claims-64", b"\x7fELF\x02" + minimal_elf32()[5:]),
        Case("elf32-minimal-truncated", minimal_elf32()[:60]),
    ]


def patch_symbol(data: bytes, name: str, **fields) -> bytes | None:
    """`data` with the fields of every symbol called `name` (in .symtab and .dynsym) set, e.g.
    patch_symbol(data, "main", st_value=U64); None when there is no such symbol."""
    lay = Layout(data)
    changes = []
    for sh_type in (SHT_SYMTAB, SHT_DYNSYM):
        for _, _, s in lay.sections_of_type(sh_type):
            if s["sh_link"] >= len(lay.shdrs):
                continue
            strtab = lay.shdrs[s["sh_link"]]
            for k in range(s["sh_size"] // lay.sym_size):
                sym = lay.entry(s["sh_offset"] + k * lay.sym_size, lay.sym_fields)
                start = strtab["sh_offset"] + sym["st_name"]
                end = data.find(b"\0", start)
                if data[start:end] == name.encode():
                    changes += [(sym, f, v) for f, v in fields.items()]
    return lay.patch_many(changes) if changes else None


def symbol_name_flood(data: bytes, count: int = 100_000) -> list[Case]:
    """`count` symbols appended to the file and made the .symtab (or .dynsym), each with its
    own st_name past the end of the string table: `count` distinct "name index past the end"
    problems, from a file of ~24*count bytes. However such problems are reported, the cost
    must stay linear in their number."""
    lay = Layout(data)
    secs = lay.sections_of_type(SHT_SYMTAB) or lay.sections_of_type(SHT_DYNSYM)
    if not secs:
        return []
    i, name, s = secs[0]
    strsz = lay.shdrs[s["sh_link"]]["sh_size"] if s["sh_link"] < len(lay.shdrs) else 0
    if lay.is64:
        pack = struct.Struct(lay.e + "IBBHQQ")
        table = b"".join(pack.pack(strsz + 1 + k, 0x12, 0, 1, 0x1000 + k, 8) for k in range(count))
    else:
        pack = struct.Struct(lay.e + "IIIBBH")
        table = b"".join(pack.pack(strsz + 1 + k, 0x1000 + k, 8, 0x12, 0, 1) for k in range(count))
    start = len(data)
    out = data + table
    lay2 = Layout(out)
    s2 = lay2.shdrs[i]
    out = lay2.patch_many([(s2, "sh_offset", start), (s2, "sh_size", len(table))], out)
    return [Case(f"{name}-name-flood-{count}", out)]
