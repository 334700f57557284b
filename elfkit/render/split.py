"""inspect's views on two CPUs: a forked child makes the symbol views and the last part of
the relocation view while the parent makes the rest, and the output is the one a single
process writes, byte for byte.

On a large library `inspect --all` is three big jobs -- the relocations, the symbol tables and
the PLT/GOT map -- and readelf does them one after another in C. From the moment the file is
open, the child makes into memory the symbol views (`symbols`, `dyn_syms`) and, when the
relocations outweigh them, the relocation rows from S on (S chosen by each row's measured cost
so both processes have about half the work; the relocation writers can make rows lo..hi-1 of
their view); those are adjacent in every output order. The parent writes what comes before,
makes what comes after into memory, then hands the child the output: the child writes its part
to the same file descriptor (no copy through a pipe), the parent writes the rest. Nothing is
shared but the file's mapping.

Warnings come out as one process makes them: each process logs every `warn()` call
(`ElfFile.warn_log`), and the parent replays the logs in output order -- before the child's
part, the child's, after it -- from the state at the fork, so de-duplication and the
50-warning limit see them in the serial order.

When the child cannot make its part (any exception, or it dies), it writes nothing and the
parent makes that part itself, as without a child: its errors are the serial run's. The split
is used only where it pays: the symbol and relocation tables the views show hold MIN_ROWS
entries or more (by the section headers), the process may run on two CPUs or more, it has no
other thread, and the output is a file descriptor. ELFKIT_INSPECT_JOBS=1 turns it off;
ELFKIT_INSPECT_SPLIT_MIN=N sets the threshold (the tests use 0, to split small fixtures), and
ELFKIT_TEST_SPLIT_CHILD=fail makes the child fail and ELFKIT_TEST_SPLIT_AT=S sets S, for the
tests.
"""
from __future__ import annotations

import io
import os
import struct
import sys

CHILD_VIEWS = ("symbols", "dyn_syms")
MIN_ROWS = 20_000               # below this the fork (~1-3 ms) costs more than it gains
_SHT_SYMTAB, _SHT_DYNSYM, _SHT_RELA, _SHT_REL = 2, 11, 4, 9


def write_views(elf, views: list[str], write_view, out, json: bool = False):
    """write_view(view, stream, part) for each of `views`, in order, as if to `out` alone
    (`part`: None for a whole view; the relocation view may come in two parts, (0, S) and
    (S, None), its rows before and from S)."""
    plan = _plan(elf, views, out, json)
    if plan is None:
        for view in views:
            write_view(view, out)
        return
    units, first, last = plan
    out.flush()
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    fork_state = (list(elf.warnings), set(elf._warned), elf._suppressed)
    pid = os.fork()
    if pid == 0:                                        # (never returns)
        os.close(go_w)
        os.close(done_r)
        _child(elf, units[first:last + 1], write_view, out, go_r, done_w)
    os.close(go_r)
    os.close(done_w)
    try:
        elf.warn_log = before = []
        for view, part in units[:first]:
            write_view(view, out, part)
        elf.warn_log = after = []
        rest = io.StringIO()
        for view, part in units[last + 1:]:
            write_view(view, rest, part)
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
            for view, part in units[first:last + 1]:
                write_view(view, out, part)
        finally:
            elf.warn_log = None
    elf.warnings, elf._warned, elf._suppressed = fork_state
    for message in (*before, *mine, *after):
        elf.warn(message)
    out.write(rest.getvalue())


def _child(elf, units, write_view, out, go_r, done_w):
    status, data, log = b"fail", b"", []
    try:
        elf.warn_log = log
        if os.environ.get("ELFKIT_TEST_SPLIT_CHILD") == "fail":
            raise RuntimeError("ELFKIT_TEST_SPLIT_CHILD=fail")
        made = io.StringIO()
        for view, part in units:
            write_view(view, made, part)
        data = made.getvalue().encode(out.encoding or "utf-8", out.errors or "strict")
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


# What a row costs to make, in microseconds (text, JSON), measured on libjvm and libclang-14;
# the rest of `--all` (summary, PLT/GOT map, small views) is taken as OTHER_US.
_RELOC_US = (0.6, 0.25)
_SYMBOL_US = (1.1, 0.9)
_OTHER_US = 10_000


def _plan(elf, views, out, json: bool):
    """(units, first, last): the (view, part) pairs in output order and the child's share,
    units[first..last] -- the symbol views and, to even the two processes' work, the tail of
    the relocation rows -- or None when one process is to make them all."""
    if "relocations" not in views and not any(v in CHILD_VIEWS for v in views):
        return None
    if not hasattr(os, "fork"):
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
        minimum = int(env.get("ELFKIT_INSPECT_SPLIT_MIN", MIN_ROWS))
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    if cpus < 2:
        return None
    symbols, relocs = _table_rows(elf)
    if not any(v in CHILD_VIEWS for v in views):
        symbols = 0
    if "relocations" not in views:
        relocs = 0
    if symbols + relocs < minimum or symbols + relocs == 0:
        return None
    reloc_us, symbol_us = _RELOC_US[json], _SYMBOL_US[json]
    half = (_OTHER_US + relocs * reloc_us + symbols * symbol_us) / 2
    tail = min(relocs, max(0, int((half - symbols * symbol_us) / reloc_us))) if relocs else 0
    if "ELFKIT_TEST_SPLIT_AT" in env and relocs:        # the tests' choice of S
        tail = relocs - min(relocs, max(0, int(env["ELFKIT_TEST_SPLIT_AT"])))
    units, mine = [], []                  # (view, part) in output order; the child's indexes
    for view in views:
        if view == "relocations" and 0 < tail < relocs:
            units.append((view, (0, relocs - tail)))
            units.append((view, (relocs - tail, None)))
            mine.append(len(units) - 1)
            continue
        if view in CHILD_VIEWS or view == "relocations" and tail and tail == relocs:
            mine.append(len(units))
        units.append((view, None))
    if not mine or mine != list(range(mine[0], mine[-1] + 1)):
        return None
    return units, mine[0], mine[-1]


def _table_rows(elf) -> tuple[int, int]:
    """(symbols, relocations): the entries of the SHT_SYMTAB/SHT_DYNSYM and SHT_RELA/SHT_REL
    sections, from the raw section headers (nothing decoded, nothing warned: the views do
    that, in their order); (0, 0) if they cannot be read."""
    h = elf.header
    try:
        shoff, shnum, entsize = h.shoff, h.shnum, h.shentsize
        if not shoff or not shnum or entsize < (64 if elf.is_64 else 40) or \
                shoff + shnum * entsize > elf.size:
            return 0, 0
        fmt = elf.fmt.endian + ("IIQQQQIIQQ" if elf.is_64 else "IIIIIIIIII")
        row = struct.Struct(fmt)
        symbols = relocs = 0
        for i in range(min(shnum, 65536)):
            f = row.unpack_from(elf.data, shoff + i * entsize)
            typ, size, ent = f[1], f[5], f[9]
            if typ in (_SHT_SYMTAB, _SHT_DYNSYM):
                symbols += size // (ent or (24 if elf.is_64 else 16))
            elif typ in (_SHT_RELA, _SHT_REL):
                relocs += size // (ent or (24 if elf.is_64 else 12 if typ == _SHT_RELA else 8))
        return symbols, relocs
    except (AttributeError, struct.error, ValueError):
        return 0, 0
