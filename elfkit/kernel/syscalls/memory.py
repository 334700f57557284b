"""Memory system calls: brk, mmap, munmap, mprotect, mremap, madvise, msync, mincore; memory locks
(mm/mlock.c), seals (mm/mseal.c), NUMA policies on a one-node machine (mm/mempolicy.c,
mm/migrate.c), protection keys and shadow stacks the emulated CPU does not have, cachestat,
process_madvise/process_mrelease and remap_file_pages."""
from __future__ import annotations

import errno
import os
import stat as stat_mod
import struct

from elfkit.kernel.mm import MAP_ANONYMOUS
from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR


def sys_brk(p, addr, *_):
    return p.mm.set_brk(addr) if addr else p.mm.brk


def sys_mmap(p, addr, length, prot, flags, fd, offset):
    if p.mm.def_locked and not _may_lock(p, p.mm.locked_bytes() + length):
        return -errno.EAGAIN                   # mlock_future_ok: mlockall(MCL_FUTURE)'s limit
    f = None
    if not flags & MAP_ANONYMOUS:
        f = p.files.get(fd & 0xFFFFFFFF if fd < 1 << 63 else -1)
        if f is None or f.flags & 0o10000000:          # (O_PATH: fdget refuses it)
            return -errno.EBADF
        readable, writable = f.flags & 3 != 1, f.flags & 3 != 0      # (O_ACCMODE)
        shared = (flags & 3) in (1, 3)                    # MAP_SHARED, MAP_SHARED_VALIDATE
        if length and not offset & 0xFFF and flags & 3:   # (do_mmap's EINVALs come first)
            # do_mmap: any file mapping needs FMODE_READ; a shared writable one FMODE_WRITE,
            # and a shared one without FMODE_WRITE may never become writable (VM_MAYWRITE)
            if not readable or shared and prot & 2 and not writable:
                return -errno.EACCES
        if getattr(f, "map_pread", None) is not None and not shared:
            return -errno.EINVAL                           # secretmem_mmap: MAP_SHARED only
        maywrite = writable or not shared
        if f.host_fd() is None and not hasattr(f, "data"):
            return -errno.ENODEV
        mapping = _address_space(p, f, shared and writable)
        f = _Mappable(f, p)
        return p.mm.mmap(addr, length, prot, flags, f, offset, maywrite=maywrite, mapping=mapping)
    return p.mm.mmap(addr, length, prot, flags, f, offset)


def _address_space(p, f, write: bool):
    """The page cache's address space of a regular host file (a memfd is one), made or found
    by its inode; None for what elfkit makes up or a device, whose bytes are copied at mmap.
    The open file learns the page cache, so its reads and writes stay coherent with it."""
    host = f.host_fd()
    if host is None or getattr(p.kernel, "page_cache", None) is None:
        return None
    st = f.stat()
    if isinstance(st, int) or not stat_mod.S_ISREG(st.st_mode):
        return None
    if hasattr(f, "page_cache"):
        f.page_cache = p.kernel.page_cache
    return p.kernel.page_cache.space_for(host, st, write)


_SHARED_FILE_NOTE = ("file mappings are paged in from the page cache at each fault (one set of "
                     "frames per file page, shared by every mapping in every process); what a "
                     "MAP_SHARED mapping writes reaches the file at msync, munmap, exit and before "
                     "a read or write of the file, and read/write/truncate are seen by the mappings "
                     "at once. A change made to the file by a host process while it is mapped is "
                     "seen only by pages not yet in memory")


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
        data = getattr(self.f, "map_pread", self.f.pread)(n, off)
        return b"" if isinstance(data, int) else data

    def host_fd(self):
        return self.f.host_fd()


def sys_munmap(p, addr, length, *_):
    return p.mm.munmap(addr, length)


def sys_mprotect(p, addr, length, prot, *_):
    return p.mm.mprotect(addr, length, prot)


def sys_mremap(p, old, old_size, new_size, flags, new_addr, *_):
    return p.mm.mremap(old, old_size, new_size, flags, new_addr)


