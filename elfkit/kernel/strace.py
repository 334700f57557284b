"""--strace: one line per guest system call, in the format of strace(1) 6.x.

The dispatcher (elfkit.kernel.syscalls.make_dispatcher) calls

    enter(proc, entry, args)            before the handler (args: the six raw u64 registers)
    leave(proc, entry, args, result)    after it (result: the value for %rax, -errno on failure)
    exit(proc, entry, status)           instead of leave when the call ended the process
    unknown(proc, nr, regs, result)     for a number elfkit has no handler for

and two more calls are there for whoever runs the process: finish(proc, status) after run()
(+++ exited with N +++ / +++ killed by SIGx +++, once; exit() already does it for exit_group)
and signal(proc, signum, code, addr) when a signal is delivered (--- SIGx {si_signo=...} ---).

strace prints what a call reads from memory when the call is entered and what
it writes when it returns, so every line is built in two halves and written
whole at leave(); the arguments a handler overwrites (a read() buffer, a stat
struct, getcwd's path) are decoded from guest memory after the handler ran.

How each argument is shown follows strace 6.1's decoders (src/*.c and
src/xlat/*.in of https://github.com/strace/strace, tag v6.1), with the
default options: strings cut at 32 bytes (-s 32) with "...", structures
abbreviated (no -v), no -y/-x, results aligned at column 40 (-a 40). Memory
that cannot be read is shown as its address, NULL as NULL, and a structure a
failing call was meant to fill as its address -- as strace does.

Two tables drive it. SPEC names, per system call, the strace decoder of each
argument (an "argument kind"); KINDS maps every kind to a function and the
phase it is decoded in. A call missing from SPEC is decoded from the kinds in
its Syscall record (elfkit.kernel.syscalls), with "hex" for kinds nobody
knows; a number with no handler is decoded from SPEC when strace knows its
arguments, else printed as strace's printargs does (hex, NARGS of them).
Flag and constant tables are data (class Xlat), copied from strace's xlat
files for x86-64.

Nothing here may raise into the guest: every entry point catches its own
exceptions and falls back to printing the raw registers.
"""
from __future__ import annotations

import os
import struct
import sys
import time

__all__ = ["StraceWriter"]

M64 = (1 << 64) - 1
MAX_STRLEN = 32                 # strace -s default
PATH_MAX = 4096
PAGE = 4096
COLUMN = 40                     # strace -a default
NSIG_BYTES = 8


# --- numbers as strace prints them ---------------------------------------------------------------

def _u(v: int) -> str:           # PRINT_VAL_U of a kernel_ulong_t
    return str(v & M64)


def _u32(v: int) -> str:
    return str(v & 0xFFFFFFFF)


def _d64(v: int) -> str:         # PRINT_VAL_D of a kernel_long_t
    v &= M64
    return str(v - (1 << 64) if v >> 63 else v)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _d32(v: int) -> str:         # PRINT_VAL_D of an int
    return str(_s32(v))


def _x(v: int) -> str:           # "%#llx": 0 is "0"
    v &= M64
    return hex(v) if v else "0"


def _addr(v: int) -> str:        # printaddr: 0 is NULL
    v &= M64
    return hex(v) if v else "NULL"


def _o3(v: int) -> str:          # "%#03o"
    return ("0" + format(v, "o") if v else "0").rjust(3, "0")


def _int_heuristic(v: int) -> str:
    """An "int" kind of unknown width: a C int if it fits in 32 bits, else a signed long."""
    return _d32(v) if v & M64 < 1 << 32 else _d64(v)


# --- constant and flag tables (strace's xlat) ----------------------------------------------------

class Xlat:
    """An ordered list of (value, name), looked up first-match-wins like strace's xlookup."""

    __slots__ = ("pairs", "by")

    def __init__(self, pairs):
        self.pairs = tuple(pairs)
        self.by: dict[int, str] = {}
        for v, n in self.pairs:
            self.by.setdefault(v, n)

    @classmethod
    def seq(cls, names: str, start: int = 0) -> "Xlat":
        """Names for start, start+1, ...; "-" leaves a value out."""
        return cls((i, n) for i, n in enumerate(names.split(), start) if n != "-")

    def get(self, v: int):
        return self.by.get(v)


def xval(x: Xlat, v: int, dflt: str | None) -> str:
    """printxval: the name, or the number in hex with /* dflt */."""
    name = x.by.get(v)
    if name is not None:
        return name
    return f"{_x(v)} /* {dflt} */" if dflt else _x(v)


def xflags(x: Xlat, flags: int, dflt: str | None) -> str:
    """printflags_ex (abbreviated style): A|B|0x.., or 0x.. /* dflt */, or 0."""
    out = []
    for v, name in x.pairs:
        if not (flags or not out):
            break
        if flags == v or (v and flags & v == v):
            out.append(name)
            flags &= ~v
        if not flags:
            break
    if out:
        if flags:
            out.append(_x(flags))
        return "|".join(out)
    if flags:
        return f"{_x(flags)} /* {dflt} */" if dflt else _x(flags)
    return "0" if dflt else ""


def sprintflags(prefix: str, x: Xlat, flags: int, sep: str = "") -> str | None:
    """sprintflags_ex (abbreviated style), for the text after a result."""
    out = prefix
    if flags == 0 and x.pairs and x.pairs[0][0] == 0:
        return out + sep + x.pairs[0][1]
    found = False
    for v, name in x.pairs:
        if not flags:
            break
        if v and flags & v == v:
            out += sep + name
            found, sep = True, "|"
            flags &= ~v
    if flags:
        out += sep + _x(flags)
    elif not found:
        return None
    return out


