"""The system-call lane of `elfkit report`: what the dispatcher tells an strace writer
(elfkit.kernel.strace.writer documents the calls), kept as names in order, nothing decoded.

It also sees each file-backed mmap return, which is how the timeline learns when ld.so (or
elfkit's linker, whose mappings are system calls of the guest too) mapped each library, and
each mprotect: ld.so makes an object's RELRO read-only (_dl_protect_relro) right after it has
relocated that object, which is when the timeline says "relocated".
"""
from __future__ import annotations

M64 = (1 << 64) - 1


class SyscallLane:
    def __init__(self):
        self.names: list[str] = []
        self.on_mapped = None           # on_mapped(proc, area_name, address, at) after an mmap
        self.on_enter = None            # on_enter() before each call is counted
        self.on_protected = None        # on_protected(proc, address, length, prot, at) after a
        #                                 successful mprotect (ld.so's RELRO: relocated)
        self.pid_of = None              # set by kernel_clone at the first fork (the writer's
        #                                 [pid N] prefixes); not used here

    @property
    def at(self) -> int:
        return len(self.names)

    # --- what the dispatcher calls ------------------------------------------------------------
    def enter(self, proc, entry, args):
        if self.on_enter is not None:
            self.on_enter()
        self.names.append(entry.name)

    def leave(self, proc, entry, args, result):
        if entry.name == "mprotect" and result == 0 and self.on_protected is not None:
            self.on_protected(proc, args[0], args[1], args[2], self.at - 1)
            return
        if entry.name == "mmap" and self.on_mapped is not None and args[4] & M64 != M64 \
                and 0 < result < (1 << 63):
            vma = next((v for v in proc.mm.vmas if v.start == result), None)
            if vma is not None and vma.name:
                self.on_mapped(proc, vma.name, result, self.at - 1)

    def unknown(self, proc, nr, regs, result):
        from elfkit.kernel.syscalls.numbers import name_of
        self.names.append(name_of(nr))

    def unfinished(self, proc, entry, args):
        pass

    def resumed(self, proc, entry, args, result):
        pass

    def exit(self, proc, entry, status):
        pass

    def signal(self, proc, signum, code=0, addr=0, pid=None, uid=None):
        pass

    def finish(self, proc, status):
        pass
