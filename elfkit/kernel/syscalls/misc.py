"""Everything else a start-up needs: uname, sysinfo, getrandom, CPU affinity, sched_yield, getcpu."""
from __future__ import annotations

import errno
import os
import struct
import time

from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR


def sys_uname(p, buf, *_):
    u = os.uname()
    fields = [u.sysname, u.nodename, u.release, u.version, "x86_64", "(none)"]
    raw = b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields)
    return 0 if p.mm.write(buf, raw) else -errno.EFAULT


def sys_sysinfo(p, buf, *_):
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if line.split()[1:]}
    except OSError:
        info = {}
    uptime = int(time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)))
    loads = [int(x * 65536) for x in os.getloadavg()]
    raw = struct.pack("<q3Q6QH6xQQI", uptime, *loads, info.get("MemTotal", 0),
                      info.get("MemFree", 0), info.get("Shmem", 0), info.get("Buffers", 0),
                      info.get("SwapTotal", 0), info.get("SwapFree", 0), 1, 0, 0, 1)
    return 0 if p.mm.write(buf, raw.ljust(112, b"\0")) else -errno.EFAULT


def sys_getrandom(p, buf, count, flags, *_):
    count = min(count, 33554431)
    data = p.rng.randbytes(count) if p.seed is not None else os.urandom(count)
    return count if p.mm.write(buf, data) else -errno.EFAULT


def _affinity_target(p, pid):
    return p if pid in (0, p.pid) else p.kernel.find_task(pid)


def sys_sched_getaffinity(p, pid, size, mask, *_):
    """The task's CPUs (cpus_allowed), as a mask of unsigned longs over the machine's CPUs."""
    t = _affinity_target(p, pid)
    if t is None:
        return -errno.ESRCH
    nbytes = 8 * ((t.kernel.machine.max_cpus - 1) // 64 + 1)
    if size < nbytes or size % 8:
        return -errno.EINVAL
    return nbytes if p.mm.write(mask, t.cpus_allowed.to_bytes(nbytes, "little")) else -errno.EFAULT


def sys_sched_setaffinity(p, pid, size, mask, *_):
    """Pin a task to some of the machine's CPUs (what `taskset` does): the scheduler runs it
    only there (Kernel.pick_next); a task running on a CPU it may no longer use leaves it."""
    t = _affinity_target(p, pid)
    if t is None:
        return -errno.ESRCH
    raw = p.mm.read(mask, min(size, 128))
    if raw is None:
        return -errno.EFAULT
    online = (1 << t.kernel.machine.max_cpus) - 1
    wanted = int.from_bytes(raw, "little") & online
    if not wanted:
        return -errno.EINVAL
    t.cpus_allowed = wanted
    cpu = t.on_cpu
    if cpu is not None and not wanted >> cpu.index & 1:
        cpu.stop()                           # back to the run queue, for a CPU it may use
    return 0


def sys_sched_yield(p, *_):
    """Give the CPU to another runnable task, if one waits (the caller goes to the back)."""
    if p.kernel.runqueue:
        p.cpu.stop()
    return 0


def sys_zero(p, *_):
    return 0


def sys_getcpu(p, cpu_ptr, node_ptr, *_):
    """The CPU the caller runs on, and NUMA node 0."""
    if cpu_ptr and not p.mm.write(cpu_ptr, p.cpu.index.to_bytes(4, "little")):
        return -errno.EFAULT
    if node_ptr and not p.mm.write(node_ptr, b"\0\0\0\0"):
        return -errno.EFAULT
    return 0


def sys_nosocket(p, family, *_):
    """The guest gets no sockets. glibc's NSS tries AF_UNIX (nscd) and carries on quietly;
    anything else is worth a word to the user."""
    if family != 1:
        p.warn_once("socket", "network access is not allowed for the guest: socket() returns -EACCES")
    return -errno.EACCES


def sys_not_a_socket(p, fd, *_):
    """getpeername/getsockname/getsockopt on a descriptor: the guest has no sockets, so every
    valid descriptor is ENOTSOCK (bash asks whether its stdin is one)."""
    return -errno.ENOTSOCK if p.files.get(fd & 0xFFFFFFFF) is not None else -errno.EBADF


def sys_no_numa(p, *_):
    """The NUMA calls of a kernel built without CONFIG_NUMA (one node: the emulated machine)."""
    return -errno.ENOSYS


TABLE = [
    Syscall(NR.uname, sys_uname, ("hex",)),
    Syscall(NR.sysinfo, sys_sysinfo, ("hex",)),
    Syscall(NR.getrandom, sys_getrandom, ("buf_out", "size", "getrandom_flags")),
    Syscall(NR.sched_getaffinity, sys_sched_getaffinity, ("int", "size", "hex")),
    Syscall(NR.sched_setaffinity, sys_sched_setaffinity, ("int", "size", "hex")),
    Syscall(NR.sched_yield, sys_sched_yield),
    Syscall(NR.getcpu, sys_getcpu, ("hex", "hex", "hex")),
    Syscall(NR.socket, sys_nosocket, ("int", "int", "int")),
    Syscall(NR.getpeername, sys_not_a_socket, ("fd", "hex", "hex")),
    Syscall(NR.get_mempolicy, sys_no_numa, ("hex", "hex", "int", "hex", "int")),
    Syscall(NR.set_mempolicy, sys_no_numa, ("int", "hex", "int")),
    Syscall(NR.mbind, sys_no_numa, ("hex", "int", "int", "hex", "int", "int")),
    Syscall(NR.getsockname, sys_not_a_socket, ("fd", "hex", "hex")),
    Syscall(NR.getsockopt, sys_not_a_socket, ("fd", "int", "int", "hex", "hex")),
]
