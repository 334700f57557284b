"""Inode attributes: extended attributes (fs/xattr.c), modes and owners, times (fs/attr.c,
fs/open.c chmod_common/chown_common, fs/utimes.c).

Every change is made to the host file itself -- and only inside the directories
the user allowed with --allow-write; elsewhere the call fails with EROFS, as on
a read-only mount (mnt_want_write comes after the path lookup, before any
permission check). The permission checks are the kernel's for a process with no
capabilities: elfkit may run as root, the guest never has CAP_CHOWN,
CAP_FOWNER, CAP_SYS_ADMIN or CAP_DAC_OVERRIDE. Reads (getxattr, listxattr)
work wherever the file is readable.
"""
from __future__ import annotations

import errno
import os
import stat as stat_mod
import struct
import time

from elfkit.kernel.fs import proc as procfs
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.files import (AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, _file,
                                          guest_path, may_write, fd_may_write, read_path, s32)
from elfkit.kernel.syscalls.numbers import NR
from elfkit.loader.sysroot import PathError

XATTR_CREATE, XATTR_REPLACE = 1, 2
XATTR_NAME_MAX, XATTR_SIZE_MAX, XATTR_LIST_MAX = 255, 65536, 65536
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2


# --- who may do what (no capabilities) ---------------------------------------------------------

def _in_group(p, gid) -> bool:
    return gid == p.creds.egid or gid in os.getgroups()


def _owner(p, st) -> bool:
    """inode_owner_or_capable, without CAP_FOWNER."""
    return st.st_uid == p.creds.euid


def _permitted(p, st, want: int) -> bool:
    """generic_permission without CAP_DAC_OVERRIDE: want is 4 (read), 2 (write)."""
    if st.st_uid == p.creds.euid:
        return bool(st.st_mode >> 6 & want)
    if _in_group(p, st.st_gid):
        return bool(st.st_mode >> 3 & want)
    return bool(st.st_mode & want)


def _refuse_write(p, gp, what):
    p.warn_once(f"erofs:{gp}", f"refused to {what} {gp} (read-only; allow with --allow-write DIR)")
    return -errno.EROFS


# --- the object a call names: a path or a descriptor ---------------------------------------------

class Target:
    """The file a call acts on: its guest name, its host path (or descriptor) and its stat."""

    def __init__(self, gp, host, fd, follow, st, writable):
        self.gp, self.host, self.fd, self.follow, self.st = gp, host, fd, follow, st
        self.writable = writable

    @property
    def ref(self):
        return self.fd if self.fd is not None else self.host


def _lookup(p, dirfd, ptr, follow, empty_ok=False) -> Target | int:
    """user_path_at: the target named by (dirfd, path), or -errno."""
    path = read_path(p, ptr)
    if isinstance(path, int):
        return path
    if not path:
        if not empty_ok:
            return -errno.ENOENT
        if s32(dirfd) != AT_FDCWD:
            return _by_fd(p, dirfd, raw_ok=True)
    gp = guest_path(p, dirfd, path)
    if isinstance(gp, int):
        return gp
    cg = procfs.canonical(p, gp) if follow else None   # /proc/self/fd/N by any spelling
    fd = _proc_fd(p, cg) if cg is not None else None
    if fd is not None:                               # /proc/self/fd/N: the open file itself
        return _by_fd(p, fd, raw_ok=True)
    try:
        host = p.sysroot.host_path(gp, "/", follow_last=follow)
        st = os.stat(host, follow_symlinks=follow)
    except PathError as e:
        return -e.errno
    except OSError as e:
        return -(e.errno or errno.EIO)
    return Target(gp, host, None, follow, st, may_write(p, host, follow, data=False))


def _proc_fd(p, gp) -> int | None:
    """N when gp is the magic link /proc/self/fd/N (or /proc/PID/fd/N of the caller)."""
    parts = os.path.normpath(gp).split("/")
    if len(parts) == 5 and parts[1] == "proc" and parts[3] == "fd" and parts[4].isdigit() and \
            parts[2] in ("self", "thread-self", str(p.tgid)):
        return int(parts[4])
    return None


