"""fs/exec.c: do_execve -- replace a task's program; binfmt_script; and the first guest process.

do_execve reads the arguments, finds the binary format (fs/binfmt_script.c
for `#!`, fs/binfmt_elf.c through elfkit.loader for ELF), and only when the
new image is ready passes the point of no return: the old address space goes
(a vfork parent is let go), close-on-exec descriptors are closed, handled
signals are reset to their default (ignored ones stay ignored), and the task
starts at the new entry point with the same pid. Before that point every
failure is an errno the caller sees (ENOENT, EACCES, ENOEXEC, E2BIG, ELOOP),
so shells fall back as they do natively (a script without `#!` is run by the
shell itself on ENOEXEC).
"""
from __future__ import annotations

import errno
import os
import stat as stat_mod
import struct

from elfkit.kernel.fs.files import MAX_FDS, NR_OPEN, HostFile
from elfkit.kernel.task import TASK_DEAD, ExitStatus, FsStruct, SignalState
from elfkit.loader.auxv import X86_64_HWCAP, X86_64_HWCAP2
from elfkit.loader.binfmt import ExecError, load_elf_binary
from elfkit.loader.sysroot import PathError

BINPRM_BUF_SIZE = 256
MAX_ARG_STRLEN = 32 * 4096
MAX_ARG_STRINGS = 0x7FFFFFFF
ARG_MAX = 32 * 4096
BINFMT_DEPTH = 5                 # an interpreter of an interpreter ... (search_binary_handler)
STK_LIM = 8 << 20
SIG_DFL, SIG_IGN = 0, 1


class Bprm:
    """linux_binprm: what exec is loading -- the file, the arguments, and the interpreter chain."""

    def __init__(self, filename: str, argv: list[bytes], envp: list[bytes]):
        self.filename = filename          # as given: AT_EXECFN and the script path
        self.interp = filename            # the file being loaded now (binfmt_script changes it)
        self.argv = argv
        self.envp = envp
        self.host: str | None = None      # execveat(fd, "", AT_EMPTY_PATH): the open file itself
        self.path_inaccessible = False    # BINPRM_FLAGS_PATH_INACCESSIBLE: that fd is close-on-exec


def bprm_load(task, bprm: Bprm, load_interpreter: bool = True):
    """search_binary_handler: the ExecImage for bprm, or ExecError with the errno name."""
    kernel = task.kernel
    for depth in range(BINFMT_DEPTH):
        fd_file = bprm.host if depth == 0 else None  # (a script's interpreter is found by name)
        host = _open_exec(task, bprm.interp, fd_file)
        try:
            with open(host, "rb") as f:
                head = f.read(BINPRM_BUF_SIZE)
        except OSError as e:
            raise ExecError(bprm.interp, f"cannot execute: {os.strerror(e.errno)}",
                            errno.errorcode.get(e.errno, "EACCES")) from None
        if head.startswith(b"#!"):
            if fd_file is not None and bprm.path_inaccessible:
                # the interpreter would open /dev/fd/N, which the exec closes: binfmt_script's ENOENT
                raise ExecError(bprm.filename, "cannot execute: a script given by a close-on-exec "
                                "descriptor", "ENOENT")
            _load_script(bprm, head)
            continue
        if not head.startswith(b"\x7fELF"):
            raise ExecError(bprm.interp, "cannot execute: exec format error", "ENOEXEC")
        random16 = task.rng.randbytes(16) if task.seed is not None else os.urandom(16)
        return load_elf_binary(bprm.interp, bprm.argv, bprm.envp, sysroot=kernel.sysroot,
                               cwd=task.cwd, random16=random16, creds=task.creds,
                               hwcap=X86_64_HWCAP, hwcap2=X86_64_HWCAP2, execfn=bprm.filename,
                               load_interpreter=load_interpreter, host_path=fd_file)
    raise ExecError(bprm.filename, "cannot execute: too many levels of interpreters", "ELOOP")


def _open_exec(task, path: str, host: str | None = None) -> str:
    """do_open_execat: the host path of a regular file the caller may execute (`host`: the
    file a descriptor holds, already opened inside the root)."""
    if host is None:
        try:
            host = task.kernel.sysroot.host_path(path, task.cwd)
        except PathError as e:
            raise ExecError(path, f"cannot execute: {e.strerror}",
                            errno.errorcode.get(e.errno, "ENOENT")) from None
    try:
        st = os.stat(host)
    except FileNotFoundError:
        raise ExecError(path, "cannot execute: no such file", "ENOENT") from None
    except OSError as e:
        raise ExecError(path, f"cannot execute: {os.strerror(e.errno)}",
                        errno.errorcode.get(e.errno, "EACCES")) from None
    if not stat_mod.S_ISREG(st.st_mode):
        raise ExecError(path, "cannot execute: not a regular file" if not stat_mod.S_ISDIR(st.st_mode)
                        else "cannot execute: is a directory", "EACCES")
    if not _may_exec(task, st):
        raise ExecError(path, "cannot execute: permission denied", "EACCES")
    return host


