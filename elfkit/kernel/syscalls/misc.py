"""Everything else: uname, sysinfo, getrandom, CPU affinity, sched_yield, getcpu; and the calls about
the machine rather than the process -- syslog (kernel/printk), iopl/ioperm (arch/x86/kernel/ioport.c),
adjtimex/clock_adjtime (kernel/time/ntp.c), modify_ldt (arch/x86/kernel/ldt.c), sysfs and ustat
(fs/filesystems.c, fs/statfs.c), the LSM attribute calls (security/lsm_syscalls.c) and
statmount/listmount (fs/namespace.c), each as the kernel answers an unprivileged process."""
from __future__ import annotations

import errno
import os
import struct
import time

from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.files import copy_struct_from_user
from elfkit.kernel.syscalls.numbers import NR


def sys_uname(p, buf, *_):
    u = os.uname()
    fields = [u.sysname, u.nodename, u.release, u.version, "x86_64", "(none)"]
    raw = b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields)
    return 0 if p.mm.write(buf, raw) else -errno.EFAULT


def sys_sysinfo(p, buf, *_):
    """The guest machine's memory (--memory-limit, the frames in use: what its /proc/meminfo
    says), the host's uptime and load, and the number of tasks."""
    from elfkit.kernel.fs.proc import meminfo
    info = {}
    for line in meminfo(p.kernel).decode().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            info[parts[0].rstrip(":")] = int(parts[1]) * 1024
    uptime = int(time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)))
    loads = [int(x * 65536) for x in os.getloadavg()]
    procs = min(len(p.kernel.tasks), 0xFFFF)
    raw = struct.pack("<q3Q6QH6xQQI", uptime, *loads, info.get("MemTotal", 0),
                      info.get("MemFree", 0), info.get("Shmem", 0), info.get("Buffers", 0),
                      info.get("SwapTotal", 0), info.get("SwapFree", 0), procs, 0, 0, 1)
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


# --- the kernel log, I/O ports ---------------------------------------------------------------------

def sys_syslog(p, action, buf, length, *_):
    """check_syslog_permissions with kernel.dmesg_restrict=1 (Debian's default): every action,
    even open and close, needs CAP_SYSLOG -- before the action itself is looked at."""
    p.warn_once("syslog", "syslog: kernel.dmesg_restrict=1: the kernel log needs CAP_SYSLOG (-EPERM)")
    return -errno.EPERM


def sys_iopl(p, level, *_):
    """CONFIG_X86_IOPL_IOPERM: raising the emulated I/O privilege level needs CAP_SYS_RAWIO."""
    level &= 0xFFFFFFFF
    if level > 3:
        return -errno.EINVAL
    if level > getattr(p, "iopl", 0):
        return -errno.EPERM
    p.iopl = level
    return 0


def sys_ioperm(p, start, num, turn_on, *_):
    if start + num <= start or start + num > 65536:
        return -errno.EINVAL
    return -errno.EPERM if turn_on & 0xFFFFFFFF else 0       # turning ports off: nothing to do


# --- the clock's discipline (struct __kernel_timex) -------------------------------------------------

TIMEX_SIZE = 208
# the kernel's values (glibc's ADJ_OFFSET_SINGLESHOT is 0x8001: ADJ_ADJTIME | the kernel's 0x0001)
ADJ_OFFSET_SINGLESHOT, ADJ_OFFSET_READONLY, ADJ_TICK, ADJ_SETOFFSET = 0x0001, 0x2000, 0x4000, 0x0100
ADJ_ADJTIME = 0x8000


