"""kernel/seccomp.c: secure computing -- strict mode, and classic BPF filters over seccomp_data.

A task's seccomp state is a `Seccomp` (mode and the newest filter, each filter
pointing at the one installed before it): immutable, so fork shares it with the
child and execve keeps it, as the kernel's refcounted filter tree is shared.
The dispatcher (elfkit.kernel.syscalls) calls `check` before every handler of a
task whose `seccomp` is set: strict mode allows read, write, exit and
rt_sigreturn and kills with SIGKILL otherwise; filter mode runs every filter
(newest first) over struct seccomp_data and acts on the most restrictive
answer. The filters are checked as bpf_check_classic and seccomp_check_filter
check them, and run by a small interpreter of the same instructions.

Not modelled: user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER: no listener
fd; SECCOMP_RET_USER_NOTIF then gives ENOSYS, as a filter without a listener
does), and audit logging (SECCOMP_RET_LOG allows the call, as it does).
"""
from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

SECCOMP_MODE_DISABLED, SECCOMP_MODE_STRICT, SECCOMP_MODE_FILTER = 0, 1, 2
SECCOMP_SET_MODE_STRICT, SECCOMP_SET_MODE_FILTER, SECCOMP_GET_ACTION_AVAIL, \
    SECCOMP_GET_NOTIF_SIZES = 0, 1, 2, 3
FLAG_TSYNC, FLAG_LOG, FLAG_SPEC_ALLOW, FLAG_NEW_LISTENER, FLAG_TSYNC_ESRCH, \
    FLAG_WAIT_KILLABLE_RECV = 1, 2, 4, 8, 16, 32
FLAG_MASK = 63
RET_KILL_PROCESS, RET_KILL_THREAD, RET_TRAP, RET_ERRNO = 0x80000000, 0, 0x00030000, 0x00050000
RET_USER_NOTIF, RET_TRACE, RET_LOG, RET_ALLOW = 0x7FC00000, 0x7FF00000, 0x7FFC0000, 0x7FFF0000
ACTIONS = (RET_KILL_PROCESS, RET_KILL_THREAD, RET_TRAP, RET_ERRNO, RET_USER_NOTIF, RET_TRACE,
           RET_LOG, RET_ALLOW)
AUDIT_ARCH_X86_64 = 0xC000003E
BPF_MAXINSNS = 4096
MAX_INSNS_PER_PATH = (1 << 18) // 8
SECCOMP_DATA_SIZE = 64
STRICT_ALLOWED = (0, 1, 60, 15)             # read, write, exit, rt_sigreturn
MAX_ERRNO = 4095
SIGSYS, SYS_SECCOMP = 31, 1

# classic BPF (include/uapi/linux/filter.h)
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
W, ABS, MEM, LEN, IMM = 0x00, 0x20, 0x60, 0x80, 0x00
K, X = 0x00, 0x08
RVAL_A = 0x10


@dataclass(frozen=True, slots=True)
class Filter:
    prog: tuple[tuple[int, int, int, int], ...]      # (code, jt, jf, k) after the seccomp rewrite
    prev: "Filter | None"
    log: bool = False

    def depth_insns(self) -> int:
        f, n = self, 0
        while f is not None:
            n += len(f.prog) + 4                       # the kernel's 4-instruction penalty
            f = f.prev
        return n

    def count(self) -> int:
        f, n = self, 0
        while f is not None:
            n, f = n + 1, f.prev
        return n


@dataclass(frozen=True, slots=True)
class Seccomp:
    mode: int
    filter: Filter | None = None


def mode(task) -> int:
    s = task.seccomp
    return s.mode if s is not None else SECCOMP_MODE_DISABLED


def filter_count(task) -> int:
    s = task.seccomp
    return s.filter.count() if s is not None and s.filter is not None else 0


# --- installing --------------------------------------------------------------------------------

def do_seccomp(p, op: int, flags: int, uargs: int) -> int:
    op, flags = op & 0xFFFFFFFF, flags & 0xFFFFFFFF
    if op == SECCOMP_SET_MODE_STRICT:
        if flags or uargs:
            return -errno.EINVAL
        return _set_strict(p)
    if op == SECCOMP_SET_MODE_FILTER:
        return _set_filter(p, flags, uargs)
    if op == SECCOMP_GET_ACTION_AVAIL:
        if flags:
            return -errno.EINVAL
        raw = p.mm.read(uargs, 4)
        if raw is None:
            return -errno.EFAULT
        return 0 if struct.unpack("<I", raw)[0] in ACTIONS else -errno.EOPNOTSUPP
    if op == SECCOMP_GET_NOTIF_SIZES:
        if flags:
            return -errno.EINVAL
        # struct seccomp_notif, seccomp_notif_resp, seccomp_data
        return 0 if p.mm.write(uargs, struct.pack("<HHH", 80, 24, 64)) else -errno.EFAULT
    return -errno.EINVAL


