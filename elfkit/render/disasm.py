"""Disassembly with capstone, every call/jump target named (`call puts@plt`, `call main`).

The capstone architecture and mode come from the ELF header: e_machine, the class, the byte
order (EI_DATA) and, where it matters, e_flags (ARM BE8, RISC-V RVC, MIPS ISA level and
microMIPS, PowerPC64 ELF ABI version). x86-64 and i386 keep the original path (capstone's
own skipdata, names found from the operand text); every other machine goes through
`_Machine`, which also follows the mapping symbols (`$a`, `$t`, `$d`, `$x`) that say where
ARM code switches between ARM and Thumb and where AArch64, ARM and RISC-V sections hold data,
as objdump does.

A direct branch or call is one capstone puts in CS_GRP_CALL, CS_GRP_JUMP or
CS_GRP_BRANCH_RELATIVE (or, where capstone 5 leaves the group out, one of a few named
mnemonics: s390x `brasl`, SPARC `call`, MIPS `jal`, ...) with an immediate operand; its target
is that immediate -- capstone already made it absolute on every machine but RISC-V, where it
is the offset from the instruction, and microMIPS, where it is the offset from the next one.
Bytes capstone cannot decode are shown as `.byte` lines one instruction long by the
machine's own length rules (objdump's step), so the instructions after them line up.
"""
from __future__ import annotations

import bisect
import re
import struct
from dataclasses import dataclass

from elfkit.elf.constants import EM, SHF, SHN, STT
from elfkit.elf.plt import plt_got_map
from elfkit.errors import ElfkitError


@dataclass(slots=True)
class Line:
    address: int
    raw: bytes
    mnemonic: str
    operands: str
    target_name: str | None
    target: int | None = None       # a direct branch's target address (machines but x86)


_NAMED_TYPES = (STT.FUNC, STT.OBJECT, STT.GNU_IFUNC, STT.NOTYPE)
_BIND_RANK = {1: 2, 2: 1}      # GLOBAL, WEAK; LOCAL and others 0

# e_machine values constants.EM does not name
EM_MIPS_RS3_LE, EM_SPARC32PLUS, EM_SPARCV9 = 10, 18, 43

EF_ARM_BE8 = 0x00800000
EF_RISCV_RVC = 0x1
EF_MIPS_ABI2 = 0x20                     # n32: 32-bit ELF, 64-bit instructions
EF_MIPS_ARCH = 0xF0000000
EF_MIPS_MICROMIPS = 0x02000000
_MIPS_ARCH_64 = {0x20000000, 0x30000000, 0x40000000, 0x60000000, 0x80000000, 0xA0000000}
_MIPS_ARCH_R6 = {0x90000000, 0xA0000000}

# Machines capstone 5 cannot disassemble, and why; any other machine elfkit does not know
# gets _NOT_COVERED.
_UNSUPPORTED = {
    EM.LOONGARCH: "LoongArch: capstone 5 has no LoongArch disassembler (capstone 6 has one)",
    EM.IA_64: "IA-64: capstone has no IA-64 disassembler",
}
_NOT_COVERED = ("elfkit disassembles x86-64, i386, AArch64, ARM, RISC-V, PowerPC, MIPS, "
                "s390x and SPARC code")

# ARM/AArch64/RISC-V mapping symbols ($a ARM code, $t Thumb code, $x code, $d data; with an
# optional ".anything" suffix, and RISC-V's $x<ISA string>): objdump follows them and never
# uses them as names.
_MAPPING = re.compile(r"\$([atdx])(?:\..*)?$|\$(x)rv[0-9].*$")


def _mapping_kind(machine: int, name: str) -> str | None:
    if machine not in (EM.ARM, EM.AARCH64, EM.RISCV) or not name.startswith("$"):
        return None
    m = _MAPPING.match(name)
    if m is None:
        return None
    kind = m.group(1) or m.group(2)
    if machine == EM.ARM:
        return kind if kind in "atd" else None
    return kind if kind in "xd" else None


def _tables(elf):
    return list(elf.symbol_tables) + ([elf.dynsym] if elf.dynsym else [])


