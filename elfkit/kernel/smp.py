"""kernel/smp: the machine's CPUs, the physical memory they share, and the big kernel lock.

A machine has one to `max_cpus` CPUs. Each is a Unicorn instance of its own
(`elfkit.kernel.cpu.Cpu`) over the one physical pool, driven by a host thread
of its own (the boot CPU by elfkit's main thread), so two guest processes run
at the same time on two host cores: Unicorn releases the GIL while it runs
guest code. Everything the kernel does -- system calls, faults, traps,
scheduling -- happens under one lock (`bkl`, the big kernel lock Linux had
until 2.6.39): a CPU takes it when a hook enters the kernel and gives it back
when guest code runs again, so the kernel's data is only ever changed by one
thread at a time.

What a CPU holds of its own, and how the others keep it right:

- **Registers.** `cpu.current` is the task whose registers are in that
  Unicorn (Linux's per-CPU `current`); a task picked by another CPU has its
  registers moved there (`Kernel.switch_to`). An address space runs on at most
  one CPU at a time -- the threads of one process take turns on whichever CPU
  has their mm (`Kernel.pick_next`) -- so no two CPUs write the same page
  tables or the same private frames at once, and no CPU's TLB or translated
  code goes stale under another that shares its address space.
- **The TLB.** Page tables that lose permissions or frames flush the TLB of
  every CPU that has them loaded: this CPU's at once, another's before it runs
  guest code again (`tlb_changed`); an address space that was freed is left
  for the CPU's own empty one.
- **Translated code.** QEMU finds translated blocks by physical address, and
  each Unicorn has its own. A frame that held code and is freed or rewritten
  by elfkit loses its blocks on every CPU (`invalidate_phys`), on another CPU
  as pending work done by its own thread before that CPU runs guest code again,
  which is before it could map the frame anew. A guest's own stores to code
  drop blocks only on the CPU that made them: an address space with pages that
  are writable and executable at once (a JIT) drops those pages' blocks when
  it moves to another CPU (`Kernel.switch_to`).
"""
from __future__ import annotations

import os
import threading

from elfkit.kernel.cpu import Cpu

# More than 64 pending invalidations on one CPU: drop all its translated blocks instead.
PENDING_MAX = 64


def host_cpus() -> int:
    """The host CPUs elfkit may run on (its affinity mask), as nproc counts them."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Machine:
    """The CPUs (the boot CPU at once, the others when a second task first wants to run)."""

    def __init__(self, max_cpus: int = 1, memory_limit: int | None = None):
        self.bkl = threading.RLock()
        self.max_cpus = max(1, max_cpus)
        self.memory_limit = memory_limit     # bytes of physical memory (None: the host's)
        self._local = threading.local()
        self.cpus: list[Cpu] = []
        boot = Cpu(self, index=0)
        self.cpus.append(boot)
        self.phys = boot.phys
        self._local.cpu = boot
        self.code_hooks: list = []       # install functions every CPU, also a later one, runs

    @property
    def cpu(self) -> Cpu | None:
        """The CPU whose thread is asking: the boot CPU for the thread that made the machine
        (until schedule() binds it to whichever thread runs it), None for a thread that drives
        none (a CPU being brought up: its work on the others must wait for their threads)."""
        return getattr(self._local, "cpu", None)

    def bind(self, cpu: Cpu):
        """The calling thread drives `cpu`."""
        self._local.cpu = cpu

    def add_cpu(self) -> Cpu:
        """Bring up the next CPU (its hooks are the caller's to install)."""
        cpu = Cpu(self, phys=self.phys, index=len(self.cpus))
        for op in self.code_hooks:
            op(cpu)
        self.cpus.append(cpu)
        return cpu

    # --- address spaces (what an mm asks its machine for) -------------------------------------
    def new_address_space(self):
        return self.cpu.new_address_space()

    def fork_address_space(self, pages):
        return self.cpu.fork_address_space(pages)

    # --- keeping every CPU right ----------------------------------------------------------------
    def on_every_cpu(self, op, keep: bool = False, outside_hooks: bool = False):
        """op(cpu) on this CPU now and on every other one by its own thread before it next runs
        guest code; keep: also on CPUs brought up later (code hooks). outside_hooks: op may not
        run inside a hook (it drops translated blocks): the caller is outside one, and the
        other CPUs do it at their next run's start (Cpu.before_run), not when a hook of theirs
        applies pending work."""
        me = self.cpu
        if keep:
            self.code_hooks.append(op)
        for c in self.cpus:
            if c is me:
                op(c)
            elif outside_hooks:
                c.pending.append(lambda c: c.before_run.append(op))
            else:
                c.pending.append(op)

    def invalidate_phys(self, paddr: int, size: int):
        """Frames that held code are freed or rewritten: their blocks go on every CPU."""
        me = self.cpu
        for c in self.cpus:
            if c is me:
                c.invalidate_phys(paddr, size)
            else:
                _queue_invalidation(c, paddr, size)

    def invalidate_others(self, paddr: int, size: int):
        """Guest stores on this CPU dropped its own blocks of these frames: drop the others'."""
        me = self.cpu
        for c in self.cpus:
            if c is not me:
                _queue_invalidation(c, paddr, size)

    def tlb_remapped(self, pages, addr: int, size: int):
        """Pages of `pages` now have other frames (see Cpu._on_remap_for)."""
        me = self.cpu
        for c in self.cpus:
            if c.pages is pages:
                if c is me:
                    c.flush_tlb_pages(addr, size)
                else:
                    _queue_tlb_flush(c, addr, size)

    def tlb_changed(self, pages):
        """Permissions or frames of `pages` were taken away (see Cpu._on_change_for)."""
        me = self.cpu
        for c in self.cpus:
            if c.pages is pages:
                if c is me:
                    c._flush_tlb()
                else:
                    c.tlb_stale = True


def _queue_tlb_flush(cpu: Cpu, addr: int, size: int):
    """Leave `cpu` the dropping of [addr, addr+size)'s TLB entries; past PENDING_MAX, all of
    them (tlb_stale)."""
    if len(cpu.pending) < PENDING_MAX:
        cpu.pending.append(lambda c, a=addr, n=size: c.flush_tlb_pages(a, n))
    else:
        cpu.tlb_stale = True


def _queue_invalidation(cpu: Cpu, paddr: int, size: int):
    """Leave `cpu` the dropping of [paddr, paddr+size)'s blocks; past PENDING_MAX, all of them."""
    if len(cpu.pending) < PENDING_MAX:
        cpu.pending.append(lambda c, p=paddr, n=size: c.invalidate_phys(p, n))
    elif cpu.pending[-1] is not _flush_all:
        cpu.pending.append(_flush_all)


def _flush_all(cpu: Cpu):
    cpu.flush_all_translations()


__all__ = ["Machine", "host_cpus"]
