"""`inspect --got` (the PLT/GOT map) and `disasm`'s `sym@plt` names on AArch64, ARM, RISC-V,
PowerPC64 and i386 (issue 18), against the cross binutils, an independent oracle.

Oracles, per file:
- `readelf -W -r`: every slot elfkit lists is a JUMP_SLOT (PowerPC64: JMP_SLOT) or IRELATIVE
  relocation's offset, with that relocation's symbol, and every JUMP_SLOT of the PLT's own
  relocation section is listed.
- `<triplet>-objdump -d`: its labels for PLT stubs (bfd's synthetic `sym@plt` symbols, placed
  where the psABI's PLT layout puts entry N) and elfkit's stubs pair one to one, same address,
  same symbol (`*ABS*+0x...@plt` for an IRELATIVE slot). Not paired: AArch64's TLSDESC
  trampoline, which objdump labels `sym@plt` after the symbol of the TLSDESC relocation sharing
  .rela.plt (it counts entries, not stubs). On PowerPC64 the `sym@plt` labels are the .glink
  lazy entries (elfkit's `lazy_stub`), and the call stubs are ld's `NNNNNNNN.plt_call.sym`
  symbols (in files with a .symtab); in a stripped file (Debian's) each call stub's slot is
  recomputed from objdump's disassembly of it (`addis rX,r2,HI` / `ld r12,LO(rX)` with r2 the
  TOC pointer, .got + 0x8000).
- `disasm`: every direct call or branch objdump shows to `<sym@plt>` (PowerPC64: to a
  `plt_call` symbol) is named the same by elfkit (versions taken off).

Files: the cross fixtures of those machines (fixtures/build/cross/<machine>/*), Debian's real
libc.so.6, ls and a deterministic sample of other files (`deb_sample`, fixtures/build/debs/),
and small files linked here for the PLT variants no fixture has: AArch64 BTI-only, PAC-only,
plain and big-endian; ARM v7, v4t (Thumb stubs), --long-plt, BE8 and BE32;
RV32 and RV64 without RVC; PowerPC64 ELFv2 notoc stubs (Power10 `pld`, and the older
mflr/bcl form) and ELFv1 thread-safe / static-chain stubs. Each test skips when its tools or
files are missing.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import lru_cache

import pytest

from conftest import FIXTURES, cross_fixtures, run_elfkit
from test_inspect_machines import machine_sample as deb_sample

from elfkit.elf import ElfFile
from elfkit.elf.plt import plt_got_map, plt_got_unsupported
from elfkit.render.disasm import disassemble

# fixture machine -> (objdump, family)
MACHINES = {
    "i386": ("x86_64-linux-gnu-objdump", "x86"),
    "aarch64": ("aarch64-linux-gnu-objdump", "aarch64"),
    "arm": ("arm-linux-gnueabihf-objdump", "arm"),
    "riscv64": ("riscv64-linux-gnu-objdump", "riscv"),
    "ppc64le": ("powerpc64le-linux-gnu-objdump", "ppc64"),
    "ppc64": ("powerpc64-linux-gnu-objdump", "ppc64"),
}
DEB_MACHINE = {"arm64": "aarch64", "armhf": "arm", "ppc64el": "ppc64le", "i386": "i386"}


def _files():
    out = []
    for machine in MACHINES:
        out += [pytest.param(machine, p, id=f"{machine}-{p.name}")
                for p in cross_fixtures(machine) if p.name != "reloc.o"]
    for arch, machine in DEB_MACHINE.items():
        out += [pytest.param(machine, p, id=str(p.relative_to(FIXTURES)))
                for p in deb_sample(arch)]
    return out or [pytest.param(None, None, id="no-fixtures")]


FILES = _files()


# --- oracles ---------------------------------------------------------------------------------
REL_HEADER = re.compile(r"^Relocation section '([^']+)'")
REL_LINE = re.compile(r"^([0-9a-f]+)\s+[0-9a-f]+\s+(R_\w+)\s*(?:[0-9a-f]+\s+)?(\S*)")


@lru_cache(maxsize=None)
def readelf_relocs(path: str):
    """[(section, offset, type, symbol without version)] of the dynamic relocations."""
    text = subprocess.run(["readelf", "-W", "-r", path], capture_output=True, text=True).stdout
    out, section = [], None
    for line in text.splitlines():
        h = REL_HEADER.match(line)
        if h:
            section = h.group(1)
            continue
        m = REL_LINE.match(line)
        if m and section is not None and not section.startswith(".relr"):
            out.append((section, int(m.group(1), 16), m.group(2), m.group(3).split("@")[0]))
    return out


LABEL = re.compile(r"^([0-9a-f]+) <(.+)>:$", re.M)
INSN = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(\S+)\s*(.*)$")


def objdump(machine, path, *extra) -> str:
    r = subprocess.run([MACHINES[machine][0], "-d", "-w", *extra, str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def labels(text) -> dict[int, set]:
    out = {}
    for m in LABEL.finditer(text):
        out.setdefault(int(m.group(1), 16), set()).add(m.group(2))
    return out


def unversioned(name: str) -> str:
    if name.endswith("@plt"):
        return unversioned(name[:-4]) + "@plt"
    return name.split("@")[0]


PLT_CALL = re.compile(r"^(?:[0-9a-f]{8}\.)?plt_call\w*\.(.+)$")


def plt_call_symbol(label: str) -> str | None:
    m = PLT_CALL.match(label)
    return unversioned(m.group(1)) if m else None


def need(machine):
    tool = MACHINES[machine][0]
    if not shutil.which(tool):
        pytest.skip(f"{tool} not installed")


# --- the map against readelf and objdump -----------------------------------------------------
def check_map(machine, path) -> int:
    """Compare elfkit's map of `path` with readelf and objdump; returns the stubs paired."""
    elf = ElfFile.open(path)
    assert plt_got_unsupported(elf) is None
    m = plt_got_map(elf)
    relocs = readelf_relocs(str(path))
    plt_rel = {off: sym for sec, off, typ, sym in relocs
               if sec in (".rela.plt", ".rel.plt") and typ.endswith(("JUMP_SLOT", "JMP_SLOT"))}
    irel = {off for _sec, off, typ, _sym in relocs if typ.endswith("IRELATIVE")}
    # x86: a .plt.got stub jumps through a GLOB_DAT slot
    glob_dat = {off: sym for _sec, off, typ, sym in relocs if typ.endswith("GLOB_DAT")}
    tlsdesc = {sym for sec, _off, typ, sym in relocs
               if sec in (".rela.plt", ".rel.plt") and typ.endswith("TLSDESC")}
    for s in m.slots:
        if s.plt_section == ".plt.got":
            assert glob_dat.get(s.got_slot) == s.symbol, (path, hex(s.got_slot), s.symbol)
            continue
        assert s.got_slot in plt_rel or s.got_slot in irel, (
            f"{path}: slot {s.got_slot:#x} ({s.symbol}) is no JUMP_SLOT/IRELATIVE offset")
        if s.got_slot in plt_rel:
            assert s.symbol == plt_rel[s.got_slot], (path, hex(s.got_slot), s.symbol)
    assert set(plt_rel) <= {s.got_slot for s in m.slots}, (
        f"{path}: PLT relocations without a slot: "
        f"{sorted(hex(o) for o in set(plt_rel) - {s.got_slot for s in m.slots})}")

    def name(s):
        return s.symbol if s.symbol else "*ABS*"

    family = MACHINES[machine][1]
    paired = 0
    if family != "ppc64":
        stubs = {s.stub: s for s in m.slots if s.stub is not None}
        text = objdump(machine, path, *[a for p in m.plt_sections for a in ("-j", p.name)]) \
            if m.plt_sections else ""
        want = {a: n for a, ns in labels(text).items() for n in ns if n.endswith("@plt")}
        for addr, label in sorted(want.items()):
            sym = unversioned(label)[:-4]
            if sym.startswith("*ABS*"):
                sym = "*ABS*"
            elif addr not in stubs and sym in tlsdesc:
                continue                    # objdump's label on the TLSDESC trampoline
            assert addr in stubs, f"{path}: objdump's {label} at {addr:#x}: no elfkit stub there"
            assert name(stubs[addr]) == sym, (path, hex(addr), label, stubs[addr].symbol)
            paired += 1
        extra = sorted(a for a in stubs if a not in want)
        assert not extra, f"{path}: elfkit stubs objdump does not label: {[hex(a) for a in extra]}"
        if family in ("aarch64", "riscv", "arm"):
            assert all(s.lazy_stub == s.stub for s in m.slots)
        return paired

    # PowerPC64: .glink lazy entries (objdump's sym@plt) and call stubs (plt_call symbols)
    lazy = {s.lazy_stub: s for s in m.slots if s.lazy_stub is not None}
    stubs = {s.stub: s for s in m.slots if s.stub is not None}
    assert all(s.plt_section not in (".plt", ".glink") for s in stubs.values())
    ranges = [sorted(lazy), sorted(stubs)]
    found = {}
    calls_text = ""
    for r in ranges:
        if r:
            t = objdump(machine, path, f"--start-address={r[0]:#x}",
                        f"--stop-address={r[-1] + 0x40:#x}")
            calls_text += t
            for a, ns in labels(t).items():
                found.setdefault(a, set()).update(ns)
    glink = {a: n for a, ns in found.items() for n in ns if n.endswith("@plt")}
    for addr, label in sorted(glink.items()):
        assert addr in lazy, f"{path}: objdump's {label} at {addr:#x}: no elfkit .glink entry"
        assert name(lazy[addr]) == unversioned(label)[:-4], (path, hex(addr), label)
        paired += 1
    assert set(lazy) <= set(glink), f"{path}: .glink entries objdump does not label"
    assert len(glink) == len(plt_rel), f"{path}: objdump labels {len(glink)} of {len(plt_rel)}"
    calls = {a: plt_call_symbol(n) for a, ns in found.items() for n in ns if plt_call_symbol(n)}
    if calls:                               # ld's stub symbols: a .symtab
        for addr, sym in sorted(calls.items()):
            assert addr in stubs, f"{path}: objdump's plt_call.{sym} at {addr:#x}: no elfkit stub"
            assert name(stubs[addr]) == sym, (path, hex(addr), sym, stubs[addr].symbol)
            paired += 1
        assert set(stubs) <= set(calls), f"{path}: stubs with no plt_call symbol"
    else:                                   # stripped: the stub's own loads, as objdump reads them
        insns = {int(g.group(1), 16): (g.group(3), g.group(4))
                 for g in map(INSN.match, calls_text.splitlines()) if g}
        toc = _toc(path)
        for addr, s in sorted(stubs.items()):
            assert _ppc_stub_slot(insns, addr, toc) == s.got_slot, (path, hex(addr), s.symbol)
            paired += 1
    return paired


