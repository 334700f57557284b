"""`elfkit inspect` on other machines' files against GNU readelf -W (binutils 2.40, which
decodes every machine): the machine-specific parts of the header (-h: machine name and the
decoded e_flags), section types (-S), segment types (-l), dynamic tags and their values (-d)
and the st_other bits beside a symbol's visibility (-s: [VARIANT_PCS], [<localentry>: 8],
[MIPS16], ...).

Files: every cross fixture (tests/conftest.py cross_fixtures(): aarch64 arm riscv64 ppc64le
ppc64 ppc s390x mips mips64el sparc64 i386; relocatable, shared, PIE, executable) and a sample
of the real Debian files in fixtures/build/debs/<arch>/ (SAMPLE_PER_ARCH ELF files per
architecture, always libc.so.6 and bin/ls first); tests skip when a file is missing.

Text is compared row by row, not byte for byte: elfkit's text keeps readelf's columns but not
all of its spacing.  Besides the normalisations of tests/readelf_oracle.py (used here through
run_readelf and Oracle for the JSON header), these are made, each on both sides:

- runs of blanks become one blank and trailing blanks go (elfkit's dynamic Type column is 28
  wide where readelf's is 20, its symbol Vis/Ndx columns are split differently);
- `0x` numbers lose their leading zeros (readelf prints 32-bit dynamic tags in 8 digits and
  ELF32 FileSiz/MemSiz in 5, elfkit in 16 and 6);
- header: only the first word of `Type:` is compared (elfkit prints `DYN`, readelf
  `DYN (Shared object file)`);
- segments: the section-to-segment mapping rows are compared with blanks normalised as above
  (readelf ends an empty row with one blank fewer);
- symbols: each row up to and including Ndx (the st_other text in brackets included); the
  name column is left to test_inspect_readelf.py, whose oracle knows readelf's version suffixes
  (` (2)`, `NAME@@NAME` for version definitions).

- symbols: rows are matched after the blank normalisation above (readelf's Vis column is
  `%-7s`, so `HIDDEN` is followed by two blanks before a `[...]`).

JSON: header `flags` and `flags_names` (readelf's words after `Flags: 0x..`), sections'
`type_name`, segments' `type_name` (readelf's column is cut to 14 characters), dynamic
`tag_name`, and for symbols with st_other bits above the visibility `other_name`.

Numbers no fixture carries are checked on small synthetic files made here, shown by readelf
and named by elfkit's functions (or its command line for symbols):
- e_flags: a fixture's 64-byte ELF header with e_flags patched (LoongArch: e_machine patched
  to 258 in an AArch64 header), readelf -h's Flags words vs machines.machine_flags;
- section types, segment types and dynamic tags 0x70000000..0x7000003f for ten machines
  (one ELF64 file each; dynamic values are the tag's low bits, there is no string table, so
  MIPS_IVERSION reads `<corrupt: 4>` on both sides);
- st_other 0..255 with symbol types 0..15 for the same ten machines (readelf -s vs
  `elfkit inspect --symbols`);
- e_machine 0..0x12f plus readelf's unofficial numbers: readelf -h's Machine vs machine_name.

Machine quirks of readelf 2.40 followed here (not bugs of ours): PowerPC64's local-entry field
1 prints `<localentry>: 1` (the others as bytes: 2..6 -> 4 << (v - 2)); on RISC-V any
st_other bit besides VARIANT_CC prints as the bare hex of those bits and hides VARIANT_CC.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import DEB_ARCHES, FIXTURES, cross_fixtures, deb_sample, is_elf, run_elfkit
from readelf_oracle import Oracle, run_readelf

SAMPLE_PER_ARCH = int(os.environ.get("ELFKIT_MACHINES_SAMPLE", "4"))
VIEWS = ["header", "sections", "segments", "dynamic", "symbols"]



def machine_sample(arch: str) -> list[Path]:
    """libc.so.6 and ls first, then other files spread over the architecture's list."""
    return deb_sample(arch, SAMPLE_PER_ARCH, first=("lib/*/libc.so.6", "bin/ls"))


