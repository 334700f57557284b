"""Sockets beyond the C fixtures (fixtures/src/sys/unix_*.c): real programs -- python3's socketpair,
selectors and asyncio event loops -- run natively and under elfkit, and the network policy
(EACCES without --allow-net, host sockets with it), compared with the native run."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import run_elfkit

PYTHON = "/usr/bin/python3"
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}

pytestmark = pytest.mark.skipif(not os.path.exists(PYTHON), reason="no python3 to run")

SELECTORS_ECHO = r"""
import os, selectors, socket
a, b = socket.socketpair()
pid = os.fork()
if pid == 0:
    a.close()
    while True:
        data = b.recv(100)
        if not data:
            os._exit(0)
        b.sendall(data.upper())
b.close()
sel = selectors.DefaultSelector()
sel.register(a, selectors.EVENT_READ)
for word in (b"one", b"two", b"three"):
    a.sendall(word)
    for key, ev in sel.select(timeout=10):
        print(key.fileobj.recv(100))
a.close()
print(os.waitpid(pid, 0)[1])
d1, d2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
d1.send(b"x" * 10); d1.send(b"yy")
print(d2.recv(4), d2.recv(100))
print(d1.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE), d1.family)
"""

ASYNCIO_UNIX = r"""
import asyncio, os, sys
path = os.path.join(sys.argv[1], "echo.sock")
async def handle(reader, writer):
    data = await reader.readline()
    writer.write(data[::-1])
    await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_unix_server(handle, path)
    r, w = await asyncio.open_unix_connection(path)
    w.write(b"hello elfkit\n")
    await w.drain()
    print(await r.read())
    w.close()
    server.close()
    await server.wait_closed()
    print(os.path.exists(path))
asyncio.run(asyncio.sleep(0))
asyncio.run(main())
print("ok")
"""

INET = r"""
import socket
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
except OSError as e:
    print("socket", e.errno)
    raise SystemExit
s.bind(("127.0.0.1", 0))
s.listen(1)
c = socket.create_connection(s.getsockname())
k, _ = s.accept()
c.sendall(b"ping")
print(k.recv(10))
k.sendall(b"pong")
print(c.recv(10))
c.close()
print(k.recv(10))
print(k.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE))
"""


def native(script, *args):
    return subprocess.run([PYTHON, "-c", script, *args], capture_output=True, env=ENV, timeout=60)


def emulated(script, *args, options=()):
    return run_elfkit("load-and-run", *options, PYTHON, "-c", script, *args,
                      env={**os.environ, **ENV}, timeout=300)


def warnings(proc):
    return [ln for ln in proc.stderr.decode(errors="replace").splitlines() if ln.startswith("elfkit:")]


def test_selectors_socketpair_echo_with_a_child():
    want, got = native(SELECTORS_ECHO), emulated(SELECTORS_ECHO)
    assert want.returncode == 0, want.stderr
    assert got.stdout == want.stdout and got.returncode == 0, got.stderr
    assert not warnings(got), got.stderr


def test_asyncio_unix_server(tmp_path):
    (tmp_path / "n").mkdir()
    (tmp_path / "e").mkdir()
    want = native(ASYNCIO_UNIX, str(tmp_path / "n"))
    got = emulated(ASYNCIO_UNIX, str(tmp_path / "e"), options=("--allow-write", tmp_path / "e"))
    assert want.returncode == 0, want.stderr
    assert got.stdout == want.stdout and got.returncode == 0, got.stderr
    assert not [w for w in warnings(got) if "unsupported system call" in w], got.stderr


def test_network_refused_without_allow_net():
    got = emulated(INET)
    assert got.stdout == b"socket 13\n", got.stderr              # EACCES
    lines = warnings(got)
    assert len([w for w in lines if "network access is not allowed" in w]) == 1, lines


def test_allow_net_gives_host_sockets():
    want, got = native(INET), emulated(INET, options=("--allow-net",))
    assert want.returncode == 0, want.stderr
    assert got.stdout == want.stdout and got.returncode == 0, got.stderr


def test_nss_start_up_stays_quiet():
    """glibc's NSS tries nscd's AF_UNIX socket first: it fails as natively, with no warning."""
    script = "import pwd, grp; print(pwd.getpwuid(0).pw_name, grp.getgrgid(0).gr_name)"
    want, got = native(script), emulated(script)
    assert got.stdout == want.stdout, got.stderr
    assert not warnings(got), got.stderr


def test_unix_socket_calls_traced_like_strace(tmp_path):
    """--strace shows the socket calls by name (no unknown numbers)."""
    got = run_elfkit("load-and-run", "--strace", PYTHON, "-c", SELECTORS_ECHO,
                     env={**os.environ, **ENV}, timeout=300)
    err = got.stderr.decode(errors="replace")
    assert "socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0" in err, err[-2000:]
    assert "syscall_" not in err


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
