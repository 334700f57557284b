"""`elfkit report -o OUT.html FILE [ARGS]...`: run FILE as load-and-run does and write one
self-contained HTML page of its start-up and life (elfkit/report gathers, elfkit/render/report
draws). The guest's stdin, stdout and stderr are yours; elfkit's exit status is the guest's, as
load-and-run's, once the page is written."""
from __future__ import annotations


import click

from elfkit.cli.run import (GUEST_COMMAND_SETTINGS, exit_like_the_guest, guest_options,
                            run_limits, spawn_guest)


@click.command("report", context_settings=GUEST_COMMAND_SETTINGS)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Write the HTML page here.")
@click.pass_context
@guest_options
def report(ctx, file, args, output, timeout, max_insns, **guest):
    """Run FILE and write one HTML page of its start-up and life (segments, address space,
    initial stack, timeline, lazy bindings, GOT, system calls, processes)."""
    from elfkit.report.record import Recorder
    limits = run_limits(timeout, max_insns, guest)
    recorder = Recorder()
    proc = spawn_guest(file, args, limits=limits, **recorder.spawn_options(), **guest)
    argv = [guest.get("argv0") or file, *args]
    recorder.attach(proc, file, argv)
    status = proc.run(limits)
    write_report(recorder, status, output)
    exit_like_the_guest(file, status)


def write_report(recorder, status, output):
    """The page of a finished run, to `output` (also `load-and-run --report OUT`)."""
    from elfkit.render.report import render_report
    page = render_report(recorder.finish(status))
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as e:
        click.echo(f"elfkit: error: {output}: {e.strerror}", err=True)
        raise SystemExit(2) from None
