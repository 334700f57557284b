"""The backtrace of a fault report (issue 16, first part): unwound with the call-frame
information through the program, libc and its separate debug file's names, compared with
gdb's `bt` of the same program run natively (gdb runs it without ASLR, the address space elfkit
gives, so the return addresses are the same numbers), source lines included (file name and
line: the program's from its -g DWARF, libc's from libc6-dbg's debug file).

fixtures/build/backtrace(-static) crash three calls below main: a store to address 0 in the
program, strlen(NULL) inside libc, abort() (SIGABRT: its backtrace with --backtrace, which
every fatal signal then gets; a fault always has one). What is compared: frame 0's pc (gdb's
$pc) and function; every later frame of elfkit's is one of gdb's, in gdb's order, with the same
return address and function; every frame of the program's own gdb shows is elfkit's too, up to
main, where both stop (gdb's `backtrace past-main off`). gdb shows more than the stack holds:
inlined calls and tail calls it rebuilds from DWARF call-site information (`__pthread_kill_internal`
between __pthread_kill_implementation and raise); those are left out here. Function names in
libc are its debug file's (libc6-dbg) symbols; gdb names DWARF's (`__GI_raise`, `__GI_abort`):
compared without the `__GI_` prefix, leading underscores and `_impl` (`___dlopen`,
`__libc_start_main_impl`), `gsignal` being `raise`. strlen is `__strlen_evex` on the
host and `__strlen_sse2` under elfkit's emulated CPU: `__strlen_*`, frame 0's pc not compared.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, fixture_path, run_elfkit

GDB = shutil.which("gdb")
pytestmark = pytest.mark.skipif(GDB is None, reason="needs gdb")
PROGRAM = {"inner", "middle", "outer", "main"}


def gdb_frames(fixture, mode):
    out = subprocess.run([GDB, "-nx", "-batch", "-iex", "set debuginfod enabled off",
                          "-ex", "run", "-ex", "p/x $pc", "-ex", "bt", "--args", str(fixture), mode],
                         capture_output=True, text=True, timeout=60, cwd=ROOT).stdout
    pc = int(re.search(r"^\$1 = (0x[0-9a-f]+)$", out, re.M).group(1), 16)
    frames = []
    for m in re.finditer(r"^#(\d+)\s+(?:(0x[0-9a-f]+) in )?(\S+) \(.*?\)(?: at (\S+):(\d+))?$",
                         out, re.M):
        line = f"{os.path.basename(m.group(4))}:{m.group(5)}" if m.group(4) else None
        frames.append((int(m.group(2), 16) if m.group(2) else pc, m.group(3), line))
    return frames


def elfkit_frames(fixture, mode):
    r = run_elfkit("load-and-run", *(["--backtrace"] if mode == "abort" else []), str(fixture), mode)
    frames = []
    for m in re.finditer(r"^  #\d+\s+(0x[0-9a-f]+) in (\S+?)\+0x[0-9a-f]+(?: at (\S+):(\d+))? \(",
                         r.stderr.decode(), re.M):
        line = f"{os.path.basename(m.group(3))}:{m.group(4)}" if m.group(3) else None
        frames.append((int(m.group(1), 16), m.group(2), line))
    return r, frames


ALIASES = {"gsignal": "raise"}                # one address, two names: libc's symbol, gdb's DWARF


def same_function(ours: str, theirs: str) -> bool:
    if ours.startswith("__strlen_") and theirs.startswith("__strlen_"):
        return True                            # (the CPU picks the variant: see above)
    def norm(name):                            # libc's versioned and internal aliases:
        name = name.split(".")[0].removeprefix("__GI_").lstrip("_").removesuffix("_impl")
        return ALIASES.get(name, name)         # ___dlopen, __libc_start_main_impl
    return norm(ours) == norm(theirs)


@pytest.mark.parametrize("name", ["backtrace", "backtrace-static"])
@pytest.mark.parametrize("mode", ["null", "strlen", "abort"])
def test_fault_backtrace_is_gdbs(name, mode):
    fixture = fixture_path(name)
    theirs = gdb_frames(fixture, mode)
    r, ours = elfkit_frames(fixture, mode)
    assert r.returncode == {"abort": -6}.get(mode, -11), r.stderr.decode()
    assert ours and theirs, (r.stderr.decode(), theirs)
    assert same_function(ours[0][1], theirs[0][1]), (ours, theirs)
    if mode != "strlen":                       # (another strlen: another pc)
        assert ours[0][0] == theirs[0][0], (ours, theirs)
    if mode != "strlen" and theirs[0][2]:
        assert ours[0][2] == theirs[0][2], (ours, theirs)
    pcs = [pc for pc, _f, _l in theirs]
    at = 0
    for pc, function, line in ours[1:]:
        assert pc in pcs[at + 1:], (pc, ours, theirs)
        at = pcs.index(pc, at + 1)
        assert same_function(function, theirs[at][1]), (ours, theirs)
        assert line == theirs[at][2] or theirs[at][2] is None, (ours, theirs)   # file:line
    mine = {pc for pc, _f, _l in ours}
    assert all(pc in mine for pc, f, _l in theirs if f in PROGRAM), (ours, theirs)
    assert ours[-1][1] == theirs[-1][1] == "main"


def test_abort_has_no_backtrace_without_the_option():
    """A fault always has its backtrace; another fatal signal only with --backtrace."""
    r = run_elfkit("load-and-run", str(fixture_path("backtrace")), "abort")
    assert r.returncode == -6 and b"killed by SIGABRT" in r.stderr
    assert b"  #0 " not in r.stderr


def test_backtrace_through_ld_so_and_inlined_calls(tmp_path):
    """A library constructor that stores to 0, run by ld.so's _dl_init under libc's dlopen from
    python3's ctypes: ~30 frames through the library, ld.so, libc, libffi and the interpreter,
    with calls ld.so inlined (call_init): the same return addresses, functions and lines as gdb's
    bt natively."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    src, lib = tmp_path / "crash.c", tmp_path / "libcrash.so"
    src.write_text("__attribute__((constructor)) static void crash(void) "
                   "{ *(volatile int *)0 = 1; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-g", "-O0", "-o", str(lib), str(src)], check=True)
    args = ["-c", f"import ctypes; ctypes.CDLL({str(lib)!r})"]
    out = subprocess.run([GDB, "-nx", "-batch", "-iex", "set debuginfod enabled off", "-ex", "run",
                          "-ex", "p/x $pc", "-ex", "bt", "--args", "/usr/bin/python3", *args],
                         capture_output=True, text=True, timeout=60, cwd=ROOT).stdout
    pc = int(re.search(r"^\$1 = (0x[0-9a-f]+)$", out, re.M).group(1), 16)
    theirs = []
    for m in re.finditer(r"^#\d+\s+(?:(0x[0-9a-f]+) in )?(\S+) \(", out, re.M):
        # (a frame with no address is the outer part of an inlined call: the pc of the one before)
        theirs.append((int(m.group(1), 16) if m.group(1) else theirs[-1][0] if theirs else pc,
                       m.group(2)))
    r = run_elfkit("load-and-run", "/usr/bin/python3", *args)
    assert r.returncode == -11, r.stderr.decode()
    text = r.stderr.decode()
    ours = [(int(m.group(1), 16), m.group(2)) for m in
            re.finditer(r"^  #\d+\s+(0x[0-9a-f]+) in (\S+?)(?:\+0x[0-9a-f]+)? ", text, re.M)]
    assert len(ours) >= 25 and ours[0] == (pc, "crash"), text
    assert "(inlined) at ./elf/./elf/dl-init.c:" in text       # call_init, inlined in _dl_init
    assert [p for p, _f in ours] == [p for p, _f in theirs][:len(ours)], (ours, theirs)
    for (p, mine), (_p, gdbs) in zip(ours, theirs):
        assert mine == "??" or gdbs == "??" or same_function(mine, gdbs), (mine, gdbs, text)


