"""Machine-specific names, as readelf -W prints them: e_flags (-h), processor-specific section
types (-S), segment types (-l), dynamic tags (-d) and the st_other bits beside a symbol's
visibility (-s).

Everything here is keyed by e_machine; the generic names stay in constants.py.  Nothing here
imports constants.py, so constants.py can call in without a cycle.
"""
from __future__ import annotations

EM_SPARC, EM_I386, EM_MIPS, EM_SPARC32PLUS, EM_PPC, EM_PPC64, EM_S390 = 2, 3, 8, 18, 20, 21, 22
EM_ARM, EM_SPARCV9, EM_MIPS_RS3_LE, EM_AARCH64, EM_RISCV, EM_LOONGARCH = 40, 43, 10, 183, 243, 258
_MIPS = (EM_MIPS, EM_MIPS_RS3_LE)


# --- e_flags (readelf -h "Flags:") -------------------------------------------------------------

def _arm_flags(f: int) -> list[str]:
    out = []
    eabi = f & 0xFF000000
    f &= ~0xFF000000
    unknown = False
    if f & 0x01:                                   # EF_ARM_RELEXEC
        out.append("relocatable executable")
        f &= ~0x01
    if f & 0x20:                                   # EF_ARM_PIC
        out.append("position independent")
        f &= ~0x20
    if eabi == 0x01000000:
        out.append("Version1 EABI")
        bits = {0x04: "sorted symbol tables"}
    elif eabi == 0x02000000:
        out.append("Version2 EABI")
        bits = {0x04: "sorted symbol tables", 0x08: "dynamic symbols use segment index",
                0x10: "mapping symbols precede others"}
    elif eabi == 0x03000000:
        out.append("Version3 EABI")
        bits = {}
    elif eabi == 0x04000000:
        out.append("Version4 EABI")
        bits = {0x00800000: "BE8", 0x00400000: "LE8"}
    elif eabi == 0x05000000:
        out.append("Version5 EABI")
        bits = {0x00800000: "BE8", 0x00400000: "LE8", 0x200: "soft-float ABI",
                0x400: "hard-float ABI"}
    elif eabi == 0:
        out.append("GNU EABI")
        bits = {0x04: "interworking enabled", 0x08: "uses APCS/26", 0x10: "uses APCS/float",
                0x20: "position independent", 0x40: "8 bit structure alignment",
                0x80: "uses new ABI", 0x100: "uses old ABI", 0x200: "software FP",
                0x400: "VFP", 0x800: "Maverick FP"}
    else:
        out.append("<unrecognized EABI>")
        bits = None
        unknown = bool(f)
    if bits is not None:
        while f:
            flag = f & -f
            f &= ~flag
            if flag in bits:
                out.append(bits[flag])
            else:
                unknown = True
    if unknown:
        out.append("<unknown>")
    return out


_MIPS_MACH = {
    0x00810000: "3900", 0x00820000: "4010", 0x00830000: "4100", 0x00880000: "4111",
    0x00870000: "4120", 0x00850000: "4650", 0x00910000: "5400", 0x00980000: "5500",
    0x00920000: "5900", 0x008A0000: "sb1", 0x00990000: "9000", 0x00A00000: "loongson-2e",
    0x00A10000: "loongson-2f", 0x00A20000: "gs464", 0x00A30000: "gs464e", 0x00A40000: "gs264e",
    0x008B0000: "octeon", 0x008D0000: "octeon2", 0x008E0000: "octeon3", 0x008C0000: "xlr",
    0x008F0000: "interaptiv-mr2", 0x00840000: "allegrex",
}
_MIPS_ABI = {0x1000: "o32", 0x2000: "o64", 0x3000: "eabi32", 0x4000: "eabi64"}
_MIPS_ARCH = {
    0x00000000: "mips1", 0x10000000: "mips2", 0x20000000: "mips3", 0x30000000: "mips4",
    0x40000000: "mips5", 0x50000000: "mips32", 0x70000000: "mips32r2", 0x90000000: "mips32r6",
    0x60000000: "mips64", 0x80000000: "mips64r2", 0xA0000000: "mips64r6",
}


