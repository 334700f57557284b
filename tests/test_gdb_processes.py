"""`load-and-run --gdb` with threads, fork, vfork, exec and Ctrl-C: real gdb against elfkit and
against gdbserver, as tests/test_gdb.py does for one thread (its helpers and its skip marker).

The fixture is fixtures/build/gdb-procs (src/gdb_procs.c, -O0 -g; one mode per run):
  threads        main and workers 1 and 2 blocked in read(2) of a pipe, worker 3 at a breakpoint
                 in last_worker(): every thread is a gdb thread, the stop names the thread that hit
                 the breakpoint, each thread has its own registers and backtrace
  fork           the child calls child_work(7) and exits 7: fork events (gdb's multiprocess
                 extensions), follow-fork-mode child, detach-on-fork off, catch fork
  vfork PATH     vfork + exec, as a shell does: detached by default, followed into the exec
  exec PATH      catch exec: "process N is executing new program: PATH", the new program's
                 symbols and breakpoints
  block-read / block-threads
                 every thread blocked in a system call (read of a pipe, nanosleep): gdb's Ctrl-C
                 (SIGINT sent to gdb while `continue` runs) stops the program with SIGINT

Normalised beyond test_gdb.normalise() (pids): the target's thread ids (`Thread 13302.13311`,
elfkit's `Thread 4.5`, `Thread 0x... (LWP n)`) -> `Thread P.L` (gdb's own thread numbers, 1, 2,
2.1, stay), frames -> their function name (`#1 park`; addresses and pointer arguments of thread
stacks and TLS need not be gdbserver's), the rows of `info threads` sorted, the port in
`info inferiors`, runs of blanks in tables. Kept: how many threads and inferiors there are, which
function each thread is in, which thread stopped and why (breakpoint, catchpoint, signal), the
fork/exec/detach messages and how each process ended.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

import test_gdb
from conftest import ROOT, fixture_path
from test_gdb import GDB, GDBSERVER, ENV, SESSION_S, SETARCH, _port_from, both, normalise

pytestmark = test_gdb.pytestmark        # the same skip marker: needs gdb, gdbserver, setarch

FIXTURE = "gdb-procs"
ELFKIT_PORT = rb"waiting for gdb on 127\.0\.0\.1:(\d+)"
GDBSERVER_PORT = rb"Listening on port (\d+)"
PER_SIDE_S = 10                 # what one side of one case may take


# ------------------------------------------------------------------ normalising ----

_FRAME = re.compile(r"^(?:0x[0-9a-f]+ in )?([\w.@<>:~]+) \(.*\)(?: at \S+| from \S+)?$")
_BT = re.compile(r"^(#\d+)\s+(?:0x[0-9a-f]+ in )?([\w.@<>:~?]+) \(")
_ROW = re.compile(r'^([* ])\s+(\d+(?:\.\d+)?)\s+(Thread P\.L(?: "[^"]*")?(?: \([^)]*\))?)\s+'
                  r'(.*?)\s*$')


def _target_ids(line: str) -> str:
    """The target's thread ids -> `Thread P.L`; not gdb's own at the start of a stop line
    (`Thread 2.1 "gdb-procs" hit Breakpoint 1, ...`)."""
    line = re.sub(r"Thread 0x[0-9a-f]+ \(LWP \d+\)", "Thread P.L", line)
    line = re.sub(r"(?<=.)Thread \d+\.\d+\b", "Thread P.L", line)
    line = re.sub(r"\bLWP \d+", "LWP N", line)
    return line


def _function(frame: str) -> str:
    m = _FRAME.match(frame)
    return m.group(1) if m else frame


def norm(text: str) -> str:
    out: list[str] = []
    rows: list[str] = []            # the rows of one `info threads` table, sorted when it ends
    # the target's ids first, and gdb's own at the start of a stop line kept from normalise()
    text = "\n".join(re.sub(r"^Thread (\d+)\.(\d+)\b", r"Thread \1#\2", _target_ids(line))
                     for line in text.splitlines())
    for line in normalise(text).splitlines():
        line = re.sub(r"^Thread (\d+)#(\d+)\b", r"Thread \1.\2", line)
        line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line)
        m = _ROW.match(line)
        if m:                       # `info threads`: current?, gdb's id, target id, function
            rows.append(f"{m.group(1)} {m.group(2)} {m.group(3)} {_function(m.group(4))}")
            continue
        out.extend(sorted(rows))
        rows = []
        m = _BT.match(line)
        if m:                       # a backtrace: function names only
            out.append(f"{m.group(1)} {m.group(2)}")
            continue
        if _FRAME.match(line):      # a frame on its own line (after a signal, thread switch)
            out.append("frame " + _function(line))
            continue
        line = re.sub(r"\b(\w+)=0x[0-9a-f]+", r"\1=ADDR", line)     # pointer arguments
        if line.lstrip().startswith(("Id ", "Num ", "* ")) or re.match(r"^\s+\d+\s", line):
            line = " ".join(line.split())       # tables: column widths follow pid lengths
        out.append(line)
    out.extend(sorted(rows))
    return "\n".join(out)


# ------------------------------------------------------------------------ cases ----

def _exe(name: str) -> str:
    return str(fixture_path(name))      # absolute: gdb names it as /proc/PID/exe does


# name -> (fixture arguments, gdb commands, what gdbserver's normalised session shows)
CASES = {
    # (a) every thread a gdb thread. The breakpoint is hit by the 4th thread (worker 3): gdb
    # numbers the thread that stopped first (2), then the others in the stub's list order; the
    # rest are in read(2) (main via main_park, workers 1 and 2 via park)
    "threads": (["threads"], ["break last_worker", "continue", "info threads",
                              "thread 2", "bt", "thread 3", "bt", "thread 1", "bt",
                              "continue"],
                ['Thread 2 "gdb-procs" hit Breakpoint 1, last_worker (n=3) at src/gdb_procs.c:',
                 "* 2 Thread P.L \"gdb-procs\" last_worker",
                 "  1 Thread P.L \"gdb-procs\" __GI___libc_read",
                 "#0 last_worker\n#1 worker\n#2 start_thread\n#3 clone3",
                 "#2 park\n#3 worker\n#4 start_thread\n#5 clone3",
                 "#2 park\n#3 main_park\n#4 threads\n#5 main",
                 "[Inferior 1 (process PID) exited normally]"]),
    # (b) the child stops at its breakpoint, the parent is detached and runs on (waits, prints)
    "fork-child": (["fork"], ["set follow-fork-mode child", "break child_work", "continue", "bt",
                              "info inferiors", "continue"],
                   ["[Attaching after Thread P.L fork to child Thread P.L]",
                    "[New inferior 2 (process PID)]",
                    "[Detaching after fork from parent process PID]",
                    "[Inferior 1 (process PID) detached]",
                    'Thread 2.1 "gdb-procs" hit Breakpoint 1, child_work (n=7) at src/',
                    "#0 child_work\n#1 do_fork\n#2 main",
                    "[Inferior 2 (process PID) exited with code 07]"]),
    # ... and with detach-on-fork off both stay under gdb: the child runs to its exit, then the
    # parent, stopped at the fork, is resumed and sees the child's status
    "fork-no-detach": (["fork"], ["set follow-fork-mode child", "set detach-on-fork off",
                                  "break child_work", "continue", "info inferiors", "bt",
                                  "continue", "info inferiors", "inferior 1", "bt 1", "continue"],
                       ['Thread 2.1 "gdb-procs" hit Breakpoint 1.2, child_work (n=7) at src/',
                        "1 process PID 1 (remote 127.0.0.1:PORT)",
                        "* 2 process PID 1 (remote 127.0.0.1:PORT)",
                        "[Inferior 2 (process PID) exited with code 07]",
                        "[Switching to inferior 1 [process PID]",
                        "#0 arch_fork",
                        "[Inferior 1 (process PID) exited normally]"]),
    # follow-fork-mode parent (the default): the child is detached with the breakpoint taken
    # out of its copy of the program, runs through child_work and exits 7
    "fork-parent": (["fork"], ["break child_work", "continue"],
                    ["[Detaching after fork from child process PID]",
                     "[Inferior 1 (process PID) exited normally]"]),
    "catch-fork": (["fork"], ["catch fork", "continue", "bt", "continue"],
                   ["Catchpoint 1 (forked process PID), arch_fork (ctid=ADDR) at",
                    "#0 arch_fork\n#1 __GI__Fork\n#2 __libc_fork\n#3 do_fork\n#4 main",
                    "[Detaching after fork from child process PID]",
                    "[Inferior 1 (process PID) exited normally]"]),
    # (c) exec: the catchpoint at the new program's first instruction, its symbols, a
    # breakpoint in it; static (no ld.so) and PIE (ld.so and libc loaded again)
    "exec-static": (["exec", "@hello-static"], ["catch exec", "continue", "bt 1", "break main",
                                                "continue", "bt", "continue"],
                    ["process PID is executing new program: @hello-static",
                     "Catchpoint 1 (exec'd @hello-static), 0x0000000000401660 in _start ()",
                     "Breakpoint 2, 0x0000000000401560 in main ()",
                     "[Inferior 1 (process PID) exited normally]"]),
    "exec-pie": (["exec", "@hello-pie"], ["catch exec", "continue", "bt 1", "break main",
                                          "continue", "bt 1", "info sharedlibrary", "continue"],
                 ["process PID is executing new program: @hello-pie",
                  "Catchpoint 1 (exec'd @hello-pie), 0x00007ffff7fe4b70 in _start () from "
                  "target:/lib64/ld-linux-x86-64.so.2",
                  "Breakpoint 2, 0x00005555555550c0 in main ()",
                  "target:/lib/x86_64-linux-gnu/libc.so.6",
                  "[Inferior 1 (process PID) exited normally]"]),
    # (d) vfork + exec, as a shell runs a command: detached (follow-fork-mode parent) ...
    "vfork-parent": (["vfork", "@hello-static"], ["continue"],
                     ["[Detaching after vfork from child process PID]",
                      "[Inferior 1 (process PID) exited normally]"]),
    # ... or followed into the exec: the parent is detached once the child has exec'd
    "vfork-child": (["vfork", "@hello-static"], ["set follow-fork-mode child", "catch exec",
                                                 "continue", "bt 1", "info inferiors",
                                                 "continue"],
                    ["[Attaching after Thread P.L vfork to child Thread P.L]",
                     "[Detaching vfork parent process PID after child exec]",
                     "[Inferior 1 (process PID) detached]",
                     "process PID is executing new program: @hello-static",
                     'Thread 2.1 "hello-static" hit Catchpoint 1 (exec\'d @hello-static), '
                     "0x0000000000401660 in _start ()",
                     "[Inferior 2 (process PID) exited normally]"]),
}

# what the program itself prints (gdbserver's and elfkit's stdout alike)
HELLO = "Hello, fixtures!\ncounter=42 tls=6 words=alpha,beta,gamma,delta\nline=gamma/42\n"
STDOUT = {
    "threads": "threads: 3 workers joined, sum 6\n",
    **dict.fromkeys(["fork-child", "fork-no-detach", "fork-parent", "catch-fork"],
                    "fork: child exited 7\n"),
    "exec-static": "exec: @hello-static\n" + HELLO, "exec-pie": "exec: @hello-pie\n" + HELLO,
    "vfork-parent": HELLO + "vfork: child exited 0\n",
    "vfork-child": HELLO + "vfork: child exited 0\n",
}


def _expand(text: str) -> str:
    """`@name` -> the fixture's absolute path."""
    return re.sub(r"@([\w.-]+)", lambda m: _exe(m.group(1)), text)


