"""`elfkit trace-plt` against glibc's own account of lazy binding (LD_DEBUG=bindings), against
itself under the two linkers, and exact call counts.

Normalisation for the LD_DEBUG comparison: glibc prints "transferring control" in
__libc_start_main just before main -- after the program's constructors and after
_dl_audit_preinit is bound -- while trace-plt watches from the ELF entry point. So the
bindings trace-plt reports must be exactly those glibc prints after that line, plus bindings
glibc prints before it (made between the entry point and main); anything else fails.
Lines for linux-vdso.so.1 are glibc looking up vDSO functions (dl_vdso_vsym); trace-plt
reports them too, and test_vdso_bindings_are_glibc_s compares them exactly, in order.
"""
import json
import os
import re
import subprocess

import pytest

from conftest import FIXTURES, fixture_path, run_elfkit

ENV = {"LANG": "C", "PATH": "/usr/bin:/bin"}
BINDING = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: normal symbol `([^']+)'(?: \[([^\]]+)\])?")


def ld_debug_bindings(argv):
    """(before, after): sets of (from, to, symbol, version) that glibc reports natively."""
    r = subprocess.run(argv, capture_output=True, env={**ENV, "LD_DEBUG": "bindings"}, timeout=120)
    before, after, seen_transfer = set(), set(), False
    for line in r.stderr.decode(errors="replace").splitlines():
        if "transferring control" in line:
            seen_transfer = True
            continue
        m = BINDING.search(line)
        if m:
            frm, to, sym, ver = m.groups()
            (after if seen_transfer else before).add(
                (os.path.basename(frm), os.path.basename(to), sym, ver))
    assert seen_transfer
    return before, after


def trace(argv, *options):
    r = run_elfkit("trace-plt", "--json", "-o", "/dev/stdout", *options, *argv, env=ENV)
    assert r.returncode == 0, r.stderr
    # the guest's own stdout comes first; the report is the JSON document that follows
    text = r.stdout.decode()
    doc = json.loads(text[text.index('{\n "bindings"'):])
    return doc


def lazy_set(doc):
    return {(b["object"], b["target_object"], b["symbol"], b["version"]) for b in doc["bindings"]}


PROGRAMS = {
    "pltcalls-lazy": lambda: [str(fixture_path("pltcalls-lazy"))],
    "hello-lazy": lambda: [str(fixture_path("hello-lazy"))],
    "ls": lambda: ["/bin/ls", "-la", "/"],
    "sort": lambda: ["/usr/bin/sort", "/etc/passwd"],
    "python3": lambda: ["/usr/bin/python3", "-S", "-c", "print(2**100)"],
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_bindings_are_the_ones_glibc_reports(name):
    argv = PROGRAMS[name]()
    before, after = ld_debug_bindings(argv)
    mine = lazy_set(trace(argv))
    assert after, "glibc reported no lazy binding: nothing compared"
    assert after <= mine, f"missing: {sorted(after - mine)[:5]}"
    extra = mine - after
    assert extra <= before, f"not bindings glibc made: {sorted(extra - before)[:5]}"


def ld_debug_vdso(argv):
    """glibc's vDSO look-ups, in order: [(symbol, version)]."""
    r = subprocess.run(argv, capture_output=True, env={**ENV, "LD_DEBUG": "bindings"}, timeout=120)
    return [(m.group(3), m.group(4)) for line in r.stderr.decode(errors="replace").splitlines()
            if (m := BINDING.search(line)) and m.group(1) == m.group(2) == "linux-vdso.so.1"]


VDSO_PROGRAMS = {
    "python3": lambda: ["/usr/bin/python3", "-S", "-c", "import time; print(int(time.time()) > 0)"],
    "date": lambda: ["/bin/date"],
    "vdsowalk": lambda: [str(fixture_path("vdsowalk"))],
}


@pytest.mark.parametrize("name", sorted(VDSO_PROGRAMS))
def test_vdso_bindings_are_glibc_s(name):
    """Every function glibc takes from the vDSO, natively (LD_DEBUG=bindings) and under
    trace-plt, in the same order: the vDSO exports what the kernel's does."""
    argv = VDSO_PROGRAMS[name]()
    native = ld_debug_vdso(argv)
    assert native, "glibc looked nothing up in the vDSO"
    doc = trace(argv)
    mine = [(b["symbol"], b["version"]) for b in doc["bindings"]
            if b["object"] == b["target_object"] == "linux-vdso.so.1"]
    assert mine == native


LINKER_PROGRAMS = ["calls-lazy", "calls-ibt", "ifunc-lazy", "deps", "tls-gd", "weak", "ver-old"]


@pytest.mark.parametrize("name", LINKER_PROGRAMS)
def test_same_bindings_in_the_same_order_under_both_linkers(name):
    prog = str(FIXTURES / "linker" / name)
    # (glibc's ld.so also looks up its own vDSO pointers, setup_vdso_pointers: not the program's)
    key = [(b["object"], b["target_object"], b["symbol"], b["version"])
           for b in trace([prog], "--linker=system")["bindings"]
           if b["object"] != "linux-vdso.so.1"]
    mine = [(b["object"], b["target_object"], b["symbol"], b["version"])
            for b in trace([prog], "--linker=elfkit")["bindings"]]
    assert key, "no lazy binding under glibc's ld.so"
    assert mine == key


def _calls(doc):
    return {(c["object"], c["symbol"]): c["calls"] for c in doc["calls"]}


@pytest.mark.parametrize("linker", ["system", "elfkit"])
def test_call_counts_are_exact(linker):
    prog = str(FIXTURES / "linker" / "calls-lazy")
    doc = trace([prog], "--calls", f"--linker={linker}")
    calls = _calls(doc)
    assert calls[("calls-lazy", "count_hot")] == 1000
    assert calls[("calls-lazy", "count_warm")] == 3
    assert ("calls-lazy", "count_cold") not in calls
    assert "count_cold" in {s["symbol"] for s in doc["never_called"]}


def test_call_counts_on_a_glibc_program():
    calls = _calls(trace([str(fixture_path("pltcalls-lazy"))], "--calls"))
    prog = "pltcalls-lazy"
    assert (calls[(prog, "strlen")], calls[(prog, "abs")], calls[(prog, "puts")],
            calls[(prog, "snprintf")]) == (1000, 500, 3, 2)


def test_bind_now_program_reports_start_up_bindings_with_the_reason():
    doc = trace([str(fixture_path("pltcalls-now"))])
    mine = [b for b in doc["bindings"] if b["object"] == "pltcalls-now"]
    assert mine == []
    startup = {s["symbol"]: s["reason"] for s in doc["startup"] if s["object"] == "pltcalls-now"}
    for sym in ("strlen", "abs", "puts"):
        assert "BIND_NOW" in startup[sym], startup


def test_text_report_line_format():
    r = run_elfkit("trace-plt", str(fixture_path("pltcalls-lazy")), env=ENV)
    assert r.returncode == 0
    lines = [ln for ln in r.stderr.decode().splitlines() if "strlen@plt" in ln]
    assert lines and re.match(
        r"^\[\d+\] pltcalls-lazy: strlen@plt at 0x[0-9a-f]+ called from 0x[0-9a-f]+; "
        r"GOT 0x[0-9a-f]+ 0x[0-9a-f]+ -> 0x[0-9a-f]+; \.rela\.plt\[\d+\] R_X86_64_JUMP_SLOT; "
        r"strlen@GLIBC_2\.2\.5 => libc\.so\.6\+0x[0-9a-f]+ via IFUNC resolver 0x[0-9a-f]+$",
        lines[0]), lines[0]               # glibc's strlen is an IFUNC: resolver and choice named


@pytest.mark.parametrize("name", ["nolibc", "hello-static"])
def test_static_program_has_nothing_to_bind(name):
    """A static program has no link map and binds nothing lazily (LD_DEBUG=bindings prints
    nothing for it natively): an empty report, the guest's own exit status, no traceback."""
    prog = str(fixture_path(name))
    native = subprocess.run([prog], capture_output=True, env={**ENV, "LD_DEBUG": "bindings"})
    assert "binding file" not in native.stderr.decode()
    r = run_elfkit("trace-plt", "--json", "-o", "/dev/stdout", prog, env=ENV)
    assert r.returncode == native.returncode
    assert "Traceback" not in r.stderr.decode(), r.stderr
    text = r.stdout.decode()
    doc = json.loads(text[text.index('{\n "bindings"'):])
    assert doc["bindings"] == [] and doc["startup"] == []
