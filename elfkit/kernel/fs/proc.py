"""fs/proc: /proc as the guests see it -- their own processes, made from task_struct, never elfkit's.

/proc/self, /proc/thread-self and /proc/<pid> for every process of the guest's
pid namespace (fs/proc/base.c, array.c: stat, status, statm, cmdline, comm,
environ, auxv, maps, exe, cwd, fd/, oom_score, oom_score_adj -- writable), the
kernel threads among them (no command line: ps shows them as [name]), the
/proc directory itself, which lists the guest's pids instead of the host's,
and /proc/meminfo, which describes the guest machine's memory (--memory-limit).
Every other /proc path is the host's, read-only.
"""
from __future__ import annotations

import errno
import os
import struct

from elfkit.kernel.fs.files import HostFile, MemoryFile, OpenFile
from elfkit.kernel.task import STATE_NAMES, TASK_DEAD, TASK_ZOMBIE

_ITEMS = ("maps", "cmdline", "environ", "auxv", "comm", "stat", "status", "statm", "oom_score",
          "oom_score_adj", "mem")
_LINKS = ("exe", "cwd", "root")
_DIRS = ("fd", "task")
HZ = 100


def _target(p, guest_path: str):
    """(task, item) for a path in a guest process's /proc/PID directory; None when the path is
    not one of those; -ENOENT for a pid the namespace does not have."""
    parts = os.path.normpath(guest_path).split("/")
    if len(parts) < 3 or parts[1] != "proc":
        return None
    who = parts[2]
    if who == "self":
        task = p.group.leader                    # the process (its thread-self is the thread)
    elif who == "thread-self":
        task = p
    elif who.isdigit():
        task = p.kernel.find_task(int(who))
        if task is None:
            return -errno.ENOENT
    else:
        return None
    rest = parts[3:]
    if len(rest) >= 2 and rest[0] == "task":
        thread = p.kernel.find_task(int(rest[1])) if rest[1].isdigit() else None
        if thread is None or thread.group is not task.group:
            return -errno.ENOENT
        task, rest = thread, rest[2:]
    return task, "/".join(rest)


def through_magic_link(p, guest_path: str) -> str | int | None:
    """A path that goes on past one of /proc/PID's links -- /proc/PID/root/REST,
    /proc/PID/cwd/REST, /proc/PID/fd/N/REST (also under task/TID) -- is, as the kernel follows
    the link, REST from what the link stands for: the root, the task's cwd, the directory N
    is open on (what it is not a directory of fails with ENOTDIR when resolved). The guest
    path it names; None when the path is not such a one; -errno for a pid or fd not there."""
    parts = guest_path.split("/")
    if len(parts) < 5 or parts[1] != "proc" or parts[0] != "":
        return None
    i = 5 if parts[3] == "task" and len(parts) > 6 else 3
    item = parts[i]
    if item in ("root", "cwd"):
        rest = parts[i + 1:]
    elif item == "fd" and len(parts) > i + 2 and parts[i + 1].isdigit():
        rest = parts[i + 2:]
    else:
        return None
    if not any(rest):
        return None                                   # the link itself (open, readlink)
    found = _target(p, "/".join(parts[:i]) + "/x")
    if found is None or isinstance(found, int):
        return found
    t = found[0]
    if item == "root":
        base = "/"
    elif item == "cwd":
        base = t.cwd
    else:
        f = t.files.get(int(parts[i + 1]))
        if f is None:
            return -errno.ENOENT
        base = f.path
    return os.path.join(base, *rest)


