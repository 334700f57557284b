"""`elfkit inspect FILE`: every readelf view of one ELF file, plus the PLT/GOT map, as text or JSON."""
from __future__ import annotations

import click

from elfkit.cli.inspect_run import FLAG as _FLAG, SHORT as _SHORT, VIEWS, chosen_views, run
from elfkit.elf import ElfFile


def _view_options(f):
    for view, help_ in reversed(list(VIEWS.items())):
        flag = _FLAG.get(view, view)
        spellings = [f"--{flag}", *([_SHORT[view]] if view in _SHORT else [])]
        f = click.option(*spellings, view, is_flag=True, help=f"Show {help_}.")(f)
    return f


@click.command()
@click.argument("file", type=click.Path(dir_okay=True, path_type=str))
@_view_options
@click.option("-a", "--all", "all_", is_flag=True, help="Every view.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON document on stdout (keys: docs/JSON.md).")
@click.option("-C", "--demangle", is_flag=True,
              help="Show C++ and Rust symbol names demangled, as readelf -C does (symbol, "
                   "relocation and PLT/GOT views; JSON too).")
@click.option("--addr", "addrs", multiple=True, metavar="ADDR",
              help="What `addr2line -f -i -e FILE ADDR` prints: function, file:line and the "
                   "frames inlined there, from FILE's DWARF or its separate debug file "
                   "(repeatable; `-` reads addresses from stdin).")
@click.option("-w", "--debug-dump", "debug_dumps", multiple=True, metavar="KINDS",
              help="readelf --debug-dump's DWARF dumps of FILE's own sections: info (the "
                   "units and their DIEs), line (the raw line programs), frames (the CFI); a "
                   "comma list, or -wi, -wl, -wf. Text as `readelf -wN --debug-dump=KINDS` "
                   "prints it; with --json one document (docs/JSON.md).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True,
              help="--segments: also draw the PT_LOAD segments as a scaled bar, in colour "
                   "(auto: when stdout is a terminal).")
@click.option("--debug-dir", "debug_dirs", multiple=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=str),
              help="Also look for separate debug files in DIR (its .build-id/ tree and "
                   "DIR/<file's directory>/<debuglink name>), before /usr/lib/debug.")
def inspect(file, all_, as_json, addrs, debug_dirs, demangle, debug_dumps, color, **flags):
    """Show FILE as readelf would, and what readelf lacks (PLT/GOT map, JSON).

    With no view flag, a short summary: type, machine, entry, interpreter,
    NEEDED, SONAME and a one-line hardening summary. Damage found while
    reading is reported on stderr after the readable views; the exit code is
    then 2.
    """
    elf = ElfFile.open(file)
    if debug_dumps:
        if addrs or all_ or any(flags.values()):
            raise click.UsageError("--debug-dump cannot be combined with --addr or view flags")
        from elfkit.cli import inspect_debugdump
        status = inspect_debugdump.run(elf, debug_dumps, as_json,
                                       lambda line: click.echo(line, err=True))
        if status:
            click.get_current_context().exit(status)
        return
    if addrs:
        if all_ or any(flags.values()):
            raise click.UsageError("--addr cannot be combined with view flags")
        from elfkit.cli import inspect_addr
        status = inspect_addr.run(elf, addrs, debug_dirs, as_json)
        if status:
            click.get_current_context().exit(status)
        return
    status = run(elf, chosen_views(all_, flags), as_json, lambda line: click.echo(line, err=True),
                 demangle, color)
    if status:
        click.get_current_context().exit(status)
