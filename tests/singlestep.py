"""The real CPU's instruction count of a native run, by single-stepping it with ptrace.

`count_native(path)` runs PATH natively under PTRACE_SINGLESTEP and counts the user-mode
instructions it retires -- what `--max-insns` counts in the emulator -- and the count at which
each write(2) it makes has run (tests/test_max_insns.py compares them with which of its
writes an `elfkit load-and-run --max-insns N` run made).

How a step is counted: each step that ends in the single-step SIGTRAP ran one instruction
(a `syscall` included; a demand-paging fault the kernel fixes is invisible). A step that ends
in another signal ran none: the instruction faulted (it did not complete; %rip stays on it) or
a signal was due before it could start; that signal is then handed back with the next step,
which enters the handler and stops at its first instruction, again running none (Linux stops
a stepped task at a signal handler's entry). The step into exit_group ends the process.

`only` restricts the count to instructions whose address lies in PATH's own mappings (ld.so's
work before a program starts is not the program's).
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from dataclasses import dataclass, field

PTRACE_TRACEME, PTRACE_PEEKTEXT, PTRACE_SINGLESTEP, PTRACE_GETREGS = 0, 1, 9, 12
REG_RAX, REG_RIP = 10, 16                   # struct user_regs_struct, in 8-byte words
SYS_write = 1
SYSCALL = 0x050F                            # 0f 05, little-endian

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


@dataclass
class NativeCount:
    retired: int = 0                            # every instruction the run retired
    writes: list[int] = field(default_factory=list)   # `retired` when each write(2) had run
    stdout: bytes = b""
    status: int | None = None


def _ptrace(request: int, pid: int, addr: int = 0, data: int = 0) -> int:
    ctypes.set_errno(0)
    value = _libc.ptrace(request, pid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    if value == -1 and ctypes.get_errno():
        raise OSError(ctypes.get_errno(), f"ptrace({request}): {os.strerror(ctypes.get_errno())}")
    return value


def _own_ranges(pid: int, path: str) -> list[tuple[int, int]]:
    real = os.path.realpath(path)
    ranges = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5] == real:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                ranges.append((lo, hi))
    return ranges


def count_native(path: str, args=(), *, only_own_code: bool = False, env=None) -> NativeCount:
    """Single-step PATH ARGS natively to its end (for small programs: ~10 us a step)."""
    proc = subprocess.Popen([path, *args], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env if env is not None else {"PATH": "/usr/bin:/bin"},
                            preexec_fn=lambda: _ptrace(PTRACE_TRACEME, 0))
    pid = proc.pid
    out = NativeCount()
    regs = (ctypes.c_uint64 * 27)()
    try:
        _, status = os.waitpid(pid, 0)               # stopped at the execve
        assert os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGTRAP
        ranges = _own_ranges(pid, path) if only_own_code else None
        sig = 0
        while True:
            _ptrace(PTRACE_GETREGS, pid, 0, ctypes.addressof(regs))
            rip = regs[REG_RIP]
            own = ranges is None or any(lo <= rip < hi for lo, hi in ranges)
            is_write = own and _ptrace(PTRACE_PEEKTEXT, pid, rip) & 0xFFFF == SYSCALL \
                and regs[REG_RAX] == SYS_write
            injected, sig = sig, 0
            _ptrace(PTRACE_SINGLESTEP, pid, 0, injected)
            _, status = os.waitpid(pid, 0)
            if not os.WIFSTOPPED(status):            # exit_group ran (or a fatal signal)
                out.retired += own and not injected
                out.status = os.waitstatus_to_exitcode(status)
                break
            if os.WSTOPSIG(status) != signal.SIGTRAP:
                sig = os.WSTOPSIG(status)            # nothing ran; deliver it with the next step
            elif not injected and own:
                out.retired += 1
                if is_write:
                    out.writes.append(out.retired)
    finally:
        if out.status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        proc.returncode = out.status if out.status is not None else -9
        out.stdout = proc.stdout.read()
        proc.stdout.close()
    return out
