"""Argument kinds: how each kind of system-call argument is shown (strace's decoders)."""
from __future__ import annotations

from elfkit.kernel.strace.xlat import (  # noqa: F401
    M64,
    ACCESS_MODES,
    ADDR_FAMILIES,
    ARCH_PRCTL,
    AT_FDCWD,
    AT_FLAGS,
    CLOCKS,
    CLOSE_RANGE_FLAGS,
    CPU_CLOCKS,
    FACCESSAT_FLAGS,
    FADVISE,
    FCNTL_CMDS,
    FD_FLAGS,
    FUTEX_BITSET,
    FUTEX_OPS,
    GRND_FLAGS,
    INET_PROTOCOLS,
    IOCTLS,
    IOC_DIRS,
    MADVISE,
    MMAP_FLAGS,
    MMAP_PROT,
    MREMAP_FLAGS,
    MSYNC_FLAGS,
    NETLINK_PROTOCOLS,
    OPEN_FLAGS,
    O_CREAT,
    O_TMPFILE_BIT,
    PRCTL_OPTIONS,
    PR_DUMPABLE,
    RENAME_FLAGS,
    RESOURCES,
    SIGPROCMASK_HOW,
    SOCK_TYPES,
    SOCK_TYPE_FLAGS,
    STATX_MASKS,
    STATX_SYNC,
    TIMER_FLAGS,
    WAIT_OPTIONS,
    WHENCE,
    Xlat,
    _addr,
    _d32,
    _d64,
    _int_heuristic,
    _o3,
    _s32,
    _signal,
    _u,
    _u32,
    _x,
    makedev,
    mode_t,
    open_modes,
    xflags,
    xval,
)

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


