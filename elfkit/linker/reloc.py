"""elf/dl-reloc.c + sysdeps/x86_64/dl-machine.h: applying one object's relocations.

As in musl's do_relocs, the x86-64 types are mapped to a few generic kinds
in one table, and each kind is one small function. JUMP_SLOT relocations
are left for the lazy resolver unless binding now (BIND_NOW, LD_BIND_NOW);
TLSDESC ones are applied at once even in .rela.plt, as glibc >= 2.34 does
(tlsdesc.py).
"""
from __future__ import annotations

import struct

from elfkit.elf.constants import R_X86_64, STT, STV, reloc_type_name
from elfkit.linker.dso import LinkError
from elfkit.linker.lookup import lookup, requested_version
from elfkit.linker.tls import NO_TLS_OFFSET

# generic kind -> the x86-64 types that are that kind
KINDS = {
    "NONE": (R_X86_64.NONE,),
    "SYMBOLIC": (R_X86_64.R64,),
    "PC32": (R_X86_64.PC32,),
    "GOT": (R_X86_64.GLOB_DAT,),
    "PLT": (R_X86_64.JUMP_SLOT,),
    "RELATIVE": (R_X86_64.RELATIVE,),
    "COPY": (R_X86_64.COPY,),
    "IRELATIVE": (R_X86_64.IRELATIVE,),
    "TPOFF": (R_X86_64.TPOFF64,),
    "DTPMOD": (R_X86_64.DTPMOD64,),
    "DTPOFF": (R_X86_64.DTPOFF64,),
    "TLSDESC": (R_X86_64.TLSDESC,),
}
KIND_OF = {int(t): kind for kind, types in KINDS.items() for t in types}
Q = struct.Struct("<Q")


