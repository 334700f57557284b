"""`elfkit inspect --relocs` is readelf -W -r's text byte for byte, on every machine.

test_inspect_cross.py and test_inspect_readelf.py compare the fields of each relocation;
this module compares the whole text as printed: column widths of ELF32 and ELF64 (the
header line, three blanks after an ELF32 symbol value, 12 or 20 blanks before an addend
with no symbol), `unrecognized: %-7x`, `name()` for an IFUNC symbol, `<null>` for an
unnamed one, `@`/`@@` versions, control characters as `^X`, `bad symbol index`, "1 entry".

Oracle: the host's readelf (binutils 2.40), which decodes every machine.

Files:
- every cross fixture and the x86-64 fixtures, and a sample of the real Debian files of
  other architectures (as test_inspect_machines.machine_sample picks them);
- one synthetic relocatable file per (machine, class, byte order): REL and RELA tables
  naming every relocation type 0..255 (and AArch64's 257..1100, where its static and
  dynamic numbers are), against symbols of each kind -- so each machine's whole name table
  is checked, LoongArch's included, for which Debian has no cross binutils.

Differences written down and removed:
- a packed RELR table, which elfkit heads in binutils 2.43's form ("contains N entries (M
  relocations):" and "Address") where readelf 2.40 prints "contains N entries:" and "  M
  offsets" (test_inspect_cross.py compares the addresses); files with a .relr.dyn are
  compared up to that table's heading;
- DEL (0x7f) in a name: readelf 2.40 prints "^" and the byte 0xbf (0x7f + 0x40), elfkit
  "^?" as `cat -v` does; readelf's is rewritten to elfkit's;
- a file without section headers (hello-noshdr): readelf -r says "There are no static
  relocations", elfkit shows the dynamic section's tables (readelf -D's); not compared here
  (test_inspect_noshdr.py).
A symbol index past its table is an error on readelf's stderr and the line stops after the
type; elfkit stops the line the same way and warns on stderr, exit status 2.
"""
from __future__ import annotations

import struct
import subprocess

import pytest

from conftest import FIXTURES, cross_fixtures, is_elf, run_elfkit
from test_inspect_machines import machine_sample as deb_sample

DEB_ARCHES = ["arm64", "armhf", "ppc64el", "s390x", "mips64el", "i386"]


def _real_files():
    out = list(cross_fixtures())
    out += sorted(p for p in FIXTURES.iterdir()
                  if p.is_file() and is_elf(p) and "noshdr" not in p.name)[:60]
    for arch in DEB_ARCHES:
        out += deb_sample(arch)[:4]
    return out


REAL = _real_files()


def _cut_relr(text: str) -> str:
    """Everything before the first RELR table's heading."""
    i = text.find("Relocation section '.relr.dyn'")
    if i < 0:
        i = text.find("Relocation section 'RELR'")
    return text if i < 0 else text[:i]


def _compare(path):
    want = subprocess.run(["readelf", "-W", "-r", str(path)], capture_output=True)
    got = run_elfkit("inspect", "--relocs", str(path))
    assert got.returncode == (2 if want.stderr else 0), got.stderr
    w = _cut_relr(want.stdout.decode("latin-1").replace("^\xbf", "^?"))
    g = _cut_relr(got.stdout.decode("latin-1"))
    if w != g:
        wl, gl = w.splitlines(), g.splitlines()
        bad = next((i for i, (a, b) in enumerate(zip(wl, gl)) if a != b), min(len(wl), len(gl)))
        pytest.fail(f"{path}: line {bad + 1} differs ({len(wl)} vs {len(gl)} lines):\n"
                    f"readelf: {wl[bad] if bad < len(wl) else '<end>'!r}\n"
                    f"elfkit:  {gl[bad] if bad < len(gl) else '<end>'!r}")


