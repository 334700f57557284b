"""Build attributes (readelf -A): the "aeabi", "riscv" and "gnu" vendor subsections of
SHT_ARM_ATTRIBUTES / SHT_RISCV_ATTRIBUTES / SHT_GNU_ATTRIBUTES sections, and MIPS'
`.MIPS.abiflags`, each value decoded in readelf 2.40's words.

The format: a version byte 'A', then vendor subsections (u32 length, counting itself; the
vendor's name, NUL-terminated), each holding sub-subsections (a scope byte: 1 Tag_File,
2 Tag_Section, 3 Tag_Symbol; u32 size, counting the scope byte; for 2 and 3 a 0-terminated
ULEB128 list of section or symbol indices) of tag/value pairs: the tag a ULEB128, the value a
ULEB128 or a NUL-terminated string, by the vendor's rules (by default odd tags are strings).

Which sections and which decoder follow e_machine, the way readelf chooses: ARM ("aeabi"),
RISC-V ("riscv"), MIPS, PowerPC, s390, SPARC and m68k (their "gnu" tags), every other
machine ("gnu" as a public vendor: readelf dumps it raw). ARC, MSP430, TI C6000, C-SKY and
NDS32 attributes are not decoded (`ArchSpecific.unsupported` says so).

Every length is checked against the section; damage becomes one message in `elf.warnings`
per problem (where readelf says `Error:`), and the text readelf prints for it (a "???" value,
"<corrupt>") stays in the decoded attribute.
"""
from __future__ import annotations

from elfkit.elf.record import Record

SHT_GNU_ATTRIBUTES = 0x6FFFFFF5
SHT_LOPROC_ATTRIBUTES = 0x70000003          # SHT_ARM_ATTRIBUTES, SHT_RISCV_ATTRIBUTES
SHT_MIPS_ABIFLAGS = 0x7000002A

EM_SPARC, EM_MIPS, EM_SPARC32PLUS, EM_PPC, EM_PPC64, EM_S390, EM_ARM = 2, 8, 18, 20, 21, 22, 40
EM_68K, EM_MIPS_RS3_LE, EM_SPARCV9, EM_RISCV, EM_S390_OLD = 4, 10, 43, 243, 0xA390
# Machines whose attributes readelf decodes with tables elfkit does not have.
_UNSUPPORTED = {45: "ARC", 93: "ARC Compact", 195: "ARCv2", 105: "MSP430", 140: "TI C6000",
                252: "C-SKY", 167: "NDS32"}

SCOPES = {1: "File Attributes", 2: "Section Attributes:", 3: "Symbol Attributes:"}


class Attribute(Record):
    __slots__ = ("tag", "name", "value", "string", "text", "newline")

    def __init__(self, tag: int, name: str | None, value: int | None, string: str | None,
                 text: str, newline: bool = True):
        self.tag = tag
        self.name = name            # "Tag_CPU_name"; None where readelf prints no name
        self.value = value          # the number (Tag_compatibility: its flag)
        self.string = string        # the string (Tag_compatibility: its vendor)
        self.text = text            # the value in readelf's words: "v7", "\"7-A\"", "4 (0x4)"
        self.newline = newline      # False where readelf ends the line without "\n"


class AttributeBlock(Record):
    """One sub-subsection: its scope tag (1 file, 2 sections, 3 symbols, else unknown)."""
    __slots__ = ("scope", "offset", "size", "indices", "attributes", "raw", "gnu_unknown")

    def __init__(self, scope: int, offset: int, size: int, indices: list[int] | None = None,
                 attributes: list[Attribute] | None = None, raw: bytes | None = None,
                 gnu_unknown: str | None = None):
        self.scope = scope
        self.offset = offset                # in the file
        self.size = size
        self.indices = [] if indices is None else indices
        self.attributes = [] if attributes is None else attributes
        self.raw = raw                      # "Unknown attribute:" -- dumped as hex by readelf
        self.gnu_unknown = gnu_unknown      # "Unknown GNU attribute: ..." (a public "gnu" vendor)


class AttributeSubsection(Record):
    __slots__ = ("vendor", "offset", "length", "blocks")

    def __init__(self, vendor: str, offset: int, length: int,
                 blocks: list[AttributeBlock] | None = None):
        self.vendor = vendor
        self.offset = offset
        self.length = length
        self.blocks = [] if blocks is None else blocks


