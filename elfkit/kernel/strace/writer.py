"""The writer: --strace's one line per guest system call, in the format of strace(1) 6.x.

The dispatcher (elfkit.kernel.syscalls.make_dispatcher) calls

    enter(proc, entry, args)            before the handler (args: the six raw u64 registers)
    leave(proc, entry, args, result)    after it (result: the value for %rax, -errno on failure)
    exit(proc, entry, status)           instead of leave when the call ended the process
    unknown(proc, nr, regs, result)     for a number elfkit has no handler for

and two more calls are there for whoever runs the process: finish(proc, status) after run()
(+++ exited with N +++ / +++ killed by SIGx +++, once; exit() already does it for exit_group)
and signal(proc, signum, code, addr) when a signal is delivered (--- SIGx {si_signo=...} ---).

strace prints what a call reads from memory when the call is entered and what
it writes when it returns, so every line is built in two halves and written
whole at leave(); the arguments a handler overwrites (a read() buffer, a stat
struct, getcwd's path) are decoded from guest memory after the handler ran.

How each argument is shown follows strace 6.1's decoders (src/*.c and
src/xlat/*.in of https://github.com/strace/strace, tag v6.1), with the
default options: strings cut at 32 bytes (-s 32) with "...", structures
abbreviated (no -v), no -y/-x, results aligned at column 40 (-a 40). Memory
that cannot be read is shown as its address, NULL as NULL, and a structure a
failing call was meant to fill as its address -- as strace does.

Two tables drive it. SPEC names, per system call, the strace decoder of each
argument (an "argument kind"); KINDS maps every kind to a function and the
phase it is decoded in. A call missing from SPEC is decoded from the kinds in
its Syscall record (elfkit.kernel.syscalls), with "hex" for kinds nobody
knows; a number with no handler is decoded from SPEC when strace knows its
arguments, else printed as strace's printargs does (hex, NARGS of them).
Flag and constant tables are data (class Xlat), copied from strace's xlat
files for x86-64.

Nothing here may raise into the guest: every entry point catches its own
exceptions and falls back to printing the raw registers.
"""
from __future__ import annotations

import os
import sys


M64 = (1 << 64) - 1

from elfkit.kernel.strace.xlat import (  # noqa: F401
    COLUMN,
    NARGS,
    SI_CODES,
    SI_CODES_BY_SIGNAL,
    _addr,
    _s32,
    _x,
    signame,
)
from elfkit.kernel.strace.call import (  # noqa: F401
    _Call,
    _is_error,
)
from elfkit.kernel.strace.kinds import (  # noqa: F401
    BOTH,
    IN,
    KINDS,
    OUT,
)
from elfkit.kernel.strace import kinds, structs  # noqa: F401 - their decorators fill KINDS
from elfkit.kernel.strace.calls import (  # noqa: F401
    SPEC,
    _result,
    _specs_for,
    _syscall_name,
)

# --- the writer --------------------------------------------------------------------------------------

