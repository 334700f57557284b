"""`elfkit check` on other machines: every verdict against facts read by readelf, and checksec.

Files: the cross fixtures (fixtures/build/cross/MACHINE/, one directory per machine:
aarch64 arm riscv64 ppc64le ppc64 ppc s390x mips mips64el sparc64 i386) and the unpacked
Debian packages of other architectures (fixtures/build/debs/ARCH/: libc6 and coreutils,
every ELF file in them). A missing directory is skipped, never failed.

Oracle: one `readelf -W -h -l -d -S -s -n -V` per file (the host's readelf decodes every
machine), parsed here; the expected verdicts are derived from those facts with the rules
below, written down independently of elfkit's code:

nx / execstack
  PT_GNU_STACK present: pass iff its flags have no E. Missing: pass only where both the
  kernel (elf_read_implies_exec and VM_STACK_DEFAULT_FLAGS of arch/*/include/asm) and
  glibc (DEFAULT_STACK_PERMS in sysdeps/*/stackinfo.h) default to a non-executable stack:
  AArch64, RISC-V, PowerPC64 (and LoongArch). Objects: `.note.GNU-stack` with X fails,
  without X passes, missing passes only where GNU ld does not take it as a request for
  an executable stack -- the same machines (ld 2.40, checked by linking a note-less
  object on each).
relro
  none without PT_GNU_RELRO; full when BIND_NOW (DT_BIND_NOW, FLAGS BIND_NOW or FLAGS_1
  NOW) and every GOT section ld.so writes lies inside PT_GNU_RELRO rounded down to pages
  at both ends (the worst case over page sizes: the start to 4 KiB, the end to the
  machine's largest Linux base page -- 64 KiB AArch64, PowerPC, MIPS; 8 KiB SPARC64;
  4 KiB others -- but no larger than the largest PT_LOAD alignment); partial otherwise.
  GOT sections: .got and .got.plt, plus .plt where the PLT is data ld.so writes
  (PowerPC64, 32-bit PowerPC, SPARC).
canary / fortify
  undefined .dynsym names (.symtab for objects), versions cut, PowerPC64 ELFv1 dots cut.
  Fortified: `__X_chk` (also `__nldbl___X_chk`, `__X_chkieee128`) among the `_chk`
  functions this architecture's libc.so.6 exports (read from its .dynsym); unfortified:
  the plain names of those (and `_longjmp`, `siglongjmp` for `__longjmp_chk`).
pie, rpath, runpath, textrel, wx-segments, stripped, build-id, glibc-version
  from the ELF type, FLAGS_1 PIE / DEBUG and PT_INTERP; Library rpath/runpath; TEXTREL;
  PT_LOAD flags RWE; a .symtab section; "Build ID:"; the newest GLIBC_ in .gnu.version_r
  (policy max-glibc 2.17).
cet-ibt, cet-shstk, bti, pac
  "x86 feature: IBT, SHSTK" on x86, "AArch64 feature: BTI, PAC" on AArch64, n/a elsewhere.

checksec (the bash script) runs readelf too, so it works on every machine, but several of
its rules are x86-centric; it is compared field by field where meaningful:
  pie, rpath, runpath, symbols   must agree exactly;
  canary                         must agree except where elfkit says n/a (static, the C
                                 library itself);
  nx                             must agree when PT_GNU_STACK exists; when it is missing
                                 checksec always says "no" (x86's default), which is
                                 wrong on AArch64, RISC-V and PowerPC64;
  relro                          "no" iff elfkit none, "full" whenever elfkit full;
                                 checksec's "full" on a file elfkit calls partial must be
                                 a BIND_NOW file whose GOT sections lie outside the
                                 protected pages (readelf facts): RISC-V .got after the
                                 RELRO end, the SPARC PLT, the MIPS GOT;
  fortify                        checksec matches names against the *host's* (x86-64)
                                 libc list; only fortify_source yes/no is compared, and
                                 not for files that define the __*_chk functions. It
                                 takes the name from field 8 of `readelf --dyn-syms`, but
                                 PowerPC64 ELFv2 lines carry "[<localentry>: 8]" before
                                 the Ndx, so checksec never sees a name there and says
                                 "no": allowed when every fortified import is such a
                                 line.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import DEB_ARCHES, FIXTURES, cross_fixtures
from elfkit.check import policy as P
from elfkit.check.runner import check_target
from elfkit.check.tree import Target

CROSS = FIXTURES / "cross"
DEBS = FIXTURES / "debs"
CROSS_MACHINES = ("aarch64", "arm", "riscv64", "ppc64le", "ppc64", "ppc", "s390x", "mips",
                  "mips64el", "sparc64", "i386")

pytestmark = pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf")

# readelf's "Machine:" text -> facts about that machine, as the kernel, glibc and ld define
# them (sources in docs/CHECK.md, "Per machine").
NX_DEFAULT = {"AArch64", "RISC-V", "PowerPC64", "LoongArch"}
MAX_PAGE = {"AArch64": 65536, "PowerPC64": 65536, "PowerPC": 65536, "MIPS R3000": 65536,
            "LoongArch": 65536, "Sparc v9": 8192}
PLT_IS_DATA = {"PowerPC64", "PowerPC", "Sparc v9", "Sparc"}
X86 = {"Advanced Micro Devices X86-64", "Intel 80386"}
CANARY = {"__stack_chk_fail", "__stack_chk_guard", "__stack_chk_fail_local"}
CHK_RE = re.compile(r"(?:__nldbl_)?(__\w+_chk)(?:ieee128)?")
POLICY = P.build({"max-glibc": "2.17"}, use_config=False)


# --- readelf facts -------------------------------------------------------------------------
def readelf_facts(path) -> dict:
    out = subprocess.run(["readelf", "-W", "-h", "-l", "-d", "-S", "-s", "-n", "-V", str(path)],
                         capture_output=True, text=True, timeout=120).stdout
    f = {"type": None, "machine": None, "flags": 0, "segments": [], "sections": {},
         "dynamic": {}, "dynsym": [], "symtab": [], "has_symtab": False, "build_id": None,
         "properties": [], "verneed": [], "annotated": set()}
    mode = None
    for line in out.splitlines():
        if line.startswith("ELF Header:"):
            mode = "h"
        elif line.startswith("Program Headers:"):
            mode = "l"
        elif line.startswith("Section Headers:"):
            mode = "S"
        elif line.startswith("Dynamic section at offset"):
            mode = "d"
        elif line.startswith("Symbol table '"):
            mode = "s"
            table = "dynsym" if "'.dynsym'" in line else "symtab"
            if table == "symtab":
                f["has_symtab"] = True
        elif line.startswith("Displaying notes"):
            mode = "n"
        elif line.startswith("Version needs section"):
            mode = "V"
        elif line.startswith(("Version symbols section", "Version definition section",
                              " Section to Segment", "Key to Flags")):
            mode = None
        elif mode == "h":
            key, _, val = line.strip().partition(":")
            val = val.strip()
            if key == "Type":
                f["type"] = val.split()[0]
            elif key == "Machine":
                f["machine"] = val
            elif key == "Flags":
                f["flags"] = int(val.split(",")[0], 16)
        elif mode == "l":
            m = re.match(r"^  (\S+)\s+0x(\w+) 0x(\w+) 0x(\w+) 0x(\w+) 0x(\w+) (...) 0x(\w+)$",
                         line)
            if m:
                f["segments"].append({"type": m[1], "vaddr": int(m[3], 16),
                                      "memsz": int(m[6], 16), "flags": m[7],
                                      "align": int(m[8], 16)})
        elif mode == "S":
            m = re.match(r"^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+) [0-9a-f]+ ([0-9a-f]+)"
                         r" [0-9a-f]+\s+([A-Za-z]*)\s+\d+\s+\d+\s+\d+$", line)
            if m:
                f["sections"][m[1]] = {"type": m[2], "addr": int(m[3], 16),
                                       "size": int(m[4], 16), "flags": m[5]}
        elif mode == "d":
            m = re.match(r"^\s*0x[0-9a-f]+ \((\w+)\)\s+(.*)$", line)
            if m:
                f["dynamic"].setdefault(m[1], []).append(m[2].strip())
        elif mode == "s":
            m = re.match(r"^\s*\d+: [0-9a-f]+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\[[^\]]*\]\s+)?"
                         r"(\S+)(?:\s+(.*))?$", line)
            if m:
                ndx, name = m[2], (m[3] or "").split("@")[0].strip()
                if name:
                    f[table].append((name, ndx == "UND"))
                    if m[1]:            # "[<localentry>: 8]", "[VARIANT_PCS]" before Ndx
                        f["annotated"].add(name)
        elif mode == "n":
            if "Build ID: " in line:
                f["build_id"] = line.split("Build ID: ")[1].strip()
            if "Properties: " in line:
                f["properties"].append(line.split("Properties: ")[1].strip())
        elif mode == "V":
            m = re.search(r"Name: (\S+)", line)
            if m and "Cnt:" not in line:
                f["verneed"].append(m[1])
    return f


def dyn_int(f, tag):
    vals = f["dynamic"].get(tag)
    return int(vals[0].split()[0], 0) if vals else None


def kind_of(f) -> str:
    types = {s["type"] for s in f["segments"]}
    if f["type"] == "REL":
        return "object"
    if f["type"] == "EXEC":
        return "exec" if "INTERP" in types or "DYNAMIC" in types else "static-exec"
    flags_1 = " ".join(f["dynamic"].get("FLAGS_1", []))
    if re.search(r"\bPIE\b", flags_1) or "DEBUG" in f["dynamic"]:
        return "pie" if "INTERP" in types else "static-pie"
    return "shared-lib"


def bind_now(f) -> bool:
    d = f["dynamic"]
    return ("BIND_NOW" in d or any("BIND_NOW" in v for v in d.get("FLAGS", []))
            or any(re.search(r"\bNOW\b", v) for v in d.get("FLAGS_1", [])))


def elfv1(f) -> bool:
    return f["machine"] == "PowerPC64" and f["flags"] & 3 != 2


def names(f, table, undefined) -> set[str]:
    out = {n for n, und in f[table] if und == undefined}
    if elfv1(f):
        out |= {n[1:] for n in out if n.startswith(".") and len(n) > 1}
    return out


def version(text):
    return tuple(int(p) for p in text.split("."))


# --- the expected verdicts -----------------------------------------------------------------
def expected(f, libc_chk) -> dict:
    """check id -> (verdict, value or None) from readelf facts alone."""
    kind = kind_of(f)
    linked = kind not in ("object", "core", "other")
    machine = f["machine"]
    exp = {}
    segs = {s["type"]: s for s in reversed(f["segments"])}     # the first of each type
    loads = [s for s in f["segments"] if s["type"] == "LOAD"]
    dyn = f["dynamic"]

    # PIE
    exp["pie"] = {"pie": ("pass", "PIE"), "static-pie": ("pass", "static-PIE"),
                  "exec": ("fail", "no"), "static-exec": ("fail", "no"),
                  "shared-lib": ("n/a", "DSO")}.get(kind, ("n/a", "n/a"))

    # NX / execstack
    stack = segs.get("GNU_STACK")
    if not linked:
        exp["nx"] = ("n/a", "n/a")
        note = f["sections"].get(".note.GNU-stack")
        if note is None:
            exp["execstack"] = ("pass" if machine in NX_DEFAULT else "fail", "unmarked")
        else:
            exp["execstack"] = ("fail", "yes") if "X" in note["flags"] else ("pass", "no")
    elif stack is None:
        ok = machine in NX_DEFAULT
        exp["nx"] = ("pass", "yes (default)") if ok else ("fail", "no GNU_STACK")
        exp["execstack"] = ("pass", "no (default)") if ok else ("fail", "default")
    else:
        x = "E" in stack["flags"]
        exp["nx"] = ("fail", "no") if x else ("pass", "yes")
        exp["execstack"] = ("fail", "yes") if x else ("pass", "no")

    # RELRO
    relro = segs.get("GNU_RELRO")
    if not linked:
        exp["relro"] = ("n/a", "n/a")
    elif relro is None:
        exp["relro"] = ("fail", "none")
    elif not bind_now(f):
        exp["relro"] = ("pass", "partial")
    else:
        exp["relro"] = ("pass", "full" if got_protected(f, relro, loads) else "partial")

    # W+X, TEXTREL, RPATH/RUNPATH
    wx = [s for s in loads if "W" in s["flags"] and "E" in s["flags"]]
    exp["wx-segments"] = (("fail", f"{len(wx)} RWX") if wx else ("pass", "none")) if linked \
        else ("n/a", "n/a")
    has_dynamic = "DYNAMIC" in segs
    if not linked:
        for c in ("textrel", "rpath", "runpath"):
            exp[c] = ("n/a", "n/a")
    elif not has_dynamic:
        for c in ("textrel", "rpath", "runpath"):
            exp[c] = ("n/a", "static")
    else:
        textrel = "TEXTREL" in dyn or any("TEXTREL" in v for v in dyn.get("FLAGS", []))
        exp["textrel"] = ("fail", "yes") if textrel else ("pass", "no")
        for check, tag, label in (("rpath", "RPATH", "rpath"), ("runpath", "RUNPATH", "runpath")):
            vals = [re.match(rf"Library {label}: \[(.*)\]$", v)[1] for v in dyn.get(tag, [])]
            if not vals:
                exp[check] = ("pass", "none")
                continue
            entries = [e for v in vals for e in v.split(":")]
            ok = all(e.startswith(("$ORIGIN", "${ORIGIN}", "/")) for e in entries)
            exp[check] = ("pass" if ok else "fail", ":".join(vals))

    # stripped, build-id
    exp["stripped"] = (("fail", "no") if f["has_symtab"] else ("pass", "yes")) if linked \
        else ("n/a", "n/a")
    exp["build-id"] = ("pass", f["build_id"][:12]) if f["build_id"] else ("fail", "none")

    # glibc version (policy max-glibc 2.17)
    if not linked:
        exp["glibc-version"] = ("n/a", "n/a")
    elif not has_dynamic:
        exp["glibc-version"] = ("n/a", "static")
    else:
        vers = [version(v[6:]) for v in f["verneed"] if re.fullmatch(r"GLIBC_[\d.]+", v)]
        private = "GLIBC_PRIVATE" in f["verneed"]
        if not vers and not private:
            exp["glibc-version"] = ("n/a", "none")
        else:
            value = ".".join(map(str, max(vers))) if vers else "PRIVATE"
            bad = private or (vers and max(vers) > (2, 17))
            exp["glibc-version"] = ("fail" if bad else "pass", value)

    # control-flow protection
    props = " ".join(f["properties"])
    for check, fam, feature, label in (("cet-ibt", X86, "IBT", "x86 feature: "),
                                       ("cet-shstk", X86, "SHSTK", "x86 feature: "),
                                       ("bti", {"AArch64"}, "BTI", "AArch64 feature: "),
                                       ("pac", {"AArch64"}, "PAC", "AArch64 feature: ")):
        if machine not in fam:
            exp[check] = ("n/a", "n/a")
            continue
        m = re.search(re.escape(label) + r"([^;]*?)(?:$|, [a-z<])", props)
        bits = {b.strip() for b in m[1].split(",")} if m else set()
        exp[check] = ("pass", "yes") if feature in bits else ("fail", "no")

    # canary, fortify
    exp.update(compiler_expected(f, kind, libc_chk))
    return exp


def got_protected(f, relro, loads) -> bool:
    aligns = [s["align"] for s in loads if s["align"] and not s["align"] & (s["align"] - 1)]
    page = max(4096, min(MAX_PAGE.get(f["machine"], 4096), max(aligns, default=4096)))
    # the smallest page protects least at the start, the largest at the end
    start = relro["vaddr"] & ~4095
    end = (relro["vaddr"] + relro["memsz"]) & ~(page - 1)
    names_ = {".got", ".got.plt"} | ({".plt"} if f["machine"] in PLT_IS_DATA else set())
    for name in names_:
        sec = f["sections"].get(name)
        if sec and sec["size"] and not (start <= sec["addr"] and sec["addr"] + sec["size"] <= end):
            return False
    return True


def compiler_expected(f, kind, libc_chk) -> dict:
    static = kind in ("static-pie", "static-exec")
    exp = {}
    if static:
        defined = names(f, "symtab", False)
        if f["has_symtab"] and not CANARY & defined:
            exp["canary"] = ("fail", "no")
        else:
            exp["canary"] = ("n/a", "unknown")
        fort = {m[1] for n in defined if (m := CHK_RE.fullmatch(n)) and m[1] in libc_chk}
        exp["fortify"] = ("pass", f"{len(fort)}/?") if fort else ("n/a", "unknown")
        return exp
    table = "symtab" if kind == "object" else "dynsym"
    refs = names(f, table, True)
    if CANARY & refs:
        exp["canary"] = ("pass", "yes")
    elif kind != "object" and {"__stack_chk_fail", "__stack_chk_guard"} & names(f, "dynsym",
                                                                              False):
        exp["canary"] = ("n/a", "provider")
    else:
        exp["canary"] = ("fail", "no")
    fortified = {m[1] for n in refs if (m := CHK_RE.fullmatch(n)) and m[1] in libc_chk}
    plain = {c[2:-4] for c in libc_chk} | ({"_longjmp", "siglongjmp"}
                                           if "__longjmp_chk" in libc_chk else set())
    unfortified = set()
    for n in refs:
        if n.startswith("__nldbl_"):
            n = n[8:]
        elif n.startswith("__") and n.endswith("ieee128"):
            n = n[2:-7]
        if n in plain:
            unfortified.add(n)
    value = f"{len(fortified)}/{len(fortified) + len(unfortified)}"
    exp["fortify"] = ("pass" if fortified else "fail" if unfortified else "n/a", value)
    exp["_fortified"] = sorted(fortified)
    return exp


# --- comparing -------------------------------------------------------------------------------
def compare(path, libc_chk) -> list[str]:
    f = readelf_facts(path)
    exp = expected(f, libc_chk)
    rep = check_target(Target(str(path), path.name), POLICY)
    got = {r.check: r for r in rep.results}
    bad = []
    assert rep.status in ("pass", "fail"), (path, rep.status, rep.error)
    assert rep.kind == kind_of(f), (path, rep.kind, kind_of(f))
    for check, want in exp.items():
        if check.startswith("_"):
            continue
        verdict, value = want
        r = got[check]
        if r.verdict != verdict or (value is not None and r.value != value):
            bad.append(f"{path}: {check}: readelf says {verdict} {value!r}, elfkit "
                       f"{r.verdict} {r.value!r} ({r.message})")
    if "_fortified" in exp and got["fortify"].evidence.get("fortified") != exp["_fortified"]:
        bad.append(f"{path}: fortify: readelf finds {exp['_fortified']}, elfkit "
                   f"{got['fortify'].evidence.get('fortified')}")
    return bad


def elf_files(root: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_symlink() or not p.is_file():
            continue
        with open(p, "rb") as fh:
            if fh.read(4) == b"\x7fELF":
                out.append(p)
    return out


@lru_cache(maxsize=None)
def libc_chk(arch: str | None) -> frozenset[str]:
    """The __*_chk functions this architecture's libc.so.6 exports (readelf), canonical
    names; every `__X_chk` name when there is no libc (the cross fixtures)."""
    if arch is None:
        return _AnyChk()
    libc = next(iter(sorted((DEBS / arch).glob("lib/*/libc.so.6"))), None)
    assert libc is not None, f"no libc.so.6 under {DEBS / arch}"
    f = readelf_facts(libc)
    return frozenset(m[1] for n in names(f, "dynsym", False) if (m := CHK_RE.fullmatch(n)))


class _AnyChk(frozenset):
    def __contains__(self, name):
        return bool(CHK_RE.fullmatch(name))


def deb_dir(arch) -> Path:
    d = DEBS / arch
    if not (DEBS / f"{arch}.debs").exists() or not d.is_dir():
        pytest.skip(f"{d} not unpacked (make -C fixtures cross-debs)")
    return d


# --- tests: cross fixtures -------------------------------------------------------------------
@pytest.mark.parametrize("machine", CROSS_MACHINES)
def test_cross_fixture_verdicts(machine):
    files = cross_fixtures(machine)
    if not files:
        pytest.skip(f"{CROSS / machine} not built (make -C fixtures cross)")
    bad = [line for p in files for line in compare(p, libc_chk(None))]
    assert not bad, "\n".join(bad)


def test_cross_per_machine_defaults():
    """The per-machine rules, spelled out on the fixtures (none has PT_GNU_STACK or a
    .note.GNU-stack): which machines default to a non-executable stack, where RELRO can be
    full, and the AArch64 property bits."""
    if not cross_fixtures():
        pytest.skip("cross fixtures not built")
    want_nx = {"aarch64": "pass", "riscv64": "pass", "ppc64le": "pass", "ppc64": "pass",
               "arm": "fail", "ppc": "fail", "s390x": "fail", "mips": "fail",
               "mips64el": "fail", "sparc64": "fail", "i386": "fail"}
    # -z relro -z now: full where the GOT is under PT_GNU_RELRO; RISC-V's ld 2.40 script puts
    # .got after it, SPARC's PLT is code ld.so patches, MIPS's ld makes no PT_GNU_RELRO here.
    want_now = {"aarch64": "full", "arm": "full", "i386": "full", "ppc": "full",
                "ppc64": "full", "ppc64le": "full", "s390x": "full", "riscv64": "partial",
                "sparc64": "partial", "mips": "none", "mips64el": "none"}
    for machine, nx in want_nx.items():
        if not (CROSS / machine / "pie").exists():
            continue
        rep = check_target(Target(str(CROSS / machine / "pie"), "pie"), POLICY)
        assert rep.result("nx").verdict == nx, (machine, rep.result("nx").message)
        assert rep.result("nx").evidence["finding"] == "missing-gnu-stack"
        obj = check_target(Target(str(CROSS / machine / "reloc.o"), "reloc.o"), POLICY)
        assert obj.result("execstack").verdict == nx, machine
        now = check_target(Target(str(CROSS / machine / "pie-now"), "pie-now"), POLICY)
        assert now.result("relro").value == want_now[machine], (machine,
                                                                 now.result("relro").message)
    if (CROSS / "aarch64" / "pie-nobti").exists():
        for name, want in (("pie", ("pass", 3)), ("pie-nobti", ("fail", None))):
            rep = check_target(Target(str(CROSS / "aarch64" / name), name), POLICY)
            for check in ("bti", "pac"):
                r = rep.result(check)
                assert (r.verdict, r.evidence["feature_1_and"]) == want, (name, check)
            assert rep.result("cet-ibt").verdict == "n/a"


def test_loongarch_by_relabelled_files(tmp_path):
    """LoongArch has no Debian cross binutils and no Debian archive (it is a port), so its
    files are the riscv64 fixtures with e_machine set to EM_LOONGARCH (258) -- same class and
    byte order; every verdict is then derived from readelf's facts as for the other machines
    (readelf names the machine "LoongArch"): the non-executable stack default, the 64 KiB
    worst-case page for RELRO, n/a for IBT/SHSTK and BTI/PAC."""
    files = cross_fixtures("riscv64")
    if not files:
        pytest.skip("riscv64 fixtures not built")
    bad = []
    for src in files:
        data = bytearray(src.read_bytes())
        data[18:20] = (258).to_bytes(2, "little")
        dst = tmp_path / src.name
        dst.write_bytes(bytes(data))
        assert readelf_facts(dst)["machine"] == "LoongArch"
        bad += compare(dst, libc_chk(None))
        rep = check_target(Target(str(dst), dst.name), POLICY)
        if rep.kind != "object":
            assert rep.result("nx").verdict == "pass", rep.result("nx").message
            assert {rep.result(c).verdict for c in ("cet-ibt", "cet-shstk", "bti", "pac")} \
                == {"n/a"}
    assert not bad, "\n".join(bad)


def test_got_words_are_in_the_got():
    """The words elfkit checks for each machine (its reserved header as ld.so writes it, the
    whole MIPS GOT, the PowerPC secure-PLT _GLOBAL_OFFSET_TABLE_ words, every JMPREL slot)
    all lie in a GOT section readelf names, and the MIPS count is DT_MIPS_LOCAL_GOTNO +
    DT_MIPS_SYMTABNO - DT_MIPS_GOTSYM."""
    from elfkit.check import memory
    from elfkit.check.facts import Facts
    from elfkit.elf.file import ElfFile
    files = [p for p in cross_fixtures() if p.name in ("pie", "pie-now", "libcross.so")]
    if not files:
        pytest.skip("cross fixtures not built")
    for path in files:
        f = readelf_facts(path)
        secs = [s for n, s in f["sections"].items()
                if n in (".got", ".got.plt", ".plt") and s["size"]]
        slots = memory._got_slots(Facts(ElfFile.from_bytes(path.read_bytes(), str(path))))
        assert slots, path
        for a in slots:
            assert any(s["addr"] <= a < s["addr"] + s["size"] for s in secs), (path, hex(a))
        if f["machine"] == "MIPS R3000":
            word = 8 if "mips64" in str(path) else 4
            local, symtabno, gotsym = (dyn_int(f, t) for t in
                                       ("MIPS_LOCAL_GOTNO", "MIPS_SYMTABNO", "MIPS_GOTSYM"))
            pltgot = dyn_int(f, "PLTGOT")
            want = [pltgot + i * word for i in range(local + symtabno - gotsym)]
            assert slots[:len(want)] == want, path


def test_ppc64_elfv1_dot_symbols_and_long_double_aliases():
    """PowerPC64 ELFv1 `.name` code symbols count as `name`; `__nldbl_` and `ieee128`
    entry points count as the glibc function they alias."""
    from elfkit.check.facts import Facts
    from elfkit.check.fortify import classify
    from elfkit.elf.file import ElfFile
    for machine, dotted in (("ppc64", True), ("ppc64le", False), ("aarch64", False)):
        path = CROSS / machine / "pie"
        if not path.exists():
            continue
        facts = Facts(ElfFile.from_bytes(path.read_bytes(), str(path)))
        got = facts.code_names({".__stack_chk_fail", "printf"})
        assert ("__stack_chk_fail" in got) == dotted, machine
    fortified, unfortified = classify({"__nldbl___printf_chk", "__snprintf_chkieee128",
                                       "__nldbl_sprintf", "__fprintfieee128", "memcpy"})
    assert fortified == ["__printf_chk", "__snprintf_chk"]
    assert unfortified == ["fprintf", "memcpy", "sprintf"]


def test_aarch64_property_note_reads_as_readelf():
    """notes.py decodes GNU_PROPERTY_AARCH64_FEATURE_1_AND as readelf -n words it
    ("AArch64 feature: BTI, PAC"), and never gives another machine's processor-specific
    property an x86 name."""
    from elfkit.elf.file import ElfFile
    files = cross_fixtures()
    if not files:
        pytest.skip("cross fixtures not built")
    seen = 0
    for path in files:
        elf = ElfFile.from_bytes(path.read_bytes(), str(path))
        props = [p for b in elf.notes for n in b.notes for p in (n.properties or ())]
        ours = "; ".join(f"{p.name}: {', '.join(p.decoded)}" for p in props)
        theirs = "; ".join(readelf_facts(path)["properties"])
        if f_machine(path) == "aarch64":
            assert ours == theirs, path
            seen += bool(props)
        elif f_machine(path) != "i386":
            assert not any(p.name.startswith("x86") for p in props), path
    assert seen >= 4            # exe, libcross.so, pie, pie-now, reloc.o (not pie-nobti)


def f_machine(path) -> str:
    return Path(path).parent.name


def test_strict_requires_each_machines_cfi():
    if not (CROSS / "aarch64" / "pie-nobti").exists():
        pytest.skip("aarch64 fixtures not built")
    strict = P.build({}, "strict", use_config=False)
    rep = check_target(Target(str(CROSS / "aarch64" / "pie-nobti"), "x"), strict)
    assert {"bti", "pac"} <= set(rep.failed)
    assert "cet-ibt" not in rep.failed and "cet-shstk" not in rep.failed


# --- `elfkit inspect`'s one-line summary ------------------------------------------------------
def _summary_files() -> list[Path]:
    out = list(cross_fixtures())
    for arch in DEB_ARCHES:
        d = DEBS / arch
        if d.is_dir():
            files = elf_files(d)
            out += files[:: max(1, len(files) // 5)][:5]
    return out


SUMMARY_FILES = _summary_files()


@pytest.mark.skipif(not SUMMARY_FILES, reason="no cross fixtures or Debian files")
@pytest.mark.parametrize("path", SUMMARY_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_inspect_summary_per_machine(path):
    """`elfkit inspect FILE`'s hardening line and its JSON on any machine, from readelf's
    facts with this module's rules: NX from PT_GNU_STACK or, without one, the machine's
    default (NX_DEFAULT); the machine's own control-flow bits -- IBT/SHSTK on x86, BTI/PAC
    on AArch64 ("x86 feature:" / "AArch64 feature:" in readelf -n), "CFI n/a" elsewhere."""
    from conftest import run_elfkit
    f = readelf_facts(path)
    doc = json.loads(run_elfkit("inspect", "--json", str(path)).stdout)["summary"]["hardening"]
    line = run_elfkit("inspect", str(path)).stdout.decode().splitlines()[-1]
    stack = next((s for s in f["segments"] if s["type"] == "GNU_STACK"), None)
    if f["type"] == "REL":
        return                                   # the summary's stack facts are for linked files
    want_nx = "E" not in stack["flags"] if stack else f["machine"] in NX_DEFAULT
    assert (doc["nx"], doc["gnu_stack"]) == (want_nx, stack is not None), (path, f["machine"])
    props = " ".join(f["properties"])
    bits = {"ibt": None, "shstk": None, "bti": None, "pac": None}
    if f["machine"] in X86:
        feature = re.search(r"x86 feature: ([^;]*)", props)
        have = feature.group(1).replace(" ", "").split(",") if feature else []
        bits.update(ibt="IBT" in have, shstk="SHSTK" in have)
    elif f["machine"] == "AArch64":
        feature = re.search(r"AArch64 feature: ([^;]*)", props)
        have = feature.group(1).replace(" ", "").split(",") if feature else []
        bits.update(bti="BTI" in have, pac="PAC" in have)
    assert {k: doc[k] for k in bits} == bits, (path, props)
    words = [f"{k.upper()} {'yes' if v else 'no'}" for k, v in bits.items() if v is not None]
    assert ", ".join(words or ["CFI n/a"]) in line, line
    assert ("NX yes" in line) == want_nx, line


# --- tests: Debian files ---------------------------------------------------------------------
@pytest.mark.parametrize("arch", DEB_ARCHES)
def test_debian_verdicts(arch):
    files = elf_files(deb_dir(arch))
    assert len(files) > 100
    chk = libc_chk(arch)
    assert "__printf_chk" in chk
    bad = [line for p in files for line in compare(p, chk)]
    assert not bad, f"{len(bad)} disagreement(s):\n" + "\n".join(bad[:40])


# --- checksec --------------------------------------------------------------------------------
def run_checksec(paths, tmp_path) -> dict:
    """checksec --format=json --listfile in two halves (its JSON for a list is cut apart
    entry by entry: it is not well-formed)."""
    halves = [paths[: len(paths) // 2], paths[len(paths) // 2:]]
    procs = []
    for i, half in enumerate(halves):
        lst = tmp_path / f"list{i}"
        lst.write_text("\n".join(map(str, half)) + "\n")
        procs.append(subprocess.Popen(["checksec", "--format=json", f"--listfile={lst}"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True))
    out = {}
    for p in procs:
        text, _ = p.communicate(timeout=900)
        for m in re.finditer(r'"([^"]+)": (\{[^{}]*\})', text):
            out[m.group(1)] = json.loads(m.group(2))
    return out


def checksec_sample() -> list[Path]:
    out = [p for p in cross_fixtures()]
    for arch in DEB_ARCHES:
        d = DEBS / arch
        if not (DEBS / f"{arch}.debs").exists():
            continue
        files = elf_files(d)
        step = max(1, len(files) // 12)
        picked = set(files[::step][:12]) | set(d.glob("lib/*/libc.so.6")) | {d / "bin" / "ls"}
        out += sorted(p for p in picked if p.exists())
    return out


def test_checksec_where_meaningful(tmp_path):
    if shutil.which("checksec") is None:
        pytest.skip("checksec not installed")
    paths = checksec_sample()
    if not paths:
        pytest.skip("no cross fixtures or Debian files")
    cs = run_checksec(paths, tmp_path)
    bad, compared = [], 0
    for path in paths:
        c = cs.get(str(path))
        assert c is not None, f"checksec printed nothing for {path}"
        f = readelf_facts(path)
        rep = check_target(Target(str(path), path.name), POLICY)
        r = {x.check: x for x in rep.results}
        kind = rep.kind
        compared += 1

        def differ(field, ours, theirs):
            bad.append(f"{path}: {field}: elfkit {ours!r}, checksec {theirs!r}")

        pie = {"pie": "yes", "static-pie": "yes", "exec": "no", "static-exec": "no",
               "shared-lib": "dso", "object": "rel"}[kind]
        if pie != c["pie"]:
            differ("pie", pie, c["pie"])
        for field in ("rpath", "runpath"):
            ours = "no" if r[field].value in ("none", "n/a", "static") else "yes"
            if ours != c[field]:
                differ(field, ours, c[field])
        if kind != "object":
            symbols = "yes" if r["stripped"].verdict == "fail" else "no"
            if symbols != c["symbols"]:
                differ("symbols", symbols, c["symbols"])
        if r["canary"].verdict != "n/a" and kind != "object":
            ours = "yes" if r["canary"].verdict == "pass" else "no"
            if ours != c["canary"]:
                differ("canary", ours, c["canary"])
        if kind != "object":
            has_stack = any(s["type"] == "GNU_STACK" for s in f["segments"])
            ours = "yes" if r["nx"].verdict == "pass" else "no"
            if has_stack and ours != c["nx"]:
                differ("nx", ours, c["nx"])
            if not has_stack:
                # checksec: missing GNU_STACK is "no" whatever the machine (x86's default)
                assert c["nx"] == "no", path
                assert ours == ("yes" if f["machine"] in NX_DEFAULT else "no"), path
            level = r["relro"].value
            if (level == "none") != (c["relro"] == "no"):
                differ("relro", level, c["relro"])
            if level == "full" and c["relro"] != "full":
                differ("relro", level, c["relro"])
            if level == "partial" and c["relro"] == "full":
                relro = next(s for s in f["segments"] if s["type"] == "GNU_RELRO")
                loads = [s for s in f["segments"] if s["type"] == "LOAD"]
                if not (bind_now(f) and not got_protected(f, relro, loads)):
                    differ("relro", level, c["relro"])
            defines_chk = any(CHK_RE.fullmatch(n) for n in names(f, "dynsym", False))
            if kind != "static-pie" and not defines_chk:
                fortified = r["fortify"].evidence.get("fortified") or []
                ours = "yes" if fortified else "no"
                localentry = (f["machine"] == "PowerPC64" and not elfv1(f) and ours == "yes"
                              and all(n in f["annotated"] for n in fortified))
                if ours != c["fortify_source"] and not localentry:
                    differ("fortify_source", ours, c["fortify_source"])
    assert compared >= min(len(paths), 50)
    assert not bad, "\n".join(bad)
