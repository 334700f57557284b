"""One strace hook or process tracer slot of the kernel, several listeners: `load-and-run
--strace --report` hands the kernel a FanOut of the strace writer and the report's system-call
lane (and of --trace-procs' tracer and the report's)."""
from __future__ import annotations


class FanOut:
    """Every method call goes to each target in turn (the first one's result is returned);
    an attribute the kernel sets (the strace writer's pid_of) is set on each; one it reads comes
    from the first."""

    def __init__(self, *targets):
        object.__setattr__(self, "_targets", [t for t in targets if t is not None])

    def __getattr__(self, name):
        values = [getattr(t, name) for t in self._targets]
        if not values or not all(callable(v) for v in values):
            return values[0] if values else None

        def call(*args, **kwargs):
            results = [v(*args, **kwargs) for v in values]
            return results[0]
        return call

    def __setattr__(self, name, value):
        for t in self._targets:
            setattr(t, name, value)


def joined(first, second):
    """`first` alone, `second` alone, or a FanOut of both."""
    if first is None or second is None:
        return first if second is None else second
    return FanOut(first, second)