def _mips_flags(f: int) -> list[str]:
    out = [name for bit, name in ((0x1, "noreorder"), (0x2, "pic"), (0x4, "cpic"),
                                  (0x10, "ugen_reserved"), (0x20, "abi2"), (0x80, "odk first"),
                                  (0x100, "32bitmode"), (0x400, "nan2008"), (0x200, "fp64"))
           if f & bit]
    mach = f & 0x00FF0000
    if mach:
        out.append(_MIPS_MACH.get(mach, "unknown CPU"))
    abi = f & 0x0000F000
    if abi:
        out.append(_MIPS_ABI.get(abi, "unknown ABI"))
    out += [name for bit, name in ((0x08000000, "mdmx"), (0x04000000, "mips16"),
                                   (0x02000000, "micromips")) if f & bit]
    out.append(_MIPS_ARCH.get(f & 0xF0000000, "unknown ISA"))
    return out


def _riscv_flags(f: int) -> list[str]:
    out = [name for bit, name in ((0x1, "RVC"), (0x8, "RVE"), (0x10, "TSO")) if f & bit]
    out.append({0: "soft-float ABI", 2: "single-float ABI", 4: "double-float ABI",
                6: "quad-float ABI"}[f & 6])
    return out


def _sparcv9_flags(f: int) -> list[str]:
    out = [name for bit, name in ((0x100, "v8+"), (0x200, "ultrasparcI"), (0x800, "ultrasparcIII"),
                                  (0x400, "halr1"), (0x800000, "ledata")) if f & bit]
    mm = f & 3
    if mm in (0, 1, 2):
        out.append(("tso", "pso", "rmo")[mm])
    return out


def _loongarch_flags(f: int) -> list[str]:
    out = []
    fabi = f & 7
    if fabi in (1, 2, 3):
        out.append(("SOFT-FLOAT", "SINGLE-FLOAT", "DOUBLE-FLOAT")[fabi - 1])
    obj = f & 0xC0
    if obj == 0:
        out.append("OBJ-v0")
    elif obj == 0x40:
        out.append("OBJ-v1")
    return out


def machine_flags(e_machine: int, e_flags: int) -> list[str]:
    """The words readelf -h prints after "Flags: 0x..", each once preceded by ", "."""
    if not e_flags:
        return []
    if e_machine == EM_ARM:
        return _arm_flags(e_flags)
    if e_machine in _MIPS:
        return _mips_flags(e_flags)
    if e_machine == EM_RISCV:
        return _riscv_flags(e_flags)
    if e_machine == EM_PPC64:
        return [f"abiv{e_flags & 3}"] if e_flags & 3 else []
    if e_machine == EM_PPC:
        return [name for bit, name in ((0x80000000, "emb"), (0x10000, "relocatable"),
                                       (0x8000, "relocatable-lib")) if e_flags & bit]
    if e_machine == EM_SPARCV9:
        return _sparcv9_flags(e_flags)
    if e_machine == EM_S390:
        return ["highgprs"] if e_flags & 1 else []
    if e_machine == EM_LOONGARCH:
        return _loongarch_flags(e_flags)
    return []


# --- section types (readelf -S) ----------------------------------------------------------------

_MIPS_SHT = ["LIBLIST", "MSYM", "CONFLICT", "GPTAB", "UCODE", "DEBUG", "REGINFO", "PACKAGE",
             "PACKSYM", "RELD", None, "IFACE", "CONTENT", "OPTIONS", None, None, "SHDR", "FDESC",
             "EXTSYM", "DENSE", "PDESC", "LOCSYM", "AUXSYM", "OPTSYM", "LOCSTR", "LINE",
             "RFDESC", "DELTASYM", "DELTAINST", "DELTACLASS", "DWARF", "DELTADECL", "SYMBOL_LIB",
             "EVENTS", "TRANSLATE", "PIXIE", "XLATE", "XLATE_DEBUG", "WHIRL", "EH_REGION",
             "XLATE_OLD", "PDR_EXCEPTION", "ABIFLAGS", "XHASH"]

