"""The parsers' property under hypothesis (issue 14): any bytes given to elfkit/elf, and
rendered as `inspect --all` renders them, end in output or in ElfkitError -- never another
exception (elfkit/fuzz/parsers.py, `parse_everything`).

Two strategies: bytes of any kind (mostly refused at the header), and real files -- a PIE, a
library, an object, an ELF32 program -- with some of their bytes in the headers and tables
replaced, where the parsers' deeper paths are. A failure is shrunk by hypothesis to a minimal
example and printed with it. Deterministic (derandomize): the same examples on every run.
"""
from __future__ import annotations

from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from conftest import FIXTURES  # noqa: E402
from elfkit.fuzz.parsers import parse_everything  # noqa: E402

BASES = [FIXTURES / n for n in ("hello-pie", "libfixture.so", "reloc.o", "hello32", "nolibc")]
BASES = [p.read_bytes() for p in BASES if p.is_file()] or [Path("/usr/bin/true").read_bytes()]
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(st.binary(max_size=2048))
def test_any_bytes(data):
    parse_everything(data)


@SETTINGS
@given(st.binary(min_size=64, max_size=4096))
def test_any_bytes_behind_an_elf64_header(data):
    parse_everything(b"\x7fELF\x02\x01\x01" + bytes(9) + data)


@st.composite
def edited_files(draw):
    base = draw(st.sampled_from(BASES))
    buf = bytearray(base)
    front = min(len(buf), 8192)              # headers, dynamic, symbol and version tables
    for _ in range(draw(st.integers(1, 12))):
        off = draw(st.integers(0, front - 1))
        raw = draw(st.binary(min_size=1, max_size=8))
        buf[off:off + len(raw)] = raw
    if draw(st.booleans()):
        del buf[draw(st.integers(0, len(buf))):]
    return bytes(buf)


@SETTINGS
@given(edited_files())
def test_real_files_with_bytes_replaced(data):
    parse_everything(data)
