"""kernel/signal.c: sending signals between tasks, default actions, delivery to a guest handler
(x86-64 rt_sigframe), rt_sigreturn, and faults.

A signal sent to a task (`send_sig`) is queued on it, after the checks the
kernel makes when generating it: an ignored signal is dropped, SIGKILL kills
at once, SIGCONT continues a stopped task and cancels pending stops, a stop
signal cancels a pending SIGCONT. A sleeping task that does not block the
signal is woken, and its system call returns EINTR (or restarts, with
SA_RESTART). Queued signals are acted on when the task next returns to user
mode (`deliver_pending`): the default action (terminate, dump core, stop,
continue, ignore) or a handler frame.

Delivery follows arch/x86/kernel/signal.c: the frame (return address =
sa_restorer, ucontext with the interrupted registers, siginfo) is pushed
below the stack pointer (or on the sigaltstack with SA_ONSTACK), %rsp is
left 8 bytes off 16-byte alignment as after a call, and the handler gets
(sig, &info, &uc). The x87/SSE state is kept by elfkit beside the frame
rather than written into it.
"""
from __future__ import annotations

import struct

from elfkit.kernel.faults import describe_fault, memory_access
from elfkit.kernel.rseq import rseq_abort_cs
from elfkit.kernel.task import (TASK_DEAD, TASK_RUNNING, TASK_SLEEPING, TASK_STOPPED, TASK_ZOMBIE,
                                ExitStatus, signal_name)

SIG_DFL, SIG_IGN = 0, 1
SA_SIGINFO, SA_ONSTACK, SA_RESTART, SA_NODEFER, SA_RESETHAND, SA_RESTORER = \
    0x4, 0x08000000, 0x10000000, 0x40000000, 0x80000000, 0x04000000
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL = 1, 2, 3, 4, 5, 6, 7, 8, 9
SIGSEGV, SIGPIPE, SIGALRM, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP = 11, 13, 14, 17, 18, 19, 20
IGNORED_BY_DEFAULT = {17, 18, 23, 28}          # SIGCHLD, SIGCONT, SIGURG, SIGWINCH
STOP_BY_DEFAULT = {19, 20, 21, 22}
CORE_BY_DEFAULT = {3, 4, 5, 6, 7, 8, 11, 24, 25, 31}
SI_USER, SI_KERNEL, SI_QUEUE, SI_TIMER, SI_SIGIO, SI_TKILL = 0, 0x80, -1, -2, -5, -6
RLIMIT_CORE = 4

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


def _bit(sig: int) -> int:
    return 1 << (sig - 1)


def _action(task, sig):
    return task.signals.actions.get(sig, (SIG_DFL, 0, 0, 0))


def _ignored(task, sig) -> bool:
    """sig_ignored: dropped when generated (unless blocked, or waited for by rt_sigtimedwait:
    it may be unignored later, or taken by the wait)."""
    if sig in (SIGKILL, SIGSTOP) or (task.signals.blocked | task.signals.real_blocked) & _bit(sig):
        return False
    handler = _action(task, sig)[0]
    return handler == SIG_IGN or handler == SIG_DFL and sig in IGNORED_BY_DEFAULT


# --- siginfo -------------------------------------------------------------------------------------

class SigInfo:
    """One queued instance's siginfo_t (struct kernel_siginfo): si_code, then the union -- pid
    and uid (kill, sigqueue, SIGCHLD), or timer id and overrun (SI_TIMER) -- and si_status
    (SIGCHLD) or si_value (SI_QUEUE, SI_TIMER, SI_MESGQ). `raw`: the siginfo a process gave
    rt_sigqueueinfo or pidfd_send_signal, passed on as it is. `timer`: the POSIX timer whose signal this is (its
    overrun is counted until the signal is taken, posixtimer_rearm)."""
    __slots__ = ("code", "pid", "uid", "status", "value", "raw", "timer", "private")

    def __init__(self, code: int = SI_USER, pid: int = 0, uid: int = 0, status: int = 0,
                 value: int | None = None, raw: bytes | None = None, timer=None,
                 private: bool = False):
        self.code, self.pid, self.uid, self.status = code, pid, uid, status
        self.value, self.raw, self.timer = value, raw, timer
        self.private = private          # sent to the thread (tgkill), not the process: taken first

    def pack(self, sig: int) -> bytes:
        if self.raw is not None:
            return struct.pack("<i", sig) + self.raw[4:128]
        head = struct.pack("<iiiiiI", sig, 0, self.code, 0, self.pid, self.uid & 0xFFFFFFFF)
        tail = struct.pack("<Q", self.value & 0xFFFFFFFFFFFFFFFF) if self.value is not None \
            else struct.pack("<ii", self.status, 0)
        return head + tail + bytes(96)


