"""The write policy and the guest's view hold for the system calls that name files by other ways
than open(2): no-follow calls on symbolic links, descriptors whose file was renamed since,
/proc reached as //proc or through a link, terminals that are not the guest's.

Each case is a shell or C-free scenario run under elfkit with one writable directory W and an
"outside" directory O it may only read; what must hold is checked on the host files themselves
(never on what elfkit says), and, where the call is legal, against the same script run natively.
"""
from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from conftest import ROOT

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}


def elfkit(*argv, writable=(), stdin=None, timeout=120):
    opts = [a for w in writable for a in ("--allow-write", str(w))]
    return subprocess.run([sys.executable, "-m", "elfkit", "load-and-run", *opts, *map(str, argv)],
                          capture_output=True, env={**os.environ, **ENV}, cwd=ROOT,
                          timeout=timeout, stdin=stdin)


def sh(script, *args, writable=()):
    return elfkit("/bin/sh", "-c", script, "sh", *args, writable=writable)


@pytest.fixture
def dirs(tmp_path):
    w, o = tmp_path / "w", tmp_path / "o"
    w.mkdir()
    o.mkdir()
    (o / "secret").write_text("precious\n")
    os.chmod(o / "secret", 0o600)
    return w, o


def test_rename_and_unlink_onto_a_link_outside_are_refused(dirs):
    """rename/unlink act on the name: a symbolic link outside W stays, whatever it points to."""
    w, o = dirs
    (w / "target").write_text("t\n")
    os.symlink(w / "target", o / "link")
    r = sh('echo EVIL > "$1/evil"; mv -f "$1/evil" "$2/link"; echo mv=$?; rm -f "$2/link"; echo rm=$?',
           w, o, writable=[w])
    assert b"mv=1" in r.stdout and b"rm=1" in r.stdout, r
    assert os.path.islink(o / "link") and (w / "target").read_text() == "t\n"


def test_links_inside_w_that_point_outside_may_be_renamed_and_removed(dirs):
    """...and a link inside W is W's to rename or remove, as natively; its target is untouched."""
    w, o = dirs
    script = 'cd "$1" && ln -s "$2/secret" l && mv l m && rm m && echo done'
    native = subprocess.run(["/bin/sh", "-c", script, "sh", str(w), str(o)], capture_output=True)
    r = sh(script, w, o, writable=[w])
    assert r.stdout == native.stdout == b"done\n", r
    assert (o / "secret").read_text() == "precious\n"


def test_a_descriptor_renamed_away_keeps_the_policy_of_where_its_file_is(dirs):
    """Open a file outside through a link in W, move the names around so that the path it was
    opened by now names a file in W: chmod, utimes and xattrs on the descriptor are still
    refused, since its file is outside."""
    w, o = dirs
    script = ('cd "$1" && mkdir a && ln -s "$2" a/x && exec 3< a/x/secret && mv a b && mkdir -p a/x && '
              ': > a/x/secret && python3 -c "import os; os.fchmod(3, 0o666)"; echo chmod=$?; '
              'python3 -c "import os; os.utime(3, (0, 0))"; echo utime=$?')
    r = sh(script, w, o, writable=[w])
    assert b"chmod=1" in r.stdout and b"utime=1" in r.stdout, r
    st = os.stat(o / "secret")
    assert st.st_mode & 0o777 == 0o600 and st.st_mtime > 0


@pytest.mark.parametrize("spelling", ["//proc", "LINK"])
def test_proc_by_another_name_is_the_guests_own(tmp_path, spelling):
    """//proc/... and a link to /proc show the guest's processes, exactly as /proc does: never
    elfkit's own command line or the host's pid 1."""
    os.symlink("/proc", tmp_path / "LINK")
    base = spelling if spelling == "//proc" else str(tmp_path / "LINK")
    r = sh(f'for f in self/cmdline 1/cmdline self/status; do cmp -s "{base}/$f" "/proc/$f"; echo $f=$?; done;'
           f' readlink {base}/self/exe; readlink /proc/self/exe; cat {base}/1/cmdline | wc -c')
    lines = r.stdout.decode().split("\n")
    assert lines[:3] == ["self/cmdline=0", "1/cmdline=0", "self/status=0"], r
    assert lines[3] == lines[4] and "python" not in lines[3], r
    assert lines[5] == "0", r                       # the guest's pid 1 (elfkit as init) has none


def test_only_its_own_terminals(tmp_path):
    """The guest may make and use pseudo-terminals, but not open the user's other terminals,
    for reading or writing, nor one whose number the host reused after the guest closed its
    own pair."""
    master, slave = pty.openpty()
    name = os.ttyname(slave)
    try:
        r = sh(f'cat {name}; echo read=$?; echo hi > {name}; echo write=$?')
        assert b"read=1" in r.stdout and b"write=" in r.stdout and b"write=0" not in r.stdout, r
        assert b"a terminal that is not the guest's" in r.stderr or b"read-only" in r.stderr, r
    finally:
        os.close(master)
        os.close(slave)


def test_dev_stdout_is_stdout(tmp_path):
    """/dev/stdout and /dev/stderr reopen the guest's own stdout/stderr (a host pipe here), as
    natively: not refused as a write to a read-only file."""
    script = "echo one > /dev/stdout; echo two | tee /dev/stderr >/dev/null"
    native = subprocess.run(["/bin/sh", "-c", script], capture_output=True)
    r = sh(script)
    assert (r.stdout, r.stderr.replace(b"", b"")) == (native.stdout, native.stderr), r


def test_devices_anyone_may_write_keep_their_modes_and_names(tmp_path):
    """/dev/full (like /dev/null) takes anyone's bytes, so the guest may open it for writing --
    but its mode, owner, times, xattrs and name are not the guest's: chmod, fchmod on a
    descriptor of it, chown, touch, setfattr-like calls, unlink and rename are refused, and
    the host's device is untouched. (Once, fchmod on an inherited /dev/null descriptor
    changed the host's /dev/null to mode 000.)"""
    before = os.stat("/dev/full")
    script = ('exec 3>/dev/full; chmod 600 /dev/full; echo chmod=$?; '
              'python3 -c "import os; os.fchmod(3, 0)"; echo fchmod=$?; '
              'python3 -c "import os; os.utime(3, (0, 0))"; echo futime=$?; '
              'python3 -c "import os; os.setxattr(\'/dev/full\', \'user.x\', b\'1\')"; echo xattr=$?; '
              'touch -d @0 /dev/full; echo touch=$?; rm -f /dev/full; echo rm=$?; '
              'mv /dev/full "$1/full"; echo mv=$?; echo data >&3; echo write=$?')
    r = sh(script, tmp_path, writable=[tmp_path])
    after = os.stat("/dev/full")
    assert (after.st_mode, after.st_uid, after.st_mtime) == \
        (before.st_mode, before.st_uid, before.st_mtime), r
    out = r.stdout.decode()
    for op in ("chmod", "fchmod", "futime", "xattr", "touch", "rm", "mv"):
        assert f"{op}=0" not in out, (op, r)
    assert "write=1" in out, r                    # ENOSPC: /dev/full's own answer to the bytes
