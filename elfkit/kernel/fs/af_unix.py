"""net/unix/af_unix.c: AF_UNIX sockets between guest processes, inside elfkit.

A socket is an open file description (fork and dup share it) holding a receive
queue of messages (sk_buffs). A writer puts its bytes, and the files
(SCM_RIGHTS) and credentials that go with them, on its peer's queue; the bytes
count against the writer's send buffer until the reader takes them, which is
what makes a writer wait (or get EAGAIN). Stream sockets read across message
boundaries (but never past bytes that carried files, nor, with SO_PASSCRED,
across two writers' bytes); datagram and seqpacket sockets deliver one message
per read, cut short with MSG_TRUNC.

Names: an abstract name (leading NUL) lives in the kernel's table; a path is a
socket inode elfkit makes in the file system with mknod (only where the guest
may write), found again by connect through its device and inode numbers.
connect to a stream listener queues a new "embryo" socket, already connected
to the client, on the listener until accept takes it (the backlog allows
backlog + 1 of them, as unix_recvq_full does). Closing a socket shuts the
connection down for its peer (ECONNRESET first when it left bytes unread).

Not modelled: MSG_OOB (AF_UNIX_OOB), SO_PEEK_OFF, the garbage collector for
sockets passed over themselves (such cycles stay alive until elfkit ends),
permission checks on a socket inode at connect, SO_PEERSEC labels.
"""
from __future__ import annotations

import errno
import os
import time
from collections import deque

from elfkit.kernel.fs.files import O_NONBLOCK, O_RDWR, OpenFile
from elfkit.kernel.wait import Sleep, WaitQueue

AF_UNIX = 1
SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET = 1, 2, 5
TCP_ESTABLISHED, TCP_CLOSE, TCP_LISTEN = "established", "close", "listen"
RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK = 1, 2, 3
MSG_OOB, MSG_PEEK, MSG_CTRUNC, MSG_TRUNC, MSG_DONTWAIT = 0x1, 0x2, 0x8, 0x20, 0x40
MSG_WAITALL, MSG_NOSIGNAL, MSG_CMSG_CLOEXEC = 0x100, 0x4000, 0x40000000
POLLIN, POLLOUT, POLLERR, POLLHUP, POLLWRBAND, POLLRDHUP = 0x1, 0x4, 0x8, 0x10, 0x200, 0x2000
S_IFSOCK = 0o140000
SOCKFS_DEV = 8

WMEM_DEFAULT = 212992          # net.core.wmem_default / rmem_default
SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF = 4608, 2304
MAX_DGRAM_QLEN = 10            # net.unix.max_dgram_qlen
SOMAXCONN = 4096
SKB_OVERHEAD = 768             # what an sk_buff costs beyond its bytes (its truesize)
SUN_PATH_OFFSET, SOCKADDR_UN_SIZE = 2, 110


class Skb:
    """One message on a receive queue: bytes, the files and credentials sent with them, and
    the socket that sent it (its address for recvfrom, its send buffer to give back)."""
    __slots__ = ("data", "fds", "creds", "sender", "truesize")

    def __init__(self, data: bytes, fds: list, creds, sender):
        self.data, self.fds, self.creds, self.sender = data, fds, creds, sender
        self.truesize = len(data) + SKB_OVERHEAD


class UnixTable:
    """The network namespace's AF_UNIX names: abstract ones, and socket inodes by (dev, ino)."""

    def __init__(self):
        self.abstract: dict[tuple[bytes, int], UnixSocket] = {}
        self.inodes: dict[tuple[int, int], UnixSocket] = {}
        self.made: set[tuple[int, int]] = set()   # socket inodes the guest made (stale ones too)
        self.next_autobind = int.from_bytes(os.urandom(3), "little") & 0xFFFFF


def unix_table(kernel) -> UnixTable:
    table = getattr(kernel, "unix_sockets", None)
    if table is None:
        table = kernel.unix_sockets = UnixTable()
    return table


def task_creds(task) -> tuple[int, int, int]:
    """(pid, uid, gid) as SCM_CREDENTIALS carries them: the thread group, real ids."""
    return task.tgid, task.creds.uid, task.creds.gid


def peer_creds(task) -> tuple[int, int, int]:
    """SO_PEERCRED's ucred: the thread group and the effective ids."""
    return task.tgid, task.creds.euid, task.creds.egid


