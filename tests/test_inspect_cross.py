"""`elfkit inspect --relocs FILE` (text) against `readelf -W -r FILE` on other machines' files.

Files: every cross fixture (build/cross/<machine>/*: AArch64, ARM, RISC-V, PowerPC,
PowerPC64 both byte orders, s390x, MIPS, MIPS64 little-endian, SPARC64, i386), and a
deterministic sample of the Debian files of other architectures unpacked under
build/debs/<arch>/ (arm64, armhf, ppc64el, s390x, mips64el, i386); what is missing is
skipped. The host's readelf (binutils 2.40) decodes every machine.

Both texts are read with readelf_oracle.parse_relocations and compared table by table,
entry by entry: offset, info, type name, symbol value and name (with its version), addend;
so the normalisations written down in readelf_oracle's docstring ("relocations") apply
(column widths are compared by test_inspect_relocs_text.py). New here:
  * MIPS64: readelf prints r_info in its own order (r_sym, r_ssym, r_type3, r_type2,
    r_type from the most significant byte; little-endian files' words rearranged) and
    two more lines per relocation, "Type2: NAME" and "Type3: NAME"; those lines are
    compared as words (whitespace collapsed), in order, attached to their relocation.
  * A symbol's version: both write "@@VER" for a defined symbol's default version (the
    JSON has the bare version, as the oracle says); "@@" is read as "@" on both sides.
  * RELR: elfkit heads a packed table "contains N entries (M relocations):" and an
    "Address" line (binutils 2.43's form); readelf 2.40 "contains N entries:" and
    "  M offsets". elfkit's form is rewritten to 2.40's before parsing; the addresses
    are compared.
  * Control characters in symbol names (RISC-V's local labels ".L1\x021"): both show them
    as "^B" (^ and the character + 0x40); the rewriting of raw ones in elfkit's text, from
    before elfkit did so itself, is kept as a no-op. (The whole text, layout included, is
    compared byte for byte in test_inspect_relocs_text.py.)
  * readelf_oracle's parser takes the type from r_info's low 32 bits; it is the same
    on both sides, so the type is compared through its name.
"""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import DEB_ARCHES, FIXTURES, cross_fixtures, deb_sample, run_elfkit
from readelf_oracle import parse_relocations, run_readelf

DEB_SAMPLE = int(os.environ.get("ELFKIT_CROSS_DEB_SAMPLE", "6"))     # files per architecture
MAX_BYTES = 8 * 1024 * 1024



def _params():
    out = [pytest.param(str(p), id=f"cross/{p.parent.name}/{p.name}") for p in cross_fixtures()]
    for arch in DEB_ARCHES:
        out += [pytest.param(p, id=f"debs/{arch}/{os.path.relpath(p, FIXTURES / 'debs' / arch)}")
                for p in map(str, deb_sample(arch, DEB_SAMPLE, max_bytes=MAX_BYTES))]
    return out or [pytest.param(None, id="no-cross-files")]


_TYPE23_RE = re.compile(r"^\s+(Type[23]:.*)$")


_ELFKIT_RELR_RE = re.compile(r"contains (\d+) entries \((\d+) relocations?\):\nAddress\n")


def normalise_elfkit(text: str) -> str:
    """elfkit's text in readelf 2.40's words where the two differ in form only (see above)."""
    text = _ELFKIT_RELR_RE.sub(
        lambda m: f"contains {m.group(1)} entries:\n  {m.group(2)} offsets\n", text)
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]",
                  lambda m: "^?" if m.group() == "\x7f" else "^" + chr(ord(m.group()) + 64), text)


def parse(text: str, is64: bool) -> list:
    """parse_relocations' tables, each entry with `_more`: its Type2/Type3 lines (MIPS64)."""
    tables = parse_relocations(text, is64)
    entries = [e for t in tables for e in t.get("entries", [])]
    for e in entries:
        if "_name_text" in e:
            e["_name_text"] = e["_name_text"].replace("@@", "@")
    i = -1
    for line in text.splitlines():
        if re.match(r"^[0-9a-f]{8,16}  [0-9a-f]{8,16} ", line):
            i += 1
            continue
        m = _TYPE23_RE.match(line)
        if m and 0 <= i < len(entries):
            entries[i].setdefault("_more", []).append(" ".join(m.group(1).split()))
    return tables