def _both(args, commands):
    try:
        return both(FIXTURE, args, commands)
    except KeyError as side:            # its thread died: gdb or the server did not finish
        pytest.fail(f"the {side} session did not finish in {SESSION_S} s (a hang)")


@pytest.mark.parametrize("case", CASES)
def test_gdb_processes_as_with_gdbserver(case):
    args, commands, expected = CASES[case]
    args = [_expand(a) for a in args]
    ours, theirs = _both(args, commands)
    mine, reference = norm(ours[0]), norm(theirs[0])
    # gdbserver does what the case means (a change of gdb or gdbserver shows here first)
    for text in expected:
        assert _expand(text) in reference, (text, reference)
    assert theirs[1] == _expand(STDOUT[case]).encode()
    assert "Traceback" not in ours[3].decode(errors="replace"), ours[3]
    assert mine == reference, ours[3].decode(errors="replace")
    assert ours[1] == theirs[1]                            # the program's own output
    assert ours[2] == 0                                    # the first process exits normally
    assert ours[4] < PER_SIDE_S


# --------------------------------------------------------------------- Ctrl-C ----

def _interrupted(server_argv, port_pattern: bytes, fixture: str, commands) -> tuple:
    """Start the server, run gdb with `continue` and then `commands`; once the program has
    printed "ready" (it is blocked in a system call then), Ctrl-C: SIGINT to gdb, which sends
    the stub its interrupt. (gdb's output, program stdout, server status, server stderr,
    seconds)."""
    began = time.monotonic()
    server = subprocess.Popen(server_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, env=ENV, cwd=ROOT)
    gdb, readers = None, []
    try:
        port, head = _port_from(server, port_pattern, server.stderr)
        ready = threading.Event()
        out = {"stdout": b"", "stderr": b""}

        def stdout_reader():
            for line in iter(server.stdout.readline, b""):
                out["stdout"] += line
                if line == b"ready\n":
                    ready.set()
            ready.set()                                 # EOF: do not wait for nothing

        readers += [threading.Thread(target=stdout_reader),
                    threading.Thread(target=lambda: out.__setitem__("stderr",
                                                                   server.stderr.read()))]
        for t in readers:
            t.start()
        argv = [GDB, "-nx", "-batch", "-iex", "set debuginfod enabled off",
                "-iex", "set confirm off", "-ex", f"target remote 127.0.0.1:{port}",
                "-ex", "continue"]
        for c in commands:
            argv += ["-ex", c]
        gdb = subprocess.Popen([*argv, fixture], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, env=ENV, cwd=ROOT)
        assert ready.wait(SESSION_S), "the program never printed ready"
        time.sleep(0.5)                                 # from write(2) into read(2)
        os.kill(gdb.pid, signal.SIGINT)
        try:
            stdout, stderr = gdb.communicate(timeout=PER_SIDE_S)
        except subprocess.TimeoutExpired:               # a hang fails, with what gdb said
            gdb.kill()
            stdout, stderr = gdb.communicate()
            stderr += b"\n[test: gdb did not finish]\n"
        try:
            server.wait(timeout=PER_SIDE_S)
            status = server.returncode
        except subprocess.TimeoutExpired:
            status = None                               # still running after gdb's `kill`
    finally:
        for p in (gdb, server):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    for t in readers:
        t.join(SESSION_S)
    text = (stdout + stderr).decode("utf-8", "replace")
    return (text, out["stdout"], status, b"".join(head) + out["stderr"],
            time.monotonic() - began)


