"""How a guest ends under `elfkit load-and-run`, against the same program run natively.

fixtures/src/faults.c (built as `faults`, a dynamic PIE, and `faults-static`)
ends in a different way per mode: a hardware fault (NULL write, read of an
unmapped high address, a jump into non-executable data, ud2, integer divide
by zero, stack overflow), a signal (abort(), raise(SIGUSR1) with and without
a handler, kill(getpid(), SIGTERM), a SIGSEGV handler that exits), exit(3),
a legitimately deep recursion (3.2 to 7.3 MiB of stack) and an endless loop.

The contract (the issue / elfkit/cli/run.py): elfkit exits with the guest's
status; when the guest is killed by signal N, elfkit dies by signal N too
(subprocess returncode -N, a shell's $? of 128+N, exactly as natively) after
exactly one line on stderr (a fault's backtrace after it); for a fault that line names the
signal, the faulting address and the instruction.  Nothing may ever print a Python traceback.

Native runs use `setarch x86_64 -R` so the addresses the program prints
before it faults (its `target=` line) are the no-ASLR ones elfkit also uses;
stdout is compared byte for byte.
"""
from __future__ import annotations

import re
import resource
import subprocess
import time

import pytest

from conftest import ROOT, fixture_path, run_elfkit

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
BUILDS = ["faults", "faults-static"]
EMU_TIMEOUT = 180

SIGNAMES = {4: "SIGILL", 6: "SIGABRT", 8: "SIGFPE", 10: "SIGUSR1", 11: "SIGSEGV", 15: "SIGTERM"}