def _is64(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(5)[4] == 2


@pytest.mark.parametrize("path", _params())
def test_relocations_match_readelf(path):
    if path is None:
        pytest.skip("no cross fixtures or Debian files (make fixtures / .ci/run)")
    try:
        expected_text = run_readelf(path, "-r")
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"readelf: {e}")
    proc = run_elfkit("inspect", "--relocs", path)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    got_text = proc.stdout.decode()
    is64 = _is64(path)
    exp, got = parse(expected_text, is64), parse(normalise_elfkit(got_text), is64)
    assert [(t["section"], t["offset"], t["kind"]) for t in got] == \
        [(t["section"], t["offset"], t["kind"]) for t in exp]
    diffs = []
    for te, tg in zip(exp, got):
        if te["kind"] == "RELR":
            if te.get("addresses") != tg.get("addresses"):
                diffs.append(f"{te['section']}: RELR addresses differ")
            continue
        ee, ge = te.get("entries", []), tg.get("entries", [])
        if len(ee) != len(ge):
            diffs.append(f"{te['section']}: {len(ge)} entries, readelf {len(ee)}")
        for k, (a, b) in enumerate(zip(ee, ge)):
            if a != b:
                diffs.append(f"{te['section']}[{k}]: elfkit {b} != readelf {a}")
    assert not diffs, f"{len(diffs)} differences:\n" + "\n".join(diffs[:8])


def test_names_for_every_machine():
    """Spot checks of the per-machine tables (a name each that the x86-64 table got wrong)."""
    from elfkit.elf.constants import reloc_type_name
    assert reloc_type_name(38, 21) == "R_PPC64_ADDR64"
    assert reloc_type_name(2, 8) == "R_MIPS_32"
    assert reloc_type_name(19, 243) == "R_RISCV_CALL_PLT"
    assert reloc_type_name(1027, 183) == "R_AARCH64_RELATIVE"
    assert reloc_type_name(23, 40) == "R_ARM_RELATIVE"
    assert reloc_type_name(12, 22) == "R_390_RELATIVE"
    assert reloc_type_name(3, 258) == "R_LARCH_RELATIVE"
    assert reloc_type_name(22, 43) == "R_SPARC_RELATIVE"
    assert reloc_type_name(22, 20) == "R_PPC_RELATIVE"
    assert reloc_type_name(8, 62) == "R_X86_64_RELATIVE"
    assert reloc_type_name(8, 3) == "R_386_RELATIVE"
    assert reloc_type_name(5, 0x9999) == "unrecognized: 5"


def test_mips64_little_endian_info():
    from elfkit.elf.relocations import mips64_info
    # file bytes: r_sym=0x12 (LE word), r_ssym=0, r_type3=5 (HI16), r_type2=0x18 (SUB), r_type=7
    word = int.from_bytes(bytes([0x12, 0, 0, 0, 0, 5, 0x18, 7]), "little")
    assert mips64_info(word) == 0x0000001200051807


def _mips64_object(endian: str, types: list[tuple[int, int, int]]) -> bytes:
    """An ELF64 MIPS relocatable with one RELA section (symbol 0) holding r_type, r_type2,
    r_type3 triples, in the byte order `endian` ("<" or ">") -- r_info stored as MIPS64 does."""
    import struct
    e = endian
    ents = b""
    for i, (t1, t2, t3) in enumerate(types):
        info = struct.pack(e + "I", 0) + bytes([0, t3, t2, t1])
        ents += struct.pack(e + "Q", 8 * i) + info + struct.pack(e + "q", i - 2)
    shstr = b"\0.rela.x\0.shstrtab\0"
    off_str = 64 + len(ents)
    off_sh = (off_str + len(shstr) + 7) & ~7

    def sh(name, typ, off, size, entsize):
        return struct.pack(e + "IIQQQQIIQQ", name, typ, 0, 0, off, size, 0, 0, 8, entsize)
    ident = b"\x7fELF" + bytes([2, 1 if e == "<" else 2, 1, 0]) + bytes(8)
    hdr = ident + struct.pack(e + "HHIQQQIHHHHHH", 1, 8, 1, 0, 0, off_sh, 0, 64, 0, 0, 64, 3, 2)
    data = hdr + ents + shstr
    return data + bytes(off_sh - len(data)) + sh(0, 0, 0, 0, 0) + \
        sh(1, 4, 64, len(ents), 24) + sh(9, 3, off_str, len(shstr), 0)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_mips64_both_byte_orders_match_readelf(tmp_path, endian):
    """Synthetic MIPS64 objects of each byte order: the three types (and an unknown one) as
    readelf names them, in the text and in the JSON."""
    import json
    path = tmp_path / f"mips64{'el' if endian == '<' else 'eb'}.o"
    types = [(7, 24, 5), (3, 0, 0), (18, 3, 0), (200, 201, 99), (37, 0, 4)]
    path.write_bytes(_mips64_object(endian, types))
    exp_text = run_readelf(str(path), "-r")
    if "Type2:" not in exp_text:
        pytest.skip("this readelf does not decode MIPS64 relocations")
    proc = run_elfkit("inspect", "--relocs", path)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    exp, got = parse(exp_text, True), parse(normalise_elfkit(proc.stdout.decode()), True)
    assert exp == got
    more = [e["_more"] for e in exp[0]["entries"]]
    doc = json.loads(run_elfkit("inspect", "--relocs", "--json", path).stdout)
    entries = doc["relocations"][0]["entries"]
    assert [(e["type"], e["type2"], e["type3"]) for e in entries] == types
    assert [[f"Type2: {e['type2_name']}", f"Type3: {e['type3_name']}"] for e in entries] == more
    assert [e["type_name"] for e in entries] == [e["type_name"] for e in exp[0]["entries"]]


