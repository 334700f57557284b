"""-C/--demangle against binutils (issue 16, "Names as people read them").

elfkit demangles through elfkit/elf/demangle.py: C++ by the toolchain's own __cxa_demangle
(the `cxxfilt` package), Rust by the rustc-demangle crate (the `pyderust` package). The oracles
are binutils 2.40's readelf -C, objdump -C and c++filt (libiberty's cplus_demangle).

What is compared, and the only normalisations:
- every dynamic symbol of libstdc++: `inspect --dyn-syms -C` line for line with
  `readelf -W --dyn-syms -C`. Three differences that have nothing to do with demangling (they
  are there without -C too, and the JSON comparison of test_inspect_readelf.py documents them)
  are taken out of readelf's text: the column header's padding (`Value          Size`), the
  ` (N)` vna_other readelf writes after a needed version, and readelf's bare name for a
  version's own definition symbol (`GLIBCXX_3.4` where elfkit writes `GLIBCXX_3.4@@GLIBCXX_3.4`).
- relocations of a C++ object and a C++ program: `inspect --relocs -C` equal to
  `readelf -W -r -C`, whole text, no normalisation.
- `disasm -C --section .text` of fixtures/build/cxxhello: every direct call/jump objdump -d -C
  names exactly (no `+0x` offset) gets the same name from elfkit (elfkit's disasm does not
  print objdump's address and byte columns, so only the target names are compared, as in
  test_got_disasm.py); objdump's `<NAME@plt>:` labels equal `inspect --got -C`'s symbols.
- trace-plt on the C++ program: the lines are demangled by default, mangled with --no-demangle.
- Rust names (no Rust fixture is built: symbols taken from a rustc 1.8x program, legacy and
  v0) against c++filt. rustc-demangle and libiberty differ in three documented ways:
  libiberty prints a v0 crate root without disambiguator as `crate[0]`, drops a `.N`/`.llvm.N`
  suffix of a v0 name, and writes a const generic as `10: usize` (rustc-demangle `10usize`);
  those samples are left out of the comparison and checked to be what rustc-demangle gives.
"""
import json
import re
import subprocess

import pytest

from conftest import fixture_path, run_elfkit

LIBSTDCXX = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"


def _tool(*argv, input=None) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, input=input,
                       env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    return r.stdout


def _elfkit(*args) -> str:
    r = run_elfkit(*args)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


_NEEDED_INDEX = re.compile(r"(@[^@ ]+) \(\d+\)$")
_VERSION_DEF = re.compile(r"^( +\d+: 0+ +0 OBJECT +GLOBAL DEFAULT +ABS )(\S+)$")


@pytest.mark.skipif(not __import__("os").path.exists(LIBSTDCXX), reason="no libstdc++")
def test_libstdcxx_dyn_syms_as_readelf_C():
    theirs = _tool("readelf", "-W", "--dyn-syms", "-C", LIBSTDCXX).splitlines()
    mine = _elfkit("inspect", "--dyn-syms", "-C", LIBSTDCXX).splitlines()
    assert len(mine) == len(theirs)
    demangled = 0
    for n, (m, t) in enumerate(zip(mine, theirs)):
        if t.lstrip().startswith("Num:"):
            assert m.split() == t.split()
            continue
        t = _NEEDED_INDEX.sub(r"\1", t)
        d = _VERSION_DEF.match(t)
        if d and m == f"{t}@@{d.group(2)}":
            continue
        assert m == t, f"line {n + 1}"
        demangled += "::" in t
    assert demangled > 3000                     # the names really were demangled
    mangled = _elfkit("inspect", "--dyn-syms", LIBSTDCXX)
    assert "_ZNSt" in mangled and "std::" not in mangled       # and only with -C


def test_libstdcxx_json_names_are_the_text_names():
    doc = json.loads(_elfkit("inspect", "--dyn-syms", "--json", "-C", LIBSTDCXX))
    entries = doc["dyn_syms"][0]["entries"]
    text = _elfkit("inspect", "--dyn-syms", "-C", LIBSTDCXX).splitlines()[3:]
    assert len(entries) == len(text)
    for e, line in zip(entries, text):
        suffix = f"{'@' if e['version_hidden'] else '@@'}{e['version']}" if e["version"] else ""
        assert line.endswith(" " + e["name"] + suffix), line


@pytest.mark.parametrize("name", ["reloc-cxx.o", "cxxhello"])
def test_relocations_as_readelf_C(name):
    path = fixture_path(name)
    theirs = _tool("readelf", "-W", "-r", "-C", str(path))
    assert "::" in theirs
    assert _elfkit("inspect", "--relocs", "-C", path) == theirs


_OBJDUMP_CALL = re.compile(r"^\s*([0-9a-f]+):\s.*?\b(?:call|jmp)\s+([0-9a-f]+) <(.+)>\s*$")
_ELFKIT_CALL = re.compile(r"^\s*([0-9a-f]+):\s.*?\b(?:call|jmp)\s+0x([0-9a-f]+)\s+<(.+)>$")
_PLT_LABEL = re.compile(r"^([0-9a-f]+) <(.+)@plt>:$")