class ProcMem(OpenFile):
    """/proc/PID/mem: the task's memory at the file offset that is its address (mem_rw):
    a read of an unmapped address fails with EIO; writes reach read-only pages too, into a
    private copy of each (FOLL_FORCE, Mm.poke), as the kernel lets a process write its own
    code or a debugger its tracee's. Guest memory only: the task's mm, never elfkit's."""

    def __init__(self, path: str, task, flags: int):
        self.path = path
        self.task = task
        self.mm = task.mm
        self.flags = flags
        self.pos = 0

    def pread(self, n, off):
        if self.mm is None or self.task.mm is not self.mm:
            return b""                                # (exec'ed or exited since: as mem_rw)
        out = bytearray()
        while len(out) < n:
            at = off + len(out)
            take = min(n - len(out), 0x1000 - (at & 0xFFF))
            vma = self.mm.find(at)
            chunk = self.mm.read(at, take) if vma is not None and vma.prot & 1 else None
            if chunk is None:
                break
            out += chunk
        return bytes(out) if out or n == 0 else -errno.EIO

    def pwrite(self, data, off):
        if self.flags & 3 == os.O_RDONLY:
            return -errno.EBADF
        if self.mm is None or self.task.mm is not self.mm:
            return 0
        return len(data) if self.mm.poke(off, bytes(data)) else -errno.EIO

    def read(self, n):
        data = self.pread(n, self.pos)
        if isinstance(data, bytes):
            self.pos += len(data)
        return data

    def write(self, data):
        n = self.pwrite(data, self.pos)
        if n > 0:
            self.pos += n
        return n

    def lseek(self, off, whence):
        if whence not in (0, 1):
            return -errno.EINVAL
        self.pos = (off if whence == 0 else self.pos + off) & 0xFFFFFFFFFFFFFFFF
        return self.pos

    def stat(self):
        return os.stat_result((0o100600, 0, 0x16, 1, 0, 0, 0, 0, 0, 0))


_PROC_DEV: list = []


def is_host_proc(st) -> bool:
    """Is this host stat result a file of the host's proc file system? (Then the guest reached
    /proc by another spelling -- //proc, a symbolic link to it or into it -- and must get its
    own /proc instead: canonical().)"""
    if not _PROC_DEV:
        try:
            _PROC_DEV.append(os.stat("/proc").st_dev)
        except OSError:
            _PROC_DEV.append(None)
    return st.st_dev == _PROC_DEV[0]


def canonical(p, guest_path: str, follow: bool = True) -> str | None:
    """The /proc/... name of a guest path that reaches the proc file system, following its
    symbolic links as the kernel's path walk does (inside the guest's root); None when it does
    not reach /proc."""
    return p.sysroot.reaches(guest_path, "proc", follow)


def _is_proc_root(guest_path: str) -> bool:
    return os.path.normpath(guest_path) == "/proc"


# --- contents ------------------------------------------------------------------------------------

def _sigmask(bits_of) -> str:
    return f"{bits_of:016x}"


def _sig_sets(t) -> tuple[int, int, int]:
    ign = cgt = 0
    for sig, a in t.signals.actions.items():
        if a[0] == 1:
            ign |= 1 << (sig - 1)
        elif a[0] > 1:
            cgt |= 1 << (sig - 1)
    pnd = 0
    for s in t.group.pending:
        pnd |= 1 << (s - 1)
    return pnd, ign, cgt


def _own_pending(t) -> int:
    bits = 0
    for s in t.signals.pending:
        bits |= 1 << (s - 1)
    return bits


def _vm(t) -> tuple[int, int, int, int, int]:
    """(VmSize, VmRSS, VmData, VmStk, VmExe) in bytes; VmRSS counts the pages that have frames
    (touched, demand paging), not what is mapped."""
    mm = t.mm
    if mm is None:
        return 0, 0, 0, 0, 0
    size = sum(v.size for v in mm.vmas)
    stk = sum(v.size for v in mm.vmas if v.name == "[stack]")
    exe = sum(v.size for v in mm.vmas if v.prot & 4 and t.image is not None and
              v.name == t.image.program.display_path)
    data = sum(v.size for v in mm.vmas if v.prot & 2 and not v.shared and v.name != "[stack]")
    return size, mm.pages.resident(), data, stk, exe


def _priority(t) -> tuple[int, int]:
    """stat's priority and nice fields: 20 + nice, or -1 - rt_priority for a real-time task."""
    return (-1 - t.rt_priority if t.policy in (1, 2) else 20 + t.nice), t.nice


