"""task_struct: one guest process -- its CPU, memory, files, credentials and signal state.

A Process is made from an ExecImage (elfkit.loader) and run until it exits,
is killed, or hits a limit. Nothing here is global: two Process objects are
two independent guests.
"""
from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass, field

from elfkit.kernel.cpu import Cpu, CpuError
from elfkit.kernel.files import FdTable, HostFile
from elfkit.kernel.mm import Mm, Vma
from elfkit.loader.binfmt import Credentials, ExecImage
from elfkit.loader.sysroot import Sysroot

SIGNAL_NAMES = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
                7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
                13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
                18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
                23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF",
                28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS"}


def _expired(deadline: float | None) -> bool:
    """The --timeout deadline (time.monotonic()) has come, within Unicorn's 1 ms granularity."""
    return deadline is not None and time.monotonic() >= deadline - 0.001


@dataclass
class RunLimits:
    timeout_s: float | None = None
    max_insns: int | None = None


@dataclass
class ExitStatus:
    code: int | None = None          # exit status, if it exited
    signal: int | None = None        # the signal that killed it
    reason: str = ""                 # one line for the user when killed or stopped by elfkit
    limit: str | None = None         # "timeout" / "max-insns" when elfkit stopped it

    @property
    def shell_status(self) -> int:
        if self.code is not None:
            return self.code & 0xFF
        return 128 + (self.signal or 0)


class GuestExit(Exception):
    """Raised inside a syscall handler to end the guest (exit, exit_group, fatal signal)."""

    def __init__(self, status: ExitStatus):
        self.status = status


@dataclass
class SignalState:
    actions: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)  # handler, flags, restorer, mask
    blocked: int = 0
    altstack: tuple[int, int, int] = (0, 2, 0)   # ss_sp, ss_flags (SS_DISABLE), ss_size
    pending: list[int] = field(default_factory=list)


