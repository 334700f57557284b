"""The PLT/GOT map: which PLT stub jumps through which GOT slot, for which relocation and symbol.

The stubs are recognised by their bytes, the way each psABI (and ld) lays them out, and the
slot each one jumps through is decoded from its instructions, so no assumption is made about
the order of stubs or about section sizes:

x86-64 and i386 (lazy .plt, IBT .plt.sec, .plt.got):
  lazy .plt entry      ff 25 <rel32>  jmp *slot(%rip)      68 <index>  push   e9 <rel32>  jmp PLT0
  IBT .plt entry       f3 0f 1e fa    endbr64              68 <index>  push   f2 e9 ...   bnd jmp PLT0
  .plt.sec / .plt.got  [f3 0f 1e fa] [f2] ff 25 <rel32>    jmp *slot(%rip)
  i386 PIC             ff a3 <disp32> jmp *disp(%ebx)      68 <offset> push   e9 ...
  i386 non-PIC         ff 25 <abs32>  jmp *abs
AArch64 (LP64; 16-byte entries, 24 with -z force-bti / -z pac-plt):
  [bti c] adrp x16, slot; ldr x17, [x16, #lo12]; add x16, x16, #lo12; [autia1716]; br x17
  (PLT0 starts stp x16, x30, [sp, #-16]!; the TLSDESC trampoline uses x2/x3: no stubs)
ARM (12-byte entries, 16 with --long-plt; Thumb stubs; BE8 and BE32):
  [bx pc; b .-2] add ip, pc, #imm; add ip, ip, #imm [add ip, ip, #imm]; ldr pc, [ip, #imm]!
  (PLT0 starts str lr, [sp, #-4]!; no Thumb-2-only or FDPIC PLTs)
RISC-V (RV64 and RV32; 16-byte entries after a 32-byte PLT0 that ends `jr t3`):
  auipc t3, %pcrel_hi(slot); ld|lw t3, %pcrel_lo(slot)(t3); jalr t1, t3; nop
PowerPC64 (ELFv2 and ELFv1): `.plt` is a NOBITS array of slots (ELFv1: function descriptors);
  the code that jumps through one is a linker call stub in an executable section (.text),
  decoded back from its `mtctr r12`: [std r2,24|40(r1)] [addis r11|r12,r2,hi] ld r12,lo(..)
  mtctr r12 [ELFv1: ld r2/r11 from the descriptor, thread-safe cmpldi/bnectr] bctr, the notoc
  forms (mflr r12; bcl 20,31; mflr r11; ... r11-relative, or Power10 `pld r12,slot@pcrel`) and
  __tls_get_addr_opt's; r2 is .TOC. (else .got + 0x8000). A stub counts only when the address
  it loads is a PLT relocation's. The lazy entries are in .glink, 32 bytes after
  DT_PPC64_GLINK, one per .rela.plt relocation in order: `b __glink_PLTresolve` (ELFv2) or
  `li r0,INDEX` (`lis`/`ori` past 32k) and `b` (ELFv1); `lazy_stub` is that entry.

On AArch64, ARM and RISC-V the stub is also the lazy path (it hands PLT0 the slot's address):
`lazy_stub` is the stub. Other machines: `plt_got_unsupported` gives the sentence.
"""
from __future__ import annotations

import struct
from itertools import compress, count

from elfkit.elf.constants import EM, SHN, SHT, reloc_type_name
from elfkit.elf.record import Record

PLT_SECTIONS = (".plt", ".plt.sec", ".plt.got", ".iplt", ".plt.bnd")


class PltSection(Record):
    __slots__ = ("name", "addr", "size", "entsize")

    def __init__(self, name: str, addr: int, size: int, entsize: int):
        self.name = name
        self.addr = addr
        self.size = size
        self.entsize = entsize