def _stat_line(t) -> str:
    k = t.kernel
    comm = t.comm or "?"
    state = t.state if t.state != TASK_DEAD else "X"
    size, rss, _d, _s, _e = _vm(t)
    start = int((t.start_monotonic - k.boot_time) * HZ)
    pnd, ign, cgt = _sig_sets(t)
    img = t.image
    startstack = img.stack.sp if img is not None and t.mm is not None else 0
    code = (img.program.start, img.program.end) if img is not None and t.mm is not None else (0, 0)
    exit_code = t.exit_status.wait_status if t.exit_status is not None else 0
    fields = [t.pid, f"({comm})", state, t.ppid, t.pgid, t.sid, 0, -1, 0x400000 | (0x200000 if
              t.mm is None else 0), 0, 0, 0, 0, 0, 0, 0, 0, *_priority(t),
              max(1, len(t.group.live_threads())), 0, start, size, rss // 4096,
              18446744073709551615, code[0], code[1], startstack, 0, 0, pnd & 0xFFFFFFFF,
              t.signals.blocked & 0xFFFFFFFF, ign & 0xFFFFFFFF, cgt & 0xFFFFFFFF, 0, 0, 0,
              t.exit_signal, t.last_cpu.index if t.last_cpu is not None else 0,
              t.rt_priority, t.policy, 0, 0, 0]
    mm = t.mm
    if mm is not None:
        fields += [0, 0, mm.start_brk, 0, 0, 0, 0]
    else:
        fields += [0] * 7
    fields.append(exit_code)
    return " ".join(str(f) for f in fields) + "\n"


def _cpu_list(mask: int) -> str:
    """A CPU mask as the kernel's list format: 0-1,3."""
    out, i = [], 0
    while mask >> i:
        if mask >> i & 1:
            j = i
            while mask >> (j + 1) & 1:
                j += 1
            out.append(str(i) if i == j else f"{i}-{j}")
            i = j + 1
        else:
            i += 1
    return ",".join(out)


def _locked(mm) -> int:
    """VmLck: the bytes of the areas mlock/mlockall locked."""
    return sum(v.size for v in mm.vmas if getattr(v, "locked", False))


def _status(t) -> str:
    from elfkit.kernel import seccomp
    size, rss, data, stk, exe = _vm(t)
    pnd, ign, cgt = _sig_sets(t)
    kb = lambda n: f"{n // 1024:8d} kB"      # noqa: E731
    anon, file, shmem = t.mm.rss_counters() if t.mm is not None else (0, 0, 0)
    c = t.creds
    lines = [f"Name:\t{t.comm}", f"Umask:\t{t.umask:04o}",
             f"State:\t{STATE_NAMES.get(t.state, t.state)}", f"Tgid:\t{t.tgid}", "Ngid:\t0",
             f"Pid:\t{t.pid}", f"PPid:\t{t.ppid}", "TracerPid:\t0",
             f"Uid:\t{c.uid}\t{c.euid}\t{c.suid}\t{c.fsuid}",
             f"Gid:\t{c.gid}\t{c.egid}\t{c.sgid}\t{c.fsgid}",
             f"FDSize:\t{max(64, 1 << max(len(t.files.fds), 1).bit_length())}",
             "Groups:\t" + " ".join(str(g) for g in c.groups) + " ",
             f"NStgid:\t{t.tgid}", f"NSpid:\t{t.pid}", f"NSpgid:\t{t.pgid}", f"NSsid:\t{t.sid}"]
    if t.mm is not None:
        lines += [f"VmPeak:\t{kb(size)}", f"VmSize:\t{kb(size)}", f"VmLck:\t{kb(_locked(t.mm))}",
                  f"VmPin:\t{kb(0)}", f"VmHWM:\t{kb(max(rss, t.mm.hiwater_rss))}",
                  f"VmRSS:\t{kb(rss)}", f"RssAnon:\t{kb(anon)}", f"RssFile:\t{kb(file)}",
                  f"RssShmem:\t{kb(shmem)}",
                  f"VmData:\t{kb(data)}", f"VmStk:\t{kb(stk)}", f"VmExe:\t{kb(exe)}",
                  f"VmLib:\t{kb(0)}", f"VmPTE:\t{kb(t.mm.pages.page_tables_bytes())}",
                  f"VmSwap:\t{kb(0)}"]
    lines += ["CoreDumping:\t0", f"Threads:\t{max(1, len(t.group.live_threads()))}",
              "SigQ:\t0/63432", f"SigPnd:\t{_own_pending(t):016x}", f"ShdPnd:\t{pnd:016x}",
              f"SigBlk:\t{t.signals.blocked:016x}",
              f"SigIgn:\t{ign:016x}", f"SigCgt:\t{cgt:016x}", f"CapInh:\t{c.cap_inheritable:016x}",
              f"CapPrm:\t{c.cap_permitted:016x}", f"CapEff:\t{c.cap_effective:016x}",
              f"CapBnd:\t{c.cap_bset:016x}", f"CapAmb:\t{c.cap_ambient:016x}",
              f"NoNewPrivs:\t{int(t.no_new_privs)}", f"Seccomp:\t{seccomp.mode(t)}",
              f"Seccomp_filters:\t{seccomp.filter_count(t)}", f"Cpus_allowed:\t{t.cpus_allowed:x}",
              f"Cpus_allowed_list:\t{_cpu_list(t.cpus_allowed)}", "Mems_allowed:\t1",
              "Mems_allowed_list:\t0", "voluntary_ctxt_switches:\t0", "nonvoluntary_ctxt_switches:\t0"]
    return "\n".join(lines) + "\n"


