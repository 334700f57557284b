"""kernel/sched: the run queue, time slices, sleeping and waking, and waiting on the host.

Each CPU (kernel.smp) runs one task at a time, in a loop of its own. `schedule` is the kernel's main
loop: pick the next runnable task (round robin), switch to it (its address
space and registers), finish the system call it slept in if it has one, deliver
its pending signals, and let Unicorn run it until it blocks, exits, faults or
its time slice ends. A system call that must wait raises `Sleep` naming what
it waits for (wait queues, a deadline, host descriptors); the task leaves the
run queue, and the call is made again from the start when the task is woken,
with `task.restart` keeping whatever must survive the retry (the kernel's
restart_block). When no task can run, elfkit waits on the host, in select(),
for the descriptors and the earliest deadline the sleepers wait for, without
spinning.

Preemption comes from a small host thread (`Ticker`): it stops the CPU when
the running task's slice ends, and when the host delivers a signal to elfkit
(Ctrl-C on the terminal), so the main loop can pass it to the guests.
"""
from __future__ import annotations

import os
import select
import signal
import threading
import time

from elfkit.errors import ElfkitError
from elfkit.kernel.cpu import USER_RFLAGS, CpuError
from elfkit.kernel.exit import do_exit
from elfkit.kernel.rseq import rseq_resume
from elfkit.kernel.signals import deliver_pending, deliverable_signals, fault_signal
from elfkit.kernel.syscalls.numbers import NR
from elfkit.kernel.task import TASK_RUNNING, ExitStatus

SLICE_S = 0.02                  # a time slice when another task wants the CPU
TICK_S = 0.005                  # how often the ticker looks


class HostSignal(Exception):
    """A host signal arrived while elfkit waited in select()."""


class Ticker(threading.Thread):
    """Stops a CPU at the end of its task's time slice, and the boot CPU when the host
    signals elfkit."""

    def __init__(self, machine, wakeup_fd: int, kick=None, timers=None):
        super().__init__(name="elfkit-ticker", daemon=True)
        self.machine = machine
        self.wakeup_fd = wakeup_fd
        self.kick = kick                         # wakes the boot CPU's wait on the host
        self.timers = timers                     # the guests' timers (kernel.time.hrtimer)
        self.signalled = False
        self.quit = False
        self.vsyscall = None                     # the [vvar] clock data (kernel.time.vsyscall)
        self.bkl = None

    def run(self):
        while not self.quit:
            try:
                ready, _, _ = select.select([self.wakeup_fd], [], [], TICK_S)
            except (OSError, ValueError):
                return
            if ready:
                try:
                    os.read(self.wakeup_fd, 64)
                except OSError:
                    pass
                self.signalled = True
                boot = self.machine.cpus[0]
                if boot.running:
                    boot.stop()
                elif self.kick is not None:
                    self.kick()
                continue
            now = time.monotonic()
            due = self.timers is not None and self.timers.next is not None and \
                now >= self.timers.next
            for cpu in list(self.machine.cpus):
                end = cpu.slice_end
                if cpu.running and (due or end is not None and now >= end):
                    cpu.slice_end = None
                    cpu.stop()                   # (a due timer fires in the CPU's loop)
                elif cpu.running and cpu.blocks_to_patch(now):
                    cpu.stop()                   # its new blocks get the inline exit check
            if due and not self.machine.cpus[0].running and self.kick is not None:
                self.kick()
            # the vDSO's clocks follow the host's every tick (the kernel's timekeeping tick):
            # a guest that reads time() in a loop without system calls sees it move; a CPU in
            # the kernel now does it itself before running guest code again
            if self.vsyscall is not None and self.bkl.acquire(blocking=False):
                try:
                    self.vsyscall.update()
                finally:
                    self.bkl.release()


def expired(deadline: float | None) -> bool:
    """The --timeout deadline (time.monotonic()) has come, within Unicorn's 1 ms granularity."""
    return deadline is not None and time.monotonic() >= deadline - 0.001


