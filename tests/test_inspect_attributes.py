"""`elfkit inspect --arch-specific` (-A; text and JSON) against GNU readelf 2.40's `readelf -A -W`.

The oracle is always readelf (the host's /usr/bin/readelf, which decodes every machine), never
elfkit itself. Files:

- every cross fixture (conftest.cross_fixtures(): ARM's .ARM.attributes, RISC-V's
  .riscv.attributes, MIPS' .gnu.attributes and .MIPS.abiflags; the other machines have none and
  both print nothing);
- a sample of the real Debian files in fixtures/build/debs/<arch>/ (SAMPLE_PER_ARCH per
  architecture, sorted, evenly spaced; skipped when they were not unpacked);
- synthetic attribute sections: a relocatable fixture of each class and byte order (ARM
  ELF32 LE, RISC-V ELF64 LE, PowerPC ELF32 BE, s390x ELF64 BE) with e_machine set to the machine
  under test and one section header pointed at bytes appended to the file (its sh_type set to
  the attributes type). The bytes carry every tag 0..80 with every value readelf names and a few
  past them, strings, Tag_compatibility, the Section/Symbol scopes, an unknown scope, unknown
  vendors (dumped raw) and the "gnu" vendor, for ARM, RISC-V, PowerPC, s390, SPARC, MIPS, m68k
  and a machine with no decoder of its own (x86-64: "gnu" is then dumped raw).
- damaged sections: a subsection or sub-subsection length past the section's end, a section
  past the end of the file, a ULEB128 cut by the end of its block, a bad version byte: the
  lines before the damage match readelf's, elfkit reports as many warnings as readelf reports
  errors (one each here), and the command line exits 2 with one warning line, no traceback.

Text is compared line by line, exactly, with these normalisations only:
- MIPS: readelf -A goes on after the ABI flags with the GOT ("Primary GOT:", "Static GOT:"),
  which elfkit does not decode: readelf's text is cut at its first line ending in "GOT:" (and
  the blank line before), and elfkit's one closing line "(elfkit: ... not shown)" is dropped.
- DEL (0x7f) in a string: readelf writes "^" and the byte 0xbf (print_symbol's "^%c" of
  0x7f + 0x40), elfkit "^?" (caret notation); readelf's text is read with that pair replaced.
  Bytes that are not UTF-8: readelf writes them raw, elfkit as \\xNN (its spelling in every
  view); readelf's stdout is decoded with Python's backslashreplace, which spells them so.
- Trailing newlines at the very end are ignored (readelf ends some damaged output without one).
- Damaged input: stdout is compared whole, as above (readelf's errors go to stderr, elfkit's
  warnings to `warnings`/stderr); readelf's "Unknown attributes version" line is on stdout and
  is no error there, where elfkit also records a warning.

JSON: each attribute's `name` and `text` must rebuild readelf's line (`  NAME: TEXT`, or TEXT
alone where readelf prints no name; not checked for the two synthetic files where readelf leaves
a value's line unfinished, RISC-V's Tag_RISCV_unaligned_access 2 and m68k's ABI_FP 3), the
vendors and scopes readelf's "Attribute Section:" and "File Attributes" lines, and the MIPS ABI
flags readelf's values (raw dumps, "Unknown attribute:" lines, are left to the text test).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import DEB_ARCHES, FIXTURES, cross_fixtures, deb_sample, is_elf, run_elfkit
from elfkit.elf import ElfFile
from elfkit.render.inspect_json import arch_specific_view
from elfkit.render.inspect_text import write_inspect_text

READELF = shutil.which("readelf")
pytestmark = pytest.mark.skipif(READELF is None, reason="GNU readelf is not installed")
SAMPLE_PER_ARCH = int(os.environ.get("ELFKIT_ATTRIBUTES_SAMPLE", "3"))


def readelf_a(path) -> tuple[str, str]:
    p = subprocess.run([READELF, "-A", "-W", str(path)], capture_output=True,
                       env={**os.environ, "LC_ALL": "C"})
    return (p.stdout.replace(b"^\xbf", b"^?").decode("utf-8", "backslashreplace"),
            p.stderr.decode("utf-8", "backslashreplace"))


def elfkit_a(path) -> tuple[str, ElfFile]:
    elf = ElfFile.open(path)
    out = io.StringIO()
    write_inspect_text(elf, ["arch_specific"], out)
    return out.getvalue(), elf


def without_mips_got(readelf: str, mine: str) -> tuple[str, str]:
    lines = readelf.split("\n")
    for i, line in enumerate(lines):
        if line.endswith("GOT:"):
            lines = lines[:i - 1 if i and not lines[i - 1] else i]
            break
    kept = mine.split("\n")
    if "(elfkit: " in mine:
        at = next(i for i, line in enumerate(kept) if line.startswith("(elfkit: "))
        kept = kept[:at - 1 if at and not kept[at - 1] else at] + kept[at + 1:]
    return "\n".join(lines).rstrip("\n"), "\n".join(kept).rstrip("\n")


def json_lines(view: dict) -> list[str]:
    """readelf's lines rebuilt from the JSON view alone."""
    out = []
    for sec in view["sections"]:
        for sub in sec["subsections"]:
            out.append(f"Attribute Section: {sub['vendor']}")
            for b in sub["blocks"]:
                scope = {1: "File Attributes", 2: "Section Attributes:",
                         3: "Symbol Attributes:"}.get(b["scope"], f"Unknown tag: {b['scope']}")
                out.append(scope + "".join(f" {i}" for i in b.get("indices", [])))
                for a in b["attributes"]:
                    out.append(f"  {a['name']}: {a['text']}" if a["name"] else a["text"])
    f = view["mips_abiflags"]
    if f:
        out += ["", f"MIPS ABI Flags Version: {f['version']}", "", f"ISA: {f['isa']}",
                f"GPR size: {f['gpr_size']}", f"CPR1 size: {f['cpr1_size']}",
                f"CPR2 size: {f['cpr2_size']}", f"FP ABI: {f['fp_abi_name']}",
                f"ISA Extension: {f['isa_ext_name']}", "ASEs:",
                *(f"\t{n}" for n in f["ases_names"]),
                f"FLAGS 1: {f['flags1']:08x}", f"FLAGS 2: {f['flags2']:08x}"]
    return out


