"""`elfkit check PATH...`: check ELF files (directories recursed) against a hardening/ABI policy.

Exit codes: 0 every required check passed; 1 a required check failed or a
file is malformed; 2 usage error or input that cannot be read; 3 an elfkit
bug on some file. Options and keys: docs/CHECK.md.
"""
from __future__ import annotations

import io
import os
import sys

import click

from elfkit.check.policy import PRESETS, SETTINGS, PolicyError, build
from elfkit.check.registry import CHECKS


def _list(values) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def _flags(opts) -> dict:
    """Command-line options -> policy settings (same keys as pyproject's [tool.elfkit.check])."""
    out = {}
    for key in ("checks", "require", "extend-require", "ignore", "needed-allow", "exclude",
                "rpath-allow", "runpath-allow"):
        value = opts[key.replace("-", "_")]
        if value:
            out[key] = _list(value)
    for key in ("relro", "max-glibc", "max-glibcxx", "max-cxxabi", "max-isa"):
        value = opts[key.replace("-", "_")]
        if value is not None:
            out[key] = value
    assert set(out) <= set(SETTINGS)
    return out


def _list_checks(policy):
    width = max(len(c.id) for c in CHECKS)
    click.echo(f"checks (policy {policy.name}; * = required):")
    for c in CHECKS:
        mark = "*" if c.id in policy.require else " "
        click.echo(f" {mark} {c.id:<{width}}  {c.summary}")
    click.echo("presets: " + ", ".join(PRESETS))


def _progress(total: int, enabled: bool | None):
    """(on_report callback, finish) -- a rich progress bar on stderr, or nothing."""
    if enabled is None:
        enabled = sys.stderr.isatty() and total >= 20
    if not enabled:
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeRemainingColumn
    bar = Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=Console(file=sys.stderr), transient=True)
    task = bar.add_task("check", total=total)
    bar.start()
    return (lambda rep: bar.advance(task)), bar.stop


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--policy", "preset_name", type=click.Choice(list(PRESETS)),
              help="Built-in preset to start from (default: the config's `preset`, else "
                   "`default`).")
@click.option("--checks", multiple=True, metavar="IDS",
              help="Run only these checks (comma-separated; required ones always run).")
@click.option("--require", multiple=True, metavar="IDS",
              help="Required checks, replacing the preset's list (comma-separated).")
@click.option("--extend-require", multiple=True, metavar="IDS",
              help="Add required checks.")
@click.option("--ignore", multiple=True, metavar="IDS",
              help="No longer require these checks (still reported).")
@click.option("--relro", type=click.Choice(["none", "partial", "full"]),
              help="RELRO level the relro check requires.")
@click.option("--max-glibc", metavar="X.Y", help="Newest GLIBC_ symbol version allowed.")
@click.option("--max-glibcxx", metavar="X.Y.Z", help="Newest GLIBCXX_ version allowed.")
@click.option("--max-cxxabi", metavar="X.Y.Z", help="Newest CXXABI_ version allowed.")
@click.option("--max-isa", metavar="LEVEL", help="Highest x86-64 ISA level allowed "
              "(baseline, v2, v3, v4).")
@click.option("--needed-allow", "--allow-needed", "needed_allow", multiple=True,
              metavar="NAMES", help="NEEDED allow-list: names or glob patterns.")
@click.option("--rpath-allow", multiple=True, metavar="KINDS",
              help="DT_RPATH entry kinds allowed: origin, absolute, relative.")
@click.option("--runpath-allow", multiple=True, metavar="KINDS",
              help="DT_RUNPATH entry kinds allowed: origin, absolute, relative.")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Skip paths below an argument that match (fnmatch on the relative path).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str),
              help="Read [tool.elfkit.check] from this file instead of the nearest "
                   "pyproject.toml.")
@click.option("--no-config", is_flag=True, help="Ignore pyproject.toml.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "sarif", "junit"]),
              default="table", show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str),
              help="Write the report to this file instead of stdout.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes.")
@click.option("--shard", metavar="K/N",
              help="Check only shard K of N (split by a hash of each path relative to its "
                   "argument: stable across machines).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: on a terminal, for 20+ files).")
@click.option("--color/--no-color", default=None,
              help="Colour the table (default: on a terminal, unless NO_COLOR is set).")
@click.option("-v", "--verbose", is_flag=True, help="Explain each failure under its file.")
@click.option("--list-checks", is_flag=True, help="List the checks and the policy, then exit.")
def check(paths, preset_name, config_path, no_config, fmt, output, jobs, shard, progress,
          color, verbose, list_checks, **opts):
    """Check ELF files against a hardening and ABI policy; exit 1 if a required check fails.

    PATHS are files or directories (recursed; non-ELF files are skipped and
    counted). Exit codes: 0 pass, 1 a required check failed or a file is
    malformed, 2 usage error or unreadable input, 3 elfkit bug.
    """
    from elfkit.check import runner, tree
    from elfkit.check.report import Run
    try:
        policy = build(_flags(opts), preset_name, config_path, use_config=not no_config)
    except PolicyError as e:
        if e.path == "command line":
            raise click.UsageError(e.message) from None
        raise
    if list_checks:
        _list_checks(policy)
        return
    if not paths:
        raise click.UsageError("give at least one file or directory to check")
    shard_kn = None
    if shard is not None:
        try:
            shard_kn = tree.parse_shard(shard)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--shard") from None

    walked = tree.walk(paths, policy.exclude)
    if shard_kn:
        walked = tree.select_shard(walked, *shard_kn)
    run = Run(policy, list(paths), unreadable=list(walked.unreadable), symlinks=walked.symlinks,
              special=walked.special, excluded=walked.excluded,
              outside_shard=walked.outside_shard, shard=shard_kn)
    on_report, finish = _progress(len(walked.targets), progress)
    try:
        for rep in runner.run(walked.targets, policy, jobs, on_report):
            run.add(rep)
    finally:
        finish()
    _write(run, fmt, output, color, verbose)
    for rep in run.files:
        if rep.status == "error":
            click.echo(f"elfkit: internal error: {rep.path}: {rep.error}", err=True)
    click.get_current_context().exit(run.exit_code)


def _write(run, fmt, output, color, verbose):
    if output:
        try:
            out = open(output, "w", encoding="utf-8", errors="backslashreplace")
        except OSError as e:
            raise click.UsageError(f"cannot write {output}: {e.strerror or e}") from None
    else:
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors="backslashreplace")
    try:
        if fmt == "json":
            from elfkit.render.check_json import write_check_json
            write_check_json(run, out)
        elif fmt == "sarif":
            from elfkit.render.check_sarif import write_check_sarif
            write_check_sarif(run, out)
        elif fmt == "junit":
            from elfkit.render.check_junit import write_check_junit
            write_check_junit(run, out)
        else:
            from elfkit.render.check_text import write_check_text
            if color is None:
                color = not output and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
            write_check_text(run, out, color=color, verbose=verbose)
        out.flush()
    finally:
        if output:
            out.close()
        else:
            out.detach()
