"""Whole process trees under `elfkit load-and-run` against the same command run natively (issue 10).

Every scenario is a real command that forks, execs, waits, pipes or signals: shell pipelines,
subshells, background jobs, traps, make, xargs, find -exec, perl's fork, Python's subprocess,
#! scripts and the execve errors shells fall back on.  Each runs twice with the same argv, the
same small environment (ENV), the same stdin bytes and the repository root as working
directory: natively with subprocess, and as `python -m elfkit load-and-run PROGRAM ARGS...`
(conftest.run_elfkit), where every process of the tree must run inside elfkit.

Compared exactly (compare() below):
  - stdout bytes;
  - subprocess's returncode, raw: the exit code, or -N when the first process was killed by
    signal N -- elfkit must then die by signal N itself (the issue's "dying like the guest"),
    not exit with 128+N;
  - stderr: the guest's stderr bytes, after dropping the lines elfkit may add, which start with
    `elfkit: `; a Python traceback anywhere fails the test.
The native run has RLIMIT_CORE 0 (no core files); elfkit switches its own core dumps off.

Native determinism: each native half was run three times when this file was written, with the
same bytes and status every time (the commands avoid timing: no `ps`, no pids, no parallel make).
Tools used: dash as /bin/sh, bash, coreutils, findutils (find, xargs), GNU make, gzip, perl,
python3, gawk; .ci/run installs them (make and perl explicitly; the rest are in every Debian).
"""
from __future__ import annotations

import difflib
import resource
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, run_elfkit

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
NATIVE_TIMEOUT = 60
EMU_TIMEOUT = 120          # a passing run takes seconds; a hung one fails after this

# ---------------------------------------------------------------- helpers ----


class Run:
    """One run of a command: what subprocess saw."""

    def __init__(self, who: str, argv, returncode: int, stdout: bytes, stderr: bytes):
        self.who, self.argv = who, [str(a) for a in argv]
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __repr__(self):
        return (f"<{self.who} {self.argv!r} returncode={self.returncode} "
                f"stdout={self.stdout[:1500]!r} stderr={self.stderr[:1500]!r}>")


def no_core_dumps():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def native(argv, stdin: bytes = b"", *, env=ENV, timeout=NATIVE_TIMEOUT) -> Run:
    argv = [str(a) for a in argv]
    p = subprocess.run(argv, input=stdin, capture_output=True, env=env, cwd=ROOT,
                       timeout=timeout, preexec_fn=no_core_dumps)
    return Run("native", argv, p.returncode, p.stdout, p.stderr)


def emulated(argv, stdin: bytes = b"", *, options=(), env=ENV, timeout=EMU_TIMEOUT) -> Run:
    argv = [str(a) for a in argv]
    cmd = ["elfkit", "load-and-run", *map(str, options), *argv]
    try:
        p = run_elfkit("load-and-run", *options, *argv, input=stdin, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{cmd!r} did not finish within {timeout} s (the native run did)\n"
                    f"stdout so far: {(e.stdout or b'')[-2000:]!r}\n"
                    f"stderr so far: {(e.stderr or b'')[-3000:]!r}")
    return Run("elfkit", cmd, p.returncode, p.stdout, p.stderr)


def elfkit_lines_removed(stderr: bytes) -> bytes:
    """The guest's own stderr: every line elfkit adds starts with `elfkit: `."""
    return b"".join(ln for ln in stderr.splitlines(keepends=True) if not ln.startswith(b"elfkit: "))


def describe_returncode(rc: int) -> str:
    return f"{rc} (killed by signal {-rc})" if rc < 0 else f"{rc} (exit code)"


def text_diff(name: str, want: bytes, got: bytes) -> str:
    lines = difflib.unified_diff(want.decode(errors="replace").splitlines(keepends=True),
                                 got.decode(errors="replace").splitlines(keepends=True),
                                 fromfile=f"native {name}", tofile=f"elfkit {name}", n=2)
    return "".join(lines)[:6000] or f"(same text, different bytes: {want[:300]!r} vs {got[:300]!r})"


