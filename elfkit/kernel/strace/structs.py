"""Structures as strace abbreviates them: stat, statx, iovec, sigaction, termios, ..."""
from __future__ import annotations

import os
import struct

from elfkit.kernel.strace.xlat import (  # noqa: F401
    M64,
    BAUDS,
    CLONE_FLAGS,
    FS_MAGIC,
    LOCK_TYPES,
    MAX_STRLEN,
    NSIG_BYTES,
    PAGE,
    POLL_FLAGS,
    SA_HANDLERS,
    SA_RESTORER,
    SIGACT_FLAGS,
    SS_FLAGS,
    STATFS_FLAGS,
    STATX_ATTRS,
    STATX_MASKS,
    TERM_CFLAGS,
    TERM_CSIZE,
    TERM_IFLAGS,
    TERM_LFLAGS,
    TERM_ODELAYS,
    TERM_OFLAGS,
    WHENCE,
    _addr,
    _clock_t,
    _signal,
    _u,
    _x,
    makedev,
    mode_t,
    sigmask_text,
    signame,
    sprinttime,
    string_quote,
    xflags,
    xval,
)
from elfkit.kernel.strace.kinds import (  # noqa: F401
    BOTH,
    IN,
    OUT,
    kind,
)

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
    return _cpu_set(raw)


@kind("affinity_in", IN)
def k_affinity_in(c, i):
    """sched_setaffinity's mask: the CPUs it names, as strace lists them."""
    addr = c.args[i]
    n = min(c.args[i - 1] & 0xFFFFFFFF, 128)
    raw = c.fetch(addr, n) if addr and n else None
    if raw is None:
        return _addr(addr)
    return _cpu_set(raw)


def _cpu_set(raw: bytes) -> str:
    """A cpu_set_t as strace lists it: [0 1 3]."""
    mask = int.from_bytes(raw, "little")
    return "[" + " ".join(str(b) for b in range(8 * len(raw)) if mask >> b & 1) + "]"


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


