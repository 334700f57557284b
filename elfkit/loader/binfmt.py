"""fs/binfmt_elf.c: load_elf_binary -- what execve does with an ELF file, as a list of named steps.

The result is an ExecImage: the memory areas to create (with their bytes),
the initial stack, brk, and where the CPU starts. Nothing here touches the
emulator; elfkit.kernel maps the image.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from elfkit.elf import ElfFile
from elfkit.elf.constants import EM, ET, PF, PT
from elfkit.errors import ElfkitError
from elfkit.loader import layout
from elfkit.loader.auxv import auxv_entries
from elfkit.loader.layout import page_align, page_offset, page_start
from elfkit.loader.stack import StackImage, create_elf_tables
from elfkit.loader.sysroot import PathError, Sysroot

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MASK64 = (1 << 64) - 1      # the kernel's unsigned long: addresses wrap, they do not grow


class ExecError(ElfkitError):
    """execve would fail: .errno_name says how (ENOEXEC, ENOENT, ...). past_no_return: the
    kernel finds this only past exec's point of no return (begin_new_exec), where the error
    cannot be returned any more: the process dies by SIGSEGV instead (force_fatal_sig)."""

    def __init__(self, path, message, errno_name="ENOEXEC", past_no_return=False):
        self.errno_name = errno_name
        self.past_no_return = past_no_return
        super().__init__(path, message)


@dataclass(slots=True)
class Mapping:
    """One memory area exec creates: [start, end) with `prot`; `data` fills it from `start`."""
    start: int
    end: int
    prot: int
    name: str                 # /proc/PID/maps name: the file's path, [stack], or "" (bss)
    data: bytes = b""         # the rest of the area is zero
    file_offset: int = 0
    host_path: str | None = None


@dataclass(slots=True)
class LoadedObject:
    """An ELF file mapped by exec: the program or its interpreter."""
    path: str                 # guest path
    host_path: str
    elf: ElfFile
    load_bias: int
    start: int
    end: int
    display_path: str = ""    # absolute, links resolved: what /proc/PID/maps and exe show


@dataclass(slots=True)
class ExecImage:
    program: LoadedObject
    interpreter: LoadedObject | None
    mappings: list[Mapping]
    entry: int                # where the CPU starts: the interpreter's entry, else the program's
    program_entry: int
    phdr_addr: int
    start_brk: int
    stack: StackImage
    executable_stack: bool
    mmap_base: int
    execfn: str
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Credentials:
    uid: int = 0
    euid: int = 0
    gid: int = 0
    egid: int = 0


def load_elf_binary(path: str, argv: list[bytes], envp: list[bytes], *, sysroot: Sysroot,
                    cwd: str, random16: bytes, creds: Credentials, hwcap: int, hwcap2: int,
                    execfn: str | None = None, load_interpreter: bool = True,
                    host_path: str | None = None) -> ExecImage:
    """execve(path, argv, envp): check, map the program and its interpreter, build the stack.
    `host_path`: the program's file as the host names it, when it is not found by `path` (an
    execveat on a descriptor: "/proc/self/fd/N" of elfkit's own)."""
    if host_path is None:
        host_path = _open_exec(path, sysroot, cwd)
    exe = _check_header(path, host_path)
    interp_path = _find_interpreter(exe, path)
    wants_interp = interp_path is not None        # placement follows the file, loaded or not
    if not load_interpreter:
        interp_path = None
    interp = None
    if interp_path is not None:
        interp_host = _open_exec(interp_path, sysroot, "/")
        interp = _check_header(interp_path, interp_host, interpreter=True)
    executable_stack = _executable_stack(exe)

    mappings: list[Mapping] = []
    mmap_top = layout.mmap_base()
    bias = _choose_load_bias(exe, has_interp=wants_interp, mmap_top=mmap_top)
    _check_segments(path, exe, bias, "program")
    prog = _map_segments(path, sysroot.display_path(host_path), host_path, exe, bias, mappings)
    if exe.header.type == ET.DYN and not wants_interp:
        mmap_top = prog.start                      # it was mapped like an mmap
    start_brk = _place_brk(exe, prog, has_interp=wants_interp)

    interp_obj = None
    if interp is not None:
        ibias = _choose_load_bias(interp, has_interp=False, mmap_top=mmap_top)
        _check_segments(interp_path, interp, ibias, "interpreter", "ENOMEM")
        interp_obj = _map_segments(interp_path, sysroot.display_path(interp_host), interp_host,
                                   interp, ibias, mappings)
        mmap_top = interp_obj.start

    vdso_addr, mmap_top = _map_vdso(mmap_top, mappings)
    phdr_addr = _phdr_address(exe, bias)
    program_entry = (exe.header.entry + bias) & MASK64
    entry = (interp.header.entry + interp_obj.load_bias) & MASK64 if interp_obj else program_entry
    if entry >= layout.TASK_SIZE:
        # load_elf_binary: BAD_ADDR(elf_entry) -> -EINVAL
        raise ExecError(path, f"cannot execute: invalid argument (EINVAL: the entry point "
                              f"{entry:#x} is outside the user address space)", "EINVAL")
    execfn = path if execfn is None else execfn

    def auxv_for(execfn_addr, random_addr, platform_addr):
        return auxv_entries(phdr=phdr_addr, phent=exe.header.phentsize, phnum=exe.header.phnum,
                            base=interp_obj.load_bias if interp_obj else 0, entry=program_entry,
                            uid=creds.uid, euid=creds.euid, gid=creds.gid, egid=creds.egid,
                            secure=0, random_addr=random_addr, execfn_addr=execfn_addr,
                            platform_addr=platform_addr, vdso_addr=vdso_addr, hwcap=hwcap,
                            hwcap2=hwcap2)

    stack = create_elf_tables(argv, envp, os.fsencode(execfn), random16, auxv_for)
    stack_prot = PROT_READ | PROT_WRITE | (PROT_EXEC if executable_stack else 0)
    mappings.append(Mapping(stack.vma_start, layout.STACK_TOP, stack_prot, "[stack]"))
    from elfkit.loader.vdso import PAGE, VSYSCALL_START, vsyscall_page
    _check_no_overlap(path, mappings)
    mappings.append(Mapping(VSYSCALL_START, VSYSCALL_START + PAGE, PROT_EXEC, "[vsyscall]",
                            vsyscall_page()))
    return ExecImage(prog, interp_obj, mappings, entry, program_entry, phdr_addr, start_brk, stack,
                     executable_stack, mmap_top, execfn)


