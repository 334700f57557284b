"""The address space elfkit builds, against the real kernel's: /proc/self/maps, byte for byte.

The native run is the same program under `setarch x86_64 -R` (address-space
randomisation off, the layout elfkit reproduces); both get the same minimal
environment. No normalisation: addresses, permissions, offsets, device and
inode numbers, names and the column padding must all agree, which covers
binfmt_elf's placement (PIE bias, interpreter at the mmap base, vDSO and
[vvar], [stack], [vsyscall]), brk, and mmap/mprotect/munmap splitting and
merging as glibc's start-up and malloc exercise them. One normalisation: a
shared anonymous mapping is a deleted shmem file whose inode number the host
kernel picks (`/dev/zero (deleted)`); that number is replaced by `N` on both
sides.
"""
import subprocess

import pytest

from conftest import fixture_path, run_elfkit

ENV = {"LANG": "C", "PATH": "/usr/bin:/bin"}
PROGRAMS = {
    "cat": ["/bin/cat", "/proc/self/maps"],
    "python3": ["/usr/bin/python3", "-S", "-c",
                "import sys; sys.stdout.write(open('/proc/self/maps').read())"],
    "ld.so-run-directly": ["/lib64/ld-linux-x86-64.so.2", "/bin/cat", "/proc/self/maps"],
    "python3-mmap": ["/usr/bin/python3", "-S", "-c",
                     "import mmap, sys; m = [mmap.mmap(-1, n) for n in (4096, 1 << 20, 3 << 16)];"
                     "m[1].close(); sys.stdout.write(open('/proc/self/maps').read())"],
    # the kernel puts a file mapping holding an aligned 2 MiB of its file (libstdc++, mapped
    # by ld.so through dlopen; a big file mapped by the program) and an anonymous one of a
    # multiple of 2 MiB on a 2 MiB boundary (thp_get_unmapped_area); 3 MiB anonymous: not
    "python3-thp-aligned": ["/usr/bin/python3", "-S", "-c",
                            "import ctypes, mmap, sys; ctypes.CDLL('libstdc++.so.6');"
                            "f = open('/usr/lib/x86_64-linux-gnu/libstdc++.so.6', 'rb');"
                            "m = [mmap.mmap(-1, n) for n in (4 << 20, 3 << 20)];"
                            "m.append(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ));"
                            "m.append(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ, offset=1 << 20));"
                            "sys.stdout.write(open('/proc/self/maps').read())"],
}


def native(argv):
    return subprocess.run(["setarch", "x86_64", "-R", *argv], capture_output=True, env=ENV,
                          timeout=60)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_proc_self_maps_is_the_kernels(name):
    argv = PROGRAMS[name]
    want = native(argv)
    assert want.returncode == 0, want.stderr.decode()
    got = run_elfkit("load-and-run", *argv, env=ENV)
    assert got.returncode == 0, got.stderr.decode()
    assert normalise(got.stdout) == normalise(want.stdout)


def normalise(maps: bytes) -> list[str]:
    out = []
    for line in maps.decode().splitlines():
        if line.endswith("/dev/zero (deleted)"):
            f = line.split()
            line = " ".join(f[:4] + ["N"] + f[5:])
        out.append(line)
    return out


MAPS_PRINTER = r"""
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    char *p = malloc(100000);            /* move brk: [heap] appears */
    FILE *f = fopen("/proc/self/maps", "r");
    int c;
    while ((c = fgetc(f)) != EOF) putchar(c);
    return p == NULL;
}
"""


@pytest.mark.parametrize("flags", [["-static"], ["-static-pie", "-fPIE"]], ids=["static", "static-pie"])
def test_static_programs_maps_are_the_kernels(tmp_path, flags):
    """ET_EXEC at its link address, static-pie top-down below the mmap base with brk at
    ELF_ET_DYN_BASE (Linux >= 6.15), the vDSO below it."""
    src = tmp_path / "maps.c"
    src.write_text(MAPS_PRINTER)
    exe = tmp_path / "maps"
    subprocess.run(["gcc", "-O1", *flags, "-o", str(exe), str(src)], check=True)
    want = native([str(exe)])
    assert want.returncode == 0, want.stderr.decode()
    got = run_elfkit("load-and-run", exe, env=ENV)
    assert got.returncode == 0, got.stderr.decode()
    assert normalise(got.stdout) == normalise(want.stdout)


def test_maps_option_names_every_area():
    """--maps prints the areas at exit; the program, interpreter and libc are named."""
    r = run_elfkit("load-and-run", "--maps", fixture_path("hello-pie"), env=ENV)
    assert r.returncode == 0
    text = r.stderr.decode()
    for name in ("hello-pie", "ld-linux-x86-64.so.2", "libc.so.6", "[stack]", "[vdso]", "[heap]"):
        assert name in text, name
