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
from elfkit.kernel import futex
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.task import TASK_DEAD, ExitStatus, GuestExit
from elfkit.kernel.syscalls.numbers import NR
from elfkit.kernel.syscalls.files import s32
from elfkit.kernel.fs.files import NR_OPEN

ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
ARCH_GET_CPUID, ARCH_SET_CPUID = 0x1011, 0x1012
def sys_exit_group(p, code, *_):
    raise GuestExit(ExitStatus(code=code & 0xFF))


def sys_exit(p, code, *_):
    """exit(2) ends the calling thread only; the last thread's end is its process's."""
    raise GuestExit(ExitStatus(code=code & 0xFF, thread=True))


def sys_getpid(p, *_):
    return p.tgid


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
    c = p.creds
    return _put3(p, r, e, s, c.uid, c.euid, c.suid)


def sys_getresgid(p, r, e, s, *_):
    c = p.creds
    return _put3(p, r, e, s, c.gid, c.egid, c.sgid)


def _put3(p, a, b, c, x, y, z):
    ok = p.mm.write(a, struct.pack("<I", x)) and p.mm.write(b, struct.pack("<I", y)) and \
        p.mm.write(c, struct.pack("<I", z))
    return 0 if ok else -errno.EFAULT


def sys_getgroups(p, size, ptr, *_):
    groups = p.creds.groups
    size = s32(size)
    if size < 0:
        return -errno.EINVAL
    if size == 0:
        return len(groups)
    if size < len(groups):
        return -errno.EINVAL
    raw = struct.pack(f"<{len(groups)}I", *groups)
    return len(groups) if p.mm.write(ptr, raw) else -errno.EFAULT


def _task(p, pid):
    """pid 0 is the caller's process (its leader); otherwise a live task of the guest's pid
    namespace."""
    pid = pid - (1 << 32) if pid & 0x80000000 else pid & 0xFFFFFFFF
    if pid == 0:
        return p.group.leader
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
    me = p.group.leader                          # (any thread acts for its process)
    if t is None or t is not me and t.parent is not me:
        return -errno.ESRCH
    if t.group.leader is not t:
        return -errno.EINVAL                     # a thread that is not a leader
    if t is not me and t.did_exec:
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
    me = p.group.leader                          # the process's pid, from any of its threads
    if me.pgid == me.pid or any(o.pgid == me.pid for o in p.kernel.processes()
                                if o.state != TASK_DEAD):
        return -errno.EPERM                      # already a group leader
    me.sid = me.pgid = me.pid
    return me.sid


NO_CHANGE = 0xFFFFFFFF


# kernel/sys.c's set*id calls on the guest's own Cred (elfkit.kernel.cred). Without
# CAP_SETUID/CAP_SETGID -- the guest never has them, whatever its uid -- an id may only become
# one of the caller's current real, effective or saved ids; the filesystem id follows the
# effective one. Each change is a new Cred (commit_creds), so a forked child's change stays its own.

def _commit(p, new):
    """commit_creds: a change of effective or filesystem ids makes the task lose its parent
    death signal (and, were it setuid, its dumpability)."""
    old = p.creds
    if (old.euid, old.egid, old.fsuid, old.fsgid) != (new.euid, new.egid, new.fsuid, new.fsgid):
        p.pdeath_signal = 0
    p.creds = new
    return 0


def _ids(c, kind):
    return (c.uid, c.euid, c.suid) if kind == "u" else (c.gid, c.egid, c.sgid)


def _with_ids(c, kind, r, e, s):
    from dataclasses import replace
    if kind == "u":
        return replace(c, uid=r, euid=e, suid=s, fsuid=e)
    return replace(c, gid=r, egid=e, sgid=s, fsgid=e)


def _privileged(c, kind):
    from elfkit.kernel.cred import CAP_SETGID, CAP_SETUID, capable
    return capable(c, CAP_SETUID if kind == "u" else CAP_SETGID)


def _setres(p, kind, real, eff, saved):
    c = p.creds
    cur = _ids(c, kind)
    want = [v & 0xFFFFFFFF for v in (real, eff, saved)]
    fs = c.fsuid if kind == "u" else c.fsgid
    if all(v in (NO_CHANGE, cur[i]) for i, v in enumerate(want)) and want[1] in (NO_CHANGE, fs):
        return 0                                 # a no-op leaves even the filesystem id alone
    if not _privileged(c, kind) and any(v != NO_CHANGE and v not in cur for v in want):
        return -errno.EPERM
    new = [cur[i] if v == NO_CHANGE else v for i, v in enumerate(want)]
    return _commit(p, _with_ids(c, kind, *new))


def _setre(p, kind, real, eff):
    c = p.creds
    r0, e0, s0 = _ids(c, kind)
    real, eff = real & 0xFFFFFFFF, eff & 0xFFFFFFFF
    fs = c.fsuid if kind == "u" else c.fsgid
    if real in (NO_CHANGE, r0) and eff in (NO_CHANGE, e0) and eff in (NO_CHANGE, fs):
        return 0                                 # a no-op leaves even the filesystem id alone
    priv = _privileged(c, kind)
    r, e = r0, e0
    if real != NO_CHANGE:
        if real not in (r0, e0) and not priv:
            return -errno.EPERM
        r = real
    if eff != NO_CHANGE:
        if eff not in (r0, e0, s0) and not priv:
            return -errno.EPERM
        e = eff
    # the saved id follows the effective one when the real id is set, or the effective one
    # is set to something other than the old real id
    s = e if real != NO_CHANGE or eff != NO_CHANGE and eff != r0 else s0
    return _commit(p, _with_ids(c, kind, r, e, s))


