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

Phase 1 (issue 17): one process and its first thread. Other threads run and ignore
breakpoints; forked children and exec'ed programs are not followed (no fork/exec events).
"""
from __future__ import annotations

import errno
import os
import struct
import threading

from elfkit.gdb import svr4
from elfkit.gdb.rsp import Connection, Disconnected, escape, unescape
from elfkit.gdb.target import RegisterFile, gdb_signal, linux_signal, target_xml
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
        self.task = task
        self.pid = task.pid
        self.cpu = kernel.machine.cpus[0]
        self.regs = RegisterFile(self.cpu, REG)
        self.breakpoints: dict[int, str] = {}       # address -> "sw" / "hw", set by gdb
        self.hooks: dict[int, int] = {}             # address -> the CPU's hook handle
        self.watchpoints: set[tuple[int, int, int]] = set()   # (Z type 2/3/4, address, length)
        self.watch_hooks: dict[tuple[int, int, int], list[int]] = {}
        self.watch_hit: tuple[int, int] | None = None    # (Z type, address) that stopped the CPU
        self.watch_restore: tuple[int, bytes] | None = None   # (frame address, bytes before the store)
        self.watch_report = ""                      # reported with the step that completes it
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
        self.pending: int | None = SIGTRAP          # a stop to report before the task runs
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
        image = task.image
        self.exe_path = image.program.display_path or image.program.path
        pairs = list(image.stack.auxv)
        if not pairs or pairs[-1][0] != 0:
            pairs.append((0, 0))
        self.auxv = dict(pairs)
        self.auxv_bytes = b"".join(struct.pack("<QQ", k, v) for k, v in pairs)
        # while the program runs, a thread of ours watches the connection for gdb's Ctrl-C
        # (0x03) and stops the CPU; it holds `io` while it reads, and `wake` makes it let go
        self.io = threading.Lock()
        self.running = threading.Event()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.watcher: threading.Thread | None = None

    # --- the scheduler's side ---------------------------------------------------------------
    @property
    def active(self) -> bool:
        return not (self.detached or self.killed or self.gone)

    def before_run(self, task) -> int:
        """The task is about to run: report a stop due (the first one, a step that ended in a
        system call that slept), serve gdb until it resumes; the instruction count for the run
        (1: a step, 0: no limit)."""
        if task is not self.task:
            return self._other_task(task) if self.active else 0
        if not self.active:
            return 0
        if self.pending is not None:
            sig, self.pending = self.pending, None
            self._stopped(sig)
            if not self.active:
                return 0
            self._inject(task)
        if self.stepping or self.stepping_over:
            self.cpu.set_exact_stops(True)
            if not self.cpu._count_hook:
                self.cpu.flush_all_translations()       # (blocks made before the count hook)
            return 1
        return 0

    def _other_task(self, task) -> int:
        """Another thread of the program, or another process over the same code, about to run
        at a breakpoint's address (phase 1 debugs the first thread only): the exit would stop it
        there again and again, so it runs that one instruction with the address left out."""
        if not (self.use_exits and self.breakpoints) or self.cpu.pc() not in self.breakpoints:
            return 0
        self.exits_skip = self.cpu.pc()
        self.other_over = True
        self._sync_hooks()
        self.cpu.set_exact_stops(True)
        if not self.cpu._count_hook:
            self.cpu.flush_all_translations()
        return 1

    def _speed_after_step(self):
        hooks = bool(self.breakpoints) and not self.use_exits
        self.cpu.set_exact_stops(hooks or bool(self.watchpoints) or self.stepping or
                                 self.stepping_over)

    def after_run(self, task, error) -> bool:
        """The CPU stopped running `task`: a breakpoint, the end of a step or a fault is
        reported to gdb. True: the fault is not to be turned into a signal (gdb said so)."""
        if self.other_over:
            self.other_over = False
            self.exits_skip = None
            self._sync_hooks()
            self._speed_after_step()
        if task is not self.task or not self.active:
            return False
        cpu = self.cpu
        was_step, self.stepping = self.stepping, False
        over, self.stepping_over = self.stepping_over, False
        hit, self.hit = self.hit, None
        if self.exits_skip is not None:
            self.exits_skip = None                   # that breakpoint stops again from now on
            self._sync_hooks()
            if over and not was_step:
                self._speed_after_step()
        if self.use_exits and hit is None and error is None and cpu.interrupt is None and \
                not cpu.retry and cpu.pc() in self.breakpoints and task.restart_at is None:
            hit = cpu.pc()                           # stopped at an exit: before its instruction
        if task.trap_failed():
            return False
        fault = error is not None or (task.exit is None and task.restart_at is None and
                                      task.state == TASK_RUNNING and not cpu.retry and
                                      cpu.interrupt is not None)
        if fault and not (error is not None and self.kernel.phantom_fault(task)):
            sig = self._fault_signal(error)
            self._stopped(sig)
            if not self.active:
                return True
            given, self.resume_signal = self.resume_signal, 0
            if given == sig:
                return False                         # the kernel delivers it, as without gdb
            if given:
                from elfkit.kernel.signals import send_sig
                send_sig(task, given)
            return True
        watch, self.watch_hit = self.watch_hit, None
        restore, self.watch_restore = self.watch_restore, None
        if watch is not None and task.exit is None and task.state == TASK_RUNNING:
            # The CPU stopped right after the watched access, with %rip still on the
            # instruction that made it (its registers not yet written, as for a fault): put
            # back what a store overwrote and run the instruction once more, as a step, with
            # the watchpoints quiet; that step's stop is the one gdb sees.
            if restore is not None:
                self.cpu.phys.write(*restore)
            kind, address = watch
            self.watch_report = f"{ {2: 'watch', 3: 'rwatch', 4: 'awatch'}[kind]}:{address:x};"
            self.stepping = True
            pc = self.cpu.pc()
            self.skip_at = pc if pc in self.breakpoints else None
            if self.use_exits and pc in self.breakpoints:
                self.exits_skip = pc
                self._sync_hooks()
            return False
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
                    extra, self.watch_report = self.watch_report, ""
                    self._stopped(SIGTRAP, extra)
                    self._inject(task)
            else:
                self.stepping = True                 # stopped before its instruction: again
            return False
        if hit is not None:
            kind = self.breakpoints.get(hit)
            self._stopped(SIGTRAP, "hwbreak:;" if kind == "hw" else "swbreak:;")
            self._inject(task)
        elif self.conn.closed:
            self.gone = True                         # gdb went away while the program ran
            self._kill("gdb closed the connection")
        elif self.conn.interrupted:
            self.conn.interrupted = False
            self._stopped(SIGINT)
            self._inject(task)
        return False

    def signals_due(self, task):
        """Signals about to be delivered to the task (get_signal under ptrace): each is
        reported to gdb first (T with its number); resuming with the same signal delivers it,
        with none drops it, with another delivers that one instead. SIGKILL is not asked about."""
        if task is not self.task or not self.active or task.exit is not None:
            return
        from elfkit.kernel.signals import deliverable_signals, send_sig, take_info
        for sig in deliverable_signals(task):
            if sig == SIGKILL or sig in self.pass_signals:
                continue
            self._stopped(sig)
            if not self.active:
                return
            given, self.resume_signal = self.resume_signal, 0
            if given != sig:
                if sig in task.signals.pending:
                    task.signals.pending.remove(sig)
                    take_info(task, sig)
                if given:
                    send_sig(task, given)

    def exited(self, status):
        """The program ended (Kernel.record_exit): W or X, as gdbserver reports it."""
        if not self.active:
            return
        self._pause_watch()
        if self.waiting:
            if status.signal is not None and status.code is None:
                reply = f"X{gdb_signal(status.signal):02x};process:{self.pid:x}"
            else:
                reply = f"W{(status.code or 0) & 0xFF:02x};process:{self.pid:x}"
            try:
                self.conn.send(reply)
            except Disconnected:
                pass
        self._remove_all()
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

    def _stopped(self, sig: int, extra: str = ""):
        """Report a stop (when gdb waits for one) and serve gdb until it resumes the program."""
        self._pause_watch()
        self.last_stop = f"T{gdb_signal(sig):02x}thread:p{self.pid:x}.{self.pid:x};{extra}".encode()
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
                send(self.regs.all_hex())
            elif c == b"G":
                self.regs.write_all(bytes.fromhex(p[1:].decode()))
                send(b"OK")
            elif c == b"p":
                value = self.regs.one_hex(int(p[1:], 16))
                send(value if value is not None else b"E00")
            elif c == b"P":
                num, _, val = p[1:].partition(b"=")
                n = int(num, 16)
                raw = bytes.fromhex(val.decode())
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
                    self._set_pc(int(p[1:], 16))
                return self._resume(step=c in (b"s", b"S"), sig=sig)
            elif p.startswith(b"vCont"):
                return self._vcont(p)
            elif c == b"v":
                send(self._v(p))
            elif c == b"H" or c == b"T":
                send(b"OK")
            elif c == b"D":
                send(b"OK")
                self._detach()
                return True
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
            return (f"PacketSize={PACKET_SIZE:x};QStartNoAckMode+;qXfer:features:read+;"
                    "qXfer:auxv:read+;qXfer:exec-file:read+;qXfer:libraries-svr4:read+;"
                    "swbreak+;hwbreak+;vContSupported+;multiprocess+;QPassSignals+").encode()
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
            return f"QCp{self.pid:x}.{self.pid:x}".encode()
        if p == b"qfThreadInfo":
            return f"mp{self.pid:x}.{self.pid:x}".encode()
        if p == b"qsThreadInfo":
            return b"l"
        if p.startswith(b"qSymbol"):
            return b"OK"
        if p.startswith(b"qThreadExtraInfo"):
            return (self.task.comm or "").encode().hex().encode()
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
            data = self.auxv_bytes
        elif obj == "exec-file":
            data = self.exe_path.encode()
        elif obj == "libraries-svr4":
            data = self._libraries()
        else:
            return b""
        chunk = data[off:off + length]
        return (b"m" if off + length < len(data) else b"l") + escape(chunk)

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
            self.conn.send(b"OK")
            self._kill("killed by gdb")
            raise _Resumed()
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
        if mm is None or not mm.write(addr, data):
            return b"E14"
        return b"OK"

    # --- breakpoints ------------------------------------------------------------------------
    def _breakpoint(self, p: bytes) -> bytes:
        kind, addr, rest = p[1:].split(b",", 2) if p.count(b",") >= 2 else (p[1:2], b"", b"")
        if kind in (b"2", b"3", b"4"):
            return self._watchpoint(p[:1] == b"Z", int(kind), int(addr, 16),
                                    int(rest.split(b";")[0], 16))
        if kind not in (b"0", b"1"):
            return b""
        address = int(addr, 16)
        if p[:1] == b"Z":
            self.breakpoints[address] = "sw" if kind == b"0" else "hw"
        else:
            self.breakpoints.pop(address, None)
        return b"OK"

    def _watchpoint(self, insert: bool, kind: int, address: int, length: int) -> bytes:
        """Z2/Z3/Z4: a memory hook on the frames the range is in now. A writable page gets its
        own frame first (as a write fault would make it), so that a copy-on-write copy made
        later does not leave the hook on the old frame."""
        key = (kind, address, length)
        if not insert:
            self.watchpoints.discard(key)
            return b"OK"
        mm = self.task.mm
        if mm is None or not 1 <= length <= 0x1000:
            return b"E01"
        for page in range(address & ~0xFFF, address + length, 0x1000):
            vma = mm.find(page)
            if vma is None:
                return b"E01"
            mm.handle_mm_fault(max(page, address), "write" if vma.prot & 2 else "read")
        self.watchpoints.add(key)
        return b"OK"

    def _add_watch_hooks(self, key) -> list[int]:
        kind, address, length = key
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
        kind, address, length = key
        if self.watch_report or self.watch_hit is not None or self.cpu.current is not self.task \
                or vaddr + size <= address or vaddr >= address + length:
            return
        self.watch_hit = (kind, address)
        if write:
            self.watch_restore = (paddr, self.cpu.phys.read(paddr, size))
        self.cpu.stop()

    def _on_breakpoint(self, address: int):
        cpu = self.cpu
        if cpu.current is not self.task or address not in self.breakpoints:
            return
        if self.skip_at == address:
            self.skip_at = None
            return
        self.hit = address
        cpu.stop()

    def _sync_hooks(self):
        """Code hooks for the breakpoints gdb has set now (gdb removes and sets them again at
        every stop and resume: only the difference changes the CPU)."""
        cpu = self.cpu
        if self.use_exits:
            cpu.set_stop_addresses(a for a in self.breakpoints if a != self.exits_skip)
        for address in [a for a in self.hooks if a not in self.breakpoints]:
            cpu.remove_hook(self.hooks.pop(address))
        for address in self.breakpoints:
            if address not in self.hooks and not self.use_exits:
                self.hooks[address] = cpu.add_code_hook(address, address, self._on_breakpoint)
        for key in [k for k in self.watch_hooks if k not in self.watchpoints]:
            for h in self.watch_hooks.pop(key):
                cpu.remove_hook(h)
        for key in self.watchpoints:
            if key not in self.watch_hooks:
                self.watch_hooks[key] = self._add_watch_hooks(key)

    def _remove_all(self):
        self.breakpoints.clear()
        self.watchpoints.clear()
        self.exits_skip = None
        self._sync_hooks()
        self.stepping = False
        self.cpu.set_exact_stops(False)

    # --- resuming ---------------------------------------------------------------------------
    def _set_pc(self, pc: int):
        self.cpu.set_reg("rip", pc)

    def _resume(self, step: bool, sig: int) -> bool:
        pc = self.cpu.pc()
        at_breakpoint = pc in self.breakpoints
        self.skip_at = pc if at_breakpoint else None
        self.exits_skip = pc if at_breakpoint and self.use_exits else None
        self._sync_hooks()
        self.stepping = step
        self.stepping_over = at_breakpoint and self.use_exits and not step
        self.resume_signal = sig
        hooks = bool(self.breakpoints) and not self.use_exits
        self.cpu.set_exact_stops(hooks or bool(self.watchpoints) or step or self.stepping_over)
        self.waiting = True
        if not step:
            self.cpu.regrow_tlb()                    # (the stop may have shrunk it)
            self.running.set()
            if self.watcher is None:
                self.watcher = threading.Thread(target=self._watch, name="elfkit-gdb", daemon=True)
                self.watcher.start()
        return True

    def _vcont(self, p: bytes) -> bool:
        if p == b"vCont?":
            self.conn.send(b"vCont;c;C;s;S")
            return False
        mine = None
        for action in p.split(b";")[1:]:
            act, _, thread = action.partition(b":")
            if not thread or self._is_ours(thread):
                mine = act
                break
        if mine is None or mine[:1] == b"t":
            self.conn.send(b"OK" if mine is not None else b"E01")
            return False
        sig = linux_signal(int(mine[1:], 16)) if mine[:1] in (b"C", b"S") else 0
        return self._resume(step=mine[:1] in (b"s", b"S"), sig=sig)

    def _is_ours(self, thread: bytes) -> bool:
        if thread in (b"-1", b"p-1.-1"):
            return True
        text = thread.decode()
        if text.startswith("p"):
            pid, _, tid = text[1:].partition(".")
            return int(pid, 16) == self.pid and (not tid or tid == "-1" or int(tid, 16) == self.pid)
        return int(text, 16) in (self.pid, 0)

    def _detach(self):
        self._remove_all()
        self.detached = True
        self.close()

    def _kill(self, reason: str):
        from elfkit.kernel.task import ExitStatus
        self._remove_all()
        self.killed = True
        self.close()
        self.kernel.stop_everything(ExitStatus(signal=SIGKILL, reason=reason))


class _AlreadyReplied(Exception):
    """A handler sent its reply itself."""


class _Resumed(Exception):
    """A handler ended the session's stop (vKill)."""
