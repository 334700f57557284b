"""Copy-on-write in elfkit's own page tables (elfkit.kernel.mm.paging), tested directly.

After a fork of an address space, both sides hold the same frames (reference
count 2) and private writable pages are read-only in both; a write by the CPU
to such a page faults, and the kernel's fault handler gives the writer its own
copy while the other side keeps the old bytes; pages nobody wrote stay shared.
The writes here are real guest stores run by Unicorn in each address space
(switch_mm), so the fault path is the one a forked guest takes. The last
holder of a frame writes in place (no copy). Shared mappings are never copied.
"""
from __future__ import annotations

import struct

from elfkit.kernel.cpu import Cpu

CODE, DATA, SHARED = 0x400000, 0x600000, 0x800000
PAGES = 8


def _store_program(cpu: Cpu, addr: int, value: int):
    """mov rax, addr; mov qword [rax], value; int3 (at CODE)"""
    code = b"\x48\xb8" + struct.pack("<Q", addr) + b"\x48\xc7\x00" + struct.pack("<i", value) + b"\xcc"
    return code


def _run_store(cpu: Cpu, mm_fault, addr: int, value: int):
    """Run a guest store of `value` at `addr` in the current address space, fixing faults as the
    kernel does (cpu.on_fault -> do_wp_page), until it reaches its int3."""
    cpu.pages.write(CODE, _store_program(cpu, addr, value))
    cpu.invalidate_code(CODE, 0x1000)
    cpu.on_fault = lambda _access, fault_addr, _unmapped: mm_fault(fault_addr)
    pc = CODE
    for _ in range(4):
        cpu.run(pc)
        if cpu.retry:
            pc = cpu.pc()
            continue
        break
    assert cpu.interrupt == 3, f"the store did not complete (interrupt {cpu.interrupt})"


def test_fork_shares_frames_and_write_copies_one_page():
    cpu = Cpu()
    cpu.hook_faults()
    parent = cpu.pages
    parent.map(CODE, 0x1000, 7)
    parent.map(DATA, PAGES * 0x1000, 3)
    parent.map(SHARED, 0x1000, 3, shared=True)
    for i in range(PAGES):
        parent.write(DATA + i * 0x1000, struct.pack("<Q", 1000 + i))
    parent.write(SHARED, struct.pack("<Q", 7))
    data = parent.find(DATA)
    frames = [data.paddr + i * 0x1000 for i in range(PAGES)]

    child = cpu.fork_address_space(parent)
    assert [cpu.phys.count(f) for f in frames] == [2] * PAGES

    # the child writes page 3: its own copy; the parent's page keeps 1003
    cpu.switch_mm(child)
    _run_store(cpu, child.do_wp_page, DATA + 3 * 0x1000, 42)
    assert struct.unpack("<Q", child.read(DATA + 3 * 0x1000, 8))[0] == 42
    assert struct.unpack("<Q", parent.read(DATA + 3 * 0x1000, 8))[0] == 1003
    assert child.find(DATA + 3 * 0x1000).paddr != frames[3]
    assert cpu.phys.count(frames[3]) == 1
    # the parent writes the same page: it is now its only holder, so no copy is made
    cpu.switch_mm(parent)
    _run_store(cpu, parent.do_wp_page, DATA + 3 * 0x1000, 99)
    assert parent.find(DATA + 3 * 0x1000).paddr + (DATA + 3 * 0x1000 - parent.find(DATA + 3 * 0x1000).vaddr) == frames[3]
    assert struct.unpack("<Q", parent.read(DATA + 3 * 0x1000, 8))[0] == 99
    assert struct.unpack("<Q", child.read(DATA + 3 * 0x1000, 8))[0] == 42
    # every page neither wrote is still one frame held twice
    untouched = [f for i, f in enumerate(frames) if i != 3]
    assert [cpu.phys.count(f) for f in untouched] == [2] * (PAGES - 1)
    for i in (0, 7):
        assert child.read(DATA + i * 0x1000, 8) == parent.read(DATA + i * 0x1000, 8)

    # a shared mapping is one frame for both: the child's store is seen by the parent
    cpu.switch_mm(child)
    _run_store(cpu, child.do_wp_page, SHARED, 5)
    assert struct.unpack("<Q", parent.read(SHARED, 8))[0] == 5

    # the child goes away: its holds are dropped, the parent's pages are its own again
    cpu.switch_mm(parent)
    child.release()
    assert [cpu.phys.count(f) for f in untouched] == [1] * (PAGES - 1)


def test_elfkit_writes_into_a_shared_page_copy_it_first():
    """copy_to_user into a copy-on-write page (a read() into a buffer after fork) must not
    change the other process's page."""
    cpu = Cpu()
    parent = cpu.pages
    parent.map(DATA, 0x2000, 3)
    parent.write(DATA, b"parent")
    child = cpu.fork_address_space(parent)
    child.write(DATA, b"child!")
    assert parent.read(DATA, 6) == b"parent"
    assert child.read(DATA, 6) == b"child!"
    assert cpu.phys.count(parent.find(DATA).paddr) == 1
    assert cpu.phys.count(parent.find(DATA).paddr + 0x1000) == 2     # the untouched page