# --- the steps -------------------------------------------------------------------------------

def _open_exec(path: str, sysroot: Sysroot, cwd: str) -> str:
    try:
        host = sysroot.host_path(path, cwd)
    except PathError as e:
        raise ExecError(path, f"cannot execute: {e.strerror}", "ENOENT") from None
    if not os.path.exists(host):
        raise ExecError(path, "cannot execute: no such file", "ENOENT")
    if os.path.isdir(host):
        raise ExecError(path, "cannot execute: is a directory", "EACCES")
    return host


def _check_header(path: str, host_path: str, interpreter: bool = False) -> ElfFile:
    """The checks at the top of load_elf_binary: magic, type, machine, program headers."""
    from elfkit.errors import ElfFormatError
    try:
        elf = ElfFile.open(host_path)
    except ElfFormatError as e:
        # not ELF, or too short for its header: search_binary_handler's ENOEXEC, or for the
        # interpreter load_elf_binary's ELIBBAD (a guest's execve gets the errno; the first
        # program, exit status 126)
        if interpreter:
            raise ExecError(path, "cannot execute: accessing a corrupted shared library "
                                  f"(ELIBBAD: the interpreter: {e.message})", "ELIBBAD") from None
        raise ExecError(path, f"cannot execute: exec format error (ENOEXEC: {e.message})") \
            from None
    elf.path = path
    h = elf.header
    what = "interpreter" if interpreter else "program"
    if not h.is_64 or h.machine != EM.X86_64:
        # (the kernel: ENOEXEC, the shell's "cannot execute binary file"; say what it is for)
        from elfkit.elf.constants import machine_name
        order = "little-endian" if h.ei_data == 1 else "big-endian"
        raise ExecError(path, f"{what} is for {machine_name(h.machine)} "
                              f"({'ELF64' if h.is_64 else 'ELF32'}, {order}), not x86-64: "
                              "elfkit runs x86-64 programs only")
    if h.type not in (ET.EXEC, ET.DYN):
        raise ExecError(path, f"{what} is not executable (e_type {h.type}: only ET_EXEC and "
                              "ET_DYN can be run)")
    if not elf.segments:
        raise ExecError(path, f"{what} has no program headers")
    if not any(s.type == PT.LOAD for s in elf.segments):
        raise ExecError(path, f"{what} has no PT_LOAD segment")
    if elf.warnings:
        raise ExecError(path, f"{what} is damaged: {elf.warnings[0]}")
    if interpreter and any(s.type == PT.INTERP for s in elf.segments):
        raise ExecError(path, "the interpreter itself asks for an interpreter", "ELIBBAD")
    return elf


def _find_interpreter(exe: ElfFile, path: str) -> str | None:
    from elfkit.elf.segments import interpreter
    interps = [s for s in exe.segments if s.type == PT.INTERP]
    if not interps:
        return None
    name = interpreter(exe)
    if not name:
        raise ExecError(path, "PT_INTERP is empty or lies outside the file")
    return name


