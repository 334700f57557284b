"""ipc/mqueue.c: POSIX message queues, inside the guest.

A queue is named in the IPC namespace's own mqueue "file system" (names have
no '/' inside: glibc strips the leading one); mq_open gives a descriptor
(always close-on-exec, as the kernel makes it) to an `MqFile`, which poll,
select and epoll see ready for reading when a message is there and for writing
while there is room. Messages come out highest priority first, FIFO within a
priority. A full queue makes a sender wait, an empty one a receiver (EAGAIN
with O_NONBLOCK; ETIMEDOUT at the absolute CLOCK_REALTIME timeout). Limits are
the defaults of /proc/sys/fs/mqueue (msg_max 10, msgsize_max 8192,
queues_max 256) and RLIMIT_MSGQUEUE, as for a process without
CAP_SYS_RESOURCE.

mq_notify: SIGEV_SIGNAL (si_code SI_MESGQ, si_value, the sender's pid and uid)
and SIGEV_NONE when a message arrives on an empty queue no receiver waits on;
SIGEV_THREAD needs a netlink socket, which the guest cannot have. (A process
that execs keeps its registration here; the kernel stops signalling it.) The registration ends when the last descriptor to the queue is closed
or its process is gone (the kernel drops it at the owner's every close).
"""
from __future__ import annotations

import errno
import os
import struct
import time

from elfkit.kernel.fs.files import O_ACCMODE, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, OpenFile
from elfkit.kernel.wait import Sleep, WaitQueue

MSG_MAX, MSGSIZE_MAX, MSG_DEFAULT, MSGSIZE_DEFAULT, QUEUES_MAX = 10, 8192, 10, 8192, 256
MQ_PRIO_MAX = 32768
NAME_MAX = 255
MQ_ATTR = struct.Struct("<8q")
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD = 0, 1, 2
SI_MESGQ = -3
RLIMIT_MSGQUEUE = 12
POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM = 0x1, 0x4, 0x40, 0x100
S_IFREG = 0o100000


class MQueue:
    """mqueue_inode_info."""
    _next_inode = 0x30000

    def __init__(self, ns, name, mode, uid, gid, maxmsg, msgsize):
        self.ns, self.name = ns, name
        self.mode, self.uid, self.gid = mode, uid, gid
        self.maxmsg, self.msgsize = maxmsg, msgsize
        self.messages: list[tuple[int, bytes]] = []     # highest priority first
        self.senders, self.receivers = WaitQueue(), WaitQueue()
        self.notify = None                  # (owner task, sigev_notify, signo)
        self.opened = 0
        self.linked = True
        MQueue._next_inode += 1
        self.inode = MQueue._next_inode
        self.bytes = mq_bytes(maxmsg, msgsize)

    @property
    def qsize(self) -> int:
        return sum(len(m) for _, m in self.messages)

    def changed(self):
        self.ns.kernel.poll_wait.wake_all()

    def insert(self, prio: int, data: bytes):
        i = 0
        while i < len(self.messages) and self.messages[i][0] >= prio:
            i += 1
        self.messages.insert(i, (prio, data))

    def do_notify(self, sender):
        """__do_notify: the first message of an empty queue tells the registered process."""
        if self.notify is None or len(self.messages) != 1:
            return
        owner, how, signo, value = self.notify
        self.notify = None
        if how == SIGEV_SIGNAL and signo and owner.state not in ("Z", "X"):
            from elfkit.kernel.signals import SigInfo, send_sig
            info = SigInfo(SI_MESGQ, sender.tgid, sender.creds.uid, value=value)
            send_sig(owner, signo, sender, code=SI_MESGQ, info=info)


def mq_bytes(maxmsg: int, msgsize: int) -> int:
    """What the queue charges against RLIMIT_MSGQUEUE (pointers, tree nodes, the messages)."""
    return maxmsg * 8 + min(maxmsg, MQ_PRIO_MAX) * 40 + maxmsg * msgsize


