"""Unwinding a guest thread's stack, as gdb's DWARF unwinder and libgcc's _Unwind_Backtrace do:
frame by frame with the call-frame information of the object each pc lies in (.eh_frame,
whose FDE for a pc is found through .eh_frame_hdr's binary-search table and decoded by
pyelftools alone, so a fault pays for the frames it has, not for libc's 3,700 FDEs), names from
the object's symbol tables or those of its separate debug file, and source lines with the
functions inlined there from its DWARF (elfkit.debug's DebugStore: the file's own, or the
separate debug file gdb would find, such as libc6-dbg's under /usr/lib/debug/.build-id/).

Used by fault reports (elfkit.kernel.signals.fault_signal): nothing here is read until a guest
dies of a signal, and each object is read once per run.

What a frame's unwinding uses (x86-64 DWARF register numbers: 0 rax, 1 rdx, 2 rcx, 3 rbx,
4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15, 16 the return address): the CFA rule (a register
plus an offset) and the OFFSET, VAL_OFFSET, REGISTER, SAME_VALUE and UNDEFINED rules. A
frame with a DWARF expression for its CFA (a PLT stub's) or none found ends the walk there,
as do a return address of 0 (`_start`'s, which clears it) and a CFA that does not grow.
"""
from __future__ import annotations

import bisect
import io
import os
import struct

DWARF_REGS = ("rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
              "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip")
RA = 16
MAX_FRAMES = 64


class Frame:
    """One frame: its pc, the object (guest path) and offset in it, the function, and what the
    DWARF says of the pc (elfkit.debug.addr2line frames, innermost first: the functions
    inlined there, then the frame's own with its file:line), if it has anything."""
    __slots__ = ("pc", "path", "offset", "function", "function_offset", "source")

    def __init__(self, pc, path, offset, function, function_offset, source=None):
        self.pc, self.path, self.offset = pc, path, offset
        self.function, self.function_offset = function, function_offset
        self.source = source or []

    def lines(self, number: int) -> list[str]:
        """gdb's bt lines less the arguments: one per function inlined at the pc
        (`#N  0xPC in FUNCTION (inlined) at FILE:LINE`), then the frame's own
        (`#N  0xPC in FUNCTION+0xOFF at FILE:LINE (PATH+0xOFFSET)`); C++ and Rust names
        demangled, as gdb prints them (elf/demangle.py)."""
        from elfkit.elf.demangle import demangle
        out = []
        for inl in self.source[:-1]:
            out.append(f"#{number + len(out):<2} {self.pc:#018x} in "
                       f"{demangle(inl.function) if inl.function else '??'} (inlined){_at(inl)}")
        where = f"{demangle(self.function)}+{self.function_offset:#x}" if self.function else "??"
        at = _at(self.source[-1]) if self.source else ""
        obj = f" ({self.path}+{self.offset:#x})" if self.path else ""
        out.append(f"#{number + len(out):<2} {self.pc:#018x} in {where}{at}{obj}")
        return out


def _at(frame) -> str:
    return f" at {frame.file}:{frame.line}" if frame.file and frame.line else ""


