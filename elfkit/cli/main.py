"""`elfkit`: the entry point, shared error handling and the documented exit codes.

Exit codes (every command):
  0  success
  1  the command ran and found failures (check: a required check failed)
  2  usage error, or input that cannot be read (missing, not ELF, damaged)
  3  internal error in elfkit (a bug: please report it; ELFKIT_DEBUG=1 shows the traceback)
Commands that run a guest exit with the guest's status instead (128+N when killed by signal N).

The click group is elfkit/cli/group.py (`cli` here too), imported when a command needs it: a
plain `elfkit inspect` command line -- view flags and one FILE -- runs without importing click
(elfkit/cli/inspect_run.py), whose import is a fifth of inspect's start-up.
"""
from __future__ import annotations

import gc
import os
import sys

from elfkit.errors import ElfkitError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


# Each command's module is imported only when that command runs (or for --help): running a
# guest should not pay for importing check's policy machinery, and the other way round.
COMMANDS = {
    "check": ("elfkit.cli.check", "check"),
    "disasm": ("elfkit.cli.disasm", "disasm"),
    "inspect": ("elfkit.cli.inspect", "inspect"),
    "link": ("elfkit.cli.link", "link"),
    "load-and-run": ("elfkit.cli.run", "load_and_run"),
    "report": ("elfkit.cli.report", "report"),
    "trace-plt": ("elfkit.cli.trace", "trace_plt"),
}


def error_line(e: ElfkitError) -> str:
    """What an ElfkitError a command raises prints (then exit code 2)."""
    return f"elfkit: error: {e.one_line()}"


def internal_error_line(e: Exception) -> str:
    """What any other exception prints (then exit code 3)."""
    return (f"elfkit: internal error: {type(e).__name__}: {e} "
            "(set ELFKIT_DEBUG=1 for the traceback)")


def quiet_broken_pipe():
    """The reader went away (`| head`): stop quietly, as readelf does."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def __getattr__(name):
    """`cli`, `Group`, `ElfkitClickError`: elfkit/cli/group.py's, imported on first use."""
    if name in ("cli", "Group", "ElfkitClickError"):
        from elfkit.cli import group
        return getattr(group, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _leave(status: int):
    """End an `inspect` run whose output is written: flushed, then without tearing down the
    interpreter (freeing a large library's million objects one by one and the module
    teardown take 10-30 ms after the work is done). Commands that run guests keep the orderly
    exit (threads, atexit handlers)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def main():
    if sys.argv[1:2] == ["link"]:                # ld's argv: no click at all
        gc.disable()                             # from the imports on (run_argv says why)
        from elfkit.cli.link import run_argv
        _leave(run_argv(sys.argv[2:]))
    inspecting = sys.argv[1:2] == ["inspect"]
    if inspecting:
        # The imports of a plain inspect make objects that live to its os._exit and no cycle
        # worth collecting: the collector's passes over them were 1-2 ms of a 40 ms run.
        gc.disable()
        from elfkit.cli.inspect_run import from_argv
        status = from_argv(sys.argv[2:])
        if status is not None:
            _leave(status)
        gc.enable()                              # the click command (--debug-dump, ...)
    from elfkit.cli.group import cli
    try:
        cli(prog_name="elfkit")
    except SystemExit as e:
        if inspecting and (e.code is None or isinstance(e.code, int)):
            _leave(e.code or 0)
        raise
