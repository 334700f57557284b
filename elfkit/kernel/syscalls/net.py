"""Socket system calls (net/socket.c, net/core/sock.c, net/core/scm.c): AF_UNIX inside the guest,
network families refused unless --allow-net.

AF_UNIX sockets are elfkit's own (elfkit.kernel.fs.af_unix): guest processes talk
to each other, never to the host's daemons. Every other family is the network:
without --allow-net, socket() fails with EACCES (what a sandbox's LSM gives; glibc
and most programs carry on without it); with it, the socket is a host socket and
each call is made on the host (HostNet, below).

This layer does what net/socket.c does around the protocol: copying addresses
and message headers in and out (EFAULT, EINVAL for lengths), the control
messages (SCM_RIGHTS, SCM_CREDENTIALS) in both directions, the socket-level
options, and the loops of sendmmsg/recvmmsg.
"""
from __future__ import annotations

import errno
import os
import stat as stat_mod
import struct
import time

from elfkit.kernel.fs import af_unix
from elfkit.kernel.fs.af_unix import (AF_UNIX, MSG_CMSG_CLOEXEC, MSG_CTRUNC, MSG_DONTWAIT,
                                      SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM, TCP_ESTABLISHED,
                                      UnixSocket)
from elfkit.kernel.fs.files import O_CLOEXEC, O_NONBLOCK, HostFile
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.files import guest_path, install_pair, may_write, s32
from elfkit.kernel.syscalls.numbers import NR
from elfkit.loader.sysroot import PathError

SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_TYPE_MASK, SOCK_MAX = O_CLOEXEC, O_NONBLOCK, 0xF, 11
NPROTO = 46                                   # AF_MAX
SOL_SOCKET, SCM_RIGHTS, SCM_CREDENTIALS, SCM_MAX_FD = 1, 1, 2, 253
UIO_MAXIOV, MAX_RW = 1024, 0x7FFFF000
MSG_WAITFORONE = 0x10000
SOCKADDR_STORAGE = 128
MSGHDR = struct.Struct("<QI4xQQQQI4x")        # name, namelen, iov, iovlen, control, controllen, flags
CMSGHDR = struct.Struct("<Qii")
HZ = 250                                      # CONFIG_HZ of Debian's kernels: timeouts in jiffies


def _align(n: int) -> int:
    return (n + 7) & ~7


# --- the descriptor ----------------------------------------------------------------------------

def _sock(p, fd):
    """The socket behind fd: a UnixSocket, a host socket, or -EBADF / -ENOTSOCK."""
    f = p.files.get(s32(fd))
    if f is None:
        return -errno.EBADF
    if isinstance(f, UnixSocket):
        return f
    if isinstance(f, HostFile) and _host_socket(f):
        return f
    return -errno.ENOTSOCK


def _host_socket(f) -> bool:
    is_sock = getattr(f, "_is_socket", None)
    if is_sock is None:
        try:
            is_sock = stat_mod.S_ISSOCK(os.fstat(f.fd).st_mode)
        except OSError:
            is_sock = False
        f._is_socket = is_sock
    return is_sock


# --- addresses -----------------------------------------------------------------------------------

def read_sockaddr(p, ptr, addrlen) -> bytes | int:
    """move_addr_to_kernel."""
    addrlen = s32(addrlen)
    if addrlen < 0 or addrlen > SOCKADDR_STORAGE:
        return -errno.EINVAL
    if addrlen == 0:
        return b""
    raw = p.mm.read(ptr, addrlen)
    return -errno.EFAULT if raw is None else raw


def put_sockaddr(p, addr: bytes, ptr, len_ptr) -> int:
    """move_addr_to_user: as much of the address as fits, and its whole length."""
    raw = p.mm.read(len_ptr, 4)
    if raw is None:
        return -errno.EFAULT
    room = struct.unpack("<i", raw)[0]
    if room < 0:
        return -errno.EINVAL
    n = min(room, len(addr))
    if n and not p.mm.write(ptr, addr[:n]):
        return -errno.EFAULT
    return 0 if p.mm.write(len_ptr, struct.pack("<i", len(addr))) else -errno.EFAULT


UNNAMED = AF_UNIX.to_bytes(2, "little")


def unix_name(raw: bytes):
    """unix_validate_addr: ("abstract", name) or ("path", bytes), or -EINVAL."""
    if len(raw) <= 2 or len(raw) > af_unix.SOCKADDR_UN_SIZE:
        return -errno.EINVAL
    if int.from_bytes(raw[:2], "little") != AF_UNIX:
        return -errno.EINVAL
    if raw[2] == 0:
        return "abstract", raw[2:]
    return "path", raw[2:].split(b"\0", 1)[0]


def _host_path(p, path: bytes, follow: bool):
    gp = guest_path(p, -100, os.fsdecode(path))
    try:
        return gp, p.sysroot.host_path(gp, "/", follow_last=follow)
    except PathError as e:
        return -e.errno


