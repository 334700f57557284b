"""The guest stays inside (issue 14, section 2): one hostile fixture per escape attempt.

fixtures/src/hostile_escape.c (build/hostile-escape MODE ...) tries one way out per MODE. Each
test runs it under `elfkit load-and-run` and checks three things:

- elfkit stopped or refused it and said so: the call failed with the documented errno and a
  warning line, or the run ended with the documented exit status and message (124 and
  `elfkit: FILE: stopped ...` for --timeout, --max-insns, --max-procs, --max-fds and
  --max-output; the kernel's `Out of memory: Killed process ...` line for --memory-limit);
- elfkit's own memory stayed bounded: the peak RSS of the elfkit process (VmHWM, sampled while
  it runs: wait4's rusage would include the forking pytest worker's own), stays under a
  generous bound;
- the host is unchanged: no new file in the test's watched directory, no `elfkit-hostile*`
  name anywhere under the repository or /tmp, and no host process left behind (elfkit runs in
  a session of its own; none is left in it afterwards, and elfkit never had a host child).

What the host kernel decides (E2BIG for 100 MiB of argv, what a chroot makes of symbolic links
that climb out) is compared with the same fixture run natively, where that is safe. The write
policy's other spellings (renames, /proc by other names, devices) are in
tests/test_syscall_sandbox.py, --root's basic resolution in tests/test_root.py, sockets'
details in tests/test_sys_net.py: this file does not repeat them.

Never run the fixture's dangerous modes natively (kill, the bombs, output): as root,
kill(-1, SIGKILL) ends every process of the machine.
"""
from __future__ import annotations

import ctypes
import filecmp
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, fixture_path

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
RSS_BOUND = 512 << 20               # bytes: elfkit's own peak RSS, generous (it idles at ~45 MiB)
MARK = "elfkit-hostile"             # every name the fixture creates starts with this

# ------------------------------------------------------------------------------- helpers ----


@dataclass
class Run:
    argv: list
    status: int                     # as a shell reports it: 128+N when killed by signal N
    returncode: int                 # as subprocess reports it: -N when killed by signal N
    stdout: bytes                   # the first MAX_KEEP bytes
    stdout_total: int               # every byte elfkit wrote to its stdout
    stderr: bytes
    maxrss: int                     # bytes, elfkit's own peak RSS (wait4)
    seconds: float
    host_children: set              # host processes elfkit ever had as children (must be none)

    @property
    def out(self) -> str:
        return self.stdout.decode(errors="replace")

    @property
    def err(self) -> str:
        return self.stderr.decode(errors="replace")

    def results(self) -> dict:
        """The fixture's `name=result` lines."""
        return dict(line.split("=", 1) for line in self.out.splitlines() if "=" in line)

    def __repr__(self):
        return (f"<Run {' '.join(map(str, self.argv))[:300]} status={self.status} "
                f"maxrss={self.maxrss >> 20} MiB {self.seconds:.1f} s stdout({self.stdout_total})="
                f"{self.stdout[:1500]!r} stderr={self.stderr[-1500:]!r}>")


MAX_KEEP = 1 << 20


def _drain(f, keep: bytearray, total: list):
    while True:
        b = f.read1(1 << 20) if hasattr(f, "read1") else f.read(1 << 20)
        if not b:
            return
        total[0] += len(b)
        if len(keep) < MAX_KEEP:
            keep += b[:MAX_KEEP - len(keep)]


def _session_members(sid: int) -> list[int]:
    """Host processes whose session is `sid` (elfkit's: it was started with setsid)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid or int(fields[2]) == sid:      # session, process group
            out.append(int(d))
    return out


def _vm_hwm(pid: int) -> int:
    """The process's peak RSS so far (VmHWM, bytes; 0 once it is gone). Not wait4's ru_maxrss:
    that keeps the high-water mark of the process before its exec, which is the forking pytest
    worker's own RSS (797 MiB for every run, late in a full test run)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _children(pid: int) -> set[int]:
    kids = set()
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            kids |= {int(k) for k in Path(f"/proc/{pid}/task/{t}/children").read_text().split()}
    except OSError:
        pass
    return kids


