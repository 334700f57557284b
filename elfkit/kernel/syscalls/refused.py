"""System calls elfkit refuses on purpose, as the kernel refuses them to the process elfkit models.

The guest is an unprivileged process (no capabilities in the initial user
namespace) on a Debian-configured x86-64 kernel: what needs a capability fails
the way the kernel's capability check makes it fail, what a sysctl switches off
for unprivileged users fails as with Debian's setting, and the numbers x86-64
Linux has never wired to anything (sys_ni_syscall in syscall_64.tbl) return
ENOSYS. Each refusal says why once, on stderr, naming the program and the call.

A module later in build_table's list replaces an entry here with a handler.
"""
from __future__ import annotations

import errno

from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR


def _refusal(name: str, err: int, reason: str):
    code = errno.errorcode[err]
    what = "does not exist on x86-64" if err == errno.ENOSYS else "is refused"

    def refused(p, *_):
        p.warn_once(f"refused:{name}", f"{p.image.execfn if p.image else 'guest'}: {name} {what}: "
                                       f"{reason} (-{code})")
        return -err
    refused.__name__ = f"sys_{name}_refused"
    return refused


def refuse(name: str, err: int, reason: str, args=(), status: str = "refused") -> Syscall:
    """An entry whose handler fails with `err`, saying `reason` once."""
    return Syscall(getattr(NR, name), _refusal(name, err, reason), args, status=status,
                   note=f"{errno.errorcode[err]}: {reason}")


def nosys(name: str, reason: str = "no entry point in x86-64's syscall_64.tbl") -> Syscall:
    return refuse(name, errno.ENOSYS, reason, status="nosys")


_NO_SYS_ADMIN = "needs CAP_SYS_ADMIN, which the guest does not have"