def sys_madvise(p, addr, length, advice, *_):
    if addr & 0xFFF:
        return -errno.EINVAL
    if advice == 4:                         # MADV_DONTNEED: zap_page_range
        end = addr + ((length + 0xFFF) & ~0xFFF)
        for v in p.mm.overlaps(addr, end):
            lo, hi = max(v.start, addr), min(v.end, end)
            if v.mapping is not None:
                # a file's (or shmem's) pages: the next touch maps the page cache's again --
                # what a shared area wrote is kept there (written back first), a private
                # area's copies go and it sees the file again
                if v.shared:
                    p.mm.sync_area(v, lo, hi)
                p.mm.pages.unmap(lo, hi - lo)
            elif not v.inode and not v.shared:
                p.mm.pages.unmap(lo, hi - lo)      # private anonymous: a touch refills with zeros
    return 0


def sys_ok(p, *_):
    return 0


def sys_mincore(p, addr, length, vec, *_):
    """A page is in core when it has a frame (touched, or a file page of the page cache)."""
    if addr & 0xFFF:
        return -errno.EINVAL
    n = (length + 0xFFF) // 0x1000
    if not p.mm.is_mapped(addr, addr + n * 0x1000):
        return -errno.ENOMEM
    resident = bytearray(b"\x01") * n
    for lo, hi in p.mm.pages.holes(addr, addr + n * 0x1000):
        resident[(lo - addr) >> 12:(hi - addr) >> 12] = bytes((hi - lo) >> 12)
    return 0 if p.mm.write(vec, bytes(resident)) else -errno.EFAULT


# --- memory locks (mm/mlock.c) -------------------------------------------------------------------

PAGE = 4096
RLIMIT_MEMLOCK = 8
VM_LOCKED, VM_LOCKONFAULT = 1, 2
MLOCK_ONFAULT = 1
MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4


def _ipc_lock(p) -> bool:
    from elfkit.kernel.cred import CAP_IPC_LOCK, capable
    return capable(p.creds, CAP_IPC_LOCK)


def _may_lock(p, nbytes: int) -> bool:
    return nbytes <= p.rlimit(RLIMIT_MEMLOCK)[0] or _ipc_lock(p)


def _page_range(addr: int, length: int) -> tuple[int, int]:
    """The pages [addr, addr + length) touches (mlock rounds out, not in)."""
    start = addr & ~(PAGE - 1)
    return start, start + ((length + (addr - start) + PAGE - 1) & ~(PAGE - 1))


def _lock_range(p, start, end, flags) -> int:
    """apply_vma_lock_flags: every page of the range must be mapped (ENOMEM)."""
    if end < start:
        return -errno.EINVAL
    if end == start:
        return 0
    if not p.mm.is_mapped(start, end):
        return -errno.ENOMEM
    p.mm.set_attr(start, end, locked=flags)
    if flags & VM_LOCKED and not flags & VM_LOCKONFAULT:
        p.mm.populate(start, end)               # mlock makes the pages resident (mm_populate)
    return 0


def _do_mlock(p, addr, length, flags) -> int:
    if not p.rlimit(RLIMIT_MEMLOCK)[0] and not _ipc_lock(p):
        return -errno.EPERM                    # can_do_mlock
    start, end = _page_range(addr, length)
    mm = p.mm
    already = sum(min(v.end, end) - max(v.start, start) for v in mm.overlaps(start, end) if v.locked)
    if not _may_lock(p, mm.locked_bytes() + (end - start) - already):
        return -errno.ENOMEM
    return _lock_range(p, start, end, flags)


def sys_mlock(p, addr, length, *_):
    return _do_mlock(p, addr, length, VM_LOCKED)


def sys_mlock2(p, addr, length, flags, *_):
    if flags & ~MLOCK_ONFAULT:
        return -errno.EINVAL
    return _do_mlock(p, addr, length, VM_LOCKED | (VM_LOCKONFAULT if flags & MLOCK_ONFAULT else 0))


def sys_munlock(p, addr, length, *_):
    start, end = _page_range(addr, length)
    return _lock_range(p, start, end, 0)


def sys_mlockall(p, flags, *_):
    flags &= 0xFFFFFFFF
    if not flags or flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) or flags == MCL_ONFAULT:
        return -errno.EINVAL
    if not p.rlimit(RLIMIT_MEMLOCK)[0] and not _ipc_lock(p):
        return -errno.EPERM
    mm = p.mm
    total = sum(v.size for v in mm.vmas)
    if flags & MCL_CURRENT and not _may_lock(p, total):
        return -errno.ENOMEM
    lock = VM_LOCKED | (VM_LOCKONFAULT if flags & MCL_ONFAULT else 0)
    mm.def_locked = lock if flags & MCL_FUTURE else 0
    if flags & MCL_CURRENT:
        _set_all(mm, lock)
        if not flags & MCL_ONFAULT:
            mm.populate(0, 1 << 47)
    return 0