def _set1(p, kind, v):
    c = p.creds
    v &= 0xFFFFFFFF
    if v == NO_CHANGE:
        return -errno.EINVAL                     # (uid_t)-1 is no valid id
    r0, e0, s0 = _ids(c, kind)
    if _privileged(c, kind):
        return _commit(p, _with_ids(c, kind, v, v, v))
    if v not in (r0, s0):
        return -errno.EPERM
    return _commit(p, _with_ids(c, kind, r0, v, s0))


def _setfs(p, kind, v):
    """setfsuid/setfsgid: always the old filesystem id; a change only to one of the caller's
    real, effective, saved or current filesystem ids."""
    from dataclasses import replace
    c = p.creds
    old = c.fsuid if kind == "u" else c.fsgid
    v &= 0xFFFFFFFF
    if v == NO_CHANGE:
        return old
    if v in _ids(c, kind) + (old,) or _privileged(c, kind):
        _commit(p, replace(c, fsuid=v) if kind == "u" else replace(c, fsgid=v))
    return old


def sys_setresuid(p, r, e, s, *_):
    return _setres(p, "u", r, e, s)


def sys_setresgid(p, r, e, s, *_):
    return _setres(p, "g", r, e, s)


def sys_setreuid(p, r, e, *_):
    return _setre(p, "u", r, e)


def sys_setregid(p, r, e, *_):
    return _setre(p, "g", r, e)


def sys_setuid(p, uid, *_):
    return _set1(p, "u", uid)


def sys_setgid(p, gid, *_):
    return _set1(p, "g", gid)


def sys_setfsuid(p, uid, *_):
    return _setfs(p, "u", uid)


def sys_setfsgid(p, gid, *_):
    return _setfs(p, "g", gid)


def sys_setgroups(p, size, ptr, *_):
    """may_setgroups needs CAP_SETGID: checked before the size and the list."""
    from dataclasses import replace

    from elfkit.kernel.cred import NGROUPS_MAX
    if not _privileged(p.creds, "g"):
        return -errno.EPERM
    size = s32(size)
    if size < 0 or size > NGROUPS_MAX:
        return -errno.EINVAL
    raw = p.mm.read(ptr, 4 * size) if size else b""
    if raw is None:
        return -errno.EFAULT
    return _commit(p, replace(p.creds, groups=tuple(sorted(set(struct.unpack(f"<{size}I", raw))))))


# kernel/capability.c: the three capability sets, as the version the caller names sees them.
CAP_V1, CAP_V2, CAP_V3 = 0x19980330, 0x20071026, 0x20080522


def _cap_words(p, hdr):
    """cap_validate_magic: how many 32-bit words of each set the header's version carries, or
    -errno (an unknown version: the preferred one is written back, EINVAL)."""
    raw = p.mm.read(hdr, 4)
    if raw is None:
        return -errno.EFAULT
    version = struct.unpack("<I", raw)[0]
    if version == CAP_V1:
        return 1
    if version in (CAP_V2, CAP_V3):
        return 2
    return -errno.EFAULT if not p.mm.write(hdr, struct.pack("<I", CAP_V3)) else -errno.EINVAL


def sys_capget(p, hdr, data, *_):
    words = _cap_words(p, hdr)
    if not data or words < 0:
        return 0 if not data and words == -errno.EINVAL else min(words, 0)
    raw = p.mm.read(hdr + 4, 4)
    if raw is None:
        return -errno.EFAULT
    pid = struct.unpack("<i", raw)[0]
    if pid < 0:
        return -errno.EINVAL
    t = p if pid == 0 else p.kernel.find_task(pid)
    if t is None or t is p.kernel.init:
        return -errno.ESRCH
    c = t.creds
    out = b"".join(struct.pack("<III", c.cap_effective >> 32 * i & 0xFFFFFFFF,
                               c.cap_permitted >> 32 * i & 0xFFFFFFFF,
                               c.cap_inheritable >> 32 * i & 0xFFFFFFFF) for i in range(words))
    return 0 if p.mm.write(data, out) else -errno.EFAULT


def sys_capset(p, hdr, data, *_):
    """cap_capset's rules: no new permitted capability, effective within permitted, inheritable
    within the old inheritable (no CAP_SETPCAP) and the bounding set. The guest has none, so
    only a change to empty sets succeeds."""
    from dataclasses import replace
    words = _cap_words(p, hdr)
    if words < 0:
        return words
    raw = p.mm.read(hdr + 4, 4)
    if raw is None:
        return -errno.EFAULT
    pid = struct.unpack("<i", raw)[0]
    if pid not in (0, p.pid):
        return -errno.EPERM
    raw = p.mm.read(data, 12 * words)
    if raw is None:
        return -errno.EFAULT
    sets = [0, 0, 0]
    for i in range(words):
        for j, v in enumerate(struct.unpack_from("<III", raw, 12 * i)):
            sets[j] |= v << 32 * i
    eff, prm, inh = sets
    c = p.creds
    if inh & ~(c.cap_inheritable | c.cap_permitted) or inh & ~(c.cap_inheritable | c.cap_bset) \
            or prm & ~c.cap_permitted or eff & ~prm:
        return -errno.EPERM
    return _commit(p, replace(c, cap_effective=eff, cap_permitted=prm, cap_inheritable=inh,
                              cap_ambient=c.cap_ambient & prm & inh))


