"""strace's number formats, constant and flag tables (its xlat files for x86-64), strings."""
from __future__ import annotations

import os
import time

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


