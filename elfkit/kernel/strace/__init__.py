"""--strace: one line per guest system call, in strace(1) 6.x's format.

xlat (numbers, flag tables, strings) -> call (one call being printed) -> kinds (argument
decoders) -> structs (structures) -> calls (SPEC: each syscall's argument kinds) -> writer
(StraceWriter, what the dispatcher calls).
"""
from elfkit.kernel.strace.writer import StraceWriter
from elfkit.kernel.strace.xlat import COLUMN, MAX_STRLEN

__all__ = ["StraceWriter", "COLUMN", "MAX_STRLEN"]
