"""The x86-64 Linux target as gdbserver describes it to gdb: the registers, their numbers (the
order of the `<reg>` elements in the description below, which `g`, `p` and `P` follow), sizes,
and where each comes from in elfkit's CPU (Unicorn register names, elfkit.kernel.cpu.REG).

Features, in gdbserver's order for amd64-linux: org.gnu.gdb.i386.core (the general registers,
%rip, %eflags, the segment selectors, the x87 stack and its control registers),
org.gnu.gdb.i386.sse (%xmm0-15, %mxcsr), org.gnu.gdb.i386.linux (orig_rax: -1 outside a system
call) and org.gnu.gdb.i386.segments (fs_base, gs_base). No AVX feature: elfkit's CPU model
(Westmere) has none.
"""
from __future__ import annotations

# (name, bytes, xml type, group or "", unicorn register name or None, feature)
CORE, SSE, LINUX, SEGMENTS = ("org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse",
                              "org.gnu.gdb.i386.linux", "org.gnu.gdb.i386.segments")
_GPR = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"] + [f"r{i}" for i in range(8, 16)]
REGISTERS: list[tuple[str, int, str, str, str | None, str]] = []
for _n in _GPR:
    REGISTERS.append((_n, 8, {"rbp": "data_ptr", "rsp": "data_ptr"}.get(_n, "int64"), "", _n, CORE))
REGISTERS += [("rip", 8, "code_ptr", "", "rip", CORE),
              ("eflags", 4, "i386_eflags", "", "eflags", CORE)]
# Linux's user selectors (__USER_CS, __USER_DS); the data segment registers hold 0 in 64-bit
# processes. Unicorn's flat long mode has none of its own worth showing.
SELECTORS = {"cs": 0x33, "ss": 0x2B, "ds": 0, "es": 0, "fs": 0, "gs": 0}
REGISTERS += [(n, 4, "int32", "", None, CORE) for n in SELECTORS]
REGISTERS += [(f"st{i}", 10, "i387_ext", "", f"st{i}", CORE) for i in range(8)]
REGISTERS += [(n, 4, "int", "float", u, CORE) for n, u in
              (("fctrl", "fpcw"), ("fstat", "fpsw"), ("ftag", "fptag"), ("fiseg", "fcs"),
               ("fioff", "fip"), ("foseg", "fds"), ("fooff", "fdp"), ("fop", "fop"))]
REGISTERS += [(f"xmm{i}", 16, "vec128", "", f"xmm{i}", SSE) for i in range(16)]
REGISTERS += [("mxcsr", 4, "i386_mxcsr", "vector", "mxcsr", SSE),
              ("orig_rax", 8, "int", "", None, LINUX),
              ("fs_base", 8, "int", "", "fs_base", SEGMENTS),
              ("gs_base", 8, "int", "", "gs_base", SEGMENTS)]
NUMBER = {r[0]: i for i, r in enumerate(REGISTERS)}
RIP = NUMBER["rip"]
ORIG_RAX = NUMBER["orig_rax"]

_EFLAGS = [("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8), ("IF", 9),
           ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16), ("VM", 17), ("AC", 18), ("VIF", 19),
           ("VIP", 20), ("ID", 21)]
_MXCSR = [("IE", 0), ("DE", 1), ("ZE", 2), ("OE", 3), ("UE", 4), ("PE", 5), ("DAZ", 6),
          ("IM", 7), ("DM", 8), ("ZM", 9), ("OM", 10), ("UM", 11), ("PM", 12), ("FZ", 15)]


def _flags(name: str, fields) -> str:
    body = "".join(f'<field name="{n}" start="{b}" end="{b}"/>' for n, b in fields)
    return f'<flags id="{name}" size="4">{body}</flags>'


_TYPES = {
    CORE: _flags("i386_eflags", _EFLAGS),
    SSE: ('<vector id="v8bf16" type="bfloat16" count="8"/><vector id="v8h" type="ieee_half" count="8"/>'
          '<vector id="v4f" type="ieee_single" count="4"/><vector id="v2d" type="ieee_double" count="2"/>'
          '<vector id="v16i8" type="int8" count="16"/><vector id="v8i16" type="int16" count="8"/>'
          '<vector id="v4i32" type="int32" count="4"/><vector id="v2i64" type="int64" count="2"/>'
          '<union id="vec128"><field name="v8_bfloat16" type="v8bf16"/><field name="v8_half" type="v8h"/>'
          '<field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>'
          '<field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>'
          '<field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>'
          '<field name="uint128" type="uint128"/></union>' + _flags("i386_mxcsr", _MXCSR)),
}


