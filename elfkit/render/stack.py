"""--show-stack and --maps: the initial stack as the classic start-up figure draws it, and the areas."""
from __future__ import annotations


def format_stack(stack) -> str:
    """Top (high addresses) to bottom, one labelled row per piece, %rsp marked."""
    lines = [f"{'address':<18} {'size':>5}  what", "-" * 72]
    for it in stack.items:
        value = it.value
        if isinstance(value, bytes):
            shown = repr(value.decode("utf-8", "backslashreplace"))
        elif isinstance(value, int) and it.label.startswith(("argv[", "envp[")) and "string" not in it.label:
            shown = f"-> {value:#x}"
        elif isinstance(value, int) and it.label.startswith("auxv"):
            shown = f"{value:#x}" if value > 4096 else str(value)
        elif value is None:
            shown = ""
        else:
            shown = str(value)
        mark = "   <- %rsp at entry" if it.address == stack.sp else ""
        lines.append(f"{it.address:#018x} {it.size:5d}  {it.label}{(': ' + shown) if shown else ''}{mark}")
    return "\n".join(lines) + "\n"
