"""elf.h and the x86-64 psABI as named numbers, with the names binutils' readelf prints.

Every table here is data: a class gives the number a name in code, and the
`*_name()` functions give the spelling readelf uses for display, including
readelf's wording for values that have no name.

The classes are `Constants`, not `enum.IntEnum`/`IntFlag`: their members are plain ints
(`SHT.NOBITS == 8`, `flags & SHF.ALLOC` an int), and `SHT(8).name` gives the name as an
enum's would. Building some 260 enum members, and importing `enum`, was 15 ms -- a third of
readelf's whole time on a 2 MB library -- on every `elfkit inspect`; and IntFlag's `~` keeps
only the bits the class names (`x & ~SHF.GNU_RETAIN` dropped SHF_X86_64_LARGE with it).
"""


class _Named(int):
    """`X(value)`: the number with its `.name` (the first name given to it) and `.value`."""

    def __repr__(self) -> str:
        return f"<{self.owner}.{self.name}: {int(self)}>"


class _ConstantsType(type):
    def __init__(cls, name, bases, namespace):
        super().__init__(name, bases, namespace)
        names: dict[int, str] = {}
        for key, value in namespace.items():
            if not key.startswith("_") and type(value) is int:
                names.setdefault(value, key)       # a second name for a value is an alias
        cls._names = names

    def __call__(cls, value: int) -> _Named:
        name = cls._names.get(value)
        if name is None:
            raise ValueError(f"{value!r} is not a valid {cls.__name__}")
        named = _Named(value)
        named.name, named.value, named.owner = name, int(value), cls.__name__
        return named

    def __getitem__(cls, name: str) -> int:
        value = cls.__dict__.get(name)
        if name.startswith("_") or type(value) is not int:
            raise KeyError(name)
        return value

    def __iter__(cls):
        return (cls(value) for value in cls._names)

    def __len__(cls) -> int:
        return len(cls._names)

    def __contains__(cls, value) -> bool:
        return value in cls._names


class Constants(metaclass=_ConstantsType):
    """A namespace of named ints (see the module's docstring)."""


class ELFCLASS(Constants):
    NONE = 0
    ELF32 = 1
    ELF64 = 2


class ELFDATA(Constants):
    NONE = 0
    LSB = 1
    MSB = 2


class ELFOSABI(Constants):
    SYSV = 0
    HPUX = 1
    NETBSD = 2
    GNU = 3
    SOLARIS = 6
    AIX = 7
    IRIX = 8
    FREEBSD = 9
    TRU64 = 10
    OPENBSD = 12
    STANDALONE = 255


OSABI_NAMES = {
    0: "UNIX - System V", 1: "UNIX - HP-UX", 2: "UNIX - NetBSD", 3: "UNIX - GNU",
    6: "UNIX - Solaris", 7: "UNIX - AIX", 8: "UNIX - IRIX", 9: "UNIX - FreeBSD",
    10: "UNIX - TRU64", 12: "UNIX - OpenBSD", 255: "Standalone App",
}


class ET(Constants):
    NONE = 0
    REL = 1
    EXEC = 2
    DYN = 3
    CORE = 4


class EM(Constants):
    NONE = 0
    SPARC = 2
    I386 = 3
    MIPS = 8
    PPC = 20
    PPC64 = 21
    S390 = 22
    ARM = 40
    SH = 42
    IA_64 = 50
    X86_64 = 62
    AARCH64 = 183
    RISCV = 243
    BPF = 247
    LOONGARCH = 258


MACHINE_NAMES = {
    0: "None", 2: "Sparc", 3: "Intel 80386", 8: "MIPS R3000", 20: "PowerPC", 21: "PowerPC64",
    22: "IBM S/390", 40: "ARM", 42: "Renesas / SuperH SH", 50: "Intel IA-64",
    62: "Advanced Micro Devices X86-64", 183: "AArch64", 243: "RISC-V", 247: "Linux BPF",
    258: "LoongArch", 43: "Sparc v9", 18: "Sparc v8+",
}


class PT(Constants):
    NULL = 0
    LOAD = 1
    DYNAMIC = 2
    INTERP = 3
    NOTE = 4
    SHLIB = 5
    PHDR = 6
    TLS = 7
    GNU_EH_FRAME = 0x6474E550
    GNU_STACK = 0x6474E551
    GNU_RELRO = 0x6474E552
    GNU_PROPERTY = 0x6474E553
    GNU_SFRAME = 0x6474E554