SECTION_TYPES = {
    EM_ARM: {0x70000001: "ARM_EXIDX", 0x70000002: "ARM_PREEMPTMAP", 0x70000003: "ARM_ATTRIBUTES",
             0x70000004: "ARM_DEBUGOVERLAY", 0x70000005: "ARM_OVERLAYSECTION"},
    EM_RISCV: {0x70000003: "RISCV_ATTRIBUTES"},
    EM_AARCH64: {0x70000003: "AARCH64_ATTRIBUTES"},
    EM_MIPS: {0x70000000 + i: "MIPS_" + n for i, n in enumerate(_MIPS_SHT) if n},
}
SECTION_TYPES[EM_MIPS_RS3_LE] = SECTION_TYPES[EM_MIPS]


def section_type(sh_type: int, e_machine: int) -> str | None:
    table = SECTION_TYPES.get(e_machine)
    return table.get(sh_type) if table else None


# --- segment types (readelf -l) ----------------------------------------------------------------

SEGMENT_TYPES = {
    EM_ARM: {0x70000001: "EXIDX"},
    EM_AARCH64: {0x70000000: "AARCH64_ARCHEXT", 0x70000002: "AARCH64_MEMTAG_MTE"},
    EM_MIPS: {0x70000000: "REGINFO", 0x70000001: "RTPROC", 0x70000002: "OPTIONS",
              0x70000003: "ABIFLAGS"},
    EM_RISCV: {0x70000003: "RISCV_ATTRIBUTES"},
    EM_S390: {0x70000000: "S390_PGSTE"},
}
SEGMENT_TYPES[EM_MIPS_RS3_LE] = SEGMENT_TYPES[EM_MIPS]


def segment_type(p_type: int, e_machine: int) -> str | None:
    table = SEGMENT_TYPES.get(e_machine)
    return table.get(p_type) if table else None


# --- dynamic tags (readelf -d) -----------------------------------------------------------------

_MIPS_DT = {
    0x01: "RLD_VERSION", 0x02: "TIME_STAMP", 0x03: "ICHECKSUM", 0x04: "IVERSION", 0x05: "FLAGS",
    0x06: "BASE_ADDRESS", 0x07: "MSYM", 0x08: "CONFLICT", 0x09: "LIBLIST", 0x0A: "LOCAL_GOTNO",
    0x0B: "CONFLICTNO", 0x10: "LIBLISTNO", 0x11: "SYMTABNO", 0x12: "UNREFEXTNO",
    0x13: "GOTSYM", 0x14: "HIPAGENO", 0x16: "RLD_MAP", 0x17: "DELTA_CLASS",
    0x18: "DELTA_CLASS_NO", 0x19: "DELTA_INSTANCE", 0x1A: "DELTA_INSTANCE_NO",
    0x1B: "DELTA_RELOC", 0x1C: "DELTA_RELOC_NO", 0x1D: "DELTA_SYM", 0x1E: "DELTA_SYM_NO",
    0x20: "DELTA_CLASSSYM", 0x21: "DELTA_CLASSSYM_NO", 0x22: "CXX_FLAGS", 0x23: "PIXIE_INIT",
    0x24: "SYMBOL_LIB", 0x25: "LOCALPAGE_GOTIDX", 0x26: "LOCAL_GOTIDX", 0x27: "HIDDEN_GOTIDX",
    0x28: "PROTECTED_GOTIDX", 0x29: "OPTIONS", 0x2A: "INTERFACE", 0x2B: "DYNSTR_ALIGN",
    0x2C: "INTERFACE_SIZE", 0x2D: "RLD_TEXT_RESOLVE_ADDR", 0x2E: "PERF_SUFFIX",
    0x2F: "COMPACT_SIZE", 0x30: "GP_VALUE", 0x31: "AUX_DYNAMIC", 0x32: "PLTGOT",
    0x34: "RWPLT", 0x35: "RLD_MAP_REL", 0x36: "XHASH",
}

