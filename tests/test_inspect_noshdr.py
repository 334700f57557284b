"""A file without section headers: elfkit finds the version tables through PT_DYNAMIC
(DT_VERSYM, DT_VERNEED), where `readelf -V` shows nothing at all.

hello-noshdr is hello-pie with e_shoff/e_shnum/e_shstrndx zeroed
(fixtures/scripts/strip_section_headers.py), so the oracle is readelf -V of
hello-pie: the same bytes, found through its section headers. Normalisation:
the `section` names (null without section headers) are not compared.
"""
import json

from conftest import fixture_path, run_elfkit
from readelf_oracle import Oracle



def test_versions_found_through_the_dynamic_section_match_readelf():
    expected = Oracle(fixture_path("hello-pie")).view("versions")
    r = run_elfkit("inspect", "--versions", "--json", fixture_path("hello-noshdr"))
    assert r.returncode == 0, r.stderr.decode()
    got = json.loads(r.stdout)["versions"]
    assert got["versym"] is not None and got["verneed"] is not None
    assert got["versym"]["entries"] == expected["versym"]["entries"]
    for key in ("address", "offset"):
        assert got["verneed"][key] == expected["verneed"][key]
    assert [{k: v for k, v in e.items() if k in ("version", "file", "count")}
            for e in got["verneed"]["entries"]] == \
           [{k: v for k, v in e.items() if k in ("version", "file", "count")}
            for e in expected["verneed"]["entries"]]
    assert [[(a["name"], a["flags"], a["other"]) for a in e["aux"]] for e in got["verneed"]["entries"]] == \
           [[(a["name"], a["flags"], a["other"]) for a in e["aux"]] for e in expected["verneed"]["entries"]]