def symbol_map(elf, section: int | None = None) -> dict[int, str]:
    """Address -> name: functions and objects from .symtab/.dynsym, PLT stubs as name@plt.

    On machines other than x86: mapping symbols are no names, an ARM Thumb function is
    named at its address without bit 0, PowerPC64 ELFv1 functions are named at the code
    their .opd descriptor points to (`.name`), ELFv2 functions at their local entry point
    too. In a relocatable object (every section at address 0) give `section`, the index of
    the section being disassembled: only its symbols are used.
    """
    machine = elf.header.machine
    if machine in (EM.X86_64, EM.I386) and section is None:
        return _x86_symbol_map(elf)
    return _Names(elf).for_section(section)


def _x86_symbol_map(elf) -> dict[int, str]:
    best: dict[int, tuple] = {}
    for table in _tables(elf):
        for s in table.symbols:
            if s.name and s.value and s.shndx and s.type in _NAMED_TYPES:
                # Of several aliases, prefer functions, then GLOBAL over WEAK over LOCAL.
                rank = (s.type in (STT.FUNC, STT.GNU_IFUNC), _BIND_RANK.get(s.bind, 0))
                old = best.get(s.value)
                if old is None or rank > old[0]:
                    best[s.value] = (rank, s.name)
    names = {addr: name for addr, (_rank, name) in best.items()}
    _add_plt(elf, names)
    return names


def _add_plt(elf, names):
    if elf.header.machine == EM.PPC64:
        return _add_ppc64_plt(elf, names)
    for slot in plt_got_map(elf).slots:
        if slot.stub is not None and slot.symbol:
            names[slot.stub] = f"{slot.symbol}@plt"
        elif slot.stub is not None and slot.reloc_type.endswith("IRELATIVE"):
            names[slot.stub] = f"*ABS*+{slot.initial or 0:#x}@plt"


def _add_ppc64_plt(elf, names):
    """PowerPC64, as objdump: a .glink lazy entry is `sym@plt`; a call stub keeps its symbol
    (ld's `NNNNNNNN.plt_call.sym@@VER`), or, in a stripped file, is `plt_call.sym`."""
    for slot in plt_got_map(elf).slots:
        label = slot.symbol or ("*ABS*" if slot.reloc_type.endswith("IRELATIVE") else None)
        if label is None:
            continue
        if slot.lazy_stub is not None:
            names.setdefault(slot.lazy_stub, f"{label}@plt")
        if slot.stub is not None:
            names.setdefault(slot.stub, f"plt_call.{label}")


def _is_ppc64_elfv1(elf) -> bool:
    return elf.header.machine == EM.PPC64 and elf.header.flags & 3 != 2 \
        and elf.section_by_name(".opd") is not None


def _mips_compressed(other: int) -> bool:
    """st_other marks a microMIPS (STO_MICROMIPS) or MIPS16 (STO_MIPS16) function."""
    return other & 0xC0 == 0x80 or other & 0xF0 == 0xF0


def _local_entry_offset(other: int) -> int:
    """PowerPC64 ELFv2 st_other bits 5-7: how far the local entry point is past the global."""
    bits = (other >> 5) & 7
    return ((1 << bits) >> 2) << 2 if 2 <= bits <= 6 else 0


def _opd_entry(elf, opd, addr):
    """The code address the ELFv1 .opd descriptor at `addr` holds (its first doubleword, as
    the file has it: a linked file's), when that is inside a code section; else None."""
    off = addr - opd.addr
    if opd.type == 8 or not 0 <= off <= opd.size - 8 or \
            not elf.check_range(opd.offset + off, 8, "function descriptor"):
        return None
    entry = struct.unpack_from(elf.fmt.endian + "Q", elf.data, opd.offset + off)[0]
    for sec in code_sections(elf):
        if sec.addr <= entry < sec.addr + sec.size:
            return entry
    return None


