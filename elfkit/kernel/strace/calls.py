"""SPEC: for each system call, the kind of each argument, as strace decodes it."""
from __future__ import annotations

import os
import struct

from elfkit.kernel.strace.xlat import (  # noqa: F401
    M64,
    ERESTART_TEXT,
    FD_FLAGS,
    F_SEALS,
    LOCK_TYPES,
    MAX_STRLEN,
    POLL_FLAGS,
    PR_DUMPABLE,
    _d64,
    _o3,
    _u,
    _x,
    errno_name,
    open_modes,
    signame,
    sprintflags,
    sprinttime,
    xflags,
)
from elfkit.kernel.strace.call import (  # noqa: F401
    _is_error,
)
from elfkit.kernel.strace.kinds import (  # noqa: F401
    KINDS,
    IN,
    kind,
)

# --- how strace shows each system call elfkit implements -------------------------------------------
# SPEC[name] = (argument kinds, result kind); the kinds may also be a function of the call
# returning [(kind, argument index), ...] for calls whose arguments depend on one of them.
# Result kinds: int (unsigned decimal), hex, oct, fd, none ("?"), or a function (call) -> text.

def _fcntl(c):
    cmd = c.args[1] & 0xFFFFFFFF
    base = [("fd", 0), ("fcntl_cmd", 1)]
    third = {2: "fd_flags", 8: "d32", 1031: "d64", 0: "d64", 1030: "d64", 4: "open_flags",
             6: "flock_in", 7: "flock_in", 37: "flock_in", 38: "flock_in", 10: "signal",
             5: "flock_out", 36: "flock_out", 1033: "add_seals"}.get(cmd)
    if cmd in (1, 3, 9, 11, 1025, 1032, 1034):     # F_GETFD F_GETFL F_GETOWN F_GETSIG ...: no argument
        return base
    return base + [(third or "hex", 2)]


def _fcntl_ret(c):
    cmd, r = c.args[1] & 0xFFFFFFFF, c.rval
    if cmd == 1 and r:
        return f"{_x(r)} ({sprintflags('flags ', FD_FLAGS, r)})"
    if cmd == 3:
        return f"{_x(r)} (flags {open_modes(r)})"
    if cmd == 1025:
        name = LOCK_TYPES.get(r)
        return f"{_x(r)} ({name})" if name else _x(r)
    if cmd == 1034 and r:
        return f"{_x(r)} ({sprintflags('seals ', F_SEALS, r)})"
    if cmd == 11 and r:
        return f"{r} ({signame(r)})" if signame(r) else str(r)
    return str(r & M64)


KINDS["add_seals"] = (lambda c, i: xflags(F_SEALS, c.args[i], "F_SEAL_???"), IN)

IOCTL_ARGS = {0x5401: "termios_out", 0x5456: "termios_out", 0x5402: "termios_in", 0x5403: "termios_in",
              0x5404: "termios_in", 0x5457: "termios_in", 0x5413: "winsize_out", 0x5414: "winsize_in",
              0x540F: "int_out", 0x5429: "int_out", 0x5424: "int_out", 0x5419: "int_out",
              0x80045430: "int_out", 0x541B: "int_out", 0x5411: "int_out", 0x80045440: "int_out",
              0x80045432: "int_out", 0x5410: "int_in", 0x5423: "int_in", 0x5421: "int_in",
              0x5452: "int_in", 0x5420: "int_in", 0x541A: "int_in", 0x40045431: "int_in",
              0x5409: "d32", 0x5425: "d32", 0x540E: "d32", 0x5412: "tiocsti"}
IOCTL_NO_ARG = frozenset((0x5427, 0x5428, 0x541D, 0x5422, 0x540C, 0x540D, 0x5451, 0x5450, 0x5437,
                          0x541F))
KINDS["tiocsti"] = (lambda c, i: c.printstrn(c.args[i], 1), IN)


def _ioctl(c):
    req = c.args[1] & 0xFFFFFFFF
    if req in IOCTL_NO_ARG:
        return [("fd", 0), ("ioctl_req", 1)]
    return [("fd", 0), ("ioctl_req", 1), (IOCTL_ARGS.get(req, "hex"), 2)]


def _arch_prctl(c):
    code = c.args[0] & 0xFFFFFFFF
    if code == 0x1011:                               # ARCH_GET_CPUID
        return [("arch_prctl", 0)]
    if code in (0x1003, 0x1004):                     # ARCH_GET_FS, ARCH_GET_GS
        return [("arch_prctl", 0), ("kptr_out", 1)]
    return [("arch_prctl", 0), ("hex", 1)]


