"""The function scopes of one compile unit: every DW_TAG_subprogram, DW_TAG_inlined_subroutine
and DW_TAG_entry_point with the address ranges it covers and the function it is inlined into
-- binutils' `funcinfo` table (bfd/dwarf2.c, scan_unit_for_symbols), which addr2line -f -i
reads.

The DIEs are walked here, over pyelftools' abbreviation tables: pyelftools makes an object per
DIE and per attribute (about 30 us a DIE; libc's debug file has millions), where this walk
only skips bytes, jumps over every subtree that cannot hold code through DW_AT_sibling, and
reads the attributes of the scopes (ranges, call site, where the name is). Names are read when
an address is asked for (`Unit.function_name`).
"""
from __future__ import annotations

from bisect import bisect_right

from elfkit.debug.forms import (BLOCK, BLOCK1, BLOCK2, BLOCK4, INDIRECT, SLEB, STRING, ULEB,
                                form_size)

FUNC_TAGS = {"DW_TAG_subprogram", "DW_TAG_inlined_subroutine", "DW_TAG_entry_point"}
# DIEs whose children may be scopes with code: walked into; any other DIE with children is
# jumped over through its DW_AT_sibling (walked only when it has none).
WALK_TAGS = {"DW_TAG_compile_unit", "DW_TAG_partial_unit", "DW_TAG_lexical_block",
             "DW_TAG_namespace", "DW_TAG_module", "DW_TAG_try_block", "DW_TAG_catch_block",
             "DW_TAG_common_block", "DW_TAG_with_stmt", "DW_TAG_skeleton_unit"}
SCOPE_ATTRS = {"DW_AT_low_pc", "DW_AT_high_pc", "DW_AT_ranges", "DW_AT_call_file",
               "DW_AT_call_line", "DW_AT_sibling"}
OTHER, FUNC, WALK = 0, 1, 2


class Plan:
    """One abbreviation, compiled for the walk: its kind, whether it has children, its size
    when every form has a fixed size (else -1), and its attributes as (name, form, size,
    implicit value)."""
    __slots__ = ("kind", "inlined", "children", "fixed", "attrs", "sib_at", "sib_size")

    def __init__(self, tag: str, children: bool, specs, address_size: int, offset_size: int,
                 version: int):
        self.kind = FUNC if tag in FUNC_TAGS else WALK if tag in WALK_TAGS else OTHER
        self.inlined = tag == "DW_TAG_inlined_subroutine"
        self.children = children
        self.attrs = []
        fixed = 0
        self.sib_at = self.sib_size = -1
        for attr, form, implicit in specs:
            size = form_size(form, address_size, offset_size, version)
            if attr == "DW_AT_sibling" and fixed >= 0 and size > 0:
                self.sib_at, self.sib_size = fixed, size
            self.attrs.append((attr, form, size, implicit))
            fixed = fixed + size if (fixed >= 0 and size >= 0) else -1
        self.fixed = fixed


class Func:
    """One scope: `die` (its offset in .debug_info), `ranges` [(low, high)], `caller` (the
    Func it is inlined into, for DW_TAG_inlined_subroutine), the call site's file index and
    line, and its index in DIE order (`order`: of two equal ranges the later, inner one wins)."""
    __slots__ = ("die", "inlined", "ranges", "caller", "call_file", "call_line", "order",
                 "name", "is_linkage")

    def __init__(self, die, inlined, ranges, caller, call_file, call_line, order):
        self.die = die
        self.inlined = inlined
        self.ranges = ranges
        self.caller = caller
        self.call_file = call_file
        self.call_line = call_line
        self.order = order
        self.name = None                 # resolved on first use (Unit.function_name)
        self.is_linkage = None


