"""`inspect --got` and `disasm` against binutils objdump, the independent oracle for PLT stub names.

objdump -d labels every PLT stub it recognises `<symbol@plt>` (bfd's synthetic
symbols, built from the PLT relocations and the stub layout) and annotates
each direct call/jump with `<name>` or `<name+0xN>`. Normalisation:
- IRELATIVE slots (no symbol) are labelled `*ABS*+0x...@plt` by objdump; they
  are compared as the set of stub addresses only, when objdump labels any
  (it synthesizes none for static and static-pie binaries).
- Independently of labels, every `jmp *X(%rip)  # SLOT` objdump decodes in a
  PLT section (PLT0's jump through GOT[2] excepted) must be a stub elfkit
  pairs with that same SLOT, and the GOT slots of JUMP_SLOT/IRELATIVE
  relocations must be readelf's .rela.plt offsets.
- Only call/jump targets that objdump names exactly (no `+0x` offset) are
  compared with elfkit's target names; elfkit names symbol starts only.
  Where several symbols share the target address (glibc's `_IO_puts` and
  `puts`), objdump picks one by its own sort heuristics; elfkit may pick
  another alias, so the check is that elfkit's name is a symbol readelf
  lists at exactly that address (or, for PLT stubs, objdump's label).
"""
import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import all_fixtures, fixture_path, run_elfkit

PLT_LABEL = re.compile(r"^([0-9a-f]+) <(.+)@plt>:$", re.M)
CALL = re.compile(r"^\s*([0-9a-f]+):\s+(?:bnd |notrack )?(call|jmp)\s+([0-9a-f]+) <([^>]+)>", re.M)


