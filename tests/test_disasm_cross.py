"""`disasm` on other machines (issue 18) against the matching cross objdump.

Oracles: Debian's `<triplet>-objdump -d -w -z` (the host's `objdump -M intel` for i386), on
every code section of every cross fixture (fixtures/build/cross/<machine>/*), on a few
functions of each Debian architecture's real libc6 (fixtures/build/debs/<arch>/, from
`--start-address` to `--stop-address` of the function's symbol), and on small objects
assembled here for the modes no fixture has (AArch64 big-endian, ARM BE8 and BE32, RV32,
RV64 without RVC, MIPS little-endian o32, n32, R6 and microMIPS, SPARC 32-bit, s390 31-bit,
little-endian PowerPC 32). A test skips when its objdump (or assembler) or its fixture
directory is missing. elfkit is run in process (render.disasm.disassemble on the section's
bytes, with the section index, as `elfkit disasm --section` does); the command line itself is
run for the default start (e_entry), a symbol, and a machine capstone 5 cannot do.

What is compared, per instruction:

1. Boundaries: the set of addresses of elfkit's lines equals objdump's. A wrong mode (ARM
   for Thumb, no RVC, the wrong byte order) shows at once. Exception, written down: where
   objdump shows the bytes of an STT_OBJECT symbol in a code section as a hex dump instead
   of instructions (its lines have no mnemonic; the RISC-V and SPARC executables'
   `_PROCEDURE_LINKAGE_TABLE_`), elfkit's lines inside that dump are not compared (elfkit
   disassembles them, as it does on x86).
2. Mnemonics, after `norm()` on both sides, must be equal, or be one of the pairs in
   `SPELLINGS[machine]`, matched after taking off any ending the two share (so ARM's
   ("neg", "rsb") also accepts `negs`/`rsbs` and `neghi`/`rsbhi`). `norm()`:
   - x86: the first word only (objdump prints `lock`/`rep` as an instruction of their own);
   - ARM and AArch64: the Thumb-2 width `.n`/`.w` dropped, condition `hs`/`lo` spelt
     `cs`/`cc` as objdump does;
   - MIPS: the `16` of capstone's microMIPS 16-bit forms (`b16`, `jr16`) dropped;
   - RISC-V: capstone's `c.` prefix dropped, `ldsp`/`sdsp`/... as `ld`/`sd`/..., and the
     immediate forms without their `i` (`addi`/`srli` as `add`/`srl`: objdump 2.40's
     spelling).
   Bytes neither side decodes are equal whatever they are called: elfkit's `.byte` (what
   capstone cannot decode) against objdump's `.long`, `.word`, `.short`, `.byte`, `.inst`,
   `(bad)`, `@ <UNDEFINED> instruction` or anything with `<illegal ...>` in it. Where
   objdump decodes and capstone 5 cannot, the objdump mnemonic must be in
   `CAPSTONE_LACKS[machine]` (Power ISA 3.1 prefixed instructions, `scv`, SPARC `rd %pc`,
   ...); elfkit then shows the bytes as `.byte`.
3. Branch targets: for every objdump line whose mnemonic is a direct branch or call
   (`BRANCH[machine]`, objdump's spelling) and that shows a target (`ADDR <name>`), elfkit's
   line has that same target address; and every target elfkit finds is such a line's. Not
   compared: in a relocatable object, instructions with a relocation (objdump prints the
   relocation's symbol and addend there, `bl 0 <ext_func>`, not the instruction's field).
4. Names: where objdump names the target exactly (`<sym>`, `<sym@plt>`; no `+0x..`):
   - when elfkit names it too, the name is objdump's, or another symbol at that address
     (readelf -s lists it there; ARM function values without bit 0), both compared without
     the symbol version (`@GLIBC_2.17`, `@@CROSS_1.0`, but `@plt` kept); an IRELATIVE
     slot's stub only has to be `*ABS*...@plt` on both sides (objdump: `*ABS*+0xN@plt`, or
     `*ABS*@plt` for i386's REL);
   - when readelf lists that name as a defined function, object or no-type symbol at that
     address, elfkit must name the target (PLT stubs (`@plt`) and objdump's own synthetic
     symbols are named by elfkit only where its PLT/GOT map knows that machine's PLT).
   elfkit names only symbol starts (and a PowerPC64 ELFv2 local entry point by its function,
   which objdump shows as `<f+0x8>`: checked on its own).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache

import pytest

from conftest import FIXTURES, cross_fixtures, run_elfkit

from elfkit.elf import ElfFile
from elfkit.render.disasm import code_address, code_sections, disassemble, symbol_code

# machine (fixture directory) -> objdump command
OBJDUMP = {
    "aarch64": ["aarch64-linux-gnu-objdump"],
    "arm": ["arm-linux-gnueabihf-objdump"],
    "riscv64": ["riscv64-linux-gnu-objdump"],
    "ppc64le": ["powerpc64le-linux-gnu-objdump"],
    "ppc64": ["powerpc64-linux-gnu-objdump"],
    "ppc": ["powerpc-linux-gnu-objdump"],
    "s390x": ["s390x-linux-gnu-objdump"],
    "mips": ["mips-linux-gnu-objdump"],
    "mips64el": ["mips64el-linux-gnuabi64-objdump"],
    "sparc64": ["sparc64-linux-gnu-objdump"],
    "i386": ["objdump", "-M", "intel"],
}
# the family whose normalisations, spellings and branch mnemonics apply
FAMILY = {"aarch64": "aarch64", "arm": "arm", "riscv64": "riscv", "ppc64le": "ppc",
          "ppc64": "ppc", "ppc": "ppc", "s390x": "s390", "mips": "mips", "mips64el": "mips",
          "sparc64": "sparc", "i386": "x86"}

# (objdump, capstone) spellings of the same instruction, after norm(): only those the files
# compared here need
SPELLINGS = {
    "arm": {("push", "str"),                # one register: push {lr} / str lr, [sp, #-4]!
            ("stmdb", "push"), ("ldmia", "pop"), ("stmia", "stm"),
            ("add", "adr"),                 # add rN, pc, #imm
            ("mov", "lsl")},                # mov.w rd, rm, lsl #n
    "riscv": {("li", "add"),                # addi rd, zero, imm
              ("ret", "jr")},               # c.jr ra
    "ppc": {("bcl", "bdnzl"),               # capstone 5 prints `bcl 20,31` (always) as bdnzl
            ("mr", "or"), ("srdi", "rldicl"), ("clrrdi", "rldicr")},
    "s390": {("nopr", "bcr"), ("risbgz", "risbg")},
    "mips": {("li", "addiu"), ("dnegu", "dsubu")},
    "sparc": {("b", "ba"), ("clr", "mov"), ("mov", "or"), ("illtrap", "unimp")},
    "x86": {("xchg", "nop")},               # 66 90
}
# objdump mnemonics capstone 5 has no decoder for (elfkit shows those bytes as .byte)
CAPSTONE_LACKS = {
    "ppc": {"pla", "pld",                   # Power ISA 3.1 prefixed (8 bytes)
            "scv"},                         # ISA 3.0 system call vectored
    "sparc": {"rd"},                        # rd %pc, %o7 (V9 ASR 5)
}
UNDECODED = {".long", ".word", ".short", ".byte", ".inst", "(bad)", "@", ".insn", ".2byte",
             ".4byte", ".8byte"}
# objdump's direct branches and calls (its spelling)
_COND = "(?:eq|ne|cs|cc|hs|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)"
BRANCH = {
    "aarch64": re.compile(r"(b|bl|b\.\w+|cbn?z|tbn?z)$"),
    "arm": re.compile(rf"((b|bl|blx){_COND}?(\.[nw])?|cbn?z)$"),
    "riscv": re.compile(r"(j|jal|b[a-z]*)$"),
    "ppc": re.compile(r"b(?![a-z]*(lr|ctr|tar)l?[+-]?$)[a-z]*[+-]?$"),
    "s390": re.compile(r"(j[a-z]*|bras|brasl|brc|brcl|brct[a-z]*|brx[a-z]*|c[a-z]*j[a-z]*)$"),
    "mips": re.compile(r"(b|bal|beq[a-z]*|bne[a-z]*|bgez[a-z]*|bgtz[a-z]*|blez[a-z]*"
                       r"|bltz[a-z]*|bc[12][a-z]*|j|jal|jalx|jals)$"),
    "sparc": re.compile(r"(b[a-z]*|fb[a-z]*|cb[a-z]*|br[a-z]*|call)(,a)?(,p[tn])?$"),
    "x86": re.compile(r"(call|j[a-z]+)$"),
}

LINE = re.compile(r"^\s*([0-9a-f]+):\t([^\t]*)\t?(.*)$")
RELOC = re.compile(r"^\t+([0-9a-f]+): (R_\w+)")
INLINE_RELOC = re.compile(r"\t([0-9a-f]+): (?:R_\w+)")
TARGET = re.compile(r"(?:^|[\s,])([0-9a-f]+) <([^>]+)>")


def tool_for(machine) -> list[str] | None:
    cmd = OBJDUMP[machine]
    return cmd if shutil.which(cmd[0]) else None


# --- objdump ---------------------------------------------------------------------------------
class Insn:
    __slots__ = ("addr", "mnemonic", "operands", "dump", "target", "name")

    def __init__(self, addr, mnemonic, operands, dump=0):
        self.addr, self.mnemonic, self.operands, self.dump = addr, mnemonic, operands, dump
        m = TARGET.search(operands)
        self.target = int(m.group(1), 16) if m else None
        self.name = m.group(2) if m else None


def parse_objdump(text: str):
    """{section: {address: Insn}}, and the relocated offsets {section: set} (with -r)."""
    sections, relocs, cur, cur_name = {}, {}, None, None
    for line in text.splitlines():
        if line.startswith("Disassembly of section "):
            cur_name = line[len("Disassembly of section "):-1]
            cur = sections.setdefault(cur_name, {})
            continue
        r = RELOC.match(line)
        if r and cur_name is not None:
            relocs.setdefault(cur_name, set()).add(int(r.group(1), 16))
            continue
        m = LINE.match(line)
        if not m or cur is None:
            continue
        addr, text_ = int(m.group(1), 16), m.group(3)
        # with -r -w, an instruction's relocations follow it on its line: "\tOFF: R_TYPE\tsym"
        for r in INLINE_RELOC.finditer(text_):
            relocs.setdefault(cur_name, set()).add(int(r.group(1), 16))
        text_ = INLINE_RELOC.split(text_, 1)[0].strip() if INLINE_RELOC.search(text_) else \
            text_.strip()
        if not text_:           # hex dump of an STT_OBJECT's bytes
            hexpart = re.split(r"\s{2,}", m.group(2).strip())[0]
            cur[addr] = Insn(addr, "", "", dump=len(hexpart.replace(" ", "")) // 2)
            continue
        parts = text_.split(None, 1)
        if "<illegal" in text_ or "<UNDEFINED>" in text_:
            parts = ["(bad)", text_]       # objdump's own "not an instruction"
        cur[addr] = Insn(addr, parts[0], parts[1] if len(parts) > 1 else "")
    return sections, relocs


def run_objdump(cmd, path, *extra) -> str:
    r = subprocess.run([*cmd, "-d", "-w", "-z", *extra, str(path)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


# --- readelf: every symbol name at an address --------------------------------------------
SYM = re.compile(r"^\s*\d+: ([0-9a-f]+)\s+(\S+)\s+(\w+)\s+(\w+)\s+(\w+)\s+(?:\[.*?\]\s+)?"
                 r"(\S+)\s+(.*?)\s*$")


@lru_cache(maxsize=None)
def readelf_symbols(path: str, arm: bool):
    """{address: {name}} of defined symbols (versions taken off), and {address: {name}} of
    the FUNC/OBJECT/NOTYPE/IFUNC ones elfkit must name; ARM function values without bit 0."""
    text = subprocess.run(["readelf", "-W", "-s", path], capture_output=True, text=True).stdout
    every, named = {}, {}
    for line in text.splitlines():
        m = SYM.match(line)
        if not m or m.group(6) == "UND":
            continue
        value, typ, name = int(m.group(1), 16), m.group(3), unversioned(m.group(7).split(" (")[0])
        if arm and typ in ("FUNC", "IFUNC"):
            value &= ~1
        every.setdefault(value, set()).add(name)
        if typ in ("FUNC", "OBJECT", "NOTYPE", "IFUNC") and value and name and \
                not re.match(r"\$[atdx]", name) and not name.startswith(".L"):
            named.setdefault(value, set()).add(name)
    return every, named


def unversioned(name: str) -> str:
    if name.endswith("@plt"):
        return unversioned(name[:-4]) + "@plt"
    return name.split("@")[0]


# --- normalisation ---------------------------------------------------------------------------
_RV_IMM = {"addi": "add", "addiw": "addw", "slli": "sll", "srli": "srl", "srai": "sra",
           "slliw": "sllw", "srliw": "srlw", "sraiw": "sraw", "andi": "and", "ori": "or",
           "xori": "xor"}


def norm(family: str, m: str) -> str:
    m = m.lower()
    if family == "x86":
        return m.split()[0]
    if family in ("arm", "aarch64"):
        m = re.sub(r"\.[nw]$", "", m)
        m = re.sub(r"hs$", "cs", re.sub(r"lo$", "cc", m))
    if family == "mips":
        m = re.sub(r"16$", "", m)           # capstone's microMIPS 16-bit forms: b16, jr16
    if family == "riscv":
        if m.startswith("c."):
            m = m[2:]
            m = re.sub(r"^(f?[ls][dwq])sp$", r"\1", m)
        m = _RV_IMM.get(m, m)
    return m


def same_mnemonic(family: str, theirs: str, mine: str) -> bool:
    if mine == ".byte" and (theirs in UNDECODED or theirs.startswith(".")):
        return True
    o, c = norm(family, theirs), norm(family, mine)
    if o == c:
        return True
    pairs = SPELLINGS.get(family, set())
    for cut in range(0, min(len(o), len(c))):
        if cut and o[-cut:] != c[-cut:]:
            break
        if ((o[:len(o) - cut], c[:len(c) - cut])) in pairs:
            return True
    return False


# --- the comparison ----------------------------------------------------------------------
def compare(machine, path, theirs, mine, relocated=frozenset(), where=""):
    """Check elfkit's Lines (`mine`) against objdump's Insns (`theirs`) of one code range;
    returns (instructions, targets, names) compared."""
    family = FAMILY[machine]
    elf_lines = {l.address: l for l in mine}
    for insn in theirs.values():
        if insn.dump:
            for a in [a for a in elf_lines if insn.addr < a < insn.addr + insn.dump]:
                del elf_lines[a]
    missing = sorted(set(theirs) - set(elf_lines))
    extra = sorted(set(elf_lines) - set(theirs))
    assert not missing and not extra, (
        f"{path}{where}: instruction boundaries differ: objdump only "
        f"{[hex(a) for a in missing[:8]]}, elfkit only {[hex(a) for a in extra[:8]]}")
    every, must_name = readelf_symbols(str(path), family == "arm")
    branch = BRANCH[family]
    lacks = CAPSTONE_LACKS.get(family, set())
    n_insn = n_target = n_name = 0
    for addr, insn in sorted(theirs.items()):
        if insn.dump:
            continue
        line = elf_lines[addr]
        n_insn += 1
        if line.mnemonic == ".byte" and insn.mnemonic not in UNDECODED and \
                not insn.mnemonic.startswith("."):
            assert insn.mnemonic in lacks, (
                f"{path}{where} {addr:#x}: objdump decodes `{insn.mnemonic} {insn.operands}`, "
                "capstone does not (add it to CAPSTONE_LACKS if capstone 5 lacks it)")
            continue
        assert same_mnemonic(family, insn.mnemonic, line.mnemonic), (
            f"{path}{where} {addr:#x}: objdump `{insn.mnemonic} {insn.operands}`, "
            f"elfkit `{line.mnemonic} {line.operands}`")
        if any(addr <= r < addr + len(line.raw) for r in relocated):
            continue
        is_branch = bool(branch.match(insn.mnemonic)) and insn.target is not None
        if not is_branch:
            assert line.target is None, (
                f"{path}{where} {addr:#x}: elfkit finds a target {line.target:#x} in "
                f"`{line.mnemonic} {line.operands}`, objdump none in `{insn.mnemonic} "
                f"{insn.operands}`")
            continue
        n_target += 1
        assert line.target == insn.target, (
            f"{path}{where} {addr:#x}: `{insn.mnemonic} {insn.operands}`: elfkit's target "
            f"{line.target if line.target is None else hex(line.target)}")
        name = insn.name
        if re.search(r"[+-]0x[0-9a-f]+$", name):
            continue                    # objdump's <sym+0x10>: elfkit names symbol starts
        want = unversioned(name)
        if want.startswith("*ABS*") and want.endswith("@plt"):
            # an IRELATIVE slot's stub: objdump says *ABS*+0xADDEND@plt (RELA) or *ABS*@plt
            # (i386's REL), elfkit *ABS*+0xINITIAL@plt (tests/test_got_disasm.py checks them)
            assert line.target_name is None or re.fullmatch(r"\*ABS\*.*@plt", line.target_name)
            continue
        if line.target_name is not None:
            n_name += 1
            ok = {want} | every.get(insn.target, set())
            assert unversioned(line.target_name) in ok, (
                f"{path}{where} {addr:#x}: `{insn.mnemonic} {insn.operands}`: elfkit names "
                f"the target {line.target_name}, objdump {name}")
        else:
            assert want not in must_name.get(insn.target, set()), (
                f"{path}{where} {addr:#x}: `{insn.mnemonic} {insn.operands}`: elfkit does not "
                f"name the target, a symbol {want} is there")
    return n_insn, n_target, n_name


def elfkit_section(elf, sec):
    code = bytes(elf.data[sec.offset:sec.offset + sec.size])
    return list(disassemble(elf, sec.addr, code, None, sec.index))


def compare_file(machine, path):
    cmd = tool_for(machine)
    elf = ElfFile.open(path)
    relocatable = elf.header.type == 1
    od, relocs = parse_objdump(run_objdump(cmd, path, *(["-r"] if relocatable else [])))
    totals = [0, 0, 0]
    sections = [s for s in code_sections(elf) if s.name in od]
    assert sections, f"{path}: no code section objdump disassembles"
    for sec in sections:
        counts = compare(machine, path, od[sec.name], elfkit_section(elf, sec),
                         relocs.get(sec.name, set()), f" [{sec.name}]")
        totals = [a + b for a, b in zip(totals, counts)]
    return totals


# --- the cross fixtures ----------------------------------------------------------------------
CROSS = cross_fixtures()


@pytest.mark.skipif(not CROSS, reason="no cross fixtures (make -C fixtures cross)")
@pytest.mark.parametrize("path", CROSS, ids=[f"{p.parent.name}-{p.name}" for p in CROSS])
def test_cross_fixture_matches_objdump(path):
    machine = path.parent.name
    if tool_for(machine) is None:
        pytest.skip(f"{OBJDUMP[machine][0]} not installed")
    assert compare_file(machine, path)[0] > 5


# In the MIPS fixtures every call is PIC (`jalr $t9`) and there is no other direct branch:
# mips64el's libc and the assembled MIPS variants have them. Where every call of the fixtures
# goes through a PLT stub (or, in reloc.o, has a relocation), elfkit names targets only once
# its PLT/GOT map knows the machine: names are then counted on libc and the variants.
NO_DIRECT_BRANCH = {"mips", "mips64el"}
NAMED_IN_FIXTURES = {"i386", "ppc", "ppc64", "ppc64le"}


@pytest.mark.parametrize("machine", sorted(OBJDUMP))
def test_cross_fixture_branches_compared(machine):
    """Per machine, over its files: direct branches were compared (and names, where the
    fixtures call anything but PLT stubs), so the checks above are not vacuous."""
    paths = cross_fixtures(machine)
    if not paths:
        pytest.skip(f"no fixtures/build/cross/{machine}")
    if tool_for(machine) is None:
        pytest.skip(f"{OBJDUMP[machine][0]} not installed")
    totals = [sum(t) for t in zip(*(compare_file(machine, p) for p in paths))]
    if machine not in NO_DIRECT_BRANCH:
        assert totals[1] > 0, totals
    if machine in NAMED_IN_FIXTURES:
        assert totals[2] > 0, totals


# --- real libc6 of each Debian architecture --------------------------------------------------
# arch -> (the fixture machine whose objdump and rules apply, libc.so.6 under build/debs/ARCH)
DEBS = {
    "arm64": ("aarch64", "lib/aarch64-linux-gnu/libc.so.6"),
    "armhf": ("arm", "lib/arm-linux-gnueabihf/libc.so.6"),
    "ppc64el": ("ppc64le", "lib/powerpc64le-linux-gnu/libc.so.6"),
    "s390x": ("s390x", "lib/s390x-linux-gnu/libc.so.6"),
    "mips64el": ("mips64el", "lib/mips64el-linux-gnuabi64/libc.so.6"),
    "i386": ("i386", "lib/i386-linux-gnu/libc.so.6"),
}
# calls to exported functions, to PLT stubs and to local code; loops; a spin-wait
LIBC_FUNCTIONS = ("puts", "exit", "abort", "getenv", "qsort_r", "fopen", "strtol",
                  "pthread_rwlock_wrlock")


def libc_path(arch):
    if not (FIXTURES / "debs" / f"{arch}.debs").exists():
        return None
    path = FIXTURES / "debs" / arch / DEBS[arch][1]
    return path if path.exists() else None


@pytest.mark.parametrize("arch", sorted(DEBS))
def test_libc_functions_match_objdump(arch):
    machine = DEBS[arch][0]
    path = libc_path(arch)
    if path is None:
        pytest.skip(f"build/debs/{arch}.debs missing (make -C fixtures cross-debs)")
    cmd = tool_for(machine)
    if cmd is None:
        pytest.skip(f"{OBJDUMP[machine][0]} not installed")
    elf = ElfFile.open(path)
    syms = {s.name: s for s in elf.dynsym.symbols
            if s.name in LIBC_FUNCTIONS and s.type == 2 and s.shndx}
    assert set(syms) == set(LIBC_FUNCTIONS)
    totals = [0, 0, 0]
    for name, sym in sorted(syms.items()):
        start, size, _ = symbol_code(elf, sym)
        sec = next(s for s in code_sections(elf) if s.addr <= start < s.addr + s.size)
        od, _ = parse_objdump(run_objdump(cmd, path, f"--start-address={start:#x}",
                                          f"--stop-address={start + size:#x}"))
        off = sec.offset + start - sec.addr
        mine = list(disassemble(elf, start, bytes(elf.data[off:off + size]), None, sec.index))
        counts = compare(machine, path, od[sec.name], mine, where=f" [{name}]")
        totals = [a + b for a, b in zip(totals, counts)]
    n_insn, n_target, n_name = totals
    # (ppc64el: most calls go to a local entry point, which objdump names <f+0x8>)
    assert n_insn > 300 and n_target > 30 and n_name > 0, totals


def test_ppc64_elfv2_local_entry_named_as_function():
    """ELFv2: a call to the local entry point (global entry + st_other's offset), which
    objdump shows as <f+0x8>, is named f by elfkit."""
    path = libc_path("ppc64el")
    if path is None:
        pytest.skip("build/debs/ppc64el.debs missing")
    cmd = tool_for("ppc64le")
    if cmd is None:
        pytest.skip("powerpc64le-linux-gnu-objdump not installed")
    elf = ElfFile.open(path)
    sym = next(s for s in elf.dynsym.symbols if s.name == "puts")
    start, size, _ = symbol_code(elf, sym)
    sec = next(s for s in code_sections(elf) if s.addr <= start < s.addr + s.size)
    od, _ = parse_objdump(run_objdump(cmd, path, f"--start-address={start:#x}",
                                      f"--stop-address={start + size:#x}"))
    off = sec.offset + start - sec.addr
    mine = {l.address: l for l in disassemble(elf, start, bytes(elf.data[off:off + size]),
                                              None, sec.index)}
    local = [(a, i) for a, i in od[sec.name].items()
             if i.mnemonic == "bl" and i.name and i.name.endswith("+0x8")]
    assert local, "no call to a local entry point in puts: libc changed?"
    for a, insn in local:
        assert mine[a].target_name == unversioned(insn.name[:-len("+0x8")]), (hex(a), insn.name)


# --- modes no fixture has: small objects assembled here ------------------------------------
# Each has calls and branches both ways, and, where the machine has mapping symbols, data
# ($d) inside the code.
_A64 = """.text
.globl f
.type f,%function
f: bl g
 cbz x0, f
 b.ne g
 tbnz w1, #3, f
 ret
.word 0x11223344
.type g,%function
g: bl f
 ret
"""
_ARM = """.syntax unified
.arch armv7-a
.text
.globl f
.type f,%function
f: bl g
 push {r4, lr}
 beq f
 pop {r4, pc}
.thumb
.type g,%function
.thumb_func
g: bl f
 cbz r0, 1f
 b.w f
1: bx lr
.word 0x12345678
"""
_RV = """.text
.globl f
.type f,@function
f: jal g
 beqz a0, f
 bne a0, a1, g
 j f
 ret
.word 0x12345678
.type g,@function
g: call f
 ret
"""
_MIPS = """.set noreorder
.text
.globl f
.type f,@function
f: jal g
 nop
 beq $4,$5,f
 nop
 bne $4,$0,g
 nop
 b f
 nop
.type g,@function
g: jr $31
 nop
"""
_SPARC = """.text
.globl f
.type f,#function
f: call g
 nop
 be f
 nop
 ba g
 nop
.type g,#function
g: retl
 nop
"""
_S390 = """.text
.globl f
.type f,@function
f: bras %r14,g
 jne f
 j g
.type g,@function
g: br %r14
"""
_PPC = """.text
.globl f
.type f,@function
f: bl g
 beq f
 bne 0, g
 b f
.type g,@function
g: blr
"""
VARIANTS = [   # (id, machine whose objdump and rules apply, as command, ld command, source)
    ("aarch64-be", "aarch64", ["aarch64-linux-gnu-as", "-EB"],
     ["aarch64-linux-gnu-ld", "-EB"], _A64),
    ("arm-be32", "arm", ["arm-linux-gnueabihf-as", "-EB"], ["arm-linux-gnueabihf-ld", "-EB"],
     _ARM),
    ("arm-be8", "arm", ["arm-linux-gnueabihf-as", "-EB"],
     ["arm-linux-gnueabihf-ld", "-EB", "--be8"], _ARM),
    ("riscv32", "riscv64", ["riscv64-linux-gnu-as", "-march=rv32gc", "-mabi=ilp32"],
     ["riscv64-linux-gnu-ld", "-m", "elf32lriscv_ilp32"], _RV),
    ("riscv64-norvc", "riscv64", ["riscv64-linux-gnu-as", "-march=rv64g"],
     ["riscv64-linux-gnu-ld"], _RV),
    ("mipsel-o32", "mips", ["mips-linux-gnu-as", "-EL"], ["mips-linux-gnu-ld", "-EL"], _MIPS),
    ("mips-n32", "mips", ["mips-linux-gnu-as", "-mabi=n32", "-march=mips64r2"],
     ["mips-linux-gnu-ld", "-m", "elf32btsmipn32"], _MIPS),
    ("mips-r6", "mips", ["mips-linux-gnu-as", "-march=mips32r6"], ["mips-linux-gnu-ld"], _MIPS),
    ("micromips", "mips", ["mips-linux-gnu-as", "-mmicromips"], ["mips-linux-gnu-ld"], _MIPS),
    ("sparc32", "sparc64", ["sparc64-linux-gnu-as", "-32"],
     ["sparc64-linux-gnu-ld", "-m", "elf32_sparc"], _SPARC),
    ("s390-31", "s390x", ["s390x-linux-gnu-as", "-m31"], ["s390x-linux-gnu-ld", "-m", "elf_s390"],
     _S390),
    ("ppcle", "ppc", ["powerpc-linux-gnu-as", "-mlittle"],
     ["powerpc-linux-gnu-ld", "-m", "elf32lppc"], _PPC),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_mode_variant_matches_objdump(tmp_path, variant):
    """The object as assembled (every call relocated), then linked (every call named)."""
    name, machine, as_cmd, ld_cmd, source = variant
    for tool in (as_cmd[0], ld_cmd[0], OBJDUMP[machine][0]):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    src = tmp_path / "v.s"
    src.write_text(source)
    obj, exe = tmp_path / "v.o", tmp_path / "v"
    subprocess.run([*as_cmd, str(src), "-o", str(obj)], check=True, capture_output=True)
    subprocess.run([*ld_cmd, "-e", "f", str(obj), "-o", str(exe)], check=True,
                   capture_output=True)
    assert compare_file(machine, obj)[0] >= 5
    n_insn, n_target, n_name = compare_file(machine, exe)
    assert n_insn >= 5 and n_target >= 3 and n_name >= 2, (n_insn, n_target, n_name)


# --- the command line ------------------------------------------------------------------------
@pytest.mark.parametrize("machine", sorted(OBJDUMP))
def test_cli_entry_and_symbol(machine):
    """`elfkit disasm pie` starts at the entry's code (ARM: without the Thumb bit; PowerPC64
    ELFv1: where the .opd descriptor points) and decodes as objdump does there;
    `elfkit disasm libcross.so cross_func` disassembles the function objdump labels
    `<cross_func>:` (`<.cross_func>:` on ELFv1), with its calls named as in-process."""
    d = FIXTURES / "cross" / machine
    if not (d / "pie").exists():
        pytest.skip(f"no fixtures/build/cross/{machine}")
    cmd = tool_for(machine)
    if cmd is None:
        pytest.skip(f"{OBJDUMP[machine][0]} not installed")
    for path, args, label in ((d / "pie", (), None), (d / "libcross.so", ("cross_func",),
                                                      "cross_func")):
        r = run_elfkit("disasm", path, *args)
        assert r.returncode == 0 and not r.stderr, r.stderr.decode()
        lines = [re.match(r"^\s*([0-9a-f]+):  ((?:[0-9a-f]{2} ?)+?)\s{2,}(\S+)\s*(.*?)"
                          r"(?:    <([^>]+)>)?$", l) for l in r.stdout.decode().splitlines()]
        assert lines and all(lines), r.stdout.decode()
        text = run_objdump(cmd, path)
        if label is None:
            elf = ElfFile.open(path)
            start = code_address(elf, elf.header.entry)
            assert int(lines[0].group(1), 16) == start
        else:
            m = re.search(rf"^([0-9a-f]+) <\.?{label}(?:@@?[\w.]+)?>:$", text, re.M)
            assert m, f"objdump has no <{label}> label"
            start = int(m.group(1), 16)
            assert int(lines[0].group(1), 16) == start
        od, _ = parse_objdump(text)
        insns = {a: i for sec in od.values() for a, i in sec.items()}
        family = FAMILY[machine]
        for m in lines:
            a = int(m.group(1), 16)
            assert a in insns, f"{path}: elfkit line at {a:#x}, objdump has no instruction there"
            assert same_mnemonic(family, insns[a].mnemonic, m.group(3)) or \
                insns[a].mnemonic in CAPSTONE_LACKS.get(family, ()), (m.group(0), insns[a].mnemonic)
            if m.group(5):
                assert insns[a].target is not None, m.group(0)


def test_cli_loongarch_is_one_line_error(tmp_path):
    """A machine capstone 5 cannot disassemble: one line naming it and why, exit 2 (the
    documented status for input elfkit cannot handle), no traceback."""
    src = next((p for p in cross_fixtures("riscv64") if p.name == "pie"), None)
    if src is None:
        pytest.skip("no fixtures/build/cross/riscv64/pie")
    data = bytearray(src.read_bytes())
    data[18:20] = (258).to_bytes(2, "little")          # e_machine = EM_LOONGARCH
    path = tmp_path / "loongarch"
    path.write_bytes(bytes(data))
    r = run_elfkit("disasm", path)
    err = r.stderr.decode()
    assert r.returncode == 2, (r.returncode, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"elfkit: error: {path}: cannot disassemble LoongArch"), err
    assert "capstone" in err and not r.stdout


def test_cli_unknown_machine_is_one_line_error(tmp_path):
    src = next((p for p in cross_fixtures("aarch64") if p.name == "pie"), None)
    if src is None:
        pytest.skip("no fixtures/build/cross/aarch64/pie")
    data = bytearray(src.read_bytes())
    data[18:20] = (0x4242).to_bytes(2, "little")
    path = tmp_path / "unknown"
    path.write_bytes(bytes(data))
    r = run_elfkit("disasm", path)
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "cannot disassemble" in err
