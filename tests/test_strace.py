"""elfkit's --strace output (elfkit.kernel.strace.StraceWriter) against strace(1) itself.

Small C programs are built with gcc in a temporary directory and run twice with the same
absolute path, argv, environment and working directory:

  natively  under `setarch -R strace -q -o FILE` (-R: no address randomisation, so the kernel
            lays the process out the way elfkit does; -q: no attach messages, but the final
            "+++ exited with N +++" line; no -f, which would prefix every line with a pid);
  in elfkit via the Python API: spawn(..., strace=StraceWriter(stream)).run(...).

The two traces must then be equal line for line -- padding to column 40, quoting, flag names,
errors and structures byte for byte -- after these normalisations, applied to both sides:

  N1  strace's first line, execve(...) = 0, is dropped: elfkit's loader is the exec, no system
      call prints it.
  N2  every hexadecimal number of 5 or more digits becomes 0xADDR: guest addresses (stack, heap,
      mmap) depend on the layout, which is not what these tests are about.
  N3  the process id (the result of getpid(), elfkit's Process.pid) becomes PID where it is a
      whole number in the lines of the calls that show it: set_tid_address's result, getpid(),
      gettid(), kill's first argument (only those lines: a small pid could equal a byte count).
  N4  the bytes getrandom returns become RANDOM (the quoting of those bytes is checked by
      test_writer_formats_against_known_strace_lines).
  N5  clock_gettime's tv_sec and tv_nsec values become N.
  N6  only when this machine's stack limit cannot be set to strace's usual 8 MiB soft /
      unlimited hard for the native run: the limits in prlimit64(..., RLIMIT_STACK, ...) become
      LIMITS (elfkit reports those defaults whatever the host has).
  A line changed by N2..N6 is re-padded to column 40 as strace pads (the substituted text has
  another width); every other line keeps its padding and must match exactly.

The programs call only what behaves the same natively and under elfkit (files in a directory
made for the test, pipes, signals, limits the test sets, an unknown system call number), and
call the vDSO-backed clocks through syscall(2) so that both sides make the system call.
Native-only or elfkit-only behaviour is not normalised away: a difference fails the test.

The last tests drive StraceWriter directly with fake processes: formats strace prints that the
programs above cannot reach on every machine, and that the writer never raises into the guest.
"""
from __future__ import annotations

import io
import os
import re
import resource
import shutil
import subprocess
import sys

import pytest

from elfkit.kernel.exec import spawn
from elfkit.kernel.task import ExitStatus, RunLimits
from elfkit.kernel.strace import COLUMN, StraceWriter
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR

ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
PID_CALLS = ("getpid(", "gettid(", "set_tid_address(", "kill(", "tgkill(", "tkill(")
STACK_LIMIT = (8 << 20, resource.RLIM_INFINITY)

# Everything between the two markers is compared; the start-up before it is compared too for the
# dynamic program (the loader's calls) and the static one (libc's start-up).
BROAD_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static void on_usr1(int s) { (void)s; }
static void mark(const char *s) { write(1, s, strlen(s)); }

