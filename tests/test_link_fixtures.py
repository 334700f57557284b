"""`elfkit link` (issue 13) against ld.bfd on the -nostdlib fixtures of fixtures/src/link/.

Each program (fixtures/Makefile, "BEGIN link") is a set of relocatable objects in
fixtures/build/link/PROG/ (their link order in build/link/PROG/objects) and ref, the
executable ld.bfd made of them with `ld -static -o ref -e _start OBJECTS...`.  ref is the
oracle: what it prints natively and its exit status are what elfkit's output must give.

Per program (symbols, tls, ctors, relocs, cxx):
- the oracle itself: ref runs natively, exits 0, prints no FAIL line and the lines the
  program is known to print (EXPECTED_LINES), and a few of its printed values agree with
  readelf's facts about ref (__start_myset/__stop_myset, init/fini array sizes, PT_TLS,
  IRELATIVE count, COMDAT symbols kept once);
- `python -m elfkit link -static -o OUT -e _start OBJECTS...` succeeds;
- OUT run natively prints ref's stdout with ref's exit status;
- `elfkit load-and-run OUT` does the same (and `elfkit load-and-run ref`, so that an
  emulator problem is told apart from a linker one);
- `readelf -a -W OUT` prints no warning on stderr, OUT is ET_EXEC for x86-64, has
  PT_GNU_STACK without E (and PT_TLS for tls);
- `elfkit inspect --relocs` of every input object succeeds and names every relocation type
  readelf names.
Errors (objects in build/link/errors/), ld.bfd's wording checked first on the same inputs:
two strong definitions ("multiple definition of `x'", naming both objects), an undefined
symbol ("undefined reference to `y'", naming the object), an R_X86_64_32 against an absolute
symbol at 4 GiB ("relocation truncated to fit", naming object, section, offset, symbol and
type).  elfkit must exit non-zero and print one line per problem carrying all of that.

Skipped (with the make command) when build/link/ is not built; cxx also when g++ is missing.

Debugging aid: ELFKIT_LINK_CMD="ld.bfd" (any command taking ld's arguments) replaces
`python -m elfkit link` in every test, to check the harness itself end to end.
"""
from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, run_elfkit

LINK = FIXTURES / "link"
PROGRAMS = ["symbols", "tls", "ctors", "relocs", "cxx"]
MAKE = "make -C fixtures link"
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
NATIVE_TIMEOUT = 30
EMU_TIMEOUT = 120
LD = shutil.which("ld.bfd") or shutil.which("ld")
READELF = shutil.which("readelf")