def unix_lookup(p, sock_type: int, name):
    """unix_find_other: the guest's socket bound to `name`, or -errno."""
    table = af_unix.unix_table(p.kernel)
    if name[0] == "abstract":
        other = table.abstract.get((name[1], sock_type))
        return other if other is not None else -errno.ECONNREFUSED
    r = _host_path(p, name[1], True)
    if isinstance(r, int):
        return r
    gp, host = r
    try:
        st = os.stat(host)
    except OSError as e:
        return -(e.errno or errno.ENOENT)
    if not stat_mod.S_ISSOCK(st.st_mode):
        return -errno.ECONNREFUSED
    other = table.inodes.get((st.st_dev, st.st_ino))
    if other is None:
        if (st.st_dev, st.st_ino) in table.made:
            return -errno.ECONNREFUSED                # the guest's, and closed: nobody listens
        p.warn_once(f"hostsock:{gp}", f"{gp} is a socket of the host, not of the guest: connect "
                                      "returns -ECONNREFUSED (guests reach only their own sockets)")
        return -errno.ECONNREFUSED
    if other.type != sock_type:
        return -errno.EPROTOTYPE
    return other


def unix_bind_path(p, sock: UnixSocket, path: bytes) -> int:
    """unix_bind_bsd: make the socket inode (mknod S_IFSOCK), then take the name."""
    r = _host_path(p, path, False)
    if isinstance(r, int):
        return r
    gp, host = r
    if not may_write(p, host, follow=False, data=False):   # bind makes a name; it follows no link
        if os.path.lexists(host):
            return -errno.EADDRINUSE
        p.warn_once(f"erofs:{gp}", f"refused to bind a socket at {gp} (read-only; allow with "
                                   "--allow-write DIR)")
        return -errno.EROFS
    try:
        os.mknod(host, stat_mod.S_IFSOCK | 0o600)
    except FileExistsError:
        return -errno.EADDRINUSE
    except OSError as e:
        return -(e.errno or errno.EIO)
    if sock.addr is not None:
        os.unlink(host)
        return -errno.EINVAL
    try:
        os.chmod(host, 0o777 & ~p.umask)
        st = os.lstat(host)
    except OSError as e:
        return -(e.errno or errno.EIO)
    sock.bind_inode(st, path)
    return 0


# --- socket, socketpair ---------------------------------------------------------------------------

def _check_type(family, stype):
    """__sys_socket_create / __sock_create's checks: (type, flags) or -errno."""
    flags = stype & ~SOCK_TYPE_MASK
    if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
        return -errno.EINVAL
    if family < 0 or family >= NPROTO:
        return -errno.EAFNOSUPPORT
    if stype < 0:
        return -errno.EINVAL
    stype &= SOCK_TYPE_MASK
    if stype >= SOCK_MAX:
        return -errno.EINVAL
    return stype, flags


def _unix_type(stype, proto):
    """unix_create: the socket type, or -errno."""
    if proto not in (0, AF_UNIX):
        return -errno.EPROTONOSUPPORT
    if stype in (SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM):
        return stype
    if stype == 3:                                  # SOCK_RAW is a synonym for SOCK_DGRAM
        return SOCK_DGRAM
    return -errno.ESOCKTNOSUPPORT


def sys_socket(p, family, stype, proto, *_):
    family, stype, proto = s32(family), s32(stype), s32(proto)
    checked = _check_type(family, stype)
    if isinstance(checked, int):
        return checked
    stype, flags = checked
    if family == AF_UNIX:
        t = _unix_type(stype, proto)
        if t < 0:
            return t
        return p.files.install(UnixSocket(p.kernel, t, flags), bool(flags & SOCK_CLOEXEC))
    if family == 0:
        return -errno.EAFNOSUPPORT
    if not getattr(p.kernel, "allow_net", False):
        p.warn_once("socket", "network access is not allowed for the guest: socket() returns "
                              "-EACCES (allow it with --allow-net)")
        return -errno.EACCES
    return HostNet.socket(p, family, stype, flags, proto)


def sys_socketpair(p, family, stype, proto, sv, *_):
    family, stype, proto = s32(family), s32(stype), s32(proto)
    checked = _check_type(family, stype)
    if isinstance(checked, int):
        return checked
    stype, flags = checked
    if family != AF_UNIX:
        return -errno.EOPNOTSUPP                   # only AF_UNIX makes pairs
    t = _unix_type(stype, proto)
    if t < 0:
        return t
    a, b = af_unix.make_pair(p.kernel, p, t, flags)
    return install_pair(p, a, b, bool(flags & SOCK_CLOEXEC), sv)


# --- names and connections ------------------------------------------------------------------------

def sys_bind(p, fd, addr, addrlen, *_):
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    raw = read_sockaddr(p, addr, addrlen)
    if isinstance(raw, int):
        return raw
    if not isinstance(sock, UnixSocket):
        return HostNet.bind(sock, raw)
    if len(raw) == 2 and raw == UNNAMED:
        return sock.autobind()
    name = unix_name(raw)
    if isinstance(name, int):
        return name
    if name[0] == "abstract":
        return sock.bind_abstract(name[1])
    return unix_bind_path(p, sock, name[1])


def sys_listen(p, fd, backlog, *_):
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    backlog = s32(backlog)
    if backlog < 0 or backlog > af_unix.SOMAXCONN:   # (unsigned) backlog > somaxconn
        backlog = af_unix.SOMAXCONN
    if not isinstance(sock, UnixSocket):
        return HostNet.listen(sock, backlog)
    return sock.listen(p, backlog)