def _prctl(c):
    opt = c.args[0] & 0xFFFFFFFF
    head = [("prctl_option", 0)]
    rest = [("hex", 1), ("hex", 2), ("hex", 3), ("hex", 4)]
    if opt in (7, 21, 30, 13, 3):        # GET_KEEPCAPS GET_SECCOMP GET_TIMERSLACK GET_TIMING GET_DUMPABLE
        return head
    if opt in (37, 19, 9, 11):           # GET_CHILD_SUBREAPER GET_ENDIAN GET_FPEMU GET_FPEXC
        return head + [("uint_out", 1)]
    if opt == 16:
        return head + [("comm_out", 1)]
    if opt == 15:
        return head + [("comm", 1)]
    if opt == 2:
        return head + [("signal_ptr_out", 1)]
    if opt == 40:
        return head + [("kptr_out", 1)]
    if opt in (36, 20, 10, 12, 8, 14):
        return head + [("size", 1)]
    if opt == 4:
        return head + [("pr_dumpable", 1)]
    if opt == 1:
        return head + [("pdeathsig", 1)]
    if opt in (38, 41, 57):              # SET_NO_NEW_PRIVS SET_THP_DISABLE SET_IO_FLUSHER
        return head + [("size", 1)] + rest[1:]
    return head + rest


def _prctl_ret(c):
    if c.args[0] & 0xFFFFFFFF == 3:
        name = PR_DUMPABLE.get(c.rval)
        return f"{c.rval} ({name})" if name else str(c.rval)
    return str(c.rval & M64)


def _futex(c):
    cmd = c.args[1] & 127
    k = [("ptr", 0), ("futex_op", 1)]
    if cmd in (0, 11):                   # WAIT, WAIT_REQUEUE_PI
        return k + [("u32", 2), ("timespec", 3)] + ([("ptr", 4)] if cmd == 11 else [])
    if cmd in (6, 13):                   # LOCK_PI, LOCK_PI2
        return k + [("timespec", 3)]
    if cmd == 9:                         # WAIT_BITSET
        return k + [("u32", 2), ("timespec", 3), ("futex_bitset", 5)]
    if cmd == 10:                        # WAKE_BITSET
        return k + [("u32", 2), ("futex_bitset", 5)]
    if cmd == 3:                         # REQUEUE
        return k + [("u32", 2), ("u32", 3), ("ptr", 4)]
    if cmd in (4, 12):                   # CMP_REQUEUE(_PI)
        return k + [("u32", 2), ("u32", 3), ("ptr", 4), ("u32", 5)]
    if cmd == 5:                         # WAKE_OP
        return k + [("u32", 2), ("u32", 3), ("ptr", 4), ("hex", 5)]
    if cmd in (1, 2):                    # WAKE, FD
        return k + [("u32", 2)]
    if cmd in (7, 8):                    # UNLOCK_PI, TRYLOCK_PI
        return k
    return k + [("u32", 2), ("ptr", 3), ("ptr", 4), ("hex", 5)]


def _mremap(c):
    k = [("ptr", 0), ("size", 1), ("size", 2), ("mremap_flags", 3)]
    return k + [("ptr", 4)] if c.args[3] & 3 == 3 else k


def _mknod(offset):
    def kinds(c):
        k = [("dirfd", 0)] if offset else []
        return k + [("path", offset), ("mknod_mode", offset + 1), ("mknod_dev", offset + 2)]
    return kinds


def _time_ret(c):
    date = sprinttime(_s64(c.rval))
    return f"{_d64(c.rval)} ({date})" if date else _d64(c.rval)


def _s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def _poll_ret(c):
    if c.rval == 0:
        return "0 (Timeout)"
    addr, nfds = c.args[0], c.args[1] & 0xFFFFFFFF
    out = []
    for k in range(nfds):
        raw = c.umoven(addr + 8 * k, 8)
        if raw is None:
            out.append(_x(addr + 8 * k))
            break
        fd, _ev, rev = struct.unpack("<ihh", raw)
        if not rev:
            continue
        if len(out) >= MAX_STRLEN:
            out.append("...")
            break
        out.append(f"{{fd={fd}, revents={sprintflags('', POLL_FLAGS, rev & 0xFFFF) or ''}}}")
    return f"{c.rval} ([{', '.join(out)}])" if out else str(c.rval)