def elfkit(*args, options=(), stdin: bytes | None = b"", feed=None, timeout=30, stdout=None,
           cwd=ROOT, env=ENV) -> Run:
    """Run `elfkit load-and-run OPTIONS... ARGS...` in a session of its own; kill that session
    and fail when it outlives `timeout`. `feed(pid)` may return stdin bytes computed once elfkit
    runs (its host pid, addresses in it). stdout: a file object to give elfkit instead of a
    pipe."""
    argv = [sys.executable, "-m", "elfkit", "load-and-run", *map(str, options), *map(str, args)]
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=stdout or subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=cwd, env=env, start_new_session=True)
    out, err, out_total, err_total = bytearray(), bytearray(), [0], [0]
    threads = [threading.Thread(target=_drain, args=(p.stderr, err, err_total), daemon=True)]
    if stdout is None:
        threads.append(threading.Thread(target=_drain, args=(p.stdout, out, out_total), daemon=True))
    for t in threads:
        t.start()
    try:
        data = feed(p.pid) if feed else stdin
        if data:
            p.stdin.write(data)
        p.stdin.close()
    except BrokenPipeError:
        pass
    host_children: set[int] = set()
    status = None
    hwm = 0
    while status is None:
        host_children |= _children(p.pid)
        hwm = max(hwm, _vm_hwm(p.pid))
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            status, rusage = st, ru
            break
        if time.monotonic() - start > timeout:
            os.killpg(p.pid, signal.SIGKILL)
            os.wait4(p.pid, 0)
            p.returncode = -9
            pytest.fail(f"elfkit still running after {timeout} s: {argv[4:]}\nstderr: {bytes(err)[-2000:]!r}")
        time.sleep(0.02)
    p.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    for t in threads:
        t.join(10)
    left = _session_members(p.pid)
    if left:
        os.killpg(p.pid, signal.SIGKILL)
    rc = p.returncode
    run = Run(argv[4:], 128 - rc if rc < 0 else rc, rc, bytes(out), out_total[0], bytes(err),
              hwm or rusage.ru_maxrss * 1024, seconds, host_children)
    assert not left, f"host processes left behind in elfkit's session: {left} {run}"
    assert not host_children, f"elfkit started host processes {host_children}: {run}"
    return run


def hostile(*args, **kw) -> Run:
    return elfkit(fixture_path("hostile-escape"), *args, **kw)


def hostile_in(root, *args, options=(), **kw) -> Run:
    """The fixture as /bin/hostile-escape of the sysroot `root` (FILE resolves inside it)."""
    return elfkit("/bin/hostile-escape", *args, options=["--root", root, *options], **kw)


def stopped_line(what: str) -> re.Pattern:
    """elfkit's line for a resource stop: `elfkit: FILE: stopped: WHAT`."""
    return re.compile(r"^elfkit: \S*hostile-escape: stopped" + what + r"$", re.M)