int main(void) {
    char buf[256], b1[3], b2[5];
    struct stat st;
    mark("<<BEGIN>>\n");
    write(1, "a \"quoted\" \\ tab\t and a long line past 32 bytes\n", 49);
    write(1, (const void *)8, 4);
    open("/nonexistent/elfkit-strace", O_RDONLY);
    syscall(SYS_openat, AT_FDCWD, (const char *)8, O_RDONLY);
    openat(AT_FDCWD, "data.bin", O_RDONLY | O_CREAT | O_EXCL, 0640);
    int fd = openat(AT_FDCWD, "data.bin", O_RDONLY | O_CLOEXEC);
    read(fd, buf, 64);
    pread(fd, buf, 8, 4);
    lseek(fd, -3, SEEK_END);
    lseek(fd, 0, SEEK_SET);
    struct iovec iv[2] = {{b1, sizeof b1}, {b2, sizeof b2}};
    readv(fd, iv, 2);
    syscall(SYS_fstat, fd, &st);
    syscall(SYS_fstat, fd, (void *)8);
    fcntl(fd, F_GETFD);
    fcntl(fd, F_SETFD, 0);
    fcntl(fd, F_GETFD);
    fcntl(fd, F_GETFL);
    int d1 = dup(fd), d2 = dup2(fd, 10), d3 = dup3(fd, 11, O_CLOEXEC);
    close(d1); close(d2); close(d3);
    close(fd);
    close(fd);
    int p[2];
    pipe2(p, O_CLOEXEC);
    struct termios t;
    ioctl(p[0], TCGETS, &t);
    int n = 0;
    ioctl(p[0], FIONREAD, &n);
    close(p[0]); close(p[1]);
    access("data.bin", R_OK);
    access("data.bin", X_OK);
    faccessat(AT_FDCWD, "nonexistent", F_OK, 0);
    readlink("link", buf, sizeof buf);
    readlink("data.bin", buf, sizeof buf);
    getcwd(buf, sizeof buf);
    umask(027);
    umask(022);
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    syscall(SYS_getdents64, dfd, buf, sizeof buf);
    syscall(SYS_getdents64, dfd, buf, sizeof buf);
    close(dfd);
    syscall(SYS_newfstatat, AT_FDCWD, "sub", &st, 0);
    syscall(SYS_stat, "/dev/null", &st);
    syscall(SYS_lstat, "link", &st);
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, &old);
    sigaction(SIGUSR1, NULL, &old);
    sigset_t all, none, prev;
    sigfillset(&all);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &all, NULL);
    sigprocmask(SIG_SETMASK, &none, &prev);
    kill(getpid(), 0);
    struct rlimit rl = {64, 128};
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    struct timespec ts = {0, 1000};
    syscall(SYS_clock_getres, CLOCK_MONOTONIC, &ts);
    ts.tv_sec = 0; ts.tv_nsec = 1000;
    nanosleep(&ts, NULL);
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
    syscall(SYS_getrandom, buf, 8, 1);
    struct utsname u;
    uname(&u);
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    struct iovec wv[2] = {{"ab", 2}, {"c\001\n", 3}};
    writev(1, wv, 2);
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(m, 4096, PROT_NONE);
    munmap(m, 4096);
    syscall(1000, 1, 2, 3, 4, 5, 6);
    mark("<<END>>\n");
    _exit(7);
}
"""

DYNAMIC_C = r"""
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    char buf[16];
    write(1, "hello\n", 6);
    open("/nonexistent/elfkit-strace", O_RDONLY);
    int fd = open("data.bin", O_RDONLY);
    read(fd, buf, sizeof buf);
    lseek(fd, 0, SEEK_SET);
    close(fd);
    getpid();
    return 0;
}
"""

# bytes chosen for strace's quoting: NUL, octal before a digit (\0012) and not, \377, quote,
# backslash, tab, newline, and more than 32 bytes
DATA = b'ab\x00\x01\x012\xffxyz"q\\\t\n0123456789abcdefghijklmnopqrstuvwxyz'


@pytest.fixture(scope="module")
def tools():
    for tool in ("gcc", "strace"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (apt-get install {tool}; .ci/run installs it)")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tools):
    root = tmp_path_factory.mktemp("strace")
    d = root / "d"
    (d / "sub").mkdir(parents=True)
    (d / "data.bin").write_bytes(DATA)
    (d / "data.bin").chmod(0o644)
    (d / "sub").chmod(0o755)
    os.symlink("data.bin", d / "link")
    for name, src, flags in (("broad", BROAD_C, ["-static"]), ("dynamic", DYNAMIC_C, [])):
        (root / f"{name}.c").write_text(src)
        subprocess.run(["gcc", "-O1", "-w", *flags, "-o", str(root / name), str(root / f"{name}.c")],
                       check=True, capture_output=True)
    return root


def _set_stack_limit():
    try:
        resource.setrlimit(resource.RLIMIT_STACK, STACK_LIMIT)
    except (ValueError, OSError):
        pass


def native_trace(prog, cwd) -> list[str]:
    out = cwd.parent / f"{prog.name}.native"
    cmd = ["strace", "-q", "-o", str(out), str(prog)]
    if shutil.which("setarch") and subprocess.run(["setarch", "-R", "true"],
                                                  capture_output=True).returncode == 0:
        cmd = ["setarch", "-R", *cmd]
    with open(cwd.parent / f"{prog.name}.native.stdout", "wb") as stdout:
        subprocess.run(cmd, cwd=cwd, env=ENV, stdout=stdout, check=False, timeout=60,
                       preexec_fn=_set_stack_limit)
    return out.read_text().splitlines()


def elfkit_trace(prog, cwd) -> tuple[list[str], object]:
    stream = io.StringIO()
    writer = StraceWriter(stream)
    envp = [f"{k}={v}".encode() for k, v in ENV.items()]
    # the guest's fds 0-2 are copies of ours when it is spawned: give it a file for stdout
    # (a write from an unreadable buffer fails with EFAULT into a file, as natively)
    with open(cwd.parent / f"{prog.name}.elfkit.stdout", "wb") as stdout:
        saved = os.dup(1)
        os.dup2(stdout.fileno(), 1)
        try:
            proc = spawn(str(prog), [str(prog).encode()], envp, strace=writer, cwd=str(cwd),
                         warn=lambda msg: None)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        status = proc.run(RunLimits(timeout_s=60))
    writer.finish(proc, status)
    return stream.getvalue().splitlines(), proc


def _realign(line: str) -> str:
    m = re.match(r"^(.*?\)) +(= .*)$", line)
    return (m.group(1) + " ").ljust(COLUMN) + m.group(2) if m else line


def normalise(lines: list[str], pid: int | None, stack_limit_ok: bool) -> list[str]:
    out = []
    for line in lines:
        if line.startswith("execve("):                                       # N1
            continue
        new = re.sub(r"0x[0-9a-f]{5,}", "0xADDR", line)                      # N2
        if pid is not None and new.startswith(PID_CALLS):
            new = re.sub(rf"\b{pid}\b", "PID", new)                          # N3
        if new.startswith("getrandom("):
            new = re.sub(r'^getrandom\("[^"]*"', 'getrandom("RANDOM"', new)  # N4
        if new.startswith("clock_gettime("):
            new = re.sub(r"tv_sec=\d+, tv_nsec=\d+", "tv_sec=N, tv_nsec=N", new)  # N5
        if not stack_limit_ok and "RLIMIT_STACK" in new:
            new = re.sub(r"\{rlim_cur=[^}]*\}", "LIMITS", new)              # N6
        out.append(_realign(new) if new != line else new)
    return out


def _pid_of(lines: list[str]) -> int | None:
    for line in lines:
        m = re.match(r"^(?:getpid\(\)|set_tid_address\(\S+\))\s+= (\d+)$", line)
        if m:
            return int(m.group(1))
    return None


def _stack_limit_ok() -> bool:
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    return hard == resource.RLIM_INFINITY


def _compare(native: list[str], ours: list[str]):
    assert native, "strace wrote no trace"
    if native != ours:
        import difflib
        diff = "\n".join(difflib.unified_diff(native, ours, "strace", "elfkit", lineterm="", n=1))
        pytest.fail("elfkit's --strace differs from strace:\n" + diff)


def _marker(lines: list[str]) -> int:
    """The index of the first line of the program's own calls (its write of <<BEGIN>>)."""
    for i, line in enumerate(lines):
        if line.startswith('write(1, "<<BEGIN>>'):
            return i
    pytest.fail("no write of <<BEGIN>> in the trace:\n" + "\n".join(lines))


