"""elf/dl-tls.c for x86-64 (TLS variant II): static TLS blocks below the thread pointer.

    ... | module n block | ... | module 1 block | TCB (struct pthread head) ...
                                               ^ %fs base (tp): tp[0] = tp, tp[1] = dtv,
                                                 tp+0x28 = stack guard, tp+0x30 = pointer guard

Module k's block starts at tp - tls_offset(k); offsets are assigned in load
order, each rounded up to the module's alignment, as _dl_determine_tlsoffset
does. __tls_get_addr(&{module, offset}) returns tp - tls_offset(module) + offset.
"""
from __future__ import annotations

import struct

from elfkit.kernel.mm import MAP_ANONYMOUS, MAP_PRIVATE

TCB_SIZE = 0x700                 # glibc's struct pthread is about this size; the guest may use it
PAGE = 0x1000


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
    # dtv[-1] = its length, dtv[0] = generation, dtv[k] = module k's block
    area_dtv = proc.mm.mmap(0, PAGE, 3, MAP_PRIVATE | MAP_ANONYMOUS)
    modules = [d for d in dsos if d.tls_module]
    dtv = area_dtv + 16
    cpu.write(area_dtv, struct.pack("<QQQQ", len(modules), 0, 0, 0))
    for d in modules:
        cpu.write(dtv + 16 * d.tls_module, struct.pack("<QQ", tp - d.tls_offset, 0))
    cpu.write(tp + 8, struct.pack("<Q", dtv))
    cpu.set_fs_base(tp)
    return tp


def tls_get_addr(proc, dsos_by_module: dict, tp: int, ti_addr: int) -> int:
    raw = proc.cpu.read(ti_addr, 16)
    module, offset = struct.unpack("<QQ", raw)
    dso = dsos_by_module.get(module)
    if dso is None:
        return 0
    return tp - dso.tls_offset + offset
