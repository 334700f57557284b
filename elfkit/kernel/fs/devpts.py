"""fs/devpts and drivers/tty/pty.c: pseudo-terminals the guest makes for itself.

Opening /dev/ptmx gives the guest a new host pseudo-terminal pair (what script(1),
expect and terminal multiplexers do): nothing the user had is changed by that, so it
is allowed under the read-only policy, and so is opening that pair's /dev/pts/N -- but
no other /dev/pts/N: the user's own terminals stay out of the guest's reach. The
terminal ioctls on a pair the guest made go to the host's tty driver (termios, window
size, packet mode, locking), except the ones about sessions and process groups: those
name guest processes, which the host does not know, so elfkit keeps them per terminal
(TIOCSCTTY, TIOCNOTTY, TIOCSPGRP, TIOCGPGRP, TIOCGSID), as the kernel keeps them in
tty_struct.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import struct

PTMX = "/dev/ptmx"
_PTS = re.compile(r"/dev/pts/(\d+)\Z")

TIOCGPTN, TIOCSPTLCK, TIOCGPTLCK, TIOCGPTPEER = 0x80045430, 0x40045431, 0x80045439, 0x5441
TIOCSCTTY, TIOCNOTTY, TIOCGSID, TIOCSPGRP, TIOCGPGRP = 0x540E, 0x5422, 0x5429, 0x5410, 0x540F

# request -> how its argument travels: ("out", n) the driver writes n bytes there, ("in", n)
# reads n bytes from there, ("val", 0) the argument is a plain integer
PASS_THROUGH = {
    0x5401: ("out", 36), 0x5402: ("in", 36), 0x5403: ("in", 36), 0x5404: ("in", 36),  # TCGETS, TCSETS*
    0x802C542A: ("out", 44), 0x402C542B: ("in", 44), 0x402C542C: ("in", 44),          # termios2
    0x402C542D: ("in", 44),
    0x5413: ("out", 8), 0x5414: ("in", 8),                   # TIOCGWINSZ, TIOCSWINSZ
    TIOCGPTN: ("out", 4), TIOCSPTLCK: ("in", 4), TIOCGPTLCK: ("out", 4),
    0x5420: ("in", 4), 0x80045438: ("out", 4),               # TIOCPKT, TIOCGPKT
    0x541B: ("out", 4), 0x5411: ("out", 4),                  # FIONREAD, TIOCOUTQ
    0x5409: ("val", 0), 0x540A: ("val", 0), 0x540B: ("val", 0),   # TCSBRK, TCXONC, TCFLSH
    0x5425: ("val", 0), 0x5427: ("val", 0), 0x5428: ("val", 0),   # TCSBRKP, TIOCSBRK, TIOCCBRK
    0x540C: ("val", 0), 0x540D: ("val", 0), 0x80045440: ("out", 4),  # TIOCEXCL, TIOCNXCL, TIOCGEXCL
    0x5415: ("out", 4), 0x5416: ("in", 4), 0x5417: ("in", 4), 0x5418: ("in", 4),  # TIOCM*
    0x5423: ("out", 4), 0x5424: ("in", 4),                   # TIOCGETD, TIOCSETD
}


class Pty:
    """The state of one pair that lives in the guest's model: its session and foreground group.
    It is the guest's while its master is open; when the master's last descriptor closes the
    host may give the number to someone else's terminal, so it is forgotten then."""

    def __init__(self, index: int, table: dict):
        self.index = index
        self.table = table
        self.sid: int | None = None
        self.pgrp: int | None = None

    def master_closed(self):
        if self.table.get(self.index) is self:
            del self.table[self.index]


def pty_of(kernel, real_path: str) -> Pty | None:
    """The guest's own pair a resolved path names (/dev/pts/N it made), or None."""
    m = _PTS.match(real_path)
    return kernel.ptys.get(int(m.group(1))) if m else None


def may_open(kernel, real_path: str) -> bool:
    return real_path == PTMX or pty_of(kernel, real_path) is not None


def foreign_terminal(kernel, real_path: str, fd: int) -> bool:
    """A terminal that is not the guest's to open, for reading or writing: anything but
    /dev/tty (its controlling terminal: the user's), /dev/ptmx and the pairs it made -- the
    user's other terminals, consoles, serial lines."""
    if real_path in ("/dev/tty", PTMX) or pty_of(kernel, real_path) is not None:
        return False
    try:
        return os.isatty(fd)
    except OSError:
        return False


def opened(kernel, f, real_path: str):
    """After the host open of FILE: a new pair from /dev/ptmx is recorded, and the file knows
    its pair (f.pty), master or not."""
    if real_path == PTMX:
        try:
            index = struct.unpack("<i", fcntl.ioctl(f.fd, TIOCGPTN, bytes(4)))[0]
        except OSError:
            return
        f.pty = kernel.ptys[index] = Pty(index, kernel.ptys)
        f.pty_master = True
    else:
        f.pty = pty_of(kernel, real_path)


def ioctl(p, f, req: int, arg: int):
    """A terminal ioctl on a pair the guest made: the value for %rax, or None when it is not
    one of a pair's requests (the caller goes on)."""
    pty = f.pty
    if req == TIOCSCTTY:
        leader = p.sid == p.pid
        if not leader or pty.sid not in (None, p.sid):
            return -errno.EPERM
        pty.sid, pty.pgrp = p.sid, p.pgid
        return 0
    if req == TIOCNOTTY:
        if pty.sid != p.sid:
            return -errno.ENOTTY
        pty.sid = pty.pgrp = None
        return 0
    if req in (TIOCGSID, TIOCGPGRP):
        if pty.sid is None:
            return -errno.ENOTTY
        value = pty.sid if req == TIOCGSID else pty.pgrp
        return 0 if p.mm.write(arg, struct.pack("<i", value)) else -errno.EFAULT
    if req == TIOCSPGRP:
        raw = p.mm.read(arg, 4)
        if raw is None:
            return -errno.EFAULT
        pgrp = struct.unpack("<i", raw)[0]
        if pty.sid is None or pty.sid != p.sid:
            return -errno.ENOTTY
        if pgrp < 0:
            return -errno.EINVAL
        if not any(t.pgid == pgrp and t.sid == p.sid for t in p.kernel.guests()):
            return -errno.EPERM
        pty.pgrp = pgrp
        return 0
    if req == TIOCGPTPEER:
        return _peer(p, f, arg)
    how = PASS_THROUGH.get(req)
    if how is None:
        return None
    kind, size = how
    try:
        if kind == "val":
            fcntl.ioctl(f.fd, req, arg & 0xFFFFFFFF)
            return 0
        if kind == "in":
            raw = p.mm.read(arg, size)
            if raw is None:
                return -errno.EFAULT
            fcntl.ioctl(f.fd, req, raw)
            return 0
        out = fcntl.ioctl(f.fd, req, bytes(size))
    except OSError as e:
        return -(e.errno or errno.ENOTTY)
    return 0 if p.mm.write(arg, out) else -errno.EFAULT


def _peer(p, f, flags):
    """TIOCGPTPEER: the pair's other end, opened from the master without a path lookup."""
    from elfkit.kernel.fs.files import O_CLOEXEC, HostFile
    try:
        fd = fcntl.ioctl(f.fd, TIOCGPTPEER, (flags & ~O_CLOEXEC) | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        return -(e.errno or errno.ENOTTY)
    path = f"/dev/pts/{f.pty.index}"
    peer = HostFile(fd, path, flags & 0xFFFFFFFF, path)
    peer.pty = f.pty
    return p.files.install(peer, bool(flags & O_CLOEXEC))
