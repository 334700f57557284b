"""Writing the executable (bfd's elf.c, _bfd_elf_write_object_contents, for the x86-64
static ET_EXEC layout.py made): ELF header, program headers, the sections' bytes, the symbol
table (locals first, then the globals), .strtab, .shstrtab and the section headers, and last
the build-id note, a SHA-1 of everything else (as ld's --build-id=sha1).

The file is written next to the output and renamed over it only when complete: a failed
link never leaves a half-written executable, nor destroys the previous one.
"""
from __future__ import annotations

import hashlib
import os
import struct

from elfkit.elf.constants import SHT
from elfkit.ld.input import SHF
from elfkit.ld import layout as L

PT_LOAD, PT_NOTE, PT_TLS, PT_GNU_EH_FRAME, PT_GNU_STACK, PT_GNU_RELRO = \
    1, 4, 7, 0x6474E550, 0x6474E551, 0x6474E552
PF_X, PF_W, PF_R = 1, 2, 4


def program_headers(link) -> list[tuple]:
    """(type, flags, offset, vaddr, filesz, memsz, align) in ld's order."""
    outs = [o for o in link.outputs if o.flags & SHF.ALLOC]
    segs = []
    kinds = [("R0", PF_R, ("notes",)), ("RX", PF_R | PF_X, ("text",)),
             ("R", PF_R, ("rodata",)), ("RW", PF_R | PF_W, ("relro", "data", "bss"))]
    for kind, flags, names in kinds:
        members = [o for o in outs if o.segment in names and o.name != ".tbss"]
        if kind == "R0":
            start_off, start_addr = 0, L.BASE
        elif not members:
            continue
        else:
            start_off, start_addr = members[0].offset, members[0].addr
        file_end = max([start_off + 64 + 56 * link.nphdr if kind == "R0" else start_off] +
                       [o.offset + o.size for o in members if not o.nobits])
        mem_end = max([start_addr + (file_end - start_off)] + [o.addr + o.size for o in members])
        segs.append((PT_LOAD, flags, start_off, start_addr, file_end - start_off,
                     mem_end - start_addr, L.PAGE))
    notes = [o for o in outs if o.type == SHT.NOTE]
    if notes:
        first, last = notes[0], notes[-1]
        segs.append((PT_NOTE, PF_R, first.offset, first.addr, last.offset + last.size -
                     first.offset, last.addr + last.size - first.addr, first.align))
    tls = [o for o in outs if o.flags & SHF.TLS]
    if tls:
        filesz = sum(o.size for o in tls if not o.nobits)
        segs.append((PT_TLS, PF_R, tls[0].offset, tls[0].addr, filesz,
                     link.tls_end - link.tls_start, link.tls_align))
    if link.ehdr_sec is not None:
        o = link.ehdr_sec.out
        segs.append((PT_GNU_EH_FRAME, PF_R, o.offset, o.addr, o.size, o.size, 4))
    if link.gnu_stack:
        segs.append((PT_GNU_STACK, PF_R | PF_W | (PF_X if link.execstack else 0), 0, 0, 0, 0,
                     16))
    relro = [o for o in outs if o.segment == "relro"]
    if relro and link.relro:
        first = relro[0]
        end = max(o.addr + o.size for o in relro)
        size = L.align_up(end, L.PAGE) - first.addr
        segs.append((PT_GNU_RELRO, PF_R, first.offset, first.addr, size, size, 1))
    assert len(segs) == link.nphdr, (segs, link.nphdr)
    return segs


def symbols(link, strtab: bytearray, shndx_of) -> tuple[bytes, int]:
    """.symtab's bytes and the index of its first global symbol."""
    def name_of(n):
        if not n:
            return 0
        at = len(strtab)
        strtab.extend(n.encode("utf-8", "surrogateescape") + b"\0")
        return at

    rows = [struct.pack("<IBBHQQ", 0, 0, 0, 0, 0, 0)]
    for obj in link.table.objects:
        rows.append(struct.pack("<IBBHQQ", name_of(os.path.basename(obj.name.split("(")[-1]
                                                                  .rstrip(")"))), 4, 0,
                                0xFFF1, 0, 0))
        for i in range(1, min(obj.first_global, len(obj.symbols))):
            ls = obj.symbols[i]
            if ls.type in (3, 4) or not ls.name or ls.name.startswith(".L"):
                continue
            sec = ls.section
            if sec is not None and not sec.live:
                continue
            if sec is None:
                if ls.shndx != 0xFFF1:
                    continue
                value, ndx = ls.value, 0xFFF1
            else:
                value = (sec.out.addr + sec.out_offset + ls.value if sec.merge_map is None
                         else link.relocator.target(obj, i).addr)
                ndx = shndx_of(sec)
            rows.append(struct.pack("<IBBHQQ", name_of(ls.name), ls.type, ls.visibility, ndx,
                                    value, ls.size))
    globals_ = []
    locals_ = []
    for g in link.table.symbols.values():
        if not g.defined and not g.referenced_by:
            continue
        if g.defined:
            sec = g.section
            if sec is not None and (not sec.live or sec.out is None):
                continue                       # in a section --gc-sections removed
            value = link._sym_addr(g)
            ndx = shndx_of(sec) if sec is not None else 0xFFF1
        else:
            value, ndx = 0, 0
        bind = g.bind if g.defined else (1 if g.strong_ref else 2)
        row = (g.name, g.type, bind, g.visibility, ndx, value, g.size)
        (locals_ if g.visibility in (1, 2) and g.defined else globals_).append(row)
    for name, typ, bind, vis, ndx, value, size in locals_:
        rows.append(struct.pack("<IBBHQQ", name_of(name), typ, vis, ndx, value, size))
    first_global = len(rows)
    for name, typ, bind, vis, ndx, value, size in globals_:
        rows.append(struct.pack("<IBBHQQ", name_of(name), bind << 4 | typ, vis, ndx, value,
                                size))
    return b"".join(rows), first_global


