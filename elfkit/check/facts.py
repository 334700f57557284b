"""What the checks share about one file, each fact decoded on first use from one ElfFile.

A check asks `facts.kind`, `facts.imports`, `facts.segment(PT.GNU_RELRO)`...;
only the views behind the facts it asks for are ever decoded, so a policy
that runs three checks costs three checks' worth of parsing.
"""
from __future__ import annotations

from elfkit.check.machines import PPC64, Machine, machine_of
from elfkit.elf.constants import DF, DF_1, DT, EM, ET, GNU_PROPERTY, PT, SHN, SHT
from elfkit.elf.notes import GNU_PROPERTY_AARCH64_FEATURE_1_AND
from elfkit.elf.record import cached_property

# File kinds: key -> how people say it.  The key is what JSON carries.
KINDS = {
    "pie": "PIE executable",
    "static-pie": "static-PIE executable",
    "exec": "executable (ET_EXEC)",
    "static-exec": "static executable (ET_EXEC)",
    "shared-lib": "shared library",
    "object": "relocatable object",
    "core": "core file",
    "other": "other ELF type",
}
LINKED = frozenset({"pie", "static-pie", "exec", "static-exec", "shared-lib"})
STATIC = frozenset({"static-pie", "static-exec"})
X86 = frozenset({EM.X86_64, EM.I386})

PAGE_SIZE = 4096            # x86's page size: what ld.so rounds the RELRO range to (other
                            # machines: machines.relro_page_size)