class GotSlot(Record):
    __slots__ = ("plt_section", "stub", "lazy_stub", "got_slot", "got_section", "reloc_section",
                 "reloc_index", "reloc_type", "symbol", "version", "initial")

    def __init__(self, plt_section: str | None, stub: int | None, lazy_stub: int | None,
                 got_slot: int, got_section: str | None, reloc_section: str | None,
                 reloc_index: int, reloc_type: str, symbol: str | None, version: str | None,
                 initial: int | None):
        self.plt_section = plt_section
        self.stub = stub
        self.lazy_stub = lazy_stub
        self.got_slot = got_slot
        self.got_section = got_section
        self.reloc_section = reloc_section
        self.reloc_index = reloc_index
        self.reloc_type = reloc_type
        self.symbol = symbol
        self.version = version
        self.initial = initial


class PltGotMap(Record):
    __slots__ = ("plt_sections", "got_plt", "reserved", "slots")

    def __init__(self, plt_sections: list[PltSection] | None = None, got_plt: int | None = None,
                 reserved: list[int] | None = None, slots: list[GotSlot] | None = None):
        self.plt_sections = [] if plt_sections is None else plt_sections
        self.got_plt = got_plt                  # address of GOT[0] (DT_PLTGOT)
        self.reserved = [] if reserved is None else reserved    # GOT[0..2] as stored in the file
        self.slots = [] if slots is None else slots


class _Stub(Record):
    __slots__ = ("section", "addr", "slot", "push")

    def __init__(self, section: str, addr: int, slot: int | None, push: int | None):
        self.section = section
        self.addr = addr
        self.slot = slot            # GOT slot it jumps through
        self.push = push            # value it pushes (reloc index, or byte offset on i386)


# the machines whose PLT layouts elfkit decodes
_DECODED = (EM.X86_64, EM.I386, EM.AARCH64, EM.RISCV, EM.PPC64, EM.ARM)
_DECODED_LIST = ("x86-64, i386, AArch64 (LP64), ARM, RISC-V (RV64 and RV32) and PowerPC64 "
                 "(ELFv1 and ELFv2)")


def plt_got_unsupported(elf) -> str | None:
    """Why there is no PLT/GOT map for this file's machine (None: one whose PLT layout elfkit
    decodes). Other machines' PLTs are not read at all: no map is better than a wrong one."""
    machine = elf.header.machine
    if machine in _DECODED and (machine != EM.AARCH64 or elf.is_64):
        return None
    from elfkit.elf.constants import machine_name
    name = "AArch64 ILP32" if machine == EM.AARCH64 else machine_name(machine)
    return f"not supported for {name}: elfkit decodes the PLT layouts of {_DECODED_LIST} only"


# words of GOT[0..] (DT_PLTGOT) the dynamic linker reserves; PowerPC64's DT_PLTGOT is .plt
_RESERVED = {EM.RISCV: 2}


def plt_got_map(elf) -> PltGotMap:
    out = PltGotMap()
    machine = elf.header.machine
    if plt_got_unsupported(elf) is not None:
        return out
    dyn = elf.dynamic
    out.got_plt = dyn.value(3) if dyn else None          # DT_PLTGOT
    if out.got_plt is None:
        s = elf.section_by_name(".got.plt")
        out.got_plt = s.addr if s else None
    if out.got_plt is not None:
        n = _RESERVED.get(machine, 3)
        if machine == EM.PPC64:
            n = 3 if _ppc64_elfv1(elf) else 2
        words = (_read_word(elf, out.got_plt + i * elf.fmt.word) for i in range(n))
        out.reserved = [v for v in words if v is not None]
    if machine == EM.PPC64:
        by_slot, by_push = _ppc64_stubs(elf, out)
        out.slots = sorted(_slots(elf, by_slot, by_push), key=lambda s: s.got_slot)
        return out
    scan = {EM.AARCH64: _scan_aarch64, EM.RISCV: _scan_riscv,
            EM.ARM: _scan_arm}.get(machine, _scan_stubs)
    stubs = []
    for sec in elf.sections:
        if sec.name in PLT_SECTIONS and sec.type == SHT.PROGBITS and sec.size:
            out.plt_sections.append(PltSection(sec.name, sec.addr, sec.size, sec.entsize))
            if elf.check_range(sec.offset, sec.size, f"section {sec.name}"):
                stubs += scan(elf, sec, out.got_plt)
    by_slot = {}
    for st in stubs:
        if st.slot is not None:
            # Prefer the stub a caller uses: .plt.sec over the lazy .plt entry.
            if st.slot not in by_slot or st.section in (".plt.sec", ".plt.got", ".plt.bnd"):
                by_slot[st.slot] = st
    by_push = {st.push: st for st in stubs if st.push is not None and st.section in (".plt", ".iplt")}
    out.slots = sorted(_slots(elf, by_slot, by_push), key=lambda s: s.got_slot)
    return out


