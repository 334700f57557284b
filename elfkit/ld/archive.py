"""`ar` archives, read the way GNU ld (BFD) reads them.

Formats:
  - `!<arch>\\n` with GNU/SysV member names: `name/` (short), `/123` (offset into the
    long-name table `//`, whose entries end in `/\\n`), `/` (the symbol index "armap":
    32-bit big-endian count and member-header offsets, then NUL-terminated names) and
    `/SYM64/` (the same with 64-bit count and offsets);
  - BSD `#1/N` member names (the name is the first N bytes of the member's data);
  - GNU thin archives `!<thin>\\n`: only the index and the long-name table are stored; each
    member is a header whose name is a path, relative to the archive's directory unless
    absolute, and whose data is read from that file when first asked for.

Member headers are 60 bytes, each on an even offset (an odd-sized member is followed by one
`\\n`). The symbol index refers to members by the offset of their header.

Every size and offset read from the file is checked against it before use; damage raises
ElfFormatError with one line naming the archive and the problem. The BSD symbol index
(`__.SYMDEF`) is not read, as BFD does not read it for ELF targets either: such a member
shows up as an ordinary member named `__.SYMDEF`, and the archive has no index.
"""
from __future__ import annotations

import mmap
import os
import struct

from elfkit.errors import ElfFormatError, InputError

ARMAG = b"!<arch>\n"
THINMAG = b"!<thin>\n"
HEADER_SIZE = 60
FMAG = b"`\n"

NO_INDEX_MESSAGE = "error adding symbols: archive has no index; run ranlib to add one"

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def is_archive(head) -> bool:
    """Does `head` (the first bytes of a file) start with an archive magic?"""
    return bytes(head[:8]) in (ARMAG, THINMAG)


class Member:
    """One archive member: `name` as `ar t` shows it, `offset` of its header in the archive
    (what the symbol index refers to), `size` from the header, and `data`, its contents
    (a memoryview into the archive; for a thin archive, the bytes of the file `path`, read
    on first use). `data_offset` is where the contents start in the archive (None for a
    member of a thin archive)."""

    __slots__ = ("name", "offset", "size", "_data", "data_offset", "path", "_archive")

    def __init__(self, name: str, offset: int, size: int, data=None, *,
                 data_offset: int | None = None, path: str | None = None, archive=None):
        self.name = name
        self.offset = offset
        self.size = size
        self._data = data
        self.data_offset = data_offset
        self.path = path            # the file a thin archive's member is read from
        self._archive = archive

    @property
    def data(self):
        if self._data is None and self.path is not None:
            self._data = _read_thin_member(self)
        return self._data

    @property
    def archive(self) -> "Archive | None":
        return self._archive

    def __repr__(self):
        return f"Member(name={self.name!r}, offset={self.offset:#x}, size={self.size})"


class Archive:
    """An `ar` archive: `members` in file order (duplicates kept), and the symbol index
    `symbol_index` (name -> member indexes, in index order; empty when `has_index` is
    False). `index_format` is "/" (32-bit), "/SYM64/" (64-bit) or None."""

    def __init__(self, path: str, data, thin: bool):
        self.path = str(path)
        self.data = data                      # bytes, or a read-only mmap
        self.thin = thin
        self.members: list[Member] = []
        self.symbol_index: dict[str, list[int]] = {}
        self.has_index = False
        self.index_format: str | None = None
        self._by_offset: dict[int, int] = {}
        # lazy (read_archive(..., lazy=True)): only the index and long names are read up
        # front; symbol_index then holds member header offsets, and members are read as
        # the link asks for them (member_for)
        self.lazy = False
        self._longnames = None
        self._first = 8
        self._lazy_members: dict[int, Member] = {}

    # --- lookups -----------------------------------------------------------------------
    def member_at(self, offset: int) -> Member:
        """The member whose header starts at `offset`; ElfFormatError if none does."""
        i = self._by_offset.get(offset)
        if i is None:
            raise ElfFormatError(self.path, f"no archive member starts at offset {offset:#x}")
        return self.members[i]

    def member_for(self, entry: int) -> Member:
        """The member a symbol_index entry names (an index; a header offset when lazy)."""
        if not self.lazy:
            return self.members[entry]
        m = self._lazy_members.get(entry)
        if m is None:
            m = self._lazy_members[entry] = _member_header_at(self, entry)
        return m

    def member_index_at(self, offset: int) -> int | None:
        return self._by_offset.get(offset)

    def display_name(self, member: Member) -> str:
        return display_name(self, member)

    # --- lifetime ----------------------------------------------------------------------
    def close(self):
        if isinstance(self.data, mmap.mmap):
            try:
                self.data.close()
            except BufferError:       # members' memoryviews still alive: let GC close it
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        kind = "thin archive" if self.thin else "archive"
        return (f"<{kind} {self.path}: {len(self.members)} members, "
                f"{sum(map(len, self.symbol_index.values()))} index entries>")


