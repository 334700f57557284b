"""`elfkit inspect --debug-dump=info|line|frames` against GNU readelf (binutils 2.40), the oracle.

Text: elfkit's stdout must be byte-identical to the stdout of

    LC_ALL=C readelf --debug-dump=no-follow-links --debug-dump=KINDS FILE

(readelf's default narrow layout, no -W). The one normalisation is that invocation itself:
`no-follow-links` (-wN). By default readelf also follows FILE's build-id / .gnu_debuglink
to a separate debug file and dumps that file's sections too, headed "(loaded from PATH)" --
for libc's debug file, which finds itself through its own build-id, everything twice.
elfkit dumps the file it is given, nothing else; -wN is readelf doing the same. readelf's
stderr ("Unable to find program interpreter name" for debug files) is not compared.
Nothing in readelf's text is rewritten: its "(indirect line string, offset: 0x..)" forms,
"(location list)", "[without DW_AT_frame_base]", views, NOBITS notes are all expected
verbatim.

Inputs: the fixtures built with -g (DWARF 5 from the system gcc), the .eh_frame of every
kind of fixture (PIE, static, i386, musl, an empty .eh_frame, relocatable objects whose
relocations readelf applies), small programs compiled here with the variants the fixtures
lack (DWARF 2, 3, 4; .zdebug_* and SHF_COMPRESSED sections; C++; -m32; a .o), and libc's
debug file from libc6-dbg, whole: `info` (2.7 million lines) and `line` byte for byte.

JSON is checked against the facts readelf prints: every DIE's offset, level, abbreviation
number and tag, every attribute's offset, name and form (`readelf -W` shows forms), string
values; the line rows against `readelf --debug-dump=decodedline`; CIE/FDE headers and
instructions against `--debug-dump=frames`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import fixture_path, run_elfkit

READELF = shutil.which("readelf")
ENV = {**os.environ, "LC_ALL": "C"}

DWARF_FIXTURES = ["backtrace", "backtrace-static", "corehello", "gdb-procs", "hello-musl",
                  "stackwalk-musl"]
FRAME_ONLY_FIXTURES = ["hello-pie", "hello32", "hello-static", "nolibc", "nolibc32",
                       "insncount-preinit", "libfixture.so", "reloc.o", "reloc-cxx.o",
                       "cxxhello"]


def readelf(*args) -> bytes:
    if READELF is None:
        pytest.fail("binutils readelf is the oracle of these tests: install binutils")
    r = subprocess.run([READELF, *map(str, args)], capture_output=True, env=ENV, timeout=120)
    return r.stdout


def oracle(kinds: str, path) -> bytes:
    """readelf's dump of FILE's own sections (see the module docstring)."""
    return readelf("--debug-dump=no-follow-links", f"--debug-dump={kinds}", path)


def elfkit_dump(path, *args) -> bytes:
    r = run_elfkit("inspect", path, *args)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stderr == b""
    return r.stdout


def assert_same(got: bytes, want: bytes, what: str):
    if got == want:
        return
    g, w = got.decode(errors="replace").splitlines(), want.decode(errors="replace").splitlines()
    for i, (a, b) in enumerate(zip(g, w)):
        if a != b:
            pytest.fail(f"{what}: line {i + 1} differs\n readelf: {b!r}\n elfkit:  {a!r}")
    pytest.fail(f"{what}: elfkit wrote {len(g)} lines, readelf {len(w)}")


# --- text, byte for byte -----------------------------------------------------------------------
@pytest.mark.parametrize("name", DWARF_FIXTURES)
@pytest.mark.parametrize("kind", ["info", "line", "frames"])
def test_text_matches_readelf_on_dwarf_fixtures(name, kind):
    path = fixture_path(name)
    want = oracle(kind, path)
    assert want, f"readelf printed nothing for {name} --debug-dump={kind}"
    assert_same(elfkit_dump(path, f"--debug-dump={kind}"), want, f"{name} {kind}")


@pytest.mark.parametrize("name", FRAME_ONLY_FIXTURES)
def test_frames_match_readelf_on_other_fixtures(name):
    path = fixture_path(name)
    assert_same(elfkit_dump(path, "--debug-dump=frames"), oracle("frames", path),
                f"{name} frames")


def test_comma_list_and_short_spellings_match_readelf():
    path = fixture_path("hello-musl")
    want = oracle("info,line,frames", path)
    assert_same(elfkit_dump(path, "--debug-dump=info,line,frames"), want, "comma list")
    # readelf's -w letters: -wi -wl -wf, one option each or together
    assert_same(elfkit_dump(path, "-wi", "-wl", "-wf"), want, "-wi -wl -wf")
    assert_same(elfkit_dump(path, "-wilf"), want, "-wilf")
    # --debug-dump=line is readelf's raw dump (-wl), also spelt rawline
    assert_same(elfkit_dump(path, "--debug-dump=rawline"), oracle("rawline", path), "rawline")


def test_no_debug_sections_prints_what_readelf_prints():
    path = fixture_path("hello-stripped")
    for kind in ("info", "line"):
        want = oracle(kind, path)
        r = run_elfkit("inspect", path, f"--debug-dump={kind}")
        assert r.returncode == 0 and r.stderr == b""
        assert r.stdout == want == b""


SOURCE_C = r"""
#include <stdio.h>
struct s { int a; char b[3]; unsigned bf:3; };
static inline int sq(int x) { return x * x; }
__thread int tl = 5;
int g(struct s *p, double d) { volatile int v = sq(p->a); return v + (int)d + p->bf + tl; }
int main(int argc, char **argv) { struct s x = {argc, "ab", 1}; printf("%d\n", g(&x, 2.5));
  return 0; }