def _system_sample(n=30):
    out = []
    for p in sorted(Path("/usr/bin").iterdir()):
        if p.is_file() and not p.is_symlink():
            with open(p, "rb") as f:
                head = f.read(20)
            if head[:4] == b"\x7fELF" and head[4] == 2 and head[18] == 62:
                out.append(p)
    return out[:: max(1, len(out) // n)][:n]


def _elf_files():
    fx = [p for p in all_fixtures() if not p.name.endswith(".o") and not p.name.startswith("core.")
          and p.name != "hello-noshdr"]
    return fx + _system_sample()


def objdump_plt_labels(path):
    text = subprocess.run(["objdump", "-d", "-w", str(path)], capture_output=True, text=True).stdout
    return {int(a, 16): name for a, name in PLT_LABEL.findall(text)}


@pytest.mark.parametrize("path", _elf_files(), ids=lambda p: p.name)
def test_got_stubs_match_objdump_plt_labels(path):
    r = run_elfkit("inspect", "--got", "--json", path)
    assert r.returncode == 0, r.stderr.decode()
    slots = json.loads(r.stdout)["got"]["slots"]
    mine_named = {s["stub"]: s["symbol"] for s in slots if s["stub"] is not None and s["symbol"]}
    mine_anon = {s["stub"] for s in slots if s["stub"] is not None and not s["symbol"]}
    theirs = objdump_plt_labels(path)
    theirs_named = {a: n for a, n in theirs.items() if not n.startswith("*ABS*")}
    theirs_anon = {a for a, n in theirs.items() if n.startswith("*ABS*")}
    assert mine_named == theirs_named
    if theirs:
        assert mine_anon == theirs_anon
    relocated = _readelf_reloc_offsets(path)
    jumps = {(insn, slot) for insn, slot in objdump_plt_jumps(path) if slot in relocated}
    mine_jumps = {(s["stub"], s["got_slot"]) for s in slots if s["stub"] is not None}
    for insn, slot in jumps:
        assert any(stub <= insn < stub + 16 and got == slot for stub, got in mine_jumps), \
            f"objdump: jmp through {slot:#x} at {insn:#x}, not in elfkit's map"
    plt_relocs = _readelf_reloc_offsets(path, only_plt=True)
    assert {s["got_slot"] for s in slots if s["reloc_type"].endswith(("JUMP_SLOT", "IRELATIVE"))} \
        == plt_relocs


JMP_SLOT = re.compile(r"^\s*([0-9a-f]+):\s.*?jmp\s+\*(?:0x[0-9a-f]+\(%[re]ip\)|0x[0-9a-f]+|0x[0-9a-f]+\(%ebx\))\s+#\s+([0-9a-f]+)", re.M)


def objdump_plt_jumps(path):
    """(instruction address, GOT slot) of each indirect jump in the PLT sections, PLT0 excepted."""
    out = set()
    for sec in (".plt", ".plt.sec", ".plt.got"):
        text = subprocess.run(["objdump", "-d", "-w", "-j", sec, str(path)], capture_output=True,
                              text=True).stdout
        body = text.split("Disassembly of section", 1)[-1]
        for a, slot in JMP_SLOT.findall(body):
            out.add((int(a, 16), int(slot, 16)))
        out |= _ebx_jumps(body, path)
    if out:
        # PLT0's `jmp *GOT+16` is the lowest jump in .plt when .plt has a PLT0
        plt0 = _plt0_jump(path)
        out = {j for j in out if j[0] != plt0}
    return out


def _ebx_jumps(body, path):
    """i386 PIC stubs `jmp *-0x14(%ebx)`: objdump prints no target; %ebx is DT_PLTGOT."""
    found = re.findall(r"^\s*([0-9a-f]+):\s.*?jmp\s+\*(-?0x[0-9a-f]+)\(%ebx\)", body, re.M)
    if not found:
        return set()
    dyn = subprocess.run(["readelf", "-W", "-d", str(path)], capture_output=True, text=True).stdout
    m = re.search(r"\(PLTGOT\)\s+(0x[0-9a-f]+)", dyn)
    base = int(m.group(1), 16)
    return {(int(a, 16), (base + int(d, 16)) & 0xFFFFFFFF) for a, d in found}


def _plt0_jump(path):
    text = subprocess.run(["objdump", "-d", "-w", "-j", ".plt", str(path)], capture_output=True,
                          text=True).stdout
    lines = [l for l in text.splitlines() if re.match(r"^\s*[0-9a-f]+:\s", l)]
    if len(lines) >= 2 and "push" in lines[0] and "jmp" in lines[1]:
        return int(lines[1].split(":")[0], 16)
    return None


def _readelf_reloc_offsets(path, only_plt=False):
    """Relocated offsets; only_plt: the PLT's slots, which are what .rela.plt holds except the
    TLS descriptors ld also puts there (R_X86_64_TLSDESC, -mtls-dialect=gnu2)."""
    text = subprocess.run(["readelf", "-W", "-r", str(path)], capture_output=True, text=True).stdout
    out, inside = set(), False
    for line in text.splitlines():
        if line.startswith("Relocation section"):
            inside = not only_plt or ".rela.plt" in line or ".rel.plt" in line
        elif inside and re.match(r"^[0-9a-f]{8,16} ", line):
            if only_plt and ("_TLSDESC " in line or "_TLS_DESC " in line):
                continue
            out.add(int(line.split()[0], 16))
    return out


def test_lazy_slot_initially_points_into_its_own_plt_entry():
    # The x86-64 psABI: an unbound JUMP_SLOT holds the address of its PLT entry's push.
    path = fixture_path("hello-lazy")
    doc = json.loads(run_elfkit("inspect", "--got", "--sections", "--json", path).stdout)
    plt = next(s for s in doc["sections"] if s["name"] == ".plt")
    jump_slots = [s for s in doc["got"]["slots"] if s["reloc_type"] == "R_X86_64_JUMP_SLOT"]
    assert jump_slots
    for s in jump_slots:
        assert plt["addr"] < s["initial"] < plt["addr"] + plt["size"]
        assert s["initial"] == s["lazy_stub"] + 6      # after `jmp *slot(%rip)`, at the push


@pytest.mark.parametrize("name", ["hello-pie", "hello-nopie", "hello-cet", "hello32", "pltcalls-lazy",
                                  "hello-static"])
def test_disasm_main_targets_match_objdump(name):
    path = fixture_path(name)
    r = run_elfkit("disasm", path, "main")
    assert r.returncode == 0, r.stderr.decode()
    mine = {}
    for line in r.stdout.decode().splitlines():
        m = re.match(r"^\s*([0-9a-f]+):.*<([^>]+)>$", line)
        if m:
            mine[int(m.group(1), 16)] = m.group(2)
    objdump = subprocess.run(["objdump", "-d", "-w", "--no-show-raw-insn", str(path)],
                             capture_output=True, text=True).stdout
    body = objdump.split("<main>:", 1)[1].split("\n\n", 1)[0]
    expected = {int(a, 16): n for a, _op, _t, n in CALL.findall(body) if "+0x" not in n}
    assert expected, "objdump found no named call in main: fixture changed?"
    aliases = _readelf_symbols_by_address(path)
    for insn, name in expected.items():
        target = int(re.search(rf"^\s*{insn:x}:\s+\S+\s+([0-9a-f]+)", body, re.M).group(1), 16)
        ok = {name} | aliases.get(target, set())
        assert mine.get(insn) in ok, f"{insn:#x}: elfkit says {mine.get(insn)}, objdump {name}"


def _readelf_symbols_by_address(path):
    text = subprocess.run(["readelf", "-W", "-s", str(path)], capture_output=True, text=True).stdout
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 8 and f[0].endswith(":") and f[0] != "Num:" and f[6] != "UND":
            out.setdefault(int(f[1], 16), set()).add(f[7].split("@")[0])
    return out