CAP_DAC_OVERRIDE = 1


def _may_exec(task, st) -> bool:
    """MAY_EXEC as generic_permission checks it for the task's effective ids and groups: the
    owner's, group's or others' x bit; with CAP_DAC_OVERRIDE (which the guest has only if
    its credentials say so -- uid 0 alone is not enough) any x bit."""
    mode, c = st.st_mode, task.creds
    if getattr(c, "cap_effective", 0) & 1 << CAP_DAC_OVERRIDE:
        return bool(mode & 0o111)
    if st.st_uid == c.euid:
        return bool(mode & 0o100)
    if st.st_gid == c.egid or st.st_gid in getattr(c, "groups", ()):
        return bool(mode & 0o010)
    return bool(mode & 0o001)


def _load_script(bprm: Bprm, head: bytes):
    """fs/binfmt_script.c: `#!interpreter [one argument]` on the first line; the new argv is
    interpreter, the argument if any, the script's path, then the old argv[1:]."""
    line = head[2:].split(b"\n", 1)[0]
    if b"\n" not in head[2:] and len(head) == BINPRM_BUF_SIZE and b" " not in line.strip(b" \t"):
        # the interpreter's name does not fit in the buffer: the kernel refuses it
        raise ExecError(bprm.interp, "cannot execute: interpreter name too long", "ENOEXEC")
    line = line.split(b"\0", 1)[0].strip(b" \t")
    if not line:
        raise ExecError(bprm.interp, "cannot execute: #! with no interpreter", "ENOEXEC")
    name, _, rest = line.replace(b"\t", b" ").partition(b" ")   # blanks only: a \r stays in
    arg = line[len(name):].strip(b" \t") if rest.strip(b" \t") else None
    argv = [name] + ([arg] if arg else []) + [os.fsencode(bprm.interp)] + bprm.argv[1:]
    bprm.argv = argv
    bprm.interp = os.fsdecode(name)


