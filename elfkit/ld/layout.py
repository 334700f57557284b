"""Layout (ld's ldlang.c running its default linker script for a static x86-64 executable,
`ld --verbose` on Debian 12 with -z separate-code): which output section each input section
goes to, in which order, at which address and file offset, and the program headers.

The output, as ld lays it out:
  R    ELF header, program headers, notes, .rela.plt (IRELATIVE)
  R X  .init .plt .text .fini                                   (own pages: separate-code)
  R    .rodata .eh_frame_hdr .eh_frame .gcc_except_table, read-only orphans
  RW   .tdata .tbss .preinit_array .init_array .fini_array .data.rel.ro .got   (PT_GNU_RELRO)
       .got.plt .data, writable orphans, .bss, NOBITS orphans
then the sections that are not loaded (.comment, .debug_*, ...).

Addresses start at 0x400000 and each address is the file offset plus that base, so every
PT_LOAD is congruent modulo the page size as the kernel requires; each segment starts on a
new page, and the RELRO part ends on one.
"""
from __future__ import annotations

from bisect import bisect_right

from elfkit.elf.constants import SHT
from elfkit.ld.input import SHF, InputSection

BASE = 0x400000
PAGE = 0x1000

# (output name, segment, [input name patterns]) in ld's script order; `*` as in the script.
_RULES = [
    (".init", "text", [".init"]),
    (".plt", "text", [".plt", ".iplt"]),
    (".text", "text", [".text.unlikely", ".text.*_unlikely", ".text.unlikely.*", ".text.exit",
                       ".text.exit.*", ".text.startup", ".text.startup.*", ".text.hot",
                       ".text.hot.*", ".text.sorted.*", ".text", ".stub", ".text.*",
                       ".gnu.linkonce.t.*"]),
    (".fini", "text", [".fini"]),
    (".rodata", "rodata", [".rodata", ".rodata.*", ".gnu.linkonce.r.*"]),
    (".rodata1", "rodata", [".rodata1"]),
    (".eh_frame_hdr", "rodata", [".eh_frame_hdr"]),
    (".eh_frame", "rodata", [".eh_frame", ".eh_frame.*"]),
    (".gcc_except_table", "rodata", [".gcc_except_table", ".gcc_except_table.*"]),
    (".tdata", "relro", [".tdata", ".tdata.*", ".gnu.linkonce.td.*"]),
    (".tbss", "relro", [".tbss", ".tbss.*", ".gnu.linkonce.tb.*", ".tcommon"]),
    (".preinit_array", "relro", [".preinit_array"]),
    (".init_array", "relro", [".init_array.*", ".ctors.*", ".init_array", ".ctors"]),
    (".fini_array", "relro", [".fini_array.*", ".dtors.*", ".fini_array", ".dtors"]),
    (".data.rel.ro", "relro", [".data.rel.ro.local*", ".gnu.linkonce.d.rel.ro.local.*",
                               ".data.rel.ro", ".data.rel.ro.*", ".gnu.linkonce.d.rel.ro.*"]),
    (".got", "relro", [".got"]),
    (".got.plt", "data", [".got.plt", ".igot.plt"]),
    (".data", "data", [".data", ".data.*", ".gnu.linkonce.d.*"]),
    (".data1", "data", [".data1"]),
    (".bss", "bss", [".dynbss", ".bss", ".bss.*", ".gnu.linkonce.b.*", "COMMON"]),
    (".comment", "none", [".comment"]),
]
_SEGMENT_ORDER = ["notes", "text", "rodata", "relro", "data", "bss", "none"]


def _pattern(p: str):
    """The script's glob (one `*` at most in these patterns) as (prefix, suffix): a name
    matches when it starts and ends so and is long enough for both; no regex to compile."""
    if "*" not in p:
        return (p, None)
    prefix, suffix = p.split("*", 1)
    return (prefix, suffix)


_COMPILED = [(name, seg, [_pattern(p) for p in pats]) for name, seg, pats in _RULES]
_RULE_CACHE: dict = {}


