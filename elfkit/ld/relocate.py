"""Static relocation for x86-64 (bfd's elf64-x86-64.c, relocate_section, for an executable
linked -static): the lecture's formulas, with S the symbol's address, A the addend, P the
place, G+GOT the symbol's GOT slot, Z its size, TP the thread pointer.

  64 S+A    32 S+A (fits u32)    32S S+A (fits s32)    PC32/PLT32 S+A-P    PC64 S+A-P
  GOT32 G+A   GOTPCREL G+GOT+A-P   GOTOFF64 S+A-GOT   GOTPC32/GOTPC64 GOT+A-P
  GOT64 G+A   GOTPCREL64 G+GOT+A-P   GOTPLT64 G+A   PLTOFF64 S+A-GOT   SIZE32/64 Z+A
  TPOFF32/64 S+A-TP   DTPOFF32/64 S+A-(TLS start)   GOTTPOFF G+GOT+A-P, the slot holding S-TP

Relaxations, as ld makes them in an executable whose symbols are all known:
- GOTPCRELX/REX_GOTPCRELX: `mov sym@GOTPCREL(%rip),%reg` -> `lea sym(%rip),%reg`,
  `call *sym@GOTPCREL(%rip)` -> `addr32 call sym`, `jmp *..` -> `nop; jmp sym`; any other
  instruction keeps a GOT slot;
- TLSGD, TLSLD and the GOTPC32_TLSDESC/TLSDESC_CALL pair become local-exec sequences
  (the __tls_get_addr call disappears); GOTTPOFF keeps its GOT slot, holding TP's offset;
- a reference to an IFUNC symbol goes through its .plt stub, whose .got.plt slot an
  IRELATIVE relocation in .rela.plt (between __rela_iplt_start and __rela_iplt_end) fills.
A value that does not fit is ld's "relocation truncated to fit", naming object, section,
offset, symbol and type.
"""
from __future__ import annotations

import struct

from elfkit.elf.constants import reloc_type_name
from elfkit.ld.input import LinkError
from elfkit.ld.layout import merged_offset
from elfkit.ld.resolve import STT_GNU_IFUNC, STT_SECTION

R_NONE, R_64, R_PC32, R_GOT32, R_PLT32 = 0, 1, 2, 3, 4
R_GOTPCREL, R_32, R_32S, R_16, R_PC16, R_8, R_PC8 = 9, 10, 11, 12, 13, 14, 15
R_DTPMOD64, R_DTPOFF64, R_TPOFF64, R_TLSGD, R_TLSLD, R_DTPOFF32, R_GOTTPOFF, R_TPOFF32 = \
    16, 17, 18, 19, 20, 21, 22, 23
R_PC64, R_GOTOFF64, R_GOTPC32, R_GOT64, R_GOTPCREL64, R_GOTPC64, R_GOTPLT64, R_PLTOFF64 = \
    24, 25, 26, 27, 28, 29, 30, 31
R_SIZE32, R_SIZE64, R_GOTPC32_TLSDESC, R_TLSDESC_CALL, R_IRELATIVE = 32, 33, 34, 35, 37
R_GOTPCRELX, R_REX_GOTPCRELX = 41, 42

_NEEDS_GOT = {R_GOT32, R_GOT64, R_GOTPCREL64, R_GOTPLT64, R_GOTTPOFF}
_GOTPCREL_KINDS = {R_GOTPCREL, R_GOTPCRELX, R_REX_GOTPCRELX}
_U32, _S32 = (0, 0xFFFFFFFF), (-0x80000000, 0x7FFFFFFF)
_SCANNED = _NEEDS_GOT | _GOTPCREL_KINDS


class Target:
    """What one relocation's symbol is: its address (S), size (Z), a key for its GOT slot, and
    whether it is TLS, IFUNC, or an undefined weak one (S = 0)."""

    __slots__ = ("addr", "size", "key", "name", "tls", "ifunc", "undef_weak", "local", "merge")

    def __init__(self, addr, size, key, name, tls=False, ifunc=False, undef_weak=False,
                 local=False, merge=None):
        self.addr, self.size, self.key, self.name = addr, size, key, name
        self.tls, self.ifunc, self.undef_weak, self.local = tls, ifunc, undef_weak, local
        self.merge = merge        # a section symbol of a merged section: S+A is looked up