DYNAMIC_TAGS = {
    EM_MIPS: {0x70000000 + k: "MIPS_" + v for k, v in _MIPS_DT.items()},
    EM_AARCH64: {0x70000001: "AARCH64_BTI_PLT", 0x70000003: "AARCH64_PAC_PLT",
                 0x70000005: "AARCH64_VARIANT_PCS"},
    EM_PPC: {0x70000000: "PPC_GOT", 0x70000001: "PPC_OPT"},
    EM_PPC64: {0x70000000: "PPC64_GLINK", 0x70000001: "PPC64_OPD", 0x70000002: "PPC64_OPDSZ",
               0x70000003: "PPC64_OPT"},
    EM_SPARCV9: {0x70000001: "SPARC_REGISTER"},
    EM_RISCV: {0x70000001: "RISCV_VARIANT_CC"},
}
DYNAMIC_TAGS[EM_MIPS_RS3_LE] = DYNAMIC_TAGS[EM_MIPS]

# MIPS tags whose value readelf -d prints in decimal
MIPS_DT_DECIMAL = frozenset(0x70000000 + k for k in (
    0x01, 0x0A, 0x0B, 0x10, 0x11, 0x12, 0x14, 0x18, 0x1A, 0x1C, 0x1E, 0x21, 0x2F))
DT_MIPS_FLAGS = 0x70000005
MIPS_DT_FLAG_NAMES = ["QUICKSTART", "NOTPOT", "NO_LIBRARY_REPLACEMENT", "NO_MOVE", "SGI_ONLY",
                      "GUARANTEE_INIT", "DELTA_C_PLUS_PLUS", "GUARANTEE_START_INIT", "PIXIE",
                      "DEFAULT_DELAY_LOAD", "REQUICKSTART", "REQUICKSTARTED", "CORD",
                      "NO_UNRES_UNDEF", "RLD_ORDER_SAFE"]


def dynamic_tag(tag: int, e_machine: int) -> str | None:
    table = DYNAMIC_TAGS.get(e_machine)
    return table.get(tag) if table else None


def dynamic_value_text(tag: int, value: int, e_machine: int, string=None) -> str | None:
    """readelf -d's Name/Value text for a processor-specific tag, None for the generic `0x..`.
    `string(offset)` is the dynamic string table's string there, None when there is none."""
    if e_machine == EM_AARCH64 and tag in (0x70000001, 0x70000003):    # BTI_PLT, PAC_PLT: a marker
        return ""
    if e_machine not in _MIPS:
        return None
    if tag in MIPS_DT_DECIMAL:
        return str(value)
    if tag == 0x70000004:                                  # DT_MIPS_IVERSION
        name = string(value) if string is not None else None
        return f"Interface Version: {name}" if name is not None else \
            f"Interface Version: <corrupt: {value:x}>"
    if tag == 0x70000002:                                  # DT_MIPS_TIME_STAMP, in UTC
        import time
        try:
            t = time.gmtime(value)
        except (OverflowError, OSError, ValueError):
            return None
        return "Time Stamp: %04u-%02u-%02uT%02u:%02u:%02u" % t[:6]
    if tag == DT_MIPS_FLAGS:
        if value == 0:
            return "NONE"
        return " ".join(n for i, n in enumerate(MIPS_DT_FLAG_NAMES) if value >> i & 1)
    return None


# --- symbol st_other bits (readelf -s, after the visibility) -------------------------------------

def _flag_or_rest(other: int, bit: int, name: str) -> str | None:
    if not other & bit:
        return None
    other &= ~bit
    return name if not other else f"{name} | {other:x}"