class Schedule:
    """What every CPU's loop shares: the limits and how far they have got. `executed`: the
    guest instructions retired so far (counted only with --max-insns; see Cpu.insns_run),
    in the scheduler's runs and in guest code elfkit calls itself (Task.call_guest)."""

    def __init__(self, limits):
        self.limits = limits
        self.deadline = time.monotonic() + limits.timeout_s if limits.timeout_s else None
        self.executed = 0

    def insns_left(self) -> int:
        """The count for the next Cpu.run: what --max-insns leaves (0: no limit)."""
        return max(self.limits.max_insns - self.executed, 0) if self.limits.max_insns else 0

    def insns_spent(self) -> bool:
        return bool(self.limits.max_insns) and self.executed >= self.limits.max_insns

    def max_insns_status(self) -> ExitStatus:
        return ExitStatus(signal=9, limit="max-insns",
                          reason=f"stopped after {self.limits.max_insns} instructions")


class LimitUnavailable(ElfkitError):
    """A limit this Unicorn build cannot hold (the CLI: one line, exit status 2)."""


def apply_limits(kernel, limits) -> Schedule:
    """--timeout and --max-insns hold from now: before the first program's initialisers,
    which elfkit's linker runs at spawn (exec.spawn calls this first), or from schedule().
    --max-insns counts one CPU's instructions (the machine gets one) and stops exactly
    (Cpu.set_exact_stops)."""
    cpu = kernel.machine.cpus[0]
    if limits.max_insns and cpu.insns_run() is None:
        raise LimitUnavailable("--max-insns", "this Unicorn build hides its instruction counter "
                               "(see `python -m elfkit.kernel.cpu --check-fast-paths`)")
    cpu.set_exact_stops(bool(limits.max_insns))
    if limits.max_insns:
        kernel.machine.max_cpus = 1
    _resource_limits(kernel, limits)
    kernel.schedule_state = Schedule(limits)
    return kernel.schedule_state


def _resource_limits(kernel, limits):
    """--max-fds and --max-output on the first guest's descriptor table and on the stdout and
    stderr it got from elfkit (copied to every table forked from it; --max-procs is checked
    by copy_process): past either, every guest ends (Kernel.limit_exceeded)."""
    from elfkit.kernel.fs.files import HostFile, OutputBudget
    first = getattr(kernel, "first", None)
    if first is None:
        return
    if limits.max_fds is not None:
        def too_many_files(table, n=limits.max_fds):
            who = kernel.current.tgid if kernel.current is not None else first.pid
            kernel.limit_exceeded(ExitStatus(
                signal=9, limit="max-fds",
                reason=f"stopped: more than {n} open files in process {who} (--max-fds)"))
        first.files.max_open, first.files.on_limit = limits.max_fds, too_many_files
    if limits.max_output is not None:
        n = limits.max_output
        budget = OutputBudget(n, lambda: kernel.limit_exceeded(ExitStatus(
            signal=9, limit="max-output",
            reason=f"stopped: more than {n} bytes of output (--max-output)")))
        for fd in (1, 2):
            f = first.files.get(fd)
            if isinstance(f, HostFile) and f.output is None:
                f.output = budget


def schedule(kernel, limits) -> None:
    """Run every guest task until none is left (or a limit ends them all). The calling thread
    drives the boot CPU; more CPUs come up when more tasks want to run (Kernel.enqueue), up
    to the machine's max_cpus (one with --max-insns, which counts one CPU's instructions)."""
    cpu = kernel.machine.cpus[0]
    kernel.machine.bind(cpu)
    state = getattr(kernel, "schedule_state", None)
    if state is None or state.limits != limits:    # (not already applied at spawn)
        apply_limits(kernel, limits)
    with kernel.bkl:
        kernel.running = True
        try:
            cpu_loop(kernel, cpu, primary=True)
        finally:
            kernel.running = False
            kernel.halt = True
            kernel.idle_cond.notify_all()
            threads = list(kernel.cpu_threads)
            for t in threads:
                _release_all(kernel.bkl, t.join)
    if kernel.cpu_error is not None:
        raise kernel.cpu_error


