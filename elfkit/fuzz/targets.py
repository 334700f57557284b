"""Each command as a fuzzing target, and one input run under limits.

A target names its base files (real programs, libraries, objects and core files: fixtures
when built, system files otherwise; a missing one is left out), the command line it runs on a
mutated copy, and how long one input may take. An input runs in a child forked from the
worker (elfkit already imported there, so an input costs the command's work, not Python's
start-up): address space capped (RLIMIT_AS, on top of what the child has mapped when it is
forked: a giant allocation fails as MemoryError instead of taking the machine), no core dumps, stdout thrown away, stderr kept, killed at the time limit.

The verdict (`judge`) follows issue 14: for the commands that only read the file, exit 0, 1 or
2 with every stderr line elfkit's own (`elfkit: ...`); for the commands that run a guest, any
guest status, 124 (--timeout/--max-insns), 126/127 with one `elfkit: error:` line (execve
refused it), or elfkit dying by the guest's signal after saying so (`killed by SIGx`); for
`link`, 0, 1 or 2 and no output file left by a failed link. Never a traceback, "internal
error", a hang or elfkit itself killed by a signal.
"""
from __future__ import annotations

import os
import random
import resource
import select
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures" / "build"

# Bases for the commands that read the file: every kind of ELF file elfkit's parsers meet.
PARSE_BASES = [
    "fixtures/build/hello-pie", "fixtures/build/hello-static", "fixtures/build/hello-noshdr",
    "fixtures/build/libfixture.so", "fixtures/build/hello32", "fixtures/build/reloc.o",
    "fixtures/build/nolibc", "fixtures/build/hello-relr", "fixtures/build/hello-lazy",
    "fixtures/build/core.hello", "fixtures/build/linker/libcount.so",
    "fixtures/build/cross/aarch64/pie", "fixtures/build/cross/arm/exe",
    "fixtures/build/cross/ppc64/exe", "fixtures/build/cross/mips/exe",
    "/usr/bin/true", "/lib64/ld-linux-x86-64.so.2",
]
# Bases for the commands that run them: static, static-pie, PIE through ld.so, no libc.
RUN_BASES = [
    "fixtures/build/nolibc", "fixtures/build/hello-static", "fixtures/build/hello-static-pie",
    "fixtures/build/hello-pie", "fixtures/build/procs-nolibc-dyn", "fixtures/build/hello-noshdr",
    "fixtures/build/hello-lazy", "/usr/bin/true",
]
# elfkit's own dynamic linker: programs it can link (glibc's libc needs ld.so's privates).
ELFKIT_LINKER_BASES = [
    "fixtures/build/procs-nolibc-dyn", "fixtures/build/linker/calls-lazy",
    "fixtures/build/linker/deps", "fixtures/build/linker/libcount.so", "fixtures/build/nolibc",
    "fixtures/build/hello-pie",
]
LINK_PROGRAMS = ["fixtures/build/link/relocs", "fixtures/build/link/tls"]

# What every run of a guest gets: bounded, deterministic, the same environment everywhere.
GUEST = ["--timeout", "4", "--max-insns", "3000000", "--memory-limit", "256M", "--seed", "1",
         "--clear-env", "--env", "LD_LIBRARY_PATH=" + str(FIX / "linker")]

GIB = 1 << 30


class Target:
    """One command under fuzzing: its name, bases, command line for a mutated copy at PATH,
    which verdict rules apply (parse, run or link) and the per-input wall-time limit."""

    def __init__(self, name, kind, bases, argv, time_limit, strategies=None):
        self.name, self.kind, self.base_names, self.argv = name, kind, bases, argv
        self.time_limit, self.strategies = time_limit, strategies

    def bases(self) -> list[Path]:
        out = []
        for b in self.base_names:
            p = Path(b) if b.startswith("/") else ROOT / b
            if self.kind == "link":
                if (p / "objects").is_file():
                    out.append(p)
            elif p.is_file():
                out.append(p)
        return out


