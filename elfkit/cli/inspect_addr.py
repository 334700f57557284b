"""`elfkit inspect FILE --addr ADDR...`: addr2line -f -i -e FILE in one process (elfkit.debug),
as text (addr2line's lines) or one JSON document.

Addresses are hexadecimal, with or without 0x, as addr2line reads them; `-` reads them from
standard input (whitespace-separated), answering each line as it comes, as addr2line does.
"""
from __future__ import annotations

import json
import sys

from elfkit.errors import ElfkitError


class AddressError(ElfkitError):
    """An --addr value that is not a hexadecimal address."""


def parse_address(text: str) -> int:
    t = text.strip()
    digits = t[2:] if t[:2].lower() == "0x" else t
    try:
        value = int(digits, 16)
    except ValueError:
        raise AddressError("--addr", f"{text!r} is not a hexadecimal address") from None
    if value < 0 or value >= 1 << 64:
        raise AddressError("--addr", f"{text!r} is not a 64-bit address")
    return value


def _addresses(values, stdin):
    """The --addr values in order; `-` stands for every address on stdin."""
    for v in values:
        if v == "-":
            for line in stdin:
                for word in line.split():
                    yield word
        else:
            yield v


def run(elf, values, debug_dirs, as_json: bool, out=None, stdin=None) -> int:
    from elfkit.debug import DebugStore, format_frames
    out = out or sys.stdout
    stdin = stdin or sys.stdin
    store = DebugStore(debug_dirs)
    symbolizer = store.symbolizer(elf)
    if not as_json:
        interactive = "-" in values
        for word in _addresses(values, stdin):
            lines = format_frames(symbolizer.frames(parse_address(word)))
            out.write("\n".join(lines) + "\n")
            if interactive:
                out.flush()
        out.flush()
        return 0
    loc = store.locate(elf)
    doc = {
        "file": elf.path,
        "debug_file": None if loc is None else {"path": loc.path, "how": loc.how},
        "addresses": [],
    }
    for word in _addresses(values, stdin):
        addr = parse_address(word)
        frames = symbolizer.frames(addr)
        doc["addresses"].append({
            "address": f"{addr:#x}",
            "frames": [] if frames is None else [f.as_dict() for f in frames],
        })
    json.dump(doc, out, indent=2)
    out.write("\n")
    out.flush()
    return 0
