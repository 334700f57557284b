"""elf/dl-tls.c for x86-64 (TLS variant II): static TLS blocks below the thread pointer, the DTV.

    ... | module n block | ... | module 1 block | TCB (struct pthread head) ...
                                               ^ %fs base (tp): tp[0] = tp, tp[1] = dtv,
                                                 tp+0x28 = stack guard, tp+0x30 = pointer guard

Module k's block starts at tp - tls_offset(k); offsets are assigned in load
order, each rounded up to the module's alignment, as _dl_determine_tlsoffset
does. Every module loaded at start-up gets one, as with glibc; a module
without one (tls_offset NO_TLS_OFFSET) has dynamic TLS: a block per thread,
allocated on the thread's first access and found through its DTV
(dtv[-1] = the slots, dtv[0] = generation, dtv[k] = {block of module k,
to_free}; unallocated: TLS_DTV_UNALLOCATED). __tls_get_addr(&{module, offset})
returns the current thread's block + offset (block_address).
"""
from __future__ import annotations

import struct

from elfkit.kernel.mm import MAP_ANONYMOUS, MAP_PRIVATE
from elfkit.linker.dso import LinkError

TCB_SIZE = 0x700                 # glibc's struct pthread is about this size; the guest may use it
PAGE = 0x1000
NO_TLS_OFFSET = 0                # l_tls_offset of a module with no block in static TLS
TLS_DTV_UNALLOCATED = 0xFFFFFFFFFFFFFFFF      # glibc's ((void *) -1l) in a DTV slot
DTV_SLOTS = PAGE // 16 - 2       # the DTV page: dtv[-1], dtv[0], then one slot per module
Q = struct.Struct("<Q")


def assign_offsets(dsos) -> int:
    """Give each object with PT_TLS a module id and an offset; return the static block size."""
    offset = 0
    module = 0
    for dso in dsos:
        seg = dso.tls_segment()
        if seg is None:
            continue
        module += 1
        dso.tls_module = module
        align = max(seg.align, 1)
        firstbyte = -(seg.vaddr & (align - 1)) & (align - 1)
        offset = _round_up(offset + seg.memsz - firstbyte, align) + firstbyte
        dso.tls_offset = offset
    return offset


def _round_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def setup_static_tls(proc, dsos, static_size: int, random_bytes: bytes) -> int:
    """Allocate the TLS area + TCB, copy each module's .tdata image, zero .tbss, set %fs.
    Returns the thread pointer."""
    total = _round_up(static_size + TCB_SIZE + 64, PAGE)
    area = proc.mm.mmap(0, total, 3, MAP_PRIVATE | MAP_ANONYMOUS)
    tp = _round_up(area + static_size, 64)
    cpu = proc.cpu
    for dso in dsos:
        seg = dso.tls_segment()
        if seg is None:
            continue
        block = tp - dso.tls_offset
        if seg.filesz:
            cpu.write(block, cpu.read(dso.base + seg.vaddr, seg.filesz))
    guard = b"\0" + random_bytes[1:8]                # the stack protector's canary: low byte 0
    pointer_guard = random_bytes[8:16]
    cpu.write(tp, struct.pack("<QQ", tp, 0))         # tcb->tcb = tp, dtv (filled below)
    cpu.write(tp + 0x10, struct.pack("<Q", tp))      # tcb->self
    cpu.write(tp + 0x28, guard + pointer_guard)
    # dtv[-1] = its slots, dtv[0] = generation, dtv[k] = module k's block (or unallocated)
    area_dtv = proc.mm.mmap(0, PAGE, 3, MAP_PRIVATE | MAP_ANONYMOUS)
    dtv = area_dtv + 16
    slots = [(TLS_DTV_UNALLOCATED, 0)] * DTV_SLOTS
    for d in dsos:
        if 0 < d.tls_module <= DTV_SLOTS and d.tls_offset != NO_TLS_OFFSET:
            slots[d.tls_module - 1] = (tp - d.tls_offset, 0)
    cpu.write(area_dtv, struct.pack("<QQQQ", DTV_SLOTS, 0, 0, 0)
              + b"".join(struct.pack("<QQ", *slot) for slot in slots))
    cpu.write(tp + 8, struct.pack("<Q", dtv))
    cpu.set_fs_base(tp)
    return tp


def block_address(proc, dso) -> int:
    """The calling thread's block of `dso`'s module (__tls_get_addr's tls_get_addr_tail): a
    static block lies at the module's offset below the thread's own pointer; a dynamic one is
    found through the thread's DTV and allocated and initialised on its first use."""
    cpu = proc.cpu
    tp = cpu.fs_base()
    if dso.tls_offset != NO_TLS_OFFSET:
        return tp - dso.tls_offset
    (dtv,) = Q.unpack(cpu.read(tp + 8, 8))
    (slots,) = Q.unpack(cpu.read(dtv - 16, 8))
    if not 0 < dso.tls_module <= slots:
        raise LinkError(f"{dso.path}: TLS module {dso.tls_module} has no slot in the DTV at "
                        f"{dtv:#x} of the thread at {tp:#x} ({slots} slots)")
    slot = dtv + 16 * dso.tls_module
    (block,) = Q.unpack(cpu.read(slot, 8))
    if block == TLS_DTV_UNALLOCATED:
        block = _allocate_block(proc, dso)
        cpu.write(slot, struct.pack("<QQ", block, block))     # {pointer, to_free}
    return block


def _allocate_block(proc, dso) -> int:
    """allocate_and_init: a block aligned to the module's p_align, its .tdata image copied,
    the rest (.tbss) zero -- fresh anonymous memory is."""
    seg = dso.tls_segment()
    align = max(seg.align, 1)
    area = proc.mm.mmap(0, _round_up(seg.memsz + align, PAGE), 3, MAP_PRIVATE | MAP_ANONYMOUS)
    if area < 0:
        raise LinkError(f"{dso.path}: cannot allocate {seg.memsz} bytes of dynamic TLS "
                        f"(errno {-area})")
    block = _round_up(area, align)
    if seg.filesz:
        proc.cpu.write(block, proc.cpu.read(dso.base + seg.vaddr, seg.filesz))
    return block


def tls_get_addr(proc, dsos_by_module: dict, ti_addr: int) -> int:
    """__tls_get_addr(&{module, offset}) for the calling thread; 0 for an unknown module."""
    raw = proc.cpu.read(ti_addr, 16)
    module, offset = struct.unpack("<QQ", raw)
    dso = dsos_by_module.get(module)
    if dso is None:
        return 0
    return (block_address(proc, dso) + offset) & 0xFFFFFFFFFFFFFFFF
