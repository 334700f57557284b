"""Check files: open each once (one read-only mmap), run the policy's checks, collect reports.

`check_target` is the whole life of one file and never raises: damage is a
`malformed` report, an elfkit bug an `error` report. `run` feeds targets to
it, in this process or in `jobs` worker processes, and yields the reports in
target order.
"""
from __future__ import annotations

import mmap
import os
import stat
from functools import partial

from elfkit.check import results as R
from elfkit.check.facts import Facts
from elfkit.check.registry import BY_ID
from elfkit.check.results import FAIL, FileReport, result
from elfkit.check.tree import Target
from elfkit.elf.constants import machine_name
from elfkit.elf.file import ElfFile
from elfkit.errors import ElfkitError

ELF_MAGIC = b"\x7fELF"


def _open(path: str):
    """(bytes or mmap, None) or (None, why it could not be read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        return None, e.strerror or str(e)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, "not a regular file"
        if st.st_size == 0:
            return b"", None
        try:
            return mmap.mmap(fd, 0, access=mmap.ACCESS_READ), None
        except (OSError, ValueError):
            with os.fdopen(os.dup(fd), "rb") as f:
                return f.read(), None
    except OSError as e:
        return None, e.strerror or str(e)
    finally:
        os.close(fd)


def check_target(target: Target, policy) -> FileReport:
    try:
        return _check_target(target, policy)
    except Exception as e:  # noqa: BLE001 - a bug must not end a run over a whole tree
        return FileReport(target.path, target.relpath, R.STATUS_ERROR,
                          error=f"internal error: {type(e).__name__}: {e}")


def _check_target(target: Target, policy) -> FileReport:
    report = FileReport(target.path, target.relpath, R.STATUS_PASS)
    data, why = _open(target.path)
    if data is None:
        report.status, report.error = R.STATUS_UNREADABLE, why
        return report
    if data[:4] != ELF_MAGIC:
        report.status = R.STATUS_NOT_ELF
        _close(data)
        return report
    try:
        elf = ElfFile(target.path, data)
    except ElfkitError as e:
        report.status, report.error = R.STATUS_MALFORMED, e.message + (
            f" at offset {e.offset:#x}" if e.offset is not None else "")
        r = result("well-formed", FAIL, "malformed", report.error, warnings=[report.error])
        r.required = True
        report.results.append(r)
        _close(data)
        return report
    try:
        _run_checks(elf, policy, report)
    finally:
        elf.close()
    return report


def _run_checks(elf, policy, report):
    facts = Facts(elf)
    report.machine = machine_name(elf.header.machine)
    report.cfi = facts.machine.cfi
    try:
        report.kind = facts.kind
    except ElfkitError as e:
        elf.warn(e.message)
        report.kind = "other"
    for check_id in policy.run_ids:
        try:
            r = BY_ID[check_id].run(facts, policy)
        except ElfkitError as e:
            elf.warn(f"{check_id}: {e.message}")
            r = result(check_id, FAIL, "unreadable", f"could not read what this check needs: "
                                                     f"{e.message}")
        except Exception as e:  # noqa: BLE001 - a bug must not end a run over a whole tree
            report.status = R.STATUS_ERROR
            report.error = f"internal error in check {check_id}: {type(e).__name__}: {e}"
            r = result(check_id, FAIL, "error", report.error)
        r.required = check_id in policy.require
        report.results.append(r)
    report.warnings = list(elf.warnings)
    if report.status != R.STATUS_ERROR:
        report.status = R.STATUS_FAIL if report.failed else R.STATUS_PASS


def _close(data):
    if isinstance(data, mmap.mmap):
        data.close()


def run(targets: list[Target], policy, jobs: int = 1, on_report=None):
    """Yield one FileReport per target, in order; `jobs` > 1 uses worker processes."""
    work = partial(check_target, policy=policy)
    if jobs <= 1 or len(targets) < 2:
        for t in targets:
            rep = work(t)
            if on_report:
                on_report(rep)
            yield rep
        return
    import multiprocessing
    # fork: workers inherit the imported modules, so they start in milliseconds.
    ctx = multiprocessing.get_context("fork")
    chunk = max(1, min(32, len(targets) // (jobs * 16)))
    pool = ctx.Pool(jobs)
    try:
        for rep in pool.imap(work, targets, chunksize=chunk):
            if on_report:
                on_report(rep)
            yield rep
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
