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

from elfkit.kernel.syscalls.numbers import NAMES, name_of


@dataclass(frozen=True, slots=True)
class Syscall:
    nr: int
    handler: Callable
    args: tuple[str, ...] = ()      # argument kinds, for --strace (see elfkit.kernel.strace)
    ret: str = "int"               # result kind: int, hex (addresses), fd

    @property
    def name(self) -> str:
        return name_of(self.nr)


def build_table() -> dict[int, Syscall]:
    from elfkit.kernel.syscalls import files, memory, misc, process, signals, timekeeping
    table: dict[int, Syscall] = {}
    for module in (files, memory, process, timekeeping, signals, misc):
        for entry in module.TABLE:
            table[entry.nr] = entry
    return table


def make_dispatcher(proc):
    """The function the CPU calls on every `syscall` instruction (must never raise).

    The common path is kept short (it runs ~200,000 times a second): one batched
    register read, a dict look-up, the handler, one batched write."""
    from elfkit.kernel.process import ExitStatus, GuestExit
    from elfkit.kernel.signals import deliver_pending
    table = build_table()
    handlers = {nr: entry.handler for nr, entry in table.items()}
    cpu = proc.cpu
    read_args, write_result = cpu.syscall_args, cpu.syscall_return
    strace = proc.strace
    pending = proc.signals.pending

    def slow_call(nr, v):
        entry = table.get(nr)
        args = (v[1], v[2], v[3], v[4], v[5], v[6])
        if entry is None:
            _unknown(proc, nr)
            result = -errno.ENOSYS
            if strace is not None:
                strace.unknown(proc, nr, v, result)
            return result
        strace.enter(proc, entry, args)
        try:
            result = entry.handler(proc, *args)
        except GuestExit as e:
            strace.exit(proc, entry, e.status)
            raise
        strace.leave(proc, entry, args, result)
        return result

    def dispatch(_uc=None, _data=None):
        if proc.exit is not None:                # ended by a hook: the rest of its block runs
            cpu.stop()                           # until the stop lands, but makes no syscall
            return
        v = read_args()
        nr = v[0]
        h = handlers.get(nr)
        try:
            if h is not None and strace is None:
                result = h(proc, v[1], v[2], v[3], v[4], v[5], v[6])
            else:
                result = slow_call(nr, v)
        except GuestExit as e:
            proc.exit = e.status
            cpu.stop()
            return
        except Exception as e:  # noqa: BLE001 - a bug in elfkit: stop the guest, say where
            proc.exit = ExitStatus(signal=9, reason=f"elfkit internal error in {_name(nr)}: "
                                                    f"{type(e).__name__}: {e}", limit="internal")
            cpu.stop()
            return
        if proc.restart_at is not None:          # rt_sigreturn replaced the registers
            cpu.stop()
            return
        # In the hook %rip is the syscall instruction itself; the kernel returns after it
        # (RCX = return address, R11 = RFLAGS, as the instruction defines).
        write_result(result, v[7] + 2, v[8])
        if proc.exit is not None:
            cpu.stop()
        elif pending:
            cpu.set_reg("rip", v[7] + 2)         # a handler frame must return past the syscall
            if deliver_pending(proc):
                proc.restart_at = cpu.pc()
                cpu.stop()
    return dispatch


def _name(nr):
    return NAMES.get(nr, f"syscall {nr}")


def _unknown(proc, nr):
    name = _name(nr)
    proc.warn_once(f"nosys:{nr}", f"{proc.image.execfn if proc.image else 'guest'}: unsupported "
                                  f"system call {name} ({nr}) returns -ENOSYS")
