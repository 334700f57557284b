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


def all_fixtures() -> list[Path]:
    """Every ELF file the fixture Makefile built (sorted, deterministic)."""
    out = []
    for p in sorted(FIXTURES.rglob("*")):
        if p.is_file():
            with open(p, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    out.append(p)
    return out


def run_elfkit(*args, input=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    """Run the real command line (`python -m elfkit ...`) and capture bytes."""
    return subprocess.run(
        [sys.executable, "-m", "elfkit", *map(str, args)],
        input=input, capture_output=True, env=env, timeout=timeout, cwd=ROOT,
    )