def _cxx_base_name(name: str) -> str:
    """A demangled C++ name as gdb's `bt` heads a frame: no parameter list, no trailing
    qualifiers (`const`), no return type (a function template's demangled name has one):
    `int shapes::apply_all<shapes::Measure>(std::vector<...> const&, shapes::Measure)` ->
    `shapes::apply_all<shapes::Measure>`. A name without parameters is left as it is."""
    depth, cut = 0, None
    for i, c in enumerate(name):                  # the parameter list: the first "(" at depth 0
        if c in "<":
            depth += 1
        elif c in ">":
            depth -= 1
        elif c == "(" and depth == 0 and i > 0 and not name.startswith("operator()", i - 8):
            cut = i
            break
    if cut is None:
        return name
    head, depth = name[:cut], 0
    for i in range(len(head) - 1, -1, -1):        # a return type: a space at depth 0
        c = head[i]
        if c == ">":
            depth += 1
        elif c == "<":
            depth -= 1
        elif c == " " and depth == 0 and not head[:i].endswith("operator"):
            return head[i + 1:]
    return head


def _gdb_cxx_frames(fixture, mode):
    out = subprocess.run([GDB, "-nx", "-batch", "-iex", "set debuginfod enabled off",
                          "-ex", "run", "-ex", "bt", "--args", str(fixture), mode],
                         capture_output=True, text=True, timeout=60, cwd=ROOT).stdout
    frames = []
    for line in out.splitlines():
        m = re.match(r"^#\d+\s+(?:(0x[0-9a-f]+) in )?(.+?) \((?:.*)\)(?: at (\S+):(\d+)| from (\S+))?$",
                     line)
        if m:
            where = f"{os.path.basename(m.group(3))}:{m.group(4)}" if m.group(3) else None
            frames.append((int(m.group(1), 16) if m.group(1) else None, m.group(2), where))
    return frames


