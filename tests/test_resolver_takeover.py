"""--resolver=elfkit on real glibc programs, against glibc's own lazy resolver.

Each program runs twice in the emulator, once with glibc's ld.so resolving
its lazy PLT calls and once with elfkit's resolver taking GOT[2] over at the
entry point. The output must be the same as a native run, and at exit the
GOT of every object (program, libc, ...) must hold the same value in every
lazy slot under both resolvers: the address glibc's _dl_fixup would have
written, or the untouched PLT address for slots never called. With ASLR off
both runs load every object at the same address, so values compare as they
are.
"""
import os
import struct
import subprocess

import pytest

from conftest import fixture_path, run_elfkit

ENV = {"LANG": "C", "PATH": "/usr/bin:/bin"}


def programs():
    return {
        "hello-pie": [str(fixture_path("hello-pie"))],
        "pltcalls-lazy": [str(fixture_path("pltcalls-lazy"))],
        "ls": ["/bin/ls", "-la", "/work" if os.path.isdir("/work") else "/"],
        "sort": ["/usr/bin/sort", "/etc/passwd"],
        "python3": ["/usr/bin/python3", "-S", "-c", "print(2**100)"],
    }


def run_in_process(argv, resolver):
    from elfkit.kernel.exec import spawn
    from elfkit.linker.attach import exec_linker
    from elfkit.kernel.task import RunLimits
    from elfkit.linker.takeover import read_link_map
    import tempfile
    from elfkit.kernel.fs.files import HostFile
    fd, path = tempfile.mkstemp()
    os.unlink(path)
    proc = spawn(argv[0], [a.encode() for a in argv], [f"{k}={v}".encode() for k, v in ENV.items()],
                 linker=exec_linker(resolver=resolver))
    # the guest's stdout goes to a scratch file, never to this process's fd 1 (xdist's channel)
    proc.files.install_at(1, HostFile(os.dup(fd), "/dev/stdout", 1))
    status = proc.run(RunLimits(timeout_s=120))
    out = os.pread(fd, 1 << 24, 0)
    os.close(fd)
    return proc, status, out, read_link_map(proc)


def lazy_slots(proc, link_map):
    """{(object name, slot offset from base): value - base or raw value} for JUMP_SLOTs."""
    from elfkit.elf import ElfFile
    from elfkit.elf.plt import plt_got_map
    out = {}
    for e in link_map:
        path = e.name or proc.image.program.host_path
        if not os.path.isfile(path):
            continue
        elf = ElfFile.open(path)
        for slot in plt_got_map(elf).slots:
            if not slot.reloc_type.endswith("JUMP_SLOT"):
                continue
            (value,) = struct.unpack("<Q", proc.cpu.read(e.l_addr + slot.got_slot, 8))
            out[(os.path.basename(path), slot.symbol, slot.got_slot)] = value
    return out


@pytest.mark.parametrize("name", sorted(programs()))
def test_elfkit_resolver_writes_what_glibc_writes(name):
    argv = programs()[name]
    native = subprocess.run(argv, capture_output=True, env=ENV, timeout=60)
    sys_proc, sys_status, sys_out, sys_map = run_in_process(argv, "system")
    elf_proc, elf_status, elf_out, elf_map = run_in_process(argv, "elfkit")
    assert sys_out == native.stdout and elf_out == native.stdout
    assert sys_status.code == elf_status.code == native.returncode
    assert elf_proc.linker.taken_over, "no object was lazily bound: nothing was compared"
    assert elf_proc.linker.lazy.bindings, "elfkit's resolver never ran"
    assert [e.l_addr for e in sys_map] == [e.l_addr for e in elf_map]
    want, got = lazy_slots(sys_proc, sys_map), lazy_slots(elf_proc, elf_map)
    assert want, "no lazy slots found to compare"
    assert want.keys() == got.keys()
    differing = {k: (hex(want[k]), hex(got[k])) for k in want if want[k] != got[k]}
    assert not differing, f"{len(differing)} slots differ, e.g. {list(differing.items())[:5]}"


def test_cli_option_runs_a_glibc_program():
    r = run_elfkit("load-and-run", "--resolver=elfkit", "/bin/echo", "resolved by elfkit", env=ENV)
    assert r.returncode == 0 and r.stdout == b"resolved by elfkit\n"
