"""`elfkit load-and-run` against native execution: same stdout bytes, same exit status.

Every program runs twice with the same argv, the same small fixed environment
(ENV), the same stdin bytes and the same working directory (the repository
root, where conftest.run_elfkit runs elfkit): once natively with
subprocess, once as `python -m elfkit load-and-run FILE ARGS...`.  Native
exit statuses are turned into what a shell reports (killed by signal N ->
128+N) on both sides: elfkit dies by the signal that killed the guest.

Compared exactly: stdout bytes and exit status.  stderr: the guest's stderr
must come through unchanged; the only lines elfkit itself may add to it for a
program that ran normally are `elfkit: warning: ...` lines (shown in the
failure message when anything else differs).  A Python traceback anywhere is
always a failure.

What runs:
- every runnable fixture in fixtures/build (conftest.all_fixtures()), with
  small argument counts for the benchmarks; skipped: ET_REL objects (*.o),
  core files, the shared library libfixture.so; ELF32 fixtures must be
  refused with one `elfkit: error:` line and status 126 (exec failure,
  elfkit/cli/run.py; 2 would be a usage error);
- real programs from the host: true, false, echo, ls -la, cat, sort with
  stdin, wc, sha256sum, date, python3, perl (plus printf for argument
  passing and seq for a large output);
- the environment the guest sees: exactly the one elfkit was started with
  (Python adds LC_CTYPE to its own os.environ under locale coercion; the
  guest must not see that), checked with /usr/bin/env as the guest against
  native /usr/bin/env, via `env -i K=V ... elfkit ...`, via run_elfkit's env
  and with the full inherited environment;
- --env / --unset-env / --clear-env against env(1) doing the same natively,
  --seed determinism, --allow-write and --root.
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, all_fixtures, fixture_path, run_elfkit

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
EMU_TIMEOUT = 180           # seconds; subprocess limit around one elfkit run

# ---------------------------------------------------------------- helpers ----


def shell_status(returncode: int) -> int:
    """subprocess returncode -> what a shell reports ($?): -N (killed by signal N) -> 128+N."""
    return 128 - returncode if returncode < 0 else returncode


class Run:
    def __init__(self, stdout: bytes, stderr: bytes, status: int, argv):
        self.stdout, self.stderr, self.status, self.argv = stdout, stderr, status, argv

    def __repr__(self):
        return (f"<Run {self.argv!r} status={self.status} stdout={self.stdout[:2000]!r} "
                f"stderr={self.stderr[:2000]!r}>")


def no_core_dumps():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def native(argv, *, input=b"", env=ENV, timeout=120, **kw) -> Run:
    p = subprocess.run([str(a) if isinstance(a, Path) else a for a in argv], input=input,
                       capture_output=True, env=env, cwd=ROOT, timeout=timeout,
                       preexec_fn=no_core_dumps, **kw)
    return Run(p.stdout, p.stderr, shell_status(p.returncode), argv)


def emulated(file, args=(), *, options=(), input=b"", env=ENV, timeout=EMU_TIMEOUT) -> Run:
    p = run_elfkit("load-and-run", *options, file, *args, input=input, env=env, timeout=timeout)
    # a guest killed by signal N kills elfkit by signal N (returncode -N), never exit(128+N)
    assert p.returncode < 128, f"elfkit exited with {p.returncode} instead of dying by the guest's signal"
    return Run(p.stdout, p.stderr, shell_status(p.returncode),
               ["elfkit", "load-and-run", *options, file, *args])


def no_traceback(run: Run):
    for name, data in (("stdout", run.stdout), ("stderr", run.stderr)):
        assert b"Traceback (most recent call last)" not in data, \
            f"Python traceback on {name} of {run.argv}:\n{data.decode(errors='replace')}"
    assert b"internal error" not in run.stderr, run


def without_warnings(stderr: bytes) -> bytes:
    return b"".join(ln for ln in stderr.splitlines(keepends=True)
                    if not ln.startswith(b"elfkit: warning:"))


def assert_same(nat: Run, emu: Run):
    """The comparison every test here makes: stdout bytes, status, stderr (modulo warnings)."""
    no_traceback(emu)
    assert emu.stdout == nat.stdout, (
        f"stdout differs\n  native: {nat!r}\n  elfkit: {emu!r}")
    assert emu.status == nat.status, (
        f"exit status differs: native {nat.status}, elfkit {emu.status}\n"
        f"  native: {nat!r}\n  elfkit: {emu!r}")
    # the system call census: a real program elfkit runs meets no call it does not answer
    assert b"unsupported system call" not in emu.stderr, emu.stderr.decode(errors="replace")
    assert without_warnings(emu.stderr) == nat.stderr, (
        f"stderr differs\n  native: {nat.stderr!r}\n  elfkit: {emu.stderr!r}")


def compare(argv, *, input=b"", env=ENV, options=()) -> tuple[Run, Run]:
    nat = native(argv, input=input, env=env)
    emu = emulated(argv[0], argv[1:], options=options, input=input, env=env)
    assert_same(nat, emu)
    return nat, emu


def need(path: str) -> str:
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed on this machine")
    return path


# ------------------------------------------------------ fixture matrix ----

def _elf_kind(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(18)
    ei_class, e_type = head[4], int.from_bytes(head[16:18], "little")
    if e_type == 1:
        return "rel"
    if e_type == 4:
        return "core"
    if ei_class == 1:
        return "elf32"
    if path.name == "libfixture.so":
        return "library"
    return "run"


# Arguments for fixtures that take some; small counts keep the suite fast.
FIXTURE_ARGS = {
    "cpubound": ["1"],
    "cpubound-static": ["1"],
    "aluloop": ["1000000"],         # the tight-loop benchmarks (benchmarks/bench_loops.py)
    "stackvm": ["1000000"],
    "syscalls": ["3000"],
    "faults": ["exit3"],            # each mode: tests/test_run_faults.py
    "faults-static": ["exit3"],
    "stackwalk": ["one", "two words", ""],
    "stackwalk-static": ["one", "two words", ""],
    "stackwalk-static-pie": ["one", "two words", ""],
    "stackwalk-musl": ["one", "two words", ""],
    "stackwalk-nolibc": ["one", "two words", ""],
    "pollready": ["epoll", "2000"],
}

# Built for a newer CPU than the one elfkit emulates (Unicorn's Westmere model, x86-64-v2):
# glibc's ld.so refuses them under elfkit exactly as it would on such a machine.
NEEDS_NEWER_CPU = {"hello-isa-v3"}

_ALL = all_fixtures()
# sys-* fixtures want a scratch directory and a capability-free native run, and sweep (every
# system call with hostile arguments) must never run natively: tests/test_syscalls.py runs them
RUNNABLE = [p for p in _ALL if _elf_kind(p) == "run" and p.name not in NEEDS_NEWER_CPU
            and not p.name.startswith("sys-") and p.name != "sweep"]
ELF32 = [p for p in _ALL if _elf_kind(p) == "elf32"]


@pytest.mark.parametrize("name", sorted(NEEDS_NEWER_CPU))
def test_isa_level_check_refuses_what_the_emulated_cpu_lacks(name):
    """ld.so's ISA-level check runs against the emulated CPU's CPUID: an x86-64-v3 program
    stops with glibc's own message and ld.so's status 127, as on a real x86-64-v2 machine."""
    emu = emulated(fixture_path(name))
    no_traceback(emu)
    assert emu.status == 127 and emu.stdout == b""
    assert b"CPU ISA level is lower than required" in emu.stderr


def test_fixtures_are_built():
    """The matrix below is taken from fixtures/build: make sure it is not silently empty."""
    names = {p.name for p in RUNNABLE}
    for name in ("hello-pie", "hello-static", "hello-musl", "nolibc", "usefixture", "stackwalk",
                 "cpubound", "syscalls", "faults", "faults-static"):
        fixture_path(name)
        assert name in names, f"{name} not classified as runnable"
    assert {p.name for p in ELF32} >= {"hello32", "nolibc32"}


@pytest.mark.parametrize("path", RUNNABLE, ids=[p.name for p in RUNNABLE])
def test_fixture_same_as_native(path):
    args = FIXTURE_ARGS.get(path.name, [])
    compare([str(path), *args])


@pytest.mark.parametrize("path", RUNNABLE, ids=[p.name for p in RUNNABLE])
def test_fixture_relative_path_same_as_native(path):
    """FILE given relative to the working directory (argv[0] and AT_EXECFN stay relative)."""
    rel = os.path.relpath(path, ROOT)          # e.g. fixtures/build/hello-pie
    compare([rel, *FIXTURE_ARGS.get(path.name, [])])


@pytest.mark.slow          # cpubound: 7-11 s each under elfkit (measured with -n 2)
@pytest.mark.parametrize("name,args", [("cpubound-static", []), ("cpubound", []), ("syscalls", [])],
                         ids=["cpubound-static-40-rounds", "cpubound-40-rounds", "syscalls-200000"])
def test_benchmark_fixtures_default_size(name, args):
    """The benchmarks at their default size (~0.3 s natively; 3-11 s each under elfkit).
    Marked `slow` (deselect with -m 'not slow'); the only tests here that may need > 10 s."""
    compare([str(fixture_path(name)), *args])


@pytest.mark.parametrize("path", ELF32, ids=[p.name for p in ELF32])
def test_elf32_fixture_refused_cleanly(path):
    """elfkit runs x86-64 only: an i386 program gets one clear line and an exec-failure status."""
    emu = emulated(str(path))
    no_traceback(emu)
    assert emu.stdout == b""
    lines = emu.stderr.decode().splitlines()
    assert len(lines) == 1, emu
    assert lines[0].startswith("elfkit: error: "), emu
    assert str(path) in lines[0] and "x86-64" in lines[0] and "ELF32" in lines[0], emu
    assert emu.status in (2, 126), emu
    assert emu.status == 126, f"status {emu.status}: elfkit/cli/run.py documents 126 for 'cannot execute'"


# -------------------------------------------------------- real programs ----

@pytest.fixture(scope="module")
def box(tmp_path_factory) -> Path:
    """box/listing with fixed names, sizes and times (ls -la shows `..` too, so box holds
    only listing and nothing is created in it later), and box/data.txt."""
    box = tmp_path_factory.mktemp("native-box")
    listing = box / "listing"
    listing.mkdir()
    (listing / "alpha.txt").write_bytes(b"alpha\n")
    (listing / "beta.bin").write_bytes(bytes(range(256)) * 4)
    (listing / "gamma").mkdir()
    (listing / "Zeta").write_bytes(b"")
    os.symlink("alpha.txt", listing / "link-to-alpha")
    t = 1_600_000_000
    for p in [listing / "gamma", listing / "alpha.txt", listing / "beta.bin", listing / "Zeta"]:
        os.utime(p, (t, t))
    os.utime(listing / "link-to-alpha", (t, t), follow_symlinks=False)
    (box / "data.txt").write_bytes(b"".join(b"line %d: %s\n" % (i, b"xyz" * (i % 7))
                                            for i in range(500)))
    os.utime(listing, (t, t))
    os.utime(box, (t, t))
    return box


SORT_INPUT = b"pear\napple\nbanana\nApple\n10\n9\n\ncherry\n"
BINARY_INPUT = bytes((i * 7919 + (i >> 8)) & 0xFF for i in range(300_000))

REAL = {
    "true": (["/bin/true"], b""),
    "false": (["/bin/false"], b""),
    "echo": (["/bin/echo", "hello", "world"], b""),
    "ls-la": (["/bin/ls", "-la", "{box}/listing"], b""),
    "cat-file": (["/bin/cat", "{box}/data.txt"], b""),
    "cat-stdin-binary": (["/bin/cat"], BINARY_INPUT),
    "sort-stdin": (["/usr/bin/sort"], SORT_INPUT),
    "wc": (["/usr/bin/wc", "{box}/data.txt"], b""),
    "sha256sum": (["/usr/bin/sha256sum", "{box}/data.txt"], b""),
    "date": (["/bin/date", "-u", "-d", "@0"], b""),
    "python3": (["/usr/bin/python3", "-c", "print(2**100)"], b""),
    "perl": (["/usr/bin/perl", "-e", "print 6*7"], b""),
    "seq-large-output": (["/usr/bin/seq", "1", "60000"], b""),
    "sh-exit-42": (["/bin/sh", "-c", "exit 42"], b""),
}


@pytest.mark.parametrize("name", list(REAL))
def test_real_program_same_as_native(name, box):
    argv, stdin = REAL[name]
    argv = [a.replace("{box}", str(box)) for a in argv]
    need(argv[0])
    compare(argv, input=stdin)


TRICKY_ARGS = ["--help", "--env", "X=1", "--timeout", "0", "--", "-", "", "two  spaces",
               "tab\there", "new\nline", "quote\"'", "é", os.fsdecode(b"\xff\xfe-not-utf8"),
               "x" * 5000]


def test_arguments_passed_exactly():
    """Everything after FILE is the guest's, byte for byte: options elfkit itself has, `--`,
    empty strings, whitespace, non-UTF-8 bytes, a long argument."""
    compare([need("/usr/bin/printf"), "[%s]\\n", *TRICKY_ARGS])


def test_arguments_passed_exactly_to_echo():
    """`-n` after FILE belongs to echo (no newline), not to elfkit."""
    compare(["/bin/echo", "-n", "--max-insns", "1", "--", "z"])


# ---------------------------------------------------------- environment ----

ENV_PAIRS = [b"ZED=last-but-given-first", b"A=1", b"EMPTY=", b"EQ=a=b=c", b"SPACE=two words",
             b"BYTES=\xe9\xff\x01", b"LANG=C"]


def _env_lines(out: bytes) -> list[bytes]:
    return out.split(b"\n")


def test_env_i_guest_sees_exactly_the_given_environment():
    """`env -i K=V ... elfkit load-and-run /usr/bin/env` prints what native `env -i K=V ... env`
    prints: same variables, same order, same bytes. LANG=C makes Python coerce the locale
    and put LC_CTYPE=C.UTF-8 into its own os.environ; the guest must not see it."""
    env_bin = need("/usr/bin/env")
    nat = native([env_bin, "-i", *ENV_PAIRS, env_bin], env=None)
    emu_cmd = [env_bin, "-i", *ENV_PAIRS, sys.executable, "-m", "elfkit", "load-and-run", env_bin]
    p = subprocess.run(emu_cmd, capture_output=True, cwd=ROOT, timeout=EMU_TIMEOUT)
    emu = Run(p.stdout, p.stderr, p.returncode, emu_cmd)
    assert nat.stdout == b"".join(e + b"\n" for e in ENV_PAIRS)
    assert_same(nat, emu)
    assert b"LC_CTYPE" not in emu.stdout


def test_env_empty_environment():
    """No variables at all (Python then also coerces the locale in its own copy)."""
    env_bin = need("/usr/bin/env")
    nat = native([env_bin], env={})
    emu = emulated(env_bin, env={})
    assert nat.stdout == b""
    assert_same(nat, emu)


def test_env_fixed_small_env_dict():
    env_bin = need("/usr/bin/env")
    nat, emu = compare([env_bin])
    assert emu.stdout == b"PATH=/usr/bin:/bin\nLANG=C\n"


def test_env_full_inherited_environment():
    """elfkit started with the test process's whole environment (env=None): the guest's `env`
    output equals native `env` output for the same environment."""
    env_bin = need("/usr/bin/env")
    nat = native([env_bin], env=None)
    emu = emulated(env_bin, env=None)
    assert_same(nat, emu)


def test_env_option_sets_variables():
    """--env K=V (new and replacing) vs `env K=V` natively. Compared as a set of lines: where a
    replaced variable ends up in the list is not part of the contract (env(1) replaces in place)."""
    env_bin = need("/usr/bin/env")
    nat = native([env_bin, "NEW=1", "PATH=/opt/x", "WITH=eq=sign", env_bin])
    emu = emulated(env_bin, options=["--env", "NEW=1", "--env", "PATH=/opt/x",
                                     "--env", "WITH=eq=sign"])
    no_traceback(emu)
    assert sorted(_env_lines(emu.stdout)) == sorted(_env_lines(nat.stdout)), (nat, emu)
    assert emu.status == nat.status == 0


def test_env_option_unset():
    env_bin = need("/usr/bin/env")
    nat = native([env_bin, "-u", "LANG", "-u", "NOT_THERE", env_bin])
    emu = emulated(env_bin, options=["--unset-env", "LANG", "--unset-env", "NOT_THERE"])
    assert_same(nat, emu)
    assert emu.stdout == b"PATH=/usr/bin:/bin\n"


def test_env_option_clear():
    env_bin = need("/usr/bin/env")
    nat = native([env_bin, "-i", "ONLY=this", env_bin])
    emu = emulated(env_bin, options=["--clear-env", "--env", "ONLY=this"])
    assert_same(nat, emu)
    assert emu.stdout == b"ONLY=this\n"


# ---------------------------------------------------------------- --seed ----

SEEDED = {
    # getrandom(2) through Python's os.urandom
    "getrandom": ["/usr/bin/python3", "-c", "import os; print(os.urandom(16).hex())"],
    # /dev/urandom read as a file
    "dev-urandom": ["/usr/bin/od", "-An", "-tx1", "-N16", "/dev/urandom"],
    # coreutils' own random source (getrandom)
    "shuf": ["/usr/bin/shuf", "-i", "1-1000000", "-n", "5"],
}


@pytest.mark.parametrize("name", list(SEEDED))
def test_seed_makes_randomness_deterministic(name):
    argv = SEEDED[name]
    need(argv[0])
    a = emulated(argv[0], argv[1:], options=["--seed", "7"])
    b = emulated(argv[0], argv[1:], options=["--seed", "7"])
    c = emulated(argv[0], argv[1:], options=["--seed", "8"])
    for r in (a, b, c):
        no_traceback(r)
        assert r.status == 0 and r.stdout, r
    assert a.stdout == b.stdout, f"--seed 7 twice gave different output: {a.stdout!r} {b.stdout!r}"
    assert a.stdout != c.stdout, f"--seed 7 and --seed 8 gave the same output {a.stdout!r}"


# ------------------------------------------------- --allow-write, --root ----

def test_allow_write_lets_cp_create_a_file(tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(b"copied bytes\n" * 100)
    out_native, out_emu = tmp_path / "native", tmp_path / "emu"
    out_native.mkdir()
    out_emu.mkdir()
    nat = native(["/bin/cp", str(src), str(out_native / "dst.txt")])
    emu = emulated("/bin/cp", [str(src), str(out_emu / "dst.txt")],
                   options=["--allow-write", str(out_emu)])
    assert_same(nat, emu)
    assert (out_emu / "dst.txt").read_bytes() == (out_native / "dst.txt").read_bytes()


def test_without_allow_write_the_guest_cannot_create_files(tmp_path):
    """Default: read-only. cp must fail (status 1, cp's own message: EROFS), nothing appears;
    elfkit may say why in an `elfkit: warning:` line."""
    src = tmp_path / "src.txt"
    src.write_bytes(b"x\n")
    emu = emulated("/bin/cp", [str(src), str(tmp_path / "dst.txt")])
    no_traceback(emu)
    assert emu.status == 1, emu
    assert without_warnings(emu.stderr).startswith(b"/bin/cp: cannot create regular file"), emu
    assert not (tmp_path / "dst.txt").exists()


def test_root_runs_a_program_inside_a_sysroot(tmp_path):
    """--root DIR: FILE and every path the guest uses resolve inside DIR."""
    (tmp_path / "bin").mkdir()
    shutil.copy(fixture_path("hello-static"), tmp_path / "bin" / "hello")
    nat = native([str(fixture_path("hello-static"))])
    emu = emulated("/bin/hello", options=["--root", str(tmp_path)])
    assert_same(nat, emu)