# Lines each program must print natively (on top of: exit 0, no FAIL line).
EXPECTED_LINES = {
    "symbols": [
        "weak_vs_strong() (weak 1 in a.o, strong 2 in b.o): 2",
        "weak_only() (weak 3 in a.o only): 3",
        "wdata (weak 10 in a.o, strong 20 in b.o): 20",
        "common_def (COMMON in a.o, = 5 in b.o): 5",
        "common_buf[0..99] sum (100-byte COMMON wins): 4950",
        "ok   weak undefined data: &missing_data == 0",
        "hidden_counter after hidden_bump(5): 12",
        "ops_data[0..2](7, 3) (.data): 100421",
        "ops_relro[0..2](9, 4) (.data.rel.ro, -fPIC): 130536",
        "big arrays touched at both ends: 153",
        "count_a() third call (static local in a.o): 3",
        "greeting_a(): hello, static linker",
        "greeting_b(): hello, static linker",
        "only_b(): static linker",
        "myset entries: 3",
        "  myset: a 10", "  myset: b 100", "  myset: c 1",
        "ok   _edata <= __bss_start",
        "ok   __bss_start <= _end",
        "ok   __ehdr_start points at \\x7fELF",
        "ok   AT_PHDR == __ehdr_start + e_phoff",
        "symbols: done",
    ],
    "tls": [
        "ok   %fs:0 is the thread pointer",
        "ok   global-dynamic view (gd.o) == main.o's",
        "ok   TLS descriptor view (desc.o) == main.o's",
        "tls_main_init (.tdata, main.o): 0x1234",
        "tls_gd_init (.tdata, gd.o): 0x55aa",
        "ok   .tbss variables start zeroed",
        "gd_local_sum() (local-dynamic in gd.o): 103",
        "desc_local_sum() (local-dynamic descriptors in desc.o): 1021",
        "tls: done",
    ],
    "ctors": [
        "constructors: preinit:main preinit:c1 c1:101 c2:102 main:200 c2:200 "
        "c1:300(argc>=1) c1:1000 c2:1000 c1:65534 main:default c1:65535 c1:default "
        "c2:default ",
        "ok   the preinit function got argc",
        "dtor c2:default", "dtor c1:default", "dtor main:default", "dtor c2:65000",
        "dtor main:200", "dtor c2:102", "dtor c1:101",
    ],
    "relocs": [
        "R_X86_64_64: fn_ptr(4): 13",
        "R_X86_64_32S: target_table[6]: 106",
        "R_X86_64_GOTPCRELX: call *target_fn@GOTPCREL(5): 1016",
        "R_X86_64_GOTPCREL (unrelaxed): target_msg: relocated",
        "R_X86_64_GOTOFF64 (large model): local table[3]: 33",
        "R_X86_64_PLTOFF64 (large model): target_fn(2): 3007",
        "R_X86_64_SIZE32: sized_obj@SIZE: 24",
        "R_X86_64_SIZE64: sized_obj@SIZE: 24",
        "R_X86_64_SIZE32: target_table@SIZE (other object): 64",
        "R_X86_64_GOT32: target_int via sym@GOT(%rbx): 0x11223344",
        "R_X86_64_GOTOFF64: asm_local_int: 4242",
        "IRELATIVE: ifn(5) (resolver picked impl 2: x * 100): 500",
        "IRELATIVE: ifn via R_X86_64_64 pointer in .rodata (6): 600",
        "IRELATIVE: ifn via GOTPCRELX from -fPIC (7): 700",
        "ok   ifunc pointer equality across objects",
        "relocs: done",
    ],
    "cxx": [
        "Registry<int>::count after one add in each object: 2",
        "Serial<int>::value: 1",
        "Serial<long>::value: 2",
        "shared_counter() after one += 1 in each object: 2",
        "virtual calls: square 9, square 16",
        "ok   one vtable for Square",
        "cxx: done",
    ],
}

# Relocation types the inputs must contain (readelf -r of the objects): the fixtures are
# there to exercise them, so a compiler that stops emitting one must be noticed.
EXPECTED_RELOC_TYPES = {
    "symbols": {"R_X86_64_64", "R_X86_64_32", "R_X86_64_32S", "R_X86_64_PC32",
                "R_X86_64_PLT32"},
    "tls": {"R_X86_64_TPOFF32", "R_X86_64_GOTTPOFF", "R_X86_64_TLSGD", "R_X86_64_TLSLD",
            "R_X86_64_DTPOFF32", "R_X86_64_GOTPC32_TLSDESC", "R_X86_64_TLSDESC_CALL"},
    "ctors": {"R_X86_64_64"},
    "relocs": {"R_X86_64_64", "R_X86_64_32", "R_X86_64_32S", "R_X86_64_PC32",
               "R_X86_64_PLT32", "R_X86_64_GOTPCREL", "R_X86_64_GOTPCRELX",
               "R_X86_64_REX_GOTPCRELX", "R_X86_64_GOTPC64", "R_X86_64_GOTOFF64",
               "R_X86_64_GOT64", "R_X86_64_PLTOFF64", "R_X86_64_SIZE32", "R_X86_64_SIZE64",
               "R_X86_64_PC64", "R_X86_64_GOTPC32", "R_X86_64_GOT32"},
    "cxx": {"R_X86_64_64", "R_X86_64_PC32", "R_X86_64_PLT32"},
}


# ------------------------------------------------------------------ helpers ----

