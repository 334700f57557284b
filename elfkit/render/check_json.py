"""`elfkit check --format json`: one document, keys in docs/CHECK.md (stable; `schema` bumps on change)."""
from __future__ import annotations

import json

from elfkit import __version__

SCHEMA = 1


def file_json(rep) -> dict:
    return {"path": rep.path, "relpath": rep.relpath, "status": rep.status, "kind": rep.kind,
            "machine": rep.machine, "failed": rep.failed, "error": rep.error,
            "warnings": rep.warnings, "checks": {r.check: r.to_json() for r in rep.results}}


def run_json(run) -> dict:
    return {
        "elfkit": {"version": __version__, "schema": SCHEMA, "command": "check"},
        "arguments": run.arguments,
        "policy": run.policy.to_json(),
        "shard": {"index": run.shard[0], "count": run.shard[1]} if run.shard else None,
        "summary": run.summary(),
        "files": [file_json(f) for f in run.files],
        "unreadable": [{"path": p, "error": e} for p, e in run.unreadable],
    }


def write_check_json(run, out):
    out.write(json.dumps(run_json(run)))
    out.write("\n")