def _set_all(mm, lock):
    """Every area but the special ones ([vvar], [vdso]: VM_PFNMAP/VM_DONTEXPAND are never locked)."""
    for v in list(mm.vmas):
        if v.name not in ("[vvar]", "[vdso]", "[vvar_vclock]"):
            mm.set_attr(v.start, v.end, locked=lock)


def sys_munlockall(p, *_):
    p.mm.def_locked = 0
    _set_all(p.mm, 0)
    return 0


# --- seals (mm/mseal.c, Linux 6.10) ---------------------------------------------------------------

def sys_mseal(p, addr, length, flags, *_):
    if flags:
        return -errno.EINVAL
    if addr & (PAGE - 1):
        return -errno.EINVAL
    size = (length + PAGE - 1) & ~(PAGE - 1) & 0xFFFFFFFFFFFFFFFF
    if length and not size:
        return -errno.EINVAL
    end = addr + size
    if end > 0xFFFFFFFFFFFFFFFF:
        return -errno.EINVAL
    if end == addr:
        return 0
    if not p.mm.is_mapped(addr, end):
        return -errno.ENOMEM
    p.mm.set_attr(addr, end, sealed=True)
    return 0


# --- NUMA: one node, node 0 (mm/mempolicy.c on a CONFIG_NUMA kernel) ------------------------------

MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_LOCAL, MPOL_PREFERRED_MANY, \
    MPOL_WEIGHTED_INTERLEAVE, MPOL_MAX = range(8)
MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING = 1 << 15, 1 << 14, 1 << 13
MPOL_MODE_FLAGS = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING
MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED = 1, 2, 4
MPOL_MF_STRICT, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL = 1, 2, 4
MAX_NUMNODES = 1024                     # Debian's NODES_SHIFT=10
NR_NODE_IDS = 1
NODE0 = 1                               # the node mask of the machine: node 0 only


def _mode_flags(mode: int):
    """sanitize_mpol_flags: (mode, flags) or -EINVAL."""
    mode &= 0xFFFFFFFF
    flags, mode = mode & MPOL_MODE_FLAGS, mode & ~MPOL_MODE_FLAGS
    if mode >= MPOL_MAX:
        return -errno.EINVAL
    if flags & MPOL_F_STATIC_NODES and flags & MPOL_F_RELATIVE_NODES:
        return -errno.EINVAL
    if flags & MPOL_F_NUMA_BALANCING and mode not in (MPOL_BIND, MPOL_PREFERRED_MANY):
        return -errno.EINVAL
    return mode, flags


def _get_nodes(p, nmask: int, maxnode: int):
    """get_nodes: the user's node mask as an int, or -errno. Bits past MAX_NUMNODES must be 0."""
    maxnode = (maxnode - 1) & 0xFFFFFFFFFFFFFFFF
    if maxnode == 0 or not nmask:
        return 0
    if maxnode > PAGE * 8:
        return -errno.EINVAL
    nbytes = (maxnode + 63) // 64 * 8
    raw = p.mm.read(nmask, nbytes)
    if raw is None:
        return -errno.EFAULT
    mask = int.from_bytes(raw, "little") & ((1 << maxnode) - 1)
    if mask >> MAX_NUMNODES:
        return -errno.EINVAL
    return mask


def _mpol_new(mode: int, flags: int, nodes: int):
    """mpol_new and mpol_set_nodemask: the policy (mode|flags, nodes) -- None for the default --
    or -EINVAL. Only node 0 has memory: a mask naming no node with memory is empty."""
    if mode == MPOL_DEFAULT:
        return -errno.EINVAL if nodes else None
    if mode == MPOL_PREFERRED and not nodes:
        if flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES):
            return -errno.EINVAL
        mode = MPOL_LOCAL
    elif mode == MPOL_LOCAL:
        if nodes or flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES):
            return -errno.EINVAL
    elif not nodes:
        return -errno.EINVAL
    if mode == MPOL_LOCAL:
        return (mode | flags, 0)
    # relative nodes fold onto the allowed ones (node 0); static and plain ones are intersected
    usable = NODE0 if flags & MPOL_F_RELATIVE_NODES else nodes & NODE0
    if not usable:
        return -errno.EINVAL
    user = nodes if flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES) else usable
    return (mode | flags, user)