def test_sparcv9_olo10_matches_readelf(tmp_path):
    """SPARCV9's R_SPARC_OLO10 keeps a signed 24-bit number above its 8-bit type; readelf
    names the type from the low 8 bits and prints the number after the addend. Compared as
    words (the no-symbol addend's column is elfkit's own, as on x86-64)."""
    import struct
    e = ">"
    ents = b"".join(struct.pack(e + "QQq", 8 * i, data << 8 | t, add) for i, (t, data, add) in
                    enumerate([(33, 5, 3), (33, 0xFFFFFE, -4), (22, 0, 8), (33, 0x7FFFFF, 0)]))
    shstr = b"\0.rela.x\0.shstrtab\0"
    off_str = 64 + len(ents)
    off_sh = (off_str + len(shstr) + 7) & ~7

    def sh(name, typ, off, size, entsize):
        return struct.pack(e + "IIQQQQIIQQ", name, typ, 0, 0, off, size, 0, 0, 8, entsize)
    hdr = b"\x7fELF" + bytes([2, 2, 1, 0]) + bytes(8) + \
        struct.pack(e + "HHIQQQIHHHHHH", 1, 43, 1, 0, 0, off_sh, 0, 64, 0, 0, 64, 3, 2)
    data = hdr + ents + shstr
    path = tmp_path / "olo10.o"
    path.write_bytes(data + bytes(off_sh - len(data)) + sh(0, 0, 0, 0, 0) +
                     sh(1, 4, 64, len(ents), 24) + sh(9, 3, off_str, len(shstr), 0))

    def lines(text):
        return [" ".join(x.split()) for x in text.splitlines() if re.match("^[0-9a-f]{16} ", x)]
    exp = lines(run_readelf(str(path), "-r"))
    assert len(exp) == 4 and exp[0].endswith("R_SPARC_OLO10 3 + 5")
    assert lines(run_elfkit("inspect", "--relocs", path).stdout.decode()) == exp


_GOT_FILES = [p for p in cross_fixtures() if p.name in ("pie", "libcross.so")]


@pytest.mark.skipif(not _GOT_FILES, reason="no cross fixtures (make -C fixtures cross)")
@pytest.mark.parametrize("path", _GOT_FILES, ids=[f"{p.parent.name}-{p.name}" for p in _GOT_FILES])
def test_got_map_or_a_clear_not_supported(path):
    """--got: the map on i386, AArch64, ARM, RISC-V and PowerPC64 (its PLT slots are readelf's
    JUMP_SLOT entries; tests/test_got_cross.py checks the stubs against objdump), and on every
    other machine the sentence naming it (readelf's Machine:), never a map read as x86's."""
    import json

    header = subprocess.run(["readelf", "-h", str(path)], capture_output=True, text=True).stdout
    machine = re.search(r"^\s*Machine:\s+(.*)$", header, re.M).group(1).strip()
    text = run_elfkit("inspect", "--got", str(path)).stdout.decode()
    doc = json.loads(run_elfkit("inspect", "--got", "--json", str(path)).stdout)
    if path.parent.name in ("i386", "aarch64", "arm", "riscv64", "ppc64le", "ppc64"):
        relocs = subprocess.run(["readelf", "-W", "-r", str(path)], capture_output=True,
                                text=True).stdout
        jump_slots = len(re.findall(r"R_\w+_(?:JUMP|JMP)_SLOT", relocs))
        assert jump_slots and len(doc["got"]["slots"]) >= jump_slots
        assert "PLT/GOT map:\n" in text
    else:
        want = (f"not supported for {machine}: elfkit decodes the PLT layouts of x86-64, i386, "
                "AArch64 (LP64), ARM, RISC-V (RV64 and RV32) and PowerPC64 (ELFv1 and ELFv2) only")
        assert text == f"\nPLT/GOT map: {want}.\n"
        assert doc["got"] == {"unsupported": want}