def display_name(archive: Archive, member: Member) -> str:
    """ld's name for a member in messages: `libc.a(printf.o)`; for a member of a thin
    archive, ld names the member's own file (`dir/../obj/x.o`)."""
    if member.path is not None:
        return member.path
    return f"{archive.path}({member.name})"


def require_index(archive: Archive) -> None:
    """What ld checks before pulling members from an archive: it needs the symbol index.
    An archive without members needs none (ld accepts an empty archive)."""
    if not archive.has_index and archive.members:
        raise ElfFormatError(archive.path, NO_INDEX_MESSAGE)


# --- reading -----------------------------------------------------------------------------
def read_archive(path, lazy: bool = False) -> Archive:
    """Map the archive at `path` read-only and read its members and symbol index (lazy:
    the index only, members when asked for -- what a link needs from libc.a)."""
    from elfkit.elf.file import map_readonly
    path = os.fspath(path)
    data = map_readonly(path, "an archive")
    return archive_from_bytes(data, path, lazy)


def archive_from_bytes(data, path: str = "<bytes>", lazy: bool = False) -> Archive:
    """Read an archive held in `data` (bytes or mmap); `path` names it in errors and is
    where a thin archive's member paths are relative to."""
    path = os.fspath(path)
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    magic = bytes(data[:8])
    if magic == ARMAG:
        thin = False
    elif magic == THINMAG:
        thin = True
    elif len(data) < 8 and (ARMAG.startswith(magic) or THINMAG.startswith(magic)) and magic:
        raise ElfFormatError(path, f"truncated archive: {len(data)} bytes, shorter than "
                                   "the archive magic")
    else:
        raise ElfFormatError(path, "not an archive (no !<arch> or !<thin> magic)")
    ar = Archive(path, data, thin)
    if lazy and _read_leading(ar):
        return ar
    _read_members(ar)
    return ar


def _header(ar: Archive, pos: int):
    """(name field, size, data start) of the member header at `pos`, checked."""
    data, end = ar.data, len(ar.data)
    if pos + HEADER_SIZE > end:
        _fail(ar, f"truncated member header ({end - pos} of {HEADER_SIZE} bytes before "
                  "the end of the file)", pos)
    hdr = data[pos:pos + HEADER_SIZE]
    if hdr[58:60] != FMAG:
        _fail(ar, f"bad member header: ends in '{_show(hdr[58:60])}', expected '`\\n'", pos)
    size_field = hdr[48:58].rstrip(b" ")
    if not size_field.isdigit():
        _fail(ar, f"bad size field '{_show(hdr[48:58]).rstrip()}' in member header", pos)
    return hdr[:16].rstrip(b" "), int(size_field), pos + HEADER_SIZE


def _read_leading(ar: Archive) -> bool:
    """Lazy reading: the symbol index and the long-name table at the front, nothing more;
    False (read it all) when there is no index to go by."""
    end = len(ar.data)
    pos, index, longnames = 8, None, None
    while pos < end:
        raw, size, start = _header(ar, pos)
        if raw not in (b"/", b"/SYM64/", b"//"):
            break
        if size > end - start:
            _fail(ar, f"member '{_show(raw)}' of size {size} runs past the end of the file "
                      f"(file size {end:#x})", pos)
        if raw == b"//":
            if longnames is not None:
                return False
            longnames = bytes(ar.data[start:start + size])
        else:
            if index is not None or longnames is not None:
                return False                    # out of place: the full reader says so
            index = (raw.decode(), start, size, pos)
        pos = start + size + (size & 1)
    if index is None:
        return False
    ar.lazy, ar._longnames, ar._first = True, longnames, pos
    _read_index(ar, memoryview(ar.data), *index)
    return True


