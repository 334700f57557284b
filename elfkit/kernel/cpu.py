"""The x86-64 CPU: Unicorn, behind a narrow interface. The only module in elfkit that imports unicorn.

The hot paths avoid the binding's per-call overhead: the syscall hook is a raw
ctypes callback registered with uc_hook_add, and syscall arguments are read
(and results written) with one uc_reg_read_batch / uc_reg_write_batch call
into preallocated buffers (about 1 us, against 3-4 us per reg_read).
No code or memory-access hook is installed on the default path; faults arrive
as CPU exceptions.

Two settings of Unicorn's own make CPU-bound guest code about 1.6x faster
(see Cpu.__init__): the per-access exit check is switched off and the soft TLB
is grown before the guest starts. elfkit's traps are `int3` instructions on a
page of its own, handled as CPU exceptions, so no handler depends on a code
hook stopping the CPU in the middle of a translated block. And the call to Unicorn's
check_exit_request that heads every translated block is rewritten into QEMU's inline test once
the block is translated (elfkit.kernel.exitcheck; Cpu._inline_exit_check): tight loops ~2x
faster.
"""
from __future__ import annotations

import ctypes
import os
import struct
import time
from dataclasses import dataclass

import unicorn as uc_mod
from unicorn import unicorn_const as UC
from unicorn import x86_const as X86
from unicorn.unicorn_py3 import unicorn as uc_impl

from elfkit.kernel.exitcheck import InlineExitCheck
from elfkit.kernel.mm.paging import PTE_P, PTE_U, PageTables, PhysMem, pte_flags

# A CPU model on which glibc's ld.so starts: it passes the x86-64 ISA level
# check (x86-64-v2) and every instruction its CPUID advertises is one Unicorn's
# TCG implements (no XSAVEC: the lazy resolver saves registers with fxsave).
# Without AVX, glibc picks SSE string functions, which TCG runs fast.
CPU_MODEL = X86.UC_CPU_X86_WESTMERE

SYSCALL_ARG_REGS = [X86.UC_X86_REG_RAX, X86.UC_X86_REG_RDI, X86.UC_X86_REG_RSI,
                    X86.UC_X86_REG_RDX, X86.UC_X86_REG_R10, X86.UC_X86_REG_R8,
                    X86.UC_X86_REG_R9, X86.UC_X86_REG_RIP, X86.UC_X86_REG_EFLAGS]
SYSCALL_RET_REGS = [X86.UC_X86_REG_RAX, X86.UC_X86_REG_RCX, X86.UC_X86_REG_R11]
USER_RFLAGS = 0x202              # IF and bit 1: set in every RFLAGS user mode sees (%r11 after syscall)

X86_RIP = X86.UC_X86_REG_RIP
REG = {n[len("UC_X86_REG_"):].lower(): getattr(X86, n) for n in dir(X86) if n.startswith("UC_X86_REG_")}
# What save_context keeps, and the SSE/x87 state a signal frame saves.
CONTEXT_REGS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
                "r12", "r13", "r14", "r15", "rip", "eflags")
CONTEXT_IDS = tuple(REG[n] for n in CONTEXT_REGS)
FP_IDS = tuple(REG[f"xmm{i}"] for i in range(16)) + (REG["mxcsr"], REG["fpcw"], REG["fpsw"])

_U64 = struct.Struct("<Q")
# The registers Cpu.context_set writes straight into a saved context's bytes.
CONTEXT_WORDS = ("rip", "rax", "rcx", "r11", "rsp", "fs_base")
# The syscall hook's (uc, user_data) are not declared: the handler needs neither, and ctypes
# then makes no Python objects of them (the x86-64 C convention lets a callee ignore arguments)
_SYSCALL_CB = ctypes.CFUNCTYPE(None)
_INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
_CODE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
_READ_CB = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64,
                            ctypes.c_int, ctypes.c_int64, ctypes.c_void_p)

# Trap addresses: one page in the kernel half of the address space that no guest area covers
# (it is not in /proc/self/maps). Executing at a trap address calls a Python handler instead.
TRAP_PAGE = 0xFFFFFFFFFF7FF000
# Where Cpu._probe runs its machine code (before any guest memory exists).
PROBE_AT = 0x1000
# A page of the kernel half where invalidate_phys shows Unicorn a frame whose blocks must go.
SCRATCH_PAGE = 0xFFFFFFFFFE000000
# Entries the soft TLB is grown to before the guest runs: 16 MiB of working set.
TLB_ENTRIES = 4096
# A run that has translated blocks for this long is stopped (by the ticker) so that their
# exit-check calls are rewritten (see Cpu._inline_exit_check); every run begins with that pass.
PATCH_EVERY_S = 0.01
# Exceptions of the fault class (Intel SDM vol. 3, 6.5): %rip stays on the instruction, which did
# not complete (#DE, #BR, #UD, #NM, #TS, #NP, #SS, #GP, #PF, #MF, #AC, #XM). #BP (int3), #OF
# (into) and `int N` are traps: the instruction completed.
FAULT_VECTORS = frozenset((0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19))


def _no_exit_request(lib) -> int | None:
    """Offset of uc_struct.no_exit_request, read from Unicorn's own check_exit_request: its
    first two instructions are `mov rsi, [rdi + tcg_ctx.uc]; cmp byte [rsi + OFFSET], 0`.
    None if this Unicorn build does not start that way (the setting is then left alone)."""
    try:
        fn = ctypes.cast(lib.check_exit_request_x86_64, ctypes.c_void_p).value
    except AttributeError:
        return None
    code = ctypes.string_at(fn, 14)
    if code[:3] != b"\x48\x8b\xb7" or code[7:9] != b"\x80\xbe" or code[13] != 0:
        return None
    return int.from_bytes(code[9:13], "little")


def _no_exit_request_flag(lib, uc_address: int) -> ctypes.c_uint8 | None:
    """The byte that tells Unicorn's translator not to emit a call to check_exit_request
    after every guest load and store (and code hook). Unicorn 2.1 emits one there so that a
    memory hook can stop the CPU mid-block; elfkit installs no memory hook, and the call, with
    the guest registers it spills and reloads, made memory-heavy code about 1.3x slower."""
    offset = _no_exit_request(lib)
    if offset is None:
        return None
    return ctypes.c_uint8.from_address(uc_address + offset)


class RegBatch:
    """The buffers of one batched register access (uc_reg_read_batch / uc_reg_write_batch),
    made once: the register ids, a `width`-byte slot per register and the slots' addresses.
    `words` packs or unpacks every slot as little-endian 64-bit words."""
    __slots__ = ("n", "ids", "buf", "ptrs", "words")

    def __init__(self, ids, width: int = 8):
        self.n = n = len(ids)
        self.ids = (ctypes.c_int * n)(*ids)
        self.buf = (ctypes.c_uint8 * (width * n))()
        base = ctypes.addressof(self.buf)
        self.ptrs = (ctypes.c_void_p * n)(*[base + width * i for i in range(n)])
        self.words = struct.Struct(f"<{width * n // 8}Q")


def _instance_words(raw: bytes) -> list[tuple[int, bytes]]:
    """The 8-byte words of a fresh CPU's saved context that hold host pointers (its guest
    registers are all zero or small then). Unicorn 2.1's saved x86 context ends with a word
    that differs between two Unicorn instances and stays the same within one (a host address
    of the instance's own), and uc_context_restore copies it back with the registers; a
    context saved on one CPU and restored on another must not carry the first one's."""
    words = []
    for offset in range(0, len(raw) - 7, 8):
        value = int.from_bytes(raw[offset:offset + 8], "little")
        if 0x10000000000 <= value < 0x800000000000:
            words.append((offset, raw[offset:offset + 8]))
    return words


class CpuError(Exception):
    """Unicorn stopped with an error: .kind is 'invalid-insn', 'fault', 'timeout' or 'other'."""

    def __init__(self, kind, message):
        self.kind = kind
        super().__init__(message)


@dataclass(slots=True)
class Fault:
    access: str               # read / write / execute
    address: int
    unmapped: bool