def sys_set_tid_address(p, ptr, *_):
    p.clear_child_tid = ptr
    return p.tid


def sys_set_robust_list(p, head, length, *_):
    if length != 24:
        return -errno.EINVAL
    p.robust_list = (head, length)
    return 0


RSEQ_FLAG_UNREGISTER = 1
RLIMIT_NOFILE = 7


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
    """kernel/sys.c prlimit64, in its order: the resource, the new limits read and checked, the
    target and the permission to change it (same ids; the guest has no CAP_SYS_RESOURCE), then
    the old limits written to the caller's memory."""
    resource &= 0xFFFFFFFF
    if resource >= 16:
        return -errno.EINVAL
    new = None
    if new_ptr:
        raw = p.mm.read(new_ptr, 16)
        if raw is None:
            return -errno.EFAULT
        new = struct.unpack("<QQ", raw)
        if new[0] > new[1]:
            return -errno.EINVAL
    t = _task(p, pid)
    if t is None:
        return -errno.ESRCH
    if t is not p and new is not None:
        c, tc = p.creds, t.creds
        if not (c.uid == tc.uid == tc.euid == tc.suid and c.gid == tc.gid == tc.egid == tc.sgid):
            return -errno.EPERM
    cur = rlimit(t, resource)
    if new is not None:
        if new[1] > cur[1]:
            return -errno.EPERM                  # raising the hard limit needs CAP_SYS_RESOURCE
        if resource == RLIMIT_NOFILE and new[0] > NR_OPEN:
            return -errno.EPERM                  # (fs.nr_open: no table grows past it)
        t.rlimits[resource] = new
        if resource == RLIMIT_NOFILE:
            t.files.nofile = new[0]              # the descriptor table obeys it from now on
    if old_ptr and not p.mm.write(old_ptr, struct.pack("<QQ", *cur)):
        return -errno.EFAULT
    return 0


def sys_getrlimit(p, resource, ptr, *_):
    return sys_prlimit64(p, 0, resource, 0, ptr)


def sys_setrlimit(p, resource, ptr, *_):
    return sys_prlimit64(p, 0, resource, ptr, 0)


def sys_futex(p, uaddr, op, val, timeout, uaddr2, val3):
    """futex(2): WAIT/WAKE and their _BITSET forms, REQUEUE, CMP_REQUEUE, WAKE_OP and the PI
    lock operations (LOCK_PI, LOCK_PI2, TRYLOCK_PI, UNLOCK_PI): elfkit.kernel.futex.
    FUTEX_WAIT_REQUEUE_PI/CMP_REQUEUE_PI are -ENOSYS (glibc's condition variables have not used
    them since 2.25)."""
    if op == 129 or op == 1:                            # FUTEX_WAKE(_PRIVATE): the common case
        return futex.futex_wake(p, uaddr, val & 0x7FFFFFFF, 0xFFFFFFFF, op == 1)
    if (op == 128 or op == 0) and not timeout:          # FUTEX_WAIT(_PRIVATE), no timeout
        return futex.futex_wait(p, uaddr, val, None, 0xFFFFFFFF, op == 0)   # (a Sleep: returned)
    cmd = op & 0x7F
    shared = not op & 128                               # FUTEX_PRIVATE_FLAG
    if op & futex.FUTEX_CLOCK_REALTIME and cmd not in (futex.FUTEX_WAIT_BITSET, 11, 13):
        return -errno.ENOSYS                            # only WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2
    bitset = val3 & 0xFFFFFFFF if cmd in (futex.FUTEX_WAKE_BITSET, futex.FUTEX_WAIT_BITSET) \
        else 0xFFFFFFFF
    if not bitset:
        return -errno.EINVAL
    if cmd in (futex.FUTEX_WAKE, futex.FUTEX_WAKE_BITSET):
        return futex.futex_wake(p, uaddr, val & 0x7FFFFFFF, bitset, shared)
    if cmd in (3, 4):                                   # FUTEX_REQUEUE, FUTEX_CMP_REQUEUE
        nr_wake, nr_requeue = s32(val), s32(timeout)
        if nr_wake < 0 or nr_requeue < 0:
            return -errno.EINVAL
        return futex.futex_requeue(p, uaddr, uaddr2, nr_wake, nr_requeue,
                                   val3 if cmd == 4 else None, shared)
    if cmd in (futex.FUTEX_WAIT, futex.FUTEX_WAIT_BITSET):
        deadline = None
        if timeout and "futex" not in p.restart:
            import time

            from elfkit.kernel.syscalls.timekeeping import read_timespec
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
        return futex.futex_wait(p, uaddr, val, deadline, bitset, shared, timed=bool(timeout))
    if cmd == 5:                                        # FUTEX_WAKE_OP
        return futex.futex_wake_op(p, uaddr, uaddr2, s32(val), s32(timeout), val3 & 0xFFFFFFFF,
                                   shared)
    if cmd in (6, 8, 13):                               # FUTEX_LOCK_PI, TRYLOCK_PI, LOCK_PI2
        deadline = p.restart.get("deadline")
        if timeout and cmd != 8 and "pi" not in p.restart:
            import time

            from elfkit.kernel.syscalls.timekeeping import read_timespec
            ts = read_timespec(p, timeout)
            if isinstance(ts, int):
                return ts
            seconds = ts[0] + ts[1] / 1e9           # absolute: LOCK_PI on CLOCK_REALTIME,
            realtime = cmd == 6 or op & futex.FUTEX_CLOCK_REALTIME   # LOCK_PI2 as asked
            deadline = time.monotonic() + seconds - time.time() if realtime else seconds
        return futex.futex_lock_pi(p, uaddr, deadline, trylock=cmd == 8, shared=shared)
    if cmd == 7:                                        # FUTEX_UNLOCK_PI
        return futex.futex_unlock_pi(p, uaddr, shared)
    p.warn_once(f"futex:{cmd}", f"futex operation {cmd} is not emulated: -ENOSYS")
    return -errno.ENOSYS


