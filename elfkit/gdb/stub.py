"""The gdb stub: answers gdb's packets for the first guest process, as gdbserver does for an
x86-64 Linux process (gdb's manual, "Remote Protocol"), and stops and resumes it from the
scheduler's loop (elfkit.kernel.sched calls `before_run` and `after_run` around each run of a
task on the CPU; the machine has one CPU under --gdb, so while gdb holds the program stopped
nothing else runs: all-stop).

How the program is stopped:
- at start: before its first instruction runs (ld.so's entry, or a static program's);
- breakpoints (Z0, Z1): Unicorn's exits (Cpu.set_stop_addresses): the translator ends a block
  at a breakpoint's address with a halt, so the CPU stops before that instruction and code
  elsewhere runs as fast as with no breakpoint; resuming at a breakpoint runs one instruction
  with that one left out first, and so does any other task that reaches one (an exit
  stops every task that runs the code: `_other_task`). Without exits (another Unicorn), a code hook on the address
  (Cpu.add_code_hook) stops the CPU, with exact stops on (Cpu.set_exact_stops);
- single steps (s, vCont;s): a run with an instruction count of 1 (the --max-insns machinery:
  an instruction that page-faults and runs again counts once);
- watchpoints (Z2, Z3, Z4): a memory hook on the frame (memory hooks match physical
  addresses), which stops the CPU right after the access, %rip still on the instruction that
  made it; the bytes a store overwrote are put back and the instruction runs again as a step,
  whose stop is reported with `watch:`/`rwatch:`/`awatch:`;
- faults: the CPU's fault, before the kernel turns it into a signal (elfkit.kernel.signals.
  fault_signal): gdb sees T0b; resuming with that signal lets the kernel deliver it, `signal 0`
  (no signal) makes the instruction run again, another signal is sent instead;
- other signals: before the scheduler delivers them (`signals_due`; a system call's return
  leaves them to the scheduler under --gdb), with the same choice;
- Ctrl-C: a watcher thread reads the connection while the program runs and stops the CPU.
With no breakpoint, watchpoint or step, `continue` runs the CPU with no hook at all. Signal
numbers in packets are gdb's (target.gdb_signal).

Processes and threads (all-stop, gdb's multiprocess extensions): every thread of an attached
process is a gdb thread (`pPID.TID`); a stop stops them all (one CPU: while gdb holds a stop,
nothing runs), and the stop reply names the thread it happened to. `Hg` selects the thread
whose registers (loaded onto the CPU by a context switch, Kernel.switch_to), memory and
breakpoints gdb's next packets mean. On resume, each thread takes the first vCont action that
names it; a thread no action names (or `t`) stays stopped: `held`, taken off the run queue by
the scheduler (`holds`) and put back on resume. Breakpoints belong to a process (their
addresses are virtual, and so are Unicorn's exits: a task of another process, or of a
detached one, runs over them with the address left out for one instruction).
With gdb's fork-events/vfork-events/exec-events, a fork or vfork of an attached process
stops the parent with `fork:`/`vfork:` and attaches the child, stopped, with the parent's
breakpoints (gdb then detaches it with D;PID, or keeps it: follow-fork-mode, detach-on-fork);
a vfork parent reports `vforkdone:` when it runs again; an exec reports `exec:` at the new
program's first instruction, and the process's breakpoints are gone with its old image. The
end of an attached process is W/X with its pid; while others stay attached gdb then resumes
them. Ctrl-C while every thread sleeps in a system call stops the program there (SIGINT):
the watcher wakes the scheduler's wait on the host and `idle_point` reports it.
"""
from __future__ import annotations

import errno
import os
import struct
import threading

from elfkit.gdb import svr4
from elfkit.gdb.rsp import Connection, Disconnected, escape, unescape
from elfkit.gdb.target import RegisterFile, gdb_signal, linux_signal, target_xml
from elfkit.kernel.mm.paging import PTE_P, PTE_W
from elfkit.kernel.task import TASK_RUNNING

SIGINT, SIGILL, SIGTRAP, SIGKILL, SIGSEGV = 2, 4, 5, 9, 11
PACKET_SIZE = 0x4000
# gdb's File-I/O errno values (gdb's manual, "Errno Values"); anything else is EUNKNOWN
_FILEIO_ERRNO = {errno.EPERM: 1, errno.ENOENT: 2, errno.EINTR: 4, errno.EBADF: 9,
                 errno.EACCES: 13, errno.EFAULT: 14, errno.EBUSY: 16, errno.EEXIST: 17,
                 errno.ENODEV: 19, errno.ENOTDIR: 20, errno.EISDIR: 21, errno.EINVAL: 22,
                 errno.ENFILE: 23, errno.EMFILE: 24, errno.EFBIG: 27, errno.ENOSPC: 28,
                 errno.ESPIPE: 29, errno.EROFS: 30, errno.ENAMETOOLONG: 91}


def _fileio_error(e: OSError) -> str:
    return f"F-1,{_FILEIO_ERRNO.get(e.errno or 0, 9999):x}"


