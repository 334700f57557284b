"""`elfkit check` verdicts on the fixture matrix: each hardening flag on and off, and files that lie.

Expected values follow from how each fixture is built (fixtures/Makefile and
the compile line in each source); the matrix is the issue's "each hardening
flag on and off". Checks run in-process through the same runner the CLI uses.
"""
from __future__ import annotations

import pytest

from conftest import fixture_path
from elfkit.check import policy as P
from elfkit.check.runner import check_target
from elfkit.check.tree import Target

LIMITS = {"max-glibc": "2.17", "max-glibcxx": "3.4.19", "max-cxxabi": "1.3.7", "max-isa": "v2"}


def report(name, **flags):
    pol = P.build({**LIMITS, **flags}, use_config=False)
    path = fixture_path(name)
    return check_target(Target(str(path), name), pol)


def verdicts(name, **flags):
    return {r.check: (r.verdict, r.value) for r in report(name, **flags).results}


# fixture -> {check: (verdict, value)}; checks not named are asserted elsewhere.
MATRIX = {
    "hello-pie": {"pie": ("pass", "PIE"), "nx": ("pass", "yes"), "relro": ("pass", "partial"),
                  "canary": ("fail", "no"), "fortify": ("fail", "0/3"), "cet-ibt": ("fail", "no"),
                  "cet-shstk": ("fail", "no"), "execstack": ("pass", "no"),
                  "textrel": ("pass", "no"), "wx-segments": ("pass", "none"),
                  "rpath": ("pass", "none"), "runpath": ("pass", "none"),
                  "stripped": ("fail", "no"), "debug-info": ("pass", "no"),
                  "isa-level": ("pass", "baseline"), "well-formed": ("pass", "yes")},
    "hello-nopie": {"pie": ("fail", "no"), "relro": ("pass", "partial")},
    "hello-static": {"pie": ("fail", "no"), "canary": ("n/a", "unknown"),
                     "fortify": ("n/a", "unknown"), "textrel": ("n/a", "static"),
                     "glibc-version": ("n/a", "static")},
    "hello-static-pie": {"pie": ("pass", "static-PIE"), "relro": ("pass", "partial")},
    "hello-norelro": {"relro": ("fail", "none")},
    "hello-relro-partial": {"relro": ("pass", "partial")},
    "hello-relro-full": {"relro": ("pass", "full")},
    "hello-now": {"relro": ("pass", "full")},
    "hello-norelro-now": {"relro": ("fail", "none")},
    "hello-ssp": {"canary": ("pass", "yes"), "fortify": ("fail", "0/3")},
    "hello-fortify": {"canary": ("fail", "no"), "fortify": ("pass", "3/3")},
    "hello-ssp-fortify": {"canary": ("pass", "yes"), "fortify": ("pass", "3/3")},
    "hello-cet": {"cet-ibt": ("pass", "yes"), "cet-shstk": ("pass", "yes")},
    "hello-execstack": {"nx": ("fail", "no"), "execstack": ("fail", "yes")},
    "hello-nognustack": {"nx": ("fail", "no GNU_STACK"), "execstack": ("fail", "default")},
    "hello-rpath": {"rpath": ("pass", "$ORIGIN/lib:$ORIGIN"), "runpath": ("pass", "none")},
    "hello-runpath": {"runpath": ("pass", "$ORIGIN/lib:$ORIGIN"), "rpath": ("pass", "none")},
    "hello-rpath-abs": {"rpath": ("pass", "/opt/elfkit/lib")},
    "hello-runpath-rel": {"runpath": ("fail", "lib:/opt/elfkit/lib")},
    "hello-stripped": {"stripped": ("pass", "yes")},
    "hello-noshdr": {"stripped": ("pass", "yes"), "relro": ("pass", "partial"),
                     "glibc-version": ("fail", "2.34")},
    "hello-isa-v3": {"isa-level": ("fail", "v3")},
    "textrel": {"textrel": ("fail", "yes"), "wx-segments": ("pass", "none")},
    "wxseg": {"wx-segments": ("fail", "1 RWX"), "textrel": ("pass", "no")},
    "cxxhello": {"glibcxx-version": ("fail", "3.4.21"), "cxxabi-version": ("pass", "1.3"),
                 "glibc-version": ("fail", "2.34")},
    "libfixture.so": {"pie": ("n/a", "DSO"), "glibc-version": ("pass", "2.3"),
                      "fortify": ("n/a", "0/0")},
    "usefixture": {"runpath": ("pass", "$ORIGIN")},
    "corehello": {"debug-info": ("fail", "yes")},
    "hello-musl": {"pie": ("fail", "no"), "build-id": ("fail", "none")},
    "nolibc": {"canary": ("fail", "no"), "relro": ("fail", "none")},
    "hello32": {"pie": ("pass", "PIE"), "nx": ("pass", "yes")},
    "reloc.o": {"pie": ("n/a", "n/a"), "execstack": ("pass", "no"), "canary": ("fail", "no"),
                "stripped": ("n/a", "n/a")},
    "core.hello": {"pie": ("n/a", "n/a"), "relro": ("n/a", "n/a"), "build-id": ("n/a", "n/a")},
}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_matrix(name):
    got = verdicts(name)
    want = MATRIX[name]
    assert {c: got[c] for c in want} == want


def test_kinds():
    kinds = {n: report(n).kind for n in ("hello-pie", "hello-nopie", "hello-static",
                                          "hello-static-pie", "libfixture.so", "reloc.o",
                                          "core.hello")}
    assert kinds == {"hello-pie": "pie", "hello-nopie": "exec", "hello-static": "static-exec",
                     "hello-static-pie": "static-pie", "libfixture.so": "shared-lib",
                     "reloc.o": "object", "core.hello": "core"}


