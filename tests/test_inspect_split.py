"""inspect's two-process split (elfkit/render/split.py): a forked child makes the symbol views
and the tail of the relocation view while the parent makes the rest, on libraries with 20,000
symbols and relocations or more.

Forced on small files too (ELFKIT_INSPECT_SPLIT_MIN=0), every view of the JSON document is
still readelf's (the comparison of test_inspect_readelf), the child's symbol tables in the text
are readelf's own lines, the process really forked (strace), a damaged file's warnings are the
ones a single process gives, in its order, a child that fails leaves the output whole, and
the relocation view cut at any row (each end, a table boundary and beside it) is readelf's.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

from conftest import ROOT, fixture_path, run_elfkit
from readelf_oracle import NotComparable, Oracle, run_readelf
from test_inspect_readelf import VIEWS, Diffs, _fail, _got_segments, compare

FORCED = {**os.environ, "ELFKIT_INSPECT_SPLIT_MIN": "0"}
SERIAL = {**os.environ, "ELFKIT_INSPECT_JOBS": "1"}
ARM64_LIBC = fixture_path("debs") / "arm64" / "lib" / "aarch64-linux-gnu" / "libc.so.6"


def _files():
    files = [str(fixture_path("hello-pie")), str(fixture_path("hello-static")),
             "/usr/lib/x86_64-linux-gnu/libc.so.6"]
    if ARM64_LIBC.exists():
        files.append(str(ARM64_LIBC))
    return files


@pytest.mark.parametrize("path", _files())
def test_split_document_is_readelfs(path):
    proc = run_elfkit("inspect", "--all", "--json", path, env=FORCED)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    orc = Oracle(path)
    for view in VIEWS:
        try:
            expected = orc.view(view)
        except NotComparable:
            continue
        got = doc[view]
        if view == "segments":
            got = _got_segments(got)
        diffs = Diffs()
        compare(expected, got, view, diffs)
        _fail(path, view, diffs)


def _symbol_blocks(text: str) -> dict[str, list[str]]:
    """"Symbol table '.X' contains N entries:" -> its lines, up to the next blank line, with
    blanks collapsed and the names' version decoration dropped ("@VER (N)", "@@VER": the text
    view's column widths and version spelling are not readelf's to the byte;
    test_inspect_readelf and test_split_document_is_readelfs compare versions through the JSON
    document)."""
    blocks, current = {}, None
    for line in text.splitlines():
        if line.startswith("Symbol table '"):
            current = blocks.setdefault(line, [])
        elif current is not None and not line.strip():
            current = None
        elif current is not None:
            words = line.split()
            if len(words) > 1 and words[-1].startswith("(") and words[-1].endswith(")") \
                    and "@" in words[-2]:
                words.pop()
            if len(words) == 8 and words[0] != "Num:":
                words[-1] = words[-1].partition("@")[0]
            current.append(" ".join(words))
    return blocks


@pytest.mark.parametrize("path", _files())
def test_split_symbol_text_is_readelfs(path):
    proc = run_elfkit("inspect", "--all", path, env=FORCED)
    assert proc.returncode == 0, proc.stderr
    ours = _symbol_blocks(proc.stdout.decode())
    theirs = _symbol_blocks(run_readelf(path, "--dyn-syms", "-s"))
    assert ours and ours == theirs
    # the parent's views are around the child's, in readelf -a's order
    text = proc.stdout.decode()
    at = text.index("Symbol table '")
    assert text.rfind("ELF Header:", 0, at) >= 0
    assert ("Version symbols section" in text[at:] or "No version information" in text[at:]
            or "Displaying notes" in text[at:])


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
def test_split_forks_only_on_large_tables(tmp_path):
    def forks(env) -> int:
        log = tmp_path / "strace.txt"
        subprocess.run(["strace", "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o",
                        str(log), sys.executable, "-m", "elfkit", "inspect", "--all",
                        "/usr/lib/x86_64-linux-gnu/libc.so.6"],
                       env=env, capture_output=True, timeout=120, cwd=ROOT)
        return sum("clone" in line or "fork" in line for line in log.read_text().splitlines())
    assert forks(FORCED) == 1
    assert forks(os.environ) == 0           # libc: ~3,000 symbols, under the threshold
    assert forks(SERIAL | {"ELFKIT_INSPECT_SPLIT_MIN": "0"}) == 0


@pytest.fixture(scope="module")
def damaged_symbols(tmp_path_factory):
    """hello-pie with a .symtab name past its string table (a warning of the symbol view, the
    child's) and a .gnu.version_r file name past .dynstr (one of the version view, after it,
    the parent's): one process warns in that order."""
    data = bytearray(fixture_path("hello-pie").read_bytes())
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shnum, = struct.unpack_from("<H", data, 0x3C)
    for i in range(shnum):
        sh_type, = struct.unpack_from("<I", data, shoff + 64 * i + 4)
        offset, = struct.unpack_from("<Q", data, shoff + 64 * i + 24)
        if sh_type == 2:                         # SHT_SYMTAB: entry 3's st_name
            struct.pack_into("<I", data, offset + 3 * 24, 0x7FFFFFF2)
        elif sh_type == 0x6FFFFFFE:              # SHT_GNU_verneed: the first vn_file
            struct.pack_into("<I", data, offset + 4, 0x7FFFFF00)
    path = tmp_path_factory.mktemp("split") / "hello-pie-bad-names"
    path.write_bytes(bytes(data))
    return str(path)


@pytest.mark.parametrize("args", [["--symbols", "--versions"], ["--all"],
                                  ["--symbols", "--versions", "--json"], ["--all", "--json"]],
                         ids=" ".join)
def test_split_warnings_as_one_process_gives_them(damaged_symbols, args):
    argv = ["inspect", *args, damaged_symbols]
    split, serial = run_elfkit(*argv, env=FORCED), run_elfkit(*argv, env=SERIAL)
    assert split.returncode == serial.returncode == 2
    lines = serial.stderr.decode().splitlines()
    assert "symbol name index 0x7ffffff2" in lines[0] and "version string index" in lines[1]
    assert (split.stdout, split.stderr) == (serial.stdout, serial.stderr)


@pytest.fixture(scope="module")
def damaged_headers(tmp_path_factory):
    """The i386 pie-relr fixture with ten bytes of its section headers changed (a case the
    review found): decoding its tables warns, from whichever view decodes them first."""
    data = bytearray(fixture_path("cross/i386/pie-relr").read_bytes())
    shoff, = struct.unpack_from("<I", data, 0x20)
    for at, value in ((15, 57), (70, 68), (117, 224), (119, 119), (169, 45), (347, 163),
                      (381, 54), (439, 169), (447, 90), (450, 181)):
        data[shoff + at] = value
    path = tmp_path_factory.mktemp("split") / "pie-relr-bad-headers"
    path.write_bytes(bytes(data))
    return str(path)


def test_a_failing_child_leaves_the_output_whole(damaged_symbols, damaged_headers):
    """The parent makes the child's part and what follows anew, on tables decoded again, so
    even the warnings come where one process gives them."""
    env = {**FORCED, "ELFKIT_TEST_SPLIT_CHILD": "fail"}
    for path in (damaged_symbols, damaged_headers, "/usr/lib/x86_64-linux-gnu/libc.so.6"):
        for args in (["--all"], ["--all", "--json"]):
            failed, serial = run_elfkit("inspect", *args, path, env=env), \
                run_elfkit("inspect", *args, path, env=SERIAL)
            assert (failed.returncode, failed.stdout, failed.stderr) == \
                (serial.returncode, serial.stdout, serial.stderr), (path, args)


LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def _reloc_rows(path) -> list[int]:
    """The REL/RELA tables' entry counts, from readelf -S."""
    out = []
    for line in run_readelf(path, "-S").splitlines():
        words = line.replace("[ ", "[").split()
        if len(words) > 6 and words[2] in ("RELA", "REL"):
            out.append(int(words[5], 16) // int(words[6], 16))
    return out


def _split_points():
    counts = _reloc_rows(LIBC)
    first, total = counts[0], sum(counts)
    return sorted({0, 1, first - 1, first, first + 1, total - 1, total})


@pytest.mark.parametrize("at", _split_points())
def test_relocation_view_split_at_any_row(at):
    """The relocation view made in two parts, rows before S and from S (S at each end, on a
    table boundary and beside it): the JSON is readelf's, the text as one process writes it."""
    env = {**FORCED, "ELFKIT_TEST_SPLIT_AT": f"relocations:{at}"}
    proc = run_elfkit("inspect", "--relocs", "--dyn-syms", "--json", LIBC, env=env)
    assert proc.returncode == 0, proc.stderr
    diffs = Diffs()
    compare(Oracle(LIBC).view("relocations"), json.loads(proc.stdout)["relocations"],
            "relocations", diffs)
    _fail(LIBC, "relocations", diffs)
    for args in (["--relocs"], ["--all"], ["--relocs", "--json"]):
        split = run_elfkit("inspect", *args, LIBC, env=env)
        serial = run_elfkit("inspect", *args, LIBC, env=SERIAL)
        assert (split.returncode, split.stdout, split.stderr) == \
            (serial.returncode, serial.stdout, serial.stderr), args


def _symbol_points():
    """(view, row) cuts of hello-pie's .symtab and .dynsym: each end, and inside."""
    text = run_readelf(str(fixture_path("hello-pie")), "-S")
    sizes = {}
    for line in text.splitlines():
        words = line.replace("[ ", "[").split()
        if len(words) > 6 and words[2] in ("SYMTAB", "DYNSYM"):
            sizes[words[2]] = int(words[5], 16) // int(words[6], 16)
    out = []
    for view, n in (("symbols", sizes["SYMTAB"]), ("dyn_syms", sizes["DYNSYM"])):
        out += [(view, k) for k in sorted({0, 1, n // 2, n - 1, n})]
    return out


@pytest.mark.parametrize("view,at", _symbol_points())
def test_symbol_views_split_at_any_row(view, at):
    """A symbol view made in two parts (rows before ROW by the parent, from it on by the child,
    with the row views after it): readelf's JSON for both symbol tables and the relocations,
    the text as one process writes it."""
    path = str(fixture_path("hello-pie"))
    env = {**FORCED, "ELFKIT_TEST_SPLIT_AT": f"{view}:{at}"}
    proc = run_elfkit("inspect", "--relocs", "--symbols", "--dyn-syms", "--json", path, env=env)
    assert proc.returncode == 0, proc.stderr
    doc, orc = json.loads(proc.stdout), Oracle(path)
    for name in ("relocations", "symbols", "dyn_syms"):
        diffs = Diffs()
        compare(orc.view(name), doc[name], name, diffs)
        _fail(path, name, diffs)
    for args in (["--symbols", "--dyn-syms"], ["--all"], ["--all", "--json"]):
        split = run_elfkit("inspect", *args, path, env=env)
        serial = run_elfkit("inspect", *args, path, env=SERIAL)
        assert (split.returncode, split.stdout, split.stderr) == \
            (serial.returncode, serial.stdout, serial.stderr), args


def _patched(patch: str, *args, env):
    """`elfkit ARGS` in a Python that first runs `patch` (a failure made on purpose)."""
    code = f"import os, sys, errno\n{patch}\nsys.argv = ['elfkit', *sys.argv[1:]]\n" \
           "from elfkit.cli.main import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          cwd=ROOT, timeout=120, env=env)


def test_no_process_to_fork_means_one_process():
    """fork() failing (EAGAIN at a pids limit) leaves the work to one process, output whole."""
    patch = ("def nofork():\n    raise BlockingIOError(errno.EAGAIN, 'no more processes')\n"
             "os.fork = nofork")
    for args in (["--all", LIBC], ["--all", "--json", LIBC]):
        failed, serial = _patched(patch, "inspect", *args, env=FORCED), \
            run_elfkit("inspect", *args, env=SERIAL)
        assert (failed.returncode, failed.stdout, failed.stderr) == \
            (serial.returncode, serial.stdout, serial.stderr)


def test_an_error_in_a_later_view_comes_after_the_row_views():
    """A view after the row views raising (a bug) gives what one process gives: everything
    before it, the row views included, then the one-line internal error."""
    patch = ("from elfkit.render import inspect_text\n"
             "def boom(elf, out, **kw):\n    out.write('\\nGOT view\\n')\n"
             "    raise RuntimeError('a bug in a later view')\n"
             "inspect_text.WRITERS['got'] = boom")
    split = _patched(patch, "inspect", "--all", LIBC, env=FORCED)
    serial = _patched(patch, "inspect", "--all", LIBC, env=SERIAL)
    assert split.returncode == serial.returncode == 3
    assert (split.stdout, split.stderr) == (serial.stdout, serial.stderr)
    assert b"Symbol table '.dynsym'" in split.stdout


def test_a_child_that_dies_while_writing_is_an_error_not_a_repeat():
    """Once the child has begun writing its part, the parent cannot make it again: a child
    killed then ends the run with one line and exit 3, the output cut short, never doubled."""
    patch = ("from elfkit.render import split\n"
             "def dying(fd, chunks):\n    os.write(fd, chunks[0][:100])\n    os._exit(9)\n"
             "split._write_all = dying")
    killed = _patched(patch, "inspect", "--all", LIBC, env=FORCED)
    serial = run_elfkit("inspect", "--all", LIBC, env=SERIAL)
    assert killed.returncode == 3
    assert len(killed.stderr.decode().strip().splitlines()) == 1
    assert b"ended before it finished" in killed.stderr
    assert serial.stdout.startswith(killed.stdout) and len(killed.stdout) < len(serial.stdout)
