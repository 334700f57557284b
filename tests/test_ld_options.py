"""elfkit/ld/options.py against what gcc really passes ld, and find_library against ld itself.

The oracle for parse_args is gcc: a fake `ld` in a -B directory records the argv collect2
gives it (NUL-separated, and a copy of any @response file), and each test derives its
expectations from that argv with its own small reading of gcc's output, not with the parser.
The oracle for find_library is GNU ld: `gcc -Wl,--verbose` lists every file ld tried.
"""
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from elfkit.errors import InputError
from elfkit.ld.options import (
    DEFAULT_SEARCH_DIRS, Defsym, GroupEnd, GroupStart, InputFile, InputLibrary, LinkUsageError,
    buildargv, expand_response_files, find_library, parse_args, search_dirs,
)

ROOT = Path(__file__).resolve().parent.parent
HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'

FAKE_LD = r"""#!/bin/sh
# records its argv, NUL-separated, and a copy of each @response file
d=$(dirname "$0")
for a in "$@"; do
  printf '%s\0' "$a"
  case "$a" in @*) cp "${a#@}" "$d/response.copy" ;; esac
done > "$d/argv.bin"
exit 0
"""

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A directory with hello.c, hello.o, and fake/ld recording its argv."""
    d = tmp_path_factory.mktemp("ldopts")
    (d / "hello.c").write_text(HELLO)
    fake = d / "fake"
    fake.mkdir()
    (fake / "ld").write_text(FAKE_LD)
    (fake / "ld").chmod(0o755)
    if shutil.which("gcc"):
        subprocess.run(["gcc", "-c", "-o", str(d / "hello.o"), str(d / "hello.c")], check=True)
    return d


def captured_argv(work, compiler, *args):
    """The argv `compiler -B fake/ ARGS` gives ld (collect2 runs fake/ld)."""
    fake = work / "fake"
    (fake / "argv.bin").unlink(missing_ok=True)
    subprocess.run([compiler, "-B", f"{fake}/", *args], cwd=work, check=True,
                   capture_output=True, timeout=60)
    data = (fake / "argv.bin").read_bytes()
    return [os.fsdecode(a) for a in data.split(b"\0")[:-1]]


# Options gcc's specs put before a separate value (the value is not an input file).
SEPARATE_VALUE = {"-o", "-m", "-plugin", "-dynamic-linker", "-L", "-z", "-e", "-l", "-u"}


def expected_from_argv(argv):
    """The test's own reading of a gcc-made ld argv: the input sequence, -L dirs, -o, -e,
    -m, --build-id and -z keywords, in order."""
    seq, ldirs, zs = [], [], []
    out, entry, emul, build_id = "a.out", None, None, None
    i = 0
    while i < len(argv):
        a = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if a in SEPARATE_VALUE:
            if a == "-o":
                out = nxt
            elif a == "-e":
                entry = nxt
            elif a == "-m":
                emul = nxt
            elif a == "-L":
                ldirs.append(nxt)
            elif a == "-z":
                zs.append(nxt)
            elif a == "-l":
                seq.append(("lib", nxt))
            i += 2
            continue
        if a.startswith("-L"):
            ldirs.append(a[2:])
        elif a.startswith("-l"):
            seq.append(("lib", a[2:]))
        elif a.startswith("-z"):
            zs.append(a[2:])
        elif a in ("--start-group", "-("):
            seq.append(("start",))
        elif a in ("--end-group", "-)"):
            seq.append(("end",))
        elif a == "--build-id":
            build_id = "sha1"
        elif a.startswith("--build-id="):
            build_id = a.split("=", 1)[1]
        elif not a.startswith("-"):
            seq.append(("file", a))
        i += 1
    return dict(seq=seq, ldirs=ldirs, zs=zs, out=out, entry=entry, emul=emul, build_id=build_id)


def as_seq(options):
    seq = []
    for item in options.inputs:
        if isinstance(item, InputFile):
            seq.append(("file", item.path))
        elif isinstance(item, InputLibrary):
            seq.append(("lib", item.name))
        elif isinstance(item, GroupStart):
            seq.append(("start",))
        else:
            assert isinstance(item, GroupEnd)
            seq.append(("end",))
    return seq


def check_against_argv(argv):
    o = parse_args(argv)
    exp = expected_from_argv(argv)
    assert as_seq(o) == exp["seq"]
    assert o.library_paths == exp["ldirs"]
    assert o.z_keywords == exp["zs"]
    assert o.output == exp["out"]
    assert o.entry == exp["entry"]
    assert o.emulation == (exp["emul"] or "elf_x86_64")
    assert o.build_id == exp["build_id"]
    assert o.warnings == []
    # every input gcc passes after -static is in static (-Bstatic) state
    if "-static" in argv:
        assert all(i.static for i in o.input_files())
    return o


GCC_CASES = [
    ("gcc", ["-static", "-o", "out", "hello.c"]),
    ("gcc", ["-static", "-O2", "-o", "out", "hello.o", "-lm"]),
    ("g++", ["-static", "-o", "out", "-x", "c++", "hello.c"]),
    ("musl-gcc", ["-static", "-o", "out", "hello.c"]),
    ("gcc", ["-static", "-o", "out", "hello.o", "-Wl,--gc-sections", "-Wl,-Map=x.map",
             "-Wl,--start-group", "-lm", "-Wl,--end-group"]),
    ("gcc", ["-static", "-flto", "-O2", "-o", "out", "hello.c"]),
    ("gcc", ["-static", "-e", "main", "-o", "out", "hello.o",
             "-Wl,-z,now,-zrelro,-z,noexecstack,-z,max-page-size=0x1000,--build-id=md5"]),
]


@needs_gcc
@pytest.mark.parametrize("compiler,args", GCC_CASES, ids=lambda v: v if isinstance(v, str)
                         else " ".join(v))
def test_gcc_argv_parses(work, compiler, args):
    if shutil.which(compiler) is None:
        pytest.skip(f"no {compiler}")
    argv = captured_argv(work, compiler, *args)
    o = check_against_argv(argv)
    if "-Wl,--gc-sections" in args:
        assert o.gc_sections and o.map_file == "x.map"
    if "-flto" in args:
        # LTO stays off: the plugin and its options are recorded, never used
        assert o.plugin and o.plugin.endswith("liblto_plugin.so")
        assert o.plugin_opts == [a.split("=", 1)[1] for a in argv if a.startswith("-plugin-opt=")]
    if compiler == "musl-gcc":
        # the musl specs still make collect2 run DIR/ld (the capture proves it) and pass
        # -nostdlib, -dynamic-linker (recorded, ignored) and a separate `-L DIR`
        assert o.nostdlib and o.dynamic_linker == "/lib/ld-musl-x86_64.so.1"
    if "max-page-size=0x1000" in " ".join(args):
        assert o.z_now is True and o.z_relro is True and o.z_execstack is False
        assert o.max_page_size == 0x1000


@needs_gcc
@pytest.mark.parametrize("args", [["-o", "out", "hello.o"],
                                  ["-static-pie", "-o", "out", "hello.o"]],
                         ids=["default-pie", "static-pie"])
def test_gcc_pie_is_refused_in_one_line(work, args):
    argv = captured_argv(work, "gcc", *args)
    assert "-pie" in argv
    with pytest.raises(LinkUsageError) as e:
        parse_args(argv)
    line = str(e.value)
    assert "\n" not in line and line.startswith("elfkit link: -pie:") and "static" in line
    assert e.value.exit_code == 2


# ------------------------------------------------------------------ @file response files

def test_buildargv_rules():
    # libiberty's own buildargv test cases (argv.c), and the corner cases of its loop
    assert buildargv("a simple command line") == ["a", "simple", "command", "line"]
    assert buildargv("arg 'foo' is single quoted") == ["arg", "foo", "is", "single", "quoted"]
    assert buildargv('arg "foo bar" has embedded whitespace') == \
        ["arg", "foo bar", "has", "embedded", "whitespace"]
    assert buildargv("arg 'Jack said \\'hi\\'' has single quotes") == \
        ["arg", "Jack said 'hi'", "has", "single", "quotes"]
    assert buildargv("arg 'Jack said \\\"hi\\\"' has double quotes") == \
        ["arg", 'Jack said "hi"', "has", "double", "quotes"]
    assert buildargv("trailing-whitespace ") == ["trailing-whitespace"]
    assert buildargv("") == [] and buildargv(" \n\t ") == []
    assert buildargv("a'b c'd \"\" ''") == ["ab cd", "", ""]          # quotes mid-word, empty
    assert buildargv("x\\ y\\\\z\r\n\v\fw") == ["x y\\z", "w"]        # backslash, all spaces
    assert buildargv("'unterminated q") == ["unterminated q"]
    assert buildargv("end\\") == ["end"]


def test_response_files_nest_and_missing_stay(tmp_path):
    inner = tmp_path / "inner"
    inner.write_text("-lm 'x y.o'\n")
    outer = tmp_path / "outer"
    outer.write_text(f"-o out @{inner} a.o\n")
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    argv = [f"@{outer}", f"@{empty}", f"@{tmp_path}/nonexistent", f"@{tmp_path}"]
    assert expand_response_files(argv) == \
        ["-o", "out", "-lm", "x y.o", "a.o", f"@{tmp_path}/nonexistent", f"@{tmp_path}"]
    loop = tmp_path / "loop"
    loop.write_text(f"@{loop}")
    with pytest.raises(LinkUsageError):
        expand_response_files([f"@{loop}"])


# gcc arguments with white space, quotes and backslashes (-Wl,-u,X passes `-u X`;
# the trailing comma of the last passes an empty argument)
TRICKY = ["-Wl,-Map=x y.map", "-Wl,--defsym=sym=0x10", '-Wl,-u,q"x', "-Wl,-u,it's",
          "-Wl,-u,back\\slash", "-Wl,-u,"]


@needs_gcc
def test_response_file_gcc_writes_reads_back(work):
    # gcc given @FILE passes ld an @FILE of its own (collect2, libiberty's writeargv):
    # expanded, it must be exactly the argv gcc passes when given the same words directly.
    wl = TRICKY
    direct = captured_argv(work, "gcc", "-static", "-o", "out", "hello.o", *wl)
    user = work / "user.rsp"
    # the user's file, quoted by libiberty's rules: gcc reads it with buildargv
    user.write_text(" ".join(["'-Wl,-Map=x y.map'", "-Wl,--defsym=sym=0x10",
                              "-Wl,-u,q\\\"x", "\"-Wl,-u,it's\"", "-Wl,-u,back\\\\slash",
                              "-Wl,-u,''"]) + "\n")
    assert expand_response_files([f"@{user}"]) == wl          # our reading of the user's file
    via_file = captured_argv(work, "gcc", "-static", "-o", "out", "hello.o", f"@{user}")
    assert len(via_file) == 1 and via_file[0].startswith("@")
    expanded = expand_response_files([f"@{work / 'fake' / 'response.copy'}"])

    def norm(argv):
        return [re.sub(r"-fresolution=\S+", "-fresolution=R", a) for a in argv]
    assert norm(expanded) == norm(direct)
    o = check_against_argv(expanded)
    assert o.map_file == "x y.map" and o.undefined == ['q"x', "it's", "back\\slash", ""]
    assert o.defsyms == [Defsym("sym", None, 0x10)]


# ------------------------------------------------------------------------- option grammar

def test_grammar_forms():
    o = parse_args(["-Map", "a.map", "--entry=start", "-zrelro", "-z", "now", "-melf_x86_64",
                    "-L/d1", "-L", "/d2", "--library-path=/d3", "-lc", "-l", "m", "--library=z",
                    "-l:libq.a", "-plugin", "p.so", "-plugin-opt=a", "--plugin-opt", "b",
                    "--plugin-opt=c", "-O1", "--hash-style=both", "--build-id=0xAbCd",
                    "--eh-frame-hdr", "-s", "-S", "--trace-relocs", "--print-gc-sections",
                    "-u", "u1", "--undefined=u2", "--defsym", "a=b+4", "--defsym=c=d-0x10",
                    "--defsym", "e=16K", "-static", "-no-pie", "--no-dynamic-linker",
                    "--sysroot=/sr", "--no-undefined", "--color-diagnostics", "-omagic", "x.o"])
    assert o.map_file == "a.map" and o.entry == "start" and o.output == "magic"
    assert o.z_relro is True and o.z_now is True and o.z_keywords == ["relro", "now"]
    assert o.library_paths == ["/d1", "/d2", "/d3"]
    assert [i.name for i in o.input_files() if isinstance(i, InputLibrary)] == \
        ["c", "m", "z", ":libq.a"]
    assert o.plugin == "p.so" and o.plugin_opts == ["a", "b", "c"]
    assert o.hash_style == "both" and o.build_id == "0xabcd" and o.eh_frame_hdr
    assert o.strip_all and o.strip_debug and o.trace_relocs and o.print_gc_sections
    assert o.undefined == ["u1", "u2"] and o.no_undefined and o.no_dynamic_linker
    assert o.defsyms == [Defsym("a", "b", 4), Defsym("c", "d", -16), Defsym("e", None, 16384)]
    assert o.sysroot == "/sr"
    assert o.inputs[-1] == InputFile("x.o", static=True)


def test_per_input_state_and_groups(capsys):
    o = parse_args(["a.o", "-static", "--whole-archive", "w.a", "--no-whole-archive",
                    "-Bdynamic", "-lx", "--push-state", "--as-needed", "-Bstatic", "-ly",
                    "--pop-state", "-lz", "-dn", "-(", "-la", "--start-group", "b.a", "-)",
                    "--", "-weird.o"])
    # ld starts in -Bdynamic state
    assert o.inputs == [
        InputFile("a.o", static=False), InputFile("w.a", whole_archive=True, static=True),
        InputLibrary("x", static=False), InputLibrary("y", as_needed=True, static=True),
        InputLibrary("z", static=False), GroupStart(), InputLibrary("a", static=True),
        GroupStart(), InputFile("b.a", static=True), GroupEnd(),
        InputFile("-weird.o", static=True), GroupEnd()]
    # the group left open is closed at the end with ld's warning, on stderr and recorded
    err = capsys.readouterr().err
    assert err == "elfkit link: warning: missing --end-group; added as last command line option\n"
    assert o.warnings == [err.rstrip("\n")]


def test_unknown_z_keyword_warns(capsys):
    o = parse_args(["-z", "bogus", "-zmax-page-size=4096", "-zcommon-page-size=0x1000", "a.o"])
    assert capsys.readouterr().err == "elfkit link: warning: -z bogus ignored\n"
    assert o.max_page_size == 4096 and o.common_page_size == 4096


def test_version_and_help():
    assert parse_args(["-v"]).version_only
    o = parse_args(["-v", "a.o"])
    assert o.print_version and not o.version_only
    o = parse_args(["-V"])
    assert o.print_emulations and o.version_only
    # --version prints and exits at once: what follows is never looked at
    o = parse_args(["--version", "--bogus"])
    assert o.print_version and o.version_only
    assert parse_args(["--help"]).print_help


ERRORS = [
    (["--foo", "a.o"], "unrecognized option '--foo'"),
    (["-foo", "a.o"], "unrecognized option '-foo'"),
    (["--gc-sec", "a.o"], "unrecognized option '--gc-sec'"),
    (["-sS", "a.o"], "unrecognized option '-sS'"),
    (["a.o", "-pie"], "-pie:"),
    (["a.o", "--pic-executable"], "--pic-executable:"),
    (["a.o", "-static-pie"], "-static-pie:"),
    (["a.o", "-shared"], "-shared:"),
    (["a.o", "-r"], "-r:"),
    (["a.o", "--wrap=malloc"], "--wrap:"),
    (["a.o", "--wrap", "malloc"], "--wrap:"),
    (["a.o", "-T", "x.ld"], "-T: linker scripts"),
    (["a.o", "-Tx.ld"], "-T: linker scripts"),
    (["a.o", "--script=x.ld"], "--script: linker scripts"),
    (["a.o", "-m", "elf_i386"], "unrecognised emulation mode: elf_i386"),
    (["a.o", "--hash-style=x"], "invalid hash style `x'"),
    (["a.o", "--build-id=zz"], "invalid --build-id argument 'zz'"),
    (["a.o", "-z", "max-page-size=3"], "invalid maximum page size `3'"),
    (["a.o", "--defsym", "a=b*2"], "--defsym a=b*2: unsupported expression"),
    (["a.o", "--entry"], "--entry: missing argument"),
    (["a.o", "-z"], "-z: missing argument"),
    (["a.o", "--gc-sections=1"], "option '--gc-sections' doesn't allow an argument"),
    (["a.o", "--pop-state"], "no state pushed before popping"),
    (["a.o", "--end-group"], "group ended before it began"),
    ([], "no input files"),
    (["-static"], "no input files"),
]


@pytest.mark.parametrize("argv,expected", ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list)
                         else None)
def test_errors_are_one_line_naming_the_option(argv, expected):
    with pytest.raises(LinkUsageError) as e:
        parse_args(argv)
    line = str(e.value)
    assert "\n" not in line
    assert line.startswith("elfkit link: ") and expected in line
    assert e.value.exit_code == 2


# ------------------------------------------------------------------------- library search

def ld_opened(verbose_output):
    """The files ld opened, in order, from --verbose's `attempt to open X succeeded`."""
    return re.findall(r"^attempt to open (.*) succeeded$", verbose_output, re.M)