def no_traceback(run: Run):
    for name, data in (("stdout", run.stdout), ("stderr", run.stderr)):
        assert b"Traceback (most recent call last)" not in data, (
            f"Python traceback on {name} under elfkit (elfkit's own, or a Python guest's that the "
            f"native run did not print):\n{data.decode(errors='replace')[-6000:]}")
    assert b"elfkit: internal error" not in run.stderr, run


def assert_same(nat: Run, emu: Run):
    no_traceback(emu)
    assert emu.stdout == nat.stdout, (
        f"stdout differs for {nat.argv!r}:\n{text_diff('stdout', nat.stdout, emu.stdout)}\n"
        f"elfkit stderr:\n{emu.stderr.decode(errors='replace')[-3000:]}")
    assert emu.returncode == nat.returncode, (
        f"returncode differs for {nat.argv!r}: native {describe_returncode(nat.returncode)}, "
        f"elfkit {describe_returncode(emu.returncode)}\n"
        f"elfkit stderr:\n{emu.stderr.decode(errors='replace')[-3000:]}")
    # the system call census: a real program elfkit runs meets no call it does not answer
    assert b"unsupported system call" not in emu.stderr, emu.stderr.decode(errors="replace")
    guest = elfkit_lines_removed(emu.stderr)
    assert guest == nat.stderr, (
        f"stderr differs for {nat.argv!r} (lines starting 'elfkit: ' dropped):\n"
        f"{text_diff('stderr', nat.stderr, guest)}")


def compare(argv, stdin: bytes = b"", *, options=(), env=ENV) -> tuple[Run, Run]:
    """Run argv natively and under elfkit; assert same stdout, returncode and guest stderr."""
    nat = native(argv, stdin, env=env)
    emu = emulated(argv, stdin, options=options, env=env)
    assert_same(nat, emu)
    return nat, emu


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


def bash(script: str) -> list[str]:
    return ["/bin/bash", "-c", script]


# -------------------------------------------------------------- scenarios ----
# id -> (argv, stdin).  Every argv[0] is an absolute path: elfkit is given the same program
# the native run starts.  Comments say what each one needs from the kernel.

