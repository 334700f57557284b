"""`elfkit trace-plt`: watch PLT/GOT binding happen, under glibc's ld.so or under elfkit's linker.

What is hooked, and nothing else (so the program keeps Unicorn's fast path):
  - the program's entry point (once): the objects are read from ld.so's link_map (or
    elfkit's linker), and the GOT is inspected for what was bound at start-up;
  - under glibc's ld.so, the first instruction of its lazy resolver (the address GOT[2]
    holds): each hit is one lazy binding; [rsp] is the link_map, [rsp+8] the relocation
    index, [rsp+16] the caller's return address; the slot's new value is read when the
    next binding starts or the program ends (_dl_fixup writes it before jumping on);
  - under elfkit's resolver, its own binding records;
  - with --calls, the PLT sections' own code (one hook per PLT section), to count calls.
"""
from __future__ import annotations

import os
import struct
from collections import Counter
from dataclasses import dataclass, field

from elfkit.elf.constants import DF, DF_1, DT
from elfkit.elf.plt import plt_got_map
from elfkit.linker.lookup import requested_version

Q = struct.Struct("<Q")


@dataclass
class SlotInfo:
    """One PLT slot of one loaded object, with where things are in memory."""
    object: str                 # the object's basename
    base: int
    plt_section: str | None
    stub: int | None            # run-time address of the stub a caller calls
    lazy_stub: int | None       # run-time address of the .plt entry (where an unbound slot points)
    slot: int | None            # run-time address of the GOT slot (None: a vDSO lookup)
    reloc_section: str | None
    reloc_index: int
    reloc_type: str
    symbol: str | None
    version: str | None
    plt_lo: int = 0
    plt_hi: int = 0


@dataclass
class BindingEvent:
    order: int
    slot: SlotInfo
    before: int
    after: int | None
    target_object: str | None
    target_offset: int | None
    caller: int
    ifunc_resolver: int | None = None


@dataclass
class StartupBinding:
    slot: SlotInfo
    value: int
    target_object: str | None
    target_offset: int | None
    reason: str


@dataclass
class TraceResult:
    bindings: list[BindingEvent] = field(default_factory=list)
    startup: list[StartupBinding] = field(default_factory=list)
    calls: Counter = field(default_factory=Counter)       # slot address -> calls through its stub
    never_called: list[SlotInfo] = field(default_factory=list)
    slots: list[SlotInfo] = field(default_factory=list)
    counting: bool = False


# glibc's functions whose IFUNC resolver looks its implementation up in the vDSO (dl_vdso_vsym;
# sysdeps/unix/sysv/linux/x86/time.c and gettimeofday.c): bound lazily, they make a vDSO
# look-up after the program's entry, which LD_DEBUG=bindings reports after their own binding.
_VDSO_IFUNCS = frozenset({"time", "gettimeofday"})


