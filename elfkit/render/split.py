"""inspect's views on two CPUs: a forked child makes the last rows of the row views -- the
relocations, the symbol table, the dynamic symbols, adjacent in that order in every output --
while the parent makes the rest, and the output is the one a single process writes, byte for
byte.

On a large library `inspect --all` is three big jobs -- the relocations, the symbol tables and
the PLT/GOT map -- and readelf does them one after another in C. From the moment the file is
open, the child makes into memory the row views' rows from a point on (a view and a row in it,
chosen by a cost model of each view -- a part any process making some of its rows pays, such
as decoding a symbol table's names, and a part per row -- so both processes have about half
the work; the writers make rows lo..hi-1 of a view on request). The parent writes what comes
before, makes what comes after into memory, then hands the child the output: the child writes
its part to the same file descriptor (no copy through a pipe), the parent writes the rest.
Nothing is shared but the file's mapping.

Warnings come out as one process makes them: each process logs every `warn()` call
(`ElfFile.warn_log`), and the parent replays the logs in output order -- before the child's
part, the child's, after it -- from the state at the fork, so de-duplication and the
50-warning limit see them in the serial order.

When the child cannot make its part (any exception, or it dies), it writes nothing and the
parent makes that part itself, as without a child: its errors are the serial run's. The split
is used only where it pays: the row views asked for hold MIN_ROWS rows or more (by the section
headers), the process may run on two CPUs or more, it has no other thread, and the output is
a file descriptor. ELFKIT_INSPECT_JOBS=1 turns it off; ELFKIT_INSPECT_SPLIT_MIN=N sets the
threshold (the tests use 0, to split small fixtures); ELFKIT_TEST_SPLIT_CHILD=fail makes the
child fail and ELFKIT_TEST_SPLIT_AT=VIEW:ROW sets the point, for the tests.
"""
from __future__ import annotations

import io
import os
import struct
import sys

from elfkit.elf.constants import SHT

MIN_ROWS = 20_000               # below this the fork (~1-3 ms) costs more than it gains


def write_views(elf, views: list[str], write_view, out, json: bool = False):
    """write_view(view, stream, part) for each of `views`, in order, as if to `out` alone
    (`part`: None for a whole view, or (lo, hi or None): rows lo..hi-1 of a row view)."""
    plan = _plan(elf, views, out, json)
    if plan is not None:
        out.flush()
        child = _fork(elf, plan, write_view, out)
        if child is not None:
            _write_with(child, elf, plan, write_view, out)
            return
    for view in views:
        write_view(view, out)


def _fork(elf, plan, write_view, out):
    """(pid, go_w, done_r, the state at the fork), or None when no child could be made (no
    pipe, no process left: EAGAIN, ENOMEM) and one process does it all."""
    units, first, last = plan
    fds = []
    try:
        fds += os.pipe()
        fds += os.pipe()
        state = (list(elf.warnings), set(elf._warned), elf._suppressed, set(elf.__dict__))
        pid = os.fork()
    except OSError:
        for fd in fds:
            os.close(fd)
        return None
    go_r, go_w, done_r, done_w = fds
    if pid == 0:                                        # (never returns)
        os.close(go_w)
        os.close(done_r)
        _child(elf, units[first:last + 1], write_view, out, go_r, done_w)
    os.close(go_r)
    os.close(done_w)
    return pid, go_w, done_r, state


