"""Symbol resolution (bfd's elflink.c, elf_link_add_object_symbols and the archive walk):
one GlobalSymbol per name, the rules ld applies when two objects mention it, and archive
members pulled in while undefined symbols remain.

Rules, as ld applies them to ELF objects:
- a strong definition beats a weak one; two strong definitions are an error naming both
  objects ("multiple definition of `x'; first defined in a.o"); of two weak ones the first
  stays;
- COMMON symbols merge to the largest size and alignment; a definition beats a COMMON one
  (and a COMMON one beats a weak definition);
- an archive member is loaded when it defines a symbol that is undefined and referenced
  strongly (never for a weak reference, never for a COMMON one); a group (--start-group ...
  --end-group) is walked again until nothing new is loaded;
- the strictest visibility among all mentions wins (internal < hidden < protected < default);
- a definition inside a discarded COMDAT section is no definition.
"""
from __future__ import annotations

from elfkit.elf.constants import SHN
from elfkit.ld.input import LinkError, ObjectFile

STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_SECTION, STT_FILE, STT_TLS, STT_GNU_IFUNC = 3, 4, 6, 10
_VIS_RANK = {0: 3, 3: 2, 2: 1, 1: 0}        # default, protected, hidden, internal


class GlobalSymbol:
    """A global name in the link. `section` None with `defined`: an absolute (or
    linker-defined) symbol whose value is `value`; COMMON ones get a section in the layout."""

    __slots__ = ("name", "obj", "section", "value", "size", "type", "bind", "visibility",
                 "defined", "common_align", "strong_ref", "referenced_by", "got_index",
                 "iplt_index", "linker_defined")

    def __init__(self, name):
        self.name = name
        self.obj = None
        self.section = None
        self.value = 0
        self.size = 0
        self.type = 0
        self.bind = STB_GLOBAL
        self.visibility = 0
        self.defined = False
        self.common_align = 0          # > 0: a COMMON symbol (its alignment)
        self.strong_ref = False        # referenced by a non-weak undefined entry
        self.referenced_by = []        # objects that reference it (for error messages)
        self.got_index = None
        self.iplt_index = None
        self.linker_defined = False

    @property
    def is_common(self) -> bool:
        return self.common_align > 0

    def address(self) -> int:
        if self.section is not None:
            return self.section.addr + self.value
        return self.value

    def __repr__(self):
        return f"<GlobalSymbol {self.name} {'def' if self.defined else 'undef'}>"


