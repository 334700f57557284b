"""One `elfkit check` run as data: the policy, every file's report, what was skipped, the exit code.

Exit codes (docs/CHECK.md):
  0  every ELF file passed every required check
  1  at least one required check failed, or a file is malformed
  2  an argument or a file could not be read (missing, permission denied)
  3  elfkit failed on a file (a bug; the report says which)
The highest applicable code wins.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from elfkit.check import results as R


@dataclass
class Run:
    policy: object
    arguments: list[str]
    files: list[R.FileReport] = field(default_factory=list)      # ELF files (incl. malformed)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    not_elf: int = 0
    symlinks: int = 0
    special: int = 0
    excluded: int = 0
    outside_shard: int = 0
    shard: tuple[int, int] | None = None

    def add(self, rep: R.FileReport):
        if rep.status == R.STATUS_NOT_ELF:
            self.not_elf += 1
        elif rep.status == R.STATUS_UNREADABLE:
            self.unreadable.append((rep.path, rep.error or "cannot be read"))
        else:
            self.files.append(rep)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def exit_code(self) -> int:
        if any(f.status == R.STATUS_ERROR for f in self.files):
            return 3
        if self.unreadable:
            return 2
        if any(f.status in (R.STATUS_FAIL, R.STATUS_MALFORMED) for f in self.files):
            return 1
        return 0

    def summary(self) -> dict:
        return {"files": len(self.files), "passed": self.count(R.STATUS_PASS),
                "failed": self.count(R.STATUS_FAIL), "malformed": self.count(R.STATUS_MALFORMED),
                "errors": self.count(R.STATUS_ERROR), "unreadable": len(self.unreadable),
                "not_elf": self.not_elf, "symlinks_skipped": self.symlinks,
                "special_skipped": self.special, "excluded": self.excluded,
                "outside_shard": self.outside_shard, "exit_code": self.exit_code}
