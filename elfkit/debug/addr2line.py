"""addr2line -f -i: an address of an ELF file -> its function, file:line and the functions
inlined there, innermost first, as binutils' addr2line prints them (bfd/dwarf2.c's rules:
_bfd_dwarf2_find_nearest_line, bfd_find_inliner_info; elf.c's elf_find_function for names
DWARF leaves to the symbol table)."""
from __future__ import annotations

from bisect import bisect_right

from elfkit.elf.record import Record

SHF_ALLOC = 0x2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE, STT_TLS, STT_GNU_IFUNC = 0, 1, 2, 3, 4, 6, 10
STB_LOCAL = 0
STV_HIDDEN = 2


class Frame(Record):
    """One line of addr2line -f -i's answer: `function` (None: "??"), `file` (None: "??"),
    `line` (0: unknown), `discriminator` (0: none), `inlined` (this frame is a call site an
    inner frame was inlined at)."""
    __slots__ = ("function", "file", "line", "discriminator", "inlined")

    def __init__(self, function, file, line, discriminator=0, inlined=False):
        self.function = function
        self.file = file
        self.line = line
        self.discriminator = discriminator
        self.inlined = inlined

    def as_dict(self) -> dict:
        return {"function": self.function, "file": self.file, "line": self.line,
                "discriminator": self.discriminator, "inlined": self.inlined}


