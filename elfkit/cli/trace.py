"""`elfkit trace-plt FILE [ARGS]...`: run FILE like load-and-run and report how its PLT/GOT slots
were bound: each lazy binding as it happens, start-up bindings with the reason, call counts
(--calls), and slots never called. The guest's own stdout/stderr are left untouched; the
report goes to stderr or --output FILE."""
from __future__ import annotations

import sys

import click

from elfkit.cli.run import (GDB_OPTION, GUEST_COMMAND_SETTINGS, check_gdb_options,
                            exit_like_the_guest, guest_options, run_limits, spawn_guest,
                            wait_for_gdb)


@click.command("trace-plt", context_settings=GUEST_COMMAND_SETTINGS)
@click.option("--calls", is_flag=True, help="Also count every call through each PLT slot.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (keys: docs/TRACE.md).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report here.")
@click.option("--report", "report_out", type=click.Path(dir_okay=False), metavar="OUT",
              help="Also write `elfkit report`'s HTML page of the run to OUT (its bindings are "
                   "this trace's).")
@click.option("--demangle/--no-demangle", "-C", default=True, show_default=True,
              help="Show C++ and Rust symbol names demangled in the text report, as ltrace -C "
                   "(JSON keeps the symbols as they are).")
@GDB_OPTION
@click.pass_context
@guest_options
def trace_plt(ctx, file, args, calls, as_json, output, demangle, timeout, max_insns, gdb_at,
              report_out, **guest):
    """Run FILE and show each lazy PLT binding (symbol, version, GOT slot before/after, target)."""
    from elfkit.linker.trace import PltTracer
    from elfkit.render.trace import write_json, write_text
    gdb_where = check_gdb_options(ctx, gdb_at, max_insns, guest)
    limits = run_limits(timeout, max_insns, guest)
    recorder = None
    if report_out:         # elfkit report's recorder, whose PLT tracer is this trace's (one only:
        from elfkit.report.record import Recorder      # the resolver's hook has room for one)
        recorder = Recorder()
        proc = spawn_guest(file, args, limits=limits, **recorder.spawn_options(), **guest)
        recorder.attach(proc, file, [guest.get("argv0") or file, *args], count_calls=calls)
    else:
        proc = spawn_guest(file, args, limits=limits, **guest)
        tracer = PltTracer(proc, count_calls=calls)
        tracer.attach()
    stub = wait_for_gdb(gdb_where, file, proc) if gdb_where is not None else None
    status = proc.run(limits)
    if stub is not None:
        stub.close()
    if recorder is not None:
        from elfkit.cli.report import write_report
        write_report(recorder, status, report_out)
        result = recorder.result
    else:
        result = tracer.finish()
    out = open(output, "w") if output else sys.stderr
    try:
        if as_json:
            write_json(result, out)
        else:
            write_text(result, out, demangle=demangle)
    finally:
        if output:
            out.close()
        else:
            out.flush()
    exit_like_the_guest(file, status)
