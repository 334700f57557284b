"""A real multi-file C program not written here, linked by `elfkit link` (issue 13): the `brotli`
command-line tool of brotli 1.2.1 (the sdist PyPI ships: c/common, c/dec, c/enc and
c/tools/brotli.c, 36 translation units), compiled with `gcc -O2 -c` and linked with
`gcc -static -B fixtures/ld/` into fixtures/build/brotli/brotli-elfkit, and with plain
`gcc -static` (ld.bfd) into brotli-ld, the oracle (`make -C fixtures brotli`, fixtures/Makefile
"BEGIN brotli"; it needs the network once, so it is not part of `make fixtures`: .ci/run runs
it, and these tests skip until it has been run).

The smoke test is brotli's own, upstream's tests/compatibility_test.sh and
tests/roundtrip_test.sh procedure, re-expressed in Python:

  compatibility  for every tests/testdata/*.compressed* file, `brotli FILE -fdo OUT` and
                 `brotli -dc < FILE` must both give exactly the original, the file named
                 FILE up to ".compressed" (also run with brotli-ld as a sanity check of the
                 oracle itself);
  roundtrip      alice29.txt, asyoulik.txt, lcet10.txt, plrabn12.txt, c/enc/encode.c,
                 c/common/dictionary.h and c/dec/decode.c at qualities 1, 6, 9 and 11:
                 `brotli -fq Q FILE -o X.br` then `brotli X.br -fdo X.unbr`, and the streaming
                 `brotli -cq Q < FILE | brotli -cd`, must give FILE back. Here also: elfkit's
                 executable compresses to exactly the bytes brotli-ld does.

Under `elfkit load-and-run` (an emulator, much slower than native): a few small testdata files
decompressed (streaming and -fdo), and alice29.txt compressed at quality 5 (the same bytes as
brotli-ld natively) and decompressed again. Also `readelf -a -W` has nothing to say on stderr
about brotli-elfkit, and its --version output is brotli-ld's.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, run_elfkit

BRB = FIXTURES / "brotli"
SRC = BRB / "src"
TESTDATA = SRC / "tests" / "testdata"
MINE, REF = BRB / "brotli-elfkit", BRB / "brotli-ld"
BUILD = "make venv && make -C fixtures brotli"

# upstream's roundtrip_test.sh INPUTS, relative to the unpacked sdist
ROUNDTRIP_INPUTS = ["tests/testdata/alice29.txt", "tests/testdata/asyoulik.txt",
                    "tests/testdata/lcet10.txt", "tests/testdata/plrabn12.txt",
                    "c/enc/encode.c", "c/common/dictionary.h", "c/dec/decode.c"]
QUALITIES = [1, 6, 9, 11]
# small enough for the emulator: (compressed file, how it is decompressed)
EMULATED = [("quickfox.compressed", "stream"), ("monkey.compressed", "stream"),
            ("cp852-utf8.compressed", "file"), ("zerosukkanooa.compressed", "stream")]


@pytest.fixture(scope="module", autouse=True)
def built():
    missing = [p for p in (MINE, REF, TESTDATA) if not p.exists()]
    if missing:
        pytest.skip(f"brotli not built ({missing[0].relative_to(FIXTURES.parent.parent)} "
                    f"missing): run `{BUILD}` (needs the network once)")


def _brotli(exe: Path, *args, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *map(str, args)], input=stdin, capture_output=True,
                          timeout=120)


def _expected(compressed: Path) -> Path:
    """tests/testdata/NAME.compressed[.NN] holds tests/testdata/NAME (compatibility_test.sh:
    ${file%.compressed*})."""
    return compressed.with_name(compressed.name.split(".compressed")[0])


def _compressed_files() -> list[Path]:
    files = sorted(TESTDATA.glob("*.compressed*"))
    assert len(files) >= 40, files          # 1.2.1 ships 44
    return files


@pytest.mark.parametrize("exe", [MINE, REF], ids=["brotli-elfkit", "brotli-ld"])
def test_compatibility(exe, tmp_path):
    """Upstream's compatibility_test.sh: every .compressed* file decompresses to its original,
    to a file (-fdo) and streaming (-dc)."""
    failures = []
    for file in _compressed_files():
        want = _expected(file).read_bytes()
        out = tmp_path / (_expected(file).name + ".uncompressed")
        r = _brotli(exe, file, "-fdo", out)
        if r.returncode != 0 or out.read_bytes() != want:
            failures.append(f"{file.name} -fdo: status {r.returncode} {r.stderr[-200:]!r}")
        r = _brotli(exe, "-dc", stdin=file.read_bytes())
        if r.returncode != 0 or r.stdout != want:
            failures.append(f"{file.name} -dc: status {r.returncode} {r.stderr[-200:]!r}")
        out.unlink(missing_ok=True)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("quality", QUALITIES)
def test_roundtrip(quality, tmp_path):
    """Upstream's roundtrip_test.sh at one quality: file mode and streaming, brotli-elfkit
    natively; its compressed bytes are brotli-ld's (in both modes)."""
    failures = []
    for rel in ROUNDTRIP_INPUTS:
        file = SRC / rel
        data = file.read_bytes()
        compressed, uncompressed = tmp_path / (file.name + ".br"), tmp_path / (file.name + ".unbr")
        r1 = _brotli(MINE, "-fq", quality, file, "-o", compressed)
        r2 = _brotli(MINE, compressed, "-fdo", uncompressed)
        if r1.returncode or r2.returncode or not uncompressed.exists() or \
                uncompressed.read_bytes() != data:
            failures.append(f"{rel} q{quality} file mode: {(r1.stderr + r2.stderr)[-300:]!r}")
        stream = _brotli(MINE, "-cq", quality, stdin=data)
        back = _brotli(MINE, "-cd", stdin=stream.stdout)
        if stream.returncode or back.returncode or back.stdout != data:
            failures.append(f"{rel} q{quality} streaming: {back.stderr[-200:]!r}")
        # file mode and streaming differ (window and size hint from the file size); each as ld's
        oracle = tmp_path / (file.name + ".ld.br")
        _brotli(REF, "-fq", quality, file, "-o", oracle)
        if not compressed.exists() or compressed.read_bytes() != oracle.read_bytes():
            failures.append(f"{rel} q{quality} file mode: not brotli-ld's compressed bytes")
        if stream.stdout != _brotli(REF, "-cq", quality, stdin=data).stdout:
            failures.append(f"{rel} q{quality} streaming: not brotli-ld's compressed bytes")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name,mode", EMULATED, ids=[n for n, _ in EMULATED])