class AttributeSection(Record):
    __slots__ = ("section", "index", "type", "offset", "size", "version", "subsections")

    def __init__(self, section: str, index: int, type: int, offset: int, size: int,
                 version: int | None = None,
                 subsections: list[AttributeSubsection] | None = None):
        self.section = section
        self.index = index
        self.type = type
        self.offset = offset
        self.size = size
        self.version = version              # the first byte (65, 'A', when well formed)
        self.subsections = [] if subsections is None else subsections


class MipsAbiFlags(Record):
    __slots__ = ("section", "version", "isa_level", "isa_rev", "gpr_size", "cpr1_size",
                 "cpr2_size", "fp_abi", "isa_ext", "ases", "flags1", "flags2", "isa",
                 "fp_abi_name", "isa_ext_name", "ases_names")

    def __init__(self, section: str, version: int, isa_level: int, isa_rev: int, gpr_size: int,
                 cpr1_size: int, cpr2_size: int, fp_abi: int, isa_ext: int, ases: int,
                 flags1: int, flags2: int, isa: str = "", fp_abi_name: str = "",
                 isa_ext_name: str = "", ases_names: list[str] | None = None):
        self.section = section
        self.version = version
        self.isa_level = isa_level
        self.isa_rev = isa_rev
        self.gpr_size = gpr_size
        self.cpr1_size = cpr1_size
        self.cpr2_size = cpr2_size
        self.fp_abi = fp_abi
        self.isa_ext = isa_ext
        self.ases = ases
        self.flags1 = flags1
        self.flags2 = flags2
        # decoded as readelf prints them
        self.isa = isa
        self.fp_abi_name = fp_abi_name
        self.isa_ext_name = isa_ext_name
        self.ases_names = [] if ases_names is None else ases_names


class ArchSpecific(Record):
    __slots__ = ("sections", "mips_abiflags", "unsupported")

    def __init__(self, sections: list[AttributeSection] | None = None,
                 mips_abiflags: MipsAbiFlags | None = None, unsupported: str | None = None):
        self.sections = [] if sections is None else sections
        self.mips_abiflags = mips_abiflags
        self.unsupported = unsupported      # what readelf -A prints that elfkit does not decode