def check_arg_limits(argv: list[bytes], envp: list[bytes], stack_limit: int) -> int:
    """bprm_stack_limits + copy_strings: 0 or -E2BIG."""
    limit = min(STK_LIM // 4 * 3, stack_limit // 4)
    limit = max(limit, ARG_MAX)
    ptrs = (max(len(argv), 1) + len(envp)) * 8
    if limit <= ptrs:
        return -errno.E2BIG
    total = 0
    for s in argv + envp:
        if len(s) + 1 > MAX_ARG_STRLEN:
            return -errno.E2BIG
        total += len(s) + 1
    return -errno.E2BIG if total > limit - ptrs else 0


def begin_new_exec(task, image, bprm: Bprm):
    """The point of no return: drop the old mm (release a vfork parent), unshare and close
    close-on-exec descriptors, reset handled signals, map the new image."""
    kernel = task.kernel
    de_thread(task)
    old_mm = task.mm
    if task.vfork_parent is not None:
        from elfkit.kernel.exit import _vfork_done
        _vfork_done(task)
    task.exec_image(image, bprm.argv, bprm.envp)        # makes and switches to the new mm
    task.restart_at = image.entry                       # %rip set in the syscall hook would move
    if old_mm is not None:
        old_mm.mmput()
    if task.files.users > 1:                            # unshare_files
        shared = task.files
        task.files = shared.dup_table()
        shared.users -= 1
    task.files.close_on_exec()
    # flush_signal_handlers: handlers back to SIG_DFL, SIG_IGN kept; no alternate stack
    actions = {sig: (a[0], 0, 0, 0) if a[0] == SIG_IGN else (SIG_DFL, 0, 0, 0)
               for sig, a in task.signals.actions.items() if a[0] == SIG_IGN}
    task.signals = SignalState(actions=actions, blocked=task.signals.blocked,
                               pending=task.signals.pending)
    task.sigframes = {}
    if task.timers is not None:                         # exit_itimers: its POSIX timers go
        from elfkit.kernel.time.posix_timers import exit_itimers
        exit_itimers(task)
    task.clear_child_tid = 0
    task.robust_list = (0, 0)
    task.rseq_area = None
    task.restart = {}
    task.did_exec = True
    # set_personality_64bit drops READ_IMPLIES_EXEC; cap_bprm_creds_from_file drops KEEP_CAPS
    task.personality &= ~0x0400000
    if task.creds.securebits & 0x10:
        from dataclasses import replace
        task.creds = replace(task.creds, securebits=task.creds.securebits & ~0x10)
    task.linker = None
    if kernel.exec_linker is not None:
        task.exec_attach = image        # linked before it first runs (guest calls cannot nest here)
    if kernel.gdb is not None:
        kernel.gdb.execed(task)         # (--gdb: the exec event, at the new program's entry)


def de_thread(task):
    """fs/exec.c de_thread: the new program starts with one thread. Every other thread of the
    process ends (as if SIGKILL'd: its robust futexes and CLONE_CHILD_CLEARTID word are seen
    to), and a thread that is not the leader takes the leader's place -- its pid becomes the
    process's, and it inherits the leader's parent and children."""
    from elfkit.kernel.exit import do_exit
    group = task.group
    kernel = task.kernel
    for t in [t for t in group.live_threads() if t is not task]:
        do_exit(t, ExitStatus(signal=9, reason="killed by execve in another thread",
                              thread=True))
    old = group.leader
    if old is task:
        return
    kernel.tasks.pop(task.pid, None)
    task.pid = task.tid = old.pid
    kernel.tasks[task.pid] = task
    task.parent, task.exit_signal = old.parent, old.exit_signal
    if old.parent is not None and old in old.parent.children:
        old.parent.children[old.parent.children.index(old)] = task
    task.children, old.children = old.children, []
    for c in task.children:
        c.parent = task
    task.wait_chldexit = old.wait_chldexit
    task.start_monotonic = old.start_monotonic
    group.dead_cputime += old.cputime
    group.leader = task
    group.threads = [task]
    old.state = TASK_DEAD
    if kernel.first is old:
        kernel.first = task


def do_execve(task, path: str, argv: list[bytes], envp: list[bytes], host: str | None = None,
              path_inaccessible: bool = False) -> int:
    """execve from a running task: 0 (the task now runs the new program) or -errno. `host`:
    execveat on a descriptor (the open file's host path; `path` is "/dev/fd/N")."""
    from elfkit.kernel.syscalls.process import rlimit
    err = check_arg_limits(argv, envp, rlimit(task, 3)[0])
    kernel = task.kernel
    if err:
        if kernel.tracer is not None:
            kernel.tracer.execve(task, path, argv, err)
        return err
    bprm = Bprm(path, argv, envp)
    bprm.host, bprm.path_inaccessible = host, path_inaccessible
    try:
        image = bprm_load(task, bprm, _loads_interpreter(kernel))
    except ExecError as e:
        code = -getattr(errno, e.errno_name, errno.ENOEXEC)
        if kernel.tracer is not None:
            kernel.tracer.execve(task, path, argv, code)
        if e.past_no_return:            # past begin_new_exec: force_fatal_sig(SIGSEGV)
            from elfkit.kernel.task import GuestExit
            raise GuestExit(ExitStatus(signal=11, reason=f"killed by SIGSEGV: exec failed past "
                                                         f"its point of no return: {e.one_line()}"))
        return code
    except (OSError, ValueError) as e:
        code = -(getattr(e, "errno", None) or errno.ENOEXEC)
        if kernel.tracer is not None:
            kernel.tracer.execve(task, path, argv, code)
        return code
    begin_new_exec(task, image, bprm)
    if kernel.tracer is not None:
        kernel.tracer.execve(task, path, argv, 0)
    return 0


def _loads_interpreter(kernel) -> bool:
    return kernel.exec_linker is None or not kernel.exec_linker.replaces_interpreter


def read_string_array(p, ptr: int, limit: int = MAX_ARG_STRINGS) -> list[bytes] | int:
    """argv/envp: a NULL-terminated array of string pointers in guest memory."""
    out = []
    if not ptr:
        return out
    while True:
        raw = p.mm.read(ptr + 8 * len(out), 8)
        if raw is None:
            return -errno.EFAULT
        (sp,) = struct.unpack("<Q", raw)
        if not sp:
            return out
        s = p.mm.read_cstring(sp, MAX_ARG_STRLEN + 1)
        if s is None:
            return -errno.EFAULT if p.mm.find(sp) is None else -errno.E2BIG
        out.append(s)
        if len(out) > limit:
            return -errno.E2BIG


def sys_execve(p, path_ptr, argv_ptr, envp_ptr, *_):
    return _execveat(p, -100, path_ptr, argv_ptr, envp_ptr, 0)


def sys_execveat(p, dirfd, path_ptr, argv_ptr, envp_ptr, flags, *_):
    return _execveat(p, dirfd, path_ptr, argv_ptr, envp_ptr, flags)


def _execveat(p, dirfd, path_ptr, argv_ptr, envp_ptr, flags):
    from elfkit.kernel.syscalls.files import guest_path, read_path
    path = read_path(p, path_ptr)
    if isinstance(path, int):
        return path
    AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW = 0x1000, 0x100
    if flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW):
        return -errno.EINVAL
    if not path and not flags & AT_EMPTY_PATH:
        return -errno.ENOENT
    host = None
    if not path:
        # fexecve: the file the descriptor holds -- a memfd, an O_PATH descriptor -- named
        # "/dev/fd/N" (AT_EXECFN, a script's path), as do_execveat_common names it
        entry = p.files.fds.get(dirfd) if dirfd >= 0 else None
        if entry is None:
            return -errno.EBADF
        f, cloexec = entry
        host_fd = f.host_fd()
        if host_fd is None:
            return -errno.EACCES                     # a pipe, a socket: not a regular file
        host, full = f"/proc/self/fd/{host_fd}", f"/dev/fd/{dirfd}"
    else:
        full = guest_path(p, dirfd, path) if not path.startswith("/") else path
        if isinstance(full, int):
            return full
    argv = read_string_array(p, argv_ptr)
    if isinstance(argv, int):
        return argv
    envp = read_string_array(p, envp_ptr)
    if isinstance(envp, int):
        return envp
    if host is not None:
        return do_execve(p, full, argv, envp, host=host, path_inaccessible=cloexec)
    return do_execve(p, path if dirfd == -100 or path.startswith("/") else full, argv, envp)


