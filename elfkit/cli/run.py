"""`elfkit load-and-run FILE [ARGS]...`: start FILE as Linux's execve would, inside Unicorn, to the end.

Exit status: the guest's own; 128+N when the guest is killed by signal N (a
one-line message on stderr says why); 124 when --timeout or --max-insns
stopped it; 126 when FILE cannot be executed (not x86-64 ELF, damaged); 127
when FILE does not exist; 2 for a usage error.
"""
from __future__ import annotations

import os
import sys

import click

from elfkit.errors import ElfkitError

EXIT_LIMIT, EXIT_NOEXEC, EXIT_NOENT = 124, 126, 127


def exec_environment() -> list[bytes]:
    """The environment elfkit itself was started with (before Python changed its copy, e.g. by
    adding LC_CTYPE for locale coercion): the kernel's copy in /proc/self/environ."""
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
        return [e for e in raw.split(b"\0") if e]
    except OSError:
        return [os.fsencode(f"{k}={v}") for k, v in os.environ.items()]


def edit_environment(env: list[bytes], clear: bool, unset: tuple[str, ...], sets: tuple[str, ...]):
    out = [] if clear else list(env)
    for name in unset:
        key = os.fsencode(name) + b"="
        out = [e for e in out if not e.startswith(key)]
    for kv in sets:
        if "=" not in kv:
            raise click.BadParameter(f"{kv!r} is not K=V", param_hint="--env")
        key = os.fsencode(kv.split("=", 1)[0]) + b"="
        out = [e for e in out if not e.startswith(key)] + [os.fsencode(kv)]
    return out


GUEST_OPTIONS = [
    click.option("--env", "sets", multiple=True, metavar="K=V",
                 help="Set a variable in the guest's environment."),
    click.option("--unset-env", "unset", multiple=True, metavar="K", help="Remove a variable."),
    click.option("--clear-env", is_flag=True, help="Start from an empty environment."),
    click.option("--argv0", help="The guest's argv[0] (default: FILE as given)."),
    click.option("--seed", type=int, help="Make AT_RANDOM, getrandom and /dev/urandom deterministic."),
    click.option("--root", type=click.Path(exists=True, file_okay=False), default="/",
                 help="Resolve every guest path inside DIR (a sysroot, like qemu-user's -L)."),
    click.option("--allow-write", "writable", multiple=True, type=click.Path(),
                 help="Let the guest create and change files under DIR (repeatable). Default: read-only."),
    click.option("--linker", type=click.Choice(["system", "elfkit"]), default="system",
                 show_default=True,
                 help="Who does the dynamic linking: the program's PT_INTERP (glibc's ld.so) "
                      "running in the emulator, or elfkit's own linker in Python."),
    click.option("--resolver", type=click.Choice(["system", "elfkit"]), default="system",
                 show_default=True,
                 help="With --linker=system: who resolves lazy PLT calls once ld.so has started "
                      "the program (elfkit takes GOT[2] of every lazily bound object)."),
    click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
                 help="Stop the guest after SECONDS."),
    click.option("--max-insns", type=click.IntRange(min=1), help="Stop the guest after N instructions."),
    click.argument("file", type=click.Path(dir_okay=True)),
    click.argument("args", nargs=-1, type=click.UNPROCESSED),
]


def guest_options(f):
    """The options every command that runs a guest shares (load-and-run, trace-plt)."""
    for option in reversed(GUEST_OPTIONS):
        f = option(f)
    return f


def spawn_guest(file, args, sets, unset, clear_env, argv0, seed, root, writable, linker, resolver,
                strace=None):
    """The Process for FILE, or a one-line error and the shell's exit status (126/127)."""
    from elfkit.kernel.exec import spawn
    from elfkit.linker.dso import LinkError
    from elfkit.loader.binfmt import ExecError
    argv = [os.fsencode(argv0 if argv0 is not None else file)] + [os.fsencode(a) for a in args]
    envp = edit_environment(exec_environment(), clear_env, unset, sets)
    try:
        return spawn(file, argv, envp, root=root, seed=seed, writable=list(writable), strace=strace,
                     warn=lambda m: click.echo(f"elfkit: warning: {m}", err=True), linker=linker,
                     resolver=resolver)
    except ExecError as e:
        click.echo(f"elfkit: error: {e.one_line()}", err=True)
        raise SystemExit(EXIT_NOENT if e.errno_name == "ENOENT" else EXIT_NOEXEC) from None
    except ElfkitError as e:
        click.echo(f"elfkit: error: {e.one_line()}", err=True)
        raise SystemExit(EXIT_NOEXEC) from None
    except LinkError as e:
        click.echo(f"elfkit: error: {file}: {e}", err=True)
        raise SystemExit(EXIT_NOENT) from None


def exit_like_the_guest(file, status):
    """elfkit's exit status: the guest's, with one line on stderr when it did not just exit."""
    if status.limit == "internal":
        click.echo(f"elfkit: internal error: {status.reason} (please report this)", err=True)
        raise SystemExit(3)
    if status.limit == "link":
        click.echo(f"elfkit: error: {file}: {status.reason}", err=True)
        raise SystemExit(EXIT_NOENT)
    if status.limit in ("timeout", "max-insns"):
        click.echo(f"elfkit: {file}: {status.reason}", err=True)
        raise SystemExit(EXIT_LIMIT)
    if status.signal is not None:
        click.echo(f"elfkit: {file}: {status.reason}", err=True)
    raise SystemExit(status.shell_status)


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--strace", is_flag=True, help="One strace-format line per system call on stderr.")
@click.option("--strace-output", type=click.Path(dir_okay=False), help="Write the --strace lines here.")
@click.option("--show-stack", is_flag=True, help="Print the initial stack, labelled, before running.")
@click.option("--maps", is_flag=True, help="Print the memory areas at exit, as /proc/PID/maps.")
@guest_options
def load_and_run(file, args, strace, strace_output, show_stack, maps, timeout, max_insns, **guest):
    """Run FILE with ARGS in the emulator; its stdin, stdout and stderr are yours."""
    from elfkit.kernel.process import RunLimits
    tracer = trace_stream = None
    if strace or strace_output:
        from elfkit.kernel.strace import StraceWriter
        trace_stream = open(strace_output, "w") if strace_output else sys.stderr
        tracer = StraceWriter(trace_stream)
    proc = spawn_guest(file, args, strace=tracer, **guest)
    if show_stack:
        from elfkit.render.stack import format_stack
        click.echo(format_stack(proc.image.stack), err=True, nl=False)
    status = proc.run(RunLimits(timeout_s=timeout, max_insns=max_insns))
    if tracer is not None:
        tracer.finish(proc, status)
    if maps:
        click.echo(proc.mm.maps_text(), err=True, nl=False)
    if trace_stream is not None and trace_stream is not sys.stderr:
        trace_stream.close()
    exit_like_the_guest(file, status)