def test_static_program_matches_strace(workdir):
    prog, cwd = workdir / "broad", workdir / "d"
    native_raw = native_trace(prog, cwd)
    ours_raw, proc = elfkit_trace(prog, cwd)
    assert proc.exit.code == 7, proc.exit
    ok = _stack_limit_ok()
    native = normalise(native_raw, _pid_of(native_raw), ok)
    ours = normalise(ours_raw, proc.pid, ok)
    # the calls between the markers, and the end (exit_group = ?, +++ exited with 7 +++) ...
    n_begin, o_begin = _marker(native), _marker(ours)
    _compare(native[n_begin:], ours[o_begin:])
    # ... and libc's static start-up before them (brk, arch_prctl, set_tid_address, prlimit64,
    # readlink of /proc/self/exe, getrandom, mprotect)
    _compare(native[:n_begin], ours[:o_begin])


def test_dynamic_program_matches_strace(workdir):
    """The dynamic loader's calls: openat of ld.so.cache, read of an ELF header, pread64, mmap
    with a file and an offset, mprotect, munmap; then the program's own calls and its exit."""
    prog, cwd = workdir / "dynamic", workdir / "d"
    native_raw = native_trace(prog, cwd)
    ours_raw, proc = elfkit_trace(prog, cwd)
    assert proc.exit.code == 0, proc.exit
    ok = _stack_limit_ok()
    native = normalise(native_raw, _pid_of(native_raw), ok)
    ours = normalise(ours_raw, proc.pid, ok)
    assert any(x.startswith('read(3, "\\177ELF\\2\\1\\1') for x in native), native
    _compare(native, ours)