def _toc(path) -> int:
    text = subprocess.run(["readelf", "-W", "-S", str(path)], capture_output=True,
                          text=True).stdout
    m = re.search(r"\]\s+\.got\s+PROGBITS\s+([0-9a-f]+)", text)
    return int(m.group(1), 16) + 0x8000


def _ppc_stub_slot(insns, addr, toc):
    """The address `ld r12` loads in the stub at addr, from objdump's text (addis/ld/bctr)."""
    regs = {2: toc}
    for _ in range(24):
        mnem, ops = insns.get(addr, (None, ""))
        if mnem is None or mnem.startswith("bctr"):
            return None
        m = re.fullmatch(r"r(\d+),r(\d+),(-?\d+)", ops)
        if mnem == "addis" and m and int(m.group(2)) in regs:
            regs[int(m.group(1))] = regs[int(m.group(2))] + (int(m.group(3)) << 16)
        m = re.fullmatch(r"r12,(-?\d+)\(r(\d+)\)", ops)
        if mnem == "ld" and m and int(m.group(2)) in regs:
            return regs[int(m.group(2))] + int(m.group(1))
        addr += 4
    return None


@pytest.mark.parametrize("machine,path", FILES)
def test_got_map_matches_readelf_and_objdump(machine, path):
    if path is None:
        pytest.skip("no fixtures (make -C fixtures cross; make -C fixtures cross-debs)")
    need(machine)
    check_map(machine, path)


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_got_maps_are_not_empty(machine):
    """Per machine, the fixtures' stubs were paired (the checks above are not vacuous)."""
    paths = [p for p in cross_fixtures(machine) if p.name in ("pie", "libcross.so", "exe")]
    if not paths:
        pytest.skip(f"no fixtures/build/cross/{machine}")
    need(machine)
    assert all(check_map(machine, p) >= 2 for p in paths)


