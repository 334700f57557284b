"""How the kernel hands a freshly exec'ed program to elfkit's dynamic linker.

The kernel does not import the linker: the command line gives it one of these
(--linker=elfkit, --resolver=elfkit), and the kernel calls `attach(task,
image)` after every successful exec, before the program's first instruction.
"""
from __future__ import annotations


class ElfkitLinker:
    """--linker=elfkit: the kernel maps no PT_INTERP; elfkit's rtld does ld.so's work."""
    replaces_interpreter = True

    def attach(self, task, image):
        if image.program.elf.dynamic is None:
            return
        from elfkit.linker.dso import DAMAGE, damage_error
        from elfkit.linker.rtld import Linker
        task.linker = Linker(task, task.envp)
        try:
            fini = task.linker.link()
        except DAMAGE as e:
            raise damage_error(None, e) from None
        task.cpu.set_reg("rdx", fini)        # what ld.so hands _start: its _dl_fini


class ElfkitResolver:
    """--resolver=elfkit: glibc's ld.so starts the program; elfkit takes lazy binding over."""
    replaces_interpreter = False

    def attach(self, task, image):
        if image.interpreter is None:
            return
        from elfkit.linker.takeover import ResolverTakeover
        task.linker = ResolverTakeover(task)
        task.linker.arm()


def exec_linker(linker: str = "system", resolver: str = "system"):
    """The object for --linker/--resolver, or None for the program's own PT_INTERP."""
    if linker == "elfkit":
        return ElfkitLinker()
    if resolver == "elfkit":
        return ElfkitResolver()
    return None