def readelf_attribute_lines(text: str) -> list[str]:
    """readelf's lines that json_lines rebuilds (no raw dumps, no "Unknown attribute:")."""
    out = []
    for line in text.split("\n"):
        if line.startswith("  0x") or line.startswith("  Unknown attribute:") or \
                line.startswith("  Unknown GNU attribute:"):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return [line for i, line in enumerate(out) if line or (i + 1 < len(out) and (
        out[i + 1].startswith("MIPS ABI") or out[i + 1].startswith("ISA:")))]


# --- the files ---------------------------------------------------------------------------------
def _files():
    out = [pytest.param(p, id=str(p.relative_to(FIXTURES))) for p in cross_fixtures()
           if is_elf(p)]
    for arch in DEB_ARCHES:
        out += [pytest.param(p, id=str(p.relative_to(FIXTURES))) for p in deb_sample(arch, SAMPLE_PER_ARCH)]
    return out or [pytest.param(None, id="no-fixtures")]


@pytest.mark.parametrize("path", _files())
def test_text_and_json_match_readelf(path):
    if path is None:
        pytest.skip("no cross fixtures: run `make -C fixtures cross`")
    expected, errors = readelf_a(path)
    mine, elf = elfkit_a(path)
    assert not errors and not elf.warnings
    want, got = without_mips_got(expected, mine)
    assert got == want
    view = json.loads(json.dumps(arch_specific_view(elf)))
    assert json_lines(view) == readelf_attribute_lines(want)


# --- synthetic sections --------------------------------------------------------------------------
EM = {"arm": 40, "riscv": 243, "ppc": 20, "s390": 22, "sparc": 43, "mips": 8, "m68k": 4,
      "x86_64": 62}
SHT_GNU_ATTRIBUTES, SHT_PROC_ATTRIBUTES = 0x6FFFFFF5, 0x70000003
BASES = {"le32": "arm/reloc.o", "le64": "riscv64/reloc.o", "be32": "ppc/reloc.o",
         "be64": "s390x/reloc.o"}


def uleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def block(scope: int, body: bytes, order: str, indices=()) -> bytes:
    if scope in (2, 3):
        body = b"".join(uleb(i) for i in indices) + b"\0" + body
    return bytes([scope]) + struct.pack(order + "I", 5 + len(body)) + body


def vendor(name: str, blocks: list[bytes], order: str) -> bytes:
    body = name.encode() + b"\0" + b"".join(blocks)
    return struct.pack(order + "I", 4 + len(body)) + body


def section(vendors: list[bytes]) -> bytes:
    return b"A" + b"".join(vendors)


def s(text: str) -> bytes:
    return text.encode() + b"\0"