def _executable_stack(exe: ElfFile) -> bool:
    """PT_GNU_STACK's PF_X; without PT_GNU_STACK x86-64 defaults to a non-executable stack."""
    seg = next((s for s in exe.segments if s.type == PT.GNU_STACK), None)
    return bool(seg and seg.flags & PF.X)


def _load_span(elf: ElfFile) -> tuple[int, int, int]:
    """(lowest page, end, largest alignment) of the PT_LOAD segments (total_mapping_size)."""
    loads = elf.load_segments
    lo, hi = elf.load_extent
    lo = page_start(lo)
    align = max([s.align for s in loads if s.align and s.align & (s.align - 1) == 0] or [4096])
    return lo, page_align(hi), align


def _choose_load_bias(elf: ElfFile, has_interp: bool, mmap_top: int) -> int:
    """ET_EXEC: 0. PIE with an interpreter: ELF_ET_DYN_BASE. Otherwise top-down like mmap."""
    if elf.header.type == ET.EXEC:
        return 0
    lo, hi, align = _load_span(elf)
    if has_interp:
        base = layout.ELF_ET_DYN_BASE
        if align > layout.PAGE_SIZE:
            base &= ~(align - 1)
        return page_start(base - lo)
    start = (mmap_top - (hi - lo)) & ~(max(align, layout.PAGE_SIZE) - 1)
    return start - lo


def _check_segments(path, elf: ElfFile, bias: int, what: str, errno_name: str = "EINVAL"):
    """What load_elf_binary (and load_elf_interp) refuse about a PT_LOAD once the bias is
    known, with their errno: p_filesz larger than p_memsz, a segment that does not fit below
    TASK_SIZE (`BAD_ADDR(k) || p_filesz > p_memsz || p_memsz > TASK_SIZE || TASK_SIZE -
    p_memsz < k`: -EINVAL for the program, -ENOMEM for the interpreter), a file offset that
    disagrees with the address inside the page (elf_map's vm_mmap of an unaligned offset:
    -EINVAL), a segment below vm.mmap_min_addr (vm_mmap's -EPERM), and an ET_DYN whose
    PT_LOADs span nothing (total_mapping_size 0: -EINVAL).
    Linux finds these past exec's point of no return and kills the process with SIGSEGV, and
    so does elfkit (ExecError.past_no_return): a guest that execs such a file dies by SIGSEGV,
    and so does elfkit for the first program (the shell sees "Segmentation fault", 139)."""
    strerror = {"EINVAL": "invalid argument", "ENOMEM": "cannot allocate memory"}[errno_name]

    def refuse(i, why):
        raise ExecError(path, f"cannot execute: {strerror} ({errno_name}: {what}'s program "
                              f"header {i}, a PT_LOAD, {why})", errno_name, past_no_return=True)

    loads = [(i, s) for i, s in enumerate(elf.segments) if s.type == PT.LOAD]
    top = layout.TASK_SIZE
    if elf.header.type == ET.DYN:
        first, last = loads[0][1], loads[-1][1]
        if last.vaddr + last.memsz - page_start(first.vaddr) <= 0:
            raise ExecError(path, f"cannot execute: invalid argument (EINVAL: {what}'s PT_LOAD "
                                  "segments span no memory)", "EINVAL", past_no_return=True)
    for i, s in loads:
        k = (bias + s.vaddr) & MASK64
        if s.filesz > s.memsz:
            refuse(i, f"has p_filesz {s.filesz:#x} larger than its p_memsz {s.memsz:#x}")
        if k >= top or s.memsz > top or top - s.memsz < k:
            refuse(i, f"at {k:#x} size {s.memsz:#x} does not fit in the user address space "
                      f"(below {top:#x})")
        if page_start(k) < layout.MMAP_MIN_ADDR:
            # vm_mmap below vm.mmap_min_addr: -EPERM (e.g. an ET_DYN whose p_align of 2^63
            # rounds its load bias down to 0)
            raise ExecError(path, f"cannot execute: operation not permitted (EPERM: {what}'s "
                                  f"program header {i}, a PT_LOAD, would be mapped at {k:#x}, "
                                  f"below mmap_min_addr {layout.MMAP_MIN_ADDR:#x})", "EPERM",
                            past_no_return=True)
        if s.filesz and page_offset(s.offset) != page_offset(s.vaddr):
            refuse(i, f"has p_offset {s.offset:#x} and p_vaddr {s.vaddr:#x} at different "
                      "offsets in their pages")


