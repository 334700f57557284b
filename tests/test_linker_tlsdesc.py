"""TLS descriptors (R_X86_64_TLSDESC, gcc -mtls-dialect=gnu2) under every dynamic linker.

Fixtures: fixtures/src/linker/tlsdesc.c, tlsdesc_lib.c, tlsdesc_dl.c (fixtures/README.md).
build/linker/tlsdesc-gnu, -gnu2, -gnu2-now have no C library; special/tlsdesc-glibc-gnu and
-gnu2 are their glibc twins, which also dlopen() a library whose TLS must be dynamic and run a
pthread.

1. Every program prints the same and exits the same natively, under the default (glibc's
   ld.so in the emulator), under --resolver=elfkit and under --linker=elfkit -- except that
   --linker=elfkit refuses the glibc twins (glibc's libc needs ld.so's private symbols) with
   its one-line message; natively the outputs show what they exercise (static descriptors,
   the dynamic one of the dlopen()ed library, a thread with its own copy).
2. The libraries are what they claim to be (readelf): TLSDESC relocations only in the gnu2
   builds, in .rela.plt; DT_TLSDESC_PLT/DT_TLSDESC_GOT only in the lazy links.
3. `elfkit inspect --relocs` names and shows each TLSDESC relocation as `readelf -W -r` does
   (compared field by field: the two tables' column widths differ for every type).
4. At the entry point, under --linker=elfkit every descriptor holds what glibc's ld.so puts
   there: the same argument (the offset from the thread pointer; the addend for an undefined
   weak symbol), and a function that is elfkit's _dl_tlsdesc_return (or _undefweak) where
   glibc's is one function for every static descriptor (another for the undefined weak one);
   eagerly, in the lazy link too, as glibc 2.36 does; the DT_TLSDESC_GOT word stays 0.
5. Under --resolver=elfkit elfkit takes the lazy library over and binds its JUMP_SLOT, which
   comes before the TLSDESC entries in its .rela.plt.
6. The descriptor functions: their machine code is what `as` makes of their source; run in
   the guest, each preserves every register but %rax (static, undefined weak, dynamic fast
   path and slow path), and the dynamic one gives each thread its own block, initialised
   from the module's image, allocated once.
"""
import copy
import functools
import os
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, run_elfkit

LINKER_DIR = FIXTURES / "linker"
ENV = {"LANG": "C", "PATH": "/usr/bin:/bin"}
PROGRAMS = ["tlsdesc-gnu", "tlsdesc-gnu2", "tlsdesc-gnu2-now"]
GLIBC_PROGRAMS = ["special/tlsdesc-glibc-gnu", "special/tlsdesc-glibc-gnu2"]
MODES = {"default": [], "resolver": ["--resolver=elfkit"], "linker": ["--linker=elfkit"]}
R_X86_64_TLSDESC = 36
Q = struct.Struct("<Q")


def fixture(name: str) -> Path:
    path = LINKER_DIR / name
    if not path.exists():
        pytest.fail(f"fixture linker/{name} missing: run `make -C fixtures`")
    return path


@functools.lru_cache(maxsize=None)
def native(name: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(fixture(name))], capture_output=True, env=ENV, cwd=ROOT, timeout=60)


# --- 1. the same as natively ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name", PROGRAMS)
def test_libc_less_programs_match_native(name, mode):
    want = native(name)
    assert want.returncode == 0, want.stderr
    r = run_elfkit("load-and-run", *MODES[mode], fixture(name), env=ENV)
    assert b"Traceback" not in r.stderr
    assert r.stdout == want.stdout, f"{mode}: {r.stdout!r} vs {want.stdout!r}; {r.stderr[-400:]!r}"
    assert r.returncode == want.returncode, (mode, r.stderr)


@pytest.mark.parametrize("mode", ["default", "resolver"])
@pytest.mark.parametrize("name", GLIBC_PROGRAMS)
def test_glibc_programs_match_native(name, mode):
    want = native(name)
    assert want.returncode == 0, want.stderr
    r = run_elfkit("load-and-run", *MODES[mode], fixture(name), env=ENV)
    assert r.stdout == want.stdout, f"{mode}: {r.stdout!r} vs {want.stdout!r}; {r.stderr[-400:]!r}"
    assert r.returncode == want.returncode, (mode, r.stderr)