def secondary_cpu(kernel):
    """A secondary CPU's thread: bring the CPU up, then run tasks until none is left."""
    try:
        with kernel.bkl:
            cpu = kernel.machine.add_cpu()
            kernel.machine.bind(cpu)
            kernel._install_hooks(cpu)
            cpu_loop(kernel, cpu, primary=False)
    except BaseException as e:          # noqa: BLE001 - a bug in elfkit: the boot CPU raises it
        kernel.cpu_error = e
        kernel.halt = True
    finally:
        kernel.kick()                   # the boot CPU may wait on the host for what ended here


def _release_all(lock, wait):
    """Call wait() with the big kernel lock released (it is held once here)."""
    lock.release()
    try:
        wait()
    finally:
        lock.acquire()


def cpu_loop(kernel, cpu, primary: bool):
    """One CPU's scheduler loop (the BKL held, except while guest code runs or the CPU idles).
    The boot CPU (`primary`, elfkit's main thread) also passes host signals on, stops elfkit
    like a stopped guest and waits on the host for what sleepers wait on."""
    state = kernel.schedule_state
    limits, deadline = state.limits, state.deadline
    while kernel.live_tasks() and not (kernel.halt and not primary) and kernel.cpu_error is None:
        if expired(deadline):
            kernel.stop_everything(ExitStatus(signal=9, limit="timeout",
                                              reason=f"stopped after the {limits.timeout_s:g} s timeout"))
            if not primary:
                break
            if not kernel.live_tasks():
                break
        if state.insns_spent():
            kernel.stop_everything(state.max_insns_status())
            break
        if kernel.pending_limit is not None:       # --max-procs, --max-fds, --max-output
            status, kernel.pending_limit = kernel.pending_limit, None
            kernel.stop_everything(status)
            if not primary or not kernel.live_tasks():
                break
        if primary:
            kernel.forward_host_signals()
            if kernel.first_stop is not None:
                kernel.stop_like_the_guest()
        kernel.wake_timers()
        if primary:
            poll_host(kernel)
        if primary and kernel.gdb is not None and kernel.gdb.idle_point():
            continue                               # (--gdb: a stop that belongs to no task's run)
        task = kernel.pick_next(cpu)
        if task is not None and kernel.gdb is not None and kernel.gdb.holds(task):
            continue
        if task is None:
            if primary:
                wait_on_host(kernel, deadline)
            else:
                idle(kernel, cpu, deadline)
            continue
        ran = run_task(kernel, task, limits, deadline)   # (it may count guest calls itself)
        state.executed += ran


def idle(kernel, cpu, deadline):
    """A secondary CPU with nothing to run waits until a task is queued (Kernel.enqueue) or a
    sleeper's deadline comes (the boot CPU may be busy running guest code)."""
    wake_at = _earlier(deadline, kernel.timers.next)
    for t in kernel.sleepers():
        s = t.blocked_call[4] if t.blocked_call else None
        if s is not None and s.deadline is not None and (wake_at is None or s.deadline < wake_at):
            wake_at = s.deadline
    timeout = None if wake_at is None else max(0.0005, wake_at - time.monotonic())
    cpu.idle = True
    try:
        kernel.idle_cond.wait(timeout)
    finally:
        cpu.idle = False