# --- ARM (readelf's tables, in its words) -------------------------------------------------------
_ARM_TABLES = {
    6: ("CPU_arch", ["Pre-v4", "v4", "v4T", "v5T", "v5TE", "v5TEJ", "v6", "v6KZ", "v6T2", "v6K",
                     "v7", "v6-M", "v6S-M", "v7E-M", "v8", "v8-R", "v8-M.baseline",
                     "v8-M.mainline", "v8.1-A", "v8.2-A", "v8.3-A", "v8.1-M.mainline", "v9"]),
    8: ("ARM_ISA_use", ["No", "Yes"]),
    9: ("THUMB_ISA_use", ["No", "Thumb-1", "Thumb-2", "Yes"]),
    10: ("FP_arch", ["No", "VFPv1", "VFPv2", "VFPv3", "VFPv3-D16", "VFPv4", "VFPv4-D16",
                     "FP for ARMv8", "FPv5/FP-D16 for ARMv8"]),
    11: ("WMMX_arch", ["No", "WMMXv1", "WMMXv2"]),
    12: ("Advanced_SIMD_arch", ["No", "NEONv1", "NEONv1 with Fused-MAC", "NEON for ARMv8",
                                "NEON for ARMv8.1"]),
    13: ("PCS_config", ["None", "Bare platform", "Linux application", "Linux DSO",
                        "PalmOS 2004", "PalmOS (reserved)", "SymbianOS 2004",
                        "SymbianOS (reserved)"]),
    14: ("ABI_PCS_R9_use", ["V6", "SB", "TLS", "Unused"]),
    15: ("ABI_PCS_RW_data", ["Absolute", "PC-relative", "SB-relative", "None"]),
    16: ("ABI_PCS_RO_data", ["Absolute", "PC-relative", "None"]),
    17: ("ABI_PCS_GOT_use", ["None", "direct", "GOT-indirect"]),
    18: ("ABI_PCS_wchar_t", ["None", "??? 1", "2", "??? 3", "4"]),
    19: ("ABI_FP_rounding", ["Unused", "Needed"]),
    20: ("ABI_FP_denormal", ["Unused", "Needed", "Sign only"]),
    21: ("ABI_FP_exceptions", ["Unused", "Needed"]),
    22: ("ABI_FP_user_exceptions", ["Unused", "Needed"]),
    23: ("ABI_FP_number_model", ["Unused", "Finite", "RTABI", "IEEE 754"]),
    26: ("ABI_enum_size", ["Unused", "small", "int", "forced to int"]),
    27: ("ABI_HardFP_use", ["As Tag_FP_arch", "SP only", "Reserved", "Deprecated"]),
    28: ("ABI_VFP_args", ["AAPCS", "VFP registers", "custom", "compatible"]),
    29: ("ABI_WMMX_args", ["AAPCS", "WMMX registers", "custom"]),
    30: ("ABI_optimization_goals", ["None", "Prefer Speed", "Aggressive Speed", "Prefer Size",
                                    "Aggressive Size", "Prefer Debug", "Aggressive Debug"]),
    31: ("ABI_FP_optimization_goals", ["None", "Prefer Speed", "Aggressive Speed",
                                       "Prefer Size", "Aggressive Size", "Prefer Accuracy",
                                       "Aggressive Accuracy"]),
    34: ("CPU_unaligned_access", ["None", "v6"]),
    36: ("FP_HP_extension", ["Not Allowed", "Allowed"]),
    38: ("ABI_FP_16bit_format", ["None", "IEEE 754", "Alternative Format"]),
    42: ("MPextension_use", ["Not Allowed", "Allowed"]),
    44: ("DIV_use", ["Allowed in Thumb-ISA, v7-R or v7-M", "Not allowed",
                     "Allowed in v7-A with integer division extension"]),
    46: ("DSP_extension", ["Follow architecture", "Allowed"]),
    48: ("MVE_arch", ["No MVE", "MVE Integer only", "MVE Integer and FP"]),
    50: ("PAC_extension", ["No PAC/AUT instructions",
                           "PAC/AUT instructions permitted in the NOP space",
                           "PAC/AUT instructions permitted in the NOP and in the non-NOP space"]),
    52: ("BTI_extension", ["BTI instructions not permitted",
                           "BTI instructions permitted in the NOP space",
                           "BTI instructions permitted in the NOP and in the non-NOP space"]),
    74: ("BTI_use", ["Compiled without branch target enforcement",
                     "Compiled with branch target enforcement"]),
    76: ("PACRET_use", ["Compiled without return address signing and authentication",
                        "Compiled with return address signing and authentication"]),
    66: ("T2EE_use", ["Not Allowed", "Allowed"]),
    68: ("Virtualization_use", ["Not Allowed", "TrustZone", "Virtualization Extensions",
                                "TrustZone and Virtualization Extensions"]),
    70: ("MPextension_use_legacy", ["Not Allowed", "Allowed"]),
}
_ARM_SPECIAL = {4: "CPU_raw_name", 5: "CPU_name", 7: "CPU_arch_profile", 24: "ABI_align_needed",
                25: "ABI_align_preserved", 32: "compatibility", 64: "nodefaults",
                65: "also_compatible_with", 67: "conformance"}
_ARM_PROFILES = {0: "None", ord("A"): "Application", ord("R"): "Realtime",
                 ord("M"): "Microcontroller", ord("S"): "Application or Realtime"}

_RISCV_NAMES = {5: "arch", 8: "priv_spec", 10: "priv_spec_minor", 12: "priv_spec_revision",
                6: "unaligned_access", 4: "stack_align"}

_MIPS_FP_ABI = {0: "Hard or soft float", 1: "Hard float (double precision)",
                2: "Hard float (single precision)", 3: "Soft float",
                4: "Hard float (MIPS32r2 64-bit FPU 12 callee-saved)",
                5: "Hard float (32-bit CPU, Any FPU)", 6: "Hard float (32-bit CPU, 64-bit FPU)",
                7: "Hard float compat (32-bit CPU, 64-bit FPU)", 8: "NaN 2008 compatibility"}