@pytest.mark.parametrize("arch", sorted(DEB_MACHINE))
def test_real_libc_and_ls(arch):
    """Debian's libc.so.6 and ls: many stubs paired, and every PLT relocation has its stub."""
    picked = [p for p in deb_sample(arch) if p.name in ("libc.so.6", "ls")]
    if not picked:
        pytest.skip(f"no fixtures/build/debs/{arch} (make -C fixtures cross-debs)")
    machine = DEB_MACHINE[arch]
    need(machine)
    for path in picked:
        assert check_map(machine, path) >= 10, path
        m = plt_got_map(ElfFile.open(path))
        plt = [s for s in m.slots if s.reloc_type.endswith(("JUMP_SLOT", "JMP_SLOT"))]
        with_stub = [s for s in plt if s.stub is not None]
        # ppc64el: an import only ever called through a function pointer has no call stub
        assert len(with_stub) >= 0.9 * len(plt), (path, len(with_stub), len(plt))


# --- the command line: text and JSON ---------------------------------------------------------
@pytest.mark.parametrize("machine", ["aarch64", "arm", "riscv64", "ppc64le", "ppc64"])
def test_cli_text_and_json(machine):
    paths = [p for p in cross_fixtures(machine) if p.name == "pie"]
    if not paths:
        pytest.skip(f"no fixtures/build/cross/{machine}")
    path = paths[0]
    m = plt_got_map(ElfFile.open(path))
    doc = json.loads(run_elfkit("inspect", "--got", "--json", path).stdout)["got"]
    assert [(s["stub"], s["lazy_stub"], s["got_slot"], s["symbol"], s["version"], s["reloc_type"])
            for s in doc["slots"]] == \
        [(s.stub, s.lazy_stub, s.got_slot, s.symbol, s.version, s.reloc_type) for s in m.slots]
    text = run_elfkit("inspect", "--got", path).stdout.decode()
    assert "PLT/GOT map:\n" in text
    for s in m.slots:
        lazy = f"  \\(lazy stub {s.lazy_stub:#x}\\)" if s.lazy_stub != s.stub else ""
        assert re.search(rf"^  {s.stub:#x}\s.*{s.got_slot:#x}.*\s{s.symbol}@{s.version}{lazy}$",
                         text, re.M), (s, text)


