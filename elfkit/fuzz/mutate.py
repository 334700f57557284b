"""Deterministic mutations of real ELF files, as recipes.

A recipe is a short list of steps, each a JSON-able list, applied in order to a base file's
bytes. The field-setting steps name a record (program header 2, dynamic entry 5, the first
verneed record) rather than a byte offset, and are resolved against the bytes as they are at
that step (by layout.ElfLayout), so a recipe kept as a regression reads the same on a rebuilt
fixture; bit flips, fills and cuts are byte offsets. Steps:

  ["set", KIND, INDEX, FIELD, VALUE]   a field of a record set; VALUE an int, [FIELD2, DELTA]
                                       (another field of the same record plus DELTA),
                                       ["dynamic", DELTA] (the dynamic array's own address:
                                       self-referential entries) or ["eof", DELTA] (file size)
  ["flip", OFFSET, BIT]                one bit flipped
  ["fill", OFFSET, HEX]                bytes overwritten
  ["cut", LENGTH]                      the file cut short
  ["interp", TEXT, TERMINATED]         PT_INTERP's bytes replaced (NUL-padded, or not)
  ["hash", HOW]                        hash chains made cyclic or unterminated
  ["version", HOW]                     verneed/verdef chains made cyclic

`generate(seed, target, index, data)` is the recipe for one input: a function of its
arguments only (random.Random seeded by them), so a campaign is reproducible input by input
and an input is named by (target, seed, index) alone. `minimise` drops steps (and shortens
fills) while a predicate still holds: what a regression file keeps.
"""
from __future__ import annotations

import random
import struct

from elfkit.fuzz.layout import (DT_GNU_HASH, DT_HASH, DT_NEEDED, DT_STRTAB, DT_SYMTAB,
                                DT_VERDEF, DT_VERNEED, DT_VERSYM, PT_INTERP, PT_LOAD,
                                SHT_GNU_HASH, SHT_GNU_VERDEF, SHT_GNU_VERNEED, SHT_HASH,
                                ElfLayout)

# Tags whose value is an address: pointed at the dynamic array itself they make a table that
# overlaps the dynamic entries (a "self-referential" dynamic section).
ADDRESS_TAGS = [DT_STRTAB, DT_SYMTAB, DT_HASH, DT_GNU_HASH, DT_VERSYM, DT_VERDEF, DT_VERNEED,
                3, 7, 12, 13, 17, 23, 25, 26, 32, 36]   # PLTGOT RELA INIT FINI REL JMPREL ...
SIZE_TAGS = [2, 8, 9, 10, 11, 18, 19, 27, 28, 33, 35, 0x6FFFFFFD, 0x6FFFFFFF]
OTHER_TAGS = [DT_NEEDED, 14, 15, 29, 16, 20, 21, 24, 30, 0x6FFFFFFB, 0x6FFFFFF9, 0x7FFFFFFF]

INTERPRETERS = ["", "/", "/etc/passwd", "/nonexistent/ld.so", "/bin/sh",
                "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libm.so.6",
                "/proc/self/exe", "/dev/zero", "/lib64/ld-linux-x86-64.so.2" + "/" * 3,
                "x" * 300, "/lib/ld-linux.so.2", "/dev/null", "/tmp"]


# --- applying a recipe -------------------------------------------------------------------------

def apply(data: bytes, recipe: list) -> bytes:
    """The bytes a recipe makes of `data`. A step that names a record the file does not have
    (program header 40 of a file with 9) does nothing."""
    buf = bytearray(data)
    for step in recipe:
        op = step[0]
        if op == "flip":
            off, bit = step[1], step[2]
            if 0 <= off < len(buf):
                buf[off] ^= 1 << (bit & 7)
        elif op == "fill":
            off, raw = step[1], bytes.fromhex(step[2])
            if 0 <= off < len(buf):
                buf[off:off + len(raw)] = raw[:max(0, len(buf) - off)]
        elif op == "cut":
            del buf[max(0, step[1]):]
        elif op == "set":
            _set(buf, *step[1:])
        elif op == "interp":
            _interp(buf, step[1], step[2])
        elif op == "hash":
            _hash(buf, step[1])
        elif op == "version":
            _version(buf, step[1])
        else:
            raise ValueError(f"unknown recipe step {step!r}")
    return bytes(buf)