class PF(Constants):
    X = 1
    W = 2
    R = 4


class SHT(Constants):
    NULL = 0
    PROGBITS = 1
    SYMTAB = 2
    STRTAB = 3
    RELA = 4
    HASH = 5
    DYNAMIC = 6
    NOTE = 7
    NOBITS = 8
    REL = 9
    SHLIB = 10
    DYNSYM = 11
    INIT_ARRAY = 14
    FINI_ARRAY = 15
    PREINIT_ARRAY = 16
    GROUP = 17
    SYMTAB_SHNDX = 18
    RELR = 19
    GNU_ATTRIBUTES = 0x6FFFFFF5
    GNU_HASH = 0x6FFFFFF6
    GNU_LIBLIST = 0x6FFFFFF7
    GNU_VERDEF = 0x6FFFFFFD
    GNU_VERNEED = 0x6FFFFFFE
    GNU_VERSYM = 0x6FFFFFFF
    X86_64_UNWIND = 0x70000001


class SHF(Constants):
    WRITE = 0x1
    ALLOC = 0x2
    EXECINSTR = 0x4
    MERGE = 0x10
    STRINGS = 0x20
    INFO_LINK = 0x40
    LINK_ORDER = 0x80
    OS_NONCONFORMING = 0x100
    GROUP = 0x200
    TLS = 0x400
    COMPRESSED = 0x800
    GNU_RETAIN = 0x200000
    EXCLUDE = 0x80000000


class SHN(Constants):
    UNDEF = 0
    LORESERVE = 0xFF00
    ABS = 0xFFF1
    COMMON = 0xFFF2
    XINDEX = 0xFFFF


class STT(Constants):
    NOTYPE = 0
    OBJECT = 1
    FUNC = 2
    SECTION = 3
    FILE = 4
    COMMON = 5
    TLS = 6
    GNU_IFUNC = 10


class STB(Constants):
    LOCAL = 0
    GLOBAL = 1
    WEAK = 2
    GNU_UNIQUE = 10


class STV(Constants):
    DEFAULT = 0
    INTERNAL = 1
    HIDDEN = 2
    PROTECTED = 3


class DT(Constants):
    NULL = 0
    NEEDED = 1
    PLTRELSZ = 2
    PLTGOT = 3
    HASH = 4
    STRTAB = 5
    SYMTAB = 6
    RELA = 7
    RELASZ = 8
    RELAENT = 9
    STRSZ = 10
    SYMENT = 11
    INIT = 12
    FINI = 13
    SONAME = 14
    RPATH = 15
    SYMBOLIC = 16
    REL = 17
    RELSZ = 18
    RELENT = 19
    PLTREL = 20
    DEBUG = 21
    TEXTREL = 22
    JMPREL = 23
    BIND_NOW = 24
    INIT_ARRAY = 25
    FINI_ARRAY = 26
    INIT_ARRAYSZ = 27
    FINI_ARRAYSZ = 28
    RUNPATH = 29
    FLAGS = 30
    PREINIT_ARRAY = 32
    PREINIT_ARRAYSZ = 33
    SYMTAB_SHNDX = 34
    RELRSZ = 35
    RELR = 36
    RELRENT = 37
    GNU_FLAGS_1 = 0x6FFFFDF4
    GNU_PRELINKED = 0x6FFFFDF5
    GNU_CONFLICTSZ = 0x6FFFFDF6
    GNU_LIBLISTSZ = 0x6FFFFDF7
    CHECKSUM = 0x6FFFFDF8
    PLTPADSZ = 0x6FFFFDF9
    MOVEENT = 0x6FFFFDFA
    MOVESZ = 0x6FFFFDFB
    FEATURE = 0x6FFFFDFC
    POSFLAG_1 = 0x6FFFFDFD
    SYMINSZ = 0x6FFFFDFE
    SYMINENT = 0x6FFFFDFF
    GNU_HASH = 0x6FFFFEF5
    TLSDESC_PLT = 0x6FFFFEF6
    TLSDESC_GOT = 0x6FFFFEF7
    GNU_CONFLICT = 0x6FFFFEF8
    GNU_LIBLIST = 0x6FFFFEF9
    CONFIG = 0x6FFFFEFA
    DEPAUDIT = 0x6FFFFEFB
    AUDIT = 0x6FFFFEFC
    PLTPAD = 0x6FFFFEFD
    MOVETAB = 0x6FFFFEFE
    SYMINFO = 0x6FFFFEFF
    VERSYM = 0x6FFFFFF0
    RELACOUNT = 0x6FFFFFF9
    RELCOUNT = 0x6FFFFFFA
    FLAGS_1 = 0x6FFFFFFB
    VERDEF = 0x6FFFFFFC
    VERDEFNUM = 0x6FFFFFFD
    VERNEED = 0x6FFFFFFE
    VERNEEDNUM = 0x6FFFFFFF
    AUXILIARY = 0x7FFFFFFD
    FILTER = 0x7FFFFFFF