class Facts:
    """Lazily decoded facts about one ElfFile, shared by every check that runs on it."""

    def __init__(self, elf):
        self.elf = elf

    # --- program headers -------------------------------------------------------------------
    @cached_property
    def _segments_by_type(self) -> dict:
        out = {}
        for s in self.elf.segments:
            out.setdefault(s.type, s)       # the first of each type is the one ld.so uses
        return out

    def segment(self, p_type):
        return self._segments_by_type.get(p_type)

    @cached_property
    def dynamic(self):
        if self.elf.header.type == ET.CORE:
            return None
        return self.elf.dynamic

    def dyn_value(self, tag):
        return self.dynamic.value(tag) if self.dynamic is not None else None

    # --- what kind of file -----------------------------------------------------------------
    @cached_property
    def kind(self) -> str:
        """exec / static-exec / pie / static-pie / shared-lib / object / core / other.

        ET_DYN is a PIE when DF_1_PIE says so (ld sets it for -pie and -static-pie since
        binutils 2.26); without the flag, when it has DT_DEBUG, which ld gives executables
        and never -shared output (older linkers). Everything else ET_DYN is a shared
        library, including libraries that carry PT_INTERP so they can also be run
        (libc.so.6, pam_cap.so).
        """
        e_type = self.elf.header.type
        if e_type == ET.REL:
            return "object"
        if e_type == ET.CORE:
            return "core"
        interp = self.segment(PT.INTERP) is not None
        if e_type == ET.EXEC:
            return "exec" if interp or self.segment(PT.DYNAMIC) is not None else "static-exec"
        if e_type != ET.DYN:
            return "other"
        dyn = self.dynamic
        if dyn is not None and (dyn.flags_1 & DF_1.PIE or dyn.value(DT.DEBUG) is not None):
            return "pie" if interp else "static-pie"
        return "shared-lib"

    @property
    def linked(self) -> bool:
        return self.kind in LINKED

    @property
    def static(self) -> bool:
        return self.kind in STATIC

    @property
    def x86(self) -> bool:
        return self.elf.header.machine in X86

    @cached_property
    def machine(self) -> Machine:
        """The per-machine defaults (kernel, glibc, ld) the checks apply: machines.py."""
        return machine_of(self.elf.header)

    @property
    def executable(self) -> bool:
        """A file the kernel execs itself (not a library ld.so maps)."""
        return self.kind in ("pie", "static-pie", "exec", "static-exec")

    @cached_property
    def ppc64_elfv1(self) -> bool:
        """PowerPC64 ELFv1 (e_flags ABI 0 or 1): function descriptors, and code symbols that
        may carry a leading dot (`.printf` for the entry point of `printf`)."""
        return self.machine is PPC64 and self.elf.header.flags & 3 != 2

    def code_names(self, names) -> frozenset[str]:
        """`names`, plus each PowerPC64 ELFv1 dot-symbol without its dot (`.__stack_chk_fail`
        is the code entry of `__stack_chk_fail`); unchanged on every other machine."""
        names = frozenset(names)
        if not self.ppc64_elfv1:
            return names
        return names | {n[1:] for n in names if n.startswith(".") and len(n) > 1}

    # --- dynamic linking -------------------------------------------------------------------
    @cached_property
    def bind_now(self) -> list[str]:
        """Which dynamic tags ask ld.so to bind every symbol at start-up (empty: lazy)."""
        dyn = self.dynamic
        if dyn is None:
            return []
        out = []
        if dyn.value(DT.BIND_NOW) is not None:
            out.append("DT_BIND_NOW")
        if dyn.flags & DF.BIND_NOW:
            out.append("DT_FLAGS BIND_NOW")
        if dyn.flags_1 & DF_1.NOW:
            out.append("DT_FLAGS_1 NOW")
        return out

    @cached_property
    def _dynsym_raw(self):
        """([(st_name, st_shndx)], .dynstr bytes) straight from the SHT_DYNSYM section, or
        None when there is none (no section headers: the full DT_SYMTAB reader is used)."""
        elf = self.elf
        sec = next((s for s in elf.sections if s.type == SHT.DYNSYM), None)
        if sec is None or sec.link >= len(elf.sections):
            return None
        strtab = elf.sections[sec.link]
        entsize = elf.fmt.sym.size
        if not (elf.check_range(sec.offset, sec.size, "section .dynsym") and
                elf.check_range(strtab.offset, strtab.size, "string table of .dynsym")):
            return [], b""
        raw = elf.fmt.sym.iter_unpack(elf.data[sec.offset:sec.offset + sec.size - sec.size % entsize])
        shndx = 3 if elf.is_64 else 5       # name info other shndx value size / name value size info other shndx
        entries = [(f[0], f[shndx]) for f in raw]
        return entries, bytes(elf.data[strtab.offset:strtab.offset + strtab.size])

    @cached_property
    def imports(self) -> frozenset[str]:
        """Names of the undefined symbols in .dynsym: what this file takes from others.

        Only the undefined entries' names are decoded: a library's .dynsym is mostly its
        exports.
        """
        raw = self._dynsym_raw
        if raw is None:
            table = self.elf.dynsym
            if table is None:
                return frozenset()
            return frozenset(s.name for s in table.symbols if s.shndx == SHN.UNDEF and s.name)
        entries, table = raw
        names = set()
        for off, shndx in entries:
            if shndx != SHN.UNDEF or not off:
                continue
            if off >= len(table):
                self.elf.warn(f"symbol name index {off:#x} is past the end of .dynstr "
                              f"(size {len(table):#x})")
                continue
            end = table.find(b"\0", off)
            names.add(table[off:end if end >= 0 else len(table)].decode("utf-8", "backslashreplace"))
        return frozenset(names)

    def defines_dynamic(self, name: str) -> bool:
        """Whether .dynsym defines `name` (exports it), without decoding every name."""
        raw = self._dynsym_raw
        if raw is None:
            table = self.elf.dynsym
            return table is not None and any(s.name == name and s.shndx != SHN.UNDEF
                                             for s in table.symbols)
        entries, table = raw
        needle, offsets, pos = name.encode() + b"\0", set(), 0
        while (pos := table.find(needle, pos)) >= 0:   # ld merges string tails: find them all
            offsets.add(pos)
            pos += 1
        return bool(offsets) and any(off in offsets and shndx != SHN.UNDEF
                                     for off, shndx in entries)

    def memo(self, key: str, compute):
        """A per-file cache for facts that one module derives for several of its checks."""
        cache = self.__dict__.setdefault("_memo", {})
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    @cached_property
    def version_needs(self) -> list[tuple[str, str]]:
        """(library file, version name) for each vernaux entry of .gnu.version_r."""
        verneed = self.elf.versions.verneed
        return [(need.file, aux.name or "") for need in (verneed.entries if verneed else ())
                for aux in need.aux]

    @cached_property
    def symtab_names(self) -> tuple[frozenset[str], frozenset[str]]:
        """(defined, undefined) names in .symtab (empty when stripped)."""
        defined, undefined = set(), set()
        for table in self.elf.symbol_tables:
            for s in table.symbols:
                if s.name:
                    (undefined if s.shndx == SHN.UNDEF else defined).add(s.name)
        return frozenset(defined), frozenset(undefined)

    @cached_property
    def has_symtab(self) -> bool:
        return any(s.type == SHT.SYMTAB for s in self.elf.sections)

    # --- notes -----------------------------------------------------------------------------
    @cached_property
    def gnu_properties(self) -> dict[int, int]:
        """GNU property type -> value over every NT_GNU_PROPERTY_TYPE_0 note."""
        out = {}
        for block in self.elf.notes:
            for note in block.notes:
                for prop in note.properties or ():
                    out[prop.type] = out.get(prop.type, 0) | prop.value
        return out

    @cached_property
    def build_id(self) -> str | None:
        for block in self.elf.notes:
            for note in block.notes:
                if note.build_id is not None:
                    return note.build_id
        return None

    def x86_feature_1(self) -> int | None:
        """GNU_PROPERTY_X86_FEATURE_1_AND (IBT = 1, SHSTK = 2); None when absent or not x86
        (processor-specific property types mean something else on other machines)."""
        if not self.x86:
            return None
        return self.gnu_properties.get(GNU_PROPERTY.X86_FEATURE_1_AND)

    def aarch64_feature_1(self) -> int | None:
        """GNU_PROPERTY_AARCH64_FEATURE_1_AND (BTI = 1, PAC = 2); None when absent or not
        AArch64 (the type number means something else on other machines)."""
        if self.elf.header.machine != EM.AARCH64:
            return None
        return self.gnu_properties.get(GNU_PROPERTY_AARCH64_FEATURE_1_AND)


def page_down(addr: int, page_size: int = PAGE_SIZE) -> int:
    return addr & ~(page_size - 1)
