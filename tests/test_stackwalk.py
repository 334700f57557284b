"""The initial process stack under `elfkit load-and-run` against the real kernel's.

fixtures/src/stackwalk.c walks the stack its entry point was handed (argc,
argv, envp, auxv, the strings above them) and prints what it finds; with
STACKWALK_RAW=1 it also prints every address and every auxv value.  Each of
the five variants (glibc dynamic PIE, glibc static, glibc static-pie, musl
static, no libc) runs natively under `setarch x86_64 -R` (ASLR off) and under
elfkit with the same argv and environment, and the outputs are compared line
by line.

elfkit claims the kernel's no-ASLR layout (elfkit/loader/layout.py), so even
the raw addresses must match: entry %rsp, every argv/env string, AT_EXECFN,
AT_PLATFORM, AT_RANDOM, AT_PHDR, AT_ENTRY, AT_BASE (the interpreter of the
PIE), AT_SYSINFO_EHDR (elfkit maps a vDSO where the kernel does) and the
program image range (the PIE and the static-pie placement).

The only values allowed to differ are listed in HOST_SPECIFIC, each with the
reason; elfkit's own value for each is still checked for sanity.  Nothing
else is masked: a mismatch anywhere else fails with the two lines side by
side.

Also here: --argv0, a relative FILE, an empty environment, large argument
and environment areas that span several pages, --show-stack's addresses
against the native raw addresses, and /proc/self/maps as a guest reads it
against the native one (also under setarch -R).
"""
from __future__ import annotations

import ctypes
import os
import re
import subprocess

import pytest

from conftest import ROOT, fixture_path, run_elfkit

VARIANTS = ["stackwalk", "stackwalk-static", "stackwalk-static-pie", "stackwalk-musl",
            "stackwalk-nolibc"]
# LANG=C.UTF-8 keeps Python (elfkit's own process) from coercing the locale; the guest
# must see exactly this environment either way (tests/test_run_native.py checks the coercion
# case and the empty environment is checked below).
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "SW_TEST": "1"}
RAW_ENV = {**ENV, "STACKWALK_RAW": "1"}
ARGS = ["one", "two words", "", "quote\"back\\slash", os.fsdecode(b"\xe9\xff")]

# auxv entries whose values legitimately differ between the host kernel and elfkit.
HOST_SPECIFIC = {
    "AT_MINSIGSTKSZ": "the kernel reports the signal-frame size for the host CPU's XSAVE "
                      "features (e.g. 0x2eb0 with AVX-512); elfkit reports the size of the frame "
                      "it builds for its emulated CPU (elfkit/loader/auxv.py MINSIGSTKSZ)",
    "AT_HWCAP": "CPUID(1).EDX: the host CPU's natively, the emulated CPU's under elfkit "
                "(the guest's CPUID instruction reports the emulated CPU, so that is the "
                "consistent value; elfkit/loader/auxv.py X86_64_HWCAP)",
    "AT_HWCAP2": "kernel-set bits (HWCAP2_RING3MWAIT, HWCAP2_FSGSBASE) depend on the host CPU "
                 "and kernel; elfkit reports FSGSBASE only",
}
EMU_TIMEOUT = 180


def native_no_aslr(path, args, env, argv0=None) -> subprocess.CompletedProcess:
    if argv0 is None:
        cmd = ["setarch", "x86_64", "-R", str(path), *args]
        return subprocess.run(cmd, capture_output=True, env=env, cwd=ROOT, timeout=60)

    # setarch cannot set argv[0]: set ADDR_NO_RANDOMIZE the way it does, in the child.
    def no_aslr():
        libc = ctypes.CDLL(None, use_errno=True)
        libc.personality.restype = ctypes.c_int
        cur = libc.personality(ctypes.c_ulong(0xFFFFFFFF))
        libc.personality(ctypes.c_ulong(cur | 0x0040000))       # ADDR_NO_RANDOMIZE

    return subprocess.run([argv0, *args], executable=str(path), capture_output=True, env=env,
                          cwd=ROOT, timeout=60, preexec_fn=no_aslr)