"""
SOURCE_CC = r"""
#include <string>
namespace ns { class C { public: virtual ~C() {} int f(int x) const { return x + m; }
  private: int m = 3; protected: char16_t c = 0; }; }
int main() { ns::C c; std::string s("x"); try { throw 1; } catch (int) {} return c.f(2)
  + (int)s.size(); }
"""
# name -> (compiler, source, flags): what the fixtures do not cover
VARIANTS = {
    "dwarf2": ("gcc", "c", ["-O1", "-gdwarf-2"]),
    "dwarf3": ("gcc", "c", ["-O1", "-gdwarf-3"]),
    "dwarf4": ("gcc", "c", ["-O1", "-gdwarf-4"]),
    "dwarf5-O2": ("gcc", "c", ["-O2", "-g"]),
    "gz-zlib": ("gcc", "c", ["-g", "-gz=zlib"]),           # SHF_COMPRESSED
    "gz-zlib-gnu": ("gcc", "c", ["-g", "-gz=zlib-gnu"]),   # .zdebug_* sections
    "cxx-dwarf5": ("g++", "cc", ["-O1", "-g"]),            # DW_AT_import, defaulted, ...
    "cxx-dwarf4": ("g++", "cc", ["-O0", "-gdwarf-4"]),
    "m32": ("gcc", "c", ["-m32", "-g"]),
    "object.o": ("gcc", "c", ["-g", "-c"]),                # relocations readelf applies
    "object-cxx.o": ("g++", "cc", ["-g", "-c"]),
}


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    d = tmp_path_factory.mktemp("dwarf-variants")
    (d / "t.c").write_text(SOURCE_C)
    (d / "t.cc").write_text(SOURCE_CC)
    built = {}
    for name, (cc, src, flags) in VARIANTS.items():
        if shutil.which(cc) is None:
            pytest.fail(f"{cc} is needed to build the DWARF variants")
        out = d / name
        r = subprocess.run([cc, *flags, str(d / f"t.{src}"), "-o", str(out)],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{name}: {r.stderr}"
        built[name] = out
    return built


@pytest.mark.parametrize("name", list(VARIANTS))
def test_text_matches_readelf_on_compiled_variants(variants, name):
    path = variants[name]
    want = oracle("info,line,frames", path)
    assert b"Contents of the .debug_info" in want or b"Contents of the .zdebug_info" in want
    assert_same(elfkit_dump(path, "--debug-dump=info,line,frames"), want, name)


def libc_debug_file():
    """libc6-dbg's debug file of this machine's libc, found by libc's build-id."""
    notes = readelf("-n", "/lib/x86_64-linux-gnu/libc.so.6").decode()
    m = re.search(r"Build ID: ([0-9a-f]+)", notes)
    assert m, "libc.so.6 has no build-id note"
    bid = m.group(1)
    path = f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug"
    if not os.path.exists(path):
        pytest.fail(f"{path} missing: install libc6-dbg")
    return path


@pytest.mark.parametrize("kind", ["info", "line", "frames"])
def test_libc_debug_file_whole(kind):
    """The whole dump, no subset: info is ~2.7 million lines (~7 s for elfkit here)."""
    path = libc_debug_file()
    # readelf runs alongside elfkit (two CPUs' worth of the test's time saved)
    proc = subprocess.Popen([READELF or "readelf", "--debug-dump=no-follow-links",
                             f"--debug-dump={kind}", path], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=ENV)
    try:
        got = elfkit_dump(path, f"--debug-dump={kind}")
    finally:
        want, _ = proc.communicate(timeout=120)
    assert len(want) > (100_000_000 if kind == "info" else 0)
    assert_same(got, want, f"libc {kind}")