class _Names:
    """The names of one file for the machines other than x86, with mapping symbols kept apart."""

    def __init__(self, elf):
        self.elf = elf
        machine = elf.header.machine
        self.relocatable = elf.header.type == 1                 # ET_REL
        self.mapping: dict[int, list[tuple[int, str]]] = {}      # shndx -> [(addr, kind)]
        self.functions: dict[int, list[tuple[int, str]]] = {}    # ARM: shndx -> [(addr, "t"/"a")]
        best: dict[tuple[int, int], tuple] = {}     # (shndx or 0, addr) -> (rank, name)
        opd = self.opd = elf.section_by_name(".opd") if _is_ppc64_elfv1(elf) else None
        elfv2 = machine == EM.PPC64 and elf.header.flags & 3 == 2
        descriptors = []
        for table in _tables(elf):
            for s in table.symbols:
                if not s.name or not s.shndx or s.shndx == SHN.UNDEF:
                    continue
                kind = _mapping_kind(machine, s.name)
                if kind is not None:
                    if s.bind == 0 and s.shndx < SHN.LORESERVE:
                        self.mapping.setdefault(s.shndx, []).append((s.value, kind))
                    continue
                if s.type not in _NAMED_TYPES:
                    continue
                if machine == EM.RISCV and s.name.startswith(".L"):
                    continue                                     # assembler-local labels
                if not s.value and not self.relocatable:
                    continue
                value = s.value
                is_func = s.type in (STT.FUNC, STT.GNU_IFUNC)
                if machine in (EM.MIPS, EM_MIPS_RS3_LE) and is_func and _mips_compressed(s.other):
                    value &= ~1                                  # microMIPS/MIPS16 ISA bit
                if machine == EM.ARM and is_func:
                    self.functions.setdefault(s.shndx, []).append(
                        (value & ~1, "t" if value & 1 else "a"))
                    value &= ~1
                if opd is not None and s.shndx == opd.index:
                    if is_func:
                        descriptors.append(s)
                    continue                                     # a descriptor is no code
                rank = (is_func, _BIND_RANK.get(s.bind, 0))
                key = (s.shndx if self.relocatable else 0, value)
                self._offer(best, key, rank, s.name)
                if elfv2 and is_func:
                    local = _local_entry_offset(s.other)
                    if local:
                        # the local entry point is the same function, but a real symbol
                        # there is a better name (rank below every real one)
                        self._offer(best, (key[0], value + local), (False, -1), s.name)
        for s in descriptors:
            entry = None if self.relocatable else _opd_entry(elf, opd, s.value)
            if entry is not None:
                key = (0, entry)
                self._offer(best, key, (True, _BIND_RANK.get(s.bind, 0) - 3), "." + s.name)
        for marks in (*self.mapping.values(), *self.functions.values()):
            marks.sort()
        self.by_key = {key: name for key, (_rank, name) in best.items()}

    @staticmethod
    def _offer(best, key, rank, name):
        old = best.get(key)
        if old is None or rank > old[0]:
            best[key] = (rank, name)

    def for_section(self, section: int | None) -> dict[int, str]:
        if self.relocatable:
            if section is None:
                return {}
            return {addr: name for (shndx, addr), name in self.by_key.items() if shndx == section}
        names = {addr: name for (_z, addr), name in self.by_key.items()}
        _add_plt(self.elf, names)
        return names


def find_symbol(elf, name: str):
    for table in _tables(elf):
        for s in table.symbols:
            if s.name == name and s.shndx and s.value:
                return s
    if elf.header.type == 1:            # ET_REL: a symbol at the start of its section
        for table in _tables(elf):
            for s in table.symbols:
                if s.name == name and s.shndx and s.shndx < SHN.LORESERVE:
                    return s
    return None


def symbol_code(elf, sym) -> tuple[int, int, int | None]:
    """(address, size, section index or None) of the code a function symbol stands for.

    ARM: a Thumb function's value has bit 0 set. PowerPC64 ELFv1: a function symbol in
    .opd is a descriptor; its code is where the descriptor points (its `.name` symbol gives
    the size). For a relocatable object the section index is the symbol's own section.
    """
    value, size = sym.value, sym.size
    machine = elf.header.machine
    if machine == EM.ARM and sym.type in (STT.FUNC, STT.GNU_IFUNC):
        value &= ~1
    if machine in (EM.MIPS, EM_MIPS_RS3_LE) and sym.type == STT.FUNC and \
            _mips_compressed(sym.other):
        value &= ~1
    if _is_ppc64_elfv1(elf):
        opd = elf.section_by_name(".opd")
        if sym.shndx == opd.index:
            dot = find_symbol(elf, "." + sym.name)
            if dot is not None:
                return dot.value, dot.size, (dot.shndx if elf.header.type == 1 else None)
            entry = _opd_entry(elf, opd, sym.value) if elf.header.type != 1 else None
            if entry is not None:
                return entry, 0, None
    section = sym.shndx if elf.header.type == 1 and sym.shndx < SHN.LORESERVE else None
    return value, size, section


