"""The records of one `elfkit report` run: plain data the renderer draws (elfkit/render/report).

Places in the run are counted in system calls: an event's `at` is how many system calls the
guest processes had entered when it happened, the timeline's one clock that is the same in
every run of the same program (wall time under an emulator is not the program's).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Area:
    """One line of /proc/PID/maps."""
    start: int
    end: int
    perms: str                  # "r-xp"
    offset: int
    name: str                   # path, [heap], [stack], [vdso], ... or "" (anonymous)
    kind: str = "anonymous"     # program | interpreter | library | file | heap | stack | vdso
    #                             | vvar | vsyscall | anonymous
    line: str = ""              # the maps line itself, as --maps prints it
    bss_of: str = ""            # an anonymous area that is an object's bss: that object's path

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(slots=True)
class StackRow:
    """One labelled piece of the initial stack (elfkit.loader.stack.StackItem, as shown)."""
    address: int
    size: int
    label: str
    value: str                  # as --show-stack shows it ("" for none)
    points_to: int | None = None    # a pointer's target on the stack (argv[i], envp[i], AT_*)


@dataclass(slots=True)
class Event:
    """One step of the start-up and life, at system call `at`."""
    at: int
    kind: str                   # execve | load | interp | stack | entry | library | start | main
    #                             | binding | exit | process
    pid: int
    text: str
    detail: dict = field(default_factory=dict)
    seq: int = 0                # the order it was seen in (events at the same `at`)


@dataclass(slots=True)
class GotSlot:
    """One PLT/GOT slot of one loaded object: what it held first and last."""
    object: str
    symbol: str
    slot: int | None
    reloc_type: str
    first: int | None           # at the program's entry (a lazy slot: its PLT entry)
    last: int | None            # at the end
    first_target: str           # "hello-lazy+0x1036" / "(PLT stub)"
    last_target: str
    how: str                    # "lazy #N" | start-up reason | "never called"


@dataclass(slots=True)
class ObjectFacts:
    """A loaded ELF object: its path, where it was mapped, `elfkit check`'s verdicts."""
    path: str
    role: str                   # program | interpreter | library
    base: int | None
    check: object = None        # elfkit.check.results.FileReport
    relocs: Counter = field(default_factory=Counter)     # dynamic relocation type -> count


@dataclass
class ReportData:
    path: str                   # FILE as given
    argv: list[str]
    program: object             # its ElfFile
    load_bias: int
    entry: int                  # the program's entry at run time (AT_ENTRY)
    stack_sp: int
    stack: list[StackRow]
    areas_entry: list[Area]
    areas_exit: list[Area]
    objects: list[ObjectFacts]
    events: list[Event]
    syscalls: list[str]         # names, in the order they were entered (every process)
    got: list[GotSlot]
    processes: dict | None      # elfkit.kernel.proctrace's tree (docs/PROCS.md)
    process_events: list[dict]
    status: str                 # "exited with 0" / "killed by SIGSEGV" / a limit's reason
    dynamic: bool = True

    @property
    def syscall_counts(self) -> Counter:
        return Counter(self.syscalls)