# DT_FLAGS and DT_FLAGS_1 bits, in bit order, as readelf names them.
DF_NAMES = ["ORIGIN", "SYMBOLIC", "TEXTREL", "BIND_NOW", "STATIC_TLS"]
DF_1_NAMES = [
    "NOW", "GLOBAL", "GROUP", "NODELETE", "LOADFLTR", "INITFIRST", "NOOPEN", "ORIGIN",
    "DIRECT", "TRANS", "INTERPOSE", "NODEFLIB", "NODUMP", "CONFALT", "ENDFILTEE",
    "DISPRELDNE", "DISPRELPND", "NODIRECT", "IGNMULDEF", "NOKSYMS", "NOHDR", "EDITED",
    "NORELOC", "SYMINTPOSE", "GLOBAUDIT", "SINGLETON", "STUB", "PIE", "KMOD",
    "WEAKFILTER", "NOCOMMON",
]
DF_P1_NAMES = ["LAZYLOAD", "GROUPPERM"]


class DF(Constants):
    ORIGIN = 0x1
    SYMBOLIC = 0x2
    TEXTREL = 0x4
    BIND_NOW = 0x8
    STATIC_TLS = 0x10


class DF_1(Constants):
    NOW = 0x1
    GLOBAL = 0x2
    NODELETE = 0x8
    INITFIRST = 0x20
    NOOPEN = 0x40
    ORIGIN = 0x80
    INTERPOSE = 0x400
    NODEFLIB = 0x800
    PIE = 0x8000000


# Dynamic tags whose value is an offset into DT_STRTAB.
DT_STRING_TAGS = frozenset({DT.NEEDED, DT.SONAME, DT.RPATH, DT.RUNPATH, DT.AUXILIARY, DT.FILTER,
                            DT.CONFIG, DT.DEPAUDIT, DT.AUDIT})


class R_X86_64(Constants):
    NONE = 0
    R64 = 1
    PC32 = 2
    GOT32 = 3
    PLT32 = 4
    COPY = 5
    GLOB_DAT = 6
    JUMP_SLOT = 7
    RELATIVE = 8
    GOTPCREL = 9
    R32 = 10
    R32S = 11
    R16 = 12
    PC16 = 13
    R8 = 14
    PC8 = 15
    DTPMOD64 = 16
    DTPOFF64 = 17
    TPOFF64 = 18
    TLSGD = 19
    TLSLD = 20
    DTPOFF32 = 21
    GOTTPOFF = 22
    TPOFF32 = 23
    PC64 = 24
    GOTOFF64 = 25
    GOTPC32 = 26
    GOT64 = 27
    GOTPCREL64 = 28
    GOTPC64 = 29
    GOTPLT64 = 30
    PLTOFF64 = 31
    SIZE32 = 32
    SIZE64 = 33
    GOTPC32_TLSDESC = 34
    TLSDESC_CALL = 35
    TLSDESC = 36
    IRELATIVE = 37
    RELATIVE64 = 38
    PC32_BND = 39           # MPX, withdrawn; readelf 2.40 still names them
    PLT32_BND = 40
    GOTPCRELX = 41
    REX_GOTPCRELX = 42
    GNU_VTINHERIT = 250
    GNU_VTENTRY = 251


def _reloc_display(enum, prefix):
    # R64 -> R_X86_64_64: digits-only names carry an "R" in Python only.
    return {int(m): prefix + (m.name[1:] if m.name[0] == "R" and m.name[1:2].isdigit() else m.name)
            for m in enum}


R_X86_64_NAMES = _reloc_display(R_X86_64, "R_X86_64_")