class OutputSection:
    __slots__ = ("name", "type", "flags", "align", "entsize", "inputs", "size", "addr",
                 "offset", "segment", "index", "data")

    def __init__(self, name, typ, flags, segment):
        self.name = name
        self.type = typ
        self.flags = flags
        self.align = 1
        self.entsize = 0
        self.inputs: list[InputSection] = []
        self.size = 0
        self.addr = 0
        self.offset = 0
        self.segment = segment
        self.index = 0
        self.data = None

    @property
    def nobits(self) -> bool:
        return self.type == SHT.NOBITS

    def __repr__(self):
        return f"<OutputSection {self.name} {self.addr:#x}+{self.size:#x}>"


def rule_for(name: str):
    """(output name, rank of the pattern) for an input section name, or None (an orphan)."""
    hit = _RULE_CACHE.get(name, _RULE_CACHE)
    if hit is not _RULE_CACHE:
        return hit
    hit = None
    for out, seg, pats in _COMPILED:
        for rank, (prefix, suffix) in enumerate(pats):
            if (name == prefix if suffix is None else
                    len(name) >= len(prefix) + len(suffix) and name.startswith(prefix)
                    and name.endswith(suffix)):
                hit = (out, seg, rank)
                break
        if hit:
            break
    _RULE_CACHE[name] = hit
    return hit


def init_priority(name: str) -> int:
    """SORT_BY_INIT_PRIORITY: .init_array.NNNNN -> NNNNN, .ctors.NNNNN -> 65535 - NNNNN,
    no number -> 65535 (after every numbered one)."""
    digits = name.rpartition(".")[2]
    if "." not in name or not digits.isascii() or not digits.isdigit():
        return 65536
    n = int(digits)
    return 65535 - n if name.startswith((".ctors", ".dtors")) else n


def orphan_segment(sec: InputSection) -> str:
    f = sec.flags
    if not f & SHF.ALLOC:
        return "none"
    if sec.type == SHT.NOTE:
        return "notes"
    if f & SHF.EXECINSTR:
        return "text"
    if f & SHF.WRITE:
        return "bss" if sec.type == SHT.NOBITS else "data"
    return "rodata"


def merge_section(out: OutputSection, inputs: list[InputSection]) -> InputSection:
    """SHF_MERGE inputs of one output section as one synthetic input: SHF_STRINGS ones keep
    one copy of each string, the others one copy of each entsize-byte constant. Every input
    gets `merge_map`, the sorted (input offset, merged offset) of its pieces."""
    pieces: dict[bytes, int] = {}
    buf = bytearray()
    align = max(s.align for s in inputs)
    strings = bool(inputs[0].flags & SHF.STRINGS)
    for s in inputs:
        data = s.data
        size = s.entsize or 1
        mapping = []
        i = 0
        if strings and size == 1:                       # one C string a piece: split in C
            for piece in data.split(b"\0")[:-1] if data.endswith(b"\0") else data.split(b"\0"):
                piece = piece + b"\0" if i + len(piece) < len(data) else piece
                at = pieces.get(piece)
                if at is None:
                    at = pieces[piece] = len(buf)
                    buf += piece
                mapping.append((i, at))
                i += len(piece)
            s.merge_map = mapping
            continue
        while i < len(data):
            if strings:
                j = i
                while j + size <= len(data) and data[j:j + size] != bytes(size):
                    j += size
                j = min(j + size, len(data))
            else:
                j = min(i + size, len(data))
            piece = data[i:j]
            at = pieces.get(piece)
            if at is None:
                if not strings:
                    while len(buf) % min(size, align or 1):
                        buf.append(0)
                at = pieces[piece] = len(buf)
                buf += piece
            mapping.append((i, at))
            i = j
        s.merge_map = mapping
    merged = InputSection(inputs[0].obj, -1, out.name, inputs[0].type, inputs[0].flags, align,
                          inputs[0].entsize, len(buf), bytes(buf))
    for s in inputs:
        s.out = merged                    # resolved through merged_offset
    return merged


def merged_offset(sec: InputSection, offset: int) -> int:
    """Where input offset `offset` of a merged input went, within its merged section."""
    m = sec.merge_map
    i = bisect_right(m, (offset, 1 << 62)) - 1
    if i < 0:
        return offset
    start, at = m[i]
    return at + (offset - start)


def align_up(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1) if a > 1 else x


__all__ = ["OutputSection", "rule_for", "init_priority", "orphan_segment", "merge_section",
           "merged_offset", "align_up", "BASE", "PAGE"]
