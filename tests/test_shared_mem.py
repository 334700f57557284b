"""Memory areas shared as the kernel shares them (issue 11), against native runs.

fixtures/src/mem_shared.c runs one case per invocation (`mem-shared CASE DIR`,
DIR a scratch directory) and prints one line per fact; each case runs natively
and under elfkit (with --allow-write on its scratch directory, and on /dev/shm
for shm_open) and the lines must be the same:

- coherence: a MAP_SHARED mapping against read, pread, write, pwrite, pwritev
  and ftruncate of the same file, a second shared and a private mapping of it,
  write-back at munmap;
- fork, anon, memfd, shm: a file mapping, MAP_SHARED|MAP_ANONYMOUS, a memfd and a
  /dev/shm file shared by parent and child in both directions;
- msync: its errors (EINVAL, ENOMEM, EBUSY over locked pages) and what MS_SYNC and
  MS_ASYNC write;
- sparse: a 2 GiB sparse file mapped whole reads its data in the middle and near
  the end (paged in on demand: nothing is copied at mmap);
- sigbus: SIGBUS (BUS_ADRERR, si_addr) for pages past the end of the file, the
  last partial page reading zeros, after ftruncate too, and the default action;
- mremap: shared areas grown and moved keep their pages (a child still shares
  moved shared anonymous memory; its grown page past the shmem size is SIGBUS);
- dontneed: MADV_DONTNEED on private anonymous, private file, shared file and
  shared anonymous pages.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, fixture_path

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
CASES = ["coherence", "fork", "anon", "memfd", "shm", "msync", "sparse", "sigbus", "mremap",
         "dontneed"]


def _run(argv, tmp):
    return subprocess.run([str(a) for a in argv], capture_output=True, env=ENV, cwd=ROOT,
                          timeout=300)


@pytest.mark.parametrize("case", CASES)
def test_same_as_native(case, tmp_path):
    exe = fixture_path("mem-shared")
    native_dir, emu_dir = tmp_path / "native", tmp_path / "elfkit"
    native_dir.mkdir()
    emu_dir.mkdir()
    nat = _run([exe, case, native_dir], tmp_path)
    assert nat.returncode == 0, nat.stderr
    opts = ["--allow-write", emu_dir]
    if case == "shm":
        if not os.access("/dev/shm", os.W_OK):
            pytest.skip("no writable /dev/shm on this host")
        opts += ["--allow-write", "/dev/shm"]
    emu = _run([sys.executable, "-m", "elfkit", "load-and-run", *opts, exe, case, emu_dir], tmp_path)
    err = emu.stderr.decode(errors="replace")
    assert "Traceback" not in err and "internal error" not in err, err
    assert emu.returncode == 0, err
    assert emu.stdout.decode().splitlines() == nat.stdout.decode().splitlines(), err
    assert len(nat.stdout.splitlines()) >= 5           # (the case ran to its end)


def test_a_write_through_a_shared_mapping_reaches_the_file_at_exit(tmp_path):
    """No msync, no munmap: the process's exit writes the page back (exit_mmap)."""
    target = tmp_path / "f"
    target.write_bytes(b"x" * 100)
    script = (f"exec 3<>{target}; "
              "python3 -c 'import mmap; m = mmap.mmap(3, 100); m[0:5] = b\"HELLO\"; import os; os._exit(0)'")
    # (python3 runs under elfkit: its mmap module maps MAP_SHARED and exits without munmap)
    emu = subprocess.run([sys.executable, "-m", "elfkit", "load-and-run", "--allow-write",
                          str(tmp_path), "/bin/sh", "-c", script], capture_output=True, env=ENV,
                         cwd=ROOT, timeout=300)
    assert emu.returncode == 0, emu.stderr
    assert target.read_bytes()[:6] == b"HELLOx"