class UnixSocket(OpenFile):
    _next_inode = 0x30000

    def __init__(self, kernel, sock_type: int, flags: int = O_RDWR):
        self.kernel = kernel
        self.type = sock_type
        self.flags = O_RDWR | (flags & O_NONBLOCK)
        self.refs = 1
        self.state = TCP_CLOSE
        self.addr: bytes | None = None          # the bound sockaddr_un, as getsockname gives it
        self.key = None                          # where it is in the UnixTable
        self.peer: UnixSocket | None = None
        self.queue: deque[Skb] = deque()
        self.accept_q: deque[UnixSocket] = deque()
        self.backlog = 0
        self.shutdown = 0
        self.err = 0
        self.dead = False
        self.embryo = False                      # released from a listener's queue, not accepted
        self.wmem = 0
        self.sndbuf = self.rcvbuf = WMEM_DEFAULT
        self.rcvtimeo = self.sndtimeo = 0.0      # seconds; 0: wait for ever
        self.passcred = False
        self.peercred: tuple[int, int, int] | None = None
        self.options: dict[int, int] = {}         # the plain int options (SO_REUSEADDR, ...)
        self.linger = (0, 0)
        self.wq = WaitQueue()
        creds = kernel.current.creds if kernel.current is not None else kernel.init.creds
        self.uid, self.gid = creds.euid, creds.egid
        UnixSocket._next_inode += 1
        self.inode = UnixSocket._next_inode
        self.path = f"socket:[{self.inode}]"

    # --- the OpenFile interface -----------------------------------------------------------
    def stat(self):
        return os.stat_result((S_IFSOCK | 0o777, self.inode, SOCKFS_DEV, 1, self.uid, self.gid,
                               0, 0, 0, 0))

    def read(self, n: int):
        if n == 0:
            return b""                                # sock_read_iter: SYS5's answer, at once
        task = self.kernel.current
        got = []
        r = self.recvmsg(task, n, 0, lambda off, data: got.append(data) or True)
        return r if isinstance(r, int) else b"".join(got)[:r.n]

    def write(self, data: bytes):
        return self.sendmsg(self.kernel.current, data, 0, None, [], None)

    def inq(self) -> int:
        """unix_inq_len (FIONREAD/SIOCINQ): bytes queued (stream), the next datagram's size."""
        if self.state == TCP_LISTEN:
            return -errno.EINVAL
        if self.type == SOCK_STREAM:
            return sum(len(skb.data) for skb in self.queue)
        return len(self.queue[0].data) if self.queue else 0

    def poll_events(self) -> int:
        """unix_poll / unix_dgram_poll."""
        ev = POLLERR if self.err else 0
        if self.shutdown == SHUTDOWN_MASK:
            ev |= POLLHUP
        if self.shutdown & RCV_SHUTDOWN:
            ev |= POLLRDHUP | POLLIN
        if self.queue or self.accept_q:
            ev |= POLLIN
        if self.type != SOCK_DGRAM and self.state == TCP_CLOSE:
            ev |= POLLHUP
        writable = self.state != TCP_LISTEN and self.wmem * 4 <= self.sndbuf
        other = self.peer
        if self.type != SOCK_STREAM and other is not None and other.peer is not self and \
                len(other.queue) > MAX_DGRAM_QLEN:
            writable = False
        return ev | (POLLOUT | POLLWRBAND if writable else 0)

    def release(self):
        """unix_release_sock: leave the name table, shut the connection down for the peer,
        drop what is queued (and the files in it) and the connections nobody accepted."""
        self.dead = True
        self.unhash()
        other = self.peer
        if other is not None and self.type != SOCK_DGRAM:
            other.shutdown = SHUTDOWN_MASK
            if self.queue or self.embryo:            # bytes never read, a connection never taken
                other.err = errno.ECONNRESET
            other.wake()
        self.peer = None
        self.purge()
        while self.accept_q:
            embryo = self.accept_q.popleft()
            embryo.embryo = True
            embryo.put()
        self.state = TCP_CLOSE
        self.wake()

    def purge(self):
        while self.queue:
            self.free_skb(self.queue.popleft())

    def free_skb(self, skb: Skb):
        for f in skb.fds:
            f.put()
        skb.fds = []
        self.uncharge(skb)

    @staticmethod
    def uncharge(skb: Skb):
        sender = skb.sender
        if sender is not None:
            sender.wmem -= skb.truesize
            skb.sender = _Gone(sender.addr)
            sender.wake()

    def wake(self):
        self.wq.wake_all()
        self.kernel.poll_wait.wake_all()

    def unhash(self):
        if self.key is not None:
            table = unix_table(self.kernel)
            (table.abstract if self.key[0] == "abstract" else table.inodes).pop(self.key[1], None)
            self.key = None

    # --- waiting ----------------------------------------------------------------------------
    def wait(self, task, wchan: str, timeo: float, nonblock: bool, queues=None) -> int:
        """Sleep (raise) until woken, or -EAGAIN when the caller may not wait or its
        SO_RCVTIMEO/SO_SNDTIMEO has run out."""
        if nonblock:
            return -errno.EAGAIN
        if "deadline" not in task.restart:
            task.restart["deadline"] = time.monotonic() + timeo if timeo else None
        deadline = task.restart["deadline"]
        if deadline is not None and time.monotonic() >= deadline:
            return -errno.EAGAIN
        raise Sleep(wchan, queues=queues or (self.wq,), deadline=deadline)

    def nonblocking(self, flags: int) -> bool:
        return bool(self.flags & O_NONBLOCK or flags & MSG_DONTWAIT)

    # --- names ------------------------------------------------------------------------------
    def autobind(self):
        """unix_autobind: an abstract name of five hex digits."""
        if self.addr is not None:
            return 0
        table = unix_table(self.kernel)
        for _ in range(0x100000):
            table.next_autobind = (table.next_autobind + 1) & 0xFFFFF
            name = b"\0" + b"%05x" % table.next_autobind
            if (name, self.type) not in table.abstract:
                self.bind_abstract(name)
                return 0
        return -errno.ENOSPC

    def bind_abstract(self, name: bytes) -> int:
        table = unix_table(self.kernel)
        if self.addr is not None:
            return -errno.EINVAL
        if (name, self.type) in table.abstract:
            return -errno.EADDRINUSE
        table.abstract[(name, self.type)] = self
        self.key = ("abstract", (name, self.type))
        self.addr = AF_UNIX.to_bytes(2, "little") + name
        return 0

    def bind_inode(self, st, path: bytes):
        table = unix_table(self.kernel)
        key = (st.st_dev, st.st_ino)
        table.inodes[key] = self
        table.made.add(key)
        self.key = ("inode", key)
        self.addr = AF_UNIX.to_bytes(2, "little") + path + b"\0"

    # --- connections ------------------------------------------------------------------------
    def listen(self, task, backlog: int) -> int:
        if self.type == SOCK_DGRAM:
            return -errno.EOPNOTSUPP
        if self.addr is None or self.state not in (TCP_CLOSE, TCP_LISTEN):
            return -errno.EINVAL
        self.backlog = min(max(backlog, 0), SOMAXCONN) if backlog >= 0 else SOMAXCONN
        if self.state != TCP_LISTEN:
            self.peercred = peer_creds(task)
        self.state = TCP_LISTEN
        self.wake()
        return 0

    def stream_connect(self, task, other: "UnixSocket") -> int:
        """unix_stream_connect, once the name has been looked up."""
        if other.type != self.type:
            return -errno.EPROTOTYPE
        if other.state != TCP_LISTEN or other.dead:
            return -errno.ECONNREFUSED
        if len(other.accept_q) > other.backlog:
            r = self.wait(task, "unix_wait_for_peer", self.sndtimeo, self.nonblocking(0),
                          (other.wq, self.wq))
            return r
        if self.state == TCP_ESTABLISHED:
            return -errno.EISCONN
        if self.state != TCP_CLOSE:
            return -errno.EINVAL
        if self.passcred:
            self.autobind()
        embryo = UnixSocket(self.kernel, self.type)
        embryo.state = TCP_ESTABLISHED
        embryo.peer = self
        embryo.addr = other.addr
        embryo.peercred = peer_creds(task)
        embryo.sndbuf, embryo.rcvbuf = other.sndbuf, other.rcvbuf
        self.peer = embryo
        self.state = TCP_ESTABLISHED
        self.peercred = other.peercred
        other.accept_q.append(embryo)
        other.wake()
        return 0

    def accept(self, task, nonblock: bool):
        if self.type == SOCK_DGRAM:
            return -errno.EOPNOTSUPP
        if self.state != TCP_LISTEN:
            return -errno.EINVAL
        if not self.accept_q:
            return self.wait(task, "unix_accept", self.rcvtimeo, nonblock or self.nonblocking(0))
        embryo = self.accept_q.popleft()
        embryo.passcred = self.passcred
        self.wake()                                   # a connect waiting for room goes on
        return embryo

    def dgram_connect(self, task, other: "UnixSocket | None") -> int:
        """unix_dgram_connect: set (or with AF_UNSPEC dissolve) the default destination,
        which also makes this socket take datagrams only from it."""
        if other is not None:
            if other.type != self.type:
                return -errno.EPROTOTYPE
            if other.peer is not None and other.peer is not self:
                return -errno.EPERM
            if self.passcred:
                self.autobind()
        self.peer = other
        self.wake()
        return 0

    def do_shutdown(self, how: int) -> int:
        if how < 0 or how > 2:
            return -errno.EINVAL
        mode = how + 1
        self.shutdown |= mode
        other = self.peer
        if other is not None and self.type != SOCK_DGRAM:
            peer_mode = (SEND_SHUTDOWN if mode & RCV_SHUTDOWN else 0) | \
                (RCV_SHUTDOWN if mode & SEND_SHUTDOWN else 0)
            other.shutdown |= peer_mode
            other.wake()
        self.wake()
        return 0

    # --- sending ----------------------------------------------------------------------------
    def sendmsg(self, task, data: bytes, flags: int, dest, fds: list, creds) -> int:
        """Send `data` (with `fds`, open files, and `creds`, explicit SCM_CREDENTIALS or None);
        `dest` is a looked-up socket or an -errno from the lookup, or None (no address)."""
        if self.type == SOCK_STREAM:
            return self.stream_sendmsg(task, data, flags, dest, fds, creds)
        return self.dgram_sendmsg(task, data, flags, dest, fds, creds)

    def _pipe_error(self, task, flags: int, done: int, signal: bool = True) -> int:
        task.restart = {}
        if done:
            return done
        if signal and not flags & MSG_NOSIGNAL:
            from elfkit.kernel.signals import send_sig
            send_sig(task, 13, task)                        # SIGPIPE
        return -errno.EPIPE

    def stream_sendmsg(self, task, data, flags, dest, fds, creds) -> int:
        if flags & MSG_OOB:
            return -errno.EOPNOTSUPP
        if dest is not None:
            return -errno.EISCONN if self.state == TCP_ESTABLISHED else -errno.EOPNOTSUPP
        other = self.peer
        if other is None:
            return -errno.ENOTCONN
        if self.shutdown & SEND_SHUTDOWN:
            return self._pipe_error(task, flags, 0)
        creds = creds or task_creds(task)
        done = task.restart.get("done", 0)
        while done < len(data):
            if self.wmem >= self.sndbuf:
                task.restart["done"] = done
                r = self.wait(task, "sock_alloc_send_pskb", self.sndtimeo, self.nonblocking(flags))
                task.restart = {}
                return done or r
            if other.dead or other.shutdown & RCV_SHUTDOWN:
                return self._pipe_error(task, flags, done)
            size = min(len(data) - done, (self.sndbuf >> 1) - 64)
            skb = Skb(data[done:done + size], [f.get() for f in fds] if done == 0 else [],
                      creds, self)
            self.queue_to(other, skb)
            done += size
        task.restart = {}
        return done

    def queue_to(self, other: "UnixSocket", skb: Skb):
        self.wmem += skb.truesize
        other.queue.append(skb)
        other.wake()

    def dgram_sendmsg(self, task, data, flags, dest, fds, creds) -> int:
        """unix_dgram_sendmsg (and unix_seqpacket_sendmsg before it)."""
        if self.type == SOCK_SEQPACKET:
            if self.state != TCP_ESTABLISHED:
                return -errno.ENOTCONN
            dest = None
        if flags & MSG_OOB:
            return -errno.EOPNOTSUPP
        if isinstance(dest, int):
            return dest
        if dest is None and self.peer is None:
            return -errno.ENOTCONN
        if self.shutdown & SEND_SHUTDOWN:
            return self._pipe_error(task, flags, 0, signal=False)
        if self.passcred:
            self.autobind()
        if len(data) > self.sndbuf - 32:
            return -errno.EMSGSIZE
        nonblock = self.nonblocking(flags)
        if self.wmem >= self.sndbuf:
            return self.wait(task, "sock_alloc_send_pskb", self.sndtimeo, nonblock)
        other = dest if dest is not None else self.peer
        if other.type != self.type:
            return -errno.EPROTOTYPE
        if other.peer is not None and other.peer is not self:
            return -errno.EPERM
        if other.dead:
            if dest is None:
                self.peer = None
                return -errno.EPIPE if self.type == SOCK_SEQPACKET else -errno.ECONNREFUSED
            return -errno.ECONNREFUSED
        if other.shutdown & RCV_SHUTDOWN:
            return self._pipe_error(task, flags, 0, signal=False)
        if other.peer is not self and len(other.queue) > MAX_DGRAM_QLEN:
            return self.wait(task, "unix_wait_for_peer", self.sndtimeo, nonblock,
                             (other.wq, self.wq))
        self.queue_to(other, Skb(data, [f.get() for f in fds], creds or task_creds(task), self))
        task.restart = {}
        return len(data)

    # --- receiving --------------------------------------------------------------------------
    def recvmsg(self, task, size: int, flags: int, deliver):
        """Take what a read gets: `deliver(offset, bytes)` copies bytes out (False: a fault).
        Returns a Received or -errno (and may raise Sleep)."""
        if self.type == SOCK_STREAM:
            return self.stream_recvmsg(task, size, flags, deliver)
        return self.dgram_recvmsg(task, size, flags, deliver)

    def take_error(self) -> int:
        err, self.err = self.err, 0
        return err

    def stream_recvmsg(self, task, size, flags, deliver):
        """unix_stream_read_generic."""
        if self.state != TCP_ESTABLISHED:
            return -errno.EINVAL
        if flags & MSG_OOB:
            return -errno.EINVAL                      # no out-of-band byte is ever there
        peek = flags & MSG_PEEK
        done = 0 if peek else task.restart.get("done", 0)
        target = size if flags & MSG_WAITALL else min(1, size)
        out = Received()
        creds = None
        i = 0
        while done < size:
            skb = self.queue[i] if i < len(self.queue) else None
            if skb is None:
                if done >= target:
                    break
                err = self.take_error()
                if err:
                    return done or -err
                if self.shutdown & RCV_SHUTDOWN:
                    break
                if not peek and done:
                    task.restart["done"] = done
                r = self.wait(task, "unix_stream_read_generic", self.rcvtimeo,
                              self.nonblocking(flags))
                return done or r
            if self.passcred:
                if creds is None:
                    creds = skb.creds
                elif skb.creds != creds:
                    break
            take = min(len(skb.data), size - done)
            if take and not deliver(done, skb.data[:take]):
                if not done:
                    return -errno.EFAULT
                break
            if out.addr is None:
                out.addr = skb.sender.addr
            done += take
            if self.passcred:
                out.creds = skb.creds
            fds = skb.fds
            if peek:
                i += 1
                if fds:
                    out.fds = [f.get() for f in fds]
            else:
                skb.data = skb.data[take:]
                skb.fds = []
                out.fds = fds
                if not skb.data:
                    self.queue.popleft()
                    self.uncharge(skb)
                else:
                    skb.sender is not None and skb.sender.wake()
            if fds:
                break
        out.n = done
        task.restart = {}
        return out

    def dgram_recvmsg(self, task, size, flags, deliver):
        """unix_dgram_recvmsg (seqpacket: only connected)."""
        if self.type == SOCK_SEQPACKET and self.state != TCP_ESTABLISHED:
            return -errno.ENOTCONN
        if flags & MSG_OOB:
            return -errno.EOPNOTSUPP
        if not self.queue:
            err = self.take_error()
            if err:
                return -err
            if self.shutdown & RCV_SHUTDOWN:
                return Received()
            return self.wait(task, "__skb_wait_for_more_packets", self.rcvtimeo,
                             self.nonblocking(flags))
        skb = self.queue[0]
        out = Received()
        if not flags & MSG_PEEK:
            self.queue.popleft()
            out.fds, skb.fds = skb.fds, []
            self.uncharge(skb)
            self.wake()                               # senders waiting for room in this queue
        else:
            out.fds = [f.get() for f in skb.fds]
        n = min(size, len(skb.data))
        if n and not deliver(0, skb.data[:n]):
            for f in out.fds:
                f.put()
            return -errno.EFAULT
        out.addr = skb.sender.addr
        if self.passcred:
            out.creds = skb.creds
        if len(skb.data) > size:
            out.msg_flags |= MSG_TRUNC
        out.n = len(skb.data) if flags & MSG_TRUNC else n
        task.restart = {}
        return out


class Received:
    """What a receive got: the count returned, the sender's address, files, credentials."""
    __slots__ = ("n", "addr", "fds", "creds", "msg_flags")

    def __init__(self):
        self.n, self.addr, self.fds, self.creds, self.msg_flags = 0, None, [], None, 0


class _Gone:
    """A sender that has been uncharged (its bytes read): only its address is still wanted."""
    __slots__ = ("addr",)

    def __init__(self, addr):
        self.addr = addr

    def wake(self):
        pass


def make_pair(kernel, task, sock_type: int, flags: int) -> tuple[UnixSocket, UnixSocket]:
    """unix_socketpair: two sockets connected to each other, each with the creator's creds."""
    a, b = UnixSocket(kernel, sock_type, flags), UnixSocket(kernel, sock_type, flags)
    a.peer, b.peer = b, a
    if sock_type != SOCK_DGRAM:
        a.state = b.state = TCP_ESTABLISHED
    a.peercred = b.peercred = peer_creds(task)
    return a, b