def _host_timex(raw: bytes):
    """The host's own clock state (adjtimex with modes 0: a read), as the guest's: the state
    and the filled-in struct; None when the host call is not available."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    buf = ctypes.create_string_buffer(bytes(4) + raw[4:], TIMEX_SIZE)   # modes = 0
    state = libc.adjtimex(buf)
    return None if state < 0 else (state, buf.raw)


def _adjtimex(p, ptr) -> int:
    raw = p.mm.read(ptr, TIMEX_SIZE)
    if raw is None:
        return -errno.EFAULT
    modes = struct.unpack_from("<I", raw)[0]
    if modes & ADJ_ADJTIME:
        if not modes & ADJ_OFFSET_SINGLESHOT:
            return -errno.EINVAL
        if not modes & ADJ_OFFSET_READONLY:
            return -errno.EPERM                               # CAP_SYS_TIME
    elif modes:
        return -errno.EPERM                                   # changing anything: CAP_SYS_TIME
    got = _host_timex(raw)
    if got is None:
        state, out = 0, raw                                   # TIME_OK, nothing filled in
    else:
        state, out = got
        out = struct.pack("<I", modes) + out[4:]
    return state if p.mm.write(ptr, out) else -errno.EFAULT


def sys_adjtimex(p, ptr, *_):
    return _adjtimex(p, ptr)


def sys_clock_adjtime(p, clock, ptr, *_):
    clock = clock & 0xFFFFFFFF
    clock = clock - (1 << 32) if clock & 0x80000000 else clock
    if p.mm.read(ptr, TIMEX_SIZE) is None:
        return -errno.EFAULT
    if clock == 0:                                            # CLOCK_REALTIME
        return _adjtimex(p, ptr)
    if clock < 0:
        return -errno.EINVAL if clock & 7 == 3 else -errno.EOPNOTSUPP   # a clock fd; a CPU clock
    if clock in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11):              # clocks without clock_adj
        return -errno.EOPNOTSUPP
    return -errno.EINVAL


# --- the local descriptor table (arch/x86/kernel/ldt.c) ---------------------------------------------

LDT_ENTRIES, LDT_ENTRY_SIZE = 8192, 8


def _ldt(p) -> dict:
    ldt = getattr(p.mm, "ldt", None)
    if ldt is None:
        ldt = p.mm.ldt = {}
    return ldt


def _read_ldt(p, ptr, count) -> int:
    ldt = getattr(p.mm, "ldt", None)
    if not ldt:
        return 0
    entries = b"".join(ldt.get(i, bytes(8)) for i in range(max(ldt) + 1))[:count]
    return count if p.mm.write(ptr, entries.ljust(count, b"\0")) else -errno.EFAULT


def _write_ldt(p, ptr, count, oldmode) -> int:
    if count != 16:
        return -errno.EINVAL
    raw = p.mm.read(ptr, 16)
    if raw is None:
        return -errno.EFAULT
    entry, base, limit, bits = struct.unpack("<IIII", raw)
    seg32, contents, ro, pages, notpresent, useable = \
        bits & 1, bits >> 1 & 3, bits >> 3 & 1, bits >> 4 & 1, bits >> 5 & 1, bits >> 6 & 1
    if entry >= LDT_ENTRIES:
        return -errno.EINVAL
    if contents == 3 and (oldmode or not notpresent):
        return -errno.EINVAL
    empty = (base, limit, contents, ro, seg32, pages, notpresent, useable, bits >> 7 & 1) == \
        (0, 0, 0, 1, 0, 0, 1, 0, 0)
    if oldmode and not base and not limit or empty:
        desc = 0
    else:
        typ = (ro ^ 1) << 1 | contents << 2 | 1               # accessed, so it can be read-only
        desc = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | typ << 40 | 1 << 44 | 3 << 45 | \
            (notpresent ^ 1) << 47 | (limit >> 16 & 0xF) << 48 | \
            (0 if oldmode else useable) << 52 | seg32 << 54 | pages << 55 | (base >> 24 & 0xFF) << 56
    _ldt(p)[entry] = desc.to_bytes(8, "little")
    return 0


def sys_modify_ldt(p, func, ptr, count, *_):
    """Descriptors are kept per address space and read back; the emulated CPU does not load
    them. The ABI's result is an int: errors come back as unsigned 32-bit values."""
    func = func & 0xFFFFFFFF
    if func == 0:
        ret = _read_ldt(p, ptr, count)
    elif func == 1:
        ret = _write_ldt(p, ptr, count, True)
    elif func == 2:
        n = min(count, 128)                                   # the default LDT: zeros
        ret = n if p.mm.write(ptr, bytes(n)) else -errno.EFAULT
    elif func == 0x11:
        ret = _write_ldt(p, ptr, count, False)
    else:
        ret = -errno.ENOSYS
    return ret & 0xFFFFFFFF