TARGETS = {t.name: t for t in [
    Target("inspect", "parse", PARSE_BASES, lambda f, d: ["inspect", "--all", f], 10),
    Target("inspect-json", "parse", PARSE_BASES,
           lambda f, d: ["inspect", "--all", "--json", f], 10),
    Target("check", "parse", PARSE_BASES, lambda f, d: ["check", "-v", f], 10),
    Target("disasm", "parse", PARSE_BASES, lambda f, d: ["disasm", f], 10),
    Target("load-and-run", "run", RUN_BASES, lambda f, d: ["load-and-run", *GUEST, f], 30),
    Target("load-and-run-elfkit", "run", ELFKIT_LINKER_BASES,
           lambda f, d: ["load-and-run", "--linker=elfkit", *GUEST, f], 30),
    Target("trace-plt", "run", ["fixtures/build/hello-lazy", "fixtures/build/pltcalls-lazy",
                                "fixtures/build/hello-pie", "fixtures/build/nolibc"],
           lambda f, d: ["trace-plt", *GUEST, f], 30),
    Target("link", "link", LINK_PROGRAMS, None, 20),
]}


# --- inputs ------------------------------------------------------------------------------------

class Input:
    """One input: the target, its (seed, index), the base it mutates and the recipe; for link,
    which object of the program's list is the mutated one."""

    def __init__(self, target: Target, seed: int, index: int):
        from elfkit.fuzz import mutate
        self.target, self.seed, self.index = target, seed, index
        bases = target.bases()
        if not bases:
            raise FileNotFoundError(f"no base file of target {target.name} is there "
                                    "(make -C fixtures)")
        rng = random.Random(f"base/{seed}/{target.name}/{index}")
        self.base = bases[rng.randrange(len(bases))]
        self.objects: list[Path] = []
        self.victim = 0
        if target.kind == "link":
            lines = (self.base / "objects").read_text().split()
            self.objects = [self.base / n for n in lines]
            self.victim = rng.randrange(len(self.objects))
            self.source = self.objects[self.victim]
        else:
            self.source = self.base
        data = self.source.read_bytes()
        self.recipe = mutate.generate(seed, target.name, index, data, target.strategies)
        self.data = mutate.apply(data, self.recipe)

    @property
    def id(self) -> str:
        return f"{self.target.name}:{self.seed}:{self.index}"

    def describe(self) -> dict:
        return {"id": self.id, "base": relpath(self.source), "recipe": self.recipe}


