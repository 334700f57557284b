"""The click group of `elfkit`: its commands, imported only when one runs, and how an exception
a command raises becomes one stderr line and an exit code (elfkit.cli.main documents the codes).

elfkit.cli.main imports this module only when a command needs click: plain `elfkit inspect`
command lines run without it (elfkit/cli/inspect_run.py).
"""
from __future__ import annotations

import click

from elfkit import __version__
from elfkit.cli.main import COMMANDS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, internal_error_line, \
    quiet_broken_pipe
from elfkit.errors import ElfkitError


class ElfkitClickError(click.ClickException):
    """An ElfkitError at the CLI edge: one line on stderr, exit code 2."""
    exit_code = EXIT_USAGE

    def show(self, file=None):
        click.echo(f"elfkit: error: {self.message}", err=True)


class Group(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        import importlib
        module, attr = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ElfkitError as e:
            raise ElfkitClickError(e.one_line()) from None
        except BrokenPipeError:
            quiet_broken_pipe()
            ctx.exit(EXIT_OK)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - the one place a bug becomes a one-line report
            import os
            if os.environ.get("ELFKIT_DEBUG"):
                raise
            click.echo(internal_error_line(e), err=True)
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="elfkit")
def cli():
    """Show, run and check x86-64 Linux ELF programs the way the kernel and ld.so see them."""
