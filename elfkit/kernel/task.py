"""task_struct: one guest process -- its identity, family, state, memory, files and signal state.

A Task is what the lecture's process descriptor holds: pid and thread group,
parent and children, state (running, sleeping, stopped, zombie, dead) and exit
code, and pointers to the parts that clone may share: the address space (Mm),
the descriptor table (FdTable), the working directory and umask (FsStruct)
and the signal handlers (SigHand). Its registers live in the CPU while it
runs and in `ctx` while it does not (the scheduler, elfkit.kernel.sched,
switches them). Nothing here is global: the Kernel (elfkit.kernel.kernel)
owns the task list, and two Kernels are two independent machines.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from elfkit.kernel.cpu import CpuError

# Task states, as /proc/PID/stat and ps show them.
TASK_RUNNING, TASK_SLEEPING, TASK_STOPPED, TASK_ZOMBIE, TASK_DEAD = "R", "S", "T", "Z", "X"
STATE_NAMES = {"R": "R (running)", "S": "S (sleeping)", "T": "T (stopped)", "Z": "Z (zombie)",
               "X": "X (dead)"}
SIGNAL_NAMES = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
                7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
                13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
                18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
                23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF",
                28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS"}


def signal_name(sig: int) -> str:
    if 34 <= sig <= 64:
        return f"SIGRT_{sig - 32}" if sig != 34 else "SIGRTMIN"
    return SIGNAL_NAMES.get(sig, f"signal {sig}")


RLIM_INFINITY = 0xFFFFFFFFFFFFFFFF
# getrlimit defaults of a login shell on Linux (RLIMIT_* order), for limits the host did not give
DEFAULT_RLIMITS = {0: (RLIM_INFINITY,) * 2, 1: (RLIM_INFINITY,) * 2, 2: (RLIM_INFINITY,) * 2,
                   3: (8 << 20, RLIM_INFINITY), 4: (0, RLIM_INFINITY), 5: (RLIM_INFINITY,) * 2,
                   6: (63432, 63432), 7: (1024, 1048576), 8: (8 << 20, 8 << 20),
                   9: (RLIM_INFINITY,) * 2, 10: (RLIM_INFINITY,) * 2, 11: (63432, 63432),
                   12: (819200, 819200), 13: (0, 0), 14: (0, 0), 15: (RLIM_INFINITY,) * 2}


@dataclass
class RunLimits:
    timeout_s: float | None = None
    max_insns: int | None = None
    max_procs: int | None = None     # guest processes and threads alive at once
    max_fds: int | None = None       # open descriptors of one guest process
    max_output: int | None = None    # bytes written to elfkit's own stdout and stderr


@dataclass
class ExitStatus:
    code: int | None = None          # exit status, if it exited
    signal: int | None = None        # the signal that killed it
    reason: str = ""                 # one line for the user when killed or stopped by elfkit
    limit: str | None = None         # "timeout" / "max-insns" / "max-procs" / "max-fds" /
    #                                  "max-output" / "internal" / "link": elfkit stopped it
    core: bool = False               # the kernel would have dumped core (WCOREDUMP)
    backtrace: tuple = ()            # the killed thread's frames (elfkit.debug.unwind), if known
    thread: bool = False             # exit(2) of one thread, not of its process (exit_group)

    @property
    def shell_status(self) -> int:
        if self.code is not None:
            return self.code & 0xFF
        return 128 + (self.signal or 0)

    @property
    def wait_status(self) -> int:
        """The int wait4 stores: exit code << 8, or the signal with 0x80 for a core dump."""
        if self.code is not None:
            return (self.code & 0xFF) << 8
        return (self.signal or 0) | (0x80 if self.core else 0)


class GuestExit(Exception):
    """Raised inside a syscall handler to end the guest (exit, exit_group, fatal signal)."""

    def __init__(self, status: ExitStatus):
        self.status = status


@dataclass
class SignalState:
    """The task's own signal state; `actions` is the handler table (sighand_struct), shared
    with the tasks made with CLONE_SIGHAND."""
    actions: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)  # handler, flags, restorer, mask
    blocked: int = 0
    altstack: tuple[int, int, int] = (0, 2, 0)   # ss_sp, ss_flags (SS_DISABLE), ss_size
    pending: list[int] = field(default_factory=list)
    saved_mask: int | None = None                # sigsuspend's mask to restore after the handler
    real_blocked: int = 0                        # rt_sigtimedwait: the mask while it waits


class ThreadGroup:
    """signal_struct: what the threads of one process share. The thread list and its leader
    (whose pid is the process's, tgid), the signals sent to the process rather than to one
    thread (`pending`, `siginfo`: shared_pending), the group exit (exit_group, a fatal
    signal), and the process-wide settings kept here rather than per thread: process group
    and session, resource limits, itimers and POSIX timers, being a child subreaper, the usage
    of reaped children and the CPU time of threads that already ended."""

    def __init__(self, leader: "Task"):
        self.leader = leader
        self.threads: list[Task] = [leader]
        self.pending: list[int] = []
        self.siginfo: dict[int, list] = {}
        self.group_exit: ExitStatus | None = None   # SIGNAL_GROUP_EXIT: every thread is to end
        self.stop_signal = 0                         # a group stop in progress (do_signal_stop)
        self.pgid = 0
        self.sid = 0
        self.rlimits: dict[int, tuple[int, int]] = {}
        self.timers = None
        self.child_subreaper = False
        self.children_usage = (0.0, 0, 0)
        self.dead_cputime = 0.0                      # CPU time of threads that ended
        self.dead_minflt = 0
        self.oom_score_adj = 0
        self.oom_score_adj_min = 0                   # what oom_score_adj may be lowered to

    def live_threads(self) -> list["Task"]:
        return [t for t in self.threads if t.state not in (TASK_ZOMBIE, TASK_DEAD)]


def _group_attr(name: str, doc: str):
    return property(lambda self: getattr(self.group, name),
                    lambda self, value: setattr(self.group, name, value), doc=doc)


@dataclass
class FsStruct:
    """fs_struct: working directory and umask (shared with CLONE_FS)."""
    cwd: str
    umask: int = 0o022


class Task:
    """One guest thread of execution: a process's only thread, or one of its threads (clone
    with CLONE_THREAD). `pid` is its own id (the tid); `tgid` is its process's (the leader's
    pid); what the threads of a process share is in `group` (ThreadGroup)."""

    pgid = _group_attr("pgid", "process group (shared by the threads)")
    sid = _group_attr("sid", "session")
    rlimits = _group_attr("rlimits", "resource limits (signal_struct->rlim)")
    timers = _group_attr("timers", "itimers and POSIX timers (kernel.time)")
    child_subreaper = _group_attr("child_subreaper", "PR_SET_CHILD_SUBREAPER")
    children_usage = _group_attr("children_usage", "rusage of reaped children")

    def __init__(self, kernel, pid: int, *, parent: "Task | None", fs: FsStruct, files, creds,
                 signals: SignalState, rng, seed):
        self.kernel = kernel
        self.on_cpu = None                        # the CPU running it now (sched.run_task)
        self.last_cpu = None                      # the CPU it ran on last
        self.cpus_allowed = parent.cpus_allowed if parent is not None else \
            (1 << kernel.machine.max_cpus) - 1    # sched_setaffinity's mask; fork inherits it
        self.sysroot = kernel.sysroot
        self.writable = kernel.writable
        self.strace = kernel.strace
        self.pid = self.tid = self.tgid = pid
        self.group = ThreadGroup(self)
        self.parent = parent
        self.children: list[Task] = []
        self.pgid = parent.pgid if parent is not None else pid
        self.sid = parent.sid if parent is not None else pid
        self.state = TASK_RUNNING
        self.wchan = ""
        self.exit_signal = 17                     # SIGCHLD to the parent when it dies
        self.fs = fs
        self.files = files
        from elfkit.kernel.cred import as_cred
        self.creds = as_cred(creds)                # struct cred: replaced, never changed in place
        self.signals = signals
        self.seed = seed
        self.rng = rng
        self.mm = None
        self.image = None
        self.comm = ""
        self.argv: list[bytes] = []
        self.envp: list[bytes] = []
        self.warned: set[str] = set()
        self.clear_child_tid = 0
        self.robust_list = (0, 0)
        self.rseq_area: tuple[int, int] | None = None
        self.rseq_sig = 0                         # the signature abort handlers carry
        self.rseq_cpu = -1                        # the cpu_id last written to the area
        self.rlimits: dict[int, tuple[int, int]] = dict(parent.rlimits) if parent else {}
        self.start_monotonic = kernel.now()
        self.cputime = 0.0                       # seconds run on a CPU (CPU-time clocks, itimers)
        self.run_since: float | None = None      # when its current run on a CPU began
        self.exit: ExitStatus | None = None      # set: the task is to end (do_exit runs it)
        self.exit_status: ExitStatus | None = None    # what it ended with (zombie and after)
        self.sigframes: dict[int, object] = {}     # frame address -> saved FP state
        self.restart_at: int | None = None
        self.ctx = None                          # saved registers while another task runs
        self.ctx_buffer = None                   # the context object reused for that
        self.initial_regs: dict[str, int] | None = None   # applied on first switch-in (fork)
        self.blocked_call = None                 # (nr, args, rip, eflags, Sleep) while asleep
        self.restart: dict = {}                  # restart_block: state kept across retries
        self.restart_deadline: float | None = None   # the last poll/select deadline (time left)
        self.vfork_parent: Task | None = None    # set in a vfork child until it execs or exits
        self.stop_reported = True                # a stop not yet told to the parent's wait
        self.cont_reported = True
        self.linker = None
        self.entry = 0
        self.did_exec = False                    # exec'ed since fork (setpgid's EACCES)
        self.exec_attach = None                  # an image the exec linker still has to link
        self.stop_signal = 0
        # scheduling (kernel/sched/syscalls.c), inherited by fork (fork.copy_process)
        self.nice = parent.nice if parent is not None else _host_nice()
        self.policy = parent.policy if parent is not None else 0        # SCHED_OTHER
        self.rt_priority = parent.rt_priority if parent is not None else 0
        self.reset_on_fork = False                # SCHED_RESET_ON_FORK
        self.ioprio = parent.ioprio if parent is not None else 0        # IOPRIO_CLASS_NONE
        # the process's own flags and settings (prctl, personality, seccomp)
        self.personality = parent.personality if parent is not None else 0
        self.no_new_privs = parent.no_new_privs if parent is not None else False
        self.seccomp = parent.seccomp if parent is not None else None   # elfkit.kernel.seccomp
        self.mempolicy = parent.mempolicy if parent is not None else None  # set_mempolicy's
        self.pdeath_signal = 0
        self.timer_slack_ns = self.default_timer_slack_ns = 50000
        self.thp_disable = False
        self.tsc_mode = 1                         # PR_TSC_ENABLE
        self.mce_kill = 2                         # PR_MCE_KILL_DEFAULT
        self.dumpable = 1                         # SUID_DUMP_USER (an mm flag: exec resets it)
        self.minflt = 0                           # page faults the kernel fixed (getrusage)
        self.siginfo: dict[int, list] = {}        # sig -> a SigInfo per queued instance (signals.py)
        self.robust_done = False                 # its robust futex list was walked (exit)

    # --- what handlers read -------------------------------------------------------------------
    @property
    def cwd(self) -> str:
        return self.fs.cwd

    @cwd.setter
    def cwd(self, value: str):
        self.fs.cwd = value

    @property
    def umask(self) -> int:
        return self.fs.umask

    @umask.setter
    def umask(self, value: int):
        self.fs.umask = value

    def rlimit(self, resource: int) -> tuple[int, int]:
        return self.rlimits.get(resource, DEFAULT_RLIMITS[resource])

    @property
    def ppid(self) -> int:
        """getppid: the process's parent (the leader's, for every thread)."""
        parent = self.group.leader.parent
        return parent.tgid if parent is not None else 0

    @property
    def leader(self) -> "Task":
        return self.group.leader

    def is_leader(self) -> bool:
        return self.group.leader is self

    @property
    def cpu(self):
        """The CPU of the calling thread: the one this task runs on while the kernel works for it."""
        return self.kernel.machine.cpu

    def warn(self, message: str):
        self.kernel.warn(message)

    def warn_once(self, key: str, message: str):
        if key not in self.warned:
            self.warned.add(key)
            self.kernel.warn(message)

    def run(self, limits: RunLimits) -> ExitStatus:
        """Run the machine this task belongs to until no guest is left; the first's status."""
        return self.kernel.run(limits)

    # --- exec --------------------------------------------------------------------------------
    def exec_image(self, image, argv: list[bytes], envp: list[bytes]):
        """Map what load_elf_binary prepared into this task's (new) mm, write the stack and
        point the CPU at the entry. The task must be the current one."""
        from elfkit.kernel.mm.mmap import Mm, Vma
        self.image, self.argv, self.envp = image, argv, envp
        self.comm = os.path.basename(image.execfn)[:15]
        self.mm = Mm(self.kernel.machine, image.mmap_base, image.start_brk, self.kernel.page_cache)
        self.cpu.switch_mm(self.mm.pages)
        for m in image.mappings:
            vma = Vma(m.start, m.end, m.prot, name=m.name, offset=m.file_offset)
            identity = None
            if m.host_path is not None:
                st = self.kernel.stat_cached(m.host_path)
                vma.dev, vma.inode = (os.major(st.st_dev), os.minor(st.st_dev)), st.st_ino
                identity = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
            elif m.data and not m.prot & 2:
                identity = ("kernel", m.name)           # the vDSO and vsyscall pages
            self.mm.map_area(vma, m.data, identity)
            if m.name == "[vdso]":
                from elfkit.loader.vdso import vdso_text_range
                lo, hi = vdso_text_range(m.data)
                self.mm.vdso_text = (m.start + lo, m.start + hi)
        stack = image.stack
        self.mm.pages.write(stack.base, stack.data)
        self.cpu.set_context(self.kernel.fresh_context)
        self.cpu.set_regs(rsp=stack.sp, rdx=0,    # ELF_PLAT_INIT: no atexit function from the kernel
                          rip=image.entry)
        # the FPU's state after exec is FNINIT's and the SSE default (fpu__clear_user_states):
        # 64-bit x87 precision, round to nearest, every exception masked. Unicorn starts
        # with a zero control word: single precision, unmasked.
        self.cpu.set_regs(fpcw=0x37F, mxcsr=0x1F80)
        self.entry = image.entry

    # --- running guest code from elfkit (the linker's init calls, IFUNC resolvers) -----------
    def call_guest(self, function: int, *args: int) -> int:
        """Run guest code `function(args...)` to its return (an init function, an IFUNC
        resolver) and give back %rax; the guest's registers are restored afterwards."""
        from elfkit.kernel.signals import fault_signal
        cpu = self.cpu
        if not hasattr(self, "_return_trap"):
            self._returned = False

            def on_return():
                self._returned = True
                self.cpu.stop()
            self._return_trap = cpu.add_trap(0, on_return)
        saved = cpu.save_context()
        sp = ((saved["rsp"] - 256) & ~0xF) - 8         # below the red zone, aligned as after a call
        cpu.write(sp, self._return_trap.to_bytes(8, "little"))
        cpu.set_reg("rsp", sp)
        for reg, value in zip(("rdi", "rsi", "rdx", "rcx", "r8", "r9"), args):
            cpu.set_reg(reg, value)
        self._returned = False
        pc = function
        state = getattr(self.kernel, "schedule_state", None)   # --max-insns counts this too
        counted = state is not None and bool(state.limits.max_insns)
        while not self._returned and self.exit is None:
            if counted and state.insns_spent():
                self.exit = state.max_insns_status()
                break
            error = None
            try:
                cpu.run(pc, count=state.insns_left() if counted else 0)
            except CpuError as e:
                error = e
            if counted:
                state.executed += cpu.insns_run() or 0
            if error is not None:
                fault_signal(self, error)
                break
            if self.trap_failed() or self.exit is not None or self._returned:
                break
            if self.restart_at is not None:
                pc, self.restart_at = self.restart_at, None
            elif cpu.retry:
                pc = cpu.pc()
            elif not (counted and state.insns_spent()):   # (else: stopped by the count)
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
                cpu = self.cpu                  # (the CPU it runs on now, not when it was made)
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
            cpu = self.cpu
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

    def trap_failed(self) -> bool:
        """A trap handler (elfkit's lazy resolver, a guest-call return...) raised: a bug in
        elfkit, reported as such rather than as a signal the guest might handle."""
        e = self.cpu.trap_error
        if e is None or self.exit is not None:
            return False
        self.exit = ExitStatus(signal=9, limit="internal",
                               reason=f"elfkit internal error in a trap handler or hook: "
                                      f"{type(e).__name__}: {e}")
        return True

    def __repr__(self):
        return f"<Task {self.pid} {self.comm} {self.state}>"


def _host_nice() -> int:
    """The first guest's nice value: elfkit's own, as a child inherits its parent's."""
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except OSError:
        return 0


def default_warn(msg: str):
    print(f"elfkit: warning: {msg}", file=sys.stderr)