# --- damage --------------------------------------------------------------------------------------
def _section(path, name):
    out = readelf("-S", "-W", path).decode()
    for line in out.splitlines():
        m = re.search(r"\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if m and m.group(1) == name:
            return int(m.group(2), 16), int(m.group(3), 16)
    raise AssertionError(f"{name} not in {path}")


@pytest.mark.parametrize("section,kind,patch", [
    (".debug_info", "info", lambda b, o, n: b[:o] + (0xfffff0).to_bytes(4, "little") + b[o + 4:]),
    (".debug_info", "info", lambda b, o, n: b[:o + 12] + b"\xff" * (n - 12) + b[o + n:]),
    (".debug_abbrev", "info", lambda b, o, n: b[:o] + b"\xff" * n + b[o + n:]),
    (".debug_line", "line", lambda b, o, n: b[:o] + (0xfffff0).to_bytes(4, "little") + b[o + 4:]),
    (".debug_line", "line", lambda b, o, n: b[:o + 4] + (77).to_bytes(2, "little") + b[o + 6:]),
    (".eh_frame", "frames", lambda b, o, n: b[:o + 24] + b"\xfe" * (n - 24) + b[o + n:]),
], ids=["info-length", "info-garbage", "abbrev-garbage", "line-length", "line-version",
        "eh-frame-garbage"])
def test_damaged_dwarf_is_one_line_and_exit_2(tmp_path, section, kind, patch):
    src = fixture_path("backtrace")
    off, size = _section(src, section)
    bad = tmp_path / "damaged"
    bad.write_bytes(patch(src.read_bytes(), off, size))
    for extra in ((), ("--json",)):
        r = run_elfkit("inspect", bad, f"--debug-dump={kind}", *extra)
        err = r.stderr.decode()
        assert r.returncode == 2, err
        assert "Traceback" not in err
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"elfkit: error: {bad}: "), err


def test_unknown_kind_is_a_usage_error():
    r = run_elfkit("inspect", fixture_path("backtrace"), "--debug-dump=nosuch")
    assert r.returncode == 2
    assert b"nosuch" in r.stderr and b"Traceback" not in r.stderr


# --- JSON against readelf's facts -----------------------------------------------------------------
_DIE = re.compile(r"^ <(\d+)><([0-9a-f]+)>: Abbrev Number: (\d+)(?: \((.*)\))?$")
_ATTR_W = re.compile(r"^    <([0-9a-f]+)>   (.+?)\s*: \(([a-z_0-9]+)\) ?(.*)$")


def readelf_dies(path):
    """[(offset, level, abbrev, tag, [(attr offset, name, form, rest of line)])] from
    `readelf -W -wN -wi` (-W: the form of each attribute is shown)."""
    dies = []
    for line in readelf("-W", "-wN", "-wi", path).decode(errors="replace").splitlines():
        m = _DIE.match(line)
        if m:
            if m.group(3) != "0":
                dies.append((int(m.group(2), 16), int(m.group(1)), int(m.group(3)),
                             m.group(4), []))
            continue
        m = _ATTR_W.match(line)
        if m and dies:
            dies[-1][4].append((int(m.group(1), 16), m.group(2), "DW_FORM_" + m.group(3),
                                m.group(4)))
    return dies


def _json(path, kinds):
    r = run_elfkit("inspect", path, f"--debug-dump={kinds}", "--json")
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


JSON_INPUTS = ["backtrace", "hello-musl", "dwarf4", "cxx-dwarf5", "m32"]


def _input(variants, name):
    return variants[name] if name in VARIANTS else fixture_path(name)