@pytest.mark.parametrize("mode", ["null", "throw"])
def test_cxx_fault_backtrace_is_gdbs(mode):
    """A C++ program (fixtures/src/cxxcrash.cpp) faulting in a class template's member below a
    functor and a function template, and one whose exception nobody catches (libstdc++'s
    std::terminate, abort): the fault report's frames carry the names demangled (as gdb's do)
    and are gdb's own: the same return addresses (libstdc++ on the 2 MiB boundary the kernel
    gives a file mapping that large, as elfkit's mmap does), functions in the same order
    (names compared as gdb heads a frame: _cxx_base_name; `??` where neither has one) and, in
    the program, file:line. gdb's inlined frames (__pthread_kill_internal) are left out, as in
    the C test."""
    fixture = fixture_path("cxxcrash")
    theirs = _gdb_cxx_frames(fixture, mode)
    r = run_elfkit("load-and-run", *(["--backtrace"] if mode == "throw" else []), str(fixture), mode)
    assert r.returncode == (-11 if mode == "null" else -6), r.stderr.decode()
    text = r.stderr.decode()
    ours = []
    for m in re.finditer(r"^  #\d+\s+(0x[0-9a-f]+) in (.+?)(?:\+0x[0-9a-f]+)?(?: at (\S+):(\d+))? "
                         r"\((\S+)\+0x[0-9a-f]+\)$", text, re.M):
        where = f"{os.path.basename(m.group(3))}:{m.group(4)}" if m.group(3) else None
        ours.append((int(m.group(1), 16), m.group(2), where, m.group(5) == str(fixture)))
    assert len(ours) >= 4 and theirs, (text, theirs)
    assert "shapes::Box<int>::get() const" in text or mode == "throw", text   # demangled
    at = -1
    for pc, name, where, in_program in ours:
        for j in range(at + 1, len(theirs)):
            gpc, gname, gwhere = theirs[j]
            same = name == gname == "??" or same_function(_cxx_base_name(name), _cxx_base_name(gname))
            if same and (gpc is None or gpc == pc):
                break
        else:
            raise AssertionError(f"elfkit's frame {name!r} at {pc:#x} is not gdb's after frame "
                                 f"{at}:\n{text}\n{theirs}")
        if in_program:
            assert gpc == pc or gpc is None and j == 0, (name, theirs[j])
            assert where == gwhere, (name, where, gwhere)
        at = j
    program = [n for _p, n, _w, mine in ours if mine]
    assert [_cxx_base_name(n) for n in program] == \
        [n for _p, n, w, in theirs if w and w.startswith("cxxcrash.cpp")], (ours, theirs)
    assert program[-1] == "main"
