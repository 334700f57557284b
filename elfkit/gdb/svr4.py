"""The shared libraries for qXfer:libraries-svr4:read, as gdbserver finds them: the program's
PT_DYNAMIC (through AT_PHDR in the auxiliary vector) -> its DT_DEBUG entry, which ld.so points
at its `struct r_debug` -> r_map, the link_map chain (l_addr, l_name, l_ld, l_next). The first
entry is the program itself (gdb's `main-lm`); the others are listed. Before ld.so has filled
DT_DEBUG (at its entry) the list is empty and gdb stops at r_brk to ask again. A static program
has no PT_DYNAMIC: an empty list."""
from __future__ import annotations

import struct
from xml.sax.saxutils import quoteattr

AT_PHDR, AT_PHNUM = 3, 5
PT_DYNAMIC, PT_PHDR = 2, 6
DT_NULL, DT_DEBUG = 0, 21
_Q = struct.Struct("<Q")


def _word(read, addr: int) -> int | None:
    data = read(addr, 8)
    return None if data is None or len(data) < 8 else _Q.unpack(data)[0]


def r_debug_address(read, auxv: dict[int, int]) -> int:
    """The address of ld.so's r_debug from the program's DT_DEBUG, or 0."""
    phdr, phnum = auxv.get(AT_PHDR), auxv.get(AT_PHNUM)
    if not phdr or not phnum:
        return 0
    table = read(phdr, 56 * phnum)
    if table is None:
        return 0
    headers = [struct.unpack_from("<IIQQQQQQ", table, 56 * i) for i in range(phnum)]
    bias = next((phdr - h[3] for h in headers if h[0] == PT_PHDR), None)
    dynamic = next((h for h in headers if h[0] == PT_DYNAMIC), None)
    if dynamic is None:
        return 0
    if bias is None:
        bias = 0
    at = bias + dynamic[3]
    for i in range(dynamic[5] // 16):
        tag, value = _word(read, at + 16 * i), _word(read, at + 16 * i + 8)
        if tag is None or tag == DT_NULL:
            break
        if tag == DT_DEBUG:
            return value or 0
    return 0


def library_list(read, read_cstring, auxv: dict[int, int]) -> bytes:
    """The <library-list-svr4> document gdbserver sends for the same link map."""
    rdebug = r_debug_address(read, auxv)
    lm = _word(read, rdebug + 8) if rdebug else None
    if not lm:
        return b'<library-list-svr4 version="1.0"/>'
    out = [f'<library-list-svr4 version="1.0" main-lm="{lm:#x}">']
    seen, prev, first = set(), 0, True
    while lm and lm not in seen and len(seen) < 4096:
        seen.add(lm)
        fields = read(lm, 40)
        if fields is None or len(fields) < 40:
            break
        l_addr, l_name, l_ld, l_next, l_prev = struct.unpack("<5Q", fields)
        if l_prev != prev:
            break                               # a broken chain: stop as gdbserver does
        if not first:
            name = (read_cstring(l_name) or b"") if l_name else b""
            out.append(f"<library name={quoteattr(name.decode('utf-8', 'replace'))} lm=\"{lm:#x}\" "
                       f'l_addr="{l_addr:#x}" l_ld="{l_ld:#x}" lmid="0x0"/>')
        first = False
        prev, lm = lm, l_next
    out.append("</library-list-svr4>")
    return "".join(out).encode()


def namespace_list(dsos) -> bytes:
    """--linker=elfkit: no ld.so, no r_debug in guest memory; the list is elfkit's linker's
    own objects (elfkit.linker.dso.Dso: path, load bias, dynamic section). gdb is given a
    distinct `lm` per object (its id: there is no link_map in guest memory to point at)."""
    out = []
    main_lm = None
    for dso in dsos:
        if dso.is_main:
            main_lm = dso.id
            continue
        dynamic = next((s for s in dso.elf.segments if s.type == PT_DYNAMIC), None)
        l_ld = dso.base + dynamic.vaddr if dynamic is not None else 0
        out.append(f"<library name={quoteattr(dso.real_path or dso.path)} lm=\"{dso.id:#x}\" "
                   f'l_addr="{dso.base:#x}" l_ld="{l_ld:#x}" lmid="0x0"/>')
    head = '<library-list-svr4 version="1.0"' + \
        (f' main-lm="{main_lm:#x}">' if main_lm is not None else ">")
    return (head + "".join(out) + "</library-list-svr4>").encode()