@pytest.mark.skipif(not REAL, reason="no fixtures (make -C fixtures)")
@pytest.mark.parametrize("path", REAL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_files(path):
    _compare(path)


# (name, e_machine, is64, big-endian, relocation types shown)
MACHINES = [
    ("x86-64", 62, True, False, range(256)),
    ("i386", 3, False, False, range(256)),
    ("aarch64", 183, True, False, [*range(256), *range(257, 1101)]),
    ("aarch64-be", 183, True, True, range(250, 320)),
    ("arm", 40, False, False, range(256)),
    ("arm-be", 40, False, True, range(0, 40)),
    ("riscv64", 243, True, False, range(256)),
    ("riscv32", 243, False, False, range(256)),
    ("ppc", 20, False, True, range(256)),
    ("ppc64", 21, True, True, range(256)),
    ("ppc64le", 21, True, False, range(256)),
    ("s390x", 22, True, True, range(256)),
    ("s390", 22, False, True, range(256)),
    ("mips", 8, False, True, range(256)),
    ("mipsel", 8, False, False, range(256)),
    ("loongarch64", 258, True, False, range(256)),
    ("loongarch32", 258, False, False, range(256)),
    ("sparc", 2, False, True, range(256)),
    ("sparcv9", 43, True, True, [t for t in range(256) if t != 33]),   # OLO10: test_inspect_cross
]

# Symbols: (name, st_info, st_shndx, st_value). Index 1 is .text's section symbol.
SYMBOLS = [
    ("", 0, 0, 0),
    ("", 3, 1, 0),                                   # STT_SECTION: shown as ".text"
    ("func", 0x12, 1, 0x40),                         # GLOBAL FUNC
    ("ifunc_picker", 0x1A, 1, 0x80),                 # GLOBAL GNU_IFUNC: "name()"
    ("an_ifunc_with_a_long_name", 0x1A, 1, 0x90),    # longer than readelf's 14/8 columns
    ("", 0x10, 0, 0),                                # unnamed GLOBAL NOTYPE: "<null>"
    ("a_symbol_name_longer_than_twenty_two", 0x11, 1, 0x1234),
    ("ctl\x02name\x7f", 0x10, 0, 0),                 # control characters: "^B", "^?"
    ("undef", 0x10, 0, 0),
]


def _synthetic(e_machine: int, is64: bool, big: bool, types) -> bytes:
    """A relocatable file: .text, .symtab, .strtab, .rel.text, .rela.text, .rela.one (one
    entry), .shstrtab. Relocation k has type types[k], symbol k % (len(SYMBOLS) + 1) (the last
    is a bad index), and addend (k - 5) * 3 (negative ones included)."""
    e = ">" if big else "<"
    word = "Q" if is64 else "I"
    strtab = b"\0"
    name_off = []
    for name, *_ in SYMBOLS:
        if name:
            name_off.append(len(strtab))
            strtab += name.encode("latin-1") + b"\0"
        else:
            name_off.append(0)
    syms = b""
    for (name, info, shndx, value), off in zip(SYMBOLS, name_off):
        if is64:
            syms += struct.pack(e + "IBBHQQ", off, info, 0, shndx, value, 0)
        else:
            syms += struct.pack(e + "IIIBBH", off, value, 0, info, 0, shndx)
    nsym = len(SYMBOLS)

    def info(sym, t):
        return (sym << 32 | t) if is64 else (sym << 8 | t)

    rel = rela = b""
    for k, t in enumerate(types):
        sym = k % (nsym + 1)
        rel += struct.pack(e + word * 2, 16 * k, info(sym, t))
        rela += struct.pack(e + word * 2 + ("q" if is64 else "i"), 16 * k, info(sym, t), (k - 5) * 3)
    one = struct.pack(e + word * 2 + ("q" if is64 else "i"), 8, info(2, types[1]), -1)
    text = bytes(64)
    names = [b"", b".text", b".symtab", b".strtab", b".rel.text", b".rela.text", b".rela.one",
             b".shstrtab"]
    shstr = b"\0"
    shname = []
    for n in names:
        shname.append(len(shstr) - 1 if not n else len(shstr))
        if n:
            shstr += n + b"\0"
    shname[0] = 0
    ehsize, shentsize = (64, 64) if is64 else (52, 40)
    blobs = [text, syms, strtab, rel, rela, one, shstr]
    offsets, pos = [], ehsize
    for b in blobs:
        pos = (pos + 7) & ~7
        offsets.append(pos)
        pos += len(b)
    shoff = (pos + 7) & ~7
    symsize = 24 if is64 else 16
    relsize, relasize = (16, 24) if is64 else (8, 12)
    # (type, flags, link, info, entsize)
    meta = [(1, 6, 0, 0, 0), (2, 0, 3, 2, symsize), (3, 0, 0, 0, 0), (9, 0x40, 2, 1, relsize),
            (4, 0x40, 2, 1, relasize), (4, 0x40, 2, 1, relasize), (3, 0, 0, 0, 0)]
    shdrs = bytes(shentsize)
    for i, (b, off, (typ, flags, link, inf, ent)) in enumerate(zip(blobs, offsets, meta)):
        if is64:
            shdrs += struct.pack(e + "IIQQQQIIQQ", shname[i + 1], typ, flags, 0, off, len(b),
                                 link, inf, 8, ent)
        else:
            shdrs += struct.pack(e + "IIIIIIIIII", shname[i + 1], typ, flags, 0, off, len(b),
                                 link, inf, 4, ent)
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 2 if big else 1, 1, 0]) + bytes(8)
    if is64:
        hdr = ident + struct.pack(e + "HHIQQQIHHHHHH", 1, e_machine, 1, 0, 0, shoff, 0, ehsize,
                                  0, 0, shentsize, len(names), len(names) - 1)
    else:
        hdr = ident + struct.pack(e + "HHIIIIIHHHHHH", 1, e_machine, 1, 0, 0, shoff, 0, ehsize,
                                  0, 0, shentsize, len(names), len(names) - 1)
    out = bytearray(shoff + len(shdrs))
    out[:len(hdr)] = hdr
    for b, off in zip(blobs, offsets):
        out[off:off + len(b)] = b
    out[shoff:] = shdrs
    return bytes(out)


@pytest.mark.parametrize("name,e_machine,is64,big,types", MACHINES, ids=[m[0] for m in MACHINES])
def test_every_type_every_symbol_kind(tmp_path, name, e_machine, is64, big, types):
    path = tmp_path / f"{name}.o"
    path.write_bytes(_synthetic(e_machine, is64, big, list(types)))
    proc = subprocess.run(["readelf", "-W", "-r", str(path)], capture_output=True, text=True,
                          errors="replace")
    text = proc.stdout
    assert "bad symbol index" in proc.stderr and "ifunc_picker()" in text and "<null>" in text, \
        "the synthetic file does not exercise what it should"
    assert "contains 1 entry:" in text
    _compare(path)