def relpath(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def command_line(target: Target, path: str, workdir: str, objects=(), victim=0) -> list[str]:
    if target.kind == "link":
        objs = [path if k == victim else str(o) for k, o in enumerate(objects)]
        return ["link", "-static", "-e", "_start", "-o", os.path.join(workdir, "a.out"), *objs]
    return target.argv(path, workdir)


# --- running one input -------------------------------------------------------------------------

class Verdict:
    __slots__ = ("failure", "status", "signal", "stderr", "seconds")

    def __init__(self, failure, status, sig, stderr, seconds):
        self.failure, self.status, self.signal = failure, status, sig
        self.stderr, self.seconds = stderr, seconds

    def as_dict(self) -> dict:
        return {"failure": self.failure, "status": self.status, "signal": self.signal,
                "stderr": self.stderr[-2000:], "seconds": round(self.seconds, 3)}


def preload():
    """Import what every command needs once, in the worker, before it forks per input."""
    import elfkit.cli.check  # noqa: F401
    import elfkit.cli.disasm  # noqa: F401
    import elfkit.cli.group  # noqa: F401
    import elfkit.cli.inspect  # noqa: F401
    import elfkit.cli.inspect_run  # noqa: F401
    import elfkit.cli.link  # noqa: F401
    import elfkit.cli.run  # noqa: F401
    import elfkit.cli.trace  # noqa: F401
    import elfkit.render.inspect_json  # noqa: F401
    import elfkit.render.inspect_text  # noqa: F401
    try:
        import capstone  # noqa: F401
        import elfkit.kernel.exec  # noqa: F401
        import elfkit.ld.driver  # noqa: F401
        import elfkit.linker.attach  # noqa: F401
        import elfkit.render.disasm  # noqa: F401
    except ImportError:
        pass


def run_command(target: Target, argv: list[str], workdir: str, memory_cap: int | None = None,
                time_limit: float | None = None) -> Verdict:
    """`elfkit ARGV` in a forked child under the limits; its verdict."""
    limit = time_limit or target.time_limit
    err_path = os.path.join(workdir, "stderr")
    sys.stdout.flush()
    sys.stderr.flush()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:                                     # the child: never returns
        _child(argv, err_path, memory_cap or (6 * GIB if target.kind == "run" else 4 * GIB))
    status = sig = None
    timed_out = False
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    deadline = t0 + limit
    while True:
        wpid, wstatus = os.waitpid(pid, os.WNOHANG)
        if wpid:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            _, wstatus = os.waitpid(pid, 0)
            break
        if pidfd is not None:
            select.select([pidfd], [], [], left)
        else:
            time.sleep(min(left, 0.005))
    if pidfd is not None:
        os.close(pidfd)
    seconds = time.monotonic() - t0
    if os.WIFSIGNALED(wstatus):
        sig = os.WTERMSIG(wstatus)
    else:
        status = os.WEXITSTATUS(wstatus)
    try:
        with open(err_path, "rb") as f:
            stderr = f.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        stderr = ""
    failure = "hang" if timed_out else judge(target, status, sig, stderr)
    if failure is None and target.kind == "link" and status != 0 and \
            os.path.exists(os.path.join(workdir, "a.out")):
        failure = "output-left"
    return Verdict(failure, status, sig, stderr, seconds)


def _mapped_now() -> int:
    """This process's address space in use now (VmSize, bytes; 0 when unknown)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _child(argv, err_path, memory_cap):
    code = 70
    try:
        os.setpgid(0, 0)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        # the cap is on top of what the child has mapped already: a worker forked from a
        # long-lived process (a pytest worker late in a test run) starts with gigabytes of it
        memory_cap += _mapped_now()
        cap = memory_cap if hard == resource.RLIM_INFINITY else min(memory_cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        null = os.open(os.devnull, os.O_RDWR)
        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(err, 2)
        # the streams Python writes to are those of fds 1 and 2 (not a caller's replacement,
        # e.g. pytest's capture)
        sys.stdout = sys.__stdout__ = open(1, "w", closefd=False)
        sys.stderr = sys.__stderr__ = open(2, "w", closefd=False)
        os.environ.pop("ELFKIT_DEBUG", None)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        sys.argv = ["elfkit", *argv]
        from elfkit.cli.main import main
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            sys.stderr.write(f"{e.code}\n")
    except BaseException:                        # noqa: BLE001 - what the harness looks for
        import traceback
        traceback.print_exc()
        code = 71
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:                    # noqa: BLE001
            pass
        os._exit(code)


def judge(target: Target, status, sig, stderr: str) -> str | None:
    """The failure's kind, or None when the outcome is one issue 14 accepts."""
    if "Traceback (most recent call last)" in stderr:
        return "traceback"
    if "internal error" in stderr:
        return "internal-error"
    if "MemoryError" in stderr:
        return "memory"
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if target.kind == "run":
        if sig is not None:
            return None if " killed by SIG" in stderr else f"died-by-signal-{sig}"
        if status == 125:
            return "out-of-memory-at-start"
        if status in (126, 127) and sum(ln.startswith("elfkit: error:") for ln in lines) > 1:
            return "exec-error-not-one-line"     # (a guest's own 126/127 prints what it likes)
        return None
    if sig is not None:
        return f"died-by-signal-{sig}"
    if status not in (0, 1, 2):
        return f"exit-{status}"
    stray = [ln for ln in lines if not ln.startswith("elfkit")]
    if stray and target.kind == "parse":
        return "stray-stderr"
    return None


def run_input(inp: Input, workdir: str) -> Verdict:
    """Write the input's bytes into `workdir` and run its target's command on them."""
    name = inp.source.name
    path = os.path.join(workdir, name)
    for leftover in os.listdir(workdir):         # nothing of an earlier input: deterministic
        try:
            os.unlink(os.path.join(workdir, leftover))
        except OSError:
            pass
    with open(path, "wb") as f:
        f.write(inp.data)
    os.chmod(path, 0o755)
    argv = command_line(inp.target, path, workdir, inp.objects, inp.victim)
    return run_command(inp.target, argv, workdir)


def recipe_input(target_name: str, base: str, recipe: list, victim: str | None = None) -> Input:
    """An Input made from a kept recipe (tests/fuzz_regressions/*.json): `base` relative to the
    repository (or absolute), for link the program's directory with `victim` the object
    mutated."""
    from elfkit.fuzz import mutate
    inp = Input.__new__(Input)
    inp.target, inp.seed, inp.index = TARGETS[target_name], 0, 0
    path = Path(base) if base.startswith("/") else ROOT / base
    inp.base, inp.objects, inp.victim = path, [], 0
    if inp.target.kind == "link":
        lines = (path / "objects").read_text().split()
        inp.objects = [path / n for n in lines]
        inp.victim = lines.index(victim)
        inp.source = inp.objects[inp.victim]
    else:
        inp.source = path
    inp.recipe = recipe
    inp.data = mutate.apply(inp.source.read_bytes(), recipe)
    return inp
