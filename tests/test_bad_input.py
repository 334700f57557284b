"""Truncated, corrupted and non-ELF input: never a traceback, a hang or a giant allocation.

The contract (README / issue): a truncated, corrupted or non-ELF file never
produces a Python traceback; the CLI prints one `elfkit: error: FILE: ...`
line and exits 2; where part of the file is still readable, the readable
views print and the damage is reported (`elfkit: warning: FILE: ...`, exit 2),
as readelf does. Counts and offsets taken from the file are checked against
the file size before anything is allocated or looped over.

Inputs are real files (/bin/ls, libc.so.6, binaries gcc builds here, and a
few fixtures when they are built) damaged by tests/hostile.py, which finds
every header and table with its own struct reader, never with elfkit.

Two layers:
- in-process sweeps: every truncation point and every field corruption of
  each input goes through ElfFile and both renderers (text, JSON) with every
  view; only ElfkitError may escape, within TIME_LIMIT seconds each, under
  an address-space cap so that a giant allocation fails cleanly;
- the real command line (`python -m elfkit`, via conftest.run_elfkit) for a
  representative subset: `inspect --all`, `inspect --all --json`, `disasm`.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import signal
import subprocess
import time
import traceback
from pathlib import Path

import pytest

import hostile
from conftest import FIXTURES, run_elfkit

from elfkit.elf import ElfFile
from elfkit.errors import ElfkitError
from elfkit.render.inspect_json import write_inspect_json
from elfkit.render.inspect_text import write_inspect_text

VIEWS = ["summary", "header", "segments", "sections", "dynamic", "relocations", "symbols",
         "dyn_syms", "versions", "notes", "got"]
TIME_LIMIT = 20            # seconds, per input and command
MEMORY_HEADROOM = 3 << 30  # bytes of address space a run may add before it counts as a giant allocation

SYSTEM_FILES = {"ls": Path("/bin/ls"), "libc": Path("/usr/lib/x86_64-linux-gnu/libc.so.6")}
# Built by `make -C fixtures`; used when present, never required.
OPTIONAL_FIXTURES = {"core": "core.hello", "reloc.o": "reloc.o", "relr": "hello-relr"}

PROG_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int counter = 3;
static int helper(const char *s) { return (int)strlen(s) + counter; }
int main(int argc, char **argv) {
    printf("%d\n", helper(argc > 1 ? argv[1] : "x"));
    puts("hello");
    return atoi("0");
}
"""
LIB_C = r"""
int foo_v1(void) { return 1; }
int foo_v2(void) { return 2; }
int bar(void) { return 3; }
__asm__(".symver foo_v1,foo@LIB_1.0");
__asm__(".symver foo_v2,foo@@LIB_2.0");
"""
LIB_MAP = "LIB_1.0 { global: foo; bar; local: *; };\nLIB_2.0 { global: foo; } LIB_1.0;\n"


# ------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------

def _gcc(out: Path, *args) -> Path | None:
    r = subprocess.run(["gcc", *map(str, args), "-o", str(out)], capture_output=True)
    return out if r.returncode == 0 else None


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict[str, Path]:
    """Small binaries compiled here: PIE (lazy PLT), static, a versioned .so, an i386 PIE."""
    d = tmp_path_factory.mktemp("bad-input-build")
    (d / "prog.c").write_text(PROG_C)
    (d / "lib.c").write_text(LIB_C)
    (d / "lib.map").write_text(LIB_MAP)
    out = {
        "dyn": _gcc(d / "dyn", "-O1", "-fPIE", "-pie", "-Wl,-z,lazy", d / "prog.c"),
        "static": _gcc(d / "static", "-O1", "-static", d / "prog.c"),
        "lib": _gcc(d / "lib.so", "-O1", "-shared", "-fPIC", f"-Wl,--version-script={d / 'lib.map'}",
                    "-Wl,-soname,libhx.so.1", d / "lib.c"),
        "dyn32": _gcc(d / "dyn32", "-O1", "-m32", "-fPIE", "-pie", d / "prog.c"),   # needs gcc-multilib
    }
    for required in ("dyn", "static", "lib"):
        assert out[required] is not None, f"gcc could not build the {required} test binary"
    return {k: v for k, v in out.items() if v is not None}


_BASE_CACHE: dict[str, bytes] = {}