class Relocator:
    def __init__(self, link):
        self.link = link
        self.got_keys: dict = {}          # key -> index in .got
        self.got_values: list = []        # ("addr", key) / ("tpoff", key) per slot, filled late
        self.iplt: dict = {}              # key -> index in .plt/.got.plt
        self.iplt_targets: list = []      # resolver keys, by index
        self.errors: list[str] = []
        self.trace = None                 # a list to append (sec, off, sym, S, A, P, value)
        self._targets: dict = {}          # (obj, alloc) -> {symbol index: Target}, after layout

    # --- symbols ---------------------------------------------------------------------------
    def target(self, obj, index: int, resolved: bool = True, strict: bool = True) -> Target:
        if index >= len(obj.symbols):
            raise LinkError(f"{obj.name}: relocation names symbol {index}, past the end of "
                            "the symbol table")
        ls = obj.symbols[index]
        g = obj.globals[index] if index < len(obj.globals) else None
        if g is None:                                   # local symbol
            sec = ls.section
            ifunc = ls.type == STT_GNU_IFUNC
            key = (obj, index)
            if not resolved:
                return Target(0, ls.size, key, ls.name, ls.type == 6, ifunc, local=True)
            if sec is None:
                addr = ls.value if ls.shndx == 0xFFF1 else 0
            elif not sec.live:
                addr = 0
            elif sec.merge_map is not None and ls.type != STT_SECTION:
                addr = sec.out.addr + merged_offset(sec, ls.value)
            elif sec.merge_map is not None:
                name = ls.name or sec.name
                return Target(sec.out.addr, 0, key, name, local=True, merge=(sec, ls.value))
            else:
                addr = sec.addr + ls.value
            name = ls.name or (sec.name if sec is not None else "")
            return Target(addr, ls.size, key, name, ls.type == 6, ifunc, local=True)
        tls = g.type == 6
        if not g.defined:
            return Target(0, 0, g, g.name, tls, undef_weak=True)
        if not resolved:
            return Target(0, g.size, g, g.name, tls, g.type == STT_GNU_IFUNC)
        sec = g.section
        if sec is not None and sec.out is None:
            if not strict:                       # debug info about removed code: 0, as ld
                return Target(0, g.size, g, g.name, tls)
            raise LinkError(f"{obj.name}: a relocation names `{g.name}', defined in section "
                            f"{sec.name} of {sec.obj.name}, which is not in the output")
        if sec is not None and sec.merge_map is not None:
            addr = sec.out.addr + merged_offset(sec, g.value)
        else:
            addr = g.address()
        return Target(addr, g.size, g, g.name, tls, g.type == STT_GNU_IFUNC)

    # --- the scan: GOT slots and .plt stubs, before the layout ------------------------------
    def scan(self, sec):
        obj = sec.obj
        offsets, infos, _addends = sec.relocs
        data = sec.data
        globals_, symbols = obj.globals, obj.symbols
        nsyms = len(symbols)
        for off, info in zip(offsets, infos):
            rtype, index = info & 0xFFFFFFFF, info >> 32
            if rtype == R_NONE or index == 0 or index >= nsyms:
                continue
            if rtype not in _SCANNED:                   # only IFUNC targets matter then
                g = globals_[index]
                if (g.type if g is not None else symbols[index].type) != STT_GNU_IFUNC:
                    continue
            t = self.target(obj, index, resolved=False)
            if t.ifunc and t.key not in self.iplt:
                self.iplt[t.key] = len(self.iplt_targets)
                self.iplt_targets.append(t.key)
            if rtype in _NEEDS_GOT or (rtype in _GOTPCREL_KINDS and not (
                    not t.ifunc and not t.undef_weak and _relaxable(rtype, data, off))):
                if rtype == R_GOTTPOFF:
                    self._got(("tp", t.key))
                else:                 # an IFUNC's slot holds its .plt stub: pointers compare equal
                    self._got(t.key)

    def _got(self, key):
        if key not in self.got_keys:
            self.got_keys[key] = len(self.got_keys)

    # --- applying, after the layout ---------------------------------------------------------
    def apply(self, sec, buf: bytearray, base: int):
        """Relocate input section `sec`, whose bytes are at buf[base:] and whose address is
        sec.addr."""
        obj, link = sec.obj, self.link
        strict = bool(sec.flags & 2)
        cache = self._targets.get((obj, strict))
        if cache is None:
            cache = self._targets[(obj, strict)] = {}
        offsets, infos, addends = sec.relocs
        P0 = sec.addr
        skip_next_at = None
        fast = self.trace is None
        size = sec.size
        pack_into = struct.pack_into
        for off, info, A in zip(offsets, infos, addends):
            rtype, index = info & 0xFFFFFFFF, info >> 32
            if rtype == R_NONE or off == skip_next_at:
                continue
            if off + 1 > sec.size and sec.size:
                raise LinkError(f"{obj.name}: {sec.name}: relocation at {off:#x} is past the "
                                "section's end")
            P = P0 + off
            if index:
                t = cache.get(index)
                if t is None:
                    t = cache[index] = self.target(obj, index, strict=strict)
            else:
                t = Target(0, 0, None, "")
            S, Z = t.addr, t.size
            if t.merge is not None:                    # the piece S+A points into, moved:
                msec, value = t.merge                  # S is where A is to be counted from
                S = msec.out.addr + merged_offset(msec, value + A) - A
            if t.ifunc:
                S = link.iplt_stub_addr(self.iplt[t.key])
            at = base + off
            if fast:                                   # most of a link: no call, no trace
                if rtype == R_PC32 or rtype == R_PLT32:
                    v = S + A - P
                    if -0x80000000 <= v <= 0x7FFFFFFF and off + 4 <= size:
                        pack_into("<i", buf, at, v)
                        continue
                elif rtype == R_64 and off + 8 <= size:
                    pack_into("<Q", buf, at, (S + A) & 0xFFFFFFFFFFFFFFFF)
                    continue
            self._sap = (S, A, P)
            if rtype == R_64:
                self._put(sec, off, t, rtype, buf, at, 8, S + A, None)
            elif rtype == R_PC32 or rtype == R_PLT32:
                self._put(sec, off, t, rtype, buf, at, 4, S + A - P, _S32)
            elif rtype == R_32:
                self._put(sec, off, t, rtype, buf, at, 4, S + A, _U32)
            elif rtype == R_32S:
                self._put(sec, off, t, rtype, buf, at, 4, S + A, _S32)
            elif rtype == R_16:
                self._put(sec, off, t, rtype, buf, at, 2, S + A, (0, 0xFFFF))
            elif rtype == R_PC16:
                self._put(sec, off, t, rtype, buf, at, 2, S + A - P, (-0x8000, 0x7FFF))
            elif rtype == R_8:
                self._put(sec, off, t, rtype, buf, at, 1, S + A, (0, 0xFF))
            elif rtype == R_PC8:
                self._put(sec, off, t, rtype, buf, at, 1, S + A - P, (-0x80, 0x7F))
            elif rtype == R_PC64:
                self._put(sec, off, t, rtype, buf, at, 8, S + A - P, None)
            elif rtype in _GOTPCREL_KINDS:
                if t.ifunc or t.undef_weak or not _relaxable(rtype, sec.data, off):
                    G = self.got_slot_addr(t)
                    self._put(sec, off, t, rtype, buf, at, 4, G + A - P, _S32)
                else:
                    _relax_gotpcrel(rtype, buf, at)
                    self._put(sec, off, t, rtype, buf, at, 4, S + A - P, _S32)
            elif rtype in (R_GOT32, R_GOT64, R_GOTPLT64):
                G = self.got_slot_addr(t) - link.got_base()
                self._put(sec, off, t, rtype, buf, at, 4 if rtype == R_GOT32 else 8, G + A,
                          _S32 if rtype == R_GOT32 else None)
            elif rtype == R_GOTPCREL64:
                self._put(sec, off, t, rtype, buf, at, 8, self.got_slot_addr(t) + A - P, None)
            elif rtype in (R_GOTOFF64, R_PLTOFF64):
                self._put(sec, off, t, rtype, buf, at, 8, S + A - link.got_base(), None)
            elif rtype == R_GOTPC32:
                self._put(sec, off, t, rtype, buf, at, 4, link.got_base() + A - P, _S32)
            elif rtype == R_GOTPC64:
                self._put(sec, off, t, rtype, buf, at, 8, link.got_base() + A - P, None)
            elif rtype == R_SIZE32:
                self._put(sec, off, t, rtype, buf, at, 4, Z + A, _U32)
            elif rtype == R_SIZE64:
                self._put(sec, off, t, rtype, buf, at, 8, Z + A, None)
            elif rtype == R_TPOFF32:
                self._put(sec, off, t, rtype, buf, at, 4, link.tpoff(S) + A, _S32)
            elif rtype == R_TPOFF64:
                self._put(sec, off, t, rtype, buf, at, 8, link.tpoff(S) + A, None)
            elif rtype == R_DTPOFF32:
                # code relaxed from local-dynamic addresses from TP; data (debug info) keeps
                # the offset in the TLS block
                v = link.tpoff(S) if sec.flags & 4 else S - link.tls_start
                self._put(sec, off, t, rtype, buf, at, 4, v + A, _S32)
            elif rtype == R_DTPOFF64:
                self._put(sec, off, t, rtype, buf, at, 8, S - link.tls_start + A, None)
            elif rtype == R_DTPMOD64:
                self._put(sec, off, t, rtype, buf, at, 8, 1, None)
            elif rtype == R_GOTTPOFF:
                G = self.got_slot_addr(t, tp=True)
                self._put(sec, off, t, rtype, buf, at, 4, G + A - P, _S32)
            elif rtype == R_TLSGD:
                skip_next_at = self._tlsgd_to_le(sec, off, t, buf, at, S)
            elif rtype == R_TLSLD:
                skip_next_at = self._tlsld_to_le(sec, off, t, buf, at)
            elif rtype == R_GOTPC32_TLSDESC:
                self._tlsdesc_to_le(sec, off, t, buf, at, S)
            elif rtype == R_TLSDESC_CALL:
                if bytes(buf[at:at + 2]) != b"\xff\x10":
                    self._bad_tls(sec, off, t, rtype)
                buf[at:at + 2] = b"\x66\x90"                # xchg %ax,%ax
            else:
                self.errors.append(f"{obj.name}: {sec.name}+{off:#x}: relocation type "
                                   f"{reloc_type_name(rtype, 62)} is not supported")

    def _put(self, sec, off, t, rtype, buf, at, width, value, limits):
        if limits is not None and not (limits[0] <= value <= limits[1]):
            self.errors.append(
                f"{sec.obj.name}: ({sec.name}+{off:#x}): relocation truncated to fit: "
                f"{reloc_type_name(rtype, 62)} against "
                f"{'symbol ' if t.name else ''}`{t.name or '*ABS*'}'")
            return
        mask = (1 << (8 * width)) - 1
        buf[at:at + width] = (value & mask).to_bytes(width, "little")
        if self.trace is not None:
            self.trace.append((sec, off, rtype, t.name, *self._sap, value))

    # TLS relaxations: the exact sequences gcc emits, as ld matches them
    def _tlsgd_to_le(self, sec, off, t, buf, at, S):
        start = at - 4
        code = bytes(buf[start:start + 16])
        if len(code) == 16 and code[:4] == b"\x66\x48\x8d\x3d" and \
                code[8:12] == b"\x66\x66\x48\xe8":
            value = self.link.tpoff(S)
            if not self._fits_tp(sec, off, t, R_TLSGD, value):
                return None
            buf[start:start + 16] = b"\x64\x48\x8b\x04\x25\x00\x00\x00\x00\x48\x8d\x80" + \
                struct.pack("<i", value)
            return off + 8                               # the PLT32 to __tls_get_addr
        if len(code) >= 14 and code[:4] == b"\x66\x48\x8d\x3d" and code[8:10] == b"\xff\x15":
            # -fno-plt: call *__tls_get_addr@GOTPCREL(%rip), 14 bytes + a 2-byte pad
            value = self.link.tpoff(S)
            if not self._fits_tp(sec, off, t, R_TLSGD, value):
                return None
            buf[start:start + 16] = b"\x64\x48\x8b\x04\x25\x00\x00\x00\x00\x48\x8d\x80" + \
                struct.pack("<i", value)
            return off + 6
        self._bad_tls(sec, off, t, R_TLSGD)
        return None

    def _tlsld_to_le(self, sec, off, t, buf, at):
        start = at - 3
        code = bytes(buf[start:start + 12])
        if code[:3] == b"\x48\x8d\x3d" and code[7:8] == b"\xe8":
            buf[start:start + 12] = b"\x66\x66\x66\x64\x48\x8b\x04\x25\x00\x00\x00\x00"
            return off + 5
        if code[:3] == b"\x48\x8d\x3d" and code[7:9] == b"\xff\x15":
            buf[start:start + 13] = b"\x66\x66\x66\x66\x64\x48\x8b\x04\x25\x00\x00\x00\x00"
            return off + 6
        self._bad_tls(sec, off, t, R_TLSLD)
        return None

    def _tlsdesc_to_le(self, sec, off, t, buf, at, S):
        start = at - 3
        rex, op, modrm = buf[start], buf[start + 1], buf[start + 2]
        if rex not in (0x48, 0x4C) or op != 0x8D or modrm & 0xC7 != 0x05:
            self._bad_tls(sec, off, t, R_GOTPC32_TLSDESC)
            return
        reg = (modrm >> 3) & 7
        buf[start] = 0x48 if rex == 0x48 else 0x49
        buf[start + 1] = 0xC7
        buf[start + 2] = 0xC0 | reg
        self._put(sec, off, t, R_GOTPC32_TLSDESC, buf, at, 4, self.link.tpoff(S), _S32)

    def _fits_tp(self, sec, off, t, rtype, value) -> bool:
        if -0x80000000 <= value <= 0x7FFFFFFF:
            return True
        self.errors.append(f"{sec.obj.name}: ({sec.name}+{off:#x}): relocation truncated to fit: "
                           f"{reloc_type_name(rtype, 62)} against `{t.name}'")
        return False

    def _bad_tls(self, sec, off, t, rtype):
        self.errors.append(f"{sec.obj.name}: ({sec.name}+{off:#x}): {reloc_type_name(rtype, 62)}"
                           f" against `{t.name}': unexpected instruction sequence for TLS "
                           "relaxation")

    # --- GOT ---------------------------------------------------------------------------------
    def got_slot_addr(self, t, tp=False) -> int:
        link = self.link
        key = ("tp", t.key) if tp else t.key
        slot = self.got_keys.get(key)
        if slot is None:          # only relocations of loaded sections get GOT slots
            raise LinkError(f"a GOT relocation against `{t.name}' in a section that is not "
                            "loaded (not SHF_ALLOC): it has no GOT slot")
        return link.got_addr() + 8 * slot

    def got_contents(self, resolve_key) -> bytes:
        """The .got's words: each slot's symbol address, or its TP offset (GOTTPOFF)."""
        out = bytearray(8 * len(self.got_keys))
        for key, i in self.got_keys.items():
            if isinstance(key, tuple) and key and key[0] == "tp":
                value = self.link.tpoff(resolve_key(key[1]))
            else:
                value = resolve_key(key)
            struct.pack_into("<Q", out, 8 * i, value & 0xFFFFFFFFFFFFFFFF)
        return bytes(out)


def _relaxable(rtype, data, off) -> bool:
    if off < 2 or off + 4 > len(data):
        return False
    op, modrm = data[off - 2], data[off - 1]
    if rtype == R_REX_GOTPCRELX:
        return op == 0x8B and off >= 3 and data[off - 3] & 0xF0 == 0x40
    if rtype == R_GOTPCRELX:
        return op == 0x8B or (op == 0xFF and modrm in (0x15, 0x25))
    return False


def _relax_gotpcrel(rtype, buf, at):
    op, modrm = buf[at - 2], buf[at - 1]
    if op == 0x8B:
        buf[at - 2] = 0x8D                        # mov -> lea
    elif modrm == 0x15:
        buf[at - 2:at] = b"\x67\xe8"              # call * -> addr32 call
    else:
        buf[at - 2:at] = b"\x90\xe9"              # jmp * -> nop; jmp


__all__ = ["Relocator", "Target"]
