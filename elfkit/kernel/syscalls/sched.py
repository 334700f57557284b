"""Scheduling system calls: nice values, policies and their parameters, I/O priorities.

kernel/sys.c (getpriority/setpriority), kernel/sched/syscalls.c (sched_setscheduler,
sched_setattr and their getters, with user_check_sched_setscheduler's rules) and
block/ioprio.c (ioprio_set/get). The settings live on the Task (nice, policy,
rt_priority, reset_on_fork, ioprio), are inherited by fork (elfkit.kernel.fork:
SCHED_RESET_ON_FORK drops a real-time policy and a negative nice) and show in
/proc/PID/stat. elfkit's own scheduler gives every runnable task the same
time slice whatever these say: the values are the kernel's answers, not its
behaviour.
"""
from __future__ import annotations

import errno
import struct

from elfkit.kernel.cred import CAP_SYS_ADMIN, CAP_SYS_NICE, capable
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR
from elfkit.kernel.syscalls.files import copy_struct_from_user, s32
from elfkit.kernel.task import TASK_DEAD

PRIO_PROCESS, PRIO_PGRP, PRIO_USER = 0, 1, 2
MIN_NICE, MAX_NICE = -20, 19
SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE = 0, 1, 2, 3, 5, 6
SCHED_RESET_ON_FORK = 0x40000000
SETPARAM_POLICY = -1
SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_KEEP_POLICY, SCHED_FLAG_KEEP_PARAMS = 0x01, 0x08, 0x10
SCHED_FLAG_UTIL_CLAMP = 0x60
SCHED_FLAG_ALL = 0x7F
SCHED_ATTR_SIZE_VER0, SCHED_ATTR_SIZE = 48, 56
RLIMIT_NICE, RLIMIT_RTPRIO = 13, 14
RR_TIMESLICE_NS = 100_000_000
PAGE_SIZE = 4096


def _find(p, pid: int):
    """find_process_by_pid: the caller for 0, else a task of the guest's pid namespace."""
    if pid == 0:
        return p
    t = p.kernel.find_task(pid)
    return None if t is None or t is p.kernel.init else t


def _nice_reduction_ok(t, nice: int) -> bool:
    """is_nice_reduction: RLIMIT_NICE allows a nice value down to 20 - rlim_cur."""
    return 20 - nice <= t.rlimit(RLIMIT_NICE)[0]


def _same_owner(p, t) -> bool:
    return p.creds.euid in (t.creds.euid, t.creds.uid)


# --- getpriority / setpriority -------------------------------------------------------------------

def _prio_targets(p, which: int, who: int):
    """The tasks `which`/`who` names (an empty list: ESRCH)."""
    live = [t for t in p.kernel.guests() if t.state != TASK_DEAD]
    if which == PRIO_PROCESS:
        t = _find(p, who)
        return [t] if t is not None else []
    if which == PRIO_PGRP:
        pgid = who or p.pgid
        return [t for t in live if t.pgid == pgid]
    uid = who or p.creds.uid
    return [t for t in live if t.creds.uid == uid]


def sys_getpriority(p, which, who, *_):
    which, who = s32(which), s32(who)
    if not PRIO_PROCESS <= which <= PRIO_USER:
        return -errno.EINVAL
    targets = _prio_targets(p, which, who)
    if not targets:
        return -errno.ESRCH
    return max(20 - t.nice for t in targets)      # nice_to_rlimit: 40 (nice -20) .. 1 (nice 19)


def sys_setpriority(p, which, who, niceval, *_):
    which, who, nice = s32(which), s32(who), s32(niceval)
    if not PRIO_PROCESS <= which <= PRIO_USER:
        return -errno.EINVAL
    nice = min(max(nice, MIN_NICE), MAX_NICE)
    error = -errno.ESRCH
    for t in _prio_targets(p, which, who):
        error = _set_one_prio(p, t, nice, error)
    return error


