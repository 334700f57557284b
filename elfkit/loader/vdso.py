"""arch/x86/entry/vdso: the vDSO image the kernel maps into every process, and its [vvar] pages.

elfkit's vDSO is a minimal, valid shared object named linux-vdso.so.1 that
exports no functions: glibc finds it through AT_SYSINFO_EHDR, records it as a
loaded object as it does natively, and, finding no __vdso_clock_gettime,
makes real system calls (which elfkit serves). It keeps the address-space
layout identical to the kernel's: [vvar], [vvar_vclock], then [vdso], just
below the interpreter.
"""
from __future__ import annotations

import struct

VVAR_PAGES, VVAR_VCLOCK_PAGES, VDSO_PAGES = 4, 2, 2
PAGE = 0x1000
SONAME = b"linux-vdso.so.1"

DT_NULL, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT, DT_SONAME = 0, 4, 5, 6, 10, 11, 14


def vdso_image() -> bytes:
    """ELF header, PT_LOAD + PT_DYNAMIC, .dynamic, .hash, .dynsym, .dynstr; linked at address 0."""
    ehdr_size, phdr_size = 64, 56
    phoff = ehdr_size
    dyn_off = phoff + 2 * phdr_size                 # 176
    dynstr = b"\0" + SONAME + b"\0"
    dynamic_entries = 7
    hash_off = dyn_off + 16 * dynamic_entries
    hash_table = struct.pack("<4I", 1, 1, 0, 0)      # nbucket, nchain, bucket[0], chain[0]
    sym_off = hash_off + len(hash_table)
    dynsym = bytes(24)                               # the null symbol only
    str_off = sym_off + len(dynsym)
    size = str_off + len(dynstr)
    dynamic = struct.pack("<14q", DT_HASH, hash_off, DT_STRTAB, str_off, DT_SYMTAB, sym_off,
                          DT_STRSZ, len(dynstr), DT_SYMENT, 24, DT_SONAME, 1, DT_NULL, 0)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, phoff, 0, 0, ehdr_size, phdr_size,
                               2, 64, 0, 0)
    pt_load = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, size, size, PAGE)
    pt_dynamic = struct.pack("<IIQQQQQQ", 2, 4, dyn_off, dyn_off, dyn_off, 16 * dynamic_entries,
                             16 * dynamic_entries, 8)
    image = ehdr + pt_load + pt_dynamic + dynamic + hash_table + dynsym + dynstr
    assert len(image) == size
    return image


def vdso_areas(top: int):
    """[(start, end, prot, name, data)] for [vvar], [vvar_vclock] and [vdso], ending at `top`."""
    vdso_start = top - VDSO_PAGES * PAGE
    vclock = vdso_start - VVAR_VCLOCK_PAGES * PAGE
    vvar = vclock - VVAR_PAGES * PAGE
    return [(vvar, vclock, 1, "[vvar]", b""), (vclock, vdso_start, 1, "[vvar_vclock]", b""),
            (vdso_start, top, 5, "[vdso]", vdso_image())]


VSYSCALL_START = 0xFFFFFFFFFF600000
# The legacy vsyscall page: gettimeofday, time and getcpu at 0x000, 0x400, 0x800, each
# `mov $nr, %rax; syscall; ret` (what the kernel's emulation of the page amounts to).
_VSYSCALL_STUBS = {0x000: 96, 0x400: 201, 0x800: 309}


def vsyscall_page() -> bytes:
    page = bytearray(PAGE)
    for off, nr in _VSYSCALL_STUBS.items():
        stub = b"\x48\xc7\xc0" + struct.pack("<i", nr) + b"\x0f\x05\xc3"
        page[off:off + len(stub)] = stub
    return bytes(page)
