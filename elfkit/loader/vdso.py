"""arch/x86/entry/vdso: the vDSO image the kernel maps into every process, and its [vvar] pages.

elfkit's linux-vdso.so.1 has the shape of the x86-64 kernel's (vdso-layout.lds.S):
the same sections in the same order (.hash, .gnu.hash, .dynsym, .dynstr,
.gnu.version, .gnu.version_d, .dynamic, .rodata, .note, .eh_frame_hdr, .eh_frame,
.text, .altinstructions, .altinstr_replacement), one PT_LOAD with PT_DYNAMIC,
PT_NOTE and PT_GNU_EH_FRAME, DT_SYMBOLIC and BIND_NOW, the notes of note.S (the
LINUX_VERSION_CODE of the release elfkit reports, the build salt) and a GNU
build-id, and it exports what the kernel exports: clock_gettime, gettimeofday,
time, getcpu, clock_getres and getrandom, each also as __vdso_*, at version
LINUX_2.6, weak and global as vdso.lds.S has them. So glibc finds and binds
them (setup_vdso_pointers) exactly as it does natively.

Which of these the kernel exports, and in what order, is read from the vDSO of the
host kernel -- the kernel whose release elfkit's uname reports (getrandom, for
one, came in 6.11) -- and kept in that order; when it cannot be read, the
current kernel's list is used.

Time reads do not leave the emulated CPU, as the kernel's do not: clock_gettime
(REALTIME, MONOTONIC, BOOTTIME, TAI and the two COARSE clocks), gettimeofday and
time read the clock data in [vvar] and the TSC (VCLOCK, machine code of elfkit's
own with its source beside it; elfkit.kernel.time.vsyscall keeps the data). Any
other clock, and every clock until the TSC's rate is known (the first 50 ms),
makes the system call, as the kernel's vDSO does for a clock it cannot read.
getcpu and clock_getres make the system call; __vdso_getrandom answers the
opaque-state query as the kernel does and otherwise takes the kernel's fallback,
the getrandom system call. elfkit's kernel treats calls made from the vDSO's
text as the vDSO's own work: --strace and seccomp do not see them, as they do
not see the kernel's (elfkit.kernel.syscalls._from_vdso).

.rodata, .altinstructions and .altinstr_replacement are empty: the kernel's hold
constants of its clock code and the alternatives patched at boot, which elfkit's
functions do not need. The layout of the address space is the kernel's: [vvar]
(one frame shared by every process, as the kernel's), [vvar_vclock], then
[vdso], just below the interpreter.
"""
from __future__ import annotations

import functools
import hashlib
import os
import struct
from dataclasses import dataclass

from elfkit.elf.hash import gnu_hash, sysv_hash

VVAR_PAGES, VVAR_VCLOCK_PAGES, VDSO_PAGES = 4, 2, 2
PAGE = 0x1000
SONAME = "linux-vdso.so.1"
VERSION = "LINUX_2.6"

# The functions the x86-64 vDSO exports (vdso.lds.S), and the system call each makes here.
SYSCALL_OF = {"clock_gettime": 228, "gettimeofday": 96, "time": 201, "getcpu": 309,
              "clock_getres": 229, "getrandom": 318}
# vdso.lds.S: the plain names are weak aliases of the global __vdso_ ones.
CURRENT_EXPORTS = ("clock_gettime", "__vdso_gettimeofday", "clock_getres", "__vdso_clock_getres",
                   "gettimeofday", "__vdso_time", "__vdso_getrandom", "time",
                   "__vdso_clock_gettime", VERSION, "__vdso_getcpu", "getcpu", "getrandom")

SECTION_NAMES = (".hash", ".gnu.hash", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_d",
                 ".dynamic", ".rodata", ".note", ".eh_frame_hdr", ".eh_frame", ".text",
                 ".altinstructions", ".altinstr_replacement", ".comment", ".shstrtab")