SPEC: dict[str, tuple] = {
    # files
    "read": (("fd", "buf_out", "size"), "int"),
    "write": (("fd", "buf_in", "size"), "int"),
    "pread64": (("fd", "buf_out", "size", "d64"), "int"),
    "pwrite64": (("fd", "buf_in", "size", "d64"), "int"),
    "readv": (("fd", "iovec_out", "size"), "int"),
    "writev": (("fd", "iovec_in", "size"), "int"),
    "preadv": (("fd", "iovec_out", "size", "d64"), "int"),
    "pwritev": (("fd", "iovec_in", "size", "d64"), "int"),
    "open": (("path", "open_flags", "mode"), "fd"),
    "openat": (("dirfd", "path", "open_flags", "mode"), "fd"),
    "creat": (("path", "umode"), "fd"),
    "close": (("fd",), "int"),
    "close_range": (("u32", "u32", "close_range_flags"), "int"),
    "lseek": (("fd", "d64", "whence"), "int"),
    "sendfile": (("fd", "fd", "sendfile_off", "size"), "int"),
    "fstat": (("fd", "stat"), "int"),
    "stat": (("path", "stat"), "int"),
    "lstat": (("path", "stat"), "int"),
    "newfstatat": (("dirfd", "path", "stat", "at_flags"), "int"),
    "statx": (("dirfd", "path", "statx_flags", "statx_mask", "statx"), "int"),
    "access": (("path", "access_mode"), "int"),
    "faccessat": (("dirfd", "path", "access_mode"), "int"),
    "faccessat2": (("dirfd", "path", "access_mode", "faccessat_flags"), "int"),
    "readlink": (("path", "buf_out", "size"), "int"),
    "readlinkat": (("dirfd", "path", "buf_out", "size"), "int"),
    "getdents64": (("fd", "dents", "u32"), "int"),
    "getcwd": (("cwd", "size"), "int"),
    "chdir": (("path",), "int"),
    "fchdir": (("fd",), "int"),
    "umask": (("umode",), "oct"),
    "dup": (("fd",), "fd"),
    "dup2": (("fd", "fd"), "fd"),
    "dup3": (("fd", "fd", "o_flags"), "fd"),
    "pipe": (("pipefd",), "int"),
    "pipe2": (("pipefd", "o_flags"), "int"),
    "fcntl": (_fcntl, _fcntl_ret),
    "ioctl": (_ioctl, "int"),
    "ftruncate": (("fd", "size"), "int"),
    "fsync": (("fd",), "int"),
    "fdatasync": (("fd",), "int"),
    "statfs": (("path", "statfs"), "int"),
    "fstatfs": (("fd", "statfs"), "int"),
    "fadvise64": (("fd", "d64", "size", "fadvise"), "int"),
    "copy_file_range": (("fd", "loff_in", "fd", "loff_in", "size", "u32"), "int"),
    "poll": (("pollfds", "u32", "d32"), _poll_ret),
    "unlink": (("path",), "int"),
    "rmdir": (("path",), "int"),
    "unlinkat": (("dirfd", "path", "at_flags"), "int"),
    "mkdir": (("path", "umode"), "int"),
    "mkdirat": (("dirfd", "path", "umode"), "int"),
    "rename": (("path", "path"), "int"),
    "renameat": (("dirfd", "path", "dirfd", "path"), "int"),
    "renameat2": (("dirfd", "path", "dirfd", "path", "rename_flags"), "int"),
    "link": (("path", "path"), "int"),
    "linkat": (("dirfd", "path", "dirfd", "path", "at_flags"), "int"),
    "symlink": (("path", "path"), "int"),
    "symlinkat": (("path", "dirfd", "path"), "int"),
    "chmod": (("path", "umode"), "int"),
    "fchmodat": (("dirfd", "path", "umode"), "int"),
    "chown": (("path", "uid", "uid"), "int"),
    "lchown": (("path", "uid", "uid"), "int"),
    "fchownat": (("dirfd", "path", "uid", "uid", "at_flags"), "int"),
    "truncate": (("path", "size"), "int"),
    "utimensat": (("dirfd", "path", "utimens", "at_flags"), "int"),
    "mknod": (_mknod(0), "int"),
    "mknodat": (_mknod(1), "int"),
    # memory
    "brk": (("ptr",), "hex"),
    "mmap": (("ptr", "size", "mmap_prot", "mmap_flags", "fd", "hex"), "hex"),
    "munmap": (("ptr", "size"), "int"),
    "mprotect": (("ptr", "size", "mmap_prot"), "int"),
    "mremap": (_mremap, "hex"),
    "madvise": (("ptr", "size", "madvise"), "int"),
    "msync": (("ptr", "size", "msync_flags"), "int"),
    "mlock": (("ptr", "size"), "int"),
    "munlock": (("ptr", "size"), "int"),
    "mincore": (("ptr", "size", "mincore_vec"), "int"),
    # processes
    "exit_group": (("d32",), "none"),
    "exit": (("d32",), "none"),
    "getpid": ((), "int"), "gettid": ((), "int"), "getppid": ((), "int"),
    "getuid": ((), "int"), "geteuid": ((), "int"), "getgid": ((), "int"), "getegid": ((), "int"),
    "getpgrp": ((), "int"), "setsid": ((), "int"), "fork": ((), "int"), "vfork": ((), "int"),
    "sched_yield": ((), "int"),
    "getresuid": (("uid_out", "uid_out", "uid_out"), "int"),
    "getresgid": (("uid_out", "uid_out", "uid_out"), "int"),
    "getgroups": (("d32", "groups_out"), "int"),
    "getpgid": (("d32",), "int"),
    "getsid": (("d32",), "int"),
    "setuid": (("uid",), "int"),
    "setgid": (("uid",), "int"),
    "setpgid": (("d32", "d32"), "int"),
    "set_tid_address": (("ptr",), "int"),
    "set_robust_list": (("ptr", "size"), "int"),
    "rseq": (("hex", "hex", "hex", "hex"), "int"),
    "arch_prctl": (_arch_prctl, "int"),
    "prlimit64": (("d32", "resource", "rlimit_in", "rlimit_out"), "int"),
    "getrlimit": (("resource", "rlimit_out"), "int"),
    "setrlimit": (("resource", "rlimit_in"), "int"),
    "futex": (_futex, "int"),
    "wait4": (("d32", "wait_status", "wait_options", "rusage"), "int"),
    "prctl": (_prctl, _prctl_ret),
    "clone": ((lambda c: [("clone", 0)]), "int"),
    "clone3": (("clone3_args", "size"), "int"),
    "execve": (("path", "argv", "envp"), "int"),
    # signals
    "rt_sigaction": (("signal", "sigaction", "sigaction_out", "size"), "int"),
    "rt_sigprocmask": (("sigmask_how", "sigset", "sigset_out", "size"), "int"),
    "sigaltstack": (("stack_t", "stack_t_out"), "int"),
    "rt_sigreturn": (("sigreturn_mask",), "int"),
    "kill": (("d32", "signal"), "int"),
    "tgkill": (("d32", "d32", "signal"), "int"),
    "tkill": (("d32", "signal"), "int"),
    # time
    "clock_gettime": (("clock", "timespec_out"), "int"),
    "clock_getres": (("clock", "timespec_out"), "int"),
    "gettimeofday": (("timeval_out", "timezone_out"), "int"),
    "time": (("time_out",), _time_ret),
    "nanosleep": (("timespec", "rem"), "int"),
    "clock_nanosleep": (("clock", "timer_flags", "timespec", "rem"), "int"),
    "times": (("tms",), "int"),
    # the rest
    "uname": (("utsname",), "int"),
    "sysinfo": (("sysinfo",), "int"),
    "getrandom": (("buf_out_hex", "size", "getrandom_flags"), "int"),
    "sched_getaffinity": (("d32", "u32", "affinity"), "int"),
    "sched_setaffinity": (("d32", "u32", "affinity_in"), "int"),
    "getcpu": (("uint_out", "uint_out", "ptr"), "int"),
    "socket": (("af", "sock_type", "sock_proto"), "fd"),
    # calls elfkit has no handler for (see unknown()), shown as strace shows them
    "getxattr": (("path", "str", "xattr_val", "size"), "int"),
    "lgetxattr": (("path", "str", "xattr_val", "size"), "int"),
    "fgetxattr": (("fd", "str", "xattr_val", "size"), "int"),
    "fchmod": (("fd", "umode"), "int"),
    "fchown": (("fd", "uid", "uid"), "int"),
    "alarm": (("u32",), "int"),
    "pause": ((), "int"),
    "getrusage": (("rusage_who", "ptr"), "int"),
}