def test_fake_bind_now_is_not_full_relro():
    """hello-fake-now claims BIND_NOW (DT_FLAGS) and even has DT_PLTGOT inside PT_GNU_RELRO
    (ld ends RELRO 24 bytes into .got.plt), but its JUMP_SLOT entries stay writable."""
    rep = report("hello-fake-now", relro="full")
    r = rep.result("relro")
    assert (r.verdict, r.value) == ("fail", "partial")
    assert r.evidence["bind_now"] == ["DT_FLAGS BIND_NOW"]
    start, end = r.evidence["protected"]
    assert r.evidence["got_outside"] and all(not start <= a < end for a in r.evidence["got_outside"])
    assert "outside" in r.message
    # the honest full-RELRO build passes the same policy
    assert report("hello-relro-full", relro="full").result("relro").verdict == "pass"


def test_inspect_summary_uses_the_same_relro_rule():
    from elfkit.check.hardening import relro
    from elfkit.elf import ElfFile
    assert relro(ElfFile.open(fixture_path("hello-fake-now"))) == "partial"
    assert relro(ElfFile.open(fixture_path("hello-relro-full"))) == "full"
    assert relro(ElfFile.open(fixture_path("hello-norelro-now"))) == "none"


def test_fortify_evidence_names_functions():
    ev = report("hello-pie").result("fortify").evidence
    assert ev["fortified"] == [] and ev["unfortified"] == ["memcpy", "printf", "sprintf"]
    ev = report("hello-fortify").result("fortify").evidence
    assert ev["fortified"] == ["__memcpy_chk", "__printf_chk", "__sprintf_chk"]


def test_fortify_ignores_stack_chk_and_unrelated_chk_names():
    from elfkit.check.fortify import classify
    fortified, plain = classify({"__stack_chk_fail", "__chk_fail", "__gmpz_chk", "foo_chk",
                                 "__memcpy_chk", "strcpy", "puts"})
    assert fortified == ["__memcpy_chk"] and plain == ["strcpy"]
    # hello-ssp imports __stack_chk_fail and nothing fortified
    assert report("hello-ssp").result("fortify").evidence["fortified"] == []


def test_glibc_limit_names_the_symbols():
    r = report("hello-pie").result("glibc-version")
    assert r.verdict == "fail" and r.evidence["highest"] == "2.34"
    assert r.evidence["limit"] == "2.17"
    assert any(s.endswith("@GLIBC_2.34") for s in r.evidence["symbols"])
    assert report("hello-pie", **{"max-glibc": "2.34"}).result("glibc-version").verdict == "pass"


def test_needed_allow_list():
    r = report("usefixture", **{"needed-allow": ["libc.so.6"]}).result("needed")
    assert r.verdict == "fail" and r.evidence["disallowed"] == ["libfixture.so"]
    r = report("usefixture", **{"needed-allow": ["libc.so.6", "libfixture.*"]}).result("needed")
    assert r.verdict == "pass"


def test_rpath_kinds_follow_policy():
    strict = P.build({}, "strict", use_config=False)
    rep = check_target(Target(str(fixture_path("hello-rpath")), "x"), strict)
    assert rep.result("rpath").verdict == "fail"          # strict allows no DT_RPATH at all
    rep = check_target(Target(str(fixture_path("hello-runpath")), "x"), strict)
    assert rep.result("runpath").verdict == "pass"        # $ORIGIN-only RUNPATH is fine
    rep = check_target(Target(str(fixture_path("hello-rpath-abs")), "x"), strict)
    assert rep.result("rpath").evidence["entries"] == [{"path": "/opt/elfkit/lib",
                                                         "kind": "absolute"}]


def test_required_flags_and_status():
    rep = report("hello-nopie")
    assert rep.status == "fail" and rep.failed == ["pie"]
    rep = report("hello-pie")
    assert rep.status == "pass" and rep.failed == []
    assert {r.check for r in rep.results if r.required} == set(P.PRESETS["default"].require)


def test_every_fixture_checks_without_error():
    from conftest import all_fixtures
    pol = P.build({}, "strict", use_config=False)
    for path in all_fixtures():
        rep = check_target(Target(str(path), path.name), pol)
        assert rep.status in ("pass", "fail"), (path, rep.error)
        assert rep.result("well-formed").verdict == "pass", (path, rep.warnings)


@pytest.mark.parametrize("name", ["hello-pie", "libfixture.so", "hello32", "hello-noshdr"])
def test_hostile_inputs_are_findings_never_errors(name, tmp_path):
    """Truncations at every header boundary and corrupted fields (tests/hostile.py): each
    file gets a report -- malformed, or checked with its damage under well-formed -- and
    never an internal error."""
    import hostile
    data = fixture_path(name).read_bytes()
    pol = P.build({"max-glibc": "2.17", "needed-allow": ["libc.so.6"]}, "strict",
                  use_config=False)
    path = tmp_path / "case"
    seen = set()
    for case in hostile.all_corruptions(data, every_section=False) + hostile.truncations(data):
        path.write_bytes(case.data)
        rep = check_target(Target(str(path), case.id), pol)
        assert rep.status in ("pass", "fail", "malformed", "not-elf"), (case.id, rep.error)
        if rep.status == "malformed":
            assert rep.error and rep.failed == ["well-formed"]
        elif rep.warnings:
            assert rep.result("well-formed").verdict == "fail", case.id
        seen.add(rep.status)
    assert {"fail", "malformed"} <= seen