def _record(lay: ElfLayout, kind: str, index: int):
    if kind == "ehdr":
        return lay.ehdr
    if kind == "phdr":
        return lay.phdrs[index] if index < len(lay.phdrs) else None
    if kind == "shdr":
        return lay.shdrs[index] if index < len(lay.shdrs) else None
    if kind == "dyn":
        dyn = lay.dynamic_entries()
        return dyn[index] if index < len(dyn) else None
    where = {"verneed": (SHT_GNU_VERNEED, DT_VERNEED), "vernaux": (SHT_GNU_VERNEED, DT_VERNEED),
             "verdef": (SHT_GNU_VERDEF, DT_VERDEF), "gnu_hash": (SHT_GNU_HASH, DT_GNU_HASH),
             "sysv_hash": (SHT_HASH, DT_HASH)}[kind]
    off = lay.table(*where)
    if off is None or off >= len(lay.data):
        return None
    if kind == "vernaux":
        vn = lay.record("verneed", off)
        off += vn["vn_aux"]
    return lay.record(kind, off)


def _set(buf: bytearray, kind: str, index: int, name: str, value):
    lay = ElfLayout(bytes(buf))
    if not lay.ok:
        return
    rec = _record(lay, kind, index)
    if rec is None or name not in rec.fields:
        return
    if isinstance(value, list):
        ref, delta = value
        if ref == "dynamic":
            where = lay.dynamic()
            base = where[1] if where else 0
        elif ref == "eof":
            base = len(buf)
        else:
            base = rec[ref]
        value = base + delta
    pos, code = rec.fields[name]
    size = struct.calcsize(code)
    if pos < 0 or pos + size > len(buf):
        return
    value &= (1 << (8 * size)) - 1
    buf[pos:pos + size] = value.to_bytes(size, "big" if lay.endian == ">" else "little")


def _interp(buf: bytearray, text: str, terminated: bool):
    lay = ElfLayout(bytes(buf))
    for _, p in lay.segments(PT_INTERP):
        off, size = p["p_offset"], p["p_filesz"]
        if off >= len(buf) or size == 0:
            return
        room = min(size, len(buf) - off)
        raw = text.encode()[:room] + (b"\0" if terminated else b"A" * room)
        buf[off:off + room] = (raw + b"\0" * room)[:room]
        return


def _hash(buf: bytearray, how: str):
    lay = ElfLayout(bytes(buf))
    e = lay.endian
    if how.startswith("sysv"):
        off = lay.table(SHT_HASH, DT_HASH)
        if off is None or off + 8 > len(buf):
            return
        nbucket, nchain = struct.unpack_from(e + "II", buf, off)
        chains = off + 8 + 4 * nbucket
        for k in range(min(nchain, 1 << 16)):
            pos = chains + 4 * k
            if pos + 4 > len(buf):
                break
            # "self": every chain entry points at itself; "loop": k -> k+1 -> ... -> 1 -> ...
            nxt = k if how == "sysv-self" else (k + 1 if k + 1 < nchain else 1)
            struct.pack_into(e + "I", buf, pos, nxt)
    else:
        off = lay.table(SHT_GNU_HASH, DT_GNU_HASH)
        if off is None or off + 16 > len(buf):
            return
        nbuckets, symoffset, bloom_size, _ = struct.unpack_from(e + "IIII", buf, off)
        buckets = off + 16 + bloom_size * lay.word
        chains = buckets + 4 * nbuckets
        if how == "gnu-open":            # no chain ever ends (bit 0 clear everywhere)
            for pos in range(chains, min(len(buf), chains + (1 << 18)) - 3, 4):
                v = struct.unpack_from(e + "I", buf, pos)[0]
                struct.pack_into(e + "I", buf, pos, v & ~1)
        elif how == "gnu-buckets-last":  # every bucket at the last possible index
            for k in range(min(nbuckets, 1 << 16)):
                if buckets + 4 * k + 4 <= len(buf):
                    struct.pack_into(e + "I", buf, buckets + 4 * k, 0xFFFFFFFF)
        elif how == "gnu-buckets-below":  # buckets below symoffset
            for k in range(min(nbuckets, 1 << 16)):
                if buckets + 4 * k + 4 <= len(buf):
                    struct.pack_into(e + "I", buf, buckets + 4 * k, max(0, symoffset - 1))