_SPARC_HWCAPS = [(0x1, "mul32"), (0x2, "div32"), (0x4, "fsmuld"), (0x8, "v8plus"),
                 (0x10, "popc"), (0x20, "vis"), (0x40, "vis2"), (0x80, "ASIBlkInit"),
                 (0x100, "fmaf"), (0x400, "vis3"), (0x800, "hpc"), (0x1000, "random"),
                 (0x2000, "trans"), (0x4000, "fjfmau"), (0x8000, "ima"), (0x10000, "cspare")]
_SPARC_HWCAPS2 = [(0x1, "fjathplus"), (0x2, "vis3b"), (0x4, "adp"), (0x8, "sparc5"),
                  (0x10, "mwait"), (0x20, "xmpmul"), (0x40, "xmont2"), (0x80, "nsec"),
                  (0x1000, "fjathhpc"), (0x2000, "fjdes"), (0x10000, "fjaes")]
_MIPS_ASES = [(0x1, "DSP ASE"), (0x2, "DSP R2 ASE"), (0x2000, "DSP R3 ASE"),
              (0x4, "Enhanced VA Scheme"), (0x8, "MCU (MicroController) ASE"),
              (0x10, "MDMX ASE"), (0x20, "MIPS-3D ASE"), (0x40, "MT ASE"),
              (0x80, "SmartMIPS ASE"), (0x100, "VZ ASE"), (0x200, "MSA ASE"),
              (0x400, "MIPS16 ASE"), (0x800, "MICROMIPS ASE"), (0x1000, "XPA ASE"),
              (0x4000, "MIPS16e2 ASE"), (0x8000, "CRC ASE"), (0x20000, "GINV ASE"),
              (0x40000, "Loongson MMI ASE"), (0x80000, "Loongson CAM ASE"),
              (0x100000, "Loongson EXT ASE"), (0x200000, "Loongson EXT2 ASE")]
_MIPS_ASE_MASK = 0x003EFFFF
_MIPS_ISA_EXT = {0: "None", 1: "RMI XLR", 19: "Cavium Networks Octeon3",
                 2: "Cavium Networks Octeon2", 3: "Cavium Networks OcteonP",
                 5: "Cavium Networks Octeon", 6: "Toshiba R5900", 7: "MIPS R4650",
                 8: "LSI R4010", 9: "NEC VR4100", 10: "Toshiba R3900", 11: "MIPS R10000",
                 12: "Broadcom SB-1", 13: "NEC VR4111/VR4181", 14: "NEC VR4120",
                 15: "NEC VR5400", 16: "NEC VR5500", 17: "ST Microelectronics Loongson 2E",
                 18: "ST Microelectronics Loongson 2F", 20: "Imagination interAptiv MR2"}


def _s32(v: int) -> int:
    """v as C's `%d` prints an unsigned int."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _s64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >> 63 else v


def printable(raw: bytes) -> str:
    """A string as readelf's print_symbol shows it: control characters as ^X; DEL, which readelf
    writes as "^" and the byte 0xbf, as "^?" (caret notation, as the other views spell it)."""
    out = []
    for b in raw.decode("utf-8", "backslashreplace"):
        o = ord(b)
        if o < 0x20:
            out.append("^" + chr(o + 0x40))
        elif o == 0x7F:
            out.append("^?")
        else:
            out.append(b)
    return "".join(out)


class _Reader:
    """The bytes of one attributes section and a cursor; ULEB128s as readelf's READ_ULEB."""

    def __init__(self, elf, data: bytes, base: int, what: str):
        self.elf, self.data, self.base, self.what = elf, data, base, what
        self.p = 0

    def warn(self, message: str, at: int | None = None):
        at = self.p if at is None else at
        self.elf.warn(f"{self.what}: {message} (at offset {self.base + at:#x})")

    def uleb(self, end: int, bits: int = 64) -> int:
        """A ULEB128 read no further than `end`; one warning when it runs into `end` or does
        not fit in `bits` bits (then truncated, as C's assignment does)."""
        result, shift, p, done = 0, 0, self.p, False
        start = p
        while p < end:
            byte = self.data[p]
            p += 1
            if shift < 64:
                result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                done = True
                break
        self.p = p
        if not done:
            self.warn("end of data encountered whilst reading LEB", start)
        elif result >> bits:
            self.warn("read LEB value is too large to store in destination variable", start)
        return result & ((1 << bits) - 1) & 0xFFFFFFFFFFFFFFFF

    def cstring_text(self, end: int) -> tuple[str, bool]:
        """The string at the cursor as readelf prints one (`maxlen` = end - p - 1; with -W the
        string runs to its NUL, or the section's end); False for "<corrupt ...>"."""
        p = self.p
        if end - p - 1 <= 0:
            self.p = end
            return "", False
        nul = self.data.find(b"\0", p)
        stop = len(self.data) if nul < 0 else nul
        text = printable(self.data[p:stop])
        within = self.data.find(b"\0", p, end - 1)
        self.p = end if within < 0 else within + 1
        return text, True