def _member_header_at(ar: Archive, pos: int) -> Member:
    """The member whose header is at `pos` (lazy archives), checked as the full reader
    checks it."""
    if pos < ar._first:
        _fail(ar, f"symbol index entry points to offset {pos:#x}, where no member starts",
              pos)
    raw, size, data_start = _header(ar, pos)
    end = len(ar.data)
    if raw in (b"/", b"/SYM64/", b"//"):
        _fail(ar, f"symbol index entry points to offset {pos:#x}, where no member starts", pos)
    if not ar.thin and size > end - data_start:
        _fail(ar, f"member '{_show(raw)}' of size {size} runs past the end of the file "
                  f"(file size {end:#x})", pos)
    if raw[-1:] == b"/" and raw[:1] != b"/" and b"\0" not in raw and raw.count(b"/") == 1:
        name = raw[:-1].decode("utf-8", "surrogateescape")
    else:
        name, data_start, size = _member_name(ar, raw, ar._longnames, pos, data_start, size)
    if ar.thin:
        path = name if os.path.isabs(name) else os.path.join(os.path.dirname(ar.path), name)
        return Member(name, pos, size, None, path=path, archive=ar)
    return Member(name, pos, size, memoryview(ar.data)[data_start:data_start + size],
                  data_offset=data_start, archive=ar)


def _fail(ar: Archive, message: str, offset: int | None = None):
    raise ElfFormatError(ar.path, message, offset)


def _show(raw: bytes) -> str:
    """Bytes from a header, printable on one line."""
    text = raw.decode("latin-1")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _read_members(ar: Archive) -> None:
    data = ar.data
    end = len(data)
    view = memoryview(data)
    pos = 8
    first = True
    longnames: bytes | None = None
    index = None                  # (format, data start, size, header offset)
    members = ar.members
    while pos < end:
        if pos + HEADER_SIZE > end:
            _fail(ar, f"truncated member header ({end - pos} of {HEADER_SIZE} bytes before "
                      "the end of the file)", pos)
        hdr = data[pos:pos + HEADER_SIZE]
        if hdr[58:60] != FMAG:
            _fail(ar, f"bad member header: ends in '{_show(hdr[58:60])}', expected '`\\n'",
                  pos)
        size_field = hdr[48:58].rstrip(b" ")
        if not size_field.isdigit():
            _fail(ar, f"bad size field '{_show(hdr[48:58]).rstrip()}' in member header", pos)
        size = int(size_field)
        raw_name = hdr[:16].rstrip(b" ")
        data_start = pos + HEADER_SIZE

        special = raw_name in (b"/", b"/SYM64/", b"//")
        stored = special or not ar.thin            # thin archives store only / and //
        if stored and size > end - data_start:
            _fail(ar, f"member '{_show(raw_name)}' of size {size} runs past the end of the "
                      f"file (file size {end:#x})", pos)
        next_pos = data_start + size + (size & 1) if stored else data_start

        if special:
            if raw_name == b"//":
                if longnames is not None or not (first or (index is not None
                                                           and len(members) == 0)):
                    _fail(ar, "long-name table '//' out of place (it must come first, or "
                              "right after the symbol index)", pos)
                longnames = bytes(view[data_start:data_start + size])
            else:
                if not first:
                    _fail(ar, f"symbol index '{raw_name.decode()}' out of place (it must be "
                              "the first member)", pos)
                index = (raw_name.decode(), data_start, size, pos)
            first = False
            pos = next_pos
            continue
        first = False

        if raw_name[-1:] == b"/" and raw_name[:1] != b"/" and b"\0" not in raw_name \
                and raw_name.count(b"/") == 1:
            name = raw_name[:-1].decode("utf-8", "surrogateescape")    # GNU short name
        else:
            name, data_start, size = _member_name(ar, raw_name, longnames, pos, data_start,
                                                  size)
        if ar.thin:
            if os.path.isabs(name):
                member_path = name
            else:
                member_path = os.path.join(os.path.dirname(ar.path), name)
            member = Member(name, pos, size, None, path=member_path, archive=ar)
        else:
            member = Member(name, pos, size, view[data_start:data_start + size],
                            data_offset=data_start, archive=ar)
        ar._by_offset[pos] = len(members)
        members.append(member)
        # A missing final padding byte is tolerated, as BFD does.
        pos = min(next_pos, end)

    if index is not None:
        _read_index(ar, view, *index)


