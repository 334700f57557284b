"""Threaded real programs (issue 11) under `elfkit load-and-run`, each against the same program run
natively on the same input: the pthread fixture (fixtures/src/pthread.c), python3 with 8 threads,
`sort --parallel=2` on 300,000 lines, `xz -T2 -c` of 4 MiB, node and `java -version`.

Run as tests/test_syscall_census.py runs its programs: natively with every capability dropped
(setpriv; elfkit models an unprivileged process), with the same small environment (ENV) and
working directory (the repository); under elfkit with `--allow-write` for the test's own scratch
directory only. The exit status and the guest's stderr must be equal (elfkit may add only
`elfkit: warning:` lines, none saying "unsupported system call"), and stdout byte for byte --
for sort and xz, whose outputs are megabytes, the comparison is of their SHA-256 and length.
A program that is not installed is skipped; one elfkit cannot run yet fails.

These programs are slow under emulation: each run has its own generous timeout (EMU_TIMEOUT),
and the large ones are marked `slow`.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, fixture_path, run_elfkit
from test_syscalls import DROP_CAPS

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
NATIVE_TIMEOUT = 120


def need(path: str) -> str:
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed on this machine")
    return path


def run_native(argv) -> subprocess.CompletedProcess:
    return subprocess.run([*DROP_CAPS, *map(str, argv)], capture_output=True, env=ENV,
                          timeout=NATIVE_TIMEOUT, cwd=ROOT)


def run_emulated(argv, scratch: Path, timeout: int) -> subprocess.CompletedProcess:
    try:
        return run_elfkit("load-and-run", "--allow-write", scratch, *argv, env=ENV, timeout=timeout)
    except subprocess.TimeoutExpired as e:     # (a hang: say how far it got, not a traceback)
        out, err = e.output or b"", (e.stderr or b"").decode(errors="replace")
        pytest.fail(f"elfkit did not finish {[str(a) for a in argv]} in {timeout} s; by then "
                    f"stdout had {len(out)} bytes, stderr: {err[-2000:] or '(none)'}")


def digest(data: bytes) -> str:
    return f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"


def compare(argv, tmp_path: Path, timeout: int, *, big_stdout: bool = False):
    """Run `argv` natively, then under elfkit; assert the same status, stdout and stderr."""
    scratch = tmp_path / "elfkit"
    scratch.mkdir(exist_ok=True)
    nat = run_native(argv)
    emu = run_emulated(argv, scratch, timeout)
    err = emu.stderr.decode(errors="replace")
    nat_err = nat.stderr.decode(errors="replace")
    assert "Traceback (most recent call last)" not in err or "Traceback" in nat_err, err
    assert "internal error" not in err, err
    assert "unsupported system call" not in err, err
    if big_stdout:
        assert digest(emu.stdout) == digest(nat.stdout), \
            f"stdout differs (native: {digest(nat.stdout)})\nelfkit stderr: {err[-3000:]}"
    else:
        assert emu.stdout.decode(errors="replace") == nat.stdout.decode(errors="replace"), \
            f"native stderr: {nat_err}\nelfkit stderr: {err[-3000:]}"
    assert emu.returncode == nat.returncode, err[-3000:]
    guest_err = "".join(ln + "\n" for ln in err.splitlines() if not ln.startswith("elfkit: warning:"))
    assert guest_err == nat_err, err[-3000:]
    return nat, emu


# ---------------------------------------------------------------- the fixture ----

def test_pthread_fixture(tmp_path):
    """Mutex, condition variable, barrier, a detached thread and a semaphore, TLS."""
    nat, _ = compare([fixture_path("pthread")], tmp_path, timeout=300)
    assert nat.returncode == 0 and nat.stdout.endswith(b"pthread: done\n"), nat


# ------------------------------------------------------------------- python3 ----

PY_THREADS = """\
import threading
results = [None] * 8
def work(i):
    results[i] = sum(k * k for k in range(20000 + i * 1000))
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for i, r in enumerate(results):
    print(i, r)
print("threads alive after join:", threading.active_count())
"""


def test_python_eight_threads(tmp_path):
    """8 threading.Thread objects, started, then joined; results printed in order."""
    nat, _ = compare([need("/usr/bin/python3"), "-c", PY_THREADS], tmp_path, timeout=300)
    assert nat.returncode == 0 and b"threads alive after join: 1" in nat.stdout, nat


# ---------------------------------------------------------------------- sort ----

def lcg_lines(n: int) -> bytes:
    """n deterministic lines in no order, some keys repeated: '00012345 def 17'."""
    x, out = 12345, []
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(b"%08d %s %d\n" % (x % 100_000_000, b"abcdefghij"[x % 10:x % 10 + 3], i))
    return b"".join(out)


@pytest.mark.slow
def test_sort_parallel(tmp_path):
    """GNU sort with two sorting threads on 300,000 lines (about 5.8 MB, sorted in memory; -T
    names the scratch directory should it want temporary files)."""
    data = tmp_path / "lines.txt"
    data.write_bytes(lcg_lines(300_000))
    scratch = tmp_path / "elfkit"
    scratch.mkdir()
    nat, _ = compare([need("/usr/bin/sort"), "--parallel=2", "-T", scratch, data], tmp_path,
                     timeout=600, big_stdout=True)
    assert nat.returncode == 0 and nat.stdout.count(b"\n") == 300_000, nat.stderr


# ------------------------------------------------------------------------ xz ----

def text_like(size: int) -> bytes:
    """`size` bytes of deterministic word soup: compressible, but not trivially."""
    words = [b"alpha", b"beta", b"gamma", b"delta", b"epsilon", b"zeta", b"eta", b"theta",
             b"iota", b"kappa"]
    x, out = 987654321, bytearray()
    while len(out) < size:
        x = (x * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        out += words[(x >> 33) % 10] + b" %d " % ((x >> 40) % 1000)
        if (x >> 20) % 7 == 0:
            out += b"\n"
    return bytes(out[:size])


@pytest.mark.slow
def test_xz_two_threads(tmp_path):
    """xz's multi-threaded encoder with two worker threads: 4 MiB in 1 MiB blocks, so that both
    threads compress at once (xz's default block, three times the 8 MiB dictionary, would leave
    one); the .xz stream must be the same bytes as natively."""
    data = tmp_path / "data.bin"
    data.write_bytes(text_like(4 << 20))
    nat, _ = compare([need("/usr/bin/xz"), "-T2", "-c", "--block-size=1MiB", data], tmp_path,
                     timeout=600, big_stdout=True)
    assert nat.returncode == 0 and nat.stdout.startswith(b"\xfd7zXZ\x00"), nat.stderr


# ---------------------------------------------------------------------- node ----

def test_node(tmp_path):
    """node starts V8's platform worker threads and libuv's before running a line of script."""
    nat, _ = compare([need("/usr/bin/node"), "-e", "console.log(6*7)"], tmp_path, timeout=600)
    assert nat.stdout == b"42\n", nat


# ---------------------------------------------------------------------- java ----

@pytest.mark.slow
def test_java_version(tmp_path):
    """The JVM starts its threads (GC, compiler, signal dispatcher) and reserves its heap and
    code cache as runtimes do; `-version` prints to stderr, compared with the native run's."""
    nat, _ = compare([need("/usr/bin/java"), "-version"], tmp_path, timeout=600)
    assert nat.returncode == 0 and b"version" in nat.stderr, nat
