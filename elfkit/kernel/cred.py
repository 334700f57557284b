"""include/linux/cred.h and kernel/cred.c: a task's credentials -- the guest's own, never the host's.

A Cred is immutable, as the kernel's struct cred is once committed: a change
(setresuid, capset, prctl(PR_CAP_AMBIENT)) makes a new one with
dataclasses.replace and puts it on the task (prepare_creds/commit_creds), so a
child made by fork, which starts with its parent's Cred, never sees its parent's
later changes nor the parent its. The first guest starts with the ids and
supplementary groups elfkit itself runs with and no capabilities: the guest is
an unprivileged process even when elfkit runs as root, so a uid-0 guest follows
the unprivileged rules (kernel/sys.c's checks fail their CAP_SETUID test). The
bounding set is full, as a login shell's is. elfkit still opens files as the
user who ran it: these ids are the guest's view of itself.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

CAP_LAST_CAP = 40                          # CAP_CHECKPOINT_RESTORE (Linux 5.9 and later)
CAP_FULL_SET = (1 << (CAP_LAST_CAP + 1)) - 1
INVALID_ID = 0xFFFFFFFF                    # (uid_t)-1: "no change" to set*id, never an id
NGROUPS_MAX = 65536


@dataclass(frozen=True, slots=True)
class Cred:
    uid: int = 0
    euid: int = 0
    suid: int = 0
    fsuid: int = 0
    gid: int = 0
    egid: int = 0
    sgid: int = 0
    fsgid: int = 0
    groups: tuple[int, ...] = ()
    securebits: int = 0
    cap_inheritable: int = 0
    cap_permitted: int = 0
    cap_effective: int = 0
    cap_bset: int = CAP_FULL_SET
    cap_ambient: int = 0


def host_cred() -> Cred:
    """The credentials elfkit runs with, without its capabilities."""
    r, e, s = os.getresuid()
    rg, eg, sg = os.getresgid()
    try:
        groups = tuple(sorted(set(os.getgroups())))
    except OSError:
        groups = ()
    return Cred(r, e, s, e, rg, eg, sg, eg, groups)


def as_cred(creds) -> Cred:
    """A Cred for what the kernel set-up hands a task (the loader's plain Credentials at boot)."""
    if isinstance(creds, Cred):
        return creds
    host = host_cred()
    if (creds.uid, creds.euid, creds.gid, creds.egid) == (host.uid, host.euid, host.gid, host.egid):
        return host
    return Cred(creds.uid, creds.euid, creds.euid, creds.euid, creds.gid, creds.egid,
                creds.egid, creds.egid)


def capable(cred: Cred, cap: int) -> bool:
    """ns_capable in the initial user namespace: the effective set decides."""
    return bool(cred.cap_effective >> cap & 1)


CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_SYS_RAWIO, CAP_SYS_ADMIN, CAP_SYS_NICE, \
    CAP_SYS_RESOURCE, CAP_IPC_LOCK, CAP_SYSLOG = 6, 7, 8, 17, 21, 23, 24, 14, 34
