"""One static link, start to end (ld's ldmain.c): load the inputs and resolve symbols
(resolve.py), drop what is not needed (COMDAT duplicates), place every input section
(layout.py), create the linker's own sections (.got, .got.plt, .plt and .rela.plt for IFUNC,
.eh_frame_hdr, .note.gnu.build-id, COMMON in .bss), give everything an address, relocate
(relocate.py) and write the executable (write.py).
"""
from __future__ import annotations

from elfkit.elf.constants import SHT
from elfkit.ld import layout as L
from elfkit.ld.input import SHF, InputSection, LinkError, ObjectFile, is_elf
from elfkit.ld.relocate import Relocator
from elfkit.ld.resolve import SymbolTable


class _Linker:
    """The pseudo object that owns the linker's own sections."""
    name = "<linker>"


LINKER = _Linker()


def synthetic(name, typ, flags, align, data=b"", size=None) -> InputSection:
    return InputSection(LINKER, -1, name, typ, flags, align, 0,
                        len(data) if size is None else size, data)


class Link:
    def __init__(self, entry="_start", build_id=True, eh_frame_hdr=True, execstack=None,
                 relro=True, gc_sections=False, defsyms=(), undefined=(), trace=False):
        self.table = SymbolTable()
        self.entry = entry
        self.build_id = build_id
        self.eh_frame_hdr = eh_frame_hdr
        self.execstack = execstack
        self.relro = relro
        self.undefined = list(undefined)
        self.defsyms = list(defsyms)
        self.gc_sections = gc_sections
        self.print_gc = None                  # a function to say each section --gc-sections drops
        self.relocator = Relocator(self)
        if trace:
            self.relocator.trace = []
        self.outputs: list[L.OutputSection] = []
        self.tls_start = self.tls_end = 0
        self.tls_align = 1
        self.fde_counts: dict = {}            # input .eh_frame -> its FDEs (gc.prune_eh_frames)
        self.gnu_stack = True                 # False: no PT_GNU_STACK (no input said anything)
        self.warnings: list[str] = []
        for name in self.undefined:            # -u: wanted from the start, as ld does
            self.table.get(name).strong_ref = True
            self.table.wanted_names.add(name)

    # --- inputs ----------------------------------------------------------------------------
    def add_file(self, path: str, whole_archive=False):
        """An input named on the command line: an archive (returned, for a group's rescans)
        or an ET_REL object (read once, added; None)."""
        try:
            with open(path, "rb") as f:
                head = f.read(8)
                if head.startswith((b"!<arch>\n", b"!<thin>\n")):
                    data = None
                else:
                    data = head + f.read()
        except FileNotFoundError:
            raise LinkError(f"cannot find {path}: No such file or directory") from None
        except OSError as e:
            raise LinkError(f"{path}: {e.strerror or e}") from None
        if data is None:
            return self.add_archive(path, whole_archive)
        if not is_elf(head):
            raise LinkError(f"{path}: file format not recognized (not ELF, not an ar archive)")
        self.add_object(ObjectFile(path, data))
        return None

    def add_object(self, obj: ObjectFile):
        self.table.add_object(obj)

    def add_archive(self, path, whole=False):
        from elfkit.ld import archive as ar
        a = ar.read_archive(path, lazy=not whole)     # libc.a: its index, and what is pulled
        a.loaded = set()
        if not whole:
            ar.require_index(a)
        self.table.add_archive(a, self._load_member, whole)
        return a

    @staticmethod
    def _load_member(archive, member):
        from elfkit.ld import archive as ar
        return ObjectFile(ar.display_name(archive, member), bytes(member.data), archive)

    def rescan_group(self, archives):
        """--start-group ... --end-group: walk the group's archives until nothing is loaded."""
        while any([self.table.add_archive(a, self._load_member) for a in archives]):
            pass

    # --- the link ------------------------------------------------------------------------------
    def run(self):
        t = self.table
        errors = list(t.errors)
        self._linker_symbols_before_layout()
        entry = t.symbols.get(self.entry)
        if errors:
            raise LinkError(errors)
        if self.execstack is None:              # ld 2.40's rule, and its words
            notes = [o.stack_note for o in t.objects]
            executable = next((o for o in t.objects if o.stack_note), None)
            missing = next((o for o in t.objects if o.stack_note is None), None)
            if all(n is None for n in notes):
                self.gnu_stack = False          # nobody said: no PT_GNU_STACK at all
            elif executable is not None:
                self.warnings.append(f"warning: {executable.name}: requires executable stack "
                                     "(because the .note.GNU-stack section is executable)")
            elif missing is not None:
                self.warnings.append(f"warning: {missing.name}: missing .note.GNU-stack "
                                     "section implies executable stack")
            self.execstack = self.gnu_stack and (executable or missing) is not None
        from elfkit.ld import gc
        if self.gc_sections:
            gc.collect(self, self.entry, self.undefined, self.print_gc)
        gc.prune_eh_frames(self)
        self._place()
        self._scan_relocations()
        self._create_linker_sections()
        self._assign_addresses()
        self._define_section_symbols()
        if entry is None or not entry.defined:
            self.entry_addr = next((o.addr for o in self.outputs if o.name == ".text"), 0)
            self.warnings.append(f"warning: cannot find entry symbol {self.entry}; defaulting "
                                 f"to {self.entry_addr:016x}")
        else:
            self.entry_addr = self._sym_addr(entry)
        self._build_contents()
        if self.relocator.errors:
            raise LinkError(self.relocator.errors)

    def _linker_symbols_before_layout(self):
        for spec in self.defsyms:
            name, _, expr = spec.partition("=")
            g = self.table.get(name.strip())
            g.defined, g.section, g.value, g.linker_defined = True, None, _number(expr), True

    # --- placing input sections -----------------------------------------------------------------
    def _place(self):
        by_name: dict[str, L.OutputSection] = {}
        orphans: dict[str, L.OutputSection] = {}
        ranked = []
        for obj in self.table.objects:
            for sec in obj.sections:
                if sec is None or not sec.live:
                    continue
                if sec.type == SHT.NOTE and sec.name == ".note.gnu.property" or \
                        sec.name.startswith((".gnu.warning", ".gnu.lto_", ".llvm")):
                    sec.live = False             # property notes are not merged: no IBT/SHSTK
                    continue                     # claim is made
                rule = L.rule_for(sec.name)
                if rule is not None and (rule[1] != "none" or not sec.flags & SHF.ALLOC):
                    out_name, seg, rank = rule
                else:
                    out_name, seg, rank = sec.name, L.orphan_segment(sec), 0
                if out_name == ".tbss" and sec.type != SHT.NOBITS:
                    out_name = ".tdata"
                if out_name in (".bss",) and sec.type != SHT.NOBITS:
                    out_name, seg = ".data", "data"
                out = by_name.get(out_name)
                if out is None:
                    out = by_name[out_name] = L.OutputSection(out_name, sec.type, sec.flags, seg)
                    if rule is None:
                        orphans[out_name] = out
                # an output is loaded or not as its first input says (a stray SHF_ALLOC on
                # a .comment does not make a segment of it)
                out.flags |= sec.flags & (SHF.WRITE | SHF.EXECINSTR | SHF.TLS | (
                    SHF.ALLOC if out.segment != "none" else 0))
                if sec.type != SHT.NOBITS and out.type == SHT.NOBITS:
                    out.type = sec.type
                ranked.append((out, rank, len(ranked), sec))
        # COMMON symbols: .bss, after every input's .bss
        commons = [g for g in self.table.symbols.values() if g.defined and g.is_common]
        if commons:
            out = by_name.get(".bss")
            if out is None:
                out = by_name[".bss"] = L.OutputSection(".bss", SHT.NOBITS,
                                                        SHF.ALLOC | SHF.WRITE, "bss")
            size = 0
            align = 1
            for g in sorted(commons, key=lambda g: g.name):
                size = L.align_up(size, g.common_align)
                g.value = size
                size += g.size
                align = max(align, g.common_align)
            common = synthetic("COMMON", SHT.NOBITS, SHF.ALLOC | SHF.WRITE, align, size=size)
            for g in commons:
                g.section, g.common_align = common, 0
            ranked.append((out, 1 << 20, len(ranked), common))
        for out, rank, order, sec in sorted(ranked, key=lambda r: (id(r[0]), _sort_key(r))):
            out.inputs.append(sec)
        self.by_name = by_name
        self.orphans = orphans
        # SHF_MERGE inputs become one merged piece per output section
        for out in by_name.values():
            merge = [s for s in out.inputs if s.flags & SHF.MERGE and s.entsize and s.type != SHT.NOBITS]
            if merge and out.name not in (".debug_str", ".debug_line_str") or \
                    merge and len(merge) == len(out.inputs):
                groups = {}
                for s in merge:
                    groups.setdefault((s.flags & (SHF.STRINGS | SHF.MERGE), s.entsize), []).append(s)
                rest = [s for s in out.inputs if s not in merge]
                merged = [L.merge_section(out, g) for g in groups.values()]
                for m in merged:
                    m.out = out
                out.inputs = merged + rest if out.name.startswith(".rodata") else rest + merged

    def _scan_relocations(self):
        for out in self.by_name.values():
            for sec in out.inputs:
                if sec.relocs is not None and sec.flags & SHF.ALLOC:
                    self.relocator.scan(sec)

    # --- the linker's own sections ---------------------------------------------------------
    def _create_linker_sections(self):
        r = self.relocator
        by_name = self.by_name
        n_iplt = len(r.iplt_targets)

        def add(name, seg, sec, typ=SHT.PROGBITS, flags=SHF.ALLOC):
            out = by_name.get(name)
            if out is None:
                out = by_name[name] = L.OutputSection(name, typ, flags, seg)
            out.inputs.append(sec)
            sec.out = out
            return sec

        self.got_sec = add(".got", "relro", synthetic(".got", SHT.PROGBITS, SHF.ALLOC | SHF.WRITE, 8,
                                                      size=8 * len(r.got_keys)),
                           flags=SHF.ALLOC | SHF.WRITE) if r.got_keys else None
        wants_got = "_GLOBAL_OFFSET_TABLE_" in self.table.symbols or n_iplt
        self.gotplt_sec = add(".got.plt", "data",
                              synthetic(".got.plt", SHT.PROGBITS, SHF.ALLOC | SHF.WRITE, 8,
                                        size=8 * (3 + n_iplt)),
                              flags=SHF.ALLOC | SHF.WRITE) if wants_got else None
        if n_iplt:
            self.iplt_sec = add(".plt", "text", synthetic(".plt", SHT.PROGBITS,
                                                          SHF.ALLOC | SHF.EXECINSTR, 16,
                                                          size=16 * n_iplt),
                                flags=SHF.ALLOC | SHF.EXECINSTR)
            self.rela_iplt = add(".rela.plt", "notes", synthetic(".rela.plt", SHT.RELA,
                                                                 SHF.ALLOC | 0x40, 8,
                                                                 size=24 * n_iplt),
                                 typ=SHT.RELA, flags=SHF.ALLOC | 0x40)
        else:
            self.iplt_sec = self.rela_iplt = None
        ehf = by_name.get(".eh_frame")
        self.ehdr_sec = None
        if self.eh_frame_hdr and ehf is not None and ehf.inputs:
            from elfkit.ld import eh_frame
            count = 0
            for s in ehf.inputs:
                known = self.fde_counts.get(s)
                if known is not None:
                    count += known
                    continue
                try:
                    count += sum(1 for rec in eh_frame.split_records(s.data) if rec.kind == "fde")
                except ValueError as e:
                    raise LinkError(f"{s.obj.name}: {s.name}: {e}") from None
            self.ehdr_sec = add(".eh_frame_hdr", "rodata",
                                synthetic(".eh_frame_hdr", SHT.PROGBITS, SHF.ALLOC, 4,
                                          size=12 + 8 * count))
        if self.build_id:
            self.build_id_sec = add(".note.gnu.build-id", "notes",
                                    synthetic(".note.gnu.build-id", SHT.NOTE, SHF.ALLOC, 4,
                                              size=16 + 20), typ=SHT.NOTE)
        else:
            self.build_id_sec = None

    # --- addresses -------------------------------------------------------------------------------
    def _ordered_outputs(self):
        names = [r[0] for r in L._RULES]
        def key(o):
            seg = L._SEGMENT_ORDER.index(o.segment)
            if o.name in names:
                pos = names.index(o.name) * 2
            else:                                   # orphans after their kind's sections
                pos = 10_000
                if o.segment == "notes":
                    pos = -1 if o.name != ".rela.plt" else 10_001
                if o.name == ".note.gnu.build-id":
                    pos = -2
            nobits_last = 1 if o.segment == "bss" and o.name != ".bss" else 0
            return (seg, nobits_last, pos)
        outs = [o for o in self.by_name.values() if o.inputs]
        outs.sort(key=key)
        return outs

    def _assign_addresses(self):
        all_outs = self._ordered_outputs()
        # ld discards an output section no input gives a byte to (as's empty .data and .bss);
        # it still gets an address, for symbols defined in it, but no header and no segment
        empty = {id(o) for o in all_outs
                 if all(s.size == 0 for s in o.inputs) and o.name not in (".tbss",)}
        outs = [o for o in all_outs if id(o) not in empty]
        self.outputs = outs
        loads = [o for o in outs if o.flags & SHF.ALLOC]
        has_tls = any(o.flags & SHF.TLS for o in loads)
        seg_of = {"notes": "R0", "text": "RX", "rodata": "R", "relro": "RW", "data": "RW",
                  "bss": "RW", "none": None}
        load_kinds = {"R0"} | {seg_of[o.segment] for o in loads}
        relro_outs = [o for o in loads if o.segment == "relro"]
        nphdr = len(load_kinds) + self.gnu_stack                      # PT_LOADs, GNU_STACK
        nphdr += has_tls + any(o.type == SHT.NOTE for o in loads) + (self.ehdr_sec is not None)
        nphdr += bool(relro_outs and self.relro)
        self.nphdr = nphdr
        offset = 64 + 56 * nphdr
        vaddr_end = L.BASE + offset
        prev_seg = "notes"
        tls_end = None
        for o in all_outs:
            for s in o.inputs:
                o.align = max(o.align, s.align)
            if id(o) in empty:
                o.offset, o.addr = offset, (L.BASE + offset if o.flags & SHF.ALLOC else 0)
                for s in o.inputs:
                    s.out_offset = 0
                    if s.out is None or isinstance(s.out, InputSection):
                        s.out = o
                continue
            if not o.flags & SHF.ALLOC:
                continue
            if seg_of[o.segment] != seg_of[prev_seg]:
                offset = L.align_up(offset, L.PAGE)
            elif o.segment == "data" and prev_seg == "relro" and self.relro:
                offset = L.align_up(offset, L.PAGE)       # RELRO ends on a page
            prev_seg = o.segment
            if o.nobits and o.name != ".tbss":
                o.offset = offset                       # no file room; the address goes on
                o.addr = L.align_up(vaddr_end, o.align)
            else:
                offset = L.align_up(offset, o.align)
                o.offset = offset
                o.addr = L.BASE + offset
            size = 0
            for s in o.inputs:
                size = L.align_up(size, s.align)
                s.out_offset = size
                if s.out is None or s.out is o or isinstance(s.out, InputSection):
                    s.out = o
                size += s.size
            o.size = size
            if o.name == ".tbss":
                tls_end = o.addr + size
                continue                                  # takes no room in the image
            if not o.nobits:
                offset += size
            vaddr_end = max(vaddr_end, o.addr + size)
        if vaddr_end > 0x7FFFFFFFF000:
            raise LinkError(f"the output does not fit in the user address space: it would end "
                            f"at {vaddr_end:#x}")
        # NOBITS sections do not move the file offset, but the next ones' addresses must
        # stay past them: nothing follows .bss in the image here.
        tls = [o for o in loads if o.flags & SHF.TLS]
        if tls:
            self.tls_start = tls[0].addr
            self.tls_align = max(o.align for o in tls)
            end = max(o.addr + o.size for o in tls)
            self.tls_end = end if tls_end is None else max(end, tls_end)
        self.file_end_alloc = offset
        # the sections that are not loaded
        for o in outs:
            if o.flags & SHF.ALLOC:
                continue
            offset = L.align_up(offset, o.align)
            o.offset, o.addr = offset, 0
            size = 0
            for s in o.inputs:
                size = L.align_up(size, s.align)
                s.out_offset = size
                if s.out is None or isinstance(s.out, InputSection):
                    s.out = o
                size += s.size
            o.size = size
            offset += size
        self.file_end = offset

    def tpoff(self, addr: int) -> int:
        """x86-64 variant II: TP is the end of the TLS block, rounded up to its alignment."""
        size = L.align_up(self.tls_end - self.tls_start, self.tls_align)
        return addr - self.tls_start - size

    def got_addr(self) -> int:
        return self.got_sec.addr

    def got_base(self) -> int:
        """_GLOBAL_OFFSET_TABLE_: the start of .got.plt (of .got without one)."""
        if self.gotplt_sec is not None:
            return self.gotplt_sec.addr
        return self.got_sec.addr if self.got_sec is not None else 0

    def iplt_stub_addr(self, i: int) -> int:
        return self.iplt_sec.addr + 16 * i

    def iplt_slot_addr(self, i: int) -> int:
        return self.gotplt_sec.addr + 8 * (3 + i)

    # --- symbols ld defines --------------------------------------------------------------------
    def _define_section_symbols(self):
        t = self.table
        outs = {o.name: o for o in self.outputs}
        alloc = [o for o in self.outputs if o.flags & SHF.ALLOC]

        def at(name, addr, hidden=True):
            g = t.symbols.get(name)
            if g is not None and (not g.defined or g.linker_defined):
                g.defined, g.section, g.value, g.linker_defined = True, None, addr, True
                g.bind = 1
                if hidden:
                    g.visibility = 2

        def bounds(prefix, name):
            o = outs.get(name)
            if o is not None:
                at(f"{prefix}_start", o.addr)
                at(f"{prefix}_end", o.addr + o.size)
            else:
                anchor = next((x for x in alloc if x.segment in ("relro", "data")), None)
                addr = anchor.addr if anchor else 0
                at(f"{prefix}_start", addr)
                at(f"{prefix}_end", addr)
        bounds("__preinit_array", ".preinit_array")
        bounds("__init_array", ".init_array")
        bounds("__fini_array", ".fini_array")
        if self.rela_iplt is not None:
            at("__rela_iplt_start", self.rela_iplt.addr)
            at("__rela_iplt_end", self.rela_iplt.addr + self.rela_iplt.size)
        else:
            first = alloc[0].addr if alloc else L.BASE
            at("__rela_iplt_start", first)
            at("__rela_iplt_end", first)
        for o in self.outputs:
            if o.name.isidentifier():
                at(f"__start_{o.name}", o.addr, hidden=False)
                at(f"__stop_{o.name}", o.addr + o.size, hidden=False)
        at("__ehdr_start", L.BASE)
        at("__executable_start", L.BASE, hidden=False)
        data_end = max((o.addr + o.size for o in alloc if not o.nobits and o.addr), default=L.BASE)
        end = max((o.addr + o.size for o in alloc if o.name != ".tbss"), default=L.BASE)
        text = outs.get(".text")
        at("_edata", data_end, hidden=False)
        at("edata", data_end, hidden=False)
        bss = outs.get(".bss")
        at("__bss_start", bss.addr if bss else data_end, hidden=False)
        at("_end", end, hidden=False)
        at("end", end, hidden=False)
        if text is not None:
            etext = max(o.addr + o.size for o in alloc if o.segment == "text")
            at("_etext", etext, hidden=False)
            at("etext", etext, hidden=False)
            at("__etext", etext, hidden=False)
        at("_GLOBAL_OFFSET_TABLE_", self.got_base())
        if ".eh_frame_hdr" in outs:
            at("__GNU_EH_FRAME_HDR", outs[".eh_frame_hdr"].addr)
        at("_DYNAMIC", 0)
        # anything still undefined now that ld would have defined is an undefined weak
        errors = t.undefined_errors()
        if errors:
            raise LinkError(errors)

    def _sym_addr(self, g) -> int:
        sec = g.section
        if sec is not None and sec.merge_map is not None:
            return sec.out.addr + L.merged_offset(sec, g.value)
        return g.address()

    def _key_addr(self, key) -> int:
        if key in self.relocator.iplt:                  # an IFUNC: its canonical address
            return self.iplt_stub_addr(self.relocator.iplt[key])
        if isinstance(key, tuple):
            obj, index = key
            return self.relocator.target(obj, index).addr
        if not key.defined:
            return 0
        return self._sym_addr(key)

    # --- contents ------------------------------------------------------------------------------
    def _build_contents(self):
        import struct
        r = self.relocator
        for o in self.outputs:
            if o.nobits:
                continue
            buf = bytearray(o.size)
            for s in o.inputs:
                if s.type != SHT.NOBITS and s.data:
                    buf[s.out_offset:s.out_offset + len(s.data)] = s.data
            o.data = buf
        for o in self.outputs:
            if o.nobits:
                continue
            for s in o.inputs:
                if s.relocs is not None and s.obj is not LINKER and s.live:
                    if s.out is not o:
                        continue
                    r.apply(s, o.data, s.out_offset)
        if self.got_sec is not None:
            o = self.got_sec.out
            o.data[self.got_sec.out_offset:self.got_sec.out_offset + self.got_sec.size] = \
                r.got_contents(self._key_addr)
        if r.iplt_targets:
            stubs, rela = bytearray(), bytearray()
            for i, key in enumerate(r.iplt_targets):
                slot = self.iplt_slot_addr(i)
                stub = self.iplt_stub_addr(i)
                stubs += b"\xff\x25" + struct.pack("<i", slot - (stub + 6)) + \
                    b"\x66\x0f\x1f\x84\x00\x00\x00\x00\x00\x90"
                resolver = self._resolver_addr(key)
                rela += struct.pack("<QQq", slot, 37, resolver)
            self._write_synthetic(self.iplt_sec, stubs)
            self._write_synthetic(self.rela_iplt, rela)
        if self.gotplt_sec is not None:
            words = [0, 0, 0] + [self._resolver_addr(k) for k in r.iplt_targets]
            self._write_synthetic(self.gotplt_sec, struct.pack(f"<{len(words)}Q", *words))
        if self.ehdr_sec is not None:
            from elfkit.ld import eh_frame
            ehf = self.by_name[".eh_frame"]
            try:
                hdr = eh_frame.build_eh_frame_hdr(bytes(ehf.data), ehf.addr, self.ehdr_sec.addr)
            except ValueError as e:
                raise LinkError(f"cannot build .eh_frame_hdr from the inputs' .eh_frame: {e}") \
                    from None
            self._write_synthetic(self.ehdr_sec, hdr)

    def _resolver_addr(self, key) -> int:
        if isinstance(key, tuple):
            return self.relocator.target(key[0], key[1]).addr
        return self._sym_addr(key)

    @staticmethod
    def _write_synthetic(sec, data):
        o = sec.out
        o.data[sec.out_offset:sec.out_offset + len(data)] = data


# .text's input-section statements in ld's script: unlikely, exit, startup, hot, sorted, the rest
_TEXT_STATEMENT = [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 5, 5]


def _sort_key(r):
    out, rank, order, sec = r
    if out.name in (".init_array", ".fini_array"):
        return (L.init_priority(sec.name), order)
    if out.name == ".text" and rank < len(_TEXT_STATEMENT):
        return (_TEXT_STATEMENT[rank], order)
    return (rank if rank >= 1 << 20 else 0, order)


def _number(expr: str) -> int:
    expr = expr.strip()
    try:
        return int(expr, 0)
    except ValueError:
        raise LinkError(f"--defsym: cannot evaluate `{expr}' (a number is needed)") from None


__all__ = ["Link", "LINKER"]
