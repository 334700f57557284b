"""What a check says about one file: a verdict, a short value for tables, a sentence, and the evidence.

Plain data only (no ElfFile, no policy objects), so reports cross process
boundaries (`--jobs`) and go straight to the JSON, SARIF and JUnit writers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PASS, FAIL, NA = "pass", "fail", "n/a"

# FileReport.status
STATUS_PASS = "pass"            # every required check passed (or is not applicable)
STATUS_FAIL = "fail"            # at least one required check failed
STATUS_MALFORMED = "malformed"  # not readable as ELF past the identification (a finding, exit 1)
STATUS_NOT_ELF = "not-elf"      # skipped: no ELF magic
STATUS_UNREADABLE = "unreadable"  # could not be opened (usage-class error, exit 2)
STATUS_ERROR = "error"          # elfkit itself failed on this file (a bug, exit 3)


@dataclass(slots=True)
class CheckResult:
    check: str                  # check id, e.g. "relro"
    verdict: str                # PASS / FAIL / NA
    value: str                  # short answer for a table cell: "full", "PIE", "3/7", "none"
    message: str                # one sentence saying why
    evidence: dict = field(default_factory=dict)   # JSON-able facts the verdict rests on
    required: bool = False      # filled in by the runner from the policy

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "required": self.required, "value": self.value,
                "message": self.message, "evidence": self.evidence}


@dataclass(slots=True)
class FileReport:
    path: str                   # as found: argument joined with the path below it
    relpath: str                # relative to the argument it was found under (shard key)
    status: str
    kind: str | None = None     # file kind key (facts.KINDS), None when not ELF/unreadable
    machine: str | None = None
    results: list[CheckResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None    # why the file is malformed / unreadable / errored
    cfi: str | None = None      # the machine's control-flow protection: "x86", "aarch64", None

    @property
    def failed(self) -> list[str]:
        """Ids of the required checks that failed."""
        return [r.check for r in self.results if r.required and r.verdict == FAIL]

    def result(self, check: str) -> CheckResult | None:
        return next((r for r in self.results if r.check == check), None)


def result(check: str, verdict: str, value: str, message: str, **evidence) -> CheckResult:
    return CheckResult(check, verdict, value, message, evidence)
