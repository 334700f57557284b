"""The remote serial protocol's framing (gdb's manual, "Remote Protocol", "Overview"):
`$payload#cs` packets with a two-hex-digit modulo-256 checksum, `+`/`-` acknowledgements until
QStartNoAckMode, `}`-escaping of `#$}*` in binary data (X packets, vFile:pread and qXfer
replies), and the interrupt byte 0x03 gdb sends while the program runs."""
from __future__ import annotations

import socket

INTERRUPT = b"\x03"


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def escape(data: bytes) -> bytes:
    """Binary data in a packet: `#`, `$`, `}` and `*` become `}` and the byte xor 0x20."""
    if not any(c in data for c in b"#$}*"):
        return data
    out = bytearray()
    for c in data:
        if c in b"#$}*":
            out += bytes((0x7D, c ^ 0x20))
        else:
            out.append(c)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    if b"}" not in data:
        return data
    out = bytearray()
    it = iter(data)
    for c in it:
        out.append(next(it, 0) ^ 0x20 if c == 0x7D else c)
    return bytes(out)


def parse_hostport(text: str) -> tuple[str, int]:
    """`[HOST:]PORT` -> (host, port); the host is 127.0.0.1 unless given."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r} is not [HOST:]PORT")
    return host, int(port)


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1)
    return srv


class Disconnected(Exception):
    """gdb closed the connection."""


class Connection:
    """One gdb connection: read_packet() gives the next command's payload (bytes), send()
    writes a reply. `interrupted` is set when a 0x03 byte came between packets."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.ack = True
        self.interrupted = False
        self.closed = False                     # gdb closed it (seen while the program ran)
        self.last_sent = b""

    def _fill(self) -> None:
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            raise Disconnected()
        self.buf += data

    def read_packet(self) -> bytes:
        while True:
            buf = self.buf
            # skip acknowledgements and noise before the next `$`; note interrupts
            while buf and buf[0] != 0x24:              # '$'
                c = buf[0]
                del buf[0]
                if c == 0x03:
                    self.interrupted = True
                elif c == 0x2D and self.ack and self.last_sent:     # '-': send it again
                    self.sock.sendall(self.last_sent)
            end = buf.find(b"#")
            if buf and end >= 0 and len(buf) >= end + 3:
                payload = bytes(buf[1:end])
                sent_cs = bytes(buf[end + 1:end + 3])
                del buf[:end + 3]
                ok = True
                try:
                    ok = int(sent_cs, 16) == checksum(payload)
                except ValueError:
                    ok = False
                if self.ack:
                    self.sock.sendall(b"+" if ok else b"-")
                if ok:
                    return payload
                continue
            self._fill()

    def poll_interrupt(self, wake_fd: int | None = None, timeout: float | None = 0) -> bool:
        """While the program runs: has gdb sent 0x03 (or closed the connection)? Waits up to
        `timeout` (None: until something comes, or `wake_fd` is readable)."""
        import select
        fds = [self.sock] + ([wake_fd] if wake_fd is not None else [])
        try:
            r, _, _ = select.select(fds, [], [], timeout)
        except (OSError, ValueError):
            return True
        if self.sock in r:
            try:
                data = self.sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return True
            self.buf += data
            if INTERRUPT[0] in self.buf:
                self.buf = bytearray(self.buf.replace(INTERRUPT, b""))
                self.interrupted = True
        return self.interrupted

    def send(self, payload: bytes | str) -> None:
        if isinstance(payload, str):
            payload = payload.encode("latin-1")
        packet = b"$" + payload + b"#" + b"%02x" % checksum(payload)
        self.last_sent = packet
        try:
            self.sock.sendall(packet)
        except OSError:
            raise Disconnected() from None
        # (with acks on, gdb's `+` is read and skipped before the next packet)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
