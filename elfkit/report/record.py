"""`elfkit report`'s observer: attached to a spawned guest before its first instruction, it
keeps what the page shows.

  at entry    the memory areas and the initial stack, as exec left them (the guest has not run)
  run         system calls by name (SyscallLane, the kernel's strace hook), each library's first
              file mapping, the program's entry (_start) and main (breakpoints), each lazy PLT
              binding (trace-plt's observer), each process event (--trace-procs' tracer)
  at the end  the memory areas (what --maps prints), every GOT slot's last value
"""
from __future__ import annotations

import io
import itertools
import os
from collections import Counter

from elfkit.elf.constants import reloc_type_name
from elfkit.kernel.proctrace import ProcTracer
from elfkit.report.areas import parse_maps
from elfkit.report.bindings import StampedPltTracer, got_slots
from elfkit.report.data import Event, ObjectFacts, ReportData, StackRow
from elfkit.report.syscalls import SyscallLane

PT_LOAD = 1
STT_FUNC = 2


class StampedProcTracer(ProcTracer):
    """--trace-procs' tracer, its events kept (never written) with the system call count."""

    def __init__(self, clock):
        super().__init__(io.StringIO(), as_json=True)
        self.clock = clock

    def _emit(self, ev: dict):
        ev["at"] = self.clock()
        super()._emit(ev)