class PltTracer:
    def __init__(self, proc, count_calls: bool = False):
        self.proc = proc
        self.count_calls = count_calls
        self.result = TraceResult(counting=count_calls)
        self._objects = []               # (name, base, lo, hi, elf, dyn flags)
        self._vdso_watch = None          # add_read_watch's remover, while the watch is on
        self._arm_vdso = None            # puts the watch on (_watch_vdso)
        self._slot_by_got: dict[int, SlotInfo] = {}
        self._slot_by_stub: dict[int, SlotInfo] = {}
        self._pending: list[BindingEvent] = []
        self._by_link_map: dict[int, object] = {}

    # --- attaching -----------------------------------------------------------------------------
    def attach(self):
        cpu = self.proc.cpu
        linker = getattr(self.proc, "linker", None)
        if linker is not None and linker.lazy is not None:
            linker.lazy.on_bind = self._on_elfkit_binding
        cpu.add_breakpoint(self.proc.image.program_entry, self._at_entry)
        self._watch_vdso()

    def _watch_vdso(self):
        """glibc looks functions up in the vDSO (dl_vdso_vsym: ld.so's setup_vdso_pointers, libc's
        IFUNC resolvers for time and gettimeofday), and LD_DEBUG=bindings reports each as a
        binding from linux-vdso.so.1 to itself. In ld.so's check_match, a candidate whose hash
        matched has its name compared: a read of the st_name field of that .dynsym entry, by
        ld.so's code. A read watch on the vDSO's .dynsym sees each such look-up."""
        from elfkit.elf.file import ElfFile
        from elfkit.elf.symbols import read_dynsym
        from elfkit.elf.versions import read_versions
        from elfkit.loader.vdso import SONAME, vdso_section
        interp = self.proc.image.interpreter
        area = next((v for v in self.proc.mm.vmas if v.name == "[vdso]"), None)
        if area is None or interp is None:
            return
        image = self.proc.mm.read(area.start, area.end - area.start)
        try:
            elf = ElfFile.from_bytes(image, "[vdso]")
            symbols = read_dynsym(elf).symbols
            versions = read_versions(elf)
            lo, hi = vdso_section(image, ".dynsym")
        except Exception:                      # noqa: BLE001 - not elfkit's vDSO: no watch
            return
        base, cpu = area.start, self.proc.cpu
        ld_lo, ld_hi = interp.start, interp.end

        def on_read(address, _size):
            index, field = divmod(address - base - lo, 24)
            if field or not 0 < index < len(symbols) or not ld_lo <= cpu.pc() < ld_hi:
                return
            sym = symbols[index]
            version, _hidden = versions.symbol_version(index, True)
            info = SlotInfo(SONAME, base, None, None, None, None, None, index, "vDSO lookup",
                            sym.name, version)
            self.result.bindings.append(BindingEvent(len(self.result.bindings), info, 0,
                                                     base + sym.value, SONAME, sym.value, 0))

        def arm(flush=False):
            self._vdso_watch = cpu.add_read_watch(base + lo + 24, base + hi - 1, on_read, flush)
        self._arm_vdso = arm
        arm()

    def _unwatch_vdso(self, now: bool = True):
        if self._vdso_watch is not None:
            self._vdso_watch(now)
            self._vdso_watch = None

    def _rewatch_vdso(self, ret: int):
        """Watch the vDSO's .dynsym again, from the next block on (the CPU stops for it, in this
        code hook), until the bound function returns to `ret`, its caller: then a code hook
        takes the watch off. (A memory hook must not stop the CPU: with exact stops off, the
        load it sees has not reached its register yet.)"""
        if self._vdso_watch is not None or self._arm_vdso is None:
            return
        cpu = self.proc.cpu

        def arm(cpu):
            self._arm_vdso(flush=True)
            handle = None

            def returned(_address):
                cpu.remove_hook(handle)
                self._unwatch_vdso()
            handle = cpu.add_code_hook(ret, ret, returned)
        cpu.before_run.append(arm)
        cpu.stop()

    def _at_entry(self):
        # The watch slows every load the guest makes (Cpu.add_read_watch): it goes at the
        # program's entry, when ld.so's look-ups (setup_vdso_pointers, libc's IRELATIVE
        # resolvers) are over, and comes back only for a lazy binding of a function whose
        # IFUNC resolver looks in the vDSO (_VDSO_IFUNCS, _on_ld_resolver).
        # (Not a stop in this hook: the hooks _attach_objects adds were then never called.
        # The ticker stops the CPU instead, from its own thread.)
        try:
            self._attach_objects()
        finally:
            self._unwatch_vdso(now=False)

    def _attach_objects(self):
        if self._objects:
            return
        from elfkit.linker.rtld import Linker
        linker = getattr(self.proc, "linker", None)
        if isinstance(linker, Linker):                 # elfkit mapped them: it knows them
            objects = [(os.path.basename(d.path), d.base, d.elf, d) for d in linker.dsos]
        else:
            from elfkit.linker.dso import LinkError
            from elfkit.linker.takeover import objects_from_link_map, read_link_map
            try:
                link_map = read_link_map(self.proc)
            except LinkError:
                return                # a static program: no link map, nothing bound lazily
            dsos = objects_from_link_map(self.proc, link_map)
            self._by_link_map = {d.link_map: d for d in dsos}
            objects = [(os.path.basename(d.path), d.base, d.elf, d) for d in dsos]
        resolvers = set()
        for name, base, elf, dso in objects:
            lo, hi = elf.load_extent
            self._objects.append((name, base, base + lo, base + hi, elf, dso))
            self._collect_slots(name, base, elf, dso)
            got2 = self._got2(base, dso)
            if got2:
                resolvers.add(got2)
        self._startup_bindings()
        if linker is None:                       # glibc's resolver: watch its entry
            for r in resolvers:
                self.proc.cpu.add_breakpoint(r, self._on_ld_resolver)
        if self.count_calls:
            self._hook_plts()

    def _got2(self, base, dso):
        pltgot = dso.dt(DT.PLTGOT)
        if pltgot is None or dso.dt(DT.JMPREL) is None:
            return 0
        return self._peek(base + pltgot + 16) or 0

    def _collect_slots(self, name, base, elf, dso):
        m = plt_got_map(elf)
        plts = [(base + p.addr, base + p.addr + p.size) for p in m.plt_sections]
        for s in m.slots:
            info = SlotInfo(name, base, s.plt_section, base + s.stub if s.stub is not None else None,
                            base + s.lazy_stub if s.lazy_stub is not None else None,
                            base + s.got_slot, s.reloc_section, s.reloc_index, s.reloc_type,
                            s.symbol, s.version)
            if info.stub is not None:
                lo, hi = next(((a, b) for a, b in plts if a <= info.stub < b), (0, 0))
                info.plt_lo, info.plt_hi = lo, hi
                self._slot_by_stub[info.stub] = info
            self._slot_by_got[info.slot] = info
            self.result.slots.append(info)

    # --- start-up ------------------------------------------------------------------------------
    def _startup_bindings(self):
        env_now = any(e.startswith(b"LD_BIND_NOW=") and e != b"LD_BIND_NOW="
                      for e in self.proc.envp)
        for name, base, lo, hi, elf, dso in self._objects:
            reason_now = self._bind_now_reason(dso, env_now)
            for info in [s for s in self.result.slots if s.object == name and s.base == base]:
                value = self._peek(info.slot)
                if value is None:
                    continue                     # a damaged file's slot outside its memory
                lazy_target = info.lazy_stub
                if info.reloc_type.endswith("GLOB_DAT"):
                    reason = "GLOB_DAT: bound at start-up, always"
                elif info.reloc_type.endswith("IRELATIVE"):
                    reason = "IRELATIVE: resolved at start-up"
                elif lazy_target is not None and _points_into(value, info):
                    continue                       # still lazy
                else:
                    reason = reason_now or "bound at start-up"
                tname, toff = self._where(value)
                self.result.startup.append(StartupBinding(info, value, tname, toff, reason))

    @staticmethod
    def _bind_now_reason(dso, env_now) -> str | None:
        if dso.dt(DT.BIND_NOW) is not None:
            return "BIND_NOW: DT_BIND_NOW"
        if dso.flags & DF.BIND_NOW:
            return "BIND_NOW: DT_FLAGS has DF_BIND_NOW (-z now)"
        if dso.flags_1 & DF_1.NOW:
            return "BIND_NOW: DT_FLAGS_1 has DF_1_NOW (-z now)"
        if env_now:
            return "BIND_NOW: LD_BIND_NOW is set"
        return None

    # --- lazy bindings -----------------------------------------------------------------------
    def _on_ld_resolver(self):
        """glibc's _dl_runtime_resolve: [rsp] = link_map, [rsp+8] = index, [rsp+16] = caller."""
        cpu = self.proc.cpu
        self._settle()
        link_map, index, ret = struct.unpack("<QQQ", cpu.read(cpu.reg("rsp"), 24))
        dso = self._by_link_map.get(link_map)
        if dso is None:
            return
        table = dso.jmprel()
        if table is None or index >= len(table.entries):
            return
        offset = table.entries[index][0]
        info = self._slot_by_got.get(dso.base + offset)
        if info is None:
            return
        before = self._peek(info.slot)
        if before is None:
            return
        event = BindingEvent(len(self.result.bindings), info, before, None, None, None, ret)
        self.result.bindings.append(event)
        self._pending.append(event)
        if info.symbol in _VDSO_IFUNCS:
            self._rewatch_vdso(ret)
        else:
            self._unwatch_vdso()                 # (a watch no look-up ended)

    def _on_elfkit_binding(self, b):
        info = self._slot_by_got.get(b.slot)
        if info is None:                          # before entry (an init function): map it now
            self._attach_objects()
            info = self._slot_by_got.get(b.slot)
            if info is None:
                return
        tname, toff = self._where(b.after)
        self.result.bindings.append(BindingEvent(len(self.result.bindings), info, b.before, b.after,
                                                 tname, toff, b.caller, b.ifunc_resolver))

    def _settle(self):
        """Read the new value of the slots glibc bound since the last look."""
        for e in self._pending:
            after = self._peek(e.slot.slot)
            e.after = e.before if after is None else after
            e.target_object, e.target_offset = self._where(e.after)
            e.ifunc_resolver = self._ifunc_resolver(e.slot.symbol, e.target_object)
            if e.target_object is None:
                # an IFUNC whose resolver chose code outside every object (libc's time and
                # gettimeofday return the vDSO's): bound to the object defining the IFUNC
                e.target_object, e.ifunc_resolver = self._ifunc_definer(e.slot.symbol)
        self._pending = []

    def _ifunc_definer(self, symbol):
        """(object, resolver address) of the first object defining `symbol` as an IFUNC."""
        for name, base, lo, hi, elf, dso in self._objects:
            if symbol is not None and self._ifunc_resolver(symbol, name) is not None:
                return name, self._ifunc_resolver(symbol, name)
        return None, None

    def _ifunc_resolver(self, symbol, target_object):
        """For a symbol the target object defines as STT_GNU_IFUNC: its resolver's address
        (the slot then holds the implementation the resolver chose)."""
        if symbol is None or target_object is None:
            return None
        for name, base, lo, hi, elf, dso in self._objects:
            if name != target_object or elf.dynsym is None:
                continue
            for s in elf.dynsym.symbols:
                if s.name == symbol and s.shndx and s.type == 10:
                    return base + s.value
        return None

    # --- calls -------------------------------------------------------------------------------
    def _hook_plts(self):
        ranges = {(s.plt_lo, s.plt_hi) for s in self._slot_by_stub.values() if s.plt_hi}
        for lo, hi in ranges:
            self.proc.cpu.add_code_range(lo, hi - 1, self._on_plt_code)

    def _on_plt_code(self, address):
        info = self._slot_by_stub.get(address)
        if info is not None:
            self.result.calls[info.slot] += 1

    # --- the end -----------------------------------------------------------------------------
    def finish(self) -> TraceResult:
        if not self._objects:
            return self.result
        self._settle()
        bound_lazily = {e.slot.slot for e in self.result.bindings}
        started = {s.slot.slot for s in self.result.startup}
        for info in self.result.slots:
            if info.slot in bound_lazily or info.slot in started:
                continue
            if self.count_calls and self.result.calls.get(info.slot):
                continue
            value = self._peek(info.slot)
            if value is not None and info.lazy_stub is not None and _points_into(value, info):
                self.result.never_called.append(info)
        return self.result

    def _peek(self, address) -> int | None:
        """The word at `address` in guest memory, or None where no area maps it: the PLT/GOT
        map comes from the file, and a damaged file's GOT may lie outside what was mapped
        (ld.so itself never reads those slots, so the program may run on)."""
        try:
            return Q.unpack(self.proc.cpu.read(address, 8))[0]
        except KeyError:
            return None

    def _where(self, address):
        for name, base, lo, hi, elf, dso in self._objects:
            if lo <= address < hi:
                return name, address - base
        return None, None


def _points_into(value: int, info: SlotInfo) -> bool:
    """Does a slot still point at its own PLT entry (unbound)?"""
    return info.lazy_stub is not None and info.lazy_stub <= value < info.lazy_stub + 16


__all__ = ["PltTracer", "TraceResult", "requested_version"]