def _scan_stubs(elf, sec, got_base) -> list[_Stub]:
    code = bytes(elf.data[sec.offset:sec.offset + sec.size])
    has_plt0 = sec.name == ".plt" and _is_plt0(code)
    step = 8 if _is_short_stub(code[16 if has_plt0 else 0:]) else 16
    is64 = elf.is_64
    stubs = []
    # PLT0 (pushes GOT[1], jumps through GOT[2]) is 16 bytes; static binaries' .plt has none.
    for pos in range(16 if has_plt0 else 0, len(code) - step + 1, step):
        addr = sec.addr + pos
        slot, push = _decode_entry(code[pos:pos + step], addr, is64, got_base)
        if slot is not None or push is not None:
            stubs.append(_Stub(sec.name, addr, slot, push))
    return stubs


def _is_plt0(code: bytes) -> bool:
    """pushq GOT+8(%rip) (ff 35) / pushl GOT+4 (ff 35 abs, ff b3 (%ebx)), after an optional endbr."""
    i = 4 if code[:3] == b"\xf3\x0f\x1e" else 0
    return code[i:i + 2] in (b"\xff\x35", b"\xff\xb3")


def _is_short_stub(code: bytes) -> bool:
    """8-byte stubs: `jmp *slot(%rip); xchg %ax,%ax` (.plt.got, a static binary's .iplt);
    on i386 `jmp *disp(%ebx)` (ff a3) or `jmp *abs` (ff 25)."""
    return code[:2] in (b"\xff\x25", b"\xff\xa3") and code[6:8] == b"\x66\x90"


def _decode_entry(entry: bytes, addr: int, is64: bool, got_base):
    slot = push = None
    i = 0
    if entry[:4] == b"\xf3\x0f\x1e\xfa" or entry[:4] == b"\xf3\x0f\x1e\xfb":   # endbr64 / endbr32
        i = 4
    while i < len(entry):
        b = entry[i]
        if b == 0xF2:                                   # bnd prefix
            i += 1
            continue
        if b == 0xFF and i + 6 <= len(entry) and entry[i + 1] in (0x25, 0xA3):
            disp = struct.unpack_from("<i" if entry[i + 1] == 0x25 and is64 else "<I", entry, i + 2)[0]
            if is64 and entry[i + 1] == 0x25:
                slot = addr + i + 6 + disp                 # RIP-relative
            elif entry[i + 1] == 0x25:
                slot = disp                                # i386 absolute
            elif got_base is not None:
                slot = (got_base + disp) & 0xFFFFFFFF      # i386 PIC: relative to %ebx
            i += 6
            continue
        if b == 0x68 and i + 5 <= len(entry):
            push = struct.unpack_from("<I", entry, i + 1)[0]
            i += 5
            continue
        break
    return slot, push


# --- AArch64 ---------------------------------------------------------------------------------
_A64_BTI_C = 0xD503245F
_A64_STP_X16_X30 = 0xA9BF7BF0          # stp x16, x30, [sp, #-16]!  (PLT0 only)
_A64_BR_X17 = 0xD61F0220


