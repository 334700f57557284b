"""sysdeps/x86_64/dl-tlsdesc.S + elf/tlsdeschtab.h: TLS descriptors (R_X86_64_TLSDESC, gcc's
-mtls-dialect=gnu2).

A descriptor is two GOT words, {function, argument}. A TLS access in gnu2 code is

    lea  x@tlsdesc(%rip), %rax      # %rax = &descriptor
    call *x@tlscall(%rax)           # %rax = x's offset from the thread pointer
    ...  %fs:(%rax)

The function gets the descriptor's address in %rax, returns the offset in %rax and
preserves every other register (the flags aside): the caller saves nothing around the
call, which is what makes the dialect cheap, and why the function cannot be an ordinary C
function like __tls_get_addr.

glibc 2.36 fills every descriptor when it relocates the object -- also those in .rela.plt
of a lazy link, where ld adds DT_TLSDESC_PLT/DT_TLSDESC_GOT for a lazy descriptor
resolver: lazy TLSDESC was removed in glibc 2.34 (BZ #27137, it raced with dlopen).
elfkit does the same (reloc.py applies the relocation eagerly, whatever the binding mode),
and leaves the DT_TLSDESC_GOT word alone as glibc does. The function chosen:

  _dl_tlsdesc_return    the module has a block in static TLS (every module loaded at
                        start-up): the argument is S + A - tls_offset, the offset itself;
  _dl_tlsdesc_dynamic   the module has dynamic TLS: the argument points at {module,
                        offset}; the function reads the calling thread's DTV (%fs:8) and
                        returns block + offset - tp; a slot not allocated yet (the
                        thread's first access) takes the slow path;
  _dl_tlsdesc_undefweak an undefined weak symbol: the argument is A, returned as A - tp,
                        so the variable's address is A (NULL).

The functions are machine code in a page of the guest (elfkit's share of ld.so's text),
not traps: gnu2 code calls the function on every access (nothing caches the result), and
a trap -- a CPU exception and Python -- costs tens of microseconds where these few
instructions cost nanoseconds. Only the dynamic function's slow path is a trap, where glibc
calls __tls_get_addr's C code: block allocation is Python's (tls.block_address), once per
thread and module. Without dlopen/dlclose module ids are never reused and the DTV never
grows, so unlike glibc's the dynamic function does not compare generation counts.
"""
from __future__ import annotations

import struct

from elfkit.kernel.mm import MAP_ANONYMOUS, MAP_PRIVATE
from elfkit.linker.dso import LinkError
from elfkit.linker.tls import NO_TLS_OFFSET, PAGE, block_address

PROT_READ_EXEC, PROT_READ_WRITE = 5, 3
MASK = 0xFFFFFFFFFFFFFFFF
DESCRIPTOR = struct.Struct("<QQ")

# The source of RESOLVERS (GNU as, AT&T syntax); tests/test_linker_tlsdesc.py assembles it
# and compares. Offsets: RETURN, UNDEFWEAK, DYNAMIC; SLOW_PATH holds the trap's address.
RESOLVERS_S = r"""
_dl_tlsdesc_return:
        movq    8(%rax), %rax           # the argument: the offset from the thread pointer
        ret
        .p2align 3, 0xcc
_dl_tlsdesc_undefweak:
        movq    8(%rax), %rax           # the addend ...
        subq    %fs:0, %rax             # ... minus tp: tp + result = the addend
        ret
        .p2align 4, 0xcc
_dl_tlsdesc_dynamic:
        pushq   %rdi
        pushq   %rsi
        movq    8(%rax), %rdi           # the argument: &{module, offset}
        movq    %fs:8, %rsi             # this thread's DTV
        movq    (%rdi), %rax            # module
        cmpq    -16(%rsi), %rax         # dtv[-1]: the slots it has
        ja      1f
        shlq    $4, %rax
        movq    (%rsi,%rax), %rax       # dtv[module].pointer.val
        cmpq    $-1, %rax               # TLS_DTV_UNALLOCATED
        je      1f
        addq    8(%rdi), %rax           # block + offset - tp
        subq    %fs:0, %rax
        popq    %rsi
        popq    %rdi
        ret
1:      jmpq    *2f(%rip)               # the slow path: elfkit's trap, %rdi = the argument,
        .p2align 3, 0xcc                # the caller's %rsi, %rdi and return address on the stack
2:      .quad   0
"""
RESOLVERS = bytes.fromhex(
    "488b4008c3cccccc"                                      # _dl_tlsdesc_return
    "488b400864482b042500000000c3cccccccccccccccccccc"      # _dl_tlsdesc_undefweak
    "5756488b780864488b342508000000488b07483b46f0771e"      # _dl_tlsdesc_dynamic
    "48c1e004488b04064883f8ff74104803470864482b0425"
    "000000005e5fc3ff2504000000cccccccc"
    "0000000000000000")                                     # the slow path's target
