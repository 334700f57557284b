"""inspect's views on two CPUs: the symbol tables are made by a forked child while the parent
makes the rest, and the output is the one a single process writes, byte for byte.

On a large library `inspect --all` is three big jobs -- the relocations, the symbol tables and
the PLT/GOT map -- and readelf does them one after another in C. The child makes the symbol
views (`symbols`, `dyn_syms`: adjacent in every output order) into memory from the moment the
file is open; the parent writes the views before them, makes the views after them into memory,
and then hands the child the output: the child writes its part to the same file descriptor (no
copy through a pipe), the parent writes the rest. Nothing is shared but the file's mapping.

Warnings come out as one process makes them: each process logs every `warn()` call
(`ElfFile.warn_log`), and the parent replays the logs in output order -- the views before the
symbols, the symbols, the views after -- from the state at the fork, so de-duplication and the
50-warning limit see them in the serial order.

When the child cannot make its part (any exception, or it dies), it writes nothing and the
parent makes those views itself, as without a child: its errors are the serial run's. The
split is used only where it pays: the symbol tables hold at least MIN_SYMBOLS entries (by the
section headers), the process may run on two CPUs or more, it has no other thread, and the
output is a file descriptor. ELFKIT_INSPECT_JOBS=1 turns it off; ELFKIT_INSPECT_SPLIT_MIN=N
sets the threshold (the tests use 0, to split small fixtures), and ELFKIT_TEST_SPLIT_CHILD=fail
makes the child fail, for the test of that path.
"""
from __future__ import annotations

import io
import os
import struct
import sys

CHILD_VIEWS = ("symbols", "dyn_syms")
MIN_SYMBOLS = 20_000            # below this the fork (~1-3 ms) costs more than it gains
_SHT_SYMTAB, _SHT_DYNSYM = 2, 11


def write_views(elf, views: list[str], write_view, out):
    """write_view(view, stream) for each of `views`, in order, as if to `out` alone."""
    block = _child_block(elf, views, out)
    if block is None:
        for view in views:
            write_view(view, out)
        return
    first, last = block
    out.flush()
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    fork_state = (list(elf.warnings), set(elf._warned), elf._suppressed)
    pid = os.fork()
    if pid == 0:                                        # (never returns)
        os.close(go_w)
        os.close(done_r)
        _child(elf, views[first:last + 1], write_view, out, go_r, done_w)
    os.close(go_r)
    os.close(done_w)
    try:
        elf.warn_log = before = []
        for view in views[:first]:
            write_view(view, out)
        elf.warn_log = after = []
        rest = io.StringIO()
        for view in views[last + 1:]:
            write_view(view, rest)
        elf.warn_log = None
        out.flush()
        os.write(go_w, b"g")                            # the child's turn to write
        os.close(go_w)
        go_w = None
        reply = _read_all(done_r)
    except BaseException:
        _end(pid, kill=True)
        raise
    finally:
        if go_w is not None:
            os.close(go_w)
        os.close(done_r)
    _end(pid)
    status, _, log = reply.partition(b"\0")
    if status.startswith(b"errno "):                    # its write failed (after any part)
        errno = int(status[6:])
        raise BrokenPipeError(errno, os.strerror(errno)) if errno == 32 else \
            OSError(errno, os.strerror(errno))
    if status == b"ok":
        mine = log.decode("utf-8", "surrogatepass").split("\0") if log else []
    else:                                               # it made nothing: the serial way
        elf.warn_log = mine = []
        try:
            for view in views[first:last + 1]:
                write_view(view, out)
        finally:
            elf.warn_log = None
    elf.warnings, elf._warned, elf._suppressed = fork_state
    for message in (*before, *mine, *after):
        elf.warn(message)
    out.write(rest.getvalue())


def _child(elf, views, write_view, out, go_r, done_w):
    status, data, log = b"fail", b"", []
    try:
        elf.warn_log = log
        if os.environ.get("ELFKIT_TEST_SPLIT_CHILD") == "fail":
            raise RuntimeError("ELFKIT_TEST_SPLIT_CHILD=fail")
        part = io.StringIO()
        for view in views:
            write_view(view, part)
        data = part.getvalue().encode(out.encoding or "utf-8", out.errors or "strict")
        status = b"ok"
    except BaseException:                               # noqa: BLE001 - the parent redoes it
        status = b"fail"
    try:
        if os.read(go_r, 1) != b"g":                    # the parent is gone
            os._exit(1)
        if status == b"ok":
            fd, view = out.fileno(), memoryview(data)
            try:
                while view:
                    view = view[os.write(fd, view):]
            except OSError as e:
                status = b"errno %d" % (e.errno or 5)
        os.write(done_w, status + b"\0" + "\0".join(log).encode("utf-8", "surrogatepass"))
    finally:
        os._exit(0)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _end(pid: int, kill: bool = False):
    if kill:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except InterruptedError:
            continue
        except ChildProcessError:
            return


def _child_block(elf, views, out) -> tuple[int, int] | None:
    """(first, last) index of the symbol views in `views` when a child is to make them."""
    at = [i for i, v in enumerate(views) if v in CHILD_VIEWS]
    if not at or at != list(range(at[0], at[-1] + 1)) or not hasattr(os, "fork"):
        return None
    env = os.environ
    if env.get("ELFKIT_INSPECT_JOBS", "").strip() == "1":
        return None
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return None                                     # a fork would copy held locks
    try:
        out.fileno()
        cpus = len(os.sched_getaffinity(0))
        minimum = int(env.get("ELFKIT_INSPECT_SPLIT_MIN", MIN_SYMBOLS))
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    if cpus < 2 or _symbol_count(elf) < minimum:
        return None
    return at[0], at[-1]


def _symbol_count(elf) -> int:
    """Entries of SHT_SYMTAB and SHT_DYNSYM sections, from the raw section headers (nothing
    decoded, nothing warned: the views do that, in their order); 0 if they cannot be read."""
    h = elf.header
    try:
        shoff, shnum, entsize = h.shoff, h.shnum, h.shentsize
        if not shoff or not shnum or entsize < (64 if elf.is_64 else 40) or \
                shoff + shnum * entsize > elf.size:
            return 0
        if elf.is_64:
            fmt, type_at, size_at, ent_at = elf.fmt.endian + "IIQQQQIIQQ", 1, 5, 9
        else:
            fmt, type_at, size_at, ent_at = elf.fmt.endian + "IIIIIIIIII", 1, 5, 9
        row = struct.Struct(fmt)
        total = 0
        for i in range(min(shnum, 65536)):
            f = row.unpack_from(elf.data, shoff + i * entsize)
            if f[type_at] in (_SHT_SYMTAB, _SHT_DYNSYM):
                total += f[size_at] // (f[ent_at] or (24 if elf.is_64 else 16))
        return total
    except (AttributeError, struct.error, ValueError):
        return 0