def test_decompress_emulated(name, mode, tmp_path):
    file = TESTDATA / name
    want = _expected(file).read_bytes()
    if mode == "stream":
        r = run_elfkit("load-and-run", MINE, "-dc", input=file.read_bytes(), timeout=120)
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
        assert r.stdout == want
    else:
        out = tmp_path / "out"
        r = run_elfkit("load-and-run", "--allow-write", tmp_path, MINE, file, "-fdo", out,
                       timeout=120)
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
        assert out.read_bytes() == want


def test_roundtrip_emulated_quality5(tmp_path):
    data = (TESTDATA / "alice29.txt").read_bytes()
    r = run_elfkit("load-and-run", MINE, "-cq", 5, input=data, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    assert r.stdout == _brotli(REF, "-cq", 5, stdin=data).stdout
    back = run_elfkit("load-and-run", MINE, "-cd", input=r.stdout, timeout=120)
    assert back.returncode == 0, back.stderr.decode(errors="replace")[-2000:]
    assert back.stdout == data


def test_readelf_is_silent():
    r = subprocess.run(["readelf", "-a", "-W", str(MINE)], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr[:2000]


def test_version_matches_ld():
    mine, ref = _brotli(MINE, "--version"), _brotli(REF, "--version")
    assert (mine.returncode, mine.stdout, mine.stderr) == (ref.returncode, ref.stdout,
                                                           ref.stderr)
    assert b"brotli 1.2.1" in mine.stdout