def _words(elf, sec, endian="<"):
    code = bytes(elf.data[sec.offset:sec.offset + sec.size])
    n = len(code) // 4
    return struct.unpack(f"{endian}{n}I", code[:n * 4])


def _scan_aarch64(elf, sec, got_base) -> list[_Stub]:
    """PLTn: [bti c] adrp x16, slot; ldr x17, [x16, #lo12]; add x16, x16, #lo12; [autia1716];
    br x17 (ld's 16- and 24-byte entries, with -z force-bti / -z pac-plt). The slot is what
    adrp+ldr address; PLT0 (stp x16, x30 first) and the TLSDESC trampoline (x2/x3) are not
    stubs. Instructions are little-endian whatever the data byte order."""
    w = _words(elf, sec)
    stubs = []
    for i in range(len(w) - 1):
        insn = w[i]
        if insn & 0x9F00001F != 0x90000010:                    # adrp x16, ...
            continue
        ldr = w[i + 1]
        if ldr & 0xFFC003FF != 0xF9400211:                     # ldr x17, [x16, #imm]
            continue
        if i and w[i - 1] == _A64_STP_X16_X30:                 # PLT0
            continue
        if _A64_BR_X17 not in w[i + 2:i + 5]:
            continue
        pc = sec.addr + 4 * i
        imm = ((insn >> 5) & 0x7FFFF) << 2 | (insn >> 29) & 3
        if imm & 0x100000:
            imm -= 0x200000
        slot = (pc & ~0xFFF) + (imm << 12) + ((ldr >> 10) & 0xFFF) * 8
        start = i - 1 if i and w[i - 1] == _A64_BTI_C else i
        stubs.append(_Stub(sec.name, sec.addr + 4 * start, slot & 0xFFFFFFFFFFFFFFFF, None))
    return stubs


# --- ARM -------------------------------------------------------------------------------------
def _scan_arm(elf, sec, got_base) -> list[_Stub]:
    """PLTn (ARM state): add ip, pc, #imm; add ip, ip, #imm (two of them with --long-plt);
    ldr pc, [ip, #imm12]! -- the slot is pc (the first add's address + 8) plus the immediates;
    the 4-byte Thumb stub `bx pc; b .-2` ld puts before an entry some Thumb callers need is part
    of it (objdump labels it sym@plt). PLT0 (str lr, [sp, #-4]! ...) has no `add ip, pc`.
    Instructions are little-endian except in a BE32 file (big-endian without EF_ARM_BE8)."""
    endian = "<" if elf.fmt.endian == "<" or elf.header.flags & 0x00800000 else ">"
    w = _words(elf, sec, endian)
    thumb_stub = 0xE7FD4778 if endian == "<" else 0x4778E7FD      # bx pc; b .-2 (two halfwords)
    stubs = []
    for i, insn in enumerate(w):
        if insn & 0xFFFFF000 != 0xE28FC000:                        # add ip, pc, #imm
            continue
        total, k = _arm_imm(insn), i + 1
        while k < len(w) and k < i + 4 and w[k] & 0xFFFFF000 == 0xE28CC000:   # add ip, ip, #imm
            total += _arm_imm(w[k])
            k += 1
        if k >= len(w) or w[k] & 0xFFFFF000 != 0xE5BCF000:          # ldr pc, [ip, #imm]!
            continue
        pc = sec.addr + 4 * i
        slot = (pc + 8 + total + (w[k] & 0xFFF)) & 0xFFFFFFFF
        start = pc - 4 if i and w[i - 1] == thumb_stub else pc
        stubs.append(_Stub(sec.name, start, slot, None))
    return stubs