# --- one tag/value pair -----------------------------------------------------------------------
def _tag_value(r: _Reader, tag: int, end: int) -> Attribute:
    """readelf's display_tag_value: `tag` > 0 an unknown tag (named Tag_unknown_N), <= 0 a
    known one, the name already given by the caller; odd tags hold strings."""
    name = f"Tag_unknown_{tag}" if tag > 0 else None
    if r.p >= end:
        r.warn("<corrupt tag>")
        return Attribute(tag, name, None, None, "", newline=False)
    if tag & 1:
        text, ok = r.cstring_text(end)
        if not ok:
            return Attribute(tag, name, None, None, '"<corrupt string tag>"')
        return Attribute(tag, name, None, text, f'"{text}"')
    val = r.uleb(end)
    return Attribute(tag, name, val, None, f"{_s64(val)} (0x{val:x})")


def _signed_tag(tag: int) -> int:
    return _s32(tag)


def _compat(r: _Reader, tag: int, name: str | None, end: int, gnu: bool) -> Attribute:
    val = r.uleb(end, 32)
    head = f"flag = {_s32(val)}, vendor = "
    if gnu and r.p == end:
        r.warn("corrupt vendor attribute")
        return Attribute(tag, name, val, None, head + "<corrupt>")
    if r.p < end - 1:
        text, _ok = r.cstring_text(end)
        return Attribute(tag, name, val, text, head + text)
    r.p = end
    return Attribute(tag, name, val, None, head + "<corrupt>")


def _arm(r: _Reader, end: int) -> Attribute:
    tag = r.uleb(end, 32)
    table = _ARM_TABLES.get(tag)
    if table is not None:
        name, words = table
        val = r.uleb(end, 32)
        text = words[val] if val < len(words) else f"??? ({_s32(val)})"
        return Attribute(tag, "Tag_" + name, val, None, text)
    special = _ARM_SPECIAL.get(tag)
    if special is None:
        return _tag_value(r, _signed_tag(tag), end)
    name = "Tag_" + special
    if tag in (4, 5, 67):
        a = _tag_value(r, -1, end)
        a.tag, a.name = tag, name
        return a
    if tag == 7:
        val = r.uleb(end, 32)
        return Attribute(tag, name, val, None, _ARM_PROFILES.get(val, f"??? ({_s32(val)})"))
    if tag in (24, 25):
        val = r.uleb(end, 32)
        first = "8-byte" if tag == 24 else "8-byte, except leaf SP"
        second = "4-byte" if tag == 24 else "8-byte"
        words = {0: "None", 1: first, 2: second, 3: "??? 3"}
        if val in words:
            text = words[val]
        elif val <= 12:
            text = f"8-byte and up to {1 << val}-byte extended"
        else:
            text = f"??? ({_s32(val)})"
        return Attribute(tag, name, val, None, text)
    if tag == 32:
        return _compat(r, tag, name, end, gnu=False)
    if tag == 64:
        if r.p < end:
            r.p += 1
        return Attribute(tag, name, None, None, "True")
    # 65, Tag_also_compatible_with: a tag and its value; only Tag_CPU_arch is decoded
    inner = r.uleb(end, 32)
    val = None
    if inner == 6:
        val = r.uleb(end, 32)
        words = _ARM_TABLES[6][1]
        text = words[val] if val < len(words) else f"??? ({_s32(val)})"
    else:
        text = "???"
    while r.p < end:
        r.p += 1
        if r.data[r.p - 1] == 0:
            break
    return Attribute(tag, name, val, None, text)


