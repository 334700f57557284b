"""DWARF expressions (DW_OP_*) and register numbers as GNU readelf spells them: the text of
`readelf --debug-dump=info` after a location attribute ("(DW_OP_fbreg: -20)") and of
`--debug-dump=frames` in DW_CFA_*_expression, and the structured form of the same for JSON.

Written from the DWARF 5 specification (section 2.5, 7.7.1) and readelf's observed output;
register names are the psABI's DWARF numbering (x86-64, i386), readelf's names for them.
"""
from __future__ import annotations

from elfkit.debug.forms import sleb, uleb

_X86_64 = (["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp"]
           + [f"r{i}" for i in range(8, 16)] + ["rip"]
           + [f"xmm{i}" for i in range(16)] + [f"st{i}" for i in range(8)]
           + [f"mm{i}" for i in range(8)]
           + ["rflags", "es", "cs", "ss", "ds", "fs", "gs", None, None, "fs.base", "gs.base",
              None, None, "tr", "ldtr", "mxcsr", "fcw", "fsw"]
           + [f"xmm{i}" for i in range(16, 32)])
X86_64_REGS = {i: n for i, n in enumerate(_X86_64) if n}
X86_64_REGS.update({118 + i: f"k{i}" for i in range(8)})
_I386 = (["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags", None]
         + [f"st{i}" for i in range(8)] + [None, None] + [f"xmm{i}" for i in range(8)]
         + [f"mm{i}" for i in range(8)] + ["fcw", "fsw", "mxcsr", "es", "cs", "ss", "ds",
                                             "fs", "gs", None, None, "tr", "ldtr"])
I386_REGS = {i: n for i, n in enumerate(_I386) if n}


AARCH64_REGS = {**{i: f"x{i}" for i in range(31)}, 31: "sp",
                **{64 + i: f"v{i}" for i in range(32)}}


def register_names(is_64: bool, machine: int | None = None) -> dict[int, str]:
    """DWARF register number -> name: x86-64 (EM_X86_64, 62), i386 (EM_386, 3), AArch64
    (183); no names for other machines (readelf then shows "r5" alone)."""
    if machine is None or machine in (62, 3):
        return X86_64_REGS if is_64 else I386_REGS
    if machine == 183:
        return AARCH64_REGS
    return {}


def regname(regs: dict, n: int) -> str:
    """readelf's "r7 (rsp)" (just "r40" when the number has no name)."""
    name = regs.get(n)
    return f"r{n} ({name})" if name else f"r{n}"