def _arm_imm(insn) -> int:
    """An ARM data-processing immediate: imm8 rotated right by twice rot4."""
    imm, rot = insn & 0xFF, (insn >> 8 & 0xF) * 2
    return ((imm >> rot) | (imm << (32 - rot))) & 0xFFFFFFFF if rot else imm


# --- RISC-V ----------------------------------------------------------------------------------
def _scan_riscv(elf, sec, got_base) -> list[_Stub]:
    """PLTn: auipc t3, %pcrel_hi(slot); l[dw] t3, %pcrel_lo(slot)(t3); jalr t1, t3; nop.
    PLT0 (auipc t2 ...; jr t3) is no stub. Instructions are little-endian; a PLT has no
    compressed ones, but entries are only assumed 4-byte aligned."""
    w = _words(elf, sec)
    load = 0x3003 if elf.is_64 else 0x2003                     # ld / lw (funct3 | opcode)
    mask = 0xFFFFFFFF if not elf.is_64 else 0xFFFFFFFFFFFFFFFF
    stubs = []
    for i in range(len(w) - 2):
        insn = w[i]
        if insn & 0xFFF != 0xE17:                              # auipc t3 (x28)
            continue
        ld = w[i + 1]
        if ld & 0xFFFFF != 0xE0000 | 0xE00 | load:             # l[dw] t3, lo(t3)
            continue
        if w[i + 2] & 0xFFFFF != 0xE0367:                       # jalr t1, 0(t3)
            continue
        if w[i + 2] >> 20:
            continue
        hi = insn & 0xFFFFF000
        if hi & 0x80000000:
            hi -= 1 << 32
        lo = ld >> 20
        if lo & 0x800:
            lo -= 0x1000
        pc = sec.addr + 4 * i
        stubs.append(_Stub(sec.name, pc, (pc + hi + lo) & mask, None))
    return stubs


# --- PowerPC64 -------------------------------------------------------------------------------
_PPC_MTCTR_R12 = 0x7D8903A6
_PPC_BCTR = 0x4E800420
_PPC_BCTRL = 0x4E800421                  # __tls_get_addr_opt's stub calls, then returns
_PPC_BNECTR = (0x4CA20420, 0x4CE20420)
_PPC_STD_R2 = (0xF8410018, 0xF8410028)   # std r2,24(r1) (ELFv2) / std r2,40(r1) (ELFv1)
_PPC_BCL_20_31 = 0x429F0005              # bcl 20,31,.+4
_PPC_MFLR_R11 = 0x7D6802A6
_PPC_MFLR_R12 = 0x7D8802A6


def _ppc64_elfv1(elf) -> bool:
    return elf.header.flags & 3 != 2 and (elf.header.flags & 3 == 1 or
                                          elf.section_by_name(".opd") is not None)


def _sext(v, bits):
    return v - (1 << bits) if v & (1 << (bits - 1)) else v


