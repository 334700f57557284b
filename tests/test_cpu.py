"""The emulated CPU (elfkit/kernel/cpu.py) on hand-assembled code: the two Unicorn settings that
make guest code fast must not change what the guest or elfkit's handlers see.

- Unicorn 2.1 normally calls check_exit_request after every guest load, store and code hook;
  elfkit switches that off (the flag is found in Unicorn's own machine code). These tests
  check the switch is found on the installed Unicorn and has its effect, that faults are still
  precise to the instruction, and that --max-insns' exact mode puts the check back.
- Unicorn's instruction counter (uc_struct.emu_counter, also found at run time) is read
  after each run so --max-insns holds across CPU restarts.
- elfkit's traps are int3 on a page of its own: a handler's new %rip takes effect at once.
"""
from __future__ import annotations

import pytest

from elfkit.kernel.cpu import TRAP_PAGE, Cpu

CODE = 0x400000
DATA = 0x600000
INC_RAX = b"\x48\xff\xc0"


def jmp_abs(target: int) -> bytes:
    """movabs r11, target; jmp r11"""
    return b"\x49\xbb" + target.to_bytes(8, "little") + b"\x41\xff\xe3"


def cpu_with(code: bytes) -> tuple[Cpu, list]:
    """A CPU with `code` at CODE, a data page at DATA, and a trap (returned address in
    stops[0]) that stops the CPU and records %rax."""
    cpu = Cpu()
    cpu.hook_faults()
    cpu.map(CODE, 0x2000, 5)
    cpu.map(DATA, 0x1000, 3)
    seen = []
    end = cpu.add_trap(0x80, lambda: (seen.append(cpu.reg("rax")), cpu.stop()))
    cpu.write(CODE, code.replace(b"END_TRAP", jmp_abs(end)))
    cpu.set_reg("rax", 0)
    return cpu, seen


def test_exit_check_switch_is_found():
    """If this fails, the installed Unicorn's check_exit_request no longer starts the way
    cpu._no_exit_request reads it: the speed-up is off (correctness is not affected)."""
    cpu = Cpu()
    assert cpu._no_exit_request is not None
    assert cpu._no_exit_request.value == 1
    assert cpu.exact_stops is False
    assert cpu._emu_counter is not None


def test_registers_in_batches():
    """read_regs/write_regs (one uc_reg_*_batch call) agree with Unicorn's own reg_read,
    including 128-bit XMM registers and 16-bit FPU words."""
    from elfkit.kernel.cpu import REG
    cpu = Cpu()
    cpu.set_regs(rax=5, rbx=-1, rip=0x401000)
    assert [cpu.uc.reg_read(REG[n]) for n in ("rax", "rbx", "rip")] == \
        [5, 0xFFFFFFFFFFFFFFFF, 0x401000]
    state = [(i + 1) << 100 | i for i in range(16)] + [0x1FA0, 0x27F, 0]
    cpu.set_fp_state(state)
    assert cpu.uc.reg_read(REG["xmm7"]) == 8 << 100 | 7
    assert cpu.uc.reg_read(REG["mxcsr"]) == 0x1FA0 and cpu.uc.reg_read(REG["fpcw"]) == 0x27F
    assert cpu.fp_state() == state


@pytest.mark.parametrize("exact", [True, False])
def test_instruction_count_stop(exact):
    """Unicorn's instruction counter (--max-insns) stops from a code hook: exact mode stops
    right after instruction N; the fast mode runs on to the end of the translated block,
    which shows the switch really removes the check."""
    cpu, _ = cpu_with(INC_RAX * 100 + b"END_TRAP")
    cpu.set_exact_stops(exact)
    cpu.run(CODE, count=37)
    # insns_run(), which carries --max-insns across restarts, is what ran: with exact stops
    # 37 (the counting hook also saw the 38th, which stopped it); without, the whole block
    # (100 inc, movabs, jmp) ran before the stop landed
    if exact:
        assert (cpu.reg("rax"), cpu.insns_run()) == (37, 37)
    else:
        assert (cpu.reg("rax"), cpu.insns_run()) == (100, 102)


