"""`--max-insns N` stops the guest after exactly N instructions, against the real CPU's count.

fixtures/src/insncount.S makes one-byte writes at known points and, on the way, takes
demand-paging faults that are retried, a store to a read-only page that its SIGSEGV handler
makes writable (the store runs again), a `ud2` its SIGILL handler steps over, and a signal it
sends itself. tests/singlestep.py counts, natively, the instructions it retires and the count
at which each write has run, by single-stepping it with ptrace (which agrees with the count by
construction in the source's header). Under elfkit, `--max-insns K` must then let exactly the
writes at or before K happen, and the program exits by itself only when K is its whole count;
else elfkit says "stopped after K instructions" and exits with 124.

insncount-preinit has a DT_PREINIT_ARRAY function: under `--linker=elfkit`, elfkit's linker
runs it (Task.call_guest) before the program's entry, and it counts like any guest code; the
native count is that of the program's own code (ld.so's work is not the program's). elfkit's
own traps (int3 on its trap page: the return from that function) count for nothing.
"""
from __future__ import annotations

import types

import pytest

from conftest import fixture_path, run_elfkit
from singlestep import count_native

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
# fixture, elfkit options, native count of the program's own code only
BUILDS = {"insncount": ((), False),
          "insncount-preinit": (("--linker=elfkit",), True)}
# The counts by construction (fixtures/src/insncount.S): instructions in all, and the count at
# which each write had run.
BY_CONSTRUCTION = {"insncount": (97, [5, 28, 66, 75, 86, 94], b"abcdue"),
                   "insncount-preinit": (103, [5, 11, 34, 72, 81, 92, 100], b"iabcdue")}

_native_cache: dict[str, object] = {}


def native(name: str):
    if name not in _native_cache:
        _native_cache[name] = count_native(str(fixture_path(name)),
                                           only_own_code=BUILDS[name][1], env=ENV)
    return _native_cache[name]


def limited(name: str, n: int, command: str = "load-and-run"):
    extra = ["-o", "/dev/null"] if command == "trace-plt" else []
    p = run_elfkit(command, *extra, *BUILDS[name][0], "--max-insns", n, fixture_path(name),
                   env=ENV, timeout=120)
    assert b"Traceback" not in p.stderr
    return p


@pytest.mark.parametrize("name", BUILDS)
def test_native_count_is_the_count_by_construction(name):
    """The oracle and the fixture's header agree (if this fails, fix the one that is wrong)."""
    n = native(name)
    assert (n.retired, n.writes, n.stdout, n.status) == (*BY_CONSTRUCTION[name], 0)


def _cases():
    for name, (total, writes, _) in BY_CONSTRUCTION.items():
        for k in writes:
            yield name, k - 1
            yield name, k
        yield name, total - 1
        yield name, total


@pytest.mark.parametrize("name, k", list(_cases()))
def test_stops_after_exactly_k_instructions(name, k):
    nat = native(name)
    p = limited(name, k)
    done = sum(1 for w in nat.writes if w <= k)
    assert p.stdout == nat.stdout[:done], (k, p.stdout)
    if k >= nat.retired:
        assert (p.returncode, p.stderr) == (0, b"")
    else:
        assert p.returncode == 124
        assert p.stderr.decode() == f"elfkit: {fixture_path(name)}: stopped after {k} instructions\n"


def test_trace_plt_counts_the_same():
    name = "insncount-preinit"
    nat = native(name)
    k = nat.writes[2]
    p = limited(name, k, "trace-plt")
    assert (p.returncode, p.stdout) == (124, nat.stdout[:3])
    assert f"stopped after {k} instructions" in p.stderr.decode()


# --- the CPU on its own: what the count hook sees and what is counted ------------------------
CODE, DATA = 0x400000, 0x600000
INC_RAX = b"\x48\xff\xc0"


def store(address: int) -> bytes:
    """mov byte [address], 1"""
    return b"\xc6\x04\x25" + address.to_bytes(4, "little") + b"\x01"


def jmp_abs(target: int) -> bytes:
    """movabs r11, target; jmp r11"""
    return b"\x49\xbb" + target.to_bytes(8, "little") + b"\x41\xff\xe3"


def demand_paged_cpu(code: bytes):
    """A CPU running `code` at CODE; DATA's pages are mapped on their first fault (handled in
    the interrupt hook, the store then runs again, as elfkit's demand paging does); a trap
    (an int3 on elfkit's trap page) at the end stops it."""
    from elfkit.kernel.cpu import Cpu
    cpu = Cpu()
    cpu.hook_faults()
    cpu.map(CODE, 0x1000, 5)
    faults = []

    def on_fault(access, address, _unmapped):
        faults.append(access)
        if DATA <= address < DATA + 0x10000:
            cpu.map(address & ~0xFFF, 0x1000, 3)
            return True
        return False
    cpu.on_fault = on_fault
    end = cpu.add_trap(0x80, cpu.stop)
    cpu.write(CODE, code + jmp_abs(end))
    cpu.set_exact_stops(True)
    return cpu, faults


def test_a_retried_store_and_a_trap_count_once_and_not_at_all():
    code = INC_RAX * 3 + store(DATA) + INC_RAX * 2 + store(DATA + 0x1000) + INC_RAX
    cpu, faults = demand_paged_cpu(code)
    cpu.run(CODE, count=1000)
    assert faults == ["write", "write"]
    assert cpu.insns_run() == 10                   # 3 + 1 + 2 + 1 + 1 + movabs, jmp; not int3
    for k in range(1, 11):                         # a count of k: k instructions ran, no more
        cpu, _ = demand_paged_cpu(code)
        cpu.run(CODE, count=k)
        assert cpu.insns_run() == k
        assert cpu.reg("rax") == [1, 2, 3, 3, 4, 5, 5, 6, 6, 6][k - 1]


def test_a_rep_string_instruction_counts_each_iteration_and_its_exit():
    """Documented (README): `rep stosb` of 5 bytes counts 6 -- QEMU runs the instruction once
    per iteration and once more to find %rcx at 0; single-stepping counts 5."""
    code = b"\x48\xbf" + DATA.to_bytes(8, "little") + b"\xb9\x05\x00\x00\x00" + b"\xf3\xaa"
    cpu, _ = demand_paged_cpu(code)
    cpu.run(CODE, count=1000)
    assert cpu.insns_run() == 2 + 6 + 2


def test_max_insns_without_unicorns_counter_is_refused():
    """If a Unicorn release hides the counter elsewhere, --max-insns says so (it used to run
    forever: every run's count came back as 0)."""
    from elfkit.kernel.cpu import Cpu
    from elfkit.kernel.sched import LimitUnavailable, apply_limits
    from elfkit.kernel.task import RunLimits
    cpu = Cpu()
    cpu._emu_counter = None
    kernel = types.SimpleNamespace(machine=types.SimpleNamespace(cpus=[cpu], max_cpus=4))
    with pytest.raises(LimitUnavailable, match="instruction counter"):
        apply_limits(kernel, RunLimits(max_insns=10))
    apply_limits(kernel, RunLimits(timeout_s=5))   # (other limits do not need it)