AT_SYSINFO_EHDR = 33
STT_OBJECT, STT_FUNC, STB_GLOBAL, STB_WEAK, SHN_ABS = 1, 2, 1, 2, 0xFFF1
(SHT_PROGBITS, SHT_STRTAB, SHT_HASH, SHT_DYNAMIC, SHT_NOTE, SHT_DYNSYM, SHT_GNU_HASH,
 SHT_VERDEF, SHT_VERSYM) = 1, 3, 5, 6, 7, 11, 0x6FFFFFF6, 0x6FFFFFFD, 0x6FFFFFFF
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_MERGE, SHF_STRINGS = 1, 2, 4, 0x10, 0x20
PT_LOAD, PT_DYNAMIC, PT_NOTE, PT_GNU_EH_FRAME = 1, 2, 4, 0x6474E550
DT = {"NULL": 0, "HASH": 4, "STRTAB": 5, "SYMTAB": 6, "STRSZ": 10, "SYMENT": 11, "SONAME": 14,
      "SYMBOLIC": 16, "FLAGS": 30, "GNU_HASH": 0x6FFFFEF5, "VERSYM": 0x6FFFFFF0,
      "FLAGS_1": 0x6FFFFFFB, "VERDEF": 0x6FFFFFFC, "VERDEFNUM": 0x6FFFFFFD}
DT["RUNPATH"] = 29
DT_NAMES = {v: k for k, v in DT.items()}
DYNAMIC_TAGS = ("SONAME", "SYMBOLIC", "HASH", "GNU_HASH", "STRTAB", "SYMTAB", "STRSZ", "SYMENT",
                "VERDEF", "VERDEFNUM", "FLAGS", "FLAGS_1", "VERSYM", "NULL")
DF_SYMBOLIC, DF_BIND_NOW, DF_1_NOW = 0x2, 0x8, 0x1
NT_GNU_BUILD_ID, LINUX_ELFNOTE_BUILD_SALT = 3, 0x100


@dataclass(frozen=True)
class KernelVdso:
    """What the kernel's vDSO exports, in its .dynsym order, and its hash table sizes."""
    exports: tuple[str, ...]
    gnu_buckets: int
    sysv_buckets: int
    dynamic: tuple[str, ...] = ()       # its dynamic tags in order (default: DYNAMIC_TAGS)
    runpath: str = ""                   # DT_RUNPATH, when its build left one (Nix's ld does)


# --- the functions ---------------------------------------------------------------------------

def _assemble(parts) -> bytes:
    """Machine code from bytes, ("label", name) and ("jcc", opcode, name) for short jumps."""
    for _ in range(2):
        labels, pos, out = {}, 0, bytearray()
        for p in parts:
            if isinstance(p, bytes):
                pos += len(p)
            elif p[0] == "label":
                labels[p[1]] = pos
            else:
                pos += 2
        for p in parts:
            if isinstance(p, bytes):
                out += p
            elif p[0] == "jcc":
                target = labels[p[2]] - (len(out) + 2)
                out += bytes([p[1], target & 0xFF])
        return bytes(out)


def _syscall_function(nr: int) -> bytes:
    return b"\xb8" + struct.pack("<I", nr) + b"\x0f\x05\xc3"      # mov $nr, %eax; syscall; ret


