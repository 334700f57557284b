"""`elfkit load-and-run FILE [ARGS]...`: start FILE as Linux's execve would, inside Unicorn, with
every process it starts, to the end.

Exit status: the first guest process's own. When it is killed by signal N,
elfkit ends itself by the same signal (core dumps of elfkit off), so the shell
that started elfkit sees what it would see natively; a one-line message on
stderr says why. 124 when --timeout or --max-insns stopped it; 125 when the
machine ran out of memory (--memory-limit) with no process the OOM killer could
kill (where Linux would panic); 126 when FILE cannot be executed (not x86-64
ELF, damaged); 127 when FILE does not exist; 2 for a usage error.
"""
from __future__ import annotations

import os
import sys

import click

from elfkit.errors import ElfkitError

EXIT_LIMIT, EXIT_OOM, EXIT_NOEXEC, EXIT_NOENT = 124, 125, 126, 127


class MemorySize(click.ParamType):
    """A size in bytes, or with a K, M, G or T suffix (powers of 1024): 256M, 2G, 1024K."""
    name = "SIZE"
    UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        unit = text[-1:] if text[-1:] in self.UNITS else ""
        number = text[:len(text) - len(unit)]
        if not number.isdigit() or int(number) * self.UNITS[unit] < 1 << 20:
            self.fail(f"{value!r} is not a size of at least 1M (bytes, or 256M, 2G, 1024K)",
                      param, ctx)
        return int(number) * self.UNITS[unit]


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
    click.option("--allow-net", is_flag=True,
                 help="Give the guest the host's network: socket() for AF_INET, AF_INET6, "
                      "AF_NETLINK... makes a host socket. Default: those fail with EACCES "
                      "(AF_UNIX sockets always work, inside the guest)."),
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
    click.option("--max-insns", type=click.IntRange(min=1), metavar="N",
                 help="Stop the guest after exactly N instructions, every process's, on one CPU "
                      "(exit status 124; what counts: README.md)."),
    click.option("--backtrace", is_flag=True,
                 help="Print the killed thread's backtrace for every fatal signal (abort's "
                      "SIGABRT...), not only for faults, which always have one."),
    click.option("--debug-dir", "debug_dirs", multiple=True, type=click.Path(file_okay=False),
                 help="Look for separate debug files (build-id paths, .gnu_debuglink) under DIR "
                      "too, before /usr/lib/debug (repeatable): the backtraces' names and lines."),
    click.option("--max-procs", type=click.IntRange(min=1), metavar="N",
                 help="Stop every guest (exit status 124) when more than N guest processes and "
                      "threads would be alive at once (a fork or clone past it)."),
    click.option("--max-fds", type=click.IntRange(min=3), metavar="N",
                 help="Stop every guest (exit status 124) when a guest process would hold more "
                      "than N open descriptors."),
    click.option("--max-output", type=MemorySize(), metavar="BYTES",
                 help="Stop every guest (exit status 124) when the guests have written BYTES "
                      "(K, M, G suffixes) to elfkit's stdout and stderr together; the write that "
                      "reaches it is cut there."),
    click.option("--cpus", type=click.IntRange(min=1, max=64), default=None,
                 help="Emulated CPUs: guest processes run in parallel on up to N host threads. "
                      "Default: the host CPUs elfkit may use (nproc)."),
    click.option("--memory-limit", type=MemorySize(), default=None,
                 help="The guest machine's physical memory (256M, 2G, 1024K or bytes): frames are "
                      "given on first touch, and past it the OOM killer ends a process. "
                      "Default: the host's MemTotal (used only as guests touch it)."),
]


# How a command that runs a guest reads its command line: elfkit's options come before FILE
# and everything after FILE is the guest's, untouched (as for env, nohup or qemu-user). Click
# stops looking for options at the first argument that is not one (or after `--`), so an
# unknown option before FILE is a usage error ("No such option", with click's suggestion), the
# same as for every other command, and `-x` or `--help` after FILE go to the guest.
GUEST_COMMAND_SETTINGS = {"allow_interspersed_args": False}


