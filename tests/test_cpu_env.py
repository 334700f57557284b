"""The syscall hook's registers in CPUX86State itself (elfkit/kernel/cpu.py: Cpu._find_env).

Unicorn 2.1's uc_context_save and uc_context_restore are a memcpy of env for x86, and in the
syscall hook env holds every guest register; so elfkit's in-hook thread switch copies env to
and from the saved contexts, and a system call's result is stored into env's regs[], with no
ctypes call. These tests hold that to Unicorn's own calls, and run threaded programs both ways
(ELFKIT_EXIT_CHECK=call leaves env unknown: everything then goes through Unicorn) against
their native output.
"""
from __future__ import annotations

import ctypes
import os
import subprocess

import pytest

from conftest import fixture_path, run_elfkit
from elfkit.kernel.cpu import Cpu

NAMES = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
         "r12", "r13", "r14", "r15", "rip", "eflags", "fs_base")


def busy_cpu() -> Cpu:
    """A CPU whose registers all differ, and whose flags came from a subtraction."""
    cpu = Cpu()
    for i, name in enumerate(NAMES[:16]):
        cpu.set_reg(name, 0x1111_0000_0000 * (i + 1) + i)
    cpu._probe(b"\x48\x29\xc8")                     # sub rax, rcx
    cpu.set_fs_base(0x7F00_DEAD_0000)
    return cpu


def context_data(cpu: Cpu, ctx) -> bytes:
    header = cpu._context_at["rax"]
    return ctypes.string_at(ctypes.cast(ctx.context, ctypes.c_void_p).value + header,
                            ctx.size - header)


def test_env_is_found_with_the_pinned_unicorn():
    cpu = Cpu()
    at = cpu._context_at
    assert cpu._env_mem is not None
    assert tuple(at[n] - at["rax"] for n in ("rip", "rax", "rcx", "r11")) == (128, 0, 8, 88)


def test_a_context_copied_from_env_is_uc_context_save_s():
    cpu = busy_cpu()
    theirs = cpu.uc.context_save()
    mine = cpu.save_in_hook(cpu.uc.context_save(), cpu.pc())   # (rip as it is: same bytes)
    assert context_data(cpu, mine) == context_data(cpu, theirs)
    # and the return address goes into it, as context_set would put it
    mine = cpu.save_in_hook(mine, 0x401234)
    other = cpu.uc.context_save()
    cpu.context_set(other, 0x401234)
    assert context_data(cpu, mine) == context_data(cpu, other)


def test_resuming_from_a_context_loads_every_register():
    cpu = busy_cpu()
    ctx = cpu.uc.context_save()
    want = {n: cpu.reg(n) for n in NAMES}
    for name in NAMES[:16]:
        cpu.set_reg(name, 0)                      # what the other thread left
    cpu.set_fs_base(0)
    cpu.resume_in_hook(ctx, 0x402000, -4, 0x402002, 0x246)
    got = {n: cpu.reg(n) for n in NAMES}
    want.update(rip=0x402000, rax=(-4) & 0xFFFFFFFFFFFFFFFF, rcx=0x402002, r11=0x246)
    assert got == want


@pytest.mark.parametrize("exit_check", ["", "call"])
@pytest.mark.parametrize("fixture,args", [("futexpingpong", ["3000"]), ("pthread", []),
                                          ("threadspawn", ["200"])])
def test_threads_run_as_natively_through_env_and_through_unicorn(fixture, args, exit_check):
    exe = fixture_path(fixture)
    native = subprocess.run([exe, *args], capture_output=True, timeout=120)
    env = dict(os.environ)
    env.pop("ELFKIT_EXIT_CHECK", None)
    if exit_check:
        env["ELFKIT_EXIT_CHECK"] = exit_check
    p = run_elfkit("load-and-run", exe, *args, env=env, timeout=300)
    assert (p.returncode, p.stdout, p.stderr) == (native.returncode, native.stdout, b"")