# __vdso_getrandom(buffer, len, flags, opaque_state, opaque_len), lib/vdso/getrandom.c:
# opaque_len ~0 with no buffer, length or flags asks for vgetrandom_opaque_params (the size of
# the state: 144 bytes on x86-64, PROT_READ|PROT_WRITE, MAP_DROPPABLE|MAP_ANONYMOUS); a state
# that straddles a page is EFAULT; everything else here is the kernel's fallback system call.
_GETRANDOM = _assemble([
    b"\x49\x83\xf8\xff",                        # cmp $-1, %r8
    ("jcc", 0x75, "call"),                      # jne call
    b"\x48\x89\xf8", b"\x48\x09\xf0",           # mov %rdi, %rax; or %rsi, %rax
    ("jcc", 0x75, "call"),
    b"\x85\xd2",                                # test %edx, %edx
    ("jcc", 0x75, "call"),
    b"\xc7\x01\x90\x00\x00\x00",                # movl $144, (%rcx)
    b"\xc7\x41\x04\x03\x00\x00\x00",            # movl $3, 4(%rcx)
    b"\xc7\x41\x08\x28\x00\x00\x00",            # movl $0x28, 8(%rcx)
    b"\x31\xc0",                                # xor %eax, %eax
    b"\x89\x41\x0c",                            # mov %eax, 12(%rcx): reserved[0]
    b"\x48\x89\x41\x10", b"\x48\x89\x41\x18", b"\x48\x89\x41\x20",
    b"\x48\x89\x41\x28", b"\x48\x89\x41\x30", b"\x48\x89\x41\x38",   # reserved[1..12]
    b"\xc3",
    ("label", "call"),
    b"\x89\xc8",                                # mov %ecx, %eax
    b"\x25\xff\x0f\x00\x00",                    # and $0xfff, %eax
    b"\x3d\x70\x0f\x00\x00",                    # cmp $(4096 - 144), %eax
    ("jcc", 0x77, "efault"),                    # ja efault
    _syscall_function(318),
    ("label", "efault"),
    b"\x48\xc7\xc0\xf2\xff\xff\xff",            # mov $-EFAULT, %rax
    b"\xc3",
])


def function_code(name: str) -> bytes:
    base = name.removeprefix("__vdso_")
    return _GETRANDOM if base == "getrandom" else _syscall_function(SYSCALL_OF[base])


# clock_gettime, gettimeofday and time, reading [vvar] and the TSC as the kernel's do
# (elfkit.kernel.time.vsyscall writes the data and documents its layout). Assembled from this
# source with `as --64` (tests/test_vdso.py assembles it again and compares the bytes):
VCLOCK_SOURCE = """
    .intel_syntax noprefix
    .globl clock_gettime, vread, gettimeofday, time
clock_gettime:                      # (edi clock, rsi ts): r9 = base[] or coarse[] index
    lea r8, [rip + vvar]
    xor r9d, r9d
    cmp edi, 0                      # CLOCK_REALTIME
    je .Lhres
    inc r9d
    cmp edi, 1                      # CLOCK_MONOTONIC
    je .Lhres
    inc r9d
    cmp edi, 7                      # CLOCK_BOOTTIME
    je .Lhres
    inc r9d
    cmp edi, 11                     # CLOCK_TAI
    je .Lhres
    xor r9d, r9d
    cmp edi, 5                      # CLOCK_REALTIME_COARSE
    je .Lcoarse
    inc r9d
    cmp edi, 6                      # CLOCK_MONOTONIC_COARSE
    je .Lcoarse
.Lsys:                              # any other clock, or not calibrated: the system call
    mov eax, 228
    syscall
    ret
.Lhres:
    call .Lread
    jc .Lsys
.Lsplit:
    mov ecx, 1000000000
    xor edx, edx
    div rcx
    mov [rsi], rax
    mov [rsi + 8], rdx
    xor eax, eax
    ret
.Lcoarse:
    mov r10d, [r8]
    test r10d, 1
    jnz .Lcoarse
    cmp dword ptr [r8 + 4], 0
    je .Lsys
    mov rax, [r8 + 56 + r9 * 8]
    cmp r10d, [r8]
    jne .Lcoarse
    jmp .Lsplit
vread:                              # rax = ns of base[r9] now; CF: make the system call
.Lread:
    mov r10d, [r8]
    test r10d, 1
    jnz .Lread
    cmp dword ptr [r8 + 4], 0
    je .Lnone
    lfence
    rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, [r8 + 8]
    jae 1f
    xor eax, eax
1:  mul qword ptr [r8 + 16]
    shrd rax, rdx, 32
    add rax, [r8 + 24 + r9 * 8]
    cmp r10d, [r8]
    jne .Lread
    clc
    ret
.Lnone:
    stc
    ret
gettimeofday:                       # (rdi tv, rsi tz)
    lea r8, [rip + vvar]
    test rsi, rsi
    jz 2f
    mov qword ptr [rsi], 0
2:  test rdi, rdi
    jz 3f
    xor r9d, r9d
    mov r11, rdi
    call .Lread
    jc 4f
    mov ecx, 1000000000
    xor edx, edx
    div rcx
    mov [r11], rax
    mov rax, rdx
    mov ecx, 1000
    xor edx, edx
    div rcx
    mov [r11 + 8], rax
3:  xor eax, eax
    ret
4:  mov rdi, r11
    mov eax, 96
    syscall
    ret
time:                               # (rdi tloc): CLOCK_REALTIME_COARSE's seconds
    lea r8, [rip + vvar]
    cmp dword ptr [r8 + 4], 0
    je 2f
    mov rax, [r8 + 56]
    xor edx, edx
    mov ecx, 1000000000
    div rcx
    test rdi, rdi
    jz 1f
    mov [rdi], rax
1:  ret
2:  mov eax, 201
    syscall
    ret
    .set vvar, 0
"""
VCLOCK = bytes.fromhex(
    "4c8d05000000004531c983ff00743041ffc183ff01742841ffc183ff07742041ffc183ff0b74184531c983"
    "ff05742b41ffc183ff067423b8e40000000f05c3e83500000072f1b900ca9a3b31d248f7f1488906488956"
    "0831c0c3458b1041f7c20100000075f4418378040074ca4b8b44c838453b1075e3ebcd458b1041f7c20100"
    "000075f4418378040074290faee80f3148c1e2204809d0492b4008730231c049f76010480facd0204b0344"
    "c818453b1075c6f8c3f9c34c8d05000000004885f6740748c706000000004885ff742b4531c94989fbe89f"
    "ffffff7221b900ca9a3b31d248f7f14989034889d0b9e803000031d248f7f14989430831c0c34c89dfb860"
    "0000000f05c34c8d050000000041837804007417498b403831d2b900ca9a3b48f7f14885ff7403488907c3"
    "b8c90000000f05c3")