INTERRUPT_COMMANDS = ["info threads", "bt", "kill"]


@pytest.mark.parametrize("mode", ["block-read", "block-threads"])
def test_ctrl_c_while_blocked_in_a_system_call(mode):
    """Every thread blocked (read of a pipe nobody writes; a thread in nanosleep 30 s): gdb's
    interrupt stops the program with SIGINT in read, the commands after `continue` run, `kill`
    ends it."""
    fixture = str(fixture_path(FIXTURE).relative_to(ROOT))
    sessions = {
        "elfkit": ([sys.executable, "-m", "elfkit", "load-and-run", "--gdb", "127.0.0.1:0",
                    fixture, mode], ELFKIT_PORT),
        "gdbserver": ([SETARCH, "-R", GDBSERVER, "--once", "--no-startup-with-shell",
                       "127.0.0.1:0", fixture, mode], GDBSERVER_PORT),
    }
    results = {}
    threads = [threading.Thread(target=lambda k=k, a=a, p=p: results.__setitem__(
        k, _interrupted(a, p, fixture, INTERRUPT_COMMANDS))) for k, (a, p) in sessions.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3 * SESSION_S)
    assert set(results) == set(sessions), results
    ours, theirs = results["elfkit"], results["gdbserver"]
    reference = norm(theirs[0])
    stop = ("Program received signal SIGINT, Interrupt." if mode == "block-read" else
            'Thread 1 "gdb-procs" received signal SIGINT, Interrupt.')
    for text in [stop, "frame __GI___libc_read", "#0 __GI___libc_read", "block_read",
                 "[Inferior 1 (process PID) killed]"]:
        assert text in reference, (text, reference)
    if mode == "block-threads":
        assert '  2 Thread P.L "gdb-procs" __GI___clock_nanosleep' in reference, reference
    assert theirs[1] == b"ready\n"
    assert "Traceback" not in ours[3].decode(errors="replace"), ours[3]
    assert norm(ours[0]) == reference, ours[3].decode(errors="replace")
    assert ours[1] == b"ready\n"
    assert ours[2] == -9                                # killed, as elfkit's guest was
    assert ours[4] < PER_SIDE_S