O_CREAT, O_TMPFILE_BIT, O_DIRECTORY = 0o100, 0o20000000, 0o200000
OPEN_ACCESS = Xlat.seq("O_RDONLY O_WRONLY O_RDWR O_ACCMODE")
OPEN_FLAGS = Xlat([(0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"),
                   (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o4010000, "O_SYNC"),
                   (0o4000000, "__O_SYNC"), (0o10000, "O_DSYNC"), (0o40000, "O_DIRECT"),
                   (0o100000, "O_LARGEFILE"), (0o400000, "O_NOFOLLOW"), (0o1000000, "O_NOATIME"),
                   (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH"), (0o20200000, "O_TMPFILE"),
                   (0o20000000, "__O_TMPFILE"), (0o200000, "O_DIRECTORY"), (0o20000, "FASYNC")])
AT_FDCWD = -100
AT_FLAGS = Xlat([(0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
                 (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH"), (0x8000, "AT_RECURSIVE")])
FACCESSAT_FLAGS = Xlat([(0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_EACCESS"), (0x1000, "AT_EMPTY_PATH")])
ACCESS_MODES = Xlat([(0, "F_OK"), (4, "R_OK"), (2, "W_OK"), (1, "X_OK")])
STATX_SYNC = Xlat([(0, "AT_STATX_SYNC_AS_STAT"), (0x2000, "AT_STATX_FORCE_SYNC"),
                   (0x4000, "AT_STATX_DONT_SYNC"), (0x6000, "AT_STATX_SYNC_TYPE")])
STATX_MASKS = Xlat([(0xFFF, "STATX_ALL"), (0x7FF, "STATX_BASIC_STATS"), (1, "STATX_TYPE"),
                    (2, "STATX_MODE"), (4, "STATX_NLINK"), (8, "STATX_UID"), (0x10, "STATX_GID"),
                    (0x20, "STATX_ATIME"), (0x40, "STATX_MTIME"), (0x80, "STATX_CTIME"),
                    (0x100, "STATX_INO"), (0x200, "STATX_SIZE"), (0x400, "STATX_BLOCKS"),
                    (0x800, "STATX_BTIME"), (0x1000, "STATX_MNT_ID"), (0x2000, "STATX_DIOALIGN")])
STATX_ATTRS = Xlat([(0x4, "STATX_ATTR_COMPRESSED"), (0x10, "STATX_ATTR_IMMUTABLE"),
                    (0x20, "STATX_ATTR_APPEND"), (0x40, "STATX_ATTR_NODUMP"),
                    (0x800, "STATX_ATTR_ENCRYPTED"), (0x1000, "STATX_ATTR_AUTOMOUNT"),
                    (0x2000, "STATX_ATTR_MOUNT_ROOT"), (0x100000, "STATX_ATTR_VERITY"),
                    (0x200000, "STATX_ATTR_DAX")])
MODE_TYPES = Xlat([(0o100000, "S_IFREG"), (0o140000, "S_IFSOCK"), (0o10000, "S_IFIFO"),
                   (0o120000, "S_IFLNK"), (0o40000, "S_IFDIR"), (0o60000, "S_IFBLK"),
                   (0o20000, "S_IFCHR")])
WHENCE = Xlat.seq("SEEK_SET SEEK_CUR SEEK_END SEEK_DATA SEEK_HOLE")
MMAP_PROT = Xlat([(0, "PROT_NONE"), (1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC"),
                  (8, "PROT_SEM"), (0x1000000, "PROT_GROWSDOWN"), (0x2000000, "PROT_GROWSUP")])
MMAP_FLAGS = Xlat([(1, "MAP_SHARED"), (2, "MAP_PRIVATE"), (3, "MAP_SHARED_VALIDATE"), (0x10, "MAP_FIXED"),
                   (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"), (0x4000, "MAP_NORESERVE"),
                   (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"), (0x100, "MAP_GROWSDOWN"),
                   (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0, "MAP_FILE"),
                   (0x2000, "MAP_LOCKED"), (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"),
                   (0x80000, "MAP_SYNC"), (0x4000000, "MAP_UNINITIALIZED"),
                   (0x100000, "MAP_FIXED_NOREPLACE")])
MREMAP_FLAGS = Xlat([(1, "MREMAP_MAYMOVE"), (2, "MREMAP_FIXED"), (4, "MREMAP_DONTUNMAP")])
MADVISE = Xlat([(0, "MADV_NORMAL"), (1, "MADV_RANDOM"), (2, "MADV_SEQUENTIAL"), (3, "MADV_WILLNEED"),
                (4, "MADV_DONTNEED"), (8, "MADV_FREE"), (9, "MADV_REMOVE"), (10, "MADV_DONTFORK"),
                (11, "MADV_DOFORK"), (12, "MADV_MERGEABLE"), (13, "MADV_UNMERGEABLE"),
                (14, "MADV_HUGEPAGE"), (15, "MADV_NOHUGEPAGE"), (16, "MADV_DONTDUMP"),
                (17, "MADV_DODUMP"), (18, "MADV_WIPEONFORK"), (19, "MADV_KEEPONFORK"), (20, "MADV_COLD"),
                (21, "MADV_PAGEOUT"), (22, "MADV_POPULATE_READ"), (23, "MADV_POPULATE_WRITE"),
                (24, "MADV_DONTNEED_LOCKED"), (25, "MADV_COLLAPSE"), (100, "MADV_HWPOISON"),
                (101, "MADV_SOFT_OFFLINE")])
MSYNC_FLAGS = Xlat([(4, "MS_SYNC"), (1, "MS_ASYNC"), (2, "MS_INVALIDATE")])
FADVISE = Xlat.seq("POSIX_FADV_NORMAL POSIX_FADV_RANDOM POSIX_FADV_SEQUENTIAL POSIX_FADV_WILLNEED "
                   "POSIX_FADV_DONTNEED POSIX_FADV_NOREUSE")
FCNTL_CMDS = Xlat([(0, "F_DUPFD"), (1, "F_GETFD"), (2, "F_SETFD"), (3, "F_GETFL"), (4, "F_SETFL"),
                   (5, "F_GETLK"), (6, "F_SETLK"), (7, "F_SETLKW"), (8, "F_SETOWN"), (9, "F_GETOWN"),
                   (10, "F_SETSIG"), (11, "F_GETSIG"), (12, "F_GETLK64"), (13, "F_SETLK64"),
                   (14, "F_SETLKW64"), (15, "F_SETOWN_EX"), (16, "F_GETOWN_EX"),
                   (17, "F_GETOWNER_UIDS"), (36, "F_OFD_GETLK"), (37, "F_OFD_SETLK"),
                   (38, "F_OFD_SETLKW"), (1024, "F_SETLEASE"), (1025, "F_GETLEASE"), (1026, "F_NOTIFY"),
                   (1029, "F_CANCELLK"), (1030, "F_DUPFD_CLOEXEC"), (1031, "F_SETPIPE_SZ"),
                   (1032, "F_GETPIPE_SZ"), (1033, "F_ADD_SEALS"), (1034, "F_GET_SEALS")])
FD_FLAGS = Xlat([(1, "FD_CLOEXEC")])
LOCK_TYPES = Xlat([(0, "F_RDLCK"), (1, "F_WRLCK"), (2, "F_UNLCK"), (4, "F_EXLCK"), (8, "F_SHLCK")])
F_SEALS = Xlat([(1, "F_SEAL_SEAL"), (2, "F_SEAL_SHRINK"), (4, "F_SEAL_GROW"), (8, "F_SEAL_WRITE"),
                (0x10, "F_SEAL_FUTURE_WRITE")])
CLOSE_RANGE_FLAGS = Xlat([(2, "CLOSE_RANGE_UNSHARE"), (4, "CLOSE_RANGE_CLOEXEC")])
RENAME_FLAGS = Xlat([(1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT")])
GRND_FLAGS = Xlat([(1, "GRND_NONBLOCK"), (2, "GRND_RANDOM"), (4, "GRND_INSECURE")])
POLL_FLAGS = Xlat([(1, "POLLIN"), (2, "POLLPRI"), (4, "POLLOUT"), (8, "POLLERR"), (0x10, "POLLHUP"),
                   (0x20, "POLLNVAL"), (0x40, "POLLRDNORM"), (0x80, "POLLRDBAND"), (0x100, "POLLWRNORM"),
                   (0x200, "POLLWRBAND"), (0x400, "POLLMSG"), (0x1000, "POLLREMOVE"),
                   (0x2000, "POLLRDHUP"), (0x8000, "POLL_BUSY_LOOP")])
WAIT_OPTIONS = Xlat([(1, "WNOHANG"), (4, "WEXITED"), (2, "WSTOPPED"), (8, "WCONTINUED"),
                     (0x1000000, "WNOWAIT"), (0x80000000, "__WCLONE"), (0x40000000, "__WALL"),
                     (0x20000000, "__WNOTHREAD")])
DIRENT_TYPES = Xlat([(0, "DT_UNKNOWN"), (1, "DT_FIFO"), (2, "DT_CHR"), (4, "DT_DIR"), (6, "DT_BLK"),
                     (8, "DT_REG"), (10, "DT_LNK"), (12, "DT_SOCK"), (14, "DT_WHT")])
CLOCKS = Xlat.seq("CLOCK_REALTIME CLOCK_MONOTONIC CLOCK_PROCESS_CPUTIME_ID CLOCK_THREAD_CPUTIME_ID "
                  "CLOCK_MONOTONIC_RAW CLOCK_REALTIME_COARSE CLOCK_MONOTONIC_COARSE CLOCK_BOOTTIME "
                  "CLOCK_REALTIME_ALARM CLOCK_BOOTTIME_ALARM CLOCK_SGI_CYCLE CLOCK_TAI")
CPU_CLOCKS = Xlat.seq("CPUCLOCK_PROF CPUCLOCK_VIRT CPUCLOCK_SCHED")
TIMER_FLAGS = Xlat([(1, "TIMER_ABSTIME")])
RESOURCES = Xlat.seq("RLIMIT_CPU RLIMIT_FSIZE RLIMIT_DATA RLIMIT_STACK RLIMIT_CORE RLIMIT_RSS "
                     "RLIMIT_NPROC RLIMIT_NOFILE RLIMIT_MEMLOCK RLIMIT_AS RLIMIT_LOCKS "
                     "RLIMIT_SIGPENDING RLIMIT_MSGQUEUE RLIMIT_NICE RLIMIT_RTPRIO RLIMIT_RTTIME")
ARCH_PRCTL = Xlat([(0x1001, "ARCH_SET_GS"), (0x1002, "ARCH_SET_FS"), (0x1003, "ARCH_GET_FS"),
                   (0x1004, "ARCH_GET_GS"), (0x1011, "ARCH_GET_CPUID"), (0x1012, "ARCH_SET_CPUID"),
                   (0x1021, "ARCH_GET_XCOMP_SUPP"), (0x1022, "ARCH_GET_XCOMP_PERM"),
                   (0x1023, "ARCH_REQ_XCOMP_PERM"), (0x1024, "ARCH_GET_XCOMP_GUEST_PERM"),
                   (0x1025, "ARCH_REQ_XCOMP_GUEST_PERM"), (0x2001, "ARCH_MAP_VDSO_X32"),
                   (0x2002, "ARCH_MAP_VDSO_32"), (0x2003, "ARCH_MAP_VDSO_64")])
PRCTL_OPTIONS = Xlat(list(Xlat.seq(
    "- PR_SET_PDEATHSIG PR_GET_PDEATHSIG PR_GET_DUMPABLE PR_SET_DUMPABLE PR_GET_UNALIGN PR_SET_UNALIGN "
    "PR_GET_KEEPCAPS PR_SET_KEEPCAPS PR_GET_FPEMU PR_SET_FPEMU PR_GET_FPEXC PR_SET_FPEXC PR_GET_TIMING "
    "PR_SET_TIMING PR_SET_NAME PR_GET_NAME - - PR_GET_ENDIAN PR_SET_ENDIAN PR_GET_SECCOMP "
    "PR_SET_SECCOMP PR_CAPBSET_READ PR_CAPBSET_DROP PR_GET_TSC PR_SET_TSC PR_GET_SECUREBITS "
    "PR_SET_SECUREBITS PR_SET_TIMERSLACK PR_GET_TIMERSLACK PR_TASK_PERF_EVENTS_DISABLE "
    "PR_TASK_PERF_EVENTS_ENABLE PR_MCE_KILL PR_MCE_KILL_GET PR_SET_MM PR_SET_CHILD_SUBREAPER "
    "PR_GET_CHILD_SUBREAPER PR_SET_NO_NEW_PRIVS PR_GET_NO_NEW_PRIVS PR_GET_TID_ADDRESS "
    "PR_SET_THP_DISABLE PR_GET_THP_DISABLE PR_MPX_ENABLE_MANAGEMENT PR_MPX_DISABLE_MANAGEMENT "
    "PR_SET_FP_MODE PR_GET_FP_MODE PR_CAP_AMBIENT - - PR_SVE_SET_VL PR_SVE_GET_VL "
    "PR_GET_SPECULATION_CTRL PR_SET_SPECULATION_CTRL PR_PAC_RESET_KEYS PR_SET_TAGGED_ADDR_CTRL "
    "PR_GET_TAGGED_ADDR_CTRL PR_SET_IO_FLUSHER PR_GET_IO_FLUSHER PR_SET_SYSCALL_USER_DISPATCH "
    "PR_PAC_SET_ENABLED_KEYS PR_PAC_GET_ENABLED_KEYS PR_SCHED_CORE PR_SME_SET_VL PR_SME_GET_VL").pairs)
    + [(0x53564D41, "PR_SET_VMA"), (0x59616D61, "PR_SET_PTRACER")])
PR_DUMPABLE = Xlat.seq("SUID_DUMP_DISABLE SUID_DUMP_USER SUID_DUMP_ROOT")
FUTEX_CMDS = ("FUTEX_WAIT FUTEX_WAKE FUTEX_FD FUTEX_REQUEUE FUTEX_CMP_REQUEUE FUTEX_WAKE_OP "
              "FUTEX_LOCK_PI FUTEX_UNLOCK_PI FUTEX_TRYLOCK_PI FUTEX_WAIT_BITSET FUTEX_WAKE_BITSET "
              "FUTEX_WAIT_REQUEUE_PI FUTEX_CMP_REQUEUE_PI FUTEX_LOCK_PI2").split()
FUTEX_PRIVATE, FUTEX_CLOCK_REALTIME = 128, 256


def _futex_ops() -> Xlat:
    pairs = [(i, n) for i, n in enumerate(FUTEX_CMDS)]
    for i, n in enumerate(FUTEX_CMDS):
        pairs.append((i | FUTEX_PRIVATE, n + "|FUTEX_PRIVATE_FLAG" if n == "FUTEX_FD" else n + "_PRIVATE"))
    for i in (0, 9, 11):                   # the waits that take FUTEX_CLOCK_REALTIME
        pairs.append((i | FUTEX_CLOCK_REALTIME, FUTEX_CMDS[i] + "|FUTEX_CLOCK_REALTIME"))
        pairs.append((i | FUTEX_PRIVATE | FUTEX_CLOCK_REALTIME,
                      FUTEX_CMDS[i] + "_PRIVATE|FUTEX_CLOCK_REALTIME"))
    return Xlat(pairs)


FUTEX_OPS = _futex_ops()
FUTEX_BITSET = Xlat([(0xFFFFFFFF, "FUTEX_BITSET_MATCH_ANY")])
SIGPROCMASK_HOW = Xlat.seq("SIG_BLOCK SIG_UNBLOCK SIG_SETMASK SIG_SETMASK32")
SA_RESTORER = 0x04000000
SIGACT_FLAGS = Xlat([(SA_RESTORER, "SA_RESTORER"), (0x08000000, "SA_ONSTACK"), (0x10000000, "SA_RESTART"),
                     (0x20000000, "SA_INTERRUPT"), (0x40000000, "SA_NODEFER"), (0x80000000, "SA_RESETHAND"),
                     (4, "SA_SIGINFO"), (1, "SA_NOCLDSTOP"), (2, "SA_NOCLDWAIT")])
SA_HANDLERS = {M64: "SIG_ERR", 0: "SIG_DFL", 1: "SIG_IGN"}
SS_FLAGS = Xlat([(1, "SS_ONSTACK"), (2, "SS_DISABLE"), (1 << 31, "SS_AUTODISARM")])
SIGNALS = ("0 SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGKILL SIGUSR1 SIGSEGV "
           "SIGUSR2 SIGPIPE SIGALRM SIGTERM SIGSTKFLT SIGCHLD SIGCONT SIGSTOP SIGTSTP SIGTTIN SIGTTOU "
           "SIGURG SIGXCPU SIGXFSZ SIGVTALRM SIGPROF SIGWINCH SIGIO SIGPWR SIGSYS SIGRTMIN").split()
CLONE_FLAGS = Xlat([(0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"),
                    (0x800, "CLONE_SIGHAND"), (0x1000, "CLONE_PIDFD"), (0x2000, "CLONE_PTRACE"),
                    (0x4000, "CLONE_VFORK"), (0x8000, "CLONE_PARENT"), (0x10000, "CLONE_THREAD"),
                    (0x20000, "CLONE_NEWNS"), (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"),
                    (0x100000, "CLONE_PARENT_SETTID"), (0x200000, "CLONE_CHILD_CLEARTID"),
                    (0x800000, "CLONE_UNTRACED"), (0x1000000, "CLONE_CHILD_SETTID"),
                    (0x2000000, "CLONE_NEWCGROUP"), (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"),
                    (0x10000000, "CLONE_NEWUSER"), (0x20000000, "CLONE_NEWPID"),
                    (0x40000000, "CLONE_NEWNET"), (0x80000000, "CLONE_IO"),
                    (0x100000000, "CLONE_CLEAR_SIGHAND"), (0x200000000, "CLONE_INTO_CGROUP"),
                    (0x80, "CLONE_NEWTIME")])
ADDR_FAMILIES = Xlat.seq(
    "AF_UNSPEC AF_UNIX AF_INET AF_AX25 AF_IPX AF_APPLETALK AF_NETROM AF_BRIDGE AF_ATMPVC AF_X25 "
    "AF_INET6 AF_ROSE AF_DECnet AF_NETBEUI AF_SECURITY AF_KEY AF_NETLINK AF_PACKET AF_ASH AF_ECONET "
    "AF_ATMSVC AF_RDS AF_SNA AF_IRDA AF_PPPOX AF_WANPIPE AF_LLC AF_IB AF_MPLS AF_CAN AF_TIPC "
    "AF_BLUETOOTH AF_IUCV AF_RXRPC AF_ISDN AF_PHONET AF_IEEE802154 AF_CAIF AF_ALG AF_NFC AF_VSOCK "
    "AF_KCM AF_QIPCRTR AF_SMC AF_XDP AF_MCTP")
SOCK_TYPES = Xlat([(1, "SOCK_STREAM"), (2, "SOCK_DGRAM"), (3, "SOCK_RAW"), (4, "SOCK_RDM"),
                   (5, "SOCK_SEQPACKET"), (6, "SOCK_DCCP"), (10, "SOCK_PACKET")])
SOCK_TYPE_FLAGS = Xlat([(0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")])
INET_PROTOCOLS = Xlat([(0, "IPPROTO_IP"), (1, "IPPROTO_ICMP"), (2, "IPPROTO_IGMP"), (4, "IPPROTO_IPIP"),
                       (6, "IPPROTO_TCP"), (8, "IPPROTO_EGP"), (12, "IPPROTO_PUP"), (17, "IPPROTO_UDP"),
                       (22, "IPPROTO_IDP"), (29, "IPPROTO_TP"), (33, "IPPROTO_DCCP"), (41, "IPPROTO_IPV6"),
                       (43, "IPPROTO_ROUTING"), (44, "IPPROTO_FRAGMENT"), (46, "IPPROTO_RSVP"),
                       (47, "IPPROTO_GRE"), (50, "IPPROTO_ESP"), (51, "IPPROTO_AH"), (58, "IPPROTO_ICMPV6"),
                       (59, "IPPROTO_NONE"), (60, "IPPROTO_DSTOPTS"), (92, "IPPROTO_MTP"),
                       (94, "IPPROTO_BEETPH"), (98, "IPPROTO_ENCAP"), (103, "IPPROTO_PIM"),
                       (108, "IPPROTO_COMP"), (115, "IPPROTO_L2TP"), (132, "IPPROTO_SCTP"),
                       (135, "IPPROTO_MH"), (136, "IPPROTO_UDPLITE"), (137, "IPPROTO_MPLS"),
                       (143, "IPPROTO_ETHERNET"), (255, "IPPROTO_RAW"), (262, "IPPROTO_MPTCP")])
NETLINK_PROTOCOLS = Xlat.seq(
    "NETLINK_ROUTE NETLINK_UNUSED NETLINK_USERSOCK NETLINK_FIREWALL NETLINK_SOCK_DIAG NETLINK_NFLOG "
    "NETLINK_XFRM NETLINK_SELINUX NETLINK_ISCSI NETLINK_AUDIT NETLINK_FIB_LOOKUP NETLINK_CONNECTOR "
    "NETLINK_NETFILTER NETLINK_IP6_FW NETLINK_DNRTMSG NETLINK_KOBJECT_UEVENT NETLINK_GENERIC - "
    "NETLINK_SCSITRANSPORT NETLINK_ECRYPTFS NETLINK_RDMA NETLINK_CRYPTO NETLINK_SMC")
FS_MAGIC = Xlat([(0xEF53, "EXT2_SUPER_MAGIC"), (0x01021994, "TMPFS_MAGIC"), (0x9FA0, "PROC_SUPER_MAGIC"),
                 (0x62656572, "SYSFS_MAGIC"), (0x794C7630, "OVERLAYFS_SUPER_MAGIC"),
                 (0x9123683E, "BTRFS_SUPER_MAGIC"), (0x58465342, "XFS_SUPER_MAGIC"),
                 (0x6969, "NFS_SUPER_MAGIC"), (0x1CD1, "DEVPTS_SUPER_MAGIC"),
                 (0x63677270, "CGROUP2_SUPER_MAGIC"), (0x27E0EB, "CGROUP_SUPER_MAGIC"),
                 (0x65735546, "FUSE_SUPER_MAGIC"), (0x858458F6, "RAMFS_MAGIC"), (0x4D44, "MSDOS_SUPER_MAGIC"),
                 (0x2011BAB0, "EXFAT_SUPER_MAGIC"), (0x73717368, "SQUASHFS_MAGIC"),
                 (0x9660, "ISOFS_SUPER_MAGIC"), (0x01021997, "V9FS_MAGIC"), (0x50495045, "PIPEFS_MAGIC"),
                 (0x534F434B, "SOCKFS_MAGIC"), (0x2FC12FC1, "ZFS_SUPER_MAGIC"),
                 (0x958458F6, "HUGETLBFS_MAGIC"), (0x64626720, "DEBUGFS_MAGIC"),
                 (0x74726163, "TRACEFS_MAGIC"), (0x73636673, "SECURITYFS_MAGIC")])
STATFS_FLAGS = Xlat([(0x20, "ST_VALID"), (1, "ST_RDONLY"), (2, "ST_NOSUID"), (4, "ST_NODEV"),
                     (8, "ST_NOEXEC"), (0x10, "ST_SYNCHRONOUS"), (0x40, "ST_MANDLOCK"), (0x400, "ST_NOATIME"),
                     (0x800, "ST_NODIRATIME"), (0x1000, "ST_RELATIME"), (0x2000, "ST_NOSYMFOLLOW")])
# ioctl request names: the terminal and file ones of asm-generic/ioctls.h (strace has ~3000)
IOCTLS = Xlat([(0x5401, "TCGETS"), (0x5402, "TCSETS"), (0x5403, "TCSETSW"), (0x5404, "TCSETSF"),
               (0x5405, "TCGETA"), (0x5406, "TCSETA"), (0x5407, "TCSETAW"), (0x5408, "TCSETAF"),
               (0x5409, "TCSBRK"), (0x540A, "TCXONC"), (0x540B, "TCFLSH"), (0x540C, "TIOCEXCL"),
               (0x540D, "TIOCNXCL"), (0x540E, "TIOCSCTTY"), (0x540F, "TIOCGPGRP"), (0x5410, "TIOCSPGRP"),
               (0x5411, "TIOCOUTQ"), (0x5412, "TIOCSTI"), (0x5413, "TIOCGWINSZ"), (0x5414, "TIOCSWINSZ"),
               (0x5415, "TIOCMGET"), (0x5416, "TIOCMBIS"), (0x5417, "TIOCMBIC"), (0x5418, "TIOCMSET"),
               (0x5419, "TIOCGSOFTCAR"), (0x541A, "TIOCSSOFTCAR"), (0x541B, "FIONREAD"),
               (0x541C, "TIOCLINUX"), (0x541D, "TIOCCONS"), (0x541E, "TIOCGSERIAL"),
               (0x541F, "TIOCSSERIAL"), (0x5420, "TIOCPKT"), (0x5421, "FIONBIO"), (0x5422, "TIOCNOTTY"),
               (0x5423, "TIOCSETD"), (0x5424, "TIOCGETD"), (0x5425, "TCSBRKP"), (0x5427, "TIOCSBRK"),
               (0x5428, "TIOCCBRK"), (0x5429, "TIOCGSID"), (0x80045430, "TIOCGPTN"),
               (0x40045431, "TIOCSPTLCK"), (0x80045432, "TIOCGDEV"), (0x5432, "TCGETX"),
               (0x5433, "TCSETX"), (0x5434, "TCSETXF"), (0x5435, "TCSETXW"), (0x40045436, "TIOCSIG"),
               (0x5437, "TIOCVHANGUP"), (0x80045438, "TIOCGPKT"), (0x80045439, "TIOCGPTLCK"),
               (0x80045440, "TIOCGEXCL"), (0x5441, "TIOCGPTPEER"), (0x5450, "FIONCLEX"),
               (0x5451, "FIOCLEX"), (0x5452, "FIOASYNC"), (0x5453, "TIOCSERCONFIG"),
               (0x5454, "TIOCSERGWILD"), (0x5455, "TIOCSERSWILD"), (0x5456, "TIOCGLCKTRMIOS"),
               (0x5457, "TIOCSLCKTRMIOS"), (0x5458, "TIOCSERGSTRUCT"), (0x5459, "TIOCSERGETLSR"),
               (0x545A, "TIOCSERGETMULTI"), (0x545B, "TIOCSERSETMULTI"), (0x545C, "TIOCMIWAIT"),
               (0x545D, "TIOCGICOUNT"), (0x5460, "FIOQSIZE"), (0x8901, "FIOSETOWN"),
               (0x8902, "SIOCSPGRP"), (0x8903, "FIOGETOWN"), (0x8904, "SIOCGPGRP"),
               (0x8905, "SIOCATMARK"), (0x8906, "SIOCGSTAMP_OLD"), (0x8907, "SIOCGSTAMPNS_OLD")])
IOC_DIRS = Xlat([(0, "_IOC_NONE"), (2, "_IOC_READ"), (1, "_IOC_WRITE")])
TERM_IFLAGS = Xlat([(1 << i, n) for i, n in enumerate(
    "IGNBRK BRKINT IGNPAR PARMRK INPCK ISTRIP INLCR IGNCR ICRNL IUCLC IXON IXANY IXOFF IMAXBEL "
    "IUTF8".split())])
TERM_OFLAGS = Xlat([(0o14000, "XTABS"), (1, "OPOST"), (2, "OLCUC"), (4, "ONLCR"), (0o10, "OCRNL"),
                    (0o20, "ONOCR"), (0o40, "ONLRET"), (0o100, "OFILL"), (0o200, "OFDEL")])
TERM_ODELAYS = ((Xlat([(0, "NL0"), (0o100, "NL1")]), 0o100, "NL?"),
                (Xlat([(0, "CR0"), (0o1000, "CR1"), (0o2000, "CR2"), (0o3000, "CR3")]), 0o3000, "CR?"),
                (Xlat([(0o14000, "XTABS"), (0, "TAB0"), (0o4000, "TAB1"), (0o10000, "TAB2"),
                       (0o14000, "TAB3")]), 0o14000, "TAB?"),
                (Xlat([(0o20000, "BS1"), (0, "BS0")]), 0o20000, "BS?"),
                (Xlat([(0, "VT0"), (0o40000, "VT1")]), 0o40000, "VT?"),
                (Xlat([(0, "FF0"), (0o100000, "FF1")]), 0o100000, "FF?"))
BAUDS = Xlat(list(Xlat.seq("B0 B50 B75 B110 B134 B150 B200 B300 B600 B1200 B1800 B2400 B4800 B9600 "
                           "B19200 B38400").pairs)
             + [(0o10001 + i, n) for i, n in enumerate(
                 "B57600 B115200 B230400 B460800 B500000 B576000 B921600 B1000000 B1152000 B1500000 "
                 "B2000000 B2500000 B3000000 B3500000 B4000000".split())] + [(0o10000, "BOTHER")])
TERM_CSIZE = Xlat([(0, "CS5"), (0o20, "CS6"), (0o40, "CS7"), (0o60, "CS8")])
TERM_CFLAGS = Xlat([(0o100, "CSTOPB"), (0o200, "CREAD"), (0o400, "PARENB"), (0o1000, "PARODD"),
                    (0o2000, "HUPCL"), (0o4000, "CLOCAL"), (0o10000000000, "CMSPAR"),
                    (0o20000000000, "CRTSCTS")])
TERM_LFLAGS = Xlat([(1, "ISIG"), (2, "ICANON"), (4, "XCASE"), (0o10, "ECHO"), (0o20, "ECHOE"),
                    (0o40, "ECHOK"), (0o100, "ECHONL"), (0o200, "NOFLSH"), (0o100000, "IEXTEN"),
                    (0o1000, "ECHOCTL"), (0o2000, "ECHOPRT"), (0o4000, "ECHOKE"), (0o10000, "FLUSHO"),
                    (0o40000, "PENDIN"), (0o400, "TOSTOP"), (0o200000, "EXTPROC")])

# errno names of linux/generic/errnoent.h (1..133, "-" = no name) and the kernel-internal ones
ERRNO_NAMES = [None] + [n if n != "-" else None for n in """
EPERM ENOENT ESRCH EINTR EIO ENXIO E2BIG ENOEXEC EBADF ECHILD EAGAIN ENOMEM EACCES EFAULT
ENOTBLK EBUSY EEXIST EXDEV ENODEV ENOTDIR EISDIR EINVAL ENFILE EMFILE ENOTTY ETXTBSY EFBIG
ENOSPC ESPIPE EROFS EMLINK EPIPE EDOM ERANGE EDEADLK ENAMETOOLONG ENOLCK ENOSYS ENOTEMPTY ELOOP
- ENOMSG EIDRM ECHRNG EL2NSYNC EL3HLT EL3RST ELNRNG EUNATCH ENOCSI EL2HLT EBADE EBADR EXFULL
ENOANO EBADRQC EBADSLT - EBFONT ENOSTR ENODATA ETIME ENOSR ENONET ENOPKG EREMOTE ENOLINK EADV
ESRMNT ECOMM EPROTO EMULTIHOP EDOTDOT EBADMSG EOVERFLOW ENOTUNIQ EBADFD EREMCHG ELIBACC ELIBBAD
ELIBSCN ELIBMAX ELIBEXEC EILSEQ ERESTART ESTRPIPE EUSERS ENOTSOCK EDESTADDRREQ EMSGSIZE
EPROTOTYPE ENOPROTOOPT EPROTONOSUPPORT ESOCKTNOSUPPORT EOPNOTSUPP EPFNOSUPPORT EAFNOSUPPORT
EADDRINUSE EADDRNOTAVAIL ENETDOWN ENETUNREACH ENETRESET ECONNABORTED ECONNRESET ENOBUFS EISCONN
ENOTCONN ESHUTDOWN ETOOMANYREFS ETIMEDOUT ECONNREFUSED EHOSTDOWN EHOSTUNREACH EALREADY
EINPROGRESS ESTALE EUCLEAN ENOTNAM ENAVAIL EISNAM EREMOTEIO EDQUOT ENOMEDIUM EMEDIUMTYPE
ECANCELED ENOKEY EKEYEXPIRED EKEYREVOKED EKEYREJECTED EOWNERDEAD ENOTRECOVERABLE ERFKILL
EHWPOISON""".split()]
ERRNO_KERNEL = {512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND", 515: "ENOIOCTLCMD",
                516: "ERESTART_RESTARTBLOCK", 517: "EPROBE_DEFER", 518: "EOPENSTALE", 521: "EBADHANDLE",
                522: "ENOTSYNC", 523: "EBADCOOKIE", 524: "ENOTSUPP", 525: "ETOOSMALL",
                526: "ESERVERFAULT", 527: "EBADTYPE", 528: "EJUKEBOX", 529: "EIOCBQUEUED",
                530: "ERECALLCONFLICT"}
ERESTART_TEXT = {512: "ERESTARTSYS (To be restarted if SA_RESTART is set)",
                 513: "ERESTARTNOINTR (To be restarted)",
                 514: "ERESTARTNOHAND (To be restarted if no handler)",
                 516: "ERESTART_RESTARTBLOCK (Interrupted by signal)"}

# number of arguments of each x86-64 system call (strace's syscallent.h), for calls elfkit does
# not implement; "-" = no such call (strace then prints all six)
NARGS = ("3331222336321440344332150533333312022130433366332323345550031421334124533211223211221221"
         "2322333122211403011002000222233331111222432223112223232231112221003215212101252214221323"
         "2154355533035554443332222163312153313144531044342112224144325635415523455453203244345343"
         "45343365123644464632144244213214445525453214236653345332535133666421564" + "-" * 89 +
         "426435253322343456543421254")

# calls strace never reports as failed (SYSCALL_NEVER_FAILS)
NEVER_FAILS = frozenset("getuid geteuid getgid getegid getpgrp getpid getppid gettid umask".split())


SI_CODES = {0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ",
            -4: "SI_ASYNCIO", -5: "SI_SIGIO", -6: "SI_TKILL", -7: "SI_DETHREAD", -60: "SI_ASYNCNL"}
SI_CODES_BY_SIGNAL = {
    4: dict(enumerate("ILL_ILLOPC ILL_ILLOPN ILL_ILLADR ILL_ILLTRP ILL_PRVOPC ILL_PRVREG ILL_COPROC "
                      "ILL_BADSTK ILL_BADIADDR".split(), 1)),
    8: dict(enumerate("FPE_INTDIV FPE_INTOVF FPE_FLTDIV FPE_FLTOVF FPE_FLTUND FPE_FLTRES FPE_FLTINV "
                      "FPE_FLTSUB FPE_FLTUNK FPE_CONDTRAP".split(), 1)),
    11: dict(enumerate("SEGV_MAPERR SEGV_ACCERR SEGV_BNDERR SEGV_PKUERR SEGV_ACCADI SEGV_ADIDERR "
                       "SEGV_ADIPERR SEGV_MTEAERR SEGV_MTESERR".split(), 1)),
    7: dict(enumerate("BUS_ADRALN BUS_ADRERR BUS_OBJERR BUS_MCEERR_AR BUS_MCEERR_AO".split(), 1)),
    5: dict(enumerate("TRAP_BRKPT TRAP_TRACE TRAP_BRANCH TRAP_HWBKPT TRAP_UNK".split(), 1)),
}


def errno_name(e: int) -> str | None:
    if 0 < e < len(ERRNO_NAMES):
        return ERRNO_NAMES[e]
    return ERRNO_KERNEL.get(e)


def signame(sig: int) -> str | None:
    if 0 < sig < len(SIGNALS):
        return SIGNALS[sig]
    if 32 <= sig <= 64:
        return f"SIGRT_{sig - 32}"
    return None


def _signal(v: int) -> str:
    """printsignal of an int."""
    sig = _s32(v)
    return signame(sig) or str(sig)


def sigmask_text(mask: int, nbytes: int = NSIG_BYTES) -> str:
    """sprintsigmask_n: [HUP INT], or ~[...] for the signals missing from a mostly-full mask."""
    words = (min(nbytes, NSIG_BYTES) + 3) // 4
    bits = words * 32
    mask &= (1 << bits) - 1
    prefix = ""
    if bin(mask).count("1") >= bits * 2 // 3:
        mask, prefix = ~mask & ((1 << bits) - 1), "~"
    names = []
    for i in range(bits):
        if mask >> i & 1:
            s = i + 1
            names.append(SIGNALS[s][3:] if s < len(SIGNALS) else f"RT_{s - 32}" if s <= 64 else str(s))
    return prefix + "[" + " ".join(names) + "]"


def open_modes(flags: int) -> str:
    """sprint_open_modes without its "flags " prefix: O_RDONLY|O_CLOEXEC."""
    flags &= M64
    out = OPEN_ACCESS.by[flags & 3]
    flags &= ~3
    if not flags:
        return out
    rest = sprintflags("", OPEN_FLAGS, flags, "|")
    return out + (rest or "")


def mode_t(mode: int) -> str:
    """print_symbolic_mode_t: S_IFREG|0644."""
    mode &= 0xFFFFFFFF
    ifmt = MODE_TYPES.get(mode & 0o170000) if mode & 0o170000 else ""
    if ifmt is None:
        return _o3(mode)
    return (ifmt + ("|" if ifmt else "") + ("S_ISUID|" if mode & 0o4000 else "")
            + ("S_ISGID|" if mode & 0o2000 else "") + ("S_ISVTX|" if mode & 0o1000 else "")
            + _o3(mode & ~0o177000))


def makedev(dev: int) -> str:
    major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF & 0xFFFFFFFF)
    minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF & 0xFFFFFFFF)
    return f"makedev({_x(major)}, {_x(minor)})"


def sprinttime(sec: int, nsec: int | None = None) -> str | None:
    """sprinttime / sprinttime_nsec: 2024-01-02T03:04:05+0100 in local time, None for 0."""
    if sec == 0 and not nsec:
        return None
    if nsec is not None and not 0 <= nsec <= 999_999_999:
        return None
    try:
        tm = time.localtime(sec)
    except (OverflowError, OSError, ValueError):
        return None
    frac = f".{nsec:09d}" if nsec else ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + frac + time.strftime("%z", tm)


def _clock_t(val: int) -> str:
    """print_clock_t: 123 /* 1.23 s */."""
    tck = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    if val <= 0 or tck <= 0:
        return str(val)
    width = min(len(str(tck)) - 1, 9)
    frac = f"{(val % tck) / tck:.{width}f}"
    return f"{val} /* {val // tck}.{frac.split('.')[1] if '.' in frac else ''} s */"


# --- strings ---------------------------------------------------------------------------------------

_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v"}


def string_quote(buf: bytes, size: int, zero: bool, force_hex: bool = False,
                 omit_trailing_0: bool = False) -> tuple[str, bool]:
    """strace's string_quote: (quoted text, True unless a NUL ended it within or right after size)."""
    out = ['"']
    for i in range(size):
        c = buf[i] if i < len(buf) else 0xFF
        if (zero or (omit_trailing_0 and i == size - 1 and not force_hex)) and c == 0:
            out.append('"')
            return "".join(out), False
        if force_hex:
            out.append(f"\\x{c:02x}")
        elif c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            nxt = buf[i + 1] if i + 1 < size and i + 1 < len(buf) else 0xFF
            if 0x30 <= nxt <= 0x37:
                out.append(f"\\{c >> 6}{(c >> 3) & 7}{c & 7}")
            elif c >> 6:
                out.append(f"\\{c >> 6}{(c >> 3) & 7}{c & 7}")
            elif c >> 3:
                out.append(f"\\{(c >> 3) & 7}{c & 7}")
            else:
                out.append(f"\\{c & 7}")
    out.append('"')
    if zero and size < len(buf) and buf[size] == 0:
        return "".join(out), False
    return "".join(out), True


# --- one system call being printed -----------------------------------------------------------------

class _Call:
    """The state of one call between enter() and leave(): what strace keeps in its tcb."""

    __slots__ = ("proc", "name", "args", "specs", "ret", "parts", "result", "exiting")

    def __init__(self, proc, name, args):
        self.proc = proc
        self.name = name
        self.args = tuple(int(a) & M64 for a in args)
        self.specs: list = []
        self.ret = "int"
        self.parts: list = []
        self.result: int | None = None
        self.exiting = False

    # syserror(): the call is being left and failed
    @property
    def err(self) -> bool:
        return self.exiting and self.result is not None and _is_error(self.name, self.result)

    @property
    def rval(self) -> int:
        return self.result if self.result is not None else 0

    # --- guest memory, as strace's umoven / umovestr / tfetch_mem see it ---
    def umoven(self, addr: int, n: int) -> bytes | None:
        if n < 0 or addr + n > M64:
            return None
        try:
            data = self.proc.mm.read(addr, n)
        except Exception:  # noqa: BLE001 - an unreadable guest is shown as an address
            return None
        return bytes(data) if data is not None and len(data) == n else None

    def umovestr(self, addr: int, n: int):
        """(bytes read, NUL seen) reading at most n bytes page by page, or None."""
        out = bytearray()
        pos = addr
        while n > 0:
            chunk = min(n, PAGE - (pos & (PAGE - 1)))
            data = self.umoven(pos, chunk)
            if data is None:
                return None
            k = data.find(b"\0")
            if k >= 0:
                out += data[:k + 1]
                return bytes(out), True
            out += data
            pos += chunk
            n -= chunk
        return bytes(out), False

    def fetch(self, addr: int, n: int) -> bytes | None:
        """tfetch_mem: nothing for NULL or for an output of a failed call."""
        if not addr or (self.exiting and self.err):
            return None
        return self.umoven(addr, n)

    def fetch_any(self, addr: int, n: int) -> bytes | None:
        """tfetch_mem_ignore_syserror."""
        return self.umoven(addr, n) if addr else None

    # --- strace's printers ---
    def printstr_ex(self, addr: int, length: int, zero: bool = False, force_hex: bool = False,
                    omit_trailing_0: bool = False) -> str:
        if not addr:
            return "NULL"
        length &= M64
        size = min(MAX_STRLEN + 1, length)
        if zero:
            r = self.umovestr(addr, size)
            if r is None:
                return _addr(addr)
            buf = r[0]
        else:
            buf = self.umoven(addr, size)
            if buf is None:
                return _addr(addr)
        if size > MAX_STRLEN:
            size = MAX_STRLEN
        else:
            buf = buf[:size] + b"\xff"
        text, unterminated = string_quote(buf, size, zero, force_hex, omit_trailing_0)
        if unterminated and length and (zero or length > MAX_STRLEN):
            text += "..."
        return text

    def printstrn(self, addr: int, length: int) -> str:
        return self.printstr_ex(addr, length)

    def printstr(self, addr: int) -> str:
        return self.printstr_ex(addr, M64, zero=True)

    def printpathn(self, addr: int, n: int) -> str:
        if not addr:
            return "NULL"
        n = min(n & 0xFFFFFFFF, PATH_MAX - 1)
        r = self.umovestr(addr, n + 1)
        if r is None:
            return _addr(addr)
        data, nul = r
        buf = data[:n].ljust(n, b"\xff") + (b"\0" if nul else b"\1")
        text, unterminated = string_quote(buf, n, True)
        return text + "..." if unterminated else text

    def printpath(self, addr: int) -> str:
        return self.printpathn(addr, PATH_MAX - 1)

    def printnum(self, addr: int, fmt: str, size: int = 4) -> str:
        """printnum_int / printnum_int64 / printnum_kptr: [value] or the address."""
        raw = self.fetch(addr, size)
        if raw is None:
            return _addr(addr)
        v = int.from_bytes(raw, "little")
        if fmt == "d":
            v = v - (1 << (8 * size)) if v >> (8 * size - 1) else v
            return f"[{v}]"
        if fmt == "x":
            return f"[{_x(v)}]"
        return f"[{v}]"

    def print_array(self, addr: int, nmemb: int, size: int, elem, truncate: bool = True) -> str:
        """print_array: [a, b, ...] with at most 32 elements, or the address."""
        if not addr:
            return "NULL"
        if not nmemb:
            return "[]"
        if nmemb * size + addr > M64:
            return _addr(addr)
        out = []
        for k in range(nmemb):
            cur = addr + k * size
            raw = self.fetch(cur, size)
            if raw is None:
                if k == 0:
                    return _addr(cur)
                out.append(f"... /* {_addr(cur)} */")
                break
            if truncate and k >= MAX_STRLEN:
                out.append("...")
                break
            out.append(elem(raw))
        return "[" + ", ".join(out) + "]"


def _is_error(name: str, result: int) -> bool:
    return -4095 < result < 0 and name not in NEVER_FAILS


# --- argument kinds ----------------------------------------------------------------------------------
# Each kind is a function (call, index) -> str or None (None: strace prints nothing for it, and no
# comma). IN kinds are decoded when the call is entered, OUT kinds when it returns, BOTH kinds at
# both times (the second call gets call.parts[position] from the first).

IN, OUT, BOTH = "in", "out", "both"
KINDS: dict[str, tuple] = {}


def kind(name: str, phase: str = IN):
    def register(fn):
        for n in name.split():
            KINDS[n] = (fn, phase)
        return fn
    return register


@kind("hex")
def k_hex(c, i):
    return _x(c.args[i])


@kind("ptr")
def k_ptr(c, i):
    return _addr(c.args[i])


@kind("size u64")
def k_size(c, i):
    return _u(c.args[i])


@kind("u32")
def k_u32(c, i):
    return _u32(c.args[i])


@kind("d32 fd pid")
def k_d32(c, i):
    return _d32(c.args[i])


@kind("d64")
def k_d64(c, i):
    return _d64(c.args[i])


@kind("int")
def k_int(c, i):
    return _int_heuristic(c.args[i])


@kind("uid")
def k_uid(c, i):
    v = c.args[i] & 0xFFFFFFFF
    return "-1" if v == 0xFFFFFFFF else str(v)


@kind("dirfd")
def k_dirfd(c, i):
    fd = _s32(c.args[i])
    return "AT_FDCWD" if fd == AT_FDCWD else str(fd)


@kind("path")
def k_path(c, i):
    return c.printpath(c.args[i])


@kind("buf_in")
def k_buf_in(c, i):
    return c.printstrn(c.args[i], c.args[i + 1] if i + 1 < len(c.args) else 0)


@kind("buf_out", OUT)
def k_buf_out(c, i):
    return _addr(c.args[i]) if c.err else c.printstrn(c.args[i], c.rval)


@kind("buf_out_hex", OUT)
def k_buf_out_hex(c, i):
    return _addr(c.args[i]) if c.err else c.printstr_ex(c.args[i], c.rval, force_hex=True)


@kind("str")
def k_str(c, i):
    return c.printstr(c.args[i])


@kind("xattr_val", OUT)
def k_xattr_val(c, i):
    """print_xattr_val: the value read (the result's length; a failure is "too long": the address)."""
    size = c.rval & M64
    if size > 65536:                                 # XATTR_SIZE_MAX
        return _addr(c.args[i])
    return c.printstr_ex(c.args[i], size, omit_trailing_0=True)


@kind("rusage_who")
def k_rusage_who(c, i):
    return xval(Xlat([(0, "RUSAGE_SELF"), (M64, "RUSAGE_CHILDREN"), (1, "RUSAGE_THREAD")]),
                _s32(c.args[i]) & M64, "RUSAGE_???")


@kind("cwd", OUT)
def k_cwd(c, i):
    return _addr(c.args[i]) if c.err else c.printpathn(c.args[i], c.rval - 1)


@kind("comm")
def k_comm(c, i):
    return c.printstr_ex(c.args[i], 15, zero=True)


@kind("comm_out", OUT)
def k_comm_out(c, i):
    return _addr(c.args[i]) if c.err else c.printstr_ex(c.args[i], 16, zero=True)


@kind("open_flags")
def k_open_flags(c, i):
    return open_modes(c.args[i] & 0xFFFFFFFF)


@kind("mode")
def k_mode(c, i):
    """A mode_t; after open flags only when they have O_CREAT or O_TMPFILE (as strace prints it)."""
    for k, j in c.specs:
        if k == "open_flags" and j < i:
            if not c.args[j] & (O_CREAT | O_TMPFILE_BIT):
                return None
    return _o3(c.args[i] & 0xFFFF)


@kind("umode")
def k_umode(c, i):
    return _o3(c.args[i] & 0xFFFF)


@kind("o_flags")
def k_o_flags(c, i):
    return xflags(OPEN_FLAGS, c.args[i] & 0xFFFFFFFF, "O_???")


@kind("mmap_prot")
def k_mmap_prot(c, i):
    return xflags(MMAP_PROT, c.args[i], "PROT_???")


@kind("mmap_flags")
def k_mmap_flags(c, i):
    flags = c.args[i]
    out = xval(MMAP_FLAGS, flags & 0xF, "MAP_???")
    flags &= ~0xF
    huge = flags & (0x3F << 26)
    flags &= ~(0x3F << 26)
    if flags:
        out += "|" + xflags(MMAP_FLAGS, flags, None)
    if huge:
        out += f"|{huge >> 26}<<MAP_HUGE_SHIFT"
    return out


@kind("whence")
def k_whence(c, i):
    return xval(WHENCE, c.args[i], "SEEK_???")


@kind("at_flags")
def k_at_flags(c, i):
    return xflags(AT_FLAGS, c.args[i] & 0xFFFFFFFF, "AT_???")


@kind("faccessat_flags")
def k_faccessat_flags(c, i):
    return xflags(FACCESSAT_FLAGS, c.args[i] & 0xFFFFFFFF, "AT_???")


@kind("access_mode")
def k_access_mode(c, i):
    return xflags(ACCESS_MODES, c.args[i] & 0xFFFFFFFF, "?_OK")


@kind("mknod_mode")
def k_mknod_mode(c, i):
    return mode_t(c.args[i] & 0xFFFF)


@kind("mknod_dev")
def k_mknod_dev(c, i):
    return makedev(c.args[i] & 0xFFFFFFFF) if c.args[i - 1] & 0o170000 in (0o20000, 0o60000) else None


@kind("madvise")
def k_madvise(c, i):
    return xval(MADVISE, c.args[i], "MADV_???")


@kind("msync_flags")
def k_msync(c, i):
    return xflags(MSYNC_FLAGS, c.args[i] & 0xFFFFFFFF, "MS_???")


@kind("mremap_flags")
def k_mremap(c, i):
    return xflags(MREMAP_FLAGS, c.args[i], "MREMAP_???")


@kind("fadvise")
def k_fadvise(c, i):
    return xval(FADVISE, c.args[i], "POSIX_FADV_???")


@kind("close_range_flags")
def k_close_range(c, i):
    return xflags(CLOSE_RANGE_FLAGS, c.args[i] & 0xFFFFFFFF, "CLOSE_RANGE_???")


@kind("rename_flags")
def k_rename_flags(c, i):
    return xflags(RENAME_FLAGS, c.args[i] & 0xFFFFFFFF, "RENAME_??")


@kind("getrandom_flags")
def k_grnd(c, i):
    return xflags(GRND_FLAGS, c.args[i] & 0xFFFFFFFF, "GRND_???")


@kind("fcntl_cmd")
def k_fcntl_cmd(c, i):
    return xval(FCNTL_CMDS, c.args[i] & 0xFFFFFFFF, "F_???")


@kind("fd_flags")
def k_fd_flags(c, i):
    return xflags(FD_FLAGS, c.args[i], "FD_???")


@kind("ioctl_req")
def k_ioctl_req(c, i):
    code = c.args[i] & 0xFFFFFFFF
    name = IOCTLS.get(code)
    if name is not None:
        return name
    return (f"_IOC({xflags(IOC_DIRS, code >> 30, '_IOC_???')}, {_x((code >> 8) & 0xFF)}, "
            f"{_x(code & 0xFF)}, {_x((code >> 16) & 0x3FFF)})")


@kind("signal")
def k_signal(c, i):
    return _signal(c.args[i])


@kind("sigmask_how")
def k_sigmask_how(c, i):
    return xval(SIGPROCMASK_HOW, c.args[i], "SIG_???")


@kind("rlimit resource")
def k_resource(c, i):
    return xval(RESOURCES, c.args[i], "RLIMIT_???")


@kind("arch_prctl")
def k_arch_prctl(c, i):
    return xval(ARCH_PRCTL, c.args[i] & 0xFFFFFFFF, "ARCH_???")


@kind("prctl_option")
def k_prctl_option(c, i):
    return xval(PRCTL_OPTIONS, c.args[i] & 0xFFFFFFFF, "PR_???")


@kind("pr_dumpable")
def k_pr_dumpable(c, i):
    return xval(PR_DUMPABLE, c.args[i], "SUID_DUMP_???")


@kind("pdeathsig")
def k_pdeathsig(c, i):
    return _u(c.args[i]) if c.args[i] > 128 else _signal(c.args[i])


@kind("futex_op")
def k_futex_op(c, i):
    return xval(FUTEX_OPS, _s32(c.args[i]) & M64, "FUTEX_???")


@kind("futex_bitset")
def k_futex_bitset(c, i):
    return xval(FUTEX_BITSET, c.args[i] & 0xFFFFFFFF, None)


@kind("clock")
def k_clock(c, i):
    clk = _s32(c.args[i])
    if clk < 0:
        if clk & 7 == 3:
            return f"FD_TO_CLOCKID({~(clk >> 3)})"
        which = "MAKE_THREAD_CPUCLOCK" if clk & 4 else "MAKE_PROCESS_CPUCLOCK"
        return f"{which}({~(clk >> 3)}, {xval(CPU_CLOCKS, clk & 3, 'CPUCLOCK_???')})"
    return xval(CLOCKS, clk, "CLOCK_???")


@kind("timer_flags")
def k_timer_flags(c, i):
    return xflags(TIMER_FLAGS, c.args[i] & 0xFFFFFFFF, "TIMER_???")


@kind("wait_options")
def k_wait_options(c, i):
    return xflags(WAIT_OPTIONS, c.args[i] & 0xFFFFFFFF, "W???")


@kind("statx_flags")
def k_statx_flags(c, i):
    flags = c.args[i] & 0xFFFFFFFF
    out = xflags(STATX_SYNC, flags & 0x6000, None)
    flags &= ~0x6000
    if flags:
        out += "|" + xflags(AT_FLAGS, flags, None)
    return out


@kind("statx_mask")
def k_statx_mask(c, i):
    return xflags(STATX_MASKS, c.args[i] & 0xFFFFFFFF, "STATX_???")


@kind("af")
def k_af(c, i):
    return xval(ADDR_FAMILIES, c.args[i], "AF_???")


@kind("sock_type")
def k_sock_type(c, i):
    flags = c.args[i] & 0xFFFFFFFF
    name = SOCK_TYPES.get(flags & 0xF)
    if name is None:
        return xflags(SOCK_TYPE_FLAGS, flags, "SOCK_???")
    flags &= ~0xF
    return name + ("|" + xflags(SOCK_TYPE_FLAGS, flags, "SOCK_???") if flags else "")


@kind("sock_proto")
def k_sock_proto(c, i):
    family, proto = c.args[0], c.args[i]
    if family in (2, 10):
        return xval(INET_PROTOCOLS, proto, "IPPROTO_???")
    if family == 16:
        return xval(NETLINK_PROTOCOLS, proto, "NETLINK_???")
    if family == 33:
        return xval(ADDR_FAMILIES, proto, "AF_???")
    return _u(proto)


# --- structures --------------------------------------------------------------------------------------

STAT = struct.Struct("<QQQIIIIQqqqqqqqqq24x")


@kind("stat", OUT)
def k_stat(c, i):
    raw = c.fetch(c.args[i], STAT.size)
    if raw is None:
        return _addr(c.args[i])
    st = STAT.unpack(raw)
    mode, rdev, size = st[3], st[7], st[8]
    if mode & 0o170000 in (0o20000, 0o60000):
        second = "st_rdev=" + makedev(rdev)
    else:
        second = f"st_size={_u(size)}"
    return f"{{st_mode={mode_t(mode)}, {second}, ...}}"


@kind("statx", OUT)
def k_statx(c, i):
    raw = c.fetch(c.args[i], 256)
    if raw is None:
        return _addr(c.args[i])
    mask, attrs, mode, size = (struct.unpack_from("<I", raw, 0)[0], struct.unpack_from("<Q", raw, 8)[0],
                               struct.unpack_from("<H", raw, 28)[0], struct.unpack_from("<Q", raw, 40)[0])
    out = [f"stx_mask={xflags(STATX_MASKS, mask, 'STATX_???')}",
           f"stx_attributes={xflags(STATX_ATTRS, attrs, 'STATX_ATTR_???')}"]
    if mask & 3:
        out.append(f"stx_mode={mode_t(mode)}")
    if mask & 0x200:
        out.append(f"stx_size={size}")
    return "{" + ", ".join(out) + ", ...}"


@kind("statfs", OUT)
def k_statfs(c, i):
    raw = c.fetch(c.args[i], 120)
    if raw is None:
        return _addr(c.args[i])
    f = struct.unpack("<7Q2i3Q32x", raw)
    out = (f"{{f_type={xval(FS_MAGIC, f[0], None)}, f_bsize={f[1]}, f_blocks={f[2]}, f_bfree={f[3]}, "
           f"f_bavail={f[4]}, f_files={f[5]}, f_ffree={f[6]}, "
           f"f_fsid={{val=[{_x(f[7] & 0xFFFFFFFF)}, {_x(f[8] & 0xFFFFFFFF)}]}}, "
           f"f_namelen={f[9]}, f_frsize={f[10]}")
    if f[11] & 0x20:
        out += f", f_flags={xflags(STATFS_FLAGS, f[11], 'ST_???')}"
    return out + "}"


def _iovec(c, i, data_size: int, as_addr: bool) -> str:
    addr, cnt = c.args[i], c.args[i + 1] if i + 1 < len(c.args) else 0
    remaining = [data_size]

    def elem(raw):
        base, length = struct.unpack("<QQ", raw)
        n = min(length, remaining[0])
        remaining[0] -= n
        shown = _addr(base) if as_addr else c.printstrn(base, n)
        return f"{{iov_base={shown}, iov_len={length}}}"

    if not addr:
        return "NULL"
    if not cnt:
        return "[]"
    if cnt * 16 + addr > M64:
        return _addr(addr)
    out = []
    for k in range(cnt):
        cur = addr + 16 * k
        raw = c.fetch_any(cur, 16)
        if raw is None:
            if k == 0:
                return _addr(cur)
            out.append(f"... /* {_addr(cur)} */")
            break
        if k >= MAX_STRLEN:
            out.append("...")
            break
        out.append(elem(raw))
    return "[" + ", ".join(out) + "]"


@kind("iovec iovec_in")
def k_iovec_in(c, i):
    return _iovec(c, i, M64, False)


@kind("iovec_out", OUT)
def k_iovec_out(c, i):
    return _iovec(c, i, c.rval & M64, c.err)


def _sigaction(c, addr):
    raw = c.fetch(addr, 24 + 64)      # struct new_sigaction with strace's NSIG-sized sa_mask
    if raw is None:
        return _addr(addr)
    handler, flags, restorer, mask = struct.unpack_from("<QQQQ", raw)
    out = (f"{{sa_handler={SA_HANDLERS.get(handler) or _addr(handler)}, sa_mask={sigmask_text(mask)}, "
           f"sa_flags={xflags(SIGACT_FLAGS, flags, 'SA_???')}")
    if flags & SA_RESTORER:
        out += f", sa_restorer={_addr(restorer)}"
    return out + "}"


@kind("sigaction")
def k_sigaction(c, i):
    return _sigaction(c, c.args[i])


@kind("sigaction_out", OUT)
def k_sigaction_out(c, i):
    return _sigaction(c, c.args[i])


def _sigset(c, addr, length):
    if length != NSIG_BYTES:
        return _addr(addr)
    raw = c.fetch(addr, length)
    if raw is None:
        return _addr(addr)
    return sigmask_text(int.from_bytes(raw, "little"))


@kind("sigset")
def k_sigset(c, i):
    return _sigset(c, c.args[i], c.args[3])


@kind("sigset_out", OUT)
def k_sigset_out(c, i):
    return _sigset(c, c.args[i], c.args[3])


@kind("sigreturn_mask")
def k_sigreturn_mask(c, i):
    try:
        rsp = c.proc.cpu.reg("rsp")
    except Exception:  # noqa: BLE001
        return None
    return "{mask=" + _sigset(c, rsp - 8 + 8 + 296, NSIG_BYTES) + "}"


def _timespec(c, addr):
    raw = c.fetch(addr, 16)
    if raw is None:
        return _addr(addr)
    sec, nsec = struct.unpack("<qQ", raw)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


@kind("timespec")
def k_timespec(c, i):
    return _timespec(c, c.args[i])


@kind("timespec_out", OUT)
def k_timespec_out(c, i):
    return _timespec(c, c.args[i])


@kind("rem", OUT)
def k_rem(c, i):
    # nanosleep's remainder is only shown when interrupted (ERESTART_RESTARTBLOCK)
    if c.result == -516:
        c.exiting = False
        try:
            return _timespec(c, c.args[i])
        finally:
            c.exiting = True
    return _addr(c.args[i])


@kind("timeval_out", OUT)
def k_timeval_out(c, i):
    raw = c.fetch(c.args[i], 16)
    if raw is None:
        return _addr(c.args[i])
    sec, usec = struct.unpack("<qQ", raw)
    return f"{{tv_sec={sec}, tv_usec={usec}}}"


@kind("timezone_out", OUT)
def k_timezone_out(c, i):
    raw = c.fetch(c.args[i], 8)
    if raw is None:
        return _addr(c.args[i])
    west, dst = struct.unpack("<ii", raw)
    return f"{{tz_minuteswest={west}, tz_dsttime={dst}}}"


@kind("time_out", OUT)
def k_time_out(c, i):
    raw = c.fetch(c.args[i], 8)
    if raw is None:
        return _addr(c.args[i])
    t = struct.unpack("<q", raw)[0]
    date = sprinttime(t)
    return f"[{t}{f' /* {date} */' if date else ''}]"


@kind("utimens")
def k_utimens(c, i):
    addr = c.args[i]
    raw = c.fetch(addr, 32)
    if raw is None:
        return _addr(addr)
    out = []
    for sec, nsec in struct.iter_unpack("<qq", raw):
        if nsec in ((1 << 30) - 1, (1 << 30) - 2):
            out.append("UTIME_NOW" if nsec == (1 << 30) - 1 else "UTIME_OMIT")
        else:
            date = sprinttime(sec, nsec & M64)
            out.append(f"{{tv_sec={sec}, tv_nsec={nsec & M64}}}" + (f" /* {date} */" if date else ""))
    return "[" + ", ".join(out) + "]"


@kind("tms", OUT)
def k_tms(c, i):
    raw = c.fetch(c.args[i], 32)
    if raw is None:
        return _addr(c.args[i])
    u, s, cu, cs = struct.unpack("<4Q", raw)
    return (f"{{tms_utime={_clock_t(u)}, tms_stime={_clock_t(s)}, tms_cutime={_clock_t(cu)}, "
            f"tms_cstime={_clock_t(cs)}}}")


def _rlim(v: int) -> str:
    if v == M64:
        return "RLIM64_INFINITY"
    if v > 1024 and v % 1024 == 0:
        return f"{v // 1024}*1024"
    return str(v)


def _rlimit(c, addr):
    raw = c.fetch(addr, 16)
    if raw is None:
        return _addr(addr)
    cur, mx = struct.unpack("<QQ", raw)
    return f"{{rlim_cur={_rlim(cur)}, rlim_max={_rlim(mx)}}}"


@kind("rlimit_in")
def k_rlimit_in(c, i):
    return _rlimit(c, c.args[i])


@kind("rlimit_out", OUT)
def k_rlimit_out(c, i):
    return _rlimit(c, c.args[i])


@kind("dents", OUT)
def k_dents(c, i):
    addr, count = c.args[i], c.args[2] & 0xFFFFFFFF
    if c.err or (c.rval & M64) > count:
        return _addr(addr)
    length, n, notes = c.rval, 0, ""
    cur = addr
    while length >= 19:
        head = c.fetch(cur, 19)
        if head is None:
            break
        n += 1
        reclen = struct.unpack_from("<H", head, 16)[0]
        nxt = 0
        if reclen > length:
            notes += f" /* d_reclen {reclen - length} bytes overflow */"
            length = 0
        elif reclen < 19:
            notes += f" /* d_reclen {19 - reclen} bytes underflow */"
            length -= 19
        else:
            length -= reclen
            nxt = cur + reclen if length else 0
        if not nxt:
            break
        cur = nxt
    return f"{_addr(addr)}{notes} /* {n}{'+' if length else ''} entries */"


@kind("pipefd", OUT)
def k_pipefd(c, i):
    return c.print_array(c.args[i], 2, 4, lambda raw: str(struct.unpack("<i", raw)[0]))


@kind("utsname", OUT)
def k_utsname(c, i):
    raw = c.fetch(c.args[i], 390)
    if raw is None:
        return _addr(c.args[i])

    def field(k):
        text, unterminated = string_quote(raw[65 * k:65 * k + 65], 64, True)
        return text + ("..." if unterminated else "")
    return f"{{sysname={field(0)}, nodename={field(1)}, ...}}"


@kind("sysinfo", OUT)
def k_sysinfo(c, i):
    raw = c.fetch(c.args[i], 112)
    if raw is None:
        return _addr(c.args[i])
    up, l1, l2, l3, tr, fr, sr, br, ts, fs, procs, th, fh, unit = \
        struct.unpack_from("<q3Q6QH6xQQI", raw)
    return (f"{{uptime={up}, loads=[{l1}, {l2}, {l3}], totalram={tr}, freeram={fr}, sharedram={sr}, "
            f"bufferram={br}, totalswap={ts}, freeswap={fs}, procs={procs}, totalhigh={th}, "
            f"freehigh={fh}, mem_unit={unit}}}")


@kind("uid_out", OUT)
def k_uid_out(c, i):
    raw = c.fetch(c.args[i], 4)
    if raw is None:
        return _addr(c.args[i])
    v = struct.unpack("<I", raw)[0]
    return f"[{'-1' if v == 0xFFFFFFFF else v}]"


@kind("groups_out", OUT)
def k_groups_out(c, i):
    n = c.rval & 0xFFFFFFFF
    try:
        limit = os.sysconf("SC_NGROUPS_MAX")
    except (ValueError, OSError, AttributeError):
        limit = 65536
    if n > limit:
        return _addr(c.args[i])

    def gid(raw):
        v = struct.unpack("<I", raw)[0]
        return "-1" if v == 0xFFFFFFFF else str(v)
    return c.print_array(c.args[i], n, 4, gid)


@kind("affinity", OUT)
def k_affinity(c, i):
    addr = c.args[i]
    if c.err or not addr:
        return _addr(addr)
    n = c.rval & 0xFFFFFFFF
    if not n:
        return "[]"
    raw = c.fetch(addr, n)
    if raw is None:
        return _addr(addr)
    mask = int.from_bytes(raw, "little")
    return "[" + " ".join(str(b) for b in range(8 * n) if mask >> b & 1) + "]"


@kind("uint_out", OUT)
def k_uint_out(c, i):
    return c.printnum(c.args[i], "u")


@kind("int_out", OUT)
def k_int_out(c, i):
    return c.printnum(c.args[i], "d")


@kind("int_in")
def k_int_in(c, i):
    return c.printnum(c.args[i], "d")


@kind("kptr_out", OUT)
def k_kptr_out(c, i):
    return c.printnum(c.args[i], "x", 8)


@kind("signal_ptr_out", OUT)
def k_signal_ptr_out(c, i):
    raw = c.fetch(c.args[i], 4)
    return _addr(c.args[i]) if raw is None else f"[{_signal(struct.unpack('<I', raw)[0])}]"


@kind("loff_in")
def k_loff_in(c, i):
    return c.printnum(c.args[i], "d", 8)


@kind("sendfile_off", BOTH)
def k_sendfile_off(c, i):
    """sendfile's offset: [before] when entered, [before] => [after] after a successful copy."""
    if not c.exiting:
        return c.printnum(c.args[i], "u", 8)
    before = c.parts[i]
    if before.startswith("[") and not c.err and c.rval:
        return before + " => " + c.printnum(c.args[i], "u", 8)
    return before


@kind("wait_status", OUT)
def k_wait_status(c, i):
    addr = c.args[i]
    if c.rval == 0:
        return _addr(addr)
    raw = c.fetch(addr, 4)
    if raw is None:
        return _addr(addr)
    s = struct.unpack("<I", raw)[0]
    if s & 0xFF == 0x7F:
        sig = (s >> 8) & 0xFF
        text = (f"{{WIFSTOPPED(s) && WSTOPSIG(s) == {signame(sig & 0x7F) or sig & 0x7F}"
                f"{' | 0x80' if sig & 0x80 else ''}}}")
        s &= ~((sig << 8) | 0x7F)
    elif s & 0x7F and (s & 0x7F) != 0x7F:
        sig = s & 0x7F
        text = f"{{WIFSIGNALED(s) && WTERMSIG(s) == {signame(sig) or sig}" + \
               (" && WCOREDUMP(s)}" if s & 0x80 else "}")
        s &= ~(sig | 0x80)
    elif s & 0x7F == 0 and s != 0xFFFF:
        text = f"{{WIFEXITED(s) && WEXITSTATUS(s) == {(s >> 8) & 0xFF}}}"
        s &= ~0xFF00
    elif s == 0xFFFF:
        text, s = "{WIFCONTINUED(s)}", 0
    else:
        return f"[{_x(s)}]"
    if s >> 16:
        text += f"|{_x(s >> 16)}<<16"
        s &= 0xFFFF
    if s:
        text += f"|{_x(s)}"
    return f"[{text}]"


@kind("rusage", OUT)
def k_rusage(c, i):
    return _addr(c.args[i])


def _stack_t(c, addr):
    raw = c.fetch(addr, 24)
    if raw is None:
        return _addr(addr)
    sp, flags, size = struct.unpack("<Qi4xQ", raw)
    return f"{{ss_sp={_addr(sp)}, ss_flags={xflags(SS_FLAGS, flags & 0xFFFFFFFF, 'SS_???')}, ss_size={size}}}"


@kind("stack_t")
def k_stack_t(c, i):
    return _stack_t(c, c.args[i])


@kind("stack_t_out", OUT)
def k_stack_t_out(c, i):
    return _stack_t(c, c.args[i])


@kind("pollfds")
def k_pollfds(c, i):
    def elem(raw):
        fd, events, _rev = struct.unpack("<ihh", raw)
        if fd < 0:
            return f"{{fd={fd}}}"
        return f"{{fd={fd}, events={xflags(POLL_FLAGS, events & 0xFFFF, 'POLL???')}}}"
    return c.print_array(c.args[i], c.args[i + 1] & 0xFFFFFFFF, 8, elem)


@kind("mincore_vec", OUT)
def k_mincore_vec(c, i):
    n = (c.args[1] + PAGE - 1) // PAGE
    return c.print_array(c.args[i], n, 1, lambda raw: str(raw[0] & 1))


def _flock(c, addr, getlk):
    raw = c.fetch(addr, 32)
    if raw is None:
        return _addr(addr)
    ltype, whence, start, length, pid = struct.unpack("<hhqqi4x", raw)
    out = (f"{{l_type={xval(LOCK_TYPES, ltype & 0xFFFF, 'F_???')}, "
           f"l_whence={xval(WHENCE, whence & 0xFFFF, 'SEEK_???')}, l_start={start}, l_len={length}")
    return out + (f", l_pid={pid}}}" if getlk else "}")


@kind("flock_in")
def k_flock_in(c, i):
    return _flock(c, c.args[i], False)


@kind("flock_out", OUT)
def k_flock_out(c, i):
    return _flock(c, c.args[i], True)


def _termios(c, addr):
    raw = c.fetch(addr, 36)
    if raw is None:
        return _addr(addr)
    iflag, oflag, cflag, lflag = struct.unpack_from("<4I", raw)
    o = []
    for table, mask, dflt in TERM_ODELAYS:
        o.append(xval(table, oflag & mask, dflt))
        oflag &= ~mask
    orest = xflags(TERM_OFLAGS, oflag, None)
    cf = xval(BAUDS, cflag & 0o10017, "B???") + "|"
    if cflag & 0o2003600000:
        cf += xval(BAUDS, (cflag & 0o2003600000) >> 16, "B???") + "<<IBSHIFT|"
    cf += xval(TERM_CSIZE, cflag & 0o60, "CS?") + "|"
    cf += xflags(TERM_CFLAGS, cflag & ~(0o10017 | 0o2003600000 | 0o60), None)
    return (f"{{c_iflag={xflags(TERM_IFLAGS, iflag, None)}, c_oflag={'|'.join(o)}|{orest}, "
            f"c_cflag={cf}, c_lflag={xflags(TERM_LFLAGS, lflag, None)}, ...}}")


@kind("termios_in")
def k_termios_in(c, i):
    return _termios(c, c.args[i])


@kind("termios_out", OUT)
def k_termios_out(c, i):
    return _termios(c, c.args[i])


def _winsize(c, addr):
    raw = c.fetch(addr, 8)
    if raw is None:
        return _addr(addr)
    r, col, x, y = struct.unpack("<4H", raw)
    return f"{{ws_row={r}, ws_col={col}, ws_xpixel={x}, ws_ypixel={y}}}"


@kind("winsize_in")
def k_winsize_in(c, i):
    return _winsize(c, c.args[i])


@kind("winsize_out", OUT)
def k_winsize_out(c, i):
    return _winsize(c, c.args[i])


def _argv(c, addr):
    if not addr:
        return "NULL"
    out, n = [], 0
    while True:
        cur = addr + 8 * n
        raw = c.umoven(cur, 8) if cur <= M64 - 8 else None
        if raw is None:
            if n == 0:
                return _addr(cur)
            out.append(f"... /* {_addr(cur)} */")
            break
        word = struct.unpack("<Q", raw)[0]
        if word == 0:
            break
        if n >= MAX_STRLEN:
            out.append("...")
            break
        out.append(c.printstr(word))
        n += 1
    return "[" + ", ".join(out) + "]"


@kind("argv")
def k_argv(c, i):
    return _argv(c, c.args[i])


@kind("envp")
def k_envp(c, i):
    addr = c.args[i]
    if not addr:
        return "NULL"
    n = 0
    while True:
        raw = c.umoven(addr + 8 * n, 8)
        if raw is None:
            if n == 0:
                return _addr(addr)
            break
        if struct.unpack("<Q", raw)[0] == 0:
            break
        n += 1
    return f"{_addr(addr)} /* {n} var{'' if n == 1 else 's'} */"


@kind("clone", BOTH)
def k_clone(c, i):
    """clone(flags, stack, parent_tid, child_tid, tls) printed by name as strace does."""
    raw_flags = c.args[0]
    flags, sig = raw_flags & ~0xFF, raw_flags & 0xFF
    if not c.exiting:
        shown = (xflags(CLONE_FLAGS, flags, "CLONE_???") + ("|" + _signal(sig) if sig else "")
                 if flags else _signal(sig))
        return f"child_stack={_addr(c.args[1])}, flags={shown}"
    out = c.parts[i]
    if flags & (0x100000 | 0x1000):                  # CLONE_PARENT_SETTID, CLONE_PIDFD
        out += ", parent_tid=" + c.printnum(c.args[2], "d")
    if flags & 0x80000:                              # CLONE_SETTLS
        out += ", tls=" + _addr(c.args[4])
    if flags & (0x1000000 | 0x200000):               # CLONE_CHILD_SETTID, CLONE_CHILD_CLEARTID
        out += ", child_tidptr=" + _addr(c.args[3])
    return out


@kind("clone3_args")
def k_clone3_args(c, i):
    addr, size = c.args[i], c.args[i + 1]
    if size < 64:
        return _addr(addr)
    raw = c.fetch(addr, min(size, 88))
    if raw is None:
        return _addr(addr)
    flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls = \
        struct.unpack_from("<8Q", raw)
    out = [f"flags={xflags(CLONE_FLAGS, flags, 'CLONE_???')}"]
    if flags & 0x1000:
        out.append(f"pidfd={_addr(pidfd)}")
    if flags & (0x1000000 | 0x200000):
        out.append(f"child_tid={_addr(child_tid)}")
    if flags & 0x100000:
        out.append(f"parent_tid={_addr(parent_tid)}")
    out.append(f"exit_signal={_signal(exit_signal) if exit_signal < 0x7FFFFFFF else exit_signal}")
    out.append(f"stack={_addr(stack)}")
    out.append(f"stack_size={_x(stack_size)}")
    if flags & 0x80000:
        out.append(f"tls={_addr(tls)}")
    return "{" + ", ".join(out) + "}"


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


# --- the writer --------------------------------------------------------------------------------------

class StraceWriter:
    """Writes one strace-format line per guest system call to a text stream."""

    def __init__(self, stream=None, *, column: int = COLUMN):
        self.stream = stream if stream is not None else sys.stderr
        self.column = column
        self._pending: _Call | None = None
        self.finished = False

    # --- the dispatcher's four calls ---
    def enter(self, proc, entry, args):
        try:
            if self._pending is not None:             # a call that never came back
                self._emit(self._head(self._pending) + " <unfinished ...>")
            self._pending = None
            c = _Call(proc, self._name(entry), args)
            c.specs, c.ret = _specs_for(c, entry)
            c.parts = [None] * (max((i for _, i in c.specs), default=-1) + 1)
            self._decode(c, (IN, BOTH))
            self._pending = c
        except Exception:  # noqa: BLE001 - never break the guest for a trace line
            self._pending = None
            self._fallback_pending(proc, entry, args)

    def leave(self, proc, entry, args, result):
        c = self._pending
        self._pending = None
        try:
            if c is None:
                c = _Call(proc, self._name(entry), args)
                c.specs, c.ret = _specs_for(c, entry)
                c.parts = [None] * (max((i for _, i in c.specs), default=-1) + 1)
                self._decode(c, (IN, BOTH))
            result = int(result)
            if c.name == "rt_sigreturn":          # the call returns the interrupted code's %rax
                try:
                    rax = proc.cpu.reg("rax") & M64
                    result = rax - (1 << 64) if rax >> 63 else rax
                except Exception:  # noqa: BLE001
                    pass
            c.result, c.exiting = result, True
            self._decode(c, (OUT, BOTH))
            if _is_error(c.name, result) or not callable(c.ret):
                text = _result(c.name, result, c.ret if not callable(c.ret) else "int")
            else:
                text = c.ret(c) or _result(c.name, result, "int")
            self._emit(self._line(c, text))
        except Exception:  # noqa: BLE001
            self._emit_raw(entry, args, result)

    def exit(self, proc, entry, status):
        c = self._pending
        self._pending = None
        try:
            if entry is not None:
                if c is None:
                    c = _Call(proc, self._name(entry), ())
                self._emit(self._line(c, "?"))
            self.finish(proc, status)
        except Exception:  # noqa: BLE001
            pass

    def unknown(self, proc, nr, regs, result):
        try:
            self._pending = None
            nr = int(regs[0]) & M64 if regs is not None else int(nr)
            args = [int(regs[k]) & M64 for k in range(1, 7)]
            n = int(NARGS[nr]) if nr < len(NARGS) and NARGS[nr] != "-" else 6
            name = _syscall_name(nr)
            if name is None:                     # strace: all six arguments of a nameless call
                name, n = f"syscall_{_x(nr)}", 6
            c = _Call(proc, name, args)
            if name in SPEC:                     # strace decodes it even though elfkit has no handler
                c.specs, c.ret = _specs_for(c, None)
                c.parts = [None] * (max((i for _, i in c.specs), default=-1) + 1)
                self._decode(c, (IN, BOTH))
                c.result, c.exiting = int(result), True
                self._decode(c, (OUT, BOTH))
            else:
                c.parts = [_x(a) for a in args[:n]]
            self._emit(self._line(c, _result(name, int(result), "int")))
        except Exception:  # noqa: BLE001
            pass

    # --- not called by the dispatcher: for the signal layer and the runner ---
    def signal(self, proc, signum, code=0, addr=0, pid=None, uid=None):
        """--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x8} --- for a signal
        delivered to (or killing) the guest; code is the siginfo si_code (0: SI_USER)."""
        try:
            name = signame(signum) or str(signum)
            code = _s32(code)
            text = SI_CODES.get(code) or SI_CODES_BY_SIGNAL.get(signum, {}).get(code) or str(code)
            fields = [f"si_signo={name}", f"si_code={text}"]
            if code <= 0:                               # from a process: kill, tgkill, sigqueue
                fields += [f"si_pid={pid if pid is not None else getattr(proc, 'pid', 0)}",
                           f"si_uid={uid if uid is not None else os.getuid()}"]
            elif signum in (4, 7, 8, 11):               # SIGILL SIGBUS SIGFPE SIGSEGV
                fields.append(f"si_addr={_addr(addr)}")
            self._emit(f"--- {name} {{{', '.join(fields)}}} ---")
        except Exception:  # noqa: BLE001
            pass

    # --- the end of the process (also for the runner to call after run()) ---
    def finish(self, proc, status):
        """+++ exited with N +++ or +++ killed by SIG +++, once."""
        try:
            if self._pending is not None:
                self._emit(self._line(self._pending, "?"))
                self._pending = None
            if self.finished or status is None:
                return
            self.finished = True
            sig = getattr(status, "signal", None)
            if sig:
                self._emit(f"+++ killed by {signame(sig) or sig} +++")
            else:
                self._emit(f"+++ exited with {getattr(status, 'code', 0) or 0} +++")
        except Exception:  # noqa: BLE001
            pass

    # --- formatting ---
    @staticmethod
    def _name(entry) -> str:
        try:
            return entry.name
        except Exception:  # noqa: BLE001
            return f"syscall_{_x(getattr(entry, 'nr', 0))}"

    @staticmethod
    def _decode(c: _Call, phases):
        for k, i in c.specs:
            fn, phase = KINDS.get(k, KINDS["hex"])
            if phase not in phases:
                continue
            try:
                text = fn(c, i)
            except Exception:  # noqa: BLE001 - one bad argument shows as its raw value
                text = _x(c.args[i]) if i < len(c.args) else "?"
            c.parts[i] = "" if text is None else text      # "": printed as nothing, no comma

    @staticmethod
    def _head(c: _Call) -> str:
        shown = []
        for k, i in c.specs if c.specs else [(None, j) for j in range(len(c.parts))]:
            p = c.parts[i] if i < len(c.parts) else None
            if p:
                shown.append(p)
        return f"{c.name}({', '.join(shown)}"

    def _line(self, c: _Call, result_text: str) -> str:
        s = self._head(c) + ") "
        if len(s) < self.column:
            s = s.ljust(self.column)
        return s + "= " + result_text

    def _emit(self, line: str):
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not stop the guest
            pass

    def _fallback_pending(self, proc, entry, args):
        try:
            c = _Call(proc, self._name(entry), args)
            n = len(getattr(entry, "args", ()) or ())
            c.parts = [_x(a) for a in c.args[:n]]
            self._pending = c
        except Exception:  # noqa: BLE001
            self._pending = None

    def _emit_raw(self, entry, args, result):
        try:
            name = self._name(entry)
            n = len(getattr(entry, "args", ()) or ())
            shown = ", ".join(_x(int(a)) for a in list(args)[:n])
            s = f"{name}({shown}) "
            self._emit(s.ljust(self.column) + "= " + _result(name, int(result), "int"))
        except Exception:  # noqa: BLE001
            pass