@pytest.mark.parametrize("name", JSON_INPUTS)
def test_json_dies_match_readelf(variants, name):
    path = _input(variants, name)
    doc = _json(path, "info")
    sections = [s for s in doc["debug_dump"] if s["kind"] == "info"]
    assert len(sections) == 1
    got = [(d["offset"], d["level"], d["abbrev"], d["tag"],
            [(a["offset"], a["name"], a["form"]) for a in d["attributes"]])
           for u in sections[0]["units"] for d in u["dies"]]
    want_full = readelf_dies(path)
    want = [(o, lv, ab, tag, [(ao, n, f) for ao, n, f, _ in attrs])
            for o, lv, ab, tag, attrs in want_full]
    assert got == want
    # string values: readelf -W prints "(strp) (offset: 0x..): TEXT" / "(string) TEXT"
    values = {(a["offset"]): a for u in sections[0]["units"] for d in u["dies"]
              for a in d["attributes"]}
    checked = 0
    for _o, _lv, _ab, _tag, attrs in want_full:
        for ao, _n, form, rest in attrs:
            a = values[ao]
            if form in ("DW_FORM_strp", "DW_FORM_line_strp"):
                m = re.match(r"\(offset: (0x[0-9a-f]+|0)\): (.*)$", rest)
                assert m, rest
                assert a["str_offset"] == int(m.group(1), 16) and a["value"] == m.group(2)
                checked += 1
            elif form == "DW_FORM_string":
                assert a["value"] == rest
            elif form in ("DW_FORM_ref4", "DW_FORM_ref_udata"):
                assert a["value"] == int(re.match(r"<0x([0-9a-f]+)>", rest).group(1), 16)
            elif form in ("DW_FORM_data1", "DW_FORM_data2", "DW_FORM_udata"):
                assert a["value"] == int(rest.split()[0])
    assert checked > 10


def readelf_decoded_rows(path):
    """(line or None at an end of sequence, address, view, is_stmt) of every row of
    `readelf -wN --debug-dump=decodedline`."""
    rows = []
    row = re.compile(r"^\S+\s+(\d+|-)\s+(0x[0-9a-f]+)(?:\s+(\d+))?(?:\s+(x))?\s*$")
    for line in readelf("-wN", "--debug-dump=decodedline", path).decode().splitlines():
        m = row.match(line)
        if m:
            rows.append((None if m.group(1) == "-" else int(m.group(1)), int(m.group(2), 16),
                         int(m.group(3) or 0), m.group(4) == "x"))
    return rows


@pytest.mark.parametrize("name", JSON_INPUTS)
def test_json_line_rows_match_readelf_decodedline(variants, name):
    path = _input(variants, name)
    doc = _json(path, "line")
    got = []
    for s in doc["debug_dump"]:
        for p in s["programs"]:
            for r in p["rows"]:
                if r["end_sequence"]:
                    got.append((None, r["address"], 0, False))
                else:
                    got.append((r["line"], r["address"], r["view"], r["is_stmt"]))
    want = readelf_decoded_rows(path)
    assert len(want) > 10
    # readelf shows no Stmt or View column on an end-of-sequence row
    assert got == want


@pytest.mark.parametrize("name", ["backtrace", "backtrace-static", "hello32", "hello-musl"])
def test_json_frames_match_readelf(name):
    path = fixture_path(name)
    doc = _json(path, "frames")
    text = oracle("frames", path).decode().splitlines()
    want = []
    head = re.compile(r"^([0-9a-f]{8}) ([0-9a-f]+) ([0-9a-f]{8}) "
                      r"(CIE|FDE cie=([0-9a-f]{8}) pc=([0-9a-f]+)\.\.([0-9a-f]+))$")
    for line in text:
        m = head.match(line)
        if m:
            e = {"offset": int(m.group(1), 16), "length": int(m.group(2), 16),
                 "instructions": []}
            if m.group(4) == "CIE":
                e.update(kind="CIE", cie_id=int(m.group(3), 16))
            else:
                e.update(kind="FDE", cie_pointer=int(m.group(3), 16),
                         cie_offset=int(m.group(5), 16), pc_begin=int(m.group(6), 16),
                         pc_end=int(m.group(7), 16))
            want.append(e)
        elif re.match(r"^[0-9a-f]{8} ZERO terminator$", line):
            want.append({"offset": int(line[:8], 16), "kind": "ZERO"})
        elif line.startswith("  DW_CFA_"):
            want[-1]["instructions"].append(line[2:])
        elif line.startswith("  Code alignment factor:"):
            want[-1]["code_alignment_factor"] = int(line.split(":")[1])
        elif line.startswith("  Data alignment factor:"):
            want[-1]["data_alignment_factor"] = int(line.split(":")[1])
        elif line.startswith("  Return address column:"):
            want[-1]["return_address_register"] = int(line.split(":")[1])
        elif line.startswith("  Augmentation:"):
            want[-1]["augmentation"] = line.split('"')[1]
    got = []
    for s in doc["debug_dump"]:
        for e in s["entries"]:
            g = {k: e[k] for k in want[len(got)] if k in e and k != "instructions"} \
                if len(got) < len(want) else dict(e)
            if "instructions" in e:
                g["instructions"] = [i["text"] for i in e["instructions"]]
            got.append(g)
    assert got == want