class GdbStub:
    def __init__(self, conn: Connection, kernel, task):
        from elfkit.kernel.cpu import REG
        self.conn = conn
        self.kernel = kernel
        self.first = task
        self.pid = task.pid
        self.cpu = kernel.machine.cpus[0]
        self.regs = RegisterFile(self.cpu, REG)
        self.procs: set[int] = {task.tgid}          # the processes gdb is attached to (tgids)
        self.bps: dict[int, dict[int, str]] = {task.tgid: {}}   # tgid -> address -> sw/hw
        self.breakpoints: dict[int, str] = {}       # all of them (what the CPU stops at)
        self.hooks: dict[int, int] = {}             # address -> the CPU's hook handle
        self.wps: dict[int, set[tuple[int, int, int]]] = {task.tgid: set()}   # tgid -> (Z type, address, length)
        self.watch_hit: tuple[int, int] | None = None    # (Z type, address) the step touched
        self.locked: dict[tuple[int, int], int] = {}     # (tgid, page) -> PTE bits taken away
        self.watch_step = None                      # (task, page): its access to a watched page
        self.watch_lifted = None                    # (pages, page, bits, hooks, before) meanwhile
        self.cur = task                             # the thread of the last stop
        self.sel = task                             # Hg: the thread gdb's packets mean
        self.step_task = task                       # the thread `stepping` is for
        self.stepping = False
        self.stepping_over = False                  # one instruction first: resumed at a breakpoint
        self.other_over = False                     # another task steps over a breakpoint
        self.exits_skip: int | None = None          # ... whose stop is left out for that run
        # breakpoints as Unicorn's exits (ELFKIT_GDB_BREAKPOINTS=hooks: as code hooks, the
        # fallback for a Unicorn without exits, to compare)
        self.use_exits = os.environ.get("ELFKIT_GDB_BREAKPOINTS") != "hooks" and \
            self.cpu.set_stop_addresses(())
        self.skip_at: int | None = None             # resuming at a breakpoint: it does not stop
        self.hit: int | None = None                 # the breakpoint the CPU stopped at
        self.pending: int | None = SIGTRAP          # a stop to report before `cur` runs
        self.events: dict = {}                      # task -> a stop to report for it (fork...)
        self.vfork_parents: set = set()
        self.exit_replies: list[bytes] = []         # W/X of a process, others still attached
        self.held: set = set()                      # threads gdb keeps stopped while others run
        self.parked: list = []                      # ... taken off the run queue (holds)
        self.interrupt_due = False                  # Ctrl-C came while no guest code ran
        self.features: set[str] = set()             # fork-events, vfork-events, exec-events
        self.home = None                            # the task the scheduler is switching to
        self.waiting = False                        # gdb waits for a stop reply (resumed)
        self.last_stop = b"T05"
        self.detached = False
        self.killed = False
        self.gone = False                           # the connection is closed
        self.resume_signal = 0
        self.pass_signals: set[int] = set()         # QPassSignals (Linux numbers)
        self.files: dict[int, int | bytes] = {}     # vFile descriptors: ours -> host fd (or
        #                                             the bytes of a guest /proc file)
        self.next_fd = 1
        # while the program runs, a thread of ours watches the connection for gdb's Ctrl-C
        # (0x03) and stops the CPU; it holds `io` while it reads, and `wake` makes it let go
        self.io = threading.Lock()
        self.running = threading.Event()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.watcher: threading.Thread | None = None

    @property
    def task(self):
        """The thread gdb's packets mean (Hg)."""
        return self.sel

    # --- processes and threads -------------------------------------------------------------
    @staticmethod
    def _alive(t) -> bool:
        from elfkit.kernel.task import TASK_DEAD, TASK_ZOMBIE
        return t is not None and t.exit is None and t.state not in (TASK_ZOMBIE, TASK_DEAD)

    def _attached(self, task) -> bool:
        return task is not None and task.tgid in self.procs

    def _threads(self) -> list:
        """Every live thread of the attached processes, by process, then thread id."""
        out = [t for t in self.kernel.tasks.values() if t.tgid in self.procs and self._alive(t)]
        return sorted(out, key=lambda t: (t.tgid, t.tid))

    @staticmethod
    def _tid(t) -> str:
        return f"p{t.tgid:x}.{t.tid:x}"

    def _find_thread(self, spec: bytes):
        """A thread named by gdb (pP.T, pP.-1, pP, T, -1, 0): the first live one that matches."""
        threads = self._threads()
        text = spec.decode()
        if text in ("-1", "0", "p-1.-1", "p0.0"):
            return self.cur if self.cur in threads else (threads[0] if threads else None)
        pid, tid = None, None
        if text.startswith("p"):
            a, _, b = text[1:].partition(".")
            pid = int(a, 16) if a not in ("-1", "0") else None
            tid = int(b, 16) if b and b not in ("-1", "0") else None
        else:
            tid = int(text, 16)
        for t in threads:
            if (pid is None or t.tgid == pid) and (tid is None or t.tid == tid):
                return t
        return None

    def _matches(self, spec: bytes, t) -> bool:
        text = spec.decode()
        if text in ("-1", "p-1.-1", "p-1"):
            return True
        if text.startswith("p"):
            a, _, b = text[1:].partition(".")
            if a != "-1" and int(a, 16) != t.tgid:
                return False
            return not b or b == "-1" or int(b, 16) == t.tid
        return int(text, 16) == t.tid

    def _own(self, task) -> dict[int, str]:
        return self.bps.get(task.tgid, {}) if task is not None else {}

    def _on_cpu(self, task):
        """Load `task`'s registers and address space on the CPU (a context switch) for gdb."""
        if self.kernel.cpu.current is not task and self._alive(task) and task.mm is not None:
            self.kernel.switch_to(task)

    def holds(self, task) -> bool:
        """The scheduler picked `task`: False to run it; True when gdb keeps it stopped (it
        is off the run queue until gdb resumes it)."""
        if task in self.held and self.active:
            self.parked.append(task)
            return True
        return False

    def _release(self):
        parked, self.parked = self.parked, []
        for t in parked:
            if t in self.held:
                self.parked.append(t)
            elif self._alive(t):
                self.kernel.enqueue(t)

    def cloned(self, parent, child, flags: int):
        """kernel_clone made `child`: a new process of an attached one is attached too, when
        gdb asked for fork events, stopped, with the parent's breakpoints (its memory is a copy);
        the parent reports the fork when the CPU has stopped."""
        from elfkit.kernel.fork import CLONE_THREAD, CLONE_VFORK
        if not self.active or not self._attached(parent) or flags & CLONE_THREAD:
            return
        kind = "vfork" if flags & CLONE_VFORK else "fork"
        if f"{kind}-events" not in self.features:
            return
        self.procs.add(child.tgid)
        self.bps[child.tgid] = dict(self._own(parent))
        self.wps[child.tgid] = set()
        self.held.add(child)
        self.events[parent] = f"{kind}:{self._tid(child)};"
        if kind == "vfork":
            self.vfork_parents.add(parent)          # vforkdone: when it runs again
        if self.cpu.running:
            self.cpu.stop()

    def execed(self, task):
        """begin_new_exec replaced the program of `task`'s process: gdb is told at the new
        program's first instruction (exec-events); the old image's breakpoints are gone."""
        if not self.active or not self._attached(task) or "exec-events" not in self.features:
            return
        self.bps[task.tgid] = {}                    # (the CPU's exits follow at the resume:
        self.wps[task.tgid] = set()                 # this runs in the syscall hook)
        self.locked = {k: v for k, v in self.locked.items() if k[0] != task.tgid}
        path = task.image.program.display_path or task.image.program.path
        self.events[task] = f"exec:{os.fsencode(path).hex()};"

    def process_exited(self, leader, status):
        """An attached process ended (Kernel.record_exit): W or X with its pid; the last one
        ends the session."""
        if not self.active or leader.tgid not in self.procs:
            return
        self.procs.discard(leader.tgid)
        self.bps.pop(leader.tgid, None)
        self.wps.pop(leader.tgid, None)
        self.held = {t for t in self.held if t.tgid != leader.tgid}
        if status.signal is not None and status.code is None:
            reply = f"X{gdb_signal(status.signal):02x};process:{leader.tgid:x}"
        else:
            reply = f"W{(status.code or 0) & 0xFF:02x};process:{leader.tgid:x}"
        if not self.procs:
            self.exited(reply)
            return
        self._union()                               # (the CPU's exits follow at the resume)
        self.exit_replies.append(reply.encode())
        if self.cpu.running:
            self.cpu.stop()

    def idle_point(self) -> bool:
        """The scheduler's loop, between tasks: report what belongs to no task's run -- the end
        of one of several attached processes, Ctrl-C while no guest code ran (every thread
        asleep in a system call). True when it reported a stop (gdb may have killed or
        resumed anything since: the loop looks again)."""
        if not self.active:
            return False
        served = False
        while self.exit_replies and self.active:
            reply = self.exit_replies.pop(0)
            self._pause_watch()
            self.last_stop = reply
            served = True
            if self.waiting:
                self.waiting = False
                try:
                    self.conn.send(reply)
                except Disconnected:
                    self.gone = True
                    self._kill("gdb closed the connection")
                    return True
            self.serve()
        if self.active and (self.interrupt_due or self.conn.interrupted):
            self.interrupt_due = False
            self.conn.interrupted = False
            threads = self._threads()
            if threads:
                t = self.cur if self.cur in threads else threads[0]
                self._stopped(t, SIGINT)
                served = True
        return served

    # --- the scheduler's side ---------------------------------------------------------------
    @property
    def active(self) -> bool:
        return not (self.detached or self.killed or self.gone)

    def before_run(self, task) -> int:
        """The task is about to run: report a stop due (the first one, an event, a thread at a
        breakpoint of its process, a step that ended in a system call that slept), serve gdb
        until it resumes; the instruction count for the run (1: a step, 0: no limit)."""
        if not self.active:
            return 0
        if not self._attached(task):
            return self._other_task(task)
        if self.watch_step is not None and self.watch_step[0] is task and self.watch_lifted is None:
            return self._begin_watch_step(task)
        self.home = task
        try:
            if self.pending is not None and task is self.cur:
                sig, self.pending = self.pending, None
                self._stopped(task, sig)
                if not self.active:
                    return 0
                self._inject(task)
            elif task in self.vfork_parents and task.blocked_call is None:
                self.vfork_parents.discard(task)
                self._stopped(task, SIGTRAP, "vforkdone:;")
                if not self.active:
                    return 0
            elif task in self.events and task.blocked_call is None:
                self._stopped(task, SIGTRAP, self.events.pop(task))
                if not self.active:
                    return 0
            elif task is not self.step_task or not (self.stepping or self.stepping_over):
                pc = self.cpu.pc()
                if self.use_exits and pc in self.breakpoints:
                    if pc not in self._own(task) or (task is self.step_task and
                                                     self.skip_at == pc):
                        return self._other_task(task)
                    self._stopped(task, SIGTRAP, "swbreak:;")   # it would run into it now
                    if not self.active:
                        return 0
                    self._inject(task)
        finally:
            self._back_home()
        if task in self.held:                      # (held at that stop: runs later)
            self.parked.append(task)
            return -1
        if task is self.step_task and (self.stepping or self.stepping_over):
            return self._one_instruction()
        return 0

    def _back_home(self):
        """Put the task the scheduler is about to run back on the CPU (gdb may have read
        another thread's registers meanwhile)."""
        home = self.home
        if home is not None and self.kernel.cpu.current is not home and self._alive(home) and \
                home.mm is not None:
            self.kernel.switch_to(home)

    def _other_task(self, task) -> int:
        """A task gdb is not attached to (or one of an attached process that set no breakpoint
        there) about to run at a breakpoint's address: the exit would stop it there again and
        again, so it runs that one instruction with the address left out."""
        if not (self.use_exits and self.breakpoints) or self.cpu.pc() not in self.breakpoints:
            return 0
        self.exits_skip = self.cpu.pc()
        self.other_over = True
        self._sync_hooks()
        return self._one_instruction()

    def _one_instruction(self) -> int:
        """The next run is one instruction (a count of 1), stopping exactly after it."""
        self.cpu.set_exact_stops(True)
        if not self.cpu._count_hook:
            self.cpu.flush_all_translations()       # (blocks made before the count hook)
        return 1

    def _speed_after_step(self):
        hooks = bool(self.breakpoints) and not self.use_exits
        self.cpu.set_exact_stops(hooks or self.stepping or self.stepping_over)

    # --- watchpoints: the pages they are on fault, and that access runs as a step ----------
    def watch_fault(self, task, access: str, addr: int) -> bool:
        """Kernel.page_fault: a fault on a page a watchpoint of the task's process took bits
        from. True: the stub runs the faulting instruction as one step with the page as it
        really is and a memory hook on the watched bytes (before_run), then takes the bits again
        and reports a hit (after_run); the CPU stops now and the instruction is made again."""
        if not self.active or self.watch_step is not None or not self._attached(task):
            return False
        page = addr & ~0xFFF
        if (task.tgid, page) not in self.locked:
            return False
        self.watch_step = (task, page)
        return True

    def _begin_watch_step(self, task) -> int:
        _task, page = self.watch_step
        pages = task.mm.pages
        bits = pages.watched.get(page)
        pages.watch_page(page, None)
        hooks, before = [], []
        for kind, address, length in self.wps.get(task.tgid, ()):
            if address < page + 0x1000 and address + length > page - 16:
                hooks += self._add_watch_hooks((task.tgid, kind, address, length))
                before.append((kind, address, length, task.mm.read(address, length)))
        self.watch_lifted = (pages, page, bits, hooks, before)
        self.watch_hit = None
        self.cpu.set_exact_stops(True)
        self.cpu.flush_all_translations()        # (made again with the hook: memory's slow path)
        return 1

    def _end_watch_step(self, task):
        """After the step: the hooks go, the page is watched again. The hit, if any."""
        pages, page, bits, hooks, before = self.watch_lifted
        self.watch_lifted = None
        for h in hooks:
            self.cpu.remove_hook(h)
        self.cpu.flush_all_translations()        # (blocks made with the hook: the slow path)
        if bits and (task.tgid, page) in self.locked and not pages.released:
            pages.watch_page(page, bits)
        hit, self.watch_hit = self.watch_hit, None
        if hit is None and task.mm is not None:
            for kind, address, length, old in before:     # (a frame the hook did not see)
                if kind in (2, 4) and old is not None and task.mm.read(address, length) != old:
                    hit = (kind, address)
                    break
        self._speed_after_step()
        return hit

    def after_run(self, task, error) -> bool:
        """The CPU stopped running `task`: an event, a breakpoint, the end of a step or a fault
        is reported to gdb. True: the fault is not to be turned into a signal (gdb said so)."""
        if self.other_over:
            self.other_over = False
            self.exits_skip = None
            self._sync_hooks()
            self._speed_after_step()
        if not self.active or not self._attached(task):
            return False
        self.home = task
        try:
            return self._after_run(task, error)
        finally:
            self._back_home()

    def _after_run(self, task, error) -> bool:
        cpu = self.cpu
        if self.watch_lifted is not None and self.watch_step is not None and \
                self.watch_step[0] is task:
            ran = cpu.insns_run()
            hit = self._end_watch_step(task)
            if error is None and not cpu.retry and cpu.interrupt is None and \
                    task.exit is None and task.state == TASK_RUNNING and ran == 0:
                return False                     # not made yet: the step runs again
            self.watch_step = None
            if error is None and cpu.interrupt is None and task.exit is None and \
                    task.state == TASK_RUNNING:
                stepped = task is self.step_task and (self.stepping or self.stepping_over)
                if task is self.step_task and self.stepping_over:
                    self.stepping_over = False
                    self.exits_skip = None
                    self._sync_hooks()
                if hit is not None or (stepped and self.stepping):
                    self.stepping = False
                    kinds = {2: "watch", 3: "rwatch", 4: "awatch"}
                    extra = f"{kinds[hit[0]]}:{hit[1]:x};" if hit is not None else ""
                    self._stopped(task, SIGTRAP, extra)
                    self._inject(task)
                return False
        mine = task is self.step_task
        was_step = self.stepping and mine
        over = self.stepping_over and mine
        if mine:
            self.stepping = self.stepping_over = False
        hit, self.hit = self.hit, None
        if mine and self.exits_skip is not None:
            self.exits_skip = None                   # that breakpoint stops again from now on
            self._sync_hooks()
            if over and not was_step:
                self._speed_after_step()
        if task in self.events and self.events[task].startswith(("fork:", "vfork:")):
            # (a vfork parent sleeps now: it is reported asleep, as ptrace's event stop is)
            self._stopped(task, SIGTRAP, self.events.pop(task))
            return False
        if self.use_exits and hit is None and error is None and cpu.interrupt is None and \
                not cpu.retry and cpu.pc() in self._own(task) and task.restart_at is None:
            hit = cpu.pc()                           # stopped at an exit: before its instruction
        if task.trap_failed():
            return False
        fault = error is not None or (task.exit is None and task.restart_at is None and
                                      task.state == TASK_RUNNING and not cpu.retry and
                                      cpu.interrupt is not None)
        if fault and not (error is not None and self.kernel.phantom_fault(task)):
            sig = self._fault_signal(error)
            self._stopped(task, sig)
            if not self.active:
                return True
            given, self.resume_signal = self.resume_signal, 0
            if given == sig:
                return False                         # the kernel delivers it, as without gdb
            if given:
                from elfkit.kernel.signals import send_sig
                send_sig(task, given)
            return True
        if task.exit is not None or task.state != TASK_RUNNING:
            if was_step and task.blocked_call is not None and task.exit is None:
                self.pending = SIGTRAP               # reported when its call has returned
            return False
        if over and not was_step and hit is None and not self.conn.interrupted:
            return False                             # stepped off the breakpoint: run on
        if was_step:
            ran = cpu.insns_run()
            if ran is None or ran >= 1 or task.blocked_call is not None:
                if task.blocked_call is not None:
                    self.pending = SIGTRAP
                else:
                    self._stopped(task, SIGTRAP)
                    self._inject(task)
            else:
                self.stepping = True                 # stopped before its instruction: again
                self.step_task = task
            return False
        if hit is not None:
            kind = self._own(task).get(hit)
            self._stopped(task, SIGTRAP, "hwbreak:;" if kind == "hw" else "swbreak:;")
            self._inject(task)
        elif self.conn.closed:
            self.gone = True                         # gdb went away while the program ran
            self._kill("gdb closed the connection")
        elif self.conn.interrupted:
            self.conn.interrupted = False
            self._stopped(task, SIGINT)
            self._inject(task)
        return False

    def signals_due(self, task):
        """Signals about to be delivered to the task (get_signal under ptrace): each is
        reported to gdb first (T with its number); resuming with the same signal delivers it,
        with none drops it, with another delivers that one instead. SIGKILL is not asked about."""
        if not self.active or not self._attached(task) or task.exit is not None:
            return
        from elfkit.kernel.signals import deliverable_signals, send_sig, take_info
        self.home = task
        try:
            for sig in deliverable_signals(task):
                if sig == SIGKILL or sig in self.pass_signals:
                    continue
                self._stopped(task, sig)
                if not self.active:
                    return
                given, self.resume_signal = self.resume_signal, 0
                if given != sig:
                    if sig in task.signals.pending:
                        task.signals.pending.remove(sig)
                        take_info(task, sig)
                    if given:
                        send_sig(task, given)
        finally:
            self._back_home()

    def exited(self, reply: str):
        """The last attached process ended (process_exited): its W or X reply, as gdbserver
        sends it, and the session is over."""
        if not self.active:
            return
        self._pause_watch()
        if self.waiting:
            try:
                self.conn.send(reply)
            except Disconnected:
                pass
        self._remove_all()
        self._release_all()
        self.detached = True
        self.conn.close()

    def close(self):
        self._pause_watch()
        for fd in self.files.values():
            try:
                if not isinstance(fd, bytes):
                    os.close(fd)
            except OSError:
                pass
        self.files.clear()
        self.conn.close()

    def _fault_signal(self, error) -> int:
        from elfkit.kernel.signals import TRAPS
        cpu = self.cpu
        if error is not None and error.kind == "invalid-insn":
            return SIGILL
        if cpu.fault is not None and (cpu.interrupt == 14 or error is not None):
            return SIGSEGV
        if cpu.interrupt is not None:
            return TRAPS.get(cpu.interrupt, (SIGSEGV, ""))[0]
        return SIGSEGV

    def _inject(self, task):
        """A signal gdb resumed with (`signal N`, C/S packets): sent to the task now."""
        given, self.resume_signal = self.resume_signal, 0
        if given and task.exit is None:
            from elfkit.kernel.signals import deliver_pending, send_sig
            send_sig(task, given)
            deliver_pending(task)

    # --- stops and gdb's commands -----------------------------------------------------------
    def _watch(self):
        """The watcher thread: while the program runs, a 0x03 from gdb stops the CPU (the stop
        is reported as SIGINT by after_run)."""
        while self.active:
            if not self.running.wait(0.5):
                continue
            with self.io:
                if not self.running.is_set() or not self.active:
                    continue
                if self.conn.poll_interrupt(self.wake_r, None) and self.running.is_set():
                    if self.cpu.running:
                        self.cpu.stop()
                    else:                       # every thread asleep: the scheduler's
                        self.interrupt_due = True    # loop reports it (idle_point)
                        self.kernel.kick()
                    self.running.clear()        # (reported at the next stop)
            try:
                os.read(self.wake_r, 64)
            except OSError:
                pass

    def _pause_watch(self):
        if self.running.is_set():
            self.running.clear()
            try:
                os.write(self.wake_w, b"w")
            except OSError:
                pass
        with self.io:
            pass

    def _stopped(self, task, sig: int, extra: str = ""):
        """Report a stop of `task` (when gdb waits for one; every thread is stopped with it)
        and serve gdb until it resumes the program."""
        self._pause_watch()
        self.cur = self.sel = task
        self.held = {t for t in self.held if self._alive(t)}
        self.last_stop = f"T{gdb_signal(sig):02x}thread:{self._tid(task)};{extra}".encode()
        if self.waiting:
            self.waiting = False
            try:
                self.conn.send(self.last_stop)
            except Disconnected:
                self.gone = True
                self._kill("gdb closed the connection")
                return
        self.serve()

    def serve(self):
        """Answer packets until one resumes the program (or gdb detaches, kills, goes away)."""
        try:
            while True:
                packet = self.conn.read_packet()
                if self.handle(packet):
                    return
        except Disconnected:
            # gdb went away with the program stopped: it ends, as gdbserver's own does
            self.gone = True
            self._kill("gdb closed the connection")

    def handle(self, p: bytes) -> bool:
        """One packet; True when the program is to run again."""
        send = self.conn.send
        c = p[:1]
        try:
            if c == b"q" or c == b"Q":
                send(self._query(p))
            elif c == b"?":
                send(self.last_stop)
            elif c == b"g":
                self._on_cpu(self.sel)
                send(self.regs.all_hex(self._fixed(self.sel)))
            elif c == b"G":
                self._on_cpu(self.sel)
                self.regs.write_all(bytes.fromhex(p[1:].decode()))
                send(b"OK")
            elif c == b"p":
                self._on_cpu(self.sel)
                value = self.regs.one_hex(int(p[1:], 16), self._fixed(self.sel))
                send(value if value is not None else b"E00")
            elif c == b"P":
                num, _, val = p[1:].partition(b"=")
                n = int(num, 16)
                raw = bytes.fromhex(val.decode())
                self._on_cpu(self.sel)
                send(b"OK" if self.regs.write(n, raw) else b"E00")
            elif c == b"m":
                addr, _, length = p[1:].partition(b",")
                data = self._read_memory(int(addr, 16), int(length, 16))
                send(data.hex().encode() if data else b"E14")
            elif c == b"M":
                head, _, data = p[1:].partition(b":")
                addr, _, _length = head.partition(b",")
                send(self._write_memory(int(addr, 16), bytes.fromhex(data.decode())))
            elif c == b"X":
                head, _, data = p[1:].partition(b":")
                addr, _, _length = head.partition(b",")
                send(self._write_memory(int(addr, 16), unescape(data)))
            elif c in (b"Z", b"z"):
                send(self._breakpoint(p))
            elif c in (b"c", b"s", b"C", b"S"):
                sig = 0
                if c in (b"C", b"S"):
                    sig = linux_signal(int(p[1:].split(b";")[0], 16))
                elif len(p) > 1:
                    self._on_cpu(self.cur)
                    self._set_pc(int(p[1:], 16))
                step = c in (b"s", b"S")
                actions = [(c.lower() + (b"%02x" % gdb_signal(sig) if sig else b""),
                            self._tid(self.cur).encode())]
                if not step:
                    actions.append((b"c", b"-1"))
                return self._resume_threads(actions)
            elif p.startswith(b"vCont"):
                return self._vcont(p)
            elif c == b"v":
                send(self._v(p))
            elif c == b"H":
                t = self._find_thread(p[2:]) if len(p) > 2 else None
                if t is None and p[2:] not in (b"0", b"-1", b"p0.0", b"p-1.-1"):
                    send(b"E01")
                else:
                    if p[1:2] == b"g" and t is not None:
                        self.sel = t
                    send(b"OK")
            elif c == b"T":
                send(b"OK" if self._find_thread(p[1:]) is not None else b"E01")
            elif c == b"D":
                pid = int(p[2:], 16) if p[1:2] == b";" else None
                send(b"OK")
                return self._detach(pid)
            elif c == b"k":
                self._kill("killed by gdb")
                return True
            else:
                send(b"")
        except _AlreadyReplied:
            pass
        except _Resumed:
            return True
        except (ValueError, IndexError):
            send(b"E01")
        return False

    def _query(self, p: bytes) -> bytes:
        if p.startswith(b"qSupported"):
            asked = p.partition(b":")[2].split(b";")
            self.features = {f[:-1].decode() for f in asked
                             if f in (b"fork-events+", b"vfork-events+", b"exec-events+")}
            return (f"PacketSize={PACKET_SIZE:x};QStartNoAckMode+;qXfer:features:read+;"
                    "qXfer:auxv:read+;qXfer:exec-file:read+;qXfer:libraries-svr4:read+;"
                    "swbreak+;hwbreak+;vContSupported+;multiprocess+;QPassSignals+;"
                    "fork-events+;vfork-events+;exec-events+;qXfer:threads:read+").encode()
        if p.startswith(b"QPassSignals:"):
            # signals gdb would resume with at once (handle ... nostop noprint pass): they are
            # delivered without a stop, saving the round trip (SIGCHLD, SIGALRM...)
            self.pass_signals = {linux_signal(int(x, 16)) for x in p[13:].split(b";") if x} - {0}
            return b"OK"
        if p == b"QStartNoAckMode":
            self.conn.send(b"OK")
            self.conn.ack = False
            raise _AlreadyReplied()
        if p.startswith(b"qXfer:"):
            return self._qxfer(p)
        if p == b"qAttached" or p.startswith(b"qAttached:"):
            return b"0"                              # started by us: killed when gdb quits
        if p == b"qC":
            return f"QC{self._tid(self.cur)}".encode()
        if p == b"qfThreadInfo":
            return ("m" + ",".join(self._tid(t) for t in self._threads())).encode()
        if p == b"qsThreadInfo":
            return b"l"
        if p.startswith(b"qSymbol"):
            return b"OK"
        if p.startswith(b"qThreadExtraInfo,"):
            t = self._find_thread(p[17:])
            return (t.comm or "").encode().hex().encode() if t is not None else b"E01"
        return b""

    def _qxfer(self, p: bytes) -> bytes:
        parts = p.decode("latin-1").split(":")
        if len(parts) < 5 or parts[2] != "read":
            return b""
        obj, annex, span = parts[1], parts[3], parts[4]
        off, _, length = span.partition(",")
        off, length = int(off, 16), int(length, 16)
        if obj == "features":
            if annex != "target.xml":
                return b"E00"
            data = target_xml()
        elif obj == "auxv":
            data = self._auxv_bytes(self.sel)
        elif obj == "exec-file":
            t = self.kernel.find_task(int(annex, 16)) if annex else self.sel
            if t is None or t.image is None:
                return b"E01"
            data = os.fsencode(t.image.program.display_path or t.image.program.path)
        elif obj == "libraries-svr4":
            data = self._libraries()
        elif obj == "threads":
            data = self._thread_list()
        else:
            return b""
        chunk = data[off:off + length]
        return (b"m" if off + length < len(data) else b"l") + escape(chunk)

    def _thread_list(self) -> bytes:
        """qXfer:threads:read: every thread with its CPU and name (comm), as gdbserver lists
        them (gdb shows the name in `info threads`)."""
        from xml.sax.saxutils import quoteattr
        rows = [f'<thread id="{self._tid(t)}" core="{getattr(t.last_cpu, "index", 0)}" '
                f'name={quoteattr(t.comm or "")}/>' for t in self._threads()]
        return ('<?xml version="1.0"?>\n<threads>\n' + "\n".join(rows) +
                "\n</threads>\n").encode()

    @staticmethod
    def _auxv_pairs(task) -> list[tuple[int, int]]:
        pairs = list(task.image.stack.auxv) if task is not None and task.image is not None else []
        if not pairs or pairs[-1][0] != 0:
            pairs.append((0, 0))
        return pairs

    def _auxv_bytes(self, task) -> bytes:
        return b"".join(struct.pack("<QQ", k, v) for k, v in self._auxv_pairs(task))

    @property
    def auxv(self) -> dict[int, int]:
        return dict(self._auxv_pairs(self.sel))

    def _fixed(self, task) -> dict[int, int]:
        """Registers of a thread asleep in a system call as ptrace shows them: %rip after the
        `syscall`, orig_rax its number."""
        from elfkit.gdb.target import ORIG_RAX, RIP
        call = task.blocked_call if task is not None else None
        if call is None:
            return {}
        return {RIP: call[2] + 2, ORIG_RAX: call[0]}

    def _libraries(self) -> bytes:
        """From ld.so's link map in guest memory; under --linker=elfkit (no ld.so, no r_debug),
        from elfkit's linker's namespace."""
        if svr4.r_debug_address(self._read_memory, self.auxv) == 0:
            linker = getattr(self.task, "linker", None)
            dsos = getattr(linker, "dsos", None)
            if dsos and any(getattr(d, "is_main", False) for d in dsos):
                return svr4.namespace_list(dsos)
        return svr4.library_list(self._read_memory, self._read_cstring, self.auxv)

    def _v(self, p: bytes) -> bytes:
        if p == b"vMustReplyEmpty":
            return b""
        if p.startswith(b"vKill"):
            pid = int(p[6:], 16) if p[5:6] == b";" else self.first.tgid
            leader = self.kernel.find_task(pid)
            if pid == self.first.tgid or leader is None or pid not in self.procs:
                self.conn.send(b"OK")
                self._kill("killed by gdb")
                raise _Resumed()
            from elfkit.kernel.signals import send_sig
            self.procs.discard(pid)                  # (killed: no W for it)
            send_sig(leader, SIGKILL)
            self.conn.send(b"OK")
            if self._detach(pid):
                raise _Resumed()
            raise _AlreadyReplied()
        if p.startswith(b"vFile:"):
            return self._vfile(p[6:])
        return b""

    def _vfile(self, p: bytes) -> bytes:
        op, _, args = p.partition(b":")
        a = args.split(b",")
        try:
            if op == b"setfs":
                return b"F0"
            if op == b"open":
                name = bytes.fromhex(a[0].decode())
                flags = int(a[1], 16)
                if flags & 3:                          # only reading
                    return b"F-1,d"
                path = os.fsdecode(name)
                fd = self._proc_file(path)
                if fd is None:
                    fd = os.open(self.kernel.sysroot.host_path(path, self.task.cwd),
                                 os.O_RDONLY | os.O_CLOEXEC)
                ours = self.next_fd
                self.next_fd += 1
                self.files[ours] = fd
                return f"F{ours:x}".encode()
            if op == b"pread":
                fd = self.files[int(a[0], 16)]
                count, offset = min(int(a[1], 16), PACKET_SIZE // 2), int(a[2], 16)
                data = fd[offset:offset + count] if isinstance(fd, bytes) else \
                    os.pread(fd, count, offset)
                return f"F{len(data):x};".encode() + escape(data)
            if op == b"close":
                fd = self.files.pop(int(a[0], 16))
                if not isinstance(fd, bytes):
                    os.close(fd)
                return b"F0"
            if op == b"fstat":
                fd = self.files[int(a[0], 16)]
                if isinstance(fd, bytes):
                    raw = struct.pack(">7I3Q3I", 0, 0, 0o100444, 1, 0, 0, 0, len(fd), 4096, 0, 0, 0, 0)
                    return f"F{len(raw):x};".encode() + escape(raw)
                st = os.fstat(fd)
                raw = struct.pack(">7I3Q3I", st.st_dev & 0xFFFFFFFF, st.st_ino & 0xFFFFFFFF,
                                  st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
                                  st.st_rdev & 0xFFFFFFFF, st.st_size, st.st_blksize,
                                  st.st_blocks, int(st.st_atime) & 0xFFFFFFFF,
                                  int(st.st_mtime) & 0xFFFFFFFF, int(st.st_ctime) & 0xFFFFFFFF)
                return f"F{len(raw):x};".encode() + escape(raw)
            if op == b"readlink":
                name = os.fsdecode(bytes.fromhex(a[0].decode()))
                parts = name.strip("/").split("/")
                if parts[0] == "proc" and len(parts) == 3 and parts[1].isdigit():
                    task = self.kernel.find_task(int(parts[1]))      # the guest's /proc
                    if task is None or parts[2] not in ("exe", "cwd") or task.image is None:
                        raise FileNotFoundError(errno.ENOENT, name)
                    target = os.fsencode(task.cwd if parts[2] == "cwd" else
                                         task.image.program.display_path)
                else:
                    host = self.kernel.sysroot.host_path(name, self.task.cwd, follow_last=False)
                    target = os.fsencode(os.readlink(host))
                return f"F{len(target):x};".encode() + escape(target)
        except KeyError:
            return b"F-1,9"
        except OSError as e:
            return _fileio_error(e).encode()
        return b""

    def _proc_file(self, path: str):
        """The guest's own /proc files gdb reads (/proc/PID/maps, .../task/TID/maps for the
        vDSO's range; cmdline, exe): their bytes from elfkit's task list, not the host's /proc.
        None: not a /proc path."""
        parts = path.strip("/").split("/")
        if not parts or parts[0] != "proc":
            return None
        if len(parts) >= 4 and parts[2] == "task":
            parts = parts[:2] + parts[4:] if parts[3] == parts[1] else ["proc", "-"]
        task = self.kernel.find_task(int(parts[1])) if len(parts) == 3 and parts[1].isdigit() \
            else None
        if task is None or task.mm is None:
            raise FileNotFoundError(errno.ENOENT, path)
        if parts[2] == "maps":
            return task.mm.maps_text().encode()
        if parts[2] == "cmdline":
            return b"".join(a + b"\0" for a in task.argv)
        raise FileNotFoundError(errno.ENOENT, path)

    # --- memory -----------------------------------------------------------------------------
    def _read_memory(self, addr: int, length: int) -> bytes | None:
        """What can be read from `addr` on, page by page (a read that reaches an unmapped page
        gives what came before it, as ptrace's does)."""
        mm = self.task.mm
        if mm is None or length <= 0:
            return None
        out = bytearray()
        while len(out) < length:
            at = addr + len(out)
            n = min(length - len(out), 0x1000 - (at & 0xFFF))
            try:
                chunk = mm.read(at, n)
            except (MemoryError, ValueError):
                chunk = None
            if chunk is None:
                break
            out += chunk
        return bytes(out) if out else None

    def _read_cstring(self, addr: int) -> bytes | None:
        mm = self.task.mm
        return mm.read_cstring(addr) if mm is not None else None

    def _write_memory(self, addr: int, data: bytes) -> bytes:
        mm = self.task.mm
        if not data:
            return b"OK"
        if mm is None or not mm.poke(addr, data):          # (as ptrace's POKEDATA: code too)
            return b"E14"
        return b"OK"

    # --- breakpoints ------------------------------------------------------------------------
    def _breakpoint(self, p: bytes) -> bytes:
        """Z/z for the process of the selected thread (Hg)."""
        kind, addr, rest = p[1:].split(b",", 2) if p.count(b",") >= 2 else (p[1:2], b"", b"")
        if kind in (b"2", b"3", b"4"):
            return self._watchpoint(p[:1] == b"Z", int(kind), int(addr, 16),
                                    int(rest.split(b";")[0], 16))
        if kind not in (b"0", b"1"):
            return b""
        address = int(addr, 16)
        own = self.bps.setdefault(self.sel.tgid, {})
        if p[:1] == b"Z":
            own[address] = "sw" if kind == b"0" else "hw"
        else:
            own.pop(address, None)
        self._union()
        return b"OK"

    def _union(self):
        self.breakpoints = {a: k for tgid in self.procs for a, k in self.bps.get(tgid, {}).items()}

    def _all_watchpoints(self) -> set:
        return {(tgid, *k) for tgid in self.procs for k in self.wps.get(tgid, ())}

    def _watchpoint(self, insert: bool, kind: int, address: int, length: int) -> bytes:
        """Z2/Z3/Z4: a memory hook on the frames the range is in now. A writable page gets its
        own frame first (as a write fault would make it), so that a copy-on-write copy made
        later does not leave the hook on the old frame."""
        key = (kind, address, length)
        own = self.wps.setdefault(self.sel.tgid, set())
        if not insert:
            own.discard(key)
            return b"OK"
        mm = self.task.mm
        if mm is None or not 1 <= length <= 0x1000:
            return b"E01"
        for page in range(address & ~0xFFF, address + length, 0x1000):
            vma = mm.find(page)
            if vma is None:
                return b"E01"
            mm.handle_mm_fault(max(page, address), "write" if vma.prot & 2 else "read")
        own.add(key)
        return b"OK"

    def _add_watch_hooks(self, key) -> list[int]:
        _tgid, kind, address, length = key
        handles = []
        end = address + length
        for page in range(address & ~0xFFF, end, 0x1000):
            lo = max(page, address - 7)                 # an 8-byte access starting before it
            hi = min(page + 0xFFF, end - 1)
            for write in {2: (True,), 3: (False,), 4: (True, False)}[kind]:
                h = self.cpu.add_watch_hook(
                    lo, hi, write, lambda va, size, pa, w=write: self._on_watch(key, va, size, pa, w))
                if h is not None:
                    handles.append(h)
        return handles

    def _on_watch(self, key, vaddr: int, size: int, paddr: int, write: bool):
        tgid, kind, address, length = key
        current = self.cpu.current
        if self.watch_hit is not None or current is None or current.tgid != tgid or \
                vaddr + size <= address or vaddr >= address + length:
            return
        self.watch_hit = (kind, address)          # (the step completes the instruction)

    def _on_breakpoint(self, address: int):
        cpu = self.cpu
        current = cpu.current
        if current is None or address not in self._own(current) or not self._attached(current):
            return
        if self.skip_at == address and current is self.step_task:
            self.skip_at = None
            return
        self.hit = address
        cpu.stop()

    def _sync_hooks(self):
        """Code hooks for the breakpoints gdb has set now (gdb removes and sets them again at
        every stop and resume: only the difference changes the CPU)."""
        cpu = self.cpu
        self._union()
        if self.use_exits:
            cpu.set_stop_addresses(a for a in self.breakpoints if a != self.exits_skip)
        for address in [a for a in self.hooks if a not in self.breakpoints]:
            cpu.remove_hook(self.hooks.pop(address))
        for address in self.breakpoints:
            if address not in self.hooks and not self.use_exits:
                self.hooks[address] = cpu.add_code_hook(address, address, self._on_breakpoint)
        want: dict[tuple[int, int], int] = {}
        for tgid, kind, address, length in self._all_watchpoints():
            for page in range(address & ~0xFFF, address + length, 0x1000):
                want[(tgid, page)] = want.get((tgid, page), 0) | (PTE_W if kind == 2 else PTE_P)
        if want == self.locked:
            return
        mms = {t.tgid: t.mm for t in self.kernel.tasks.values()
               if t.mm is not None and self._alive(t)}           # (a detached one's too)
        for (tgid, page), bits in list(self.locked.items()):
            mm = mms.get(tgid)
            if want.get((tgid, page)) != bits and mm is not None and not mm.pages.released:
                mm.pages.watch_page(page, None)
        for (tgid, page), bits in want.items():
            mm = mms.get(tgid)
            if self.locked.get((tgid, page)) != bits and mm is not None:
                mm.pages.watch_page(page, bits)
        self.locked = want

    def _remove_all(self):
        self.bps = {tgid: {} for tgid in self.bps}
        self.wps = {tgid: set() for tgid in self.wps}
        self.exits_skip = None
        self._sync_hooks()
        self.stepping = False
        self.cpu.set_exact_stops(False)

    def _release_all(self):
        self.held.clear()
        self._release()

    # --- resuming ---------------------------------------------------------------------------
    def _set_pc(self, pc: int):
        self.cpu.set_reg("rip", pc)

    def _resume_threads(self, actions: list[tuple[bytes, bytes]]) -> bool:
        """Resume as vCont says: each thread takes the first action naming it (c, C, s, S;
        t: it stays stopped, as does a thread no action names). One thread at most steps; a
        signal (C, S) goes to the thread it is given for."""
        step_task, step_sig, run_sig = None, 0, {}
        held = set()
        for t in self._threads():
            act = next((a for a, spec in actions if not spec or self._matches(spec, t)), None)
            if act is None or act[:1] == b"t":
                held.add(t)
                continue
            sig = linux_signal(int(act[1:3], 16)) if act[:1] in (b"C", b"S") and len(act) >= 3 else 0
            if act[:1] in (b"s", b"S") and step_task is None:
                step_task, step_sig = t, sig
            elif sig:
                run_sig[t] = sig
        if step_task is None and len(held) == len(self._threads()):
            return False                             # nothing resumed (vCont;t alone)
        self.held = held
        mover = step_task if step_task is not None else self.cur
        if mover is not None and mover in held:
            mover = next((t for t in self._threads() if t not in held), mover)
        self._on_cpu(mover)
        pc = self.cpu.pc()
        step = step_task is not None
        self.step_task = mover
        self.skip_at = pc if pc in self._own(mover) else None
        self._union()
        # at an exit -- its own breakpoint, or another process's at the same address -- it runs
        # that one instruction with the address left out first
        at_exit = self.use_exits and pc in self.breakpoints
        self.exits_skip = pc if at_exit else None
        self._sync_hooks()
        self.stepping = step
        self.stepping_over = at_exit and not step
        self.resume_signal = step_sig if step else run_sig.pop(mover, 0)
        self.cur = mover
        for t, sig in run_sig.items():
            from elfkit.kernel.signals import send_sig
            send_sig(t, sig)
        hooks = bool(self.breakpoints) and not self.use_exits
        self.cpu.set_exact_stops(hooks or step or self.stepping_over)
        self.waiting = True
        self._release()
        if not step:
            self.cpu.regrow_tlb()                    # (the stop may have shrunk it)
            self.running.set()
            if self.watcher is None:
                self.watcher = threading.Thread(target=self._watch, name="elfkit-gdb", daemon=True)
                self.watcher.start()
        return True

    def _vcont(self, p: bytes) -> bool:
        if p == b"vCont?":
            self.conn.send(b"vCont;c;C;s;S;t")
            return False
        actions = []
        for action in p.split(b";")[1:]:
            act, _, thread = action.partition(b":")
            actions.append((act, thread))
        if not actions:
            self.conn.send(b"E01")
            return False
        if self._resume_threads(actions):
            return True
        self.conn.send(b"OK")                        # (only `t`: every thread stays stopped)
        return False

    def _detach(self, pid: int | None) -> bool:
        """D (every process) or D;PID: the process runs on without gdb, its breakpoints gone.
        True when no process is left attached (the session is over)."""
        gone = set(self.procs) if pid is None else {pid} & self.procs
        for tgid in gone:
            self.procs.discard(tgid)
            self.bps.pop(tgid, None)
            self.wps.pop(tgid, None)
        self.held = {t for t in self.held if t.tgid in self.procs}
        self.vfork_parents = {t for t in self.vfork_parents if t.tgid in self.procs}
        self.events = {t: e for t, e in self.events.items() if t.tgid in self.procs}
        if self.procs:
            self._sync_hooks()
            self._release()
            if self.sel.tgid not in self.procs:
                threads = self._threads()
                if threads:
                    self.sel = self.cur = threads[0]
            return False
        self._remove_all()
        self._release_all()
        self.detached = True
        self.close()
        return True

    def _kill(self, reason: str):
        from elfkit.kernel.task import ExitStatus
        self._remove_all()
        self._release_all()
        self.killed = True
        self.close()
        self.kernel.stop_everything(ExitStatus(signal=SIGKILL, reason=reason))


class _AlreadyReplied(Exception):
    """A handler sent its reply itself."""


class _Resumed(Exception):
    """A handler ended the session's stop (vKill)."""