@pytest.mark.parametrize("name", GLIBC_PROGRAMS)
def test_elfkit_linker_refuses_the_glibc_twins_in_one_line(name):
    r = run_elfkit("load-and-run", "--linker=elfkit", fixture(name), env=ENV)
    assert r.returncode == 127 and r.stdout == b""
    line = r.stderr.decode().strip()
    assert "\n" not in line and "libc.so.6" in line and "--resolver=elfkit" in line


def test_native_outputs_show_what_the_fixtures_exercise():
    """What the comparisons rest on: natively the gnu2 descriptors of start-up modules share
    one function and hold the offset, the undefined weak one gives NULL, the dlopen()ed
    library's own descriptors are dynamic ones, and each thread has its own initial copy."""
    for name in PROGRAMS + GLIBC_PROGRAMS:
        out = native(name).stdout.decode()
        assert "thread: data=0x1234 bss=0 locals=7 exe=99 own_copy=yes same_tpoff=yes" in out, name
        assert "main after thread: data=0x5678 bss=-5 locals=1107 exe=-1" in out, name
        gnu2 = "gnu2" in name
        assert ("resolvers: one_for_static=yes arg_is_tpoff=yes weak_undefined_null=yes\n"
                in out) == gnu2, name
    for name in GLIBC_PROGRAMS:
        out = native(name).stdout.decode()
        assert "thread dl: data=0x4242 big=0 local=5 peer=0x1235" in out
        assert ("dl resolvers: own=dynamic peer=static" in out) == ("gnu2" in name)


# --- 2. the fixtures, as readelf sees them ---------------------------------------------------

LIBS = {  # library: (has TLSDESC, lazy link)
    "libtlsdesc-gnu.so": (False, True),
    "libtlsdesc-gnu2.so": (True, True),
    "libtlsdesc-gnu2-now.so": (True, False),
    "special/libtlsdesc-glibc-gnu.so": (False, True),
    "special/libtlsdesc-glibc-gnu2.so": (True, True),
    "special/libtlsdesc-dl-gnu.so": (False, True),
    "special/libtlsdesc-dl-gnu2.so": (True, True),
}


def readelf(*args) -> str:
    return subprocess.run(["readelf", *map(str, args)], capture_output=True, text=True,
                          check=True, env=ENV).stdout


def tlsdesc_rows(text: str) -> list[tuple[str, list[str]]]:
    """(section, fields) of each R_X86_64_TLSDESC row of a relocation listing."""
    out, section = [], None
    for line in text.splitlines():
        if line.startswith("Relocation section"):
            section = line.split("'")[1]
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "R_X86_64_TLSDESC":
            out.append((section, fields))
    return out


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_libraries_have_the_relocations_they_claim(lib):
    has_tlsdesc, lazy = LIBS[lib]
    rows = tlsdesc_rows(readelf("-W", "-r", fixture(lib)))
    dynamic = readelf("-W", "-d", fixture(lib))
    if not has_tlsdesc:
        assert rows == [] and "TLSDESC" not in dynamic
        assert "R_X86_64_DTPMOD64" in readelf("-W", "-r", fixture(lib))
        return
    assert rows and {section for section, _ in rows} == {".rela.plt"}
    assert any(f[3:] == ["0"] or f[3:] == ["10"] for _, f in rows)     # symbol 0: local dynamic
    assert ("(TLSDESC_PLT)" in dynamic and "(TLSDESC_GOT)" in dynamic) == lazy
    assert ("BIND_NOW" in dynamic) == (not lazy)


# --- 3. elfkit inspect -----------------------------------------------------------------------

@pytest.mark.parametrize("lib", sorted(lib for lib, (has, _) in LIBS.items() if has))
def test_inspect_shows_tlsdesc_relocations_as_readelf(lib):
    want = tlsdesc_rows(readelf("-W", "-r", fixture(lib)))
    r = run_elfkit("inspect", "--relocs", fixture(lib))
    assert r.returncode == 0, r.stderr
    assert tlsdesc_rows(r.stdout.decode()) == want
    assert len(want) >= 4


# --- 4. the descriptors at the entry point ---------------------------------------------------

