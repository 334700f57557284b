"""Memory system calls: brk, mmap, munmap, mprotect, mremap, madvise, msync, mincore, mlock."""
from __future__ import annotations

import errno

from elfkit.kernel.mm import MAP_ANONYMOUS
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR


def sys_brk(p, addr, *_):
    return p.mm.set_brk(addr) if addr else p.mm.brk


def sys_mmap(p, addr, length, prot, flags, fd, offset):
    f = None
    if not flags & MAP_ANONYMOUS:
        f = p.files.get(fd & 0xFFFFFFFF if fd < 1 << 63 else -1)
        if f is None:
            return -errno.EBADF
        if f.host_fd() is None and not hasattr(f, "data"):
            return -errno.ENODEV
        f = _Mappable(f, p)
    return p.mm.mmap(addr, length, prot, flags, f, offset)


class _Mappable:
    """What mm.mmap needs of a file: its name for /proc/self/maps, stat(), pread()."""

    def __init__(self, f, p):
        self.f = f
        host = getattr(f, "host_path", None)
        self.path = p.sysroot.display_path(host) if host else f.path

    def stat(self):
        st = self.f.stat()
        if isinstance(st, int):
            raise OSError(-st, "stat failed")
        return st

    def pread(self, n, off):
        data = self.f.pread(n, off)
        return b"" if isinstance(data, int) else data


def sys_munmap(p, addr, length, *_):
    return p.mm.munmap(addr, length)


def sys_mprotect(p, addr, length, prot, *_):
    return p.mm.mprotect(addr, length, prot)


def sys_mremap(p, old, old_size, new_size, flags, new_addr, *_):
    return p.mm.mremap(old, old_size, new_size, flags, new_addr)


def sys_madvise(p, addr, length, advice, *_):
    if addr & 0xFFF:
        return -errno.EINVAL
    if advice == 4:                         # MADV_DONTNEED: private anonymous pages read back as zero
        end = addr + ((length + 0xFFF) & ~0xFFF)
        for v in p.mm.overlaps(addr, end):
            if not v.inode and v.prot & 2:
                lo, hi = max(v.start, addr), min(v.end, end)
                p.cpu.write(lo, bytes(hi - lo))
    return 0


def sys_ok(p, *_):
    return 0


def sys_mincore(p, addr, length, vec, *_):
    n = (length + 0xFFF) // 0x1000
    if not p.mm.is_mapped(addr, addr + n * 0x1000):
        return -errno.ENOMEM
    return 0 if p.mm.write(vec, b"\x01" * n) else -errno.EFAULT


TABLE = [
    Syscall(NR.brk, sys_brk, ("hex",), "hex"),
    Syscall(NR.mmap, sys_mmap, ("hex", "size", "mmap_prot", "mmap_flags", "fd", "hex"), "hex"),
    Syscall(NR.munmap, sys_munmap, ("hex", "size")),
    Syscall(NR.mprotect, sys_mprotect, ("hex", "size", "mmap_prot")),
    Syscall(NR.mremap, sys_mremap, ("hex", "size", "size", "int", "hex"), "hex"),
    Syscall(NR.madvise, sys_madvise, ("hex", "size", "int")),
    Syscall(NR.msync, sys_ok, ("hex", "size", "int")),
    Syscall(NR.mlock, sys_ok, ("hex", "size")),
    Syscall(NR.munlock, sys_ok, ("hex", "size")),
    Syscall(NR.mincore, sys_mincore, ("hex", "size", "hex")),
]