def code_address(elf, addr: int) -> int:
    """Where the code an address stands for is: an ARM Thumb (or MIPS microMIPS/MIPS16)
    address without bit 0; for PowerPC64 ELFv1, an address in .opd (e_entry is one) is a
    descriptor: its entry point."""
    if elf.header.machine in (EM.ARM, EM.MIPS, EM_MIPS_RS3_LE):
        return addr & ~1            # MIPS: the ISA bit of microMIPS and MIPS16 code
    if _is_ppc64_elfv1(elf) and elf.header.type != 1:
        opd = elf.section_by_name(".opd")
        if opd.addr <= addr < opd.addr + opd.size:
            entry = _opd_entry(elf, opd, addr)
            if entry is not None:
                return entry
    return addr


def code_sections(elf):
    return [s for s in elf.sections if s.flags & SHF.EXECINSTR and s.type != 8 and s.size]


def disassemble(elf, start: int, code: bytes, count: int | None = None,
                section: int | None = None):
    """Yield Lines for `code` loaded at `start`; stops after `count` instructions if given.

    `section`: the index of the section `code` comes from, when known (it decides which
    mapping symbols and, in a relocatable object, which symbols apply).
    """
    machine = elf.header.machine
    if machine in (EM.X86_64, EM.I386):
        yield from _disassemble_x86(elf, start, code, count)
        return
    m = _Machine(elf)
    yield from m.disassemble(start, code, count, section)


def _disassemble_x86(elf, start, code, count):
    import capstone  # imported here: capstone costs ~0.1 s to import
    if elf.header.machine == EM.X86_64:
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    else:
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    md.skipdata = True
    names = symbol_map(elf)
    n = 0
    for address, size, mnemonic, op_str in md.disasm_lite(code, start):
        target = dest = None
        if mnemonic.startswith(("call", "j", "bnd j", "notrack j")) and op_str.startswith("0x"):
            try:
                dest = int(op_str, 16)
                target = names.get(dest)
            except ValueError:
                target = None
        off = address - start
        yield Line(address, code[off:off + size], mnemonic, op_str, target, dest)
        n += 1
        if count is not None and n >= count:
            return


# Per capstone architecture: mnemonic prefixes that may be direct branches (a cheap filter
# before the one-instruction detail decode), and the direct branches capstone 5 puts in no
# branch group.
_BRANCH_PREFIXES = {
    "ARM64": ("b", "cb", "tb"),
    "ARM": ("b", "cb"),
    "RISCV": ("j", "b", "c.j", "c.b"),
    "PPC": ("b",),
    "MIPS": ("b", "j"),
    "SYSZ": ("j", "br", "c"),       # j*, brasl/brct/brx*, crj/cgij/... (not bcr, bc)
    "SPARC": ("b", "fb", "cb", "call"),
}
_UNGROUPED_BRANCHES = {
    "SYSZ": re.compile(r"(bras|brasl)$"),
    "SPARC": re.compile(r"call$"),
    "MIPS": re.compile(r"(j|jal|jalx|jals|bal|bgezal|bltzal|bgezall|bltzall)$"),
}
# In a branch group with an immediate, but through a register: RISC-V `jalr t1, t3, 0`
_INDIRECT = {
    "RISCV": frozenset({"jalr", "c.jalr", "jr", "c.jr", "ret"}),
}


_BATCH = 4096          # instructions capstone decodes at a time


def _imm_operand_type(arch):
    from capstone import arm, arm64, mips, ppc, riscv, sparc, systemz
    return {"ARM64": arm64.ARM64_OP_IMM, "ARM": arm.ARM_OP_IMM, "RISCV": riscv.RISCV_OP_IMM,
            "PPC": ppc.PPC_OP_IMM, "MIPS": mips.MIPS_OP_IMM, "SYSZ": systemz.SYSZ_OP_IMM,
            "SPARC": sparc.SPARC_OP_IMM}[arch]


