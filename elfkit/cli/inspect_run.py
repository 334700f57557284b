"""`elfkit inspect`'s work, without click: the views a command line asks for, and the run itself.

cli/inspect.py declares the command to click and calls `run`. `from_argv` is the same run for
the plain command lines -- view flags and one FILE, in any order -- that elfkit.cli.main's
`main` hands it before importing click: click's import is a fifth of inspect's start-up (about
20 ms of CPU here), paid on every run. Anything else (--help, an unknown or misspelt option,
no FILE or two, `--`, a FILE that cannot be opened) returns None before any output, and the
click command runs instead, with its own messages and exit codes.
"""
from __future__ import annotations

import gc
import io
import os
import sys

# View name -> flag help, in output order (readelf -a's order, then what readelf lacks).
VIEWS = {
    "header": "the ELF file header",
    "segments": "program headers and the section-to-segment mapping",
    "sections": "section headers",
    "dynamic": "the dynamic section, every tag decoded",
    "relocations": "every relocation table, .relr.dyn decoded to addresses",
    "symbols": "the .symtab symbol table",
    "dyn_syms": "the dynamic symbol table with @/@@ versions",
    "versions": "verdef, verneed and versym",
    "notes": "notes: build-id, ABI tag, GNU properties (IBT, SHSTK, ISA level), core notes",
    "arch_specific": "the architecture-specific build attributes (readelf -A): ARM, RISC-V, "
                     "GNU (PowerPC, s390, SPARC, MIPS), MIPS ABI flags",
    "got": "the PLT/GOT map: each PLT stub, its GOT slot, relocation, symbol and version",
}
FLAG = {"relocations": "relocs", "dyn_syms": "dyn-syms", "arch_specific": "arch-specific"}
SHORT = {"arch_specific": "-A"}        # readelf's own short flags

# Every option of the click command, as it may be spelt on the command line.
_OPTIONS = {**{f"--{FLAG.get(v, v)}": v for v in VIEWS}, **{f: v for v, f in SHORT.items()},
            "-a": "all", "--all": "all", "--json": "json",
            "-C": "demangle", "--demangle": "demangle"}


def chosen_views(all_: bool, flags: dict) -> list[str]:
    views = [v for v in VIEWS if all_ or flags.get(v)]
    if not views:
        return ["summary"]
    return ["summary", *views] if all_ else views


def run(elf, views: list[str], as_json: bool, echo_err, demangle: bool = False,
        color: str = "auto") -> int:
    """Write `views` of the opened `elf` to stdout (symbol names demangled as readelf -C
    does when `demangle`), then its warnings through `echo_err`; the exit status: 2 when the
    file is damaged, else 0."""
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors="backslashreplace",
                           write_through=False, line_buffering=False)
    # The bulk views make millions of short-lived objects and no reference cycles: the
    # cyclic collector would only walk them again and again (2-10 ms of `--all` on a large
    # library).
    from elfkit.render import use_color
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if as_json:
            from elfkit.render.inspect_json import write_inspect_json
            write_inspect_json(elf, views, out, demangle)
        else:
            from elfkit.render.inspect_text import write_inspect_text
            write_inspect_text(elf, views, out, demangle)
        out.flush()
        if not as_json and "segments" in views and use_color(color, sys.stdout):
            from elfkit.render import bars                 # (a terminal: the scaled bar too)
            pieces = bars.segment_pieces(elf)
            if pieces:
                bars.draw("\nPT_LOAD segments by virtual address, to scale:", pieces,
                          sys.stdout)
    finally:
        if gc_was_enabled:
            gc.enable()
        out.detach()
    for w in elf.warnings:
        echo_err(f"elfkit: warning: {elf.path}: {w}")
    return 2 if elf.warnings else 0


def from_argv(args: list[str]) -> int | None:
    """`elfkit inspect ARGS` without click: its exit status, or None (before any output) when
    the click command must run instead."""
    files = [a for a in args if a not in _OPTIONS]
    if len(files) != 1 or files[0].startswith("-"):
        return None
    chosen = {_OPTIONS[a] for a in args if a in _OPTIONS}
    from elfkit.cli import main
    from elfkit.elf import ElfFile
    try:
        elf = ElfFile.open(files[0])
    except Exception:                    # noqa: BLE001 - the click command reports it
        return None
    try:
        return run(elf, chosen_views("all" in chosen, {v: v in chosen for v in VIEWS}),
                   "json" in chosen, _echo_err, "demangle" in chosen)
    except BrokenPipeError:
        main.quiet_broken_pipe()
        return main.EXIT_OK
    except KeyboardInterrupt:
        _echo_err("\nAborted!")          # as click says it
        return 1
    except main.ElfkitError as e:
        _echo_err(main.error_line(e))
        return main.EXIT_USAGE
    except Exception as e:               # noqa: BLE001 - a bug becomes a one-line report
        if os.environ.get("ELFKIT_DEBUG"):
            raise
        _echo_err(main.internal_error_line(e))
        return main.EXIT_INTERNAL


def _echo_err(line: str):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