def symbol_other(other: int, e_machine: int) -> str:
    """readelf's text for the st_other bits above the visibility (`other` has them alone,
    non-zero), without the brackets."""
    result = None
    if e_machine == EM_AARCH64:
        result = _flag_or_rest(other, 0x80, "VARIANT_PCS")
    elif e_machine == EM_RISCV:       # readelf 2.40: any bit besides VARIANT_CC hides it
        rest = other & ~0x80
        result = f"{rest:x}" if rest else "VARIANT_CC"
    elif e_machine in _MIPS:
        result = {0x04: "OPTIONAL", 0x08: "MIPS PLT", 0x20: "MIPS PIC", 0x80: "MICROMIPS",
                  0xA0: "MICROMIPS, MIPS PIC", 0xF0: "MIPS16"}.get(other)
    elif e_machine == EM_PPC64:
        v = other >> 5
        if not other & ~0xE0 and v <= 6:           # 1: no TOC kept; 2..6: the offset in bytes
            result = f"<localentry>: {((1 << v) >> 2) << 2 if v >= 2 else v}"
    return result if result is not None else f"<other>: {other:x}"

# --- e_machine names readelf -h prints beyond constants.MACHINE_NAMES ---------------------------

MORE_MACHINE_NAMES = {
    0x1: 'WE32100',
    0x4: 'MC68000',
    0x5: 'MC88000',
    0x6: 'Intel MCU',
    0x7: 'Intel 80860',
    0x9: 'IBM System/370',
    0xa: 'MIPS R4000 big-endian',
    0xb: 'Sparc v9 (old)',
    0xf: 'HPPA',
    0x11: 'Fujitsu VPP500',
    0x13: 'Intel 80960',
    0x17: 'SPU',
    0x24: 'Renesas V850 (using RH850 ABI)',
    0x25: 'Fujitsu FR20',
    0x26: 'TRW RH32',
    0x27: 'MCORE',
    0x29: 'Digital Alpha (old)',
    0x2c: 'Siemens Tricore',
    0x2d: 'ARC',
    0x2e: 'Renesas H8/300',
    0x2f: 'Renesas H8/300H',
    0x30: 'Renesas H8S',
    0x31: 'Renesas H8/500',
    0x33: 'Stanford MIPS-X',
    0x34: 'Motorola Coldfire',
    0x35: 'Motorola MC68HC12 Microcontroller',
    0x36: 'Fujitsu Multimedia Accelerator',
    0x37: 'Siemens PCP',
    0x38: 'Sony nCPU embedded RISC processor',
    0x39: 'Denso NDR1 microprocesspr',
    0x3a: 'Motorola Star*Core processor',
    0x3b: 'Toyota ME16 processor',
    0x3c: 'STMicroelectronics ST100 processor',
    0x3d: 'Advanced Logic Corp. TinyJ embedded processor',
    0x3f: 'Sony DSP processor',
    0x40: 'Digital Equipment Corp. PDP-10',
    0x41: 'Digital Equipment Corp. PDP-11',
    0x42: 'Siemens FX66 microcontroller',
    0x43: 'STMicroelectronics ST9+ 8/16 bit microcontroller',
    0x44: 'STMicroelectronics ST7 8-bit microcontroller',
    0x45: 'Motorola MC68HC16 Microcontroller',
    0x46: 'Motorola MC68HC11 Microcontroller',
    0x47: 'Motorola MC68HC08 Microcontroller',
    0x48: 'Motorola MC68HC05 Microcontroller',
    0x49: 'Silicon Graphics SVx',
    0x4a: 'STMicroelectronics ST19 8-bit microcontroller',
    0x4b: 'Digital VAX',
    0x4c: 'Axis Communications 32-bit embedded processor',
    0x4d: 'Infineon Technologies 32-bit embedded cpu',
    0x4e: 'Element 14 64-bit DSP processor',
    0x4f: "LSI Logic's 16-bit DSP processor",
    0x50: "Donald Knuth's educational 64-bit processor",
    0x51: "Harvard Universitys's machine-independent object format",
    0x52: 'Vitesse Prism',
    0x53: 'Atmel AVR 8-bit microcontroller',
    0x54: 'Fujitsu FR30',
    0x55: 'd10v',
    0x56: 'd30v',
    0x57: 'Renesas V850',
    0x58: 'Renesas M32R (formerly Mitsubishi M32r)',
    0x59: 'mn10300',
    0x5a: 'mn10200',
    0x5b: 'picoJava',
    0x5c: 'OpenRISC 1000',
    0x5d: 'ARCompact',
    0x5e: 'Tensilica Xtensa Processor',
    0x5f: 'Alphamosaic VideoCore processor',
    0x60: 'Thompson Multimedia General Purpose Processor',
    0x61: 'National Semiconductor 32000 series',
    0x62: 'Tenor Network TPC processor',
    0x63: 'Trebia SNP 1000 processor',
    0x64: 'STMicroelectronics ST200 microcontroller',
    0x65: 'Ubicom IP2xxx 8-bit microcontrollers',
    0x66: 'MAX Processor',
    0x67: 'National Semiconductor CompactRISC',
    0x68: 'Fujitsu F2MC16',
    0x69: 'Texas Instruments msp430 microcontroller',
    0x6a: 'Analog Devices Blackfin',
    0x6b: 'S1C33 Family of Seiko Epson processors',
    0x6c: 'Sharp embedded microprocessor',
    0x6d: 'Arca RISC microprocessor',
    0x6e: 'Unicore',
    0x6f: 'eXcess 16/32/64-bit configurable embedded CPU',
    0x70: 'Icera Semiconductor Inc. Deep Execution Processor',
    0x71: 'Altera Nios II',
    0x72: 'National Semiconductor CRX microprocessor',
    0x73: 'Motorola XGATE embedded processor',
    0x74: 'Infineon Technologies xc16x',
    0x75: 'Renesas M16C series microprocessors',
    0x76: 'Microchip Technology dsPIC30F Digital Signal Controller',
    0x77: 'Freescale Communication Engine RISC core',
    0x78: 'Renesas M32c',
    0x83: 'Altium TSK3000 core',
    0x84: 'Freescale RS08 embedded processor',
    0x86: 'Cyan Technology eCOG2 microprocessor',
    0x87: 'SUNPLUS S+Core',
    0x88: 'New Japan Radio (NJR) 24-bit DSP Processor',
    0x89: 'Broadcom VideoCore III processor',
    0x8a: 'Lattice Mico32',
    0x8b: 'Seiko Epson C17 family',
    0x8c: 'Texas Instruments TMS320C6000 DSP family',
    0x8d: 'Texas Instruments TMS320C2000 DSP family',
    0x8e: 'Texas Instruments TMS320C55x DSP family',
    0x90: 'TI PRU I/O processor',
    0xa0: 'STMicroelectronics 64bit VLIW Data Signal Processor',
    0xa1: 'Cypress M8C microprocessor',
    0xa2: 'Renesas R32C series microprocessors',
    0xa3: 'NXP Semiconductors TriMedia architecture family',
    0xa4: 'QUALCOMM DSP6 Processor',
    0xa5: 'Intel 8051 and variants',
    0xa6: 'STMicroelectronics STxP7x family',
    0xa7: 'Andes Technology compact code size embedded RISC processor family',
    0xa8: 'Cyan Technology eCOG1X family',
    0xa9: 'Dallas Semiconductor MAXQ30 Core microcontrollers',
    0xaa: 'New Japan Radio (NJR) 16-bit DSP Processor',
    0xab: 'M2000 Reconfigurable RISC Microprocessor',
    0xac: 'Cray Inc. NV2 vector architecture',
    0xad: 'Renesas RX',
    0xae: 'Imagination Technologies Meta processor architecture',
    0xaf: 'MCST Elbrus general purpose hardware architecture',
    0xb0: 'Cyan Technology eCOG16 family',
    0xb1: 'Xilinx MicroBlaze',
    0xb2: 'Freescale Extended Time Processing Unit',
    0xb3: 'Infineon Technologies SLE9X core',
    0xb4: 'Intel L1OM',
    0xb5: 'Intel K1OM',
    0xb6: 'Intel (reserved)',
    0xb8: 'ARM (reserved)',
    0xb9: 'Atmel Corporation 32-bit microprocessor',
    0xba: 'STMicroeletronics STM8 8-bit microcontroller',
    0xbb: 'Tilera TILE64 multicore architecture family',
    0xbc: 'Tilera TILEPro multicore architecture family',
    0xbd: 'Xilinx MicroBlaze',
    0xbe: 'NVIDIA CUDA architecture',
    0xbf: 'Tilera TILE-Gx multicore architecture family',
    0xc0: 'CloudShield architecture family',
    0xc1: 'KIPO-KAIST Core-A 1st generation processor family',
    0xc2: 'KIPO-KAIST Core-A 2nd generation processor family',
    0xc3: 'ARCv2',
    0xc4: 'Open8 8-bit RISC soft processor core',
    0xc5: 'Renesas RL78',
    0xc6: 'Broadcom VideoCore V processor',
    0xc7: 'Renesas 78K0R',
    0xc8: 'Freescale 56800EX Digital Signal Controller (DSC)',
    0xc9: 'Beyond BA1 CPU architecture',
    0xca: 'Beyond BA2 CPU architecture',
    0xcb: 'XMOS xCORE processor family',
    0xcc: 'Microchip 8-bit PIC(r) family',
    0xcd: 'Intel Graphics Technology',
    0xd2: 'KM211 KM32 32-bit processor',
    0xd3: 'KM211 KMX32 32-bit processor',
    0xd4: 'KM211 KMX16 16-bit processor',
    0xd5: 'KM211 KMX8 8-bit processor',
    0xd6: 'KM211 KVARC processor',
    0xd7: 'Paneve CDP architecture family',
    0xd8: 'Cognitive Smart Memory Processor',
    0xd9: 'Bluechip Systems CoolEngine',
    0xda: 'Nanoradio Optimized RISC',
    0xdb: 'CSR Kalimba architecture family',
    0xdc: 'Zilog Z80',
    0xdd: 'CDS VISIUMcore processor',
    0xde: 'FTDI Chip FT32',
    0xdf: 'Moxie',
    0xe0: 'AMD GPU',
    0xf4: 'Lanai 32-bit processor',
    0xf5: 'CEVA Processor Architecture Family',
    0xf6: 'CEVA X2 Processor Family',
    0xf8: 'Graphcore Intelligent Processing Unit',
    0xf9: 'Imagination Technologies',
    0xfa: 'Netronome Flow Processor',
    0xfb: 'NEC Vector Engine',
    0xfc: 'C-SKY',
    0xfd: 'Synopsys ARCv2.3 64-bit',
    0xfe: 'MOS Technology MCS 6502 processor',
    0xff: 'Synopsys ARCv2.3 32-bit',
    0x100: 'Kalray VLIW core of the MPPA processor family',
    0x101: 'WDC 65816/65C816',
    0x103: 'ChipON KungFu32',
    0x1057: 'Atmel AVR 8-bit microcontroller',
    0x1223: 'Adapteva EPIPHANY',
    0x2530: 'Morpho Techologies MT processor',
    0x3330: 'Fujitsu FR30',
    0x4157: 'Web Assembly',
    0x4688: 'Infineon Technologies xc16x',
    0x4def: 'Freescale S12Z',
    0x5441: 'Fujitsu FR-V',
    0x5aa5: 'OpenDLX',
    0x7650: 'd10v',
    0x7676: 'd30v',
    0x8217: 'Ubicom IP2xxx 8-bit microcontrollers',
    0x9026: 'Alpha',
    0x9041: 'Renesas M32R (formerly Mitsubishi M32r)',
    0x9080: 'Renesas V850',
    0xa390: 'IBM S/390',
    0xabc7: 'Tensilica Xtensa Processor',
    0xad45: 'Sanyo XStormy16 CPU core',
    0xbaab: 'Xilinx MicroBlaze',
    0xbeef: 'mn10300',
    0xdead: 'mn10200',
    0xf00d: 'Toshiba MeP Media Engine',
    0xfeb0: 'Altera Nios',
    0xfeba: 'Vitesse IQ2000',
    0xfebb: 'Altera Nios',
}
