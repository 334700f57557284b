"""`elfkit check --format junit`: JUnit XML, one testcase per (file, check).

classname is the file's path, name the check id. A failing required check
is a <failure>; a malformed file is a <failure> of `well-formed`; an elfkit
error on a file is an <error>; a check that does not apply, or fails but is
not required by the policy, is <skipped> with the reason. Unreadable inputs
are <error> testcases named `read`.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from elfkit.check import results as R

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text) -> str:
    """XML 1.0 cannot hold control characters (or lone surrogates): escape them."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def run_junit(run) -> ET.Element:
    suite = ET.Element("testsuite", name=_x(f"elfkit check (policy {run.policy.name})"))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(classname, name, kind=None, message="", body=""):
        counts["tests"] += 1
        tc = ET.SubElement(suite, "testcase", classname=_x(classname), name=_x(name))
        if kind is not None:
            counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[kind]] += 1
            el = ET.SubElement(tc, kind, message=_x(message))
            if kind != "skipped":
                el.set("type", _x(name))
            if body:
                el.text = _x(body)

    for rep in run.files:
        for r in rep.results:
            text = f"{r.value}: {r.message}"
            if r.value == "error" and rep.status == R.STATUS_ERROR and r.verdict == R.FAIL:
                case(rep.path, r.check, "error", text)
            elif r.verdict == R.FAIL and (r.required or rep.status == R.STATUS_MALFORMED):
                case(rep.path, r.check, "failure", text, json.dumps(r.evidence, indent=1))
            elif r.verdict == R.FAIL:
                case(rep.path, r.check, "skipped", f"not required by the policy: {text}")
            elif r.verdict == R.NA:
                case(rep.path, r.check, "skipped", f"not applicable: {text}")
            else:
                case(rep.path, r.check)
    for path, why in run.unreadable:
        case(path, "read", "error", why)
    for k, v in counts.items():
        suite.set(k, str(v))
    root = ET.Element("testsuites", name="elfkit check", **{k: str(v) for k, v in counts.items()})
    root.append(suite)
    return root


def write_check_junit(run, out):
    root = run_junit(run)
    ET.indent(root, space=" ")
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")