def base_bytes(name: str, built: dict[str, Path]) -> bytes:
    """The undamaged input called `name`; `X-noshdr` is X with its section headers removed."""
    if name in _BASE_CACHE:
        return _BASE_CACHE[name]
    if name.endswith("-noshdr"):
        data = hostile.strip_section_headers(base_bytes(name[:-len("-noshdr")], built))
    elif name in SYSTEM_FILES:
        data = SYSTEM_FILES[name].read_bytes()
    elif name in OPTIONAL_FIXTURES:
        p = FIXTURES / OPTIONAL_FIXTURES[name]
        if not p.exists():
            pytest.skip(f"fixture {p.name} not built (make -C fixtures)")
        data = p.read_bytes()
    elif name in built:
        data = built[name].read_bytes()
    else:
        pytest.skip(f"{name} could not be built here (gcc -m32 needs gcc-multilib)")
    _BASE_CACHE[name] = data
    return data


# ------------------------------------------------------------------------------------------
# Guards: time and memory
# ------------------------------------------------------------------------------------------

class _Timeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int):
    def fire(signum, frame):
        raise _Timeout(f"did not finish in {seconds} s")
    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def memory_cap():
    """Cap this process's (and its children's) address space: a giant allocation becomes a
    MemoryError (or exit code 3 in a child) instead of swapping the machine to death."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = max(_vm_size() + MEMORY_HEADROOM, 4 << 30)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# ------------------------------------------------------------------------------------------
# In-process: every case through ElfFile and both renderers
# ------------------------------------------------------------------------------------------

def _table_ends(orig: bytes) -> list[int]:
    """Where the program and section header tables of the undamaged file end: a cut before
    either end must be reported (the tables are where readelf complains first)."""
    h = hostile.Layout(orig).ehdr
    ends = []
    if h["e_phoff"] and h["e_phnum"]:
        ends.append(h["e_phoff"] + h["e_phnum"] * h["e_phentsize"])
    if h["e_shoff"] and h["e_shnum"]:
        ends.append(h["e_shoff"] + h["e_shnum"] * h["e_shentsize"])
    return ends


def check_in_process(case: hostile.Case, header_intact: bool = False,
                     damage_expected: bool = False) -> str | None:
    """None if elfkit handled `case`; otherwise what went wrong.

    header_intact: a truncation that left the whole ELF header, so the readable
    views must print; damage_expected: it cut a header table, so warnings must say so.
    """
    try:
        with time_limit(TIME_LIMIT):
            elf = ElfFile.from_bytes(case.data, f"<{case.id}>")
            text, js = io.StringIO(), io.StringIO()
            write_inspect_text(elf, VIEWS, text)
            write_inspect_json(elf, VIEWS, js)
    except ElfkitError as e:
        if header_intact:
            return f"the ELF header is intact but nothing printed: ElfkitError {e}"
        if "\n" in str(e):
            return f"error message spans lines: {str(e)!r}"
        return None
    except _Timeout as e:
        return f"hang: {e}"
    except MemoryError:
        return "giant allocation: MemoryError"
    except Exception as e:  # noqa: BLE001 - this is what the test is looking for
        frames = traceback.format_exception(type(e), e, e.__traceback__)
        return "".join(frames[-3:]).strip()
    try:
        doc = json.loads(js.getvalue())
    except ValueError as e:
        return f"--json output does not parse: {e}"
    bad_lines = [w for w in elf.warnings if "\n" in w or "\r" in w]
    if bad_lines:
        return f"warning spans several lines: {bad_lines[0]!r}"
    if header_intact and ("ELF Header:" not in text.getvalue() or "header" not in doc):
        return "the ELF header is intact but the header view did not print"
    if damage_expected and not elf.warnings:
        return "a header table was cut but no damage was reported"
    if doc.get("warnings") != elf.warnings:
        return "the JSON document's warnings differ from the ones found"
    return None


def _sweep(cases: list[hostile.Case], truncated_from: bytes | None = None):
    """Every case in-process; one failure listing every mishandled case."""
    if truncated_from is not None:
        ehdr_size, ends = hostile.Layout(truncated_from).ehdr_size, _table_ends(truncated_from)
    failures = []
    with memory_cap():
        for case in cases:
            intact = truncated_from is not None and len(case.data) >= ehdr_size
            damaged = intact and any(len(case.data) < e for e in ends)
            t = time.monotonic()
            problem = check_in_process(case, intact, damaged)
            if problem:
                failures.append(f"{case.id} ({time.monotonic() - t:.1f} s): {problem}")
    assert not failures, f"{len(failures)} of {len(cases)} inputs mishandled:\n" + "\n".join(failures)


def _thin(points, keep_every: int):
    """Keep every point except the section/program header table entries, of which keep
    every `keep_every`-th (large files have a hundred of them; each costs a full decode)."""
    out, k = [], 0
    for label, n in points:
        if label.startswith(("shdr[", "phdr[")) and "|" not in label:
            k += 1
            if k % keep_every:
                continue
        out.append((label, n))
    return out


# Every header boundary of the small inputs; libc's are thinned (each of its runs costs ~0.1 s).
TRUNCATION_BASES = ["dyn", "static", "lib", "dyn32", "ls", "dyn-noshdr", "lib-noshdr", "libc",
                    "core", "reloc.o", "relr"]


@pytest.mark.parametrize("base", TRUNCATION_BASES)
def test_truncated_at_every_header_boundary(base, built):
    data = base_bytes(base, built)
    points = hostile.truncation_points(data)
    if base in ("libc", "core"):
        points = _thin(points, 6)
    cases = [hostile.Case(f"{base}:trunc@{n}:{label}", data[:n]) for label, n in points]
    assert len(cases) > 30
    _sweep(cases, truncated_from=data)


# Which corruption families run on which input: all of them on the small binaries; the big
# ones get the table-heavy families, where their size matters.
CORRUPTION_PLAN = {
    "dyn": ["header", "segments", "sections", "symbols", "dynamic", "notes", "versions", "hash"],
    "lib": ["interesting-sections", "symbols", "dynamic", "versions", "hash"],
    "static": ["header", "symtab-sections", "symbols", "notes"],
    "dyn32": ["header", "segments", "interesting-sections", "symbols", "dynamic", "versions", "hash"],
    "ls": ["header", "segments", "interesting-sections", "symbols", "dynamic", "notes", "versions",
           "hash"],
    "dyn-noshdr": ["header", "segments", "symbols", "dynamic", "notes", "versions", "hash"],
    "lib-noshdr": ["symbols", "dynamic", "versions", "hash"],
    "ls-noshdr": ["symbols", "dynamic", "versions", "hash"],
    "libc": ["versions", "hash"],
    "libc-noshdr": ["hash"],
    "core": ["header", "segments", "notes"],
    "reloc.o": ["header", "sections", "symbols"],
    "relr": ["dynamic", "relr-sections"],
}
FAMILIES = {
    "header": hostile.header_corruptions,
    "segments": hostile.segment_corruptions,
    "sections": lambda d: hostile.section_corruptions(d, every_section=True),
    "interesting-sections": lambda d: hostile.section_corruptions(d, every_section=False),
    "symtab-sections": lambda d: hostile.section_corruptions(d, only=(".symtab", ".strtab", ".rela.plt")),
    "relr-sections": lambda d: hostile.section_corruptions(d, only=(".relr.dyn", ".rela.dyn")),
    "symbols": hostile.symbol_corruptions,
    "dynamic": hostile.dynamic_corruptions,
    "notes": hostile.note_corruptions,
    "versions": hostile.version_corruptions,
    "hash": hostile.hash_corruptions,
}


@pytest.mark.parametrize("base,family", [(b, f) for b, fams in CORRUPTION_PLAN.items() for f in fams])
def test_corrupted_fields(base, family, built):
    data = base_bytes(base, built)
    cases = [hostile.Case(f"{base}:{c.id}", c.data) for c in FAMILIES[family](data)]
    if not cases:
        pytest.skip(f"{base} has nothing for {family} corruptions to work on")
    _sweep(cases)


def test_non_elf_bytes_in_process():
    _sweep(hostile.non_elf_inputs())


# ------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------

def run_cli(*args, timeout=TIME_LIMIT):
    """run_elfkit under the memory cap; a timeout is a failure of its own."""
    try:
        with memory_cap():
            r = run_elfkit(*args, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`elfkit {' '.join(map(str, args))}` did not finish in {timeout} s")
    return r


def check_cli(r, path, *, as_json=False) -> list[str]:
    """The CLI contract for damaged input; the stderr lines, for further checks."""
    cmd = " ".join(map(str, r.args[3:]))
    err = r.stderr.decode("utf-8", "backslashreplace")
    lines = err.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    assert "Traceback" not in err, f"`{cmd}` printed a traceback:\n{err[-3000:]}"
    assert r.returncode >= 0, f"`{cmd}` was killed by signal {-r.returncode}"
    assert r.returncode != 3, f"`{cmd}` hit an internal error (exit 3): {err.strip()[-2000:]}"
    assert r.returncode in (0, 2), f"`{cmd}` exited {r.returncode}: {err[-2000:]}"
    assert all(line.startswith("elfkit:") for line in lines), \
        f"`{cmd}`: a stderr line is not an `elfkit:` line (one line per problem): " \
        f"{next(line for line in lines if not line.startswith('elfkit:'))!r}\nwhole stderr: {err[-2000:]!r}"
    if r.returncode == 2:
        assert lines, f"`{cmd}` exited 2 without saying why"
        assert str(path) in lines[0], f"`{cmd}`: the first stderr line does not name {path}: {lines[0]!r}"
    errors = [line for line in lines if line.startswith("elfkit: error:")]
    assert len(errors) <= 1, f"`{cmd}`: more than one fatal error line: {errors}"
    if errors:
        assert r.returncode == 2 and lines[-1] == errors[0], f"`{cmd}`: the error line must be the last"
    if as_json and r.stdout and r.returncode in (0, 2):
        try:
            json.loads(r.stdout)
        except ValueError as e:
            pytest.fail(f"`{cmd}`: stdout is not one JSON document: {e}")
    return lines


# (input, case id). Truncations are named "trunc:<label>" (labels from hostile.truncation_points).
CLI_CASES = [
    ("dyn", "trunc:ident+5"), ("dyn", "trunc:ehdr.e_phoff.mid"), ("dyn", "trunc:ehdr.end-1"),
    ("dyn", "trunc:ehdr.end"), ("dyn", "trunc:phdr[1].mid"), ("dyn", "trunc:.dynsym.mid"),
    ("dyn", "trunc:.dynstr.mid"), ("dyn", "trunc:.rela.dyn.mid"), ("dyn", "trunc:.gnu.version_r.mid"),
    ("dyn", "trunc:shdr[5].mid"), ("ls", "trunc:.dynamic.mid"), ("dyn-noshdr", "trunc:PT2.mid"),
    ("lib", "trunc:.gnu.version_d.mid"),
    ("dyn", "e_phoff=max"), ("dyn", "e_shoff=EOF"), ("dyn", "e_phnum=0xffff"),
    ("dyn", "e_shnum=0xffff"), ("dyn", "e_shentsize=0xffff"), ("dyn", "e_phentsize+1"),
    ("dyn", "e_shstrndx=0xfeff"), ("dyn", "xnum:e_shnum=0,sh0.size=max"),
    ("dyn", "EI_DATA=MSB"), ("dyn32", "EI_CLASS=other"),
    ("dyn", "[6].dynsym.sh_offset=max"), ("dyn", "[6].dynsym.sh_size=2^63"),
    ("dyn", "[10].rela.dyn.sh_link=max"), ("dyn", "[6].dynsym.sh_name=max"),
    ("dyn", "dynsym.st_name=max"), ("dyn", ".rela.dyn.r_sym=max"), ("dyn", ".rela.plt.r_sym=max"),
    ("dyn-noshdr", "DT_STRTAB=unmapped"), ("dyn-noshdr", "DT_SYMTAB=unmapped"),
    ("dyn", "DT_NEEDED=max"), ("dyn", "no-DT_NULL"), ("dyn", "note0.namesz=max"),
    ("dyn-noshdr", "note1.descsz=max"),
    ("dyn", "verneed.vn_next=-16"), ("dyn", "verneed.vn_next=0(self),vn_cnt=max"),
    ("dyn-noshdr", "verneed.vn_next=1"), ("lib", "verdef.vd_next=-20"),
    ("lib-noshdr", "verdef.vd_cnt=max"),
    ("dyn", "gnu_hash.nbuckets=max"), ("dyn-noshdr", "gnu_hash.bloom_size=max"),
    ("dyn-noshdr", "gnu_hash.chains-unterminated"), ("ls-noshdr", "DT_VERNEEDNUM=max"),
]
NON_ELF_CLI = ["empty", "text", "magic-only", "ident-only", "ehdr64-minus-1", "random-4k",
               "elf32-minimal", "elf32-minimal-claims-64"]
REJECTED = {"empty", "text", "magic-only", "ident-only", "ehdr64-minus-1", "random-4k"}


def _find_case(base: str, case_id: str, data: bytes) -> hostile.Case:
    """The case `case_id` of `data`: "trunc:<label>", "sym:<name>:<field>=<value>", or a
    corruption id; "[N]" section indices may differ between builds, so ids that start with
    one match on what follows it."""
    if case_id.startswith("trunc:"):
        case = hostile.truncation(data, case_id[len("trunc:"):])
        if case is None:
            raise LookupError(case_id)
        return case
    if case_id.startswith("sym:"):
        _, name, assignment = case_id.split(":")
        field, value = assignment.split("=")
        patched = hostile.patch_symbol(data, name, **{field: int(value, 0)})
        if patched is None:
            raise LookupError(name)
        return hostile.Case(case_id, patched)

    def key(i):
        return i.split("]", 1)[1] if i.startswith("[") else i
    for c in hostile.all_corruptions(data):
        if key(c.id) == key(case_id):
            return c
    raise LookupError(case_id)


def _materialise(tmp_path, base, case_id, built) -> tuple[Path, bool]:
    """Write the damaged file; (path, whether its ELF header is intact)."""
    data = base_bytes(base, built)
    try:
        case = _find_case(base, case_id, data)
    except LookupError:
        pytest.skip(f"{base} has no {case_id} (layout differs)")
    path = tmp_path / f"{base}.bad"
    path.write_bytes(case.data)
    intact = case_id.startswith("trunc:") and len(case.data) >= hostile.Layout(data).ehdr_size
    return path, intact


@pytest.mark.parametrize("base,case_id", CLI_CASES)
def test_cli_inspect_damaged(tmp_path, base, case_id, built):
    path, header_intact = _materialise(tmp_path, base, case_id, built)
    r = run_cli("inspect", "--all", path)
    check_cli(r, path)
    rj = run_cli("inspect", "--all", "--json", path)
    check_cli(rj, path, as_json=True)
    assert r.returncode == rj.returncode, "text and JSON disagree on whether the file is damaged"
    if header_intact:
        # Readable views print, and the damage (a truncation cuts the section headers) is reported.
        assert b"ELF Header:" in r.stdout, "the header is intact but did not print"
        assert r.returncode == 2, "a truncated file was reported as undamaged"
        doc = json.loads(rj.stdout)
        assert "header" in doc and doc["warnings"], "JSON: header missing or no warnings"


@pytest.mark.parametrize("name", NON_ELF_CLI)
def test_cli_not_elf(tmp_path, name):
    case = next(c for c in hostile.non_elf_inputs() if c.id == name)
    path = tmp_path / f"{name}.bin"
    path.write_bytes(case.data)
    for args in (("inspect", "--all"), ("inspect", "--all", "--json"), ("disasm",)):
        r = run_cli(*args, path)
        lines = check_cli(r, path, as_json="--json" in args)
        if name in REJECTED:
            assert r.returncode == 2 and r.stdout == b"", f"{args}: {name} was not rejected"
            assert len(lines) == 1 and lines[0].startswith(f"elfkit: error: {path}: "), lines


@pytest.mark.parametrize("what", ["directory", "nonexistent"])
def test_cli_not_a_file(tmp_path, what):
    path = tmp_path / "dir" if what == "directory" else tmp_path / "no-such-file"
    if what == "directory":
        path.mkdir()
    for args in (("inspect", "--all"), ("inspect", "--all", "--json"), ("disasm",)):
        r = run_cli(*args, path)
        lines = check_cli(r, path, as_json="--json" in args)
        assert r.returncode == 2 and r.stdout == b""
        assert len(lines) == 1 and lines[0].startswith(f"elfkit: error: {path}: "), lines


def test_cli_fifo_does_not_block(tmp_path):
    """A named pipe is not an ELF file; opening it must not wait for a writer forever
    (readelf: "'x' is not an ordinary file")."""
    path = tmp_path / "pipe"
    os.mkfifo(path)
    r = run_cli("inspect", path, timeout=5)
    lines = check_cli(r, path)
    assert r.returncode == 2 and len(lines) == 1


def test_cli_elf64_claiming_elf32_and_back(tmp_path, built):
    """EI_CLASS flipped on a real ELF64 (/bin/ls) and a real ELF32 (i386 PIE, or a minimal one)."""
    pairs = [("ls", base_bytes("ls", built))]
    if "dyn32" in built:
        pairs.append(("dyn32", base_bytes("dyn32", built)))
    pairs.append(("min32", hostile.minimal_elf32()))
    for name, data in pairs:
        flipped = bytearray(data)
        flipped[4] = 1 if data[4] == 2 else 2
        path = tmp_path / f"{name}.flipped"
        path.write_bytes(bytes(flipped))
        check_cli(run_cli("inspect", "--all", path), path)
        check_cli(run_cli("inspect", "--all", "--json", path), path, as_json=True)


# disasm: default (entry point), a symbol, a section.
DISASM_CASES = [
    ("dyn", "e_entry=max", ()), ("static", "e_entry=max", ()),
    ("static", "sym:main:st_value=0xffffffffffffffff", ("main",)),
    ("static", "sym:main:st_size=0xffffffffffffffff", ("main",)),
    ("dyn", "sym:main:st_size=0xffffffffffffffff", ("main",)),
    ("dyn", "sym:main:st_shndx=0xfff0", ("main",)),
    ("dyn", "[15].plt.sh_size=2^63", ("--section", ".plt")),
    ("dyn", "[16].text.sh_offset=max", ("main",)),
    ("dyn", "[16].text.sh_size=2^63", ("--section", ".text")),
    ("dyn", "e_machine=0", ()), ("dyn", "EI_CLASS=other", ()), ("dyn", "EI_DATA=MSB", ()),
    ("dyn", "trunc:shdr.end-1", ("main",)), ("dyn-noshdr", "e_phnum=0xffff", ()),
    ("dyn-noshdr", "phdr[2]type1.p_offset=max", ()),
]


@pytest.mark.parametrize("base,case_id,extra", DISASM_CASES)
def test_cli_disasm_damaged(tmp_path, base, case_id, extra, built):
    path, _ = _materialise(tmp_path, base, case_id, built)
    args = ["disasm", path, *extra] if extra and not extra[0].startswith("--") else \
        ["disasm", *extra, path]
    check_cli(run_cli(*args), path)


@pytest.mark.parametrize("label", ["phdr.end", ".plt.start", ".text.mid", "shdr[3].mid"])
def test_cli_disasm_reports_damage(tmp_path, built, label):
    """`disasm` on a truncated file: the damage is reported (as `inspect` does), and never a
    silent exit 0 with no instructions when the code itself was cut off."""
    path, _ = _materialise(tmp_path, "dyn", f"trunc:{label}", built)
    r = run_cli("disasm", path)
    lines = check_cli(r, path)
    assert r.returncode == 2, (f"disasm on a file truncated at {label} exited {r.returncode} "
                               f"with stderr {lines!r} and {len(r.stdout.splitlines())} lines of "
                               "output: the damage was not reported")


# ------------------------------------------------------------------------------------------
# Inputs built to make a careless parser slow, large or confusing
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gen,base", [(hostile.verneed_chain_amplifier, "dyn"),
                                      (hostile.verdef_chain_amplifier, "lib")])
def test_cli_version_chain_amplifier(tmp_path, built, gen, base):
    """Every count and link in range, but each record's aux chain runs over all the records
    after it: decoding must stay linear in the file, not quadratic (6144 records, ~190 KB)."""
    case = gen(base_bytes(base, built), 6144)[0]
    path = tmp_path / f"{case.id}.elf"
    path.write_bytes(case.data)
    check_cli(run_cli("inspect", "--all", path), path)


def test_cli_many_distinct_problems(tmp_path, built):
    """100,000 symbols (a 2.4 MB file), each with its own out-of-range st_name: however the
    problems are reported, the cost must stay linear in their number. (The same happens to
    libc.so.6 whose .dynsym sh_size is set to 2**63: ~80k garbage symbols, ~40k distinct
    problems, 14 s or more for `inspect --all`.)"""
    case = hostile.symbol_name_flood(base_bytes("dyn", built), 100_000)[0]
    path = tmp_path / "name-flood.elf"
    path.write_bytes(case.data)
    r = run_cli("inspect", "--all", path)
    check_cli(r, path)
    assert r.returncode == 2


def test_cli_section_names_with_newlines(tmp_path, built):
    """Warnings quote section names taken from the file; a name containing a newline must not
    split a warning over two stderr lines (every line starts with `elfkit:`)."""
    cases = hostile.control_characters_in_names(base_bytes("dyn", built))
    assert cases
    for case in cases[:3]:
        path = tmp_path / "newline-names"
        path.write_bytes(case.data)
        r = run_cli("inspect", "--all", path)
        check_cli(r, path)
        assert r.returncode == 2, f"{case.id}: the damage was not reported"