# --- the first guest process ------------------------------------------------------------------------

def spawn(path: str, argv: list[bytes], envp: list[bytes], *, root: str = "/", seed: int | None = None,
          writable=None, strace=None, warn=None, cwd: str | None = None, linker=None,
          tracer=None, host_signals: bool = False, cpus: int = 1, allow_net: bool = False,
          memory_limit: int | None = None, limits=None):
    """The first guest process, ready to run `path` as execve(path, argv, envp) would start it,
    in a new Kernel. `linker`: None (the program's PT_INTERP does the dynamic linking), or an
    object with `replaces_interpreter` and `attach(task, image)` that links every exec'ed
    program (elfkit.linker.attach makes them from --linker/--resolver). `limits`: the
    RunLimits the task will run with, in force from here, as the linker runs the program's
    initialisers and IFUNC resolvers now (Task.run with the same limits goes on counting)."""
    from elfkit.kernel.kernel import FIRST_PID, Kernel
    exec_linker = linker
    kernel = Kernel(root=root, seed=seed, writable=writable, strace=strace, warn=warn,
                    tracer=tracer, exec_linker=exec_linker, host_signals=host_signals, cpus=cpus,
                    allow_net=allow_net, memory_limit=memory_limit)
    if cwd is None:
        cwd = os.getcwd() if kernel.sysroot.identity else "/"
    task = kernel.new_task(kernel.init, fs=FsStruct(cwd), files=kernel.init.files.__class__(),
                           creds=kernel.init.creds, signals=SignalState(),
                           rng=kernel.rng, seed=seed)
    assert task.pid == FIRST_PID
    kernel.first = task
    # a job started by a shell: the leader of its own process group, in init's session
    task.pgid, task.sid = task.pid, kernel.init.sid
    task.rlimits = _host_rlimits()
    task.files.nofile = min(task.rlimits.get(7, (MAX_FDS,))[0], NR_OPEN)   # RLIMIT_NOFILE
    install_stdio(task)
    kernel.current = task
    bprm = Bprm(path, argv, envp)
    image = bprm_load(task, bprm, _loads_interpreter(kernel))
    task.exec_image(image, bprm.argv, bprm.envp)
    if kernel.tracer is not None:
        kernel.tracer.started(task, path, argv)
    if limits is not None:
        from elfkit.kernel.sched import apply_limits
        apply_limits(kernel, limits)
    if exec_linker is not None:
        exec_linker.attach(task, image)
    kernel.enqueue(task)
    return task


def _host_rlimits() -> dict[int, tuple[int, int]]:
    """The limits elfkit runs with are the first guest's, as a child inherits its parent's."""
    import resource
    out = {}
    for r in range(16):
        try:
            soft, hard = resource.getrlimit(r)
        except (ValueError, OSError):
            continue
        inf = 0xFFFFFFFFFFFFFFFF
        out[r] = (inf if soft == resource.RLIM_INFINITY else soft,
                  inf if hard == resource.RLIM_INFINITY else hard)
    return out


def install_stdio(task):
    """fds 0, 1, 2: duplicates of elfkit's own, so the guest closing them leaves ours open."""
    for fd in (0, 1, 2):
        try:
            host = os.dup(fd)
        except OSError:
            continue
        os.set_inheritable(host, False)
        task.files.install_at(fd, HostFile(host, f"/dev/fd/{fd}", 2))