def program_dir(prog: str) -> Path:
    d = LINK / prog
    if not (d / "ref").is_file() or not (d / "objects").is_file():
        if prog == "cxx" and shutil.which("g++") is None:
            pytest.skip("no g++: build/link/cxx is not built (Debian package g++)")
        pytest.skip(f"fixtures/build/link/{prog} not built: run `{MAKE}`")
    return d


def objects(prog: str) -> list[Path]:
    d = program_dir(prog)
    objs = [d / line.strip() for line in (d / "objects").read_text().splitlines()
            if line.strip()]
    missing = [str(o) for o in objs if not o.is_file()]
    if missing:
        pytest.skip(f"missing {', '.join(missing)}: run `{MAKE}`")
    return objs


def error_objects(*names: str) -> list[Path]:
    d = LINK / "errors"
    objs = [d / n for n in names]
    if not all(o.is_file() for o in objs):
        pytest.skip(f"fixtures/build/link/errors not built: run `{MAKE}`")
    return objs


def need(tool, name):
    if tool is None:
        pytest.skip(f"no {name} (Debian package binutils)")


def shell_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def run_native(path: Path) -> tuple[bytes, bytes, int]:
    p = subprocess.run([str(path)], capture_output=True, env=ENV, cwd=ROOT,
                       stdin=subprocess.DEVNULL, timeout=NATIVE_TIMEOUT)
    return p.stdout, p.stderr, shell_status(p.returncode)


def elfkit_link(out: Path, objs: list[Path]) -> subprocess.CompletedProcess:
    """`python -m elfkit link -static -o OUT -e _start OBJS...` (ld's command line), or
    $ELFKIT_LINK_CMD with the same arguments (debugging aid, see the module docstring)."""
    args = ["-static", "-o", str(out), "-e", "_start", *map(str, objs)]
    cmd = os.environ.get("ELFKIT_LINK_CMD")
    if cmd:
        return subprocess.run([*shlex.split(cmd), *args], capture_output=True, cwd=ROOT,
                              timeout=EMU_TIMEOUT)
    return run_elfkit("link", *args, timeout=EMU_TIMEOUT)


def ld_bfd(out: Path, objs: list[Path]) -> subprocess.CompletedProcess:
    need(LD, "ld.bfd")
    return subprocess.run([LD, "-static", "-o", str(out), "-e", "_start", *map(str, objs)],
                          capture_output=True, cwd=ROOT, timeout=60)


def text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def no_traceback(proc: subprocess.CompletedProcess):
    assert b"Traceback (most recent call last)" not in proc.stderr, text(proc.stderr)


def readelf(*args) -> subprocess.CompletedProcess:
    need(READELF, "readelf")
    return subprocess.run([READELF, *map(str, args)], capture_output=True, timeout=60,
                          env=ENV)


def symbols_of(path: Path) -> dict[str, list[dict]]:
    """readelf -sW: name -> [{value, size, type, bind, vis, ndx}] (every occurrence)."""
    out: dict[str, list[dict]] = {}
    for line in text(readelf("-sW", path).stdout).splitlines():
        f = line.split()
        if len(f) >= 8 and f[0].endswith(":") and f[0][:-1].isdigit():
            out.setdefault(f[7], []).append(
                {"value": int(f[1], 16), "size": int(f[2], 0), "type": f[3], "bind": f[4],
                 "vis": f[5], "ndx": f[6]})
    return out


def sections_of(path: Path) -> dict[str, dict]:
    """readelf -SW: name -> {addr, size, type}."""
    out = {}
    for line in text(readelf("-SW", path).stdout).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)",
                     line)
        if m:
            out[m.group(1)] = {"type": m.group(2), "addr": int(m.group(3), 16),
                               "size": int(m.group(4), 16)}
    return out


def program_headers(path: Path) -> list[dict]:
    """readelf -lW: [{type, flags, align, memsz}]."""
    out = []
    for line in text(readelf("-lW", path).stdout).splitlines():
        m = re.match(r"\s+([A-Z_a-z0-9+]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+"
                     r"0x[0-9a-f]+\s+0x([0-9a-f]+)\s+([RWE ]+?)\s+0x([0-9a-f]+)\s*$", line)
        if m:
            out.append({"type": m.group(1), "memsz": int(m.group(2), 16),
                        "flags": m.group(3).replace(" ", ""), "align": int(m.group(4), 16)})
    return out


