"""elfkit.ld.archive against binutils: `ar t` (member names, in order, duplicates kept),
`ar tO` (where each member's data starts), `ar p` (member bytes) and `nm -s` ("Archive
index:", symbol in member, in index order), on the system's archives and on archives made
here with `ar` (long names, thin, no index), `llvm-ar` (64-bit index, BSD names) and by a
small writer of this module (64-bit index, damage). Damaged archives raise ElfFormatError
and nothing else."""
from __future__ import annotations

import glob
import os
import random
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from elfkit.errors import ElfFormatError, ElfkitError, InputError
from elfkit.ld.archive import (NO_INDEX_MESSAGE, archive_from_bytes, display_name,
                               read_archive, require_index)

AR = shutil.which("ar")
NM = shutil.which("nm")
GCC = shutil.which("gcc")
LD = shutil.which("ld")
LLVM_AR = shutil.which("llvm-ar")

needs_binutils = pytest.mark.skipif(not (AR and NM), reason="binutils ar/nm not installed")
needs_gcc = pytest.mark.skipif(not (AR and NM and GCC), reason="gcc/binutils not installed")


def _is_ar(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) in (b"!<arch>\n", b"!<thin>\n")
    except OSError:
        return False


def _libm() -> str:
    for p in sorted(glob.glob("/usr/lib/x86_64-linux-gnu/libm-2.*.a")) + [
            "/usr/lib/x86_64-linux-gnu/libm.a"]:
        if _is_ar(p):                  # libm.a is often a linker script (GROUP ...)
            return p
    return "/usr/lib/x86_64-linux-gnu/libm-2.missing.a"


SYSTEM_ARCHIVES = [
    "/usr/lib/x86_64-linux-gnu/libc.a",
    _libm(),
    "/usr/lib/gcc/x86_64-linux-gnu/12/libgcc.a",
    "/usr/lib/gcc/x86_64-linux-gnu/12/libgcc_eh.a",
    "/usr/lib/x86_64-linux-musl/libc.a",         # Debian's musl-dev
]


def system_archive(path: str) -> str:
    if not _is_ar(path):
        pytest.skip(f"{path} not installed")
    return path


# --- the oracle ----------------------------------------------------------------------------
def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, cwd=cwd, timeout=60)