class MqFile(OpenFile):
    def __init__(self, q: MQueue, flags: int):
        self.q = q
        self.flags = flags
        self.refs = 1
        self.path = "/" + q.name
        self.pos = 0
        q.opened += 1

    def poll_events(self) -> int:
        q = self.q
        ev = POLLIN | POLLRDNORM if q.messages else 0
        return ev | (POLLOUT | POLLWRNORM if len(q.messages) < q.maxmsg else 0)

    def _text(self) -> bytes:
        """mqueue_read_file: the queue's state as /dev/mqueue shows it."""
        q = self.q
        how, signo, pid = 0, 0, 0
        if q.notify is not None:
            owner, how, signo, _ = q.notify
            pid = owner.tgid
        return (f"QSIZE:{q.qsize:<10d} NOTIFY:{how:<5d} SIGNO:{signo:<5d} "
                f"NOTIFY_PID:{pid:<6d}\n").encode()

    def read(self, n):
        data = self._text()[self.pos:self.pos + n]
        self.pos += len(data)
        return data

    def write(self, data):
        return -errno.EBADF

    def stat(self):
        q = self.q
        return os.stat_result((S_IFREG | q.mode, q.inode, 0x13, 1, q.uid, q.gid, q.qsize, 0, 0, 0))

    def release(self):
        q = self.q
        q.opened -= 1
        if q.opened == 0 and q.notify is not None:
            q.notify = None
        if q.opened == 0 and not q.linked:
            q.ns.charged[q.uid] = q.ns.charged.get(q.uid, 0) - q.bytes