def guest_options(f, file_required: bool = True):
    """The options every command that runs a guest shares (load-and-run, trace-plt); the
    command itself takes context_settings=GUEST_COMMAND_SETTINGS."""
    options = GUEST_OPTIONS + [
        click.argument("file", type=click.Path(dir_okay=True), required=file_required),
        click.argument("args", nargs=-1, type=click.UNPROCESSED),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def run_limits(timeout, max_insns, guest: dict):
    """The RunLimits of the command line (the --max-* options taken out of `guest`)."""
    from elfkit.kernel.task import RunLimits
    return RunLimits(timeout_s=timeout, max_insns=max_insns,
                     max_procs=guest.pop("max_procs", None), max_fds=guest.pop("max_fds", None),
                     max_output=guest.pop("max_output", None))


def spawn_guest(file, args, sets, unset, clear_env, argv0, seed, root, writable, linker, resolver,
                cpus=None, strace=None, tracer=None, allow_net=False, memory_limit=None, limits=None,
                backtrace=False, debug_dirs=()):
    """The first guest Task for FILE, or a one-line error and the shell's exit status (126/127)."""
    from elfkit.kernel.exec import spawn
    from elfkit.kernel.sched import LimitUnavailable
    from elfkit.kernel.smp import host_cpus
    from elfkit.linker.attach import exec_linker
    from elfkit.linker.dso import LinkError
    from elfkit.loader.binfmt import ExecError
    argv = [os.fsencode(argv0 if argv0 is not None else file)] + [os.fsencode(a) for a in args]
    envp = edit_environment(exec_environment(), clear_env, unset, sets)
    try:
        task = spawn(file, argv, envp, root=root, seed=seed, writable=list(writable), strace=strace,
                     warn=lambda m: click.echo(f"elfkit: warning: {m}", err=True),
                     linker=exec_linker(linker, resolver), tracer=tracer, host_signals=True,
                     cpus=cpus or host_cpus(), allow_net=allow_net, memory_limit=memory_limit,
                     limits=limits)
        task.kernel.backtraces = backtrace
        task.kernel.debug_dirs = tuple(debug_dirs)
        return task
    except ExecError as e:
        if e.past_no_return:               # the kernel kills the exec'ing process: SIGSEGV
            click.echo(f"elfkit: {file}: killed by SIGSEGV: exec failed past its point of no "
                       f"return: {e.one_line()}", err=True)
            die_by_signal(11)
        click.echo(f"elfkit: error: {e.one_line()}", err=True)
        raise SystemExit(EXIT_NOENT if e.errno_name == "ENOENT" else EXIT_NOEXEC) from None
    except LimitUnavailable as e:
        click.echo(f"elfkit: error: {e.one_line()}", err=True)
        raise SystemExit(2) from None
    except ElfkitError as e:
        click.echo(f"elfkit: error: {e.one_line()}", err=True)
        raise SystemExit(EXIT_NOEXEC) from None
    except LinkError as e:
        click.echo(f"elfkit: error: {file}: {e}", err=True)
        raise SystemExit(EXIT_NOENT) from None
    except MemoryError as e:
        limit = f"--memory-limit {memory_limit >> 20}M" if memory_limit else "the host's memory"
        if str(e).startswith("cannot reserve"):     # the host refused the pool itself
            click.echo(f"elfkit: {file}: {e} ({limit})", err=True)
        else:
            click.echo(f"elfkit: {file}: out of memory starting the program ({limit})", err=True)
        raise SystemExit(EXIT_OOM) from None


def _link_objects(file, args, guest):
    """`load-and-run a.o [b.o lib.a ...] [-- ARGS]`: FILE and the relocatable objects and
    archives right after it (up to `--` or the first argument that is neither) are linked
    by elfkit link into a temporary static executable, which then runs with the rest as its
    arguments; argv[0] is FILE as given. An undefined symbol is ld's one line, exit 127."""
    import tempfile
    from elfkit.ld.driver import is_link_input, link_for_run
    from elfkit.ld.input import LinkError
    inputs = [file]
    while args and args[0] != "--" and is_link_input(args[0]):
        inputs.append(args.pop(0))
    if args and args[0] == "--":
        args.pop(0)
    tmp = tempfile.TemporaryDirectory(prefix="elfkit-link-")
    out = os.path.join(tmp.name, os.path.basename(file).rsplit(".", 1)[0] or "a.out")
    try:
        link_for_run(inputs, out)
    except LinkError as e:
        tmp.cleanup()
        click.echo(e.one_line(), err=True)
        raise SystemExit(EXIT_NOENT) from None
    except ElfkitError as e:
        tmp.cleanup()
        click.echo(f"elfkit: error: {e.one_line()}", err=True)
        raise SystemExit(EXIT_NOEXEC) from None
    if guest.get("argv0") is None:
        guest["argv0"] = file
    return out, args, tmp


def write_vdso(file, proc, out):
    """--dump-vdso: the [vdso] area as the guest sees it (what the kernel's own is, dumped from
    /proc/PID/mem, compares with). OUT must not be the program itself."""
    try:
        if os.path.exists(out) and os.path.samefile(out, file):
            click.echo(f"elfkit: error: {out}: --dump-vdso would overwrite the program", err=True)
            raise SystemExit(2)
    except OSError:
        pass
    area = next(v for v in proc.mm.vmas if v.name == "[vdso]")
    data = proc.mm.read(area.start, area.end - area.start)
    try:
        with open(out, "wb") as f:
            f.write(data)
    except OSError as e:
        click.echo(f"elfkit: error: {out}: {e.strerror}", err=True)
        raise SystemExit(2) from None


GDB_OPTION = click.option(
    "--gdb", "gdb_at", metavar="[HOST:]PORT",
    help="Stop FILE at its first instruction and wait for gdb (`target remote :PORT`) on "
         "127.0.0.1:PORT (HOST: another address; PORT 0: a free port, printed). Runs on one CPU.")


def check_gdb_options(ctx, gdb_at, max_insns, guest):
    """--gdb: one CPU (all-stop: while gdb holds a stop nothing runs), and no --max-insns
    (single steps count)."""
    if gdb_at is None:
        return None
    from elfkit.gdb.rsp import parse_hostport
    if max_insns:
        raise click.UsageError("--gdb and --max-insns cannot be used together", ctx)
    try:
        where = parse_hostport(gdb_at)
    except ValueError as e:
        raise click.BadParameter(str(e), ctx, param_hint="--gdb") from None
    guest["cpus"] = 1
    return where


def wait_for_gdb(where, file, proc):
    """Listen on `where`, print where, accept gdb's connection: the stub, installed in the
    kernel (the program is stopped at its first instruction until gdb resumes it)."""
    import signal
    import socket
    from elfkit.gdb.rsp import Connection, listen
    from elfkit.gdb.stub import GdbStub
    host, port = where
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"elfkit: warning: --gdb listens on {host}: whoever reaches it can run code "
                   "as you", err=True)
    try:
        srv = listen(host, port)
    except OSError as e:
        click.echo(f"elfkit: error: --gdb {host}:{port}: {e.strerror}", err=True)
        raise SystemExit(2) from None
    bound = srv.getsockname()[1]
    click.echo(f"elfkit: {file}: process {proc.pid} stopped at {proc.cpu.pc():#x}; waiting for "
               f"gdb on {host}:{bound} (target remote {host}:{bound})", err=True)
    srv.settimeout(0.2)
    kernel = proc.kernel
    try:
        while True:
            try:
                sock, _ = srv.accept()
                break
            except socket.timeout:
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    if sig in kernel.host_signals:
                        click.echo(f"elfkit: {file}: no gdb came", err=True)
                        die_by_signal(sig)
    finally:
        srv.close()
    sock.settimeout(None)
    stub = GdbStub(Connection(sock), kernel, proc)
    kernel.gdb = stub
    return stub


