"""Signals: dispositions, delivery to a guest handler (x86-64 rt_sigframe), rt_sigreturn, and faults.

Delivery follows arch/x86/kernel/signal.c: the frame (return address =
sa_restorer, ucontext with the interrupted registers, siginfo) is pushed
below the stack pointer (or on the sigaltstack with SA_ONSTACK), %rsp is
left 8 bytes off 16-byte alignment as after a call, and the handler gets
(sig, &info, &uc). The x87/SSE state is kept by elfkit beside the frame
rather than written into it.
"""
from __future__ import annotations

import struct

from elfkit.kernel.process import SIGNAL_NAMES, ExitStatus

SIG_DFL, SIG_IGN = 0, 1
SA_SIGINFO, SA_ONSTACK, SA_RESTART, SA_NODEFER, SA_RESETHAND, SA_RESTORER = \
    0x4, 0x08000000, 0x10000000, 0x40000000, 0x80000000, 0x04000000
SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGSEGV, SIGSTOP = 4, 5, 6, 7, 8, 9, 11, 19
IGNORED_BY_DEFAULT = {17, 18, 23, 28}          # SIGCHLD, SIGCONT, SIGURG, SIGWINCH
STOP_BY_DEFAULT = {19, 20, 21, 22}

GPR_ORDER = ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx",
             "rdx", "rax", "rcx", "rsp", "rip", "eflags"]
FRAME_UC = 8                 # offset of the ucontext in rt_sigframe (after pretcode)
UC_MCONTEXT = 40
UC_SIGMASK = 296
FRAME_INFO = FRAME_UC + 304
FRAME_SIZE = FRAME_INFO + 128
# interrupt vector -> (signal, what happened)
TRAPS = {0: (SIGFPE, "divide error"), 1: (SIGTRAP, "debug trap"), 3: (SIGTRAP, "breakpoint (int3)"),
         4: (SIGSEGV, "overflow (into)"), 5: (SIGSEGV, "bound range exceeded"),
         6: (SIGILL, "invalid opcode"), 13: (SIGSEGV, "general protection fault"),
         14: (SIGSEGV, "page fault"), 16: (SIGFPE, "x87 floating-point error"),
         17: (SIGBUS, "alignment check"), 19: (SIGFPE, "SIMD floating-point error")}


def signal_name(sig: int) -> str:
    return SIGNAL_NAMES.get(sig, f"signal {sig}")


def send_signal(proc, sig: int, reason: str = "", code: int = 0, addr: int = 0) -> bool:
    """Act on `sig` for proc now: ignore it, kill the process, or push a handler frame.

    Returns True when the CPU's registers changed (the caller restarts emulation)."""
    handler, flags, restorer, mask = proc.signals.actions.get(sig, (SIG_DFL, 0, 0, 0))
    if sig in (SIGKILL, SIGSTOP):
        handler = SIG_DFL
    if handler == SIG_IGN:
        return False
    if proc.strace is not None:
        proc.strace.signal(proc, sig, code=code, addr=addr)
    if handler == SIG_DFL:
        if sig in IGNORED_BY_DEFAULT or sig in STOP_BY_DEFAULT:
            return False
        proc.exit = ExitStatus(signal=sig, reason=reason or f"killed by {signal_name(sig)}")
        proc.cpu.stop()
        return False
    if proc.signals.blocked & (1 << (sig - 1)) and not reason:
        proc.signals.pending.append(sig)
        return False
    _push_frame(proc, sig, handler, flags, restorer, mask, code, addr)
    if flags & SA_RESETHAND:
        proc.signals.actions[sig] = (SIG_DFL, 0, 0, 0)
    return True


