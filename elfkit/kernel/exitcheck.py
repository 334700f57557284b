"""The exit check at the head of every translated block, made inline (for elfkit.kernel.cpu;
nothing here imports unicorn: cpu.py hands over the addresses). code_page, elfkit's own machine
code on a host page, also serves kernel.time.vsyscall.

Unicorn 2.1's gen_tb_start begins every translated block with a call where QEMU has an inline
test of `cpu->neg.icount_decr` (what uc_emu_stop / cpu_exit set negative to make the CPU leave
its chained blocks):

    movabs $uc, %rdi                  48 bf <uc>          (Unicorn's gen_tb_start)
    xor    %esi, %esi                 33 f6
    call   helper_check_exit_request  e8 <rel32>

For a loop of a few guest instructions per block, that call -- a call, the helper's two
dependent loads and a return, every time round -- made the block about twice as slow as
QEMU's. Once a block is translated, elfkit rewrites the sequence in place into QEMU's test:

    cmpl   $0, -16(%rbp)              %rbp is TCG's env; icount_decr lies 16 bytes before it
    jge    1f                         no exit requested: on with the block
    call   *SLOT(%rbp)                a word of elfkit's own holding the address of a stub:
    ...                                  addq $5,(%rsp); movabs $uc,%rdi; xor %esi,%esi;
 1:                                      movabs $helper,%rax; jmp *%rax

The slow path calls the same helper with the same arguments and the same return address (the
stub moves it past the old call's bytes, which stay where they were), and the helper exits the
block as before: cpu_loop_exit_restore finds the guest state by that address. Nothing else of
the block changes: the flags are dead between TCG ops, and the call clobbered more registers
than the test does. Mid-block checks (Unicorn emits the same call after loads, stores and code
hooks when exact stops are on) are the same sequence and get the same rewrite.

The rewrite of the first 13 bytes is the same at every block of one Unicorn instance (the slot
is addressed from %rbp, so no displacement depends on where the block lies), so a pass over
new code is one bytes.replace: about 1 ms per MB of translated code (a python3 start-up makes
~18 MB, ~40,000 blocks: 20-40 ms, about what the inline tests save it). `call *rel32(%rip)`,
for a code buffer more than 2 GiB from libunicorn, is rewritten the same way; a uc loaded
with `lea rel32(%rip),%rdi` (a uc_struct malloc'ed in a thread's arena, near its CPU's code
buffer) one block at a time.

What it relies on is read from Unicorn's machine code and checked, as cpu.py does elsewhere:
the helper's own first instructions give the offsets of uc->cpu and of the CPU's icount_decr;
free_code_gen_buffer's give uc->tcg_ctx and where TCGContext keeps its code buffer, whose
neighbouring fields must look as QEMU's tcg_prologue_init leaves them (prologue at the
buffer's start, code_gen_ptr inside it); env is found by writing marks into two registers.
Cpu then runs a probe (a chained self-loop, stopped from another thread) before trusting it.
"""
from __future__ import annotations

