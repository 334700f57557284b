"""The system call layer: a table from x86-64 syscall number to handler, and the dispatcher.

Each area's module (files, memory, process, timekeeping, signals, misc)
exports TABLE: a list of Syscall records. A handler takes the Process and the
six argument registers and returns the value for %rax (a negative errno on
failure). An unknown number returns -ENOSYS and is reported once.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Callable

from elfkit.kernel.syscalls.numbers import NR


@dataclass(frozen=True, slots=True)
class Syscall:
    nr: int
    handler: Callable
    args: tuple[str, ...] = ()      # argument kinds, for --strace (see elfkit.kernel.strace)
    ret: str = "int"               # result kind: int, hex (addresses), fd

    @property
    def name(self) -> str:
        return NR(self.nr).name


def build_table() -> dict[int, Syscall]:
    from elfkit.kernel.syscalls import files, memory, misc, process, signals, timekeeping
    table: dict[int, Syscall] = {}
    for module in (files, memory, process, timekeeping, signals, misc):
        for entry in module.TABLE:
            table[entry.nr] = entry
    return table


def make_dispatcher(proc):
    """The function the CPU calls on every `syscall` instruction (must never raise)."""
    from elfkit.kernel.process import ExitStatus, GuestExit
    from elfkit.kernel.signals import deliver_pending
    table = build_table()
    cpu = proc.cpu
    read_args, write_result = cpu.syscall_args, cpu.syscall_return
    strace = proc.strace
    enosys = -errno.ENOSYS

    def dispatch():
        v = read_args()
        nr, rip, eflags = v[0], v[7], v[8]
        entry = table.get(nr)
        proc.syscall_count += 1
        try:
            if entry is None:
                result = enosys
                _unknown(proc, nr)
                if strace is not None:
                    strace.unknown(proc, nr, v, result)
            elif strace is None:
                result = entry.handler(proc, v[1], v[2], v[3], v[4], v[5], v[6])
            else:
                args = (v[1], v[2], v[3], v[4], v[5], v[6])
                strace.enter(proc, entry, args)
                result = entry.handler(proc, *args)
                strace.leave(proc, entry, args, result)
        except GuestExit as e:
            if strace is not None:
                strace.exit(proc, entry, e.status)
            proc.exit = e.status
            cpu.stop()
            return
        except Exception as e:  # noqa: BLE001 - a bug in elfkit: stop the guest, say where
            name = entry.name if entry else str(nr)
            proc.exit = ExitStatus(signal=9, reason=f"elfkit internal error in {name}: "
                                                    f"{type(e).__name__}: {e}", limit="internal")
            cpu.stop()
            return
        if proc.restart_at is not None:          # rt_sigreturn replaced the registers
            cpu.stop()
            return
        write_result(result, rip, eflags)
        if proc.exit is not None:
            cpu.stop()
        elif proc.signals.pending and deliver_pending(proc):
            proc.restart_at = cpu.pc()
            cpu.stop()
    return dispatch


def _unknown(proc, nr):
    try:
        name = NR(nr).name
    except ValueError:
        name = f"syscall {nr}"
    proc.warn_once(f"nosys:{nr}", f"{proc.image.execfn if proc.image else 'guest'}: unsupported "
                                  f"system call {name} ({nr}) returns -ENOSYS")
