"""kernel/rseq.c: restartable sequences, the kernel's side.

A task that registered a struct rseq (glibc does at start-up) reads the CPU it
runs on from it (`cpu_id`: sched_getcpu without a system call), and may run a
critical section (`rseq_cs`: start_ip, post_commit_offset, abort_ip) that must
not be interrupted: if the task is preempted, migrated or takes a signal inside
one, it resumes at abort_ip instead. The kernel does both on the way back to
user mode (rseq_handle_notify_resume): here, every time the scheduler lets a
task run again (sched.run_task), and before a signal frame is built.

struct rseq: u32 cpu_id_start, u32 cpu_id, u64 rseq_cs, u32 flags, u32 node_id, u32 mm_cid.
struct rseq_cs: u32 version, u32 flags, u64 start_ip, u64 post_commit_offset, u64 abort_ip.
"""
from __future__ import annotations

import struct

from elfkit.kernel.task import ExitStatus

RSEQ_CS_OFFSET = 8


def rseq_resume(task, cpu) -> None:
    """On the way back to user mode on `cpu`: abort a critical section the task was stopped in,
    and tell it which CPU it runs on (when that changed)."""
    area = task.rseq_area
    if area is None:
        return
    rseq_abort_cs(task, cpu)
    if task.rseq_cpu != cpu.index:
        index = cpu.index
        # cpu_id_start, cpu_id; node_id 0; mm_cid: the CPU's number (one process per CPU at a time)
        if task.mm.write(area[0], struct.pack("<II", index, index)):
            if area[1] >= 28:
                task.mm.write(area[0] + 20, struct.pack("<I", index))
            task.rseq_cpu = index


def rseq_abort_cs(task, cpu) -> None:
    """rseq_ip_fixup: %rip inside the registered critical section -> its abort_ip (after the
    signature check); a damaged rseq_cs kills the task with SIGSEGV, as the kernel does."""
    area = task.rseq_area
    if area is None:
        return
    raw = task.mm.read(area[0] + RSEQ_CS_OFFSET, 8)
    if raw is None:
        return
    cs = int.from_bytes(raw, "little")
    if not cs:
        return
    desc = task.mm.read(cs, 32)
    if desc is None:
        _bad(task, "rseq_cs points at unmapped memory")
        return
    version, _flags, start, post_commit, abort = struct.unpack("<IIQQQ", desc)
    rip = cpu.reg("rip")
    if not start <= rip < start + post_commit:
        task.mm.write(area[0] + RSEQ_CS_OFFSET, bytes(8))        # left it: clear rseq_cs
        return
    sig = task.mm.read(abort - 4, 4)
    if version != 0 or start + post_commit < start or (start <= abort < start + post_commit) \
            or sig is None or int.from_bytes(sig, "little") != task.rseq_sig:
        _bad(task, "rseq critical section descriptor is invalid")
        return
    task.mm.write(area[0] + RSEQ_CS_OFFSET, bytes(8))
    cpu.set_reg("rip", abort)


def _bad(task, reason: str):
    task.exit = ExitStatus(signal=11, reason=f"killed by SIGSEGV: {reason}")


__all__ = ["rseq_resume", "rseq_abort_cs"]
