"""Address-space policy of x86-64 Linux with address-space randomisation off (`setarch -R`).

The user half of the address space ends at TASK_SIZE (47 bits, minus one
guard page). The stack's top is TASK_SIZE. mmap allocates top-down below
mmap_base, which sits a gap below the stack: the stack rlimit plus a guard,
clamped to at least 128 MiB (mm/util.c: mmap_base). PIE programs that have an
interpreter are placed at ELF_ET_DYN_BASE, two thirds of the way up; ET_DYN
files run without an interpreter (static-pie, ld.so run directly) are mapped
like any mmap, top-down below mmap_base, and since Linux 6.15 their brk is
moved to ELF_ET_DYN_BASE so that the heap cannot collide with mmap space.
"""

PAGE_SIZE = 0x1000
TASK_SIZE = 0x7FFFFFFFF000
STACK_TOP = TASK_SIZE
ELF_ET_DYN_BASE = TASK_SIZE // 3 * 2          # 0x555555554aaa; PIE bias is ELF_PAGESTART of this
STACK_RLIMIT = 8 << 20
MIN_GAP = 128 << 20
STACK_GUARD_GAP = 256 << 12
MMAP_MIN_ADDR = 0x10000
STACK_EXPAND = 128 << 10                       # fs/exec.c: setup_arg_pages' stack_expand


def mmap_base(stack_rlimit: int = STACK_RLIMIT) -> int:
    gap = stack_rlimit + STACK_GUARD_GAP
    gap = max(gap, MIN_GAP)
    gap = min(gap, TASK_SIZE // 6 * 5)
    return page_start(TASK_SIZE - gap)


def page_start(addr: int) -> int:
    return addr & ~(PAGE_SIZE - 1)


def page_align(addr: int) -> int:
    return (addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def page_offset(addr: int) -> int:
    return addr & (PAGE_SIZE - 1)
