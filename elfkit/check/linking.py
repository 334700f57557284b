"""What the file asks of the dynamic linker: search paths, NEEDED libraries, symbol versions.

RPATH/RUNPATH entries are classified as `_dl_init_paths`/`decompose_rpath`
(glibc elf/dl-load.c) will expand them: `$ORIGIN` (relative to the object
itself), absolute, or relative -- relative to the *current directory* of
whoever runs the program, an empty entry included. The symbol-version
checks are auditwheel's idea: the highest GLIBC_x.y (GLIBCXX_, CXXABI_) in
.gnu.version_r is the oldest library the file can run against.
"""
from __future__ import annotations

import fnmatch
import re

from elfkit.check.facts import KINDS
from elfkit.check.results import FAIL, NA, PASS, result
from elfkit.elf.constants import DT, SHN, VERSYM_HIDDEN

RPATH_KINDS = ("origin", "absolute", "relative")


def classify_search_path(entry: str) -> str:
    if entry.startswith(("$ORIGIN", "${ORIGIN}")):
        return "origin"
    if entry.startswith("/"):
        return "absolute"
    return "relative"       # "" and "lib" are both looked up from the current directory


def _dynamic_or_na(check, facts):
    if not facts.linked:
        return result(check, NA, "n/a", f"{KINDS[facts.kind]}: not loaded by ld.so")
    if facts.dynamic is None:
        return result(check, NA, "static", "no dynamic section")
    return None


def _search_path_check(check, tag, tag_name, allowed, facts):
    na = _dynamic_or_na(check, facts)
    if na is not None:
        na.evidence.update(entries=[], allowed=list(allowed))
        return na
    values = facts.dynamic.strings(tag)
    entries = [{"path": p, "kind": classify_search_path(p)}
               for value in values for p in value.split(":")]
    ev = {"entries": entries, "allowed": list(allowed)}
    if not values:
        return result(check, PASS, "none", f"no {tag_name}", **ev)
    bad = [e for e in entries if e["kind"] not in allowed]
    value = ":".join(values)
    if bad:
        kinds = sorted({e["kind"] for e in bad})
        cwd = " (searched from the current directory)" if "relative" in kinds else ""
        return result(check, FAIL, value, f"{tag_name} has {' and '.join(kinds)} entries"
                      f"{cwd} the policy does not allow: "
                      + ", ".join(repr(e["path"]) for e in bad), **ev)
    kinds = sorted({e["kind"] for e in entries})
    return result(check, PASS, value, f"{tag_name} entries are {' and '.join(kinds)}", **ev)


def check_rpath(facts, policy):
    """DT_RPATH: searched before LD_LIBRARY_PATH and inherited by every dependency."""
    return _search_path_check("rpath", DT.RPATH, "DT_RPATH", policy.rpath_allow, facts)


def check_runpath(facts, policy):
    """DT_RUNPATH: searched after LD_LIBRARY_PATH, for this object's own NEEDED only."""
    return _search_path_check("runpath", DT.RUNPATH, "DT_RUNPATH", policy.runpath_allow, facts)


def check_needed(facts, policy):
    """NEEDED libraries against an allow-list of names or glob patterns."""
    na = _dynamic_or_na("needed", facts)
    if na is not None:
        na.evidence.update(needed=[], disallowed=[])
        return na
    needed = facts.dynamic.needed
    allow = policy.needed_allow
    if allow is None:
        return result("needed", PASS, str(len(needed)), f"{len(needed)} NEEDED libraries (no "
                      "allow-list in the policy)", needed=needed, disallowed=[])
    bad = [n for n in needed if not any(fnmatch.fnmatchcase(n, p) for p in allow)]
    if bad:
        return result("needed", FAIL, f"{len(bad)} not allowed", "NEEDED libraries outside "
                      "the allow-list: " + ", ".join(bad), needed=needed, disallowed=bad)
    return result("needed", PASS, str(len(needed)), "every NEEDED library is on the allow-list",
                  needed=needed, disallowed=[])


