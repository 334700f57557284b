"""The auxiliary vector (AT_* keys) and the order create_elf_tables writes it in."""
from enum import IntEnum


class AT(IntEnum):
    NULL = 0
    IGNORE = 1
    EXECFD = 2
    PHDR = 3
    PHENT = 4
    PHNUM = 5
    PAGESZ = 6
    BASE = 7
    FLAGS = 8
    ENTRY = 9
    NOTELF = 10
    UID = 11
    EUID = 12
    GID = 13
    EGID = 14
    PLATFORM = 15
    HWCAP = 16
    CLKTCK = 17
    SECURE = 23
    BASE_PLATFORM = 24
    RANDOM = 25
    HWCAP2 = 26
    RSEQ_FEATURE_SIZE = 27
    RSEQ_ALIGN = 28
    HWCAP3 = 29
    HWCAP4 = 30
    EXECFN = 31
    SYSINFO_EHDR = 33
    MINSIGSTKSZ = 51


# x86-64 values as the emulated CPU (Unicorn's Westmere model, elfkit.kernel.cpu) reports them:
# AT_HWCAP is CPUID(1).EDX; AT_HWCAP2 bit 1 is HWCAP2_FSGSBASE.
X86_64_HWCAP = 0x078BFBFD
X86_64_HWCAP2 = 0x2
MINSIGSTKSZ = 3632          # sizeof the signal frame elfkit builds (fpstate included)
RSEQ_FEATURE_SIZE = 28      # offsetof(struct rseq, end)
RSEQ_ALIGN = 32


def auxv_entries(*, phdr, phent, phnum, base, entry, uid, euid, gid, egid, secure, random_addr,
                 execfn_addr, platform_addr, vdso_addr=None, hwcap=X86_64_HWCAP,
                 hwcap2=X86_64_HWCAP2) -> list[tuple[int, int]]:
    """The (key, value) pairs in fs/binfmt_elf.c: create_elf_tables' order, ending with AT_NULL."""
    v = []
    if vdso_addr is not None:
        v.append((AT.SYSINFO_EHDR, vdso_addr))        # ARCH_DLINFO comes first on x86-64
    v += [
        (AT.MINSIGSTKSZ, MINSIGSTKSZ),
        (AT.HWCAP, hwcap),
        (AT.PAGESZ, 4096),
        (AT.CLKTCK, 100),
        (AT.PHDR, phdr),
        (AT.PHENT, phent),
        (AT.PHNUM, phnum),
        (AT.BASE, base),
        (AT.FLAGS, 0),
        (AT.ENTRY, entry),
        (AT.UID, uid),
        (AT.EUID, euid),
        (AT.GID, gid),
        (AT.EGID, egid),
        (AT.SECURE, secure),
        (AT.RANDOM, random_addr),
        (AT.HWCAP2, hwcap2),
        (AT.EXECFN, execfn_addr),
        (AT.PLATFORM, platform_addr),
        (AT.RSEQ_FEATURE_SIZE, RSEQ_FEATURE_SIZE),
        (AT.RSEQ_ALIGN, RSEQ_ALIGN),
        (AT.NULL, 0),
    ]
    return v
