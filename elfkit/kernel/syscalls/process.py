"""Process system calls: exit, identity, process groups and sessions, credentials, limits,
arch_prctl, TLS/robust-list/rseq registration, futex for one thread; fork/clone (elfkit.kernel.fork),
execve (elfkit.kernel.exec) and wait (elfkit.kernel.exit) are decoded here and done there."""
from __future__ import annotations

import errno
import os
import struct

from elfkit.kernel import exec as exec_mod
from elfkit.kernel import exit as exit_mod
from elfkit.kernel import fork
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.task import TASK_DEAD, ExitStatus, GuestExit
from elfkit.kernel.syscalls.numbers import NR

ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
ARCH_GET_CPUID, ARCH_SET_CPUID = 0x1011, 0x1012
def sys_exit_group(p, code, *_):
    raise GuestExit(ExitStatus(code=code & 0xFF))


def sys_exit(p, code, *_):
    # one thread: the thread's exit is the process's exit
    raise GuestExit(ExitStatus(code=code & 0xFF))


def sys_getpid(p, *_):
    return p.pid


def sys_gettid(p, *_):
    return p.tid


def sys_getppid(p, *_):
    return p.ppid


def sys_getuid(p, *_):
    return p.creds.uid


def sys_geteuid(p, *_):
    return p.creds.euid


def sys_getgid(p, *_):
    return p.creds.gid


def sys_getegid(p, *_):
    return p.creds.egid


def sys_getresuid(p, r, e, s, *_):
    return _put3(p, r, e, s, p.creds.uid, p.creds.euid, p.creds.uid)


def sys_getresgid(p, r, e, s, *_):
    return _put3(p, r, e, s, p.creds.gid, p.creds.egid, p.creds.gid)


def _put3(p, a, b, c, x, y, z):
    ok = p.mm.write(a, struct.pack("<I", x)) and p.mm.write(b, struct.pack("<I", y)) and \
        p.mm.write(c, struct.pack("<I", z))
    return 0 if ok else -errno.EFAULT


def sys_getgroups(p, size, ptr, *_):
    groups = [p.creds.gid]
    if size == 0:
        return len(groups)
    if size < len(groups):
        return -errno.EINVAL
    return len(groups) if p.mm.write(ptr, struct.pack(f"<{len(groups)}I", *groups)) else -errno.EFAULT


def _task(p, pid):
    """pid 0 is the caller; otherwise a live task of the guest's pid namespace."""
    pid = pid - (1 << 32) if pid & 0x80000000 else pid & 0xFFFFFFFF
    if pid == 0:
        return p
    t = p.kernel.find_task(pid) if pid > 0 else None
    return t


def sys_getpgrp(p, *_):
    return p.pgid


def sys_getpgid(p, pid, *_):
    t = _task(p, pid)
    return t.pgid if t is not None else -errno.ESRCH


def sys_getsid(p, pid, *_):
    t = _task(p, pid)
    return t.sid if t is not None else -errno.ESRCH


def sys_setpgid(p, pid, pgid, *_):
    """Move a task (the caller or one of its children, in its session) into a group."""
    pgid = pgid - (1 << 32) if pgid & 0x80000000 else pgid & 0xFFFFFFFF
    if pgid < 0:
        return -errno.EINVAL
    t = _task(p, pid)
    if t is None or t is not p and t.parent is not p:
        return -errno.ESRCH
    if t is not p and t.did_exec:
        return -errno.EACCES                     # a child that already exec'ed
    if t.sid != p.sid:
        return -errno.EPERM
    if t.pid == t.sid:
        return -errno.EPERM                      # a session leader
    if pgid == 0:
        pgid = t.pid
    if pgid != t.pid and not any(o.pgid == pgid and o.sid == p.sid for o in p.kernel.guests()
                                 if o.state != TASK_DEAD):
        return -errno.EPERM
    t.pgid = pgid
    return 0


def sys_setsid(p, *_):
    if p.pgid == p.pid or any(o.pgid == p.pid for o in p.kernel.guests() if o.state != TASK_DEAD):
        return -errno.EPERM                      # already a group leader
    p.sid = p.pgid = p.pid
    return p.sid


NO_CHANGE = 0xFFFFFFFF


def _set_ids(p, kind: str, real: int, eff: int, saved: int) -> int:
    """setres[ug]id's rule (kernel/sys.c): an unprivileged task may only set each id to one of
    its current real, effective or saved ids; -1 leaves one unchanged. The ids are the guest's
    own view: elfkit still opens files as the user who ran it."""
    from dataclasses import replace
    c = p.creds
    cur = (c.uid, c.euid, getattr(c, "suid", c.euid)) if kind == "u" else \
        (c.gid, c.egid, getattr(c, "sgid", c.egid))
    new = [cur[i] if v & 0xFFFFFFFF == NO_CHANGE else v & 0xFFFFFFFF
           for i, v in enumerate((real, eff, saved))]
    if c.euid != 0 and any(v not in cur for v in new):
        return -errno.EPERM
    if kind == "u":
        p.creds = replace(c, uid=new[0], euid=new[1])
    else:
        p.creds = replace(c, gid=new[0], egid=new[1])
    return 0


