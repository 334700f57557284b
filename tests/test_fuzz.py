"""issue 14's fuzzing budget in the regular suite: a fixed, deterministic slice of the
campaign `make fuzz` runs (elfkit/fuzz), every target, and every kept crashing input.

Each input is a mutation of a real file made from (target, seed, index) alone, run as the
campaign runs it (a child forked from this process, time-limited, address space capped); a
failure (traceback, "internal error", hang, memory blow-up, elfkit killed by a signal) fails
the test with the input's id, which `python -m elfkit.fuzz --replay ID --keep FILE` turns
back into the bytes and the verdict. The budget is split into chunks so that pytest -n
spreads it over the cores (about a minute on 2 cores).

tests/fuzz_regressions/*.json: the inputs the campaigns found crashing, minimised to the
fewest recipe steps that crashed (elfkit/fuzz/mutate.py's recipe language, resolved against
the base file's own headers, so a rebuilt fixture gives the same damage), each with what it
did before its fix.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from elfkit.fuzz import targets as T

SEED = 14
# inputs per target, in chunks of CHUNK: the parsers' commands cost ~0.05 s an input, the
# guest runs ~0.2 s, a link ~0.04 s
BUDGET = {"inspect": 500, "inspect-json": 400, "check": 400, "disasm": 400, "link": 600,
          "load-and-run": 120, "load-and-run-elfkit": 120, "trace-plt": 80}
CHUNK = {"load-and-run": 40, "load-and-run-elfkit": 40, "trace-plt": 40}
REGRESSIONS = sorted((Path(__file__).parent / "fuzz_regressions").glob("*.json"))


def _chunks():
    for name, n in BUDGET.items():
        size = CHUNK.get(name, 100)
        for start in range(0, n, size):
            yield pytest.param(name, start, min(n, start + size),
                               id=f"{name}[{start}:{start + size}]")


@pytest.fixture(scope="module")
def workdir():
    T.preload()
    d = tempfile.mkdtemp(prefix="elfkit-fuzz-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("name,start,stop", list(_chunks()))
def test_fuzz_budget(workdir, name, start, stop):
    target = T.TARGETS[name]
    if not target.bases():
        pytest.skip(f"no base file of {name} is built (make -C fixtures)")
    failures = []
    for index in range(start, stop):
        inp = T.Input(target, SEED, index)
        v = T.run_input(inp, workdir)
        if v.failure:
            last = v.stderr.strip().splitlines()[-1:] or [""]
            failures.append(f"{inp.id} {v.failure} (base {T.relpath(inp.source)}, recipe "
                            f"{json.dumps(inp.recipe)}): {last[0][:300]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.stem for p in REGRESSIONS])
def test_fuzz_regression(workdir, path):
    case = json.loads(path.read_text())
    base = case["base"]
    if not (Path(base) if base.startswith("/") else T.ROOT / base).exists():
        pytest.skip(f"{base} is not built (make -C fixtures)")
    inp = T.recipe_input(case["target"], base, case["recipe"], case.get("victim"))
    v = T.run_input(inp, workdir)
    assert v.failure is None, f"{path.name}: {v.failure}: {v.stderr.strip()[-500:]}"
    for text in case.get("expect_stderr", []):
        assert text in v.stderr, f"{path.name}: {text!r} not in {v.stderr!r}"
    if "expect_status" in case:
        assert v.status == case["expect_status"], (path.name, v.status, v.stderr)
    if "expect_signal" in case:                # (elfkit dies by the guest's signal, as natively)
        assert v.signal == case["expect_signal"], (path.name, v.status, v.signal, v.stderr)


def test_guest_execve_of_a_damaged_elf_fails_with_enoexec(tmp_path):
    """Found by the budget above (load-and-run-elfkit:14:7 before its workdir was cleaned per
    input: procs-nolibc-dyn exec'ed a 52-byte `nolibc` left there): a guest's execve of an ELF
    file too short for its header killed the process with "elfkit internal error in
    execve: ElfFormatError". The kernel's execve returns ENOEXEC; the shell says so."""
    import subprocess
    import sys
    short = tmp_path / "short"
    short.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(45))
    short.chmod(0o755)
    r = subprocess.run([sys.executable, "-m", "elfkit", "load-and-run", "--timeout", "20",
                        "/bin/sh", "-c", f"{short}; echo status=$?"],
                       capture_output=True, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 0 and b"status=126" in r.stdout, (r.returncode, r.stdout, err)
    assert "internal error" not in err and "Exec format error" in err, err


class _RecordingPool:
    """Stands in for the worker pool: records which inputs a campaign asks for."""

    def __init__(self):
        self.asked = []

    def imap(self, _fn, jobs, chunksize=1):
        for name, seed, index in jobs:
            self.asked.append(index)
            yield index, {"failure": None, "status": 0, "signal": None, "stderr": "",
                          "seconds": 0.01}, None


def test_shards_split_the_inputs_exactly(tmp_path):
    """`--shard K/N` (CI matrix runners): the N shards run disjoint sets of indices whose union
    is the whole campaign's, each shard resumes from its own state file (a shard stopped part
    way and run again asks for none twice), and the report's figures add the shards up."""
    from elfkit.fuzz import campaign as C
    inputs, n = 23, 4
    seen = []
    for k in range(1, n + 1):
        pool = _RecordingPool()
        C.run_target(pool, "inspect", inputs // 2, 3, tmp_path, shard=(k, n))   # stopped part way
        C.run_target(pool, "inspect", inputs, 3, tmp_path, shard=(k, n))         # resumed
        assert all(i % n == k - 1 for i in pool.asked), (k, pool.asked)
        assert len(pool.asked) == len(set(pool.asked)), (k, pool.asked)
        seen += pool.asked
    assert sorted(seen) == list(range(inputs))
    total = C.gathered_state(tmp_path, "inspect", 3)
    assert total["ran"] == inputs and total["outcomes"] == {"exit 0": inputs}