class Relocator:
    """Applies relocations for one link: needs the linker (scope, TLS, IFUNC calls)."""

    def __init__(self, linker):
        self.linker = linker
        self.write = linker.proc.cpu.write        # like ld.so, it writes through protections

    def relocate(self, dso, bind_now: bool):
        jmprel = dso.jmprel()
        tables = [t for t in dso.elf.relocation_tables
                  if not (jmprel is not None and t.offset == jmprel.offset and t.kind != "RELR")]
        for table in tables + ([jmprel] if jmprel is not None else []):
            if table.kind == "RELR":
                self._relr(dso, table)
                continue
            is_plt = table is jmprel
            for index, (offset, info, addend) in enumerate(table.entries):
                rtype, sym = info & 0xFFFFFFFF, info >> 32
                kind = KIND_OF.get(rtype)
                if kind is None:
                    raise LinkError(f"{dso.path}: unsupported relocation {reloc_type_name(rtype, 62)} "
                                    f"({rtype}) at offset {offset:#x} (entry {index} of "
                                    f"{table.section or 'the dynamic relocations'})")
                if kind == "PLT" and is_plt and not bind_now:
                    self.linker.lazy.prepare_slot(dso, offset)
                    continue
                getattr(self, "_" + kind.lower())(dso, dso.base + offset, sym, addend)
        dso.relocated = True

    # --- the kinds -----------------------------------------------------------------------------
    def _none(self, dso, where, sym, addend):
        pass

    def _relative(self, dso, where, sym, addend):
        self.write(where, Q.pack((dso.base + addend) & 0xFFFFFFFFFFFFFFFF))

    def _symbolic(self, dso, where, sym, addend):
        self.write(where, Q.pack((self.symbol_value(dso, sym) + addend) & 0xFFFFFFFFFFFFFFFF))

    def _got(self, dso, where, sym, addend):
        self.write(where, Q.pack((self.symbol_value(dso, sym) + addend) & 0xFFFFFFFFFFFFFFFF))

    def _plt(self, dso, where, sym, addend):
        self.write(where, Q.pack((self.symbol_value(dso, sym) + addend) & 0xFFFFFFFFFFFFFFFF))

    def _pc32(self, dso, where, sym, addend):
        value = self.symbol_value(dso, sym) + addend - where
        if not -(1 << 31) <= value < (1 << 31):
            raise LinkError(f"{dso.path}: R_X86_64_PC32 at {where - dso.base:#x} out of range")
        self.write(where, struct.pack("<i", value))

    def _irelative(self, dso, where, sym, addend):
        self.write(where, Q.pack(self.linker.call_ifunc(dso.base + addend)))

    def _copy(self, dso, where, sym, addend):
        s = dso.symbols[sym]
        d = self._resolve(dso, sym, skip=dso)
        if d is None:
            raise LinkError(f"{dso.path}: copy relocation for undefined symbol {s.name}")
        size = min(s.size, d.symbol.size)
        self.write(where, self.linker.proc.cpu.read(d.value, size))

    def _tpoff(self, dso, where, sym, addend):
        d = self._defining(dso, sym)
        if d.dso.tls_offset == NO_TLS_OFFSET:
            raise LinkError(f"{dso.path}: cannot allocate memory in static TLS block "
                            f"(R_X86_64_TPOFF64 against {d.dso.path}, which has dynamic TLS)")
        self.write(where, Q.pack((d.symbol.value + addend - d.dso.tls_offset) & 0xFFFFFFFFFFFFFFFF))

    def _dtpmod(self, dso, where, sym, addend):
        d = self._defining(dso, sym)
        self.write(where, Q.pack(d.dso.tls_module))

    def _dtpoff(self, dso, where, sym, addend):
        value = (self._defining(dso, sym).symbol.value if sym else 0) + addend
        self.write(where, Q.pack(value & 0xFFFFFFFFFFFFFFFF))

    def _tlsdesc(self, dso, where, sym, addend):
        d = self._defining(dso, sym, weak_undefined_ok=True)
        if d is None:
            self.write(where, self.linker.tlsdesc.undefined_weak(self.linker.proc, addend))
        else:
            self.write(where, self.linker.tlsdesc.descriptor(self.linker.proc, d.dso,
                                                             d.symbol.value + addend))

    def _relr(self, dso, table):
        cpu = self.linker.proc.cpu
        for addr in table.relr_addresses:
            where = dso.base + addr
            (value,) = Q.unpack(cpu.read(where, 8))
            cpu.write(where, Q.pack((value + dso.base) & 0xFFFFFFFFFFFFFFFF))

    # --- symbols -------------------------------------------------------------------------------
    def _resolve(self, dso, sym_index, skip=None):
        s = dso.symbols[sym_index]
        if s.shndx and s.visibility == STV.PROTECTED and skip is None:
            # a protected definition cannot be preempted: its own object binds to it
            from elfkit.linker.lookup import Definition
            return Definition(dso, s, None)
        return lookup(s.name, self.linker.scope_for(dso, s), requested_version(dso, sym_index), skip)

    def _defining(self, dso, sym_index, weak_undefined_ok=False):
        """The definition of symbol sym_index of dso (the symbol itself if it is local); None
        for an undefined weak reference if weak_undefined_ok."""
        from elfkit.linker.lookup import Definition
        if sym_index == 0:
            return Definition(dso, dso.symbols[0], None)
        s = dso.symbols[sym_index]
        if s.bind == 0 and s.shndx:                  # STB_LOCAL: binds to itself
            return Definition(dso, s, None)
        d = self._resolve(dso, sym_index)
        if d is None and weak_undefined_ok and s.bind == 2:          # STB_WEAK
            return None
        if d is None:
            raise LinkError(f"{dso.path}: undefined symbol: {s.name}")
        return d

    def symbol_value(self, dso, sym_index) -> int:
        """S: the run-time address of the definition (0 for an undefined weak reference),
        an IFUNC's resolver called to choose the implementation."""
        address, ifunc = self.symbol_target(dso, sym_index)
        return self.linker.call_ifunc(address) if ifunc else address

    def symbol_target(self, dso, sym_index) -> tuple[int, bool]:
        """(address of the definition, whether it is an IFUNC resolver to call first)."""
        if sym_index == 0:
            return 0, False
        s = dso.symbols[sym_index]
        if s.bind == 0 and s.shndx:                   # STB_LOCAL binds to itself
            return dso.base + s.value, s.type == STT.GNU_IFUNC
        d = self._resolve(dso, sym_index)
        if d is None and s.name in self.linker.rtld_symbols:
            return self.linker.rtld_symbols[s.name], False   # defined by the dynamic linker itself
        if d is None:
            if s.bind == 2:                           # STB_WEAK undefined: 0
                return 0, False
            version = requested_version(dso, sym_index)
            raise LinkError(f"{dso.path}: undefined symbol: {s.name}"
                            + (f", version {version.name}" if version else ""))
        self.linker.record_binding(dso, s.name, d)
        return d.value, d.symbol.type == STT.GNU_IFUNC