R_386_NAMES = {
    0: "R_386_NONE", 1: "R_386_32", 2: "R_386_PC32", 3: "R_386_GOT32", 4: "R_386_PLT32",
    5: "R_386_COPY", 6: "R_386_GLOB_DAT", 7: "R_386_JUMP_SLOT", 8: "R_386_RELATIVE",
    9: "R_386_GOTOFF", 10: "R_386_GOTPC", 11: "R_386_32PLT", 14: "R_386_TLS_TPOFF",
    15: "R_386_TLS_IE", 16: "R_386_TLS_GOTIE", 17: "R_386_TLS_LE", 18: "R_386_TLS_GD",
    19: "R_386_TLS_LDM", 20: "R_386_16", 21: "R_386_PC16", 22: "R_386_8", 23: "R_386_PC8",
    24: "R_386_TLS_GD_32", 25: "R_386_TLS_GD_PUSH", 26: "R_386_TLS_GD_CALL",
    27: "R_386_TLS_GD_POP", 28: "R_386_TLS_LDM_32", 29: "R_386_TLS_LDM_PUSH",
    30: "R_386_TLS_LDM_CALL", 31: "R_386_TLS_LDM_POP", 32: "R_386_TLS_LDO_32",
    33: "R_386_TLS_IE_32", 34: "R_386_TLS_LE_32", 35: "R_386_TLS_DTPMOD32",
    36: "R_386_TLS_DTPOFF32", 37: "R_386_TLS_TPOFF32", 38: "R_386_SIZE32",
    39: "R_386_TLS_GOTDESC", 40: "R_386_TLS_DESC_CALL", 41: "R_386_TLS_DESC",
    42: "R_386_IRELATIVE", 43: "R_386_GOT32X", 200: "R_386_USED_BY_INTEL_200",
    250: "R_386_GNU_VTINHERIT", 251: "R_386_GNU_VTENTRY",
}


class NT(Constants):
    GNU_ABI_TAG = 1
    GNU_HWCAP = 2
    GNU_BUILD_ID = 3
    GNU_GOLD_VERSION = 4
    GNU_PROPERTY_TYPE_0 = 5


class GNU_PROPERTY(Constants):
    STACK_SIZE = 1
    NO_COPY_ON_PROTECTED = 2
    X86_FEATURE_1_AND = 0xC0000002
    X86_ISA_1_NEEDED = 0xC0008002
    X86_FEATURE_2_USED = 0xC0010001
    X86_ISA_1_USED = 0xC0010002
    X86_FEATURE_2_NEEDED = 0xC0008001
    X86_COMPAT_ISA_1_USED = 0xC0000000
    X86_COMPAT_ISA_1_NEEDED = 0xC0000001


GNU_PROPERTY_X86_FEATURE_1_IBT = 0x1
GNU_PROPERTY_X86_FEATURE_1_SHSTK = 0x2

NOTE_NAMES = {
    "GNU": {1: "NT_GNU_ABI_TAG", 2: "NT_GNU_HWCAP", 3: "NT_GNU_BUILD_ID", 4: "NT_GNU_GOLD_VERSION",
            5: "NT_GNU_PROPERTY_TYPE_0"},
    "CORE": {1: "NT_PRSTATUS", 2: "NT_FPREGSET", 3: "NT_PRPSINFO", 4: "NT_TASKSTRUCT", 6: "NT_AUXV",
             0x46494C45: "NT_FILE", 0x53494749: "NT_SIGINFO", 0x200: "NT_386_TLS",
             0x202: "NT_X86_XSTATE"},
    "LINUX": {0x200: "NT_386_TLS", 0x201: "NT_386_IOPERM", 0x202: "NT_X86_XSTATE",
              0x204: "NT_X86_SHSTK", 1: "NT_PRSTATUS", 2: "NT_FPREGSET"},
    "stapsdt": {3: "NT_STAPSDT"},
    "FDO": {0xCAFE1A7E: "FDO_PACKAGING_METADATA"},
    "Go": {4: "GO BUILDID"},
    "GDB": {0xFF000000: "NT_GDB_TDESC"},
}

ABI_TAG_OS = {0: "Linux", 1: "Hurd", 2: "Solaris", 3: "FreeBSD", 4: "NetBSD", 5: "Syllable", 6: "NaCl"}


class VER_FLG(Constants):
    BASE = 0x1
    WEAK = 0x2
    INFO = 0x4


VERSYM_HIDDEN = 0x8000
VER_NDX_LOCAL = 0
VER_NDX_GLOBAL = 1


# --- readelf's display names --------------------------------------------------------------

from elfkit.elf.machines import dynamic_tag as machine_dynamic_tag, \
    section_type as machine_section_type, segment_type as machine_segment_type  # noqa: E402