def _map_segments(path, shown, host_path, elf: ElfFile, bias: int,
                  mappings: list[Mapping]) -> LoadedObject:
    """elf_load for each PT_LOAD: file pages, the zeroed tail of the last one, anonymous bss.
    A segment whose pages overlap an earlier one's replaces them (elf_map's MAP_FIXED), as in
    the kernel: what is left of the earlier area keeps its bytes."""
    lo_all, hi_all = None, None
    data, size = elf.data, elf.size
    first = len(mappings)
    for seg in elf.load_segments:
        prot = (PROT_READ if seg.flags & PF.R else 0) | (PROT_WRITE if seg.flags & PF.W else 0) | \
               (PROT_EXEC if seg.flags & PF.X else 0)
        k = (bias + seg.vaddr) & MASK64        # below TASK_SIZE with its size: _check_segments
        start = page_start(k)
        file_end = page_align(k + seg.filesz)
        mem_end = page_align(k + seg.memsz)
        if seg.filesz:
            off = page_start(seg.offset)
            length = file_end - start
            chunk = bytearray(data[off:min(off + length, size)])
            if seg.memsz > seg.filesz:
                # padzero: the bss starts inside the last file page; the kernel clears the rest.
                zero_from = page_offset(seg.vaddr) + seg.filesz
                chunk[zero_from:] = bytes(max(0, len(chunk) - zero_from))
            _map_fixed(mappings, first, Mapping(start, file_end, prot, shown, bytes(chunk), off,
                                                host_path))
        else:
            file_end = start
        if mem_end > file_end:
            _map_fixed(mappings, first, Mapping(file_end, mem_end, prot, ""))
        lo_all = start if lo_all is None else min(lo_all, start)
        hi_all = mem_end if hi_all is None else max(hi_all, mem_end)
    return LoadedObject(path, host_path, elf, bias, lo_all, hi_all, shown)


def _map_fixed(mappings: list[Mapping], first: int, new: Mapping):
    """Append `new`, cutting the range it covers out of mappings[first:] (MAP_FIXED: the new
    area replaces whatever the object mapped there before)."""
    kept = mappings[:first]
    for m in mappings[first:]:
        if m.end <= new.start or m.start >= new.end:
            kept.append(m)
            continue
        if m.start < new.start:                  # the part below
            kept.append(Mapping(m.start, new.start, m.prot, m.name, m.data[:new.start - m.start],
                                m.file_offset, m.host_path))
        if m.end > new.end:                      # the part above
            cut = new.end - m.start
            kept.append(Mapping(new.end, m.end, m.prot, m.name, m.data[cut:],
                                m.file_offset + cut if m.host_path else 0, m.host_path))
    kept.append(new)
    mappings[:] = kept


def _check_no_overlap(path, mappings: list[Mapping]):
    """Areas of different objects may not overlap: the program's first PT_LOAD is mapped with
    MAP_FIXED_NOREPLACE (-EEXIST when something is there: the stack, for an ET_EXEC placed at
    the top of the address space), and the interpreter and vDSO go where nothing is. Linux
    finds this past the point of no return (SIGSEGV); elfkit reports execve's error."""
    spans = sorted((m.start, m.end, m.name) for m in mappings if m.end > m.start)
    for (s1, e1, n1), (s2, e2, n2) in zip(spans, spans[1:]):
        if s2 < e1:
            raise ExecError(path, f"cannot execute: file exists (EEXIST: the area "
                                  f"{s2:#x}-{e2:#x} {n2 or '(bss)'} overlaps {s1:#x}-{e1:#x} "
                                  f"{n1 or '(bss)'})", "EEXIST")


def _place_brk(exe: ElfFile, prog: LoadedObject, has_interp: bool) -> int:
    """brk starts after the program's image; an ET_DYN run without interpreter gets it at
    ELF_ET_DYN_BASE instead, away from mmap space (Linux >= 6.15, the kernel this mimics)."""
    if exe.header.type == ET.DYN and not has_interp:
        return page_align(layout.ELF_ET_DYN_BASE)
    end = max(((prog.load_bias + s.vaddr) & MASK64) + s.memsz for s in exe.load_segments)
    return page_align(end)


def _map_vdso(mmap_top: int, mappings: list[Mapping]) -> tuple[int, int]:
    """arch_setup_additional_pages: [vvar] and [vdso] just below the lowest mmap so far."""
    from elfkit.loader.vdso import vdso_areas
    areas = vdso_areas(mmap_top)
    for start, end, prot, name, data in areas:
        mappings.append(Mapping(start, end, prot, name, data))
    return areas[-1][0], areas[0][0]


def _phdr_address(exe: ElfFile, bias: int) -> int:
    """AT_PHDR: where the program headers are in memory (the PT_LOAD that holds e_phoff)."""
    phoff = exe.header.phoff
    for s in exe.load_segments:
        if s.offset <= phoff < s.offset + s.filesz:
            return (s.vaddr + (phoff - s.offset) + bias) & MASK64
    phdr = next((s for s in exe.segments if s.type == PT.PHDR), None)
    return ((phdr.vaddr + bias) & MASK64) if phdr else 0