class StraceWriter:
    """Writes one strace-format line per guest system call to a text stream."""

    def __init__(self, stream=None, *, column: int = COLUMN):
        self.stream = stream if stream is not None else sys.stderr
        self.column = column
        self._pending: _Call | None = None
        self.finished = False
        self.finished_pids: set[int] = set()
        self.pid_of = None             # set by the kernel at the first fork: () -> current pid

    # --- the dispatcher's four calls ---
    def enter(self, proc, entry, args):
        try:
            if self._pending is not None:             # a call that never came back
                self._emit(self._head(self._pending) + " <unfinished ...>")
            self._pending = None
            c = _Call(proc, self._name(entry), args)
            c.specs, c.ret = _specs_for(c, entry)
            c.parts = [None] * (max((i for _, i in c.specs), default=-1) + 1)
            self._decode(c, (IN, BOTH))
            self._pending = c
        except Exception:  # noqa: BLE001 - never break the guest for a trace line
            self._pending = None
            self._fallback_pending(proc, entry, args)

    def leave(self, proc, entry, args, result):
        c = self._pending
        self._pending = None
        try:
            if c is None:
                c = _Call(proc, self._name(entry), args)
                c.specs, c.ret = _specs_for(c, entry)
                c.parts = [None] * (max((i for _, i in c.specs), default=-1) + 1)
                self._decode(c, (IN, BOTH))
            result = int(result)
            if c.name == "rt_sigreturn":          # the call returns the interrupted code's %rax
                try:
                    rax = proc.cpu.reg("rax") & M64
                    result = rax - (1 << 64) if rax >> 63 else rax
                except Exception:  # noqa: BLE001
                    pass
            c.result, c.exiting = result, True
            self._decode(c, (OUT, BOTH))
            if _is_error(c.name, result) or not callable(c.ret):
                text = _result(c.name, result, c.ret if not callable(c.ret) else "int")
            else:
                text = c.ret(c) or _result(c.name, result, "int")
            self._emit(self._line(c, text))
        except Exception:  # noqa: BLE001
            self._emit_raw(entry, args, result)

    def unfinished(self, proc, entry, args):
        """The call sleeps: strace -f shows its first half now."""
        c = self._pending
        self._pending = None
        if c is not None:
            try:
                self._emit(self._head(c) + " <unfinished ...>")
            except Exception:  # noqa: BLE001
                pass

    def resumed(self, proc, entry, args, result):
        """A call that slept returned: the whole line (strace's "<... resumed>" half, with the
        arguments decoded again)."""
        if entry is None:
            return
        self.enter(proc, entry, args)
        self.leave(proc, entry, args, result)

    def exit(self, proc, entry, status):
        c = self._pending
        self._pending = None
        try:
            if entry is not None:
                if c is None:
                    c = _Call(proc, self._name(entry), ())
                self._emit(self._line(c, "?"))
            self.finish(proc, status)
        except Exception:  # noqa: BLE001
            pass

    def unknown(self, proc, nr, regs, result):
        try:
            self._pending = None
            nr = int(regs[0]) & M64 if regs is not None else int(nr)
            args = [int(regs[k]) & M64 for k in range(1, 7)]
            n = int(NARGS[nr]) if nr < len(NARGS) and NARGS[nr] != "-" else 6
            name = _syscall_name(nr)
            if name is None:                     # strace: all six arguments of a nameless call
                name, n = f"syscall_{_x(nr)}", 6
            c = _Call(proc, name, args)
            if name in SPEC:                     # strace decodes it even though elfkit has no handler
                c.specs, c.ret = _specs_for(c, None)
                c.parts = [None] * (max((i for _, i in c.specs), default=-1) + 1)
                self._decode(c, (IN, BOTH))
                c.result, c.exiting = int(result), True
                self._decode(c, (OUT, BOTH))
            else:
                c.parts = [_x(a) for a in args[:n]]
            self._emit(self._line(c, _result(name, int(result), "int")))
        except Exception:  # noqa: BLE001
            pass

    # --- not called by the dispatcher: for the signal layer and the runner ---
    def signal(self, proc, signum, code=0, addr=0, pid=None, uid=None):
        """--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x8} --- for a signal
        delivered to (or killing) the guest; code is the siginfo si_code (0: SI_USER)."""
        try:
            name = signame(signum) or str(signum)
            code = _s32(code)
            text = SI_CODES.get(code) or SI_CODES_BY_SIGNAL.get(signum, {}).get(code) or str(code)
            fields = [f"si_signo={name}", f"si_code={text}"]
            if code <= 0:                               # from a process: kill, tgkill, sigqueue
                fields += [f"si_pid={pid if pid is not None else getattr(proc, 'pid', 0)}",
                           f"si_uid={uid if uid is not None else os.getuid()}"]
            elif signum in (4, 7, 8, 11):               # SIGILL SIGBUS SIGFPE SIGSEGV
                fields.append(f"si_addr={_addr(addr)}")
            self._emit(f"--- {name} {{{', '.join(fields)}}} ---")
        except Exception:  # noqa: BLE001
            pass

    # --- the end of the process (also for the runner to call after run()) ---
    def finish(self, proc, status):
        """+++ exited with N +++ or +++ killed by SIG +++, once."""
        try:
            if self._pending is not None:
                self._emit(self._line(self._pending, "?"))
                self._pending = None
            pid = getattr(proc, "pid", 0)
            if pid in self.finished_pids or status is None:
                return
            self.finished_pids.add(pid)
            self.finished = True
            sig = getattr(status, "signal", None)
            if sig:
                self._emit(f"+++ killed by {signame(sig) or sig} +++", pid)
            else:
                self._emit(f"+++ exited with {getattr(status, 'code', 0) or 0} +++", pid)
        except Exception:  # noqa: BLE001
            pass

    # --- formatting ---
    @staticmethod
    def _name(entry) -> str:
        try:
            return entry.name
        except Exception:  # noqa: BLE001
            return f"syscall_{_x(getattr(entry, 'nr', 0))}"

    @staticmethod
    def _decode(c: _Call, phases):
        for k, i in c.specs:
            fn, phase = KINDS.get(k, KINDS["hex"])
            if phase not in phases:
                continue
            try:
                text = fn(c, i)
            except Exception:  # noqa: BLE001 - one bad argument shows as its raw value
                text = _x(c.args[i]) if i < len(c.args) else "?"
            c.parts[i] = "" if text is None else text      # "": printed as nothing, no comma

    @staticmethod
    def _head(c: _Call) -> str:
        shown = []
        for k, i in c.specs if c.specs else [(None, j) for j in range(len(c.parts))]:
            p = c.parts[i] if i < len(c.parts) else None
            if p:
                shown.append(p)
        return f"{c.name}({', '.join(shown)}"

    def _line(self, c: _Call, result_text: str) -> str:
        s = self._head(c) + ") "
        if len(s) < self.column:
            s = s.ljust(self.column)
        return s + "= " + result_text

    def _emit(self, line: str, pid: int | None = None):
        try:
            if self.pid_of is not None:              # strace -f: once there is a second process
                line = f"[pid {pid if pid is not None else self.pid_of()}] {line}"
            self.stream.write(line + "\n")
            self.stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not stop the guest
            pass

    def _fallback_pending(self, proc, entry, args):
        try:
            c = _Call(proc, self._name(entry), args)
            n = len(getattr(entry, "args", ()) or ())
            c.parts = [_x(a) for a in c.args[:n]]
            self._pending = c
        except Exception:  # noqa: BLE001
            self._pending = None

    def _emit_raw(self, entry, args, result):
        try:
            name = self._name(entry)
            n = len(getattr(entry, "args", ()) or ())
            shown = ", ".join(_x(int(a)) for a in list(args)[:n])
            s = f"{name}({shown}) "
            self._emit(s.ljust(self.column) + "= " + _result(name, int(result), "int"))
        except Exception:  # noqa: BLE001
            pass