def _by_fd(p, fd, raw_ok=False) -> Target | int:
    """fdget (fdget_raw with raw_ok: O_PATH descriptors count too)."""
    from elfkit.kernel.fs.files import O_PATH
    f = _file(p, fd)
    if f is None or f.flags & O_PATH and not raw_ok:
        return -errno.EBADF
    st = f.stat()
    if isinstance(st, int):
        return st
    host = getattr(f, "host_path", None)
    fd_host = f.host_fd()
    if f.flags & O_PATH and fd_host is not None and host:
        fd_host = None                                   # the host refuses fd calls on O_PATH
    # where the open file is now decides (a rename since the open may have moved the name);
    # guest pipes and memfds are the guest's own; the host's stdio duplicates are not
    writable = fd_may_write(p, f, data=False)     # (modes, owners, times: never devices')
    return Target(f.path, host, fd_host, True, st, writable)


# --- extended attributes -----------------------------------------------------------------------

def _xattr_name(p, ptr) -> str | int:
    """strncpy_from_user into XATTR_NAME_MAX + 1 bytes: ERANGE when empty or too long."""
    raw = p.mm.read_cstring(ptr, XATTR_NAME_MAX + 2)
    if raw is None:
        return -errno.EFAULT
    if not raw or len(raw) > XATTR_NAME_MAX:
        return -errno.ERANGE
    return os.fsdecode(raw)


def _xattr_permission(p, st, name, write) -> int:
    """xattr_permission + the capability checks of the security module (commoncap)."""
    if name.startswith("security.") or name.startswith("system."):
        if write and name.startswith("security."):
            return -errno.EPERM                          # cap_inode_setxattr: CAP_SYS_ADMIN
        if write and name.startswith("system.") and not _owner(p, st):
            return -errno.EPERM                          # posix ACLs: the owner's
        return 0
    if name.startswith("trusted."):
        return -errno.EPERM if write else -errno.ENODATA
    if name.startswith("user."):
        if not stat_mod.S_ISREG(st.st_mode) and not stat_mod.S_ISDIR(st.st_mode):
            return -errno.EPERM if write else -errno.ENODATA
        if stat_mod.S_ISDIR(st.st_mode) and st.st_mode & stat_mod.S_ISVTX and write and \
                not _owner(p, st):
            return -errno.EPERM
    if not _permitted(p, st, 2 if write else 4):
        return -errno.EACCES
    return 0


def _put_value(p, value: bytes, buf, size) -> int:
    if size == 0:
        return len(value)
    if len(value) > size:
        return -errno.ERANGE
    return len(value) if p.mm.write(buf, value) else -errno.EFAULT


