"""The ELF file header (Elf64_Ehdr / Elf32_Ehdr) and the struct layouts that follow from e_ident."""
from __future__ import annotations

import struct

from elfkit.errors import ElfFormatError
from elfkit.elf.constants import ELFCLASS, ELFDATA, EM, ET
from elfkit.elf.record import Record

EI_NIDENT = 16
ELFMAG = b"\x7fELF"


class Formats:
    """Precompiled struct layouts for one ELF class and byte order (the <elf.h> structs)."""

    def __init__(self, is_64: bool, endian: str):
        s = lambda fmt: struct.Struct(endian + fmt)    # noqa: E731
        self.endian = endian
        self.is_64 = is_64
        self.word = 8 if is_64 else 4
        if is_64:
            self.ehdr = s("16sHHIQQQIHHHHHH")
            self.phdr = s("IIQQQQQQ")          # type flags offset vaddr paddr filesz memsz align
            self.shdr = s("IIQQQQIIQQ")
            self.sym = s("IBBHQQ")             # name info other shndx value size
            self.rel = s("QQ")
            self.rela = s("QQq")
            self.dyn = s("qQ")
            self.addr = s("Q")
        else:
            self.ehdr = s("16sHHIIIIIHHHHHH")
            self.phdr = s("IIIIIIII")          # type offset vaddr paddr filesz memsz flags align
            self.shdr = s("IIIIIIIIII")
            self.sym = s("IIIBBH")             # name value size info other shndx
            self.rel = s("II")
            self.rela = s("IIi")
            self.dyn = s("iI")
            self.addr = s("I")
        self.nhdr = s("III")
        self.half = s("H")
        self.u32 = s("I")
        self.verdef = s("HHHHIII")
        self.verdaux = s("II")
        self.verneed = s("HHIII")
        self.vernaux = s("IHHII")

    # MIPS64's r_info is three types and a special symbol in one word: r_sym (32 bits), r_ssym,
    # r_type3, r_type2, r_type (8 bits each, most significant first, as readelf shows it; the
    # relocation readers bring little-endian files' words into this order). SPARCV9 keeps
    # type-specific data above its 8-bit type (R_SPARC_OLO10's offset).
    mips64 = False
    sparcv9 = False

    def r_sym(self, info: int) -> int:
        return info >> 32 if self.is_64 else info >> 8

    def r_type(self, info: int) -> int:
        if self.is_64:
            return info & 0xFF if (self.mips64 or self.sparcv9) else info & 0xFFFFFFFF
        return info & 0xFF

    def r_type2(self, info: int) -> int:
        return (info >> 8) & 0xFF

    def r_type3(self, info: int) -> int:
        return (info >> 16) & 0xFF

    def r_ssym(self, info: int) -> int:
        return (info >> 24) & 0xFF


class ElfHeader(Record):
    """The decoded header; read-only by convention (nothing assigns to it after parse_header)."""
    __slots__ = ("ei_class", "ei_data", "ident_version", "osabi", "abi_version", "type",
                 "machine", "version", "entry", "phoff", "shoff", "flags", "ehsize", "phentsize",
                 "phnum", "shentsize", "shnum", "shstrndx", "raw_phnum", "raw_shnum",
                 "raw_shstrndx", "fmt")
    __hash__ = Record._hash

    def __init__(self, ei_class: int, ei_data: int, ident_version: int, osabi: int,
                 abi_version: int, type: int, machine: int, version: int, entry: int,
                 phoff: int, shoff: int, flags: int, ehsize: int, phentsize: int, phnum: int,
                 shentsize: int, shnum: int, shstrndx: int, raw_phnum: int, raw_shnum: int,
                 raw_shstrndx: int, fmt: Formats):
        self.ei_class = ei_class
        self.ei_data = ei_data
        self.ident_version = ident_version
        self.osabi = osabi
        self.abi_version = abi_version
        self.type = type
        self.machine = machine
        self.version = version
        self.entry = entry
        self.phoff = phoff
        self.shoff = shoff
        self.flags = flags
        self.ehsize = ehsize
        self.phentsize = phentsize
        self.phnum = phnum                  # effective (PN_XNUM resolved through section header 0)
        self.shentsize = shentsize
        self.shnum = shnum                  # effective (0 with e_shoff != 0: from section header 0)
        self.shstrndx = shstrndx            # effective (SHN_XINDEX: from section header 0)
        self.raw_phnum = raw_phnum
        self.raw_shnum = raw_shnum
        self.raw_shstrndx = raw_shstrndx
        self.fmt = fmt

    @property
    def is_64(self) -> bool:
        return self.ei_class == ELFCLASS.ELF64

    @property
    def is_core(self) -> bool:
        return self.type == ET.CORE

    @property
    def is_x86(self) -> bool:
        return self.machine in (EM.X86_64, EM.I386)


def parse_header(elf) -> ElfHeader:
    """Check e_ident and decode the header; extended numbering is resolved as readelf does."""
    data, path = elf.data, elf.path
    if elf.size < 4 or data[:4] != ELFMAG:
        raise ElfFormatError(path, "not an ELF file (bad magic: expected 7f 45 4c 46)", 0)
    if elf.size < EI_NIDENT:
        raise ElfFormatError(path, f"truncated: file is {elf.size} bytes, the ELF identification "
                                   f"needs {EI_NIDENT}")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (ELFCLASS.ELF32, ELFCLASS.ELF64):
        raise ElfFormatError(path, f"bad ELF class {ei_class} in e_ident (expected 1 or 2)", 4)
    if ei_data not in (ELFDATA.LSB, ELFDATA.MSB):
        raise ElfFormatError(path, f"bad data encoding {ei_data} in e_ident (expected 1 or 2)", 5)
    fmt = Formats(ei_class == ELFCLASS.ELF64, "<" if ei_data == ELFDATA.LSB else ">")
    if elf.size < fmt.ehdr.size:
        raise ElfFormatError(path, f"truncated: file is {elf.size} bytes, the ELF header needs "
                                   f"{fmt.ehdr.size}")
    (ident, e_type, machine, version, entry, phoff, shoff, flags, ehsize, phentsize, phnum,
     shentsize, shnum, shstrndx) = fmt.ehdr.unpack_from(data, 0)
    if fmt.is_64 and machine in (EM.MIPS, 10):          # 10: EM_MIPS_RS3_LE
        fmt.mips64 = True
    elif fmt.is_64 and machine == 43:                   # EM_SPARCV9
        fmt.sparcv9 = True

    eff_phnum, eff_shnum, eff_shstrndx = phnum, shnum, shstrndx
    # Extended numbering (gABI): the real counts live in section header 0.
    if shoff and (shnum == 0 or shstrndx == 0xFFFF or phnum == 0xFFFF):
        if shoff + fmt.shdr.size <= elf.size:
            sh0 = fmt.shdr.unpack_from(data, shoff)
            sh_size, sh_link, sh_info = sh0[5], sh0[6], sh0[7]
            if shnum == 0:
                eff_shnum = sh_size
            if shstrndx == 0xFFFF:
                eff_shstrndx = sh_link
            if phnum == 0xFFFF:
                eff_phnum = sh_info
        else:
            elf.warn("section header 0 (extended numbering) lies outside the file")
    return ElfHeader(ei_class, ei_data, data[6], data[7], data[8], e_type, machine, version, entry,
                     phoff, shoff, flags, ehsize, phentsize, eff_phnum, shentsize, eff_shnum,
                     eff_shstrndx, phnum, shnum, shstrndx, fmt)
