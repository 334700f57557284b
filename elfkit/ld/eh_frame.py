""".eh_frame records (CIEs and FDEs) and the .eh_frame_hdr binary search table.

The format is the LSB "Exception Frames" one: a sequence of records, each

    length        u32; 0xffffffff means a u64 extended length follows; 0 is a terminator
    CIE id / CIE pointer
                  u32 (also after an extended length, as the LSB and libunwind read it):
                  0 in a CIE; in an FDE the distance back from this field to its CIE
    ...           `length` bytes counted from the end of the length field

The linker uses this module to drop FDEs of discarded code (`fde_pc_begin_offset` tells
which relocation names an FDE's function, `rebuild` removes records and gives the offset map
for moving the kept relocations) and to build .eh_frame_hdr from the final, relocated
.eh_frame (`build_eh_frame_hdr`, laid out beforehand with `eh_frame_hdr_size`).

Every damage found in the bytes raises ValueError with a message naming the offset; the
caller adds the object's name.
"""
from __future__ import annotations

import struct
from elfkit.elf.record import Record as _Record

# DW_EH_PE_* pointer encodings: the low nibble is the value's format, bits 4-6 its base,
# bit 7 an indirection.
DW_EH_PE_absptr = 0x00
DW_EH_PE_uleb128 = 0x01
DW_EH_PE_udata2 = 0x02
DW_EH_PE_udata4 = 0x03
DW_EH_PE_udata8 = 0x04
DW_EH_PE_sleb128 = 0x09
DW_EH_PE_sdata2 = 0x0a
DW_EH_PE_sdata4 = 0x0b
DW_EH_PE_sdata8 = 0x0c
DW_EH_PE_signed = 0x08
DW_EH_PE_pcrel = 0x10
DW_EH_PE_textrel = 0x20
DW_EH_PE_datarel = 0x30
DW_EH_PE_funcrel = 0x40
DW_EH_PE_aligned = 0x50
DW_EH_PE_indirect = 0x80
DW_EH_PE_omit = 0xff

HDR_VERSION = 1
HDR_EH_FRAME_PTR_ENC = DW_EH_PE_pcrel | DW_EH_PE_sdata4      # 0x1b
HDR_FDE_COUNT_ENC = DW_EH_PE_udata4                           # 0x03
HDR_TABLE_ENC = DW_EH_PE_datarel | DW_EH_PE_sdata4            # 0x3b

_FIXED = {  # format -> (size, struct code), absptr handled separately
    DW_EH_PE_udata2: (2, "<H"), DW_EH_PE_udata4: (4, "<I"), DW_EH_PE_udata8: (8, "<Q"),
    DW_EH_PE_sdata2: (2, "<h"), DW_EH_PE_sdata4: (4, "<i"), DW_EH_PE_sdata8: (8, "<q"),
}


class Record(_Record):
    """One record of an .eh_frame section.

    offset       where the record starts (its length field) in the section
    size         the whole record in bytes, length field included (4 for a terminator)
    kind         'cie', 'fde' or 'terminator'
    cie_offset   for an FDE: offset of its CIE in the same section; None otherwise
    header_size  bytes of the length field: 4, or 12 with the 0xffffffff extended length
    """
    __slots__ = ("offset", "size", "kind", "cie_offset", "header_size")
    __hash__ = _Record._hash

    def __init__(self, offset: int, size: int, kind: str, cie_offset: int | None = None,
                 header_size: int = 4):
        self.offset, self.size, self.kind = offset, size, kind
        self.cie_offset, self.header_size = cie_offset, header_size

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def id_offset(self) -> int:
        """Offset of the CIE id / CIE pointer field (the start of what `length` counts)."""
        return self.offset + self.header_size

    @property
    def extended(self) -> bool:
        return self.header_size == 12