def target_xml() -> bytes:
    out = ['<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "gdb-target.dtd">\n<target version="1.0">'
           '<architecture>i386:x86-64</architecture><osabi>GNU/Linux</osabi>']
    feature = None
    for i, (name, size, typ, group, _u, feat) in enumerate(REGISTERS):
        if feat != feature:
            if feature is not None:
                out.append("</feature>")
            feature = feat
            out.append(f'<feature name="{feat}">{_TYPES.get(feat, "")}')
        grp = f' group="{group}"' if group else ""
        out.append(f'<reg name="{name}" bitsize="{size * 8}" type="{typ}" regnum="{i}"{grp}/>')
    out.append("</feature></target>\n")
    return "".join(out).encode()


class RegisterFile:
    """Reads and writes gdb's registers on a CPU holding the task's registers."""

    def __init__(self, cpu, reg_ids: dict[str, int]):
        self.cpu = cpu
        self.backed = [(i, reg_ids[r[4]]) for i, r in enumerate(REGISTERS) if r[4] is not None]
        self.ids = tuple(uid for _i, uid in self.backed)

    def values(self, fix: dict[int, int] | None = None) -> list[int]:
        """Every register's value; `fix`: number -> value shown instead (a thread asleep in a
        system call: its %rip and orig_rax as ptrace shows them)."""
        vals = [0] * len(REGISTERS)
        for (i, _uid), v in zip(self.backed, self.cpu.read_regs(self.ids)):
            vals[i] = v
        for name, sel in SELECTORS.items():
            vals[NUMBER[name]] = sel
        vals[NUMBER["eflags"]] |= 0x200            # IF: always set in user mode
        vals[ORIG_RAX] = 0xFFFFFFFFFFFFFFFF
        if fix:
            for number, value in fix.items():
                vals[number] = value
        return vals

    @staticmethod
    def encode(number: int, value: int) -> bytes:
        size = REGISTERS[number][1]
        return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little").hex().encode()

    def all_hex(self, fix: dict[int, int] | None = None) -> bytes:
        return b"".join(self.encode(i, v) for i, v in enumerate(self.values(fix)))

    def one_hex(self, number: int, fix: dict[int, int] | None = None) -> bytes | None:
        if not 0 <= number < len(REGISTERS):
            return None
        return self.encode(number, self.values(fix)[number])

    def write(self, number: int, raw: bytes) -> bool:
        """Set register `number` from its little-endian bytes; registers with no CPU state
        behind them (the selectors, orig_rax) take the write and keep their value."""
        if not 0 <= number < len(REGISTERS):
            return False
        uname = REGISTERS[number][4]
        if uname is None:
            return True
        value = int.from_bytes(raw, "little")
        if uname == "eflags":
            value &= ~0x200                            # (IF: shown as set, never written)
        uid = dict(self.backed)[number]
        self.cpu.write_regs((uid,), [value])
        return True

    def write_all(self, raw: bytes) -> bool:
        pos = 0
        for i, r in enumerate(REGISTERS):
            size = r[1]
            if pos + size > len(raw):
                break
            if r[4] is not None:
                self.write(i, raw[pos:pos + size])
            pos += size
        return True


# Signal numbers in the protocol are gdb's own (include/gdb/signals.def), not Linux's: stop
# replies (T, X) carry gdb's, and so do the signals gdb resumes with (C, S, vCont;C).
_LINUX_TO_GDB = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 10, 8: 8, 9: 9, 10: 30, 11: 11, 12: 31,
                 13: 13, 14: 14, 15: 15, 17: 20, 18: 19, 19: 17, 20: 18, 21: 21, 22: 22, 23: 16,
                 24: 24, 25: 25, 26: 26, 27: 27, 28: 28, 29: 23, 30: 32, 31: 12, 32: 77, 64: 78}
_LINUX_TO_GDB.update({n: 45 + n - 33 for n in range(33, 64)})
_GDB_TO_LINUX = {g: n for n, g in _LINUX_TO_GDB.items()}
GDB_SIGNAL_UNKNOWN = 143


def gdb_signal(linux: int) -> int:
    return _LINUX_TO_GDB.get(linux, GDB_SIGNAL_UNKNOWN)


def linux_signal(gdb: int) -> int:
    """0 (no signal) for 0 and for gdb signals Linux has no number for."""
    return _GDB_TO_LINUX.get(gdb, 0)
