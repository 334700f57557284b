"""`elfkit check` against Debian's checksec (the bash script, package `checksec`) on system files.

Field by field on at least 100 ELF files from /usr/bin and
/usr/lib/x86_64-linux-gnu (an even spread over each sorted directory), plus
the fixtures that exist to catch checksec's known mistakes. Every
disagreement must fall in one of the classes below, each decided from
readelf's output rather than elfkit's, or the test fails and names the file:

relro
  object        ET_REL: nothing loads it, so elfkit says n/a; checksec prints "no".
  fake-now      checksec calls RELRO full when `readelf -d` mentions BIND_NOW and a
                GNU_RELRO exists; elfkit also requires the PLT's GOT slots (every
                DT_JMPREL r_offset) to lie inside the page-rounded PT_GNU_RELRO, which is
                what glibc's _dl_protect_relro makes read-only. elfkit is right: those
                slots stay writable (hello-fake-now).
  now-flag-1    DF_1_NOW alone (readelf prints "Flags: NOW", no "BIND_NOW" text): ld.so binds
                eagerly (it checks DF_1_NOW), so RELRO is full; checksec's grep misses it.
canary
  static        statically linked: checksec finds __stack_chk_fail in .symtab (or not, when
                stripped), but libc.a's own objects reference it, so it says nothing about
                the program; elfkit says "unknown" (n/a) unless no protector is linked at all.
  provider      the file defines __stack_chk_fail (it is the C library): checksec says yes
                because the name is in its symbol table; elfkit says n/a.
symbols
  object        ET_REL always has .symtab; the stripped check does not apply (n/a).
fortified / fortify-able (counts)
  checksec's counts come from every .dynsym line (exports and duplicates included), with
  leading underscores stripped, matched against the *host's* libc.so.6 `__*_chk` list.
  elfkit counts distinct imported names against glibc's list. Per symbol:
  defined       checksec counts names the file defines (libc.so.6, the sanitizer runtimes
                define the __*_chk functions themselves): they are not calls to fortify.
  duplicate     the same name on several .dynsym lines (one per version): one function.
  underscore    `__mempcpy`, `__stpcpy`... (glibc-internal aliases) become `mempcpy` after
                checksec strips underscores; nothing fortifies calls to those names.
  longjmp       glibc's bits/setjmp2.h redirects longjmp, _longjmp *and siglongjmp* to
                __longjmp_chk; checksec only knows longjmp, so siglongjmp calls are not
                fortifiable to it. elfkit is right.
  newer-glibc   strlcpy/strlcat/wcslcpy/wcslcat (glibc 2.38) and inet_ntop/inet_pton (2.40)
                have __*_chk variants the host's libc 2.36 lacks; elfkit counts them only
                in files that need that glibc.
Fields that must agree exactly: nx, pie (checksec's yes/no/dso/rel), rpath, runpath.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter

import pytest

from conftest import fixture_path
from elfkit.check import policy as P
from elfkit.check.fortify import CHK_SINCE, CHK_FUNCTIONS
from elfkit.check.runner import check_target
from elfkit.check.tree import Target

DIRS = ("/usr/bin", "/usr/lib/x86_64-linux-gnu")
PER_DIR = 60
FIXTURES = ("hello-pie", "hello-nopie", "hello-static", "hello-static-pie", "hello-norelro",
            "hello-relro-full", "hello-ssp", "hello-fortify", "hello-ssp-fortify", "hello-cet",
            "hello-execstack", "hello-rpath", "hello-runpath", "hello-stripped",
            "hello-fake-now", "hello-nognustack", "hello-norelro-now", "libfixture.so",
            "textrel", "wxseg", "cxxhello")
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def _elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def sample() -> list[str]:
    out = []
    for d in DIRS:
        files = sorted(os.path.join(d, n) for n in os.listdir(d))
        files = [f for f in files if not os.path.islink(f) and os.path.isfile(f) and _elf(f)]
        step = max(1, len(files) // PER_DIR)
        out += files[::step][:PER_DIR]
    return out


def run_checksec(paths, tmp_path) -> dict:
    """checksec --format=json --listfile, two halves in parallel; its JSON for a list is
    not well-formed (a stray '} }' between entries), so entries are cut out one by one."""
    halves = [paths[: len(paths) // 2], paths[len(paths) // 2:]]
    procs = []
    for i, half in enumerate(halves):
        lst = tmp_path / f"list{i}"
        lst.write_text("\n".join(half) + "\n")
        procs.append(subprocess.Popen(["checksec", "--format=json", f"--listfile={lst}"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True))
    out = {}
    for p in procs:
        text, _ = p.communicate(timeout=600)
        for m in re.finditer(r'"([^"]+)": (\{[^{}]*\})', text):
            out[m.group(1)] = json.loads(m.group(2))
    return out


def readelf(*args) -> str:
    return subprocess.run(["readelf", "-W", *args], capture_output=True, text=True,
                          timeout=60).stdout


def dynsyms(path) -> list[tuple[str, str]]:
    """(name with @version, Ndx) per .dynsym line, from readelf."""
    out = []
    for line in readelf("--dyn-syms", path).splitlines():
        f = line.split()
        if len(f) >= 8 and f[0].endswith(":") and f[0][:-1].isdigit():
            out.append((f[7], f[6]))
    return out


def checksec_fortify_model(path, libc_chk) -> tuple[int, int, list[str]]:
    """checksec's FS_ algorithm, replayed: (fortified, fortify-able, counted raw names)."""
    libc_plain = {n.replace("_chk", "") for n in libc_chk}
    checked = unchecked = 0
    counted = []
    for raw, _ in dynsyms(path):
        name = raw.lstrip("_").split("@")[0]
        if name in libc_chk:
            checked += 1
            counted.append(raw)
        elif name in libc_plain:
            unchecked += 1
            counted.append(raw)
    return checked, checked + unchecked, counted