def _queue_info(queue: dict, sig: int, info: SigInfo):
    """A real-time signal queues every instance with its own siginfo; a standard one is
    pending once, with the first sender's. `queue`: a task's or its thread group's."""
    if sig >= 32:
        queue.setdefault(sig, []).append(info)
    else:
        queue[sig] = [info]


def take_info(task, sig: int, private: bool = False) -> SigInfo:
    """The siginfo of the instance of `sig` being taken now (collect_signal); private: the
    first one sent to the thread itself."""
    queue = task.siginfo.get(sig)
    at = next((i for i, info in enumerate(queue) if info.private), 0) if private and queue else 0
    info = queue.pop(at) if queue else SigInfo(SI_KERNEL if sig == SIGKILL else SI_USER)
    if queue is not None and not queue:
        del task.siginfo[sig]
    if info.timer is not None:
        info.pid, info.uid = info.timer.taken()      # timer id, and the overruns until now
    elif sig == SIGALRM and task.timers is not None and 0 in task.timers.itimers:
        task.timers.itimers[0].dequeued()            # a periodic ITIMER_REAL goes on
    return info


def take_shared(task, mask: int):
    """Signals sent to the process (the group's shared queue) among `mask` become this
    thread's to take: the thread that dequeues a process-directed signal is the one that
    handles it. Each moves with its siginfo, still marked as sent to the process."""
    group = task.group
    if not group.pending:
        return
    for s in [s for s in group.pending if mask & _bit(s)]:
        group.pending.remove(s)
        infos = group.siginfo.pop(s, [])
        if s in task.signals.pending:               # (a standard signal pending in both: one)
            if s >= 32:
                task.siginfo.setdefault(s, []).extend(infos)
            continue
        task.signals.pending.append(s)
        if infos:
            task.siginfo.setdefault(s, []).extend(infos)


def pending_mask(task) -> int:
    """The signals pending for the thread: its own and its process's (sigpending)."""
    bits = 0
    for s in task.signals.pending:
        bits |= _bit(s)
    for s in task.group.pending:
        bits |= _bit(s)
    return bits


def dequeue_signal(task, mask: int) -> tuple[int, SigInfo] | None:
    """dequeue_signal: the pending signal among `mask` to take now -- those sent to the
    thread before those sent to the process, and in each standard signals first, lowest first
    (next_signal) -- removed with its siginfo; None if none is pending."""
    pending = task.signals.pending
    if not any(mask & _bit(s) for s in pending):
        take_shared(task, mask)
    wanted = [s for s in pending if mask & _bit(s)]
    if not wanted:
        return None
    private = [s for s in wanted if any(i.private for i in task.siginfo.get(s, ()))]
    pool = private or wanted
    standard = [s for s in pool if s < 32]
    sig = min(standard) if standard else min(pool)
    pending.remove(sig)
    return sig, take_info(task, sig, private=bool(private))


# --- generating ---------------------------------------------------------------------------------