def _files():
    out = [pytest.param(p, id=str(p.relative_to(FIXTURES))) for p in cross_fixtures()
           if is_elf(p)]
    for arch in DEB_ARCHES:
        out += [pytest.param(p, id=str(p.relative_to(FIXTURES))) for p in machine_sample(arch)]
    if not out:
        out = [pytest.param(None, id="no-fixtures")]
    return out


FILES = _files()

# --------------------------------------------------------------------------
# normalisation

_HEX0 = re.compile(r"0x0+(?=[0-9a-f])")
_BLANKS = re.compile(r" +")


def _norm(line: str) -> str:
    return _BLANKS.sub(" ", _HEX0.sub("0x", line)).strip()


_HEADINGS = [("header", re.compile(r"^ELF Header:")),
             ("sections", re.compile(r"^(Section Headers|There are no sections)")),
             ("segments", re.compile(r"^(Program Headers|There are no program headers)")),
             ("dynamic", re.compile(r"^(Dynamic section at|There is no dynamic section)")),
             ("symbols", re.compile(r"^Symbol table '")),
             ("other", re.compile(r"^(Relocation section|There are no relocations|"
                                  r"Displaying notes|Version |No version|Elf file type|"
                                  r"Key to Flags|There are \d+ section headers|"
                                  r"Entry point 0x)"))]


def split_views(text: str) -> dict:
    """The lines of readelf's (or elfkit's) text, by view."""
    views: dict = {v: [] for v in VIEWS}
    cur = None
    for line in text.splitlines():
        for name, pat in _HEADINGS:
            if pat.match(line):
                cur = name
                break
        if cur in views:
            views[cur].append(line)
    return views


_SEC_ROW = re.compile(r"^  \[ *\d+\]")
_PH_ROW = re.compile(r"^  [A-Z<]\S*\s+0x")
_MAP_ROW = re.compile(r"^   \d\d ")
_DYN_ROW = re.compile(r"^ 0x[0-9a-f]+ ")
_SYM_ROW = re.compile(r"^ *(\d+): (\S+) +(\S+) (\S+) +(\S+) +(\S+)( \[[^\]]*\])? +(\S+)")


def rows(view: str, lines: list[str]) -> list:
    if view == "header":
        out = {}
        for line in lines:
            key, sep, val = line.strip().partition(":")
            if not sep or key in ("ELF Header", "Magic"):
                continue
            val = _norm(val)
            if key == "Type":
                val = val.split()[0] if val else val
            out.setdefault(key, []).append(val)
        return sorted(out.items())
    if view == "sections":
        return [_norm(line) for line in lines if _SEC_ROW.match(line)]
    if view == "segments":
        return [_norm(line) for line in lines if _PH_ROW.match(line) or _MAP_ROW.match(line)]
    if view == "dynamic":
        return [_norm(line) for line in lines if _DYN_ROW.match(line)]
    if view == "symbols":
        tables, cur = {}, None
        for line in lines:
            m = re.match(r"^Symbol table '([^']*)'", line)
            if m:
                cur = tables.setdefault(m.group(1), [])
                continue
            m = _SYM_ROW.match(_norm(line))
            if m and cur is not None:
                cur.append(" ".join(g.strip() for g in m.groups() if g))
        return sorted(tables.items())
    raise AssertionError(view)


# --------------------------------------------------------------------------
# running

_cache: dict = {}


def elfkit_text(path) -> dict:
    key = ("text", str(path))
    if key not in _cache:
        proc = run_elfkit("inspect", "--header", "--sections", "--segments", "--dynamic",
                          "--symbols", "--dyn-syms", path)
        _cache[key] = split_views(proc.stdout.decode("utf-8", "surrogateescape"))
    return _cache[key]


def elfkit_json(path) -> dict:
    key = ("json", str(path))
    if key not in _cache:
        proc = run_elfkit("inspect", "--json", "--header", "--sections", "--segments",
                          "--dynamic", "--symbols", "--dyn-syms", path)
        _cache[key] = json.loads(proc.stdout)
    return _cache[key]


def readelf_text(path) -> dict:
    return split_views(run_readelf(str(path), "-h", "-S", "-l", "-d", "-s"))


def _need(path):
    if path is None or not Path(path).is_file():
        pytest.skip("fixture not built (make fixtures / .ci/run)")