def sys_set_mempolicy(p, mode, nmask, maxnode, *_):
    mf = _mode_flags(mode)
    if isinstance(mf, int):
        return mf
    nodes = _get_nodes(p, nmask, maxnode)
    if nodes < 0:
        return nodes
    pol = _mpol_new(*mf, nodes)
    if isinstance(pol, int):
        return pol
    p.mempolicy = pol
    return 0


def sys_get_mempolicy(p, policy_ptr, nmask, maxnode, addr, flags, *_):
    if nmask and maxnode < NR_NODE_IDS:
        return -errno.EINVAL
    if flags & ~(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED):
        return -errno.EINVAL
    if flags & MPOL_F_MEMS_ALLOWED:
        if flags & (MPOL_F_NODE | MPOL_F_ADDR):
            return -errno.EINVAL
        value, nodes = 0, NODE0
    else:
        if flags & MPOL_F_ADDR:
            vma = p.mm.find(addr)
            if vma is None:
                return -errno.EFAULT
            pol = vma.policy
        elif addr:
            return -errno.EINVAL
        else:
            pol = getattr(p, "mempolicy", None)
        if flags & MPOL_F_NODE:
            if flags & MPOL_F_ADDR:
                if p.mm.read(addr, 1) is None:
                    return -errno.EFAULT         # lookup_node: the page must be readable
                value = 0
            elif pol is not None and pol[0] & 0xFF in (MPOL_INTERLEAVE, MPOL_WEIGHTED_INTERLEAVE) \
                    and not flags & MPOL_F_ADDR:
                value = 0                        # the next interleave node: the only one
            else:
                return -errno.EINVAL
        else:
            value = pol[0] if pol is not None else MPOL_DEFAULT
        nodes = pol[1] if pol is not None else 0
    if policy_ptr and not p.mm.write(policy_ptr, struct.pack("<i", value)):
        return -errno.EFAULT
    if nmask:
        return _copy_nodes(p, nmask, maxnode, nodes)
    return 0


