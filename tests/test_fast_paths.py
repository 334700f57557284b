"""elfkit reads private fields of Unicorn (elfkit/kernel/cpu.py: FAST_PATHS) and falls back
quietly when a release moves them. pyproject.toml pins the release they were verified on;
`python -m elfkit.kernel.cpu --check-fast-paths`, which `make test` runs before pytest, says
which are on, and warns loudly (a banner, exit status still 0) when any is off.
"""
from __future__ import annotations

import io
import re
import subprocess
import sys
from importlib import metadata

from conftest import ROOT


def pinned_unicorn() -> str:
    """The release pyproject.toml's dependencies name (a line `"unicorn==X.Y.Z",`)."""
    (spec,) = re.findall(r'^\s*"(unicorn\b[^"]*)"', (ROOT / "pyproject.toml").read_text(), re.M)
    m = re.fullmatch(r"unicorn==([0-9.]+)", spec.replace(" ", ""))
    assert m, f"unicorn is not pinned to one release: {spec!r}"
    return m.group(1)


def test_the_installed_unicorn_is_the_pinned_one():
    assert metadata.version("unicorn") == pinned_unicorn()


def test_every_fast_path_is_on_with_the_pinned_unicorn():
    from elfkit.kernel.cpu import fast_paths
    paths = fast_paths()
    assert len(paths) >= 5
    assert [name for name, _, on, _ in paths if not on] == []


def test_the_check_says_so_in_one_line():
    p = subprocess.run([sys.executable, "-m", "elfkit.kernel.cpu", "--check-fast-paths"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert (p.returncode, p.stderr) == (0, "")
    assert p.stdout.startswith(f"elfkit: Unicorn {pinned_unicorn()}: every fast path is on (")
    assert p.stdout.count("\n") == 1


def test_the_check_warns_loudly_when_one_is_off(monkeypatch):
    """What `make test` shows on a Unicorn whose check_exit_request no longer starts the way
    elfkit reads it: a banner naming each fast path that is off and what it costs."""
    from elfkit.kernel import cpu as cpu_mod
    monkeypatch.setattr(cpu_mod, "_no_exit_request", lambda lib: None)
    out, err = io.StringIO(), io.StringIO()
    assert cpu_mod.check_fast_paths(out, err) is False
    assert out.getvalue() == ""
    banner = err.getvalue().splitlines()
    assert banner[0] == banner[-1] == "#" * 78
    assert banner[1].startswith("WARNING: elfkit's Unicorn fast paths are OFF")
    off = [line for line in banner if line.startswith("  - ")]
    # (the instruction counter is looked for below that field: it goes too)
    assert [line.split(" (")[0] for line in off] == \
        ["  - per-access exit check off", "  - instruction counter"]
    assert "--max-insns is refused" in off[1]


def test_the_check_warns_when_no_cpu_can_be_made(monkeypatch):
    from elfkit.kernel import cpu as cpu_mod

    def broken():
        raise AssertionError("nargs must not exceed value of 15 (got 0)")
    monkeypatch.setattr(cpu_mod, "Cpu", broken)
    err = io.StringIO()
    assert cpu_mod.check_fast_paths(io.StringIO(), err) is False
    assert "WARNING: elfkit cannot start a CPU" in err.getvalue()


def test_make_test_runs_the_check_just_before_pytest():
    recipe = []
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("test:"))
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip().lstrip("@"))
    check = next(i for i, c in enumerate(recipe) if "elfkit.kernel.cpu --check-fast-paths" in c)
    pytest_at = next(i for i, c in enumerate(recipe) if "-m pytest" in c)
    assert check == pytest_at - 1