def reloc_types(path: Path) -> set[str]:
    return set(re.findall(r"\b(R_X86_64_[A-Z0-9_]+)\b", text(readelf("-rW", path).stdout)))


@functools.cache
def ref_run(prog: str) -> tuple[bytes, bytes, int]:
    return run_native(program_dir(prog) / "ref")


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    """prog -> (CompletedProcess of the link, OUT path); each program linked once."""
    cache: dict = {}
    base = tmp_path_factory.mktemp("elfkit-link")

    def get(prog: str):
        if prog not in cache:
            objs = objects(prog)
            out = base / prog
            cache[prog] = (elfkit_link(out, objs), out)
        return cache[prog]
    return get


def linked_ok(linked, prog: str) -> Path:
    proc, out = linked(prog)
    no_traceback(proc)
    assert proc.returncode == 0 and out.is_file(), (
        f"elfkit link failed for {prog} (status {proc.returncode}):\n{text(proc.stderr)}")
    return out


# ------------------------------------------------------- the oracle: ref ----

@pytest.mark.parametrize("prog", PROGRAMS)
def test_ref_runs_natively(prog):
    """ld.bfd's executable does what the fixture says: exit 0, no FAIL, the known lines."""
    out, err, status = ref_run(prog)
    lines = text(out).splitlines()
    assert status == 0, (status, text(out), text(err))
    assert err == b""
    assert not [ln for ln in lines if ln.startswith("FAIL")], text(out)
    missing = [ln for ln in EXPECTED_LINES[prog] if ln not in lines]
    assert not missing, f"missing lines {missing} in:\n{text(out)}"
    if prog == "ctors":     # destructors: plain .fini_array backwards, then by priority
        dtors = [ln for ln in lines if ln.startswith("dtor ")]
        assert dtors == [ln for ln in EXPECTED_LINES["ctors"] if ln.startswith("dtor ")]


@pytest.mark.parametrize("prog", PROGRAMS)
def test_inputs_have_the_relocation_types(prog):
    """The objects contain the relocation types the program is there to exercise."""
    found = set()
    for obj in objects(prog):
        found |= reloc_types(obj)
    assert EXPECTED_RELOC_TYPES[prog] <= found, sorted(EXPECTED_RELOC_TYPES[prog] - found)


def test_ref_symbols_agree_with_readelf():
    ref = program_dir("symbols") / "ref"
    syms, secs = symbols_of(ref), sections_of(ref)
    start, stop = syms["__start_myset"][0]["value"], syms["__stop_myset"][0]["value"]
    assert secs["myset"]["size"] == stop - start == 3 * 16      # 3 entries of 16 bytes
    assert secs["myset"]["addr"] == start
    buf = syms["common_buf"]
    assert len(buf) == 1 and buf[0]["size"] == 100 and buf[0]["value"] % 32 == 0
    assert syms["common_def"][0]["ndx"] == str(_section_index(ref, ".data"))
    assert syms["big_bss"][0]["size"] == 3 << 20 and syms["big_data"][0]["size"] == 256 << 10
    assert syms["_edata"][0]["value"] <= syms["__bss_start"][0]["value"] \
        <= syms["_end"][0]["value"]
    assert "missing_data" not in syms or syms["missing_data"][0]["value"] == 0


def _section_index(path: Path, name: str) -> int:
    for line in text(readelf("-SW", path).stdout).splitlines():
        m = re.match(r"\s*\[\s*(\d+)\]\s+(\S+)", line)
        if m and m.group(2) == name:
            return int(m.group(1))
    raise AssertionError(f"no section {name} in {path}")