def _specs_for(c, entry) -> tuple[list, object]:
    spec = SPEC.get(c.name)
    if spec is None:
        kinds = tuple(getattr(entry, "args", ()) or ())
        return [(k, i) for i, k in enumerate(kinds)], getattr(entry, "ret", "int") or "int"
    kinds, ret = spec
    if callable(kinds):
        return list(kinds(c)), ret
    return [(k, i) for i, k in enumerate(kinds)], ret


def _syscall_name(nr: int) -> str | None:
    """The name of system call nr from elfkit's table of numbers, None when it has none."""
    from elfkit.kernel.syscalls.numbers import NAMES
    return NAMES.get(nr)


def _result(name: str, result: int, ret) -> str:
    """The text after "= " (errors as strace prints them)."""
    if _is_error(name, result):
        e = -result
        if e in ERESTART_TEXT:
            return "? " + ERESTART_TEXT[e]
        en = errno_name(e)
        if en is None:
            return f"-1 (errno {e})"
        return f"-1 {en} ({os.strerror(e)})"
    if ret == "hex":
        return _x(result)
    if ret == "oct":
        return _o3(result & M64)
    if ret == "none":
        return "?"
    if ret == "fd":
        return str(result) if 0 <= result <= 0x7FFFFFFF else _d64(result)
    return _u(result)