def _s64(v: int) -> int:
    """A value as readelf holds it: 64 bits, signed."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


def _u64(v: int) -> int:
    return v & ((1 << 64) - 1)


_SIMPLE = {
    0x06: "deref", 0x12: "dup", 0x13: "drop", 0x14: "over", 0x16: "swap", 0x17: "rot",
    0x18: "xderef", 0x19: "abs", 0x1a: "and", 0x1b: "div", 0x1c: "minus", 0x1d: "mod",
    0x1e: "mul", 0x1f: "neg", 0x20: "not", 0x21: "or", 0x22: "plus", 0x24: "shl",
    0x25: "shr", 0x26: "shra", 0x27: "xor", 0x29: "eq", 0x2a: "ge", 0x2b: "gt", 0x2c: "le",
    0x2d: "lt", 0x2e: "ne", 0x96: "nop", 0x97: "push_object_address", 0x9b: "form_tls_address",
    0x9c: "call_frame_cfa", 0x9f: "stack_value", 0xe0: "GNU_push_tls_address",
    0xf0: "GNU_uninit",
}


class Expr:
    """One decoded expression: `ops` [(offset in the block, DW_OP name, [operands])] and
    `text`, readelf's rendering of it (ops joined by "; "); `uses_frame_base`: a
    DW_OP_fbreg in it (nested ones too)."""
    __slots__ = ("ops", "text", "uses_frame_base")

    def __init__(self, ops, text, uses_frame_base=False):
        self.ops = ops
        self.text = text
        self.uses_frame_base = uses_frame_base


def decode_expr(block: bytes, address_size: int, offset_size: int, version: int,
                cu_offset: int, regs: dict) -> Expr:
    """Decode `block`; references (DW_OP_call2, _implicit_pointer, typed ops) are shown as
    .debug_info offsets, CU-relative ones plus `cu_offset`, as readelf shows them."""
    ops = []
    parts = []
    fb = False
    pos = 0
    end = len(block)
    data = block
    while pos < end:
        at = pos
        op = data[pos]
        pos += 1
        args: list = []
        if op in _SIMPLE:
            name = "DW_OP_" + _SIMPLE[op]
            text = name if op != 0xe0 else "DW_OP_GNU_push_tls_address or DW_OP_HP_unknown"
        elif 0x30 <= op <= 0x4f:
            name = f"DW_OP_lit{op - 0x30}"
            text = name
        elif 0x50 <= op <= 0x6f:
            r = op - 0x50
            name = f"DW_OP_reg{r}"
            text = f"{name} ({regs.get(r, f'r{r}')})"
        elif 0x70 <= op <= 0x8f:
            r = op - 0x70
            v, pos = sleb(data, pos)
            v = _s64(v)
            name = f"DW_OP_breg{r}"
            args = [v]
            text = f"{name} ({regs.get(r, f'r{r}')}): {v}"
        elif op == 0x03:
            v = int.from_bytes(data[pos:pos + address_size], "little")
            pos += address_size
            name, args, text = "DW_OP_addr", [v], f"DW_OP_addr: {v:x}"
        elif op in (0x08, 0x0a, 0x0c, 0x0e):
            n = {0x08: 1, 0x0a: 2, 0x0c: 4, 0x0e: 8}[op]
            v = int.from_bytes(data[pos:pos + n], "little")
            pos += n
            name = f"DW_OP_const{n}u"
            args, text = [v], f"{name}: {v}"
        elif op in (0x09, 0x0b, 0x0d, 0x0f):
            n = {0x09: 1, 0x0b: 2, 0x0d: 4, 0x0f: 8}[op]
            v = int.from_bytes(data[pos:pos + n], "little", signed=True)
            pos += n
            name = f"DW_OP_const{n}s"
            args, text = [v], f"{name}: {v}"
        elif op == 0x10:
            v, pos = uleb(data, pos)
            v = _u64(v)
            name, args, text = "DW_OP_constu", [v], f"DW_OP_constu: {v}"
        elif op == 0x11:
            v, pos = sleb(data, pos)
            v = _s64(v)
            name, args, text = "DW_OP_consts", [v], f"DW_OP_consts: {v}"
        elif op == 0x15:
            v = data[pos]
            pos += 1
            name, args, text = "DW_OP_pick", [v], f"DW_OP_pick: {v}"
        elif op == 0x23:
            v, pos = uleb(data, pos)
            v = _u64(v)
            name, args, text = "DW_OP_plus_uconst", [v], f"DW_OP_plus_uconst: {v}"
        elif op in (0x28, 0x2f):
            v = int.from_bytes(data[pos:pos + 2], "little", signed=True)
            pos += 2
            name = "DW_OP_bra" if op == 0x28 else "DW_OP_skip"
            args, text = [v], f"{name}: {v}"
        elif op == 0x90:
            r, pos = uleb(data, pos)
            name, args = "DW_OP_regx", [r]
            text = f"DW_OP_regx: {r} ({regs.get(r, f'r{r}')})"
        elif op == 0x91:
            v, pos = sleb(data, pos)
            v = _s64(v)
            name, args, text = "DW_OP_fbreg", [v], f"DW_OP_fbreg: {v}"
            fb = True
        elif op == 0x92:
            r, pos = uleb(data, pos)
            v, pos = sleb(data, pos)
            v = _s64(v)
            name, args = "DW_OP_bregx", [r, v]
            text = f"DW_OP_bregx: {r} ({regs.get(r, f'r{r}')}) {v}"
        elif op == 0x93:
            v, pos = uleb(data, pos)
            name, args, text = "DW_OP_piece", [v], f"DW_OP_piece: {v}"
        elif op in (0x94, 0x95):
            v = data[pos]
            pos += 1
            name = "DW_OP_deref_size" if op == 0x94 else "DW_OP_xderef_size"
            args, text = [v], f"{name}: {v}"
        elif op in (0x98, 0x99):
            n = 2 if op == 0x98 else 4
            v = int.from_bytes(data[pos:pos + n], "little")
            pos += n
            name = f"DW_OP_call{n}"
            args, text = [v + cu_offset], f"{name}: <{v + cu_offset:#x}>"
        elif op == 0x9a:
            n = address_size if version == 2 else offset_size
            v = int.from_bytes(data[pos:pos + n], "little")
            pos += n
            name, args, text = "DW_OP_call_ref", [v], f"DW_OP_call_ref: <{v:#x}>"
        elif op == 0x9d:
            size, pos = uleb(data, pos)
            off, pos = uleb(data, pos)
            name, args = "DW_OP_bit_piece", [size, off]
            text = f"DW_OP_bit_piece: size: {size} offset: {off} "
        elif op == 0x9e:
            n, pos = uleb(data, pos)
            blk = data[pos:pos + n]
            pos += n
            name, args = "DW_OP_implicit_value", [blk.hex()]
            text = f"DW_OP_implicit_value {block_text(blk)}"
        elif op in (0xa0, 0xf2):
            n = address_size if version == 2 else offset_size
            ref = int.from_bytes(data[pos:pos + n], "little")
            pos += n
            v, pos = sleb(data, pos)
            name = "DW_OP_implicit_pointer" if op == 0xa0 else "DW_OP_GNU_implicit_pointer"
            args, text = [ref, _s64(v)], f"{name}: <{ref:#x}> {_s64(v)}"
        elif op in (0xa3, 0xf3):
            n, pos = uleb(data, pos)
            inner = decode_expr(data[pos:pos + n], address_size, offset_size, version,
                                cu_offset, regs)
            pos += n
            fb = fb or inner.uses_frame_base
            name = "DW_OP_entry_value" if op == 0xa3 else "DW_OP_GNU_entry_value"
            args, text = [[list(o) for o in inner.ops]], f"{name}: ({inner.text})"
        elif op in (0xa4, 0xf4):
            t, pos = uleb(data, pos)
            n = data[pos]
            pos += 1
            blk = data[pos:pos + n]
            pos += n
            name = "DW_OP_const_type" if op == 0xa4 else "DW_OP_GNU_const_type"
            args = [t + cu_offset, blk.hex()]
            text = f"{name}: <{t + cu_offset:#x}>  {block_text(blk)}"
        elif op in (0xa5, 0xf5):
            r, pos = uleb(data, pos)
            t, pos = uleb(data, pos)
            name = "DW_OP_regval_type" if op == 0xa5 else "DW_OP_GNU_regval_type"
            args = [r, t + cu_offset]
            text = f"{name}: {r} ({regs.get(r, f'r{r}')}) <{t + cu_offset:#x}>"
        elif op in (0xa6, 0xf6):
            n = data[pos]
            pos += 1
            t, pos = uleb(data, pos)
            name = "DW_OP_deref_type" if op == 0xa6 else "DW_OP_GNU_deref_type"
            args, text = [n, t + cu_offset], f"{name}: {n} <{t + cu_offset:#x}>"
        elif op in (0xa8, 0xf7, 0xa9, 0xf9):
            t, pos = uleb(data, pos)
            name = {0xa8: "DW_OP_convert", 0xf7: "DW_OP_GNU_convert",
                    0xa9: "DW_OP_reinterpret", 0xf9: "DW_OP_GNU_reinterpret"}[op]
            ref = t + cu_offset if t else 0
            args, text = [ref], f"{name} <{ref:#x}>"
        elif op == 0xfa:
            v = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
            name = "DW_OP_GNU_parameter_ref"
            args, text = [v + cu_offset], f"{name}: <{v + cu_offset:#x}>"
        elif op in (0xa1, 0xa2, 0xfb, 0xfc):
            v, pos = uleb(data, pos)
            name = {0xa1: "DW_OP_addrx", 0xa2: "DW_OP_constx", 0xfb: "DW_OP_GNU_addr_index",
                    0xfc: "DW_OP_GNU_const_index"}[op]
            args, text = [v], f"{name} <{v:#x}>"
        else:
            name = f"DW_OP_unknown_{op:#x}"
            ops.append((at, name, []))
            parts.append(f"(Unknown location op {op:#x})")
            break
        ops.append((at, name, args))
        parts.append(text)
    return Expr(ops, "; ".join(parts), fb)


def block_text(blk: bytes) -> str:
    """readelf's display_block: "N byte block: b0 b1 ... " (each byte %x and a space)."""
    return f"{len(blk)} byte block: " + "".join(f"{b:x} " for b in blk)
