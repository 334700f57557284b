"""The command line of the commands that run a guest (`load-and-run`, `trace-plt`).

elfkit's own options come before FILE; everything after FILE belongs to the guest, untouched.
So an option elfkit does not know, given before FILE, is a usage error exactly as for every
other elfkit command: exit status 2 and click's own "No such option" message with its
"Did you mean" suggestion (compared with `elfkit inspect`, which has no guest). After FILE the
same words (-la, --color=never, --help, --, an option elfkit has) reach the guest's argv as
they would natively.

Every run is the real CLI in a subprocess (conftest.run_elfkit).
"""
from __future__ import annotations

import subprocess

import click
import pytest

from conftest import run_elfkit

GUEST_COMMANDS = ["load-and-run", "trace-plt"]
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
PRINTF = "/usr/bin/printf"
# What the guest must get exactly as given: options of its own, options elfkit has too, `--`.
GUEST_ARGS = ["[%s]\n", "-la", "--color=never", "--help", "-h", "--", "--bogus", "--timeout",
              "0", "--env", "X=1", "-o", "out", ""]


def usage_error(command: str, *args: str) -> tuple[int, list[str]]:
    p = run_elfkit(command, *args, env=ENV, timeout=60)
    assert p.stdout == b""
    assert b"Traceback" not in p.stderr
    return p.returncode, p.stderr.decode().splitlines()


def clicks_own_message(command: str, option: str) -> str:
    """What click itself says of `option` for `command`: the message of the NoSuchOption its
    parser raises over the command's declared options (possibilities included)."""
    from elfkit.cli.main import cli
    cmd = cli.get_command(None, command)
    ctx = click.Context(cmd, info_name=command, parent=click.Context(cli, info_name="elfkit"))
    with pytest.raises(click.NoSuchOption) as e:
        cmd.make_parser(ctx).parse_args([option, "prog"])
    return e.value.format_message()


@pytest.mark.parametrize("command", GUEST_COMMANDS)
@pytest.mark.parametrize("option", ["--bogus", "--zzzq", "--zzzq=1", "-x"])
def test_unknown_option_before_file_is_the_same_usage_error_as_inspects(command, option):
    """The bug this replaces: `load-and-run --bogus prog` ran "--bogus" as the program
    (exit 127, "--bogus: cannot execute: no such file")."""
    status, lines = usage_error(command, option, "prog", "arg")
    want_status, want = usage_error("inspect", option, "prog")
    assert status == want_status == 2, lines
    # The same three parts as inspect's: the usage line, the --help hint, click's message.
    assert lines[0].startswith(f"Usage: elfkit {command} [OPTIONS] ") and \
        want[0].startswith("Usage: elfkit inspect [OPTIONS] ")
    assert lines[1:-1] == [line.replace("inspect", command) for line in want[1:-1]]
    name = option.split("=")[0]
    assert lines[-1] == f"Error: {clicks_own_message(command, option)}"
    assert lines[-1].startswith(f"Error: No such option '{name}'.")
    if "Did you mean" not in want[-1]:               # (suggestions come from each one's options)
        assert lines[-1] == want[-1]


@pytest.mark.parametrize("command", GUEST_COMMANDS)
@pytest.mark.parametrize("option, suggested", [("--jsn", "--json"), ("--max-insn", "--max-insns"),
                                               ("--linkr", "--linker")])
def test_unknown_option_gets_clicks_suggestion(command, option, suggested):
    status, lines = usage_error(command, option, "prog")
    assert status == 2
    assert lines[-1] == f"Error: {clicks_own_message(command, option)}"
    assert "Did you mean" in lines[-1] and f"'{suggested}'" in lines[-1], lines
    if option == "--jsn":                            # inspect has a --json too: the same hint
        _, want = usage_error("inspect", option, "prog")
        assert "Did you mean" in want[-1] and "'--json'" in want[-1]


@pytest.mark.parametrize("command", GUEST_COMMANDS)
def test_option_value_missing_is_a_usage_error(command):
    status, lines = usage_error(command, "--env")
    assert status == 2 and lines[-1] == "Error: Option '--env' requires an argument."


def native_printf() -> bytes:
    return subprocess.run([PRINTF, *GUEST_ARGS], capture_output=True, env=ENV, timeout=30).stdout


@pytest.mark.parametrize("before", [[], ["--"], ["--env=A=1", "--timeout=120", "--argv0", "-x"],
                                    ["--env", "A=1", "--seed", "7", "--"]],
                         ids=["plain", "dashdash", "opt=value", "options-then-dashdash"])
def test_everything_after_file_reaches_the_guest_untouched(before):
    """printf prints each argument it is given in brackets: the guest's output equals the
    native run's, whatever elfkit options came before FILE (with --opt=value forms, an option
    whose value looks like an option, and `--` before FILE)."""
    p = run_elfkit("load-and-run", *before, PRINTF, *GUEST_ARGS, env=ENV, timeout=120)
    assert (p.returncode, p.stderr) == (0, b"")
    assert p.stdout == native_printf()
    assert b"[--bogus]\n[--timeout]\n[0]\n[--env]\n[X=1]\n[-o]\n[out]\n[]\n" in p.stdout


def test_trace_plt_leaves_the_guests_arguments_alone():
    """trace-plt's own -o/--output before FILE; the guest's -o after it is the guest's."""
    p = run_elfkit("trace-plt", "-o", "/dev/null", PRINTF, *GUEST_ARGS, env=ENV, timeout=120)
    assert (p.returncode, p.stderr) == (0, b"")
    assert p.stdout == native_printf()


def test_a_program_named_like_an_option_after_dashdash():
    """`--` ends elfkit's options: what follows is FILE even if it starts with a dash (here
    no such file: the shell's 127, not a usage error)."""
    p = run_elfkit("load-and-run", "--", "--bogus", env=ENV, timeout=60)
    assert p.returncode == 127
    assert b"No such option" not in p.stderr and b"--bogus" in p.stderr


@pytest.mark.parametrize("command", GUEST_COMMANDS)
def test_help_still_works(command):
    p = run_elfkit(command, "--help", env=ENV, timeout=60)
    assert p.returncode == 0 and p.stderr == b""
    text = p.stdout.decode()
    assert text.startswith(f"Usage: elfkit {command} [OPTIONS] ")
    assert "--max-insns" in text and "--env" in text


def test_missing_file_is_still_a_usage_error():
    status, lines = usage_error("load-and-run")
    assert status == 2 and lines[-1] == "Error: Missing argument 'FILE'."