def _ppc64_stubs(elf, out):
    """PowerPC64: `.plt` is a (NOBITS) array of slots; the code jumping through a slot is a
    linker call stub in an executable section (plt_call: [std r2,24|40(r1)] [addis r11|r12,
    r2,hi] ld r12,lo(..) mtctr r12 [ld r2/r11 from the ELFv1 descriptor] bctr; notoc:
    mflr/bcl/mflr r11-relative or `pld r12,slot@pcrel`), found by decoding back from each
    `mtctr r12` and kept only when the address loaded is a PLT relocation's; `.glink` (where
    a slot points before binding) has one lazy entry per .rela.plt relocation, 32 bytes after
    DT_PPC64_GLINK: ELFv2 `b __glink_PLTresolve`, ELFv1 `li r0,INDEX` (or lis/ori) and `b`."""
    endian = elf.fmt.endian
    for name in (".plt", ".iplt", ".glink"):
        sec = elf.section_by_name(name)
        if sec is not None and sec.size:
            out.plt_sections.append(PltSection(sec.name, sec.addr, sec.size, sec.entsize))
    targets = set()
    for table in elf.relocation_tables:
        if table.kind == "RELR":
            continue
        offsets, infos, _ = table.columns
        for off, info in zip(offsets, infos):
            if reloc_type_name(elf.fmt.r_type(info), EM.PPC64).endswith(("JMP_SLOT", "IRELATIVE")):
                targets.add(off)
    toc = _ppc64_toc(elf)
    by_slot = {}
    execs = [s for s in elf.sections if s.flags & 4 and s.type == SHT.PROGBITS and s.size
             and s.addr and elf.check_range(s.offset, s.size, f"section {s.name}")]
    pattern = struct.pack(endian + "I", _PPC_MTCTR_R12)
    for sec in execs:
        code = bytes(elf.data[sec.offset:sec.offset + sec.size])
        w = None
        pos = code.find(pattern)
        while pos >= 0:
            if pos % 4 == 0:
                if w is None:
                    w = struct.unpack(f"{endian}{len(code) // 4}I", code[:len(code) // 4 * 4])
                j = pos // 4
                tail = w[j + 1:j + 6]
                if _PPC_BCTR in tail or _PPC_BCTRL in tail[:1] or \
                        any(b in tail for b in _PPC_BNECTR):
                    got = _ppc64_call_stub(w, j, sec.addr, toc)
                    if got is not None and got[1] in targets:
                        start, slot = got
                        old = by_slot.get(slot)
                        if old is None or start < old.addr:
                            by_slot[slot] = _Stub(sec.name, start, slot, None)
            pos = code.find(pattern, pos + 1)
    return by_slot, _ppc64_glink(elf, endian)


def _ppc64_toc(elf):
    """The TOC pointer (r2) a stub is relative to: .TOC., else .got + 0x8000."""
    for table in list(elf.symbol_tables) + ([elf.dynsym] if elf.dynsym else []):
        for name, value in zip(table.names, table.values):
            if name == ".TOC." and value:
                return value
    got = elf.section_by_name(".got")
    return got.addr + 0x8000 if got is not None else None


def _ppc64_call_stub(w, j, base, toc):
    """(stub address, slot address) of the call stub whose `mtctr r12` is word j, or None."""
    lo = max(0, j - 8)

    def writer(reg, k):
        """The instruction before word k that last set `reg`, as (index, value) or None."""
        for i in range(k - 1, lo - 1, -1):
            insn = w[i]
            op = insn >> 26
            rt = (insn >> 21) & 31
            if i and w[i - 1] & 0xFFFC0000 == 0x04100000 and \
                    op == 57 and rt == reg and (insn >> 16) & 31 == 0:
                # pld reg, off@pcrel: prefix 0x0410_0000|d0, suffix 0xe400_0000|rt|d1
                off = _sext(((w[i - 1] & 0x3FFFF) << 16) | (insn & 0xFFFF), 34)
                return i - 1, ("mem", base + 4 * (i - 1) + off)
            if insn == _PPC_MFLR_R11 and reg == 11:
                if i >= 2 and w[i - 1] == _PPC_BCL_20_31 and w[i - 2] == _PPC_MFLR_R12:
                    return i - 2, ("val", base + 4 * i)
                return None
            if op in (14, 15) and rt == reg:              # addi / addis reg, ra, simm
                ra = (insn >> 16) & 31
                imm = _sext(insn & 0xFFFF, 16) << (16 if op == 15 else 0)
                if ra == 0:
                    return (i, ("val", imm)) if op == 14 else None
                got = value(ra, i)
                return None if got is None else (min(i, got[0]), ("val", got[1] + imm))
            if op == 58 and insn & 3 == 0 and rt == reg:     # ld reg, ds(ra)
                got = value((insn >> 16) & 31, i)
                if got is None:
                    return None
                return min(i, got[0]), ("mem", got[1] + _sext(insn & 0xFFFC, 16))
            if rt == reg and op not in (36, 37, 38, 39, 44, 45, 62):   # other writes (not stores)
                if not (op == 31 and (insn >> 1) & 0x3FF == 467):     # mtspr writes no GPR
                    return None
        return None

    def value(reg, k):
        if reg == 2:
            return None if toc is None else (k, toc)
        got = writer(reg, k)
        if got is None or got[1][0] != "val":
            return None
        return got[0], got[1][1]

    got = writer(12, j)
    if got is None or got[1][0] != "mem":
        return None
    start = got[0]
    if start and w[start - 1] in _PPC_STD_R2:
        start -= 1
    start = _ppc64_tls_opt_head(w, start)
    return base + 4 * start, got[1][1] & 0xFFFFFFFFFFFFFFFF


def _ppc64_tls_opt_head(w, start):
    """The __tls_get_addr_opt stub starts earlier: ld rX,0(r3); ld r12,8(r3); ...; mflr rY;
    std rY,8|32(r1) before the std r2/ld r12 of an ordinary stub. Its start, else `start`."""
    if start < 2 or w[start - 1] not in (0xF8010008, 0xF8010020, 0xF9610008, 0xF9610020) or \
            w[start - 2] not in (0x7C0802A6, 0x7D6802A6):             # std r0|r11; mflr r0|r11
        return start
    for i in range(start - 3, max(0, start - 12), -1):
        # ld r12,8(r3) after ld r0|r11,0(r3)
        if w[i] == 0xE9830008 and w[i - 1] in (0xE8030000, 0xE9630000):
            return i - 1
    return start


def _ppc64_glink(elf, endian) -> dict:
    """Reloc index -> _Stub of its .glink lazy entry (empty when they do not decode)."""
    dyn = elf.dynamic
    glink = dyn.value(0x70000000) if dyn else None          # DT_PPC64_GLINK
    jmprel_count = 0
    for table in elf.relocation_tables:
        if table.section in (".rela.plt",) or (table.section is None and
                                                table.offset == _jmprel_offset(elf)):
            jmprel_count = len(table.columns[0])
            break
    if glink is None or not jmprel_count:
        return {}
    first = glink + 32
    sec = next((s for s in elf.sections if s.addr <= first < s.addr + s.size and s.flags & 4), None)
    off = elf.vaddr_to_offset(first)
    if off is None:
        return {}
    name = sec.name if sec else None
    elfv1 = _ppc64_elfv1(elf)
    end = min(elf.size, off + jmprel_count * (12 if elfv1 else 4) + 16)
    n = (end - off) // 4
    if n <= 0:                     # DT_PLTGOT's glink address maps to no byte of the file
        return {}
    w = struct.unpack(f"{endian}{n}I", bytes(elf.data[off:off + n * 4]))
    out, resolver, i = {}, None, 0
    for index in range(jmprel_count):
        entry = first + 4 * i
        if elfv1:
            if i < n and w[i] & 0xFFFF0000 == 0x38000000:            # li r0, N
                got, i = w[i] & 0xFFFF, i + 1
            elif i + 1 < n and w[i] & 0xFFFF0000 == 0x3C000000 and \
                    w[i + 1] & 0xFFFF0000 == 0x60000000:              # lis r0, hi; ori r0, r0, lo
                got, i = (w[i] & 0xFFFF) << 16 | (w[i + 1] & 0xFFFF), i + 2
            else:
                return {}
            if got != index:
                return {}
        if i >= n or w[i] & 0xFC000003 != 0x48000000:                 # b resolver
            return {}
        target = first + 4 * i + _sext(w[i] & 0x3FFFFFC, 26)
        if resolver is None:
            resolver = target
        elif target != resolver:
            return {}
        i += 1
        out[index] = _Stub(name, entry, None, index)
    return out


def _slots(elf, by_slot, by_push) -> list[GotSlot]:
    """A GotSlot per PLT relocation (JUMP_SLOT, IRELATIVE), per GLOB_DAT behind a .plt.got stub,
    and on PowerPC64 per IRELATIVE outside .rela.plt behind a call stub (libc's .iplt)."""
    out = []
    fmt, machine = elf.fmt, elf.header.machine
    dynsym = elf.dynsym
    got_names = [(s.addr, s.addr + s.size, s.name) for s in elf.sections
                 if s.name in (".got", ".got.plt") or
                 machine == EM.PPC64 and s.name in (".plt", ".iplt")]
    ppc64 = machine == EM.PPC64
    plt_got_slots = {slot for slot, st in by_slot.items() if st.section == ".plt.got" or ppc64}
    other = "IRELATIVE" if ppc64 else "GLOB_DAT"
    jmprel = _jmprel_offset(elf)
    seen = set()
    for table in elf.relocation_tables:
        if table.kind == "RELR":
            continue
        is_plt_table = table.section in (".rela.plt", ".rel.plt") or (
            table.section is None and table.offset == jmprel)
        entsize = fmt.rela.size if table.kind == "RELA" else fmt.rel.size
        if not is_plt_table and not plt_got_slots:
            continue
        offsets, infos, _addends = table.columns
        # outside the PLT's own table only the slots a .plt.got stub jumps through count:
        # pick those rows out in C (a .rela.dyn has hundreds of thousands)
        wanted = range(len(offsets)) if is_plt_table else \
            compress(count(), map(plt_got_slots.__contains__, offsets))
        for index in wanted:
            offset, info = offsets[index], infos[index]
            if offset in seen:
                continue
            name = reloc_type_name(fmt.r_type(info), machine)
            if not (is_plt_table and name.endswith(("JUMP_SLOT", "JMP_SLOT", "IRELATIVE")) or
                    not is_plt_table and name.endswith(other)):
                continue
            seen.add(offset)
            out.append(_slot(elf, table, index, offset, info, name, entsize, dynsym, got_names,
                             by_slot.get(offset), by_push if is_plt_table else {}))
    return out


def _slot(elf, table, index, offset, info, name, entsize, dynsym, got_names, stub, by_push):
    symbol = version = None
    sym_index = elf.fmt.r_sym(info)
    if sym_index and dynsym is not None and sym_index < len(dynsym):
        symbol = dynsym.names[sym_index]
        version, _ = elf.versions.symbol_version(sym_index, dynsym.shndxs[sym_index] != SHN.UNDEF)
    # PLTn pushes its relocation's index on x86-64, its byte offset in .rel.plt on i386; a
    # PowerPC64 .glink entry is found by the index. On AArch64, ARM and RISC-V the stub itself
    # is the lazy path (it hands PLT0 the slot's address).
    if elf.header.machine in (EM.AARCH64, EM.RISCV, EM.ARM):
        lazy = stub
    else:
        lazy = by_push.get(index if elf.is_64 else index * entsize)
    # (a PowerPC64 .glink entry is where the slot points before binding, not what callers call)
    caller = stub or (lazy if elf.header.machine != EM.PPC64 else None)
    return GotSlot(caller.section if caller else None, caller.addr if caller else None,
                   lazy.addr if lazy else None, offset,
                   next((n for lo, hi, n in got_names if lo <= offset < hi), None),
                   table.section, index, name, symbol, version, _read_word(elf, offset))


def _jmprel_offset(elf):
    dyn = elf.dynamic
    addr = dyn.value(23) if dyn else None                   # DT_JMPREL
    return elf.vaddr_to_offset(addr) if addr is not None else None


def _read_word(elf, vaddr: int) -> int | None:
    off = elf.vaddr_to_offset(vaddr)
    if off is None or off + elf.fmt.word > elf.size:
        return None
    return elf.fmt.addr.unpack_from(elf.data, off)[0]


__all__ = ["plt_got_map", "PltGotMap", "GotSlot", "PltSection"]