def _host_call(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except OSError as e:
        return -(e.errno or errno.EIO)


def _getxattr(p, t, name_ptr, buf, size):
    if isinstance(t, int):
        return t
    name = _xattr_name(p, name_ptr)
    if isinstance(name, int):
        return name
    err = _xattr_permission(p, t.st, name, False)
    if err:
        return err
    if t.ref is None:
        return -errno.ENODATA if name.startswith("user.") else -errno.EOPNOTSUPP
    value = _host_call(os.getxattr, t.ref, name, follow_symlinks=t.follow)
    if isinstance(value, int):
        return value
    if len(value) > XATTR_SIZE_MAX:
        return -errno.E2BIG
    return _put_value(p, value, buf, min(size, XATTR_SIZE_MAX))


def sys_getxattr(p, ptr, name, buf, size, *_):
    return _getxattr(p, _lookup(p, AT_FDCWD, ptr, True), name, buf, size)


def sys_lgetxattr(p, ptr, name, buf, size, *_):
    return _getxattr(p, _lookup(p, AT_FDCWD, ptr, False), name, buf, size)


def sys_fgetxattr(p, fd, name, buf, size, *_):
    return _getxattr(p, _by_fd(p, fd), name, buf, size)


def _listxattr(p, t, buf, size):
    if isinstance(t, int):
        return t
    if t.ref is None:
        return 0
    names = _host_call(os.listxattr, t.ref, follow_symlinks=t.follow)
    if isinstance(names, int):
        return names
    # trusted.* names are listed only to CAP_SYS_ADMIN
    data = b"".join(os.fsencode(n) + b"\0" for n in names if not n.startswith("trusted."))
    return _put_value(p, data, buf, min(size, XATTR_LIST_MAX))


def sys_listxattr(p, ptr, buf, size, *_):
    return _listxattr(p, _lookup(p, AT_FDCWD, ptr, True), buf, size)


def sys_llistxattr(p, ptr, buf, size, *_):
    return _listxattr(p, _lookup(p, AT_FDCWD, ptr, False), buf, size)


def sys_flistxattr(p, fd, buf, size, *_):
    return _listxattr(p, _by_fd(p, fd), buf, size)


def _setxattr(p, lookup, name_ptr, value_ptr, size, flags):
    """setxattr_copy (flags, name, value), then the path, the write policy, the permission."""
    if flags & 0xFFFFFFFF & ~(XATTR_CREATE | XATTR_REPLACE):
        return -errno.EINVAL
    name = _xattr_name(p, name_ptr)
    if isinstance(name, int):
        return name
    value = b""
    if size:
        if size > XATTR_SIZE_MAX:
            return -errno.E2BIG
        value = p.mm.read(value_ptr, size)
        if value is None:
            return -errno.EFAULT
    t = lookup()
    if isinstance(t, int):
        return t
    if not t.writable:
        return _refuse_write(p, t.gp, "set an extended attribute of")
    err = _xattr_permission(p, t.st, name, True)
    if err:
        return err
    if t.ref is None:
        return -errno.EOPNOTSUPP
    r = _host_call(os.setxattr, t.ref, name, value, flags & 3, follow_symlinks=t.follow)
    return r if isinstance(r, int) else 0


def sys_setxattr(p, ptr, name, value, size, flags, *_):
    return _setxattr(p, lambda: _lookup(p, AT_FDCWD, ptr, True), name, value, size, flags)


def sys_lsetxattr(p, ptr, name, value, size, flags, *_):
    return _setxattr(p, lambda: _lookup(p, AT_FDCWD, ptr, False), name, value, size, flags)


def sys_fsetxattr(p, fd, name, value, size, flags, *_):
    return _setxattr(p, lambda: _by_fd(p, fd), name, value, size, flags)


def _removexattr(p, lookup, name_ptr):
    name = _xattr_name(p, name_ptr)
    if isinstance(name, int):
        return name
    t = lookup()
    if isinstance(t, int):
        return t
    if not t.writable:
        return _refuse_write(p, t.gp, "remove an extended attribute of")
    err = _xattr_permission(p, t.st, name, True)
    if err:
        return err
    if t.ref is None:
        return -errno.EOPNOTSUPP
    r = _host_call(os.removexattr, t.ref, name, follow_symlinks=t.follow)
    return r if isinstance(r, int) else 0


def sys_removexattr(p, ptr, name, *_):
    return _removexattr(p, lambda: _lookup(p, AT_FDCWD, ptr, True), name)


def sys_lremovexattr(p, ptr, name, *_):
    return _removexattr(p, lambda: _lookup(p, AT_FDCWD, ptr, False), name)


def sys_fremovexattr(p, fd, name, *_):
    return _removexattr(p, lambda: _by_fd(p, fd), name)


# --- modes -------------------------------------------------------------------------------------

def _chmod(p, t, mode):
    """chmod_common: the owner only; S_ISGID dropped when the file's group is not the caller's."""
    if isinstance(t, int):
        return t
    if not t.writable:
        return _refuse_write(p, t.gp, "chmod")
    if not _owner(p, t.st):
        return -errno.EPERM
    mode &= 0o7777
    if not _in_group(p, t.st.st_gid):
        mode &= ~stat_mod.S_ISGID
    if t.ref is None:
        return -errno.EPERM
    r = _host_call(os.chmod, t.ref, mode)
    return r if isinstance(r, int) else 0


def sys_chmod(p, ptr, mode, *_):
    return _chmod(p, _lookup(p, AT_FDCWD, ptr, True), mode)


def sys_fchmod(p, fd, mode, *_):
    return _chmod(p, _by_fd(p, fd), mode)


def sys_fchmodat(p, dirfd, ptr, mode, *_):
    return _chmod(p, _lookup(p, dirfd, ptr, True), mode)


def sys_fchmodat2(p, dirfd, ptr, mode, flags, *_):
    flags &= 0xFFFFFFFF
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        return -errno.EINVAL
    t = _lookup(p, dirfd, ptr, not flags & AT_SYMLINK_NOFOLLOW, bool(flags & AT_EMPTY_PATH))
    if not isinstance(t, int) and stat_mod.S_ISLNK(t.st.st_mode):
        return -errno.EOPNOTSUPP                    # a symlink's mode cannot change
    return _chmod(p, t, mode)


# --- owners ------------------------------------------------------------------------------------

def _chown(p, t, uid, gid):
    """chown_common + setattr_prepare's chown_ok/chgrp_ok: without CAP_CHOWN the owner may only
    give the file to a group of its own; a change clears set-user-ID (and set-group-ID with
    group execute) on anything but a directory."""
    if isinstance(t, int):
        return t
    uid, gid = s32(uid), s32(gid)
    if not t.writable:
        return _refuse_write(p, t.gp, "chown")
    st = t.st
    if uid != -1 and not (_owner(p, st) and uid == st.st_uid):
        return -errno.EPERM
    if gid != -1 and not (_owner(p, st) and (_in_group(p, gid) or gid == st.st_gid)):
        return -errno.EPERM
    # chown_common asks to kill set-user-ID (and set-group-ID with group execute) on anything
    # but a directory, even for chown(-1, -1): a mode change, which only the owner may make
    kill = 0
    if not stat_mod.S_ISDIR(st.st_mode) and not stat_mod.S_ISLNK(st.st_mode):
        kill = st.st_mode & (stat_mod.S_ISUID | (stat_mod.S_ISGID if st.st_mode & 0o010 else 0))
    if kill and not _owner(p, st):
        return -errno.EPERM
    if t.ref is None:
        return -errno.EPERM
    r = _host_call(os.chown, t.ref, uid, gid, follow_symlinks=t.follow) if t.fd is None else \
        _host_call(os.chown, t.ref, uid, gid)
    if isinstance(r, int):
        return r
    if kill:                                        # the host (root) may have kept them
        _host_call(os.chmod, t.ref, stat_mod.S_IMODE(st.st_mode) & ~kill)
    return 0


def sys_chown(p, ptr, uid, gid, *_):
    return _chown(p, _lookup(p, AT_FDCWD, ptr, True), uid, gid)


def sys_lchown(p, ptr, uid, gid, *_):
    return _chown(p, _lookup(p, AT_FDCWD, ptr, False), uid, gid)


def sys_fchown(p, fd, uid, gid, *_):
    return _chown(p, _by_fd(p, fd), uid, gid)


def sys_fchownat(p, dirfd, ptr, uid, gid, flags, *_):
    flags &= 0xFFFFFFFF
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        return -errno.EINVAL
    return _chown(p, _lookup(p, dirfd, ptr, not flags & AT_SYMLINK_NOFOLLOW,
                             bool(flags & AT_EMPTY_PATH)), uid, gid)


# --- times -------------------------------------------------------------------------------------

def _utimes(p, t, times):
    """vfs_utimes: times is None (now) or [(sec, nsec)] * 2 with UTIME_NOW/UTIME_OMIT."""
    if isinstance(t, int):
        return t
    if times is not None:
        if any(not (0 <= ns < 1_000_000_000 or ns in (UTIME_NOW, UTIME_OMIT)) for _, ns in times):
            return -errno.EINVAL
        if all(ns == UTIME_NOW for _, ns in times):
            times = None
    if not t.writable:
        return _refuse_write(p, t.gp, "change the times of")
    st = t.st
    if times is not None and any(ns != UTIME_NOW for _, ns in times):
        if not _owner(p, st):
            return -errno.EPERM                      # setting explicit times: the owner only
    elif not _owner(p, st) and not _permitted(p, st, 2):
        return -errno.EACCES                         # "now": the owner, or a writer
    if t.ref is None:
        return -errno.EPERM
    now = time.time_ns()
    old = (st.st_atime_ns, st.st_mtime_ns)
    if times is None:
        ns = (now, now)
    else:
        ns = tuple(old[i] if n == UTIME_OMIT else now if n == UTIME_NOW else s * 1_000_000_000 + n
                   for i, (s, n) in enumerate(times))
    r = _host_call(os.utime, t.ref, ns=ns, follow_symlinks=t.follow) if t.fd is None else \
        _host_call(os.utime, t.ref, ns=ns)
    return r if isinstance(r, int) else 0


def _read_times(p, ptr, fmt, scale):
    """Two (sec, frac) pairs scaled to (sec, nsec), or -EFAULT."""
    raw = p.mm.read(ptr, struct.calcsize(fmt))
    if raw is None:
        return -errno.EFAULT
    v = struct.unpack(fmt, raw)
    return [(v[0], v[1] * scale), (v[2], v[3] * scale)]


def sys_utimensat(p, dirfd, ptr, times_ptr, flags, *_):
    times = None
    if times_ptr:
        times = _read_times(p, times_ptr, "<qqqq", 1)
        if isinstance(times, int):
            return times
        if times[0][1] == UTIME_OMIT and times[1][1] == UTIME_OMIT:
            return 0                                 # nothing to do: not even the path is looked at
    flags &= 0xFFFFFFFF
    if not ptr and s32(dirfd) != AT_FDCWD:
        if flags:
            return -errno.EINVAL
        return _utimes(p, _by_fd(p, dirfd), times)   # futimens
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        return -errno.EINVAL
    if not ptr:
        return -errno.EFAULT
    return _utimes(p, _lookup(p, dirfd, ptr, not flags & AT_SYMLINK_NOFOLLOW,
                              bool(flags & AT_EMPTY_PATH)), times)


def _timeval_times(p, times_ptr):
    """struct timeval[2]: microseconds in range, else EINVAL."""
    if not times_ptr:
        return None
    times = _read_times(p, times_ptr, "<qqqq", 1)
    if isinstance(times, int):
        return times
    if any(not 0 <= us < 1_000_000 for _, us in times):
        return -errno.EINVAL
    return [(s, us * 1000) for s, us in times]


def sys_futimesat(p, dirfd, ptr, times_ptr, *_):
    times = _timeval_times(p, times_ptr)
    if isinstance(times, int):
        return times
    if not ptr and s32(dirfd) != AT_FDCWD:
        return _utimes(p, _by_fd(p, dirfd), times)
    if not ptr:
        return -errno.EFAULT
    return _utimes(p, _lookup(p, dirfd, ptr, True), times)


def sys_utimes(p, ptr, times_ptr, *_):
    return sys_futimesat(p, AT_FDCWD, ptr, times_ptr)


def sys_utime(p, ptr, buf, *_):
    times = None
    if buf:
        raw = p.mm.read(buf, 16)
        if raw is None:
            return -errno.EFAULT
        a, m = struct.unpack("<qq", raw)
        times = [(a, 0), (m, 0)]
    return _utimes(p, _lookup(p, AT_FDCWD, ptr, True), times)


TABLE = [
    Syscall(NR.getxattr, sys_getxattr, ("path", "str", "hex", "size")),
    Syscall(NR.lgetxattr, sys_lgetxattr, ("path", "str", "hex", "size")),
    Syscall(NR.fgetxattr, sys_fgetxattr, ("fd", "str", "hex", "size")),
    Syscall(NR.listxattr, sys_listxattr, ("path", "hex", "size")),
    Syscall(NR.llistxattr, sys_llistxattr, ("path", "hex", "size")),
    Syscall(NR.flistxattr, sys_flistxattr, ("fd", "hex", "size")),
    Syscall(NR.setxattr, sys_setxattr, ("path", "str", "hex", "size", "hex")),
    Syscall(NR.lsetxattr, sys_lsetxattr, ("path", "str", "hex", "size", "hex")),
    Syscall(NR.fsetxattr, sys_fsetxattr, ("fd", "str", "hex", "size", "hex")),
    Syscall(NR.removexattr, sys_removexattr, ("path", "str")),
    Syscall(NR.lremovexattr, sys_lremovexattr, ("path", "str")),
    Syscall(NR.fremovexattr, sys_fremovexattr, ("fd", "str")),
    Syscall(NR.chmod, sys_chmod, ("path", "mode")),
    Syscall(NR.fchmod, sys_fchmod, ("fd", "mode")),
    Syscall(NR.fchmodat, sys_fchmodat, ("dirfd", "path", "mode")),
    Syscall(NR.fchmodat2, sys_fchmodat2, ("dirfd", "path", "mode", "at_flags")),
    Syscall(NR.chown, sys_chown, ("path", "int", "int")),
    Syscall(NR.lchown, sys_lchown, ("path", "int", "int")),
    Syscall(NR.fchown, sys_fchown, ("fd", "int", "int")),
    Syscall(NR.fchownat, sys_fchownat, ("dirfd", "path", "int", "int", "at_flags")),
    Syscall(NR.utimensat, sys_utimensat, ("dirfd", "path", "hex", "at_flags")),
    Syscall(NR.futimesat, sys_futimesat, ("dirfd", "path", "hex")),
    Syscall(NR.utimes, sys_utimes, ("path", "hex")),
    Syscall(NR.utime, sys_utime, ("path", "hex")),
]