def _version(buf: bytearray, how: str):
    lay = ElfLayout(bytes(buf))
    e = lay.endian
    kind, change = how.split("-", 1)
    off = lay.table(SHT_GNU_VERNEED, DT_VERNEED) if kind == "verneed" else \
        lay.table(SHT_GNU_VERDEF, DT_VERDEF)
    if off is None or off + 20 > len(buf):
        return
    if kind == "verneed":
        # vn_cnt at +2, vn_aux +8, vn_next +12; the first aux's vna_next at aux+12
        aux = off + struct.unpack_from(e + "I", buf, off + 8)[0]
        if change == "self":             # vn_next pointing back at the record itself
            struct.pack_into(e + "I", buf, off + 12, 0)
            struct.pack_into(e + "H", buf, off + 2, 0xFFFF)
        elif change == "back":           # the second record pointing back at the first
            nxt = struct.unpack_from(e + "I", buf, off + 12)[0]
            if nxt and off + nxt + 16 <= len(buf):
                struct.pack_into(e + "I", buf, off + nxt + 12, (-nxt) & 0xFFFFFFFF)
        elif change == "auxself" and aux + 16 <= len(buf):
            struct.pack_into(e + "I", buf, aux + 12, 0)
            struct.pack_into(e + "H", buf, off + 2, 0xFFFF)
        elif change == "auxloop" and aux + 16 <= len(buf):
            struct.pack_into(e + "I", buf, aux + 12, (-(aux - off)) & 0xFFFFFFFF)
            struct.pack_into(e + "H", buf, off + 2, 0xFFFF)
    else:
        # vd_cnt at +6, vd_aux +12, vd_next +16
        if change == "self":
            struct.pack_into(e + "I", buf, off + 16, 0)
            struct.pack_into(e + "H", buf, off + 6, 0xFFFF)
        elif change == "back":
            nxt = struct.unpack_from(e + "I", buf, off + 16)[0]
            if nxt and off + nxt + 20 <= len(buf):
                struct.pack_into(e + "I", buf, off + nxt + 16, (-nxt) & 0xFFFFFFFF)
        elif change in ("auxself", "auxloop"):
            aux = off + struct.unpack_from(e + "I", buf, off + 12)[0]
            if aux + 8 <= len(buf):
                struct.pack_into(e + "I", buf, aux + 4,
                                 0 if change == "auxself" else (-(aux - off)) & 0xFFFFFFFF)
                struct.pack_into(e + "H", buf, off + 6, 0xFFFF)


# --- making recipes ----------------------------------------------------------------------------

def extremes(size: int, rng: random.Random, address: bool = False) -> int:
    """A value for a field of `size` bytes: 0, 1, all ones, the sign bit and its neighbours,
    a page, or (for 64-bit addresses) the edges of the user address space."""
    top = (1 << (8 * size)) - 1
    sign = 1 << (8 * size - 1)
    choices = [0, 1, top, top - 1, sign, sign - 1, 0x1000, 0xFFF, 2, 7, 0x10000,
               rng.randrange(top + 1), rng.randrange(256)]
    if address and size == 8:
        choices += [1 << 47, (1 << 47) - 0x1000, 0x7FFFFFFFF000, 0xFFFFFFFFFF600000,
                    0x7FFFFFFFE000, 0x555555554000, 0x10000, 1 << 46]
    return rng.choice(choices)


def _field_size(lay: ElfLayout, kind: str, name: str) -> int:
    for n, code in lay.layout_of(kind):
        if n == name:
            return lay.word if code == "W" else struct.calcsize(code)
    return 4


def _pick_field(rng, lay, kind, skip=("e_ident",)):
    names = [n for n, _ in lay.layout_of(kind) if n not in skip]
    name = rng.choice(names)
    return name, _field_size(lay, kind, name)


def _ehdr(rng, lay, data):
    name, size = _pick_field(rng, lay, "ehdr")
    return [["set", "ehdr", 0, name, extremes(size, rng, name == "e_entry")]]


def _phdr(rng, lay, data):
    if not lay.phdrs:
        return _ehdr(rng, lay, data)
    i = rng.randrange(len(lay.phdrs))
    name, size = _pick_field(rng, lay, "phdr")
    return [["set", "phdr", i, name, extremes(size, rng, name in ("p_vaddr", "p_paddr"))]]


def _shdr(rng, lay, data):
    if not lay.shdrs:
        return _phdr(rng, lay, data)
    i = rng.randrange(len(lay.shdrs))
    name, size = _pick_field(rng, lay, "shdr")
    value = extremes(size, rng, name == "sh_addr")
    if name == "sh_link" and rng.random() < 0.5:
        value = rng.choice([i, 0, len(lay.shdrs), len(lay.shdrs) - 1])   # itself, none, past
    return [["set", "shdr", i, name, value]]


