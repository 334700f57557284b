"""The PLT/GOT side of `elfkit report`: trace-plt's observer (elfkit.linker.trace.PltTracer),
each lazy binding stamped with the system call count it happened at, and every slot's first
and last value."""
from __future__ import annotations

from elfkit.linker.trace import PltTracer
from elfkit.report.data import GotSlot


class StampedPltTracer(PltTracer):
    """PltTracer, plus `stamps[i]`: (system call count, sequence number) when binding i was
    seen. Bindings the tracer records without calling here (the vDSO look-ups its read watch
    sees) are stamped at the next system call, breakpoint or binding."""

    def __init__(self, proc, clock, count_calls: bool = False):
        super().__init__(proc, count_calls=count_calls)
        self.clock = clock              # () -> (the current system call count, a sequence number)
        self.stamps: list[tuple[int, int]] = []

    def stamp(self):
        while len(self.stamps) < len(self.result.bindings):
            self.stamps.append(self.clock())

    def _on_ld_resolver(self):
        self.stamp()                    # vDSO look-ups seen by the read watch since the last one
        super()._on_ld_resolver()
        self.stamp()

    def _on_elfkit_binding(self, b):
        self.stamp()
        super()._on_elfkit_binding(b)
        self.stamp()


def _where(tracer, value) -> str:
    if value is None:
        return ""
    name, off = tracer._where(value)
    return f"{name}+{off:#x}" if name is not None else f"{value:#x}"


def _target(tracer, s, value) -> str:
    """Where a slot's value points: its own PLT entry (not bound yet), or object+offset."""
    if value is not None and s.lazy_stub is not None and s.lazy_stub <= value < s.lazy_stub + 16:
        return "(its PLT entry)"
    return _where(tracer, value)


def got_slots(tracer: StampedPltTracer, result) -> list[GotSlot]:
    """Every slot of every loaded object, in the objects' order: what it held at the program's
    entry, what it holds at the end, and how it got there."""
    lazy = {e.slot.slot: e for e in result.bindings if e.slot.slot is not None}
    startup = {b.slot.slot: b for b in result.startup}
    never = {s.slot for s in result.never_called}
    out = []
    for s in result.slots:
        last = tracer._peek(s.slot) if s.slot is not None else None
        symbol = (s.symbol or f"*ABS*({s.reloc_type})") + (f"@{s.version}" if s.version else "")
        if s.slot in lazy:
            e = lazy[s.slot]
            first, how = e.before, f"lazy #{e.order + 1}"
        elif s.slot in startup:
            first, how = startup[s.slot].value, startup[s.slot].reason
        elif s.slot in never:
            first, how = last, "never called"
        else:
            first, how = None, "not seen"
        out.append(GotSlot(s.object, symbol, s.slot, s.reloc_type, first, last,
                           _target(tracer, s, first), _target(tracer, s, last), how))
    return out
