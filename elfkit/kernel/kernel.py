"""The emulated machine's kernel: the CPU, the page cache, the task list and its pid namespace.

Guest processes live in a pid namespace of their own. Its init (pid 1) is
elfkit itself: a task with no memory that never runs guest code, reaps the
orphans it inherits as Linux's init does, and is immune to the guests'
signals. The kernel threads come next (kthreadd is pid 2, elfkit.kernel.kthread):
tasks with no memory that never run guest code. The program elfkit was asked
to run is the first guest process and gets an ordinary pid (FIRST_PID, after
the kernel threads'), so nothing init-specific changes what `kill -9 $$` does
to it. elfkit's run ends when no guest process is left; its exit status is the
first guest's. Guests are the tasks from FIRST_PID on (pids below it are never
given again).

The machine's memory is --memory-limit (default: the host's), filled on
demand; when it runs out, the OOM killer (elfkit.kernel.mm.oom_kill) runs.

What the kernel is told from outside (by the command line): the sysroot and
write policy, --seed, the strace writer, the process tracer, and `exec_linker`,
a callable that takes over dynamic linking of a freshly exec'ed task
(--linker=elfkit, --resolver=elfkit) -- so the kernel never imports the linker.
"""
from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import deque

from elfkit.kernel.ipc import IpcNamespace
from elfkit.kernel.mm.filemap import PageCache
from elfkit.kernel.mm.mmap import VM_FAULT_SIGBUS
from elfkit.kernel.fs.files import FdTable
from elfkit.kernel.sched import SLICE_S, Ticker, install_host_signals, schedule
from elfkit.kernel.smp import Machine
from elfkit.kernel.time.hrtimer import TimerQueue
from elfkit.kernel.signals import deliverable_signals
from elfkit.kernel.wait import WaitQueue
from elfkit.kernel.task import (TASK_DEAD, TASK_RUNNING, TASK_SLEEPING, TASK_ZOMBIE,
                                ExitStatus, FsStruct, SignalState, Task, default_warn)
from elfkit.loader.binfmt import Credentials
from elfkit.loader.sysroot import Sysroot

INIT_PID = 1
FIRST_PID = 4            # the first guest process: after init (1) and the kernel threads (2, 3)
PID_MAX = 4194304