def spawn(name: str, linker: str = "system", resolver: str = "system"):
    from elfkit.kernel.exec import spawn as kernel_spawn
    from elfkit.kernel.fs.files import HostFile
    from elfkit.linker.attach import exec_linker
    prog = fixture(name)
    proc = kernel_spawn(str(prog), [str(prog).encode()],
                        [f"{k}={v}".encode() for k, v in ENV.items()],
                        linker=exec_linker(linker, resolver))
    fd, path = tempfile.mkstemp()                   # the guest's stdout: never this one's
    os.unlink(path)
    proc.files.install_at(1, HostFile(os.dup(fd), "/dev/stdout", 1))
    proc.test_stdout_fd = fd
    return proc


def guest_stdout(proc) -> bytes:
    out = os.pread(proc.test_stdout_fd, 1 << 20, 0)
    os.close(proc.test_stdout_fd)
    return out


def library_base(proc, linker: str, soname: str) -> int:
    if linker == "elfkit":
        return next(d.base for d in proc.linker.dsos if d.path.endswith(soname))
    from elfkit.linker.takeover import read_link_map
    return next(e.l_addr for e in read_link_map(proc) if e.name.endswith(soname))


def descriptors_at_entry(name: str, lib: str, linker: str) -> dict:
    """{symbol or addend: (function, argument, tlsdesc_got word)} at the entry point."""
    from elfkit.elf import ElfFile
    from elfkit.elf.constants import DT
    from elfkit.kernel.task import RunLimits
    elf = ElfFile.open(str(fixture(lib)))
    relocs = [(off, info >> 32, addend) for t in elf.relocation_tables if t.kind == "RELA"
              for off, info, addend in t.entries if info & 0xFFFFFFFF == R_X86_64_TLSDESC]
    syms = elf.dynsym.symbols
    proc = spawn(name, linker)
    seen = {}

    def at_entry():
        base = library_base(proc, linker, lib)
        got = elf.dynamic.value(DT.TLSDESC_GOT)
        got_word = Q.unpack(proc.cpu.read(base + got, 8))[0] if got is not None else None
        for off, sym, addend in relocs:
            fn, arg = struct.unpack("<QQ", proc.cpu.read(base + off, 16))
            seen[syms[sym].name if sym else f"+{addend:#x}@{off:#x}"] = (fn, arg, got_word)
    proc.cpu.add_breakpoint(proc.image.program_entry, at_entry)
    status = proc.run(RunLimits(timeout_s=60))
    assert status.code == 0 and guest_stdout(proc) == native(name).stdout
    return seen, proc


@pytest.mark.parametrize("name,lib", [("tlsdesc-gnu2", "libtlsdesc-gnu2.so"),
                                      ("tlsdesc-gnu2-now", "libtlsdesc-gnu2-now.so")])
def test_descriptors_hold_what_glibc_puts_there_before_the_program_runs(name, lib):
    from elfkit.linker.tlsdesc import RETURN, UNDEFWEAK
    glibc, _ = descriptors_at_entry(name, lib, "system")
    elfkit, proc = descriptors_at_entry(name, lib, "elfkit")
    assert glibc.keys() == elfkit.keys() and len(glibc) >= 6
    code = proc.linker.tlsdesc.code
    static = {k for k in glibc if k != "tlsdesc_nowhere"}
    assert len({glibc[k][0] for k in static}) == 1                    # one glibc function
    assert glibc["tlsdesc_nowhere"][0] not in {glibc[k][0] for k in static}
    for key, (fn, arg, got_word) in elfkit.items():
        assert arg == glibc[key][1], key                              # the same argument
        assert fn == code + (UNDEFWEAK if key == "tlsdesc_nowhere" else RETURN), key
        assert got_word == glibc[key][2] and got_word in (0, None)    # DT_TLSDESC_GOT: untouched
    assert glibc["tlsdesc_nowhere"][1] == 0                           # the addend
    assert all(arg >= 1 << 63 for k, (_, arg, _) in elfkit.items() if k in static)  # below tp


# --- 5. --resolver=elfkit ------------------------------------------------------------------------

def test_resolver_takes_over_the_lazy_library_and_binds_its_jump_slot():
    from elfkit.kernel.task import RunLimits
    proc = spawn("tlsdesc-gnu2", resolver="elfkit")
    assert proc.run(RunLimits(timeout_s=60)).code == 0
    assert guest_stdout(proc) == native("tlsdesc-gnu2").stdout
    taken = [d.path for d in proc.linker.taken_over]
    assert any(p.endswith("libtlsdesc-gnu2.so") for p in taken), taken
    bound = [(b.dso.path, b.symbol, b.reloc_index) for b in proc.linker.lazy.bindings]
    assert any(p.endswith("libtlsdesc-gnu2.so") and s == "tlsdesc_count_bump" and i == 0
               for p, s, i in bound), bound