def _futex_restarts(p, *_) -> bool:
    """A wait with a timeout that a handler interrupts returns EINTR even under SA_RESTART (the
    kernel's -ERESTART_RESTARTBLOCK); one without a timeout restarts (-ERESTARTSYS)."""
    return not p.restart.get("futex_timed")


sys_futex.restarts = _futex_restarts


def sys_personality(p, persona, *_):
    """The execution domain and its flags (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC...): kept,
    inherited by fork; 0xffffffff only asks. elfkit's layout never randomises anyway."""
    old = p.personality
    if persona & 0xFFFFFFFF != 0xFFFFFFFF:
        p.personality = persona & 0xFFFFFFFF
    return old


RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD = 0, -1, 1


def sys_getrusage(p, who, ru, *_):
    """User time from the guest's own run time on a CPU, system time 0, maxrss the resident
    set, minflt the faults the kernel fixed; the children's side is what their reaping left."""
    from elfkit.kernel.time.clocks import task_cputime
    who = s32(who)
    if who not in (RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD):
        return -errno.EINVAL
    if who == RUSAGE_CHILDREN:
        utime, maxrss, minflt = getattr(p, "children_usage", (0.0, 0, 0))
    else:
        # RUSAGE_SELF: the whole process (the threads that ended too); RUSAGE_THREAD: the caller
        utime = task_cputime(p if who == RUSAGE_THREAD else p.group)
        maxrss = max(getattr(p, "maxrss", 0), p.mm.pages.resident() if p.mm is not None else 0)
        p.maxrss = maxrss
        minflt = p.minflt if who == RUSAGE_THREAD else \
            p.group.dead_minflt + sum(t.minflt for t in p.group.threads)
    from elfkit.kernel.exit import pack_rusage
    return 0 if p.mm.write(ru, pack_rusage(utime, maxrss, minflt)) else -errno.EFAULT


def sys_unshare(p, flags, *_):
    """kernel/fork.c ksys_unshare: the descriptor table and fs_struct really come apart; the
    namespaces need CAP_SYS_ADMIN (a new user namespace: elfkit models a kernel that does not
    give them to unprivileged users)."""
    from elfkit.kernel.fork import (CLONE_FILES, CLONE_FS, CLONE_NEWCGROUP, CLONE_NEWIPC,
                                    CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER,
                                    CLONE_NEWUTS, CLONE_SIGHAND, CLONE_SYSVSEM, CLONE_THREAD,
                                    CLONE_VM)
    from elfkit.kernel.task import FsStruct
    CLONE_NEWTIME = 0x80
    flags &= 0xFFFFFFFFFFFFFFFF
    if flags & CLONE_NEWUSER:
        flags |= CLONE_THREAD | CLONE_FS
    if flags & CLONE_VM:
        flags |= CLONE_SIGHAND
    if flags & CLONE_SIGHAND:
        flags |= CLONE_THREAD
    if flags & CLONE_NEWNS:
        flags |= CLONE_FS
    namespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | \
        CLONE_NEWCGROUP | CLONE_NEWTIME
    allowed = CLONE_THREAD | CLONE_FS | CLONE_SIGHAND | CLONE_VM | CLONE_FILES | CLONE_SYSVSEM | \
        CLONE_NEWUSER | namespaces
    if flags & ~allowed:
        return -errno.EINVAL
    if flags & (CLONE_SIGHAND | CLONE_VM) and p.mm is not None and p.mm.users > 1:
        return -errno.EINVAL                     # (a vfork child sharing its parent's memory)
    if flags & CLONE_NEWUSER:
        p.warn_once("unshare-userns", "unshare(CLONE_NEWUSER): user namespaces are not given to "
                                      "the unprivileged guest (-EPERM)")
        return -errno.EPERM
    if flags & namespaces:
        return -errno.EPERM                      # CAP_SYS_ADMIN
    if flags & CLONE_FS:
        p.fs = FsStruct(p.fs.cwd, p.fs.umask)
    if flags & CLONE_FILES and p.files.users > 1:
        shared = p.files
        p.files = shared.dup_table()
        shared.users -= 1
    return 0


KCMP_FILE, KCMP_VM, KCMP_FILES, KCMP_FS, KCMP_SIGHAND, KCMP_IO, KCMP_SYSVSEM, KCMP_EPOLL_TFD = \
    range(8)