def _write_with(child, elf, plan, write_view, out):
    units, first, last = plan
    pid, go_w, done_r, state = child
    error = None
    try:
        elf.warn_log = before = []
        for view, part in units[:first]:
            write_view(view, out, part)
        elf.warn_log = after = []
        rest = io.StringIO()
        try:
            for view, part in units[last + 1:]:
                write_view(view, rest, part)
        except Exception as e:          # noqa: BLE001 - raised after the child's part, as
            error = e                   # one process raises it after writing the row views
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
        elf.warn_log = None
        if go_w is not None:
            os.close(go_w)
        os.close(done_r)
    _end(pid)
    started = reply.startswith(b"w")                   # it said it began writing
    status, _, log = (reply[1:] if started else reply).partition(b"\0")
    if status.startswith(b"errno "):                    # its write failed (after any part)
        errno = int(status[6:])
        raise BrokenPipeError(errno, os.strerror(errno)) if errno == 32 else \
            OSError(errno, os.strerror(errno))
    if started and status != b"ok":                     # killed while writing its part
        raise RuntimeError("the child process writing inspect's symbol and relocation rows "
                           "ended before it finished (its part of the output is cut short)")
    warnings, warned, suppressed, cached = state
    elf.warnings, elf._warned, elf._suppressed = list(warnings), set(warned), suppressed
    for message in before:
        elf.warn(message)
    if status != b"ok":
        # It made nothing (an exception, or it died before writing): one process's way from
        # here, on tables decoded anew, so their warnings come where one process gives them.
        for key in set(elf.__dict__) - cached:
            del elf.__dict__[key]
        for view, part in units[first:]:
            write_view(view, out, part)
        return
    mine = log.decode("utf-8", "surrogatepass").split("\0") if log else []
    for message in (*mine, *after):
        elf.warn(message)
    out.write(rest.getvalue())
    if error is not None:
        raise error


def _child(elf, units, write_view, out, go_r, done_w):
    status, data, log = b"fail", b"", []
    try:
        elf.warn_log = log
        if os.environ.get("ELFKIT_TEST_SPLIT_CHILD") == "fail":
            raise RuntimeError("ELFKIT_TEST_SPLIT_CHILD=fail")
        made = _Pieces()
        for view, part in units:
            write_view(view, made, part)
        data = made.encoded(out.encoding or "utf-8", out.errors or "strict")
        status = b"ok"
    except BaseException:                               # noqa: BLE001 - the parent redoes it
        status = b"fail"
    try:
        if os.read(go_r, 1) != b"g":                    # the parent is gone
            os._exit(1)
        if status == b"ok":
            os.write(done_w, b"w")                      # from here the parent cannot redo it
            fd = out.fileno()
            try:
                _write_all(fd, data)
            except OSError as e:
                status = b"errno %d" % (e.errno or 5)
        os.write(done_w, status + b"\0" + "\0".join(log).encode("utf-8", "surrogatepass"))
    finally:
        os._exit(0)


class _Pieces:
    """The child's output stream: the strings written, kept as they are, then each encoded on
    its own -- one copy of the part in fresh memory, where a StringIO's buffer, its getvalue()
    and the encoded whole made three (25-30 MB each for a large library's JSON, ~20 ms of page
    faults)."""

    def __init__(self):
        self.strings: list[str] = []

    def write(self, text: str) -> int:
        self.strings.append(text)
        return len(text)

    def encoded(self, encoding: str, errors: str) -> list[bytes]:
        out = [text.encode(encoding, errors) for text in self.strings if text]
        self.strings = []
        return out


def _write_all(fd: int, chunks: list[bytes]):
    """All of `chunks`, in order, by writev (up to 512 at a time; short writes resumed)."""
    i = 0
    while i < len(chunks):
        batch = chunks[i:i + 512]
        done = os.writev(fd, batch)
        for chunk in batch:                     # advance past what was written
            if done >= len(chunk):
                done -= len(chunk)
                i += 1
                continue
            chunks[i] = chunk[done:]
            break


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


# What the row views cost, in microseconds, as (text, JSON): a fixed part any process making
# some of a view's rows pays (decoding the table, its names, versions: per row of the whole
# table, or once) and a part per row it makes; measured on libjvm, libclang-14 and
# libclang-cpp. The rest of `--all` (summary, PLT/GOT map, small views) is OTHER_US.
# (Decoding a symbol table's names is about half of its view: splitting one between the two
# processes makes both pay that, so the model splits the relocations rather than a symbol
# table wherever it can.)
_FIXED_PER_ROW = {"relocations": (0.0, 0.0), "symbols": (0.7, 0.7), "dyn_syms": (0.7, 0.8)}
_FIXED = {"relocations": (3000, 3000), "symbols": (0, 0), "dyn_syms": (1000, 1000)}
_PER_ROW = {"relocations": (0.5, 0.6), "symbols": (0.65, 0.9), "dyn_syms": (0.8, 1.1)}
_OTHER_US = 15_000
ROW_VIEWS = ("relocations", "symbols", "dyn_syms")     # adjacent, in this order, in every output