SCENARIOS = {
    # pipelines: fork, pipe, dup2, execve, wait4 for every stage
    "pipe-echo-tr": (sh("echo hello | tr a-z A-Z"), b""),
    "pipe-sort-head": (sh("printf 'b\\na\\nc\\n' | sort | head -1"), b""),
    "pipe-4-stages": (sh("printf 'pear\\napple\\nfig\\napple\\n' | sort | uniq -c | tr -s ' '"),
                      b""),
    "pipe-5-stages-seq": (sh("seq 1 3000 | grep 7 | sort -rn | head -4 | tr '\\n' ,"), b""),
    # `yes` runs until head exits: it must die of SIGPIPE's default action silently (a guest
    # that inherited SIG_IGN from Python would print "yes: standard output: Broken pipe")
    "pipe-yes-head-sigpipe": (sh("yes | head -3; echo status $?"), b""),
    "pipe-stdin-through": (sh("tr a-z A-Z | sort"), b"zeta\nalpha\nmid\n"),
    "pipe-exit-status": (sh("false | true; echo $?; true | false; echo $?"), b""),
    "for-loop-wc": (sh("for i in 1 2 3; do echo $i; done | wc -l"), b""),
    # subshells, nested shells, exec
    "subshell-exit-3": (sh("(exit 3); echo $?"), b""),
    "nested-shells": (sh("sh -c 'sh -c \"exit 5\"; echo inner $?'; echo outer $?"), b""),
    "exec-replaces-shell": (sh("exec /bin/echo replaced"), b""),
    "child-killed-by-signal": (sh("sh -c 'kill -9 $$'; echo $?"), b""),
    # bash: command substitution (fork + pipe), PIPESTATUS
    "bash-cmdsubst": (bash('x=$(echo hi); echo "<$x>"'), b""),
    "bash-cmdsubst-external": (bash('x=$(echo hi | tr a-z A-Z); y=$(/bin/echo there); '
                                    'echo "<$x $y>"'), b""),
    "bash-pipestatus": (bash('true | false | (exit 4); echo "${PIPESTATUS[@]}"'), b""),
    # background jobs: sleeping children, wait, kill of a child
    "background-wait": (sh("sleep 0.1 & echo started; wait; echo done $?"), b""),
    # (dash's "Terminated" notice for a killed background job is a race, natively too: whether
    # the child dies before `wait` starts; the shell's stderr is left out here)
    "background-kill": (sh("exec 2>/dev/null; sleep 10 & kill $!; wait $!; echo status $?"), b""),
    # signals to the shell itself
    "trap-term": (sh('trap "echo got TERM" TERM; kill -TERM $$; echo after'), b""),
    "kill-9-self": (sh("kill -9 $$"), b""),                  # returncode -9 both
    "kill-term-self": (sh("kill -TERM $$"), b""),            # returncode -15 both
    "kill-segv-self": (sh("echo before; kill -SEGV $$; echo not reached"), b""),   # -11
    # /proc for guest processes: comm of the shell and of cat; awk's PPid is the shell's $$
    "proc-comm-ppid": (sh('cat /proc/$$/comm; cat /proc/self/comm; '
                          'p=$(awk "{print \\$4}" /proc/self/stat); [ "$p" = $$ ] && echo ppid-ok'),
                       b""),
    # (dash's "Terminated" job notice depends on whether the child dies before `wait` starts,
    # a race natively too: the shell's stderr is not part of this comparison)
    "proc-stopped-state": (sh("exec 2>/dev/null; sleep 10 & p=$!; kill -STOP $p; sleep 0.2; "
                              "grep State /proc/$p/status; kill -CONT $p; kill $p; wait $p; "
                              "echo $?"), b""),
    # tools that run programs
    "xargs-n1": (sh('printf "a\\nb\\nc\\n" | xargs -n1 echo x'), b""),
    "find-exec": (["/usr/bin/find", "fixtures/src", "-name", "*.S", "-exec", "echo", "found",
                   "{}", ";"], b""),
    "find-exec-plus": (["/usr/bin/find", "fixtures/src", "-name", "*.S", "-exec", "echo",
                        "found", "{}", "+"], b""),
    "env-i-printenv": (["/usr/bin/env", "-i", "A=1", "printenv", "A"], b""),
    "env-missing-program": (["/usr/bin/env", "nonexistent_cmd_xyz"], b""),   # execvp: ENOENTs, 127
    "perl-fork-waitpid": (["/usr/bin/perl", "-e",
                           'my $p=fork; if(!$p){exit 7} waitpid($p,0); print $?>>8, "\\n"'], b""),
    "perl-system-backticks": (["/usr/bin/perl", "-e",
                               'print system("sh", "-c", "exit 3")>>8, "\\n"; print `echo hi`'],
                              b""),
    "python-subprocess": (["/usr/bin/python3", "-c",
                           'import subprocess; '
                           'print(subprocess.run(["echo","hi"],capture_output=True).stdout)'], b""),
    # execve errors the shell reports itself (dash searches PATH without exec'ing)
    "sh-command-not-found": (sh("nonexistent_cmd_xyz; echo $?"), b""),
    "bash-command-not-found": (bash("nonexistent_cmd_xyz; echo $?"), b""),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_same_as_native(name):
    argv, stdin = SCENARIOS[name]
    compare(argv, stdin)


def test_gzip_round_trip_through_pipes(tmp_path):
    """cat | gzip -c | gzip -dc | sha256sum on 384 KiB: several times a pipe's 64 KiB, so
    writers block on full pipes and readers on empty ones."""
    data = bytearray()
    x = 12345
    while len(data) < 384 * 1024:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        data += b"line %d %s\n" % (x % 1000, b"abcdefgh"[: x % 8] * (x % 5))
    path = tmp_path / "data.txt"
    path.write_bytes(bytes(data))
    nat, _ = compare(sh(f"cat {path} | gzip -c | gzip -dc | sha256sum"))
    assert nat.stdout.endswith(b"  -\n")


# ------------------------------------------------------------------ make ----

MAKEFILE = """\
all: first second third
\t@echo all done
first:
\t@echo building $@
second:
\techo $$((6*7)) | tr 4 X
third:
\t@for i in 1 2; do echo loop $$i; done; sh -c 'exit 0'
fail:
\t@echo about to fail
\tfalse
\t@echo not reached
"""


@pytest.mark.parametrize("target", ["all", "fail"], ids=["recipes", "failing-recipe"])
def test_make_runs_recipes(tmp_path, target):
    """GNU make runs simple recipe lines with posix_spawn (clone3 CLONE_VM|CLONE_VFORK on glibc
    2.36) and lines with shell syntax through /bin/sh -c; a failing recipe: status 2 and
    make's `*** [FILE:LINE: fail] Error 1` on stderr."""
    mk = tmp_path / "Makefile"
    mk.write_text(MAKEFILE)
    compare(["/usr/bin/make", "--no-print-directory", "-f", mk, target])


# ---------------------------------------------------- #! scripts, execve errors ----

def write_exec(path: Path, text: str, mode=0o755) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def scripts(tmp_path) -> dict[str, Path]:
    d = tmp_path
    return {
        "plain": write_exec(d / "plain.sh",
                            '#!/bin/sh\necho "script: $0 argc=$# args=$*"\nexit 4\n'),
        "one-arg": write_exec(d / "one-arg.sh", "#!/bin/sh -x\necho traced\n"),
        # the kernel passes everything after the interpreter as ONE argument: dash gets "-x -e"
        "two-words": write_exec(d / "two-words.sh", "#!/bin/sh -x -e\necho hi\n"),
        "env": write_exec(d / "env.sh", "#!/usr/bin/env sh\necho via env $1\n"),
        "awk": write_exec(d / "prog.awk", '#!/usr/bin/awk -f\nBEGIN { print "awk", ARGV[1] }\n'),
        "nested": write_exec(d / "nested", f"#!{d / 'plain.sh'}\n"),   # interpreter is a script
        "no-shebang": write_exec(d / "no-shebang", 'echo "no #! line, run by the shell: $0 $1"\n'),
        "not-executable": write_exec(d / "not-executable", "#!/bin/sh\necho hi\n", 0o644),
        "missing-interpreter": write_exec(d / "missing-interp", "#!/nonexistent/interp\necho hi\n"),
        "missing": d / "missing",
        "directory": d,
    }


@pytest.mark.parametrize("name", ["plain", "one-arg", "two-words", "env", "awk", "nested"])
def test_script_run_directly(scripts, name):
    """elfkit is given the #! script itself: binfmt_script runs the interpreter with its one
    optional argument, then the script path, then the arguments."""
    compare([scripts[name], "a1", "a 2"])


@pytest.mark.parametrize("name,expected_status", [
    ("plain", 4),
    ("nested", 4),
    ("no-shebang", 0),             # execve: ENOEXEC -> dash runs the file as a script itself
    ("not-executable", 126),       # EACCES
    ("directory", 126),            # EACCES
    ("missing", 127),              # ENOENT
    ("missing-interpreter", 127),  # ENOENT from the #! interpreter
])
def test_shell_runs_file(scripts, name, expected_status):
    """The shell forks (dash: vfork) and execs the file; on each execve error it reports what
    it reports natively and `$?` shows 126/127 (expected_status is the native value, checked
    first so the scenario is known to test what it says)."""
    argv = sh(f"{scripts[name]} arg; echo status $?")
    nat = native(argv)
    assert nat.stdout.endswith(b"status %d\n" % expected_status), nat
    assert_same(nat, emulated(argv))


def test_bash_runs_file_without_shebang(scripts):
    """bash's own ENOEXEC fallback (it checks the file is text, then runs it in a subshell)."""
    compare(bash(f"{scripts['no-shebang']} arg; echo status $?"))


def test_scripts_from_a_pipeline(scripts):
    compare(sh(f"{scripts['plain']} x | {scripts['env']} y | tr a-z A-Z; "
               f"{scripts['awk']} z | cat"))