def send_sig(target, sig: int, sender=None, code: int = SI_USER, status: int = 0,
             info: SigInfo | None = None) -> bool:
    """Queue `sig` for `target` (send_signal / complete_signal). False if the target is gone.
    `info`: the siginfo when it is not the sender's (a timer's, sigqueue's). A signal sent to
    the thread (tgkill: SI_TKILL, or info.private) waits on that thread; one sent to the
    process waits on the process (the group's shared queue) and wakes one thread that does not
    block it -- the target itself if it can take it."""
    group = target.group
    if target is target.kernel.init or getattr(target, "kthread", False):
        return True                            # init and kernel threads ignore every signal
    if target.state in (TASK_ZOMBIE, TASK_DEAD):
        live = group.live_threads()
        if not live or group.leader is not target:
            return False
        target = live[0]                         # a leader that ended while its threads go on
    if sig == 0:
        return True
    if sig == SIGKILL:
        _kill_now(target, ExitStatus(signal=SIGKILL, reason="killed by SIGKILL"))
        return True
    threads = group.live_threads()
    if sig in STOP_BY_DEFAULT:
        for t in threads:
            if SIGCONT in t.signals.pending:
                t.signals.pending.remove(SIGCONT)
        if SIGCONT in group.pending:
            group.pending.remove(SIGCONT)
    if sig == SIGCONT:
        for t in threads:
            t.signals.pending[:] = [s for s in t.signals.pending if s not in STOP_BY_DEFAULT]
        group.pending[:] = [s for s in group.pending if s not in STOP_BY_DEFAULT]
        if target.state == TASK_STOPPED or any(t.state == TASK_STOPPED for t in threads):
            continue_task(target)
    if _ignored(target, sig):
        return True
    private = code == SI_TKILL or info is not None and info.private
    shared = not private and len(threads) > 1
    pending = group.pending if shared else target.signals.pending
    if sig < 32 and sig in pending:
        return True                            # standard signals do not queue twice
    pending.append(sig)
    if info is None:
        info = SigInfo(code, sender.tgid if sender is not None else 0,
                       sender.creds.uid if sender is not None else 0, status,
                       private=code == SI_TKILL)
    _queue_info(group.siginfo if shared else target.siginfo, sig, info)
    taker = _wants_signal(target, threads, sig) if shared else \
        (None if target.signals.blocked & _bit(sig) else target)
    if taker is not None:
        signal_wake_up(taker)
    else:
        target.kernel.poll_wait.wake_all()     # signalfd readers and pollers (signalfd_notify)
    if taker is not None and taker.on_cpu is not None and taker.on_cpu is not target.kernel.cpu:
        taker.on_cpu.stop()                    # running on another CPU: it takes it on the way
    return True


def _wants_signal(target, threads, sig: int):
    """complete_signal: the thread to take a signal sent to the process -- the one it was sent
    to if it does not block it, else any other that does not (one already running first, as
    it will see it soonest); None when every thread blocks it."""
    bit = _bit(sig)
    if not target.signals.blocked & bit:
        return target
    ok = [t for t in threads if not t.signals.blocked & bit]
    running = [t for t in ok if t.state == TASK_RUNNING]
    return (running or ok or [None])[0]


def _kill_now(target, status: ExitStatus):
    """SIGKILL, or a fatal signal: every thread of the process dies on its next turn."""
    group = target.group
    if group.group_exit is None:
        group.group_exit = status
    for t in group.live_threads() or [target]:
        kill_thread(t, status)


def kill_thread(t, status: ExitStatus):
    """One thread is to end: woken if it sleeps or is stopped, stopped if it runs."""
    if t.exit is None:
        t.exit = status
    if t.state == TASK_STOPPED:
        t.state = TASK_SLEEPING
    if t.state == TASK_SLEEPING:
        t.kernel.wake(t)
    elif t.on_cpu is None:
        t.kernel.enqueue(t)
    if t.on_cpu is not None:                   # running, here or on another CPU
        t.on_cpu.stop()


def signal_wake_up(target):
    """A sleeping task wakes to take the signal; the running one stops to take it now."""
    if target.state == TASK_SLEEPING and (target.blocked_call is None or
                                          target.blocked_call[4].interruptible):
        target.kernel.wake(target)
    # (the running task takes it on its way back from the system call that sent it)


def kill_pgrp(kernel, pgid: int, sig: int, sender) -> bool:
    """Every task of the group; False when the group is empty."""
    found = False
    for t in list(kernel.processes()):
        if t.pgid == pgid and t.group.live_threads():
            found = True
            send_sig(t, sig, sender)
    return found


def send_sigchld(child, code: int, status: int | None = None):
    """do_notify_parent: the exit signal (or SIGCHLD for stop/continue) to the parent."""
    parent = child.parent
    if parent is None or parent is child.kernel.init:
        return
    st = child.exit_status
    if status is None:
        status = (st.code if st.code is not None else st.signal) if st else 0
    sig = child.exit_signal or SIGCHLD
    send_sig(parent, sig, child, code=code, status=status)
    for queue in (parent.siginfo, parent.group.siginfo):
        if queue.get(sig):
            queue[sig][-1] = SigInfo(code, child.pid, child.creds.uid, status)


# --- acting on a signal, in the task that takes it -----------------------------------------------