# --- disasm: calls to PLT stubs named as objdump names them ----------------------------------
def check_disasm(machine, path) -> int:
    elf = ElfFile.open(path)
    family = MACHINES[machine][1]
    secs = [s for s in elf.sections if s.flags & 4 and s.size and s.type == 1]
    n = 0
    for line in objdump(machine, path).splitlines():
        g = INSN.match(line)
        if not g:
            continue
        t = re.search(r"(?:^|[\s,])([0-9a-f]+) <([^>]+)>", g.group(4))
        if not t:
            continue
        label = t.group(2)
        if re.search(r"[+-]0x[0-9a-f]+$", label):
            continue
        if not (label.endswith("@plt") or family == "ppc64" and plt_call_symbol(label)):
            continue
        # (objdump shows AArch64/RISC-V words as numbers: only their length is taken)
        addr, size = int(g.group(1), 16), len(g.group(2).replace(" ", "")) // 2
        sec = next(s for s in secs if s.addr <= addr < s.addr + s.size)
        off = sec.offset + addr - sec.addr
        raw = bytes(elf.data[off:off + size])
        mine = list(disassemble(elf, addr, raw, None, sec.index))
        assert mine and mine[0].target == int(t.group(1), 16), (path, hex(addr), line)
        got = mine[0].target_name
        if label.startswith("*ABS*"):
            assert got is not None and re.fullmatch(r"\*ABS\*.*@plt", got), (path, line, got)
        else:
            assert got is not None and unversioned(got) == unversioned(label), (path, line, got)
        n += 1
    return n


