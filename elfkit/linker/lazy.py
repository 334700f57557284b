"""elf/dl-runtime.c: _dl_fixup -- the lazy PLT resolver, as elfkit's trap.

The PLT contract (x86-64 psABI): GOT[1] identifies the object, GOT[2] holds
the resolver's address, and each JUMP_SLOT first points back into its own PLT
entry. The first call through a slot runs PLTn (push the relocation index,
jump to PLT0), PLT0 pushes GOT[1] and jumps through GOT[2] -- here, to
elfkit's trap. The resolver then:
  1. reads the object id at [%rsp] and the relocation index at [%rsp+8];
  2. finds that JUMP_SLOT relocation in the object's DT_JMPREL table (the table also
     holds the R_X86_64_TLSDESC of -mtls-dialect=gnu2 code, after the JUMP_SLOTs: those
     were applied at start-up, see tlsdesc.py; a PLT asking for one is an error);
  3. looks its symbol up in the object's scope (an IFUNC's resolver chooses);
  4. writes the address into the GOT slot;
  5. pops the two words and continues at the target, so the target returns
     straight to the original caller. Later calls go through the GOT.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from elfkit.elf.constants import DT, R_X86_64, reloc_type_name
from elfkit.linker.dso import DAMAGE, LinkError, damage_error

Q = struct.Struct("<Q")


@dataclass(slots=True)
class Binding:
    """One lazy binding, as it happened (for trace-plt)."""
    order: int
    dso: object            # the object whose PLT was called
    reloc_index: int
    slot: int              # GOT slot address
    before: int
    after: int
    symbol: str
    version: str | None
    target_dso: object | None
    caller: int            # the return address: the call site is just before it
    ifunc_resolver: int | None = None   # for an IFUNC: the resolver that chose `after`


class LazyResolver:
    def __init__(self, linker):
        self.linker = linker
        self.proc = linker.proc
        self.trap = self.proc.cpu.add_trap(0x10, self.on_resolve)
        self.bindings: list[Binding] = []
        self.on_bind = None           # optional observer (trace-plt)

    def prepare_slot(self, dso, offset: int):
        """elf_machine_lazy_rel: the slot's link-time value, relocated by the object's base."""
        cpu = self.proc.cpu
        where = dso.base + offset
        (value,) = Q.unpack(cpu.read(where, 8))
        cpu.write(where, Q.pack((value + dso.base) & 0xFFFFFFFFFFFFFFFF))

    def install(self, dso):
        """GOT[1] = the object's id, GOT[2] = the resolver trap (elf_machine_runtime_setup)."""
        pltgot = dso.dt(DT.PLTGOT)
        if pltgot is None or dso.dt(DT.JMPREL) is None:
            return
        got = dso.base + pltgot
        self.proc.cpu.write(got + 8, Q.pack(dso.id) + Q.pack(self.trap))

    def on_resolve(self):
        """The trap handler: _dl_fixup, then jump to the target (_dl_runtime_resolve's tail)."""
        cpu, linker = self.proc.cpu, self.linker
        dso = None
        try:
            rsp = cpu.reg("rsp")
            dso_id, index, ret = struct.unpack("<QQQ", cpu.read(rsp, 24))
            dso = linker.dsos_by_id.get(dso_id)
            if dso is None:
                raise LinkError(f"lazy resolver called with unknown object id {dso_id}")
            table = linker.jmprel_table(dso)
            if table is None or index >= len(table.entries):
                raise LinkError(f"{dso.path}: PLT asked for relocation {index}, DT_JMPREL has "
                                f"{0 if table is None else len(table.entries)}")
            offset, info, addend = table.entries[index]
            if info & 0xFFFFFFFF != R_X86_64.JUMP_SLOT:
                raise LinkError(f"{dso.path}: PLT asked for relocation {index}, which is "
                                f"{reloc_type_name(info & 0xFFFFFFFF, 62)}, not a JUMP_SLOT")
            sym = info >> 32
            slot = dso.base + offset
            (before,) = Q.unpack(cpu.read(slot, 8))
            address, ifunc = linker.relocator.symbol_target(dso, sym)

            def finish(target, resolver=None):
                target = (target + addend) & 0xFFFFFFFFFFFFFFFF
                cpu.write(slot, Q.pack(target))
                binding = self._record(dso, index, slot, before, target, sym, ret, resolver)
                cpu.set_reg("rsp", rsp + 16)
                cpu.set_reg("rip", target)
                if self.on_bind is not None:
                    self.on_bind(binding)
            if ifunc:
                # the IFUNC's resolver runs in the guest first; then the binding completes
                self.proc.call_from_hook([(address, ())],
                                         lambda results: finish(results[0], resolver=address))
            else:
                finish(address)
        except LinkError as e:
            linker.fail(str(e))
        except DAMAGE as e:
            linker.fail(str(damage_error(dso.path if dso is not None else "?", e)))

    def _record(self, dso, index, slot, before, target, sym, ret, resolver=None) -> Binding:
        from elfkit.linker.lookup import requested_version
        s = dso.symbols[sym]
        version = requested_version(dso, sym)
        target_dso = self.linker.dso_at(target)
        b = Binding(len(self.bindings), dso, index, slot, before, target, s.name,
                    version.name if version else None, target_dso, ret, resolver)
        self.bindings.append(b)
        return b
