"""Shared test helpers: where the built fixtures are and how to run elfkit."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "build"


def fixture_path(name: str) -> Path:
    """Path of a built fixture; fails (never skips) when it was not built."""
    path = FIXTURES / name
    if not path.exists():
        pytest.fail(f"fixture {name} missing: run `make -C fixtures` (make test does)")
    return path


# Files of other machines (issue 18): build/cross/<machine>/ (fixtures/src/cross/) and the
# unpacked Debian packages of other architectures, build/debs/<arch>/ (`make -C fixtures
# cross-debs`). Tests of other machines find them with cross_fixtures(); the x86 tests that
# walk every fixture do not.
OTHER_MACHINES = ("cross", "debs")
# Not fixtures at all: brotli's sources, its ~36 intermediate objects and its two executables,
# build/brotli/ (`make -C fixtures brotli`, tests/test_link_brotli.py).
NOT_FIXTURES = ("brotli",)


def is_elf(path) -> bool:
    """Does the file start with the ELF magic (False when it cannot be read)?"""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


# The Debian packages of other architectures .ci/packages fetches into build/debs/<arch>/.
DEB_ARCHES = ("arm64", "armhf", "ppc64el", "s390x", "mips64el", "i386")


def deb_sample(arch: str, count: int, first=(), max_bytes: int | None = None) -> list[Path]:
    """Up to `count` regular ELF files of build/debs/<arch> (no symlinks; none above
    `max_bytes`): those matching the `first` globs first, then the rest spread evenly over
    their sorted list. Deterministic; [] when the architecture was not fetched."""
    base = FIXTURES / "debs" / arch
    if not base.is_dir():
        return []
    files = sorted(p for p in base.rglob("*") if p.is_file() and not p.is_symlink()
                   and p.suffix != ".deb" and is_elf(p)
                   and (max_bytes is None or p.stat().st_size <= max_bytes))
    picked = [p for pattern in first for p in sorted(base.glob(pattern)) if p in files]
    rest = [p for p in files if p not in picked]
    want = count - len(picked)
    if want > 0 and rest:
        step = len(rest) / want if len(rest) > want else 1
        picked += [rest[int(i * step)] for i in range(min(want, len(rest)))]
    return picked[:count]


def all_fixtures() -> list[Path]:
    """Every x86 ELF file the fixture Makefile built (sorted, deterministic)."""
    return [p for p in sorted(FIXTURES.rglob("*"))
            if p.is_file()
            and p.relative_to(FIXTURES).parts[0] not in OTHER_MACHINES + NOT_FIXTURES
            and is_elf(p)]


def cross_fixtures(machine: str | None = None) -> list[Path]:
    """The other machines' fixtures, build/cross/<machine>/* (all machines when None)."""
    base = FIXTURES / "cross"
    dirs = [base / machine] if machine else sorted(d for d in base.glob("*") if d.is_dir())
    return [p for d in dirs if d.is_dir() for p in sorted(d.iterdir()) if p.is_file()]


def run_elfkit(*args, input=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    """Run the real command line (`python -m elfkit ...`) and capture bytes."""
    return subprocess.run(
        [sys.executable, "-m", "elfkit", *map(str, args)],
        input=input, capture_output=True, env=env, timeout=timeout, cwd=ROOT,
    )