RETURN, UNDEFWEAK, DYNAMIC, SLOW_PATH = 0x00, 0x08, 0x20, 0x60


class TlsDescriptors:
    """One link's descriptor functions (a page of code mapped when the first TLSDESC
    relocation needs it) and the {module, offset} arguments of dynamic descriptors. Holds
    addresses only: a forked child's copy of the link uses the same ones in its copy of the
    memory."""

    def __init__(self, slow_path_trap: int):
        self.slow_path_trap = slow_path_trap
        self.code = 0                        # guest address of RESOLVERS
        self._args = self._args_end = 0      # free space for dynamic arguments

    def descriptor(self, proc, dso, offset: int) -> bytes:
        """The descriptor of the variable at `offset` in dso's TLS block (S + A)."""
        code = self._install(proc)
        if dso.tls_offset != NO_TLS_OFFSET:
            return DESCRIPTOR.pack(code + RETURN, (offset - dso.tls_offset) & MASK)
        return DESCRIPTOR.pack(code + DYNAMIC, self._dynamic_arg(proc, dso.tls_module, offset))

    def undefined_weak(self, proc, addend: int) -> bytes:
        return DESCRIPTOR.pack(self._install(proc) + UNDEFWEAK, addend & MASK)

    def _install(self, proc) -> int:
        if not self.code:
            code = proc.mm.mmap(0, PAGE, PROT_READ_EXEC, MAP_PRIVATE | MAP_ANONYMOUS)
            if code < 0:
                raise LinkError(f"cannot map the TLS descriptor functions (errno {-code})")
            proc.cpu.write(code, RESOLVERS[:SLOW_PATH] + struct.pack("<Q", self.slow_path_trap))
            self.code = code
        return self.code

    def _dynamic_arg(self, proc, module: int, offset: int) -> int:
        """_dl_make_tlsdesc_dynamic: a {module, offset} pair in guest memory."""
        if self._args + 16 > self._args_end:
            area = proc.mm.mmap(0, PAGE, PROT_READ_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
            if area < 0:
                raise LinkError(f"cannot map TLS descriptor arguments (errno {-area})")
            self._args, self._args_end = area, area + PAGE
        arg, self._args = self._args, self._args + 16
        proc.cpu.write(arg, DESCRIPTOR.pack(module, offset & MASK))
        return arg


def dynamic_slow_path(proc, dsos_by_module: dict):
    """Where _dl_tlsdesc_dynamic jumps when the thread's DTV has no block for the module yet:
    %rdi = the argument, [%rsp] = the caller's %rsi, [%rsp+8] its %rdi, [%rsp+16] the return
    address. Allocates the block (tls.block_address), returns its offset from the thread
    pointer in %rax, restores %rsi and %rdi and returns: no other register is touched."""
    cpu = proc.cpu
    module, offset = DESCRIPTOR.unpack(cpu.read(cpu.reg("rdi"), 16))
    dso = dsos_by_module.get(module)
    if dso is None:
        raise LinkError(f"TLS descriptor for module {module}, which no loaded object has")
    block = block_address(proc, dso)
    rsp = cpu.reg("rsp")
    rsi, rdi, ret = struct.unpack("<QQQ", cpu.read(rsp, 24))
    cpu.set_reg("rax", (block + offset - cpu.fs_base()) & MASK)
    cpu.set_reg("rsi", rsi)
    cpu.set_reg("rdi", rdi)
    cpu.set_reg("rsp", rsp + 24)
    cpu.set_reg("rip", ret)