class _Object:
    """What unwinding and naming need of one ELF file, read on first use."""

    def __init__(self, host_path: str, store):
        from elfkit.elf import ElfFile
        self.host_path = host_path
        self.elf = ElfFile.open(host_path)
        self.store = store                      # elfkit.debug.DebugStore of the run
        self._table = None
        self._cfi = None
        self._names = None
        self._symbolizer = None

    def source(self, vaddr: int) -> list:
        """addr2line -f -i's frames for `vaddr` from the DWARF, or [] (none, or damaged)."""
        try:
            if self._symbolizer is None:
                self._symbolizer = self.store.symbolizer(self.elf)
            return self._symbolizer.frames(vaddr) or []
        except Exception:                       # noqa: BLE001 - a report never fails the run
            return []

    # --- call-frame information -------------------------------------------------------------
    def fde_for(self, vaddr: int):
        """The decoded FDE rows for `vaddr` (an address as the file links it), or None."""
        table = self._search_table()
        if not table:
            return None
        i = bisect.bisect_right(table[0], vaddr) - 1
        if i < 0:
            return None
        fde = self._parse_fde(table[1][i])
        if fde is None:
            return None
        start = fde.header["initial_location"]
        if not start <= vaddr < start + fde.header["address_range"]:
            return None
        return fde.get_decoded().table

    def _search_table(self):
        """.eh_frame_hdr's table: (sorted initial locations, the FDE's offset in .eh_frame)."""
        if self._table is not None:
            return self._table
        self._table = ()
        hdr = self.elf.section_by_name(".eh_frame_hdr")
        eh = self.elf.section_by_name(".eh_frame")
        if eh is None:
            return self._table
        if hdr is None:                     # (a static program: no --eh-frame-hdr) every FDE
            return self._every_fde()
        data = self.elf.read(hdr.offset, hdr.size, ".eh_frame_hdr")
        if len(data) < 12 or data[0] != 1:
            return self._table
        ptr_enc, count_enc, table_enc = data[1], data[2], data[3]
        pos = 4
        _ptr, pos = _read_encoded(data, pos, ptr_enc, hdr.addr)
        count, pos = _read_encoded(data, pos, count_enc, hdr.addr)
        if table_enc != 0x3B or count is None:          # datarel sdata4: what ld writes
            return self._table
        n = min(count, (len(data) - pos) // 8)
        pairs = struct.unpack_from(f"<{2 * n}i", data, pos)
        locs = [hdr.addr + pairs[2 * k] for k in range(n)]
        fdes = [hdr.addr + pairs[2 * k + 1] - eh.addr for k in range(n)]
        self._table = (locs, fdes)
        return self._table

    def _every_fde(self):
        from elftools.dwarf.callframe import FDE
        if not self._open_cfi():
            return self._table
        try:
            fdes = [e for e in self._cfi.get_entries() if isinstance(e, FDE)]
        except Exception:                       # noqa: BLE001 - damaged CFI: no unwinding
            return self._table
        fdes.sort(key=lambda e: e.header["initial_location"])
        self._table = ([e.header["initial_location"] for e in fdes], fdes)
        return self._table

    def _parse_fde(self, ref):
        """The FDE at offset `ref` of .eh_frame (or `ref` itself, parsed already)."""
        from elftools.dwarf.callframe import FDE
        if not isinstance(ref, int):
            return ref
        if not self._open_cfi():
            return None
        try:
            entry = self._cfi._parse_entry_at(ref)
        except Exception:                       # noqa: BLE001 - damaged CFI ends the walk
            return None
        return entry if isinstance(entry, FDE) else None

    def _open_cfi(self) -> bool:
        if self._cfi is False:
            return False
        try:
            if self._cfi is None:
                from elftools.dwarf.callframe import CallFrameInfo
                from elftools.elf.elffile import ELFFile
                with open(self.host_path, "rb") as f:
                    pyelf = ELFFile(f)
                    sec = pyelf.get_section_by_name(".eh_frame")
                    structs = pyelf.get_dwarf_info(relocate_dwarf_sections=False).structs
                    data = sec.data()
                # (the section's own bytes: CFI offsets count from its start)
                self._cfi = CallFrameInfo(stream=io.BytesIO(data), size=len(data),
                                          address=sec["sh_addr"], base_structs=structs,
                                          for_eh_frame=True)
        except Exception:                       # noqa: BLE001 - no usable .eh_frame
            self._cfi = False
            return False
        return True

    # --- names ------------------------------------------------------------------------------
    def name_at(self, vaddr: int) -> tuple[str, int] | None:
        """(function, offset in it) from the symbol tables, the debug file's included."""
        if self._names is None:
            self._names = self._read_names()
        starts, ends, names = self._names
        i = bisect.bisect_right(starts, vaddr) - 1
        if i < 0 or (ends[i] > starts[i] and vaddr >= ends[i]):
            return None
        return names[i], vaddr - starts[i]

    def _read_names(self):
        funcs = {}
        for elf in [self.elf] + [d for d in [self._debug_file()] if d is not None]:
            tables = list(elf.symbol_tables) + ([elf.dynsym] if elf.dynsym is not None else [])
            for t in tables:
                for name, value, size, info, shndx in zip(t.names, t.values, t.sizes, t.infos,
                                                          t.shndxs):
                    if info & 0xF in (2, 10) and shndx and name and value:   # FUNC, IFUNC
                        old = funcs.get(value)
                        if old is None or (old[0].startswith("_") and not name.startswith("_")) \
                                and size:
                            funcs[value] = (name, size)
        starts = sorted(funcs)
        return starts, [s + funcs[s][1] for s in starts], [funcs[s][0] for s in starts]

    def _debug_file(self):
        """The separate debug file gdb would read (its .symtab names what .dynsym does not)."""
        from elfkit.elf import ElfFile
        try:
            loc = self.store.locate(self.elf)
            if loc is None or os.path.realpath(loc.path) == os.path.realpath(self.host_path):
                return None
            return ElfFile.open(loc.path)
        except Exception:                       # noqa: BLE001 - a damaged debug file: not used
            return None


def _read_encoded(data: bytes, pos: int, enc: int, base: int):
    """A DW_EH_PE-encoded value of .eh_frame_hdr's header: (value, new position)."""
    if enc == 0xFF:
        return None, pos
    fmt = {0x01: ("<H", 2), 0x02: ("<H", 2), 0x03: ("<I", 4), 0x04: ("<Q", 8),
           0x09: ("<h", 2), 0x0A: ("<h", 2), 0x0B: ("<i", 4), 0x0C: ("<q", 8)}.get(enc & 0x0F)
    if fmt is None or pos + fmt[1] > len(data):
        return None, pos
    (value,) = struct.unpack_from(fmt[0], data, pos)
    if enc & 0x70 == 0x10:                              # pcrel
        value += base + pos
    elif enc & 0x70 == 0x30:                            # datarel
        value += base
    return value, pos + fmt[1]


class Unwinder:
    """Walks the stacks of one run's guests; objects are read once and kept."""

    def __init__(self, kernel, debug_dirs=()):
        from elfkit.debug import DebugStore
        self.kernel = kernel
        self.store = DebugStore(debug_dirs)
        self.objects: dict[str, _Object | None] = {}

    def _object(self, host_path: str):
        if host_path not in self.objects:
            try:
                self.objects[host_path] = _Object(host_path, self.store)
            except Exception:                   # noqa: BLE001 - not an ELF file we can read
                self.objects[host_path] = None
        return self.objects[host_path]

    def _locate(self, task, pc: int):
        """(object, its load bias, the Vma) of the file mapped at pc, or None."""
        vma = task.mm.find(pc) if task.mm is not None else None
        if vma is None or not vma.name or vma.name.startswith("["):
            return None
        try:
            host = self.kernel.sysroot.host_path(vma.name)
        except Exception:                       # noqa: BLE001 - gone from the root since
            return None
        obj = self._object(host)
        if obj is None:
            return None
        seg = next((s for s in obj.elf.segments if s.type == 1 and
                    s.offset <= vma.offset < s.offset + max(s.filesz, 1)), None)
        if seg is None:
            return None
        bias = vma.start - vma.offset - (seg.vaddr - seg.offset)
        return obj, bias, vma

    def backtrace(self, task, regs: dict[str, int], max_frames: int = MAX_FRAMES) -> list[Frame]:
        """The frames from `regs` (the CPU's at the fault) outwards, up to main (gdb's
        `backtrace past-main off`) or the outermost frame the CFI describes."""
        frames: list[Frame] = []
        regs = dict(regs)
        first = True
        while len(frames) < max_frames:
            pc = regs.get("rip", 0)
            if not pc:
                break
            found = self._locate(task, pc)
            # a return address is after its call: look it up one byte back, as unwinders do
            lookup = pc if first else pc - 1
            if found is None:
                frames.append(Frame(pc, "", 0, "", 0))
                break
            obj, bias, vma = found
            path = vma.name
            named = obj.name_at(lookup - bias)
            function, off = ("", 0)
            if named is not None:                       # (the offset from the pc, not lookup)
                function, off = named[0], named[1] + (pc - lookup)
            frames.append(Frame(pc, path, pc - vma.start + vma.offset, function, off,
                                obj.source(lookup - bias)))
            if function == "main":
                break
            rows = obj.fde_for(lookup - bias)
            if not rows:
                break
            row = None
            for r in rows:
                if r["pc"] <= lookup - bias:
                    row = r
                else:
                    break
            new = self._step(task, regs, row)
            if new is None or new.get("rsp", 0) <= regs.get("rsp", 0):
                break
            regs = new
            first = False
        return frames

    def _step(self, task, regs, row):
        """The caller's registers from a CFI row, or None when the row cannot be followed."""
        from elftools.dwarf.callframe import RegisterRule
        if row is None:
            return None
        cfa_rule = row["cfa"]
        if cfa_rule.expr is not None or cfa_rule.reg is None or cfa_rule.reg >= len(DWARF_REGS):
            return None
        cfa = (regs.get(DWARF_REGS[cfa_rule.reg], 0) + cfa_rule.offset) & 0xFFFFFFFFFFFFFFFF
        out = dict(regs)
        out["rsp"] = cfa
        for num in range(len(DWARF_REGS)):
            if num == 7:
                continue
            rule = row.get(num)
            name = DWARF_REGS[num]
            if rule is None:
                if num == RA:
                    return None                 # no return address rule: the outermost frame
                continue
            kind = rule.type
            if kind == RegisterRule.OFFSET:
                raw = task.mm.read(cfa + rule.arg, 8) if task.mm is not None else None
                if raw is None:
                    return None
                out[name] = struct.unpack("<Q", raw)[0]
            elif kind == RegisterRule.VAL_OFFSET:
                out[name] = cfa + rule.arg
            elif kind == RegisterRule.REGISTER and rule.arg < len(DWARF_REGS):
                out[name] = regs.get(DWARF_REGS[rule.arg], 0)
            elif kind == RegisterRule.UNDEFINED:
                if num == RA:
                    return None
                out.pop(name, None)
            elif kind == RegisterRule.SAME_VALUE:
                pass
            else:
                return None                     # an expression: not followed here
        out["rip"] = out.get("rip", 0)
        return out


def task_backtrace(task) -> list[str]:
    """The backtrace lines of the task on the CPU now (its registers there), for a report."""
    kernel = task.kernel
    unwinder = getattr(kernel, "unwinder", None)
    if unwinder is None:
        unwinder = kernel.unwinder = Unwinder(kernel, getattr(kernel, "debug_dirs", ()))
    cpu = task.cpu
    names = ("rip", "rsp", "rbp", "rbx", "r12", "r13", "r14", "r15", "rax", "rdx", "rcx",
             "rsi", "rdi", "r8", "r9", "r10", "r11")
    from elfkit.kernel.cpu import REG
    regs = dict(zip(names, cpu.read_regs(tuple(REG[n] for n in names))))
    try:
        frames = unwinder.backtrace(task, regs)
    except Exception:                           # noqa: BLE001 - a report never fails the run
        return []
    lines: list[str] = []
    for f in frames:
        lines += f.lines(len(lines))
    return lines