class Kernel:
    def __init__(self, *, root: str = "/", seed: int | None = None, writable=None, strace=None,
                 warn=None, tracer=None, exec_linker=None, host_signals: bool = True,
                 cpus: int = 1, allow_net: bool = False, memory_limit: int | None = None):
        self.machine = Machine(cpus, memory_limit)
        self.bkl = self.machine.bkl
        self.idle_cond = threading.Condition(self.bkl)
        self.running = False                     # schedule() has started
        self.cpu_threads: list[threading.Thread] = []
        self.cpu_error: BaseException | None = None    # a secondary CPU's thread failed (a bug)
        self.halt = False                        # the secondary CPUs are to stop
        self.sysroot = Sysroot(root)
        self.writable = [os.path.realpath(w) for w in (writable or [])]
        self.allow_net = allow_net               # --allow-net: network sockets are the host's
        self.strace = strace
        self.warn = warn or default_warn
        self.tracer = tracer
        self.exec_linker = exec_linker
        self.gdb = None                          # --gdb: the stub (elfkit.gdb.stub.GdbStub)
        self.pending_limit: ExitStatus | None = None   # a --max-* limit passed (limit_exceeded)
        self.ending_all = False                  # stop_everything is ending every guest
        self.backtraces = False                  # --backtrace: for every fatal signal, not faults only
        self.seed = seed
        self.rng = random.Random(seed) if seed is not None else random.SystemRandom()
        self.page_cache = PageCache(self.cpu.phys)
        self.fresh_context = self.cpu.context()
        self.tasks: dict[int, Task] = {}
        self.last_pid = INIT_PID
        self.runqueue: deque[Task] = deque()
        self.first: Task | None = None
        self.first_status: ExitStatus | None = None
        self.first_stop: int | None = None       # the first guest just stopped by this signal
        self.host_signals: list[int] = []
        self.poll_wait = WaitQueue()             # pollers: woken by every pipe change
        self.futexes: dict[tuple, WaitQueue] = {}   # futex key -> its waiters (kernel.futex)
        self.tty_pgrp: int | None = None         # the guests' foreground group (TIOCSPGRP)
        self.ptys: dict = {}                     # pseudo-terminals the guests made (fs/devpts)
        self.ipc = IpcNamespace(self)            # SysV IPC, POSIX mqueues, keyrings (elfkit.kernel.ipc)
        self.in_host_wait = False               # the boot CPU is in select() (host signals)
        self.host_wait_set = False              # ... or about to be, on a set made before
        self.boot_time = time.monotonic()
        self._stat_cache: dict[str, os.stat_result] = {}
        creds = Credentials(os.getuid(), os.geteuid(), os.getgid(), os.getegid())
        self.init = Task(self, INIT_PID, parent=None, fs=FsStruct("/"), files=FdTable(),
                         creds=creds, signals=SignalState(), rng=self.rng, seed=seed)
        self.init.comm, self.init.state, self.init.wchan = "elfkit", TASK_SLEEPING, "do_wait"
        self.tasks[INIT_PID] = self.init
        self.init.wait_chldexit = WaitQueue()
        from elfkit.kernel.kthread import start_kthreads
        from elfkit.kernel.mm.oom_kill import out_of_memory
        kthreads = start_kthreads(self, FIRST_PID)
        self.kthreadd, self.oom_reaper = kthreads["kthreadd"], kthreads["oom_reaper"]
        self.machine.phys.on_oom = lambda size: out_of_memory(self, size)
        self.last_pid = FIRST_PID - 1
        wakeup = install_host_signals(self) if host_signals else os.pipe()[0]
        self.kick_r, self.kick_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.timers = TimerQueue()               # alarm, itimers, POSIX timers, timerfds
        self.ticker = Ticker(self.machine, wakeup, kick=self.kick, timers=self.timers)
        from elfkit.kernel.time.vsyscall import VsyscallData
        self.vsyscall = self.ticker.vsyscall = VsyscallData(self)   # the vDSO's clock data
        self.ticker.bkl = self.bkl
        self.ticker.start()
        self._install_hooks(self.machine.cpus[0])

    def _install_hooks(self, cpu):
        from elfkit.kernel.syscalls import make_dispatcher
        cpu.hook_syscall(make_dispatcher(self, cpu))
        cpu.hook_faults()
        cpu.on_fault = lambda access, addr, unmapped: self.page_fault(cpu.current, access, addr)

    @staticmethod
    def page_fault(task, access: str, addr: int):
        """The CPU's #PF for the task on it: handle_mm_fault, and for VM_FAULT_SIGBUS (a file
        page past the end of the file) force_sig_fault(SIGBUS, BUS_ADRERR, addr) -- queued for
        the task (unblocked, its action reset if ignored, as a fault signal is), which takes
        it with the faulting instruction as the frame's %rip: None stops the CPU there."""
        if task is None or task.mm is None:
            return False
        gdb = task.kernel.gdb
        if gdb is not None and task.mm.pages.watched and gdb.watch_fault(task, access, addr):
            return None                  # (--gdb: a watched page: the stub steps the access)
        result = task.mm.handle_mm_fault(addr, access)
        if result != VM_FAULT_SIGBUS:
            return result
        import struct
        from elfkit.kernel.signals import SIG_DFL, SIG_IGN, SigInfo, send_sig
        sigbus, bus_adrerr = 7, 2
        if task.signals.actions.get(sigbus, (SIG_DFL,))[0] == SIG_IGN:
            task.signals.actions[sigbus] = (SIG_DFL, 0, 0, 0)
        task.signals.blocked &= ~(1 << (sigbus - 1))
        raw = struct.pack("<iiiiQ", sigbus, 0, bus_adrerr, 0, addr) + bytes(104)
        send_sig(task, sigbus, info=SigInfo(bus_adrerr, raw=raw, private=True))
        return None

    # --- the CPUs ------------------------------------------------------------------------------
    @property
    def cpu(self):
        """The CPU the calling thread drives (the boot CPU outside the CPUs' threads)."""
        return self.machine.cpu

    @property
    def current(self) -> Task | None:
        """The task on the calling thread's CPU (Linux's per-CPU `current`)."""
        return self.machine.cpu.current

    @current.setter
    def current(self, task: Task | None):
        self.machine.cpu.current = task

    def start_cpu(self):
        """Bring up one more CPU, driven by a host thread of its own (elfkit.kernel.sched)."""
        from elfkit.kernel.sched import secondary_cpu
        name = f"elfkit-cpu{len(self.cpu_threads) + 1}"
        t = threading.Thread(target=secondary_cpu, args=(self,), name=name, daemon=True)
        self.cpu_threads.append(t)
        t.start()

    # --- time and files -------------------------------------------------------------------------
    @staticmethod
    def now() -> float:
        return time.monotonic()

    def stat_cached(self, host_path: str) -> os.stat_result:
        st = self._stat_cache.get(host_path)
        if st is None:
            st = self._stat_cache[host_path] = os.stat(host_path)
        return st

    # --- pids --------------------------------------------------------------------------------
    def alloc_pid(self) -> int:
        """alloc_pid: the next free number after the last one given, wrapping at pid_max."""
        pid = self.last_pid
        while True:
            pid = pid + 1 if pid + 1 < PID_MAX else FIRST_PID
            if pid not in self.tasks:
                self.last_pid = pid
                return pid

    def new_task(self, parent: Task, thread: bool = False, **parts) -> Task:
        """A new task with the next pid; a process is on its parent's list of children, a
        thread (thread=True) only in its group's list of threads."""
        t = Task(self, self.alloc_pid(), parent=parent, **parts)
        t.wait_chldexit = WaitQueue()
        self.tasks[t.pid] = t
        if not thread:
            parent.children.append(t)
        return t

    def find_task(self, pid: int) -> Task | None:
        t = self.tasks.get(pid)
        return t if t is not None and t.state != TASK_DEAD else None

    def guests(self):
        """Every guest task: each process's threads."""
        return [t for t in self.tasks.values() if t.pid >= FIRST_PID]

    def processes(self):
        """Every guest process (its leader): what kill(-1) and a process group reach."""
        return [t for t in self.tasks.values() if t.pid >= FIRST_PID and t.group.leader is t]

    def live_tasks(self) -> bool:
        return any(t.state not in (TASK_ZOMBIE, TASK_DEAD) and t.pid >= FIRST_PID
                   for t in self.tasks.values())

    def sleepers(self):
        return [t for t in self.tasks.values() if t.state == TASK_SLEEPING and t.pid >= FIRST_PID]

    # --- the run queue -------------------------------------------------------------------------
    def enqueue(self, task: Task, preempted: bool = False):
        """A task can run: on the queue, and a CPU to run it -- an idle one woken, one more
        brought up, or the running ones given a time slice to end. preempted: the task's own
        CPU puts it back and will take it again unless another wants it first."""
        if task in self.runqueue:
            return
        self.runqueue.append(task)
        if not self.running:
            return
        if preempted and task.cpus_allowed >> self.cpu.index & 1:
            # its own CPU takes it again, unless it has another task to run first: only then
            # is an idle CPU worth waking (a page fault's retry comes here too, often)
            if len(self.runqueue) > 1 and any(c.idle for c in self.machine.cpus):
                self.idle_cond.notify_all()
            return
        allowed = task.cpus_allowed
        mm = task.mm
        if mm is not None and mm.on_cpu is not None and allowed >> mm.on_cpu.index & 1:
            # a thread of a process running on a CPU: only that CPU may take it (one mm on one
            # CPU at a time), so waking or bringing up another is no use; that CPU ends its
            # current thread's slice so that the two take turns
            c = mm.on_cpu
            if c.running and c.slice_end is None:
                c.slice_end = time.monotonic() + SLICE_S
            return
        if self.wake_idle_cpu(allowed):
            return
        next_index = 1 + len(self.cpu_threads)            # (the boot CPU's thread is ours)
        if next_index < self.machine.max_cpus and allowed >> next_index:
            self.start_cpu()
            return
        now = time.monotonic()
        for c in self.machine.cpus:
            if c.running and c.slice_end is None and allowed >> c.index & 1:
                c.slice_end = now + SLICE_S

    def wake_idle_cpu(self, allowed: int) -> bool:
        """Wake the idle CPUs, if one of them is among `allowed` (a mask), to look at the run
        queue again; False when none is idle."""
        if not any(c.idle and allowed >> c.index & 1 for c in self.machine.cpus):
            return False
        if self.host_wait_set and allowed & 1:
            self.kick()
        self.idle_cond.notify_all()
        return True

    def mm_released(self, mm, cpu):
        """`cpu` has stopped running `mm`: a queued thread of that process which the other CPUs
        passed over while it ran there (Kernel.pick_next) and which may not run on `cpu` (its
        affinity) is theirs now -- wake one, or it would wait for a wake-up that never comes."""
        others = 0
        for t in self.runqueue:
            if t.mm is mm and not t.cpus_allowed >> cpu.index & 1:
                others |= t.cpus_allowed
        if others:
            self.wake_idle_cpu(others)

    def kick(self):
        """Wake the boot CPU from its wait on the host (a task to run, or the end)."""
        try:
            os.write(self.kick_w, b"k")
        except OSError:
            pass

    def pick_next(self, cpu) -> Task | None:
        """The next task for `cpu`: the first on the queue that last ran there (its TLB and
        registers are still there), else the first any CPU may take; never one that is running
        on another CPU, nor one whose address space is."""
        rq = self.runqueue
        chosen = None
        for i, t in enumerate(rq):
            if t.state != TASK_RUNNING or t.on_cpu is not None or not t.cpus_allowed >> cpu.index & 1:
                continue
            mm = t.mm
            if mm is not None and mm.on_cpu is not None and mm.on_cpu is not cpu:
                continue
            if t.last_cpu is cpu or t.last_cpu is None:
                chosen = i
                break
            if chosen is None:
                chosen = i
        if chosen is None:
            if rq and all(t.state != TASK_RUNNING for t in rq):
                rq.clear()
            return None
        t = rq[chosen]
        del rq[chosen]
        return t

    def others_waiting(self, task: Task) -> bool:
        """Does another task want the CPU, now or when the host answers?"""
        return bool(self.runqueue) or any(t.blocked_call is not None for t in self.sleepers())

    def switch_to(self, task: Task):
        """context_switch on the calling thread's CPU: save the task that was there, load the
        next one's registers (from another CPU if they are still there) and address space."""
        cpu = self.cpu
        prev = cpu.current
        if prev is task:
            cpu.catch_up()                       # (work other CPUs left while this one idled)
            return
        if prev is not None and prev.state not in (TASK_ZOMBIE, TASK_DEAD) and prev.mm is not None:
            prev.ctx = cpu.context(into=prev.ctx_buffer)
            prev.ctx_buffer = prev.ctx
        for other in self.machine.cpus:
            if other is not cpu and other.current is task:   # that CPU is idle: take them
                task.ctx = other.context(into=task.ctx_buffer)
                task.ctx_buffer = task.ctx
                other.current = None
        cpu.current = task
        cpu.switch_mm(task.mm.pages)
        cpu.catch_up()
        if task.ctx is not None:
            cpu.set_context(task.ctx)
            task.ctx = None
        if task.initial_regs is not None:
            cpu.set_regs(**task.initial_regs)
            task.initial_regs = None
        if task.last_cpu is not None and task.last_cpu is not cpu:
            # pages both writable and executable (a JIT's) may have been rewritten by stores on
            # the other CPU, which dropped only that CPU's blocks
            for b in task.mm.pages.backings:
                if b.prot & 6 == 6:
                    cpu.invalidate_phys(b.paddr, b.size)

    def sleep(self, task: Task, call):
        """The running task waits (call: nr, args, rip, eflags, Sleep)."""
        s = call[4]
        task.blocked_call = call
        task.state = TASK_SLEEPING
        task.wchan = s.wchan
        for q in s.queues:
            q.waiters.append(task)
        if self.host_wait_set and (s.read_fds or s.write_fds or s.deadline is not None):
            self.kick()                          # the boot CPU's select() must watch these too
        if self.tracer is not None:
            self.tracer.state(task)
        if (task.signals.pending or task.group.pending) and s.interruptible and \
                deliverable_signals(task):
            self.wake(task)                      # a signal is already there to take

    def wake(self, task: Task):
        """try_to_wake_up: a sleeping task becomes runnable (it retries its call when run)."""
        if task.state != TASK_SLEEPING:
            return
        call = task.blocked_call
        if call is not None:
            for q in call[4].queues:
                try:
                    q.waiters.remove(task)
                except ValueError:
                    pass                         # (a wait queue that woke it has let it go)
        task.state = TASK_RUNNING
        task.wchan = ""
        self.enqueue(task)
        if self.tracer is not None:
            self.tracer.state(task)

    def wake_timers(self):
        now = time.monotonic()
        self.timers.run(now)                     # expired guest timers (kernel.time.hrtimer)
        for t in self.sleepers():
            s = t.blocked_call[4] if t.blocked_call else None
            if s is not None and s.deadline is not None and now >= s.deadline:
                self.wake(t)

    def finish_blocked_call(self, task: Task) -> bool:
        """The task was woken in a system call: make the call again. True when it completed
        (the result is in %rax), False when it sleeps again."""
        from elfkit.kernel.syscalls import retry_call
        return retry_call(self, task)

    # --- signals from the host ----------------------------------------------------------------
    def forward_host_signals(self):
        """SIGINT, SIGQUIT, SIGTSTP, SIGHUP... sent to elfkit go to the guests' foreground group."""
        self.ticker.signalled = False
        if not self.host_signals:
            return
        from elfkit.kernel.signals import kill_pgrp
        sigs, self.host_signals[:] = list(self.host_signals), []
        group = self.foreground_pgrp()
        for s in sigs:
            kill_pgrp(self, group, s, sender=None)

    def stop_like_the_guest(self):
        """The first guest stopped (Ctrl-Z, SIGSTOP): elfkit stops itself by the same signal, so
        the shell that started it gets its terminal back and sees a stopped job. When elfkit is
        continued, the SIGCONT it receives goes on to the guests."""
        sig, self.first_stop = self.first_stop, None
        if sig in (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
            old = signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
            signal.signal(sig, old)
        else:
            os.kill(os.getpid(), signal.SIGSTOP)

    def foreground_pgrp(self) -> int:
        fg = self.tty_pgrp
        if fg is not None and any(t.pgid == fg for t in self.guests() if t.state != TASK_DEAD):
            return fg
        return self.first.pgid if self.first is not None else FIRST_PID

    # --- the end -------------------------------------------------------------------------------
    def phantom_fault(self, task: Task) -> bool:
        """Unicorn stopping for a time limit can leave a phantom page fault behind (CR2 holding
        one of its own physical addresses, which no guest area maps): not the guest's."""
        f = self.cpu.fault
        return bool(f is not None and task.mm.find(f.address) is None
                    and self.cpu.phys.is_physical(f.address))

    def limit_exceeded(self, status: ExitStatus):
        """--max-procs, --max-fds, --max-output: a guest went past a limit (in a system call,
        on any CPU): every guest ends as with --timeout, from the scheduler's loop (the
        first limit passed is the one reported)."""
        if self.pending_limit is None:
            self.pending_limit = status
        for cpu in self.machine.cpus:
            if cpu.running:
                cpu.stop()
        self.kick()

    def stop_everything(self, status: ExitStatus):
        """--timeout / --max-insns: every guest ends now; the first one's status says why."""
        from elfkit.kernel.exit import do_exit
        self.ending_all = True                   # (no orphaned-group checks: every guest ends)
        for t in self.guests():
            if t.state not in (TASK_ZOMBIE, TASK_DEAD):
                st = status if t is self.first else ExitStatus(signal=9)
                if t.on_cpu is not None and t.on_cpu is not self.cpu:
                    t.exit = st                  # running on another CPU: it ends there
                    t.on_cpu.stop()
                else:
                    do_exit(t, st)
        if self.first_status is None or self.first_status.limit is None:
            self.first_status = status

    def run(self, limits) -> ExitStatus:
        schedule(self, limits)
        self.ticker.quit = True
        try:
            os.close(self.kick_r)
            os.close(self.kick_w)
        except OSError:
            pass
        if self.first is not None and self.first.mm is not None:
            self.cpu.switch_mm(self.first.mm.pages)       # what the Python API reads afterwards
        if self.first_status is None:
            self.first_status = ExitStatus(signal=9, reason="the CPU stopped unexpectedly")
        return self.first_status

    def record_exit(self, task: Task, status: ExitStatus):
        if task is self.first and self.first_status is None:
            self.first_status = status
        if self.gdb is not None:
            self.gdb.process_exited(task, status)      # (--gdb: W/X for an attached process)
