"""`elfkit check --format sarif`: SARIF 2.1.0 for GitHub code scanning.

One rule per check that ran (registry order, so `ruleIndex` is stable), one
result per (failing required check, file); a malformed file is a result of
rule `well-formed`. Paths inside the current directory are written relative
to it (uriBaseId SRCROOT, which is what code scanning maps onto the
repository); others as absolute file: URIs. Binaries have no lines, so every
location is line 1 -- code scanning requires a region. partialFingerprints
are a hash of rule and relative path, so re-uploads update the same alert.
"""
from __future__ import annotations

import hashlib
import json
import os
from urllib.parse import quote

from elfkit import __version__
from elfkit.check import results as R
from elfkit.check.registry import BY_ID

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _rule(check, required: bool) -> dict:
    c = BY_ID[check]
    return {
        "id": c.id,
        "name": "".join(w.capitalize() for w in c.id.split("-")),
        "shortDescription": {"text": c.summary},
        "fullDescription": {"text": f"{c.summary} {c.help}"},
        "help": {"text": c.help, "markdown": f"**{c.title}**: {c.summary}\n\n{c.help}"},
        "defaultConfiguration": {"level": "error" if required else "warning"},
        "properties": {"tags": ["security", "elf", "hardening"], "precision": "very-high"},
    }


def _location(path: str, cwd: str) -> dict:
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute, cwd)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        artifact = {"uri": "file://" + quote(absolute.replace(os.sep, "/"))}
    else:
        artifact = {"uri": quote(rel.replace(os.sep, "/")), "uriBaseId": "SRCROOT"}
    return {"physicalLocation": {"artifactLocation": artifact, "region": {"startLine": 1}}}


def _fingerprint(rule: str, relpath: str) -> str:
    return hashlib.sha256(f"{rule}\0{relpath}".encode("utf-8", "surrogateescape")).hexdigest()[:32]


def run_sarif(run, cwd: str | None = None) -> dict:
    cwd = os.path.abspath(cwd or os.getcwd())
    ids = list(run.policy.run_ids)
    if "well-formed" not in ids:
        ids.append("well-formed")           # malformed files are reported under it
    index = {c: i for i, c in enumerate(ids)}
    results = []
    for rep in run.files:
        for r in rep.results:
            if r.verdict != R.FAIL or not (r.required or rep.status == R.STATUS_MALFORMED):
                continue
            results.append({
                "ruleId": r.check,
                "ruleIndex": index[r.check],
                "level": "error",
                "kind": "fail",
                "message": {"text": f"{rep.path}: {BY_ID[r.check].title} {r.value}: {r.message}"},
                "locations": [_location(rep.path, cwd)],
                "partialFingerprints": {"elfkitCheckPath/v1": _fingerprint(r.check, rep.relpath)},
                "properties": {"value": r.value, "evidence": r.evidence, "kind": rep.kind},
            })
    invocation = {"executionSuccessful": run.exit_code in (0, 1), "exitCode": run.exit_code}
    notes = [{"level": "error", "message": {"text": f"{p}: {e}"}} for p, e in run.unreadable]
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "elfkit",
                "fullName": "elfkit check",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_rule(c, c in run.policy.require) for c in ids],
            }},
            "automationDetails": {"id": f"elfkit-check/{run.policy.name}/"},
            "originalUriBaseIds": {"SRCROOT": {"uri": "file://" + quote(cwd.rstrip("/") + "/")}},
            "invocations": [invocation],
            "results": results,
            "properties": {"policy": run.policy.to_json(), "summary": run.summary()},
        }],
    }


def write_check_sarif(run, out):
    out.write(json.dumps(run_sarif(run)))
    out.write("\n")