def send_signal(proc, sig: int, reason: str = "", code: int = 0, addr: int = 0,
                info: SigInfo | None = None) -> bool:
    """Act on `sig` for the running task now: ignore it, kill or stop it, or push a handler
    frame. Returns True when the CPU's registers changed (the caller restarts emulation).
    `info`: the queued instance's siginfo (none for a fault: `code` and `addr` say it)."""
    handler, flags, restorer, mask = _action(proc, sig)
    if sig in (SIGKILL, SIGSTOP):
        handler = SIG_DFL
    if handler == SIG_IGN:
        return False
    if proc.strace is not None:
        if info is not None and not reason and not addr:
            proc.strace.signal(proc, sig, code=info.code, addr=0, pid=info.pid, uid=info.uid)
        else:
            proc.strace.signal(proc, sig, code=code, addr=addr)
    if handler == SIG_DFL:
        if sig in IGNORED_BY_DEFAULT:
            return False
        if sig in STOP_BY_DEFAULT:
            stop_task(proc, sig)
            proc.cpu.stop()
            return False
        core = sig in CORE_BY_DEFAULT and _core_limit(proc) > 0
        proc.exit = ExitStatus(signal=sig, reason=reason or f"killed by {signal_name(sig)}",
                               core=core)
        if not reason and proc.kernel.backtraces and proc.kernel.cpu.current is proc:
            from elfkit.debug.unwind import task_backtrace     # --backtrace: abort() and such
            proc.exit.backtrace = tuple(task_backtrace(proc))
        proc.cpu.stop()
        return False
    if proc.signals.blocked & _bit(sig) and not reason:
        proc.signals.pending.append(sig)
        if info is not None:
            proc.siginfo.setdefault(sig, []).insert(0, info)
        return False
    _push_frame(proc, sig, handler, flags, restorer, mask, code, addr, info)
    if flags & SA_RESETHAND:
        proc.signals.actions[sig] = (SIG_DFL, 0, 0, 0)
    return True


def _core_limit(task) -> int:
    return task.rlimit(RLIMIT_CORE)[0]


def _push_frame(proc, sig, handler, flags, restorer, mask, code, addr, sent=None):
    cpu = proc.cpu
    if proc.rseq_area is not None:
        rseq_abort_cs(proc, cpu)                # rseq_signal_deliver: the frame saves abort_ip
    ctx = cpu.save_context()
    sp = ctx["rsp"]
    ss_sp, ss_flags, ss_size = proc.signals.altstack
    if flags & SA_ONSTACK and ss_flags == 0 and not (ss_sp <= sp < ss_sp + ss_size):
        sp = ss_sp + ss_size
    sp -= 128                                   # the red zone
    frame = ((sp - FRAME_SIZE) & ~0xF) - 8      # as if `call handler` had pushed the restorer
    old_mask = proc.signals.saved_mask if proc.signals.saved_mask is not None \
        else proc.signals.blocked
    proc.signals.saved_mask = None
    gprs = struct.pack("<18Q", *[ctx[r] & 0xFFFFFFFFFFFFFFFF for r in GPR_ORDER])
    segs = struct.pack("<4H", 0x33, 0, 0, 0x2B)
    rest = struct.pack("<4Q", 0, 14 if sig == SIGSEGV else 0, old_mask, addr)
    mcontext = gprs + segs + rest + struct.pack("<Q", 0) + bytes(64)
    stack_t = struct.pack("<QiiQ", ss_sp, ss_flags, 0, ss_size)
    uc = struct.pack("<QQ", 0, 0) + stack_t + mcontext + struct.pack("<Q", old_mask)
    if sent is not None and not addr:
        info = sent.pack(sig)
    else:
        info = struct.pack("<iii", sig, 0, code) + bytes(4) + struct.pack("<Q", addr) + bytes(128 - 24)
    proc.mm.write(frame, struct.pack("<Q", restorer) + uc + info)
    proc.sigframes[frame + 8] = cpu.fp_state()
    if not flags & SA_NODEFER:
        mask |= _bit(sig)
    proc.signals.blocked = (old_mask | mask) & ~(_bit(SIGKILL) | _bit(SIGSTOP))
    cpu.set_regs(rsp=frame, rdi=sig, rsi=frame + FRAME_INFO, rdx=frame + FRAME_UC, rax=0,
                 rip=handler)
    proc.restart_at = handler


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
    proc.signals.blocked = struct.unpack("<Q", mask)[0] & ~(_bit(SIGKILL) | _bit(SIGSTOP))
    fp = proc.sigframes.pop(frame_uc, None)
    if fp is not None:
        cpu.set_fp_state(fp)
    return True