class Recorder:
    """spawn_guest(**spawn_options()), then attach() before the first instruction, run, then
    finish(status) -> ReportData."""

    def __init__(self):
        self.lane = SyscallLane()
        self.procs = StampedProcTracer(lambda: self.lane.at)
        self.events: list[Event] = []
        self._seq = itertools.count(1)
        self._mapped: set[str] = set()
        self._relocated: set[str] = set()     # objects whose RELRO ld.so has protected
        self._started = self._in_main = False

    def spawn_options(self) -> dict:
        """What spawn_guest must be given so that the kernel reports to this recorder."""
        return {"strace": self.lane, "tracer": self.procs}

    # --- before the first instruction -----------------------------------------------------------
    def attach(self, proc, path: str, argv: list[str], count_calls: bool = False):
        image = proc.image
        self.proc, self.path, self.argv = proc, path, argv
        self.program = image.program
        self.interp = image.interpreter
        self.names = (self.program.display_path or self.program.path,
                      self.interp.display_path or self.interp.path if self.interp else None)
        self.areas_entry = parse_maps(proc.mm.maps_text(), *self.names)
        self.stack = stack_rows(image.stack)
        self.stack_sp = image.stack.sp
        self._exec_events(image, argv)
        self.lane.on_mapped = self._on_mapped
        self.lane.on_protected = self._on_protected
        self.plt = StampedPltTracer(proc, lambda: (self.lane.at, next(self._seq)), count_calls)
        self.plt.attach()
        self.lane.on_enter = self.plt.stamp
        proc.cpu.add_breakpoint(image.program_entry, self._at_start)
        main = find_main(self.program.elf)
        if main is not None:
            self.main = main + self.program.load_bias
            proc.cpu.add_breakpoint(self.main, self._at_main)

    def _add(self, event: Event):
        event.seq = next(self._seq)
        self.events.append(event)

    def _exec_events(self, image, argv):
        pid, add = self.proc.pid, self._add
        add(Event(0, "execve", pid, f"execve({self.path!r}, [{', '.join(map(repr, argv))}])"))
        for obj, role in ((self.program, "program"), (self.interp, "interpreter")):
            if obj is None:
                continue
            if role == "interpreter":
                add(Event(0, "interp", pid, f"interpreter {obj.path} (PT_INTERP) loaded, "
                                            f"load bias {obj.load_bias:#x}"))
            for seg in obj.elf.load_segments:
                lo = obj.load_bias + seg.vaddr
                add(Event(0, "load", pid, f"{os.path.basename(obj.path)}: PT_LOAD "
                                          f"{seg.flags_name.strip()} mapped at "
                                          f"{lo:#x}-{lo + seg.memsz:#x} "
                                          f"(file offset {seg.offset:#x}, {seg.filesz:#x} bytes "
                                          f"from the file, {seg.memsz:#x} in memory)"))
        add(Event(0, "stack", pid, f"initial stack built: argc {len(argv)}, %rsp = "
                                   f"{image.stack.sp:#x}"))
        linker = getattr(self.proc, "linker", None)
        if linker is not None and getattr(linker, "dsos", None):
            # --linker=elfkit: its rtld (Python) did ld.so's work before the first instruction
            for dso in linker.dsos:
                if dso.is_main:
                    continue
                add(Event(0, "library", pid, f"{os.path.basename(dso.path)} mapped at "
                                             f"{dso.base:#x} by elfkit's linker"))
            for dso in reversed(linker.dsos):
                relocs = dynamic_relocation_counts(dso.host_path)
                counted = ", ".join(f"{n} {t}" for t, n in relocs.most_common())
                add(Event(0, "relocated", pid, f"{os.path.basename(dso.path)} relocated by "
                                               f"elfkit's linker" + (f" ({counted})" if counted
                                                                     else ""),
                          {"relocs": dict(relocs)}))
            who = "the program (elfkit's linker has done ld.so's work)"
        else:
            who = f"ld.so ({os.path.basename(self.interp.path)})" if self.interp else "the program"
        add(Event(0, "entry", pid, f"first instruction: entry of {who} at {image.entry:#x}"))

    # --- while it runs ---------------------------------------------------------------------------
    def _on_mapped(self, proc, name, address, at):
        if proc is not self.proc or name in self._mapped or name in self.names:
            return
        self._mapped.add(name)
        if not is_elf(proc, name):
            return                              # ld.so.cache, locale archives, data files
        relocs = dynamic_relocation_counts(proc.kernel.sysroot.host_path(name))
        detail = {"relocs": dict(relocs)}
        counted = ", ".join(f"{n} {t}" for t, n in relocs.most_common())
        self._add(Event(at, "library", proc.pid, f"{os.path.basename(name)} mapped at "
                                 f"{address:#x}" + (f"; its relocations: {counted}" if counted
                                                    else ""), detail))

    def _on_protected(self, proc, address, length, prot, at):
        """An object's RELRO made read-only (PROT_READ): ld.so has just relocated it."""
        if proc is not self.proc or prot != 1:
            return
        vma = proc.mm.find(address) if proc.mm is not None else None
        name = vma.name if vma is not None else ""
        if not name.startswith("/") or name in self._relocated or not is_elf(proc, name):
            return
        self._relocated.add(name)
        relocs = dynamic_relocation_counts(proc.kernel.sysroot.host_path(name))
        counted = ", ".join(f"{n} {t}" for t, n in relocs.most_common())
        self._add(Event(at, "relocated", proc.pid,
                        f"{os.path.basename(name)} relocated" + (f" ({counted})" if counted else "")
                        + f"; its RELRO {address:#x}-{address + length:#x} made read-only",
                        {"relocs": dict(relocs)}))

    def _at_start(self):
        if not self._started:
            self._started = True
            self.plt.stamp()
            self._add(Event(self.lane.at, "start", self.proc.pid,
                                     f"_start: the program's entry at "
                                     f"{self.proc.image.program_entry:#x} (AT_ENTRY)"))

    def _at_main(self):
        if not self._in_main:
            self._in_main = True
            self.plt.stamp()
            self._add(Event(self.lane.at, "main", self.proc.pid,
                                     f"main at {self.main:#x}"))

    # --- the end ---------------------------------------------------------------------------------
    def finish(self, status) -> ReportData:
        proc = self.proc
        result = self.result = self.plt.finish()      # (trace-plt --report prints it too)
        self.plt.stamp()
        for e, (at, seq) in zip(result.bindings, self.plt.stamps):
            s = e.slot
            sym = (s.symbol or "?") + (f"@{s.version}" if s.version else "")
            where = f"{e.target_object or '?'}+{e.target_offset or 0:#x}"
            if s.slot is None:
                text = f"{s.object}: vDSO look-up of {sym} => {where}"
            else:
                after = f"{e.after:#x}" if e.after is not None else "?"
                text = (f"{s.object}: {sym}: GOT {s.slot:#x} {e.before:#x} -> {after} => {where}")
            self.events.append(Event(at, "binding", proc.pid, text,
                                     {"symbol": s.symbol or "", "version": s.version or "",
                                      "object": s.object, "target": e.target_object or "",
                                      "order": e.order + 1}, seq))
        self._add(Event(self.lane.at, "exit", proc.pid, status_text(status)))
        self.events.sort(key=lambda e: (e.at, e.seq))
        areas_exit = parse_maps(proc.mm.maps_text(), *self.names) if proc.mm is not None else []
        return ReportData(
            path=self.path, argv=self.argv, program=self.program.elf,
            load_bias=self.program.load_bias, entry=proc.image.program_entry,
            stack_sp=self.stack_sp, stack=self.stack, areas_entry=self.areas_entry,
            areas_exit=areas_exit, objects=self._objects(areas_exit), events=self.events,
            syscalls=self.lane.names, got=got_slots(self.plt, result),
            processes=self.procs.root, process_events=self.procs.events,
            status=status_text(status), dynamic=self.interp is not None)

    def _objects(self, areas) -> list[ObjectFacts]:
        """The program, its interpreter and every library mapped at the end (in address order),
        each with elfkit check's verdicts under the default policy."""
        from elfkit.check.policy import preset
        from elfkit.check.runner import check_target
        from elfkit.check.tree import Target
        policy = preset("default", "built-in")
        seen, out = set(), []
        roles = {"program": 0, "interpreter": 1, "library": 2}
        for a in sorted(areas, key=lambda a: (roles.get(a.kind, 3), a.start)):
            if a.kind not in roles or a.name in seen:
                continue
            seen.add(a.name)
            host = self.proc.image.program.host_path if a.kind == "program" else \
                self.proc.image.interpreter.host_path if a.kind == "interpreter" else \
                self.proc.kernel.sysroot.host_path(a.name)
            out.append(ObjectFacts(a.name, a.kind, a.start - a.offset,
                                   check_target(Target(host, host), policy),
                                   dynamic_relocation_counts(host)))
        return out


