"""--root DIR: every guest path resolves inside DIR, compared with the kernel's chroot(2).

A small sysroot is assembled from the host's ld.so, libc and /bin/cat; the
same command runs natively under `chroot` (the tests run as root, as CI
does) and under `elfkit load-and-run --root`. Symbolic links that climb out
with `..` or point at absolute paths must stay inside the root, as they do
under chroot.
"""
import os
import shutil
import subprocess

import pytest

from conftest import run_elfkit

LIBS = ["/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"]


@pytest.fixture(scope="module")
def sysroot(tmp_path_factory):
    root = tmp_path_factory.mktemp("sysroot")
    for lib in LIBS:
        dest = root / lib.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.realpath(lib), dest)
    (root / "bin").mkdir()
    shutil.copy("/bin/cat", root / "bin" / "cat")
    etc = root / "etc"
    etc.mkdir()
    (etc / "greeting").write_text("hello from inside the root\n")
    (etc / "hostname").write_text("not-the-host\n")
    os.symlink("../../../../../../../etc/hostname", etc / "climb")
    os.symlink("/etc/hostname", etc / "absolute")
    return root


def native_chroot(root, *argv):
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    return subprocess.run([chroot, str(root), *argv], capture_output=True, timeout=60,
                          env={"LANG": "C"})


@pytest.mark.parametrize("path", ["/etc/greeting", "/etc/climb", "/etc/absolute", "/etc/missing"])
def test_paths_resolve_inside_the_root_like_chroot(sysroot, path):
    want = native_chroot(sysroot, "/bin/cat", path)
    got = run_elfkit("load-and-run", "--root", sysroot, "/bin/cat", path, env={"LANG": "C"})
    assert got.stdout == want.stdout
    assert got.returncode == want.returncode
    assert b"not-the-host" in got.stdout or path in ("/etc/greeting", "/etc/missing")


def test_interpreter_comes_from_the_root(sysroot):
    r = run_elfkit("load-and-run", "--root", sysroot, "--maps", "/bin/cat", "/etc/greeting",
                   env={"LANG": "C"})
    assert r.returncode == 0
    maps = r.stderr.decode()
    assert f"{sysroot}" not in maps           # names are the guest's, not the host's
    assert "/lib/x86_64-linux-gnu/libc.so.6" in maps or "/lib64/ld-linux-x86-64.so.2" in maps