# --- symbol versions -----------------------------------------------------------------------
_VERSION_RE = re.compile(r"^(GLIBC|GLIBCXX|CXXABI)_(\d+(?:\.\d+)*)$")
FAMILIES = {"glibc-version": ("GLIBC", "max_glibc"),
            "glibcxx-version": ("GLIBCXX", "max_glibcxx"),
            "cxxabi-version": ("CXXABI", "max_cxxabi")}


def parse_version(text: str) -> tuple[int, ...]:
    """'2.17' -> (2, 17); ValueError when it is not dotted numbers."""
    parts = text.split(".")
    if not text or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a version like 2.17")
    return tuple(int(p) for p in parts)


def version_text(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


def needed_versions(facts) -> dict[str, dict[tuple[int, ...], list[str]]]:
    """family -> {version: [library files needing it]} from .gnu.version_r."""
    return facts.memo("needed_versions", lambda: _needed_versions(facts))


def _needed_versions(facts):
    out = {"GLIBC": {}, "GLIBCXX": {}, "CXXABI": {}, "private": []}
    for file, name in facts.version_needs:
        if name == "GLIBC_PRIVATE":
            out["private"].append(file)
            continue
        m = _VERSION_RE.match(name)
        if m:
            out[m.group(1)].setdefault(parse_version(m.group(2)), []).append(file)
    return out


def _symbols_needing(facts, family, versions) -> list[str]:
    """Up to 10 imported symbols bound to one of `versions` (read only when a check fails)."""
    wanted = {f"{family}_{version_text(v)}" for v in versions}
    ver = facts.elf.versions
    table = facts.elf.dynsym
    if ver.versym is None or table is None:
        return []
    names, entries = ver.verneed_names, ver.versym.entries
    out = []
    for s in table.symbols:
        if s.shndx == SHN.UNDEF and s.index < len(entries):
            vname = names.get(entries[s.index] & ~VERSYM_HIDDEN)
            if vname in wanted:
                out.append(f"{s.name}@{vname}")
                if len(out) == 10:
                    break
    return out


def _version_check(check, facts, policy):
    family, limit_key = FAMILIES[check]
    na = _dynamic_or_na(check, facts)
    if na is not None:
        na.evidence.update(highest=None, limit=None)
        return na
    info = needed_versions(facts)
    versions = info[family]
    limit = getattr(policy, limit_key)
    ev = {"highest": None, "versions": [version_text(v) for v in sorted(versions)],
          "limit": version_text(limit) if limit else None, "symbols": []}
    if family == "GLIBC":
        ev["private"] = sorted(set(info["private"]))
    if not versions and not ev.get("private"):
        return result(check, NA, "none", f"needs no {family}_ version", **ev)
    highest = max(versions) if versions else None
    ev["highest"] = version_text(highest) if highest else None
    value = ev["highest"] or "PRIVATE"
    if limit is None:
        return result(check, PASS, value, f"needs {family}_{value} (no limit in the policy)",
                      **ev)
    above = sorted(v for v in versions if v > limit)
    if above or ev.get("private"):
        ev["symbols"] = _symbols_needing(facts, family, above)
        why = []
        if above:
            why.append(f"needs {family}_{version_text(above[-1])}, newer than the limit "
                       f"{version_text(limit)}")
        if ev.get("private"):
            why.append("needs GLIBC_PRIVATE, which no other glibc build provides")
        return result(check, FAIL, value, "; ".join(why), **ev)
    return result(check, PASS, value, f"needs at most {family}_{value} (limit "
                  f"{version_text(limit)})", **ev)


def check_glibc_version(facts, policy):
    return _version_check("glibc-version", facts, policy)


def check_glibcxx_version(facts, policy):
    return _version_check("glibcxx-version", facts, policy)


def check_cxxabi_version(facts, policy):
    return _version_check("cxxabi-version", facts, policy)