def exit_like_the_guest(file, status):
    """elfkit's exit status: the guest's, with one line on stderr when it did not just exit."""
    if status.limit == "internal":
        click.echo(f"elfkit: internal error: {status.reason} (please report this)", err=True)
        raise SystemExit(3)
    if status.limit == "link":
        click.echo(f"elfkit: error: {file}: {status.reason}", err=True)
        raise SystemExit(EXIT_NOENT)
    if status.limit == "oom":
        click.echo(f"elfkit: {file}: {status.reason}", err=True)
        raise SystemExit(EXIT_OOM)
    if status.limit in ("timeout", "max-insns", "max-procs", "max-fds", "max-output"):
        click.echo(f"elfkit: {file}: {status.reason}", err=True)
        raise SystemExit(EXIT_LIMIT)
    if status.signal is not None:
        click.echo(f"elfkit: {file}: {status.reason}", err=True)
        for line in status.backtrace:
            click.echo(f"  {line}", err=True)
        die_by_signal(status.signal)
    raise SystemExit(status.shell_status)


def die_by_signal(sig: int):
    """End elfkit by the signal that killed the guest, as qemu-user does: the caller's shell
    prints "Segmentation fault" and $? is 128+N, subprocess sees returncode -N. Core dumps of
    elfkit itself are switched off first (it was the guest that crashed)."""
    import resource
    import signal
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError):
        pass
    if sig not in (signal.SIGKILL, signal.SIGSTOP):
        try:
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        except (OSError, ValueError):
            pass
    try:
        os.kill(os.getpid(), sig)
    except OSError:
        pass
    raise SystemExit(128 + sig)           # a signal that does not end a process by default


@click.command(context_settings=GUEST_COMMAND_SETTINGS)
@click.option("--strace", is_flag=True, help="One strace-format line per system call on stderr.")
@click.option("--strace-output", type=click.Path(dir_okay=False), help="Write the --strace lines here.")
@click.option("--show-stack", is_flag=True, help="Print the initial stack, labelled, before running.")
@click.option("--maps", is_flag=True, help="Print the memory areas at exit, as /proc/PID/maps.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True,
              help="--maps, --show-stack: also draw them as a scaled bar, in colour (auto: when "
                   "stderr, where they go, is a terminal).")