def prctl_set_seccomp(p, seccomp_mode: int, filter_ptr: int) -> int:
    if seccomp_mode == SECCOMP_MODE_STRICT:
        return do_seccomp(p, SECCOMP_SET_MODE_STRICT, 0, 0)
    if seccomp_mode == SECCOMP_MODE_FILTER:
        return do_seccomp(p, SECCOMP_SET_MODE_FILTER, 0, filter_ptr)
    return -errno.EINVAL


def _set_strict(p) -> int:
    if mode(p) not in (SECCOMP_MODE_DISABLED, SECCOMP_MODE_STRICT):
        return -errno.EINVAL
    p.seccomp = Seccomp(SECCOMP_MODE_STRICT)
    return 0


def _set_filter(p, flags: int, uargs: int) -> int:
    if flags & ~FLAG_MASK:
        return -errno.EINVAL
    if flags & FLAG_TSYNC and flags & FLAG_NEW_LISTENER and not flags & FLAG_TSYNC_ESRCH:
        return -errno.EINVAL
    if flags & FLAG_WAIT_KILLABLE_RECV and not flags & FLAG_NEW_LISTENER:
        return -errno.EINVAL
    prog = _prepare_user_filter(p, uargs)
    if isinstance(prog, int):
        return prog
    if flags & FLAG_NEW_LISTENER:
        p.warn_once("seccomp-listener", "seccomp user notification (a listener fd) is not "
                                        "emulated: -EINVAL")
        return -errno.EINVAL
    if mode(p) not in (SECCOMP_MODE_DISABLED, SECCOMP_MODE_FILTER):
        return -errno.EINVAL
    prev = p.seccomp.filter if p.seccomp is not None else None
    new = Filter(prog, prev, bool(flags & FLAG_LOG))
    if new.depth_insns() > MAX_INSNS_PER_PATH:
        return -errno.ENOMEM
    p.seccomp = Seccomp(SECCOMP_MODE_FILTER, new)
    return 0


def _prepare_user_filter(p, uargs: int):
    """struct sock_fprog {unsigned short len; struct sock_filter *filter;}: the checked program,
    or -errno (EFAULT, EINVAL, and EACCES without no_new_privs or CAP_SYS_ADMIN)."""
    from elfkit.kernel.cred import CAP_SYS_ADMIN, capable
    raw = p.mm.read(uargs, 16)
    if raw is None:
        return -errno.EFAULT
    length, ptr = struct.unpack("<H6xQ", raw)
    if length == 0 or length > BPF_MAXINSNS:
        return -errno.EINVAL
    if not p.no_new_privs and not capable(p.creds, CAP_SYS_ADMIN):
        return -errno.EACCES
    raw = p.mm.read(ptr, 8 * length)
    if raw is None:
        return -errno.EFAULT
    prog = [struct.unpack_from("<HBBI", raw, 8 * i) for i in range(length)]
    return check_filter(prog)


def check_filter(prog):
    """bpf_check_classic and seccomp_check_filter: a tuple of instructions (loads of the data
    length rewritten as constants), or -EINVAL."""
    n = len(prog)
    out = []
    for pc, (code, jt, jf, k) in enumerate(prog):
        cls = code & 7
        if code == LD | W | ABS:
            if k >= SECCOMP_DATA_SIZE or k & 3:
                return -errno.EINVAL
        elif code in (LD | W | LEN, LDX | W | LEN):
            code, k = (LD if cls == LD else LDX) | IMM, SECCOMP_DATA_SIZE
        elif code in (LD | IMM, LDX | IMM, MISC, MISC | 0x80, RET | K, RET | RVAL_A):
            pass
        elif code in (LD | MEM, LDX | MEM, ST, STX):
            if k >= 16:
                return -errno.EINVAL
        elif cls == ALU:
            op = code & 0xF0
            if op not in (0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0) or \
                    code & ~0xF8 & 0xFF != ALU:
                return -errno.EINVAL
            if op in (0x30, 0x90) and not code & X and k == 0:
                return -errno.EINVAL                  # division by a constant zero
            if op in (0x60, 0x70) and not code & X and k >= 32:
                return -errno.EINVAL
        elif cls == JMP:
            op = code & 0xF0
            if op == 0x00:                            # JA: k is the offset
                if code != JMP or pc + 1 + k >= n:
                    return -errno.EINVAL
            elif op in (0x10, 0x20, 0x30, 0x40) and code & 0x07 == JMP and code & ~0xF8 == JMP:
                if pc + 1 + jt >= n or pc + 1 + jf >= n:
                    return -errno.EINVAL
            else:
                return -errno.EINVAL
        else:
            return -errno.EINVAL
        out.append((code, jt, jf, k))
    if out[-1][0] not in (RET | K, RET | RVAL_A):
        return -errno.EINVAL
    if not _stores_before_loads(out):
        return -errno.EINVAL
    return tuple(out)


