"""do_execve for a new guest: load the image (elfkit.loader), make the Process, map it."""
from __future__ import annotations

import os

from elfkit.kernel.process import Process
from elfkit.loader.auxv import X86_64_HWCAP, X86_64_HWCAP2
from elfkit.loader.binfmt import Credentials, load_elf_binary
from elfkit.loader.sysroot import Sysroot


def spawn(path: str, argv: list[bytes], envp: list[bytes], *, root: str = "/", seed: int | None = None,
          writable=None, strace=None, warn=None, cwd: str | None = None,
          linker: str = "system", resolver: str = "system") -> Process:
    """A Process ready to run `path` as execve(path, argv, envp) would start it.

    linker="elfkit": the kernel maps the program without its PT_INTERP, and elfkit's own
    dynamic linker (elfkit.linker) does ld.so's work before the entry point."""
    sysroot = Sysroot(root)
    if cwd is None:
        cwd = os.getcwd() if sysroot.identity else "/"
    creds = Credentials(os.getuid(), os.geteuid(), os.getgid(), os.getegid())
    proc = Process(sysroot=sysroot, cwd=cwd, seed=seed, creds=creds, writable=writable,
                   strace=strace, warn=warn)
    random16 = proc.rng.randbytes(16) if seed is not None else os.urandom(16)
    image = load_elf_binary(path, argv, envp, sysroot=sysroot, cwd=cwd, random16=random16,
                            creds=creds, hwcap=X86_64_HWCAP, hwcap2=X86_64_HWCAP2,
                            load_interpreter=linker != "elfkit")
    proc.exec_image(image, argv, envp)
    proc.install_stdio()
    if linker == "elfkit" and image.program.elf.dynamic is not None:
        from elfkit.linker.rtld import Linker
        proc.linker = Linker(proc, envp)
        fini = proc.linker.link()
        proc.cpu.set_reg("rdx", fini)        # what ld.so hands _start: its _dl_fini
    elif resolver == "elfkit" and image.interpreter is not None:
        from elfkit.linker.takeover import ResolverTakeover
        proc.linker = ResolverTakeover(proc)
        proc.linker.arm()
    return proc