class SymbolTable:
    def __init__(self):
        self.symbols: dict[str, GlobalSymbol] = {}
        self.objects: list[ObjectFile] = []
        self.comdat: dict[str, ObjectFile] = {}
        self.errors: list[str] = []
        self.wanted_names: set[str] = set()     # referenced strongly, not defined (yet)

    def get(self, name) -> GlobalSymbol:
        sym = self.symbols.get(name)
        if sym is None:
            sym = self.symbols[name] = GlobalSymbol(name)
        return sym

    # --- adding an object --------------------------------------------------------------------
    def add_object(self, obj: ObjectFile):
        self.objects.append(obj)
        for signature, members in obj.groups:
            if signature in self.comdat:
                for i in members:
                    sec = obj.sections[i]
                    if sec is not None:
                        sec.live = False
            else:
                self.comdat[signature] = obj
        obj.globals = [None] * len(obj.symbols)
        for i in range(obj.first_global, len(obj.symbols)):
            ls = obj.symbols[i]
            if ls.bind == STB_LOCAL:
                continue
            g = self.get(ls.name)
            obj.globals[i] = g
            if ls.visibility and _VIS_RANK[ls.visibility] < _VIS_RANK[g.visibility]:
                g.visibility = ls.visibility
            self._merge(g, obj, ls)

    def _merge(self, g, obj, ls):
        shndx = ls.shndx
        if shndx == SHN.UNDEF or (ls.section is not None and not ls.section.live) or \
                (ls.section is None and 0 < shndx < SHN.LORESERVE):
            if ls.bind != STB_WEAK:
                g.strong_ref = True
                if not g.defined:
                    self.wanted_names.add(g.name)
            if obj not in g.referenced_by and len(g.referenced_by) < 8:
                g.referenced_by.append(obj)
            if not g.defined:
                g.type = g.type or ls.type
            return
        if shndx == SHN.COMMON:
            if ls.value & (ls.value - 1) or ls.value > 1 << 32:
                self.errors.append(f"{obj.name}: COMMON symbol `{g.name}' has alignment "
                                   f"{ls.value:#x}, not a power of two up to 4 GiB")
                return
            if g.defined and not g.is_common and g.bind != STB_WEAK:
                return                             # a definition beats COMMON
            if g.is_common:
                g.size = max(g.size, ls.size)
                g.common_align = max(g.common_align, ls.value or 1)
                return
            self._define(g, obj, None, 0, ls)
            g.common_align = max(1, ls.value)
            return
        new_weak = ls.bind == STB_WEAK
        if g.defined:
            if g.is_common:
                if new_weak:
                    return                         # COMMON beats a weak definition
            elif g.bind == STB_WEAK and not new_weak:
                pass                               # strong replaces weak
            elif new_weak:
                return
            else:
                self.errors.append(
                    f"{obj.name}: {_where(ls)}: multiple definition of `{g.name}'; "
                    f"{g.obj.name if g.obj else 'the command line'}: first defined here")
                return
        self._define(g, obj, ls.section, ls.value, ls)

    def _define(self, g, obj, section, value, ls):
        self.wanted_names.discard(g.name)
        g.obj, g.section, g.value, g.size = obj, section, value, ls.size
        g.type, g.defined, g.common_align, g.bind = ls.type, True, 0, ls.bind
        if ls.shndx == SHN.ABS:
            g.section = None

    # --- archives ------------------------------------------------------------------------------
    def wanted(self, name) -> bool:
        g = self.symbols.get(name)
        return g is not None and not g.defined and g.strong_ref

    def add_archive(self, archive, load_member, whole=False) -> bool:
        """Load the members of `archive` that define a wanted symbol, until none does;
        True when anything was loaded."""
        loaded_any = False
        if whole:
            for i, m in enumerate(archive.members):
                if i not in archive.loaded:
                    archive.loaded.add(i)
                    self.add_object(load_member(archive, m))
                    loaded_any = True
            return loaded_any
        index = archive.symbol_index
        while True:
            loaded = False
            wanted = self.wanted_names
            for name in [n for n in index if n in wanted]:      # armap order, as ld walks it
                if not self.wanted(name):
                    continue
                for i in index[name]:
                    if i in archive.loaded:
                        continue
                    archive.loaded.add(i)
                    self.add_object(load_member(archive, archive.member_for(i)))
                    loaded = loaded_any = True
                    break
            if not loaded:
                return loaded_any

    # --- the end of resolution -----------------------------------------------------------------
    def undefined_errors(self) -> list[str]:
        """ld's line for each object referencing a symbol nobody defined (strongly: an
        undefined weak symbol is 0). __tls_get_addr is no error: in a static executable its
        calls become local-exec sequences (TLSGD/TLSLD relaxed) and no reference is left."""
        out = []
        for g in self.symbols.values():
            if g.defined or not g.strong_ref or g.name == "__tls_get_addr":
                continue
            for obj in g.referenced_by:
                out.append(f"{obj.name}: undefined reference to `{g.name}'")
        return out


def _where(ls) -> str:
    sec = ls.section
    return f"({sec.name}+{ls.value:#x})" if sec is not None else "(*ABS*)"


__all__ = ["SymbolTable", "GlobalSymbol", "STB_LOCAL", "STB_GLOBAL", "STB_WEAK",
           "STT_SECTION", "STT_TLS", "STT_GNU_IFUNC", "STT_FILE", "LinkError"]