def _may_read(p, t) -> bool:
    """ptrace_may_access(PTRACE_MODE_READ_REALCREDS) without CAP_SYS_PTRACE: oneself, or a
    dumpable task whose ids all equal the caller's real ones."""
    if t is p:
        return True
    c, tc = p.creds, t.creds
    return {tc.uid, tc.euid, tc.suid} == {c.uid} and {tc.gid, tc.egid, tc.sgid} == {c.gid} and \
        getattr(t, "dumpable", 1) == 1


def _order(a, b) -> int:
    """kcmp_ptr: 0 for the same object, else 1 or 2 by an (obfuscated) order."""
    if a is b:
        return 0
    return 1 if id(a) < id(b) else 2


def sys_kcmp(p, pid1, pid2, kind, idx1, idx2, *_):
    t1, t2 = p.kernel.find_task(s32(pid1)), p.kernel.find_task(s32(pid2))
    init = p.kernel.init
    if t1 is None or t2 is None or init in (t1, t2) or s32(pid1) <= 0 or s32(pid2) <= 0:
        return -errno.ESRCH
    if not _may_read(p, t1) or not _may_read(p, t2):
        return -errno.EPERM
    kind &= 0xFFFFFFFF
    if kind == KCMP_FILE:
        f1, f2 = t1.files.get(s32(idx1)), t2.files.get(s32(idx2))
        return -errno.EBADF if f1 is None or f2 is None else _order(f1, f2)
    if kind == KCMP_VM:
        return _order(t1.mm, t2.mm)
    if kind == KCMP_FILES:
        return _order(t1.files, t2.files)
    if kind == KCMP_FS:
        return _order(t1.fs, t2.fs)
    if kind == KCMP_SIGHAND:
        return _order(t1.signals.actions, t2.signals.actions)
    if kind == KCMP_IO:
        # an io_context exists once an I/O priority was set (elfkit does no block I/O), and
        # then each task has its own (no CLONE_IO)
        return _order(t1 if t1.ioprio else None, t2 if t2.ioprio else None)
    if kind == KCMP_SYSVSEM:
        return _order(getattr(t1, "sem_undo", None), getattr(t2, "sem_undo", None))
    if kind == KCMP_EPOLL_TFD:
        return _kcmp_epoll(p, t1, t2, idx1, idx2)
    return -errno.EINVAL


def _kcmp_epoll(p, t1, t2, idx1, slot_ptr):
    f1 = t1.files.get(s32(idx1))
    if f1 is None:
        return -errno.EBADF
    raw = p.mm.read(slot_ptr, 12)
    if raw is None:
        return -errno.EFAULT
    efd, tfd, _toff = struct.unpack("<III", raw)
    ep = t2.files.get(s32(efd))
    if ep is None:
        return -errno.EBADF
    from elfkit.kernel.fs.eventpoll import EpollFile
    if not isinstance(ep, EpollFile):
        return -errno.EINVAL                     # not an epoll instance
    item = ep.interest.get(tfd)
    return -errno.ENOENT if item is None else _order(f1, item.file)


def sys_get_robust_list(p, pid, head_ptr, len_ptr, *_):
    pid = s32(pid)
    t = p if pid == 0 else p.kernel.find_task(pid)
    if t is None or t is p.kernel.init:
        return -errno.ESRCH
    if not _may_read(p, t):
        return -errno.EPERM
    if not p.mm.write(len_ptr, struct.pack("<Q", 24)):
        return -errno.EFAULT
    return 0 if p.mm.write(head_ptr, struct.pack("<Q", t.robust_list[0])) else -errno.EFAULT


def sys_seccomp(p, op, flags, uargs, *_):
    from elfkit.kernel import seccomp
    return seccomp.do_seccomp(p, op, flags, uargs)


# --- futex2 (Linux 6.7): futex_wake, futex_wait, futex_requeue, futex_waitv --------------------

FUTEX2_SIZE_U32, FUTEX2_SIZE_MASK, FUTEX2_NUMA, FUTEX2_MPOL, FUTEX2_PRIVATE = 2, 3, 4, 8, 128
FUTEX2_VALID_MASK = FUTEX2_SIZE_MASK | FUTEX2_NUMA | FUTEX2_MPOL | FUTEX2_PRIVATE
FUTEX_WAITV_MAX = 128


def _futex2_flags_ok(flags: int) -> bool:
    """futex_flags_valid: only 32-bit futexes are implemented; FUTEX2_MPOL needs FUTEX2_NUMA."""
    if flags & ~FUTEX2_VALID_MASK or flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32:
        return False
    return not (flags & FUTEX2_MPOL and not flags & FUTEX2_NUMA)


def _futex2_deadline(p, timeout, clockid):
    """futex2_setup_timeout: an absolute time on CLOCK_MONOTONIC or CLOCK_REALTIME, as a
    monotonic deadline; -errno."""
    import time

    from elfkit.kernel.syscalls.timekeeping import read_timespec
    clockid = s32(clockid)
    if clockid not in (0, 1):
        return -errno.EINVAL
    ts = read_timespec(p, timeout)
    if isinstance(ts, int):
        return ts
    seconds = ts[0] + ts[1] / 1e9
    return time.monotonic() + seconds - time.time() if clockid == 0 else seconds


