"""The files family beyond the fixtures' line-by-line comparison (tests/test_syscalls.py):
flock(1) between two guest processes, and the write policy -- without --allow-write every call
that changes a file's attributes fails with EROFS and the host file stays as it was; with it,
the change really reaches the host file, exactly as the native run's does."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, run_elfkit
from test_syscalls import DROP_CAPS, ENV, run_emulated, run_native

BUILD = ROOT / "fixtures/build"


def _fixture(name: str) -> Path:
    exe = BUILD / name
    if not exe.exists():
        pytest.skip(f"{name} not built (make -C fixtures)")
    return exe


FLOCK_SCRIPT = ('cd "$1" || exit 99\n'
                "flock L -c 'touch held; sleep 1' &\n"
                "while [ ! -e held ]; do sleep 0.05; done\n"
                "flock -n L true; echo busy=$?\n"
                "flock -s -n L true; echo shared-busy=$?\n"
                "wait\n"
                "flock -n L true; echo free=$?\n"
                "flock -s L -c 'flock -s -n L true; echo shared-with-shared=$?'\n")


@pytest.mark.skipif(not shutil.which("flock"), reason="flock(1) not installed")
def test_flock_command_between_two_guest_processes(tmp_path):
    native_dir, emu_dir = tmp_path / "n", tmp_path / "e"
    native_dir.mkdir()
    emu_dir.mkdir()
    argv = ["/bin/sh", "-c", FLOCK_SCRIPT, "sh"]
    native = subprocess.run([*DROP_CAPS, *argv, str(native_dir)], capture_output=True, env=ENV,
                            timeout=60)
    emu = run_elfkit("load-and-run", "--allow-write", emu_dir, *argv, emu_dir, env=ENV, timeout=240)
    assert native.stdout == b"busy=1\nshared-busy=1\nfree=0\nshared-with-shared=0\n", native
    assert emu.stdout == native.stdout, emu.stderr.decode(errors="replace")
    assert emu.returncode == native.returncode


def _prepare(d: Path):
    """What the fixtures would have created, made beforehand by the test (elfkit may not)."""
    (d / "f").write_bytes(b"")
    os.chmod(d / "f", 0o600)
    (d / "d").mkdir()
    os.symlink("f", d / "l")


def test_attrs_refused_without_allow_write(tmp_path):
    _prepare(tmp_path)
    before = os.stat(tmp_path / "f")
    emu = run_elfkit("load-and-run", _fixture("sys-attrs"), tmp_path, env={**os.environ, **ENV},
                     timeout=180)
    out = emu.stdout.decode()
    for line in ("chmod 640 = -1 EROFS", "chmod through symlink 700 = -1 EROFS",
                 "chown -1 -1 = -1 EROFS", "chown to me = -1 EROFS", "lchown symlink = -1 EROFS",
                 "utimensat set = -1 EROFS", "utimensat NOFOLLOW = -1 EROFS",
                 "utimes = -1 EROFS", "utime = -1 EROFS", "utimensat NULL times = -1 EROFS",
                 # checks that come before the write policy keep their errnos
                 "chmod ENOENT = -1 ENOENT", "utimensat flags = -1 EINVAL",
                 "utimensat both OMIT bad path = 0"):
        assert line + "\n" in out, out
    assert "(read-only; allow with --allow-write DIR)" in emu.stderr.decode()
    after = os.stat(tmp_path / "f")
    assert (after.st_mode, after.st_uid, after.st_gid, after.st_mtime_ns, after.st_atime_ns) == \
        (before.st_mode, before.st_uid, before.st_gid, before.st_mtime_ns, before.st_atime_ns)


def test_xattrs_refused_without_allow_write(tmp_path):
    _prepare(tmp_path)
    emu = run_elfkit("load-and-run", _fixture("sys-xattr"), tmp_path, env={**os.environ, **ENV},
                     timeout=180)
    out = emu.stdout.decode()
    for line in ("setxattr user.a = -1 EROFS", "setxattr dir = -1 EROFS",
                 "removexattr missing = -1 EROFS", "getxattr missing = -1 ENODATA",
                 "setxattr flags 4 = -1 EINVAL", "setxattr ENOENT = -1 ENOENT"):
        assert line + "\n" in out, out
    assert os.listxattr(tmp_path / "f") == [] and os.listxattr(tmp_path / "d") == []


def _attrs_of(path: Path, follow=True):
    st = os.stat(path, follow_symlinks=follow)
    names = sorted(os.listxattr(path, follow_symlinks=follow)) if follow else []
    return (st.st_mode, st.st_uid, st.st_gid, st.st_size,
            [(n, os.getxattr(path, n)) for n in names])


@pytest.mark.parametrize("name", ["sys-attrs", "sys-xattr"])
def test_changes_reach_the_host_file(name, tmp_path):
    exe = _fixture(name)
    native_dir, emu_dir = tmp_path / "native", tmp_path / "elfkit"
    native_dir.mkdir()
    emu_dir.mkdir()
    assert run_native(exe, native_dir).returncode == 0
    emu = run_emulated(exe, emu_dir)
    assert emu.returncode == 0, emu.stderr
    for rel in ("f", "d"):
        assert _attrs_of(emu_dir / rel) == _attrs_of(native_dir / rel), rel
    if name == "sys-attrs":             # the times the fixture set on the symlink itself
        n, e = os.lstat(native_dir / "l"), os.lstat(emu_dir / "l")
        assert (e.st_atime_ns, e.st_mtime_ns) == (n.st_atime_ns, n.st_mtime_ns) == \
            (900000000 * 10**9, 950000000 * 10**9)
