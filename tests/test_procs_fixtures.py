"""The process-model fixtures (fixtures/src/procs_*.c) natively and under `elfkit load-and-run`.

Each fixture exercises one mechanism of issue 10 and prints only deterministic text (no pids,
no addresses: relations such as `same pid=yes`), one write(2) per line, with pipe handshakes
wherever two processes print; fixtures/README.md ("procs-*") has every output.  Compared
exactly, as in test_procs_native.py (whose helpers are used): stdout bytes, subprocess
returncode, the guest's stderr (lines starting `elfkit: ` dropped), no traceback.

  procs-cow        copy-on-write after fork: global, .bss, heap, stack, MAP_PRIVATE pages are
                   copied on write; MAP_SHARED is shared; 8 MiB never written after the fork
                   reads the same in both; a grandchild
  procs-wait       wait4/waitid status encodings, WNOHANG, WUNTRACED/WCONTINUED, pid / group /
                   any-child waits, ECHILD, SIGCHLD handler, SIG_IGN and SA_NOCLDWAIT reaping
  procs-pipe       pipe size, O_NONBLOCK, PIPE_BUF atomicity, EOF, SIGPIPE/EPIPE, poll/select/
                   epoll, dup*, FD_CLOEXEC across execve, shared offsets and O_APPEND (DIR)
  procs-signals    kill/killpg/tgkill between processes, setpgid/setsid/getsid, ESRCH, default
                   actions, SIGSTOP/SIGCONT, dispositions and masks across execve, EINTR
  procs-vfork      vfork (shared memory, parent suspended), posix_spawn (clone3/clone with
                   CLONE_VM|CLONE_VFORK), clone() without CLONE_VM, CLONE_FILES, CLONE_FS
  procs-exec       execve errors (ENOENT, ENOTDIR, EACCES, EFAULT, ENOEXEC, ELOOP, E2BIG),
                   #! scripts (one optional argument, nested), pid/cwd/umask/AT_EXECFN kept
  procs-orphan     a child outlives its parent and is reparented; elfkit must go on running
                   it until it exits (the native run's stdout pipe stays open until then)
  procs-nolibc     no C library: fork, pipe, dup2, vfork, execve of `nolibc`, wait4, kill;
                   run under --linker=system and --linker=elfkit (no PT_DYNAMIC)
  procs-nolibc-dyn the same as a PIE against build/linker/librt0.so (lazy PLT slots bound
                   first in a child), also exec'ing build/linker/calls-lazy; both linkers

procs-pipe and procs-exec take a scratch directory: a fresh one for each side, and elfkit
gets `--allow-write DIR` for its own (the directory never appears in the output).
"""
from __future__ import annotations

import pytest

from conftest import fixture_path
from test_procs_native import assert_same, emulated, native

WITH_LIBC = ["procs-cow", "procs-wait", "procs-pipe", "procs-signals", "procs-vfork",
             "procs-exec"]            # procs-orphan: its own test below
NEEDS_DIR = {"procs-pipe", "procs-exec"}
NOLIBC = ["procs-nolibc", "procs-nolibc-dyn"]


def run_both(name, tmp_path, options=()):
    prog = fixture_path(name)
    args_nat, args_emu, opts = [], [], list(options)
    if name in NEEDS_DIR:
        nat_dir, emu_dir = tmp_path / "native", tmp_path / "elfkit"
        nat_dir.mkdir()
        emu_dir.mkdir()
        args_nat, args_emu = [nat_dir], [emu_dir]
        opts += ["--allow-write", emu_dir]
    nat = native([prog, *args_nat])
    # the native run is the reference: it must have run to its end
    assert nat.returncode == 0 and nat.stderr == b"", nat
    assert nat.stdout.endswith(b": done\n") or name == "procs-orphan", nat
    emu = emulated([prog, *args_emu], options=opts)
    assert_same(nat, emu)
    return nat, emu


@pytest.mark.parametrize("name", WITH_LIBC)
def test_fixture_same_as_native(name, tmp_path):
    run_both(name, tmp_path)


@pytest.mark.parametrize("linker", ["system", "elfkit"])
@pytest.mark.parametrize("name", NOLIBC)
def test_freestanding_fixture_under_both_linkers(name, linker, tmp_path):
    """No libc, so elfkit's own linker can run it: the static one has no PT_DYNAMIC at all,
    the -dyn one needs librt0.so in the parent, in forked children (their own lazily bound GOT
    slots) and in the dynamically linked program it execs."""
    run_both(name, tmp_path, options=[f"--linker={linker}"])


def test_orphan_output_arrives_after_the_first_process_exits(tmp_path):
    """The first process exits before its child: elfkit must keep running the orphan (reaped by
    the namespace's init) so that its lines reach stdout, and exit with the first process's
    status (0) -- the native run ends the same way."""
    nat, emu = run_both("procs-orphan", tmp_path)
    assert nat.stdout.splitlines()[-1] == b"orphan: exiting"