def sys_futex_wake(p, uaddr, mask, nr, flags, *_):
    from elfkit.kernel import futex
    flags &= 0xFFFFFFFF
    if not _futex2_flags_ok(flags) or mask >> 32 or not mask:
        return -errno.EINVAL
    if uaddr & 3:
        return -errno.EINVAL
    nr = s32(nr)
    return 0 if nr <= 0 else futex.futex_wake(p, uaddr, nr, mask, not flags & FUTEX2_PRIVATE)


def sys_futex_wait(p, uaddr, val, mask, flags, timeout, clockid):
    from elfkit.kernel import futex
    flags &= 0xFFFFFFFF
    if not _futex2_flags_ok(flags) or val >> 32 or mask >> 32 or not mask:
        return -errno.EINVAL
    deadline = None
    if timeout and "futex" not in p.restart:
        deadline = _futex2_deadline(p, timeout, clockid)
        if isinstance(deadline, int):
            return deadline
    return futex.futex_wait(p, uaddr, val, deadline, mask, not flags & FUTEX2_PRIVATE)


def _parse_waitv(p, ptr, n):
    """futex_parse_waitv: [(uaddr, val, flags)] or -errno."""
    raw = p.mm.read(ptr, 24 * n)
    if raw is None:
        return -errno.EFAULT
    out = []
    for i in range(n):
        val, uaddr, flags, reserved = struct.unpack_from("<QQII", raw, 24 * i)
        if flags & ~FUTEX2_VALID_MASK or reserved or not _futex2_flags_ok(flags) or val >> 32:
            return -errno.EINVAL
        out.append((uaddr, val, flags))
    return out


def sys_futex_requeue(p, waiters, flags, nr_wake, nr_requeue, *_):
    from elfkit.kernel import futex
    if flags & 0xFFFFFFFF or not waiters:
        return -errno.EINVAL
    w = _parse_waitv(p, waiters, 2)
    if isinstance(w, int):
        return w
    nr_wake, nr_requeue = s32(nr_wake), s32(nr_requeue)
    if nr_wake < 0 or nr_requeue < 0:
        return -errno.EINVAL
    if w[0][2] != w[1][2]:
        return -errno.EINVAL                     # sys_futex_requeue: the same flags on both
    return futex.futex_requeue(p, w[0][0], w[1][0], nr_wake, nr_requeue, w[0][1],
                               not w[0][2] & FUTEX2_PRIVATE)


def sys_futex_waitv(p, waiters, count, flags, timeout, clockid, *_):
    from elfkit.kernel import futex
    count = count & 0xFFFFFFFF
    if flags & 0xFFFFFFFF or not count or count > FUTEX_WAITV_MAX or not waiters:
        return -errno.EINVAL
    deadline = None
    if timeout and "futexv" not in p.restart:
        deadline = _futex2_deadline(p, timeout, clockid)
        if isinstance(deadline, int):
            return deadline
    w = _parse_waitv(p, waiters, count)
    if isinstance(w, int):
        return w
    for uaddr, _val, _flags in w:
        if uaddr & 3:
            return -errno.EINVAL
    return futex.futex_wait_multiple(p, [(u, v, not f & FUTEX2_PRIVATE) for u, v, f in w],
                                     deadline)


# prctl options (include/uapi/linux/prctl.h)
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE = 1, 2, 3, 4
PR_GET_KEEPCAPS, PR_SET_KEEPCAPS, PR_SET_NAME, PR_GET_NAME = 7, 8, 15, 16
PR_GET_SECCOMP, PR_SET_SECCOMP, PR_CAPBSET_READ, PR_CAPBSET_DROP = 21, 22, 23, 24
PR_GET_TSC, PR_SET_TSC, PR_GET_SECUREBITS, PR_SET_SECUREBITS = 25, 26, 27, 28
PR_SET_TIMERSLACK, PR_GET_TIMERSLACK, PR_MCE_KILL, PR_MCE_KILL_GET, PR_SET_MM = 29, 30, 33, 34, 35
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS, PR_GET_TID_ADDRESS = 38, 39, 40
PR_SET_THP_DISABLE, PR_GET_THP_DISABLE, PR_CAP_AMBIENT = 41, 42, 47
PR_SET_IO_FLUSHER, PR_GET_IO_FLUSHER = 57, 58
SECBIT_KEEP_CAPS, SECBIT_KEEP_CAPS_LOCKED, SECBIT_NO_CAP_AMBIENT_RAISE = 0x10, 0x20, 0x40
SECURE_ALL = 0xFF                                # the four securebits and their locks (6.x)


