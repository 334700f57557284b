"""`elfkit link` on damaged objects: a deterministic mutation run over the link fixtures'
objects (fixtures/build/link/relocs and tls): bits flipped, files cut short, section-header
fields set to 0, all-ones or random values, symbol and relocation entries overwritten.

Every input must end in an ElfkitError (the one-line report, exit 1 or 2) or a finished link;
never another exception (the CLI would print "internal error", exit 3), and a failed link
writes no output file. The link runs in-process (elfkit.ld.driver.run) so that a few hundred
inputs take seconds; the CLI's edge is tested once on a damaged file at the end.

Where each fix came from: an FDE's relocation naming a symbol past the table, a GOTTPOFF in
a section that is not loaded, an alignment of 2**63, a COMMON alignment that is no power of
two, a TLS offset past 32 bits in a relaxed sequence, a .eh_frame CIE of an unknown version,
a stray SHF_ALLOC on a .comment (a segment no header was counted for).
"""
from __future__ import annotations

import io
import random

import pytest

from conftest import FIXTURES, run_elfkit
from elfkit.errors import ElfkitError
from elfkit.ld import driver

PROGRAMS = ["relocs", "tls"]
BUDGET = 800                     # inputs per program (the long run: issue 14's `make fuzz`)


def _objects(prog):
    d = FIXTURES / "link" / prog
    if not (d / "objects").is_file():
        pytest.skip("make -C fixtures link")
    return [d / line.strip() for line in (d / "objects").read_text().splitlines() if line.strip()]


def _mutate(rng, data: bytearray) -> bytearray:
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randrange(1, 8)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind == 1:
        data = data[:rng.randrange(len(data))]
    elif kind == 2:
        shoff = int.from_bytes(data[0x28:0x30], "little")
        shnum = int.from_bytes(data[0x3C:0x3E], "little")
        if shnum:
            field, width = rng.choice([(4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 4),
                                       (44, 4), (48, 8), (56, 8)])
            at = shoff + 64 * rng.randrange(shnum) + field
            if at + width <= len(data):
                data[at:at + width] = rng.choice([b"\xff" * width, bytes(width),
                                                  rng.randbytes(width)])
    else:
        i = rng.randrange(max(1, len(data) - 24))
        data[i:i + 24] = rng.randbytes(24)
    return data


@pytest.mark.parametrize("prog", PROGRAMS)
def test_damaged_objects_never_crash_the_linker(tmp_path, prog):
    objs = _objects(prog)
    rng = random.Random(prog)
    out = tmp_path / "out"
    linked = refused = 0
    for k in range(BUDGET):
        victim = rng.randrange(len(objs))
        data = _mutate(rng, bytearray(objs[victim].read_bytes()))
        bad = tmp_path / f"{k}-{objs[victim].name}"
        bad.write_bytes(bytes(data))
        inputs = [str(bad if i == victim else o) for i, o in enumerate(objs)]
        out.unlink(missing_ok=True)
        try:
            driver.run(["-static", "-e", "_start", "-o", str(out), *inputs],
                       out=io.StringIO(), err=io.StringIO())
            linked += 1
        except ElfkitError as e:
            refused += 1
            assert e.one_line().strip() and not out.exists(), e.one_line()
        except Exception as e:           # noqa: BLE001 - the failure this test looks for
            pytest.fail(f"input {k} ({objs[victim].name} mutated, kept at {bad}): "
                        f"{type(e).__name__}: {e}")
        else:
            bad.unlink()
    assert linked and refused, (linked, refused)


def test_cli_edge_on_a_damaged_object(tmp_path):
    obj = _objects("relocs")[0]
    bad = tmp_path / "cut.o"
    bad.write_bytes(obj.read_bytes()[:100])
    r = run_elfkit("link", "-o", tmp_path / "x", bad)
    err = r.stderr.decode()
    assert r.returncode in (1, 2) and err.count("\n") == 1 and "cut.o" in err, err
    assert "Traceback" not in err and not (tmp_path / "x").exists()