def test_disasm_C_names_as_objdump_C():
    path = fixture_path("cxxhello")
    dump = _tool("objdump", "-d", "-C", "-w", str(path)).splitlines()
    theirs = {}
    for line in dump:
        m = _OBJDUMP_CALL.match(line)
        if m and not re.search(r"\+0x[0-9a-f]+$", m.group(3)):
            theirs[int(m.group(1), 16)] = m.group(3)
    mine = {}
    for line in _elfkit("disasm", "-C", "--section", ".text", path).splitlines():
        m = _ELFKIT_CALL.match(line)
        if m:
            mine[int(m.group(1), 16)] = m.group(3)
    assert sum("::" in n for n in theirs.values()) >= 5
    for addr, name in theirs.items():
        assert mine.get(addr) == name, f"{addr:#x}"
    labels = {int(a, 16): n for line in dump if (m := _PLT_LABEL.match(line))
              for a, n in [m.groups()]}
    slots = json.loads(_elfkit("inspect", "--got", "--json", "-C", path))["got"]["slots"]
    assert {s["stub"]: s["symbol"] for s in slots if s["stub"] is not None} == labels
    plain = _elfkit("disasm", "--section", ".text", path)
    assert "_ZNSt" in plain and "std::" not in plain


def test_trace_plt_demangles_by_default():
    path = fixture_path("cxxhello")
    r = run_elfkit("trace-plt", path)
    assert r.returncode == 0, r.stderr.decode()
    report = r.stderr.decode()
    line = next(ln for ln in report.splitlines() if "std::ios_base::Init::Init()@plt at " in ln)
    assert line.endswith(tuple(f"std::ios_base::Init::Init()@GLIBCXX_3.4 => libstdc++.so.6+{x}"
                               for x in [line.rsplit("+", 1)[-1]]))
    assert "_ZNSt8ios_base4InitC1Ev" not in report
    r = run_elfkit("trace-plt", "--no-demangle", path)
    assert "_ZNSt8ios_base4InitC1Ev@plt at " in r.stderr.decode()


def test_backtrace_frames_are_demangled():
    from elfkit.debug.addr2line import Frame as Source
    from elfkit.debug.unwind import Frame
    inlined = Source("_ZNSt6vectorIiSaIiEE9push_backERKi", "v.h", 3, 0, True)
    own = Source("_Z4workv", "w.cc", 7, 0)
    f = Frame(0x401000, "/bin/w", 0x1000, "_Z4workv", 0x10, [inlined, own])
    assert f.lines(1) == [
        "#1  0x0000000000401000 in std::vector<int, std::allocator<int> >::push_back(int const&)"
        " (inlined) at v.h:3",
        "#2  0x0000000000401000 in work()+0x10 at w.cc:7 (/bin/w+0x1000)"]
    assert Frame(1, "", 0, "main", 0).lines(0) == ["#0  0x0000000000000001 in main+0x0"]


RUST = [
    "_ZN1m4main17h4009bc0cd8b193aaE",
    "_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h168e94e611939a97E",
    "_ZN42_$LT$$RF$T$u20$as$u20$core..fmt..Debug$GT$3fmt17h31cc1fd56ce943daE",
    "_RNvNtCsjrHSEGnQ3l9_3std9panicking15panic_with_hook",
    "_RNvMsa_NtCsgEmfK2I1SDS_4core3fmtNtB5_9Formatter10debug_list",
    "_RNvXs1_CsgY6Mt91CT9J_14rustc_demangleNtB5_8DemangleNtNtCsgEmfK2I1SDS_4core3fmt7Display3fmt",
    "_RNvMs5_NtNtNtCsjrHSEGnQ3l9_3std4sync6poison5mutexINtB5_5MutexINtNtCslNYArtu3iFV_5alloc3vec"
    "3VechEE4lockBb_",
    "_RNSNvYNCINvNtCsjrHSEGnQ3l9_3std2rt10lang_startuE0INtNtNtCsgEmfK2I1SDS_4core3ops8function6"
    "FnOnceuE9call_once6vtableCskK7mfDs1mzF_1m",
    "_RNvXs1F_NtCsgEmfK2I1SDS_4core3fmtThcReENtB6_5Debug3fmtCskK7mfDs1mzF_1m",
    "_RNvCskK7mfDs1mzF_1m4main",
    "_ZN3foo3barE",                                       # not Rust (no hash): C++'s foo::bar
]
# libiberty and rustc-demangle disagree (module docstring): rustc-demangle's answers
RUST_DIFFERENT = {
    "_RNvC4test4main": "test::main",
    "_RNvNtNtCsjrHSEGnQ3l9_3std6thread11main_thread4MAIN.0":
        "std[e28293b1aa0f68bd]::thread::main_thread::MAIN.0",
    "_RINvNtCsgEmfK2I1SDS_4core6escape14escape_unicodeKja_ECsgY6Mt91CT9J_14rustc_demangle":
        "core[c1f1a4ba060b9bfa]::escape::escape_unicode::<10usize>",
}


def test_rust_names_as_cxxfilt():
    from elfkit.elf.demangle import demangle
    theirs = _tool("c++filt", input="\n".join(RUST) + "\n").splitlines()
    assert [demangle(s) for s in RUST] == theirs
    assert theirs[0] == "m::main::h4009bc0cd8b193aa"
    for sym, expected in RUST_DIFFERENT.items():
        assert demangle(sym) == expected


def test_not_mangled_stays():
    from elfkit.elf.demangle import demangle, demangle_versioned
    for name in ["main", "_GLOBAL_OFFSET_TABLE_", "_Z", "_Zjunk", "_R", "i", "", "_ZN3foo"]:
        assert demangle(name) == name
    assert demangle_versioned("_ZNSo3putEc@plt") == "std::ostream::put(char)@plt"
    assert demangle_versioned("_ZNSo3putEc@@GLIBCXX_3.4") == "std::ostream::put(char)@@GLIBCXX_3.4"