def _prctl_caps(p, option, arg2, arg3, arg4, arg5):
    """security/commoncap.c cap_task_prctl: the options about capabilities and securebits;
    None for the others."""
    from dataclasses import replace

    from elfkit.kernel.cred import CAP_LAST_CAP, CAP_SETPCAP, capable
    c = p.creds
    if option == PR_CAPBSET_READ:
        return -errno.EINVAL if arg2 > CAP_LAST_CAP else c.cap_bset >> arg2 & 1
    if option == PR_CAPBSET_DROP:
        if not capable(c, CAP_SETPCAP):
            return -errno.EPERM
        return -errno.EINVAL if arg2 > CAP_LAST_CAP else \
            _commit(p, replace(c, cap_bset=c.cap_bset & ~(1 << arg2)))
    if option == PR_SET_SECUREBITS:
        locks = c.securebits & 0xAA                # each lock bit sits above its bit
        if locks >> 1 & (c.securebits ^ arg2) or locks & ~arg2 or arg2 & ~SECURE_ALL or \
                not capable(c, CAP_SETPCAP):
            return -errno.EPERM
        return _commit(p, replace(c, securebits=arg2))
    if option == PR_GET_SECUREBITS:
        return c.securebits
    if option == PR_GET_KEEPCAPS:
        return int(bool(c.securebits & SECBIT_KEEP_CAPS))
    if option == PR_SET_KEEPCAPS:
        if arg2 > 1 or arg3 | arg4 | arg5:
            return -errno.EINVAL
        if c.securebits & SECBIT_KEEP_CAPS_LOCKED:
            return -errno.EPERM
        bits = c.securebits | SECBIT_KEEP_CAPS if arg2 else c.securebits & ~SECBIT_KEEP_CAPS
        return _commit(p, replace(c, securebits=bits))
    if option == PR_CAP_AMBIENT:
        if arg2 == 4:                                              # CLEAR_ALL
            return -errno.EINVAL if arg3 | arg4 | arg5 else _commit(p, replace(c, cap_ambient=0))
        if arg3 > CAP_LAST_CAP or arg4 | arg5:
            return -errno.EINVAL
        if arg2 == 1:                                              # IS_SET
            return c.cap_ambient >> arg3 & 1
        if arg2 == 2:                                              # RAISE
            if not (c.cap_permitted & c.cap_inheritable) >> arg3 & 1 or \
                    c.securebits & SECBIT_NO_CAP_AMBIENT_RAISE:
                return -errno.EPERM
            return _commit(p, replace(c, cap_ambient=c.cap_ambient | 1 << arg3))
        if arg2 == 3:                                              # LOWER
            return _commit(p, replace(c, cap_ambient=c.cap_ambient & ~(1 << arg3)))
        return -errno.EINVAL
    return None


def _put_int(p, addr, v, fmt="<i"):
    return 0 if p.mm.write(addr, struct.pack(fmt, v)) else -errno.EFAULT


def sys_prctl(p, option, arg2, arg3, arg4, arg5, *_):
    """kernel/sys.c prctl: the capability options first (commoncap), then the task's own."""
    from elfkit.kernel import seccomp
    option &= 0xFFFFFFFF
    r = _prctl_caps(p, option, arg2, arg3, arg4, arg5)
    if r is not None:
        return r
    if option == PR_SET_NAME:
        name = p.mm.read_cstring(arg2, 16)
        if name is None:
            return -errno.EFAULT
        p.comm = os.fsdecode(name[:15])
        return 0
    if option == PR_GET_NAME:
        name = os.fsencode(p.comm)[:15]
        return 0 if p.mm.write(arg2, name + b"\0") else -errno.EFAULT
    if option == PR_SET_PDEATHSIG:
        if arg2 > 64:
            return -errno.EINVAL
        p.pdeath_signal = arg2
        return 0
    if option == PR_GET_PDEATHSIG:
        return _put_int(p, arg2, p.pdeath_signal)
    if option == PR_GET_DUMPABLE:
        return getattr(p, "dumpable", 1)
    if option == PR_SET_DUMPABLE:
        if arg2 not in (0, 1):
            return -errno.EINVAL
        p.dumpable = arg2
        return 0
    if option == PR_SET_NO_NEW_PRIVS:
        if arg2 != 1 or arg3 or arg4 or arg5:
            return -errno.EINVAL
        p.no_new_privs = True
        return 0
    if option == PR_GET_NO_NEW_PRIVS:
        return -errno.EINVAL if arg2 or arg3 or arg4 or arg5 else int(p.no_new_privs)
    if option == PR_GET_SECCOMP:
        return seccomp.mode(p)
    if option == PR_SET_SECCOMP:
        return seccomp.prctl_set_seccomp(p, arg2, arg3)
    if option == PR_SET_CHILD_SUBREAPER:
        p.child_subreaper = bool(arg2)
        return 0
    if option == PR_GET_CHILD_SUBREAPER:
        return _put_int(p, arg2, int(p.child_subreaper))
    if option == PR_SET_TIMERSLACK:
        p.timer_slack_ns = arg2 if arg2 else p.default_timer_slack_ns
        return 0
    if option == PR_GET_TIMERSLACK:
        return p.timer_slack_ns
    if option == PR_GET_TSC:
        return _put_int(p, arg2, p.tsc_mode)
    if option == PR_SET_TSC:
        if arg2 not in (1, 2):
            return -errno.EINVAL
        p.tsc_mode = arg2
        return 0
    if option == PR_MCE_KILL:
        return _mce_kill(p, arg2, arg3, arg4, arg5)
    if option == PR_MCE_KILL_GET:
        return -errno.EINVAL if arg2 | arg3 | arg4 | arg5 else p.mce_kill
    if option == PR_GET_TID_ADDRESS:
        return _put_int(p, arg2, p.clear_child_tid, "<Q")
    if option == PR_SET_THP_DISABLE:
        if arg3 or arg4 or arg5:
            return -errno.EINVAL
        p.thp_disable = bool(arg2)
        return 0
    if option == PR_GET_THP_DISABLE:
        return -errno.EINVAL if arg2 or arg3 or arg4 or arg5 else int(p.thp_disable)
    if option == PR_SET_MM:
        if arg5 or arg4 and arg2 not in (12, 14, 15):        # AUXV, MAP, MAP_SIZE
            return -errno.EINVAL
        if arg2 == 15:                                       # PR_SET_MM_MAP_SIZE
            return _put_int(p, arg3, 104, "<I")
        return -errno.EPERM                                  # CAP_SYS_RESOURCE (or C/R's)
    if option in (PR_SET_IO_FLUSHER, PR_GET_IO_FLUSHER):
        return -errno.EPERM                                  # CAP_SYS_RESOURCE
    return -errno.EINVAL