class _Cursor:
    """Bounded reads inside [pos, end) of `data`; running off the end is a ValueError."""

    __slots__ = ("data", "pos", "end", "what")

    def __init__(self, data: bytes, pos: int, end: int, what: str):
        self.data, self.pos, self.end, self.what = data, pos, end, what

    def need(self, n: int, field: str):
        if self.pos + n > self.end:
            raise ValueError(f"{self.what}: {field} at offset {self.pos:#x} runs past the "
                             f"end of the record (offset {self.end:#x})")

    def unpack(self, fmt: str, size: int, field: str):
        self.need(size, field)
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def u8(self, field: str) -> int:
        return self.unpack("<B", 1, field)

    def cstring(self, field: str) -> bytes:
        nul = self.data.find(b"\0", self.pos, self.end)
        if nul < 0:
            raise ValueError(f"{self.what}: {field} at offset {self.pos:#x} is not "
                             f"NUL-terminated inside the record")
        s = self.data[self.pos:nul]
        self.pos = nul + 1
        return s

    def leb128(self, signed: bool, field: str) -> int:
        result = shift = 0
        while True:
            self.need(1, field)
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7f) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 70:
                raise ValueError(f"{self.what}: {field} at offset {self.pos:#x} is an "
                                 f"over-long LEB128 number")
        if signed and byte & 0x40:
            result -= 1 << shift
        return result

    def encoded(self, enc: int, ptr_size: int, field: str) -> int:
        """The raw value of a DW_EH_PE-encoded field (no base applied); `pos` moves past it."""
        fmt = enc & 0x0f
        if (enc & 0x70) == DW_EH_PE_aligned:
            # Aligned on a pointer-size boundary; the section's own alignment is at least
            # that (8 on ELFCLASS64), so aligning the section offset aligns the address.
            self.pos = (self.pos + ptr_size - 1) & -ptr_size
            fmt = DW_EH_PE_absptr
        if fmt == DW_EH_PE_absptr:
            return self.unpack("<Q" if ptr_size == 8 else "<I", ptr_size, field)
        if fmt == DW_EH_PE_uleb128:
            return self.leb128(False, field)
        if fmt == DW_EH_PE_sleb128:
            return self.leb128(True, field)
        if fmt in _FIXED:
            size, code = _FIXED[fmt]
            return self.unpack(code, size, field)
        raise ValueError(f"{self.what}: {field} at offset {self.pos:#x} has an unknown "
                         f"pointer encoding {enc:#04x}")


def _as_bytes(data) -> bytes:
    return data if isinstance(data, bytes) else bytes(data)


def _read_header(data: bytes, offset: int) -> tuple[int, int]:
    """(header_size, length) of the record at `offset`; checks that it fits the section."""
    n = len(data)
    if offset + 4 > n:
        raise ValueError(f".eh_frame: {n - offset} stray byte(s) at offset {offset:#x}, "
                         f"too few for a record length")
    (length,) = struct.unpack_from("<I", data, offset)
    header = 4
    if length == 0xffffffff:
        if offset + 12 > n:
            raise ValueError(f".eh_frame: record at offset {offset:#x} has a 64-bit extended "
                             f"length cut off by the end of the section")
        (length,) = struct.unpack_from("<Q", data, offset + 4)
        header = 12
    if length and length < 4:
        raise ValueError(f".eh_frame: record at offset {offset:#x} has length {length}, too "
                         f"short for its CIE id / CIE pointer")
    if offset + header + length > n:
        raise ValueError(f".eh_frame: record at offset {offset:#x} has length {length:#x}, "
                         f"running past the end of the section ({n:#x} bytes)")
    return header, length


def split_records(data: bytes, is_64: bool = True) -> list[Record]:
    """Every CIE, FDE and zero terminator of one .eh_frame section, in order.

    A terminator (a zero length word) is a 4-byte record; parsing goes on after it, as
    readelf does when records follow (a concatenation may hold several), so a run of zero
    padding is one terminator per word (readelf prints a trailing run as one). `is_64` (the
    ELF class) does not change the record layout; it is accepted for symmetry.
    """
    del is_64
    data = _as_bytes(data)
    records: list[Record] = []
    kinds: dict[int, str] = {}
    offset, n = 0, len(data)
    while offset < n:
        header, length = _read_header(data, offset)
        if length == 0:
            rec = Record(offset, 4, "terminator")
        else:
            id_off = offset + header
            (cie_id,) = struct.unpack_from("<I", data, id_off)
            if cie_id == 0:
                rec = Record(offset, header + length, "cie", None, header)
            else:
                cie = id_off - cie_id
                if cie < 0:
                    raise ValueError(f".eh_frame: FDE at offset {offset:#x} has CIE pointer "
                                     f"{cie_id:#x}, pointing before the start of the section")
                if kinds.get(cie) != "cie":
                    what = ("an FDE" if kinds.get(cie) == "fde" else "a terminator"
                            if cie in kinds else "no record start")
                    raise ValueError(f".eh_frame: FDE at offset {offset:#x} has CIE pointer "
                                     f"{cie_id:#x}, landing on {what} at offset {cie:#x}, "
                                     f"not on a CIE")
                rec = Record(offset, header + length, "fde", cie, header)
        records.append(rec)
        kinds[offset] = rec.kind
        offset = rec.end
    return records