def _set_one_prio(p, t, nice, error):
    if p.creds.euid not in (t.creds.uid, t.creds.euid) and not capable(p.creds, CAP_SYS_NICE):
        return -errno.EPERM
    if nice < t.nice and not _nice_reduction_ok(t, nice) and not capable(p.creds, CAP_SYS_NICE):
        return -errno.EACCES
    t.nice = nice
    return 0 if error == -errno.ESRCH else error


# --- policies ------------------------------------------------------------------------------------

def _valid_policy(policy: int) -> bool:
    return policy in (SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE)


def _rt(policy: int) -> bool:
    return policy in (SCHED_FIFO, SCHED_RR)


def _fair(policy: int) -> bool:
    return policy in (SCHED_OTHER, SCHED_BATCH)


def _setscheduler(p, t, policy: int, prio: int, nice: int, flags: int, runtime: int = 0,
                  dl: tuple[int, int] = (0, 0)) -> int:
    """__sched_setscheduler for a user: the checks in the kernel's order, then the change."""
    if policy < 0:                                       # SETPARAM_POLICY: keep the policy
        reset = t.reset_on_fork
        policy = t.policy
    else:
        reset = bool(flags & SCHED_FLAG_RESET_ON_FORK)
        if not _valid_policy(policy):
            return -errno.EINVAL
    if flags & ~SCHED_FLAG_ALL:
        return -errno.EINVAL
    if prio > 99:
        return -errno.EINVAL
    if policy == SCHED_DEADLINE and not _checkparam_dl(runtime, *dl) or _rt(policy) != (prio != 0):
        return -errno.EINVAL
    if _needs_priv(p, t, policy, prio, nice, reset) and not capable(p.creds, CAP_SYS_NICE):
        return -errno.EPERM
    t.reset_on_fork = reset
    t.policy, t.rt_priority = policy, prio
    if _fair(policy):
        t.nice = nice
        if runtime:                                      # a custom slice, clamped to 0.1-100 ms
            t.sched_slice = min(max(runtime, 100_000), 100_000_000)
    return 0


def _checkparam_dl(runtime: int, deadline: int, period: int) -> bool:
    """__checkparam_dl: runtime <= deadline <= period, within the sysctl'd 100 us .. 4 s."""
    if deadline == 0 or runtime < 1 << 10 or (deadline | period) >> 63:
        return False
    period = period or deadline
    return runtime <= deadline <= period and 100_000 <= period <= 4_000_000_000


def _needs_priv(p, t, policy, prio, nice, reset) -> bool:
    """user_check_sched_setscheduler: what only CAP_SYS_NICE may do."""
    if _fair(policy) and nice < t.nice and not _nice_reduction_ok(t, nice):
        return True
    if _rt(policy):
        rlim = t.rlimit(RLIMIT_RTPRIO)[0]
        if policy != t.policy and not rlim:
            return True
        if prio > t.rt_priority and prio > rlim:
            return True
    if policy == SCHED_DEADLINE:
        return True
    if t.policy == SCHED_IDLE and policy != SCHED_IDLE and not _nice_reduction_ok(t, t.nice):
        return True
    if not _same_owner(p, t):
        return True
    return t.reset_on_fork and not reset


def _read_param(p, param):
    raw = p.mm.read(param, 4)
    return None if raw is None else struct.unpack("<i", raw)[0]


def _do_setscheduler(p, pid, policy, param):
    pid = s32(pid)
    if not param or pid < 0:
        return -errno.EINVAL
    prio = _read_param(p, param)
    if prio is None:
        return -errno.EFAULT
    t = _find(p, pid)
    if t is None:
        return -errno.ESRCH
    flags = 0
    if policy != SETPARAM_POLICY and policy >= 0 and policy & SCHED_RESET_ON_FORK:
        flags, policy = SCHED_FLAG_RESET_ON_FORK, policy & ~SCHED_RESET_ON_FORK
    # prio is unsigned in struct sched_attr: a negative one is out of range
    return _setscheduler(p, t, policy, prio & 0xFFFFFFFF, t.nice, flags)


def sys_sched_setscheduler(p, pid, policy, param, *_):
    return _do_setscheduler(p, pid, s32(policy), param)


