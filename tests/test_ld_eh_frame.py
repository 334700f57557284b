"""elfkit.ld.eh_frame against ld.bfd and readelf (issue 13).

The oracles: ld.bfd's own .eh_frame_hdr (`gcc -static -Wl,--eh-frame-hdr`) must come out of
build_eh_frame_hdr byte for byte from ld's .eh_frame; split_records, cie_fde_encoding and
decode_fde_pc must agree with `readelf --debug-dump=frames` on objects, linked programs and
libc.a members; rebuild's output, spliced into a copy of an object with its relocations
moved through the offset map, must read back in readelf as the kept records with the same
pc ranges.
"""
import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from elfkit.elf.file import ElfFile
from elfkit.ld import eh_frame as ehf
from elfkit.ld.eh_frame import (Record, build_eh_frame_hdr, cie_fde_encoding, decode_fde_pc,
                                eh_frame_hdr_size, fde_pc_begin_offset, moved_offset,
                                rebuild, split_records)

LIBC_A = Path("/usr/lib/x86_64-linux-gnu/libc.a")
LIBC_MEMBERS = ("printf.o", "qsort.o", "vfprintf-internal.o", "strtod_l.o", "abort.o",
                "memcpy.o", "backtrace.o", "iofclose.o")

pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("readelf")),
                                reason="needs gcc and readelf")

A_C = r"""
typedef int (*fn)(int);
static int sq(int x) { return x * x; }
static int __attribute__((noinline)) tri(int x) { return x * (x + 1) / 2; }
int __attribute__((noinline)) walk(int n, fn f) { int s = 0; for (int i = 0; i < n; i++) s += f(i); return s; }
int __attribute__((noinline)) frame(int n) {
    volatile char buf[n + 1]; buf[0] = (char)n; buf[n] = 1; return buf[0] + buf[n];
}
int compute(int n) { return walk(n, sq) + walk(n, tri) + frame(n); }
int unused_fn(int n) { return frame(n + 1) * 2 + walk(n, sq); }     /* gone with --gc-sections */
"""

B_C = r"""
void release(int *p);
void use(int *p);
static void cleanup(int *p) { release(p); }
int work(int n) { int x __attribute__((cleanup(cleanup))) = n; use(&x); return x * 3; }
int work2(int n) { int y __attribute__((cleanup(cleanup))) = n; use(&y); use(&y); return y; }
"""

MAIN_C = r"""
#include <stdio.h>
int compute(int n); int work(int n); int work2(int n);
static int total;
void release(int *p) { total += *p; }
void use(int *p) { *p += 1; }
int main(void) { printf("%d\n", compute(5) + work(2) + work2(3) + total); return 0; }
"""

# -nostdlib: our own _start, no libc, no crt files (so no crtend terminator either).
START_C = r"""
int compute(int n);
void __attribute__((noreturn)) _start(void) {
    long r = compute(3);
    __asm__ volatile("syscall" :: "a"(60), "D"(r & 0) : "memory");
    __builtin_unreachable();
}
"""

BOX_H = r"""
#include <stdexcept>
template <class T> struct Box { T v; T __attribute__((noinline)) get() const { if (!v) throw std::runtime_error("empty"); return v; } };
"""

# d.cpp instantiates Box<int>::get too: a COMDAT duplicate whose FDE ld.bfd drops.
D_CXX = BOX_H + r"""
int other(int n) { return Box<int>{n}.get() + 1; }
"""

CXX = BOX_H + r"""
#include <cstdio>
#include <string>
int other(int n);
static int __attribute__((noinline)) thrower(int n) { if (n > 2) throw std::out_of_range(std::to_string(n)); return n; }
int __attribute__((noinline)) guarded(int n) {
    try { return thrower(n) + Box<int>{n}.get(); } catch (const std::out_of_range &e) { return -1; }
}
int main() {
    int r = guarded(1) + guarded(7);
    try { Box<long>{0}.get(); } catch (const std::exception &e) { r += 100; }
    r += other(4) - 5;
    std::printf("%d\n", r);
    return r == 101 ? 0 : 1;
}
"""