def _push_frame(proc, sig, handler, flags, restorer, mask, code, addr):
    cpu = proc.cpu
    ctx = cpu.save_context()
    sp = ctx["rsp"]
    ss_sp, ss_flags, ss_size = proc.signals.altstack
    if flags & SA_ONSTACK and ss_flags == 0 and not (ss_sp <= sp < ss_sp + ss_size):
        sp = ss_sp + ss_size
    sp -= 128                                   # the red zone
    frame = ((sp - FRAME_SIZE) & ~0xF) - 8      # as if `call handler` had pushed the restorer
    gprs = struct.pack("<18Q", *[ctx[r] & 0xFFFFFFFFFFFFFFFF for r in GPR_ORDER])
    segs = struct.pack("<4H", 0x33, 0, 0, 0x2B)
    rest = struct.pack("<4Q", 0, 14 if sig == SIGSEGV else 0, proc.signals.blocked, addr)
    mcontext = gprs + segs + rest + struct.pack("<Q", 0) + bytes(64)
    stack_t = struct.pack("<QiiQ", ss_sp, ss_flags, 0, ss_size)
    uc = struct.pack("<QQ", 0, 0) + stack_t + mcontext + struct.pack("<Q", proc.signals.blocked)
    info = struct.pack("<iii", sig, 0, code) + bytes(4) + struct.pack("<Q", addr) + bytes(128 - 24)
    proc.mm.write(frame, struct.pack("<Q", restorer) + uc + info)
    proc.sigframes[frame + 8] = cpu.fp_state()
    if not flags & SA_NODEFER:
        mask |= 1 << (sig - 1)
    proc.signals.blocked |= mask
    cpu.set_regs(rsp=frame, rdi=sig, rsi=frame + FRAME_INFO, rdx=frame + FRAME_UC, rax=0,
                 rip=handler)


def rt_sigreturn(proc) -> bool:
    """Restore what _push_frame saved; %rsp points just past the popped return address."""
    cpu = proc.cpu
    frame_uc = cpu.reg("rsp")                   # == frame + 8 == &uc
    raw = proc.mm.read(frame_uc + UC_MCONTEXT, 18 * 8)
    mask = proc.mm.read(frame_uc + UC_SIGMASK, 8)
    if raw is None or mask is None:
        proc.exit = ExitStatus(signal=SIGSEGV, reason="rt_sigreturn with a bad frame")
        cpu.stop()
        return False
    cpu.set_regs(**dict(zip(GPR_ORDER, struct.unpack("<18Q", raw))))
    proc.signals.blocked = struct.unpack("<Q", mask)[0] & ~((1 << 8) | (1 << 18))
    fp = proc.sigframes.pop(frame_uc, None)
    if fp is not None:
        cpu.set_fp_state(fp)
    return True


def fault_signal(proc, err):
    """The CPU stopped on a fault, an invalid instruction or a trap: signal the guest, as the
    kernel's trap handlers do (arch/x86/kernel/traps.c, arch/x86/mm/fault.c)."""
    from elfkit.kernel.faults import describe_fault, memory_access
    cpu = proc.cpu
    pc = cpu.pc()
    code = 0
    if err is not None and err.kind == "invalid-insn":
        sig, what, addr, code = SIGILL, "invalid instruction", pc, 2          # ILL_ILLOPN
    elif cpu.fault is not None and (cpu.interrupt == 14 or err is not None):
        addr = cpu.fault.address
        vma = proc.mm.find(addr)
        access = memory_access(proc, pc, addr)
        sig = SIGSEGV
        code = 2 if vma is not None else 1                                      # SEGV_ACCERR/MAPERR
        what = f"{access} of {addr:#x} ({'not permitted' if vma is not None else 'unmapped'})"
    elif cpu.interrupt is not None:
        sig, what = TRAPS.get(cpu.interrupt, (SIGSEGV, f"interrupt {cpu.interrupt}"))
        addr = 0 if sig == SIGSEGV else pc                 # #GP reports no address
        code = {SIGFPE: 1, SIGILL: 2, SIGTRAP: 1}.get(sig, 0x80)               # FPE_INTDIV, ...
    else:
        sig, what, addr = SIGSEGV, str(err), pc
    reason = describe_fault(proc, sig, what, addr)
    if send_signal(proc, sig, "", code=code, addr=addr) and proc.exit is None:
        proc.restart_at = cpu.pc()
        return
    if proc.exit is None or proc.exit.signal == sig:
        proc.exit = ExitStatus(signal=sig, reason=reason)


def deliver_pending(proc) -> bool:
    """Act on the pending signals that are not blocked; True if a handler frame was pushed."""
    pushed = False
    still = []
    for s in proc.signals.pending:
        if proc.signals.blocked & (1 << (s - 1)):
            still.append(s)
        elif proc.exit is None:
            pushed |= send_signal(proc, s)
    proc.signals.pending[:] = still          # the dispatcher holds this list
    return pushed and proc.exit is None