TABLE = [
    # never implemented on x86-64, or not in the kernel elfkit models
    *(nosys(n) for n in ("create_module", "get_kernel_syms", "query_module", "nfsservctl",
                         "getpmsg", "putpmsg", "afs_syscall", "tuxcall", "security",
                         "set_thread_area", "get_thread_area", "epoll_ctl_old",
                         "epoll_wait_old", "vserver")),
    nosys("uselib", "CONFIG_USELIB is off in distribution kernels (a.out libraries)"),
    nosys("lookup_dcookie", "removed from Linux in 6.8 (it served oprofile)"),
    nosys("_sysctl", "removed from Linux in 5.5 (/proc/sys is the interface)"),
    # capabilities
    refuse("mount", errno.EPERM, _NO_SYS_ADMIN, ("str", "str", "str", "hex", "hex")),
    refuse("umount2", errno.EPERM, _NO_SYS_ADMIN, ("str", "hex")),
    refuse("pivot_root", errno.EPERM, _NO_SYS_ADMIN, ("str", "str")),
    refuse("fsopen", errno.EPERM, _NO_SYS_ADMIN, ("str", "hex")),
    refuse("fspick", errno.EPERM, _NO_SYS_ADMIN, ("fd", "str", "hex")),
    refuse("fsconfig", errno.EBADF, "no filesystem context can exist without CAP_SYS_ADMIN",
           ("fd", "int", "str", "hex", "int")),
    refuse("fsmount", errno.EBADF, "no filesystem context can exist without CAP_SYS_ADMIN",
           ("fd", "hex", "hex")),
    refuse("move_mount", errno.EPERM, _NO_SYS_ADMIN, ("fd", "str", "fd", "str", "hex")),
    refuse("mount_setattr", errno.EPERM, _NO_SYS_ADMIN, ("fd", "str", "hex", "hex", "size")),
    refuse("open_tree", errno.EPERM, _NO_SYS_ADMIN + " (OPEN_TREE_CLONE); a plain open_tree, "
           "an O_PATH open of the mount, is not modelled", ("fd", "str", "hex"),
           status="partial"),
    Syscall(NR.setns, lambda p, fd, *_: -errno.EBADF if p.files.get(fd & 0xFFFFFFFF) is None
            else -errno.EINVAL, ("fd", "hex"), status="partial",
            note="EINVAL: no namespace file (/proc/PID/ns/*) exists in the guest, so every "
                 "descriptor is not one; joining one would need CAP_SYS_ADMIN (EPERM)"),
    refuse("swapon", errno.EPERM, _NO_SYS_ADMIN, ("str", "hex")),
    refuse("swapoff", errno.EPERM, _NO_SYS_ADMIN, ("str",)),
    refuse("reboot", errno.EPERM, "needs CAP_SYS_BOOT", ("hex", "hex", "hex", "hex")),
    refuse("sethostname", errno.EPERM, _NO_SYS_ADMIN, ("str", "int")),
    refuse("setdomainname", errno.EPERM, _NO_SYS_ADMIN, ("str", "int")),
    refuse("settimeofday", errno.EPERM, "setting the clock needs CAP_SYS_TIME", ("hex", "hex")),
    refuse("clock_settime", errno.EPERM, "setting the clock needs CAP_SYS_TIME", ("int", "hex")),
    refuse("acct", errno.EPERM, "process accounting needs CAP_SYS_PACCT", ("str",)),
    refuse("chroot", errno.EPERM, "needs CAP_SYS_CHROOT (elfkit's --root is the way to give the "
           "guest another root)", ("str",)),
    refuse("vhangup", errno.EPERM, "needs CAP_SYS_TTY_CONFIG"),
    refuse("init_module", errno.EPERM, "loading a module needs CAP_SYS_MODULE", ("hex", "size", "str")),
    refuse("finit_module", errno.EPERM, "loading a module needs CAP_SYS_MODULE", ("fd", "str", "hex")),
    refuse("delete_module", errno.EPERM, "needs CAP_SYS_MODULE", ("str", "hex")),
    refuse("kexec_load", errno.EPERM, "needs CAP_SYS_BOOT", ("hex", "int", "hex", "hex")),
    refuse("kexec_file_load", errno.EPERM, "needs CAP_SYS_BOOT", ("fd", "fd", "int", "str", "hex")),
    refuse("quotactl", errno.EPERM, "quota control needs CAP_SYS_ADMIN (reading one's own quota "
           "is not modelled: the guest's files have no quotas)", ("hex", "str", "int", "hex"),
           status="partial"),
    refuse("quotactl_fd", errno.EPERM, "quota control needs CAP_SYS_ADMIN", ("fd", "hex", "int", "hex"),
           status="partial"),
    refuse("open_by_handle_at", errno.EPERM, "needs CAP_DAC_READ_SEARCH", ("fd", "hex", "hex")),
    refuse("fanotify_init", errno.EPERM, _NO_SYS_ADMIN, ("hex", "hex")),
    refuse("fanotify_mark", errno.EBADF, "no fanotify group can exist without CAP_SYS_ADMIN",
           ("fd", "hex", "hex", "fd", "str")),
    refuse("ptrace", errno.EPERM, "tracing another process is not modelled inside the guest",
           ("int", "int", "hex", "hex"), status="partial"),
    # sysctls as Debian sets them for unprivileged users
    refuse("bpf", errno.EPERM, "kernel.unprivileged_bpf_disabled=2 (Debian's default)",
           ("int", "hex", "size")),
    refuse("perf_event_open", errno.EACCES, "kernel.perf_event_paranoid=3 (Debian's default)",
           ("hex", "int", "int", "fd", "hex")),
    refuse("userfaultfd", errno.EPERM, "vm.unprivileged_userfaultfd=0 (the default)", ("hex",),
           status="partial"),
    refuse("io_uring_setup", errno.EPERM, "kernel.io_uring_disabled=2: io_uring is switched off "
           "for the guest", ("int", "hex")),
    refuse("io_uring_enter", errno.EBADF, "kernel.io_uring_disabled=2: no ring can exist",
           ("fd", "int", "int", "hex", "hex", "size")),
    refuse("io_uring_register", errno.EBADF, "kernel.io_uring_disabled=2: no ring can exist",
           ("fd", "int", "hex", "int")),
    refuse("landlock_create_ruleset", errno.EOPNOTSUPP, "Landlock is not among the kernel's "
           "enabled LSMs (lsm= at boot)", ("hex", "size", "hex")),
    refuse("landlock_add_rule", errno.EOPNOTSUPP, "Landlock is not among the kernel's enabled LSMs",
           ("fd", "int", "hex", "hex")),
    refuse("landlock_restrict_self", errno.EOPNOTSUPP, "Landlock is not among the kernel's "
           "enabled LSMs", ("fd", "hex")),
]
