"""The guest's /proc/self: made from the guest's own state, never the host process's (elfkit's).

/proc/self, /proc/thread-self and /proc/<guest pid> are elfkit's; every other
/proc path is the host's, read-only.
"""
from __future__ import annotations

import errno
import os
import struct

from elfkit.kernel.files import HostFile, MemoryFile


def _self_item(p, guest_path: str) -> str | None:
    """'maps', 'exe', 'fd/3', ... when guest_path names something in the guest's /proc/self."""
    parts = os.path.normpath(guest_path).split("/")
    if len(parts) < 3 or parts[1] != "proc":
        return None
    who = parts[2]
    if who in ("self", "thread-self", str(p.pid)) or (len(parts) > 4 and parts[3] == "task" and
                                                       who == str(p.pid)):
        rest = parts[3:]
        if rest[:2] == ["task", str(p.tid)]:
            rest = rest[2:]
        return "/".join(rest)
    return None


_ITEMS = ("maps", "cmdline", "environ", "auxv", "comm", "stat", "status")


def _contents(p, item: str) -> bytes | None:
    if item == "maps":
        return p.mm.maps_text().encode()
    if item == "cmdline":
        return b"".join(a + b"\0" for a in p.argv)
    if item == "environ":
        return b"".join(e + b"\0" for e in p.envp)
    if item == "auxv":
        return b"".join(struct.pack("<QQ", k, v) for k, v in p.image.stack.auxv)
    if item == "comm":
        return os.path.basename(p.image.execfn).encode()[:15] + b"\n"
    if item == "stat":
        comm = os.path.basename(p.image.execfn)[:15]
        return (f"{p.pid} ({comm}) R {p.ppid} {p.pid} {p.pid} 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 "
                f"0 0 0 18446744073709551615 0 0 {p.image.stack.vma_start} 0 0 0 0 0 0 0 0 0 17 0 0 0 "
                f"0 0 0 0 0 0 0 0 0 0 0\n").encode()
    if item == "status":
        comm = os.path.basename(p.image.execfn)[:15]
        return (f"Name:\t{comm}\nState:\tR (running)\nTgid:\t{p.pid}\nPid:\t{p.pid}\n"
                f"PPid:\t{p.ppid}\nUid:\t{p.creds.uid}\t{p.creds.euid}\t{p.creds.uid}\t{p.creds.uid}\n"
                f"Gid:\t{p.creds.gid}\t{p.creds.egid}\t{p.creds.gid}\t{p.creds.gid}\n"
                f"Threads:\t1\n").encode()
    return None


def open_file(p, guest_path: str):
    item = _self_item(p, guest_path)
    if item is None:
        return None
    if item in ("exe", "cwd") or item.startswith("fd/"):
        # Opening the link opens what it points to (on the host side, the guest's file).
        if item == "exe":
            host, name = p.image.program.host_path, readlink(p, guest_path)
        elif item == "cwd":
            host, name = p.sysroot.host_path(p.cwd), p.cwd
        else:
            f = p.files.get(int(item[3:])) if item[3:].isdigit() else None
            host, name = getattr(f, "host_path", None), getattr(f, "path", "")
            if host is None:
                return -errno.ENOENT
        try:
            fd = os.open(host, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            return -(e.errno or errno.EIO)
        return HostFile(fd, name, 0, host)
    if item not in _ITEMS:
        return -errno.ENOENT
    return MemoryFile(guest_path, lambda: _contents(p, item))


def readlink(p, guest_path: str):
    item = _self_item(p, guest_path)
    if item is None:
        if os.path.normpath(guest_path) in ("/proc/self", "/proc/thread-self"):
            return str(p.pid) if guest_path.endswith("self") and "thread" not in guest_path \
                else f"{p.pid}/task/{p.tid}"
        return None
    if item == "exe":
        return p.image.program.display_path
    if item == "cwd":
        return p.cwd
    if item.startswith("fd/"):
        try:
            f = p.files.get(int(item[3:]))
        except ValueError:
            return -errno.ENOENT
        return -errno.ENOENT if f is None else f.path
    return -errno.EINVAL


def stat(p, guest_path: str, follow: bool):
    item = _self_item(p, guest_path)
    if item is None:
        return None
    if item == "exe" and follow:
        return os.stat(p.image.program.host_path)
    if item in ("exe", "cwd") or item.startswith("fd/"):
        return os.stat_result((0o120777, 0, 0x16, 1, p.creds.uid, p.creds.gid, 64, 0, 0, 0))
    if item == "" or item in ("fd", "task"):
        return os.stat_result((0o40555, 0, 0x16, 9, p.creds.uid, p.creds.gid, 0, 0, 0, 0))
    if item in _ITEMS:
        return os.stat_result((0o100444, 0, 0x16, 1, p.creds.uid, p.creds.gid, 0, 0, 0, 0))
    return -errno.ENOENT