def ld_attempts(verbose_output, basename):
    return [p for p in re.findall(r"^attempt to open (.*) (?:succeeded|failed)$",
                                  verbose_output, re.M) if os.path.basename(p) == basename]


@needs_gcc
@pytest.mark.parametrize("compiler", ["gcc", "musl-gcc"])
def test_find_library_matches_ld(work, tmp_path, compiler):
    if shutil.which(compiler) is None or shutil.which("ld") is None:
        pytest.skip(f"no {compiler} or ld")
    args = ["-static", "-o", str(tmp_path / "out"), "hello.o", "-lm"]
    # the same command with GNU ld itself: a -B dir holding a link to the real ld (gcc adds
    # -L for each -B dir: the -L list is the captured one with the fake dir's name replaced)
    real = tmp_path / "real"
    real.mkdir()
    (real / "ld").symlink_to(shutil.which("ld"))
    fake = str(work / "fake")
    argv = [a.replace(fake, str(real)) for a in captured_argv(work, compiler, *args)]
    o = parse_args(argv)
    ld_args = ["-B", f"{real}/", *args, "-Wl,--verbose"]
    run = subprocess.run([compiler, *ld_args], cwd=work, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    names = [i.name for i in o.input_files() if isinstance(i, InputLibrary)]
    assert "c" in names
    checked = 0
    for name in ["c", "m", "gcc", "gcc_eh"]:
        if name not in names:
            continue
        base = f"lib{name}.a"
        tried = ld_attempts(out, base)
        opened = [p for p in ld_opened(out) if os.path.basename(p) == base]
        assert opened, f"ld did not report opening {base}"
        mine = find_library(name, o, static=True)
        assert mine == opened[0]
        # and the directories were tried in ld's order up to the one that has it
        dirs = search_dirs(o)
        assert tried[:tried.index(opened[0]) + 1] == \
            [os.path.join(d, base) for d in dirs[:dirs.index(os.path.dirname(mine)) + 1]]
        checked += 1
    assert checked >= 2


def test_default_search_dirs_match_ld():
    if shutil.which("ld") is None:
        pytest.skip("no ld")
    script = subprocess.run(["ld", "--verbose"], capture_output=True, text=True).stdout
    assert tuple(re.findall(r'SEARCH_DIR\("([^"]*)"\)', script)) == DEFAULT_SEARCH_DIRS


def test_find_library_rules(tmp_path):
    a, b, sr = tmp_path / "a", tmp_path / "b", tmp_path / "sysroot"
    for d in (a, b, sr / "lib"):
        d.mkdir(parents=True)
    (b / "libfoo.a").write_bytes(b"!<arch>\n")
    (a / "libfoo.so").write_bytes(b"")
    (a / "libonly.so").write_bytes(b"")
    (a / "odd-name.a").write_bytes(b"!<arch>\n")
    (sr / "lib" / "libsr.a").write_bytes(b"!<arch>\n")
    o = parse_args([f"-L{a}", f"-L{b}", "-L=/lib", "-L", "$SYSROOT/lib", f"--sysroot={sr}",
                    "-nostdlib", "x.o"])
    assert search_dirs(o) == [str(a), str(b), f"{sr}/lib", f"{sr}/lib"]
    assert find_library("foo", o, static=True) == str(b / "libfoo.a")
    # after -Bdynamic ld would take a/libfoo.so; elfkit keeps to the archive ...
    assert find_library("foo", o, static=False) == str(b / "libfoo.a")
    # ... and says so when there is only a shared library
    with pytest.raises(InputError) as e:
        find_library("only", o, static=False)
    assert "libonly.so" in str(e.value) and "\n" not in str(e.value)
    assert find_library(":odd-name.a", o, static=True) == str(a / "odd-name.a")
    assert find_library("sr", o, static=False) == f"{sr}/lib/libsr.a"
    for name in ("nosuch", ":nosuch.a", "only"):
        with pytest.raises(InputError) as e:
            find_library(name, o, static=True)
        assert str(e.value) == f"elfkit link: cannot find -l{name}: No such file or directory"
    # without -nostdlib ld's default directories follow the -L ones
    assert search_dirs(parse_args(["x.o"])) == [d[1:] for d in DEFAULT_SEARCH_DIRS]


# ------------------------------------------------------------------------ fixtures/ld/ld

def test_ld_wrapper_execs_elfkit_link(tmp_path):
    wrapper = ROOT / "fixtures" / "ld" / "ld"
    assert wrapper.stat().st_mode & stat.S_IXUSR
    assert wrapper.read_text().startswith("#!/bin/sh\n")
    # a stand-in Python shows exactly what the wrapper runs
    py = tmp_path / "py"
    py.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done\n')
    py.chmod(0o755)
    run = subprocess.run([str(wrapper), "-o", "a b", "", "-lc"], capture_output=True,
                         env={**os.environ, "ELFKIT_PYTHON": str(py)}, check=True)
    assert run.stdout.split(b"\0")[:-1] == [b"-m", b"elfkit", b"link", b"-o", b"a b", b"", b"-lc"]


def test_linker_script_inputs_as_gnu_ld_reads_them(tmp_path):
    """INPUT/GROUP in a linker script given as an input file: a double-quoted name with a blank,
    a comment, commas, and AS_NEEDED(...) nested in GROUP, read as GNU ld reads them: both
    linkers take the same objects (the symbols each output defines are the same)."""
    sources = {"main.c": "int one(void); int two(void); int three(void);\n"
                         "int main(void) { return one() + two() + three(); }\n",
               "part one.c": "int one(void) { return 1; }\n",
               "two.c": "int two(void) { return 2; }\n",
               "three.c": "int three(void) { return 3; }\n"}
    for name, text in sources.items():
        (tmp_path / name).write_text(text)
        subprocess.run(["gcc", "-O1", "-fno-pie", "-c", name, "-o", name[:-2] + ".o"],
                       cwd=tmp_path, check=True)
    (tmp_path / "inputs.ld").write_text(
        '/* the objects main.o needs */\nINPUT("part one.o", two.o)\n'
        "GROUP ( AS_NEEDED ( three.o ) )\n")
    defined = {}
    for linker in (["ld.bfd"], [sys.executable, "-m", "elfkit", "link"]):
        out = tmp_path / f"out-{len(defined)}"
        r = subprocess.run([*linker, "-static", "-e", "main", "-o", str(out), "main.o",
                            "inputs.ld"], cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == 0, (linker, r.stderr)
        nm = subprocess.run(["nm", "--defined-only", str(out)], capture_output=True,
                            text=True, check=True).stdout
        defined[linker[-1]] = {line.split()[-1] for line in nm.splitlines()
                              if line.split()[1] in "Tt"}
    assert len(set(map(frozenset, defined.values()))) == 1, defined
    assert {"main", "one", "two", "three"} <= defined["ld.bfd"]
    assert defined["link"] == defined["ld.bfd"]