def test_ref_ctors_agree_with_readelf():
    ref = program_dir("ctors") / "ref"
    out = text(ref_run("ctors")[0]).splitlines()
    secs = sections_of(ref)
    log = next(ln for ln in out if ln.startswith("constructors: ")).split()[1:]
    preinit = [w for w in log if w.startswith("preinit:")]
    assert secs[".preinit_array"]["size"] == 8 * len(preinit) == 16
    assert secs[".init_array"]["size"] == 8 * (len(log) - len(preinit))
    assert secs[".fini_array"]["size"] == 8 * len([ln for ln in out if ln.startswith("dtor ")])


def test_ref_tls_agrees_with_readelf():
    ref = program_dir("tls") / "ref"
    tls = [ph for ph in program_headers(ref) if ph["type"] == "TLS"]
    assert len(tls) == 1 and tls[0]["align"] == 64 and tls[0]["memsz"] >= 64 + 8 * 4
    syms = symbols_of(ref)
    assert "__tls_get_addr" not in syms or syms["__tls_get_addr"][0]["ndx"] == "UND"
    assert all(s[0]["type"] == "TLS" for n, s in syms.items() if n.startswith("tls_"))


def test_ref_relocs_agree_with_readelf():
    ref = program_dir("relocs") / "ref"
    rel = text(readelf("-rW", ref).stdout)
    assert rel.count("R_X86_64_IRELATIVE") == 1, rel
    syms = symbols_of(ref)
    assert syms["__rela_iplt_end"][0]["value"] - syms["__rela_iplt_start"][0]["value"] == 24
    assert syms["ifn"][0]["type"] == "IFUNC"


def test_ref_cxx_keeps_each_comdat_once():
    ref = program_dir("cxx") / "ref"
    syms = symbols_of(ref)
    for name in ("_ZN8RegistryIiE5countE", "_Z5twiceIiET_S0_", "_ZTV6Square",
                 "_ZGVN6SerialIiE5valueE", "_ZZ14shared_countervE7counter"):
        assert len(syms.get(name, [])) == 1, name
    a_groups = text(readelf("-gW", program_dir("cxx") / "a.o").stdout)
    b_groups = text(readelf("-gW", program_dir("cxx") / "b.o").stdout)
    for sig in ("_Z5twiceIiET_S0_", "_ZTV6Square", "_ZN8RegistryIiE5countE"):
        assert f"[{sig}]" in a_groups and f"[{sig}]" in b_groups, sig


@pytest.mark.parametrize("prog", PROGRAMS)
def test_ref_under_elfkit(prog):
    """Baseline for the emulator: ld.bfd's own executable under `elfkit load-and-run`."""
    out, _, status = ref_run(prog)
    emu = run_elfkit("load-and-run", program_dir(prog) / "ref", timeout=EMU_TIMEOUT)
    no_traceback(emu)
    assert (text(emu.stdout), shell_status(emu.returncode)) == (text(out), status), \
        text(emu.stderr)


# ------------------------------------------------------------ elfkit link ----