DISASM_FILES = [pytest.param(m, p, id=f"{m}-{p.name}") for m in MACHINES
                for p in cross_fixtures(m) if p.name in ("pie", "libcross.so", "exe", "pie-nobti")]
for _arch in ("arm64", "armhf", "i386"):
    DISASM_FILES += [pytest.param(DEB_MACHINE[_arch], p, id=str(p.relative_to(FIXTURES)))
                     for p in deb_sample(_arch) if p.name == "ls"]


@pytest.mark.parametrize("machine,path", DISASM_FILES or [pytest.param(None, None, id="none")])
def test_disasm_names_plt_calls_like_objdump(machine, path):
    if path is None:
        pytest.skip("no fixtures (make -C fixtures cross)")
    need(machine)
    assert check_disasm(machine, path) >= 1


# --- PLT variants linked here ----------------------------------------------------------------
AARCH64_SRC = """
        .text
        .globl  f
        .type   f, %function
f:      bl      ext1
        bl      ext2
        bl      ext3
        b       ext1
"""
ARM_SRC = """
        .syntax unified
        .text
        .globl  f
        .type   f, %function
        .arm
f:      bl      ext1
        bl      ext2
        b       ext3
        .globl  g
        .type   g, %function
        .thumb
        .thumb_func
g:      bl      ext1
        bl      ext3
        bx      lr
"""
RISCV_SRC = """
        .text
        .globl  f
        .type   f, @function
f:      call    ext1
        call    ext2
        tail    ext3
"""
PPC64V2_SRC = """
        .abiversion 2
        .machine power10
        .text
        .globl  f
        .type   f, @function
f:
0:      addis   2, 12, .TOC.-0b@ha
        addi    2, 2, .TOC.-0b@l
        .localentry f, .-f
        bl      ext1
        nop
        bl      ext2@notoc
        bl      ext3
        nop
        blr
"""
PPC64V1_SRC = """
        .abiversion 1
        .section .opd, "aw"
        .align  3
        .globl  f
f:      .quad   .f, .TOC.@tocbase, 0
        .text
        .globl  .f
        .type   .f, @function
.f:     bl      ext1
        nop
        bl      ext2
        nop
        bl      ext3
        nop
        blr
"""
# name -> (fixture machine, assembler command, source, ld command)
VARIANTS = {
    "aarch64-bti": ("aarch64", ["aarch64-linux-gnu-as"], AARCH64_SRC,
                    ["aarch64-linux-gnu-ld", "-shared", "-z", "force-bti"]),
    "aarch64-pac": ("aarch64", ["aarch64-linux-gnu-as"], AARCH64_SRC,
                    ["aarch64-linux-gnu-ld", "-shared", "-z", "pac-plt"]),
    "aarch64-plain": ("aarch64", ["aarch64-linux-gnu-as"], AARCH64_SRC,
                      ["aarch64-linux-gnu-ld", "-shared"]),
    "aarch64-be-bti-pac": ("aarch64", ["aarch64-linux-gnu-as", "-EB"], AARCH64_SRC,
                           ["aarch64-linux-gnu-ld", "-EB", "-shared", "-z", "force-bti",
                            "-z", "pac-plt"]),
    "arm-v7": ("arm", ["arm-linux-gnueabihf-as", "-march=armv7-a"], ARM_SRC,
               ["arm-linux-gnueabihf-ld", "-shared"]),
    "arm-v4t-thumb-stubs": ("arm", ["arm-linux-gnueabihf-as", "-march=armv4t"], ARM_SRC,
                            ["arm-linux-gnueabihf-ld", "-shared"]),
    "arm-long-plt": ("arm", ["arm-linux-gnueabihf-as", "-march=armv7-a"], ARM_SRC,
                     ["arm-linux-gnueabihf-ld", "-shared", "--long-plt"]),
    "arm-be8": ("arm", ["arm-linux-gnueabihf-as", "-march=armv7-a", "-EB"], ARM_SRC,
                ["arm-linux-gnueabihf-ld", "-EB", "--be8", "-shared"]),
    "arm-be32": ("arm", ["arm-linux-gnueabihf-as", "-march=armv7-a", "-EB"], ARM_SRC,
                 ["arm-linux-gnueabihf-ld", "-EB", "-shared"]),
    "rv32": ("riscv64", ["riscv64-linux-gnu-as", "-march=rv32gc", "-mabi=ilp32d"], RISCV_SRC,
             ["riscv64-linux-gnu-ld", "-m", "elf32lriscv", "-shared"]),
    "rv64-norvc": ("riscv64", ["riscv64-linux-gnu-as", "-march=rv64g", "-mabi=lp64d"],
                   RISCV_SRC, ["riscv64-linux-gnu-ld", "-shared"]),
    "ppc64le-p10-stubs": ("ppc64le", ["powerpc64le-linux-gnu-as"], PPC64V2_SRC,
                          ["powerpc64le-linux-gnu-ld", "-shared", "--power10-stubs=yes"]),
    "ppc64le-no-p10-stubs": ("ppc64le", ["powerpc64le-linux-gnu-as"], PPC64V2_SRC,
                             ["powerpc64le-linux-gnu-ld", "-shared", "--power10-stubs=no"]),
    "ppc64-thread-safe": ("ppc64", ["powerpc64-linux-gnu-as", "-a64"], PPC64V1_SRC,
                          ["powerpc64-linux-gnu-ld", "-shared", "--plt-thread-safe"]),
    "ppc64-static-chain": ("ppc64", ["powerpc64-linux-gnu-as", "-a64"], PPC64V1_SRC,
                           ["powerpc64-linux-gnu-ld", "-shared", "--plt-static-chain"]),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_plt_variant(tmp_path, variant):
    machine, as_cmd, src, ld_cmd = VARIANTS[variant]
    if not (shutil.which(as_cmd[0]) and shutil.which(ld_cmd[0])):
        pytest.skip(f"{as_cmd[0]} or {ld_cmd[0]} not installed")
    need(machine)
    (tmp_path / "v.s").write_text(src)
    out = tmp_path / "v.so"
    for cmd in ([*as_cmd, "-o", str(tmp_path / "v.o"), str(tmp_path / "v.s")],
                [*ld_cmd, "-o", str(out), str(tmp_path / "v.o")]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, (cmd, r.stderr)
    assert check_map(machine, out) >= 3
    m = plt_got_map(ElfFile.open(out))
    assert sorted(s.symbol for s in m.slots if s.stub is not None) == ["ext1", "ext2", "ext3"]
    assert check_disasm(machine, out) >= 3