_SHT_DISPLAY = {
    SHT.SYMTAB_SHNDX: "SYMTAB SECTION INDICES", SHT.GNU_VERDEF: "VERDEF",
    SHT.GNU_VERNEED: "VERNEED", SHT.GNU_VERSYM: "VERSYM", 0x6FFFFFF4: "GNU_SFRAME",
    0x6FFFFFF8: "CHECKSUM", 0x6FFF4C00: "LLVM_ODRTAB", 0x6FFF4C01: "LLVM_LINKER_OPTIONS",
    0x6FFF4C03: "LLVM_ADDRSIG", 0x6FFF4C04: "LLVM_DEPENDENT_LIBRARIES",
    0x6FFF4C05: "LLVM_SYMPART", 0x6FFF4C06: "LLVM_PART_EHDR", 0x6FFF4C07: "LLVM_PART_PHDR",
    0x6FFF4C08: "LLVM_BB_ADDR_MAP_V0", 0x6FFF4C09: "LLVM_CALL_GRAPH_PROFILE",
    0x6FFF4C0A: "LLVM_BB_ADDR_MAP", 0x6FFF4C0B: "LLVM_OFFLOADING", 0x6FFF4C0C: "LLVM_LTO",
}


def _hash_x(n: int) -> str:
    """C's %#x: 0 has no 0x."""
    return f"{n:#x}" if n else "0"


def section_type_name(sh_type: int, machine: int) -> str:
    if sh_type in _SHT_DISPLAY:
        return _SHT_DISPLAY[sh_type]
    if sh_type == SHT.X86_64_UNWIND and machine == EM.X86_64:
        return "X86_64_UNWIND"
    special = machine_section_type(sh_type, machine)
    if special is not None:
        return special
    try:
        member = SHT(sh_type)
    except ValueError:
        member = None
    if member is not None and member != SHT.X86_64_UNWIND:
        return member.name
    if 0x70000000 <= sh_type <= 0x7FFFFFFF:
        return f"LOPROC+{_hash_x(sh_type - 0x70000000)}"
    if 0x60000000 <= sh_type <= 0x6FFFFFFF:
        return f"LOOS+{_hash_x(sh_type - 0x60000000)}"
    if 0x80000000 <= sh_type <= 0xFFFFFFFF:
        return f"LOUSER+{_hash_x(sh_type - 0x80000000)}"
    return f"{sh_type:08x}: <unknown>"


def segment_type_name(p_type: int, machine: int = 0) -> str:
    try:
        return PT(p_type).name
    except ValueError:
        pass
    special = machine_segment_type(p_type, machine)
    if special is not None:
        return special
    if 0x70000000 <= p_type <= 0x7FFFFFFF:
        return f"LOPROC+{_hash_x(p_type - 0x70000000)}"
    if 0x60000000 <= p_type <= 0x6FFFFFFF:
        return f"LOOS+{_hash_x(p_type - 0x60000000)}"
    return f"<unknown>: {p_type:x}"


def segment_flags_name(p_flags: int) -> str:
    return ("R" if p_flags & PF.R else " ") + ("W" if p_flags & PF.W else " ") + \
           ("E" if p_flags & PF.X else " ")


# readelf's Flg column letters, in the order it prints them.
_SHF_LETTERS = [(SHF.WRITE, "W"), (SHF.ALLOC, "A"), (SHF.EXECINSTR, "X"), (SHF.MERGE, "M"),
                (SHF.STRINGS, "S"), (SHF.INFO_LINK, "I"), (SHF.LINK_ORDER, "L"),
                (SHF.OS_NONCONFORMING, "O"), (SHF.GROUP, "G"), (SHF.TLS, "T"),
                (SHF.COMPRESSED, "C"), (SHF.EXCLUDE, "E")]
_SHF_KNOWN = sum(int(f) for f, _ in _SHF_LETTERS)


def section_flags_name(sh_flags: int, machine: int, osabi: int = 0) -> str:
    letters = "".join(letter for flag, letter in _SHF_LETTERS if sh_flags & flag)
    rest = sh_flags & ~_SHF_KNOWN
    # SHF_GNU_RETAIN is a GNU OS-specific flag: readelf names it only for GNU/FreeBSD files
    if rest & SHF.GNU_RETAIN and osabi in (ELFOSABI.GNU, ELFOSABI.FREEBSD):
        letters += "R"
        rest &= ~SHF.GNU_RETAIN
    if machine == EM.X86_64 and rest & 0x10000000:     # SHF_X86_64_LARGE
        letters += "l"
        rest &= ~0x10000000
    if rest & 0x0FF00000:
        letters += "o"
    if rest & 0xF0000000:
        letters += "p"
    if rest & ~0xFFF00000:
        letters += "x"
    return letters