def _run(*cmd, cwd):
    p = subprocess.run(list(map(str, cmd)), cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))}:\n{p.stderr}"
    return p.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Objects and programs linked by ld.bfd; {name: path}."""
    d = tmp_path_factory.mktemp("eh_frame")
    for name, src in (("a.c", A_C), ("b.c", B_C), ("main.c", MAIN_C), ("start.c", START_C),
                      ("c.cpp", CXX), ("d.cpp", D_CXX)):
        (d / name).write_text(src)
    out = {}
    _run("gcc", "-O2", "-c", "a.c", cwd=d)
    _run("gcc", "-O2", "-fexceptions", "-c", "b.c", cwd=d)
    _run("gcc", "-O2", "-c", "main.c", cwd=d)
    _run("gcc", "-O2", "-fno-stack-protector", "-c", "start.c", cwd=d)
    out.update({"a.o": d / "a.o", "b.o": d / "b.o", "main.o": d / "main.o"})
    _run("gcc", "-nostdlib", "-static", "-fuse-ld=bfd", "-Wl,--eh-frame-hdr", "start.o", "a.o",
         "-o", "small", cwd=d)
    _run("gcc", "-static", "-fuse-ld=bfd", "-Wl,--eh-frame-hdr", "main.o", "a.o", "b.o",
         "-o", "cprog", cwd=d)
    # --gc-sections: ld drops the FDEs of the unused functions (-ffunction-sections).
    _run("gcc", "-O2", "-ffunction-sections", "-c", "a.c", "-o", "a_fs.o", cwd=d)
    _run("gcc", "-nostdlib", "-static", "-fuse-ld=bfd", "-Wl,--eh-frame-hdr,--gc-sections",
         "start.o", "a_fs.o", "-o", "small_gc", cwd=d)
    out.update({"small": d / "small", "cprog": d / "cprog", "small_gc": d / "small_gc",
                "a_fs.o": d / "a_fs.o"})
    if shutil.which("g++"):
        _run("g++", "-O2", "-c", "c.cpp", cwd=d)
        out["c.o"] = d / "c.o"
        _run("g++", "-O2", "-c", "d.cpp", cwd=d)
        out["d.o"] = d / "d.o"
        p = subprocess.run(["g++", "-static", "-fuse-ld=bfd", "-Wl,--eh-frame-hdr", "c.o",
                            "d.o", "-o", "cxx"], cwd=d, capture_output=True, text=True)
        if p.returncode == 0:             # no static libstdc++: the object tests still run
            out["cxx"] = d / "cxx"
    if LIBC_A.exists():
        members = set(_run("ar", "t", LIBC_A, cwd=d).split())
        wanted = [m for m in LIBC_MEMBERS if m in members]
        if wanted:
            _run("ar", "x", LIBC_A, *wanted, cwd=d)
            out.update({f"libc:{m}": d / m for m in wanted})
    return out


def _need(built, name):
    if name not in built:
        pytest.skip(f"{name} could not be built here (g++ / static libstdc++ / libc.a)")
    return built[name]


def _section(path, name):
    """(addr, bytes, Section) of the named section."""
    elf = ElfFile.open(path)
    try:
        sec = next((s for s in elf.sections if s.name == name), None)
        if sec is None:
            return None
        return sec.addr, bytes(elf.data[sec.offset:sec.offset + sec.size]), sec
    finally:
        elf.close()


REC_RE = re.compile(r"^([0-9a-f]{8,16}) ([0-9a-f]{8,16}) ([0-9a-f]{8,16}) (CIE|FDE)"
                    r"(?: cie=([0-9a-f]+))?(?: pc=([0-9a-f]+)\.\.([0-9a-f]+))?")
ZERO_RE = re.compile(r"^([0-9a-f]{8,16}) ZERO terminator")
AUG_RE = re.compile(r'^  Augmentation:\s+"(.*)"')
AUGDATA_RE = re.compile(r"^  Augmentation data:\s+([0-9a-f ]+)$")


def readelf_frames(path):
    """The .eh_frame records as readelf prints them: list of dicts."""
    text = _run("readelf", "--debug-dump=frames", "-W", path, cwd=Path(path).parent)
    recs, inside = [], False
    for line in text.splitlines():
        if line.startswith("Contents of the"):
            inside = line.startswith("Contents of the .eh_frame section")
            continue
        if not inside:
            continue
        if m := REC_RE.match(line):
            rec = {"offset": int(m[1], 16), "length": int(m[2], 16), "kind": m[4].lower(),
                   "cie": int(m[5], 16) if m[5] else None}
            if m[6]:
                rec["pc"] = (int(m[6], 16), int(m[7], 16))
            recs.append(rec)
        elif m := ZERO_RE.match(line):
            recs.append({"offset": int(m[1], 16), "kind": "terminator", "cie": None})
        elif recs and (m := AUG_RE.match(line)):
            recs[-1]["aug"] = m[1]
        elif recs and (m := AUGDATA_RE.match(line)):
            recs[-1]["augdata"] = bytes.fromhex(m[1])
    return recs


def _as_readelf(records):
    out = []
    for r in records:
        d = {"offset": r.offset, "kind": r.kind, "cie": r.cie_offset}
        if r.kind != "terminator":
            d["length"] = r.size - r.header_size
        out.append(d)
    return out


def _strip(recs):
    keys = ("offset", "kind", "cie", "length")
    return [{k: r[k] for k in keys if k in r} for r in recs]


LINKED = ("small", "small_gc", "cprog", "cxx")
OBJECTS = ("a.o", "a_fs.o", "b.o", "main.o", "c.o", "d.o")


# --- .eh_frame_hdr against ld.bfd ------------------------------------------------------------
@pytest.mark.parametrize("name", LINKED)
def test_hdr_matches_ld(built, name):
    path = _need(built, name)
    eh_addr, eh, _ = _section(path, ".eh_frame")
    hdr_addr, hdr, _ = _section(path, ".eh_frame_hdr")
    assert eh_frame_hdr_size(eh) == len(hdr)
    assert build_eh_frame_hdr(eh, eh_addr, hdr_addr) == hdr


def test_gc_sections_dropped_fdes(built):
    def count(name):
        return sum(r.kind == "fde" for r in split_records(_section(built[name], ".eh_frame")[1]))
    assert count("small_gc") < count("small")


def test_cxx_program_throws_and_catches(built):
    path = _need(built, "cxx")
    assert subprocess.run([str(path)], capture_output=True).returncode == 0


# --- records against readelf ------------------------------------------------------------------
def _all_inputs(built):
    return [n for n in (*OBJECTS, *LINKED) if n in built] + \
           sorted(n for n in built if n.startswith("libc:"))


def test_split_records_matches_readelf(built):
    names = _all_inputs(built)
    assert len(names) >= 6
    for name in names:
        sec = _section(built[name], ".eh_frame")
        if sec is None:
            continue
        records = split_records(sec[1])
        assert _as_readelf(records) == _strip(readelf_frames(built[name])), name
        assert sum(r.size for r in records) == len(sec[1])


def test_big_static_binary_has_many_records(built):
    records = split_records(_section(built["cprog"], ".eh_frame")[1])
    assert sum(r.kind == "fde" for r in records) > 500
    assert sum(r.kind == "cie" for r in records) >= 2     # ld.bfd merges equal CIEs
    assert records[-1].kind == "terminator"      # crtend.o's


def test_fde_encoding_matches_readelf(built):
    seen = set()
    for name in _all_inputs(built):
        sec = _section(built[name], ".eh_frame")
        if sec is None:
            continue
        for r in readelf_frames(built[name]):
            if r["kind"] != "cie":
                continue
            info = ehf.parse_cie(sec[1], r["offset"])
            assert info.augmentation == r["aug"], (name, r)
            seen.add(r["aug"])
            enc = cie_fde_encoding(sec[1], r["offset"])
            if r["aug"].endswith("R"):           # then R's byte is the last one of the data
                assert enc == r["augdata"][-1], (name, r)
            elif "R" not in r["aug"]:
                assert enc == ehf.DW_EH_PE_absptr
    assert "zR" in seen and "zPLR" in seen      # personality pointer skipped before R


@pytest.mark.parametrize("name", LINKED)
def test_decode_fde_pc_matches_readelf(built, name):
    path = _need(built, name)
    addr, eh, _ = _section(path, ".eh_frame")
    fdes = [r for r in readelf_frames(path) if r["kind"] == "fde"]
    assert fdes
    for r in fdes:
        begin, rng = decode_fde_pc(eh, r["offset"], addr)
        assert (begin, begin + rng) == r["pc"], r


@pytest.mark.parametrize("name", ("a.o", "b.o", "c.o", "libc:vfprintf-internal.o"))
def test_pc_begin_offset_is_the_relocation(built, name):
    path = _need(built, name)
    _, eh, _ = _section(path, ".eh_frame")
    _, rela, _ = _section(path, ".rela.eh_frame")
    relocs = {struct.unpack_from("<QQq", rela, i)[0]: struct.unpack_from("<QQq", rela, i)[1]
              for i in range(0, len(rela), 24)}
    fdes = [r for r in split_records(eh) if r.kind == "fde"]
    assert fdes
    for r in fdes:
        off = fde_pc_begin_offset(eh, r.offset)
        assert off == r.offset + 8
        assert relocs[off] & 0xffffffff == 2            # R_X86_64_PC32 names the function


# --- rebuild ------------------------------------------------------------------------------------
def _splice(path, out_path, new_eh, old_records, old_to_new):
    """Copy of the object with .eh_frame replaced (padded with zero terminators) and the
    relocations of .rela.eh_frame moved through the map (those of dropped records made
    R_X86_64_NONE)."""
    _, eh, sec = _section(path, ".eh_frame")
    _, rela, rsec = _section(path, ".rela.eh_frame")
    assert len(new_eh) <= len(eh) and (len(eh) - len(new_eh)) % 4 == 0
    data = bytearray(Path(path).read_bytes())
    data[sec.offset:sec.offset + sec.size] = new_eh + bytes(len(eh) - len(new_eh))
    out = bytearray()
    for i in range(0, len(rela), 24):
        r_off, info, addend = struct.unpack_from("<QQq", rela, i)
        new = moved_offset(old_records, old_to_new, r_off)
        out += struct.pack("<QQq", 0, 0, 0) if new is None else \
            struct.pack("<QQq", new, info, addend)
    data[rsec.offset:rsec.offset + rsec.size] = out
    Path(out_path).write_bytes(data)


@pytest.mark.parametrize("name", ("b.o", "c.o", "libc:vfprintf-internal.o"))
def test_rebuild_drop_every_other_fde(built, name, tmp_path):
    path = _need(built, name)
    _, eh, _ = _section(path, ".eh_frame")
    old = split_records(eh)
    fdes = [r.offset for r in old if r.kind == "fde"]
    assert len(fdes) >= 3
    dropped = set(fdes[1::2])
    new_eh, old_to_new = rebuild(eh, lambda r: r.offset not in dropped)
    copy = tmp_path / "copy.o"
    _splice(path, copy, new_eh, old, old_to_new)

    new = split_records(new_eh)
    got = readelf_frames(copy)
    # The zero padding is one 4-byte terminator per word to split_records; readelf prints a
    # run of zeros at the end of the section as one "ZERO terminator".
    pad = [{"offset": len(new_eh), "kind": "terminator", "cie": None}] * (len(new_eh) < len(eh))
    assert _strip(got) == _as_readelf(new) + pad
    assert split_records(new_eh + bytes(len(eh) - len(new_eh)))[len(new):] == [
        Record(o, 4, "terminator") for o in range(len(new_eh), len(eh), 4)]
    # Kept FDEs: same pc ranges and augmentation data (LSDA) as before, CIE pointers fixed.
    before = {r["offset"]: r for r in readelf_frames(path)}
    kept = [o for o in fdes if o not in dropped]
    assert sorted(old_to_new[o] for o in kept) == [r.offset for r in new if r.kind == "fde"]
    after = {r["offset"]: r for r in got}
    for o in kept:
        b, a = before[o], after[old_to_new[o]]
        assert a["pc"] == b["pc"]                       # readelf decodes pc (pcrel)
        if len(b.get("augdata", b"")) == 4:             # the LSDA pointer: raw pcrel sdata4,
            raw_a = int.from_bytes(a["augdata"], "little")          # so it moved with the FDE
            raw_b = int.from_bytes(b["augdata"], "little")
            assert (raw_a + old_to_new[o]) & 0xffffffff == (raw_b + o) & 0xffffffff
        assert a["cie"] == old_to_new[b["cie"]]
    for r in old:
        if r.offset in old_to_new and r.kind != "fde":
            assert new_eh[old_to_new[r.offset]:][:r.size] == eh[r.offset:r.end]


def _two_cie_section():
    cie1 = _cie("zR", bytes([0x1b]))
    cie2 = _cie("zR", bytes([0x1b]), cfa=b"\x0c\x07\x10")
    body = bytearray(cie1)
    f1 = len(body)
    body += _fde(f1, 0, cie_off=0)
    c2 = len(body)
    body += cie2
    f2 = len(body)
    body += _fde(f2, 0, cie_off=c2)
    f3 = len(body)
    body += _fde(f3, 0, cie_off=0)
    return bytes(body) + bytes(4), (0, f1, c2, f2, f3)


def test_rebuild_drops_unused_cie_and_fixes_pointers():
    data, (c1, f1, c2, f2, f3) = _two_cie_section()
    new, m = rebuild(data, lambda r: r.offset != f2)
    assert set(m) == {c1, f1, f3, len(data) - 4}
    recs = split_records(new)
    assert [r.kind for r in recs] == ["cie", "fde", "fde", "terminator"]
    assert recs[2].cie_offset == 0 and recs[2].offset == m[f3]
    new2, m2 = rebuild(data, lambda r: r.offset != f2, drop_unused_cies=False)
    assert c2 in m2 and [r.kind for r in split_records(new2)][:3] == ["cie", "fde", "cie"]
    assert rebuild(data, lambda r: True)[0] == data
    empty, m3 = rebuild(data, lambda r: False)
    assert empty == bytes(4) and m3 == {len(data) - 4: 0}


# --- synthetic records: encodings the compilers here do not emit ------------------------------
def _uleb(v):
    out = bytearray()
    while True:
        b, v = v & 0x7f, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _rec(body, extended=False):
    pad = (-len(body)) % 4
    body += b"\0" * pad                   # DW_CFA_nop
    if extended:
        return b"\xff\xff\xff\xff" + struct.pack("<Q", len(body)) + body
    return struct.pack("<I", len(body)) + body


def _cie(aug, augdata, version=1, extended=False, cfa=b"\x0c\x07\x08"):
    body = struct.pack("<I", 0) + bytes([version]) + aug.encode() + b"\0"
    if version == 4:
        body += b"\x08\x00"
    body += _uleb(1) + b"\x78" + (b"\x10" if version == 1 else _uleb(16))
    if aug.startswith("z"):
        body += _uleb(len(augdata)) + augdata
    return _rec(body + cfa, extended)


def _fde(at, pc_field, cie_off, aug=True, extended=False, pc_format=None):
    """FDE at section offset `at`; pc_begin/pc_range given as bytes or (enc fmt) ints."""
    hdr = 12 if extended else 4
    ptr = struct.pack("<I", at + hdr - cie_off)
    if isinstance(pc_field, bytes):
        pcs = pc_field
    else:
        pcs = struct.pack("<iI", pc_field, 0x10)
    return _rec(ptr + pcs + (b"\0" if aug else b"") + b"\x41\x0e\x10", extended)


def _hdr_entries(hdr):
    n = struct.unpack_from("<I", hdr, 8)[0]
    return [struct.unpack_from("<ii", hdr, 12 + 8 * i) for i in range(n)]


def test_hdr_with_absolute_and_wide_encodings():
    eh_addr, hdr_addr = 0x402000, 0x401000
    body = bytearray()
    c_abs = len(body)
    body += _cie("zR", bytes([ehf.DW_EH_PE_absptr]))
    c_u4 = len(body)
    body += _cie("zR", bytes([ehf.DW_EH_PE_udata4]))
    c_s8 = len(body)
    body += _cie("zR", bytes([ehf.DW_EH_PE_pcrel | ehf.DW_EH_PE_sdata8]))
    c_dr = len(body)
    body += _cie("zR", bytes([ehf.DW_EH_PE_datarel | ehf.DW_EH_PE_sdata4]))
    c_none = len(body)
    body += _cie("", b"")
    fdes = {}
    f = len(body)
    body += _fde(f, struct.pack("<QQ", 0x400300, 8), c_abs)
    fdes[f] = 0x400300
    f = len(body)
    body += _fde(f, struct.pack("<II", 0x400100, 8), c_u4)
    fdes[f] = 0x400100
    f = len(body)
    body += _fde(f, struct.pack("<qQ", 0x400200 - (eh_addr + f + 8), 8), c_s8)
    fdes[f] = 0x400200
    f = len(body)
    body += _fde(f, struct.pack("<iI", 0x400050 - 0x404000, 8), c_dr)
    fdes[f] = 0x400050
    f = len(body)
    body += _fde(f, struct.pack("<QQ", 0x400000, 8), c_none, aug=False)
    fdes[f] = 0x400000
    data = bytes(body)
    hdr = build_eh_frame_hdr(data, eh_addr, hdr_addr, datarel_base=0x404000)
    assert hdr[:4] == bytes([1, 0x1b, 0x03, 0x3b])
    assert struct.unpack_from("<i", hdr, 4)[0] == eh_addr - hdr_addr - 4
    assert _hdr_entries(hdr) == [(pc - hdr_addr, eh_addr + f - hdr_addr)
                                 for f, pc in sorted(fdes.items(), key=lambda kv: kv[1])]
    assert len(hdr) == eh_frame_hdr_size(data)
    with pytest.raises(ValueError, match="cannot be resolved"):
        build_eh_frame_hdr(data, eh_addr, hdr_addr)           # datarel without a base
    with pytest.raises(ValueError, match="signed 32-bit"):
        build_eh_frame_hdr(data, eh_addr, hdr_addr + (1 << 33), datarel_base=0x404000)


def test_hdr_elfclass32_absptr():
    data = _cie("zR", b"\x00")
    f = len(data)
    data += _fde(f, struct.pack("<II", 0x8048100, 4), 0)
    hdr = build_eh_frame_hdr(data, 0x8049000, 0x8048f00, is_64=False)
    assert _hdr_entries(hdr) == [(0x8048100 - 0x8048f00, 0x100 + f)]


def test_personality_encodings_and_aligned():
    # 'P' aligned: the pointer sits on the next 8-byte boundary of the section.
    # CIE body: id(4) ver(1) "zPLR\0"(5) caf(1) daf(1) ra(1) auglen(1) -> data at 4+14=18
    aligned = bytes([ehf.DW_EH_PE_aligned]) + b"\0" * 5 + struct.pack("<Q", 0x1234) + b"\x1b\x1b"
    data = _cie("zPLR", aligned)
    assert cie_fde_encoding(data, 0) == 0x1b
    info = ehf.parse_cie(data, 0)
    assert info.lsda_encoding == 0x1b and info.personality_encoding == ehf.DW_EH_PE_aligned
    for penc, ptr in ((0x9b, struct.pack("<i", -4)), (0x00, bytes(8)), (0x04, bytes(8)),
                      (0x01, _uleb(300)), (0x09, b"\x7f"), (0x02, b"\0\0")):
        data = _cie("zPR", bytes([penc]) + ptr + b"\x03")
        assert cie_fde_encoding(data, 0) == 0x03, hex(penc)
    assert cie_fde_encoding(_cie("zSR", b"\x1b"), 0) == 0x1b
    assert cie_fde_encoding(_cie("zRB", b"\x1b"), 0) == 0x1b
    assert cie_fde_encoding(_cie("zR", b"\x1b", version=3), 0) == 0x1b
    assert cie_fde_encoding(_cie("zR", b"\x1b", version=4), 0) == 0x1b
    assert cie_fde_encoding(_cie("", b""), 0) == ehf.DW_EH_PE_absptr
    assert cie_fde_encoding(_cie("zP", b"\x00" + bytes(4)), 0, is_64=False) == 0
    for bad in (_cie("zQ", b"\x1b"), _cie("zPR", b"\x07\0\0\0\0\x1b"), _cie("xR", b"\x1b"),
                _cie("zPR", b"\x03\0\0"), _cie("zR", b"\x1b", version=2)):
        with pytest.raises(ValueError):
            cie_fde_encoding(bad, 0)


def test_extended_length_records():
    cie = _cie("zR", b"\x1b", extended=True)
    f = len(cie)
    fde = _fde(f, 0x100, 0, extended=True)
    data = cie + fde + bytes(4)
    recs = split_records(data)
    assert recs == [Record(0, len(cie), "cie", None, 12),
                    Record(f, len(fde), "fde", 0, 12),
                    Record(f + len(fde), 4, "terminator")]
    assert recs[1].extended and recs[1].id_offset == f + 12
    assert fde_pc_begin_offset(data, f) == f + 16
    assert cie_fde_encoding(data, 0) == 0x1b
    assert decode_fde_pc(data, f, 0x1000) == (0x1000 + f + 16 + 0x100, 0x10)
    # mixed with 32-bit records through rebuild
    more = data[:-4] + _fde(len(data) - 4, 0x200, 0)
    new, m = rebuild(more, lambda r: r.offset != f)
    assert [r.kind for r in split_records(new)] == ["cie", "fde"]
    assert decode_fde_pc(new, m[len(data) - 4], 0x1000)[1] == 0x10


def test_moved_offset():
    data, (c1, f1, c2, f2, f3) = _two_cie_section()
    recs = split_records(data)
    _, m = rebuild(data, lambda r: r.offset != f2)
    assert moved_offset(recs, m, f3 + 8) == m[f3] + 8
    assert moved_offset(recs, m, f2 + 8) is None
    assert moved_offset(recs, m, c2 + 5) is None
    assert moved_offset(recs, m, len(data) + 8) is None
    assert moved_offset(recs, m, f1 + 8) == f1 + 8


# --- damage --------------------------------------------------------------------------------------
def test_damage_messages():
    data, (c1, f1, c2, f2, f3) = _two_cie_section()
    with pytest.raises(ValueError, match="past the end"):
        split_records(data[:f2 + 10])
    with pytest.raises(ValueError, match="stray"):
        split_records(data + b"\0\0")
    bad = bytearray(data)
    struct.pack_into("<I", bad, f3 + 4, f3 + 4 - f1)            # CIE pointer -> an FDE
    with pytest.raises(ValueError, match="landing on an FDE"):
        split_records(bytes(bad))
    struct.pack_into("<I", bad, f3 + 4, f3 + 4 - 2)             # -> inside a record
    with pytest.raises(ValueError, match="not on a CIE"):
        split_records(bytes(bad))
    struct.pack_into("<I", bad, f3 + 4, f3 + 100)               # -> before the section
    with pytest.raises(ValueError, match="before the start"):
        split_records(bytes(bad))
    bad = bytearray(_fde(0, 0, 0) + data)                      # forward: CIE comes after
    struct.pack_into("<I", bad, 4, (4 - len(_fde(0, 0, 0)) - 4) & 0xffffffff)
    with pytest.raises(ValueError):
        split_records(bytes(bad))
    with pytest.raises(ValueError, match="too short"):
        split_records(struct.pack("<I", 2) + b"\0\0")
    with pytest.raises(ValueError, match="not CIE"):
        cie_fde_encoding(data, f1)
    with pytest.raises(ValueError, match="not FDE"):
        fde_pc_begin_offset(data, c1)
    with pytest.raises(ValueError, match="outside"):
        fde_pc_begin_offset(data, len(data) + 4)


def _exercise(data, addr=0x401000):
    """Every entry point on possibly damaged bytes; anything but ValueError escapes."""
    try:
        recs = split_records(data)
    except ValueError:
        recs = []
    for r in recs:
        for fn in ((lambda: cie_fde_encoding(data, r.offset)) if r.kind == "cie" else
                   (lambda: fde_pc_begin_offset(data, r.offset)),
                   lambda: decode_fde_pc(data, r.offset, addr)):
            try:
                fn()
            except ValueError:
                pass
    for fn in (lambda: rebuild(data, lambda r: r.offset % 8 == 0),
               lambda: build_eh_frame_hdr(data, addr, addr - 0x100),
               lambda: eh_frame_hdr_size(data),
               lambda: cie_fde_encoding(data, 0),
               lambda: fde_pc_begin_offset(data, 0x18)):
        try:
            fn()
        except ValueError:
            pass


def test_damaged_input_only_valueerror(built):
    _, eh, _ = _section(built["b.o"], ".eh_frame")
    _, eh2, _ = _section(built["a.o"], ".eh_frame")
    for src in (eh, eh2, _two_cie_section()[0]):
        for n in range(len(src)):
            _exercise(src[:n])
    rng = random.Random(13)
    for _ in range(1500):
        src = bytearray(rng.choice((eh, eh2)))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(src))
            src[i] = rng.choice((0, 0xff, 0x7f, 0x80, rng.randrange(256)))
        _exercise(bytes(src))
