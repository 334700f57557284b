"""What a check says about one file: a verdict, a short value for tables, a sentence, and the evidence.

Plain data only (no ElfFile, no policy objects), so reports cross process
boundaries (`--jobs`) and go straight to the JSON, SARIF and JUnit writers.
"""
from __future__ import annotations

from elfkit.elf.record import Record

PASS, FAIL, NA = "pass", "fail", "n/a"

# FileReport.status
STATUS_PASS = "pass"            # every required check passed (or is not applicable)
STATUS_FAIL = "fail"            # at least one required check failed
STATUS_MALFORMED = "malformed"  # not readable as ELF past the identification (a finding, exit 1)
STATUS_NOT_ELF = "not-elf"      # skipped: no ELF magic
STATUS_UNREADABLE = "unreadable"  # could not be opened (usage-class error, exit 2)
STATUS_ERROR = "error"          # elfkit itself failed on this file (a bug, exit 3)


class CheckResult(Record):
    __slots__ = ("check", "verdict", "value", "message", "evidence", "required")

    def __init__(self, check: str, verdict: str, value: str, message: str,
                 evidence: dict | None = None, required: bool = False):
        self.check = check              # check id, e.g. "relro"
        self.verdict = verdict          # PASS / FAIL / NA
        # short answer for a table cell: "full", "PIE", "3/7", "none"
        self.value = value
        self.message = message          # one sentence saying why
        # JSON-able facts the verdict rests on
        self.evidence = {} if evidence is None else evidence
        self.required = required        # filled in by the runner from the policy

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "required": self.required, "value": self.value,
                "message": self.message, "evidence": self.evidence}


class FileReport(Record):
    __slots__ = ("path", "relpath", "status", "kind", "machine", "results", "warnings", "error",
                 "cfi")

    def __init__(self, path: str, relpath: str, status: str, kind: str | None = None,
                 machine: str | None = None, results: list[CheckResult] | None = None,
                 warnings: list[str] | None = None, error: str | None = None,
                 cfi: str | None = None):
        self.path = path                # as found: argument joined with the path below it
        self.relpath = relpath          # relative to the argument it was found under (shard key)
        self.status = status
        self.kind = kind                # file kind key (facts.KINDS), None when not ELF/unreadable
        self.machine = machine
        self.results = [] if results is None else results
        self.warnings = [] if warnings is None else warnings
        self.error = error              # why the file is malformed / unreadable / errored
        self.cfi = cfi              # the machine's control-flow protection: "x86", "aarch64", None

    @property
    def failed(self) -> list[str]:
        """Ids of the required checks that failed."""
        return [r.check for r in self.results if r.required and r.verdict == FAIL]

    def result(self, check: str) -> CheckResult | None:
        return next((r for r in self.results if r.check == check), None)


def result(check: str, verdict: str, value: str, message: str, **evidence) -> CheckResult:
    return CheckResult(check, verdict, value, message, evidence)