def emulated(path, args, env, options=()) -> subprocess.CompletedProcess:
    p = run_elfkit("load-and-run", *options, path, *args, env=env, timeout=EMU_TIMEOUT)
    assert b"Traceback" not in p.stderr, p.stderr.decode(errors="replace")
    return p


def ok(p: subprocess.CompletedProcess, what: str) -> list[str]:
    assert p.returncode == 0, f"{what}: status {p.returncode}, stderr {p.stderr!r}"
    return p.stdout.decode("ascii").splitlines()


AUXV_RE = re.compile(r"^auxv\[(\d+)\]: (\d+) (AT_\w+|AT_\?)(.*)$")


def mask_host_specific(lines: list[str]) -> list[str]:
    out = []
    for ln in lines:
        m = AUXV_RE.match(ln)
        if m and m.group(3) in HOST_SPECIFIC:
            ln = re.sub(r" raw=0x[0-9a-f]+", " raw=<host-specific>", ln)
        out.append(ln)
    return out


def auxv_raw(lines: list[str]) -> dict[str, int]:
    vals = {}
    for ln in lines:
        m = AUXV_RE.match(ln)
        if m:
            r = re.search(r" raw=(0x[0-9a-f]+)", ln)
            if r:
                vals[m.group(3)] = int(r.group(1), 16)
    return vals


def explain_mismatch(nat: list[str], emu: list[str]) -> str:
    """Line-by-line report: which item differs, native vs elfkit."""
    rows = []
    for i in range(max(len(nat), len(emu))):
        a = nat[i] if i < len(nat) else "<missing>"
        b = emu[i] if i < len(emu) else "<missing>"
        if a != b:
            rows.append(f"  native: {a}\n  elfkit: {b}")
    return "stackwalk output differs (native under setarch -R vs elfkit):\n" + "\n".join(rows)


def assert_same_walk(nat_lines, emu_lines):
    n, e = mask_host_specific(nat_lines), mask_host_specific(emu_lines)
    assert e == n, explain_mismatch(n, e)


def check_host_specific_values(emu_lines: list[str]):
    """The values allowed to differ must still make sense for the emulated CPU."""
    raw = auxv_raw(emu_lines)
    assert raw.get("AT_MINSIGSTKSZ", 0) >= 2048, raw          # x86 MINSIGSTKSZ
    hwcap = raw.get("AT_HWCAP", 0)
    for bit, name in [(0, "FPU"), (4, "TSC"), (8, "CX8"), (15, "CMOV"), (23, "MMX"),
                      (24, "FXSR"), (25, "SSE"), (26, "SSE2")]:
        assert hwcap & (1 << bit), f"AT_HWCAP {hwcap:#x} lacks {name}, part of the x86-64 baseline"


# -------------------------------------------------------------- the walks ----

@pytest.mark.parametrize("variant", VARIANTS)
def test_plain_walk_same_as_native(variant):
    """Without STACKWALK_RAW nothing host- or address-specific is printed: identical output."""
    path = str(fixture_path(variant))
    nat = ok(native_no_aslr(path, ARGS, ENV), "native")
    emu = ok(emulated(path, ARGS, ENV), "elfkit")
    assert emu == nat, explain_mismatch(nat, emu)
    failed_checks = [ln for ln in emu if re.search(r"=no\b", ln)]
    assert not failed_checks, failed_checks