def _record_at(data: bytes, offset: int, kind: str) -> tuple[int, int]:
    """(id_offset, end) of the `kind` record ('cie' or 'fde') starting at `offset`."""
    if offset < 0 or offset >= len(data):
        raise ValueError(f".eh_frame: {kind.upper()} offset {offset:#x} lies outside the "
                         f"section ({len(data):#x} bytes)")
    header, length = _read_header(data, offset)
    if length == 0:
        raise ValueError(f".eh_frame: offset {offset:#x} holds a terminator, not a "
                         f"{kind.upper()}")
    id_off = offset + header
    (cie_id,) = struct.unpack_from("<I", data, id_off)
    if (cie_id == 0) != (kind == "cie"):
        raise ValueError(f".eh_frame: record at offset {offset:#x} is "
                         f"{'a CIE' if cie_id == 0 else 'an FDE'}, not {kind.upper()}")
    return id_off, id_off + length


class CieInfo(_Record):
    """What an FDE needs from its CIE: the augmentation and the pointer encodings
    (fde_encoding: 'R', DW_EH_PE_absptr by default; lsda_encoding: 'L', and
    personality_encoding: 'P', DW_EH_PE_omit when absent; has_augmentation_data: 'z', FDEs
    carry an augmentation data length)."""
    __slots__ = ("augmentation", "fde_encoding", "lsda_encoding", "personality_encoding",
                 "has_augmentation_data")
    __hash__ = _Record._hash

    def __init__(self, augmentation, fde_encoding, lsda_encoding, personality_encoding,
                 has_augmentation_data):
        self.augmentation, self.fde_encoding = augmentation, fde_encoding
        self.lsda_encoding, self.personality_encoding = lsda_encoding, personality_encoding
        self.has_augmentation_data = has_augmentation_data


def parse_cie(data: bytes, cie_offset: int, is_64: bool = True) -> CieInfo:
    """Decode the CIE at `cie_offset` as far as its augmentation data."""
    data = _as_bytes(data)
    id_off, end = _record_at(data, cie_offset, "cie")
    what = f".eh_frame: CIE at offset {cie_offset:#x}"
    ptr_size = 8 if is_64 else 4
    c = _Cursor(data, id_off + 4, end, what)
    version = c.u8("version")
    if version not in (1, 3, 4):
        raise ValueError(f"{what}: unsupported CIE version {version}")
    raw_aug = c.cstring("augmentation string")
    try:
        aug = raw_aug.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{what}: augmentation string {raw_aug!r} is not ASCII") from None
    if aug.startswith("eh"):
        c.pos += ptr_size                 # old GCC "eh": an EH data pointer follows
        aug = aug[2:]
    if version == 4:
        c.u8("address size")
        c.u8("segment selector size")
    c.leb128(False, "code alignment factor")
    c.leb128(True, "data alignment factor")
    if version == 1:
        c.u8("return address register")
    else:
        c.leb128(False, "return address register")
    fde_enc, lsda_enc, pers_enc = DW_EH_PE_absptr, DW_EH_PE_omit, DW_EH_PE_omit
    if not aug:
        return CieInfo(aug, fde_enc, lsda_enc, pers_enc, False)
    if aug[0] != "z":
        raise ValueError(f"{what}: augmentation string {aug!r} not understood (no 'z')")
    aug_len = c.leb128(False, "augmentation data length")
    c.need(aug_len, "augmentation data")
    c.end = c.pos + aug_len               # the data may not run past its own length
    for ch in aug[1:]:
        if ch == "R":
            fde_enc = c.u8("FDE pointer encoding ('R')")
        elif ch == "L":
            lsda_enc = c.u8("LSDA encoding ('L')")
        elif ch == "P":
            pers_enc = c.u8("personality encoding ('P')")
            if pers_enc == DW_EH_PE_omit:
                raise ValueError(f"{what}: personality encoding is DW_EH_PE_omit")
            c.encoded(pers_enc & ~DW_EH_PE_indirect, ptr_size, "personality pointer")
        elif ch in "SBG":
            pass                          # signal frame, AArch64 BTI, MTE tagged: no data
        else:
            raise ValueError(f"{what}: unknown augmentation character {ch!r} in {aug!r}")
    return CieInfo(aug, fde_enc, lsda_enc, pers_enc, True)