def stack_rows(stack) -> list[StackRow]:
    """The initial stack's pieces as --show-stack shows them (elfkit.render.stack), top to
    bottom, with the stack address each pointer names."""
    lo, hi = stack.sp, stack.sp + len(stack.data)
    rows = []
    for it in stack.items:
        value, target = it.value, None
        if isinstance(value, bytes):
            shown = repr(value.decode("utf-8", "backslashreplace"))
        elif isinstance(value, int) and it.label.startswith(("argv[", "envp[")) \
                and "string" not in it.label:
            shown, target = f"-> {value:#x}", value
        elif isinstance(value, int) and it.label.startswith("auxv"):
            shown = f"{value:#x}" if value > 4096 else str(value)
            if lo <= value < hi:
                target = value
        elif value is None:
            shown = ""
        else:
            shown = str(value)
        rows.append(StackRow(it.address, it.size, it.label, shown, target))
    return rows


def is_elf(proc, name: str) -> bool:
    """Does the guest file `name` start with the ELF magic? (read through the task's root)"""
    try:
        with open(proc.kernel.sysroot.host_path(name), "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def find_main(elf) -> int | None:
    """`main`'s address in the file, from .symtab, else .dynsym (None: stripped)."""
    try:
        tables = list(elf.symbol_tables)
        if elf.dynsym is not None:
            tables.append(elf.dynsym)
    except Exception:  # noqa: BLE001 - a damaged table: no main on the timeline
        return None
    for table in tables:
        for s in table.symbols:
            if s.name == "main" and s.type == STT_FUNC and s.shndx and s.value:
                return s.value
    return None


def dynamic_relocation_counts(path: str) -> Counter:
    """How many dynamic relocations of each type the file asks ld.so for (RELR counted as
    R_X86_64_RELATIVE words)."""
    from elfkit.elf.file import ElfFile
    counts: Counter = Counter()
    try:
        elf = ElfFile.open(path)
        for t in elf.relocation_tables:
            if t.kind == "RELR":
                counts["RELR (relative)"] += len(t.relr_addresses)
            elif t.dynamic:
                for info in t.columns[1]:
                    counts[reloc_type_name(info & 0xFFFFFFFF, elf.header.machine)] += 1
    except Exception:  # noqa: BLE001 - not readable as ELF: no counts
        pass
    return counts


def status_text(status) -> str:
    if status.limit is not None or status.signal is not None:
        return status.reason or f"killed by signal {status.signal}"
    return f"exited with {status.shell_status}"