class Cpu:
    """One x86-64 CPU over a physical memory. Each guest process has its own address space
    (PageTables); `pages` is the one CR3 points at now (switch_mm).

    Alone (`Cpu()`), it is a whole machine with a memory of its own. In an SMP machine
    (`elfkit.kernel.smp.Machine`), every CPU is a Unicorn instance of its own over the one
    physical pool (`phys`), run by a host thread of its own; what one CPU's kernel work
    means for another CPU's translated code and TLB reaches it as `pending` work, done by
    that CPU's own thread before it runs guest code again (`apply_pending`)."""

    def __init__(self, machine=None, phys: PhysMem | None = None, index: int = 0):
        self.machine = machine
        self.index = index
        self.uc = uc_mod.Uc(UC.UC_ARCH_X86, UC.UC_MODE_64)
        self.uc.ctl_set_cpu_model(CPU_MODEL)
        self._translated = False
        if phys is None:
            phys = PhysMem(self.uc, getattr(machine, "memory_limit", None))
            phys.on_code_freed = self.invalidate_phys if machine is None else machine.invalidate_phys
        else:
            phys.attach(self.uc)
        self.phys = phys
        self.current = None           # the task whose registers this CPU holds (kernel.current)
        self.pending: list = []       # work other CPUs left for this one (see apply_pending)
        self.tlb_stale = False        # the loaded address space changed while another CPU worked
        self.pages = self.new_address_space()
        self.boot_pages = self.pages
        # The probes below unmap their scratch page: no TLB flush (and no clearing of a fault in
        # flight) in between, or the calibration would not see the fault it made.
        boot_on_change, self.pages.on_change = self.pages.on_change, None
        self._clean_context = None
        self._enable_paging()
        self._clean_context = self._context_bytes()
        self._own_words = _instance_words(self._clean_context)
        self._old_exception_at: list[int] | None = None
        self._calibrate_exception_field()
        self._fault_ctx = self.uc.context_save()       # reused by fault_access (no allocation)
        self._error_code_at: int | None = None
        self._h = self.uc._uch
        self._uc_address = self._h.value               # the uc_struct, for its private fields
        lib = uc_impl.uclib
        self._lib = lib
        self._no_exit_request = _no_exit_request_flag(lib, self._uc_address)
        self.exact_stops = True               # Unicorn's default
        self.set_exact_stops(False)
        self._emu_counter = self._find_emu_counter()
        # uc_struct.emu_count (the N of emu_start(count=N)) is the word after the counter
        self._emu_limit = None if self._emu_counter is None else \
            ctypes.c_uint64.from_address(ctypes.addressof(self._emu_counter) + 8)
        self._counting = False        # the run in progress has a count (see insns_run)
        self._not_retired = 0         # what its count hook saw that the guest did not retire
        self._grow_tlb(TLB_ENTRIES)
        self._calibrate_error_code()     # (after the settings above: its probes then run as written)
        self._exit_check = self._inline_exit_check()
        self._tlb_mask = self._find_tlb_mask()
        self._invlpg = self._prove_invlpg()
        self._tlb_pages: PageTables | None = None   # regrow_tlb's scratch address space
        self._patched_at = 0.0           # when the last pass of _exit_check ran (time.monotonic)
        self._count_hook = True          # Unicorn's count hook is in (the probes' counts; run())
        self.pages.on_change = boot_on_change
        self._syscall_args = RegBatch(SYSCALL_ARG_REGS)
        self._syscall_ret = RegBatch(SYSCALL_RET_REGS)
        self._batches: dict[tuple[int, ...], RegBatch] = {}
        # Fresh function pointers without the binding's argtypes: ctypes then passes the
        # handle and the arrays as they are, instead of converting each through from_param
        # (about 1 us per call, twice per syscall).
        # Through a PyDLL of the same library: these calls keep the GIL (a CDLL's release and
        # take it again around each call, with a mutex and a condition each way, and let the
        # other CPU's thread in between); none of them calls back into Python.
        held = ctypes.PyDLL(lib._name, handle=lib._handle)
        fn = type(held.uc_reg_read_batch)
        self._read_batch = fn(("uc_reg_read_batch", held))
        self._write_batch = fn(("uc_reg_write_batch", held))
        self._save_context = fn(("uc_context_save", held))
        self._restore_context = fn(("uc_context_restore", held))
        self._context_at = self._context_register_offsets()
        at = self._context_at         # (rip, rax, rcx, r11): a syscall's return, in a context
        self._return_at = None if at is None else (at["rip"], at["rax"], at["rcx"], at["r11"])
        self._env_mem = self._find_env()
        self.uc.ctl(UC.UC_CTL_TB_FLUSH, UC.UC_CTL_IO_WRITE)   # no block of the probes above
        self._translated = False      # True once guest code may have been translated
        self._keep = []               # ctypes callbacks must outlive the hooks
        self.fault: Fault | None = None
        self.interrupt: int | None = None
        self.retry = False
        self.on_fault = None          # callable(access, address, unmapped) -> bool (handled)
        self.trap_error: Exception | None = None     # a trap handler raised (a bug in elfkit)
        self.before_run: list = []    # op(cpu) at the next run's start, outside every hook
        # the scheduler's view of this CPU (see elfkit.kernel.sched)
        self.running = False          # executing guest code now (the GIL and the BKL are free)
        self.slice_end: float | None = None    # when the ticker ends the running task's slice
        self.idle = False             # waiting for a task to run
        self.guest_s = 0.0            # wall time spent running guest code
        self.ran_until = time.monotonic()   # when it last stopped running guest code

    def _enable_paging(self):
        """Long mode with 4-level paging (see elfkit.kernel.mm.paging), SSE enabled, CR0.WP so
        read-only pages are read-only, EFER.NXE so NX pages do not execute."""
        uc = self.uc
        uc.reg_write(X86.UC_X86_REG_CR3, self.pages.pml4)
        uc.reg_write(X86.UC_X86_REG_CR4, uc.reg_read(X86.UC_X86_REG_CR4) |
                     (1 << 5) | (1 << 9) | (1 << 10))            # PAE, OSFXSR, OSXMMEXCPT
        uc.msr_write(0xC0000080, uc.msr_read(0xC0000080) | (1 << 11) | (1 << 8))   # EFER: NXE, LME
        cr0 = uc.reg_read(X86.UC_X86_REG_CR0)
        uc.reg_write(X86.UC_X86_REG_CR0, ((cr0 | (1 << 31) | (1 << 16) | (1 << 1) | 1) &
                                          ~(1 << 2)))            # PG, WP, MP, PE; not EM

    # --- address spaces ---------------------------------------------------------------------
    def new_address_space(self) -> PageTables:
        pages = PageTables(self.phys)
        pages.on_change = self._on_change_for(pages)
        pages.on_remap = self._on_remap_for(pages)
        return pages

    def fork_address_space(self, pages: PageTables) -> PageTables:
        child = pages.fork()
        child.on_change = self._on_change_for(child)
        child.on_remap = self._on_remap_for(child)
        return child

    def _on_remap_for(self, pages: PageTables):
        """A present page of `pages` got another frame (a copy-on-write copy): every CPU that
        has it loaded must forget that page's entry -- this one now, another before it next
        runs guest code -- or its reads go on to the old frame, which the other process now
        writes or the allocator hands out again."""
        if self.machine is not None:
            machine = self.machine
            return lambda addr, size: machine.tlb_remapped(pages, addr, size)
        return lambda addr, size: self.flush_tlb_pages(addr, size) if pages is self.pages else None

    def _on_change_for(self, pages: PageTables):
        """Permissions or frames of `pages` were taken away: every CPU that has it loaded must
        forget its TLB entries (this one now, another before it next runs guest code)."""
        if self.machine is not None:
            machine = self.machine
            return lambda: machine.tlb_changed(pages)
        return lambda: self._flush_tlb() if pages is self.pages else None

    def switch_mm(self, pages: PageTables):
        """Point CR3 at another address space (switch_mm): QEMU flushes its TLB and its
        virtual-pc cache; translated blocks, found by physical address, stay valid."""
        if pages is self.pages and not self.tlb_stale:
            return
        self.pages = pages
        self.tlb_stale = False
        self.uc.reg_write(X86.UC_X86_REG_CR3, pages.pml4)    # (run() clears a fault in flight)

    def apply_pending(self):
        """Work another CPU left for this one, done by this CPU's own thread (Unicorn is not
        to be called from two threads at once): leave an address space that was freed, forget
        stale TLB entries, drop translated blocks of frames that were freed or rewritten, add
        code hooks. Called before guest code runs and when a hook returns to it."""
        if self.pages.released:
            self.switch_mm(self.boot_pages)
        if self.tlb_stale:
            self.tlb_stale = False
            self._flush_tlb()
        work, self.pending = self.pending, []
        for op in work:
            op(self)

    def catch_up(self):
        """apply_pending, when there is anything to do (the BKL held)."""
        if self.pending or self.tlb_stale:
            self.apply_pending()

    def context(self, into=None):
        """Every register of the CPU (a task's saved state while it does not run); `into`: a
        context saved before, overwritten in place (no new allocation per task switch)."""
        if into is None:
            return self.uc.context_save()
        self.uc.context_update(into)
        return into

    def set_context(self, ctx):
        """Load a task's registers; CR3 is switch_mm's, so it is put back as it is now. A
        context saved on another CPU (a task that moved, a thread of a process that did, the
        kernel's fresh context) carries that Unicorn instance's own host pointers in its
        CPUX86State; they are replaced by this instance's first (see _own_words)."""
        self.restore_in_hook(ctx)
        self.uc.reg_write(X86.UC_X86_REG_CR3, self.pages.pml4)

    def restore_in_hook(self, ctx):
        """set_context for a thread of the same address space, from inside a hook: no CR3
        write (a register write there makes Unicorn leave its translation loop)."""
        if self._own_words:
            raw = self._context_view(ctx)
            for offset, word in self._own_words:
                raw[offset:offset + 8] = word
        env = self._env_mem
        if env is not None:
            try:
                env[:] = ctx._elfkit_data
            except AttributeError:
                env[:] = self._context_data(ctx)
            return
        self._restore_context(self._h, ctx._context)

    def _find_env(self):
        """Unicorn's CPUX86State as a writable memoryview -- when a saved context is a plain copy
        of env, as uc_context_save and uc_context_restore make it for x86 in Unicorn 2.1 (a
        memcpy each way), proven here by one save, and rax, rcx and r11 are regs[0], [1] and
        [11] in it. The syscall hook's thread switch and its return then copy and store in
        memory, with no ctypes call (some 0.2 us each). None when env's address is not known
        (no inline exit check) or the bytes differ: the ctypes calls are used."""
        check, at = self._exit_check, self._context_at
        if check is None or not getattr(check, "env", 0) or at is None:
            return None
        header = at["rax"]                     # regs[0], env's first word
        if (at["rcx"] - header, at["r11"] - header) != (8, 88):
            return None
        ctx = self.uc.context_save()
        size = ctx.size - header
        if size <= 0 or ctypes.string_at(ctx.context, ctx.size)[header:] != \
                ctypes.string_at(check.env, size):
            return None
        return memoryview((ctypes.c_char * size).from_address(check.env)).cast("B")

    def _context_data(self, ctx):
        """The part of a saved context that is a copy of env, as a memoryview (made once)."""
        data = ctx._elfkit_data = memoryview(self._context_view(ctx)).cast("B")[
            self._context_at["rax"]:]
        return data

    def save_in_hook(self, into, rip: int):
        """context(into=...) from inside the syscall hook (a thread switch there), with %rip
        made `rip`: in the hook it is still the syscall instruction's, and the thread is to
        resume after it, as a context saved after a stop has it. A copy of env, else one ctypes
        call."""
        env = self._env_mem
        if into is None:
            into = self.uc.context_save()
        elif env is not None:
            try:
                into._elfkit_data[:] = env
            except AttributeError:
                self._context_data(into)[:] = env
        else:
            self._save_context(self._h, into._context)
        at = self._return_at
        if at is None:
            self.context_set(into, rip)
            return into
        try:
            raw = into._elfkit_raw
        except AttributeError:
            raw = self._context_view(into)
        _U64.pack_into(raw, at[0], rip)
        return into

    def resume_in_hook(self, ctx, rip: int, rax: int, rcx: int, r11: int):
        """restore_in_hook of a thread returning from a system call: %rax its result, %rcx and
        %r11 as the syscall instruction leaves them; `rip` the instruction's own address, as
        Unicorn adds its 2 bytes after the hook (a futex hand-over: context_set's four words,
        without its dictionary)."""
        at = self._return_at
        if at is None:
            self.context_set(ctx, rip, rax, rcx, r11)
        else:
            try:
                raw = ctx._elfkit_raw
            except AttributeError:
                raw = self._context_view(ctx)
            pack = _U64.pack_into
            pack(raw, at[0], rip)
            pack(raw, at[1], rax & 0xFFFFFFFFFFFFFFFF)
            pack(raw, at[2], rcx)
            pack(raw, at[3], r11)
        self.restore_in_hook(ctx)

    def context_set(self, ctx, rip: int, rax: int | None = None, rcx: int = 0, r11: int = 0,
                    **more: int):
        """Write %rip -- with rax, a system call's return: %rax, %rcx, %r11; and any of `more`
        (CONTEXT_WORDS: rsp, fs_base) -- into a saved context, in place: the words found by
        _context_register_offsets, else through Unicorn."""
        at = self._context_at
        if at is None:
            values = {"rip": rip, **more}
            if rax is not None:
                values.update(rax=rax, rcx=rcx, r11=r11)
            for name, value in values.items():
                ctx.reg_write(REG[name], value & 0xFFFFFFFFFFFFFFFF)
            return
        raw = self._context_view(ctx)          # (a thread switch makes four of these: no dict)
        pack = _U64.pack_into
        pack(raw, at["rip"], rip & 0xFFFFFFFFFFFFFFFF)
        if rax is not None:
            pack(raw, at["rax"], rax & 0xFFFFFFFFFFFFFFFF)
            pack(raw, at["rcx"], rcx & 0xFFFFFFFFFFFFFFFF)
            pack(raw, at["r11"], r11 & 0xFFFFFFFFFFFFFFFF)
        for name, value in more.items():
            pack(raw, at[name], value & 0xFFFFFFFFFFFFFFFF)

    @staticmethod
    def _context_view(ctx):
        """The bytes of a saved context as a writable ctypes array (made once per context)."""
        raw = ctx.__dict__.get("_elfkit_raw")
        if raw is None:
            address = ctypes.cast(ctx.context, ctypes.c_void_p).value
            raw = ctx._elfkit_raw = (ctypes.c_char * ctx.size).from_address(address)
        return raw

    def _context_register_offsets(self) -> dict[str, int] | None:
        """Where a saved context keeps the CONTEXT_WORDS registers (CPUX86State's eip, regs[],
        segs[R_FS].base): marks written through Unicorn, then looked for in the bytes. None when
        any is not found exactly once (context_set then writes through Unicorn)."""
        ctx = self.uc.context_save()
        marks = {name: 0x5EC0_1D00_0000_00A1 + (i << 12) for i, name in enumerate(CONTEXT_WORDS)}
        for name, mark in marks.items():
            ctx.reg_write(REG[name], mark)
        raw = ctypes.string_at(ctx.context, ctx.size)
        found = {}
        for name, mark in marks.items():
            word = mark.to_bytes(8, "little")
            at = raw.find(word)
            if at < 0 or at % 8 or raw.count(word) != 1:
                return None
            found[name] = at
        return found

    # --- memory (guest virtual addresses) ---------------------------------------------------
    def map(self, addr: int, size: int, prot: int):
        """Map pages where nothing is mapped. No TLB flush: the TLB never holds a "not present"
        page, and each flush can shrink QEMU's TLB (see _grow_tlb)."""
        self.pages.map(addr, size, prot)
        self.clear_exception_in_flight()

    def unmap(self, addr: int, size: int):
        self.pages.unmap(addr, size)              # frames freed with code lose their blocks

    def protect(self, addr: int, size: int, prot: int):
        self.pages.protect(addr, size, prot)

    def _flush_tlb(self):
        self.uc.ctl(UC.UC_CTL_TLB_FLUSH, UC.UC_CTL_IO_WRITE)
        # Unicorn's internal refills after a change of the address space can leave a fault
        # "in flight" (see clear_exception_in_flight); clear it so the guest's next real
        # fault is reported as itself, not as a double or (silently) a triple fault.
        self.clear_exception_in_flight()

    def flush_tlb_pages(self, addr: int, size: int):
        """Forget the TLB entries of [addr, addr+size) -- INVLPG, page by page, through QEMU's
        own helper (helper_invlpg: tlb_flush_page for every MMU index, and the virtual-pc cache
        of the page) -- or the whole TLB where that helper could not be proven to work."""
        invlpg = self._invlpg
        if invlpg is None or size > 16 * 0x1000:
            self._flush_tlb()
            return
        env = self._env
        for page in range(addr & ~0xFFF, addr + size, 0x1000):
            invlpg(env, page)

    def _prove_invlpg(self):
        """QEMU's helper_invlpg(env, addr), called from here, if it demonstrably drops one page's
        entry: a probe reads a page through frame A, the PTE is pointed at frame B with no
        flush (the stale entry still reads A), then after the call the same read must see B.
        None (whole-TLB flushes instead) when the symbol, env or the proof is missing."""
        check = self._exit_check
        env = getattr(check, "env", 0) if check is not None else 0
        try:
            fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64)(
                ("helper_invlpg_x86_64", self._lib))
        except (AttributeError, OSError):
            return None
        if not env:
            return None
        self._env = env
        at = 0x7000
        frames = [self.phys.alloc(0x1000), self.phys.alloc(0x1000)]
        self.phys.write(frames[0], b"\x11" * 8)
        self.phys.write(frames[1], b"\x22" * 8)
        read = b"\x48\x8b\x04\x25" + at.to_bytes(4, "little")             # mov rax, [at]
        seen = []
        ctx = self.uc.context_save()                  # (a fresh CPU's registers stay as they were)
        try:
            self.pages.set_ptes(at, 0x1000, pte_flags(1), lambda va: frames[0])
            self.uc.reg_write(X86.UC_X86_REG_RAX, 0)
            self._probe(read)
            seen.append(self.uc.reg_read(X86.UC_X86_REG_RAX))
            self.pages.set_ptes(at, 0x1000, pte_flags(1), lambda va: frames[1])
            self._probe(read)                                              # the stale entry
            seen.append(self.uc.reg_read(X86.UC_X86_REG_RAX))
            fn(env, at)
            self._probe(read)
            seen.append(self.uc.reg_read(X86.UC_X86_REG_RAX))
        finally:
            self.pages.set_ptes(at, 0x1000, 0, None)
            for f in frames:
                self.phys.frames.release(f, 0x1000)
            self.uc.context_restore(ctx)
            self._flush_tlb()
        return fn if seen == [0x1111111111111111, 0x1111111111111111, 0x2222222222222222] else None

    def read(self, addr: int, size: int) -> bytes:
        return self.pages.read(addr, size)

    def write(self, addr: int, data: bytes):
        self.pages.write(addr, data)
        if self._translated:
            b = self.pages.find(addr)
            if b is None or b.code or addr + len(data) > b.vend:    # (data pages: nothing to drop)
                self.invalidate_code(addr, len(data))

    def invalidate_phys(self, paddr: int, size: int):
        """Drop the translated blocks made from physical [paddr, paddr+size) (frames that held
        code and go back to the allocator). Unicorn finds the range by a virtual start address
        only, so the first frame is shown at a scratch page of the current address space for
        the moment of the call."""
        if not self._translated:
            return
        pages = self.pages
        pages.set_ptes(SCRATCH_PAGE, 0x1000, PTE_P | PTE_U, lambda _va: paddr)
        self.uc.ctl(UC.UC_CTL_TLB_FLUSH, UC.UC_CTL_IO_WRITE)
        self.uc.ctl_remove_cache(SCRATCH_PAGE, SCRATCH_PAGE + size)
        pages.set_ptes(SCRATCH_PAGE, 0x1000, 0, None)
        self._flush_tlb()

    def invalidate_code(self, addr: int, size: int):
        """Drop the translated blocks made from [addr, addr+size), as a store by the CPU would,
        on every CPU. Unicorn's mem_write does not (so read() into code, or a frame reused for
        new code, would run the old code). Only frames that ever held executable pages can carry
        blocks: invalidate_phys drops them."""
        invalidate = self.invalidate_phys if self.machine is None else self.machine.invalidate_phys
        for paddr, n in self.pages.code_frames(addr, size):
            invalidate(paddr, n)

    # --- registers -------------------------------------------------------------------------
    def reg(self, name: str) -> int:
        return self.uc.reg_read(REG[name])

    def set_reg(self, name: str, value: int):
        self.uc.reg_write(REG[name], value & 0xFFFFFFFFFFFFFFFF)

    def set_fs_base(self, value: int):
        self.uc.reg_write(X86.UC_X86_REG_FS_BASE, value)

    def fs_base(self) -> int:
        return self.uc.reg_read(X86.UC_X86_REG_FS_BASE)

    def set_gs_base(self, value: int):
        self.uc.reg_write(X86.UC_X86_REG_GS_BASE, value)

    def gs_base(self) -> int:
        return self.uc.reg_read(X86.UC_X86_REG_GS_BASE)

    def syscall_return(self, value: int, rip: int, eflags: int):
        """RAX = result; RCX = return address and R11 = RFLAGS, as the syscall instruction sets
        them: user mode's RFLAGS, IF and the reserved bit 1 set (USER_RFLAGS; Unicorn's guest
        runs with IF clear)."""
        b = self._syscall_ret
        b.words.pack_into(b.buf, 0, value & 0xFFFFFFFFFFFFFFFF, rip, eflags | USER_RFLAGS)
        self._write_batch(self._h, b.ids, b.ptrs, b.n)

    def syscall_io(self):
        """The syscall hook's register access in pieces, for the dispatcher to do inline (it runs
        for every system call, and a method call is a good part of its cost): the batched
        read and write functions, the Unicorn handle, and the batches of the arguments -- (nr,
        a0..a5, rip, eflags) in one read -- and of syscall_return's registers, as (ids, ptrs,
        n, buf, the unpack_from or pack_into of their words); and env, where the return's
        registers are stored directly -- rax and rcx at 0 and 8, r11 at 88 (see _find_env;
        None: through the write batch)."""
        a, r = self._syscall_args, self._syscall_ret
        return (self._read_batch, self._write_batch, self._h,
                (a.ids, a.ptrs, a.n, a.buf, a.words.unpack_from),
                (r.ids, r.ptrs, r.n, r.buf, r.words.pack_into), self._env_mem)

    def _batch(self, ids: tuple[int, ...]) -> RegBatch:
        """16-byte slots (XMM registers fit) for a list of registers, made once per list."""
        b = self._batches.get(ids)
        if b is None:
            b = self._batches[ids] = RegBatch(ids, 16)
        return b

    def read_regs(self, ids: tuple[int, ...]) -> list[int]:
        """Unicorn register ids -> values (up to 128 bits), in one uc_reg_read_batch."""
        b = self._batch(ids)
        ctypes.memset(b.buf, 0, len(b.buf))            # narrower registers fill only a part
        self._read_batch(self._h, b.ids, b.ptrs, b.n)
        w = b.words.unpack_from(b.buf)
        return [w[i] | w[i + 1] << 64 for i in range(0, len(w), 2)]

    def write_regs(self, ids: tuple[int, ...], values):
        """Set registers (values up to 128 bits), in one uc_reg_write_batch."""
        b = self._batch(ids)
        b.words.pack_into(b.buf, 0, *[half for v in values
                                       for half in (v & 0xFFFFFFFFFFFFFFFF, v >> 64 & 0xFFFFFFFFFFFFFFFF)])
        self._write_batch(self._h, b.ids, b.ptrs, b.n)

    def set_regs(self, **values: int):
        self.write_regs(tuple(REG[n] for n in values), [v & 0xFFFFFFFFFFFFFFFF for v in values.values()])

    def save_context(self) -> dict:
        return dict(zip(CONTEXT_REGS, self.read_regs(CONTEXT_IDS)))

    def restore_context(self, ctx: dict):
        self.write_regs(tuple(REG[n] for n in ctx), list(ctx.values()))

    def fp_state(self):
        """The SSE/x87 state a signal handler may clobber: XMM0-15, MXCSR, FPU control/status."""
        return self.read_regs(FP_IDS)

    def set_fp_state(self, state):
        self.write_regs(FP_IDS, state)

    # --- exception state ---------------------------------------------------------------------
    def _context_bytes(self) -> bytes:
        ctx = self.uc.context_save()
        return ctypes.string_at(ctx.context, ctx.size)

    def _probe(self, code: bytes, count: int = 0):
        """Run `code` (machine code elfkit uses to learn about Unicorn) from a scratch page
        mapped for the call; a fault ends it quietly. The page's translated blocks are dropped
        first: the previous probe ran other code from the same frame."""
        self.pages.map(PROBE_AT, 0x1000, 5)
        self.pages.write(PROBE_AT, code)
        self.uc.ctl_remove_cache(PROBE_AT, PROBE_AT + 0x1000)
        try:
            self.uc.emu_start(PROBE_AT, PROBE_AT + len(code), count=count)
        except uc_mod.UcError:
            pass
        self.pages.unmap(PROBE_AT, 0x1000)

    def _calibrate_exception_field(self):
        """Find env->old_exception once: fault on purpose, see which word of the CPU context
        went from -1 to 14, then put the fresh CPU back."""
        self._probe(b"\xc6\x04\x25\x00\x30\x00\x00\x00")           # mov byte [0x3000], 0
        raw = self._context_bytes()
        found = [off for off in range(0, len(raw) - 3, 4)
                 if self._clean_context[off:off + 4] == b"\xff\xff\xff\xff"
                 and int.from_bytes(raw[off:off + 4], "little") == 14]
        self._old_exception_at = found if len(found) == 1 else None
        ctx = self.uc.context_save()
        ctypes.memmove(ctx.context, self._clean_context, len(self._clean_context))
        self.uc.context_restore(ctx)
        self._flush_tlb()

    def _calibrate_error_code(self):
        """Find env->error_code, the #PF error code Unicorn does not hand to the hook: fault
        on purpose three ways (a write to a read-only page: 3; a read of a page not present:
        0; a write to one: 2) and keep the one word of the CPU context that said so each time."""
        seen = []
        for code, prot in ((b"\xc6\x04\x25\x00\x30\x00\x00\x00", 1),     # mov byte [0x3000], 0
                           (b"\x8a\x04\x25\x00\x50\x00\x00", 0),         # mov al, [0x5000]
                           (b"\xc6\x04\x25\x00\x50\x00\x00\x00", 0)):   # mov byte [0x5000], 0
            if prot:
                self.pages.map(0x3000, 0x1000, prot)
            self._probe(code)
            seen.append(self._context_bytes())
            if prot:
                self.pages.unmap(0x3000, 0x1000)
            self._flush_tlb()              # (else the next probe may run this one's stale block)
        want = (3, 0, 2)
        found = [off for off in range(0, min(len(r) for r in seen) - 3, 4)
                 if all(int.from_bytes(r[off:off + 4], "little") == w for r, w in zip(seen, want))]
        self._error_code_at = found[0] if len(found) == 1 else None

    def _inline_exit_check(self) -> InlineExitCheck | None:
        """Every translated block begins with a call to Unicorn's check_exit_request, which
        tight loops pay for on every pass: find what replacing it with QEMU's inline test
        needs (elfkit.kernel.exitcheck), then prove it on a probe: a one-block loop chained
        to itself, its block rewritten, must stop at its first instruction when uc_emu_stop
        is called (by the count hook of emu_start(count=N): with exact stops off only the
        rewritten test can see it). None (the calls stay) when anything differs, or when the
        environment says ELFKIT_EXIT_CHECK=call (to measure, or to rule it out)."""
        if os.environ.get("ELFKIT_EXIT_CHECK") == "call":
            return None
        lib, uc, rcx = self._lib, self.uc, X86.UC_X86_REG_RCX
        try:
            helper = ctypes.cast(lib.helper_check_exit_request_x86_64, ctypes.c_void_p).value
            free_buffer = ctypes.cast(lib.free_code_gen_buffer_x86_64, ctypes.c_void_p).value
        except AttributeError:
            return None
        touched = (X86.UC_X86_REG_RAX, rcx, X86.UC_X86_REG_EFLAGS, X86_RIP)
        saved = [uc.reg_read(r) for r in touched]       # (put back: a fresh CPU's registers)
        try:
            return self._prove_exit_check(InlineExitCheck.find(
                self._uc_address, helper, free_buffer,
                lambda a, b: (uc.reg_write(X86.UC_X86_REG_RAX, a), uc.reg_write(rcx, b))))
        finally:
            for r, value in zip(touched, saved):
                uc.reg_write(r, value)

    def _prove_exit_check(self, check: InlineExitCheck | None) -> InlineExitCheck | None:
        """`check` if the probe of _inline_exit_check stops as it must, else None."""
        if check is None:
            return None
        uc, rcx = self.uc, X86.UC_X86_REG_RCX
        # 1: dec rcx; jnz 1b; hlt. Both runs end by their count, never at `until` (Unicorn drops
        # the blocks holding until - 1 after each run: the loop's would be translated again).
        loop = b"\x48\xff\xc9\x75\xfb\xf4"
        spins, left, at, until = 1 << 20, -1, -1, PROBE_AT + 0x800
        self.pages.map(PROBE_AT, 0x1000, 5)
        self.pages.write(PROBE_AT, loop)
        uc.ctl_remove_cache(PROBE_AT, PROBE_AT + 0x1000)
        try:
            uc.reg_write(rcx, spins)
            uc.emu_start(PROBE_AT, until, count=100)             # translate the loop's block
            if check.patch_new():
                uc.reg_write(rcx, spins)
                uc.emu_start(PROBE_AT, until, count=1000)        # its test must see the stop
                left, at = uc.reg_read(rcx), uc.reg_read(X86_RIP)
        except uc_mod.UcError:
            pass
        self.pages.unmap(PROBE_AT, 0x1000)
        self._flush_tlb()                   # (no TLB entry of the probe's page may stay)
        uc.ctl(UC.UC_CTL_TB_FLUSH, UC.UC_CTL_IO_WRITE)
        check.reset()
        return check if spins - 1000 < left < spins and at == PROBE_AT else None

    def blocks_to_patch(self, now: float) -> bool:
        """The run going on has translated blocks whose exit-check calls are still there, and
        has run PATCH_EVERY_S since its last pass: the ticker stops it (run() rewrites them)."""
        check = self._exit_check
        return check is not None and now - self._patched_at >= PATCH_EVERY_S and check.pending()

    def fault_access(self) -> str:
        """In the interrupt hook of a page fault: what the access was ("read", "write",
        "execute"; "access" when the error code could not be found), read from the error
        code, and the fault no longer "in flight" (see clear_exception_in_flight) -- one
        context copy out and, only when needed, one back."""
        ctx = self._fault_ctx
        self.uc.context_update(ctx)
        base = ctx.context.value
        access = "access"
        if self._error_code_at is not None:
            code = ctypes.c_int32.from_address(base + self._error_code_at).value
            access = "execute" if code & 16 else "write" if code & 2 else "read"
        if self._old_exception_at is not None:
            dirty = False
            for off in self._old_exception_at:
                word = ctypes.c_int32.from_address(base + off)
                if word.value != -1:
                    word.value = -1
                    dirty = True
            if dirty:
                self.uc.context_restore(ctx)
        return access

    def set_exact_stops(self, exact: bool):
        """exact=True: a stop requested from a code hook (Unicorn's instruction counter for
        --max-insns) takes effect right after that instruction. exact=False (the default):
        Unicorn emits no exit check after each memory access and code hook, and stops take
        effect at the next translated block; every elfkit handler that stops the CPU or moves
        %rip runs from an exception or at the end of a block (syscall, int3), so none needs
        more. Translated blocks carry the setting they were made with: a change drops them."""
        if self._no_exit_request is None or exact == self.exact_stops:
            return
        self._no_exit_request.value = 0 if exact else 1
        self.exact_stops = exact
        self.uc.ctl(UC.UC_CTL_TB_FLUSH, UC.UC_CTL_IO_WRITE)

    def _find_emu_counter(self) -> ctypes.c_uint64 | None:
        """uc_struct.emu_counter: how many instructions the last emu_start(count=N) ran.
        Unicorn keeps it next to emu_count (the N it was given) but has no API to read it; find
        it once by running three instructions with an unlikely N and looking for the word
        holding N with 3 just before it. None when not found (or no struct bound is known)."""
        if self._no_exit_request is None:
            return None
        base = self._uc_address
        limit = ctypes.addressof(self._no_exit_request) - base      # emu_count lies before it
        magic = 0x5EC0_11D5_7A9B
        self._probe(b"\x48\xff\xc0" * 3, count=magic)               # inc rax, three times
        words = struct.unpack_from(f"<{limit // 8}Q", ctypes.string_at(base, limit))
        found = [i for i in range(1, len(words)) if words[i] == magic and words[i - 1] == 3]
        self._flush_tlb()               # (the next run, with no count, drops the counting hook)
        if len(found) != 1:
            return None
        return ctypes.c_uint64.from_address(base + 8 * (found[0] - 1))

    def insns_run(self) -> int | None:
        """Guest instructions the last run(count=N) retired: at most N, and exactly N when the
        count stopped it (with exact stops). None if this Unicorn's counter could not be found.

        Unicorn's count hook sees each instruction before it runs, and stops the CPU when it
        sees instruction N + 1 (exact stops: before it runs). What it sees that the guest did
        not retire is taken off (`_not_counted`, which also gives the run one more, so that N
        still means N retired): elfkit's own int3 on the trap page, and an instruction that
        faulted -- a load or store retried after a page fault is seen twice, and an
        instruction that raises #GP, #DE or #UD, or whose fault becomes a signal, does not
        complete. A fault on fetching an instruction comes before the hook sees it."""
        if self._emu_counter is None:
            return None
        seen = self._emu_counter.value
        stopped_by_count = self.exact_stops and self._counting and seen > self._emu_limit.value
        return seen - self._not_retired - stopped_by_count

    def _not_counted(self):
        """The count hook saw an instruction the guest did not retire (see insns_run)."""
        self._not_retired += 1
        self._emu_limit.value += 1

    def _fetch_fault(self, access: str, address: int) -> bool:
        """A #PF on fetching an instruction (at %rip, or on the next page for one that
        crosses it), when the error code could not be read."""
        if access != "access":
            return access == "execute"
        rip = self.uc.reg_read(X86_RIP)
        return address >> 12 in (rip >> 12, (rip + 15) >> 12)

    def _grow_tlb(self, entries: int):
        """QEMU sizes its soft TLB (256 entries at first) only when it is flushed, doubling it
        when more than 70% of it was in use. A guest with no mmap/munmap/mprotect in its hot
        loop never flushes, so a working set above 1 MiB would thrash 256 entries, every miss
        costing a page walk and, for a writable page, a slow first store (Unicorn marks every
        refilled writable entry "not dirty"). So touch `entries` pages in rounds, flushing after
        each, to grow it to `entries` before the guest runs. Later flushes shrink it again only
        after a 100 ms window in which the guest used less than 30% of it."""
        data_at = 0x100000
        frame = self.phys.alloc(0x1000)                   # every data page reads this one frame
        self.pages.set_ptes(data_at, entries * 0x1000, pte_flags(1), lambda va: frame)
        size = self.tlb_entries() if getattr(self, "_tlb_mask", None) is not None else 256
        while size < entries:        # touching all of `size` entries doubles it at the flush
            # mov rdi, data_at; mov rcx, size; 1: mov al, [rdi]; add rdi, 4096; dec rcx; jnz 1b
            self._probe(b"\x48\xbf" + data_at.to_bytes(8, "little") +
                        b"\x48\xb9" + size.to_bytes(8, "little") +
                        b"\x8a\x07\x48\x81\xc7\x00\x10\x00\x00\x48\xff\xc9\x75\xf2")
            self.uc.ctl(UC.UC_CTL_TLB_FLUSH, UC.UC_CTL_IO_WRITE)
            size *= 2
        self.pages.set_ptes(data_at, entries * 0x1000, 0, None)
        self.phys.frames.release(frame, 0x1000)
        self._flush_tlb()

    def _find_tlb_mask(self) -> ctypes.c_uint64 | None:
        """CPUTLBDescFast.mask of the MMU index the guest's accesses use, just grown to
        TLB_ENTRIES: QEMU keeps neg.tlb.f[NB_MMU_MODES] (mask, table; 16 bytes each) right
        before neg.icount_decr, 16 bytes before env. The one mask saying TLB_ENTRIES entries
        of some power-of-two size, the others still at 256. None when not found so."""
        check = self._exit_check
        if check is None or not getattr(check, "env", 0):
            return None
        words = [ctypes.c_uint64.from_address(check.env - 16 - 16 * k) for k in (1, 2, 3)]
        shifts = [s for s in range(4, 8) if any(w.value == (TLB_ENTRIES - 1) << s for w in words)]
        if len(shifts) != 1:
            return None
        grown = [w for w in words if w.value == (TLB_ENTRIES - 1) << shifts[0]]
        if len(grown) != 1 or not all(w.value == (256 - 1) << shifts[0] for w in words
                                      if w is not grown[0]):
            return None
        self._tlb_entry_shift = shifts[0]
        return grown[0]

    def regrow_tlb(self) -> bool:
        """Grow the soft TLB back to TLB_ENTRIES when a flush has shrunk it, with the guest's
        registers and address space left as they were; True when it did. A flush first makes the
        resize QEMU would make at the guest's next flush happen now. QEMU shrinks it at a
        flush after a 100 ms window in which less than 30% of it was used -- which is what a
        CPU held stopped (by gdb, under --gdb) looks like -- and grows it again only at a flush
        after a window of heavy use, which a guest with no system call in its loop never
        makes: a 2 MiB working set then thrashed 128 entries (a page walk and a slow store on
        nearly every access, --gdb's `continue` 1.7x a plain run). The probes run in an address
        space of their own with Unicorn's exits (gdb's breakpoints) off, as at start."""
        if self._tlb_mask is None:
            return False
        self._flush_tlb()                      # the resize QEMU would make at the next flush
        if self.tlb_entries() >= TLB_ENTRIES:
            return False
        ctx = self.uc.context_save()
        pages, exits = self.pages, bool(getattr(self, "_stop_at", None))
        if exits:
            self.uc.ctl_exits_enabled(False)
        on_oom, self.phys.on_oom = self.phys.on_oom, None    # (never a guest killed for this)
        try:
            if self._tlb_pages is None:
                self._tlb_pages = PageTables(self.phys)    # (no on_change: never another CPU's)
            self.pages = self._tlb_pages
            self.uc.reg_write(X86.UC_X86_REG_CR3, self.pages.pml4)
            self._grow_tlb(TLB_ENTRIES)
        except MemoryError:
            pass                               # no frame to spare now: the guest runs as it is
        finally:
            self.phys.on_oom = on_oom
            if self._count_hook:               # the probes' runs (no count) dropped the count
                self._count_hook = False       # hook and, with it, every translated block
                if self._exit_check is not None:
                    self._exit_check.reset()
            if exits:
                self.uc.ctl_exits_enabled(True)
            self.pages = pages
            self.uc.context_restore(ctx)
            self.uc.reg_write(X86.UC_X86_REG_CR3, pages.pml4)     # (flushes the probes' entries)
            self.clear_exception_in_flight()
        return True

    def tlb_entries(self) -> int | None:
        """How many entries the guest's soft TLB has now (None: not known)."""
        mask = self._tlb_mask
        return None if mask is None else (mask.value >> self._tlb_entry_shift) + 1

    def clear_exception_in_flight(self):
        """QEMU's x86 remembers a fault as "in flight" (env->old_exception) until it has been
        delivered through the IDT. Unicorn hands it to our hook instead and never clears it, so
        the guest's next fault would become a double fault, and the one after a triple fault (a
        silent stop). After elfkit has handled a fault, reset that field to -1 (no exception):
        it is found as the word that is -1 in a fresh CPU and 8 or 14 now."""
        ctx = self.uc.context_save()
        raw = bytearray(ctypes.string_at(ctx.context, ctx.size))
        clean = self._clean_context
        if clean is None:
            return False
        if self._old_exception_at is None:
            found = [off for off in range(0, min(len(raw), len(clean)) - 3, 4)
                     if clean[off:off + 4] == b"\xff\xff\xff\xff" and
                     int.from_bytes(raw[off:off + 4], "little") in (8, 14)]
            if len(found) != 1:
                return False
            self._old_exception_at = found
        if all(raw[off:off + 4] == b"\xff\xff\xff\xff" for off in self._old_exception_at):
            return True                            # nothing in flight: no restore needed
        for off in self._old_exception_at:
            raw[off:off + 4] = b"\xff\xff\xff\xff"
        ctypes.memmove(ctx.context, bytes(raw), len(raw))
        self.uc.context_restore(ctx)
        return True

    # --- hooks -----------------------------------------------------------------------------
    def hook_syscall(self, handler):
        """handler() is called for every `syscall` instruction (the ctypes callback itself, one
        Python frame less per syscall, and without Unicorn's two arguments); it must not raise."""
        cb = _SYSCALL_CB(handler)
        self._add_hook(UC.UC_HOOK_INSN, cb, 1, 0, X86.UC_X86_INS_SYSCALL)

    def hook_faults(self):
        """Faults arrive as CPU exceptions: #PF (14) with CR2, #DE, #UD, #GP... No memory hook is
        installed: Unicorn keeps every store on its slow path while any exists."""
        def on_intr_locked(_uc, intno, _data):
            if intno == 3 and self.pages.traps:       # int3 on the trap page: %rip is past it
                trap = self.pages.traps.get(self.uc.reg_read(X86.UC_X86_REG_RIP) - 1)
                if trap is not None:
                    if self._counting:
                        self._not_counted()       # elfkit's own instruction, not the guest's
                    try:
                        trap()
                    except Exception as e:        # noqa: BLE001 - a bug in elfkit, not the guest's
                        self.trap_error = e
                        self.uc.emu_stop()
                    return
            if intno in (14, 8):                  # page fault (8: one while one was "in flight")
                intno = 14
                address = self.uc.reg_read(X86.UC_X86_REG_CR2)
                access = self.fault_access()
                if self._counting and not self._fetch_fault(access, address):
                    self._not_counted()           # the load or store runs again, or never
                if self.on_fault is not None:
                    vm_ok = False
                    try:
                        vm_ok = self.on_fault(access, address, True)
                    except Exception:             # noqa: BLE001 - reported as a fault below
                        pass
                    if vm_ok:
                        # Fixed (a page faulted in, a copy made, the stack grown): returning
                        # from the hook makes Unicorn run the faulting instruction again, its
                        # %rip restored to it -- no stop, no trip through the scheduler.
                        return
                    if vm_ok is None:             # the task was killed for memory: it ends
                        self.retry = True
                        self.uc.emu_stop()
                        return
                self.fault = Fault("access", address, True)
            elif self._counting and intno in FAULT_VECTORS:
                self._not_counted()               # #GP, #DE...: it did not complete
            self.interrupt = intno
            self.uc.emu_stop()
        self._add_hook(UC.UC_HOOK_INTR, _INTR_CB(self._in_kernel(on_intr_locked)), 1, 0)

    def _in_kernel(self, handler):
        """handler, run as a hook enters the kernel: under the big kernel lock of an SMP
        machine, catching up with other CPUs' work before the guest goes on."""
        if self.machine is None:
            return handler
        lock = self.machine.bkl

        def locked(*args):
            with lock:
                handler(*args)
                self.catch_up()
        return locked

    def add_trap(self, offset: int, handler) -> int:
        """A trap address: when the guest jumps there, handler() runs (it sets %rip to go on,
        or stops the CPU). The trap page is filled with int3, so a trap is a CPU exception
        (#BP) taken to the interrupt hook: no code hook, and the handler's new %rip or stop
        takes effect at once."""
        phys = self.phys
        if phys.trap_frame is None:             # one frame of int3 for every address space
            phys.trap_frame = phys.alloc(0x1000)
            phys.write(phys.trap_frame, b"\xcc" * 0x1000)
        if self.pages.find(TRAP_PAGE) is None:
            self.pages.map_frames(TRAP_PAGE, 0x1000, phys.trap_frame, 5, shared=True)
        address = TRAP_PAGE + offset
        self.pages.traps[address] = handler
        return address

    def add_breakpoint(self, address: int, handler):
        """handler() runs just before the instruction at `address` (a one-address code hook), in
        the address space current now only (a forked child's or an exec'ed program's code at the
        same address does not call it), on whichever CPU runs it."""
        owner = self.pages                      # the address space it was set in: not a child's
        self._on_every_cpu(lambda cpu: cpu._code_hook(address, address, owner,
                                                      lambda _a: handler()))

    def add_code_range(self, begin: int, end: int, handler):
        """handler(address) before each instruction in [begin, end]: keep the range narrow (a
        PLT section), as code outside it stays on the fast path."""
        owner = self.pages
        self._on_every_cpu(lambda cpu: cpu._code_hook(begin, end, owner, handler))

    def add_read_watch(self, begin: int, end: int, handler, flush: bool = False):
        """handler(address, size) when guest code reads memory in [begin, end], virtual
        addresses within one page that is present now, in the address space current now only.
        Unicorn matches memory hooks by physical address: the hook is set on the page's frame.
        A memory hook takes every load of the guest off Unicorn's fast path while it exists
        (trace-plt ran CPU-bound code 3-5x slower with one): the watch's remover is returned,
        to call as soon as the watch has done its work (None: no frame, nothing watched).
        flush: blocks were translated already (without the hook, their loads would not see
        it): drop them all -- outside every hook only (Cpu.before_run)."""
        owner = self.pages
        b = owner.find(begin)
        if b is None or begin >> 12 != end >> 12:
            return None
        delta = b.paddr + (begin - b.vaddr) - begin       # physical - virtual, in this page
        handles = {}

        def op(cpu):
            locked = cpu._in_kernel(handler)

            def on_read(_uc, _type, paddr, size, _value, _data):
                if cpu.pages is owner:
                    try:
                        locked(paddr - delta, size)
                    except Exception as e:        # noqa: BLE001 - as on_code's
                        cpu.trap_error = e
                        cpu.uc.emu_stop()
                return True
            handles[cpu] = cpu._add_hook(UC.UC_HOOK_MEM_READ, _READ_CB(on_read), begin + delta,
                                         end + delta)
            if flush:
                cpu.drop_translations()

        def unwatch(cpu):
            # Unicorn translates loads for memory hooks while its hook list is not empty, and a
            # deleted hook leaves the list only when an emu_start ends: the run that begins now
            # still translates slow loads. So the blocks go twice -- now, and at the start of
            # the run after (the ticker ends this one soon: slice_end) -- outside every hook.
            handle = handles.pop(cpu, None)
            if handle is not None:
                cpu.remove_hook(handle)
                cpu.drop_translations()
                cpu.before_run.append(Cpu.drop_translations)
                cpu.slice_end = time.monotonic()

        def remove(now: bool = True):
            """The watch goes at each CPU's next run's start. now: this CPU stops at once (the
            caller is a code or syscall hook); else the ticker stops it soon, from its thread."""
            if self.machine is None:
                self.before_run.append(unwatch)
            else:
                if op in self.machine.code_hooks:
                    self.machine.code_hooks.remove(op)
                self.machine.on_every_cpu(lambda cpu: cpu.before_run.append(unwatch))
            if now:
                self.stop()
            else:
                self.slice_end = time.monotonic()
        self._on_every_cpu(op, outside_hooks=flush)
        return remove

    def _on_every_cpu(self, op, outside_hooks: bool = False):
        if self.machine is None:
            op(self)
        else:
            self.machine.on_every_cpu(op, keep=True, outside_hooks=outside_hooks)

    def _code_hook(self, begin: int, end: int, owner, handler, keep_exit_check: bool = False):
        # Code hooks (trace-plt's breakpoints and PLT counting) and the inline exit check do not
        # mix: with both, hooks added while the guest runs were seen to never fire (a PLT's
        # blocks translated again after the hook was added). From the first code hook on, new
        # blocks keep Unicorn's call; those already rewritten have no hook and stay as they are.
        # (--gdb adds its hooks only while the CPU is stopped, and keeps the rewrite:
        # keep_exit_check; tests/test_gdb.py.)
        if not keep_exit_check:
            self._exit_check = None
        handler = self._in_kernel(handler)

        def on_code(_uc, address, _size, _data):
            if self.pages is owner:
                try:
                    handler(address)
                except Exception as e:            # noqa: BLE001 - a bug in elfkit: reported as
                    self.trap_error = e           # one line (Task.trap_failed), not as ctypes'
                    self.uc.emu_stop()            # traceback of an ignored callback error
        handle = self._add_hook(UC.UC_HOOK_CODE, _CODE_CB(on_code), begin, end)
        # Code translated before the hook existed would not call it: drop those pages' blocks.
        # (Only those pages: removing the whole cache walks every page through the MMU and
        # leaves a phantom page fault behind.)
        self.flush_translations(begin & ~0xFFF, (end | 0xFFF) + 1)
        return handle

    def add_code_hook(self, begin: int, end: int, handler) -> int:
        """handler(address) before each instruction in [begin, end] of the address space
        current now, on this CPU only (--gdb's breakpoints: the machine has one CPU); the
        handle for remove_hook."""
        return self._code_hook(begin, end, self.pages, handler, keep_exit_check=True)

    def set_stop_addresses(self, addresses) -> bool:
        """Stop the CPU before the instruction at any of `addresses` runs (--gdb's breakpoints),
        with Unicorn's exits: the translator ends a block at such an address with a halt, so
        the stop costs nothing elsewhere and needs no exact stops. Blocks translated before a
        change are dropped from the pages of the addresses that changed. False when this
        Unicorn has no exits (the caller uses code hooks)."""
        new = set(addresses)
        old = getattr(self, "_stop_at", set())
        if new == old:
            return True
        try:
            if new:
                self.uc.ctl_exits_enabled(True)
                self.uc.ctl_set_exits(sorted(new))
            else:
                self.uc.ctl_set_exits([])
                self.uc.ctl_exits_enabled(False)
        except (uc_mod.UcError, AttributeError, TypeError):
            return False
        for address in old ^ new:
            self.flush_translations(address & ~0xFFF, (address | 0xFFF) + 1)
        self._stop_at = new
        return True

    def add_watch_hook(self, begin: int, end: int, write: bool, handler) -> int | None:
        """handler(address, size, paddr) when guest code on this CPU writes (write=True) or
        reads memory starting in [begin, end], virtual addresses within one page present now, in
        the address space current now (--gdb's watchpoints). Hooked on the frame, as memory
        hooks match physical addresses (see add_read_watch); called before a store is made.
        None if the page has no frame; else the handle for remove_hook."""
        owner = self.pages
        b = owner.find(begin)
        if b is None or begin >> 12 != end >> 12:
            return None
        delta = b.paddr + (begin - b.vaddr) - begin

        def on_access(_uc, _type, paddr, size, _value, _data):
            if self.pages is owner:
                try:
                    handler(paddr - delta, size, paddr)
                except Exception as e:            # noqa: BLE001 - as on_code's
                    self.trap_error = e
                    self.uc.emu_stop()
            return True
        kind = UC.UC_HOOK_MEM_WRITE if write else UC.UC_HOOK_MEM_READ
        return self._add_hook(kind, _READ_CB(on_access), begin + delta, end + delta)

    def drop_translations(self):
        """Every translated block and TLB entry goes (outside every hook only)."""
        self._flush_tlb()
        self.uc.ctl(UC.UC_CTL_TB_FLUSH, UC.UC_CTL_IO_WRITE)

    def remove_hook(self, handle: int):
        """Delete a hook _add_hook made (blocks that call a code hook skip it from now on; a
        memory hook's slow loads stay in blocks translated until the next run ends, see
        add_read_watch)."""
        self._lib.uc_hook_del(self._h, ctypes.c_size_t(handle))

    def _add_hook(self, htype, cb, begin, end, *extra):
        hh = ctypes.c_size_t()
        args = [self._h, ctypes.byref(hh), ctypes.c_int(htype), ctypes.cast(cb, ctypes.c_void_p),
                ctypes.c_void_p(0), ctypes.c_uint64(begin), ctypes.c_uint64(end)]
        args += [ctypes.c_int(e) for e in extra]
        err = self._lib.uc_hook_add(*args)
        if err != UC.UC_ERR_OK:
            raise CpuError("other", f"uc_hook_add failed: {err}")
        self._keep.append(cb)
        return hh.value

    # --- running ---------------------------------------------------------------------------
    def run(self, begin: int, timeout_us: int = 0, count: int = 0):
        """Run from `begin` until stop(), a fault, the timeout or `count` instructions."""
        if self.before_run:
            work, self.before_run = self.before_run, []
            for op in work:
                op(self)
        # Unicorn's own work at the end of the last run (or a fault elfkit handled) can leave
        # a fault "in flight", which would make the guest's next page fault a double fault.
        self.clear_exception_in_flight()
        self._translated = True
        self.trap_error = None
        self.fault = None
        self.interrupt = None
        self.retry = False
        self._counting = count > 0 and self._emu_limit is not None
        self._not_retired = 0
        check = self._exit_check
        if check is not None:
            check.patch_new()                     # blocks translated since: the inline test
            if self._count_hook and count <= 0:
                check.reset()                     # emu_start drops the count hook, and all blocks
            self._patched_at = time.monotonic()
        self._count_hook = count > 0
        try:
            self.uc.emu_start(begin, 0xFFFFFFFFFFFFFFFF, timeout=timeout_us, count=count)
        except uc_mod.UcError as e:
            if e.errno == UC.UC_ERR_INSN_INVALID:
                if self._counting:
                    self._not_retired += 1        # seen by the count hook, never run
                raise CpuError("invalid-insn", str(e)) from None
            if self.fault is not None:
                raise CpuError("fault", str(e)) from None
            if e.errno in (UC.UC_ERR_READ_UNMAPPED, UC.UC_ERR_WRITE_UNMAPPED, UC.UC_ERR_FETCH_UNMAPPED,
                           UC.UC_ERR_READ_PROT, UC.UC_ERR_WRITE_PROT, UC.UC_ERR_FETCH_PROT):
                raise CpuError("fault", str(e)) from None
            raise CpuError("other", str(e)) from None

    def stop(self):
        self.uc.emu_stop()

    def pc(self) -> int:
        return self.uc.reg_read(X86.UC_X86_REG_RIP)

    def flush_translations(self, begin: int, end: int):
        self.uc.ctl_remove_cache(begin, end)

    def flush_all_translations(self):
        self.uc.ctl(UC.UC_CTL_TB_FLUSH, UC.UC_CTL_IO_WRITE)
        if self._exit_check is not None:
            self._exit_check.reset()


