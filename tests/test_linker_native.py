"""elfkit's own dynamic linker (--linker=elfkit) against glibc's ld.so, on the fixtures built for it.

1. Every program in fixtures/build/linker prints the same and exits the same natively, under
   --linker=system (glibc's ld.so in the emulator) and under --linker=elfkit; the LD_PRELOAD
   fixture also with its preload library.
2. At the entry point and again at exit, every GOT word of every object (.got and .got.plt)
   holds the same value under both linkers, compared relative to the base of the object the
   value points into (the two linkers place libraries at different addresses: ld.so itself
   occupies the top of the mmap area under --linker=system). Normalisation: GOT[1] and GOT[2]
   of .got.plt are skipped -- by design they hold each linker's own object handle and resolver
   address (glibc: its link_map and _dl_runtime_resolve; elfkit: an id and its trap) -- and so
   is the first word of each TLS descriptor (R_X86_64_TLSDESC), the linker's own descriptor
   function (glibc: _dl_tlsdesc_return in ld.so; elfkit: its code page); the second word, the
   argument, is compared (tests/test_linker_tlsdesc.py checks the functions).
3. Slots never called still point into their PLT stub at exit.
"""
import os
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, run_elfkit

LINKER_DIR = FIXTURES / "linker"
ENV = {"LANG": "C", "PATH": "/usr/bin:/bin"}