def arm_pairs() -> bytes:
    """Every tag 0..80, each with the values readelf names and two past them."""
    table_sizes = {6: 23, 8: 2, 9: 4, 10: 9, 11: 3, 12: 5, 13: 8, 14: 4, 15: 4, 16: 3, 17: 3,
                   18: 5, 19: 2, 20: 3, 21: 2, 22: 2, 23: 4, 26: 4, 27: 4, 28: 4, 29: 3, 30: 7,
                   31: 7, 34: 2, 36: 2, 38: 3, 42: 2, 44: 3, 46: 2, 48: 3, 50: 3, 52: 3, 74: 2,
                   76: 2, 66: 2, 68: 4, 70: 2}
    out = bytearray()
    for tag in range(0, 81):
        if tag in table_sizes:
            for v in range(table_sizes[tag] + 2):
                out += uleb(tag) + uleb(v)
            out += uleb(tag) + uleb(300)
        elif tag in (4, 5, 67):
            out += uleb(tag) + s(f"cpu {tag}") + uleb(tag) + s("")
        elif tag == 7:
            for v in (0, ord("A"), ord("R"), ord("M"), ord("S"), 1, 200):
                out += uleb(tag) + uleb(v)
        elif tag in (24, 25):
            for v in range(15):
                out += uleb(tag) + uleb(v)
        elif tag == 32:
            out += uleb(tag) + uleb(1) + s("gnu") + uleb(tag) + uleb(0) + s("ARM")
        elif tag == 64:
            out += uleb(tag) + b"\0"
        elif tag == 65:
            for v in (0, 10, 22, 23, 99):
                out += uleb(tag) + uleb(6) + uleb(v) + b"\0"
            out += uleb(tag) + uleb(8) + uleb(1) + b"\0"
        elif tag & 1:
            out += uleb(tag) + s(f"str{tag}\x01\x7f")
        else:
            out += uleb(tag) + uleb(tag * 1000) + uleb(tag) + uleb(0)
    return bytes(out)


def riscv_pairs() -> bytes:
    out = bytearray()
    for tag in range(0, 41):
        if tag == 4:
            for v in (0, 4, 8, 16, 1 << 40):
                out += uleb(tag) + uleb(v)
        elif tag == 5:
            out += uleb(tag) + s("rv64i2p1_m2p0_a2p1_f2p2_d2p2_c2p0_zicsr2p0_zifencei2p0")
        elif tag == 6:
            out += uleb(tag) + uleb(0) + uleb(tag) + uleb(1)
        elif tag in (8, 10, 12):
            for v in (0, 1, 2, 11, 200):
                out += uleb(tag) + uleb(v)
        elif tag & 1:
            out += uleb(tag) + s(f"riscv{tag}")
        else:
            out += uleb(tag) + uleb(tag * 77)
    out += uleb(6) + uleb(2)            # readelf prints no value and no newline: last
    return bytes(out)


def gnu_pairs() -> bytes:
    """The "gnu" vendor's tags 1..40 (PowerPC, s390, SPARC, MIPS and m68k name 4, 8 and 12)
    with values 0..20 and a few large ones; tag 0 (which swallows the rest) last."""
    out = bytearray()
    for tag in range(1, 41):
        if tag == 32:
            out += uleb(tag) + uleb(1) + s("gnu")
        elif tag in (4, 8, 12):
            for v in list(range(21)) + [0x3FFF, 0x12345]:
                out += uleb(tag) + uleb(v)
        elif tag & 1:
            out += uleb(tag) + s(f"gnu{tag}")
        else:
            out += uleb(tag) + uleb(tag + 1000)
    return bytes(out + uleb(0) + b"swallowed")