def sys_setresuid(p, r, e, s, *_):
    return _set_ids(p, "u", r, e, s)


def sys_setresgid(p, r, e, s, *_):
    return _set_ids(p, "g", r, e, s)


def sys_setreuid(p, r, e, *_):
    return _set_ids(p, "u", r, e, NO_CHANGE)


def sys_setregid(p, r, e, *_):
    return _set_ids(p, "g", r, e, NO_CHANGE)


def sys_setuid(p, uid, *_):
    if p.creds.euid == 0:
        return _set_ids(p, "u", uid, uid, uid)
    return _set_ids(p, "u", NO_CHANGE, uid, NO_CHANGE)


def sys_setgid(p, gid, *_):
    if p.creds.euid == 0:
        return _set_ids(p, "g", gid, gid, gid)
    return _set_ids(p, "g", NO_CHANGE, gid, NO_CHANGE)


def sys_setgroups(p, size, ptr, *_):
    return 0 if p.creds.euid == 0 else -errno.EPERM


def sys_set_tid_address(p, ptr, *_):
    p.clear_child_tid = ptr
    return p.tid


def sys_set_robust_list(p, head, length, *_):
    if length != 24:
        return -errno.EINVAL
    p.robust_list = (head, length)
    return 0


RSEQ_FLAG_UNREGISTER = 1


def sys_rseq(p, rseq, length, flags, sig, *_):
    """Register the thread's struct rseq: elfkit.kernel.rseq keeps its cpu_id current and aborts
    a critical section the task is preempted, migrated or signalled in."""
    if flags & RSEQ_FLAG_UNREGISTER:
        if getattr(p, "rseq_area", None) != (rseq, length):
            return -errno.EINVAL
        p.rseq_area = None
        return 0
    if flags or length < 32 or rseq & 31:
        return -errno.EINVAL
    if getattr(p, "rseq_area", None) is not None:
        return -errno.EBUSY
    # cpu_id_start, cpu_id; rseq_cs = 0; flags = 0; node_id = 0; mm_cid
    cpu = p.cpu.index
    if not p.mm.write(rseq, struct.pack("<IIQIII", cpu, cpu, 0, 0, 0, cpu)[:min(length, 28)]):
        return -errno.EFAULT
    p.rseq_area = (rseq, length)
    p.rseq_sig = sig & 0xFFFFFFFF
    p.rseq_cpu = cpu
    return 0


def sys_arch_prctl(p, code, addr, *_):
    if code == ARCH_SET_FS:
        p.cpu.set_fs_base(addr)
        return 0
    if code == ARCH_SET_GS:
        p.cpu.set_gs_base(addr)
        return 0
    if code in (ARCH_GET_FS, ARCH_GET_GS):
        v = p.cpu.fs_base() if code == ARCH_GET_FS else p.cpu.gs_base()
        return 0 if p.mm.write(addr, struct.pack("<Q", v)) else -errno.EFAULT
    if code == ARCH_GET_CPUID:
        return 1
    return -errno.EINVAL


def rlimit(p, resource: int) -> tuple[int, int]:
    return p.rlimit(resource)


def sys_prlimit64(p, pid, resource, new_ptr, old_ptr, *_):
    t = _task(p, pid)
    if t is None:
        return -errno.ESRCH
    p = t
    if resource >= 16:
        return -errno.EINVAL
    cur = rlimit(p, resource)
    if old_ptr and not p.mm.write(old_ptr, struct.pack("<QQ", *cur)):
        return -errno.EFAULT
    if new_ptr:
        raw = p.mm.read(new_ptr, 16)
        if raw is None:
            return -errno.EFAULT
        soft, hard = struct.unpack("<QQ", raw)
        if soft > hard or hard > cur[1]:
            return -errno.EPERM if hard > cur[1] else -errno.EINVAL
        p.rlimits[resource] = (soft, hard)
    return 0


def sys_getrlimit(p, resource, ptr, *_):
    return sys_prlimit64(p, 0, resource, 0, ptr)


def sys_setrlimit(p, resource, ptr, *_):
    return sys_prlimit64(p, 0, resource, ptr, 0)


