"""`elfkit link ARGS`: a static linker for x86-64, with ld's command line (gcc can run it as
its `ld`: fixtures/ld/ld and README "elfkit link"). The arguments are ld's, not click's: they
are handed to elfkit/ld/options.py unparsed.

Exit codes: 0 linked; 1 the link failed (undefined or multiply defined symbols, a relocation
that does not fit: one line per problem, as ld prints them); 2 a refused option or an input
that cannot be read.
"""
from __future__ import annotations

import os
import sys

import click


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": []},
               add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def link(args):
    """Link ET_REL objects and ar archives into a static x86-64 executable (ld's options;
    `elfkit link --help` lists them)."""
    from elfkit.errors import ElfkitError
    from elfkit.ld import driver
    from elfkit.ld.input import LinkError
    try:
        status = driver.run(list(args))
    except LinkError as e:
        click.echo(e.one_line(), err=True)
        status = 1
    except ElfkitError as e:
        text = e.one_line()
        if not text.startswith("elfkit link"):
            text = f"elfkit link: {text}"
        click.echo(text, err=True)
        status = 2
    except MemoryError:
        click.echo("elfkit link: out of memory", err=True)
        status = 1
    except Exception as e:  # noqa: BLE001 - a bug: one line, exit 3
        if os.environ.get("ELFKIT_DEBUG"):
            raise
        from elfkit.cli.main import internal_error_line
        click.echo(internal_error_line(e), err=True)
        status = 3
    sys.stdout.flush()
    click.get_current_context().exit(status)