def _contents(t, item: str) -> bytes | None:
    zombie = t.mm is None
    if item == "maps":
        return b"" if zombie else t.mm.maps_text().encode()
    if item == "cmdline":
        return b"" if zombie else b"".join(a + b"\0" for a in t.argv)
    if item == "environ":
        return b"" if zombie else b"".join(e + b"\0" for e in t.envp)
    if item == "auxv":
        return b"" if zombie else b"".join(struct.pack("<QQ", k, v) for k, v in t.image.stack.auxv)
    if item == "comm":
        return os.fsencode(t.comm)[:15] + b"\n"
    if item == "stat":
        return _stat_line(t).encode()
    if item == "statm":
        size, rss, data, stk, exe = _vm(t)
        return f"{size // 4096} {rss // 4096} 0 {exe // 4096} 0 {(data + stk) // 4096} 0\n".encode()
    if item == "status":
        return _status(t).encode()
    if item == "oom_score":
        from elfkit.kernel.mm.oom_kill import proc_oom_score
        return f"{proc_oom_score(t)}\n".encode()
    if item == "oom_score_adj":
        return f"{getattr(t.group, 'oom_score_adj', 0)}\n".encode()
    return None


def meminfo(kernel) -> bytes:
    """/proc/meminfo of the guest machine: its memory is --memory-limit, and what is not in
    a frame now is free (the page cache counts as Cached, and as available)."""
    frames = kernel.machine.phys.frames
    total, used = frames.total, frames.in_use
    cached = kernel.page_cache.size
    free = total - used
    kb = lambda n: f"{max(0, n) // 1024:8d} kB"    # noqa: E731
    rows = [("MemTotal", kb(total)), ("MemFree", kb(free)), ("MemAvailable", kb(free + cached)),
            ("Buffers", kb(0)), ("Cached", kb(cached)), ("SwapCached", kb(0)),
            ("Active", kb(used - cached)), ("Inactive", kb(cached)), ("SwapTotal", kb(0)),
            ("SwapFree", kb(0)), ("Dirty", kb(0)), ("Writeback", kb(0)),
            ("AnonPages", kb(used - cached)), ("Mapped", kb(cached)), ("Shmem", kb(0)),
            ("CommitLimit", kb(total)), ("Committed_AS", kb(used)),
            ("HugePages_Total", "       0"), ("HugePages_Free", "       0"),
            ("Hugepagesize", kb(2 << 20))]
    return "".join(f"{(name + ':').ljust(16)}{value}\n" for name, value in rows).encode()


class OomScoreAdjFile(MemoryFile):
    """/proc/PID/oom_score_adj opened for writing: each write sets the value (fs/proc/base.c
    oom_score_adj_write), with the kernel's checks (oom_kill.set_oom_score_adj)."""

    def __init__(self, path: str, writer, task, flags: int):
        super().__init__(path, lambda: _contents(task, "oom_score_adj"), 0o100644)
        self.writer, self.task, self.flags = writer, task, flags

    def write(self, data):
        from elfkit.kernel.mm.oom_kill import set_oom_score_adj
        if self.flags & 3 == 0:
            return -errno.EBADF
        err = set_oom_score_adj(self.writer, self.task, bytes(data))
        return err if err < 0 else len(data)

    def read(self, n):
        if self.flags & 3 == 1:
            return -errno.EBADF
        return super().read(n)


