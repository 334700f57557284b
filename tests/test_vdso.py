"""The vDSO elfkit maps (elfkit.loader.vdso) against the kernel's own.

The kernel's is this test process's own [vdso], read from /proc/self/mem: the vDSO of the
kernel whose release elfkit's uname reports. elfkit's is dumped from guest memory with
`load-and-run --dump-vdso`. readelf reads both. fixtures/src/vdsowalk.c walks it from
AT_SYSINFO_EHDR and calls the functions glibc takes from it, natively and under elfkit.
(trace-plt's vDSO bindings against LD_DEBUG=bindings: tests/test_trace_plt.py.)
"""
import os
import re
import subprocess

import pytest

from conftest import fixture_path, run_elfkit

ENV = {"LANG": "C", "PATH": "/usr/bin:/bin"}


def kernel_vdso(tmp_path):
    with open("/proc/self/auxv", "rb") as f:
        auxv = f.read()
    words = [int.from_bytes(auxv[i:i + 8], "little") for i in range(0, len(auxv), 8)]
    base = dict(zip(words[::2], words[1::2]))[33]          # AT_SYSINFO_EHDR
    with open("/proc/self/maps") as f:
        lo, hi = next((int(a, 16), int(b, 16)) for a, b in
                      (line.split()[0].split("-") for line in f) if int(a, 16) == base)
    with open("/proc/self/mem", "rb", buffering=0) as mem:
        mem.seek(lo)
        data = mem.read(hi - lo)
    path = tmp_path / "kernel-vdso.so"
    path.write_bytes(data)
    return path


def elfkit_vdso(tmp_path):
    path = tmp_path / "elfkit-vdso.so"
    r = run_elfkit("load-and-run", "--dump-vdso", str(path), "/bin/true", env=ENV)
    assert r.returncode == 0, r.stderr
    return path


def readelf(*args):
    r = subprocess.run(["readelf", "-W", *args], capture_output=True, text=True, check=True)
    return r.stdout


def dynsym(path):
    """[(name@version, type, bind, ndx)] in table order; ndx only as UND/ABS/defined."""
    rows = []
    for line in readelf("--dyn-syms", str(path)).splitlines():
        f = line.split()
        if len(f) == 8 and f[0].rstrip(":").isdigit():
            ndx = f[6] if f[6] in ("UND", "ABS") else "defined"
            rows.append((f[7], f[3], f[4], ndx))
    return rows


def section_names(path):
    return re.findall(r"^\s*\[\s*\d+\]\s+(\S*)\s+[A-Z_]+\s", readelf("-S", str(path)), re.M)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vdso")
    return kernel_vdso(tmp), elfkit_vdso(tmp)


def test_same_symbols_versions_and_order(both):
    kernel, mine = both
    assert dynsym(kernel) and dynsym(mine) == dynsym(kernel)


def test_same_version_definitions(both):
    kernel, mine = both
    strip = lambda t: re.sub(r"(Addr|Offset): 0x[0-9a-f]+", "", t)      # noqa: E731
    assert "LINUX_2.6" in readelf("-V", str(kernel))
    assert strip(readelf("-V", str(mine))) == strip(readelf("-V", str(kernel)))


def test_same_section_names_and_segment_types(both):
    kernel, mine = both
    assert section_names(mine) == section_names(kernel)
    types = lambda p: re.findall(r"^\s+([A-Z_]+)\s+0x", readelf("-l", str(p)), re.M)  # noqa: E731
    assert types(mine) == types(kernel)


def test_same_dynamic_tags(both):
    kernel, mine = both
    tags = lambda p: re.findall(r"^\s*0x[0-9a-f]+ \((\w+)\)", readelf("-d", str(p)), re.M)  # noqa: E731
    assert tags(mine) == tags(kernel)


def test_notes_carry_the_reported_kernel_version(both):
    kernel, mine = both
    owners = lambda p: re.findall(r"^\s+(Linux|GNU)\s+0x", readelf("-n", str(p)), re.M)  # noqa: E731
    assert owners(mine) == owners(kernel)
    a, b, c = (int(x) for x in re.match(r"(\d+)\.(\d+)\.(\d+)", os.uname().release).groups())
    code = (a << 16) + (b << 8) + min(c, 255)
    data = " ".join(f"{x:02x}" for x in code.to_bytes(4, "little"))
    assert f"description data: {data}" in readelf("-n", str(mine))
    assert f"description data: {data}" in readelf("-n", str(kernel))


def test_call_frame_information_covers_every_function(both):
    """Unwinders (gdb, libgcc) find an FDE for each exported function, as in the kernel's."""
    _, mine = both
    frames = readelf("--debug-dump=frames", str(mine))
    ranges = [(int(a, 16), int(b, 16)) for a, b in re.findall(r"pc=([0-9a-f]+)\.\.([0-9a-f]+)", frames)]
    for line in readelf("--dyn-syms", str(mine)).splitlines():
        f = line.split()
        if len(f) == 8 and f[3] == "FUNC":
            value = int(f[1], 16)
            assert any(lo <= value < hi for lo, hi in ranges), f[7]