def fault_signal(proc, err):
    """The CPU stopped on a fault, an invalid instruction or a trap: signal the guest, as the
    kernel's trap handlers do (arch/x86/kernel/traps.c, arch/x86/mm/fault.c)."""
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
    # force_sig_fault: a blocked or ignored fault signal kills all the same
    handler = _action(proc, sig)[0]
    if proc.signals.blocked & _bit(sig) or handler == SIG_IGN:
        proc.signals.actions[sig] = (SIG_DFL, 0, 0, 0)
        proc.signals.blocked &= ~_bit(sig)
    if send_signal(proc, sig, reason, code=code, addr=addr) and proc.exit is None:
        return
    if proc.exit is None or proc.exit.signal == sig:
        proc.exit = ExitStatus(signal=sig, reason=reason,
                               core=sig in CORE_BY_DEFAULT and _core_limit(proc) > 0)
    if not proc.exit.backtrace:                # the fault kills: how the thread got there
        from elfkit.debug.unwind import task_backtrace
        proc.exit.backtrace = tuple(task_backtrace(proc))


def deliverable_signals(task) -> list[int]:
    """The pending signals that are not blocked, lowest first, after dropping those that are
    now ignored (a signal queued while blocked and ignored once unblocked goes away)."""
    if task.group.pending:
        take_shared(task, ~task.signals.blocked)
    pending = task.signals.pending
    if not pending:
        return []
    blocked = task.signals.blocked
    for s in [s for s in pending if not blocked & _bit(s) and _ignored(task, s)]:
        pending.remove(s)
        take_info(task, s)                     # (a timer's signal: the timer goes on)
    return sorted(s for s in pending if not blocked & _bit(s))


def deliver_pending(proc) -> bool:
    """get_signal on the way back to user mode: act on the pending signals that are not
    blocked; True if a handler frame was pushed."""
    pushed = False
    still = []
    if proc.group.pending:
        take_shared(proc, ~proc.signals.blocked)
    pending = sorted(proc.signals.pending)        # lowest-numbered first, as dequeue_signal
    proc.signals.pending[:] = []
    for s in pending:
        if proc.signals.blocked & _bit(s) or pushed and _action(proc, s)[0] > SIG_IGN:
            still.append(s)
        elif proc.exit is None and proc.state != TASK_STOPPED:
            pushed |= send_signal(proc, s, info=take_info(proc, s))
        else:
            still.append(s)
    proc.signals.pending[:0] = still         # the dispatcher holds this list
    return pushed and proc.exit is None


# --- job control: stop and continue (do_signal_stop) ----------------------------------------------

SA_NOCLDSTOP = 1
CLD_STOPPED, CLD_CONTINUED = 5, 6


def stop_task(task, sig: int):
    """A stop signal's default action (do_signal_stop): every thread of the process stops;
    its parent's wait can see the process stopped."""
    group = task.group
    leader = group.leader
    group.stop_signal = sig
    for t in group.live_threads() or [task]:
        t.state = TASK_STOPPED
        if t.kernel.tracer is not None:
            t.kernel.tracer.state(t)
        if t is not task and t.on_cpu is not None:
            t.on_cpu.stop()
    leader.stop_signal = sig
    leader.stop_reported = False
    leader.cont_reported = True
    if leader is task.kernel.first:
        task.kernel.first_stop = sig         # elfkit stops too, as the guest's job would
    parent = leader.parent
    if parent is not None and parent is not task.kernel.init:
        action = _action(parent, SIGCHLD)
        if not action[1] & SA_NOCLDSTOP:
            send_sigchld(leader, CLD_STOPPED, sig)
        parent.wait_chldexit.wake_all()


def continue_task(task):
    """SIGCONT: a stopped process runs again, every thread (and its parent may hear of it)."""
    group = task.group
    threads = [t for t in group.live_threads() if t.state == TASK_STOPPED]
    if not threads:
        return
    group.stop_signal = 0
    for t in threads:
        t.state = TASK_RUNNING
        if t.blocked_call is not None:
            t.state = "S"
            t.kernel.wake(t)
        else:
            t.kernel.enqueue(t)
        if t.kernel.tracer is not None:
            t.kernel.tracer.state(t)
    leader = group.leader
    leader.cont_reported = False
    leader.stop_reported = True
    parent = leader.parent
    if parent is not None and parent is not task.kernel.init:
        action = _action(parent, SIGCHLD)
        if not action[1] & SA_NOCLDSTOP:
            send_sigchld(leader, CLD_CONTINUED, 18)
        parent.wait_chldexit.wake_all()