@pytest.mark.parametrize("variant", VARIANTS)
def test_raw_walk_same_addresses_as_native_no_aslr(variant):
    """Every address (entry sp, strings, image, AT_PHDR/ENTRY/BASE/RANDOM/EXECFN/PLATFORM,
    AT_SYSINFO_EHDR) equals the kernel's with ASLR off; only HOST_SPECIFIC values differ."""
    path = str(fixture_path(variant))
    nat = ok(native_no_aslr(path, ARGS, RAW_ENV), "native")
    emu = ok(emulated(path, ARGS, RAW_ENV), "elfkit")
    assert any(ln.startswith("raw: entry_sp=") for ln in nat)
    assert_same_walk(nat, emu)
    check_host_specific_values(emu)


@pytest.mark.parametrize("variant", VARIANTS)
def test_key_addresses_match_kernel_layout(variant):
    """The layout claims one by one, so that a failure names the item: entry %rsp, the stack
    top strings, AT_PHDR, AT_ENTRY, AT_BASE (interpreter), AT_SYSINFO_EHDR, the image range."""
    path = str(fixture_path(variant))
    nat = ok(native_no_aslr(path, ARGS, RAW_ENV), "native")
    emu = ok(emulated(path, ARGS, RAW_ENV), "elfkit")
    n_aux, e_aux = auxv_raw(nat), auxv_raw(emu)
    problems = []
    for key in ["AT_PHDR", "AT_ENTRY", "AT_BASE", "AT_EXECFN", "AT_PLATFORM", "AT_RANDOM",
                "AT_SYSINFO_EHDR", "AT_PHNUM", "AT_PHENT", "AT_PAGESZ", "AT_FLAGS", "AT_SECURE",
                "AT_UID", "AT_EUID", "AT_GID", "AT_EGID", "AT_CLKTCK"]:
        a, b = n_aux.get(key), e_aux.get(key)
        if a != b:
            problems.append(f"{key}: native {a if a is None else hex(a)}, "
                            f"elfkit {b if b is None else hex(b)}")
    for prefix in ["raw: ", "argv[", "env["]:
        n = [ln for ln in nat if ln.startswith(prefix)]
        e = [ln for ln in emu if ln.startswith(prefix)]
        if n != e:
            problems.append(f"{prefix}... lines: native {n}, elfkit {e}")
    assert not problems, f"{variant}: " + "; ".join(problems)


# A large argument/environment area: several pages of strings.
BIG_ARGS = [f"arg{i:03d}-" + "a" * (997 + i % 13) for i in range(40)]
BIG_ENV = {**RAW_ENV, **{f"BIG{i:02d}": "e" * (1500 + i) for i in range(20)}}


@pytest.mark.parametrize("variant", ["stackwalk", "stackwalk-static"])
def test_raw_walk_large_strings_span_pages(variant):
    path = str(fixture_path(variant))
    nat = ok(native_no_aslr(path, BIG_ARGS, BIG_ENV), "native")
    emu = ok(emulated(path, BIG_ARGS, BIG_ENV), "elfkit")
    assert_same_walk(nat, emu)


@pytest.mark.parametrize("variant", ["stackwalk", "stackwalk-nolibc"])
def test_raw_walk_empty_environment(variant):
    """No environment at all: envc=0, AT_EXECFN right after the argv strings. The guest must
    not see the LC_CTYPE that Python's locale coercion adds to elfkit's own os.environ."""
    path = str(fixture_path(variant))
    nat = ok(native_no_aslr(path, ["x"], {}), "native")
    emu = ok(emulated(path, ["x"], {}), "elfkit")
    assert "envc=0" in nat
    assert_same_walk(nat, emu)


@pytest.mark.parametrize("variant", ["stackwalk", "stackwalk-static-pie"])
def test_argv0_option_same_as_native_execve(variant):
    """--argv0 NAME = execve(FILE, [NAME, ...]): argv[0] is NAME, AT_EXECFN is still FILE,
    and the string area (hence every address) is laid out as the kernel does it."""
    path = str(fixture_path(variant))
    env = {**RAW_ENV}
    nat = ok(native_no_aslr(path, ["x"], env, argv0="custom-name"), "native")
    emu = ok(emulated(path, ["x"], env, options=["--argv0", "custom-name"]), "elfkit")
    assert any(ln.startswith('argv[0]="custom-name"') for ln in nat), nat
    assert any(f'string="{path}"' in ln for ln in nat if "AT_EXECFN" in ln), nat
    assert_same_walk(nat, emu)