# --- StraceWriter on its own -------------------------------------------------------------------

class FakeMm:
    """Guest memory: {page-aligned address: bytes}, each padded with zeros to whole pages;
    anything else is unmapped."""

    def __init__(self, areas):
        self.areas = {base: data + bytes(-len(data) % 4096) for base, data in areas.items()}

    def read(self, addr, size):
        for base, data in self.areas.items():
            if base <= addr and addr + size <= base + len(data):
                return data[addr - base:addr - base + size]
        return None


class FakeProc:
    def __init__(self, areas=None):
        self.mm = FakeMm(areas or {})
        self.pid = 4242


def _trace(calls, areas=None) -> list[str]:
    stream = io.StringIO()
    w = StraceWriter(stream)
    proc = FakeProc(areas)
    for nr, kinds, args, result in calls:
        entry = Syscall(nr, lambda *a: 0, kinds)
        args = tuple(args) + (0,) * (6 - len(args))
        w.enter(proc, entry, args)
        if result is None:
            w.exit(proc, entry, ExitStatus(code=args[0]))
        else:
            w.leave(proc, entry, args, result)
    return stream.getvalue().splitlines()


BUF, STR = 0x10000, 0x20000


def test_writer_formats_against_known_strace_lines():
    """Lines strace 6.1 prints for these arguments (from its sources and real traces); the
    kinds passed are the ones in elfkit's tables, which the writer must not need to be right."""
    sigset_chld = (1 << 16).to_bytes(8, "little")                      # SIGCHLD
    sigset_most = (~(3 << 31) & (2**64 - 1)).to_bytes(8, "little")     # all but 32 and 33
    areas = {BUF: bytes(range(256)) * 2,
             STR: b"/etc/ld.so.cache\0" + b"x" * 40 + b"\0",
             0x30000: bytes.fromhex("123456789abcdef0"),
             0x40000: sigset_chld + sigset_most,
             0x50000: (8 << 20).to_bytes(8, "little") + (2**64 - 1).to_bytes(8, "little"),
             0x60000: (0x401000).to_bytes(8, "little") + (0x14000000).to_bytes(8, "little")
             + (0x401100).to_bytes(8, "little") + sigset_chld + bytes(56)}
    lines = _trace([
        (NR.openat, (), (2**64 - 100, STR, 0o2000000, 0), 3),
        (NR.read, (), (3, BUF, 832), 832),
        (NR.write, (), (1, STR + 17, 40), 40),
        (NR.getrandom, (), (0x30000, 8, 1), 8),
        (NR.brk, (), (0,), 0x555555559000),
        (NR.mmap, (), (0, 8192, 3, 0x22, 2**64 - 1, 0), 0x7FFFF7FC1000),
        (NR.arch_prctl, (), (0x1002, 0x7FFFF7D8A740), 0),
        (NR.prlimit64, (), (0, 3, 0, 0x50000), 0),
        (NR.ioctl, (), (1, 0x5401, 0x7FFC00001000), -25),
        (NR.fcntl, (), (3, 1), 1),
        (NR.access, (), (STR, 4), -2),
        (NR.umask, (), (0o22,), 0o22),
        (NR.rt_sigprocmask, (), (0, 0x40000, 0, 8), 0),
        (NR.rt_sigprocmask, (), (2, 0x40008, 0x40000, 8), 0),
        (NR.rt_sigaction, (), (2, 0x60000, 0, 8), 0),
        (NR.openat, (), (2**64 - 100, STR, 0o101, 0o644), -30),
        (NR.lseek, (), (3, 2**64 - 3, 2), 7),
        (NR.exit_group, (), (0,), None),
    ], areas)
    assert lines == [
        'openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3',
        r'read(3, "\0\1\2\3\4\5\6\7\10\t\n\v\f\r\16\17\20\21\22\23\24\25\26\27\30\31\32\33\34\35\36\37"..., 832) = 832',
        'write(1, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"..., 40) = 40',
        r'getrandom("\x12\x34\x56\x78\x9a\xbc\xde\xf0", 8, GRND_NONBLOCK) = 8',
        "brk(NULL)                               = 0x555555559000",
        "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffff7fc1000",
        "arch_prctl(ARCH_SET_FS, 0x7ffff7d8a740) = 0",
        "prlimit64(0, RLIMIT_STACK, NULL, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}) = 0",
        "ioctl(1, TCGETS, 0x7ffc00001000)        = -1 ENOTTY (Inappropriate ioctl for device)",
        "fcntl(3, F_GETFD)                       = 0x1 (flags FD_CLOEXEC)",
        'access("/etc/ld.so.cache", R_OK)        = -1 ENOENT (No such file or directory)',
        "umask(022)                              = 022",
        "rt_sigprocmask(SIG_BLOCK, [CHLD], NULL, 8) = 0",
        "rt_sigprocmask(SIG_SETMASK, ~[RTMIN RT_1], [CHLD], 8) = 0",
        "rt_sigaction(SIGINT, {sa_handler=0x401000, sa_mask=[CHLD], sa_flags=SA_RESTORER|SA_RESTART, "
        "sa_restorer=0x401100}, NULL, 8) = 0",
        'openat(AT_FDCWD, "/etc/ld.so.cache", O_WRONLY|O_CREAT, 0644) = -1 EROFS (Read-only file system)',
        "lseek(3, -3, SEEK_END)                  = 7",
        "exit_group(0)                           = ?",
        "+++ exited with 0 +++",
    ]