def _riscv(r: _Reader, end: int) -> Attribute:
    tag = r.uleb(end)
    short = _RISCV_NAMES.get(tag)
    if short is None:
        return _tag_value(r, _signed_tag(tag), end)
    name = "Tag_RISCV_" + short
    if tag == 5:
        a = _tag_value(r, -1, end)
        a.tag, a.name = tag, name
        return a
    val = r.uleb(end)
    if tag == 6:
        if val > 1:     # readelf prints no value and no newline
            return Attribute(tag, name, val, None, "", newline=False)
        return Attribute(tag, name, val, None,
                         "Unaligned access" if val else "No unaligned access")
    if tag == 4:
        return Attribute(tag, name, val, None, f"{val}-bytes")
    return Attribute(tag, name, val, None, str(val))


def _gnu_proc_default(r: _Reader, tag: int, end: int) -> Attribute | None:
    """display_generic_attribute: tag 0 swallows the rest of the block."""
    if tag == 0:
        r.p = end
        return None
    return _tag_value(r, _signed_tag(tag), end)


def _gnu_ppc(r: _Reader, tag: int, end: int) -> Attribute | None:
    if tag in (4, 8, 12):
        name = {4: "Tag_GNU_Power_ABI_FP", 8: "Tag_GNU_Power_ABI_Vector",
                12: "Tag_GNU_Power_ABI_Struct_Return"}[tag]
        if r.p == end:
            return Attribute(tag, name, None, None, "<corrupt>")
        val = r.uleb(end, 32)
        if tag == 4:
            pre = f"({val:#x}), " if val > 15 else ""
            fp = ["unspecified hard/soft float", "hard float", "soft float",
                  "single-precision hard float"][val & 3]
            ld = {0: "unspecified long double", 4: "128-bit IBM long double",
                  8: "64-bit long double", 12: "128-bit IEEE long double"}[val & 0xC]
            return Attribute(tag, name, val, None, f"{pre}{fp}, {ld}")
        if tag == 8:
            pre = f"({val:#x}), " if val > 3 else ""
            return Attribute(tag, name, val, None,
                             pre + ["unspecified", "generic", "AltiVec", "SPE"][val & 3])
        pre = f"({val:#x}), " if val > 2 else ""
        return Attribute(tag, name, val, None,
                         pre + ["unspecified", "r3/r4", "memory", "???"][val & 3])
    return _tag_value(r, tag & 1, end)


def _gnu_s390(r: _Reader, tag: int, end: int) -> Attribute | None:
    if tag == 8:
        val = r.uleb(end, 32)
        text = {0: "any", 1: "software", 2: "hardware"}.get(val, f"??? ({_s32(val)})")
        return Attribute(tag, "Tag_GNU_S390_ABI_Vector", val, None, text)
    return _tag_value(r, tag & 1, end)


def _bits(val: int, names) -> str:
    if not val:
        return "0"
    return "|".join(n for bit, n in names if val & bit)


def _gnu_sparc(r: _Reader, tag: int, end: int) -> Attribute | None:
    if tag in (4, 8):
        val = r.uleb(end, 32)
        if tag == 4:
            return Attribute(tag, "Tag_GNU_Sparc_HWCAPS", val, None, _bits(val, _SPARC_HWCAPS))
        return Attribute(tag, "Tag_GNU_Sparc_HWCAPS2", val, None, _bits(val, _SPARC_HWCAPS2))
    return _tag_value(r, _signed_tag(tag), end)


def mips_fp_abi_name(val: int) -> str:
    return _MIPS_FP_ABI.get(val, f"??? ({_s32(val)})")


def _gnu_mips(r: _Reader, tag: int, end: int) -> Attribute | None:
    if tag == 4:
        val = r.uleb(end, 32)
        return Attribute(tag, "Tag_GNU_MIPS_ABI_FP", val, None, mips_fp_abi_name(val))
    if tag == 8:
        val = r.uleb(end, 32)
        text = {0: "Any MSA or not", 1: "128-bit MSA"}.get(val, f"??? ({_s32(val)})")
        return Attribute(tag, "Tag_GNU_MIPS_ABI_MSA", val, None, text)
    return _tag_value(r, tag & 1, end)