# (offset, size) of each function in VCLOCK (vread: the shared reader, no symbol), and where a
# `lea r8, [rip + vvar]` wants its displacement
VCLOCK_FUNCS = {"clock_gettime": (0x0, 0x79), "vread": (0x79, 0x3E), "gettimeofday": (0xB7, 0x51),
                "time": (0x108, 0x2D)}
VCLOCK_VVAR_FIXUPS = (0x3, 0xBA, 0x10B)


@functools.lru_cache(maxsize=1)
def vvar_data() -> bytes:
    """The [vvar] page as exec maps it: the clock data's mode 0 (make the system call) until
    elfkit.kernel.time.vsyscall publishes the clocks."""
    return bytes(PAGE)


# --- the kernel's list -------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def kernel_vdso() -> KernelVdso:
    """The exports of the host kernel's vDSO (elfkit's own process has it mapped), those elfkit
    implements, in the kernel's order; the current kernel's list when it cannot be read."""
    default = KernelVdso(CURRENT_EXPORTS, 5, 3, DYNAMIC_TAGS)
    image = _host_vdso_bytes()
    if image is None:
        return default
    try:
        return _exports_of(image) or default
    except Exception:                       # noqa: BLE001 - any surprise: the current list
        return default


def _host_vdso_bytes() -> bytes | None:
    try:
        with open("/proc/self/auxv", "rb") as f:
            auxv = f.read()
        base = next((v for k, v in struct.iter_unpack("<QQ", auxv[:len(auxv) // 16 * 16])
                     if k == AT_SYSINFO_EHDR), None)
        if not base:
            return None
        with open("/proc/self/maps") as f:
            for line in f:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if lo == base:
                    with open("/proc/self/mem", "rb", buffering=0) as mem:
                        mem.seek(lo)
                        return mem.read(hi - lo)
    except (OSError, ValueError):
        return None
    return None


def _exports_of(image: bytes) -> KernelVdso | None:
    from elfkit.elf.file import ElfFile
    from elfkit.elf.hash import read_gnu_hash, read_sysv_hash
    from elfkit.elf.symbols import read_dynsym
    elf = ElfFile.from_bytes(image, "[vdso]")
    table = read_dynsym(elf)
    if table is None:
        return None
    known = set(SYSCALL_OF) | {"__vdso_" + n for n in SYSCALL_OF} | {VERSION}
    names = tuple(s.name for s in table.symbols[1:] if s.name in known)
    if not names:
        return None
    gnu = sysv = None
    for s in elf.sections:
        if s.name == ".gnu.hash":
            gnu = read_gnu_hash(elf, s.offset)
        elif s.name == ".hash":
            sysv = read_sysv_hash(elf, s.offset)
    tags, runpath = [], ""
    if elf.dynamic is not None:
        for tag, value in elf.dynamic.entries:
            name = DT_NAMES.get(tag)
            if name is not None and name not in tags:
                tags.append(name)
            if name == "RUNPATH":
                runpath = elf.dynamic.string(value) or ""
    if "NULL" not in tags or not {"STRTAB", "SYMTAB"} <= set(tags):
        tags = list(DYNAMIC_TAGS)
    return KernelVdso(names, gnu.nbuckets if gnu else 5, sysv.nbucket if sysv else 3,
                      tuple(tags), runpath)


def version_code(release: str) -> int:
    """LINUX_VERSION_CODE of a release string such as 6.18.44-foo: KERNEL_VERSION(a, b, c)."""
    nums = []
    for part in release.split(".")[:3]:
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        nums.append(int(digits) if digits else 0)
    a, b, c = (nums + [0, 0, 0])[:3]
    return (a << 16) + (b << 8) + min(c, 255)


# --- the image ---------------------------------------------------------------------------------

def _note(name: bytes, ntype: int, desc: bytes) -> bytes:
    name += b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)    # noqa: E731
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


@functools.lru_cache(maxsize=4)
def vdso_image(release: str | None = None) -> bytes:
    """The whole vDSO, linked at address 0 (the kernel maps it as is)."""
    release = release if release is not None else os.uname().release
    kv = kernel_vdso()
    exports = list(kv.exports)
    # .gnu.hash needs the hashed symbols grouped by bucket; the kernel's order already is
    exports.sort(key=lambda n: gnu_hash(n.encode()) % kv.gnu_buckets)
    nsyms = 1 + len(exports)

    # .text: the clock functions that read [vvar] (VCLOCK) first, then one function per other
    # implemented name, 16-byte aligned, aliases sharing it
    bases = {n.removeprefix("__vdso_") for n in exports if n != VERSION}
    text, func_at = bytearray(), {}
    if bases & {"clock_gettime", "gettimeofday", "time"}:
        text += VCLOCK
        func_at.update(VCLOCK_FUNCS)
    for name in exports:
        base = name.removeprefix("__vdso_")
        if name != VERSION and base not in func_at:
            text += bytes(-len(text) % 16)
            func_at[base] = (len(text), len(function_code(base)))
            text += function_code(base)

    dynstr = bytearray(b"\0")
    str_at = {}

    def string(s: str) -> int:
        if s not in str_at:
            str_at[s] = len(dynstr)
            dynstr.extend(s.encode() + b"\0")
        return str_at[s]
    string(SONAME)
    dynamic_tags = [t for t in (kv.dynamic or DYNAMIC_TAGS) if t != "RUNPATH" or kv.runpath]
    if kv.runpath:
        string(kv.runpath)
    string(VERSION)
    for name in exports:
        string(name)

    # sizes, then addresses (= file offsets)
    sysv_size = 4 * (2 + kv.sysv_buckets + nsyms)
    gnu_size = 16 + 8 + 4 * kv.gnu_buckets + 4 * len(exports)
    verdef_size = 2 * 28
    layout: dict[str, int] = {}
    pos = 64 + 4 * 56
    comment = b"elfkit\0"

    def place(name, size, align):
        nonlocal pos
        pos = _align(pos, align)
        layout[name] = pos
        pos += size
    salt = release.encode() + b"\0"
    note_sizes = (len(_note(b"Linux", 0, bytes(4))) + len(_note(b"Linux", LINUX_ELFNOTE_BUILD_SALT, salt))
                  + len(_note(b"GNU", NT_GNU_BUILD_ID, bytes(20))))
    nfuncs = len(func_at)
    eh_frame_size = 24 + 24 * nfuncs + 4
    place(".hash", sysv_size, 8)
    place(".gnu.hash", gnu_size, 8)
    place(".dynsym", 24 * nsyms, 8)
    place(".dynstr", len(dynstr), 1)
    place(".gnu.version", 2 * nsyms, 2)
    place(".gnu.version_d", verdef_size, 8)
    place(".dynamic", 16 * len(dynamic_tags), 8)
    place(".rodata", 0, 16)
    place(".note", note_sizes, 4)
    place(".eh_frame_hdr", 12 + 8 * nfuncs, 4)
    place(".eh_frame", eh_frame_size, 8)
    place(".text", len(text), 16)
    place(".altinstructions", 0, 1)
    place(".altinstr_replacement", 0, 1)
    load_end = pos
    text_at = layout[".text"]
    if "vread" in func_at:                  # lea r8, [rip + vvar]: [vvar] is below the image
        vvar_at = -(VVAR_PAGES + VVAR_VCLOCK_PAGES) * PAGE
        for fix in VCLOCK_VVAR_FIXUPS:
            text[fix:fix + 4] = struct.pack("<i", vvar_at - (text_at + fix + 4))

    # .dynsym, .gnu.version
    text_index = SECTION_NAMES.index(".text") + 1
    dynsym = bytearray(24)
    for name in exports:
        if name == VERSION:
            dynsym += struct.pack("<IBBHQQ", string(name), STB_GLOBAL << 4 | STT_OBJECT, 0, SHN_ABS,
                                  0, 0)
            continue
        off, size = func_at[name.removeprefix("__vdso_")]
        bind = STB_GLOBAL if name.startswith("__vdso_") else STB_WEAK
        dynsym += struct.pack("<IBBHQQ", string(name), bind << 4 | STT_FUNC, 0, text_index,
                              text_at + off, size)
    versym = struct.pack(f"<{nsyms}H", 0, *([2] * len(exports)))

    # .hash
    buckets, chains = [0] * kv.sysv_buckets, [0] * nsyms
    for i, name in enumerate(exports, 1):
        b = sysv_hash(name.encode()) % kv.sysv_buckets
        chains[i], buckets[b] = buckets[b], i
    sysv = struct.pack(f"<{2 + kv.sysv_buckets + nsyms}I", kv.sysv_buckets, nsyms, *buckets, *chains)

    # .gnu.hash: symoffset 1, one 64-bit bloom word, shift 6
    shift, bloom = 6, 0
    gbuckets, gchain = [0] * kv.gnu_buckets, []
    hashes = [gnu_hash(n.encode()) for n in exports]
    for i, h in enumerate(hashes, 1):
        bloom |= 1 << (h % 64) | 1 << ((h >> shift) % 64)
        b = h % kv.gnu_buckets
        if not gbuckets[b]:
            gbuckets[b] = i
    for i, h in enumerate(hashes):
        last = i + 1 == len(hashes) or hashes[i + 1] % kv.gnu_buckets != h % kv.gnu_buckets
        gchain.append(h & ~1 | (1 if last else 0))
    gnu = struct.pack(f"<4IQ{kv.gnu_buckets}I{len(gchain)}I", kv.gnu_buckets, 1, 1, shift, bloom,
                      *gbuckets, *gchain)

    # .gnu.version_d: the base (the soname) and LINUX_2.6
    verdef = (struct.pack("<HHHHIII", 1, 1, 1, 1, sysv_hash(SONAME.encode()), 20, 28) +
              struct.pack("<II", string(SONAME), 0) +
              struct.pack("<HHHHIII", 1, 0, 2, 1, sysv_hash(VERSION.encode()), 20, 0) +
              struct.pack("<II", string(VERSION), 0))

    values = {"SONAME": string(SONAME), "SYMBOLIC": 0, "HASH": layout[".hash"],
              "GNU_HASH": layout[".gnu.hash"], "STRTAB": layout[".dynstr"],
              "SYMTAB": layout[".dynsym"], "STRSZ": len(dynstr), "SYMENT": 24,
              "VERDEF": layout[".gnu.version_d"], "VERDEFNUM": 2, "FLAGS": DF_SYMBOLIC | DF_BIND_NOW,
              "FLAGS_1": DF_1_NOW, "VERSYM": layout[".gnu.version"], "NULL": 0,
              "RUNPATH": string(kv.runpath) if kv.runpath else 0}
    dynamic = b"".join(struct.pack("<qQ", DT[t], values[t]) for t in dynamic_tags)

    # .eh_frame: a CIE (CFA = %rsp + 8, return address at CFA - 8) and one FDE per function
    # (none touches the stack); .eh_frame_hdr: its binary search table
    eh_at, hdr_at = layout[".eh_frame"], layout[".eh_frame_hdr"]
    cie = (b"\x01zR\x00" + b"\x01" + b"\x78" + b"\x10" + b"\x01\x1b" +   # code 1, data -8, RA 16
           b"\x0c\x07\x08" + b"\x90\x01")                              # def_cfa rsp+8; r16 at cfa-8
    cie = cie + bytes(-(len(cie) + 8) % 8)
    eh = bytearray(struct.pack("<II", 4 + len(cie), 0) + cie)
    assert len(eh) == 24
    table = []
    for base, (off, size) in sorted(func_at.items(), key=lambda kv_: kv_[1][0]):
        fde_at = eh_at + len(eh)
        pc = text_at + off
        body = struct.pack("<iii", len(eh) + 4, pc - (fde_at + 8), size) + b"\x00"
        body += bytes(-(len(body) + 4) % 8)
        eh += struct.pack("<I", len(body)) + body
        table.append((pc - hdr_at, fde_at - hdr_at))
    eh += bytes(4)
    assert len(eh) == eh_frame_size, (len(eh), eh_frame_size)
    eh_hdr = struct.pack("<BBBBiI", 1, 0x1B, 0x03, 0x3B, eh_at - (hdr_at + 4), len(table))
    eh_hdr += b"".join(struct.pack("<ii", a, b) for a, b in table)

    notes_nobuild = _note(b"Linux", 0, struct.pack("<I", version_code(release))) + \
        _note(b"Linux", LINUX_ELFNOTE_BUILD_SALT, salt)

    shstrtab = bytearray(b"\0")
    name_at = {}
    for n in SECTION_NAMES:
        name_at[n] = len(shstrtab)
        shstrtab += n.encode() + b"\0"
    comment_at = load_end
    shstr_at = comment_at + len(comment)
    shoff = _align(shstr_at + len(shstrtab), 8)
    nsec = 1 + len(SECTION_NAMES)
    assert shoff + 64 * nsec <= VDSO_PAGES * PAGE

    contents = {".hash": sysv, ".gnu.hash": gnu, ".dynsym": bytes(dynsym), ".dynstr": bytes(dynstr),
                ".gnu.version": versym, ".gnu.version_d": verdef, ".dynamic": dynamic, ".rodata": b"",
                ".note": notes_nobuild + _note(b"GNU", NT_GNU_BUILD_ID, bytes(20)),
                ".eh_frame_hdr": eh_hdr, ".eh_frame": bytes(eh), ".text": bytes(text),
                ".altinstructions": b"", ".altinstr_replacement": b"", ".comment": comment,
                ".shstrtab": bytes(shstrtab)}
    layout[".comment"], layout[".shstrtab"] = comment_at, shstr_at
    kinds = {".hash": (SHT_HASH, SHF_ALLOC, 3, 0, 8, 4), ".gnu.hash": (SHT_GNU_HASH, SHF_ALLOC, 3, 0, 8, 0),
             ".dynsym": (SHT_DYNSYM, SHF_ALLOC, 4, 1, 8, 24), ".dynstr": (SHT_STRTAB, SHF_ALLOC, 0, 0, 1, 0),
             ".gnu.version": (SHT_VERSYM, SHF_ALLOC, 3, 0, 2, 2),
             ".gnu.version_d": (SHT_VERDEF, SHF_ALLOC, 4, 2, 8, 0),
             ".dynamic": (SHT_DYNAMIC, SHF_WRITE | SHF_ALLOC, 4, 0, 8, 16),
             ".rodata": (SHT_PROGBITS, SHF_ALLOC, 0, 0, 16, 0), ".note": (SHT_NOTE, SHF_ALLOC, 0, 0, 4, 0),
             ".eh_frame_hdr": (SHT_PROGBITS, SHF_ALLOC, 0, 0, 4, 0),
             ".eh_frame": (SHT_PROGBITS, SHF_ALLOC, 0, 0, 8, 0),
             ".text": (SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 0, 0, 16, 0),
             ".altinstructions": (SHT_PROGBITS, SHF_ALLOC, 0, 0, 1, 0),
             ".altinstr_replacement": (SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 0, 0, 1, 0),
             ".comment": (SHT_PROGBITS, SHF_MERGE | SHF_STRINGS, 0, 0, 1, 1),
             ".shstrtab": (SHT_STRTAB, 0, 0, 0, 1, 0)}

    image = bytearray(shoff + 64 * nsec)
    for n in SECTION_NAMES:
        data = contents[n]
        image[layout[n]:layout[n] + len(data)] = data
    shdrs = bytearray(64)
    for n in SECTION_NAMES:
        stype, flags, link, info, align, entsize = kinds[n]
        addr = layout[n] if flags & SHF_ALLOC else 0
        shdrs += struct.pack("<IIQQQQIIQQ", name_at[n], stype, flags, addr, layout[n],
                             len(contents[n]), link, info, align, entsize)
    image[shoff:] = shdrs

    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    image[:64] = ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, shoff, 0, 64, 56, 4, 64,
                                     nsec, nsec - 1)
    phdrs = [(PT_LOAD, 5, 0, load_end, PAGE),
             (PT_DYNAMIC, 4, layout[".dynamic"], len(dynamic), 8),
             (PT_NOTE, 4, layout[".note"], len(contents[".note"]), 4),
             (PT_GNU_EH_FRAME, 4, hdr_at, len(eh_hdr), 4)]
    for i, (ptype, flags, at, size, align) in enumerate(phdrs):
        image[64 + 56 * i:64 + 56 * (i + 1)] = struct.pack("<IIQQQQQQ", ptype, flags, at, at, at,
                                                           size, size, align)
    # the build-id: a hash of everything else, as ld's --build-id=sha1 computes it
    build_id = hashlib.sha1(bytes(image)).digest()
    id_at = layout[".note"] + len(notes_nobuild) + 16
    image[id_at:id_at + 20] = build_id
    return bytes(image)


def vdso_section(image: bytes, name: str) -> tuple[int, int]:
    """(start, end) of one of the image's sections, relative to the image."""
    shoff, = struct.unpack_from("<Q", image, 40)
    index = SECTION_NAMES.index(name) + 1
    addr, _off, size = struct.unpack_from("<QQQ", image, shoff + 64 * index + 16)
    return addr, addr + size


def vdso_text_range(image: bytes) -> tuple[int, int]:
    """(start, end) of the functions' code, relative to the image."""
    return vdso_section(image, ".text")


def vdso_areas(top: int, release: str | None = None):
    """[(start, end, prot, name, data)] for [vvar], [vvar_vclock] and [vdso], ending at `top`."""
    vdso_start = top - VDSO_PAGES * PAGE
    vclock = vdso_start - VVAR_VCLOCK_PAGES * PAGE
    vvar = vclock - VVAR_PAGES * PAGE
    return [(vvar, vclock, 1, "[vvar]", vvar_data()), (vclock, vdso_start, 1, "[vvar_vclock]", b""),
            (vdso_start, top, 5, "[vdso]", vdso_image(release))]


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