class ProcDir(OpenFile):
    """A directory elfkit lists itself: /proc, /proc/PID, /proc/PID/fd, /proc/PID/task."""

    def __init__(self, path: str, entries):
        self.path = path
        self.flags = 0o200000
        self._entries = entries
        self.refs = 1

    def getdents(self):
        return [(0x1000 + i, dtype, name) for i, (dtype, name) in enumerate(self._entries())]

    def stat(self):
        return os.stat_result((0o40555, 1, 0x16, 9, 0, 0, 0, 0, 0, 0))

    def read(self, n):
        return -errno.EISDIR

    def lseek(self, off, whence):
        return 0


def _proc_root_entries(p):
    host = []
    try:
        host = [e for e in os.listdir("/proc") if not e.isdigit()]
    except OSError:
        pass
    pids = sorted(t.pid for t in p.kernel.tasks.values()
                  if t.state != TASK_DEAD and t.group.leader is t)   # (threads are in task/)
    return [(4, "."), (4, "..")] + [(4, str(pid)) for pid in pids] + \
        [(10 if e in ("self", "thread-self", "mounts", "net") else 8, e) for e in sorted(host)]


def _dir_entries(t, item):
    if item == "":
        names = [(8, n) for n in _ITEMS] + [(10, n) for n in _LINKS] + [(4, n) for n in _DIRS]
        return [(4, "."), (4, "..")] + names
    if item == "fd":
        return [(4, "."), (4, "..")] + [(10, str(fd)) for fd in sorted(t.files.fds)]
    if item == "task":
        tids = [x.tid for x in t.group.live_threads()] or [t.tid]
        return [(4, "."), (4, "..")] + [(4, str(tid)) for tid in sorted(tids)]
    return None