def _compare(want, got, what):
    if want == got:
        return
    w, g = (want, got) if isinstance(want, list) else (list(want), list(got))
    diffs = [f"  readelf: {a!r}\n  elfkit:  {b!r}" for a, b in zip(w, g) if a != b][:8]
    if len(w) != len(g):
        diffs.append(f"  {len(w)} readelf rows, {len(g)} elfkit rows")
    pytest.fail(f"{what} differs:\n" + "\n".join(diffs))


# --------------------------------------------------------------------------
# tests

@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("path", FILES)
def test_text_matches_readelf(path, view):
    _need(path)
    _compare(rows(view, readelf_text(path)[view]), rows(view, elfkit_text(path)[view]),
             f"{path}: {view}")


@pytest.mark.parametrize("path", FILES)
def test_json_machine_names(path):
    _need(path)
    d = elfkit_json(path)
    re_ = readelf_text(path)
    # header: e_flags and its words
    flags_line = next(line for line in re_["header"] if line.strip().startswith("Flags:"))
    words = [w.strip() for w in flags_line.split(":", 1)[1].split(",")]
    assert d["header"]["flags"] == Oracle(str(path)).header()["flags"]
    assert d["header"]["flags_names"] == words[1:]
    # sections
    want = [m.group(1) for m in (re.match(r"^  \[ *\d+\] \S* +(\S+)", line)
                                 for line in re_["sections"] if _SEC_ROW.match(line)) if m]
    if len(want) == len(d.get("sections") or []):
        assert [s["type_name"] for s in d["sections"]] == want
    # segments: readelf cuts the type to 14 characters
    want = [line[2:16].strip() for line in re_["segments"] if _PH_ROW.match(line)]
    got = [s["type_name"][:14] for s in d.get("segments") or []]
    assert got == want
    # dynamic tags
    want = [re.match(r"^ 0x[0-9a-f]+ \(([^)]*)\)", line).group(1)
            for line in re_["dynamic"] if _DYN_ROW.match(line)]
    got = [e["tag_name"] for e in (d.get("dynamic") or {}).get("entries", [])]
    assert got == want
    # st_other beside the visibility
    want = sorted(m.group(7).strip()[1:-1] for m in map(_SYM_ROW.match, re_["symbols"])
                  if m and m.group(7))
    tables = []
    for key in ("symbols", "dyn_syms"):
        v = d.get(key)
        if isinstance(v, dict):
            tables.append(v)
        elif isinstance(v, list):
            tables += v
    got = sorted(e["other_name"] for t in tables for e in t["entries"] if "other_name" in e)
    assert got == want


# --------------------------------------------------------------------------
# e_flags values no fixture carries: a copy of a fixture's ELF header with e_flags (and for
# LoongArch e_machine) patched, shown by readelf -h and decoded by machines.machine_flags

_FLAG_CASES = {
    # machine directory, e_machine override, e_flags values
    "arm": (None, [0x5000200, 0x5000000, 0x5800400, 0x4400000, 0x4000000, 0x3000000, 0x2000018,
                   0x1000004, 0x1000008, 0x6000000, 0x00000004, 0x00000216, 0x21, 0x5000201,
                   0x5001000, 0x10]),
    "mips": (None, [0x1, 0x70001007, 0x50001107, 0x00001404, 0x90001600, 0x30000006,
                    0x108a1027, 0x00a22000, 0x0e003007, 0x000f4000, 0xf0000000, 0x20,
                    0x80, 0x10]),
    "mips64el": (None, [0x80000006, 0xa0000407, 0x608b0007, 0x80a40006]),
    "riscv64": (None, [0x1, 0x5, 0x3, 0x7, 0x19, 0x10, 0x8, 0x4, 0x20]),
    "ppc64": (None, [0x1, 0x2, 0x3, 0x4]),
    "ppc": (None, [0x80000000, 0x10000, 0x8000, 0x80018000, 0x1]),
    "sparc64": (None, [0x2, 0x1, 0x3, 0x100, 0x200, 0x800, 0x400, 0x800000, 0xb02]),
    "s390x": (None, [0x1, 0x2]),
    "aarch64": (258, [0x1, 0x2, 0x3, 0x41, 0x43, 0x80, 0x7, 0xc3]),    # as LoongArch
}