# --- sysfs(2), ustat(2) -----------------------------------------------------------------------------

def _filesystems() -> list[str]:
    """The registered filesystem types, in registration order: the host kernel's list."""
    try:
        with open("/proc/filesystems") as f:
            return [line.split()[-1] for line in f if line.strip()]
    except OSError:
        return []


def sys_sysfs(p, option, arg1, arg2, *_):
    option = option & 0xFFFFFFFF
    names = _filesystems()
    if option == 1:
        name = p.mm.read_cstring(arg1, 4096)
        if name is None:
            return -errno.EFAULT
        if not name:
            return -errno.ENOENT
        name = os.fsdecode(name)
        return names.index(name) if name in names else -errno.EINVAL
    if option == 2:
        index = arg1 & 0xFFFFFFFF
        if index >= len(names):
            return -errno.EINVAL
        return 0 if p.mm.write(arg2, names[index].encode() + b"\0") else -errno.EFAULT
    if option == 3:
        return len(names)
    return -errno.EINVAL


def sys_ustat(p, dev, ubuf, *_):
    """The free blocks and inodes of a mounted filesystem named by its device: those the guest
    can reach through its root or working directory; any other device is EINVAL."""
    dev &= 0xFFFFFFFF
    dev = os.makedev((dev >> 8) & 0xFFF, (dev & 0xFF) | ((dev >> 12) & 0xFFF00))
    for guest in (p.cwd, "/"):
        try:
            host = p.sysroot.host_path(guest, "/")
            if os.stat(host).st_dev == dev:
                st = os.statvfs(host)
                raw = struct.pack("<i4xQ6s6s4x", min(st.f_bfree * st.f_frsize // 512, 0x7FFFFFFF),
                                  st.f_ffree, b"", b"")
                return 0 if p.mm.write(ubuf, raw) else -errno.EFAULT
        except (OSError, ValueError, Exception):          # noqa: BLE001 - a path elfkit cannot see
            continue
    return -errno.EINVAL


# --- security modules (Linux 6.8), mount information (Linux 6.8) -------------------------------------

LSM_ID_CAPABILITY = 100


def sys_lsm_list_modules(p, ids, size_ptr, flags, *_):
    """The kernel elfkit models runs only the capability module."""
    if flags & 0xFFFFFFFF:
        return -errno.EINVAL
    raw = p.mm.read(size_ptr, 4)
    if raw is None:
        return -errno.EFAULT
    if not p.mm.write(size_ptr, struct.pack("<I", 8)):
        return -errno.EFAULT
    if struct.unpack("<I", raw)[0] < 8:
        return -errno.E2BIG
    return 1 if p.mm.write(ids, struct.pack("<Q", LSM_ID_CAPABILITY)) else -errno.EFAULT


def sys_lsm_get_self_attr(p, attr, ctx, size_ptr, flags, *_):
    """No module keeps a process attribute: nothing to report (EOPNOTSUPP, size 0)."""
    if not attr & 0xFFFFFFFF or flags & ~1 & 0xFFFFFFFF:
        return -errno.EINVAL
    if p.mm.read(size_ptr, 4) is None:
        return -errno.EFAULT
    return -errno.EOPNOTSUPP if p.mm.write(size_ptr, bytes(4)) else -errno.EFAULT


def sys_lsm_set_self_attr(p, attr, ctx, size, flags, *_):
    size &= 0xFFFFFFFF
    if flags & 0xFFFFFFFF or size < 32:
        return -errno.EINVAL
    if size > 4096:
        return -errno.E2BIG
    raw = p.mm.read(ctx, size)
    if raw is None:
        return -errno.EFAULT
    _id, _flags, length, ctx_len = struct.unpack_from("<QQQQ", raw)
    if size < length or size < ctx_len + 32 or length < ctx_len + 32:
        return -errno.EINVAL
    return -errno.EOPNOTSUPP


MNT_ID_REQ_SIZE_VER0, MNT_UNIQUE_ID_OFFSET = 24, 1 << 31


def _mnt_id_req(p, req):
    """copy_mnt_id_req: the request's mount id, or -errno."""
    raw = p.mm.read(req, 4)
    if raw is None:
        return -errno.EFAULT
    size = struct.unpack("<I", raw)[0]
    if size > 4096:
        return -errno.E2BIG
    if size < MNT_ID_REQ_SIZE_VER0:
        return -errno.EINVAL
    raw = copy_struct_from_user(p, req, 32, size)     # (struct mnt_id_req, its latest size)
    if isinstance(raw, int):
        return raw
    _size, spare, mnt_id = struct.unpack_from("<IIQ", raw)
    if spare:
        return -errno.EINVAL
    return mnt_id


def sys_statmount(p, req, buf, bufsize, flags, *_):
    if flags & 0xFFFFFFFF:
        return -errno.EINVAL
    mnt_id = _mnt_id_req(p, req)
    if mnt_id < 0:
        return mnt_id
    if mnt_id <= MNT_UNIQUE_ID_OFFSET:
        return -errno.EINVAL
    return -errno.ENOENT                       # no mount of the guest's has a unique id


def sys_listmount(p, req, buf, nr, flags, *_):
    if flags & ~1 & 0xFFFFFFFF:                # LISTMOUNT_REVERSE
        return -errno.EINVAL
    mnt_id = _mnt_id_req(p, req)
    if mnt_id < 0:
        return mnt_id
    if mnt_id and mnt_id <= MNT_UNIQUE_ID_OFFSET and mnt_id != 0xFFFFFFFFFFFFFFFF:
        return -errno.EINVAL
    return -errno.ENOENT


TABLE = [
    Syscall(NR.uname, sys_uname, ("hex",)),
    Syscall(NR.sysinfo, sys_sysinfo, ("hex",)),
    Syscall(NR.getrandom, sys_getrandom, ("buf_out", "size", "getrandom_flags")),
    Syscall(NR.sched_getaffinity, sys_sched_getaffinity, ("int", "size", "hex")),
    Syscall(NR.sched_setaffinity, sys_sched_setaffinity, ("int", "size", "hex")),
    Syscall(NR.sched_yield, sys_sched_yield),
    Syscall(NR.getcpu, sys_getcpu, ("hex", "hex", "hex")),
    Syscall(NR.syslog, sys_syslog, ("int", "hex", "int"),
            note="EPERM for every action: kernel.dmesg_restrict=1 (Debian's default)"),
    Syscall(NR.iopl, sys_iopl, ("int",)),
    Syscall(NR.ioperm, sys_ioperm, ("hex", "hex", "int")),
    Syscall(NR.adjtimex, sys_adjtimex, ("hex",)),
    Syscall(NR.clock_adjtime, sys_clock_adjtime, ("int", "hex")),
    Syscall(NR.modify_ldt, sys_modify_ldt, ("int", "hex", "size"), status="partial",
            note="descriptors are kept and read back; the emulated CPU does not load them"),
    Syscall(NR.sysfs, sys_sysfs, ("int", "hex", "hex")),
    Syscall(NR.ustat, sys_ustat, ("hex", "hex"), status="partial",
            note="only the filesystems of the guest's root and working directory are found"),
    Syscall(NR.lsm_list_modules, sys_lsm_list_modules, ("hex", "hex", "hex")),
    Syscall(NR.lsm_get_self_attr, sys_lsm_get_self_attr, ("int", "hex", "hex", "hex")),
    Syscall(NR.lsm_set_self_attr, sys_lsm_set_self_attr, ("int", "hex", "int", "hex")),
    Syscall(NR.statmount, sys_statmount, ("hex", "hex", "size", "hex"), status="partial",
            note="requests are checked; no mount is known by its unique id (ENOENT)"),
    Syscall(NR.listmount, sys_listmount, ("hex", "hex", "size", "hex"), status="partial",
            note="requests are checked; the mount tree is not listed (ENOENT)"),
]
