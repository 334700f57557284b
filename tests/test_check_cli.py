"""`elfkit check` on the command line: exit codes, policies and pyproject, formats, trees, shards, jobs.

Every run is the real CLI in a subprocess (`python -m elfkit check ...`),
so exit codes and stdout/stderr are what a CI job sees.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import FIXTURES, ROOT, fixture_path


def check(*args, cwd=None, env=None):
    proc = subprocess.run([sys.executable, "-m", "elfkit", "check", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def check_json(*args, **kw):
    proc = check("--format", "json", *args, **kw)
    return proc, json.loads(proc.stdout)


@pytest.fixture
def tree(tmp_path):
    """A small tree: two ELF files, a text file, a symlink, a nested directory."""
    d = tmp_path / "tree"
    (d / "sub").mkdir(parents=True)
    shutil.copy(fixture_path("hello-pie"), d / "hello-pie")
    shutil.copy(fixture_path("hello-nopie"), d / "sub" / "hello-nopie")
    (d / "README.txt").write_text("not an ELF file\n")
    os.symlink("hello-pie", d / "link-to-pie")
    return d


# --- exit codes ----------------------------------------------------------------------------
def test_exit_0_when_every_required_check_passes():
    proc = check("--no-config", fixture_path("hello-pie"), fixture_path("hello-relro-full"))
    assert proc.returncode == 0, proc.stdout
    assert "2 passed, 0 failed" in proc.stdout


def test_exit_1_when_a_required_check_fails():
    proc = check("--no-config", fixture_path("hello-pie"), fixture_path("hello-nopie"))
    assert proc.returncode == 1
    line = next(l for l in proc.stdout.splitlines() if "hello-nopie" in l)
    assert line.rstrip().endswith("FAIL pie")


def test_exit_2_for_missing_input(tmp_path):
    proc = check("--no-config", fixture_path("hello-pie"), tmp_path / "nope")
    assert proc.returncode == 2
    assert "no such file" in proc.stdout


@pytest.mark.parametrize("args", [["--require", "pie,bogus"], ["--ignore", "nope"],
                                  ["--checks", "relro,xyz"], ["--relro", "most"],
                                  ["--max-glibc", "two"], ["--max-isa", "v9"],
                                  ["--shard", "3/2"], ["--rpath-allow", "anywhere"], []])
def test_exit_2_for_usage_errors(args):
    proc = check("--no-config", *args, *([fixture_path("hello-pie")] if args else []))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip()


def test_malformed_files_are_findings_not_crashes(tmp_path):
    data = fixture_path("hello-pie").read_bytes()
    d = tmp_path / "bad"
    d.mkdir()
    for cut in (20, 64, 0x200, 0x1000, len(data) // 2, len(data) - 100):
        (d / f"cut-{cut}").write_bytes(data[:cut])
    garbage = bytearray(data)
    garbage[0x20:0x28] = (len(data) * 4).to_bytes(8, "little")       # e_phoff past the end
    (d / "bad-phoff").write_bytes(bytes(garbage))
    proc, doc = check_json("--no-config", d)
    assert proc.returncode == 1
    by_name = {os.path.basename(f["path"]): f for f in doc["files"]}
    assert len(by_name) == 7
    assert by_name["cut-20"]["status"] == "malformed" and "truncated" in by_name["cut-20"]["error"]
    assert by_name["cut-64"]["status"] == "fail"          # header readable, the rest is damage
    for f in by_name.values():
        assert f["checks"]["well-formed"]["verdict"] == "fail"
        assert f["checks"]["well-formed"]["message"]


# --- trees ---------------------------------------------------------------------------------
def test_directories_are_recursed_and_non_elf_counted(tree):
    proc, doc = check_json("--no-config", tree)
    assert sorted(f["relpath"] for f in doc["files"]) == ["hello-pie", "sub/hello-nopie"]
    s = doc["summary"]
    assert (s["not_elf"], s["symlinks_skipped"], s["files"], s["failed"]) == (1, 1, 2, 1)
    assert proc.returncode == 1
    # a symlink named on the command line is followed
    _, doc = check_json("--no-config", tree / "link-to-pie")
    assert [f["status"] for f in doc["files"]] == ["pass"]


def test_exclude(tree):
    _, doc = check_json("--no-config", "--exclude", "sub/*", tree)
    assert [f["relpath"] for f in doc["files"]] == ["hello-pie"]
    assert doc["summary"]["excluded"] == 1


def test_shards_split_deterministically(tmp_path):
    """Every file lands in exactly one shard, and the split does not depend on the working
    directory or on how the argument is spelled (the key is the path below the argument)."""
    seen = {}
    for k in (1, 2, 3):
        _, doc = check_json("--no-config", "--shard", f"{k}/3", "fixtures/build")
        _, doc2 = check_json("--no-config", "--shard", f"{k}/3", FIXTURES, cwd=tmp_path)
        a = [f["relpath"] for f in doc["files"]]
        assert a == [f["relpath"] for f in doc2["files"]]
        for rel in a:
            assert rel not in seen
            seen[rel] = k
    _, whole = check_json("--no-config", "fixtures/build")
    assert sorted(seen) == sorted(f["relpath"] for f in whole["files"])
    assert len(set(seen.values())) == 3


def test_jobs_give_the_same_report():
    _, one = check_json("--no-config", "--policy", "strict", "fixtures/build")
    _, two = check_json("--no-config", "--policy", "strict", "--jobs", "2", "fixtures/build")
    assert one["files"] == two["files"] and one["summary"] == two["summary"]


def test_progress_bar_does_not_touch_stdout():
    proc, doc = check_json("--no-config", "--progress", "fixtures/build")
    assert doc["summary"]["files"] > 20


# --- policies ------------------------------------------------------------------------------
def test_pyproject_table_in_the_nearest_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.elfkit.check]\npreset = "strict"\n'
        'ignore = ["cet-ibt", "cet-shstk", "fortify"]\nmax-glibc = "2.17"\n')
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    proc, doc = check_json(fixture_path("hello-ssp"), cwd=sub)
    pol = doc["policy"]
    assert pol["name"] == "strict" and pol["max_glibc"] == "2.17"
    assert "cet-ibt" not in pol["require"] and "canary" in pol["require"]
    assert str(tmp_path / "pyproject.toml") in pol["sources"][1]
    assert doc["files"][0]["failed"] == ["relro"]           # strict wants full RELRO
    # flags override the file
    proc, doc = check_json("--relro", "partial", fixture_path("hello-ssp"), cwd=sub)
    assert proc.returncode == 0 and doc["files"][0]["failed"] == []
    # --no-config ignores it
    _, doc = check_json("--no-config", fixture_path("hello-ssp"), cwd=sub)
    assert doc["policy"]["name"] == "default"


@pytest.mark.parametrize("table", ['require = ["pie", "no-such-check"]', 'colour = "yes"',
                                   'max-glibc = "2.x"', 'preset = "lenient"'])
def test_bad_pyproject_is_exit_2(tmp_path, table):
    (tmp_path / "pyproject.toml").write_text(f"[tool.elfkit.check]\n{table}\n")
    proc = check(fixture_path("hello-pie"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "pyproject.toml" in proc.stderr and proc.stderr.count("\n") == 1


def test_list_checks():
    proc = check("--no-config", "--policy", "manylinux2014", "--list-checks")
    assert proc.returncode == 0
    assert "* glibc-version" in proc.stdout and "  pie " in proc.stdout


# --- output formats ------------------------------------------------------------------------
def test_json_document_keys():
    _, doc = check_json("--no-config", fixture_path("hello-pie"), fixture_path("textrel"))
    assert set(doc) == {"elfkit", "arguments", "policy", "shard", "summary", "files",
                        "unreadable"}
    f = doc["files"][1]
    assert set(f) == {"path", "relpath", "status", "kind", "machine", "failed", "error",
                      "warnings", "checks"}
    from elfkit.check.registry import IDS
    assert list(f["checks"]) == list(IDS)
    for c in f["checks"].values():
        assert set(c) == {"verdict", "required", "value", "message", "evidence"}
        assert c["verdict"] in ("pass", "fail", "n/a")
    assert f["checks"]["textrel"]["evidence"]["tags"] == ["DT_TEXTREL", "DT_FLAGS TEXTREL"]
    assert f["failed"] == ["textrel"]


def test_table_colour_only_when_asked_or_on_a_terminal():
    plain = check("--no-config", fixture_path("hello-nopie"))
    assert "\x1b[" not in plain.stdout
    coloured = check("--no-config", "--color", fixture_path("hello-nopie"))
    assert "\x1b[" in coloured.stdout


def test_verbose_explains_failures():
    proc = check("--no-config", "-v", fixture_path("hello-execstack"))
    assert "    nx: PT_GNU_STACK asks for an executable stack" in proc.stdout


def test_junit():
    proc = check("--no-config", "--format", "junit", fixture_path("hello-pie"),
                 fixture_path("hello-nopie"))
    root = ET.fromstring(proc.stdout)
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert int(root.get("tests")) == len(cases) == 2 * 23      # every check, x86 n/a ones too
    failures = [(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None]
    assert failures == [(str(fixture_path("hello-nopie")), "pie")]
    assert int(suite.get("failures")) == 1
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert int(suite.get("skipped")) == len(skipped) > 0


def test_output_file(tmp_path):
    out = tmp_path / "report.sarif"
    proc = check("--no-config", "--format", "sarif", "-o", out, fixture_path("hello-nopie"))
    assert proc.returncode == 1 and proc.stdout == ""
    assert json.loads(out.read_text())["version"] == "2.1.0"