@pytest.mark.parametrize("name", ["vdsowalk", "vdsowalk-static"])
@pytest.mark.parametrize("mode", [None, "seccomp", "getrandom"])
def test_walk_and_calls_as_natively(name, mode):
    prog = str(fixture_path(name))
    args = [mode] if mode else []
    native = subprocess.run([prog, *args], capture_output=True, env=ENV, timeout=60)
    assert native.returncode == 0, native.stderr
    mine = run_elfkit("load-and-run", prog, *args, env=ENV)
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout.decode() == native.stdout.decode()


def test_vdso_calls_are_not_system_calls_to_strace():
    """Natively strace shows no clock_gettime for a program that reads the time through the
    vDSO; elfkit's --strace neither, and the program's own system calls are all there."""
    prog = str(fixture_path("vdsowalk-static"))
    native = subprocess.run(["strace", "-f", "-qq", prog], capture_output=True, text=True,
                            env=ENV, timeout=60)
    mine = run_elfkit("load-and-run", "--strace", prog, env=ENV)
    assert native.returncode == 0 and mine.returncode == 0
    calls = lambda text: [m for m in re.findall(r"^(\w+)\(", text, re.M)]   # noqa: E731
    vdso = {"clock_gettime", "gettimeofday", "time", "getcpu", "clock_getres"}
    assert [c for c in calls(native.stderr) if c in vdso] == []
    assert [c for c in calls(mine.stderr.decode()) if c in vdso] == []
    assert "uname" in calls(mine.stderr.decode()) and "uname" in calls(native.stderr)


def test_dump_vdso_does_not_overwrite_the_program(tmp_path):
    prog = tmp_path / "prog"
    prog.write_bytes(fixture_path("vdsowalk-static").read_bytes())
    prog.chmod(0o755)
    before = prog.read_bytes()
    r = run_elfkit("load-and-run", "--dump-vdso", str(prog), str(prog), env=ENV)
    assert r.returncode == 2
    assert "would overwrite the program" in r.stderr.decode()
    assert prog.read_bytes() == before


def test_clock_code_is_its_source(tmp_path):
    """The vDSO's clock functions are the bytes `as` makes of VCLOCK_SOURCE."""
    import shutil

    from elfkit.loader import vdso
    if shutil.which("as") is None or shutil.which("objcopy") is None:
        pytest.skip("no binutils")
    src = tmp_path / "vclock.s"
    src.write_text(vdso.VCLOCK_SOURCE)
    subprocess.run(["as", "--64", "-o", str(tmp_path / "v.o"), str(src)], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(tmp_path / "v.o"),
                    str(tmp_path / "v.bin")], check=True)
    assert (tmp_path / "v.bin").read_bytes() == vdso.VCLOCK
    symbols = subprocess.run(["nm", str(tmp_path / "v.o")], capture_output=True, text=True).stdout
    starts = {f[2]: int(f[0], 16) for f in (line.split() for line in symbols.splitlines())
              if len(f) == 3 and f[1] == "T"}
    assert starts == {name: at for name, (at, _size) in vdso.VCLOCK_FUNCS.items()}


def test_time_reads_stay_in_the_emulated_cpu():
    """clock_gettime, gettimeofday and time read [vvar] and the TSC, as the kernel's vDSO does:
    300,000 of each (after a 150 ms sleep, so the TSC's rate is known) make at most a handful
    of system calls from the vDSO, counted by elfkit's own dispatcher."""
    import sys
    code = (
        "import sys\n"
        "import elfkit.kernel.syscalls as s\n"
        "n = [0]\n"
        "real = s._from_vdso\n"
        "def counted(proc, rip):\n"
        "    r = real(proc, rip)\n"
        "    n[0] += r\n"
        "    return r\n"
        "s._from_vdso = counted\n"
        "from elfkit.cli.main import cli\n"
        "try:\n"
        "    cli(['load-and-run', '--strace-output', '/dev/null', sys.argv[1], 'clocks', '300000'])\n"
        "except SystemExit as e:\n"
        "    print('vdso system calls', n[0], 'status', e.code, file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", code, str(fixture_path("vdsowalk-static"))],
                       capture_output=True, text=True, env={**ENV, "PYTHONPATH": os.getcwd()},
                       timeout=300)
    assert "went back 0" in r.stdout, r
    m = re.search(r"vdso system calls (\d+) status (\S+)", r.stderr)
    assert m and m.group(2) in ("0", "None"), r.stderr
    assert int(m.group(1)) <= 10, f"{m.group(1)} system calls from the vDSO for 1.2M time reads"


@pytest.mark.parametrize("name", ["vdsowalk", "vdsowalk-static"])
def test_clocks_monotonic_and_the_host_s(name):
    """The guest's CLOCK_REALTIME and CLOCK_MONOTONIC read through the vDSO lie between the
    host's readings before and after the run, and never went back during 200,000 reads."""
    import time
    before_real, before_mono = time.time_ns(), time.monotonic_ns()
    r = run_elfkit("load-and-run", str(fixture_path(name)), "clocks", "200000", env=ENV)
    after_real, after_mono = time.time_ns(), time.monotonic_ns()
    out = r.stdout.decode()
    assert r.returncode == 0 and "went back 0" in out, r
    real, mono = (int(x) for x in re.search(r"realtime (\d+) monotonic (\d+)", out).groups())
    assert before_real <= real <= after_real
    assert before_mono <= mono <= after_mono