@pytest.mark.parametrize("variant", ["stackwalk", "stackwalk-static"])
def test_relative_file_same_as_native(variant):
    """FILE relative to the working directory: argv[0] and AT_EXECFN keep it as given."""
    rel = os.path.relpath(fixture_path(variant), ROOT)
    nat = ok(native_no_aslr(rel, ARGS, RAW_ENV), "native")
    emu = ok(emulated(rel, ARGS, RAW_ENV), "elfkit")
    assert f'argv[0]="{rel}"' in " ".join(nat)
    assert_same_walk(nat, emu)


# ------------------------------------------------------------ --show-stack ----

SHOW_RE = re.compile(r"^(0x[0-9a-f]{16})\s+(\d+)\s+(.*)$")


def test_show_stack_addresses_match_native():
    """--show-stack labels every piece of the initial stack with its address; those addresses
    are the ones the kernel uses (native raw output of stackwalk under setarch -R)."""
    path = str(fixture_path("stackwalk-static"))
    nat = ok(native_no_aslr(path, ARGS, RAW_ENV), "native")
    p = emulated(path, ARGS, RAW_ENV, options=["--show-stack"])
    assert p.returncode == 0, p
    shown = {}
    for ln in p.stderr.decode().splitlines():
        m = SHOW_RE.match(ln)
        if m:
            label = m.group(3).split(":")[0]
            shown[label] = int(m.group(1), 16)
    entry_sp = int(re.search(r"entry_sp=(0x[0-9a-f]+)", "\n".join(nat)).group(1), 16)
    assert shown.get("argc") == entry_sp, (hex(entry_sp), shown)
    for i in range(len(ARGS) + 1):
        addr = int(re.search(rf'^argv\[{i}\]=.* @(0x[0-9a-f]+)$', "\n".join(nat), re.M).group(1), 16)
        assert shown.get(f"argv[{i}] string") == addr, (i, hex(addr), shown)
    for i in range(len(RAW_ENV)):
        addr = int(re.search(rf'^env\[{i}\]=.* @(0x[0-9a-f]+)$', "\n".join(nat), re.M).group(1), 16)
        assert shown.get(f"envp[{i}] string") == addr, (i, hex(addr), shown)
    aux = auxv_raw(nat)
    assert shown.get("execfn string") == aux["AT_EXECFN"]
    assert shown.get("platform string (AT_PLATFORM)") == aux["AT_PLATFORM"]
    assert shown.get("16 random bytes (AT_RANDOM)") == aux["AT_RANDOM"]
    # and the guest ran normally after the listing
    assert_same_walk(nat, ok(p, "elfkit --show-stack"))


# ------------------------------------------------------------ memory map ----

def test_proc_self_maps_same_as_native_no_aslr():
    """A dynamic PIE guest reading /proc/self/maps sees the areas the kernel would create with
    ASLR off: the program, [heap], libc, ld.so, [vvar]/[vvar_vclock]/[vdso], [stack], with the
    same addresses, permissions, offsets, devices and inodes -- and the legacy [vsyscall] line
    (ffffffffff600000) that the kernel lists although it lies outside the user address space.
    No difference is allowed."""
    head = "/usr/bin/head"
    if not os.path.exists(head):
        pytest.skip("no /usr/bin/head")
    args = ["-c", "100000", "/proc/self/maps"]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C"}
    nat = ok(native_no_aslr(head, args, env), "native")
    emu = ok(emulated(head, args, env), "elfkit")
    assert emu == nat, "\n".join(["/proc/self/maps differs:", "native:", *nat, "elfkit:", *emu])