def sys_sched_setparam(p, pid, param, *_):
    return _do_setscheduler(p, pid, SETPARAM_POLICY, param)


def sys_sched_getscheduler(p, pid, *_):
    pid = s32(pid)
    if pid < 0:
        return -errno.EINVAL
    t = _find(p, pid)
    if t is None:
        return -errno.ESRCH
    return t.policy | (SCHED_RESET_ON_FORK if t.reset_on_fork else 0)


def sys_sched_getparam(p, pid, param, *_):
    pid = s32(pid)
    if not param or pid < 0:
        return -errno.EINVAL
    t = _find(p, pid)
    if t is None:
        return -errno.ESRCH
    prio = t.rt_priority if _rt(t.policy) else 0
    return 0 if p.mm.write(param, struct.pack("<i", prio)) else -errno.EFAULT


def sys_sched_get_priority_max(p, policy, *_):
    policy = s32(policy)
    if _rt(policy):
        return 99
    return 0 if _valid_policy(policy) else -errno.EINVAL


def sys_sched_get_priority_min(p, policy, *_):
    policy = s32(policy)
    if _rt(policy):
        return 1
    return 0 if _valid_policy(policy) else -errno.EINVAL


def sys_sched_rr_get_interval(p, pid, interval, *_):
    """SCHED_RR's 100 ms; 0 for SCHED_FIFO, and for the fair classes too: their slice (at most
    3 ms) is less than one jiffy at Debian's HZ=250."""
    pid = s32(pid)
    if pid < 0:
        return -errno.EINVAL
    t = _find(p, pid)
    if t is None:
        return -errno.ESRCH
    ns = RR_TIMESLICE_NS if t.policy == SCHED_RR else 0
    return 0 if p.mm.write(interval, struct.pack("<qq", ns // 10**9, ns % 10**9)) else -errno.EFAULT


# --- sched_setattr / sched_getattr ---------------------------------------------------------------

def _base_slice(p) -> int:
    """sysctl_sched_base_slice: 0.75 ms scaled by 1 + log2 of the CPUs (at most 8)."""
    n = min(p.kernel.machine.max_cpus, 8)
    return 750_000 * n.bit_length()


def _copy_attr(p, uattr):
    """sched_copy_attr: (policy, flags, nice, prio, runtime) or -errno; a size the kernel does
    not take is written back with E2BIG."""
    raw = p.mm.read(uattr, 4)
    if raw is None:
        return -errno.EFAULT
    size = struct.unpack("<I", raw)[0] or SCHED_ATTR_SIZE_VER0
    if SCHED_ATTR_SIZE_VER0 <= size <= PAGE_SIZE:
        raw = copy_struct_from_user(p, uattr, SCHED_ATTR_SIZE, size)
        if raw == -errno.EFAULT:
            return raw
        if not isinstance(raw, int):                # (E2BIG: the size written back, below)
            _size, policy, flags, nice, prio, runtime, deadline, period, _umin, _umax = \
                struct.unpack("<IIQiIQQQII", raw)
            if flags & SCHED_FLAG_UTIL_CLAMP and size < SCHED_ATTR_SIZE:
                return -errno.EINVAL
            return policy, flags, min(max(nice, MIN_NICE), MAX_NICE), prio, runtime, (deadline, period)
    if not p.mm.write(uattr, struct.pack("<I", SCHED_ATTR_SIZE)):
        return -errno.EFAULT
    return -errno.E2BIG


def sys_sched_setattr(p, pid, uattr, flags, *_):
    pid = s32(pid)
    if not uattr or pid < 0 or flags & 0xFFFFFFFF:
        return -errno.EINVAL
    attr = _copy_attr(p, uattr)
    if isinstance(attr, int):
        return attr
    policy, aflags, nice, prio, runtime, dl = attr
    if s32(policy) < 0:
        return -errno.EINVAL
    if aflags & SCHED_FLAG_KEEP_POLICY:
        policy = SETPARAM_POLICY
    t = _find(p, pid)
    if t is None:
        return -errno.ESRCH
    if aflags & SCHED_FLAG_KEEP_PARAMS:                  # get_params
        prio = t.rt_priority if _rt(t.policy) else prio
        nice = t.nice if not _rt(t.policy) else nice
    return _setscheduler(p, t, policy, prio, nice, aflags, runtime, dl)


def sys_sched_getattr(p, pid, uattr, usize, flags, *_):
    pid, usize = s32(pid), usize & 0xFFFFFFFF
    if not uattr or pid < 0 or usize > PAGE_SIZE or usize < SCHED_ATTR_SIZE_VER0 or flags & 0xFFFFFFFF:
        return -errno.EINVAL
    t = _find(p, pid)
    if t is None:
        return -errno.ESRCH
    rt = _rt(t.policy)
    size = min(usize, SCHED_ATTR_SIZE)
    raw = struct.pack("<IIQiIQQQII", size, t.policy, SCHED_FLAG_RESET_ON_FORK if t.reset_on_fork
                      else 0, 0 if rt else t.nice, t.rt_priority if rt else 0,
                      0 if rt else getattr(t, "sched_slice", None) or _base_slice(p), 0, 0, 0, 1024)
    return 0 if p.mm.write(uattr, raw[:size]) else -errno.EFAULT


# --- I/O priorities (block/ioprio.c) -------------------------------------------------------------

IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER = 1, 2, 3
IOPRIO_CLASS_NONE, IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE = 0, 1, 2, 3


def _ioprio_check(p, ioprio: int) -> int:
    cls, hint, level = ioprio >> 13 & 7, ioprio >> 3 & 0x3FF, ioprio & 7
    if cls == IOPRIO_CLASS_RT:
        if not capable(p.creds, CAP_SYS_NICE) and not capable(p.creds, CAP_SYS_ADMIN):
            return -errno.EPERM
    elif cls == IOPRIO_CLASS_NONE:
        if level or hint:
            return -errno.EINVAL
    elif cls not in (IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE):
        return -errno.EINVAL
    if hint > 7 or ioprio & ~0xFFFF:                       # the duration-limit hints 1..7 only
        return -errno.EINVAL
    return 0


def _io_targets(p, which: int, who: int):
    if which == IOPRIO_WHO_PROCESS:
        t = _find(p, who)
        return [t] if t is not None else []
    live = [t for t in p.kernel.guests() if t.state != TASK_DEAD]
    if which == IOPRIO_WHO_PGRP:
        return [t for t in live if t.pgid == (who or p.pgid)]
    return [t for t in live if t.creds.uid == (who or p.creds.uid)]


def sys_ioprio_set(p, which, who, ioprio, *_):
    which, who, ioprio = s32(which), s32(who), s32(ioprio)
    err = _ioprio_check(p, ioprio)
    if err:
        return err
    if which not in (IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER):
        return -errno.EINVAL
    ret = -errno.ESRCH
    for t in _io_targets(p, which, who):
        if p.creds.euid != t.creds.uid and p.creds.uid != t.creds.uid and \
                not capable(p.creds, CAP_SYS_NICE):
            return -errno.EPERM
        t.ioprio = ioprio
        ret = 0
    return ret


def task_ioprio(t) -> int:
    """__get_task_ioprio: the class and level set (IOPRIO_CLASS_NONE, 0 until one is: the
    kernel no longer reports the best-effort level the nice value implies)."""
    return t.ioprio


def _ioprio_rank(v: int):
    """ioprio_best: the higher class (RT above BE above IDLE), then the lower level."""
    cls = v >> 13 & 7 or IOPRIO_CLASS_BE
    return (-{IOPRIO_CLASS_RT: 3, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 1}.get(cls, 0), v & 7)


def sys_ioprio_get(p, which, who, *_):
    which, who = s32(which), s32(who)
    if which not in (IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER):
        return -errno.EINVAL
    values = [task_ioprio(t) for t in _io_targets(p, which, who)]
    return min(values, key=_ioprio_rank) if values else -errno.ESRCH


# --- readahead (mm/readahead.c), which no other area took ------------------------------------------

def sys_readahead(p, fd, offset, count, *_):
    """A hint: the page cache is the host's, so there is nothing to do beyond the checks --
    a descriptor open for reading, on a regular file (or a block device)."""
    import stat as stat_mod
    f = p.files.get(fd & 0xFFFFFFFF)
    if f is None or getattr(f, "flags", 0) & 3 == 1:       # O_WRONLY: no FMODE_READ
        return -errno.EBADF
    st = f.stat()
    if isinstance(st, int) or not (stat_mod.S_ISREG(st.st_mode) or stat_mod.S_ISBLK(st.st_mode)):
        return -errno.EINVAL
    return 0


# --- membarrier (kernel/sched/membarrier.c) ------------------------------------------------------
MEMBARRIER_CMD_QUERY, MEMBARRIER_CMD_GLOBAL, MEMBARRIER_CMD_GET_REGISTRATIONS = 0, 1, 512
MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU = 128, 1
MEMBARRIER_SUPPORTED = 1023               # every command through GET_REGISTRATIONS (x86-64 6.x)
# each PRIVATE/GLOBAL expedited command and the REGISTER command it needs first (None: none)
_MEMBARRIER_NEEDS = {2: None, 8: 16, 32: 64, 128: 256}


def sys_membarrier(p, cmd, flags, cpu_id, *_):
    """Memory barriers on the CPUs running the process's threads (or every CPU). elfkit's CPUs
    only switch address spaces at system calls and interrupts, both under the big kernel lock,
    which orders memory; one address space runs on one CPU at a time: each barrier is already
    there once the checks pass. Registrations live in the mm: fork copies them, exec drops them."""
    cmd, flags = cmd & 0xFFFFFFFF, flags & 0xFFFFFFFF
    if cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ:
        if flags & ~MEMBARRIER_CMD_FLAG_CPU:
            return -errno.EINVAL
    elif flags:
        return -errno.EINVAL
    if cmd == MEMBARRIER_CMD_QUERY:
        return MEMBARRIER_SUPPORTED
    if cmd == MEMBARRIER_CMD_GLOBAL:
        return 0
    if cmd == MEMBARRIER_CMD_GET_REGISTRATIONS:
        return p.mm.membarrier_state
    if cmd in _MEMBARRIER_NEEDS:
        need = _MEMBARRIER_NEEDS[cmd]
        return -errno.EPERM if need is not None and not p.mm.membarrier_state & need else 0
    if cmd in (4, 16, 64, 256):                # the REGISTER commands
        p.mm.membarrier_state |= cmd
        return 0
    return -errno.EINVAL


TABLE = [
    Syscall(NR.membarrier, sys_membarrier, ("int", "hex", "int")),
    Syscall(NR.getpriority, sys_getpriority, ("int", "int")),
    Syscall(NR.setpriority, sys_setpriority, ("int", "int", "int")),
    Syscall(NR.sched_setscheduler, sys_sched_setscheduler, ("int", "int", "hex")),
    Syscall(NR.sched_getscheduler, sys_sched_getscheduler, ("int",)),
    Syscall(NR.sched_setparam, sys_sched_setparam, ("int", "hex")),
    Syscall(NR.sched_getparam, sys_sched_getparam, ("int", "hex")),
    Syscall(NR.sched_get_priority_max, sys_sched_get_priority_max, ("int",)),
    Syscall(NR.sched_get_priority_min, sys_sched_get_priority_min, ("int",)),
    Syscall(NR.sched_rr_get_interval, sys_sched_rr_get_interval, ("int", "hex")),
    Syscall(NR.sched_setattr, sys_sched_setattr, ("int", "hex", "hex"), status="partial",
            note="utilisation clamps (SCHED_FLAG_UTIL_CLAMP) are accepted and not kept"),
    Syscall(NR.sched_getattr, sys_sched_getattr, ("int", "hex", "int", "hex")),
    Syscall(NR.ioprio_set, sys_ioprio_set, ("int", "int", "hex")),
    Syscall(NR.ioprio_get, sys_ioprio_get, ("int", "int")),
    Syscall(NR.readahead, sys_readahead, ("fd", "int", "size")),
]
