"""`load-and-run --gdb`: real gdb, in batch mode, against elfkit and against gdbserver.

Each case runs the same gdb commands on the same fixture twice: `target remote` to
`elfkit load-and-run --gdb 127.0.0.1:0 FILE` (port 0: elfkit picks a free port and names it on
its "waiting for gdb" line) and to `setarch -R gdbserver --once 127.0.0.1:0 FILE` (no ASLR:
the address space elfkit gives), and compares what gdb printed. Normalised: pids (process 4
in elfkit's pid namespace), gdb's "Remote debugging using" line, its notes on reading files
from the target and gdbserver's own chatter (not gdb's output). Then the program's own output
and exit status are compared too.

Skipped when gdb or gdbserver (Debian: gdbserver, in .ci/packages) is not installed.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, fixture_path

GDB, GDBSERVER, SETARCH = shutil.which("gdb"), shutil.which("gdbserver"), shutil.which("setarch")
pytestmark = pytest.mark.skipif(not (GDB and GDBSERVER and SETARCH),
                                reason="needs gdb, gdbserver and setarch")
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C", "HOME": "/nonexistent"}
SESSION_S = 30                  # a hang fails the test instead of the whole run


def _port_from(proc, pattern: bytes, stream) -> tuple[int, list[bytes]]:
    """Read `stream` line by line until the one naming the port."""
    seen = []
    deadline = time.monotonic() + SESSION_S
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return int(m.group(1)), seen
    raise AssertionError(b"no port: " + b"".join(seen))


def _gdb(port: int, fixture: str | None, commands: list[str]) -> str:
    argv = [GDB, "-nx", "-batch", "-iex", "set debuginfod enabled off",
            "-iex", "set confirm off", "-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        argv += ["-ex", c]
    if fixture is not None:
        argv.append(fixture)
    p = subprocess.run(argv, capture_output=True, timeout=SESSION_S, env=ENV, cwd=ROOT,
                       stdin=subprocess.DEVNULL)
    return (p.stdout + p.stderr).decode("utf-8", "replace")


def _session(server_argv, port_pattern: bytes, port_stream: str, fixture: str, commands,
             env=None):
    """Start the server, run gdb against it; (gdb's output, program stdout, exit status,
    server stderr, seconds)."""
    began = time.monotonic()
    server = subprocess.Popen(server_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, env=env or ENV, cwd=ROOT)
    try:
        stream = server.stderr if port_stream == "stderr" else server.stdout
        port, head = _port_from(server, port_pattern, stream)
        out = {}
        readers = []
        for name, s in (("stdout", server.stdout), ("stderr", server.stderr)):
            t = threading.Thread(target=lambda n=name, f=s: out.__setitem__(n, f.read()))
            t.start()
            readers.append(t)
        text = _gdb(port, fixture, commands)
        server.wait(timeout=SESSION_S)
        for t in readers:
            t.join(SESSION_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    extra = b"".join(head)
    stdout = out.get("stdout", b"")
    stderr = out.get("stderr", b"")
    if port_stream == "stdout":
        stdout, stderr = out.get("stdout", b""), extra + stderr
    else:
        stderr = extra + stderr
    return text, stdout, server.returncode, stderr, time.monotonic() - began


def elfkit(fixture, args, commands, env=None):
    argv = [sys.executable, "-m", "elfkit", "load-and-run", "--gdb", "127.0.0.1:0"]
    if env is not None:                 # elfkit's own settings: not in the guest's environment
        argv += [a for k in env if k not in ENV for a in ("--unset-env", k)]
    argv += [fixture, *args]
    return _session(argv, rb"waiting for gdb on 127\.0\.0\.1:(\d+)", "stderr", fixture, commands,
                    env)


def gdbserver(fixture, args, commands):
    argv = [SETARCH, "-R", GDBSERVER, "--once", "--no-startup-with-shell", "127.0.0.1:0",
            fixture, *args]
    # gdbserver writes "Listening on port N" on stderr, and the program's output on stdout
    return _session(argv, rb"Listening on port (\d+)", "stderr", fixture, commands)


def normalise(text: str) -> str:
    out = []
    for line in text.splitlines():
        if line.startswith(("Remote debugging using", "Reading ", "warning: File transfers",
                            "Detaching from process")):
            continue
        line = re.sub(r"process \d+", "process PID", line)
        line = re.sub(r"Thread \d+\.\d+", "Thread P.T", line)
        if re.match(r"(  Id   Target Id|[* ] +\d+ +Thread P\.T)", line):
            line = re.sub(r" {2,}", " ", line)        # (columns as wide as the pids are long)
        out.append(line)
    return "\n".join(out)


def both(name, args, commands, elfkit_env=None):
    """Run both sessions in parallel; (elfkit's, gdbserver's) results."""
    fixture = str(fixture_path(name).relative_to(ROOT))
    results = {}
    ours = lambda f, a, c: elfkit(f, a, c, elfkit_env)     # noqa: E731
    threads = [threading.Thread(target=lambda k=k, f=f: results.__setitem__(k, f(fixture, args, commands)))
               for k, f in (("elfkit", ours), ("gdbserver", gdbserver))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(2 * SESSION_S)
    return results["elfkit"], results["gdbserver"]


BREAK_MAIN = ["break main", "continue", "bt", "info registers rip"]
STEPS = ["stepi", "x/i $pc", "stepi", "x/i $pc", "stepi", "x/i $pc", "info registers rip"]

CASES = {
    # a static program: breakpoint, backtrace, registers, single steps, to the end
    "static-main": ("hello-static", [], BREAK_MAIN + STEPS + ["continue"]),
    # a dynamic PIE: ld.so's entry, the breakpoint in main once relocated, the libraries
    # and a call into the program from gdb (stack writes, %rip set, a breakpoint at the entry)
    "pie-main": ("hello-pie", [], BREAK_MAIN + ["info sharedlibrary"] + STEPS +
                 ['print (int)puts("from gdb")', "continue"]),
    # debug info: a source line, a string in .data, `next`, `finish` out of a library call,
    # `print`, then the exit code
    "debuginfo": ("corehello", [], ["break main", "continue", "bt", "x/s data_marker",
                                    "print data_marker", "next", "next", "step",
                                    "info registers rip", "continue"]),
    "finish": ("corehello", [], ["break puts", "continue", "finish", "x/s data_marker",
                                 "continue"]),
    # a fault: gdb stops at the faulting instruction with SIGSEGV, then the program dies by it
    "segv": ("faults", ["null-write"], ["continue", "info registers rip", "x/i $pc", "bt 1",
                                        "continue"]),
    "segv-static": ("faults-static", ["null-write"], ["continue", "x/i $pc", "continue"]),
    # `signal 0`: the fault is not delivered, the instruction runs again and faults again
    "segv-signal0": ("faults", ["null-write"], ["continue", "signal 0", "info registers rip",
                                                "kill"]),
    # general registers (fs_base, gs_base, the selectors), SSE and x87 ones, and writes. Not
    # `info registers` whole: the host's gdbserver adds its CPU's AVX-512 k0-k7, and %r8 and
    # %r11 differ at main (what libc's start-up and the kernel's sysret leave there), and so
    # does %xmm1 (glibc picks other string functions for the emulated CPU)
    "registers": ("hello-static", [], ["break main", "continue",
                                       "info registers rax rbx rcx rdx rsi rdi rbp rsp r9 r10",
                                       "info registers r12 r13 r14 r15 rip eflags cs ss ds es",
                                       "info registers fs gs fs_base gs_base",
                                       "p $xmm0", "info registers mxcsr fctrl fstat",
                                       "set $rax = 0x1234", "p/x $rax", "set var counter = 5",
                                       "p (int)counter", "continue"]),
    # watchpoints (Z2, Z3): the same old and new values, stopped after the same instruction
    "watch": ("hello-static", [], ["break main", "continue", "watch *(int*)&counter", "continue",
                                   "info registers rip", "rwatch *(int*)&counter", "continue",
                                   "continue", "delete", "continue"]),
    # an access watchpoint; one on the stack (every push and call near it faults: the page is
    # taken from the CPU, each access on it stepped with the page given back), where the
    # old value is what start-up code left there (it differs: see test below)
    "awatch": ("hello-static", [], ["break main", "continue", "awatch *(int*)&counter",
                                    "continue", "continue", "delete", "continue"]),
    "watch-stack": ("hello-static", [], ["break main", "continue", "watch -l *(long*)($rsp-64)",
                                         "continue", "info registers rip", "delete", "continue"]),
    # signals that are not faults stop in gdb before delivery too: abort()'s SIGABRT, a
    # handled SIGUSR1 (delivered to its handler, or not at all with `signal 0`)
    "abort": ("faults", ["abort"], ["continue", "bt 3", "continue"]),
    "usr1-handler": ("faults", ["usr1-handler"], ["continue", "continue"]),
    "usr1-signal0": ("faults", ["usr1-handler"], ["continue", "signal 0"]),
    # an exit code that is not 0
    "exit3": ("faults", ["exit3"], ["continue"]),
    "kill": ("hello-pie", [], ["break main", "continue", "info proc", "kill"]),
    "detach": ("hello-static", [], ["break main", "continue", "detach"]),
    # writes into read-only code (ptrace's FOLL_FORCE: a private copy of the page): main made
    # a bare `ret` before it first runs, so the program ends at once with main's address's
    # low byte (what %rax holds) as its exit code and prints nothing
    "code-write": ("hello-static", [], ["x/2xb main", "set {unsigned char}main = 0xc3",
                                        "x/2xb main", "continue"]),
    # the threads and processes of issue 17's phase 2: forks followed into the child, exec
    "follow-child": ("procs-wait", [], ["set follow-fork-mode child", "break main", "continue",
                                        "continue", "info inferiors"]),
    "vfork": ("procs-vfork", [], ["break main", "continue", "continue"]),
    # a lazy PLT call stepped into ld.so's resolver and out: the GOT slot before (the PLT's
    # push) and after (puts). glibc picks the resolver by the CPU's features: xsavec on the
    # host, fxsave on elfkit's emulated Westmere (no XSAVE), so its name is normalised.
    "lazy-plt": ("hello-pie", [], ["break main", "continue", "x/a &'puts@got.plt'",
                                   "break 'puts@plt'", "continue", "stepi", "x/i $pc", "stepi",
                                   "x/i $pc", "stepi", "x/i $pc", "stepi", "x/i $pc", "stepi",
                                   "bt 2", "finish", "x/a &'puts@got.plt'", "continue"]),
}


@pytest.mark.parametrize("case", CASES)
def test_gdb_prints_what_it_prints_with_gdbserver(case):
    name, args, commands = CASES[case]
    ours, theirs = both(name, args, commands)
    assert "Traceback" not in ours[3].decode(errors="replace"), ours[3]
    texts = [normalise(ours[0]), normalise(theirs[0])]
    if case == "lazy-plt":
        assert "_dl_runtime_resolve_fxsave ()" in texts[0]          # (elfkit's CPU: no XSAVE)
        texts = [re.sub(r"_dl_runtime_resolve_(?:fxsave|xsavec|xsave)", "_dl_runtime_resolve_*", t)
                 for t in texts]
    if case == "watch-stack":
        # the slot's values are stack addresses start-up code left there: glibc's start-up
        # differs for the emulated CPU (its string functions), so they are not compared
        texts = [re.sub(r"(Old|New) value = -?\d+", r"\1 value = V", t) for t in texts]
    assert texts[0] == texts[1], ours[3].decode(errors="replace")
    assert ours[4] < SESSION_S / 2
    if case not in ("kill", "segv-signal0"):
        assert ours[1] == theirs[1]                        # the program's own output
    if case in ("segv", "segv-static"):
        assert ours[2] == -11
    elif case == "abort":
        assert ours[2] == -6
    elif case == "exit3":
        assert ours[2] == 3
    elif case == "code-write":
        assert ours[2] == 0x60 and "exited with code 0140]" in ours[0]
    elif case in ("kill", "segv-signal0"):
        assert ours[2] == -9                               # killed, as elfkit's guest was
    else:
        assert ours[2] == theirs[2] == 0


def test_gdb_sees_the_first_instruction():
    """Stopped at ld.so's entry (dynamic) or the program's (static), as after exec."""
    for name in ("hello-pie", "hello-static"):
        ours, theirs = both(name, [], ["info registers rip", "x/2i $pc", "echo AUXV\\n",
                                       "info auxv"])
        head, auxv = normalise(ours[0]).split("AUXV\n")
        their_head, their_auxv = normalise(theirs[0]).split("AUXV\n")
        assert head == their_head
        # the same entries (the values of AT_HWCAP, AT_MINSIGSTKSZ... are the emulated CPU's)
        assert [line.split()[:2] for line in auxv.splitlines()] == \
            [line.split()[:2] for line in their_auxv.splitlines()]


def test_gdb_option_errors():
    from conftest import run_elfkit
    p = run_elfkit("load-and-run", "--gdb", "nonsense", fixture_path("hello-static"))
    assert p.returncode == 2 and b"[HOST:]PORT" in p.stderr
    p = run_elfkit("load-and-run", "--gdb", "0", "--max-insns", "5", fixture_path("hello-static"))
    assert p.returncode == 2 and b"--max-insns" in p.stderr
    assert os.path.exists(GDBSERVER)


class RawGdb:
    """A minimal RSP client (no-ack mode once asked) for what gdb in batch mode cannot do."""

    def __init__(self, port: int):
        import socket
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SESSION_S)
        self.buf = b""
        self.ack = True

    def send(self, payload: bytes):
        self.sock.sendall(b"$%s#%02x" % (payload, sum(payload) & 0xFF))

    def reply(self) -> bytes:
        while True:
            start = self.buf.find(b"$")
            end = self.buf.find(b"#", start)
            if start >= 0 and end >= 0 and len(self.buf) >= end + 3:
                payload, self.buf = self.buf[start + 1:end], self.buf[end + 3:]
                if self.ack:
                    self.sock.sendall(b"+")
                return payload
            data = self.sock.recv(65536)
            assert data, "connection closed"
            self.buf += data

    def ask(self, payload: bytes) -> bytes:
        self.send(payload)
        return self.reply()


def test_raw_packets_and_interrupt():
    """Packets gdb's batch mode does not show one by one, and Ctrl-C (0x03) while running."""
    fixture = str(fixture_path("faults").relative_to(ROOT))
    server = subprocess.Popen([sys.executable, "-m", "elfkit", "load-and-run", "--gdb", "0",
                               fixture, "loop"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, env=ENV, cwd=ROOT)
    try:
        port, _ = _port_from(server, rb"waiting for gdb on 127\.0\.0\.1:(\d+)", server.stderr)
        g = RawGdb(port)
        assert b"QStartNoAckMode+" in g.ask(b"qSupported:multiprocess+;swbreak+")
        assert g.ask(b"QStartNoAckMode") == b"OK"
        g.ack = False
        assert g.ask(b"?").startswith(b"T05thread:p4.4;")
        assert g.ask(b"qC") == b"QCp4.4"
        assert g.ask(b"qfThreadInfo") == b"mp4.4" and g.ask(b"qsThreadInfo") == b"l"
        assert g.ask(b"qAttached:4") == b"0"
        assert g.ask(b"vCont?") == b"vCont;c;C;s;S;t"
        assert g.ask(b"Hgp4.4") == b"OK" and g.ask(b"Hgp4.99") == b"E01"
        assert g.ask(b"Tp4.4") == b"OK" and g.ask(b"Tp4.99") == b"E01"
        assert g.ask(b"qNoSuchThing") == b""
        xml = g.ask(b"qXfer:features:read:target.xml:0,3fff")
        assert xml[:1] == b"l" and b"<architecture>i386:x86-64</architecture>" in xml
        assert b'name="fs_base"' in xml and b'name="orig_rax"' in xml
        # before ld.so has run: no libraries yet
        assert g.ask(b"qXfer:libraries-svr4:read::0,fff") == b'l<library-list-svr4 version="1.0"/>'
        rip = int.from_bytes(bytes.fromhex(g.ask(b"p10").decode()), "little")
        assert rip == 0x7FFFF7FE4B70
        assert len(g.ask(b"m%x,4" % rip)) == 8
        assert g.ask(b"m0,4").startswith(b"E")
        assert g.ask(b"vFile:setfs:0") == b"F0"
        fd = g.ask(b"vFile:open:%s,0,0" % fixture.encode().hex().encode())
        assert fd.startswith(b"F") and not fd.startswith(b"F-")
        assert g.ask(b"vFile:pread:%s,4,0" % fd[1:]) == b"F4;\x7fELF"
        assert g.ask(b"vFile:close:%s" % fd[1:]) == b"F0"
        assert g.ask(b"vFile:open:%s,0,0" % b"/no/such/file".hex().encode()) == b"F-1,2"
        g.send(b"vCont;c")
        time.sleep(0.5)
        g.sock.sendall(b"\x03")
        stop = g.reply()
        assert stop.startswith(b"T02thread:p4.4;"), stop
        g.send(b"vKill;4")
        assert g.reply() == b"OK"
        server.wait(timeout=SESSION_S)
        assert server.returncode == -9
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_elfkit_linker_libraries():
    """--linker=elfkit: no ld.so and no r_debug; the libraries gdb sees are elfkit's linker's
    namespace, and a breakpoint in one stops there."""
    fixture = str((fixture_path("linker") / "deps").relative_to(ROOT))
    argv = [sys.executable, "-m", "elfkit", "load-and-run", "--linker=elfkit", "--gdb", "0",
            fixture]
    text, stdout, status, stderr, _ = _session(
        argv, rb"waiting for gdb on 127\.0\.0\.1:(\d+)", "stderr", fixture,
        ["info sharedlibrary", "break depa_dep_value", "continue", "bt 1", "continue"])
    assert status == 0, stderr
    libs = [line.split()[-1] for line in text.splitlines()
            if line.startswith("0x") and " Yes" in line]
    assert [os.path.basename(lib) for lib in libs] == \
        ["libdepa.so", "libdepc.so", "librt0.so", "libdepb.so", "libdepd.so"]
    assert "Breakpoint 1, 0x" in text and "in depa_dep_value () from target:" in text
    assert "[Inferior 1 (process 4) exited normally]" in text
    assert b"dep_value=3" in stdout


def test_gdb_going_away_ends_the_program():
    """gdb's connection closing while the program runs (or is stopped) ends it: elfkit does not
    go on without the debugger, as gdbserver --once does not."""
    fixture = str(fixture_path("faults").relative_to(ROOT))
    for stopped in (False, True):
        server = subprocess.Popen([sys.executable, "-m", "elfkit", "load-and-run", "--gdb", "0",
                                   fixture, "loop"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=ENV,
                                  cwd=ROOT)
        try:
            port, _ = _port_from(server, rb"waiting for gdb on 127\.0\.0\.1:(\d+)", server.stderr)
            g = RawGdb(port)
            assert g.ask(b"?").startswith(b"T05")
            if not stopped:
                g.send(b"c")
                time.sleep(0.3)
            g.sock.close()
            server.wait(timeout=SESSION_S)
            assert server.returncode == -9
            assert b"gdb closed the connection" in server.stderr.read()
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()


def test_files_come_from_the_root(tmp_path):
    """gdb given no file reads the program through the connection (qXfer:exec-file, vFile),
    from inside --root."""
    (tmp_path / "bin").mkdir()
    shutil.copy(fixture_path("hello-static"), tmp_path / "bin" / "hello")
    argv = [sys.executable, "-m", "elfkit", "load-and-run", "--root", str(tmp_path), "--gdb", "0",
            "/bin/hello"]
    text, stdout, status, stderr, _ = _session(
        argv, rb"waiting for gdb on 127\.0\.0\.1:(\d+)", "stderr", None,
        ["info proc", "break main", "continue", "bt", "continue"])
    assert status == 0, stderr
    assert "Reading /bin/hello from remote target..." in text
    assert "exe = '/bin/hello'" in text
    assert "Breakpoint 1, 0x" in text and " in main ()" in text
    assert "[Inferior 1 (process 4) exited normally]" in text
    assert stdout.startswith(b"Hello, fixtures!")


def test_threads_and_forks_are_gdbs():
    """Every thread is a gdb thread, and forks are fork events. pthread: a breakpoint in fib(),
    which only the threads it starts call, stops one of them (gdb: "Thread N hit Breakpoint
    2"), `info threads` lists it beside the main thread, which waits in a futex; with the
    breakpoint deleted the program runs to its end with its native output. procs-wait: gdb
    detaches every forked child (follow-fork-mode parent, detach-on-fork on) and the parent
    stops at its own _exit, exactly as under gdbserver."""
    fixture = str(fixture_path("pthread").relative_to(ROOT))
    text, stdout, status, stderr, _ = elfkit(fixture, [], [
        "break main", "continue", "break fib", "continue", "info threads", "bt 2", "delete",
        "continue"])
    native = subprocess.run([fixture], capture_output=True, env=ENV, cwd=ROOT, timeout=60)
    assert status == native.returncode == 0, stderr
    assert stdout == native.stdout
    assert re.search(r'^Thread (\d+) "pthread" hit Breakpoint 2, 0x[0-9a-f]+ in fib \(\)$', text, re.M), text
    rows = re.findall(r'^[* ] +(\d+) +Thread 4\.(\d+) "pthread" +(.*)$', text, re.M)
    assert len(rows) >= 2 and rows[0][:2] == ("1", "4") and "futex" in rows[0][2], text
    assert any(r[2].endswith("in fib ()") and r[1] != "4" for r in rows), text
    assert "[Inferior 1 (process 4) exited normally]" in text
    fixture = str(fixture_path("procs-wait").relative_to(ROOT))
    commands = ["break main", "continue", "break _exit", "continue", "continue"]
    ours = elfkit(fixture, [], commands)
    theirs = gdbserver(fixture, [], commands)
    assert normalise(ours[0]) == normalise(theirs[0])
    assert len(re.findall(r"^\[Detaching after fork from child process \d+\]$", ours[0], re.M)) > 3
    assert ours[1].splitlines()[-1] == theirs[1].splitlines()[-1] == b"procs-wait: done"


@pytest.mark.parametrize("case", ["static-main", "finish", "detach"])
def test_code_hook_breakpoints(case):
    """The fallback for a Unicorn without exits: breakpoints as code hooks with exact stops
    (ELFKIT_GDB_BREAKPOINTS=hooks) give gdb the same stops."""
    name, args, commands = CASES[case]
    ours, theirs = both(name, args, commands, {**ENV, "ELFKIT_GDB_BREAKPOINTS": "hooks"})
    assert normalise(ours[0]) == normalise(theirs[0]), ours[3].decode(errors="replace")


def test_trace_plt_under_gdb():
    """`trace-plt --gdb`: gdb sees what it sees against gdbserver (breakpoints in the program
    and in libc, through the lazy PLT call trace-plt watches), and trace-plt's report of the
    bindings is the one it prints without gdb."""
    fixture = str(fixture_path("hello-pie").relative_to(ROOT))
    commands = ["break main", "continue", "bt", "info sharedlibrary", "break puts", "continue",
                "bt 2", "continue"]
    argv = [sys.executable, "-m", "elfkit", "trace-plt", "--gdb", "127.0.0.1:0", fixture]
    text, stdout, status, stderr, _ = _session(argv, rb"waiting for gdb on 127\.0\.0\.1:(\d+)",
                                               "stderr", fixture, commands)
    theirs = gdbserver(fixture, [], commands)
    assert normalise(text) == normalise(theirs[0])
    assert status == 0 and stdout == theirs[1]
    plain = subprocess.run([sys.executable, "-m", "elfkit", "trace-plt", fixture],
                           capture_output=True, env=ENV, cwd=ROOT, timeout=SESSION_S)
    report = [line for line in stderr.decode().splitlines() if "waiting for gdb" not in line]
    assert report == plain.stderr.decode().splitlines()
    assert any("puts" in line for line in report)
