"""The CPU count the guest sees, in every place it looks: /proc/cpuinfo and sysfs's CPU lists.

A machine has `max_cpus` CPUs (`--cpus N`, by default the host's). glibc's
get_nprocs reads /sys/devices/system/cpu/online, get_nprocs_conf reads
.../possible, sched_getaffinity gives the task's mask (kernel.sched), and many
runtimes (the JVM, node, Go) count the "processor" lines of /proc/cpuinfo; so
all of these say N, whatever the host has. Each processor's block is the
host's first one, renumbered (processor, core id, APIC ids) and with sibling
and core counts of N.
"""
from __future__ import annotations

import re

from elfkit.kernel.fs.files import MemoryFile

SYSFS_CPU_LISTS = ("/sys/devices/system/cpu/online", "/sys/devices/system/cpu/possible",
                   "/sys/devices/system/cpu/present")


def cpu_list(n: int) -> str:
    return "0\n" if n == 1 else f"0-{n - 1}\n"


def cpuinfo_text(n: int) -> str:
    try:
        with open("/proc/cpuinfo") as f:
            host = f.read()
    except OSError:
        host = "processor\t: 0\n"
    first = host.strip("\n").split("\n\n")[0]
    blocks = []
    for i in range(n):
        b = re.sub(r"^(processor|core id|apicid|initial apicid)(\s*): \d+$",
                   lambda m, i=i: f"{m.group(1)}{m.group(2)}: {i}", first, flags=re.M)
        b = re.sub(r"^(siblings|cpu cores)(\s*): \d+$", lambda m: f"{m.group(1)}{m.group(2)}: {n}",
                   b, flags=re.M)
        blocks.append(b + "\n")
    return "\n".join(blocks) + "\n"


def open_file(p, guest_path: str):
    """A MemoryFile for the paths this module answers, else None."""
    n = p.kernel.machine.max_cpus
    if guest_path == "/proc/cpuinfo":
        return MemoryFile(guest_path, lambda: cpuinfo_text(n).encode())
    if guest_path in SYSFS_CPU_LISTS:
        return MemoryFile(guest_path, lambda: cpu_list(n).encode())
    return None