def _stores_before_loads(prog) -> bool:
    """check_load_and_stores: a scratch slot is loaded only on paths where it was stored."""
    full = (1 << 16) - 1
    masks = [full] * len(prog)
    memvalid = 0
    for pc, (code, jt, jf, k) in enumerate(prog):
        memvalid &= masks[pc]
        if code in (ST, STX):
            memvalid |= 1 << k
        elif code in (LD | MEM, LDX | MEM):
            if not memvalid >> k & 1:
                return False
        elif code == JMP:
            masks[pc + 1 + k] &= memvalid
            memvalid = full
        elif code & 7 == JMP:
            masks[pc + 1 + jt] &= memvalid
            masks[pc + 1 + jf] &= memvalid
            memvalid = full
    return True


# --- running -----------------------------------------------------------------------------------

def run_filter(prog, data: bytes) -> int:
    a = x = 0
    mem = [0] * 16
    pc = 0
    m32 = 0xFFFFFFFF
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        cls = code & 7
        if cls == RET:
            return (a if code & RVAL_A else k) & m32
        if cls == LD:
            mode_ = code & 0xE0
            a = struct.unpack_from("<I", data, k)[0] if mode_ == ABS else mem[k] if mode_ == MEM else k
        elif cls == LDX:
            x = mem[k] if code & 0xE0 == MEM else k
        elif cls == ST:
            mem[k] = a
        elif cls == STX:
            mem[k] = x
        elif cls == ALU:
            op, v = code & 0xF0, (x if code & X else k)
            if op in (0x30, 0x90) and v == 0:
                return 0                              # division by zero ends the program: 0
            a = {0x00: lambda: a + v, 0x10: lambda: a - v, 0x20: lambda: a * v,
                 0x30: lambda: a // v, 0x40: lambda: a | v, 0x50: lambda: a & v,
                 0x60: lambda: a << (v & 63) if v < 32 else 0, 0x70: lambda: a >> v if v < 32 else 0,
                 0x80: lambda: -a, 0x90: lambda: a % v, 0xA0: lambda: a ^ v}[op]() & m32
        elif cls == JMP:
            op = code & 0xF0
            if op == 0:
                pc += k
                continue
            v = x if code & X else k
            taken = (a == v if op == 0x10 else a > v if op == 0x20 else a >= v if op == 0x30
                     else bool(a & v))
            pc += jt if taken else jf
        else:                                         # MISC
            if code & 0x80:
                a = x
            else:
                x = a


def seccomp_data(nr: int, ip: int, args) -> bytes:
    return struct.pack("<iIQ6Q", nr, AUDIT_ARCH_X86_64, ip, *(v & 0xFFFFFFFFFFFFFFFF for v in args))


def _signed(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def check(p, nr: int, ip: int, args):
    """__secure_computing: None lets the call run; otherwise the value for %rax (the call is
    skipped). Kills raise GuestExit."""
    from elfkit.kernel.task import ExitStatus, GuestExit, signal_name
    s = p.seccomp
    if s.mode == SECCOMP_MODE_STRICT:
        if nr in STRICT_ALLOWED:
            return None
        raise GuestExit(ExitStatus(signal=9, reason=f"killed by seccomp strict mode "
                                                     f"(system call {nr})"))
    data = seccomp_data(nr, ip, args)
    ret = RET_ALLOW
    f = s.filter
    while f is not None:
        cur = run_filter(f.prog, data)
        if _signed(cur & 0xFFFF0000) < _signed(ret & 0xFFFF0000):
            ret = cur
        f = f.prev
    action, value = ret & 0xFFFF0000, ret & 0xFFFF
    if action in (RET_ALLOW, RET_LOG):
        return None
    if action == RET_ERRNO:
        return -min(value, MAX_ERRNO)
    if action in (RET_TRACE, RET_USER_NOTIF):
        return -errno.ENOSYS                          # no tracer, no listener
    if action == RET_TRAP:
        _force_sigsys(p, nr, ip, value)
        return nr                                     # syscall_rollback: %rax is the number again
    from elfkit.kernel.signals import _core_limit
    # RET_KILL_PROCESS, RET_KILL_THREAD (the only thread) and anything unknown: SIGSYS, core
    raise GuestExit(ExitStatus(signal=SIGSYS, core=_core_limit(p) > 0,
                               reason=f"killed by {signal_name(SIGSYS)}: seccomp filter "
                                      f"(system call {nr})"))


def _force_sigsys(p, nr, ip, value):
    """force_sig_seccomp: SIGSYS with si_code SYS_SECCOMP, the call's address, number and
    arch, and the filter's data as si_errno; a blocked or ignored SIGSYS is unblocked and reset."""
    from elfkit.kernel.signals import SigInfo, send_sig
    handler = p.signals.actions.get(SIGSYS, (0, 0, 0, 0))[0]
    if p.signals.blocked >> (SIGSYS - 1) & 1 or handler == 1:
        p.signals.actions[SIGSYS] = (0, 0, 0, 0)
        p.signals.blocked &= ~(1 << (SIGSYS - 1))
    raw = struct.pack("<iiiiQiI", SIGSYS, value, SYS_SECCOMP, 0, ip, nr, AUDIT_ARCH_X86_64)
    send_sig(p, SIGSYS, info=SigInfo(SYS_SECCOMP, raw=raw.ljust(128, b"\0")))