def write_executable(link, path: str, strip_all=False):
    outs = link.outputs
    shstr = bytearray(b"\0")
    names = {}

    def shname(n):
        if n not in names:
            names[n] = len(shstr)
            shstr.extend(n.encode() + b"\0")
        return names[n]

    for i, o in enumerate(outs, start=1):
        o.index = i

    def shndx_of(sec):
        out = sec.out
        while out is not None and not isinstance(out, L.OutputSection):
            out = out.out
        return out.index if out is not None and out.index else 0xFFF1   # a discarded empty one

    strtab = bytearray(b"\0")
    symtab, first_global = (b"", 0) if strip_all else symbols(link, strtab, shndx_of)
    offset = link.file_end
    extra = []
    if not strip_all:
        offset = L.align_up(offset, 8)
        extra.append((".symtab", SHT.SYMTAB, 0, offset, symtab, len(outs) + 2, first_global, 8, 24))
        offset += len(symtab)
        extra.append((".strtab", SHT.STRTAB, 0, offset, bytes(strtab), 0, 0, 1, 0))
        offset += len(strtab)
    for n, *_ in extra:
        shname(n)
    shname(".shstrtab")
    for o in outs:
        shname(o.name)
    extra.append((".shstrtab", SHT.STRTAB, 0, offset, bytes(shstr), 0, 0, 1, 0))
    offset += len(shstr)
    shoff = L.align_up(offset, 8)
    nsections = 1 + len(outs) + len(extra)
    image = bytearray(shoff + 64 * nsections)
    phdrs = program_headers(link)
    ident = b"\x7fELF\x02\x01\x01\x00" + bytes(8)
    image[0:64] = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, link.entry_addr, 64, shoff, 0,
                                      64, 56, len(phdrs), 64, nsections, nsections - 1)
    for i, ph in enumerate(phdrs):
        typ, flags, off, vaddr, filesz, memsz, align = ph
        struct.pack_into("<IIQQQQQQ", image, 64 + 56 * i, typ, flags, off, vaddr, vaddr, filesz,
                         memsz, align)
    for o in outs:
        if o.data is not None and not o.nobits:
            image[o.offset:o.offset + len(o.data)] = o.data
    for _name, _typ, _flags, off, data, *_ in extra:
        image[off:off + len(data)] = data
    sh = shoff + 64
    for o in outs:
        entsize = 24 if o.type == SHT.RELA else (o.inputs[0].entsize if len(o.inputs) == 1 and
                                                 o.flags & SHF.MERGE else 0)
        struct.pack_into("<IIQQQQIIQQ", image, sh, shname(o.name), o.type,
                         o.flags & ~SHF.GROUP, o.addr, o.offset, o.size, 0, 0, o.align, entsize)
        sh += 64
    strtab_index = len(outs) + 2
    for name, typ, flags, off, data, link_, info, align, entsize in extra:
        if name == ".symtab":
            link_ = strtab_index
        struct.pack_into("<IIQQQQIIQQ", image, sh, shname(name), typ, flags, 0, off, len(data),
                         link_, info, align, entsize)
        sh += 64
    if link.build_id_sec is not None:
        o = link.build_id_sec.out
        at = o.offset + link.build_id_sec.out_offset
        image[at:at + 16] = struct.pack("<III", 4, 20, 3) + b"GNU\0"
        image[at + 16:at + 36] = hashlib.sha1(image).digest()
    _replace(path, image)


def _replace(path, image):
    directory = os.path.dirname(os.path.abspath(path)) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.elfkit-link-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(image)
        os.chmod(tmp, 0o777 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


__all__ = ["write_executable", "program_headers"]