def _dyn(rng, lay, data):
    entries = lay.dynamic_entries()
    if not entries:
        return _shdr(rng, lay, data)
    i = rng.randrange(len(entries))
    how = rng.randrange(4)
    if how == 0:                          # value to an extreme
        return [["set", "dyn", i, "d_val", extremes(lay.word, rng, True)]]
    if how == 1:                          # tag to an extreme, or another tag
        tag = rng.choice(ADDRESS_TAGS + SIZE_TAGS + OTHER_TAGS + [extremes(lay.word, rng)])
        return [["set", "dyn", i, "d_tag", tag]]
    if how == 2:                          # self-referential: a table at the dynamic array
        tag = rng.choice(ADDRESS_TAGS)
        return [["set", "dyn", i, "d_tag", tag],
                ["set", "dyn", i, "d_val", ["dynamic", rng.choice([0, 8, 16, lay.word * 2 * i])]]]
    # a size or count to something huge, with its tag
    tag = rng.choice(SIZE_TAGS + [DT_NEEDED])
    return [["set", "dyn", i, "d_tag", tag], ["set", "dyn", i, "d_val", extremes(lay.word, rng)]]


def _loads(rng, lay, data):
    """Segment geometry the kernel has to refuse or cope with: overlaps, addresses outside the
    user address space, p_filesz > p_memsz, empty segments, misaligned offsets, odd alignments."""
    loads = [i for i, _ in lay.segments(PT_LOAD)]
    if not loads:
        return _phdr(rng, lay, data)
    i = rng.choice(loads)
    how = rng.randrange(9)
    if how == 0 and len(loads) > 1:       # overlap another PT_LOAD
        j = rng.choice([k for k in loads if k != i])
        to = lay.phdrs[j]["p_vaddr"] + rng.choice([0, 0x10, 0x1000])
        return [["set", "phdr", i, "p_vaddr", to]]
    if how == 1:                          # outside the user address space
        top = rng.choice([1 << 47, (1 << 47) - 0x1000, (1 << 64) - 0x1000, 1 << 63, 0x7FFFFFFFE000])
        return [["set", "phdr", i, "p_vaddr", top], ["set", "phdr", i, "p_paddr", top]]
    if how == 2:                          # p_filesz > p_memsz
        return [["set", "phdr", i, "p_filesz", ["p_memsz", rng.choice([1, 0x1000, 0x100000])]]]
    if how == 3:                          # empty: memsz 0, or both 0
        steps = [["set", "phdr", i, "p_memsz", 0]]
        return steps + ([["set", "phdr", i, "p_filesz", 0]] if rng.random() < 0.5 else [])
    if how == 4:                          # huge bss / huge file part
        return [["set", "phdr", i, rng.choice(["p_memsz", "p_filesz"]),
                 rng.choice([1 << 40, 1 << 46, 1 << 47, (1 << 64) - 1, 1 << 32])]]
    if how == 5:                          # offset and address disagree modulo the page
        return [["set", "phdr", i, "p_offset", ["p_offset", rng.choice([1, 0x800, 0xFFF])]]]
    if how == 6:                          # alignment
        return [["set", "phdr", i, "p_align", rng.choice([0, 1, 3, 0x1000, 1 << 21, 1 << 40,
                                                          1 << 63, (1 << 64) - 1])]]
    if how == 7:                          # a PT_LOAD made of another segment
        j = rng.randrange(len(lay.phdrs))
        return [["set", "phdr", j, "p_type", PT_LOAD]]
    # below the first page (mmap_min_addr), or address wraps with the size
    return [["set", "phdr", i, "p_vaddr", rng.choice([0, 0x1000, 0x8000])],
            ["set", "phdr", i, "p_memsz", rng.choice([(1 << 64) - 0x1000, 1 << 47, 0x2000])]]


def _interp_step(rng, lay, data):
    if not lay.segments(PT_INTERP):
        return _loads(rng, lay, data)
    return [["interp", rng.choice(INTERPRETERS), rng.random() < 0.8]]


