"""`elfkit inspect FILE`: every readelf view of one ELF file, plus the PLT/GOT map, as text or JSON."""
from __future__ import annotations

import io
import sys

import click

from elfkit.elf import ElfFile

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
    "got": "the PLT/GOT map: each PLT stub, its GOT slot, relocation, symbol and version",
}
_FLAG = {"relocations": "relocs", "dyn_syms": "dyn-syms"}


def _view_options(f):
    for view, help_ in reversed(list(VIEWS.items())):
        flag = _FLAG.get(view, view)
        f = click.option(f"--{flag}", view, is_flag=True, help=f"Show {help_}.")(f)
    return f


@click.command()
@click.argument("file", type=click.Path(dir_okay=True, path_type=str))
@_view_options
@click.option("-a", "--all", "all_", is_flag=True, help="Every view.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON document on stdout (keys: docs/JSON.md).")
def inspect(file, all_, as_json, **flags):
    """Show FILE as readelf would, and what readelf lacks (PLT/GOT map, JSON).

    With no view flag, a short summary: type, machine, entry, interpreter,
    NEEDED, SONAME and a one-line hardening summary. Damage found while
    reading is reported on stderr after the readable views; the exit code is
    then 2.
    """
    views = [v for v in VIEWS if all_ or flags[v]]
    if not views:
        views = ["summary"]
    elif all_:
        views = ["summary", *views]
    elf = ElfFile.open(file)
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors="backslashreplace",
                           write_through=False, line_buffering=False)
    try:
        if as_json:
            from elfkit.render.inspect_json import write_inspect_json
            write_inspect_json(elf, views, out)
        else:
            from elfkit.render.inspect_text import write_inspect_text
            write_inspect_text(elf, views, out)
        out.flush()
    finally:
        out.detach()
    for w in elf.warnings:
        click.echo(f"elfkit: warning: {elf.path}: {w}", err=True)
    if elf.warnings:
        click.get_current_context().exit(2)