def elfkit_view(path) -> tuple[dict, object]:
    rep = check_target(Target(path, path), P.build({}, use_config=False))
    r = {x.check: x for x in rep.results}
    view = {
        "relro": {"none": "no"}.get(r["relro"].value, r["relro"].value),
        "canary": {"pass": "yes", "fail": "no"}.get(r["canary"].verdict, r["canary"].value),
        "nx": "yes" if r["nx"].verdict == "pass" else "no",
        "pie": {"pie": "yes", "static-pie": "yes", "exec": "no", "static-exec": "no",
                "shared-lib": "dso", "object": "rel"}.get(rep.kind, rep.kind),
        "rpath": "yes" if r["rpath"].evidence.get("entries") else "no",
        "runpath": "yes" if r["runpath"].evidence.get("entries") else "no",
        "symbols": "yes" if r["stripped"].verdict == "fail" else
                   ("n/a" if r["stripped"].verdict == "n/a" else "no"),
    }
    return view, rep


# --- the classes, each decided from readelf ------------------------------------------------
def is_object(path):
    return re.search(r"Type:\s+REL\b", readelf("-h", path)) is not None


def got_slots_outside_relro(path) -> bool:
    relro = re.search(r"GNU_RELRO\s+\S+\s+(0x[0-9a-f]+)\s+\S+\s+\S+\s+(0x[0-9a-f]+)",
                      readelf("-l", path))
    if not relro:
        return False
    start, size = int(relro.group(1), 16), int(relro.group(2), 16)
    end = (start + size) & ~0xFFF
    start &= ~0xFFF
    slots = [int(m.group(1), 16) for m in
             re.finditer(r"^([0-9a-f]+)\s+\S+\s+R_X86_64_JUMP_SLOT", readelf("-r", path), re.M)]
    return any(not start <= s < end for s in slots)


def only_df_1_now(path) -> bool:
    d = readelf("-d", path)
    return "BIND_NOW" not in d and re.search(r"FLAGS_1\).*\bNOW\b", d) is not None


def is_static(path) -> bool:
    return "INTERP" not in readelf("-l", path) and "(NEEDED)" not in readelf("-d", path)


def defines_stack_chk_fail(path) -> bool:
    return any(n.split("@")[0] == "__stack_chk_fail" and ndx != "UND"
               for n, ndx in dynsyms(path))


def explain(field, path, theirs, ours) -> str | None:
    if field in ("relro", "symbols") and is_object(path):
        return "object"
    if field == "relro" and (theirs, ours) == ("full", "partial") and got_slots_outside_relro(path):
        return "fake-now"
    if field == "relro" and (theirs, ours) == ("partial", "full") and only_df_1_now(path):
        return "now-flag-1"
    if field == "canary" and ours == "unknown" and is_static(path):
        return "static"
    if field == "canary" and ours == "provider" and defines_stack_chk_fail(path):
        return "provider"
    return None