def elf_type_name(e_type: int) -> str:
    try:
        return ET(e_type).name
    except ValueError:
        if 0xFE00 <= e_type <= 0xFEFF:
            return f"OS Specific: ({e_type:x})"
        if 0xFF00 <= e_type <= 0xFFFF:
            return f"Processor Specific: ({e_type:x})"
        return f"<unknown>: {e_type:x}"


def machine_name(e_machine: int) -> str:
    name = MACHINE_NAMES.get(e_machine)
    if name is None:
        from elfkit.elf.machines import MORE_MACHINE_NAMES
        name = MORE_MACHINE_NAMES.get(e_machine, f"<unknown>: 0x{e_machine:x}")
    return name


def osabi_name(osabi: int) -> str:
    return OSABI_NAMES.get(osabi, f"<unknown: {osabi:x}>")


_GNU_SYMBOL_OSABIS = (ELFOSABI.GNU, ELFOSABI.FREEBSD)


def symbol_type_name(st_type: int, osabi: int, machine: int) -> str:
    if st_type <= STT.TLS:
        return STT(st_type).name
    if st_type in (8, 9):                      # STT_RELC, STT_SRELC (binutils' complex relocs)
        return ("RELC", "SRELC")[st_type - 8]
    if st_type == STT.GNU_IFUNC and osabi in _GNU_SYMBOL_OSABIS:
        return "IFUNC"
    if 13 <= st_type <= 15:
        if st_type == 13 and machine == EM.ARM:          # STT_ARM_TFUNC
            return "THUMB_FUNC"
        if st_type == 13 and machine == 43:              # STT_SPARC_REGISTER, EM_SPARCV9
            return "REGISTER"
        return f"<processor specific>: {st_type}"
    if 10 <= st_type <= 12:
        return f"<OS specific>: {st_type}"
    return f"<unknown>: {st_type}"


def symbol_bind_name(st_bind: int, osabi: int) -> str:
    if st_bind <= STB.WEAK:
        return STB(st_bind).name
    if st_bind == STB.GNU_UNIQUE and osabi in _GNU_SYMBOL_OSABIS:
        return "UNIQUE"
    if 13 <= st_bind <= 15:
        return f"<processor specific>: {st_bind}"
    if 10 <= st_bind <= 12:
        return f"<OS specific>: {st_bind}"
    return f"<unknown>: {st_bind}"


def symbol_visibility_name(st_other: int) -> str:
    return STV(st_other & 3).name


def dynamic_tag_name(tag: int, machine: int = 0) -> str:
    try:
        return DT(tag).name
    except ValueError:
        pass
    special = machine_dynamic_tag(tag, machine)
    if special is not None:
        return special
    if 0x70000000 <= tag <= 0x7FFFFFFF:
        return f"Processor Specific: {tag:x}"
    if 0x6000000D <= tag <= 0x6FFFF000:
        return f"Operating System specific: {tag:x}"
    return f"<unknown>: {tag:x}"


def reloc_type_name(r_type: int, machine: int) -> str:
    if machine == EM.I386:
        table = R_386_NAMES
    elif machine == EM.X86_64:
        table = R_X86_64_NAMES
    else:
        from elfkit.elf.reloc_names import reloc_names
        table = reloc_names(machine)
        if table is None:       # readelf's words for a machine it has no table for
            return f"unrecognized: {r_type:x}"
    name = table.get(r_type)
    return name if name is not None else f"unrecognized: {r_type:x}"


def note_type_name(owner: str, n_type: int, core: bool) -> str:
    table = NOTE_NAMES.get(owner)
    if owner == "CORE" or (core and owner == "LINUX"):
        table = NOTE_NAMES["CORE"] if owner == "CORE" else NOTE_NAMES["LINUX"]
    if table and n_type in table:
        return table[n_type]
    if core and n_type == 0xFF000000:          # gdb's target description, whatever the owner
        return "NT_GDB_TDESC"
    return f"Unknown note type: (0x{n_type:08x})"


def flag_names(value: int, names: list[str]) -> list[str]:
    """Names of the set bits of `value`, lowest first; unnamed bits as hex."""
    out = []
    for bit in range(64):
        if value >> bit & 1:
            out.append(names[bit] if bit < len(names) else f"0x{1 << bit:x}")
    return out