def _flag_params():
    out = []
    for mdir, (machine, values) in _FLAG_CASES.items():
        for v in values:
            out.append(pytest.param(mdir, machine, v, id=f"{mdir}-{machine or ''}-{v:#x}"))
    return out


@pytest.mark.parametrize("mdir,machine,value", _flag_params())
def test_e_flags_like_readelf(tmp_path, mdir, machine, value):
    import struct
    from elfkit.elf.machines import machine_flags
    src = next((p for p in cross_fixtures(mdir) if p.name == "reloc.o"), None)
    _need(src)
    head = bytearray(src.read_bytes()[:64])
    is64, little = head[4] == 2, head[5] == 1
    end = "<" if little else ">"
    struct.pack_into(end + "I", head, 0x30 if is64 else 0x24, value)
    if machine is not None:
        struct.pack_into(end + "H", head, 0x12, machine)
    struct.pack_into(end + ("Q" if is64 else "I"), head, 0x28 if is64 else 0x20, 0)   # no shdrs
    struct.pack_into(end + "H", head, 0x3C if is64 else 0x30, 0)
    struct.pack_into(end + "H", head, 0x3E if is64 else 0x32, 0)
    f = tmp_path / "h.o"
    f.write_bytes(bytes(head))
    text = run_readelf(str(f), "-h")
    line = next(x for x in text.splitlines() if x.strip().startswith("Flags:"))
    want = [w.strip() for w in line.split(":", 1)[1].split(",")][1:]
    em = machine if machine is not None else struct.unpack_from(end + "H", head, 0x12)[0]
    assert machine_flags(em, value) == want


# --------------------------------------------------------------------------
# processor-specific numbers no fixture carries: one synthetic ELF64 file per machine with a
# section header, a program header and a dynamic entry for each number 0x70000000..0x7000003f,
# shown by readelf -S / -l / -d and named by elfkit's own functions

_PROC_MACHINES = {"ARM": 40, "MIPS": 8, "RISC-V": 243, "PowerPC": 20, "PowerPC64": 21,
                  "SPARCv9": 43, "AArch64": 183, "S390": 22, "LoongArch": 258, "X86-64": 62}
_NPROC = 0x40


def _synthetic(e_machine: int) -> bytes:
    import struct
    shstr = b"\0.shstrtab\0.s\0.dynamic\0"
    nsec = _NPROC + 3                      # null, the processor sections, .dynamic, .shstrtab
    nph = _NPROC + 1                       # the processor segments, PT_DYNAMIC
    phoff = 64
    dynoff = phoff + 56 * nph
    dyn = b"".join(struct.pack("<qQ", 0x70000000 + i, i) for i in range(_NPROC)) + \
        struct.pack("<qQ", 0, 0)
    stroff = dynoff + len(dyn)
    shoff = (stroff + len(shstr) + 7) & ~7
    head = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, bytes(7), 3,
                       e_machine, 1, 0, phoff, shoff, 0, 64, 56, nph, 64, nsec, nsec - 1)
    phs = b"".join(struct.pack("<IIQQQQQQ", 0x70000000 + i, 4, 0, 0, 0, 0, 0, 1)
                   for i in range(_NPROC))
    phs += struct.pack("<IIQQQQQQ", 2, 4, dynoff, 0, 0, len(dyn), len(dyn), 8)
    shs = bytes(64)
    shs += b"".join(struct.pack("<IIQQQQIIQQ", 11, 0x70000000 + i, 0, 0, 0, 0, 0, 0, 1, 0)
                    for i in range(_NPROC))
    shs += struct.pack("<IIQQQQIIQQ", 14, 6, 0, 0, dynoff, len(dyn), 0, 0, 8, 16)
    shs += struct.pack("<IIQQQQIIQQ", 1, 3, 0, 0, stroff, len(shstr), 0, 0, 1, 0)
    body = head + phs + dyn + shstr
    return body + bytes(shoff - len(body)) + shs


