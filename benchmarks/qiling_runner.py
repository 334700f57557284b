"""Run one x86-64 Linux program under Qiling, as a benchmark peer of `elfkit load-and-run`.

    python qiling_runner.py ROOTFS PROGRAM [ARGS...]

Runs in benchmarks/.venv-qiling (see setup_peers.sh), never in elfkit's venv: Qiling pins its
own unicorn.  Qiling's own logging is off (QL_VERBOSE.DISABLED) and multithread is off; the
guest's stdout/stderr go to ours.  Exit status: the guest's exit code when Qiling reports
one, 0 when the emulation ended without one, 99 when Qiling raised (one line on stderr).

Qiling wants the program inside ROOTFS (its readlink("/proc/self/exe"), which static glibc
calls at start-up, raises for a program outside it), so a PROGRAM elsewhere is first copied
to ROOTFS/bin/ (only when that copy is missing or out of date: the warm-up run pays for it)
and run from there.
"""
from __future__ import annotations

import os
import shutil
import sys


def staged(rootfs: str, program: str) -> str:
    """PROGRAM's path inside ROOTFS, copying it to ROOTFS/bin/ if it is not there already."""
    rootfs, program = os.path.realpath(rootfs), os.path.realpath(program)
    if os.path.commonpath([rootfs, program]) == rootfs:
        return program
    dest = os.path.join(rootfs, "bin", os.path.basename(program))
    src_st = os.stat(program)
    try:
        st = os.stat(dest)
        fresh = st.st_size == src_st.st_size and int(st.st_mtime) == int(src_st.st_mtime)
    except OSError:
        fresh = False
    if not fresh:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = f"{dest}.{os.getpid()}.tmp"
        shutil.copy2(program, tmp)
        os.replace(tmp, dest)
    return dest


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: qiling_runner.py ROOTFS PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    rootfs, program, args = argv[1], argv[2], argv[3:]
    try:
        from qiling import Qiling
        from qiling.const import QL_VERBOSE
    except ImportError as e:
        print(f"qiling_runner: Qiling is not importable here: {e}", file=sys.stderr)
        return 98
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME")}
    try:
        ql = Qiling([staged(rootfs, program)] + args, os.path.realpath(rootfs), env=env,
                    verbose=QL_VERBOSE.DISABLED, multithread=False, console=False)
        ql.run()
    except Exception as e:  # noqa: BLE001 - a peer failure is reported, not a traceback
        print(f"qiling_runner: {type(e).__name__}: {e}", file=sys.stderr)
        return 99
    code = getattr(ql.os, "exit_code", None)
    return int(code) & 0xFF if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
