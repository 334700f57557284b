"""`elfkit disasm --source/-S`, `-l/--line-numbers` and `--inlines` against binutils 2.40's
`objdump -d -S` (issue 16).

What is compared: the whole output of both, as one list of lines in order, where each
instruction line (whatever its syntax) is reduced to its address; every other line -- the
source text objdump -S interleaves (context before a function, a line shown again when the
code steps back, the lines between after a step forward), and with -l the `function():` and
`file:line (discriminator N)` lines, with --inlines the `inlined by` lines -- must be equal,
character for character, and stand before the same instruction.

Normalisation (`_objdump_items`), written here because elfkit prints no such lines: objdump's
own layout is dropped -- its file header, its `Disassembly of section` lines and
`0000000000001169 <inner>:` labels with the blank line before each, and the continuation
lines of instructions longer than 7 bytes (an address and bytes only). Instruction lines are
compared by address only (objdump is AT&T, elfkit Intel syntax, each its own columns); the
disassembly itself is tests/test_disasm_cross.py's and test_got_disasm.py's.

Files: the -O0 -g fixtures backtrace, corehello and gdb-procs (fixtures/Makefile), their .text
and their `main` alone (objdump --disassemble=main: a fresh start of the same rules);
fixtures/src/debuginfo.c built here at -O2 (inlined code, discriminators, a second file in one
unit) with --inlines, and again after its second file was deleted (a missing source file shows
nothing, as objdump does); and a stripped copy of backtrace whose separate debug file
(objcopy --only-keep-debug, found through .gnu_debuglink) has no .symtab either: the function
names of -l and of call targets come from DWARF, and SYMBOL is found there. `file:line` beside
a call's target is checked against addr2line's answer for the target address.
"""
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, fixture_path, run_elfkit

pytestmark = pytest.mark.skipif(shutil.which("objdump") is None, reason="binutils missing")

FIXTURES = ("backtrace", "corehello", "gdb-procs")
_OBJDUMP_INSN = re.compile(r"^ +([0-9a-f]+):\t[0-9a-f ]+\t")       # address, bytes, tab, insn
_OBJDUMP_CONT = re.compile(r"^ +[0-9a-f]+:\t[0-9a-f ]+$")          # bytes of a long insn
_OBJDUMP_LABEL = re.compile(r"^[0-9a-f]+ <.*>:$")
_ELFKIT_INSN = re.compile(r"^ *([0-9a-f]+):  ")