def _plan(elf, views, out, json: bool):
    """(units, first, last): the (view, part) pairs in output order and the child's share,
    units[first..last] -- the last rows of the row views (relocations, symbols, dynamic
    symbols) from a point chosen so both processes have about half the work -- or None when
    one process is to make them all."""
    row_views = [v for v in views if v in ROW_VIEWS]
    if not row_views or not hasattr(os, "fork"):
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
    counts = _table_rows(elf)
    total_rows = sum(counts[v] for v in row_views)
    if total_rows < minimum or total_rows == 0:
        return None
    view, at = _split_point(row_views, counts, json)
    forced = env.get("ELFKIT_TEST_SPLIT_AT")            # the tests' choice: VIEW:ROW
    if forced:
        name, _, row = forced.partition(":")
        if name in row_views:
            view, at = name, max(0, int(row or 0))
    units, mine = [], []                  # (view, part) in output order; the child's indexes
    for v in views:
        if v == view and at > 0:
            units.append((v, (0, at)))
            units.append((v, (at, None)))
            mine.append(len(units) - 1)
            continue
        if v in row_views and row_views.index(v) >= row_views.index(view):
            mine.append(len(units))
        units.append((v, None))
    if not mine or mine != list(range(mine[0], mine[-1] + 1)):
        return None
    return units, mine[0], mine[-1]


def _split_point(row_views, counts, json: bool) -> tuple[str, int]:
    """(view, row): the child makes that view's rows from `row` on and the row views after
    it, the parent everything else, the two costs as close as the model gets them."""
    def fixed(v):
        return _FIXED[v][json] + _FIXED_PER_ROW[v][json] * counts[v]

    def whole(v):
        return fixed(v) + _PER_ROW[v][json] * counts[v]
    child = 0.0
    parent = _OTHER_US + sum(whole(v) for v in row_views)
    for v in reversed(row_views):                       # the child takes views from the end
        if not counts[v]:
            continue
        if child + whole(v) <= parent - whole(v):
            child, parent = child + whole(v), parent - whole(v)
            continue
        # within v: rows k.. to the child, ..k-1 to the parent; both pay fixed(v), so the
        # costs meet where parent_before + k * per == child_before + (n - k) * per
        per = _PER_ROW[v][json]
        k = int((child + per * counts[v] - (parent - whole(v))) / (2 * per))
        return v, min(counts[v], max(0, k))
    return row_views[0], 0


def _table_rows(elf) -> dict[str, int]:
    """The entries of the SHT_RELA/SHT_REL, SHT_SYMTAB and SHT_DYNSYM sections (as the
    relocation, symbol and dynamic symbol views count their rows), from the raw section headers
    (nothing decoded, nothing warned: the views do that, in their order); 0 where they cannot
    be read."""
    counts = dict.fromkeys(ROW_VIEWS, 0)
    h, fmt = elf.header, elf.fmt
    view_of = {SHT.SYMTAB: ("symbols", fmt.sym.size), SHT.DYNSYM: ("dyn_syms", fmt.sym.size),
               SHT.RELA: ("relocations", fmt.rela.size), SHT.REL: ("relocations", fmt.rel.size)}
    try:
        shoff, shnum, entsize = h.shoff, h.shnum, h.shentsize
        if not shoff or not shnum or entsize < fmt.shdr.size or \
                shoff + shnum * entsize > elf.size:
            return counts
        for i in range(min(shnum, 65536)):
            f = fmt.shdr.unpack_from(elf.data, shoff + i * entsize)
            typ, size, ent = f[1], f[5], f[9]      # sh_type, sh_size, sh_entsize (both classes)
            if typ in view_of:
                view, default = view_of[typ]
                counts[view] += size // (ent or default)
    except (AttributeError, struct.error, ValueError):
        pass
    return counts