def open_file(p, guest_path: str, flags: int = 0):
    if guest_path.endswith(("cpuinfo", "online", "possible", "present")):
        from elfkit.kernel.fs import cpuinfo
        f = cpuinfo.open_file(p, os.path.normpath(guest_path))
        if f is not None:
            return f
    if guest_path in ("/proc/sysvipc/shm", "/proc/sysvipc/sem", "/proc/sysvipc/msg"):
        # the guest's own SysV IPC objects (elfkit.kernel.ipc), never the host's
        ns = getattr(p.kernel.ipc, guest_path.rsplit("/", 1)[1])
        return MemoryFile(guest_path, lambda: ns.proc_text().encode())
    if _is_proc_root(guest_path):
        return ProcDir("/proc", lambda: _proc_root_entries(p))
    if os.path.normpath(guest_path) == "/proc/meminfo":
        return MemoryFile(guest_path, lambda: meminfo(p.kernel))
    found = _target(p, guest_path)
    if found is None or isinstance(found, int):
        return found
    t, item = found
    if item in ("", "fd", "task"):
        if item == "fd" and t.state in (TASK_ZOMBIE, TASK_DEAD):
            return ProcDir(guest_path, lambda: [(4, "."), (4, "..")])
        return ProcDir(guest_path, lambda: _dir_entries(t, item))
    if item in ("exe", "cwd", "root") or item.startswith("fd/"):
        # Opening the link opens what it points to (on the host side, the guest's file).
        if t.mm is None and item == "exe":
            return -errno.ENOENT
        changes = bool(flags & 3 or flags & os.O_TRUNC)     # (O_RDONLY|O_TRUNC truncates too)
        if changes and item == "exe":
            return -errno.ETXTBSY               # a running program's file (deny_write_access)
        if changes and item in ("cwd", "root"):
            return -errno.EISDIR
        if item == "exe":
            host, name = t.image.program.host_path, readlink(p, guest_path)
        elif item in ("cwd", "root"):
            name = t.cwd if item == "cwd" else "/"
            host = p.sysroot.host_path(name)
        else:
            f = t.files.get(int(item[3:])) if item[3:].isdigit() else None
            if f is None:
                return -errno.ENOENT
            host, host_fd = getattr(f, "host_path", None), f.host_fd()
            if host is None and host_fd is not None and getattr(f, "anonymous", False):
                host = f"/proc/self/fd/{host_fd}"         # a memfd: no name but elfkit's fd
            if host is None or host_fd is None:
                return f.get()                  # a pipe, stdio: opening fd/N gives the same file
            # a new open file description of the same file (its own offset: a script run by
            # fexecve is read from its start), as the kernel's reopen of the link makes
            name = f.path
            if changes:                         # reopened for writing or truncating: where the
                #                                 file is now decides, whatever fd N was opened for
                from elfkit.kernel.syscalls.files import fd_may_write
                if not fd_may_write(p, f):
                    return -errno.EROFS
                host = f"/proc/self/fd/{f.host_fd()}"   # the same inode, whatever its name now
        from elfkit.kernel.syscalls.files import _open_host      # (FIFOs never block the host)
        fd = _open_host(p, host, flags & (3 | os.O_APPEND | os.O_TRUNC | os.O_NONBLOCK), flags, 0)
        if fd < 0:
            return fd
        opened = HostFile(fd, name, flags & ~os.O_CLOEXEC, host)
        if item.startswith("fd/") and getattr(f, "anonymous", False):
            opened.anonymous, opened.page_cache = True, f.page_cache
        return opened
    if item == "mem":
        if t.mm is None:
            return -errno.ENOENT
        if t.group is not p.group and t.creds.euid != p.creds.euid and p.creds.euid != 0:
            return -errno.EACCES                  # (ptrace access: the same user, or root)
        return ProcMem(guest_path, t, flags)
    if item not in _ITEMS:
        return -errno.ENOENT
    if item == "oom_score_adj" and flags & 3:
        if t.creds.euid != p.creds.euid and p.creds.euid != 0:
            return -errno.EACCES                  # (the file is 0644, owned by the task's euid)
        return OomScoreAdjFile(guest_path, p, t, flags)
    return MemoryFile(guest_path, lambda: _contents(t, item))


def readlink(p, guest_path: str):
    norm = os.path.normpath(guest_path)
    if norm == "/proc/self":
        return str(p.pid)
    if norm == "/proc/thread-self":
        return f"{p.pid}/task/{p.tid}"
    found = _target(p, guest_path)
    if found is None or isinstance(found, int):
        return found
    t, item = found
    if item == "exe":
        return t.image.program.display_path if t.mm is not None else -errno.ENOENT
    if item == "cwd":
        return t.cwd
    if item == "root":
        return "/"
    if item.startswith("fd/"):
        try:
            f = t.files.get(int(item[3:]))
        except ValueError:
            return -errno.ENOENT
        return -errno.ENOENT if f is None else f.path
    return -errno.EINVAL


def stat(p, guest_path: str, follow: bool):
    if _is_proc_root(guest_path):
        return None                       # the host's /proc directory's own stat
    found = _target(p, guest_path)
    if found is None or isinstance(found, int):
        return found
    t, item = found
    c = t.creds
    if item == "exe" and follow and t.mm is not None:
        return os.stat(t.image.program.host_path)
    if item in _LINKS or item.startswith("fd/"):
        if item.startswith("fd/") and (not item[3:].isdigit() or t.files.get(int(item[3:])) is None):
            return -errno.ENOENT
        if follow and item.startswith("fd/"):
            st = t.files.get(int(item[3:])).stat()
            if not isinstance(st, int):
                return st
        return os.stat_result((0o120777, 0, 0x16, 1, c.uid, c.gid, 64, 0, 0, 0))
    if item == "" or item in _DIRS:
        return os.stat_result((0o40555, t.pid, 0x16, 9, c.uid, c.gid, 0, 0, 0, 0))
    if item in _ITEMS:
        mode = 0o100644 if item == "oom_score_adj" else 0o100444
        return os.stat_result((mode, 0, 0x16, 1, c.uid, c.gid, 0, 0, 0, 0))
    return -errno.ENOENT