@pytest.mark.parametrize("prog", PROGRAMS)
def test_link_succeeds(prog, linked):
    out = linked_ok(linked, prog)
    with open(out, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    assert os.access(out, os.X_OK), "output is not executable (mode)"


@pytest.mark.parametrize("prog", PROGRAMS)
def test_linked_runs_natively_like_ref(prog, linked):
    exe = linked_ok(linked, prog)
    ref_out, ref_err, ref_status = ref_run(prog)
    out, err, status = run_native(exe)
    assert (text(out), status) == (text(ref_out), ref_status), text(err)
    assert err == ref_err


@pytest.mark.parametrize("prog", PROGRAMS)
def test_linked_under_elfkit_like_ref(prog, linked):
    exe = linked_ok(linked, prog)
    ref_out, _, ref_status = ref_run(prog)
    emu = run_elfkit("load-and-run", exe, timeout=EMU_TIMEOUT)
    no_traceback(emu)
    assert (text(emu.stdout), shell_status(emu.returncode)) == (text(ref_out), ref_status), \
        text(emu.stderr)


@pytest.mark.parametrize("prog", PROGRAMS)
def test_linked_readelf_clean(prog, linked):
    exe = linked_ok(linked, prog)
    full = readelf("-a", "-W", exe)
    assert full.stderr == b"", text(full.stderr)
    assert re.search(r"Type:\s+EXEC", text(full.stdout))
    assert re.search(r"Machine:\s+Advanced Micro Devices X86-64", text(full.stdout))
    phs = program_headers(exe)
    types = [ph["type"] for ph in phs]
    assert "LOAD" in types
    stack = [ph for ph in phs if ph["type"] == "GNU_STACK"]
    assert len(stack) == 1 and "E" not in stack[0]["flags"], phs
    assert ("TLS" in types) == (prog == "tls"), types
    assert not [ph for ph in phs if ph["type"] == "LOAD" and "W" in ph["flags"]
                and "E" in ph["flags"]], "a writable and executable PT_LOAD"


@pytest.mark.parametrize("prog", PROGRAMS)
def test_inspect_relocs_of_inputs(prog):
    """`elfkit inspect --relocs` reads every input object and names every type readelf does."""
    for obj in objects(prog):
        proc = run_elfkit("inspect", "--relocs", obj, timeout=60)
        no_traceback(proc)
        assert proc.returncode == 0, (obj, text(proc.stderr))
        names = set(re.findall(r"\b(R_X86_64_[A-Z0-9_]+)\b", text(proc.stdout)))
        assert reloc_types(obj) <= names, (obj, sorted(reloc_types(obj) - names))


# ----------------------------------------------------------------- errors ----

ERRORS = {
    # case: (objects in link order, the text, names every problem line must carry)
    "multiple-definition": (("start.o", "rt.o", "dup_a.o", "dup_b.o"),
                            "multiple definition of `x'", ("dup_a.o", "dup_b.o")),
    "undefined": (("start.o", "rt.o", "undef.o"),
                  "undefined reference to `y'", ("undef.o",)),
    "reloc-overflow": (("start.o", "rt.o", "big_use.o", "big_def.o"),
                       "relocation truncated to fit", ("big_use.o", "R_X86_64_32", "big")),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_ld_bfd_error_oracle(case, tmp_path):
    """ld.bfd on the same inputs: fails, with the wording elfkit is held to."""
    names, msg, must = ERRORS[case]
    proc = ld_bfd(tmp_path / "out", error_objects(*names))
    err = text(proc.stderr)
    assert proc.returncode != 0, err
    assert msg in err, err
    assert all(m in err for m in must), err
    if case == "reloc-overflow":
        assert "R_X86_64_32 against symbol `big'" in err and "(.text+0x1)" in err, err


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_elfkit_link_error(case, tmp_path):
    names, msg, must = ERRORS[case]
    objs = error_objects(*names)
    proc = elfkit_link(tmp_path / "out", objs)
    no_traceback(proc)
    err = text(proc.stderr)
    assert proc.returncode != 0, f"status 0; stderr:\n{err}"
    lines = [ln for ln in err.splitlines() if msg in ln]
    assert len(lines) == 1, f"want one line with {msg!r}:\n{err}"
    line = lines[0]
    assert all(m in line for m in must), f"{must} not all in {line!r}"
    if case == "reloc-overflow":
        # ld: "big_use.o: in function `main': (.text+0x1): relocation truncated to fit:
        # R_X86_64_32 against symbol `big' defined in *ABS* section": the section and offset
        assert ".text" in line and re.search(r"0x0*1\b", line), line


@pytest.mark.parametrize("prog", PROGRAMS)
def test_load_and_run_of_the_objects(prog):
    """`elfkit load-and-run OBJECTS... --`: linked in memory (they define _start, so as they
    are) and run: ref's output, run natively, is the oracle."""
    want_out, _want_err, want_status = ref_run(prog)
    r = run_elfkit("load-and-run", *objects(prog), "--")
    assert (r.returncode, r.stdout) == (want_status, want_out), text(r.stderr)


def _readelf_symbols(path) -> dict:
    out = {}
    for line in text(readelf("-s", "-W", str(path)).stdout).splitlines():
        f = line.split()
        if len(f) >= 8 and f[0].endswith(":") and f[4] in ("GLOBAL", "WEAK"):
            out.setdefault(f[7], set()).add(int(f[1], 16))
    return out


def _readelf_addends(obj) -> dict:
    """(section, offset) -> addend, from readelf -r of an input object."""
    out, section = {}, None
    for line in text(readelf("-r", "-W", str(obj)).stdout).splitlines():
        if line.startswith("Relocation section '"):
            section = line.split("'")[1].removeprefix(".rela")
            continue
        f = line.split()
        if len(f) >= 3 and f[2].startswith("R_X86_64_") and section:
            m = line.rsplit(" + ", 1) if " + " in line else line.rsplit(" - ", 1)
            if len(m) == 2 and all(c in "0123456789abcdef" for c in m[1].strip()):
                a = int(m[1], 16) * (1 if " + " in line else -1)
            else:
                a = int(f[-1], 16) if len(f) == 4 else 0
            out[(section, int(f[0], 16))] = a
    return out


def test_trace_relocs_and_map_agree_with_readelf(tmp_path):
    """`elfkit link --trace-relocs -Map`: for every relocation of the relocs program, the
    lecture's S, A and P and the value written. Oracles: A is readelf -r's addend of that
    input at that offset; S of a global symbol is readelf -s's value in the output; the value
    is the bytes of the output file at P (for the types that are not rewritten by a
    relaxation); and S + A - P / S + A hold where the type says so. The -Map file's symbol
    addresses are readelf -s's."""
    objs = objects("relocs")
    out, mapfile = tmp_path / "relocs", tmp_path / "relocs.map"
    r = run_elfkit("link", "-static", "-e", "_start", "-o", out, "--trace-relocs", "-Map",
                   mapfile, *objs)
    assert r.returncode == 0, text(r.stderr)
    syms = _readelf_symbols(out)
    addends = {str(o): _readelf_addends(o) for o in objs}
    data = out.read_bytes()
    secs = []
    for line in text(readelf("-SW", out).stdout).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+\S+\s+PROGBITS\s+([0-9a-f]+)\s+([0-9a-f]+)\s+"
                     r"([0-9a-f]+)", line)
        if m and int(m.group(1), 16):
            secs.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16)))
    checked = 0
    for line in text(r.stdout).splitlines()[1:]:
        f = line.split()
        P, rtype, name, S, A, value = int(f[0], 16), f[1], f[2], int(f[3], 16), int(f[4], 16), \
            int(f[5], 16)
        obj, _, rest = f[6].rpartition("(")
        sec, off = rest.rstrip(")").rsplit("+", 1)
        assert addends[obj][(sec, int(off, 16))] == A, line
        if name in syms and len(syms[name]) == 1 and rtype != "R_X86_64_SIZE32" and \
                rtype != "R_X86_64_SIZE64":
            assert S in syms[name], line
        width = {"R_X86_64_64": 8, "R_X86_64_PC64": 8, "R_X86_64_32": 4, "R_X86_64_32S": 4,
                 "R_X86_64_PC32": 4, "R_X86_64_PLT32": 4}.get(rtype)
        if width is None:
            continue
        base = next(o + (P - a) for a, o, n in secs if a <= P < a + n)
        stored = int.from_bytes(data[base:base + width], "little")
        assert stored == value & ((1 << 8 * width) - 1), line
        pc = rtype in ("R_X86_64_PC32", "R_X86_64_PLT32", "R_X86_64_PC64")
        assert value == (S + A - P if pc else S + A) & (1 << 64) - 1, line
        checked += 1
    assert checked > 20
    mapped = {}
    for line in mapfile.read_text().split("\nSymbols\n", 1)[1].splitlines():
        f = line.split()
        if len(f) >= 2 and f[0].startswith("0x"):
            mapped[f[1]] = int(f[0], 16)
    common = [n for n in mapped if n in syms and len(syms[n]) == 1]
    assert len(common) > 10
    for n in common:
        assert mapped[n] in syms[n], n