def retarget(base: str, machine: int, sh_type: int, blob: bytes, tmp_path: Path,
             name: str) -> Path:
    """A copy of fixture `base` with e_machine `machine` and its last-but-one section header
    (or .ARM.attributes on ARM) of type `sh_type`, pointing at `blob` appended to the file."""
    data = bytearray((FIXTURES / "cross" / base).read_bytes())
    is64, order = data[4] == 2, "<" if data[5] == 1 else ">"
    struct.pack_into(order + "H", data, 18, machine)
    if is64:
        shoff, = struct.unpack_from(order + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(order + "HH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(order + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(order + "HH", data, 0x2E)
    types = [struct.unpack_from(order + "I", data, shoff + i * shentsize + 4)[0]
             for i in range(shnum)]
    index = types.index(SHT_PROC_ATTRIBUTES) if SHT_PROC_ATTRIBUTES in types else shnum - 2
    for i, t in enumerate(types):             # no other attributes section
        if i != index and t in (SHT_PROC_ATTRIBUTES, SHT_GNU_ATTRIBUTES):
            struct.pack_into(order + "I", data, shoff + i * shentsize + 4, 1)
    at = shoff + index * shentsize
    offset = len(data)
    data += blob
    struct.pack_into(order + "I", data, at + 4, sh_type)
    if is64:
        struct.pack_into(order + "QQ", data, at + 0x18, offset, len(blob))
    else:
        struct.pack_into(order + "II", data, at + 0x10, offset, len(blob))
    out = tmp_path / name
    out.write_bytes(bytes(data))
    return out


def _need_bases():
    missing = [b for b in BASES.values() if not (FIXTURES / "cross" / b).is_file()]
    if missing:
        pytest.skip(f"cross fixtures missing ({', '.join(missing)}): make -C fixtures cross")


def synthetic(machine: str, order: str) -> tuple[int, bytes]:
    o = "<" if order.startswith("le") else ">"
    gnu = vendor("gnu", [block(1, gnu_pairs(), o)], o)
    foo = vendor("foo", [block(1, b"\x01\x02hello\0" + bytes(range(40)), o)], o)
    if machine == "arm":
        pub = vendor("aeabi", [block(1, arm_pairs(), o),
                               block(2, uleb(6) + uleb(10) + uleb(5) + s("x"), o, (1, 2, 300)),
                               block(3, uleb(8) + uleb(1), o, (7,)),
                               block(9, b"\x05\x06raw bytes\0\x07", o),
                               block(1, uleb(6) + uleb(3), o)], o)
        return SHT_PROC_ATTRIBUTES, section([pub, gnu, foo])
    if machine == "riscv":
        pub = vendor("riscv", [block(1, riscv_pairs(), o)], o)
        return SHT_PROC_ATTRIBUTES, section([pub, foo, gnu])
    return SHT_GNU_ATTRIBUTES, section([gnu, foo])


@pytest.mark.parametrize("order", list(BASES))
@pytest.mark.parametrize("machine", list(EM))
def test_synthetic_every_tag(machine, order, tmp_path):
    _need_bases()
    sh_type, blob = synthetic(machine, order)
    path = retarget(BASES[order], EM[machine], sh_type, blob, tmp_path, f"{machine}-{order}")
    expected, errors = readelf_a(path)
    mine, elf = elfkit_a(path)
    assert expected.count("Attribute Section:") >= 2
    assert not errors and not elf.warnings
    assert mine.rstrip("\n") == expected.rstrip("\n")
    view = json.loads(json.dumps(arch_specific_view(elf)))
    if machine not in ("riscv", "m68k"):    # a value readelf leaves unfinished (no newline):
        # RISC-V's unaligned_access 2, m68k's ABI_FP 3
        assert json_lines(view) == readelf_attribute_lines(expected)


# --- damage ---------------------------------------------------------------------------------------
def _damaged(kind: str) -> tuple[str, bytes]:
    o = "<"
    good = block(1, uleb(5) + s("7-A") + uleb(6) + uleb(10), o)
    if kind == "subsection-length":         # the vendor subsection claims 0x100 more bytes
        v = bytearray(vendor("aeabi", [good], o))
        struct.pack_into("<I", v, 0, len(v) + 0x100)
        return "arm", b"A" + bytes(v)
    if kind == "block-length":              # the File block runs past the section
        b = bytearray(good)
        struct.pack_into("<I", b, 1, len(b) + 0x40)
        return "arm", section([vendor("aeabi", [bytes(b)], o)])
    if kind == "truncated-uleb":            # a value's ULEB128 cut by the block's end
        return "riscv", section([vendor("riscv", [block(1, uleb(4) + b"\x90", o)], o)])
    if kind == "version":
        return "arm", b"B" + section([vendor("aeabi", [good], o)])[1:]
    if kind == "short-tail":                # four bytes left: no room for a subsection
        return "arm", section([vendor("aeabi", [good], o)]) + b"\0\0\0\0"
    raise AssertionError(kind)


DAMAGE = ["subsection-length", "block-length", "truncated-uleb", "version", "short-tail"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_sections_warn_like_readelf(kind, tmp_path):
    _need_bases()
    machine, blob = _damaged(kind)
    path = retarget(BASES["le32" if machine == "arm" else "le64"], EM[machine],
                    SHT_PROC_ATTRIBUTES, blob, tmp_path, kind)
    expected, errors = readelf_a(path)
    mine, elf = elfkit_a(path)
    assert len(elf.warnings) == 1, elf.warnings
    if kind == "version":
        assert expected.startswith("Unknown attributes version 'B'(66)")
    else:
        assert errors.count("Error:") == 1, errors
    assert mine.rstrip("\n") == expected.rstrip("\n")


@pytest.mark.parametrize("kind", ["subsection-length", "block-length"])
def test_damage_on_the_command_line(kind, tmp_path):
    _need_bases()
    machine, blob = _damaged(kind)
    path = retarget(BASES["le32"], EM[machine], SHT_PROC_ATTRIBUTES, blob, tmp_path, kind)
    for args in (["-A"], ["--arch-specific", "--json"]):
        p = run_elfkit("inspect", *args, path)
        err = p.stderr.decode()
        assert p.returncode == 2, err
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1 and "warning" in err
        if "--json" in args:
            doc = json.loads(p.stdout)
            assert len(doc["warnings"]) == 1
            assert doc["arch_specific"]["sections"][0]["subsections"][0]["vendor"] == "aeabi"
        else:
            assert p.stdout.decode().startswith("Attribute Section: aeabi\n")


def test_section_past_end_of_file(tmp_path):
    _need_bases()
    path = retarget(BASES["be64"], EM["s390"], SHT_GNU_ATTRIBUTES,
                    section([vendor("gnu", [block(1, uleb(8) + uleb(2), ">")], ">")]),
                    tmp_path, "past-eof")
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[:-4]))          # the section's last bytes are gone
    expected, errors = readelf_a(path)
    mine, elf = elfkit_a(path)
    assert expected == "" and mine == ""
    assert errors.count("Error:") == 1 and len(elf.warnings) == 1


def test_all_includes_arch_specific_and_files_without_attributes_print_nothing():
    files = [p for p in cross_fixtures("arm") + cross_fixtures("aarch64") if is_elf(p)]
    if not files:
        pytest.skip("no cross fixtures")
    arm = next(p for p in files if "/arm/" in str(p))
    a64 = next(p for p in files if "/aarch64/" in str(p))
    p = run_elfkit("inspect", "--all", arm)
    assert p.returncode == 0
    assert "\nAttribute Section: aeabi\nFile Attributes\n" in p.stdout.decode()
    p = run_elfkit("inspect", "-A", a64)
    assert p.returncode == 0 and p.stdout == b"" and readelf_a(a64)[0] == ""
    doc = json.loads(run_elfkit("inspect", "-A", "--json", a64).stdout)
    assert doc["arch_specific"] == {"sections": [], "mips_abiflags": None, "unsupported": None}


def test_strings_as_readelf_prints_them(tmp_path):
    """UTF-8, bytes that are not UTF-8, control characters and DEL in attribute strings."""
    _need_bases()
    o = "<"
    body = (uleb(5) + "é-ü".encode() + b"\0" + uleb(67) + b"a\xffb\xc3\0" + uleb(4)
            + b"x\x80\x1b[0m\x7f\0" + uleb(32) + uleb(3) + b"v\x02\0")
    blob = section([vendor("aeabi", [block(1, body, o)], o)])
    path = retarget(BASES["le32"], EM["arm"], SHT_PROC_ATTRIBUTES, blob, tmp_path, "strings")
    expected, errors = readelf_a(path)
    mine, elf = elfkit_a(path)
    assert not errors and not elf.warnings
    assert mine == expected
    assert "\x1b" not in mine


def test_mutated_sections_never_raise(tmp_path):
    """Random bytes changed in (or cut from) synthetic attribute sections: the views come
    back with warnings, never an exception; every warning is one printable line."""
    import random
    _need_bases()
    from elfkit.render.inspect_json import write_inspect_json
    rnd = random.Random(18)
    for machine, order in (("arm", "be32"), ("riscv", "le64"), ("mips", "be64"),
                           ("x86_64", "le32")):
        sh_type, blob = synthetic(machine, order)
        base = retarget(BASES[order], EM[machine], sh_type, blob, tmp_path,
                        f"{machine}-{order}").read_bytes()
        for _ in range(60):
            data = bytearray(base)
            for _ in range(rnd.randint(1, 4)):
                data[len(base) - len(blob) + rnd.randrange(len(blob))] = rnd.randrange(256)
            if rnd.random() < 0.25:
                data = data[:len(data) - rnd.randrange(1, 64)]
            elf = ElfFile.from_bytes(bytes(data))
            write_inspect_text(elf, ["arch_specific"], io.StringIO())
            write_inspect_json(elf, ["arch_specific"], io.StringIO())
            assert all(w.isprintable() for w in elf.warnings)