def _gnu_m68k(r: _Reader, tag: int, end: int) -> Attribute | None:
    if tag == 4:
        name = "Tag_GNU_M68K_ABI_FP"
        if r.p == end:
            return Attribute(tag, name, None, None, "<corrupt>")
        val = r.uleb(end, 32)
        pre = f"({val:#x}), " if val > 3 else ""
        words = ["unspecified hard/soft float", "hard float", "soft float", ""][val & 3]
        if val & 3 == 3:     # readelf prints nothing more, and no newline
            return Attribute(tag, name, val, None, pre, newline=False)
        return Attribute(tag, name, val, None, pre + words)
    return _tag_value(r, tag & 1, end)


def _gnu(r: _Reader, proc, end: int) -> Attribute | None:
    """readelf's display_gnu_attribute: Tag_compatibility (printed without its name), else the
    machine's own tags (those with bit 1 clear), else a generic tag/value."""
    tag = r.uleb(end, 32)
    if tag == 32:
        return _compat(r, tag, None, end, gnu=True)
    if tag & 2 == 0:
        return proc(r, tag, end)
    return _tag_value(r, _signed_tag(tag), end)


# machine -> (public vendor name, processor section type, public decoder, gnu decoder)
def _scheme(machine: int):
    if machine == EM_ARM:
        return "aeabi", SHT_LOPROC_ATTRIBUTES, _arm, _gnu_proc_default
    if machine == EM_RISCV:
        return "riscv", SHT_LOPROC_ATTRIBUTES, _riscv, _gnu_proc_default
    if machine in (EM_MIPS, EM_MIPS_RS3_LE):
        return None, SHT_GNU_ATTRIBUTES, None, _gnu_mips
    if machine in (EM_PPC, EM_PPC64):
        return None, SHT_GNU_ATTRIBUTES, None, _gnu_ppc
    if machine in (EM_S390, EM_S390_OLD):
        return None, SHT_GNU_ATTRIBUTES, None, _gnu_s390
    if machine in (EM_SPARC, EM_SPARC32PLUS, EM_SPARCV9):
        return None, SHT_GNU_ATTRIBUTES, None, _gnu_sparc
    if machine == EM_68K:
        return None, SHT_GNU_ATTRIBUTES, None, _gnu_m68k
    return "gnu", SHT_GNU_ATTRIBUTES, "public-gnu", _gnu_proc_default


# --- the section walk ---------------------------------------------------------------------------
def read_arch_specific(elf) -> ArchSpecific:
    """What readelf -A shows for `elf`, decoded."""
    out = ArchSpecific()
    machine = elf.header.machine
    if machine in _UNSUPPORTED:
        if any(s.type == SHT_GNU_ATTRIBUTES or 0x70000000 <= s.type < 0x80000000
               for s in elf.sections):
            out.unsupported = (f"the architecture-specific information of "
                               f"{_UNSUPPORTED[machine]} files is not decoded")
        return out
    public, proc_type, pub, gnu = _scheme(machine)
    for s in elf.sections:
        if s.type != proc_type and s.type != SHT_GNU_ATTRIBUTES:
            continue
        if s.size == 0:
            continue
        if not elf.check_range(s.offset, s.size, f"attributes section {s.name}"):
            continue
        out.sections.append(_read_section(elf, s, public, pub, gnu))
    if machine in (EM_MIPS, EM_MIPS_RS3_LE):
        out.mips_abiflags = _mips_abiflags(elf)
        # readelf goes on with the dynamic section's MIPS tables (options, conflicts, the
        # GOT and PLT GOT), or the static .got: not decoded here
        if elf.dynamic is not None or elf.section_by_name(".got") is not None:
            out.unsupported = ("the MIPS GOT, PLT GOT, options and conflicts readelf -A "
                               "goes on with are not shown")
    return out