def sys_futex(p, uaddr, op, val, timeout, uaddr2, val3):
    """FUTEX_WAIT/WAKE (and their _BITSET forms, the bitset taken as all ones): elfkit.kernel.futex."""
    import time

    from elfkit.kernel import futex
    from elfkit.kernel.syscalls.timekeeping import read_timespec
    cmd = op & 0x7F
    if cmd in (futex.FUTEX_WAKE, futex.FUTEX_WAKE_BITSET):
        return futex.futex_wake(p, uaddr, val & 0x7FFFFFFF)
    if cmd in (futex.FUTEX_WAIT, futex.FUTEX_WAIT_BITSET):
        deadline = None
        if timeout and "futex" not in p.restart:
            ts = read_timespec(p, timeout)
            if isinstance(ts, int):
                return ts
            seconds = ts[0] + ts[1] / 1e9
            if cmd == futex.FUTEX_WAIT:                 # relative
                deadline = time.monotonic() + seconds
            elif op & futex.FUTEX_CLOCK_REALTIME:       # absolute, CLOCK_REALTIME
                deadline = time.monotonic() + seconds - time.time()
            else:                                       # absolute, CLOCK_MONOTONIC
                deadline = seconds
        return futex.futex_wait(p, uaddr, val, deadline)
    p.warn_once(f"futex:{cmd}", f"futex operation {cmd} is not emulated yet: -ENOSYS")
    return -errno.ENOSYS


def sys_prctl(p, option, arg2, *_):
    if option == 15:                               # PR_SET_NAME
        name = p.mm.read_cstring(arg2, 16)
        if name is None:
            return -errno.EFAULT
        p.comm = os.fsdecode(name[:15])
        return 0
    if option == 16:                               # PR_GET_NAME
        name = os.fsencode(p.comm)[:15]
        return 0 if p.mm.write(arg2, name + b"\0") else -errno.EFAULT
    if option in (38, 39, 4, 3, 36, 37, 1, 2):     # NO_NEW_PRIVS, DUMPABLE, PDEATHSIG, CHILD_SUBREAPER
        return 0
    return -errno.EINVAL


TABLE = [
    Syscall(NR.exit_group, sys_exit_group, ("int",)),
    Syscall(NR.exit, sys_exit, ("int",)),
    Syscall(NR.getpid, sys_getpid),
    Syscall(NR.gettid, sys_gettid),
    Syscall(NR.getppid, sys_getppid),
    Syscall(NR.getuid, sys_getuid),
    Syscall(NR.geteuid, sys_geteuid),
    Syscall(NR.getgid, sys_getgid),
    Syscall(NR.getegid, sys_getegid),
    Syscall(NR.getresuid, sys_getresuid, ("hex", "hex", "hex")),
    Syscall(NR.getresgid, sys_getresgid, ("hex", "hex", "hex")),
    Syscall(NR.getgroups, sys_getgroups, ("int", "hex")),
    Syscall(NR.getpgrp, sys_getpgrp),
    Syscall(NR.getpgid, sys_getpgid, ("int",)),
    Syscall(NR.getsid, sys_getsid, ("int",)),
    Syscall(NR.setuid, sys_setuid, ("int",)),
    Syscall(NR.setgid, sys_setgid, ("int",)),
    Syscall(NR.setresuid, sys_setresuid, ("int", "int", "int")),
    Syscall(NR.setresgid, sys_setresgid, ("int", "int", "int")),
    Syscall(NR.setreuid, sys_setreuid, ("int", "int")),
    Syscall(NR.setregid, sys_setregid, ("int", "int")),
    Syscall(NR.setgroups, sys_setgroups, ("int", "hex")),
    Syscall(NR.setpgid, sys_setpgid, ("int", "int")),
    Syscall(NR.setsid, sys_setsid),
    Syscall(NR.set_tid_address, sys_set_tid_address, ("hex",)),
    Syscall(NR.set_robust_list, sys_set_robust_list, ("hex", "int")),
    Syscall(NR.rseq, sys_rseq, ("hex", "int", "int", "hex")),
    Syscall(NR.arch_prctl, sys_arch_prctl, ("arch_prctl", "hex")),
    Syscall(NR.prlimit64, sys_prlimit64, ("int", "rlimit", "hex", "hex")),
    Syscall(NR.getrlimit, sys_getrlimit, ("rlimit", "hex")),
    Syscall(NR.setrlimit, sys_setrlimit, ("rlimit", "hex")),
    Syscall(NR.futex, sys_futex, ("hex", "futex_op", "int", "hex", "hex", "int")),
    Syscall(NR.wait4, exit_mod.sys_wait4, ("int", "hex", "wait_options", "hex")),
    Syscall(NR.waitid, exit_mod.sys_waitid, ("int", "int", "hex", "wait_options", "hex")),
    Syscall(NR.prctl, sys_prctl, ("int", "hex", "hex", "hex", "hex")),
    Syscall(NR.fork, fork.sys_fork),
    Syscall(NR.vfork, fork.sys_vfork),
    Syscall(NR.clone, fork.sys_clone, ("clone_flags", "hex", "hex", "hex", "hex")),
    Syscall(NR.clone3, fork.sys_clone3, ("hex", "size")),
    Syscall(NR.execve, exec_mod.sys_execve, ("path", "argv", "envp")),
    Syscall(NR.execveat, exec_mod.sys_execveat, ("dirfd", "path", "argv", "envp", "at_flags")),
]
