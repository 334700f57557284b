"""trace-plt's report: one line per lazy binding as it happened, then start-up bindings, call
counts and never-called slots; or one JSON document (keys in docs/TRACE.md)."""
from __future__ import annotations

import json


def _name(symbol: str, demangle: bool) -> str:
    """A symbol as ltrace shows it: C++ and Rust names demangled (elf/demangle.py)."""
    if not demangle:
        return symbol
    from elfkit.elf.demangle import demangle as _demangle
    return _demangle(symbol)


def _loc(obj, off):
    return f"{obj}+{off:#x}" if obj is not None else "?"


def _sym(slot, demangle=True):
    if slot.symbol is None:
        return f"*ABS*({slot.reloc_type})"
    return _name(slot.symbol, demangle) + (f"@{slot.version}" if slot.version else "")


def binding_line(e, demangle: bool = True) -> str:
    """One lazy binding's line (docs/TRACE.md); C++ and Rust names demangled unless not
    `demangle`, as ltrace -C shows them."""
    s = e.slot
    if s.slot is None:                 # glibc's dl_vdso_vsym: a look-up, no PLT slot
        return (f"[{e.order + 1}] {s.object}: vDSO look-up of {_sym(s, demangle)} => "
                f"{_loc(e.target_object, e.target_offset or 0)} ({e.after:#x})")
    stub = f"{_name(s.symbol, demangle) if s.symbol else '*ABS*'}@plt at {s.stub:#x}" \
        if s.stub is not None else "(no stub)"
    after = f"{e.after:#x}" if e.after is not None else "?"
    ifunc = f" via IFUNC resolver {e.ifunc_resolver:#x}" if e.ifunc_resolver else ""
    target = _loc(e.target_object, e.target_offset or 0) if e.target_offset is not None \
        else f"{e.target_object or '?'} (code at {after}, outside every object)"
    return (f"[{e.order + 1}] {s.object}: {stub} called from {e.caller - 5:#x}; "
            f"GOT {s.slot:#x} {e.before:#x} -> {after}; {s.reloc_section}[{s.reloc_index}] "
            f"{s.reloc_type}; {_sym(s, demangle)} => {target}{ifunc}")


def write_text(result, out, slot_names=None, demangle: bool = True):
    w = out.write
    for e in result.bindings:
        w(binding_line(e, demangle) + "\n")
    if result.startup:
        w(f"bound at start-up ({len(result.startup)}):\n")
        for b in result.startup:
            w(f"  {b.slot.object}: GOT {b.slot.slot:#x} {_sym(b.slot, demangle)} => "
              f"{_loc(b.target_object, b.target_offset or 0)} ({b.reason})\n")
    if result.counting:
        counts = sorted(((n, s) for s in result.slots if (n := result.calls.get(s.slot, 0))),
                        key=lambda x: (-x[0], x[1].object, x[1].symbol or ""))
        w(f"calls through the PLT ({sum(n for n, _ in counts)}):\n")
        w(f"  {'calls':>10}  {'object':<28} symbol\n")
        for n, s in counts:
            w(f"  {n:>10}  {s.object:<28} {_sym(s, demangle)}\n")
    if result.never_called:
        w(f"never called ({len(result.never_called)}):\n")
        for s in result.never_called:
            w(f"  {s.object}: {_sym(s, demangle)} (GOT {s.slot:#x})\n")


def _slot_json(s) -> dict:
    return {"object": s.object, "plt_section": s.plt_section, "stub": s.stub, "got_slot": s.slot,
            "reloc_section": s.reloc_section, "reloc_index": s.reloc_index,
            "reloc_type": s.reloc_type, "symbol": s.symbol, "version": s.version}


def to_json(result) -> dict:
    return {
        "bindings": [{"order": e.order, **_slot_json(e.slot), "before": e.before, "after": e.after,
                      "target_object": e.target_object, "target_offset": e.target_offset,
                      "call_site": e.caller - 5, "return_address": e.caller,
                      "ifunc_resolver": e.ifunc_resolver} for e in result.bindings],
        "startup": [{**_slot_json(b.slot), "value": b.value, "target_object": b.target_object,
                     "target_offset": b.target_offset, "reason": b.reason} for b in result.startup],
        "calls": ([{**_slot_json(s), "calls": result.calls.get(s.slot, 0)} for s in result.slots
                   if result.calls.get(s.slot, 0)] if result.counting else None),
        "never_called": [_slot_json(s) for s in result.never_called],
    }


def write_json(result, out):
    out.write(json.dumps(to_json(result), indent=1) + "\n")
