"""Per-machine defaults of the Linux kernel, glibc and GNU ld that the checks need.

One row per machine family, keyed by e_machine (and the class where it
matters). Every fact is the documented behaviour of a source file, cited in
docs/CHECK.md ("Per machine"):

* `kernel_stack`: what fs/binfmt_elf.c gives an *executable* without
  PT_GNU_STACK (executable_stack == EXSTACK_DEFAULT): the arch's
  `elf_read_implies_exec()` (arch/*/include/asm/elf.h) decides READ_IMPLIES_EXEC,
  and `setup_arg_pages()` leaves the stack at the arch's VM_STACK_DEFAULT_FLAGS.
    exec-none   nothing is made executable (x86-64 and arm64 since Linux 5.8,
                riscv, ppc64, s390, LoongArch since 5.19);
    exec-all    READ_IMPLIES_EXEC: every readable mapping is executable
                (i386 and x32, 32-bit ARM, 32-bit PowerPC);
    exec-stack  the stack only (SPARC: the generic VM_DATA_DEFAULT_FLAGS
                include VM_EXEC);
    exec-no-rixi  MIPS: READ_IMPLIES_EXEC only on CPUs without RIXI, which
                cannot refuse execution anyway (Linux 5.18).
* `ldso_exec`: glibc's DEFAULT_STACK_PERMS (sysdeps/*/stackinfo.h) has PF_X, so
  ld.so (and static glibc) treats a file without PT_GNU_STACK as asking for an
  executable stack: thread stacks get PROT_EXEC, and loading such a library makes
  the process's stacks executable (`_dl_make_stack_executable`).
* `ld_exec`: GNU ld treats an input object without `.note.GNU-stack` as needing
  an executable stack (bfd `elf_backend_default_execstack`, 1 unless the backend
  says 0: aarch64, ppc64, riscv, loongarch).
* `page_size`: the largest base page size the machine's Linux kernels use; glibc
  rounds PT_GNU_RELRO to the *run-time* page size, so the GOT is only sure to be
  protected if it lies inside the range rounded to the largest one the file can
  be loaded with (its PT_LOAD alignment, at most this).
* `cfi`: which control-flow protection the GNU property note can mark: "x86"
  (IBT, SHSTK), "aarch64" (BTI, PAC) or None.
"""
from __future__ import annotations

from elfkit.elf.constants import EM
from elfkit.elf.record import Record


class Machine(Record):
    """One row; read-only by convention (the rows below are shared, compared with `is`)."""
    __slots__ = ("key", "name", "kernel_stack", "ldso_exec", "ld_exec", "page_size", "cfi")
    __hash__ = Record._hash

    def __init__(self, key: str, name: str, kernel_stack: str, ldso_exec: bool, ld_exec: bool,
                 page_size: int, cfi: str | None = None):
        self.key = key
        self.name = name
        self.kernel_stack = kernel_stack
        self.ldso_exec = ldso_exec
        self.ld_exec = ld_exec
        self.page_size = page_size
        self.cfi = cfi

    @property
    def nx_by_default(self) -> bool:
        """A file without PT_GNU_STACK still gets a non-executable stack (kernel and ld.so)."""
        return self.kernel_stack == "exec-none" and not self.ldso_exec


K4, K8, K64 = 4096, 8192, 65536

X86_64 = Machine("x86-64", "x86-64", "exec-none", True, True, K4, "x86")
X32 = Machine("x32", "x32", "exec-all", True, True, K4, "x86")
I386 = Machine("i386", "i386", "exec-all", True, True, K4, "x86")
AARCH64 = Machine("aarch64", "AArch64", "exec-none", False, False, K64, "aarch64")
ARM = Machine("arm", "32-bit ARM", "exec-all", True, True, K4)
RISCV = Machine("riscv", "RISC-V", "exec-none", False, False, K4)
PPC64 = Machine("ppc64", "PowerPC64", "exec-none", False, False, K64)
PPC = Machine("ppc", "32-bit PowerPC", "exec-all", True, True, K64)
S390X = Machine("s390x", "s390x", "exec-none", True, True, K4)
S390 = Machine("s390", "31-bit s390", "exec-none", True, True, K4)
MIPS = Machine("mips", "MIPS", "exec-no-rixi", True, True, K64)
SPARC64 = Machine("sparc64", "SPARC64", "exec-stack", True, True, K8)
SPARC = Machine("sparc", "SPARC", "exec-stack", True, True, K4)
LOONGARCH = Machine("loongarch", "LoongArch", "exec-none", False, False, K64)
OTHER = Machine("other", "this machine", "unknown", True, True, K4)

EM_SPARC32PLUS, EM_SPARCV9 = 18, 43

_BY_EM = {
    EM.I386: I386, EM.AARCH64: AARCH64, EM.ARM: ARM, EM.RISCV: RISCV, EM.PPC64: PPC64,
    EM.PPC: PPC, EM.MIPS: MIPS, EM.SPARC: SPARC, EM_SPARC32PLUS: SPARC, EM_SPARCV9: SPARC64,
    EM.LOONGARCH: LOONGARCH,
}


def machine_of(header) -> Machine:
    """The row for an ElfHeader (x86-64 vs x32 and s390x vs s390 by class)."""
    m = header.machine
    if m == EM.X86_64:
        return X86_64 if header.is_64 else X32
    if m == EM.S390:
        return S390X if header.is_64 else S390
    return _BY_EM.get(m, OTHER)


# --- what the kernel and ld.so do with a file that has no PT_GNU_STACK ----------------------
KERNEL_STACK_TEXT = {
    "exec-none": "the kernel leaves the stack non-executable",
    "exec-all": "the kernel sets READ_IMPLIES_EXEC (elf_read_implies_exec), so every "
                "readable mapping is executable",
    "exec-stack": "the kernel maps the stack executable (VM_STACK_DEFAULT_FLAGS include "
                  "VM_EXEC)",
    "exec-no-rixi": "the kernel sets READ_IMPLIES_EXEC on CPUs without RIXI",
    "unknown": "elfkit does not know this machine's kernel default",
}


def stack_default(machine: Machine, executable: bool) -> dict:
    """Evidence: what a missing PT_GNU_STACK means for this machine (kernel only for files
    the kernel executes)."""
    return {"machine": machine.key,
            "kernel": machine.kernel_stack if executable else None,
            "ld.so": "RWX" if machine.ldso_exec else "RW"}


def missing_stack_why(machine: Machine, executable: bool) -> str:
    """Why a missing PT_GNU_STACK does (or does not) give an executable stack here."""
    parts = []
    if executable:
        parts.append(f"{KERNEL_STACK_TEXT[machine.kernel_stack]}")
    if machine.ldso_exec:
        parts.append("glibc's ld.so assumes an executable stack (DEFAULT_STACK_PERMS "
                     "includes PF_X)")
    else:
        parts.append("glibc's ld.so assumes a non-executable stack (DEFAULT_STACK_PERMS is "
                     "PF_R|PF_W)")
    return f"on {machine.name} " + "; ".join(parts)


def relro_page_size(machine: Machine, load_segments) -> int:
    """The page size PT_GNU_RELRO is rounded to in the worst case: the machine's largest base
    page, but no larger than the file's PT_LOAD alignment (it cannot be loaded with larger
    pages). Never below 4 KiB."""
    aligns = [s.align for s in load_segments if s.align and not s.align & (s.align - 1)]
    limit = max(aligns, default=K4)
    return max(K4, min(machine.page_size, limit))