def programs():
    if not LINKER_DIR.is_dir():
        return []
    out = []
    for p in sorted(LINKER_DIR.iterdir()):
        if p.name.startswith("lib") or not p.is_file() or not os.access(p, os.X_OK):
            continue
        with open(p, "rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        out.append(p)
    return out


def extra_env(prog: Path) -> dict:
    if prog.name == "preload":
        return {"LD_PRELOAD": str(LINKER_DIR / "libpreload.so")}
    return {}


def test_there_are_linker_fixtures():
    names = {p.name for p in programs()}
    assert {"calls-lazy", "tls-gd", "tls-ie", "ifunc-lazy", "copyreloc", "weak", "ver-old",
            "ver-new", "preload", "relr"} <= names, names


@pytest.mark.parametrize("prog", programs(), ids=lambda p: p.name)
def test_same_output_natively_and_under_both_linkers(prog):
    env = {**ENV, **extra_env(prog)}
    native = subprocess.run([str(prog)], capture_output=True, env=env, cwd=ROOT, timeout=60)
    for linker in ("system", "elfkit"):
        r = run_elfkit("load-and-run", f"--linker={linker}", prog, env=env)
        assert b"Traceback" not in r.stderr
        assert r.stdout == native.stdout, f"--linker={linker}: {r.stdout!r} vs {native.stdout!r}"
        assert r.returncode == native.returncode, (linker, r.stderr)


# --- GOT snapshots ------------------------------------------------------------------------------

def objects_of(proc, linker):
    """[(name, base, host path)] of the loaded objects."""
    if linker == "elfkit":
        return [(os.path.basename(d.path), d.base, d.host_path) for d in proc.linker.dsos]
    from elfkit.linker.takeover import read_link_map
    out = []
    for e in read_link_map(proc):
        path = e.name or proc.image.program.host_path
        if os.path.isfile(path):
            out.append((os.path.basename(path), e.l_addr, path))
    return out


def describe(value, objects, extents):
    """A GOT word, relative to the object it points into (or as is)."""
    for name, base, _ in objects:
        lo, hi = extents[name]
        if base + lo <= value < base + hi:
            return (name, value - base)
    return ("absolute", value)


def got_snapshot(proc, linker):
    from elfkit.elf import ElfFile
    from elfkit.elf.constants import R_X86_64
    objects = objects_of(proc, linker)
    extents, elves = {}, {}
    for name, base, path in objects:
        elf = ElfFile.open(path)
        elves[name] = elf
        loads = elf.load_segments
        extents[name] = (min(s.vaddr for s in loads), max(s.vaddr + s.memsz for s in loads))
    snap = {}
    for name, base, path in objects:
        if name.startswith("ld-linux"):
            continue                                  # only under the system linker
        descriptor_functions = {off for t in elves[name].relocation_tables if t.kind == "RELA"
                                for off, info, _ in t.entries
                                if info & 0xFFFFFFFF == R_X86_64.TLSDESC}
        for sec in elves[name].sections:
            if sec.name not in (".got", ".got.plt"):
                continue
            for i in range(sec.size // 8):
                if sec.name == ".got.plt" and i in (1, 2):
                    continue                          # each linker's handle and resolver
                if sec.addr + 8 * i in descriptor_functions:
                    continue                          # each linker's TLSDESC function
                (value,) = struct.unpack("<Q", proc.cpu.read(base + sec.addr + 8 * i, 8))
                snap[(name, sec.name, i)] = describe(value, objects, extents)
    return snap


def run_with_snapshots(prog: Path, linker: str):
    from elfkit.kernel.exec import spawn
    from elfkit.linker.attach import exec_linker
    from elfkit.kernel.task import RunLimits
    env = {**ENV, **extra_env(prog)}
    snaps = {}
    proc = spawn(str(prog), [str(prog).encode()], [f"{k}={v}".encode() for k, v in env.items()],
                 linker=exec_linker(linker))
    quiet_stdout(proc)
    proc.cpu.add_breakpoint(proc.image.program_entry,
                            lambda: snaps.setdefault("entry", got_snapshot(proc, linker)))
    proc.run(RunLimits(timeout_s=60))
    snaps["exit"] = got_snapshot(proc, linker)
    return proc, snaps


def quiet_stdout(proc):
    """The guest's fd 1 to a scratch file (never this process's own stdout: xdist uses it)."""
    import tempfile
    from elfkit.kernel.fs.files import HostFile
    fd, path = tempfile.mkstemp()
    os.unlink(path)
    proc.files.install_at(1, HostFile(fd, "/dev/stdout", 1))
    return fd


@pytest.mark.parametrize("prog", programs(), ids=lambda p: p.name)
def test_got_same_under_both_linkers_at_entry_and_exit(prog):
    _, system = run_with_snapshots(prog, "system")
    elfkit_proc, elfkit = run_with_snapshots(prog, "elfkit")
    for when in ("entry", "exit"):
        want, got = system[when], elfkit[when]
        assert want, f"no GOT words found at {when}"
        assert want.keys() == got.keys(), (when, sorted(set(want) ^ set(got))[:5])
        diff = {k: (want[k], got[k]) for k in want if want[k] != got[k]}
        assert not diff, f"{when}: {len(diff)} GOT words differ, e.g. {list(diff.items())[:4]}"


def test_uncalled_slot_still_points_into_its_plt_stub():
    from elfkit.elf.plt import plt_got_map
    prog = LINKER_DIR / "calls-lazy"
    proc, snaps = run_with_snapshots(prog, "elfkit")
    lib = next(d for d in proc.linker.dsos if d.path.endswith("libcount.so") or d.name == "libcount.so")
    for dso in proc.linker.dsos:
        for slot in plt_got_map(dso.elf).slots:
            if slot.symbol == "count_cold":
                (value,) = struct.unpack("<Q", proc.cpu.read(dso.base + slot.got_slot, 8))
                assert value == dso.base + slot.initial, hex(value)
                return
    pytest.fail(f"no PLT slot for count_cold in {proc.linker.dsos} ({lib})")


def test_destructors_run_in_glibcs_order():
    """_dl_fini's order: the same source linked against glibc (special/initfini-glibc, run
    natively) prints the destructors glibc runs; `initfini` with RT0_CALL_FINI=1 calls the exit
    function elfkit's linker hands _start in %rdx. Normalisation: the rt0 build alone prints
    `main: rdx_fini=set` (glibc's start code has no such line)."""
    glibc = subprocess.run([str(LINKER_DIR / "special" / "initfini-glibc")], capture_output=True,
                           env=ENV, timeout=60)
    assert glibc.returncode == 0
    r = run_elfkit("load-and-run", "--linker=elfkit", "--env", "RT0_CALL_FINI=1",
                   LINKER_DIR / "initfini", env=ENV)
    assert r.returncode == 0, r.stderr
    got = [ln for ln in r.stdout.decode().splitlines() if ln != "main: rdx_fini=set"]
    assert got == glibc.stdout.decode().splitlines()


def test_elfkit_provides_tls_get_addr_itself():
    """special/tls-gd-ldso takes __tls_get_addr from ld.so (glibc's ld.so cannot load it without
    libc); elfkit's linker defines it and gives what tls-gd prints natively, name aside."""
    want = subprocess.run([str(LINKER_DIR / "tls-gd")], capture_output=True, env=ENV, timeout=60)
    r = run_elfkit("load-and-run", "--linker=elfkit", LINKER_DIR / "special" / "tls-gd-ldso", env=ENV)
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace(b"tls-gd-ldso", b"tls-gd") == want.stdout
    # and it really was elfkit's: ld.so is not loaded as a library, the trap runs
    from elfkit.kernel.exec import spawn
    from elfkit.linker.attach import exec_linker
    from elfkit.kernel.task import RunLimits
    proc = spawn(str(LINKER_DIR / "special" / "tls-gd-ldso"), [b"tls-gd-ldso"], [], linker=exec_linker("elfkit"))
    quiet_stdout(proc)
    assert not any("ld-linux" in d.path for d in proc.linker.dsos)
    hits = []
    handler = proc.cpu.pages.traps[proc.linker.tls_get_addr_trap]
    proc.cpu.pages.traps[proc.linker.tls_get_addr_trap] = lambda: (hits.append(1), handler())
    assert proc.run(RunLimits(timeout_s=60)).code == 0
    assert hits


def test_glibc_programs_are_refused_with_a_pointer_to_the_resolver_mode():
    from conftest import fixture_path
    r = run_elfkit("load-and-run", "--linker=elfkit", fixture_path("hello-pie"), env=ENV)
    assert r.returncode == 127 and r.stdout == b""
    line = r.stderr.decode().strip()
    assert "\n" not in line and "libc.so.6" in line and "--resolver=elfkit" in line


def test_ld_bind_now_binds_every_slot_at_start_up():
    from elfkit.elf.plt import plt_got_map
    prog = LINKER_DIR / "calls-lazy"
    lazy_proc, lazy = run_with_snapshots(prog, "elfkit")
    now_env = {**ENV, "LD_BIND_NOW": "1"}
    from elfkit.kernel.exec import spawn
    from elfkit.linker.attach import exec_linker
    from elfkit.kernel.task import RunLimits
    proc = spawn(str(prog), [str(prog).encode()], [f"{k}={v}".encode() for k, v in now_env.items()],
                 linker=exec_linker("elfkit"))
    quiet_stdout(proc)
    main = proc.linker.dsos[0]
    for slot in plt_got_map(main.elf).slots:
        (value,) = struct.unpack("<Q", proc.cpu.read(main.base + slot.got_slot, 8))
        assert value != main.base + slot.initial, f"{slot.symbol} still lazy under LD_BIND_NOW"
    assert proc.run(RunLimits(timeout_s=60)).code == 0
    assert not proc.linker.lazy.bindings