def _earlier(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def run_task(kernel, task, limits, deadline) -> int:
    """Switch to `task` on this thread's CPU and run it until it sleeps, exits, faults or is
    preempted."""
    cpu = kernel.cpu
    task.on_cpu = cpu
    mm = task.mm
    if mm is not None:
        mm.on_cpu = cpu
    try:
        return _run_task(kernel, cpu, task, limits, deadline)
    finally:
        task.on_cpu = None
        task.last_cpu = cpu
        other = cpu.current
        if other is not None and other is not task:
            other.on_cpu = None
            other.last_cpu = cpu
        if mm is not None and mm.on_cpu is cpu:
            mm.on_cpu = None
            if kernel.runqueue:
                kernel.mm_released(mm, cpu)


def _run_task(kernel, cpu, task, limits, deadline) -> int:
    kernel.switch_to(task)
    settle_rip(task)
    if task.exit is not None:                      # SIGKILL while it slept: no retry
        do_exit(task, task.exit)
        return 0
    if task.blocked_call is not None and not kernel.finish_blocked_call(task):
        return 0                                   # still asleep
    settle_rip(task)
    if task.exec_attach is not None and task.exit is None:
        image, task.exec_attach = task.exec_attach, None
        kernel.exec_linker.attach(task, image)
    if task.rseq_area is not None:
        rseq_resume(task, cpu)
    if task.exit is None and (task.signals.pending or task.group.pending):
        if kernel.gdb is not None:                 # --gdb: gdb sees each signal first
            kernel.gdb.signals_due(task)
        deliver_pending(task)
    if task.exit is not None:
        do_exit(task, task.exit)
        return 0
    if task.state != TASK_RUNNING or task.blocked_call is not None:
        return 0                                   # stopped by a signal just delivered
    if kernel.schedule_state.insns_spent():        # by the initialisers the linker ran
        kernel.enqueue(task, preempted=True)
        return 0
    settle_rip(task)
    step = 0
    if kernel.gdb is not None:                     # --gdb: a stop gdb is to see (elfkit.gdb.stub)
        step = kernel.gdb.before_run(task)
        if step < 0:
            return 0                               # gdb keeps it stopped (it parked it)
        if task.exit is not None or task.state != TASK_RUNNING or task.blocked_call is not None:
            if task.exit is not None:
                do_exit(task, task.exit)
            return 0
    kernel.vsyscall.update()                       # the vDSO's clock data, as of now
    pc = cpu.pc()
    left_s = deadline - time.monotonic() if deadline is not None else None
    left_insns = step or kernel.schedule_state.insns_left()
    cpu.slice_end = time.monotonic() + SLICE_S if kernel.others_waiting(task) else None
    error = None
    cpu.running = True
    lock = kernel.bkl
    task.run_since = time.monotonic()             # (its CPU time, read while it runs)
    lock.release()                                 # guest code runs without the kernel lock
    began = time.monotonic()
    try:
        cpu.run(pc, int(left_s * 1e6) if left_s is not None and left_s > 0 else 0, left_insns)
    except CpuError as e:
        error = e
    finally:
        cpu.ran_until = time.monotonic()
        ran_s = cpu.ran_until - began
        cpu.guest_s += ran_s
        cpu.running = False
        lock.acquire()
        cur = cpu.current
        if cur is not None and cur is not task:
            task = cur
        if task.run_since is not None:
            task.cputime += time.monotonic() - task.run_since
        task.run_since = None
    ran = (cpu.insns_run() or 0) if limits.max_insns else 0
    settle_rip(task)
    if kernel.gdb is not None and kernel.gdb.after_run(task, error):
        error = None                               # gdb said: no signal for this fault
        cpu.interrupt = None
    if task.trap_failed():
        pass
    elif error is not None:
        if not kernel.phantom_fault(task):
            fault_signal(task, error)
    elif task.exit is None and task.restart_at is None and task.state == TASK_RUNNING \
            and not cpu.retry and cpu.interrupt is not None:
        fault_signal(task, None)
    if task.exit is not None:
        do_exit(task, task.exit)
    elif task.state == TASK_RUNNING and task.blocked_call is None:
        kernel.enqueue(task, preempted=True)       # preempted, or stopped by a handler: go on later
    return ran


def switch_thread(kernel, cpu, prev, resume: int) -> bool:
    """The running thread `prev` has just gone to sleep in a system call that returns to
    `resume`. When another thread of the same process is ready -- woken in a system call of
    its own, with no signal to take -- switch to it here in the syscall hook and let the CPU go
    on: the same address space, so only the registers change, and no stopping and restarting of
    the emulator through the scheduler's loop (a futex hand-over between two threads). False
    when no thread qualifies: the caller stops the CPU as usual.

    How it must be done in Unicorn (docs/ARCHITECTURE.md): registers change only by restoring
    a context (no register write through uc_reg_write, which makes Unicorn leave its translation
    loop and lose the change); Unicorn adds the syscall's 2 bytes to %rip after the hook, so the
    restored %rip is 2 short of where the thread returns; prev's context, saved in the hook,
    gets its return address written in, as a context saved after a stop has it."""
    state = kernel.schedule_state
    if kernel.strace is not None or kernel.tracer is not None or state is None or \
            state.limits.max_insns or kernel.first_stop is not None or kernel.gdb is not None:
        return False                             # (--gdb: every run goes through gdb's stops)
    mm = prev.mm
    mask = 1 << cpu.index
    for t in kernel.runqueue:
        if t.mm is mm and t.on_cpu is None and t.ctx is not None and t.state == TASK_RUNNING and \
                t.exit is None and (t.blocked_call is not None or _fresh_thread(t)) and \
                t.exec_attach is None and t.restart_at is None and t.cpus_allowed & mask and \
                not ((t.signals.pending or t.group.pending) and deliverable_signals(t)):
            break
    else:
        return False
    last = t.last_cpu
    if last is not cpu and last is not None:     # (else no other CPU can hold its registers)
        for c in kernel.machine.cpus:
            if c.current is t:
                return False                     # its registers are still on another CPU
    kernel.runqueue.remove(t)
    now = time.monotonic()
    if prev.run_since is not None:
        prev.cputime += now - prev.run_since
        prev.run_since = None
    prev.ctx = prev.ctx_buffer = cpu.save_in_hook(prev.ctx_buffer, resume)
    prev.on_cpu = None
    prev.last_cpu = cpu
    call = t.blocked_call
    ctx = t.ctx
    t.ctx = None
    cpu.current = t
    t.on_cpu = cpu
    t.run_since = now
    if call is None:
        # a thread clone made, never run: it returns 0 from the clone (copy_thread's registers,
        # its own stack and TLS), from the syscall's address since Unicorn adds the 2 bytes
        regs, t.initial_regs = t.initial_regs, None
        more = {k: v for k, v in regs.items() if k in ("rsp", "fs_base")}
        cpu.context_set(ctx, regs["rip"] - 2, regs["rax"], regs["rcx"], regs["r11"], **more)
        cpu.restore_in_hook(ctx)
        done = True
    elif call[4].wchan == "futex_wait_queue" and t.restart.get("futex_woken") and t.strace is None:
        # the common hand-over: a futex wait (futex's WAIT and WAIT_BITSET, futex2's
        # futex_wait: kernel.futex.futex_wait) that was woken returns 0 -- what retry_call would
        # find by making it again -- written into its context as the context is loaded
        t.blocked_call = None
        t.restart = {}
        rip = call[2]
        cpu.resume_in_hook(ctx, rip, 0, rip + 2, call[3] | USER_RFLAGS)   # Unicorn adds the 2 bytes
        if t.rseq_area is None or t.rseq_cpu == cpu.index:    # (the rest, as below, is known
            if t.signals.pending or t.group.pending:           # of it here: no rseq work)
                cpu.stop()                       # blocked signals: the scheduler's loop sees them
            return True
        done = True
    else:
        cpu.context_set(ctx, call[2])            # its syscall: Unicorn adds the 2 bytes
        cpu.restore_in_hook(ctx)
        done = kernel.finish_blocked_call(t)     # its result in %rax (rcx, r11 as sysret)
    if t.rseq_area is not None and t.rseq_cpu != cpu.index:
        rseq_resume(t, cpu)
    if not done or t.exit is not None or t.restart_at is not None or t.state != TASK_RUNNING or \
            t.signals.pending or t.group.pending:
        cpu.stop()                               # the scheduler's loop sees to the rest
    return True


def _fresh_thread(t) -> bool:
    """A thread made by clone that has not run yet, whose first registers switch_thread can
    write into its context (copy_thread's: the return, its stack and TLS)."""
    regs = t.initial_regs
    return regs is not None and t.last_cpu is None and t.rseq_area is None and \
        regs.keys() <= {"rax", "rip", "rcx", "r11", "rsp", "fs_base"}


def settle_rip(task):
    """A handler that moved %rip inside a hook (sigreturn, a signal frame, execve) left it in
    restart_at, since Unicorn moves %rip on after the hook: put it in the register now, so
    the saved context and the next signal frame see where the task really resumes."""
    if task.restart_at is not None and task.mm is not None:
        task.cpu.set_reg("rip", task.restart_at)
        task.restart_at = None


def poll_host(kernel):
    """Some task can run: still look (without waiting) whether a host descriptor a sleeper
    waits on is ready, so a task reading the terminal is not starved by a busy one."""
    if any(t.blocked_call[4].read_fds or t.blocked_call[4].write_fds
           for t in kernel.sleepers() if t.blocked_call):
        wait_on_host(kernel, None, block=False)


def wait_on_host(kernel, deadline: float | None, block: bool = True):
    """Every task sleeps: wait in select() for what they wait on (host descriptors, deadlines,
    a host signal), then wake the tasks whose wait is over. block=False: only look."""
    read_fds, write_fds, wake_at = set(), set(), _earlier(deadline, kernel.timers.next)
    for t in kernel.sleepers():
        s = t.blocked_call[4] if t.blocked_call else None
        if s is None:
            continue
        read_fds.update(s.read_fds)
        write_fds.update(s.write_fds)
        if s.deadline is not None and (wake_at is None or s.deadline < wake_at):
            wake_at = s.deadline
    # (nothing to wait for at all: every task waits on another forever, and so does elfkit,
    # until a host signal or --timeout, as the same programs would natively)
    timeout = None if wake_at is None else max(0.0, wake_at - time.monotonic())
    if not block:
        timeout = 0
    elif expired(deadline):
        timeout = 0.001                  # the other CPUs are ending their tasks: do not spin
    kick = kernel.kick_r
    r, w = [], []
    lock = kernel.bkl
    cpu = kernel.machine.cpus[0]
    cpu.idle = block
    # From here until the lock is taken again, a task another CPU wakes (Kernel.enqueue) or puts
    # to sleep on a host descriptor or a deadline (Kernel.sleep) is not in the set collected
    # above: that CPU writes the kick pipe, so select() returns and the set is made again.
    kernel.host_wait_set = block
    lock.release()                       # the other CPUs go on meanwhile
    failed = None
    try:
        try:
            # From here a host signal's Python handler raises HostSignal (install_host_signals);
            # one that came before is in host_signals or seen by the ticker, which also writes
            # the kick pipe (the C-level handler may have run in another thread, and then
            # select() is not interrupted).
            kernel.in_host_wait = block
            if not (kernel.ticker.signalled or kernel.host_signals):
                r, w, _ = select.select(sorted(read_fds) + [kick], sorted(write_fds), [], timeout)
        finally:
            kernel.in_host_wait = False
    except HostSignal:
        kernel.in_host_wait = False
    except OSError as e:                 # (EINTR is retried by Python itself)
        failed = e
    lock.acquire()
    cpu.idle = False
    kernel.host_wait_set = False
    if failed is not None:
        raise failed
    if kick in r:
        try:
            os.read(kick, 4096)
        except OSError:
            pass
        r = [fd for fd in r if fd != kick]
    ready = set(r) | set(w)
    now = time.monotonic()
    for t in list(kernel.sleepers()):
        s = t.blocked_call[4] if t.blocked_call else None
        if s is None:
            continue
        if ready & (set(s.read_fds) | set(s.write_fds)) or (s.deadline is not None and now >= s.deadline):
            kernel.wake(t)


def install_host_signals(kernel):
    """Host signals elfkit passes on to the guests' foreground process group."""
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)

    def handler(signum, _frame):
        kernel.host_signals.append(signum)
        if kernel.in_host_wait:
            raise HostSignal()
    for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP,
              signal.SIGWINCH, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT):
        try:
            signal.signal(s, handler)
        except (OSError, ValueError):
            pass
    return r


__all__ = ["schedule", "secondary_cpu", "install_host_signals", "Ticker"]