def cie_fde_encoding(data: bytes, cie_offset: int, is_64: bool = True) -> int:
    """The DW_EH_PE encoding of the pc_begin/pc_range of the CIE's FDEs ('R'; absptr if none)."""
    return parse_cie(data, cie_offset, is_64).fde_encoding


def fde_pc_begin_offset(data: bytes, fde_offset: int) -> int:
    """Section offset of the pc_begin field of the FDE at `fde_offset` (where its relocation
    sits): right after the CIE pointer, whatever the encoding."""
    data = _as_bytes(data)
    id_off, end = _record_at(data, fde_offset, "fde")
    if id_off + 4 >= end:
        raise ValueError(f".eh_frame: FDE at offset {fde_offset:#x} has no room for pc_begin")
    return id_off + 4


def _apply_base(enc: int, raw: int, field_addr: int, size_bits: int, datarel_base,
                what: str) -> int:
    app = enc & 0x70
    if app == DW_EH_PE_absptr:
        base = 0
    elif app == DW_EH_PE_pcrel:
        base = field_addr
    elif app == DW_EH_PE_datarel and datarel_base is not None:
        base = datarel_base
    else:
        raise ValueError(f"{what}: pc_begin encoding {enc:#04x} (base {app:#04x}) cannot be "
                         f"resolved here")
    return (base + raw) & ((1 << size_bits) - 1)


def decode_fde_pc(data: bytes, fde_offset: int, eh_frame_addr: int, is_64: bool = True,
                  datarel_base: int | None = None, fde_encoding: int | None = None
                  ) -> tuple[int, int]:
    """(pc_begin, pc_range) of a relocated FDE, the section being at `eh_frame_addr`.

    Encodings: absptr/udata2/4/8/sdata2/4/8/(s|u)leb128 values, with an absolute, pcrel or
    (given `datarel_base`) datarel base; indirect, textrel and funcrel are ValueErrors.
    """
    data = _as_bytes(data)
    pc_off = fde_pc_begin_offset(data, fde_offset)
    header, length = _read_header(data, fde_offset)
    end = fde_offset + header + length
    enc = fde_encoding
    if enc is None:
        (ptr,) = struct.unpack_from("<I", data, fde_offset + header)
        cie_offset = fde_offset + header - ptr
        if cie_offset < 0:
            raise ValueError(f".eh_frame: FDE at offset {fde_offset:#x} has a CIE pointer "
                             f"before the start of the section")
        enc = cie_fde_encoding(data, cie_offset, is_64)
    what = f".eh_frame: FDE at offset {fde_offset:#x}"
    if enc == DW_EH_PE_omit or enc & DW_EH_PE_indirect:
        raise ValueError(f"{what}: pc_begin encoding {enc:#04x} is not usable for an FDE")
    if (enc & 0x70) == DW_EH_PE_aligned:
        raise ValueError(f"{what}: pc_begin encoding {enc:#04x} (aligned) is not valid")
    bits = 64 if is_64 else 32
    ptr_size = bits // 8
    c = _Cursor(data, pc_off, end, what)
    raw = c.encoded(enc, ptr_size, "pc_begin")
    pc_begin = _apply_base(enc, raw, eh_frame_addr + pc_off, bits, datarel_base, what)
    pc_range = c.encoded(enc & 0x0f, ptr_size, "pc_range") & ((1 << bits) - 1)
    return pc_begin, pc_range


