"""`--resolver=elfkit`: glibc's ld.so loads and relocates the program, elfkit resolves its lazy calls.

At the program's entry point ld.so has finished. elfkit then reads the
objects from ld.so's own list -- the executable's DT_DEBUG points at
struct r_debug, whose r_map heads the link_map chain (l_addr, l_name, l_ld,
l_next) -- opens each object's file for its symbols and relocations, and for
every object whose GOT[2] holds ld.so's _dl_runtime_resolve, writes its own
object id into GOT[1] and its resolver trap into GOT[2]. From then on every
first call through a PLT is resolved by elfkit's lookup (lazy.py, lookup.py).
"""
from __future__ import annotations

import os
import struct

from elfkit.elf import ElfFile
from elfkit.elf.constants import DT, PT
from elfkit.linker.dso import Dso, LinkError
from elfkit.linker.lazy import LazyResolver
from elfkit.linker.namespace import Namespace

Q = struct.Struct("<Q")
DYN = struct.Struct("<qQ")


class LinkMapEntry:
    def __init__(self, address, l_addr, name, l_ld):
        self.address, self.l_addr, self.name, self.l_ld = address, l_addr, name, l_ld


def read_link_map(proc) -> list[LinkMapEntry]:
    """The objects ld.so loaded, in its order, from r_debug (found through DT_DEBUG); a
    LinkError when there is none, or when a damaged program's PT_DYNAMIC or the chain it
    leads to lies where nothing is mapped."""
    try:
        return _read_link_map(proc)
    except KeyError as e:                      # the page tables: no area maps the address
        where = f"{e.args[0]:#x}" if e.args and isinstance(e.args[0], int) else "an address"
        raise LinkError(f"{proc.image.program.path}: the dynamic section or ld.so's link map "
                        f"lies at {where}, which no area maps") from None


def _read_link_map(proc) -> list[LinkMapEntry]:
    cpu = proc.cpu
    prog = proc.image.program
    dyn_seg = next((s for s in prog.elf.segments if s.type == PT.DYNAMIC), None)
    if dyn_seg is None:
        raise LinkError(f"{prog.path}: no dynamic section: nothing is linked lazily")
    r_debug = 0
    addr = prog.load_bias + dyn_seg.vaddr
    for i in range(dyn_seg.memsz // 16):
        tag, value = DYN.unpack(cpu.read(addr + 16 * i, 16))
        if tag == DT.DEBUG:
            r_debug = value
        if tag == DT.NULL:
            break
    if not r_debug:
        raise LinkError(f"{prog.path}: DT_DEBUG is empty: ld.so published no r_debug")
    (lm,) = Q.unpack(cpu.read(r_debug + 8, 8))          # r_debug.r_map
    out, seen = [], set()
    while lm and lm not in seen and len(out) < 4096:
        seen.add(lm)
        l_addr, l_name, l_ld, l_next = struct.unpack("<QQQQ", cpu.read(lm, 32))
        name = proc.mm.read_cstring(l_name, 4096) if l_name else b""
        out.append(LinkMapEntry(lm, l_addr, os.fsdecode(name or b""), l_ld))
        lm = l_next
    return out


def objects_from_link_map(proc, entries) -> list[Dso]:
    """A Dso per object ld.so loaded (its file opened for symbols and relocations); objects
    without a file (linux-vdso.so.1) are left out. Each Dso keeps its link_map address."""
    prog = proc.image.program
    out: list[Dso] = []
    for e in entries:
        if e.name == "" and not out:
            path, host = prog.path, prog.host_path
        else:
            path = e.name
            try:
                host = proc.sysroot.host_path(path)
            except OSError:
                continue
            if not os.path.isfile(host):
                continue
        elf = prog.elf if host == prog.host_path else ElfFile.open(host)
        dso = Dso(len(out) + 1, path, path, host, elf, e.l_addr)
        dso.is_main = not out
        dso.link_map = e.address
        out.append(dso)
    return out


class ResolverTakeover(Namespace):
    """The namespace of ld.so's objects, with elfkit's lazy resolver in charge."""

    def __init__(self, proc):
        super().__init__(proc)
        self.taken_over: list[Dso] = []

    def arm(self):
        """Take over at the program's entry point (ld.so is done by then)."""
        self.lazy = LazyResolver(self)
        self.proc.cpu.add_breakpoint(self.proc.image.program_entry, self._at_entry)

    def _at_entry(self):
        try:
            self.adopt(read_link_map(self.proc))
        except (LinkError, OSError) as e:
            self.fail(f"--resolver=elfkit: {e}")

    def adopt(self, entries):
        for dso in objects_from_link_map(self.proc, entries):
            self.dsos.append(dso)
            self.dsos_by_id[dso.id] = dso
        self.scope = self.dsos[:]
        cpu = self.proc.cpu
        for dso in self.dsos:
            pltgot, jmprel = dso.dt(DT.PLTGOT), dso.dt(DT.JMPREL)
            if pltgot is None or jmprel is None:
                continue
            got = dso.base + pltgot
            (got2,) = Q.unpack(cpu.read(got + 16, 8))
            if got2 == 0:                              # bound at start-up (BIND_NOW): nothing lazy
                continue
            self.lazy.install(dso)
            self.taken_over.append(dso)