# --- what elfkit learnt about this Unicorn ----------------------------------------------------
# The private fields and layouts Cpu.__init__ finds in the installed Unicorn (each verified on
# the release pyproject.toml pins), and what running without each costs.
FAST_PATHS = (
    ("per-access exit check off", "uc_struct.no_exit_request, read from check_exit_request's "
     "machine code", lambda cpu: cpu._no_exit_request is not None,
     "a helper call after every guest load and store: memory-heavy guest code ~1.3x slower"),
    ("inline exit check", "check_exit_request's and free_code_gen_buffer's machine code, "
     "TCGContext's code buffer, env", lambda cpu: cpu._exit_check is not None,
     "a call to Unicorn's check_exit_request heads every translated block: tight loops ~2x "
     "slower, CPU-bound code ~1.4x"),
    ("instruction counter", "uc_struct.emu_counter / emu_count",
     lambda cpu: cpu._emu_counter is not None, "--max-insns is refused"),
    ("fault in flight cleared", "CPUX86State.old_exception",
     lambda cpu: cpu._old_exception_at is not None,
     "every run scans the whole CPU context (100 us instead of 3)"),
    ("#PF error code", "CPUX86State.error_code", lambda cpu: cpu._error_code_at is not None,
     "read faults are taken as writes: fresh frames instead of the shared zero page, "
     "private copies of file pages that are only read"),
    ("registers in saved contexts", "CPUX86State.eip and regs[]",
     lambda cpu: cpu._context_at is not None,
     "a task's %rip and a system call's return go through Unicorn at every task switch"),
    ("registers in env", "CPUX86State itself (env, from the inline exit check's probe)",
     lambda cpu: cpu._env_mem is not None,
     "every system call's result and every thread switch in the syscall hook go through a "
     "ctypes call into Unicorn: getppid ~1.3x, a futex round trip ~1.1x the instructions"),
)