def sys_connect(p, fd, addr, addrlen, *_):
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    raw = read_sockaddr(p, addr, addrlen)
    if isinstance(raw, int):
        return raw
    if not isinstance(sock, UnixSocket):
        return HostNet.connect(p, sock, raw)
    if sock.type == SOCK_DGRAM:
        if len(raw) < 2:
            return -errno.EINVAL
        if int.from_bytes(raw[:2], "little") == 0:     # AF_UNSPEC: dissolve the association
            return sock.dgram_connect(p, None)
    name = unix_name(raw)
    if isinstance(name, int):
        return name
    other = unix_lookup(p, sock.type, name)
    if isinstance(other, int):
        return other
    if sock.type == SOCK_DGRAM:
        return sock.dgram_connect(p, other)
    return sock.stream_connect(p, other)


def sys_accept4(p, fd, addr, addrlen_ptr, flags, *_):
    flags = s32(flags)
    if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
        return -errno.EINVAL
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    if not isinstance(sock, UnixSocket):
        return HostNet.accept(p, sock, addr, addrlen_ptr, flags)
    new = sock.accept(p, False)
    if isinstance(new, int):
        return new
    new.flags = (new.flags & ~O_NONBLOCK) | (flags & SOCK_NONBLOCK)
    if addr:
        client = new.peer
        r = put_sockaddr(p, (client.addr if client is not None else None) or UNNAMED, addr,
                         addrlen_ptr)
        if r < 0:
            new.put()                                # the connection is lost, as in the kernel
            return r
    fd = p.files.install(new, bool(flags & SOCK_CLOEXEC))
    if fd < 0:
        new.put()
    return fd


def sys_accept(p, fd, addr, addrlen_ptr, *_):
    return sys_accept4(p, fd, addr, addrlen_ptr, 0)


def _getname(p, fd, addr, len_ptr, peer: bool):
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    if not isinstance(sock, UnixSocket):
        return HostNet.getname(p, sock, addr, len_ptr, peer)
    if peer:
        other = sock.peer
        if other is None or sock.type != SOCK_DGRAM and sock.state != TCP_ESTABLISHED:
            return -errno.ENOTCONN
        name = other.addr
    else:
        name = sock.addr
    return put_sockaddr(p, name or UNNAMED, addr, len_ptr)


def sys_getsockname(p, fd, addr, len_ptr, *_):
    return _getname(p, fd, addr, len_ptr, False)


def sys_getpeername(p, fd, addr, len_ptr, *_):
    return _getname(p, fd, addr, len_ptr, True)


def sys_shutdown(p, fd, how, *_):
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    if not isinstance(sock, UnixSocket):
        return HostNet.shutdown(sock, s32(how))
    return sock.do_shutdown(s32(how))


# --- socket options (sk_setsockopt / sk_getsockopt) -----------------------------------------------

# SOL_SOCKET options kept as plain values: name -> (default, stored as a boolean)
PLAIN_OPTIONS = {1: (0, True), 2: (0, True), 5: (0, True), 6: (0, True), 9: (0, True),
                 10: (0, True), 11: (0, True), 12: (0, False), 15: (0, True), 18: (1, False),
                 29: (0, True), 34: (0, True), 35: (0, True), 40: (0, True), 41: (0, True),
                 42: (-1, False), 43: (0, True), 45: (0, True), 46: (0, False), 49: (-1, False),
                 60: (0, True), 69: (0, True), 72: (0, False), 74: (0, False)}
SO_TYPE, SO_ERROR, SO_SNDBUF, SO_RCVBUF, SO_LINGER, SO_PASSCRED, SO_PEERCRED = 3, 4, 7, 8, 13, 16, 17
SO_SNDLOWAT, SO_RCVTIMEO, SO_SNDTIMEO, SO_ACCEPTCONN, SO_PEERSEC = 19, 20, 21, 30, 31
SO_SNDBUFFORCE, SO_RCVBUFFORCE, SO_MARK, SO_PROTOCOL, SO_DOMAIN, SO_COOKIE = 32, 33, 36, 38, 39, 57
SO_RCVTIMEO_NEW, SO_SNDTIMEO_NEW = 66, 67


def _sysctl(name: str, default: int) -> int:
    try:
        with open(f"/proc/sys/net/core/{name}") as f:
            return int(f.read())
    except (OSError, ValueError):
        return default