@pytest.mark.parametrize("name", list(_PROC_MACHINES))
def test_processor_specific_names_like_readelf(tmp_path, name):
    from elfkit.elf.constants import dynamic_tag_name, section_type_name, segment_type_name
    from elfkit.elf.machines import dynamic_value_text
    em = _PROC_MACHINES[name]
    f = tmp_path / f"proc-{em}.so"
    f.write_bytes(_synthetic(em))
    views = split_views(run_readelf(str(f), "-S", "-l", "-d"))
    want = [re.match(r"^  \[ *\d+\] \S* +(\S+)", line).group(1)
            for line in views["sections"] if _SEC_ROW.match(line)][1:_NPROC + 1]
    assert [section_type_name(0x70000000 + i, em) for i in range(_NPROC)] == want
    want = [line[2:16].strip() for line in views["segments"] if _PH_ROW.match(line)][:_NPROC]
    assert [segment_type_name(0x70000000 + i, em)[:14] for i in range(_NPROC)] == want
    got, want = [], []
    for line in views["dynamic"]:
        m = re.match(r"^ 0x([0-9a-f]+) \(([^)]*)\) *(.*)$", line)
        if not m or int(m.group(1), 16) < 0x70000000:
            continue
        tag = int(m.group(1), 16)
        value = tag - 0x70000000
        want.append((m.group(2), m.group(3).strip()))
        text = dynamic_value_text(tag, value, em)
        got.append((dynamic_tag_name(tag, em), (f"{value:#x}" if text is None else text)))
    assert got == want


def _synthetic_symbols(e_machine: int) -> bytes:
    """ELF64 relocatable with a .symtab of 256 symbols: symbol i has st_other i and
    st_info (GLOBAL, type i & 15)."""
    import struct
    shstr = b"\0.symtab\0.strtab\0.shstrtab\0"
    strtab = b"\0s\0"
    syms = bytes(24) + b"".join(struct.pack("<IBBHQQ", 1, 0x10 | (i & 15), i, 1, i, 0)
                                for i in range(256))
    symoff = 64
    stroff = symoff + len(syms)
    shstroff = stroff + len(strtab)
    shoff = (shstroff + len(shstr) + 7) & ~7
    head = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, bytes(7), 1,
                       e_machine, 1, 0, 0, shoff, 0, 64, 56, 0, 64, 4, 3)
    shs = bytes(64)
    shs += struct.pack("<IIQQQQIIQQ", 1, 2, 0, 0, symoff, len(syms), 2, 1, 8, 24)
    shs += struct.pack("<IIQQQQIIQQ", 9, 3, 0, 0, stroff, len(strtab), 0, 0, 1, 0)
    shs += struct.pack("<IIQQQQIIQQ", 17, 3, 0, 0, shstroff, len(shstr), 0, 0, 1, 0)
    body = head + syms + strtab + shstr
    return body + bytes(shoff - len(body)) + shs


@pytest.mark.parametrize("name", list(_PROC_MACHINES))
def test_symbol_other_and_types_like_readelf(tmp_path, name):
    em = _PROC_MACHINES[name]
    f = tmp_path / f"syms-{em}.o"
    f.write_bytes(_synthetic_symbols(em))
    want = rows("symbols", split_views(run_readelf(str(f), "-s"))["symbols"])
    proc = run_elfkit("inspect", "--symbols", f)
    got = rows("symbols", split_views(proc.stdout.decode())["symbols"])
    _compare(want, got, f"{name}: symbols")


def test_machine_names_like_readelf(tmp_path):
    """readelf -h's Machine: for e_machine 0..0x12f and every unofficial number it knows, one
    64-byte header each, all in one readelf run."""
    import struct
    import subprocess
    from elfkit.elf.constants import machine_name
    from elfkit.elf.machines import MORE_MACHINE_NAMES
    ems = sorted(set(range(0x130)) | {k for k in MORE_MACHINE_NAMES if k >= 0x130} | {0x1234})
    files = []
    for em in ems:
        f = tmp_path / str(em)
        f.write_bytes(struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, bytes(7),
                                  1, em, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0))
        files.append(str(f))
    out = subprocess.run(["readelf", "-h", *files], capture_output=True, text=True,
                         env=dict(os.environ, LC_ALL="C")).stdout
    want, cur = {}, None
    for line in out.splitlines():
        if line.startswith("File: "):
            cur = int(line[6:].rsplit("/", 1)[1])
        elif "Machine:" in line:
            want[cur] = line.split(":", 1)[1].strip()
    assert len(want) == len(ems)
    assert {em: machine_name(em) for em in ems} == want