def rebuild(data: bytes, keep, is_64: bool = True,
            drop_unused_cies: bool = True) -> tuple[bytes, dict[int, int]]:
    """The section without the FDEs `keep` refuses, and the old -> new offset map.

    `keep` is asked about FDEs only. CIEs no kept FDE uses any more are dropped too unless
    `drop_unused_cies` is False; terminators stay. The map has the old start offset of
    every kept record; a relocation at old offset r inside record R moves to
    `old_to_new[R.offset] + (r - R.offset)` (see `moved_offset`). Relocations of dropped
    records are dropped with them. The CIE pointers of kept FDEs are rewritten.
    """
    data = _as_bytes(data)
    records = split_records(data, is_64)
    kept_fdes = {r.offset for r in records if r.kind == "fde" and keep(r)}
    used_cies = {r.cie_offset for r in records if r.offset in kept_fdes}
    out = bytearray()
    old_to_new: dict[int, int] = {}
    for r in records:
        if r.kind == "fde" and r.offset not in kept_fdes:
            continue
        if r.kind == "cie" and drop_unused_cies and r.offset not in used_cies:
            continue
        new = len(out)
        old_to_new[r.offset] = new
        out += data[r.offset:r.end]
        if r.kind == "fde":
            struct.pack_into("<I", out, new + r.header_size,
                             new + r.header_size - old_to_new[r.cie_offset])
    return bytes(out), old_to_new


def moved_offset(records: list[Record], old_to_new: dict[int, int], old_offset: int
                 ) -> int | None:
    """Where section offset `old_offset` (a relocation's r_offset) went after `rebuild`;
    None when its record was dropped. `records` is `split_records` of the old section."""
    lo, hi = 0, len(records)
    while lo < hi:                        # the last record starting at or before old_offset
        mid = (lo + hi) // 2
        if records[mid].offset <= old_offset:
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return None
    r = records[lo - 1]
    if old_offset >= r.end or r.offset not in old_to_new:
        return None
    return old_to_new[r.offset] + (old_offset - r.offset)


def eh_frame_hdr_size(eh_frame: bytes, is_64: bool = True) -> int:
    """Size of the .eh_frame_hdr `build_eh_frame_hdr` makes: 12 + 8 per FDE."""
    return 12 + 8 * sum(1 for r in split_records(eh_frame, is_64) if r.kind == "fde")


def _sdata4(value: int, what: str) -> bytes:
    if not -0x80000000 <= value <= 0x7fffffff:
        raise ValueError(f".eh_frame_hdr: {what} {value:#x} does not fit a signed 32-bit "
                         f"offset from .eh_frame_hdr")
    return struct.pack("<i", value)


def build_eh_frame_hdr(eh_frame: bytes, eh_frame_addr: int, hdr_addr: int,
                       is_64: bool = True, datarel_base: int | None = None) -> bytes:
    """The .eh_frame_hdr for the final (relocated) output .eh_frame at `eh_frame_addr`.

    version 1, eh_frame_ptr pcrel|sdata4, fde_count udata4, table datarel|sdata4: pairs
    (initial_location - hdr_addr, fde_address - hdr_addr) sorted by initial location (ties
    by pc_range, then FDE address, as ld.bfd sorts).
    """
    eh_frame = _as_bytes(eh_frame)
    entries = []
    encodings: dict[int, int] = {}
    for r in split_records(eh_frame, is_64):
        if r.kind != "fde":
            continue
        enc = encodings.get(r.cie_offset)
        if enc is None:
            enc = encodings[r.cie_offset] = cie_fde_encoding(eh_frame, r.cie_offset, is_64)
        pc_off = r.offset + r.header_size + 4
        if enc == 0x1B and pc_off + 8 <= r.offset + r.size:
            # pcrel|sdata4, what gcc and clang emit: two words, read at once
            rel, length = struct.unpack_from("<ii", eh_frame, pc_off)
            mask = (1 << (64 if is_64 else 32)) - 1
            begin, rng = (eh_frame_addr + pc_off + rel) & mask, length & mask
        else:
            begin, rng = decode_fde_pc(eh_frame, r.offset, eh_frame_addr, is_64, datarel_base,
                                       enc)
        entries.append((begin, rng, eh_frame_addr + r.offset))
    entries.sort()
    out = bytearray((HDR_VERSION, HDR_EH_FRAME_PTR_ENC, HDR_FDE_COUNT_ENC, HDR_TABLE_ENC))
    out += _sdata4(eh_frame_addr - (hdr_addr + 4), "eh_frame_ptr")
    out += struct.pack("<I", len(entries))
    for begin, _rng, fde_addr in entries:
        out += _sdata4(begin - hdr_addr, "initial location")
        out += _sdata4(fde_addr - hdr_addr, "FDE address")
    return bytes(out)