def _member_name(ar: Archive, raw: bytes, longnames, pos: int, data_start: int, size: int):
    """(name, data start, data size) of the member whose header at `pos` has name field
    `raw` (trailing spaces stripped)."""
    if raw[:1] == b"/" and raw[1:2].isdigit():
        digits = raw[1:]
        rest = b""
        for i, c in enumerate(digits):
            if not 0x30 <= c <= 0x39:
                digits, rest = digits[:i], digits[i:]
                break
        if rest:
            if ar.thin and rest[:1] == b":":
                _fail(ar, f"member '{_show(raw)}' is in a nested archive: nested thin "
                          "archives are not supported", pos)
            _fail(ar, f"bad member name '{_show(raw)}'", pos)
        ref = int(digits)
        if longnames is None:
            _fail(ar, f"member name '{_show(raw)}' refers to the long-name table, but the "
                      "archive has none", pos)
        if ref >= len(longnames):
            _fail(ar, f"member name '{_show(raw)}' lies outside the long-name table (size "
                      f"{len(longnames)})", pos)
        stop = longnames.find(b"\n", ref)
        name = longnames[ref:stop if stop >= 0 else len(longnames)]
        nul = name.find(b"\0")
        if nul >= 0:
            name = name[:nul]
        if name.endswith(b"/"):
            name = name[:-1]
        return name.decode("utf-8", "surrogateescape"), data_start, size
    if raw[:3] == b"#1/":
        digits = raw[3:]
        if not digits.isdigit():
            _fail(ar, f"bad BSD member name '{_show(raw)}'", pos)
        n = int(digits)
        if n > size:
            _fail(ar, f"BSD member name length {n} exceeds the member's size {size}", pos)
        name = bytes(ar.data[data_start:data_start + n]).rstrip(b"\0")
        return name.decode("utf-8", "surrogateescape"), data_start + n, size - n
    # Short name: up to the first NUL, else the first '/', else the trailing spaces.
    cut = raw.find(b"\0")
    if cut < 0:
        cut = raw.find(b"/")
    name = raw if cut < 0 else raw[:cut]
    return name.decode("utf-8", "surrogateescape"), data_start, size


def _read_index(ar: Archive, view, fmt: str, start: int, size: int, pos: int) -> None:
    """Decode the GNU symbol index ("/" or "/SYM64/") at [start, start+size)."""
    word = 8 if fmt == "/SYM64/" else 4
    if size < word:
        _fail(ar, f"symbol index '{fmt}' too small ({size} bytes) for its symbol count", pos)
    count = (_U64 if word == 8 else _U32).unpack_from(view, start)[0]
    if count > (size - word) // word:
        _fail(ar, f"symbol index '{fmt}' claims {count} symbols, more than its {size} bytes "
                  "can hold", pos)
    offsets = struct.unpack_from(f">{count}{'Q' if word == 8 else 'I'}", view, start + word)
    strtab = bytes(view[start + word + count * word:start + size])
    if count == 0:
        names = []
    else:
        try:
            names = strtab.decode("ascii").split("\0", count)
        except UnicodeDecodeError:
            names = [p.decode("utf-8", "backslashreplace")
                     for p in strtab.split(b"\0", count)]
        if len(names) < count:
            _fail(ar, f"symbol index '{fmt}' has {count} symbols but only {len(names)} "
                      "names", pos)
        if len(names) > count:
            del names[count:]
    by_offset = ar._by_offset
    table: dict[str, list[int]] = {}
    if ar.lazy:                                 # header offsets; checked when read
        end = len(ar.data)
        for name, off in zip(names, offsets):
            if off >= end:
                _fail(ar, f"symbol index entry '{name}' points to offset {off:#x}, outside "
                          "the file", pos)
            lst = table.get(name)
            if lst is None:
                table[name] = [off]
            else:
                lst.append(off)
        ar.symbol_index, ar.has_index, ar.index_format = table, True, fmt
        return
    for name, off in zip(names, offsets):
        i = by_offset.get(off)
        if i is None:
            where = ("outside the file" if off >= len(ar.data)
                     else "where no member starts")
            _fail(ar, f"symbol index entry '{name}' points to offset {off:#x}, {where}", pos)
        lst = table.get(name)
        if lst is None:
            table[name] = [i]
        else:
            lst.append(i)
    ar.symbol_index = table
    ar.has_index = True
    ar.index_format = fmt


def _read_thin_member(member: Member) -> bytes:
    """Contents of a thin archive's member, from its own file."""
    ar = member._archive
    arpath = ar.path if ar is not None else "<thin archive>"
    path = member.path
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError(path, f"no such file (member of thin archive {arpath})") from None
    except IsADirectoryError:
        raise InputError(path, f"is a directory (member of thin archive {arpath})") from None
    except PermissionError:
        raise InputError(path, f"permission denied (member of thin archive {arpath})") \
            from None
    except (OSError, ValueError) as e:
        raise InputError(path, f"cannot read: {getattr(e, 'strerror', None) or e} (member "
                               f"of thin archive {arpath})") from None
    if is_archive(data):
        raise ElfFormatError(arpath, f"member {member.name} is itself an archive: nested "
                                     "archives in thin archives are not supported")
    return data