class MqNamespace:
    def __init__(self, kernel):
        self.kernel = kernel
        self.queues: dict[str, MQueue] = {}
        self.charged: dict[int, int] = {}        # uid -> bytes of RLIMIT_MSGQUEUE in use

    def _name(self, p, ptr):
        raw = p.mm.read_cstring(ptr, 4096)
        if raw is None:
            return -errno.EFAULT
        if not raw:
            return -errno.ENOENT                 # getname: an empty path
        name = os.fsdecode(raw)
        if len(raw) > NAME_MAX:
            return -errno.ENAMETOOLONG
        if not name or "/" in name or name in (".", ".."):
            return -errno.EACCES                 # lookup_one_len's refusals
        return name

    def mq_open(self, p, name_ptr, oflag, mode, attr_ptr) -> int:
        attr = None
        if attr_ptr:
            raw = p.mm.read(attr_ptr, MQ_ATTR.size)
            if raw is None:
                return -errno.EFAULT
            attr = MQ_ATTR.unpack(raw)
        name = self._name(p, name_ptr)
        if isinstance(name, int):
            return name
        q = self.queues.get(name)
        if q is None:
            if not oflag & os.O_CREAT:
                return -errno.ENOENT
            q = self._create(p, name, mode, attr)
            if isinstance(q, int):
                return q
        else:
            if oflag & os.O_CREAT and oflag & os.O_EXCL:
                return -errno.EEXIST
            if oflag & O_ACCMODE == O_ACCMODE:
                return -errno.EINVAL
            want = {O_RDONLY: 4, O_WRONLY: 2, O_RDWR: 6}[oflag & O_ACCMODE]
            if not _permitted(p, q, want):
                return -errno.EACCES
        f = MqFile(q, oflag & (O_ACCMODE | O_NONBLOCK))
        fd = p.files.install(f, cloexec=True)
        if fd < 0:
            f.put()
        return fd

    def _create(self, p, name, mode, attr):
        if attr is not None:
            maxmsg, msgsize = attr[1], attr[2]
            if maxmsg <= 0 or msgsize <= 0:
                return -errno.EINVAL
            if maxmsg > MSG_MAX or msgsize > MSGSIZE_MAX:
                return -errno.EINVAL                 # (no CAP_SYS_RESOURCE)
        else:
            maxmsg, msgsize = min(MSG_DEFAULT, MSG_MAX), min(MSGSIZE_DEFAULT, MSGSIZE_MAX)
        if len(self.queues) >= QUEUES_MAX:
            return -errno.ENOSPC
        uid = p.creds.euid
        cost = mq_bytes(maxmsg, msgsize)
        if self.charged.get(uid, 0) + cost > p.rlimit(RLIMIT_MSGQUEUE)[0]:
            return -errno.EMFILE
        self.charged[uid] = self.charged.get(uid, 0) + cost
        q = MQueue(self, name, mode & ~p.umask & 0o7777, uid, p.creds.egid, maxmsg, msgsize)
        self.queues[name] = q
        return q

    def mq_unlink(self, p, name_ptr) -> int:
        name = self._name(p, name_ptr)
        if isinstance(name, int):
            return name
        q = self.queues.get(name)
        if q is None:
            return -errno.ENOENT
        # the mqueue root is root's and sticky (1777): only the queue's owner or root may
        if p.creds.euid not in (0, q.uid):
            return -errno.EPERM
        del self.queues[name]
        q.linked = False
        if q.opened == 0:
            self.charged[q.uid] = self.charged.get(q.uid, 0) - q.bytes
        return 0

    def _file(self, p, fd):
        f = p.files.get(fd)
        return f if isinstance(f, MqFile) else None

    def timedsend(self, p, fd, msg_ptr, msg_len, prio, deadline) -> int:
        if prio >= MQ_PRIO_MAX:
            return -errno.EINVAL
        f = self._file(p, fd)
        if f is None or (f.flags & O_ACCMODE) not in (O_WRONLY, O_RDWR):
            return -errno.EBADF
        q = f.q
        if msg_len > q.msgsize:
            return -errno.EMSGSIZE
        data = p.mm.read(msg_ptr, msg_len)
        if data is None:
            return -errno.EFAULT
        if len(q.messages) >= q.maxmsg:
            if f.flags & O_NONBLOCK:
                return -errno.EAGAIN
            if deadline is not None and time.monotonic() >= deadline:
                return -errno.ETIMEDOUT
            raise Sleep("do_mq_timedsend", queues=(q.senders,), deadline=deadline)
        waiting_receiver = bool(q.receivers.waiters)
        q.insert(prio, data)
        if not waiting_receiver:                 # (pipelined_send bypasses the notification)
            q.do_notify(p)
        q.receivers.wake_all()
        q.changed()
        return 0

    def timedreceive(self, p, fd, msg_ptr, msg_len, prio_ptr, deadline) -> int:
        f = self._file(p, fd)
        if f is None or (f.flags & O_ACCMODE) not in (O_RDONLY, O_RDWR):
            return -errno.EBADF
        q = f.q
        if msg_len < q.msgsize:
            return -errno.EMSGSIZE
        if not q.messages:
            if f.flags & O_NONBLOCK:
                return -errno.EAGAIN
            if deadline is not None and time.monotonic() >= deadline:
                return -errno.ETIMEDOUT
            raise Sleep("do_mq_timedreceive", queues=(q.receivers,), deadline=deadline)
        prio, data = q.messages.pop(0)
        q.senders.wake_all()
        q.changed()
        if prio_ptr and not p.mm.write(prio_ptr, struct.pack("<I", prio)):
            return -errno.EFAULT
        if not p.mm.write(msg_ptr, data):
            return -errno.EFAULT
        return len(data)

    def notify(self, p, fd, sev_ptr) -> int:
        sev = None
        if sev_ptr:
            raw = p.mm.read(sev_ptr, 64)
            if raw is None:
                return -errno.EFAULT
            value, signo, how = struct.unpack_from("<Qii", raw)
            if how not in (SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD):
                return -errno.EINVAL
            if how == SIGEV_SIGNAL and not 0 <= signo <= 64:
                return -errno.EINVAL
            if how == SIGEV_THREAD:
                sock = p.files.get(signo)
                if sock is None:
                    return -errno.EBADF
                p.warn_once("mq_notify-thread", "mq_notify: SIGEV_THREAD needs a netlink socket, "
                            "which the guest cannot have (-ECONNREFUSED)")
                return -errno.ECONNREFUSED
            sev = (how, signo, value)
        f = self._file(p, fd)
        if f is None:
            return -errno.EBADF
        q = f.q
        if sev is None:
            if q.notify is not None and q.notify[0].tgid == p.tgid:
                q.notify = None
            return 0
        if q.notify is not None and q.notify[0].state not in ("Z", "X"):
            return -errno.EBUSY
        q.notify = (p, *sev)
        return 0

    def getsetattr(self, p, fd, new_ptr, old_ptr) -> int:
        new = None
        if new_ptr:
            raw = p.mm.read(new_ptr, MQ_ATTR.size)
            if raw is None:
                return -errno.EFAULT
            new = MQ_ATTR.unpack(raw)
            if new[0] & ~O_NONBLOCK:
                return -errno.EINVAL
        f = self._file(p, fd)
        if f is None:
            return -errno.EBADF
        q = f.q
        old = MQ_ATTR.pack(f.flags & O_NONBLOCK, q.maxmsg, q.msgsize, len(q.messages), 0, 0, 0, 0)
        if new is not None:
            f.flags = (f.flags & ~O_NONBLOCK) | (new[0] & O_NONBLOCK)
        if old_ptr and not p.mm.write(old_ptr, old):
            return -errno.EFAULT
        return 0


def _permitted(p, q: MQueue, want: int) -> bool:
    """inode_permission on the queue: owner, group or other bits (no CAP_DAC_OVERRIDE)."""
    mode = q.mode
    if p.creds.euid == q.uid:
        bits = mode >> 6
    elif p.creds.egid == q.gid:
        bits = mode >> 3
    else:
        bits = mode
    return not (want & ~bits & 7)
