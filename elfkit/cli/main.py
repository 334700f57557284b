"""`elfkit`: the click group, shared error handling and the documented exit codes.

Exit codes (every command):
  0  success
  1  the command ran and found failures (check: a required check failed)
  2  usage error, or input that cannot be read (missing, not ELF, damaged)
  3  internal error in elfkit (a bug: please report it; ELFKIT_DEBUG=1 shows the traceback)
Commands that run a guest exit with the guest's status instead (128+N when killed by signal N).
"""
from __future__ import annotations

import os
import sys

import click

from elfkit import __version__
from elfkit.errors import ElfkitError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class ElfkitClickError(click.ClickException):
    """An ElfkitError at the CLI edge: one line on stderr, exit code 2."""
    exit_code = EXIT_USAGE

    def show(self, file=None):
        click.echo(f"elfkit: error: {self.message}", err=True)


# Each command's module is imported only when that command runs (or for --help): running a
# guest should not pay for importing check's policy machinery, and the other way round.
COMMANDS = {
    "check": ("elfkit.cli.check", "check"),
    "disasm": ("elfkit.cli.disasm", "disasm"),
    "inspect": ("elfkit.cli.inspect", "inspect"),
    "load-and-run": ("elfkit.cli.run", "load_and_run"),
    "trace-plt": ("elfkit.cli.trace", "trace_plt"),
}


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
            # The reader went away (`| head`): stop quietly, as readelf does.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(EXIT_OK)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - the one place a bug becomes a one-line report
            if os.environ.get("ELFKIT_DEBUG"):
                raise
            click.echo(f"elfkit: internal error: {type(e).__name__}: {e} "
                       "(set ELFKIT_DEBUG=1 for the traceback)", err=True)
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="elfkit")
def cli():
    """Show, run and check x86-64 Linux ELF programs the way the kernel and ld.so see them."""


def main():
    cli(prog_name="elfkit")