# --- 6. the descriptor functions themselves ------------------------------------------------

def assemble(source: str) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        Path(d, "s.s").write_text(".text\n" + source + "\n")
        subprocess.run(["as", "--64", "-o", f"{d}/s.o", f"{d}/s.s"], check=True)
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", f"{d}/s.o", f"{d}/s.bin"],
                       check=True)
        return Path(d, "s.bin").read_bytes()


def test_machine_code_is_what_as_makes_of_its_source():
    from elfkit.linker.tlsdesc import DYNAMIC, RESOLVERS, RESOLVERS_S, RETURN, SLOW_PATH, UNDEFWEAK
    assert assemble(RESOLVERS_S) == RESOLVERS
    assert (RETURN, UNDEFWEAK, DYNAMIC, SLOW_PATH + 8) == (0, 8, 0x20, len(RESOLVERS))


# call_descriptor(&descriptor): calls it as gnu2 code does, with a known value in every
# register; returns its %rax, or 0xbad0...0n if register n was not preserved.
KEEP = ["rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15"]
CALLER_S = "\n".join([
    "        .macro check reg, value, n",
    "        movabs  $\\value, %rax",
    "        cmp     %rax, %\\reg",
    "        je      1f",
    "        mov     $\\n, %eax",
    "        jmp     fail",
    "1:",
    "        .endm",
    "call_descriptor:",
    "        movq    %rsp, %xmm0",
    "        mov     %rdi, %rax",
    "        movabs  $0x5eed5eed5eed5eed, %rdx",
    "        movq    %rdx, %xmm2",
    *[f"        movabs  ${0x1111111111111100 + i:#x}, %{r}" for i, r in enumerate(KEEP)],
    "        call    *(%rax)",
    "        movq    %rax, %xmm1",
    "        movq    %xmm0, %rax",
    "        cmp     %rax, %rsp",
    "        je      2f",
    "        mov     $99, %eax",
    "        jmp     fail",
    "2:",
    *[f"        check   {r}, {0x1111111111111100 + i:#x}, {i}" for i, r in enumerate(KEEP)],
    "        movq    %xmm2, %rdx",
    "        movabs  $0x5eed5eed5eed5eed, %rax",
    "        cmp     %rax, %rdx",
    "        je      3f",
    "        mov     $98, %eax",
    "        jmp     fail",
    "3:",
    "        movq    %xmm1, %rax",
    "        jmp     out",
    "fail:",
    "        movabs  $0xbad0000000000000, %rdx",
    "        or      %rdx, %rax",
    "out:",
    "        movq    %xmm0, %rsp",
    "        ret",
])


class Harness:
    """tlsdesc-gnu2 linked by elfkit (not run), a page with call_descriptor, a page for
    descriptors, and a count of the slow path's traps."""

    def __init__(self):
        from elfkit.kernel.mm import MAP_ANONYMOUS, MAP_PRIVATE
        self.proc = proc = spawn("tlsdesc-gnu2", "elfkit")
        self.linker = proc.linker
        self.cpu = proc.cpu
        self.caller = proc.mm.mmap(0, 0x1000, 5, MAP_PRIVATE | MAP_ANONYMOUS)
        self.cpu.write(self.caller, assemble(CALLER_S))
        self.scratch = proc.mm.mmap(0, 0x1000, 3, MAP_PRIVATE | MAP_ANONYMOUS)
        self.lib = next(d for d in self.linker.dsos if d.path.endswith("libtlsdesc-gnu2.so"))
        self.slow_paths = 0
        traps = self.cpu.pages.traps
        trap = self.linker.tlsdesc.slow_path_trap
        handler = traps[trap]
        traps[trap] = lambda: (setattr(self, "slow_paths", self.slow_paths + 1), handler())

    def call(self, descriptor_address: int) -> int:
        """call_descriptor(descriptor_address) in the guest: the function's %rax."""
        result = self.proc.call_guest(self.caller, descriptor_address)
        assert self.proc.exit is None, self.linker.error
        if result >> 52 == 0xBAD:
            n = result & 0xFF
            pytest.fail(f"%{KEEP[n] if n < len(KEEP) else {98: 'xmm2', 99: 'rsp'}[n]} "
                        "not preserved")
        return result

    def descriptor_of(self, symbol: str) -> int:
        for t in self.lib.elf.relocation_tables:
            for off, info, _ in getattr(t, "entries", []):
                if info & 0xFFFFFFFF == R_X86_64_TLSDESC and \
                        self.lib.symbols[info >> 32].name == symbol:
                    return self.lib.base + off
        raise KeyError(symbol)

    def q(self, addr: int) -> int:
        return Q.unpack(self.cpu.read(addr, 8))[0]