def test_fault_is_precise_inside_a_block():
    """A store to an unmapped page in the middle of a block: the instructions before it ran,
    none after it, and %rip is the faulting instruction (no exit checks needed for that)."""
    store = b"\xc6\x04\x25" + (0x700000).to_bytes(4, "little") + b"\x01"     # mov byte [0x700000], 1
    good = b"\xc6\x04\x25" + DATA.to_bytes(4, "little") + b"\x01"            # mov byte [DATA], 1
    code = good + INC_RAX * 3 + store + INC_RAX * 5 + b"END_TRAP"
    cpu, seen = cpu_with(code)
    cpu.run(CODE)
    assert cpu.interrupt == 14
    assert cpu.fault.address == 0x700000
    assert cpu.reg("rax") == 3
    assert cpu.pc() == CODE + len(good) + 3 * len(INC_RAX)
    assert cpu.read(DATA, 1) == b"\x01"
    assert seen == []


def test_trap_handler_moves_rip_at_once():
    """A trap whose handler sends the CPU elsewhere: nothing after the trap address runs."""
    landing = CODE + 0x1000
    cpu, seen = cpu_with(b"")
    moved = cpu.add_trap(0x90, lambda: cpu.set_reg("rip", landing))
    cpu.write(CODE, INC_RAX + jmp_abs(moved))
    end = TRAP_PAGE + 0x80
    cpu.write(landing, INC_RAX * 2 + jmp_abs(end))
    cpu.run(CODE)
    assert seen == [3]


def test_a_trap_handler_that_raises_is_elfkits_error_not_the_guests():
    """A bug in a trap handler stops the CPU and is kept for the run loop to report as an
    internal error; the guest does not see a SIGTRAP it might handle."""
    cpu, seen = cpu_with(b"")

    def broken():
        raise KeyError("boom")
    bad = cpu.add_trap(0x10, broken)
    cpu.write(CODE, jmp_abs(bad))
    cpu.run(CODE)
    assert isinstance(cpu.trap_error, KeyError)
    assert cpu.interrupt is None and seen == []


def test_a_code_hook_that_raises_is_kept_not_printed(capfd):
    """A bug in a code hook (trace-plt's, --gdb's) stops the CPU and is kept as a trap
    handler's is, instead of ctypes printing its traceback and the guest running on."""
    cpu, seen = cpu_with(INC_RAX * 4 + b"END_TRAP")

    def broken(_address):
        raise KeyError("boom")
    cpu.add_code_hook(CODE + 3, CODE + 3, broken)
    cpu.run(CODE)
    assert isinstance(cpu.trap_error, KeyError) and seen == []
    assert "Traceback" not in capfd.readouterr().err


def test_guest_int3_is_not_a_trap():
    """int3 in guest code is the guest's own breakpoint (SIGTRAP), not one of elfkit's traps."""
    cpu, seen = cpu_with(INC_RAX + b"\xcc" + INC_RAX + b"END_TRAP")
    cpu.run(CODE)
    assert cpu.interrupt == 3
    assert seen == []
    assert cpu.reg("rax") == 1


def test_writing_code_drops_its_translated_blocks():
    """elfkit writing over code that already ran (a relocation, read() into an executable
    buffer) must make the CPU run the new bytes, as a store by the CPU itself would."""
    cpu = Cpu()
    cpu.hook_faults()
    cpu.pages.map(0x400000, 0x1000, 7)

    def run(value: int) -> int:
        cpu.run(0x400000)
        assert cpu.interrupt == 3
        return cpu.reg("rax")
    cpu.write(0x400000, b"\xb8\x01\x00\x00\x00\xcc")           # mov eax, 1; int3
    assert run(1) == 1
    cpu.write(0x400000, b"\xb8\x02\x00\x00\x00\xcc")           # mov eax, 2; int3
    assert run(2) == 2