def test_writer_shows_unreadable_memory_as_addresses_and_never_raises():
    class Exploding:
        @property
        def mm(self):
            raise RuntimeError("no memory today")

    class BrokenStream:
        def write(self, _):
            raise OSError("closed")

        def flush(self):
            raise OSError("closed")

    # unmapped buffers, NULL, and a process whose memory raises: addresses, never an exception
    lines = _trace([(NR.read, (), (3, 0xDEAD0000, 10), 10),
                    (NR.openat, (), (2**64 - 100, 0, 0), -14),
                    (NR.fstat, (), (3, 0xDEAD0000), -9)])
    assert lines == ["read(3, 0xdead0000, 10)                 = 10",
                     "openat(AT_FDCWD, NULL, O_RDONLY)        = -1 EFAULT (Bad address)",
                     "fstat(3, 0xdead0000)                    = -1 EBADF (Bad file descriptor)"]
    stream = io.StringIO()
    w = StraceWriter(stream)
    entry = Syscall(NR.read, lambda *a: 0, ("fd", "buf_out", "size"))
    w.enter(Exploding(), entry, (3, BUF, 4, 0, 0, 0))
    w.leave(Exploding(), entry, (3, BUF, 4, 0, 0, 0), 4)
    assert stream.getvalue() == "read(3, 0x10000, 4)                     = 4\n"
    # a stream that fails, an entry that is not a Syscall, registers of the wrong type
    w = StraceWriter(BrokenStream())
    w.enter(object(), object(), (None,) * 6)
    w.leave(object(), object(), (None,) * 6, "x")
    w.unknown(object(), 1000, None, -38)
    w.exit(object(), None, None)


def test_writer_falls_back_to_table_kinds_and_hex():
    """A call the writer has no strace decoder for is shown from its Syscall record's kinds,
    and kinds nobody knows print in hex (shmget is not implemented by elfkit)."""
    lines = _trace([(NR.shmget, ("frobnicate", "int", "size"), (42, 2**64 - 1, 4096), -38)])
    assert lines == ["shmget(0x2a, -1, 4096)                  = -1 ENOSYS (Function not implemented)"]


def test_unknown_and_end_of_process_lines():
    stream = io.StringIO()
    w = StraceWriter(stream)
    regs = [0x1B8, 1, 2, 3, 4, 5, 6, 0, 0]           # 440: process_madvise, 5 arguments
    w.unknown(FakeProc(), 0x1B8, regs, -38)
    w.unknown(FakeProc(), 2000, [2000, 0x7FFC00000000, 0, 0, 0, 0, 0, 0, 0], -38)
    w.signal(FakeProc(), 15, 0, pid=77, uid=1000)
    w.signal(FakeProc(), 11, 1, 0x8)
    w.finish(FakeProc(), ExitStatus(signal=11))
    w.finish(FakeProc(), ExitStatus(code=0))            # once only
    assert stream.getvalue().splitlines() == [
        "process_madvise(0x1, 0x2, 0x3, 0x4, 0x5) = -1 ENOSYS (Function not implemented)",
        "syscall_0x7d0(0x7ffc00000000, 0, 0, 0, 0, 0) = -1 ENOSYS (Function not implemented)",
        "--- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=77, si_uid=1000} ---",
        "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x8} ---",
        "+++ killed by SIGSEGV +++",
    ]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
