"""`elfkit inspect --all --json FILE` against GNU readelf -W (binutils 2.40).

One test per (file, view).  Files: every built fixture (all_fixtures(): core
files, ELF32, relocatable objects and files without section headers
included) and a deterministic sample of ELF files from /usr/bin and
/usr/lib/x86_64-linux-gnu (see system_sample()).  The expected values come
from tests/readelf_oracle.py, whose docstring lists every normalisation made
between readelf's text and the JSON contract of docs/JSON.md.  Only keys the
oracle can derive from readelf's text are compared; everything it can derive
is compared exactly.

elfkit runs once per file and process (module-level cache), readelf once per
file, flag set and process.  With xdist use

    .venv/bin/python -m pytest -n auto --dist loadgroup tests/test_inspect_readelf.py

(every test of one file carries xdist_group(<file>), so --dist loadgroup keeps
a file's tests on one worker and elfkit runs once per file; plain -n auto
works too, it may just run elfkit for a file on both workers).

Environment knobs: ELFKIT_READELF_SAMPLE (sample size, default 220),
ELFKIT_READELF_MAX_MB (size cap of sampled files, default 30),
ELFKIT_READELF_EXTRA (more files to compare, separated by ':').
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import ROOT, all_fixtures, is_elf, run_elfkit
from readelf_oracle import NotComparable, Oracle

VIEWS = ["header", "segments", "sections", "symbols", "dyn_syms", "dynamic",
         "relocations", "notes", "versions"]

SAMPLE_ROOTS = ["/usr/bin", "/usr/lib/x86_64-linux-gnu"]
SAMPLE_SIZE = int(os.environ.get("ELFKIT_READELF_SAMPLE", "220"))
MAX_BYTES = int(float(os.environ.get("ELFKIT_READELF_MAX_MB", "30")) * 1024 * 1024)
MAX_SHOWN = 8          # differing entries shown in a failure message


# --------------------------------------------------------------------------
# which files


def system_candidates() -> list[str]:
    """Regular ELF files under SAMPLE_ROOTS, sorted; symlinks skipped, hard
    links counted once, files above MAX_BYTES skipped."""
    seen = set()
    out = []
    for root in SAMPLE_ROOTS:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if os.path.islink(path):
                    continue
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if not os.path.isfile(path) or st.st_size > MAX_BYTES:
                    continue
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                if is_elf(path):
                    out.append(path)
    return sorted(out)


def system_sample() -> list[str]:
    """SAMPLE_SIZE files picked with a fixed stride over the sorted list."""
    cands = system_candidates()
    if len(cands) <= SAMPLE_SIZE:
        return cands
    return [cands[i * len(cands) // SAMPLE_SIZE] for i in range(SAMPLE_SIZE)]


def _file_id(path) -> str:
    p = Path(path)
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


FIXTURE_FILES = [str(p) for p in all_fixtures()]
SYSTEM_FILES = system_sample()
EXTRA_FILES = [p for p in os.environ.get("ELFKIT_READELF_EXTRA", "").split(os.pathsep) if p]


def _params():
    out = []
    for path in FIXTURE_FILES + SYSTEM_FILES + EXTRA_FILES:
        fid = _file_id(path)
        for view in VIEWS:
            out.append(pytest.param(path, view, id=f"{fid}::{view}",
                                    marks=pytest.mark.xdist_group(fid)))
    return out


# --------------------------------------------------------------------------
# running elfkit (once per file and process)

_DOCS: dict = {}
_ORACLES: dict = {}


def elfkit_doc(path: str) -> dict:
    if path not in _DOCS:
        proc = run_elfkit("inspect", "--all", "--json", path)
        try:
            doc = json.loads(proc.stdout.decode("utf-8", "surrogateescape"))
            err = None
        except ValueError as e:
            doc = None
            err = (f"elfkit exited {proc.returncode}, stdout is not JSON ({e}); "
                   f"stderr: {proc.stderr.decode(errors='replace')[-2000:]}")
        _DOCS[path] = (doc, err)
    doc, err = _DOCS[path]
    if err:
        pytest.fail(err)
    return doc


def oracle(path: str) -> Oracle:
    if path not in _ORACLES:
        _ORACLES[path] = Oracle(path)
    return _ORACLES[path]


# --------------------------------------------------------------------------
# comparison

class Diffs:
    def __init__(self):
        self.items: list[str] = []
        self.count = 0

    def add(self, msg: str):
        self.count += 1
        if len(self.items) < MAX_SHOWN:
            self.items.append(msg)


def _label(entry) -> str:
    if isinstance(entry, dict):
        for key in ("name", "section", "tag_name", "symbol_name", "type_name", "owner", "file"):
            if entry.get(key) is not None:
                return f"({key}={entry[key]!r})"
    return ""


def compare(exp, got, where: str, diffs: Diffs):
    """Every key of `exp` must be in `got` with an equal value (recursively;
    keys starting with '_' are oracle bookkeeping and skipped)."""
    if isinstance(exp, dict):
        if not isinstance(got, dict):
            diffs.add(f"{where}: expected an object, got {_short(got)}")
            return
        for key, val in exp.items():
            if key.startswith("_"):
                continue
            if key not in got:
                diffs.add(f"{where}: key {key!r} missing (expected {_short(val)})")
                continue
            compare(val, got[key], f"{where}.{key}", diffs)
    elif isinstance(exp, list):
        if not isinstance(got, list):
            diffs.add(f"{where}: expected a list, got {_short(got)}")
            return
        if len(exp) != len(got):
            diffs.add(f"{where}: {len(exp)} entries expected, got {len(got)}")
        for i, (e, g) in enumerate(zip(exp, got)):
            compare(e, g, f"{where}[{i}]{_label(e)}", diffs)
    else:
        if type(exp) is bool or type(got) is bool:
            same = type(exp) is type(got) and exp == got
        else:
            same = exp == got
        if not same:
            diffs.add(f"{where}: expected {_short(exp)}, got {_short(got)}")


def _short(v, limit=160) -> str:
    s = json.dumps(v) if not isinstance(v, str) else repr(v)
    return s if len(s) <= limit else s[:limit] + "..."


def _fail(path: str, view: str, diffs: Diffs):
    if diffs.count:
        more = f"\n  ... and {diffs.count - len(diffs.items)} more" if diffs.count > len(diffs.items) else ""
        pytest.fail(f"{diffs.count} difference(s) between elfkit and readelf -W in "
                    f"view {view!r} of {path}:\n  " + "\n  ".join(diffs.items) + more,
                    pytrace=False)


# per-view adjustments of elfkit's side (each one is documented in the
# oracle's docstring: readelf cannot show more than this)

def _got_segments(got):
    if not isinstance(got, list):
        return got
    out = []
    for seg in got:
        if isinstance(seg, dict):
            seg = dict(seg)
            if isinstance(seg.get("type_name"), str):
                seg["type_name"] = seg["type_name"][:14]
            if isinstance(seg.get("flags"), int):
                seg["flags"] &= 7
        out.append(seg)
    return out


def _check_dynamic_strings(exp, got, diffs: Diffs):
    """elfkit's d_val of a string entry must point at the string readelf
    printed (offsets found in readelf -x's dump of the string table)."""
    if not exp or not isinstance(got, dict):
        return
    for i, (e, g) in enumerate(zip(exp["entries"], got.get("entries") or [])):
        offs = e.get("_string_offsets")
        if offs is None or not isinstance(g, dict):
            continue
        if g.get("value") not in offs:
            diffs.add(f"dynamic.entries[{i}]({e['tag_name']}={e['string']!r}): value "
                      f"{g.get('value')!r} does not point at that string in the string "
                      f"table (it occurs at {offs[:5]})")


@pytest.mark.parametrize("path,view", _params())
def test_inspect_matches_readelf(path, view):
    orc = oracle(path)
    try:
        expected = orc.view(view)
    except NotComparable as e:
        pytest.skip(f"{view} of {_file_id(path)}: {e}")
    doc = elfkit_doc(path)
    if view not in doc:
        pytest.fail(f"elfkit's document has no {view!r} key (keys: {sorted(doc)})")
    got = doc[view]
    diffs = Diffs()
    if view == "segments":
        got = _got_segments(got)
    if view == "relocations" and not orc.has_section_headers() and isinstance(got, list):
        got = sorted(got, key=lambda t: t.get("offset", 0) if isinstance(t, dict) else 0)
    if view == "dynamic":
        if expected is None or got is None:
            if expected is not got:
                diffs.add(f"dynamic: expected {_short(expected)}, got {_short(got)}")
            _fail(path, view, diffs)
            return
        _check_dynamic_strings(expected, got, diffs)
    compare(expected, got, view, diffs)
    _fail(path, view, diffs)


def test_fixtures_are_built():
    """The fixture half of the comparison must not vanish silently."""
    assert FIXTURE_FILES, "no fixtures under fixtures/build: run `make -C fixtures`"


def test_system_sample_is_large_enough():
    assert len(SYSTEM_FILES) >= min(200, SAMPLE_SIZE), (
        f"only {len(SYSTEM_FILES)} ELF files found under {SAMPLE_ROOTS}")
