"""System calls whose native answer depends on the host's kernel configuration or CPU, so the
family fixtures (fixtures/src/sys/*.c, compared with native runs) leave them out: the kernel log
(kernel.dmesg_restrict), I/O ports (CONFIG_X86_IOPL_IOPERM), protection keys (the CPU's PKU),
the clock's state (adjtimex), the LSMs, secret memory. Each is checked against what can be
known on the host -- its sysctl, the emulated CPU's CPUID, the host's own adjtimex -- or
against the errno the kernel documents for the configuration elfkit models.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_elfkit

PROGRAM = r"""
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#define R(label, expr) do { long _r = (long)(expr); \
    printf("%s %ld %s\n", label, _r, _r == -1 ? strerrorname_np(errno) : "-"); } while (0)
int main(void) {
    unsigned a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    printf("ospke %u\n", (c >> 4) & 1);
    __cpuid_count(7, 0, a, b, c, d);
    printf("shstk %u\n", (c >> 7) & 1);
    R("syslog_size", syscall(SYS_syslog, 10, 0, 0));
    R("syslog_open", syscall(SYS_syslog, 1, 0, 0));
    R("iopl0", syscall(SYS_iopl, 0));
    R("iopl3", syscall(SYS_iopl, 3));
    R("iopl4", syscall(SYS_iopl, 4));
    R("ioperm_off", syscall(SYS_ioperm, 0x80, 1, 0));
    R("ioperm_on", syscall(SYS_ioperm, 0x80, 1, 1));
    R("pkey_alloc", syscall(SYS_pkey_alloc, 0, 0));
    R("pkey_alloc_flags", syscall(SYS_pkey_alloc, 1, 0));
    R("pkey_free", syscall(SYS_pkey_free, 5));
    R("map_shadow_stack", syscall(453, 0, 4096, 0));
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    R("adjtimex", adjtimex(&tx));
    uint64_t ids[8];
    uint32_t size = sizeof ids;
    R("lsm_list_modules", syscall(461, ids, &size, 0));
    printf("lsm0 %lu\n", (unsigned long)ids[0]);
    return 0;
}
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("sysmisc")
    exe = d / "sysmisc"
    (d / "sysmisc.c").write_text(PROGRAM)
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(d / "sysmisc.c")], check=True)
    emu = run_elfkit("load-and-run", exe, timeout=120)
    assert emu.returncode == 0, emu.stderr.decode()
    out = {}
    for line in emu.stdout.decode().splitlines():
        key, *rest = line.split()
        out[key] = rest
    return out


def _host_sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    except OSError:
        return None


def test_syslog_needs_cap_syslog_with_dmesg_restrict(results):
    """Debian sets kernel.dmesg_restrict=1: every action, even open and the buffer size, is EPERM."""
    assert results["syslog_size"] == ["-1", "EPERM"]
    assert results["syslog_open"] == ["-1", "EPERM"]


def test_io_ports_as_with_iopl_ioperm_configured(results):
    """CONFIG_X86_IOPL_IOPERM=y (Debian): lowering or keeping the level and turning ports off
    is allowed; gaining access needs CAP_SYS_RAWIO (EPERM); level 4 does not exist (EINVAL)."""
    assert results["iopl0"][0] == "0"
    assert results["iopl3"] == ["-1", "EPERM"]
    assert results["iopl4"] == ["-1", "EINVAL"]
    assert results["ioperm_off"][0] == "0"
    assert results["ioperm_on"] == ["-1", "EPERM"]


def test_no_protection_keys_without_pku(results):
    """pkey_alloc hands out keys only when the CPU has OSPKE: the emulated one decides."""
    assert results["pkey_alloc_flags"] == ["-1", "EINVAL"]
    if results["ospke"] == ["0"]:
        assert results["pkey_alloc"] == ["-1", "ENOSPC"]
        assert results["pkey_free"] == ["-1", "EINVAL"]


def test_no_user_shadow_stack(results):
    if results["shstk"] == ["0"]:
        assert results["map_shadow_stack"] == ["-1", "EOPNOTSUPP"]


def test_adjtimex_reads_the_hosts_clock_state(results):
    """modes 0 only reads: the state (TIME_OK, TIME_ERROR...) is the host clock's own."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    buf = ctypes.create_string_buffer(208)
    state = libc.adjtimex(buf)
    assert int(results["adjtimex"][0]) == state


def test_only_the_capability_lsm(results):
    assert results["lsm_list_modules"][0] == "1"
    assert results["lsm0"] == ["100"]                 # LSM_ID_CAPABILITY


def test_syscall_table_has_no_gaps_in_this_family():
    """Every call of the scheduling/credentials/memory-policy family has a record now."""
    from elfkit.kernel.syscalls import build_table
    from elfkit.kernel.syscalls.numbers import NR
    table = build_table()
    names = ["getpriority", "setpriority", "sched_setparam", "sched_getparam", "sched_setscheduler",
             "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min",
             "sched_rr_get_interval", "sched_setattr", "sched_getattr", "ioprio_set", "ioprio_get",
             "setfsuid", "setfsgid", "capget", "capset", "seccomp", "mlockall", "munlockall",
             "mlock2", "get_mempolicy", "set_mempolicy", "mbind", "migrate_pages", "move_pages",
             "set_mempolicy_home_node", "pkey_alloc", "pkey_free", "pkey_mprotect",
             "map_shadow_stack", "mseal", "cachestat", "process_madvise", "process_mrelease",
             "remap_file_pages", "memfd_secret", "personality", "getrusage", "syslog", "iopl",
             "ioperm", "adjtimex", "clock_adjtime", "modify_ldt", "sysfs", "ustat", "unshare",
             "kcmp", "get_robust_list", "lsm_list_modules", "lsm_get_self_attr",
             "lsm_set_self_attr", "statmount", "listmount", "futex_waitv", "futex_wake",
             "futex_wait", "futex_requeue"]
    missing = [n for n in names if getattr(NR, n) not in table]
    assert not missing