import ctypes
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_mmap = _libc.mmap
_mmap.restype = ctypes.c_void_p
_mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                  ctypes.c_long]
_mprotect = _libc.mprotect
_mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_malloc = _libc.malloc
_malloc.restype = ctypes.c_void_p
_malloc.argtypes = [ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_PRIVATE, MAP_ANONYMOUS = 0x02, 0x20

ICOUNT_DISP = -16                   # icount_decr - env, the layout this was written for
TEST = b"\x83\x7d\xf0\x00"          # cmpl $0, -16(%rbp)
# Multi-byte NOPs (Intel SDM's recommended forms) by length
_NOPS = [b"", b"\x90", b"\x66\x90", b"\x0f\x1f\x00", b"\x0f\x1f\x40\x00", b"\x0f\x1f\x44\x00\x00",
         b"\x66\x0f\x1f\x44\x00\x00", b"\x0f\x1f\x80\x00\x00\x00\x00"]
_U64 = struct.Struct("<Q")
# The stubs' return-address adjustments: past a `call rel32` (5) or `call *rel32(%rip)` (6)
# left in place, or none (the rest of the sequence is NOPs).
_SKIPS = (0, 5, 6)


def code_page(pieces) -> int | None:
    """A page of elfkit's own machine code on the host: each (offset, bytes) of `pieces`
    written, then the page made read+execute. Its address, or None."""
    page = _mmap(None, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if page is None or page == _MAP_FAILED:
        return None
    for offset, code in pieces:
        ctypes.memmove(page + offset, code, len(code))
    if _mprotect(page, 0x1000, PROT_READ | PROT_EXEC) != 0:
        return None
    return page


def _u64(address: int) -> int:
    return ctypes.c_uint64.from_address(address).value


def _helper_offsets(helper: int) -> tuple[int, int] | None:
    """(offset of uc->cpu, offset of the CPU's icount_decr) from helper_check_exit_request:
    `mov CPU(%rdi),%r8; mov ICOUNT(%r8),%eax; test %eax,%eax; jns ..; test %esi,%esi; je ..`."""
    code = ctypes.string_at(helper, 22)
    if code[0:3] != b"\x4c\x8b\x87" or code[7:10] != b"\x41\x8b\x80" or \
            code[14:17] != b"\x85\xc0\x79" or code[18:21] != b"\x85\xf6\x74":
        return None
    return int.from_bytes(code[3:7], "little"), int.from_bytes(code[10:14], "little")


def _tcg_offsets(free_code_gen_buffer: int) -> tuple[int, int] | None:
    """(offset of uc->tcg_ctx, offset of TCGContext.initial_buffer) from free_code_gen_buffer:
    `mov TCG(%rdi),%rax; mov INITIAL(%rax),%rdi`."""
    code = ctypes.string_at(free_code_gen_buffer, 14)
    if code[0:3] != b"\x48\x8b\x87" or code[7:10] != b"\x48\x8b\xb8":
        return None
    return int.from_bytes(code[3:7], "little"), int.from_bytes(code[10:14], "little")


class InlineExitCheck:
    """Rewrites the exit-check calls of one Unicorn instance's translated blocks (see the module
    docstring). `patch_new()` is called by the thread that runs that instance, while it does not
    run guest code; it rewrites the code translated since the last call."""

    def __init__(self, uc_address: int, helper: int, buffer: int, size: int,
                 code_gen_ptr: ctypes.c_uint64, slot_disp: dict[int, int], env: int = 0):
        self.uc_address = uc_address
        self.env = env                        # the CPU's CPUX86State (its TLB lies before it)
        self.helper = helper
        self.buffer = buffer                  # TCGContext.code_gen_buffer (after the prologue)
        self.code_gen_ptr = code_gen_ptr      # where the next block's code will go
        self.upto = buffer                    # code below this has been rewritten
        self.passes = 0                       # passes that rewrote anything
        self.slot_disp = slot_disp            # skip -> SLOT of its stub (from env)
        uc8 = uc_address.to_bytes(8, "little")
        # (what TCG wrote, what replaces it): movabs + xor, then the call's first byte kept --
        # `call rel32` where the helper is within 2 GiB of all the code, else `call *rel32(%rip)`
        # (each form a scan of all new code: only those that can be there)
        lo, hi = buffer, buffer + size
        forms = []
        if any(not -(1 << 31) <= helper - x < 1 << 31 for x in (lo, hi)):
            forms.append((b"\xff", 6))
        if any(-(1 << 31) <= helper - x < 1 << 31 for x in (lo, hi)):
            forms.append((b"\xe8", 5))
        self.bulk = [(b"\x48\xbf" + uc8 + b"\x33\xf6" + op, self._head(rest, rest) + op)
                     for op, rest in forms]
        # (a lea of uc is in 2 GiB of some of the code, a 32-bit uc in all: one by one)
        self.one_by_one = any(-(1 << 31) <= uc_address - x < 1 << 31
                              for x in (buffer, buffer + size)) or uc_address < 1 << 32

    def _head(self, rest: int, skip: int) -> bytes:
        """The test, a jge over `rest` more bytes after the call, the call through the slot of
        the stub that adds `skip` to the return address."""
        return TEST + b"\x7d" + bytes([6 + rest]) + b"\xff\x95" + \
            self.slot_disp[skip].to_bytes(4, "little", signed=True)

    @classmethod
    def find(cls, uc_address: int, helper: int, free_code_gen_buffer: int, write_marks):
        """The rewriter for the Unicorn instance at `uc_address`, or None when its machine code
        or structures are not what this was written for. write_marks(a, b) puts a and b into
        %rax and %rcx (regs[0] and regs[1] of env). Called by the thread that created the
        instance (the stubs' slots are malloc'ed from its arena, near env)."""
        helper_offs = _helper_offsets(helper)
        tcg_offs = _tcg_offsets(free_code_gen_buffer)
        if helper_offs is None or tcg_offs is None:
            return None
        off_cpu, off_icount = helper_offs
        off_tcg, off_initial = tcg_offs
        if max(off_cpu, off_tcg) >= 0x10000 or off_initial < 0x18 or off_initial >= 0x10000:
            return None
        tcg = _u64(uc_address + off_tcg)
        cpu = _u64(uc_address + off_cpu)
        if not tcg or not cpu:
            return None
        # TCGContext: code_gen_prologue, _epilogue, code_gen_buffer, initial_buffer,
        # initial_buffer_size, code_gen_buffer_size, code_gen_ptr, data_gen_ptr, _highwater
        at = tcg + off_initial - 0x18
        prologue, epilogue, buffer, initial, initial_size, size, ptr, _data, high = \
            struct.unpack_from("<9Q", ctypes.string_at(at, 72))
        if not (initial == prologue < epilogue < buffer <= prologue + 0x10000 and
                buffer + size <= initial + initial_size and buffer <= ptr <= high < buffer + size):
            return None
        code_gen_ptr = ctypes.c_uint64.from_address(at + 0x30)
        # env: X86CPU keeps env right after neg.icount_decr; regs[0] and regs[1] hold the marks
        icount = cpu + off_icount
        marks = (0x5EC0_1D00_E417_C0A1, 0x5EC0_1D00_E417_C0B2)
        write_marks(*marks)
        window = ctypes.string_at(icount, 0x100)
        want = _U64.pack(marks[0]) + _U64.pack(marks[1])
        found = [off for off in range(8, 0x100 - 15, 8) if window[off:off + 16] == want]
        if found != [-ICOUNT_DISP]:
            return None
        env = icount - ICOUNT_DISP
        slot_disp = cls._make_stubs(uc_address, helper, env)
        if slot_disp is None:
            return None
        return cls(uc_address, helper, buffer, size, code_gen_ptr, slot_disp, env)

    @staticmethod
    def _make_stubs(uc_address: int, helper: int, env: int) -> dict[int, int] | None:
        """One stub per entry of _SKIPS on a page of elfkit's own, `addq $skip,(%rsp); movabs
        $uc,%rdi; xor %esi,%esi; movabs $helper,%rax; jmp *%rax`, and the words holding their
        addresses (malloc'ed: near env, within the reach of a disp32 from %rbp). skip -> the
        word's displacement from env, or None."""
        slots = _malloc(8 * len(_SKIPS))
        if not slots or not -(1 << 31) <= slots - env <= (1 << 31) - 8 * len(_SKIPS):
            return None
        page = code_page([(64 * i, (b"\x48\x83\x04\x24" + bytes([skip]) if skip else b"") +
                           b"\x48\xbf" + uc_address.to_bytes(8, "little") + b"\x33\xf6" +
                           b"\x48\xb8" + helper.to_bytes(8, "little") + b"\xff\xe0")
                          for i, skip in enumerate(_SKIPS)])
        if page is None:
            return None
        disp = {}
        for i, skip in enumerate(_SKIPS):
            ctypes.c_uint64.from_address(slots + 8 * i).value = page + 64 * i
            disp[skip] = slots + 8 * i - env
        return disp

    def pending(self) -> bool:
        """Code was translated since the last patch_new (read from any thread: a racy read of
        one aligned word, only to decide whether to ask for a pass)."""
        return self.code_gen_ptr.value != self.upto

    def reset(self):
        """The translated code was flushed: the next pass starts from the buffer's start."""
        self.upto = self.buffer

    def patch_new(self) -> int:
        """Rewrite the exit-check calls of the blocks translated since the last pass; only by
        the thread running this instance, while it runs no guest code. Not 0 when it rewrote
        any (1 for each form rewritten in bulk, 1 for each rewritten one by one)."""
        end = self.code_gen_ptr.value
        if end == self.upto:
            return 0
        if end < self.upto:                   # flushed since (a full buffer, or count hooks)
            self.upto = self.buffer
        start = self.upto
        self.upto = end
        data = ctypes.string_at(start, end - start)
        new, n = data, 0
        for old, replacement in self.bulk:
            # Each call's target is checked: other helpers take (uc, 0) as well -- the code hook
            # of a block (helper_uc_tracecode via Unicorn's inline hooks), whose call rewritten
            # into the exit check would never reach the hook (trace-plt's breakpoints, PLT
            # counting). The replacement is as long as what it replaces: offsets stay valid.
            pieces, pos, size = [], 0, len(old)
            at = new.find(old)
            while at >= 0:
                if self._call_target(new, start, at + 12, end) == self.helper:
                    pieces += (new[pos:at], replacement)
                    pos = at + size
                at = new.find(old, at + size)
            if pieces:
                new = b"".join(pieces) + new[pos:]
                n += 1
        if self.one_by_one:
            out = bytearray(new)
            n += self._one_by_one(new, out, start, end)
            new = bytes(out)
        if n:
            ctypes.memmove(start, new, len(new))
            self.passes += 1
        return n

    def _call_target(self, data: bytes, start: int, call: int, end: int) -> int | None:
        """Where the call at data[call] goes: `call rel32` or `call *rel32(%rip)`."""
        if data[call] == 0xE8:
            return start + call + 5 + int.from_bytes(data[call + 1:call + 5], "little", signed=True)
        if data[call:call + 2] == b"\xff\x15":
            slot = start + call + 6 + int.from_bytes(data[call + 2:call + 6], "little", signed=True)
            return _u64(slot) if self.buffer <= slot <= end - 8 else None
        return None

    def _one_by_one(self, data: bytes, out: bytearray, start: int, end: int) -> int:
        """The forms whose bytes differ from block to block: `lea rel32(%rip),%rdi` of uc, or
        `mov $imm32,%edi`; then `xor %esi,%esi` and a call of the helper. Rewritten whole: the
        test, the call through the no-skip stub's slot, NOPs."""
        n = 0
        forms = [(b"\x48\x8d\x3d", 7)]
        if self.uc_address < 1 << 32:
            forms = [(b"\xbf" + self.uc_address.to_bytes(4, "little"), 5)]
        head = self._head(0, 0)[:5]               # the test and the jge's opcode
        call = b"\xff\x95" + self.slot_disp[0].to_bytes(4, "little", signed=True)
        for load, size in forms:
            at = data.find(load)
            while at >= 0:
                ok = data[at + size:at + size + 2] == b"\x33\xf6"
                if ok and size == 7:
                    ok = start + at + 7 + int.from_bytes(data[at + 3:at + 7], "little",
                                                         signed=True) == self.uc_address
                if ok and self._call_target(data, start, at + size + 2, end) == self.helper:
                    length = size + 2 + (5 if data[at + size + 2] == 0xE8 else 6)
                    out[at:at + length] = head + bytes([length - 6]) + call + _NOPS[length - 12]
                    n += 1
                    at = data.find(load, at + length)
                else:
                    at = data.find(load, at + 1)
        return n