def ar_t(path, cwd=None) -> list[str]:
    r = run(AR, "t", path, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return os.fsdecode(r.stdout).splitlines()


def ar_tO(path) -> list[tuple[str, int]]:
    """(name, offset of the member's data) from `ar tO`."""
    r = run(AR, "tO", path)
    assert r.returncode == 0, r.stderr
    out = []
    for line in os.fsdecode(r.stdout).splitlines():
        name, _, off = line.rpartition(" ")
        out.append((name, int(off, 16)))
    return out


def ar_p(path, name) -> bytes:
    r = run(AR, "p", path, name)
    assert r.returncode == 0, r.stderr
    return r.stdout


def nm_index(path, cwd=None) -> dict[str, list[str]] | None:
    """nm -s's "Archive index:" as {symbol: [member, ...]} in index order; None without one.
    Only the index is read: nm is stopped at the blank line that ends it."""
    proc = subprocess.Popen([NM, "-s", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=cwd)
    index = None
    try:
        for raw in proc.stdout:
            line = os.fsdecode(raw.rstrip(b"\n"))
            if index is None:
                if line == "Archive index:":
                    index = {}
                elif line:
                    break                # the first member's listing: there is no index
                continue
            if not line:
                break
            sym, sep, member = line.partition(" in ")
            assert sep, line
            index.setdefault(sym, []).append(member)
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()
    return index


def oracle_name(archive, member) -> str:
    """How ar t / nm name a member: a thin archive's by the path it is read from."""
    return member.path if archive.thin else member.name


def our_index(archive) -> dict[str, list[str]]:
    return {sym: [oracle_name(archive, archive.members[i]) for i in idx]
            for sym, idx in archive.symbol_index.items()}


def check_against_binutils(path, cwd=None, data_bytes=4):
    """Members, offsets, index and some members' bytes of `path` against ar/nm."""
    a = read_archive(path)
    assert [oracle_name(a, m) for m in a.members] == ar_t(path, cwd)
    if not a.thin:
        assert [(m.name, m.data_offset) for m in a.members] == ar_tO(path)
        for m in a.members:
            assert m.data_offset == m.offset + 60
            assert len(m.data) == m.size
            assert a.member_at(m.offset) is m
    expected = nm_index(path, cwd)
    assert a.has_index == (expected is not None)
    if expected is not None:
        ours = our_index(a)
        assert list(ours.items()) == list(expected.items())
        # the lazy reading the linker uses (index up front, members on demand) names the
        # same members with the same bytes
        lazy = read_archive(path, lazy=True)
        assert lazy.lazy and not lazy.members
        lazy_index = {sym: [oracle_name(lazy, lazy.member_for(off)) for off in offs]
                      for sym, offs in lazy.symbol_index.items()}
        assert list(lazy_index.items()) == list(expected.items())
        if not a.thin:
            for offs in list(lazy.symbol_index.values())[:50]:
                m = lazy.member_for(offs[0])
                assert bytes(m.data) == bytes(a.member_at(offs[0]).data)
    # a few members' contents (names that occur once, so `ar p` means that member)
    names = [os.path.basename(m.name) for m in a.members]     # ar p matches basenames
    once = [m for m, n in zip(a.members, names) if names.count(n) == 1]
    picks = once if len(once) <= data_bytes else \
        [once[0], once[len(once) // 3], once[2 * len(once) // 3], once[-1]]
    for m in picks:
        assert bytes(m.data) == ar_p(path, m.name), m.name
    return a


# --- system archives -----------------------------------------------------------------------
@needs_binutils
@pytest.mark.parametrize("path", SYSTEM_ARCHIVES, ids=os.path.basename)
def test_system_archive(path):
    path = system_archive(path)
    a = check_against_binutils(path)
    assert a.has_index and not a.thin and a.index_format == "/"
    m = a.members[-1]
    assert display_name(a, m) == f"{path}({m.name})" == a.display_name(m)
    require_index(a)


def test_libc_index_is_fast():
    path = system_archive(SYSTEM_ARCHIVES[0])
    best = min(_timed(read_archive, path) for _ in range(3))
    assert best < 0.25, f"reading {path} took {best * 1000:.0f} ms"


def _timed(fn, *args):
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


# --- archives made here --------------------------------------------------------------------
@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    """Object files compiled by gcc: a.o (foo, bar), a long-named one, m.o (main)."""
    if not (AR and NM and GCC):
        pytest.skip("gcc/binutils not installed")
    d = tmp_path_factory.mktemp("ar")
    sources = {
        "a.c": "int foo(void){return 1;}\nint bar;\nint twice(void){return 2;}\n",
        "a_very_long_member_name.c": "int a_very_long_member_name_fn(void){return 2;}\n"
                                     "int twice2(void){return 3;}\n",
        "odd.c": "char odd_sym[3] = {1, 2, 3};\n",
        "m.c": "int foo(void);\nint main(void){return foo();}\n",
    }
    for name, text in sources.items():
        (d / name).write_text(text)
        r = run(GCC, "-c", "-O0", name, cwd=d)
        assert r.returncode == 0, r.stderr
    (d / "sub").mkdir()
    (d / "lib").mkdir()
    shutil.copy(d / "a.o", d / "sub" / "dup.o")
    shutil.copy(d / "odd.o", d / "sub" / "a.o")        # a second member named a.o
    return d


def make(d: Path, *args) -> None:
    r = run(*args, cwd=d)
    assert r.returncode == 0, r.stderr


def test_long_names(objs):
    make(objs, AR, "rc", "long.a", "a.o", "a_very_long_member_name.o", "odd.o", "sub/a.o")
    a = check_against_binutils(objs / "long.a")
    assert [m.name for m in a.members] == ["a.o", "a_very_long_member_name.o", "odd.o",
                                           "a.o"]
    assert a.symbol_index["foo"] == [0] and a.symbol_index["odd_sym"] == [2, 3]
    assert display_name(a, a.members[1]) == f"{objs / 'long.a'}(a_very_long_member_name.o)"


def test_duplicate_members_and_armap_order(objs):
    make(objs, AR, "rc", "dup.a", "a.o", "odd.o")
    make(objs, AR, "q", "dup.a", "sub/dup.o")        # a.o's symbols again, in member 2
    make(objs, AR, "s", "dup.a")
    a = check_against_binutils(objs / "dup.a")
    assert [m.name for m in a.members] == ["a.o", "odd.o", "dup.o"]
    assert a.symbol_index["foo"] == [0, 2]


def test_thin_archive(objs):
    make(objs, AR, "rcT", "lib/thin.a", "a.o", "a_very_long_member_name.o", "sub/a.o",
         str(objs / "odd.o"))
    a = check_against_binutils(objs / "lib" / "thin.a")
    assert a.thin and a.has_index
    assert [m.name for m in a.members][:3] == ["../a.o", "../a_very_long_member_name.o",
                                               "../sub/a.o"]
    for m in a.members:
        assert m.data_offset is None
        assert bytes(m.data) == Path(m.path).read_bytes()
        assert display_name(a, m) == m.path           # ld names the member's own file


def test_thin_archive_relative_path(objs, monkeypatch):
    make(objs, AR, "rcT", "lib/thin2.a", "a.o", "sub/a.o")
    monkeypatch.chdir(objs)
    a = read_archive("lib/thin2.a")
    assert [m.path for m in a.members] == ar_t("lib/thin2.a") == ["lib/../a.o",
                                                                 "lib/../sub/a.o"]
    assert our_index(a) == nm_index("lib/thin2.a")
    assert bytes(a.members[1].data) == (objs / "sub" / "a.o").read_bytes()


def test_thin_member_missing_or_nested(objs):
    make(objs, AR, "rc", "plain.a", "a.o")
    shutil.copy(objs / "odd.o", objs / "gone.o")
    make(objs, AR, "rcT", "thin3.a", "gone.o", "a.o")
    (objs / "gone.o").unlink()
    a = read_archive(objs / "thin3.a")                  # members are read when needed
    with pytest.raises(InputError, match="gone.o: no such file"):
        a.members[0].data
    assert bytes(a.members[1].data) == (objs / "a.o").read_bytes()
    # a member file that is itself an archive (ar flattens these; write one by hand)
    blob = build_archive([("plain.a", (objs / "plain.a").read_bytes())], thin=True)
    (objs / "nest.a").write_bytes(blob)
    with pytest.raises(ElfFormatError, match="nested"):
        read_archive(objs / "nest.a").members[0].data
    # a member of a nested thin archive: /N:M names
    blob = bytearray(build_archive([("x.o", b"\x7fELF")], thin=True))
    hdr = blob.index(b"/0  ")
    blob[hdr:hdr + 16] = b"/0:68".ljust(16)
    with pytest.raises(ElfFormatError, match="nested thin archives are not supported"):
        archive_from_bytes(bytes(blob), str(objs / "nest2.a"))


def test_no_index_ld_wording(objs):
    make(objs, AR, "rcS", "noidx.a", "a.o")
    a = check_against_binutils(objs / "noidx.a")
    assert not a.has_index and a.symbol_index == {}
    with pytest.raises(ElfFormatError) as e:
        require_index(a)
    assert e.value.message == NO_INDEX_MESSAGE
    assert str(e.value) == f"{objs / 'noidx.a'}: {NO_INDEX_MESSAGE}"
    if LD:
        r = run(LD, "-e", "main", "m.o", "noidx.a", "-o", "m.out", cwd=objs)
        assert r.returncode != 0
        line = os.fsdecode(r.stderr).strip().splitlines()[-1]
        rel = archive_from_bytes((objs / "noidx.a").read_bytes(), "noidx.a")
        with pytest.raises(ElfFormatError) as e:
            require_index(rel)
        assert line.split(": ", 1)[1] == str(e.value)     # "ld: " + ours


def test_empty_archive(tmp_path):
    p = tmp_path / "empty.a"
    p.write_bytes(b"!<arch>\n")
    a = read_archive(p)
    assert a.members == [] and not a.has_index
    require_index(a)                                      # ld accepts an empty archive
    if AR:
        assert ar_t(p) == []


def test_llvm_ar_sym64_and_bsd(objs):
    if not LLVM_AR:
        pytest.skip("llvm-ar not installed")
    env = dict(os.environ, SYM64_THRESHOLD="0")
    r = subprocess.run([LLVM_AR, "rc", "sym64.a", "a.o", "a_very_long_member_name.o",
                        "odd.o"], cwd=objs, env=env, capture_output=True)
    assert r.returncode == 0, r.stderr
    a = check_against_binutils(objs / "sym64.a")
    if (objs / "sym64.a").read_bytes()[8:15] == b"/SYM64/":
        assert a.index_format == "/SYM64/"
    make(objs, LLVM_AR, "--format=bsd", "rc", "bsd.a", "a.o", "a_very_long_member_name.o",
         "odd.o")
    b = read_archive(objs / "bsd.a")
    # binutils reads #1/N names, but not a `#1/12 __.SYMDEF` index: a member, no index
    assert [m.name for m in b.members] == ar_t(objs / "bsd.a")
    assert b.has_index == (nm_index(objs / "bsd.a") is not None)
    for m in b.members[1:]:
        assert bytes(m.data) == ar_p(objs / "bsd.a", m.name) == (objs / m.name).read_bytes()


# --- a writer of GNU archives, for 64-bit indexes and damage ---------------------------------
def _hdr(name: bytes, size: int) -> bytes:
    h = name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"644".ljust(8) \
        + str(size).encode().ljust(10) + b"`\n"
    assert len(h) == 60
    return h


def _pad(b: bytes) -> bytes:
    return b + b"\n" if len(b) & 1 else b


def build_archive(members, index=None, fmt="/", thin=False) -> bytes:
    """A GNU archive of members [(name, data)], with the symbol index [(symbol, member
    number)] in format "/" or "/SYM64/"; thin archives hold names only."""
    table = b""
    fields = []
    for name, _ in members:
        n = name.encode()
        if len(n) > 15 or thin:
            fields.append(b"/%d" % len(table))
            table += n + b"/\n"
        else:
            fields.append(n + b"/")
    word, code = (8, ">Q") if fmt == "/SYM64/" else (4, ">I")
    names = b"".join(s.encode() + b"\0" for s, _ in index or [])
    armap_size = word * (1 + len(index or [])) + len(names)
    pos = 8
    if index is not None:
        pos += 60 + armap_size + (armap_size & 1)
    if table:
        pos += 60 + len(table) + (len(table) & 1)
    offsets = []
    for (_, data) in members:
        offsets.append(pos)
        pos += 60 + (0 if thin else len(data) + (len(data) & 1))
    out = [b"!<thin>\n" if thin else b"!<arch>\n"]
    if index is not None:
        body = struct.pack(code, len(index)) + b"".join(struct.pack(code, offsets[i])
                                                        for _, i in index) + names
        out.append(_hdr(fmt.encode(), len(body)) + _pad(body))
    if table:
        out.append(_hdr(b"//", len(table)) + _pad(table))
    for field, (_, data) in zip(fields, members):
        out.append(_hdr(field, len(data)) + (b"" if thin else _pad(data)))
    return b"".join(out)


def test_synthesized_sym64_against_nm(objs):
    members = [(n, (objs / n).read_bytes()) for n in ("a.o", "a_very_long_member_name.o",
                                                     "odd.o")]
    index = [("foo", 0), ("bar", 0), ("twice", 0), ("a_very_long_member_name_fn", 1),
             ("twice2", 1), ("odd_sym", 2)]
    for fmt in ("/", "/SYM64/"):
        p = objs / f"synth{len(fmt)}.a"
        p.write_bytes(build_archive(members, index, fmt))
        a = check_against_binutils(p)
        assert a.index_format == fmt
        assert a.symbol_index == {s: [i] for s, i in index}


# --- damage -------------------------------------------------------------------------------
def parse(blob: bytes, path="damaged.a"):
    """archive_from_bytes, where only ElfFormatError may escape; None when it raised."""
    try:
        a = archive_from_bytes(blob, path)
    except ElfFormatError as e:
        assert "\n" not in str(e) and str(e).startswith(path + ": ")
        return None
    for m in a.members:
        if not a.thin:
            assert len(m.data) == m.size
    return a


def _small_archives(objs) -> dict[str, bytes]:
    make(objs, AR, "rc", "dmg.a", "a.o", "a_very_long_member_name.o", "odd.o")
    make(objs, AR, "rcT", "dmgthin.a", "a.o", "a_very_long_member_name.o", "odd.o")
    members = [(n, (objs / n).read_bytes()[:301]) for n in ("a.o", "odd.o",
                                                           "a_very_long_member_name.o")]
    return {
        "gnu": (objs / "dmg.a").read_bytes(),
        "thin": (objs / "dmgthin.a").read_bytes(),
        "sym64": build_archive(members, [("foo", 0), ("odd_sym", 1), ("x", 2)], "/SYM64/"),
    }


def _boundaries(blob: bytes) -> set[int]:
    """Offsets where a member header starts (or the file ends), walked independently."""
    thin = blob.startswith(b"!<thin>\n")
    out, pos = {8}, 8
    while pos + 60 <= len(blob):
        name, size = blob[pos:pos + 16].rstrip(), int(blob[pos + 48:pos + 58])
        stored = not thin or name in (b"/", b"//", b"/SYM64/")
        end = pos + 60 + (size if stored else 0)
        out.add(end)                         # the final padding byte may be missing
        pos = end + (end & 1 if stored else 0)
        out.add(pos)
    return out


def test_truncation_sweep(objs):
    for kind, blob in _small_archives(objs).items():
        whole = parse(blob, str(objs / "x.a"))
        assert whole is not None and whole.has_index, kind
        ok = _boundaries(blob)
        for cut in range(len(blob)):
            a = parse(blob[:cut], str(objs / "x.a"))
            if cut not in ok:
                assert a is None, (kind, cut)
            elif a is not None and cut >= 8:
                assert [m.name for m in a.members] == \
                    [m.name for m in whole.members][:len(a.members)]


def test_truncated_system_archive():
    path = system_archive(SYSTEM_ARCHIVES[3])            # libgcc_eh.a: small
    blob = Path(path).read_bytes()
    for cut in list(range(0, 200)) + list(range(200, len(blob), 997)):
        assert parse(blob[:cut]) is None or cut in (8,), cut


def test_bad_size_fields(objs):
    blob = _small_archives(objs)["gnu"]
    headers = [i for i in sorted(_boundaries(blob)) if i + 60 <= len(blob)]
    assert len(headers) >= 4
    for h in headers:
        size = int(blob[h + 48:h + 58])
        for field in (b"", b"12a", b"-5", b"0x10", b"9999999999", str(len(blob)).encode(),
                      str(size + 1).encode(), str(size + 2).encode(),
                      str(max(size - 3, 0)).encode()):
            bad = blob[:h + 48] + field.ljust(10) + blob[h + 58:]
            a = parse(bad)
            if field in (b"", b"12a", b"-5", b"0x10", b"9999999999",
                         str(len(blob)).encode()):
                assert a is None, (h, field)
        bad = blob[:h + 58] + b"X\n" + blob[h + 60:]
        with pytest.raises(ElfFormatError, match="bad member header"):
            archive_from_bytes(bad, "bad.a")


def test_bad_long_names(objs):
    members = [("a_very_long_member_name.o", b"data"), ("b.o", b"xy")]
    blob = build_archive(members, [("s", 0), ("t", 1)])
    assert parse(blob).members[0].name == "a_very_long_member_name.o"
    h = blob.index(b"/0 ")
    for ref, why in ((b"/27", "outside the long-name table"),
                     (b"/99999", "outside the long-name table"),
                     (b"/0x", "bad member name"), (b"/1-", "bad member name")):
        bad = blob[:h] + ref.ljust(16) + blob[h + 16:]
        with pytest.raises(ElfFormatError, match=why):
            archive_from_bytes(bad, "bad.a")
    # a long-name reference without a long-name table
    blob = build_archive([("b.o", b"xy")])
    h = blob.index(b"b.o/")
    with pytest.raises(ElfFormatError, match="has none"):
        archive_from_bytes(blob[:h] + b"/0".ljust(16) + blob[h + 16:], "bad.a")
    # an index or long-name table out of place
    blob = build_archive([("b.o", b"xy"), ("c.o", b"z")])
    h = blob.index(b"c.o/")
    for name in (b"/", b"//", b"/SYM64/"):
        with pytest.raises(ElfFormatError, match="out of place"):
            archive_from_bytes(blob[:h] + name.ljust(16) + blob[h + 16:], "bad.a")


def test_bad_index(objs):
    members = [("a.o", b"abcd"), ("b.o", b"xyz")]
    for fmt, word, code in (("/", 4, ">I"), ("/SYM64/", 8, ">Q")):
        blob = build_archive(members, [("s", 0), ("t", 1)], fmt)
        a = parse(blob)
        assert a.symbol_index == {"s": [0], "t": [1]} and a.member_at(a.members[1].offset)
        start = 8 + 60
        first_off = start + word
        for value, why in ((0x7FFFFFFF, "outside the file"), (len(blob) + 10, "outside"),
                           (9, "where no member starts"), (0, "where no member starts")):
            bad = blob[:first_off] + struct.pack(code, value) + blob[first_off + word:]
            with pytest.raises(ElfFormatError, match=why):
                archive_from_bytes(bad, "bad.a")
        for count in (3, 4, 1000, 2 ** (8 * word) - 1):
            bad = blob[:start] + struct.pack(code, count) + blob[start + word:]
            assert parse(bad) is None, (fmt, count)
        # an index smaller than its count field
        bad = build_archive(members, [], fmt)
        bad = bad[:8] + _hdr(fmt.encode(), 2) + b"\0\0" + bad[8 + 60 + word:]
        assert parse(bad) is None
        with pytest.raises(ElfFormatError, match="no archive member starts"):
            a.member_at(12345)


def test_random_corruption(objs):
    rng = random.Random(13)
    for kind, blob in _small_archives(objs).items():
        positions = [p for h in sorted(_boundaries(blob)) for p in range(h, h + 60)
                     if p < len(blob)]
        for _ in range(1500):
            bad = bytearray(blob)
            for p in rng.sample(positions, rng.randint(1, 3)):
                bad[p] = rng.choice(b"0123456789 /`\n\0\xffa:#-")
            parse(bytes(bad))                    # anything but ElfFormatError fails


def test_not_an_archive(tmp_path):
    for content, why in ((b"\x7fELF\2\1\1" + bytes(60), "not an archive"),
                         (b"!<arch", "truncated archive"), (b"!<ar", "truncated archive"),
                         (b"!<thinX\n", "not an archive")):
        p = tmp_path / "x.a"
        p.write_bytes(content)
        with pytest.raises(ElfFormatError, match=why):
            read_archive(p)
    (tmp_path / "e.a").write_bytes(b"")
    with pytest.raises(ElfFormatError, match="empty file"):
        read_archive(tmp_path / "e.a")
    with pytest.raises(InputError, match="no such file"):
        read_archive(tmp_path / "missing.a")
    with pytest.raises(InputError, match="is a directory"):
        read_archive(tmp_path)
    assert issubclass(ElfFormatError, ElfkitError)


def test_lazy_reading_of_damaged_index_entries():
    """The lazy reader trusts no index entry: each one pointing anywhere (inside a member,
    at the index itself, past the end) gives ElfFormatError when the member is asked for,
    never another exception and never a member that is not one."""
    path = system_archive("/usr/lib/gcc/x86_64-linux-gnu/12/libgcc_eh.a")
    data = bytearray(open(path, "rb").read())
    count = struct.unpack_from(">I", data, 68)[0]
    rng = random.Random(5)
    good = read_archive(path)
    starts = {m.offset for m in good.members}
    for _ in range(300):
        bad = bytearray(data)
        k = rng.randrange(count)
        off = rng.choice([rng.randrange(len(data)), rng.randrange(8, 200), len(data) + 5,
                          rng.choice(sorted(starts)) + rng.randrange(1, 60)])
        struct.pack_into(">I", bad, 72 + 4 * k, off)
        try:
            a = archive_from_bytes(bytes(bad), path, lazy=True)
            for offs in a.symbol_index.values():
                for o in offs:
                    m = a.member_for(o)
                    assert o in starts, f"offset {o:#x} read as member {m.name}"
        except ElfFormatError:
            pass