def explain_fortify(path, rep, libc_chk) -> tuple[list[str], list[str]]:
    """(reasons, unexplained): per-symbol reasons for any count difference."""
    ev = rep.result("fortify").evidence
    ours = set(ev["fortified"]) | set(ev["unfortified"] or ())
    syms = dynsyms(path)
    _, _, counted = checksec_fortify_model(path, libc_chk)
    multiplicity = Counter(n.split("@")[0] for n, _ in syms)
    ndx = {}
    for n, x in syms:
        ndx.setdefault(n.split("@")[0], set()).add(x)
    reasons, unexplained, seen = [], [], set()
    for raw in counted:                              # counted by checksec, not by elfkit
        name = raw.split("@")[0]
        if name in ours and name not in seen:
            seen.add(name)
            continue
        if name in ours and multiplicity[name] > 1:
            reasons.append("duplicate")
        elif ndx[name] != {"UND"}:
            reasons.append("defined")
        elif name != raw.split("@")[0].lstrip("_") and name not in CHK_FUNCTIONS:
            reasons.append("underscore")
        else:
            unexplained.append(raw)
    theirs = {raw.split("@")[0] for raw in counted}
    plain_since = {p for chk in CHK_SINCE for p in CHK_FUNCTIONS[chk]}
    for name in ours - theirs:                       # counted by elfkit, not by checksec
        if name in ("siglongjmp", "_longjmp"):
            reasons.append("longjmp")
        elif name in plain_since or name in CHK_SINCE:
            reasons.append("newer-glibc")
        else:
            unexplained.append(name)
    return reasons, unexplained


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    if shutil.which("checksec") is None:
        if os.environ.get("CI"):
            pytest.fail("checksec is not installed (apt-get install checksec; .ci/run does)")
        pytest.skip("checksec is not installed (apt-get install checksec)")
    paths = sample() + [str(fixture_path(n)) for n in FIXTURES]
    theirs = run_checksec(paths, tmp_path_factory.mktemp("checksec"))
    libc_chk = {m.group(1) for m in re.finditer(r"__(\w+_chk)@@", readelf("--dyn-syms", LIBC))}
    return paths, theirs, libc_chk


def test_elfkit_agrees_with_checksec_or_says_why(comparison):
    """One test, so the (slow) checksec run happens once per pytest-xdist worker."""
    paths, theirs, libc_chk = comparison
    system = [p for p in paths if p.startswith(DIRS)]
    assert len(system) >= 100
    assert set(paths) <= set(theirs), "checksec skipped some files"
    classes, unexplained = Counter(), []
    for path in paths:
        cs = theirs[path]
        ours, rep = elfkit_view(path)
        for field, value in ours.items():
            if cs[field] == value:
                continue
            why = explain(field, path, cs[field], value)
            if why is None:
                unexplained.append(f"{path}: {field}: checksec {cs[field]!r}, elfkit {value!r}")
            else:
                classes[f"{field}/{why}"] += 1
        ev = rep.result("fortify").evidence
        if ev["unfortified"] is None:                # static: elfkit does not count plain calls
            continue
        model = checksec_fortify_model(path, libc_chk)
        assert (str(model[0]), str(model[1])) == (cs["fortified"], cs["fortify-able"]), \
            f"{path}: the replay of checksec's algorithm does not match checksec"
        mine = (len(ev["fortified"]), len(ev["fortified"]) + len(ev["unfortified"]))
        if mine != model[:2]:
            reasons, left = explain_fortify(path, rep, libc_chk)
            classes.update(f"fortify/{r}" for r in set(reasons))
            unexplained += [f"{path}: fortify: unexplained symbol {s}" for s in left]
    assert not unexplained, "\n".join(unexplained)
    print("disagreement classes:", dict(sorted(classes.items())))
    # the fixtures made for checksec's mistakes are among the explained cases
    fake = str(fixture_path("hello-fake-now"))
    assert theirs[fake]["relro"] == "full" and elfkit_view(fake)[0]["relro"] == "partial"
    static = str(fixture_path("hello-static"))      # built with -fno-stack-protector
    assert theirs[static]["canary"] == "yes" and elfkit_view(static)[0]["canary"] == "unknown"
    assert classes["relro/fake-now"] == 1 and classes["canary/static"] >= 1