def test_fpu_state_at_exec_is_linuxs(tmp_path):
    """After execve Linux gives FNINIT's x87 control word 0x37f (64-bit precision, round to
    nearest, exceptions masked) and MXCSR 0x1f80; a zero control word (Unicorn's reset state)
    computes long doubles in 24 bits: musl's printf then prints 2/3 as 0.666. Oracle: the
    same static program run natively."""
    import shutil
    import subprocess
    from conftest import run_elfkit
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    src = tmp_path / "fpu.c"
    src.write_text('#include <stdio.h>\nint main(void){ unsigned short cw; unsigned int m;\n'
                   '__asm__("fnstcw %0; stmxcsr %1" : "=m"(cw), "=m"(m));\n'
                   'printf("%#x %#x %.12Lf\\n", cw, m, 2.0L / 3.0L); return 0; }\n')
    exe = tmp_path / "fpu"
    subprocess.run(["gcc", "-static", "-O2", str(src), "-o", str(exe)], check=True)
    native = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    assert native.startswith(b"0x37f 0x1f80")
    assert run_elfkit("load-and-run", str(exe)).stdout == native


def test_idle_shrinks_the_soft_tlb_and_regrow_brings_it_back():
    """QEMU halves or cuts its soft TLB at a flush after a 100 ms window in which less than 30%
    of it was used: a CPU held stopped (gdb) or idle looks like that, and a guest with no
    system call in its loop would then thrash a tiny TLB for good. Cpu.regrow_tlb grows it back
    to TLB_ENTRIES with the guest's registers and address space as they were."""
    import time
    from elfkit.kernel.cpu import TLB_ENTRIES
    # mov rbx, [DATA]; inc rax; END_TRAP
    cpu, seen = cpu_with(b"\x48\x8b\x1c\x25" + DATA.to_bytes(4, "little") + INC_RAX + b"END_TRAP")
    cpu.write(DATA, (0x1122334455667788).to_bytes(8, "little"))
    assert cpu.tlb_entries() == TLB_ENTRIES
    cpu.run(CODE)                      # a few entries used (a flush skips a TLB not used since)
    time.sleep(0.12)
    cpu._flush_tlb()                   # what a task switch or an munmap does
    assert cpu.tlb_entries() < TLB_ENTRIES // 8
    seen.clear()
    cpu.set_reg("rax", 41)
    cr3 = cpu.reg("cr3")
    assert cpu.regrow_tlb() is True
    assert cpu.tlb_entries() == TLB_ENTRIES
    assert cpu.reg("cr3") == cr3 and cpu.reg("rax") == 41
    cpu.run(CODE)
    assert seen == [42] and cpu.reg("rbx") == 0x1122334455667788
    assert cpu.regrow_tlb() is False   # (grown: nothing to do)


def test_r11_after_syscall_is_user_rflags(tmp_path):
    """`syscall` leaves RFLAGS in %r11, and user mode always runs with IF (0x200) and the
    reserved bit 1 set, so %r11 has both after every system call, in a forked child too.
    Oracle: the same static program run natively."""
    import shutil
    import subprocess
    from conftest import run_elfkit
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    src = tmp_path / "r11.c"
    src.write_text('#include <stdio.h>\n#include <unistd.h>\n#include <sys/wait.h>\n'
                   'static unsigned long r11(void){ unsigned long r, a = 39;\n'
                   '__asm__ volatile("syscall; mov %%r11, %0" : "=r"(r), "+a"(a) : : "rcx", "r11", "memory");\n'
                   'return r & 0x202; }\n'
                   'int main(void){ printf("%#lx\\n", r11()); fflush(stdout);\n'
                   'if (fork() == 0) { printf("child %#lx\\n", r11()); return 0; }\n'
                   'wait(0); return 0; }\n')
    exe = tmp_path / "r11"
    subprocess.run(["gcc", "-static", "-O2", str(src), "-o", str(exe)], check=True)
    native = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    assert native == b"0x202\nchild 0x202\n"
    assert run_elfkit("load-and-run", str(exe)).stdout == native