class _Machine:
    """Capstone set up for one file of a machine other than x86."""

    def __init__(self, elf):
        import capstone as cs  # imported here: capstone costs ~0.1 s to import
        self.elf = elf
        h = elf.header
        machine, flags = h.machine, h.flags
        little = h.ei_data == 1
        order = cs.CS_MODE_LITTLE_ENDIAN if little else cs.CS_MODE_BIG_ENDIAN
        self.data_endian = "<" if little else ">"
        self.code_endian = self.data_endian
        self.default_kind = "x"
        self.pc_relative = False
        self.undecoded = self._fixed4
        if machine == EM.AARCH64:
            # AArch64 instructions are little-endian in either byte order (data follow EI_DATA)
            arch, modes = "ARM64", {"x": cs.CS_MODE_ARM | cs.CS_MODE_LITTLE_ENDIAN}
            self.code_endian = "<"
        elif machine == EM.ARM:
            if not little and flags & EF_ARM_BE8:
                order, self.code_endian = cs.CS_MODE_LITTLE_ENDIAN, "<"   # BE8: code stays LE
            arch = "ARM"
            modes = {"a": cs.CS_MODE_ARM | order, "t": cs.CS_MODE_THUMB | order}
            self.default_kind = "a"
        elif machine == EM.RISCV:
            arch = "RISCV"
            mode = cs.CS_MODE_RISCV64 if h.is_64 else cs.CS_MODE_RISCV32
            if flags & EF_RISCV_RVC:
                mode |= cs.CS_MODE_RISCVC
            modes = {"x": mode}
            self.pc_relative = True
            self.undecoded = self._riscv_length
        elif machine in (EM.PPC, EM.PPC64):
            arch = "PPC"
            modes = {"x": (cs.CS_MODE_64 if machine == EM.PPC64 else cs.CS_MODE_32) | order}
            if machine == EM.PPC64:
                self.undecoded = self._ppc64_length
        elif machine in (EM.MIPS, EM_MIPS_RS3_LE):
            arch = "MIPS"
            if machine == EM_MIPS_RS3_LE:
                order = cs.CS_MODE_LITTLE_ENDIAN
            wide = h.is_64 or flags & EF_MIPS_ABI2 or (flags & EF_MIPS_ARCH) in _MIPS_ARCH_64
            mode = cs.CS_MODE_MIPS64 if wide else cs.CS_MODE_MIPS32
            if (flags & EF_MIPS_ARCH) in _MIPS_ARCH_R6:
                mode |= cs.CS_MODE_MIPS32R6
            if flags & EF_MIPS_MICROMIPS:
                mode |= cs.CS_MODE_MICRO
                # capstone 5 gives microMIPS branches their offset (from the delay slot),
                # its jumps (j, jal, jals, jalx) an absolute address
                self.pc_relative = "micromips"
                self.undecoded = self._micromips_length
            modes = {"x": mode | order}
        elif machine == EM.S390:
            arch, modes = "SYSZ", {"x": cs.CS_MODE_BIG_ENDIAN}
            self.undecoded = self._s390_length
        elif machine in (EM.SPARC, EM_SPARC32PLUS, EM_SPARCV9):
            arch = "SPARC"
            mode = cs.CS_MODE_BIG_ENDIAN
            if machine != EM.SPARC or h.is_64:
                mode |= cs.CS_MODE_V9
            modes = {"x": mode}
        else:
            from elfkit.elf.constants import MACHINE_NAMES
            name = MACHINE_NAMES.get(machine, f"e_machine {machine}")
            reason = _UNSUPPORTED.get(machine, f"{name}: {_NOT_COVERED}")
            raise ElfkitError(elf.path, f"cannot disassemble {reason}")
        cs_arch = getattr(cs, f"CS_ARCH_{arch}")
        if not cs.cs_support(cs_arch):
            raise ElfkitError(elf.path, f"cannot disassemble {arch}: this capstone was built "
                                        "without it")
        self.arch = arch
        self.lite = {k: cs.Cs(cs_arch, mode) for k, mode in modes.items()}
        self.detail = {}
        for k, mode in modes.items():
            d = cs.Cs(cs_arch, mode)
            d.detail = True
            self.detail[k] = d
        self.prefixes = _BRANCH_PREFIXES[arch]
        self.ungrouped = _UNGROUPED_BRANCHES.get(arch)
        self.branch_groups = {cs.CS_GRP_CALL, cs.CS_GRP_JUMP, cs.CS_GRP_BRANCH_RELATIVE}
        self.imm_type = _imm_operand_type(arch)
        self.names_cache: dict[int | None, dict[int, str]] = {}
        self._names = None
        self._starts = None

    # --- names -------------------------------------------------------------------------
    def names(self, section):
        if self._names is None:
            self._names = _Names(self.elf)
        key = section if self._names.relocatable else None
        if key not in self.names_cache:
            self.names_cache[key] = self._names.for_section(key)
        return self.names_cache[key]

    # --- regions: which kind of bytes (ARM, Thumb, code, data) is where --------------------
    def _section_of(self, start):
        for s in code_sections(self.elf):
            if s.addr <= start < s.addr + s.size:
                return s.index
        return None

    def regions(self, start, end, section):
        """[(begin, end, kind)] covering [start, end): kind "a" ARM, "t" Thumb, "x" code of
        the one kind a machine has, "d" data.

        As objdump: the section's mapping symbols decide. An ARM section without any, in a
        file that has some, starts as data (a leading $d may be left out); in an ARM file
        without mapping symbols each function symbol decides for its code (Thumb when its
        value has bit 0 set, else ARM); elsewhere code is code unless a $d says data."""
        names = self._names
        initial = self.default_kind
        marks = names.mapping.get(section, []) if section is not None else []
        if not marks and self.elf.header.machine == EM.ARM:
            if names.mapping and section is not None:
                initial = "d"
            elif section is not None:
                marks = names.functions.get(section, [])
            else:
                marks = sorted(m for ms in names.functions.values() for m in ms)
        kind = initial
        for addr, k in marks:
            if addr > start:
                break
            kind = k
        out, pos = [], start
        for addr, k in marks:
            if start < addr < end and k != kind:
                out.append((pos, addr, kind))
                pos = addr
            if start < addr < end:
                kind = k
        out.append((pos, end, kind))
        return out

    # --- decoding ----------------------------------------------------------------------
    def disassemble(self, start, code, count, section):
        if section is None:
            section = self._section_of(start)
        names = self.names(section)
        n = 0
        for begin, end, kind in self.regions(start, start + len(code), section):
            chunk = code[begin - start:end - start]
            lines = self._data(begin, chunk, names) if kind == "d" else \
                self._code(begin, chunk, kind, names)
            for line in lines:
                yield line
                n += 1
                if count is not None and n >= count:
                    return

    def _data(self, addr, chunk, names):
        """A data region ($d), as objdump shows it: .word, or .short/.byte up to the next
        4-byte boundary or symbol (ARM, AArch64); on RISC-V 4 bytes at a time whatever
        the alignment, fewer only before the region's end."""
        riscv = self.arch == "RISCV"
        starts = [] if riscv else self._name_starts(names)
        pos, end = 0, len(chunk)
        while pos < end:
            a = addr + pos
            i = bisect.bisect_right(starts, a)
            stop = min(end, starts[i] - addr) if i < len(starts) else end
            size = min(4 if riscv else 4 - (a & 3), stop - pos)
            if size == 3:
                size = 1 if a & 1 and not riscv else 2
            raw = chunk[pos:pos + size]
            fmt = {4: "I", 2: "H", 1: "B"}[size]
            value = struct.unpack(self.data_endian + fmt, raw)[0]
            mnem = {4: ".word", 2: ".short", 1: ".byte"}[size]
            yield Line(a, raw, mnem, f"0x{value:0{size * 2}x}", None)
            pos += size

    def _name_starts(self, names):
        if self._starts is None or self._starts[0] is not names:
            self._starts = (names, sorted(names))
        return self._starts[1]

    def _code(self, addr, chunk, kind, names):
        lite, detail = self.lite[kind], self.detail[kind]
        prefixes, ungrouped, groups = self.prefixes, self.ungrouped, self.branch_groups
        indirect = _INDIRECT.get(self.arch, ())
        imm_type, pc_relative = self.imm_type, self.pc_relative
        mask = (1 << 64) - 1 if self.elf.header.is_64 else 0xFFFFFFFF
        # capstone reads a writable buffer in place: no copy of the rest of the section
        # each time it stops at bytes it cannot decode
        view = memoryview(bytearray(chunk))
        pos, end = 0, len(chunk)
        while pos < end:
            got = 0
            # in batches: capstone decodes all it is asked for before the first is shown
            for address, size, mnemonic, op_str in lite.disasm_lite(view[pos:], addr + pos,
                                                                    _BATCH):
                got += 1
                target = dest = None
                if mnemonic.startswith(prefixes) and mnemonic not in indirect:
                    raw = chunk[address - addr:address - addr + size]
                    insn = next(detail.disasm(raw, address, 1), None)
                    if insn is not None and (groups.intersection(insn.groups) or (
                            ungrouped is not None and ungrouped.match(mnemonic))):
                        imms = [op.imm for op in insn.operands if op.type == imm_type]
                        if not imms and self.arch == "PPC":
                            imms = self._ppc_bc_to_self(raw, address)
                        if imms:
                            if pc_relative is True:
                                dest = (imms[-1] + address) & mask
                            elif pc_relative and not mnemonic.startswith("j"):
                                # microMIPS: from the delay slot, the next instruction
                                dest = (imms[-1] + address + size) & mask
                            else:
                                dest = imms[-1] & mask
                            target = names.get(dest)
                off = address - addr
                yield Line(address, chunk[off:off + size], mnemonic, op_str, target, dest)
                pos = off + size
            if got == _BATCH:
                continue
            if pos < end:
                # capstone stopped at bytes it cannot decode: show them as objdump would
                # step over them (the machine's instruction length), then go on
                size = max(1, min(self.undecoded(chunk, pos, kind), end - pos))
                raw = chunk[pos:pos + size]
                yield Line(addr + pos, raw, ".byte", ", ".join(f"0x{b:02x}" for b in raw), None)
                pos += size

    def _ppc_bc_to_self(self, raw, address):
        """capstone 5 prints a PowerPC conditional branch whose displacement is 0 (`beq .`,
        a spin loop) with no operand at all: its target is the instruction itself."""
        word = struct.unpack(self.code_endian + "I", raw)[0]
        if word >> 26 == 16 and word & 0xFFFC == 0:
            return [0 if word & 2 else address]
        return []

    # How many bytes an instruction capstone cannot decode takes (objdump's step)
    def _fixed4(self, chunk, pos, kind):
        if kind == "t":
            hw = struct.unpack_from(self.code_endian + "H", chunk, pos)[0] \
                if pos + 2 <= len(chunk) else 0
            return 4 if hw >> 11 in (0x1D, 0x1E, 0x1F) else 2
        return 4

    def _riscv_length(self, chunk, pos, kind):
        b = chunk[pos]
        if b & 3 != 3:
            return 2
        if b & 0x1F != 0x1F:
            return 4
        if b & 0x3F == 0x1F:
            return 6
        if b & 0x7F == 0x3F:
            return 8
        return 4

    def _micromips_length(self, chunk, pos, kind):
        # 16-bit instructions: the low three bits of the major opcode (top six) are 1 to 3
        hw = struct.unpack_from(self.code_endian + "H", chunk, pos)[0] \
            if pos + 2 <= len(chunk) else 0
        return 2 if (hw >> 10) & 7 in (1, 2, 3) else 4

    def _ppc64_length(self, chunk, pos, kind):
        # Power ISA 3.1 prefixed instructions (primary opcode 1) are 8 bytes; capstone 5
        # decodes none of them
        if pos + 4 <= len(chunk):
            word = struct.unpack_from(self.code_endian + "I", chunk, pos)[0]
            if word >> 26 == 1:
                return 8
        return 4

    def _s390_length(self, chunk, pos, kind):
        # objdump shows what it cannot decode as a .long when 4 bytes are left, else .short
        left = len(chunk) - pos
        return 4 if left >= 4 else 2 if left >= 2 else 1
