"""The one line elfkit prints when a guest dies of a fault: signal, access, instruction, memory area."""
from __future__ import annotations


def describe_fault(proc, sig: int, what: str, addr: int) -> str:
    from elfkit.kernel.task import signal_name
    cpu = proc.cpu
    pc = cpu.pc()
    insn = _instruction_at(proc, pc)
    where = _area(proc, pc)
    target = _area(proc, addr) if addr != pc else where
    parts = [f"killed by {signal_name(sig)}: {what}",
             f"at {pc:#x}" + (f" ({where})" if where else ""),
             f"instruction: {insn}" if insn else "instruction unreadable"]
    if addr != pc:
        parts.append(f"address {addr:#x} is " + (f"in {target}" if target else "in no memory area"))
    return "; ".join(parts)


def _area(proc, addr: int) -> str:
    vma = proc.mm.find(addr) if proc.mm else None
    if vma is None:
        return ""
    perms = ("r" if vma.prot & 1 else "-") + ("w" if vma.prot & 2 else "-") + ("x" if vma.prot & 4 else "-")
    name = vma.name or "anonymous"
    off = addr - vma.start + vma.offset
    return f"{name}+{off:#x}, {perms} area {vma.start:#x}-{vma.end:#x}"


def _instruction_at(proc, pc: int) -> str:
    code = proc.mm.read(pc, 16) if proc.mm else None
    if code is None:
        # maybe only the first bytes are mapped
        for n in range(15, 0, -1):
            code = proc.mm.read(pc, n) if proc.mm else None
            if code:
                break
    if not code:
        return ""
    import capstone                      # only when a guest faults
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    for _addr, _size, mnemonic, op_str in md.disasm_lite(code, pc):
        return f"{mnemonic} {op_str}".strip()
    return f"(undecodable bytes {code[:8].hex(' ')})"


def memory_access(proc, pc: int, addr: int) -> str:
    """read / write / execute: what the faulting instruction at pc did to addr."""
    if pc <= addr < pc + 16:
        return "execute"
    code = proc.mm.read(pc, 16) if proc.mm else None
    if not code:
        return "execute"
    import capstone
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = True
    for insn in md.disasm(code, pc, 1):
        from capstone import x86_const as X
        written = any(op.type == X.X86_OP_MEM and op.access & capstone.CS_AC_WRITE
                      for op in insn.operands)
        read = any(op.type == X.X86_OP_MEM and op.access & capstone.CS_AC_READ
                   for op in insn.operands)
        if insn.mnemonic.startswith(("push", "call")):
            return "write"
        if insn.mnemonic.startswith(("pop", "ret")):
            return "read"
        return "write" if written and not read else "read" if read else "write" if written else "access"
    return "access"