def test_static_and_undefined_weak_functions_preserve_registers():
    h = Harness()
    tp = h.cpu.fs_base()
    got = h.call(h.descriptor_of("tlsdesc_data"))
    data = h.lib.symbols[[s.name for s in h.lib.symbols].index("tlsdesc_data")]
    assert got == (data.value - h.lib.tls_offset) & (2**64 - 1)
    assert h.q(tp + got - 2**64) == 0x1234                              # the initial image
    got = h.call(h.descriptor_of("tlsdesc_nowhere"))
    assert (tp + got) % 2**64 == 0                    # address NULL
    assert h.slow_paths == 0


def test_dynamic_function_allocates_each_threads_block_once():
    """A module without a static block (as a dlopen()ed one would be; elfkit's linker loads
    none): the same library as a second module with dynamic TLS."""
    from elfkit.kernel.mm import MAP_ANONYMOUS, MAP_PRIVATE
    from elfkit.linker.tls import NO_TLS_OFFSET, TLS_DTV_UNALLOCATED
    h = Harness()
    module = copy.copy(h.lib)
    module.tls_offset = NO_TLS_OFFSET
    module.tls_module = max(d.tls_module for d in h.linker.dsos) + 1
    h.linker.dsos.append(module)
    offset = 8                                                          # tlsdesc_data
    h.cpu.write(h.scratch, h.linker.tlsdesc.descriptor(h.proc, module, offset))
    main_tp = h.cpu.fs_base()

    first = h.call(h.scratch)                                           # slow path: allocates
    assert h.slow_paths == 1
    address = (main_tp + first) % 2**64
    assert h.q(address) == 0x1234 and address % 8 == 0
    dtv = h.q(main_tp + 8)
    block = h.q(dtv + 16 * module.tls_module)
    assert block != TLS_DTV_UNALLOCATED and block + offset == address
    assert h.call(h.scratch) == first and h.slow_paths == 1             # fast path: no trap
    h.cpu.write(address, Q.pack(77))

    # a second thread: its own TCB and DTV (a copy of the first's, the slot unallocated)
    area = h.proc.mm.mmap(0, 0x2000, 3, MAP_PRIVATE | MAP_ANONYMOUS)
    tp2, dtv2 = area + 0x800, area + 0x1000 + 16
    h.cpu.write(area + 0x1000, h.cpu.read(dtv - 16, 0x1000 - 16))
    h.cpu.write(dtv2 + 16 * module.tls_module, struct.pack("<QQ", TLS_DTV_UNALLOCATED, 0))
    h.cpu.write(tp2, struct.pack("<QQQ", tp2, dtv2, tp2))
    h.cpu.set_fs_base(tp2)
    try:
        second = h.call(h.scratch)
        assert h.slow_paths == 2
        address2 = (tp2 + second) % 2**64
        assert address2 != address and h.q(address2) == 0x1234          # its own initial copy
        assert h.call(h.scratch) == second and h.slow_paths == 2
    finally:
        h.cpu.set_fs_base(main_tp)
    assert h.q(address) == 77                                           # the first's untouched
    assert h.call(h.scratch) == first and h.slow_paths == 2


def test_a_descriptor_for_an_unknown_module_stops_the_program_as_ld_so_would():
    h = Harness()
    module = copy.copy(h.lib)
    module.tls_offset, module.tls_module = 0, 200                      # in no DTV slot, no object
    h.cpu.write(h.scratch, h.linker.tlsdesc.descriptor(h.proc, module, 0))
    h.proc.call_guest(h.caller, h.scratch)
    assert h.proc.exit is not None and h.proc.exit.code == 127
    assert "module 200" in h.linker.error