def skip_attrs(data, pos: int, plan: Plan):
    """Position after the DIE's attributes, and its DW_AT_sibling (CU-relative) or None."""
    sib = None
    for name, form, size, _imp in plan.attrs:
        if size >= 0:
            if name == "DW_AT_sibling":
                sib = int.from_bytes(data[pos:pos + size], "little")
            pos += size
        elif size == ULEB or size == SLEB:
            while data[pos] & 0x80:
                pos += 1
            pos += 1
        elif size == STRING:
            pos = data.index(b"\0", pos) + 1
        elif size == BLOCK:
            n = 0
            shift = 0
            while True:
                b = data[pos]
                pos += 1
                n |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
            pos += n
        elif size == BLOCK1:
            pos += 1 + data[pos]
        elif size == BLOCK2:
            pos += 2 + int.from_bytes(data[pos:pos + 2], "little")
        elif size == BLOCK4:
            pos += 4 + int.from_bytes(data[pos:pos + 4], "little")
        elif size == INDIRECT:
            return None, None                     # the caller reads it the slow way
    return pos, sib


def scan_scopes(unit) -> "FunctionTable":
    """Walk the unit's DIEs once: its Funcs in DIE order."""
    data = unit.info
    pos = unit.die_start
    end = unit.end
    base = unit.offset
    plans = unit.plans
    plan_for = unit.plan
    funcs: list[Func] = []
    stack: list = []
    cur = None
    while pos < end:
        die = pos
        code = data[pos]
        pos += 1
        if code & 0x80:
            code &= 0x7F
            shift = 7
            while True:
                b = data[pos]
                pos += 1
                code |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
        if code == 0:
            if not stack:
                break
            cur = stack.pop()
            continue
        plan = plans.get(code) or plan_for(code)
        if plan.kind == OTHER:
            if plan.fixed >= 0:
                if plan.children:
                    if plan.sib_at >= 0:
                        at = pos + plan.sib_at
                        pos = base + int.from_bytes(data[at:at + plan.sib_size], "little")
                        continue
                    stack.append(cur)
                pos += plan.fixed
                continue
            after, sib = skip_attrs(data, pos, plan)
            if after is None:
                after = unit.read_attrs(pos, plan)[1]
            pos = after
            if plan.children:
                if sib is not None:
                    pos = base + sib
                else:
                    stack.append(cur)
            continue
        attrs, pos = unit.read_attrs(pos, plan, SCOPE_ATTRS)
        if plan.kind == FUNC:
            f = Func(die, plan.inlined, unit.ranges_of(attrs),
                     cur if plan.inlined else None,
                     attrs.get("DW_AT_call_file", (None, 0))[1],
                     attrs.get("DW_AT_call_line", (None, 0))[1], len(funcs))
            funcs.append(f)
            if plan.children:
                stack.append(cur)
                cur = f
        elif plan.children:
            stack.append(cur)
    return FunctionTable(funcs)


class FunctionTable:
    """Every range of every scope, sorted by start, with the running maximum of their ends
    (binutils' lookup_funcinfo_table): the scopes holding an address are found by walking back
    from it while that maximum lies above it."""

    def __init__(self, funcs: list[Func]):
        entries = sorted((low, high, f.order) for f in funcs for low, high in f.ranges
                         if high > low)
        self.funcs = funcs
        self.lows = [e[0] for e in entries]
        self.entries = entries
        running = []
        top = 0
        for _low, high, _o in entries:
            top = max(top, high)
            running.append(top)
        self.reach = running

    def innermost(self, addr: int) -> Func | None:
        """The scope whose range holding `addr` is the shortest (of equal ones the later DIE):
        binutils' lookup_address_in_function_table."""
        best = None
        best_len = 0
        i = bisect_right(self.lows, addr) - 1
        entries = self.entries
        reach = self.reach
        while i >= 0 and reach[i] > addr:
            low, high, order = entries[i]
            if addr < high:
                n = high - low
                if best is None or n < best_len or (n == best_len and order > best):
                    best, best_len = order, n
            i -= 1
        return None if best is None else self.funcs[best]