@click.option("--dump-vdso", type=click.Path(dir_okay=False), metavar="OUT",
              help="Write the [vdso] area the program starts with, read from guest memory, to OUT.")
@click.option("--trace-procs", is_flag=True,
              help="One line per process event (fork, exec, state, exit) and the process tree.")
@click.option("--trace-procs-output", type=click.Path(dir_okay=False),
              help="Write the --trace-procs report here instead of stderr.")
@click.option("--trace-procs-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one document (keys: docs/PROCS.md).")
@click.option("--report", "report_out", type=click.Path(dir_okay=False), metavar="OUT",
              help="Also write `elfkit report`'s HTML page of the run to OUT.")
@click.option("--syscalls", "syscall_table", is_flag=True,
              help="Print which system calls elfkit answers and how (docs/SYSCALLS.md), and exit.")
@click.option("--json", "as_json", is_flag=True, help="With --syscalls: the table as JSON.")
@GDB_OPTION
@click.pass_context
@lambda f: guest_options(f, file_required=False)
def load_and_run(ctx, file, args, strace, strace_output, show_stack, maps, color, dump_vdso, trace_procs,
                 trace_procs_output, trace_procs_format, timeout, max_insns, syscall_table, as_json,
                 gdb_at, report_out, **guest):
    """Run FILE with ARGS in the emulator; its stdin, stdout and stderr are yours."""
    if as_json and not syscall_table:
        raise click.UsageError("--json goes with --syscalls", ctx)
    if syscall_table:
        from elfkit.kernel.syscalls import compat
        click.echo(compat.as_json() if as_json else compat.text(), nl=False)
        return
    if file is None:
        raise click.UsageError("Missing argument 'FILE'.", ctx)
    gdb_where = check_gdb_options(ctx, gdb_at, max_insns, guest)
    tracer = trace_stream = procs = procs_stream = None
    if strace or strace_output:
        from elfkit.kernel.strace import StraceWriter
        trace_stream = open(strace_output, "w") if strace_output else sys.stderr
        tracer = StraceWriter(trace_stream)
    if trace_procs or trace_procs_output or trace_procs_format == "json":
        from elfkit.kernel.proctrace import ProcTracer
        procs_stream = open(trace_procs_output, "w") if trace_procs_output else sys.stderr
        procs = ProcTracer(procs_stream, as_json=trace_procs_format == "json")
    limits = run_limits(timeout, max_insns, guest)
    linked = None
    from elfkit.ld.driver import is_link_input
    if is_link_input(file):
        file, args, linked = _link_objects(file, list(args), guest)
    recorder, hooks = None, {"strace": tracer, "tracer": procs}
    if report_out:                          # elfkit report's listeners beside the others
        from elfkit.report.fanout import joined
        from elfkit.report.record import Recorder
        recorder = Recorder()
        hooks = {"strace": joined(tracer, recorder.lane), "tracer": joined(procs, recorder.procs)}
    try:
        proc = spawn_guest(file, args, limits=limits, **hooks, **guest)
    finally:
        if linked is not None:
            linked.cleanup()                # the kernel keeps what it mapped
    if recorder is not None:
        recorder.attach(proc, file, [guest.get("argv0") or file, *args])
    if dump_vdso:
        write_vdso(file, proc, dump_vdso)
    if show_stack:
        from elfkit.render.stack import format_stack
        click.echo(format_stack(proc.image.stack), err=True, nl=False)
        from elfkit.render import bars, use_color
        if use_color(color, sys.stderr):
            bars.draw("The initial stack, high addresses on the left, to scale:",
                      bars.stack_pieces(proc.image.stack), sys.stderr, descending=True)
    stub = wait_for_gdb(gdb_where, file, proc) if gdb_where is not None else None
    status = proc.run(limits)
    if stub is not None:
        stub.close()
    if tracer is not None:
        tracer.finish(proc, status)
    if procs is not None:
        procs.finish()
        if procs_stream is not sys.stderr:
            procs_stream.close()
    if maps:
        click.echo(proc.mm.maps_text(), err=True, nl=False)
        from elfkit.render import bars, use_color
        if use_color(color, sys.stderr):
            bars.draw("The memory areas at exit, gaps compressed:", bars.area_pieces(proc.mm),
                      sys.stderr)
    if trace_stream is not None and trace_stream is not sys.stderr:
        trace_stream.close()
    if recorder is not None:
        from elfkit.cli.report import write_report
        write_report(recorder, status, report_out)
    exit_like_the_guest(file, status)
