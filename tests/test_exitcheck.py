"""The exit check at the head of every translated block, rewritten into QEMU's inline test
(elfkit/kernel/exitcheck.py, Cpu._inline_exit_check): it must be on with the pinned Unicorn,
leave a fresh CPU as it was, be refused when it could not see a stop, and every way elfkit stops
a CPU in a tight loop must still work through it (another thread's uc_emu_stop as the ticker's,
--timeout, --max-insns, time slices, a flush of all blocks)."""
from __future__ import annotations

import threading
import time

from conftest import fixture_path, run_elfkit

CODE = 0x400000
LOOP = b"\x48\xff\xc9\x75\xfb\xf4"          # 1: dec rcx; jnz 1b; hlt


def loop_cpu():
    from elfkit.kernel.cpu import Cpu
    cpu = Cpu()
    cpu.map(CODE, 0x1000, 5)
    cpu.write(CODE, LOOP)
    return cpu


def run_stopped_after(cpu, seconds: float, spins: int = 1 << 40) -> float:
    """Run the loop with rcx = spins; another thread calls cpu.stop() (uc_emu_stop, as the
    ticker does) after `seconds` and every millisecond after that until the run returns.
    The run's wall time."""
    done = threading.Event()

    def stopper():
        if done.wait(seconds):
            return
        while not done.wait(0.001):
            cpu.stop()
    cpu.set_reg("rcx", spins)
    thread = threading.Thread(target=stopper, daemon=True)
    thread.start()
    t = time.monotonic()
    try:
        cpu.run(CODE)
    finally:
        done.set()
        thread.join()
    return time.monotonic() - t


def test_a_fresh_cpu_has_it_and_its_registers_are_untouched(monkeypatch):
    from elfkit.kernel.cpu import Cpu
    cpu = Cpu()
    assert cpu._exit_check is not None
    monkeypatch.setenv("ELFKIT_EXIT_CHECK", "call")
    plain = Cpu()
    assert plain._exit_check is None
    names = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rip", "eflags")
    assert [cpu.reg(n) for n in names] == [plain.reg(n) for n in names]


def test_a_tight_loop_is_rewritten_and_stops_from_another_thread():
    cpu = loop_cpu()
    check = cpu._exit_check
    before = check.passes
    run_stopped_after(cpu, 0.05)                # translated in this run: Unicorn's call
    assert cpu.pc() == CODE and 0 < cpu.reg("rcx") < 1 << 40
    took = run_stopped_after(cpu, 0.05)         # rewritten before this one
    assert check.passes > before
    assert cpu.pc() == CODE and 0 < cpu.reg("rcx") < 1 << 40
    assert took < 5, f"the stop took {took:.1f} s to be seen"
    # the block's head is the inline test now
    from elfkit.kernel import exitcheck
    import ctypes
    code = ctypes.string_at(check.buffer, check.code_gen_ptr.value - check.buffer)
    assert exitcheck.TEST + b"\x7d" in code


def test_the_loop_finishes_when_nothing_stops_it():
    cpu = loop_cpu()
    run_stopped_after(cpu, 0.05)
    cpu.set_reg("rcx", 1000)
    cpu.run(CODE)                               # to the hlt: Unicorn ends the run there
    assert cpu.reg("rcx") == 0 and cpu.pc() == CODE + len(LOOP)


def test_blocks_translated_after_a_flush_are_rewritten_again():
    cpu = loop_cpu()
    run_stopped_after(cpu, 0.02)
    cpu.flush_all_translations()
    run_stopped_after(cpu, 0.02)                # translated anew (Unicorn's call), then
    passes = cpu._exit_check.passes
    run_stopped_after(cpu, 0.02)                # rewritten before this run
    assert cpu._exit_check.passes > passes
    assert cpu.pc() == CODE


def test_a_test_that_cannot_see_a_stop_is_refused(monkeypatch):
    """The probe at start-up: a test that reads the wrong word never sees uc_emu_stop, so the
    rewrite is refused (the calls stay) and the CPU still stops as before."""
    from elfkit.kernel import exitcheck
    monkeypatch.setattr(exitcheck, "TEST", b"\x83\x7d\xf4\x00")     # cmpl $0,-12(%rbp): padding
    cpu = loop_cpu()
    assert cpu._exit_check is None
    assert run_stopped_after(cpu, 0.02) < 5 and cpu.pc() == CODE


def test_a_second_cpu_made_in_its_own_thread_has_it_too():
    """A secondary CPU is made by its own thread (smp.Machine.add_cpu): its uc_struct comes from
    that thread's malloc arena, often within 2 GiB of its code buffer (TCG then loads it with a
    rip-relative lea), and its buffer lies below the first one's, often more than 2 GiB from
    libunicorn (helper calls through a constant): the probe passed with whichever forms."""
    from elfkit.kernel.smp import Machine
    machine = Machine(2)
    thread = threading.Thread(target=machine.add_cpu)
    thread.start()
    thread.join()
    assert [cpu._exit_check is not None for cpu in machine.cpus] == [True, True]


def test_fast_paths_name_it():
    from elfkit.kernel.cpu import fast_paths
    assert ("inline exit check", True) in [(name, on) for name, _, on, _ in fast_paths()]


def test_timeout_stops_a_tight_loop():
    t = time.monotonic()
    p = run_elfkit("load-and-run", "--timeout", "1", fixture_path("aluloop"), "100000000000",
                   timeout=120)
    assert p.returncode == 124, p
    assert b"stopped after the 1 s timeout" in p.stderr
    assert time.monotonic() - t < 30


def test_max_insns_stops_a_tight_loop_exactly():
    p = run_elfkit("load-and-run", "--max-insns", "2000000", fixture_path("aluloop"),
                   "100000000000", timeout=120)
    assert p.returncode == 124, p
    assert b"stopped after 2000000 instructions" in p.stderr


def test_two_tight_loops_share_one_cpu():
    """Time slices end a tight loop (the ticker's stop, seen by the rewritten test), so two
    processes on one CPU both get through."""
    loop = fixture_path("aluloop").relative_to(fixture_path("aluloop").parents[2])
    p = run_elfkit("load-and-run", "--cpus", "1", "/bin/sh", "-c",
                   f"{loop} 30000000 & {loop} 30000000; wait", timeout=300)
    assert p.returncode == 0, p
    assert p.stdout.count(b"aluloop: n=30000000 x=0x") == 2, p.stdout
