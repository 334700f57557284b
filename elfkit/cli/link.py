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


def run_argv(args) -> int:
    """The link, without click (elfkit.cli.main calls this for `elfkit link` before importing
    click, a third of a small link's start-up): the exit status."""
    from elfkit.errors import ElfkitError
    from elfkit.ld import driver
    from elfkit.ld.input import LinkError
    # A link makes tens of thousands of objects that live to its end (sections, symbols,
    # relocation columns): the cyclic collector would only walk them again and again (~5 ms
    # of a brotli link; the process ends when the link does).
    import gc
    gc.disable()
    try:
        status = driver.run(list(args))
    except LinkError as e:
        _err(e.one_line())
        status = 1
    except ElfkitError as e:
        text = e.one_line()
        _err(text if text.startswith("elfkit link") else f"elfkit link: {text}")
        status = 2
    except MemoryError:
        _err("elfkit link: out of memory")
        status = 1
    except KeyboardInterrupt:
        _err("\nAborted!")
        status = 1
    except Exception as e:  # noqa: BLE001 - a bug: one line, exit 3
        if os.environ.get("ELFKIT_DEBUG"):
            raise
        from elfkit.cli.main import internal_error_line
        _err(internal_error_line(e))
        status = 3
    sys.stdout.flush()
    return status


def _err(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def __getattr__(name):
    """`link`, the click command (for `elfkit --help` and the group), made on first use."""
    if name != "link":
        raise AttributeError(name)
    import click

    @click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                     "help_option_names": []},
                   add_help_option=False)
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def link(args):
        """Link ET_REL objects and ar archives into a static x86-64 executable (ld's options;
        `elfkit link --help` lists them)."""
        click.get_current_context().exit(run_argv(args))
    globals()["link"] = link
    return link