def _hash_step(rng, lay, data):
    how = rng.choice(["sysv-self", "sysv-loop", "gnu-open", "gnu-buckets-last",
                      "gnu-buckets-below"])
    steps = [["hash", how]]
    if rng.random() < 0.5:
        kind = "gnu_hash" if how.startswith("gnu") else "sysv_hash"
        name, size = _pick_field(rng, lay, kind)
        steps.append(["set", kind, 0, name, extremes(size, rng)])
    return steps


def _version_step(rng, lay, data):
    if rng.random() < 0.6:
        return [["version", rng.choice(["verneed", "verdef"]) + "-" +
                 rng.choice(["self", "back", "auxself", "auxloop"])]]
    kind = rng.choice(["verneed", "vernaux", "verdef"])
    name, size = _pick_field(rng, lay, kind)
    return [["set", kind, 0, name, extremes(size, rng)]]


def _flips(rng, lay, data):
    n = len(data)
    # half of them inside the headers and tables at the front (where parsers look first)
    span = min(n, rng.choice([n, 4096, 1024]))
    return [["flip", rng.randrange(span), rng.randrange(8)] for _ in range(rng.randrange(1, 9))]


def _fill(rng, lay, data):
    n = len(data)
    off = rng.randrange(n)
    size = rng.choice([1, 2, 4, 8, 16, 64])
    raw = rng.choice([b"\xff" * size, bytes(size), rng.randbytes(size)])
    return [["fill", off, raw.hex()]]


def _cut(rng, lay, data):
    n = len(data)
    marks = [0, 4, 16, 52, 63, 64, n - 1]
    h = lay.ehdr
    if h is not None:
        marks += [h["e_phoff"], h["e_shoff"], h["e_phoff"] + 28]
        marks += [p["p_offset"] + p["p_filesz"] // 2 for p in lay.phdrs]
        marks += [s["sh_offset"] + 1 for s in lay.shdrs[:64]]
    marks = [m for m in marks if 0 <= m < n] or [0]
    return [["cut", rng.choice(marks) if rng.random() < 0.6 else rng.randrange(n)]]


STRATEGIES = [  # (name, weight, maker)
    ("flip", 14, _flips), ("fill", 6, _fill), ("cut", 6, _cut), ("ehdr", 8, _ehdr),
    ("phdr", 12, _phdr), ("loads", 14, _loads), ("shdr", 10, _shdr), ("dyn", 12, _dyn),
    ("interp", 3, _interp_step), ("hash", 4, _hash_step), ("version", 4, _version_step),
]
_NAMES = [s[0] for s in STRATEGIES]
_WEIGHTS = [s[1] for s in STRATEGIES]


def generate(seed: int, target: str, index: int, data: bytes, strategies=None) -> list:
    """The recipe of input `index` of `target`'s campaign under `seed`: one to three steps of
    the weighted strategies (or only those named in `strategies`), each chosen by a
    random.Random seeded with (seed, target, index) and the base file's own layout."""
    rng = random.Random(f"{seed}/{target}/{index}")
    names, weights = _NAMES, _WEIGHTS
    if strategies:
        pairs = [(n, w) for n, w in zip(_NAMES, _WEIGHTS) if n in strategies]
        names, weights = [n for n, _ in pairs], [w for _, w in pairs]
    recipe: list = []
    cur = data
    for _ in range(rng.choice([1, 1, 1, 1, 2, 2, 3])):
        lay = ElfLayout(cur)
        if not lay.ok or not cur:
            break
        name = rng.choices(names, weights)[0]
        steps = dict((s[0], s[2]) for s in STRATEGIES)[name](rng, lay, cur)
        recipe += steps
        cur = apply(cur, steps)
    return recipe


def minimise(data: bytes, recipe: list, still_fails) -> list:
    """The smallest sub-recipe (steps dropped one at a time, fills shortened, flips dropped)
    for which still_fails(apply(data, sub_recipe)) holds."""
    recipe = list(recipe)
    changed = True
    while changed and len(recipe) > 1:
        changed = False
        for k in range(len(recipe)):
            trial = recipe[:k] + recipe[k + 1:]
            if still_fails(apply(data, trial)):
                recipe, changed = trial, True
                break
    for k, step in enumerate(recipe):
        if step[0] == "fill" and len(step[2]) > 2:
            for n in range(1, len(step[2]) // 2):
                trial = recipe[:k] + [["fill", step[1], step[2][:2 * n]]] + recipe[k + 1:]
                if still_fails(apply(data, trial)):
                    recipe = trial
                    break
    return recipe