def _timeo_get(seconds: float) -> bytes:
    jiffies = round(seconds * HZ)
    return struct.pack("<qq", jiffies // HZ, (jiffies % HZ) * (1_000_000 // HZ))


def _timeo_set(raw: bytes) -> float | int:
    """sock_set_timeout: seconds (0: for ever), or -errno."""
    if len(raw) < 16:
        return -errno.EINVAL
    sec, usec = struct.unpack("<qq", raw[:16])
    if usec < 0 or usec >= 1_000_000:
        return -errno.EDOM
    if sec < 0:
        return 1e-9                                 # a negative time: no wait at all
    jiffies = sec * HZ + -(-usec * HZ // 1_000_000)
    return jiffies / HZ


def sys_setsockopt(p, fd, level, name, optval, optlen, *_):
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    level, name, optlen = s32(level), s32(name), s32(optlen)
    if not isinstance(sock, UnixSocket):
        return HostNet.setsockopt(p, sock, level, name, optval, optlen)
    if level != SOL_SOCKET:
        return -errno.EOPNOTSUPP                    # unix sockets have no protocol options
    if optlen < 4:
        return -errno.EINVAL
    raw = p.mm.read(optval, min(optlen, 16))
    if raw is None:
        return -errno.EFAULT
    val = struct.unpack("<i", raw[:4])[0]
    if name in PLAIN_OPTIONS:
        if name in (12,) and not 0 <= val <= 6:
            return -errno.EPERM                     # SO_PRIORITY above 6 needs CAP_NET_ADMIN
        sock.options[name] = int(val != 0) if PLAIN_OPTIONS[name][1] else val
        return 0
    if name == SO_PASSCRED:
        sock.passcred = val != 0
        return 0
    if name == SO_SNDBUF:
        val = min(val & 0xFFFFFFFF, _sysctl("wmem_max", 212992))
        sock.sndbuf = max(val * 2, af_unix.SOCK_MIN_SNDBUF)
        sock.wake()
        return 0
    if name == SO_RCVBUF:
        val = min(val & 0xFFFFFFFF, _sysctl("rmem_max", 212992))
        sock.rcvbuf = max(val * 2, af_unix.SOCK_MIN_RCVBUF)
        return 0
    if name == SO_LINGER:
        if optlen < 8:
            return -errno.EINVAL
        sock.linger = struct.unpack("<ii", raw[:8])
        return 0
    if name in (SO_RCVTIMEO, SO_SNDTIMEO, SO_RCVTIMEO_NEW, SO_SNDTIMEO_NEW):
        t = _timeo_set(raw)
        if isinstance(t, int):
            return t
        if name in (SO_RCVTIMEO, SO_RCVTIMEO_NEW):
            sock.rcvtimeo = t
        else:
            sock.sndtimeo = t
        return 0
    if name in (SO_SNDBUFFORCE, SO_RCVBUFFORCE, SO_MARK):
        return -errno.EPERM                         # CAP_NET_ADMIN
    return -errno.ENOPROTOOPT


def _getsockopt_value(sock: UnixSocket, name: int) -> bytes | int:
    i = lambda v: struct.pack("<i", v)               # noqa: E731
    if name in PLAIN_OPTIONS:
        return i(sock.options.get(name, PLAIN_OPTIONS[name][0]))
    simple = {SO_TYPE: sock.type, SO_PASSCRED: int(sock.passcred), SO_SNDBUF: sock.sndbuf,
              SO_RCVBUF: sock.rcvbuf, SO_SNDLOWAT: 1, SO_PROTOCOL: 0, SO_DOMAIN: AF_UNIX,
              SO_ACCEPTCONN: int(sock.state == af_unix.TCP_LISTEN)}
    if name in simple:
        return i(simple[name])
    if name == SO_ERROR:
        return i(sock.take_error())
    if name == SO_LINGER:
        return struct.pack("<ii", *sock.linger)
    if name in (SO_RCVTIMEO, SO_RCVTIMEO_NEW):
        return _timeo_get(sock.rcvtimeo)
    if name in (SO_SNDTIMEO, SO_SNDTIMEO_NEW):
        return _timeo_get(sock.sndtimeo)
    if name == SO_PEERCRED:
        pid, uid, gid = sock.peercred or (0, 65534, 65534)
        return struct.pack("<iII", pid, uid, gid)
    if name == SO_COOKIE:
        return struct.pack("<Q", sock.inode)
    return -errno.ENOPROTOOPT                        # SO_PEERSEC too: no LSM labels the socket


def sys_getsockopt(p, fd, level, name, optval, optlen_ptr, *_):
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    level, name = s32(level), s32(name)
    if not isinstance(sock, UnixSocket):
        return HostNet.getsockopt(p, sock, level, name, optval, optlen_ptr)
    if level != SOL_SOCKET:
        return -errno.EOPNOTSUPP
    raw = p.mm.read(optlen_ptr, 4)
    if raw is None:
        return -errno.EFAULT
    room = struct.unpack("<i", raw)[0]
    if room < 0:
        return -errno.EINVAL
    value = _getsockopt_value(sock, name)
    if isinstance(value, int):
        return value
    value = value[:room]
    if value and not p.mm.write(optval, value):
        return -errno.EFAULT
    return 0 if p.mm.write(optlen_ptr, struct.pack("<i", len(value))) else -errno.EFAULT


# --- control messages ------------------------------------------------------------------------------

def parse_control(p, ptr, length):
    """__scm_send: (open files to pass, explicit credentials or None), or -errno."""
    if length > 0x7FFFFFFF:
        return -errno.ENOBUFS
    if not length:
        return [], None
    raw = p.mm.read(ptr, length)
    if raw is None:
        return -errno.EFAULT
    fds, creds, off = [], None, 0
    while length - off >= CMSGHDR.size:
        cmsg_len, level, ctype = CMSGHDR.unpack_from(raw, off)
        if cmsg_len < CMSGHDR.size or cmsg_len > length - off:
            return -errno.EINVAL
        body = raw[off + CMSGHDR.size:off + cmsg_len]
        if level == SOL_SOCKET:
            if ctype == SCM_RIGHTS:
                n = len(body) // 4
                if len(fds) + n > SCM_MAX_FD:
                    return -errno.EINVAL
                for (fd,) in struct.iter_unpack("<i", body[:4 * n]):
                    f = p.files.get(fd)
                    if f is None:
                        return -errno.EBADF
                    fds.append(f)
            elif ctype == SCM_CREDENTIALS:
                if cmsg_len != CMSGHDR.size + 12:
                    return -errno.EINVAL
                pid, uid, gid = struct.unpack("<iII", body)
                c = p.creds
                if pid != p.tgid or uid not in (c.uid, c.euid) or gid not in (c.gid, c.egid):
                    return -errno.EPERM              # someone else's: needs CAP_SYS_ADMIN/SETUID
                creds = (pid, uid, gid)
            else:
                return -errno.EINVAL
        off += _align(cmsg_len)
    return fds, creds


class _Control:
    """put_cmsg / scm_detach_fds: control messages written into the receiver's buffer."""

    def __init__(self, room: int, ptr: int):
        self.room, self.ptr = room, ptr
        self.buf = bytearray()
        self.flags = 0

    def left(self) -> int:
        return self.room - len(self.buf)

    def put(self, level: int, ctype: int, data: bytes):
        if not self.ptr or self.left() < CMSGHDR.size:
            self.flags |= MSG_CTRUNC
            return
        cmlen = CMSGHDR.size + len(data)
        if self.left() < cmlen:
            self.flags |= MSG_CTRUNC
            cmlen = self.left()
        space = min(_align(CMSGHDR.size + len(data)), self.left())
        chunk = CMSGHDR.pack(cmlen, level, ctype) + data[:cmlen - CMSGHDR.size]
        self.buf += chunk.ljust(space, b"\0")

    def put_fds(self, p, files: list, cloexec: bool):
        left = self.left() if self.ptr else 0
        fdmax = (left - CMSGHDR.size) // 4 if left > CMSGHDR.size else 0
        fds = []
        for f in files[:fdmax]:
            fd = p.files.install(f, cloexec)
            if fd < 0:
                break
            fds.append(fd)
        for f in files[len(fds):]:
            f.put()                                   # did not fit: closed, as the kernel does
        if fds:
            data = struct.pack(f"<{len(fds)}i", *fds)
            cmlen = CMSGHDR.size + len(data)
            space = min(_align(cmlen), left)
            self.buf += (CMSGHDR.pack(cmlen, SOL_SOCKET, SCM_RIGHTS) + data).ljust(space, b"\0")
        if len(fds) < len(files):
            self.flags |= MSG_CTRUNC


# --- sending and receiving -------------------------------------------------------------------------

def _iovecs(p, iov, count):
    if count > UIO_MAXIOV:
        return -errno.EMSGSIZE
    if not count:
        return []
    raw = p.mm.read(iov, 16 * count)
    if raw is None:
        return -errno.EFAULT
    return list(struct.iter_unpack("<QQ", raw))


def _gather(p, vecs) -> bytes | int:
    parts, total = [], 0
    for base, n in vecs:
        n = min(n, MAX_RW - total)
        if n:
            piece = p.mm.read(base, n)
            if piece is None:
                return -errno.EFAULT
            parts.append(piece)
            total += n
    return b"".join(parts)


def _scatter(p, vecs):
    """deliver(offset, data) for a receive: copy into the iovecs at byte `offset`."""
    def deliver(offset, data):
        pos = 0
        for base, n in vecs:
            if offset < pos + n and data:
                skip = max(0, offset - pos)
                take = min(n - skip, len(data))
                if not p.mm.write(base + skip, data[:take]):
                    return False
                data = data[take:]
                offset += take
            pos += n
        return True
    return deliver


def do_send(p, sock, data: bytes, flags: int, dest_raw: bytes | None, fds, creds) -> int:
    """sock_sendmsg on either kind of socket; `dest_raw` is the address given, if any."""
    if not isinstance(sock, UnixSocket):
        return HostNet.send(p, sock, data, flags, dest_raw)
    dest = None
    if dest_raw and sock.type != SOCK_STREAM:
        name = unix_name(dest_raw)
        dest = name if isinstance(name, int) else unix_lookup(p, sock.type, name)
        if isinstance(dest, int) and sock.type == SOCK_SEQPACKET:
            dest = None                               # seqpacket ignores the address
    elif dest_raw:
        dest = True                                   # stream: EISCONN / EOPNOTSUPP
    return sock.sendmsg(p, data, flags, dest, fds, creds)


def sys_sendto(p, fd, buf, size, flags, addr, addrlen):
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    data = p.mm.read(buf, min(size, MAX_RW))
    if data is None:
        return -errno.EFAULT
    dest = None
    if addr:
        dest = read_sockaddr(p, addr, addrlen)
        if isinstance(dest, int):
            return dest
    return do_send(p, sock, data, s32(flags), dest or None, [], None)


def _sendmsg(p, sock, msg_ptr, flags) -> int:
    raw = p.mm.read(msg_ptr, MSGHDR.size)
    if raw is None:
        return -errno.EFAULT
    name, namelen, iov, iovlen, control, controllen, _ = MSGHDR.unpack(raw)
    dest = None
    if name and namelen:
        dest = read_sockaddr(p, name, min(namelen, SOCKADDR_STORAGE))
        if isinstance(dest, int):
            return dest
    vecs = _iovecs(p, iov, iovlen)
    if isinstance(vecs, int):
        return vecs
    ctl = parse_control(p, control, controllen)
    if isinstance(ctl, int):
        return ctl
    data = _gather(p, vecs)
    if isinstance(data, int):
        return data
    if ctl[0] and not isinstance(sock, UnixSocket):
        return -errno.EINVAL                           # SCM_RIGHTS only on AF_UNIX
    return do_send(p, sock, data, flags, dest or None, ctl[0], ctl[1])


def sys_sendmsg(p, fd, msg_ptr, flags, *_):
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    return _sendmsg(p, sock, msg_ptr, s32(flags))


def _receive(p, sock, vecs, flags):
    """sock_recvmsg: a Received (elfkit.kernel.fs.af_unix) or -errno."""
    total = min(sum(n for _, n in vecs), MAX_RW)
    if not isinstance(sock, UnixSocket):
        return HostNet.recv(p, sock, vecs, total, flags)
    return sock.recvmsg(p, total, flags, _scatter(p, vecs))


def sys_recvfrom(p, fd, buf, size, flags, addr, addrlen_ptr):
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    got = _receive(p, sock, [(buf, size)], s32(flags))
    if isinstance(got, int):
        return got
    for f in got.fds:
        f.put()                                       # recv has nowhere to put files: dropped
    if addr:
        r = put_sockaddr(p, got.addr or b"", addr, addrlen_ptr)
        if r < 0:
            return r
    return got.n


def _recvmsg(p, sock, msg_ptr, flags) -> int:
    raw = p.mm.read(msg_ptr, MSGHDR.size)
    if raw is None:
        return -errno.EFAULT
    name, _namelen, iov, iovlen, control, controllen, _ = MSGHDR.unpack(raw)
    vecs = _iovecs(p, iov, iovlen)
    if isinstance(vecs, int):
        return vecs
    got = _receive(p, sock, vecs, flags)
    if isinstance(got, int):
        return got
    ctl = _Control(controllen, control)
    if got.creds is not None:
        ctl.put(SOL_SOCKET, SCM_CREDENTIALS, struct.pack("<iII", *got.creds))
    if got.fds:
        ctl.put_fds(p, got.fds, bool(flags & MSG_CMSG_CLOEXEC))
    if name:
        r = put_sockaddr(p, got.addr or b"", name, msg_ptr + 8)
        if r < 0:
            return r
    elif not p.mm.write(msg_ptr + 8, b"\0\0\0\0"):
        return -errno.EFAULT
    if ctl.buf and not p.mm.write(control, bytes(ctl.buf)):
        return -errno.EFAULT
    msg_flags = (flags & MSG_CMSG_CLOEXEC) | got.msg_flags | ctl.flags
    if not p.mm.write(msg_ptr + 40, struct.pack("<QI", len(ctl.buf), msg_flags)):
        return -errno.EFAULT
    return got.n


def sys_recvmsg(p, fd, msg_ptr, flags, *_):
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    return _recvmsg(p, sock, msg_ptr, s32(flags))


def sys_sendmmsg(p, fd, vec, vlen, flags, *_):
    """__sys_sendmmsg: messages one after the other until one fails; how many went."""
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    vlen, flags = min(vlen & 0xFFFFFFFF, UIO_MAXIOV), s32(flags)
    k = p.restart.get("mm", 0)
    r = 0
    while k < vlen:
        r = _sendmsg(p, sock, vec + 64 * k, flags)     # may wait: made again from message k
        if r < 0:
            break
        if not p.mm.write(vec + 64 * k + 56, struct.pack("<I", r)):
            r = -errno.EFAULT
            break
        k += 1
        p.restart = {"mm": k}
    p.restart = {}
    return k if k else r


def sys_recvmmsg(p, fd, vec, vlen, flags, timeout_ptr, *_):
    """do_recvmmsg: the timeout is looked at only after each message, as the kernel does."""
    sock = _sock(p, fd)
    if isinstance(sock, int):
        return sock
    flags = s32(flags)
    if "mm" not in p.restart and timeout_ptr:
        from elfkit.kernel.syscalls.timekeeping import read_timespec
        ts = read_timespec(p, timeout_ptr)
        if isinstance(ts, int):
            return ts
        p.restart["mm_deadline"] = time.monotonic() + ts[0] + ts[1] / 1e9
    deadline = p.restart.get("mm_deadline")
    vlen = min(vlen & 0xFFFFFFFF, UIO_MAXIOV)
    k = p.restart.get("mm", 0)
    r = 0
    while k < vlen:
        f = flags | (MSG_DONTWAIT if k and flags & MSG_WAITFORONE else 0)
        r = _recvmsg(p, sock, vec + 64 * k, f)
        if r < 0:
            break
        if not p.mm.write(vec + 64 * k + 56, struct.pack("<I", r)):
            r = -errno.EFAULT
            break
        k += 1
        p.restart = {"mm": k, "mm_deadline": deadline}
        if deadline is not None and time.monotonic() >= deadline:
            break
    p.restart = {}
    return k if k else r


TABLE = [
    Syscall(NR.socket, sys_socket, ("af", "sock_type", "sock_proto"), "fd", status="partial",
            note="AF_UNIX inside the guest; other families are EACCES unless --allow-net, then "
                 "host sockets"),
    Syscall(NR.socketpair, sys_socketpair, ("af", "sock_type", "int", "hex")),
    Syscall(NR.bind, sys_bind, ("fd", "hex", "int"), status="partial",
            note="AF_UNIX: abstract names, autobind, socket inodes where --allow-write permits"),
    Syscall(NR.listen, sys_listen, ("fd", "int")),
    Syscall(NR.connect, sys_connect, ("fd", "hex", "int"), status="partial",
            note="AF_UNIX reaches only the guest's own sockets (a host socket's path: "
                 "ECONNREFUSED); the socket inode's permissions are not checked"),
    Syscall(NR.accept, sys_accept, ("fd", "hex", "hex"), "fd"),
    Syscall(NR.accept4, sys_accept4, ("fd", "hex", "hex", "hex"), "fd"),
    Syscall(NR.getsockname, sys_getsockname, ("fd", "hex", "hex")),
    Syscall(NR.getpeername, sys_getpeername, ("fd", "hex", "hex")),
    Syscall(NR.getsockopt, sys_getsockopt, ("fd", "int", "int", "hex", "hex"), status="partial",
            note="SOL_SOCKET options; SO_PEERSEC and the BPF/busy-poll family are ENOPROTOOPT"),
    Syscall(NR.setsockopt, sys_setsockopt, ("fd", "int", "int", "hex", "int"), status="partial",
            note="SOL_SOCKET options; SO_RCVLOWAT/SO_PEEK_OFF are kept but do not change reads"),
    Syscall(NR.shutdown, sys_shutdown, ("fd", "int")),
    Syscall(NR.sendto, sys_sendto, ("fd", "buf_in", "size", "hex", "hex", "int"),
            status="partial", note="MSG_OOB on AF_UNIX is EOPNOTSUPP (AF_UNIX_OOB not modelled)"),
    Syscall(NR.recvfrom, sys_recvfrom, ("fd", "buf_out", "size", "hex", "hex", "hex"),
            status="partial", note="MSG_OOB and SO_PEEK_OFF not modelled"),
    Syscall(NR.sendmsg, sys_sendmsg, ("fd", "hex", "hex"), status="partial",
            note="SCM_RIGHTS/SCM_CREDENTIALS on AF_UNIX; MSG_OOB not modelled"),
    Syscall(NR.recvmsg, sys_recvmsg, ("fd", "hex", "hex"), status="partial",
            note="SCM_RIGHTS/SCM_CREDENTIALS on AF_UNIX; MSG_OOB, MSG_ERRQUEUE not modelled"),
    Syscall(NR.sendmmsg, sys_sendmmsg, ("fd", "hex", "int", "hex")),
    Syscall(NR.recvmmsg, sys_recvmmsg, ("fd", "hex", "int", "hex", "hex"), status="partial",
            note="an error after some messages is returned as the count, not kept for the next call"),
]


# --- host sockets (--allow-net) --------------------------------------------------------------------

class HostSocket(HostFile):
    """A socket of the host, for a network family the user let the guest have (--allow-net).
    The host descriptor stays non-blocking; a guest that may wait sleeps until the host
    says the socket is ready, so the other guest processes go on."""
    _is_socket = True

    def read(self, n):
        return _host_io(self, lambda: os.read(self.fd, n), True)

    def write(self, data):
        return _host_io(self, lambda: os.write(self.fd, data), False)


def _host_io(f, op, reading: bool, dontwait: bool = False):
    from elfkit.kernel.wait import Sleep
    try:
        return op()
    except BlockingIOError:
        if f.flags & O_NONBLOCK or dontwait:
            return -errno.EAGAIN
        if reading:
            raise Sleep("sk_wait_data", read_fds=(f.fd,))
        raise Sleep("sk_stream_wait_memory", write_fds=(f.fd,))
    except BrokenPipeError:
        return -errno.EPIPE
    except OSError as e:
        return -(e.errno or errno.EIO)


class HostNet:
    """Each socket call made on the host socket, with the guest's own bytes (addresses,
    options) passed through as they are. Partial: no control messages, no MSG_ERRQUEUE."""
    _libc = None

    @classmethod
    def libc(cls):
        if cls._libc is None:
            import ctypes
            cls._libc = ctypes.CDLL(None, use_errno=True)
        return cls._libc

    @classmethod
    def call(cls, name: str, *args) -> int:
        import ctypes
        r = getattr(cls.libc(), name)(*args)
        if r < 0:
            e = ctypes.get_errno()
            if e in (errno.EAGAIN, errno.EINPROGRESS):
                raise BlockingIOError(e, os.strerror(e))
            raise OSError(e, os.strerror(e))
        return r

    @staticmethod
    def socket(p, family, stype, flags, proto):
        try:
            fd = HostNet.call("socket", family, stype | SOCK_CLOEXEC | SOCK_NONBLOCK, proto)
        except OSError as e:
            return -(e.errno or errno.EIO)
        p.warn_once("hostsocket", "--allow-net: the guest's network sockets are the host's "
                                  "(control messages and MSG_ERRQUEUE not passed through)")
        f = HostSocket(fd, f"socket:[{os.fstat(fd).st_ino}]", 2 | (flags & O_NONBLOCK))
        fd = p.files.install(f, bool(flags & SOCK_CLOEXEC))
        if fd < 0:
            f.put()
        return fd

    @staticmethod
    def bind(sock, raw):
        return _host_io(sock, lambda: HostNet.call("bind", sock.fd, raw, len(raw)), False, True)

    @staticmethod
    def listen(sock, backlog):
        return _host_io(sock, lambda: HostNet.call("listen", sock.fd, backlog), False, True)

    @staticmethod
    def connect(p, sock, raw):
        from elfkit.kernel.wait import Sleep
        if p.restart.pop("connecting", False):         # woken: the connection is made or failed
            err = _host_sockopt_int(sock.fd, SOL_SOCKET, SO_ERROR)
            return -err if err else 0
        try:
            return HostNet.call("connect", sock.fd, raw, len(raw))
        except BlockingIOError:
            if sock.flags & O_NONBLOCK:
                return -errno.EINPROGRESS
            p.restart["connecting"] = True
            raise Sleep("inet_wait_for_connect", write_fds=(sock.fd,))
        except OSError as e:
            return -(e.errno or errno.EIO)

    @staticmethod
    def accept(p, sock, addr, addrlen_ptr, flags):
        import ctypes
        buf, ln = ctypes.create_string_buffer(SOCKADDR_STORAGE), ctypes.c_uint32(SOCKADDR_STORAGE)
        fd = _host_io(sock, lambda: HostNet.call("accept4", sock.fd, buf, ctypes.byref(ln),
                                                 SOCK_CLOEXEC | SOCK_NONBLOCK), True)
        if fd < 0:
            return fd
        new = HostSocket(fd, sock.path, 2 | (flags & SOCK_NONBLOCK))
        if addr:
            r = put_sockaddr(p, buf.raw[:ln.value], addr, addrlen_ptr)
            if r < 0:
                new.put()
                return r
        fd = p.files.install(new, bool(flags & SOCK_CLOEXEC))
        if fd < 0:
            new.put()
        return fd

    @staticmethod
    def getname(p, sock, addr, len_ptr, peer):
        import ctypes
        buf, ln = ctypes.create_string_buffer(SOCKADDR_STORAGE), ctypes.c_uint32(SOCKADDR_STORAGE)
        r = _host_io(sock, lambda: HostNet.call("getpeername" if peer else "getsockname",
                                                sock.fd, buf, ctypes.byref(ln)), False, True)
        return r if r < 0 else put_sockaddr(p, buf.raw[:ln.value], addr, len_ptr)

    @staticmethod
    def shutdown(sock, how):
        return _host_io(sock, lambda: HostNet.call("shutdown", sock.fd, how), False, True)

    @staticmethod
    def setsockopt(p, sock, level, name, optval, optlen):
        if optlen < 0:
            return -errno.EINVAL
        raw = p.mm.read(optval, optlen) if optlen else b""
        if raw is None:
            return -errno.EFAULT
        return _host_io(sock, lambda: HostNet.call("setsockopt", sock.fd, level, name, raw,
                                                   len(raw)), False, True)

    @staticmethod
    def getsockopt(p, sock, level, name, optval, optlen_ptr):
        import ctypes
        raw = p.mm.read(optlen_ptr, 4)
        if raw is None:
            return -errno.EFAULT
        room = struct.unpack("<i", raw)[0]
        if room < 0:
            return -errno.EINVAL
        buf, ln = ctypes.create_string_buffer(max(room, 1)), ctypes.c_uint32(room)
        r = _host_io(sock, lambda: HostNet.call("getsockopt", sock.fd, level, name, buf,
                                                ctypes.byref(ln)), False, True)
        if r < 0:
            return r
        if ln.value and not p.mm.write(optval, buf.raw[:ln.value]):
            return -errno.EFAULT
        return 0 if p.mm.write(optlen_ptr, struct.pack("<i", ln.value)) else -errno.EFAULT

    @staticmethod
    def send(p, sock, data, flags, dest_raw):
        dest = dest_raw or None
        dontwait = bool(flags & MSG_DONTWAIT)
        r = _host_io(sock, lambda: HostNet.call("sendto", sock.fd, data, len(data),
                                                flags | MSG_DONTWAIT | af_unix.MSG_NOSIGNAL,
                                                dest, len(dest) if dest else 0), False, dontwait)
        if r == -errno.EPIPE and not flags & af_unix.MSG_NOSIGNAL:
            from elfkit.kernel.signals import send_sig
            send_sig(p, 13, p)
        return r

    @staticmethod
    def recv(p, sock, vecs, total, flags):
        import ctypes
        buf = ctypes.create_string_buffer(max(total, 1))
        name, ln = ctypes.create_string_buffer(SOCKADDR_STORAGE), ctypes.c_uint32(SOCKADDR_STORAGE)
        r = _host_io(sock, lambda: HostNet.call("recvfrom", sock.fd, buf, total,
                                                flags | MSG_DONTWAIT, name, ctypes.byref(ln)),
                     True, bool(flags & MSG_DONTWAIT))
        if r < 0:
            return r
        if not _scatter(p, vecs)(0, buf.raw[:min(r, total)]):
            return -errno.EFAULT
        got = af_unix.Received()
        got.n, got.addr = r, name.raw[:ln.value] if ln.value else None
        return got


def _host_sockopt_int(fd: int, level: int, name: int) -> int:
    import socket as pysock
    s = pysock.socket(fileno=os.dup(fd))
    try:
        return s.getsockopt(level, name)
    finally:
        s.close()