def _mce_kill(p, arg2, arg3, arg4, arg5):
    if arg4 | arg5:
        return -errno.EINVAL
    if arg2 == 0:                                            # PR_MCE_KILL_CLEAR
        if arg3:
            return -errno.EINVAL
        p.mce_kill = 2
        return 0
    if arg2 == 1 and arg3 in (0, 1, 2):                      # PR_MCE_KILL_SET: LATE, EARLY, DEFAULT
        p.mce_kill = arg3
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
    Syscall(NR.setfsuid, sys_setfsuid, ("int",)),
    Syscall(NR.setfsgid, sys_setfsgid, ("int",)),
    Syscall(NR.capget, sys_capget, ("hex", "hex")),
    Syscall(NR.capset, sys_capset, ("hex", "hex")),
    Syscall(NR.seccomp, sys_seccomp, ("int", "hex", "hex"), status="partial",
            note="user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER) is refused with EINVAL"),
    Syscall(NR.setpgid, sys_setpgid, ("int", "int")),
    Syscall(NR.setsid, sys_setsid),
    Syscall(NR.set_tid_address, sys_set_tid_address, ("hex",)),
    Syscall(NR.set_robust_list, sys_set_robust_list, ("hex", "int")),
    Syscall(NR.get_robust_list, sys_get_robust_list, ("int", "hex", "hex")),
    Syscall(NR.personality, sys_personality, ("hex",), "hex"),
    Syscall(NR.getrusage, sys_getrusage, ("int", "hex"), status="partial",
            note="all CPU time is user time (elfkit does not split user and system time); "
                 "block I/O, context switch and signal counts are 0"),
    Syscall(NR.unshare, sys_unshare, ("clone_flags",), status="partial",
            note="namespaces need CAP_SYS_ADMIN (EPERM); CLONE_NEWUSER is refused with EPERM as "
                 "on a kernel without unprivileged user namespaces; CLONE_SYSVSEM detaches nothing"),
    Syscall(NR.kcmp, sys_kcmp, ("int", "int", "int", "hex", "hex"), status="partial",
            note="KCMP_SYSVSEM compares no undo lists (equal unless the IPC model keeps them)"),
    Syscall(NR.rseq, sys_rseq, ("hex", "int", "int", "hex")),
    Syscall(NR.arch_prctl, sys_arch_prctl, ("arch_prctl", "hex")),
    Syscall(NR.prlimit64, sys_prlimit64, ("int", "rlimit", "hex", "hex")),
    Syscall(NR.getrlimit, sys_getrlimit, ("rlimit", "hex")),
    Syscall(NR.setrlimit, sys_setrlimit, ("rlimit", "hex")),
    Syscall(NR.futex, sys_futex, ("hex", "futex_op", "int", "hex", "hex", "int"),
            status="partial",
            note="FUTEX_WAIT_REQUEUE_PI and FUTEX_CMP_REQUEUE_PI return ENOSYS (glibc's condition "
                 "variables have not used them since 2.25); PI futexes hand the lock over in "
                 "FIFO order (no priority boosting: elfkit's scheduler has no priorities)"),
    Syscall(NR.futex_wake, sys_futex_wake, ("hex", "hex", "int", "hex"), status="partial",
            note="FUTEX2_NUMA's node word is not read"),
    Syscall(NR.futex_wait, sys_futex_wait, ("hex", "int", "hex", "hex", "hex", "int"),
            status="partial", note="FUTEX2_NUMA's node word is not read"),
    Syscall(NR.futex_requeue, sys_futex_requeue, ("hex", "hex", "int", "int")),
    Syscall(NR.futex_waitv, sys_futex_waitv, ("hex", "int", "hex", "hex", "int")),
    Syscall(NR.wait4, exit_mod.sys_wait4, ("int", "hex", "wait_options", "hex")),
    Syscall(NR.waitid, exit_mod.sys_waitid, ("int", "int", "hex", "wait_options", "hex")),
    Syscall(NR.prctl, sys_prctl, ("int", "hex", "hex", "hex", "hex"), status="partial",
            note="no PR_SET_MM (EPERM), PR_SET_VMA, PR_GET_AUXV, PR_SET_MDWE, speculation "
                 "control, PR_SCHED_CORE or syscall user dispatch (EINVAL); PR_SET_TSC is "
                 "recorded but does not act (rdtsc is not trapped)"),
    Syscall(NR.fork, fork.sys_fork),
    Syscall(NR.vfork, fork.sys_vfork),
    Syscall(NR.clone, fork.sys_clone, ("clone_flags", "hex", "hex", "hex", "hex")),
    Syscall(NR.clone3, fork.sys_clone3, ("hex", "size")),
    Syscall(NR.execve, exec_mod.sys_execve, ("path", "argv", "envp")),
    Syscall(NR.execveat, exec_mod.sys_execveat, ("dirfd", "path", "argv", "envp", "at_flags")),
]