def shell_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def no_core_dumps():
    """Native crashes must not leave core files in the working directory (corehello raises its
    own soft RLIMIT_CORE to the hard limit, so the hard limit goes to 0 too)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_native(path, args, *, timeout=60):
    p = subprocess.run(["setarch", "x86_64", "-R", str(path), *args], capture_output=True,
                       env=ENV, cwd=ROOT, timeout=timeout, preexec_fn=no_core_dumps)
    return p.stdout, p.stderr, shell_status(p.returncode)


def run_emu(path, args, options=(), timeout=EMU_TIMEOUT):
    p = run_elfkit("load-and-run", *options, path, *args, env=ENV, timeout=timeout)
    for name, data in (("stdout", p.stdout), ("stderr", p.stderr)):
        assert b"Traceback" not in data, f"traceback on {name}:\n{data.decode(errors='replace')}"
    # a guest killed by a signal kills elfkit by the same signal: never an exit status of 128+N
    assert p.returncode < 128, f"elfkit exited with {p.returncode} instead of dying by the signal"
    return p.stdout, p.stderr, shell_status(p.returncode)


def one_line(stderr: bytes) -> str:
    """The report's one line; a fault's backtrace may follow it (`  #N ...` lines, issue 16:
    tests/test_backtrace.py compares them with gdb's)."""
    lines = stderr.decode(errors="replace").splitlines()
    assert lines and all(re.match(r"  #\d+ ", line) for line in lines[1:]), \
        f"expected one line on stderr (and a backtrace), got {lines!r}"
    return lines[0]


def has_hex(line: str, value: int) -> bool:
    return re.search(rf"(?<![0-9a-fA-Fx]){value:#x}(?![0-9a-fA-F])", line) is not None


def target_line(stdout: bytes) -> tuple[int, int | None]:
    m = re.search(rb"^target=(0x[0-9a-f]+)(?: insn=(0x[0-9a-f]+))?$", stdout, re.M)
    assert m, stdout
    return int(m.group(1), 16), int(m.group(2), 16) if m.group(2) else None


# mode -> (native shell status, signal, mnemonic regex or None, which address must be named)
HW_FAULTS = {
    "null-write": (139, 11, r"\bmov\b", "target"),
    "read-high": (139, 11, r"\bmov\b", "target"),
    "jump-nx": (139, 11, r"\bnop\b", "target"),       # the data at the target is `nop; ret`
    "ud2": (132, 4, r"\bud2\b", "insn"),
    "div0": (136, 8, r"\bidiv\b", "insn"),
}
SIGNAL_DEATHS = {"abort": (134, 6), "raise-usr1": (138, 10), "kill-term": (143, 15)}
# handler-deep: the stack grows by page faults inside a signal handler (the CPU restarted for
# the delivery); code-rewrite: code replaced by read(2) and in a reused mapping must run anew.
NORMAL_ENDS = {"exit3": 3, "usr1-handler": 0, "segv-handler": 7, "recurse": 0,
               "handler-deep": 0, "code-rewrite": 0}


def compare(path, args):
    n_out, n_err, n_status = run_native(path, args)
    e_out, e_err, e_status = run_emu(path, args)
    assert e_out == n_out, f"stdout differs:\n  native {n_out!r}\n  elfkit {e_out!r}"
    assert e_status == n_status, (f"status: native {n_status}, elfkit {e_status}; "
                                  f"elfkit stderr {e_err!r}")
    return (n_out, n_err, n_status), (e_out, e_err, e_status)


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("mode", list(HW_FAULTS))
def test_hardware_fault(build, mode):
    status, sig, mnemonic, which = HW_FAULTS[mode]
    path = str(fixture_path(build))
    (n_out, n_err, n_status), (e_out, e_err, e_status) = compare(path, [mode])
    assert n_status == status, f"native run did not end as faults.c documents: {n_status}"
    assert n_err == b""
    line = one_line(e_err)
    assert line.startswith("elfkit: "), line
    assert SIGNAMES[sig] in line, f"signal {SIGNAMES[sig]} not named: {line}"
    target, insn = target_line(e_out)
    addr = target if which == "target" else insn
    assert has_hex(line, addr), f"faulting address {addr:#x} not named: {line}"
    assert re.search(mnemonic, line), f"instruction ({mnemonic}) not named: {line}"


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("mode", list(SIGNAL_DEATHS))
def test_killed_by_signal(build, mode):
    status, sig = SIGNAL_DEATHS[mode]
    path = str(fixture_path(build))
    (n_out, n_err, n_status), (e_out, e_err, e_status) = compare(path, [mode])
    assert n_status == status
    line = one_line(e_err)
    assert line.startswith("elfkit: ") and SIGNAMES[sig] in line, line


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("mode", list(NORMAL_ENDS))
def test_normal_end(build, mode):
    """exit(3), a handled SIGUSR1, a SIGSEGV handler that _exits, ~3.2 MB of recursion: the
    status passes through and elfkit adds nothing to stderr."""
    path = str(fixture_path(build))
    (n_out, n_err, n_status), (e_out, e_err, e_status) = compare(path, [mode])
    assert n_status == NORMAL_ENDS[mode]
    assert e_err == n_err == b"", e_err


def test_usr1_handler_output():
    out, err, status = run_emu(str(fixture_path("faults")), ["usr1-handler"])
    assert out == b"faults: mode=usr1-handler\nhandler: signal=10\nafter raise: handled=1\n"
    assert status == 0


def test_segv_handler_gets_the_fault_address():
    out, err, status = run_emu(str(fixture_path("faults-static")), ["segv-handler"])
    assert out.endswith(b"segv-handler: signal=11 si_addr=(nil)\n"), out
    assert status == 7


def test_corehello_crash_aborts_like_native():
    path = str(fixture_path("corehello"))
    (n_out, n_err, n_status), (e_out, e_err, e_status) = compare(path, ["crash"])
    assert n_status == 134
    assert "SIGABRT" in one_line(e_err)


@pytest.mark.parametrize("build", BUILDS)
def test_stack_overflow(build):
    """Unbounded recursion: SIGSEGV once the stack would exceed RLIMIT_STACK (8 MiB), at an
    address just below the lowest stack address the limit allows."""
    path = str(fixture_path(build))
    (n_out, n_err, n_status), (e_out, e_err, e_status) = compare(path, ["overflow"])
    assert n_status == 139
    line = one_line(e_err)
    assert "SIGSEGV" in line and "instruction" in line, line
    soft, _hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == 8 << 20:
        lowest = 0x7FFFFFFFF000 - soft            # STACK_TOP - rlimit
        addrs = [int(a, 16) for a in re.findall(r"0x[0-9a-f]+", line)]
        assert any(lowest - 0x10000 <= a < lowest for a in addrs), \
            f"no address just below {lowest:#x} in: {line}"


@pytest.mark.parametrize("depth", ["1000", "240000"])
def test_deep_recursion_works(depth):
    """32-byte frames: 240000 of them are ~7.3 MiB, close to the 8 MiB limit, and must work."""
    path = str(fixture_path("faults-static"))
    (n_out, _, n_status), (e_out, e_err, e_status) = compare(path, ["recurse", depth])
    assert n_status == 0 and e_err == b""
    d = int(depth)
    assert e_out.endswith(b"recurse: depth=%d sum=%d\n" % (d, d * (d + 1) // 2))


def test_recursion_just_over_the_limit_overflows():
    """270000 frames (~8.2 MiB) exceed RLIMIT_STACK: SIGSEGV natively, and under elfkit."""
    path = str(fixture_path("faults-static"))
    (n_out, _, n_status), (e_out, e_err, e_status) = compare(path, ["recurse", "270000"])
    assert n_status == 139
    assert "SIGSEGV" in one_line(e_err)


# --------------------------------------------------------------- limits ----

@pytest.mark.parametrize("mode", ["loop", "signal-loop"])
def test_timeout_stops_endless_guest_like_timeout1(mode):
    """--timeout 2 on a guest that never ends: status 124, as coreutils `timeout 2` gives
    natively; one line on stderr naming the timeout; elfkit returns promptly. signal-loop
    raises a handled signal forever, restarting the emulated CPU at each delivery: the
    timeout counts over the whole run, not from the last restart."""
    path = str(fixture_path("faults"))
    nat = subprocess.run(["timeout", "2", path, mode], capture_output=True, env=ENV, timeout=60,
                         preexec_fn=no_core_dumps)
    t0 = time.monotonic()
    out, err, status = run_emu(path, [mode], options=["--timeout", "2"])
    elapsed = time.monotonic() - t0
    assert out == nat.stdout == b"faults: mode=%s\n" % mode.encode()
    assert status == nat.returncode == 124, (status, err)
    assert "timeout" in one_line(err)
    assert 2 <= elapsed < 20, elapsed


def test_max_insns_counts_across_cpu_restarts():
    """--max-insns counts every instruction, not just those since the last signal delivery:
    the signal loop ends (before the test's own timeout would)."""
    out, err, status = run_emu(str(fixture_path("faults")), ["signal-loop"],
                               options=["--max-insns", "300000"], timeout=120)
    assert out == b"faults: mode=signal-loop\n"
    assert status == 124, (status, err)
    line = one_line(err)
    assert "300000" in line and "instruction" in line, line


@pytest.mark.parametrize("build", BUILDS)
def test_max_insns_stops_endless_loop(build):
    out, err, status = run_emu(str(fixture_path(build)), ["loop"], options=["--max-insns", "5000000"])
    assert out == b"faults: mode=loop\n"
    assert status == 124, (status, err)
    line = one_line(err)
    assert "5000000" in line and "instruction" in line, line


def test_max_insns_too_small_for_startup():
    """A limit that ends the guest inside libc's start-up: the same status and message."""
    out, err, status = run_emu(str(fixture_path("faults-static")), ["exit3"],
                               options=["--max-insns", "10"])
    assert out == b""
    assert status == 124, (status, err)
    one_line(err)


def test_limits_leave_a_normal_program_alone():
    path = str(fixture_path("faults"))
    out, err, status = run_emu(path, ["exit3"], options=["--timeout", "120",
                                                         "--max-insns", "10000000000"])
    assert (out, err, status) == (b"faults: mode=exit3\n", b"", 3)


def test_fault_fixture_usage():
    out, err, status = run_emu(str(fixture_path("faults")), ["no-such-mode"])
    n_out, n_err, n_status = run_native(str(fixture_path("faults")), ["no-such-mode"])
    assert (out, err, status) == (n_out, n_err, n_status) and status == 2