def _copy_nodes(p, nmask, maxnode, nodes) -> int:
    """copy_nodes_to_user: the mask in longs, zeros past the machine's nodes."""
    copy = ((maxnode - 1 + 63) // 64 * 64) // 8
    if copy > 8:
        if copy > PAGE:
            return -errno.EINVAL
        if not p.mm.write(nmask + 8, bytes(copy - 8)):
            return -errno.EFAULT
        copy = 8
    data = (nodes & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")[:copy]
    return 0 if p.mm.write(nmask, data) else -errno.EFAULT


def sys_mbind(p, start, length, mode, nmask, maxnode, flags):
    mf = _mode_flags(mode)
    if isinstance(mf, int):
        return mf
    nodes = _get_nodes(p, nmask, maxnode)
    if nodes < 0:
        return nodes
    flags &= 0xFFFFFFFF
    if flags & ~(MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        return -errno.EINVAL
    if flags & MPOL_MF_MOVE_ALL:
        from elfkit.kernel.cred import CAP_SYS_NICE, capable
        if not capable(p.creds, CAP_SYS_NICE):
            return -errno.EPERM
    if start & (PAGE - 1):
        return -errno.EINVAL
    end = start + ((length + PAGE - 1) & ~(PAGE - 1))
    if end < start:
        return -errno.EINVAL
    if end == start:
        return 0
    pol = _mpol_new(*mf, nodes)
    if isinstance(pol, int):
        return pol
    if not p.mm.is_mapped(start, end):
        return -errno.EFAULT                   # queue_pages_range: a hole in the range
    p.mm.set_attr(start, end, policy=pol)
    return 0


def sys_set_mempolicy_home_node(p, start, length, home_node, flags, *_):
    if start & (PAGE - 1) or flags:
        return -errno.EINVAL
    if home_node >= MAX_NUMNODES or not NODE0 >> home_node & 1:
        return -errno.EINVAL                   # only node 0 is online
    end = start + ((length + PAGE - 1) & ~(PAGE - 1))
    if end < start:
        return -errno.EINVAL
    for v in p.mm.overlaps(start, end):
        if v.policy is not None and v.policy[0] & 0xFF not in (MPOL_BIND, MPOL_PREFERRED_MANY):
            return -errno.EOPNOTSUPP
    return 0                                   # one node: the home node changes nothing


def _mm_of(p, pid: int):
    """find_mm_struct / ptrace_may_access(READ_REALCREDS): the task, or -errno."""
    pid = pid - (1 << 32) if pid & 0x80000000 else pid & 0xFFFFFFFF
    t = p if pid == 0 else p.kernel.find_task(pid)
    if t is None or t is p.kernel.init:
        return -errno.ESRCH
    if t is not p:
        c, tc = p.creds, t.creds
        if not {tc.uid, tc.euid, tc.suid} <= {c.uid} or not {tc.gid, tc.egid, tc.sgid} <= {c.gid}:
            return -errno.EPERM
    if t.mm is None:
        return -errno.EINVAL
    return t


def sys_migrate_pages(p, pid, maxnode, old_nodes, new_nodes, *_):
    old = _get_nodes(p, old_nodes, maxnode)
    if old < 0:
        return old
    new = _get_nodes(p, new_nodes, maxnode)
    if new < 0:
        return new
    t = _mm_of(p, pid)
    if isinstance(t, int):
        return t
    if new & ~NODE0:
        from elfkit.kernel.cred import CAP_SYS_NICE, capable
        if not capable(p.creds, CAP_SYS_NICE):
            return -errno.EPERM
    if not new & NODE0:
        return -errno.EINVAL
    return 0                                    # every page is on node 0 already: none left


def sys_move_pages(p, pid, count, pages, nodes, status, flags):
    flags &= 0xFFFFFFFF
    if flags & ~(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        return -errno.EINVAL
    if flags & MPOL_MF_MOVE_ALL:
        from elfkit.kernel.cred import CAP_SYS_NICE, capable
        if not capable(p.creds, CAP_SYS_NICE):
            return -errno.EPERM
    t = _mm_of(p, pid)
    if isinstance(t, int):
        return t
    out = []
    for i in range(count):
        raw = p.mm.read(pages + 8 * i, 8)
        if raw is None:
            return -errno.EFAULT
        addr = struct.unpack("<Q", raw)[0]
        if nodes:
            raw = p.mm.read(nodes + 4 * i, 4)
            if raw is None:
                return -errno.EFAULT
            node = struct.unpack("<i", raw)[0]
            if node < 0 or node >= MAX_NUMNODES or not NODE0 >> node & 1:
                return -errno.ENODEV
        out.append(_page_node(t, addr))
    if out and not p.mm.write(status, struct.pack(f"<{len(out)}i", *out)):
        return -errno.EFAULT
    return 0


def _page_node(t, addr: int) -> int:
    """A page's node (0), -EFAULT outside every area, -ENOENT where nothing is mapped yet."""
    vma = t.mm.find(addr)
    if vma is None:
        return -errno.EFAULT
    return 0 if t.mm.pages.find(addr) is not None else -errno.ENOENT


# --- protection keys and shadow stacks: not on the emulated CPU -----------------------------------

PKEY_ACCESS_MASK = 3


def sys_pkey_alloc(p, flags, init_val, *_):
    """The emulated CPU has no PKU (CPUID.7:ECX.OSPKE clear): no key can be handed out."""
    if flags or init_val & ~PKEY_ACCESS_MASK:
        return -errno.EINVAL
    return -errno.ENOSPC


def sys_pkey_free(p, pkey, *_):
    return -errno.EINVAL                       # never allocated


def sys_pkey_mprotect(p, addr, length, prot, pkey, *_):
    """do_mprotect_pkey: key -1 (none) and key 0 (the default, always "allocated") are mprotect;
    any other was never allocated."""
    pkey = pkey - (1 << 32) if pkey & 0x80000000 else pkey & 0xFFFFFFFF
    if addr & (PAGE - 1):
        return -errno.EINVAL
    if not length:
        return 0
    if pkey not in (-1, 0):
        return -errno.EINVAL
    return p.mm.mprotect(addr, length, prot)


def sys_map_shadow_stack(p, *_):
    return -errno.EOPNOTSUPP                   # no X86_FEATURE_USER_SHSTK on the emulated CPU


# --- page cache statistics, remote madvise ---------------------------------------------------------

def sys_cachestat(p, fd, range_ptr, cstat, flags, *_):
    """Every page of a file counts as cached and clean (elfkit does not track the host's cache)."""
    f = p.files.get(fd & 0xFFFFFFFF)
    if f is None:
        return -errno.EBADF
    raw = p.mm.read(range_ptr, 16)
    if raw is None:
        return -errno.EFAULT
    if flags & 0xFFFFFFFF:
        return -errno.EINVAL
    off, length = struct.unpack("<QQ", raw)
    st = f.stat()
    size = st.st_size if not isinstance(st, int) and stat_mod.S_ISREG(st.st_mode) else 0
    first = off // PAGE
    last = (1 << 64) - 1 if length == 0 else (off + length - 1) // PAGE
    pages = max(0, min(last + 1, (size + PAGE - 1) // PAGE) - first)
    return 0 if p.mm.write(cstat, struct.pack("<5Q", pages, 0, 0, 0, 0)) else -errno.EFAULT


def _pidfd_task(p, fd):
    from elfkit.kernel.fs.pidfd import PidFd
    f = p.files.get(fd & 0xFFFFFFFF)
    if not isinstance(f, PidFd):
        return -errno.EBADF
    t = f.task
    return t if t.state not in ("Z", "X") and t.mm is not None else -errno.ESRCH


def sys_process_madvise(p, pidfd, iov, vlen, advice, flags, *_):
    if flags & 0xFFFFFFFF:
        return -errno.EINVAL
    if vlen > 1024:
        return -errno.EINVAL
    raw = p.mm.read(iov, 16 * vlen) if vlen else b""
    if raw is None:
        return -errno.EFAULT
    t = _pidfd_task(p, pidfd)
    if isinstance(t, int):
        return t
    if t.mm is not p.mm:
        from elfkit.kernel.cred import CAP_SYS_NICE, capable
        if _mm_of(p, t.pid) is not t or not capable(p.creds, CAP_SYS_NICE):
            return -errno.EPERM
    total = 0
    for i in range(vlen):
        base, n = struct.unpack_from("<QQ", raw, 16 * i)
        r = sys_madvise(p, base, n, advice)
        if r < 0:
            return total if total else r
        total += n
    return total


def sys_process_mrelease(p, pidfd, flags, *_):
    if flags & 0xFFFFFFFF:
        return -errno.EINVAL
    t = _pidfd_task(p, pidfd)
    if isinstance(t, int):
        return t
    return -errno.EINVAL                       # task_will_free_mem: it is not dying


def sys_remap_file_pages(p, start, size, prot, pgoff, flags, *_):
    """The deprecated call's emulation re-mmaps the file at pgoff: only the identity (each page
    already at its own offset) is modelled."""
    if prot:
        return -errno.EINVAL
    start &= ~(PAGE - 1)
    size &= ~(PAGE - 1)
    if start + size <= start or pgoff + (size >> 12) >= 1 << 64:
        return -errno.EINVAL
    vma = p.mm.find(start)
    if vma is None or not vma.shared or start + size > vma.end:
        return -errno.EINVAL
    if vma.offset + (start - vma.start) == pgoff * PAGE:
        return 0
    p.warn_once("remap_file_pages", "remap_file_pages to another file offset is not emulated: "
                                    "-EINVAL")
    return -errno.EINVAL


MS_ASYNC, MS_INVALIDATE, MS_SYNC = 1, 2, 4


def sys_msync(p, start, length, flags, *_):
    """mm/msync.c: the flags (EINVAL for unknown ones or MS_ASYNC with MS_SYNC) and a
    page-aligned start are checked first; then the areas of the range in order: a hole is
    ENOMEM at the end (at once for MS_ASYNC alone), MS_INVALIDATE over locked pages EBUSY, and
    each shared file area's written pages go to the file -- for MS_ASYNC too (the kernel only
    marks them dirty then; here the host file is where they must be for the next read), and
    MS_SYNC then asks the host for fdatasync (vfs_fsync_range)."""
    flags &= 0xFFFFFFFF
    if flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC) or start & 0xFFF or \
            flags & MS_ASYNC and flags & MS_SYNC:
        return -errno.EINVAL
    end = start + ((length + 0xFFF) & ~0xFFF)
    if end < start:
        return -errno.ENOMEM
    if end == start:
        return 0
    unmapped = 0
    for v in p.mm.overlaps(start, end):
        if start < v.start:
            if flags == MS_ASYNC:
                return -errno.ENOMEM
            start, unmapped = v.start, -errno.ENOMEM
        if flags & MS_INVALIDATE and v.locked:
            return -errno.EBUSY
        if v.shared and v.mapping is not None:
            err = p.mm.sync_area(v, start, min(v.end, end))
            if not err and flags & MS_SYNC and v.mapping.fd is not None:
                try:
                    os.fdatasync(v.mapping.fd)
                except OSError as e:
                    err = -(e.errno or errno.EIO)
            if err:
                return err
        start = v.end
        if start >= end:
            return unmapped
    return -errno.ENOMEM


TABLE = [
    Syscall(NR.brk, sys_brk, ("hex",), "hex"),
    Syscall(NR.mmap, sys_mmap, ("hex", "size", "mmap_prot", "mmap_flags", "fd", "hex"), "hex",
            status="partial", note=_SHARED_FILE_NOTE),
    Syscall(NR.munmap, sys_munmap, ("hex", "size")),
    Syscall(NR.mprotect, sys_mprotect, ("hex", "size", "mmap_prot")),
    Syscall(NR.mremap, sys_mremap, ("hex", "size", "size", "int", "hex"), "hex",
            note="a moved or grown MAP_SHARED area keeps its file or shmem pages, shared as before"),
    Syscall(NR.madvise, sys_madvise, ("hex", "size", "int"), status="partial",
            note="MADV_DONTNEED drops pages (private anonymous ones read as zeros again, file "
                 "and shared ones from the page cache, a private copy gives way to the file); "
                 "the other advice is accepted and changes nothing"),
    Syscall(NR.msync, sys_msync, ("hex", "size", "int"), status="partial",
            note="what shared areas wrote is written to the host file for MS_ASYNC and MS_SYNC "
                 "alike (the kernel only marks it dirty for MS_ASYNC); MS_SYNC fdatasyncs the "
                 "host file; MS_INVALIDATE is EBUSY over locked pages and does nothing more"),
    Syscall(NR.mlock, sys_mlock, ("hex", "size")),
    Syscall(NR.munlock, sys_munlock, ("hex", "size")),
    Syscall(NR.mlock2, sys_mlock2, ("hex", "size", "hex")),
    Syscall(NR.mlockall, sys_mlockall, ("hex",)),
    Syscall(NR.munlockall, sys_munlockall),
    Syscall(NR.mseal, sys_mseal, ("hex", "size", "hex"), status="partial",
            note="sealed areas refuse munmap, mprotect, mremap and MAP_FIXED; destructive "
                 "madvise on them is not refused"),
    Syscall(NR.set_mempolicy, sys_set_mempolicy, ("int", "hex", "int")),
    Syscall(NR.get_mempolicy, sys_get_mempolicy, ("hex", "hex", "int", "hex", "hex")),
    Syscall(NR.mbind, sys_mbind, ("hex", "size", "int", "hex", "int", "hex")),
    Syscall(NR.set_mempolicy_home_node, sys_set_mempolicy_home_node, ("hex", "size", "int", "hex")),
    Syscall(NR.migrate_pages, sys_migrate_pages, ("int", "int", "hex", "hex")),
    Syscall(NR.move_pages, sys_move_pages, ("int", "int", "hex", "hex", "hex", "hex")),
    Syscall(NR.pkey_alloc, sys_pkey_alloc, ("hex", "hex")),
    Syscall(NR.pkey_free, sys_pkey_free, ("int",)),
    Syscall(NR.pkey_mprotect, sys_pkey_mprotect, ("hex", "size", "mmap_prot", "int")),
    Syscall(NR.map_shadow_stack, sys_map_shadow_stack, ("hex", "size", "hex")),
    Syscall(NR.cachestat, sys_cachestat, ("fd", "hex", "hex", "hex"), status="partial",
            note="every page of a regular file is reported cached and clean"),
    Syscall(NR.process_madvise, sys_process_madvise, ("fd", "hex", "int", "int", "hex")),
    Syscall(NR.process_mrelease, sys_process_mrelease, ("fd", "hex"), status="partial",
            note="a dying process's memory is freed at its exit: no live target is dying"),
    Syscall(NR.remap_file_pages, sys_remap_file_pages, ("hex", "size", "hex", "int", "hex"),
            status="partial", note="only pages already at their own file offset (a no-op)"),
    Syscall(NR.mincore, sys_mincore, ("hex", "size", "hex")),
]