def _objdump_items(path, *args) -> list:
    out = subprocess.run(["objdump", *args, str(path)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    first = next(i for i, ln in enumerate(out) if ln.startswith("Disassembly of section"))
    out = out[first:]
    items = []
    for i, ln in enumerate(out):
        nxt = out[i + 1] if i + 1 < len(out) else None
        if ln.startswith("Disassembly of section") or _OBJDUMP_LABEL.match(ln):
            continue
        if ln == "" and nxt is not None and (nxt.startswith("Disassembly of section") or
                                             _OBJDUMP_LABEL.match(nxt)):
            continue
        if ln == "" and i > 0 and out[i - 1].startswith("Disassembly of section"):
            continue
        if _OBJDUMP_CONT.match(ln):
            continue
        m = _OBJDUMP_INSN.match(ln)
        items.append(int(m.group(1), 16) if m else ln)
    while items and items[-1] == "":
        items.pop()
    return items


def _elfkit(path, *args) -> tuple[list, str]:
    r = run_elfkit("disasm", path, *args)
    assert r.returncode == 0, r.stderr.decode()
    items = []
    for ln in r.stdout.decode().splitlines():
        m = _ELFKIT_INSN.match(ln)
        items.append(int(m.group(1), 16) if m and len(m.group(0)) == 19 else ln)
    return items, r.stdout.decode()


def _compare(mine, theirs):
    assert any(isinstance(x, str) for x in theirs), "objdump showed no source at all"
    if mine != theirs:
        import difflib
        diff = "\n".join(difflib.unified_diff([str(x) for x in theirs], [str(x) for x in mine],
                                              "objdump", "elfkit", lineterm="", n=2))
        pytest.fail("differs from objdump:\n" + diff[:6000])


@pytest.mark.parametrize("name", FIXTURES)
def test_text_source_and_lines(name):
    path = fixture_path(name)
    for mine_args, their_args in ((["-S"], ["-d", "-S"]),
                                  (["--source", "--line-numbers"], ["-d", "-S", "-l"])):
        mine, _ = _elfkit(path, "--section", ".text", *mine_args)
        _compare(mine, _objdump_items(path, *their_args, "-j", ".text"))


@pytest.mark.parametrize("name", FIXTURES)
def test_main_alone(name):
    path = fixture_path(name)
    mine, _ = _elfkit(path, "main", "-S", "-l")
    _compare(mine, _objdump_items(path, "-d", "-S", "-l", "--disassemble=main"))


def _addr2line(path, addr) -> str:
    return subprocess.run(["addr2line", "-e", str(path), f"{addr:#x}"], capture_output=True,
                          text=True, check=True).stdout.split(" (")[0].strip()


def test_call_targets_have_file_line():
    path = fixture_path("backtrace")
    _, text = _elfkit(path, "main", "-S")
    calls = re.findall(r"call +(0x[0-9a-f]+) +<(\w+)> at (\S+)$", text, re.M)
    assert {name for _a, name, _w in calls} == {"outer"}
    for addr, _name, where in calls:
        assert where == _addr2line(path, int(addr, 16))
    assert "<strcmp@plt>\n" in text                 # no line for a PLT stub: nothing added


@pytest.fixture(scope="module")
def debuginfo(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc missing")
    d = tmp_path_factory.mktemp("disasm-source")
    for f in ("debuginfo.c", "debuginfo_part.c"):
        shutil.copy(ROOT / "fixtures" / "src" / f, d / f)
    exe = d / "debuginfo-o2"
    subprocess.run(["gcc", "-O2", "-g", "-o", str(exe), str(d / "debuginfo.c")], check=True)
    return exe


def test_inlined_code(debuginfo):
    mine, _ = _elfkit(debuginfo, "--section", ".text", "-S", "-l", "--inlines")
    theirs = _objdump_items(debuginfo, "-d", "-S", "-l", "--inlines", "-j", ".text")
    assert any(isinstance(x, str) and x.startswith("inlined by ") for x in theirs)
    _compare(mine, theirs)


def test_missing_source_file(debuginfo, tmp_path):
    exe = tmp_path / debuginfo.name
    shutil.copy(debuginfo, exe)
    (debuginfo.parent / "debuginfo_part.c").unlink()       # the included file is gone
    mine, _ = _elfkit(exe, "--section", ".text", "-S", "-l")
    _compare(mine, _objdump_items(exe, "-d", "-S", "-l", "-j", ".text"))


def test_stripped_with_debug_file(tmp_path):
    orig = fixture_path("backtrace")
    full = tmp_path / "full.debug"
    debug = tmp_path / "backtrace.debug"
    exe = tmp_path / "backtrace"
    subprocess.run(["objcopy", "--only-keep-debug", str(orig), str(full)], check=True)
    # no .symtab in the debug file either: every name must come from DWARF
    subprocess.run(["objcopy", "--strip-all", "--keep-section=.debug_*", str(full), str(debug)],
                   check=True)
    subprocess.run(["objcopy", "--strip-all", f"--add-gnu-debuglink={debug}", str(orig),
                    str(exe)], check=True)
    assert b".symtab" not in debug.read_bytes() and b".symtab" not in exe.read_bytes()
    mine, text = _elfkit(exe, "--section", ".text", "-S", "-l")
    _compare(mine, _objdump_items(exe, "-d", "-S", "-l", "-j", ".text"))
    for fn in ("inner():", "middle():", "outer():", "main():"):
        assert fn in mine
    # calls to the program's own functions (crt's have no DWARF) named as the unstripped
    # file's symbol table names them
    dwarf_functions = {"inner", "middle", "outer", "main"}
    named = re.findall(r"call +0x[0-9a-f]+ +<(\w+)>", text)
    _, orig_text = _elfkit(orig, "--section", ".text")
    assert named == [n for n in re.findall(r"call +0x[0-9a-f]+ +<([\w@.]+)>", orig_text)
                     if n in dwarf_functions] and set(named) == {"inner", "middle", "outer"}
    # SYMBOL found through DWARF; the same lines as the unstripped file
    mine_main, _ = _elfkit(exe, "main", "-S", "-l")
    orig_main, _ = _elfkit(orig, "main", "-S", "-l")
    assert mine_main == orig_main


def test_cxx_demangled(tmp_path):
    """C++ at -O2 (inlined library code from headers): -l's function lines as objdump -C
    prints them (demangled, a colon, no `()` added), and without -C as they are."""
    if shutil.which("g++") is None:
        pytest.skip("g++ missing")
    exe = tmp_path / "cxxhello"
    subprocess.run(["g++", "-O2", "-g", "-o", str(exe),
                    str(ROOT / "fixtures" / "src" / "cxxhello.cpp")], check=True)
    for extra in ([], ["-C"]):
        mine, _ = _elfkit(exe, "--section", ".text", "-S", "-l", "--inlines", *extra)
        _compare(mine, _objdump_items(exe, "-d", "-S", "-l", "--inlines", "-j", ".text",
                                      *extra))