class Symbolizer:
    """Addresses of one ELF file (`elf`) -> frames, through `dwarf` (a DwarfData of the file
    itself or of its separate debug file; None: symbols only)."""

    def __init__(self, elf, dwarf=None):
        self.elf = elf
        self.dwarf = dwarf
        alloc = [s for s in elf.sections if s.flags & SHF_ALLOC and s.size]
        self._sections = alloc                   # section order: the first holding it wins
        self._symbols = None
        # bfd's _bfd_dwarf2_stash_syms: with a separate debug file, names come from its
        # symbol table (stripped files keep only .dynsym), the section matched by name
        self._symbol_elf = elf
        other = dwarf.elf if dwarf is not None else None
        if other is not None and other is not elf and any(
                t.section == ".symtab" and len(t) for t in other.symbol_tables):
            self._symbol_elf = other

    def section_of(self, addr: int):
        for s in self._sections:
            if s.addr <= addr < s.addr + s.size:
                return s
        return None

    def frames(self, addr: int) -> list[Frame] | None:
        """addr2line -f -i's frames for `addr`, innermost first; None when no section of the
        file holds it or nothing is known about it (addr2line's "??" / "??:0").

        The same address always gets the same answer, with one exception kept from binutils
        so that answers agree: a scope whose name may be mangled (a C++ function without
        DW_AT_linkage_name) is named after the symbol the first time it is asked about."""
        sec = self.section_of(addr)
        if sec is None:
            return None
        func = unit = where = None
        if self.dwarf is not None:
            for unit in self.dwarf.units_for(addr):
                func = unit.scopes.innermost(addr)
                lines = unit.lines
                where = lines.lookup(addr) if lines is not None else None
                if func is not None or where is not None:
                    break
            else:
                unit = None
        file, line, disc = where if where else (None, 0, 0)
        name = None
        if func is not None:
            name, is_linkage = unit.function_name(func)
            if not is_linkage:
                # a name that may be mangled differently (C++ without DW_AT_linkage_name):
                # bfd/dwarf2.c answers the first question about such a scope with the
                # symbol's name, keeps that name for the scope when the symbol starts where
                # the scope's first range does, and then marks the scope as having a linkage
                # name (its DWARF name from then on). Done the same, so answers agree.
                sym = self.symbol_for(addr, sec)
                if sym is not None:
                    name = sym[0]
                    if file is None and sym[1] is not None:
                        file = sym[1]
                    if func.ranges and sym[2] == func.ranges[0][0]:
                        func.name = name
                func.is_linkage = True
        if func is None or name is None:
            sym = self.symbol_for(addr, sec)
            if sym is not None:
                name = sym[0]
                if file is None and sym[1] is not None:
                    file = sym[1]
            elif func is None and where is None:
                return None
        frames = [Frame(name, file, line, disc)]
        f = func
        while f is not None and f.inlined and f.caller is not None:
            caller = f.caller
            cname, _ = unit.function_name(caller)
            cfile = unit.lines.file_name(f.call_file) if unit.lines is not None else None
            frames.append(Frame(cname, cfile, f.call_line, disc, True))
            f = caller
        return frames

    # --- functions by address and by name (disasm --source on a stripped file) ---------------
    def function_at(self, addr: int) -> str | None:
        """The name of the function whose code starts at `addr`: a DWARF subprogram whose
        first range starts there, else a symbol of the symbol table frames() names from
        (a separate debug file's .symtab before the file's own) with that value."""
        if self.dwarf is not None:
            for unit in self.dwarf.units_for(addr, by_lines=False):
                f = unit.scopes.innermost(addr)
                while f is not None and f.inlined:
                    f = f.caller
                if f is not None and f.ranges and f.ranges[0][0] == addr:
                    name = unit.function_name(f)[0]
                    if name:
                        return name
        sec = self.section_of(addr)
        sym = self.symbol_for(addr, sec) if sec is not None else None
        return sym[0] if sym is not None and sym[2] == addr else None

    def find_function(self, name: str) -> tuple[int, int] | None:
        """(address, size) of the function called `name`: from a separate debug file's
        .symtab, else the first DWARF subprogram of that name with code (every unit is
        walked: a look-up by name, done once per command)."""
        if self._symbol_elf is not self.elf:
            for t in self._symbol_elf.symbol_tables:
                for s in t.symbols:
                    if s.name == name and s.shndx and s.value and s.type in (
                            STT_FUNC, STT_GNU_IFUNC):
                        return s.value, s.size
        if self.dwarf is None:
            return None
        for off in self.dwarf.unit_offsets():
            unit = self.dwarf.unit_at(off)
            for f in unit.scopes.funcs:
                if not f.inlined and f.ranges and unit.function_name(f)[0] == name:
                    low, high = f.ranges[0]
                    return low, high - low
        return None

    # --- elf.c's elf_find_function -------------------------------------------------------------
    def symbol_for(self, addr: int, sec):
        """(name, STT_FILE name or None, value) of the symbol addr2line names `addr` after: of the
        symbols in its section at or below it, the nearest; on a tie, in table order, one
        that covers it, a function over others, a typed over a NOTYPE one, the smaller."""
        shndx = sec.index
        if self._symbol_elf is not self.elf:
            same = self._symbol_elf.section_by_name(sec.name)
            if same is None:
                return None
            shndx = same.index
        index = self._symbol_index().get(shndx)
        if index is None:
            return None
        values, groups = index
        i = bisect_right(values, addr) - 1
        if i < 0:
            return None
        best = None
        for cand in groups[i]:
            if best is None or _better_fit(best, *cand[:3], addr):
                best = cand
        return best[3], best[4], best[0]

    def _symbol_index(self):
        """Section index -> (sorted values, [symbols at that value in table order]); each
        symbol (value, size, type, name, STT_FILE name in force), taken from .symtab, or from
        .dynsym when there is none (as addr2line does)."""
        if self._symbols is None:
            elf = self._symbol_elf
            tables = [t for t in elf.symbol_tables if t.section == ".symtab" and len(t)]
            if not tables:
                dyn = elf.dynsym
                tables = [dyn] if dyn is not None and len(dyn) else []
            by_section: dict[int, dict[int, list]] = {}
            for t in tables:
                file = None
                seen_symbol = after = False
                for i in range(1, len(t)):
                    info = t.infos[i]
                    typ = info & 0xF
                    if typ == STT_FILE:
                        file = t.names[i]
                        if seen_symbol:
                            after = True
                        continue
                    seen_symbol = True
                    if typ in (STT_SECTION, STT_OBJECT, STT_TLS):
                        continue
                    size = t.sizes[i]
                    local = info >> 4 == STB_LOCAL
                    if size == 0 and local and typ == STT_NOTYPE and t.others[i] & 3 == STV_HIDDEN:
                        continue
                    by_section.setdefault(t.shndxs[i], {}).setdefault(t.values[i], []).append(
                        (t.values[i], size or 1, typ, t.names[i],
                         file if (file is not None and (local or not after)) else None))
            self._symbols = {shndx: (sorted(groups), [groups[v] for v in sorted(groups)])
                             for shndx, groups in by_section.items()}
        return self._symbols


def _better_fit(best, value, size, typ, addr) -> bool:
    bvalue, bsize, btype = best[0], best[1], best[2]
    if value < bvalue:
        return False
    if value > bvalue:
        return True
    if bvalue + bsize <= addr:
        return size > bsize
    if value + size <= addr:
        return False
    bfunc = btype in (STT_FUNC, STT_GNU_IFUNC)
    func = typ in (STT_FUNC, STT_GNU_IFUNC)
    if bfunc and not func:
        return False
    if func and not bfunc:
        return True
    if btype == STT_NOTYPE and typ != STT_NOTYPE:
        return True
    if btype != STT_NOTYPE and typ == STT_NOTYPE:
        return False
    return size < bsize


def format_frames(frames: list[Frame] | None, functions: bool = True) -> list[str]:
    """addr2line's lines for one address."""
    if frames is None:
        return (["??"] if functions else []) + ["??:0"]
    out = []
    for fr in frames:
        if functions:
            out.append(fr.function or "??")
        where = f"{'??' if fr.file is None else fr.file}:"
        if fr.line:
            where += (f"{fr.line} (discriminator {fr.discriminator})" if fr.discriminator
                      else str(fr.line))
        else:
            where += "?"
        out.append(where)
    return out
