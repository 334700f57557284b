"""The files family beyond the fixtures' line-by-line comparison (tests/test_syscalls.py):
flock(1) between two guest processes, and the write policy -- without --allow-write every call
that changes a file's attributes fails with EROFS and the host file stays as it was; with it,
the change really reaches the host file, exactly as the native run's does."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


HOST_PIPE_WAIT = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
    char path[4096];
    snprintf(path, sizeof path, "%s/big", argv[1]);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    static char buf[1 << 18];
    memset(buf, 'x', sizeof buf);
    write(fd, buf, sizeof buf);
    pid_t pid = fork();
    if (pid == 0) {                       /* runs only if the parent's wait leaves it the CPU */
        for (int i = 0; i < 5; i++) { fprintf(stderr, "tick %d\n", i); usleep(100000); }
        snprintf(path, sizeof path, "%s/ticked", argv[1]);
        close(open(path, O_CREAT | O_WRONLY, 0644));
        _exit(0);
    }
    long total = 0;                       /* stdout: a host pipe nobody reads before "ticked" */
    off_t off = 0;
    while (total < (long)sizeof buf) {
        ssize_t n = sendfile(1, fd, &off, sizeof buf - total);
        if (n <= 0) { perror("sendfile"); return 1; }
        total += n;
    }
    fprintf(stderr, "sendfile %ld\n", total);
    /* stdin: a host pipe written only after "ticked" */
    snprintf(path, sizeof path, "%s/out", argv[1]);
    int out = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    fprintf(stderr, "splice %ld\n", (long)splice(0, NULL, out, NULL, 4096, 0));
    waitpid(pid, NULL, 0);
    return 0;
}
"""

PIPELINE = ('d="$1"; shift\n'
            '(while [ ! -e "$d/ticked" ]; do sleep 0.05; done; echo data) | "$@" "$d" | '
            '(while [ ! -e "$d/ticked" ]; do sleep 0.05; done; wc -c)\n')


@pytest.mark.skipif(not shutil.which("gcc"), reason="no C compiler")
def test_host_pipe_splice_and_sendfile_let_the_others_run(tmp_path):
    """A splice from an empty host pipe and a sendfile into a full one wait without holding
    the kernel lock: the other guest process keeps running (and is what fills and drains
    them here, through the files it makes), so the run ends as the native one does rather
    than never."""
    exe = tmp_path / "hostpipe"
    (tmp_path / "hostpipe.c").write_text(HOST_PIPE_WAIT)
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(tmp_path / "hostpipe.c")], check=True)
    results = []
    for name, cmd in (("n", [*DROP_CAPS, str(exe)]),
                      ("e", [sys.executable, "-m", "elfkit", "load-and-run", "--allow-write",
                             str(tmp_path / "e"), str(exe)])):
        d = tmp_path / name
        d.mkdir()
        # a session of its own, killed whole on timeout: the pipeline's members hold the pipes
        pr = subprocess.Popen(["sh", "-c", PIPELINE, "sh", str(d), *cmd], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, **ENV},
                              start_new_session=True)
        try:
            out, err = pr.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(pr.pid, 9)
            pr.communicate()
            pytest.fail(f"{name}: the pipeline never ended (a host wait holding every guest?)")
        err = [ln for ln in err.decode().splitlines() if not ln.startswith("elfkit:")]
        results.append((out.decode().split(), err, (d / "out").read_text()))
    assert results[0] == ([str(1 << 18)], [f"tick {i}" for i in range(5)] +
                          [f"sendfile {1 << 18}", "splice 5"], "data\n"), results[0]
    assert results[1] == results[0]