class Process:
    """A guest process running in its own Unicorn CPU."""

    def __init__(self, *, sysroot: Sysroot, cwd: str, seed: int | None, creds: Credentials,
                 writable: list[str] | None = None, strace=None, warn=None, pid: int | None = None):
        self.cpu = Cpu()
        self.sysroot = sysroot
        self.cwd = cwd
        self.umask = 0o022
        self.creds = creds
        self.pid = pid if pid is not None else os.getpid()
        self.tid = self.pid
        self.ppid = os.getppid()
        self.seed = seed
        self.rng = random.Random(seed) if seed is not None else random.SystemRandom()
        self.files = FdTable()
        self.signals = SignalState()
        self.writable = [os.path.realpath(w) for w in (writable or [])]
        self.strace = strace
        self.warn = warn or (lambda msg: print(f"elfkit: warning: {msg}", file=sys.stderr))
        self.warned: set[str] = set()
        self.mm: Mm | None = None
        self.image: ExecImage | None = None
        self.clear_child_tid = 0
        self.robust_list = (0, 0)
        self.rseq_area: tuple[int, int] | None = None
        self.rlimits: dict[int, tuple[int, int]] = {}
        self.start_monotonic = time.monotonic()
        self.exit: ExitStatus | None = None
        self.argv: list[bytes] = []
        self.envp: list[bytes] = []
        self.sigframes: dict[int, object] = {}     # frame address -> saved FP state
        self.restart_at: int | None = None

    # --- exec --------------------------------------------------------------------------------
    def exec_image(self, image: ExecImage, argv: list[bytes], envp: list[bytes]):
        """Map what load_elf_binary prepared, write the stack and point the CPU at the entry."""
        self.image, self.argv, self.envp = image, argv, envp
        self.mm = Mm(self.cpu, image.mmap_base, image.start_brk)
        for m in image.mappings:
            vma = Vma(m.start, m.end, m.prot, name=m.name, offset=m.file_offset)
            if m.host_path is not None:
                st = os.stat(m.host_path)
                vma.dev, vma.inode = (os.major(st.st_dev), os.minor(st.st_dev)), st.st_ino
            self.mm.map_area(vma, m.data)
        stack = image.stack
        self.cpu.write(stack.base, stack.data)
        self.cpu.set_reg("rsp", stack.sp)
        self.cpu.set_reg("rdx", 0)       # ELF_PLAT_INIT: no atexit function from the kernel
        self.entry = image.entry
        self.install_hooks()

    def install_stdio(self):
        """fds 0, 1, 2: duplicates of elfkit's own, so the guest closing them leaves ours open."""
        for fd in (0, 1, 2):
            try:
                host = os.dup(fd)
            except OSError:
                continue
            os.set_inheritable(host, False)
            self.files.install_at(fd, HostFile(host, f"/dev/fd/{fd}", 2))

    # --- running -----------------------------------------------------------------------------
    def install_hooks(self):
        """The kernel's entry points: the syscall instruction and CPU exceptions."""
        from elfkit.kernel.syscalls import make_dispatcher
        if getattr(self, "_hooked", False):
            return
        self._hooked = True
        self.cpu.hook_syscall(make_dispatcher(self))
        self.cpu.hook_faults()
        self.cpu.on_fault = lambda access, addr, unmapped: unmapped and self.mm.grow_stack(addr)

    def run(self, limits: RunLimits) -> ExitStatus:
        from elfkit.kernel.signals import fault_signal
        self.install_hooks()
        # Unicorn's instruction counter stops the CPU from a code hook: make that exact.
        self.cpu.set_exact_stops(bool(limits.max_insns))
        deadline = time.monotonic() + limits.timeout_s if limits.timeout_s else None
        executed = 0                  # instructions, over every restart (signals, stack growth)
        pc = self.entry
        while self.exit is None:
            # Each restart gets what is left of the limits, so a guest that keeps restarting
            # the CPU (a signal loop) still ends on time.
            left_s = deadline - time.monotonic() if deadline is not None else None
            left_insns = limits.max_insns - executed if limits.max_insns else 0
            if _expired(deadline):
                self.exit = self._limit_status(limits, "timeout")
                break
            if limits.max_insns and left_insns <= 0:
                self.exit = self._limit_status(limits, "max-insns")
                break
            self.restart_at = None
            error = None
            try:
                self.cpu.run(pc, int(left_s * 1e6) if left_s is not None else 0, left_insns)
            except CpuError as e:
                error = e
            if limits.max_insns:
                executed += self.cpu.insns_run() or 0
            if self._trap_failed():
                break
            if error is not None:
                if not self._stopped_by_limit(limits, deadline):
                    fault_signal(self, error)
            else:
                if self._stopped_by_limit(limits, deadline):
                    self.cpu.interrupt = None
                if self.cpu.retry and self.exit is None and self.restart_at is None:
                    pc = self.cpu.pc()          # a page fault the kernel fixed up (stack growth)
                    continue
                if self.exit is None and self.restart_at is None and self.cpu.interrupt is not None:
                    fault_signal(self, None)
            if self.exit is not None:
                break
            if self.restart_at is not None:      # a handler frame or sigreturn moved %rip
                pc = self.restart_at
                continue
            # emu_start returned by itself: a time or instruction limit
            if _expired(deadline):
                self.exit = self._limit_status(limits, "timeout")
            elif limits.max_insns:
                self.exit = self._limit_status(limits, "max-insns")
            else:
                self.exit = ExitStatus(signal=9, reason="the CPU stopped unexpectedly")
        self.files.close_all()
        return self.exit

    def _trap_failed(self) -> bool:
        """A trap handler (elfkit's lazy resolver, a guest-call return...) raised: a bug in
        elfkit, reported as such rather than as a signal the guest might handle."""
        e = self.cpu.trap_error
        if e is None or self.exit is not None:
            return False
        self.exit = ExitStatus(signal=9, limit="internal",
                               reason=f"elfkit internal error in a trap handler: "
                                      f"{type(e).__name__}: {e}")
        return True

    @staticmethod
    def _limit_status(limits: RunLimits, which: str) -> ExitStatus:
        if which == "timeout":
            return ExitStatus(signal=9, limit="timeout",
                              reason=f"stopped after the {limits.timeout_s:g} s timeout")
        return ExitStatus(signal=9, limit="max-insns",
                          reason=f"stopped after {limits.max_insns} instructions")

    def _stopped_by_limit(self, limits: RunLimits, deadline) -> bool:
        """Unicorn stopping for --timeout or --max-insns can leave a phantom page fault behind
        (CR2 holding one of its own physical addresses, which no guest area maps)."""
        if _expired(deadline):
            return True
        f = self.cpu.fault
        return bool(limits.max_insns and f is not None and self.mm.find(f.address) is None
                    and self.cpu.pages.is_physical(f.address))

    def call_guest(self, function: int, *args: int) -> int:
        """Run guest code `function(args...)` to its return (an init function, an IFUNC
        resolver) and give back %rax; the guest's registers are restored afterwards."""
        cpu = self.cpu
        if not hasattr(self, "_return_trap"):
            self._returned = False

            def on_return():
                self._returned = True
                cpu.stop()
            self._return_trap = cpu.add_trap(0, on_return)
        saved = cpu.save_context()
        sp = ((saved["rsp"] - 256) & ~0xF) - 8         # below the red zone, aligned as after a call
        cpu.write(sp, self._return_trap.to_bytes(8, "little"))
        cpu.set_reg("rsp", sp)
        for reg, value in zip(("rdi", "rsi", "rdx", "rcx", "r8", "r9"), args):
            cpu.set_reg(reg, value)
        self._returned = False
        pc = function
        while not self._returned and self.exit is None:
            try:
                cpu.run(pc)
            except CpuError as e:
                from elfkit.kernel.signals import fault_signal
                fault_signal(self, e)
                break
            if self._trap_failed() or self.exit is not None or self._returned:
                break
            if self.restart_at is not None:
                pc, self.restart_at = self.restart_at, None
            elif cpu.retry:
                pc = cpu.pc()
            else:
                from elfkit.kernel.signals import fault_signal
                fault_signal(self, None)
                break
        result = cpu.reg("rax")
        cpu.restore_context(saved)
        return result

    def call_from_hook(self, calls: list, done):
        """From inside a trap handler (while the CPU runs): run guest functions one after the
        other, then restore the registers and call done(results). No nested emulation: each
        call returns to a continuation trap that starts the next one."""
        cpu = self.cpu
        if not hasattr(self, "_continuations"):
            self._continuations = []

            def on_continue():
                frame = self._continuations[-1]
                frame["results"].append(cpu.reg("rax"))
                if frame["calls"]:
                    start_next(frame)
                    return
                self._continuations.pop()
                cpu.restore_context(frame["saved"])
                frame["done"](frame["results"])
            self._continue_trap = cpu.add_trap(0x40, on_continue)

        def start_next(frame):
            fn, args = frame["calls"].pop(0)
            sp = ((frame["saved"]["rsp"] - 256) & ~0xF) - 8
            cpu.write(sp, self._continue_trap.to_bytes(8, "little"))
            cpu.set_reg("rsp", sp)
            for reg, value in zip(("rdi", "rsi", "rdx", "rcx", "r8", "r9"), args):
                cpu.set_reg(reg, value)
            cpu.set_reg("rip", fn)

        frame = {"saved": cpu.save_context(), "calls": list(calls), "results": [], "done": done}
        if not frame["calls"]:
            done([])
            return
        self._continuations.append(frame)
        start_next(frame)

    def warn_once(self, key: str, message: str):
        if key not in self.warned:
            self.warned.add(key)
            self.warn(message)