def unicorn_version() -> str:
    """The installed Unicorn release (its distribution's; the binding's own string can lag)."""
    from importlib import metadata
    try:
        return metadata.version("unicorn")
    except metadata.PackageNotFoundError:
        return uc_mod.__version__


def fast_paths(cpu: Cpu | None = None) -> list[tuple[str, str, bool, str]]:
    """(name, what it reads, on, the cost when off) for each of FAST_PATHS, on `cpu` or a
    fresh Cpu."""
    cpu = cpu if cpu is not None else Cpu()
    return [(name, field, bool(found(cpu)), cost) for name, field, found, cost in FAST_PATHS]


def check_fast_paths(out=None, err=None) -> bool:
    """One line when every fast path is on; else a WARNING banner on `err` naming each one
    that is off and what that costs. True when all are on."""
    import sys
    out, err = out or sys.stdout, err or sys.stderr
    version = unicorn_version()
    rule = "#" * 78
    try:
        paths = fast_paths()
    except Exception as e:                        # noqa: BLE001 - reported, not raised
        print("\n".join([rule, f"WARNING: elfkit cannot start a CPU with Unicorn {version}:",
                         f"  {type(e).__name__}: {e}",
                         "Install the Unicorn release pyproject.toml pins.", rule]), file=err)
        return False
    off = [p for p in paths if not p[2]]
    if not off:
        print(f"elfkit: Unicorn {version}: every fast path is on "
              f"({', '.join(p[0] for p in paths)})", file=out)
        return True
    lines = [rule, f"WARNING: elfkit's Unicorn fast paths are OFF with Unicorn {version}:"]
    lines += [f"  - {name} ({field}) not found: {cost}" for name, field, _, cost in off]
    lines += ["elfkit still runs guests correctly, but slower (the tests that time it may fail).",
              "They were verified with the Unicorn release pyproject.toml pins: reinstall it",
              "(`make clean test`, or `.venv/bin/pip install -e .`), or see docs/ARCHITECTURE.md,",
              "'Unicorn, as far as we know it', to find the fields again.", rule]
    print("\n".join(lines), file=err)
    return False


if __name__ == "__main__":
    import sys
    if sys.argv[1:] != ["--check-fast-paths"]:
        sys.exit("usage: python -m elfkit.kernel.cpu --check-fast-paths")
    check_fast_paths()              # exit status 0 either way: a warning, not a failure