def snapshot(d: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(d):
        for n in dirnames + filenames:
            p = Path(dirpath, n)
            st = p.lstat()
            # a directory's size and times change with what --allow-write lets in: names only
            out[str(p)] = (st.st_mode,) if p.is_dir() and not p.is_symlink() else \
                (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def stray_marks() -> list[str]:
    """Names the fixture makes, anywhere under the repository (but .git, .venv) or /tmp's top."""
    found = [str(p) for p in Path("/tmp").glob(f"{MARK}*")]
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in (".git", ".venv", "node_modules")]
        found += [os.path.join(dirpath, n) for n in dirnames + filenames if n.startswith(MARK)]
    return found


@pytest.fixture
def host(tmp_path):
    """A watched directory (a victim file and a secret in it); on teardown: it is unchanged
    (unless the test says otherwise), no `elfkit-hostile*` name appeared under the repository
    or /tmp."""
    watched = tmp_path / "watched"
    watched.mkdir()
    (watched / "victim").write_text("victim, unchanged\n")
    token = f"host-secret-{os.getpid()}-{time.monotonic_ns()}"
    (watched / "secret").write_text(token + "\n")
    before_marks = set(stray_marks())

    class Host:
        pass
    h = Host()
    h.dir, h.token, h.before = watched, token, snapshot(watched)
    yield h
    assert snapshot(watched) == h.before, "the watched directory changed"
    assert (watched / "victim").read_text() == "victim, unchanged\n"
    new = set(stray_marks()) - before_marks
    assert not new, f"files made outside: {sorted(new)}"


def bounded(run: Run, bound: int = RSS_BOUND):
    assert run.maxrss < bound, f"elfkit's peak RSS {run.maxrss >> 20} MiB >= {bound >> 20} MiB: {run}"


def refused(value: str) -> bool:
    return value in ("EROFS", "EACCES", "EPERM")


# ------------------------------------------------------------------------ writes outside ----

WRITE_CALLS = ("open-creat", "open-excl", "creat", "open-tmpfile", "mkdir", "symlink", "link",
               "mknod-fifo", "open-victim-w", "truncate", "chmod", "utimes", "rename", "unlink",
               "openat", "mkdirat", "unlinkat", "openat-opath", "bind-unix")


def test_writes_outside_are_refused(host):
    """Create, link, mknod, truncate, chmod, utimes, rename, unlink, openat on a directory
    descriptor and /proc/self/fd/N/NAME, in a watched temporary directory, in the repository
    and in /tmp: each fails with EROFS/EACCES and a warning line, and nothing changes."""
    r = hostile("write", host.dir, ROOT, "/tmp")
    assert r.status == 0 and r.out.endswith("write: done\n"), r
    blocks = r.out.split("open-creat=")[1:]
    assert len(blocks) == 3, r
    for block, where in zip(blocks, (host.dir, ROOT, "/tmp")):
        res = dict(line.split("=", 1) for line in ("open-creat=" + block).splitlines() if "=" in line)
        assert res["open-dir"] == "ok", (where, r)
        for call in WRITE_CALLS:
            if where != host.dir and call in ("link", "open-victim-w", "truncate", "chmod",
                                              "utimes", "rename", "unlink", "unlinkat"):
                assert res[call] != "ok", (where, call, r)      # no victim there: ENOENT too
            else:
                assert refused(res[call]), (where, call, res[call], r)
        for call in ("proc-fd-path", "proc-opath-path"):
            assert res[call] != "ok", (where, call, r)
    assert "elfkit: warning: refused" in r.err, r
    bounded(r)


def test_mounts_namespaces_and_chroot_are_refused(host):
    """mount(tmpfs) on the watched directory, unshare(CLONE_NEWUSER|CLONE_NEWNS) and a second
    mount, chroot(DIR) then a create at "/": EPERM (the guest has no CAP_SYS_ADMIN/CHROOT),
    one warning each, and the create is refused."""
    r = hostile("mount", host.dir)
    res = r.results()
    assert r.status == 0 and "mount: done" in r.out, r
    for call in ("mount-tmpfs", "unshare", "mount-tmpfs-after-unshare", "chroot", "creat-in-chroot"):
        assert refused(res[call]), (call, r)
    assert not Path("/elfkit-hostile-chroot").exists()
    bounded(r)


SNEAKY_ALLOWED = {"open-opath", "open-ro", "mmap-shared-r", "symlink-in-w", "symlink-to-victim",
                  "creat-in-w", "hardlink-in-w", "linkat-fd-in-w"}


def test_descriptors_of_files_outside_stay_read_only(host, tmp_path):
    """A file outside --allow-write opened read-only (or O_PATH) stays unwritable however the guest
    turns the descriptor around: O_RDONLY|O_TRUNC directly or by reopening /proc/self/fd/N,
    /dev/fd/N, /proc/thread-self/fd/N, /proc/PID/fd/N; reopening for writing; MAP_SHARED
    writable mappings (mmap, mprotect); write, ftruncate, fallocate, fchmod, fchown, fsetxattr,
    futimens on it; names made for it in W (symbolic and hard links, linkat of the descriptor,
    rename, RENAME_EXCHANGE) written through. The victim keeps its bytes, mode and times."""
    w = tmp_path / "w"
    w.mkdir()
    st = (host.dir / "victim").stat()
    r = hostile("sneaky", host.dir, w, options=["--allow-write", w])
    res = r.results()
    after = (host.dir / "victim").stat()
    assert (host.dir / "victim").read_text() == "victim, unchanged\n", \
        f"a file outside --allow-write was changed through a read-only descriptor: {r}"
    assert (after.st_size, after.st_mode, after.st_mtime_ns, after.st_uid) == \
        (st.st_size, st.st_mode, st.st_mtime_ns, st.st_uid), r
    assert r.status == 0 and "sneaky: done" in r.out, r
    for call, value in res.items():
        if call not in SNEAKY_ALLOWED:
            assert value != "ok", (call, r)
    bounded(r)


def test_the_guests_own_program_file_stays_unwritten(tmp_path):
    """open("/proc/self/exe", O_RDONLY|O_TRUNC) and O_WRONLY: natively ETXTBSY (the file is being
    executed); under elfkit the program's host file must not be truncated or written either (it
    is outside --allow-write). Run from a scratch copy: this is the attack that would overwrite
    /usr/bin/python3 of a guest started as `elfkit load-and-run /usr/bin/python3`."""
    d = tmp_path / "exe"
    d.mkdir()
    exe = d / f"{MARK}-exe"
    shutil.copy(fixture_path("hostile-escape"), exe)
    size = exe.stat().st_size
    native = subprocess.run([exe, "exetrunc"], capture_output=True, env=ENV, timeout=30)
    assert native.stdout == b"exe-trunc=ETXTBSY\nexe-w=ETXTBSY\nexetrunc: done\n", native
    r = elfkit(exe, "exetrunc")
    assert exe.stat().st_size == size, f"the guest truncated its own program on the host: {r}"
    res = r.results()
    assert res.get("exe-trunc") != "ok" and res.get("exe-w") != "ok", r
    assert filecmp.cmp(exe, fixture_path("hostile-escape"), shallow=False), r


def test_programs_the_guest_runs_stay_unwritten(tmp_path):
    """The same through another guest process: a child execs a program (a scratch copy of
    sleep), the parent opens /proc/CHILD/exe with O_RDONLY|O_TRUNC and O_WRONLY. Natively
    ETXTBSY; under elfkit the host's program file must keep its bytes -- else any guest could
    rewrite any host program it may run (/bin/sh, as root)."""
    d = tmp_path / "exe"
    d.mkdir()
    prog = d / f"{MARK}-exe"
    shutil.copy("/bin/sleep", prog)
    native_prog = d / f"native-{MARK}-exe"
    shutil.copy("/bin/sleep", native_prog)
    native = subprocess.run([fixture_path("hostile-escape"), "exeother", native_prog],
                            capture_output=True, env=ENV, timeout=30)
    assert native.stdout == b"other-exe-trunc=ETXTBSY\nother-exe-w=ETXTBSY\nexeother: done\n", native
    r = hostile("exeother", prog)
    assert filecmp.cmp(prog, "/bin/sleep", shallow=False), \
        f"the guest truncated or wrote a host program it ran: {prog.stat().st_size} bytes left {r}"
    res = r.results()
    assert res.get("other-exe-trunc") != "ok" and res.get("other-exe-w") != "ok", r


def test_allowed_directory_does_not_leak_to_its_parent(host):
    """With --allow-write W and the guest's cwd in W: ../NAME, /proc/self/cwd/../NAME,
    /proc/self/root/W/../NAME, /proc/1/root/..., openat on a descriptor of "..", fchdir("..")
    and a rename out of W all stay refused; only W itself is writable."""
    w = host.dir / "w"
    w.mkdir()
    host.before = snapshot(host.dir)
    r = hostile("cwdwrite", w, options=["--allow-write", w])
    res = r.results()
    assert r.status == 0 and res.get("cwd-creat-own") == "ok", r
    for call in ("cwd-dotdot", "proc-cwd-dotdot", "proc-cwd-mkdir", "proc-root-dotdot",
                 "proc1-root-dotdot", "openat-dotdot", "creat-after-fchdir", "rename-in-out"):
        assert res[call] != "ok", (call, r)
    for call in ("cwd-dotdot", "openat-dotdot", "creat-after-fchdir"):
        assert refused(res[call]), (call, r)
    assert sorted(os.listdir(w)) == [f"{MARK}-inside"], r
    (w / f"{MARK}-inside").unlink()
    bounded(r)


def test_allow_write_is_a_directory_not_a_prefix(host, tmp_path):
    """--allow-write DIR/w lets in DIR/w only: not its siblings DIR/w2 and DIR/w.d, whose names
    start with the same characters."""
    w = tmp_path / "w"
    w.mkdir()
    siblings = [tmp_path / "w2", tmp_path / "w.d"]
    for d in siblings:
        d.mkdir()
        (d / "victim").write_text("victim, unchanged\n")
    r = hostile("write", *siblings, options=["--allow-write", w])
    assert r.status == 0 and r.out.endswith("write: done\n"), r
    for line in r.out.splitlines():
        name, _, value = line.partition("=")
        if value and name != "open-dir":
            assert value != "ok", (line, r)
    for d in siblings:
        assert os.listdir(d) == ["victim"] and (d / "victim").read_text() == "victim, unchanged\n", r
    assert os.listdir(w) == [], r
    bounded(r)


# ------------------------------------------------------------------ --root and /proc tricks ----


@pytest.fixture
def sysroot(tmp_path, host):
    """A bare sysroot: the static fixture, an /etc of its own, a writable /w, and symbolic links
    that point out of it (absolute, and climbing with ..)."""
    root = tmp_path / "sysroot"
    (root / "bin").mkdir(parents=True)
    shutil.copy(fixture_path("hostile-escape"), root / "bin" / "hostile-escape")
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("not-the-host\n")
    (root / "w").mkdir()
    os.symlink("/etc", root / "etclink")
    os.symlink("../../", root / "up")
    os.symlink("../" * 12, root / "etc" / "climb")
    os.symlink(str(host.dir), root / "w" / "abs")
    os.symlink("../" * 12 + str(host.dir).lstrip("/"), root / "w" / "rel")
    os.symlink(str(host.dir / "secret"), root / "secretlink")
    return root


def native_chroot(root, *argv):
    if os.geteuid() != 0:
        pytest.skip("the native comparison needs chroot, so root")
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    return subprocess.run([chroot, str(root), *map(str, argv)], capture_output=True, timeout=30,
                          env=ENV)


def escape_paths(host):
    d = str(host.dir)
    return ["/etclink/hostname", "/up/etc/hostname", f"/up/up/up{d}/secret",
            f"/../../..{d}/secret", f"/etc/climb{d}/secret", "/w/abs/secret", "/w/rel/secret",
            "/secretlink"]


def test_symlinks_out_of_the_root_resolve_inside_it(host, sysroot):
    """--root SYSROOT with links to /etc, to ../../ and to the host's watched directory: every
    path resolves inside SYSROOT exactly as under chroot(2), and the host's secret is never
    read."""
    paths = escape_paths(host)
    r = hostile_in(sysroot, "read", *paths)
    assert r.status == 0, r
    assert host.token not in r.out, f"the guest read a file outside --root: {r}"
    assert "read /etclink/hostname=<not-the-host>" in r.out, r
    want = native_chroot(sysroot, "/bin/hostile-escape", "read", *paths)
    assert r.stdout == want.stdout, (want.stdout, r)
    bounded(r)


def test_proc_magic_links_stay_inside_the_root(host, sysroot):
    """/proc/self/root, /proc/self/cwd, /proc/1/root, /proc/self/exe under --root: the links read
    as the guest's own paths (root "/", never the sysroot's host path), and going through them,
    with or without .. after them, never reaches the host's files."""
    d = str(host.dir)
    paths = [f"/proc/self/root{d}/secret", f"/proc/self/root/../../..{d}/secret",
             f"/proc/self/cwd/../../../..{d}/secret", f"/proc/1/root{d}/secret",
             f"/proc/self/root/proc/self/root{d}/secret", f"/proc/self/cwd/up/up{d}/secret",
             "/proc/self/root/secretlink", "/proc/self/root/w/abs/secret"]
    r = hostile_in(sysroot, "read", *paths, cwd=sysroot)
    assert r.status == 0 and r.out.count("\nread ") == len(paths) - 1, r
    assert host.token not in r.out, f"the guest read a file outside --root: {r}"
    links = hostile_in(sysroot, "readlink", "/proc/self/root", "/proc/self/cwd", "/proc/self/exe",
                       "/proc/1/root", "/proc/4/root", cwd=sysroot)
    assert str(sysroot) not in links.out, f"the sysroot's host path leaked: {links}"
    assert "readlink /proc/self/root=</>" in links.out, links
    assert "readlink /proc/self/cwd=</>" in links.out, links
    assert "readlink /proc/self/exe=</bin/hostile-escape>" in links.out, links
    bounded(r)


def test_proc_magic_links_resolve_like_the_kernels(host, sysroot):
    """...and they are links, as the kernel's: /proc/self/root/PATH is PATH inside the root,
    /proc/self/cwd/PATH is PATH from the cwd (chroot's /proc gives the same)."""
    paths = ["/proc/self/root/etclink/hostname", "/proc/self/root/etc/hostname",
             "/proc/self/cwd/etc/hostname", "/proc/1/root/etc/hostname"]
    r = hostile_in(sysroot, "read", *paths, cwd=sysroot)
    for p in paths:
        assert f"read {p}=<not-the-host>" in r.out, (p, r)


def test_writes_through_links_out_of_the_root_stay_inside(host, sysroot):
    """--root SYSROOT --allow-write SYSROOT/w, where w/abs and w/rel are links to the host's
    watched directory: creating files through them resolves inside the root (ENOENT there, as
    under chroot), and the host's directory is untouched."""
    r = hostile_in(sysroot, "write", "/w/abs", "/w/rel", options=["--allow-write", sysroot / "w"])
    assert r.status == 0 and r.out.endswith("write: done\n"), r
    for line in r.out.splitlines():
        if "=" in line:
            name, value = line.split("=", 1)
            if name != "open-dir":
                assert value != "ok", (line, r)
    want = native_chroot(sysroot, "/bin/hostile-escape", "write", "/w/abs", "/w/rel")
    norm = lambda b: b.replace(b"proc-fd-path=ENOENT", b"").replace(b"proc-opath-path=ENOENT", b"")  # noqa: E731
    assert norm(r.stdout) == norm(want.stdout), (want.stdout, r)
    assert sorted(os.listdir(sysroot / "w")) == ["abs", "rel"], r
    bounded(r)


# ---------------------------------------------------------------------------- the network ----


def test_sockets_reach_nothing_on_the_host(host, tmp_path):
    """Without --allow-net: AF_INET/INET6/NETLINK/PACKET/raw sockets fail with EACCES (one
    warning), so a TCP listener and a UDP socket on 127.0.0.1 see nothing; AF_UNIX connects to
    a host listener's abstract name and socket file do not reach it."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.setblocking(False)
    port = tcp.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    udp.setblocking(False)
    name = f"{MARK}-{os.getpid()}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + name)
    abstract.listen(8)
    abstract.setblocking(False)
    path = tmp_path / "sock"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(path))
    unix.listen(8)
    unix.setblocking(False)
    try:
        r = hostile("socket", port, name, path)
        res = r.results()
        assert r.status == 0 and "socket: done" in r.out, r
        for s in ("socket-inet", "socket-udp", "socket-inet6", "socket-netlink", "socket-packet",
                  "socket-raw"):
            assert res[s] == "EACCES", (s, r)
        assert "connect-inet" not in res and "sendto-udp" not in res, r
        assert res["socket-unix"] == "ok", r
        assert res["connect-abstract"] != "ok" and res["connect-path"] != "ok", r
        assert len(re.findall("network access is not allowed", r.err)) == 1, r
        for s in (tcp, abstract, unix):
            with pytest.raises(BlockingIOError):
                s.accept()
        with pytest.raises(BlockingIOError):
            udp.recv(16)
        bounded(r)
    finally:
        for s in (tcp, udp, abstract, unix):
            s.close()


# ---------------------------------------------------------------------- host programs ----


def test_execve_of_a_host_shell_runs_in_the_guest(host):
    """execve("/bin/sh", "-c", "echo pwned > MARKER"), system("touch ..."), and fexecve of a
    memfd holding a #! script: each shell runs inside elfkit (its output says so), its write is
    refused (EROFS, as the shell reports it), and no marker exists on the host."""
    marker = host.dir / f"{MARK}-marker"
    r = hostile("exec", marker)
    assert r.status == 0 and "exec: done" in r.out, r
    assert "sh-ran status=2" in r.out, r                 # the guest's sh: cannot create (EROFS)
    assert "system-ran status=1" in r.out, r             # the guest's touch failed
    assert "Read-only file system" in r.err, r
    assert "memfd-ran status=0" not in r.out, r
    for suffix in ("", ".system", ".memfd"):
        assert not Path(f"{marker}{suffix}").exists(), suffix
    bounded(r)


# --------------------------------------------------------- ptrace, memory, signals ----


def _feed_pids(extra=()):
    def feed(pid):
        return (" ".join(map(str, [os.getpid(), pid, *extra])) + "\n").encode()
    return feed


def _status_of(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def test_ptrace_reaches_no_host_process(host):
    """PTRACE_TRACEME, PTRACE_ATTACH/SEIZE/POKEDATA on pid 1 (elfkit as the guest's init) and on
    the test's and elfkit's own host pids: all fail, and neither host process is traced."""
    r = hostile("ptrace", feed=_feed_pids())
    res = r.results()
    assert r.status == 0 and "ptrace: done" in r.out, r
    for k, v in res.items():
        if k.startswith(("attach-", "seize-", "poke-")):
            assert v in ("EPERM", "ESRCH"), (k, v, r)
    assert _status_of(os.getpid())["TracerPid"] == "0"
    bounded(r)


def _elfkit_writable_addresses(pid: int) -> list[int]:
    """Addresses of writable mappings of the elfkit process (its heap, Python's and Unicorn's
    data): once libunicorn is mapped."""
    deadline = time.monotonic() + 15
    maps = ""
    while time.monotonic() < deadline:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            break
        if "unicorn" in maps:
            break
        time.sleep(0.02)
    out = []
    for line in maps.splitlines():
        f = line.split()
        if f[1].startswith("rw") and (len(f) < 6 or any(s in f[-1] for s in ("unicorn", "heap", "python"))):
            out.append(int(f[0].split("-")[0], 16))
    return out[:30]


def test_proc_self_mem_reaches_no_host_memory(host):
    """Writes through /proc/self/mem and /proc/1/mem at the addresses of elfkit's own writable
    host mappings, and process_vm_writev to pid 1: none reaches elfkit (it goes on and exits
    normally), each fails (EIO: not mapped in the guest) or is refused."""
    addrs = []

    def feed(pid):
        addrs[:] = _elfkit_writable_addresses(pid)
        return (" ".join(hex(a) for a in addrs) + "\n").encode()
    r = hostile("mem", feed=feed)
    res = r.results()
    assert addrs, "no mapping of elfkit's found"
    assert r.status == 0 and "mem: done" in r.out, r
    for k, v in res.items():
        if k.startswith("pwrite-0x") or k.startswith("pwrite-1-"):
            assert v in ("EIO", "EFAULT", "EPERM", "EACCES"), (k, v, r)
    assert res["vm-writev-1"] != "ok", r
    bounded(r)


def test_proc_self_mem_writes_guest_memory(host):
    """...and /proc/self/mem is the guest's own memory, as the kernel's: a pwrite at the address
    of one of its variables changes that variable."""
    r = hostile("mem", stdin=b"\n")
    res = r.results()
    assert res.get("open-self-mem") == "ok", r
    assert res.get("pwrite-own") == "ok" and res.get("own") == "guest-after!", r


def test_process_vm_writev_to_host_pids_fails(host):
    """process_vm_writev/readv to the test's own pid (at the address of a buffer it holds) and
    to elfkit's: ESRCH (no such process in the guest's pid namespace), and the buffer keeps its
    bytes."""
    buf = ctypes.create_string_buffer(b"host-buffer-untouched", 32)
    addr = ctypes.addressof(buf)

    def feed(pid):
        return f"{os.getpid()} {addr:#x} {pid} {addr:#x}\n".encode()
    r = hostile("vm", feed=feed)
    res = r.results()
    assert r.status == 0 and "vm: done" in r.out, r
    assert [v for k, v in res.items() if k.startswith("vm-")] == ["ESRCH"] * 4, r
    assert buf.value == b"host-buffer-untouched"
    bounded(r)


def test_kill_minus_one_reaches_guest_processes_only(host):
    """kill(PID, 0) to host pids finds none (ESRCH), then kill(-1, SIGKILL) kills the guest's
    own child (as the kernel's kill(-1) kills everything but the caller and init) while the
    test process and a host process of its own survive."""
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        r = hostile("kill", feed=_feed_pids([bystander.pid]))
        res = r.results()
        assert r.status == 0, r
        assert [v for k, v in res.items() if k.startswith("kill0-")] == ["ESRCH"] * 3, r
        assert res["kill-1-SIGKILL"] == "ok" and res["child"] == "Killed", r
        assert "kill: survived" in r.out, r
        assert bystander.poll() is None, "a host process was killed"
        bounded(r)
    finally:
        bystander.kill()
        bystander.wait()


# ------------------------------------------------------------------------------- bombs ----


def test_fork_bomb_is_stopped_by_max_procs(host):
    r = hostile("forkbomb", options=["--max-procs", 32, "--timeout", 60], timeout=40)
    assert r.status == 124, r
    assert stopped_line(r": more than 32 processes and threads \(--max-procs\)").search(r.err), r
    bounded(r)


def test_fork_bomb_under_timeout_alone_ends_promptly(host):
    """Without --max-procs, --timeout still ends a fork bomb (every guest) at about its time,
    with elfkit's memory bounded: the guests it made must not keep it busy long after."""
    r = hostile("forkbomb", options=["--timeout", 3, "--memory-limit", "512M"], timeout=15)
    assert r.status == 124, r
    assert stopped_line(r" after the 3 s timeout").search(r.err), r
    assert r.seconds < 3 + 5, r         # a loop's --timeout 2 ends at 2.3 s
    bounded(r)


def test_thread_bomb_is_stopped_by_max_procs(host):
    r = hostile("threadbomb", options=["--max-procs", 32, "--timeout", 60], timeout=40)
    assert r.status == 124, r
    assert stopped_line(r": more than 32 processes and threads \(--max-procs\)").search(r.err), r
    bounded(r)


def test_memory_bomb_is_ended_by_the_oom_killer(host):
    """--memory-limit 256M: the OOM killer kills the guest with SIGKILL and prints the kernel's
    line; elfkit dies by SIGKILL as the guest did, having used about the limit, not more."""
    r = hostile("membomb", options=["--memory-limit", "256M", "--timeout", 60], timeout=40)
    assert r.returncode == -signal.SIGKILL, r
    assert re.search(r"^elfkit: Out of memory: Killed process 4 \(hostile-escape\) total-vm:\d+kB",
                     r.err, re.M), r
    bounded(r, RSS_BOUND + (256 << 20))


def test_descriptor_bomb_is_stopped_by_max_fds(host):
    r = hostile("fdbomb", options=["--max-fds", 64, "--timeout", 60], timeout=40)
    assert r.status == 124, r
    assert stopped_line(r": more than 64 open files in process \d+ \(--max-fds\)").search(r.err), r
    assert "EMFILE" not in r.out, r
    bounded(r)


def test_descriptor_bomb_without_max_fds_meets_rlimit_nofile(host):
    """Without --max-fds the guest's own RLIMIT_NOFILE (raised to its hard limit) ends it with
    EMFILE, as the kernel would, after exactly as many descriptors as the host allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard > 100_000:
        pytest.skip(f"hard RLIMIT_NOFILE {hard}: too many descriptors for a quick test")
    native = subprocess.run([fixture_path("hostile-escape"), "fdbomb"], capture_output=True,
                            stdin=subprocess.PIPE, env=ENV, timeout=30)
    assert native.returncode == 0 and b"fdbomb: EMFILE after" in native.stdout, native
    r = hostile("fdbomb", options=["--timeout", 60], timeout=40)
    assert r.status == 0 and r.stdout == native.stdout, (native.stdout, r)
    bounded(r)


@pytest.mark.parametrize("mode", ["loop", "loopfork", "sleepers"])
def test_infinite_loops_are_stopped_by_timeout(host, mode):
    """A loop, a loop in a setsid child that ignores SIGTERM and SIGHUP, and processes in new
    sessions that block every signal and pause: --timeout 2 ends every guest, 124, one line,
    promptly; no host process is left (elfkit's session is empty)."""
    r = hostile(mode, options=["--timeout", 2], timeout=30)
    assert r.status == 124, r
    assert stopped_line(r" after the 2 s timeout").search(r.err) or \
        re.search(r"stopped after the 2(\.0)? s timeout", r.err), r
    assert r.seconds < 2 + 8, r
    bounded(r)


def test_infinite_loop_is_stopped_by_max_insns(host):
    r = hostile("loop", options=["--max-insns", 1_000_000], timeout=30)
    assert r.status == 124, r
    assert stopped_line(r" after 1000000 instructions").search(r.err), r
    bounded(r)


# -------------------------------------------------------------------- argv and output ----


def test_100_mib_of_argv_and_environment_is_e2big_as_natively(host):
    """execve with 100 MiB of argv (800 strings of 128 KiB - 1), then of environment, then one
    200 KiB string (past MAX_ARG_STRLEN): E2BIG each, exactly as the host kernel answers the
    same program; elfkit does not copy the 100 MiB (its RSS stays small)."""
    native = subprocess.run([fixture_path("hostile-escape"), "bigargs"], capture_output=True,
                            env=ENV, timeout=30)
    assert native.stdout.count(b"=E2BIG\n") == 3, native
    r = hostile("bigargs")
    assert r.status == 0 and r.stdout == native.stdout, (native.stdout, r)
    bounded(r, 256 << 20)


def test_a_terabyte_of_output_is_stopped_by_max_output(host):
    """write(1, 1 MiB) in a loop towards 1 TiB: --max-output 8388608 ends every guest after
    that many bytes (124, one line); at most one more write's worth has come through."""
    limit = 8 << 20
    r = hostile("output", options=["--max-output", limit, "--timeout", 60], timeout=40)
    assert r.status == 124, r
    assert stopped_line(rf": more than {limit} bytes of output \(--max-output\)").search(r.err), r
    assert r.stdout_total <= limit + (1 << 20), r
    bounded(r)


def test_a_sparse_terabyte_on_stdout_costs_the_host_nothing(host, tmp_path):
    """stdout a host file (the guest may write its own descriptors): pwrite of one byte at 1 TiB
    and ftruncate to 2 TiB make at most a sparse file, no disk blocks and no memory in elfkit;
    --max-output counts the bytes written, not the offset."""
    out = tmp_path / "out"
    with open(out, "wb") as f:
        r = hostile("sparse", options=["--max-output", 1 << 20, "--timeout", 30], stdout=f, timeout=40)
    st = out.stat()
    assert st.st_blocks * 512 < (1 << 20), (st, r)
    assert r.status == 0, r
    with open(out, "rb") as f:
        head = f.read(4096)
    assert b"pwrite-1TiB=ok" in head, (head[:200], r)
    bounded(r)
