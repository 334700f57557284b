"""The PLT/GOT map: which PLT stub jumps through which GOT slot, for which relocation and symbol.

The stubs are recognised by their bytes, the way the x86-64 and i386 psABIs
(and ld's IBT variant) lay them out:

  lazy .plt entry      ff 25 <rel32>  jmp *slot(%rip)      68 <index>  push   e9 <rel32>  jmp PLT0
  IBT .plt entry       f3 0f 1e fa    endbr64              68 <index>  push   f2 e9 ...   bnd jmp PLT0
  .plt.sec / .plt.got  [f3 0f 1e fa] [f2] ff 25 <rel32>    jmp *slot(%rip)
  i386 PIC             ff a3 <disp32> jmp *disp(%ebx)      68 <offset> push   e9 ...
  i386 non-PIC         ff 25 <abs32>  jmp *abs

so no assumption is made about the order of stubs or about section sizes.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from itertools import compress, count

from elfkit.elf.constants import EM, SHN, SHT, reloc_type_name

PLT_SECTIONS = (".plt", ".plt.sec", ".plt.got", ".iplt", ".plt.bnd")


@dataclass(slots=True)
class PltSection:
    name: str
    addr: int
    size: int
    entsize: int


@dataclass(slots=True)
class GotSlot:
    plt_section: str | None
    stub: int | None
    lazy_stub: int | None
    got_slot: int
    got_section: str | None
    reloc_section: str | None
    reloc_index: int
    reloc_type: str
    symbol: str | None
    version: str | None
    initial: int | None


@dataclass(slots=True)
class PltGotMap:
    plt_sections: list[PltSection] = field(default_factory=list)
    got_plt: int | None = None                 # address of GOT[0] (DT_PLTGOT)
    reserved: list[int] = field(default_factory=list)   # GOT[0..2] as stored in the file
    slots: list[GotSlot] = field(default_factory=list)


@dataclass(slots=True)
class _Stub:
    section: str
    addr: int
    slot: int | None        # GOT slot it jumps through
    push: int | None        # value it pushes (reloc index, or byte offset on i386)


def plt_got_unsupported(elf) -> str | None:
    """Why there is no PLT/GOT map for this file's machine (None: x86-64 and i386, whose PLT
    layouts elfkit decodes). Other machines' PLTs are not read at all: no map is better than
    a wrong one."""
    machine = elf.header.machine
    if machine in (EM.X86_64, EM.I386):
        return None
    from elfkit.elf.constants import machine_name
    return (f"not supported for {machine_name(machine)}: elfkit decodes the PLT layouts of "
            "x86-64 and i386 only")


def plt_got_map(elf) -> PltGotMap:
    out = PltGotMap()
    machine = elf.header.machine
    if machine not in (EM.X86_64, EM.I386):
        return out
    dyn = elf.dynamic
    out.got_plt = dyn.value(3) if dyn else None          # DT_PLTGOT
    if out.got_plt is None:
        s = elf.section_by_name(".got.plt")
        out.got_plt = s.addr if s else None
    if out.got_plt is not None:
        out.reserved = [v for v in (_read_word(elf, out.got_plt + i * elf.fmt.word) for i in range(3))
                        if v is not None]
    stubs = []
    for sec in elf.sections:
        if sec.name in PLT_SECTIONS and sec.type == SHT.PROGBITS and sec.size:
            out.plt_sections.append(PltSection(sec.name, sec.addr, sec.size, sec.entsize))
            if elf.check_range(sec.offset, sec.size, f"section {sec.name}"):
                stubs += _scan_stubs(elf, sec, out.got_plt)
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


def _slots(elf, by_slot, by_push) -> list[GotSlot]:
    """A GotSlot per PLT relocation (JUMP_SLOT, IRELATIVE) and per GLOB_DAT behind a .plt.got stub."""
    out = []
    fmt, machine = elf.fmt, elf.header.machine
    dynsym = elf.dynsym
    got_names = [(s.addr, s.addr + s.size, s.name) for s in elf.sections if s.name in (".got", ".got.plt")]
    plt_got_slots = {slot for slot, st in by_slot.items() if st.section == ".plt.got"}
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
            if not (is_plt_table and name.endswith(("JUMP_SLOT", "IRELATIVE")) or
                    not is_plt_table and name.endswith("GLOB_DAT")):
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
    # PLTn pushes its relocation's index on x86-64, its byte offset in .rel.plt on i386.
    lazy = by_push.get(index if elf.is_64 else index * entsize)
    caller = stub or lazy
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
