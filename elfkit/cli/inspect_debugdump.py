"""`elfkit inspect FILE --debug-dump=info|line|frames` (also `-wi`, `-wl`, `-wf`, and comma
lists such as `--debug-dump=info,line`): readelf's DWARF dumps of FILE's own sections
(elfkit/render/debug_dump.py), as text or one JSON document.

Exit status: 0; 2 when the DWARF is damaged -- what was decoded before the damage is written
(for --json, an unfinished document), then one line on stderr naming the file and the problem
(as other inspect damage).
"""
from __future__ import annotations

import gc
import sys

from elfkit.errors import ElfkitError


class DebugDumpError(ElfkitError):
    """A --debug-dump value that names no known dump."""


def run(elf, values, as_json: bool, echo_err, out=None) -> int:
    from elfkit.render.debug_dump import Dumper, parse_kinds
    try:
        kinds = parse_kinds(values)
    except ValueError as e:
        raise DebugDumpError("--debug-dump", str(e)) from None
    raw = out or sys.stdout.buffer
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        dumper = Dumper(elf)

        def write(text: str):
            raw.write(text.encode("utf-8", "surrogateescape"))

        try:
            if as_json:
                from elfkit.render.debug_dump_json import write_debug_dump_json
                write_debug_dump_json(dumper, kinds, write)
            else:
                dumper.write_text(kinds, write)
        except ElfkitError as e:
            raw.flush()
            echo_err(f"elfkit: error: {e.one_line()}")
            return 2
        raw.flush()
        return 0
    finally:
        if gc_was_enabled:
            gc.enable()