def _read_section(elf, s, public, pub, gnu) -> AttributeSection:
    data = bytes(elf.data[s.offset:s.offset + s.size])
    sec = AttributeSection(s.name, s.index, s.type, s.offset, s.size, data[0])
    r = _Reader(elf, data, s.offset, f"attributes section {s.name}")
    if data[0] != 0x41:
        r.warn(f"unknown attributes version {data[0]} (expected 'A')", 0)
        return sec
    order = "little" if elf.fmt.endian == "<" else "big"
    section_len = s.size - 1
    r.p = 1
    while section_len > 0:
        if section_len <= 4:
            r.warn("tag section ends prematurely")
            break
        sub_at = r.p
        attr_len = int.from_bytes(data[r.p:r.p + 4], order)
        r.p += 4
        if attr_len > section_len:
            r.warn(f"bad attribute length ({attr_len} > {section_len})", sub_at)
            attr_len = section_len
        elif attr_len < 5:
            r.warn(f"attribute length of {attr_len} is too small", sub_at)
            break
        section_len -= attr_len
        attr_len -= 4
        nul = data.find(b"\0", r.p, r.p + attr_len)
        namelen = (attr_len if nul < 0 else nul - r.p) + 1
        if namelen >= attr_len:
            r.warn("corrupt attribute section name", r.p)
            break
        vendor = printable(data[r.p:r.p + namelen - 1])
        sub = AttributeSubsection(vendor, s.offset + sub_at, attr_len + 4)
        sec.subsections.append(sub)
        is_public = public is not None and vendor == public
        is_gnu = vendor == "gnu"
        r.p += namelen
        attr_len -= namelen
        while attr_len > 0 and r.p < len(data):
            if attr_len < 6:
                r.warn("unused bytes at end of section")
                section_len = 0
                break
            block_at = r.p
            scope = data[r.p]
            size = int.from_bytes(data[r.p + 1:r.p + 5], order)
            r.p += 1
            if size > attr_len:
                r.warn(f"bad subsection length ({size} > {attr_len})", block_at)
                size = attr_len
            if size < 6:
                r.warn(f"bad subsection length ({size} < 6)", block_at)
                section_len = 0
                break
            attr_len -= size
            end = min(block_at + size, len(data))
            r.p += 4
            block = AttributeBlock(scope, s.offset + block_at, size)
            sub.blocks.append(block)
            if scope in (2, 3):
                while True:
                    v = r.uleb(end, 32)
                    if v == 0:
                        break
                    block.indices.append(_s32(v))
            elif scope != 1:
                is_public = False
            if is_public and pub == "public-gnu":
                block.gnu_unknown = _c_string(data, r.p)
                stop = data.find(b"\0", r.p, end)
                block.raw = data[end if stop < 0 else stop:end]
                r.p = end
            elif is_public and pub is not None:
                while r.p < end:
                    block.attributes.append(pub(r, end))
            elif is_gnu and gnu is not None:
                while r.p < end:
                    a = _gnu(r, gnu, end)
                    if a is not None:
                        block.attributes.append(a)
            elif r.p < end:
                block.raw = data[r.p:end]
                r.p = end
            else:
                attr_len = 0
    return sec


def _c_string(data: bytes, p: int) -> str:
    """printf("%s") of the bytes at p: up to the NUL (or the section's end), raw."""
    nul = data.find(b"\0", p)
    return data[p:len(data) if nul < 0 else nul].decode("utf-8", "backslashreplace")


def _mips_abiflags(elf) -> MipsAbiFlags | None:
    sect = elf.section_by_name(".MIPS.abiflags")
    if sect is None:
        return None
    if sect.size != 24:
        elf.warn(f"corrupt MIPS ABI Flags section (size {sect.size}, expected 24)")
        return None
    if not elf.check_range(sect.offset, 24, "MIPS ABI Flags section"):
        return None
    import struct
    e = elf.fmt.endian
    (version, isa_level, isa_rev, gpr, cpr1, cpr2, fp_abi, isa_ext, ases, flags1,
     flags2) = struct.unpack_from(e + "HBBBBBBIIII", elf.data, sect.offset)
    f = MipsAbiFlags(sect.name, version, isa_level, isa_rev, gpr, cpr1, cpr2, fp_abi, isa_ext,
                     ases, flags1, flags2)
    f.isa = f"MIPS{isa_level}" + (f"r{isa_rev}" if isa_rev > 1 else "")
    f.fp_abi_name = mips_fp_abi_name(fp_abi)
    f.isa_ext_name = _MIPS_ISA_EXT.get(isa_ext, f"Unknown ({isa_ext})")
    names = [n for bit, n in _MIPS_ASES if ases & bit]
    if ases == 0:
        names.append("None")
    elif ases & ~_MIPS_ASE_MASK:
        names.append(f"Unknown ({ases & ~_MIPS_ASE_MASK:x})")
    f.ases_names = names
    return f


def mips_reg_size(code: int) -> int:
    return {0: 0, 1: 32, 2: 64, 3: 128}.get(code, -1)
