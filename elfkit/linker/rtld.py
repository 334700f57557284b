"""elf/rtld.c: dl_main -- elfkit as the program's dynamic linker (`load-and-run --linker=elfkit`).

The order of the work, as glibc does it:
  1. the program (mapped by the kernel) is the first object; LD_PRELOAD objects come next;
  2. DT_NEEDED is loaded breadth-first, each name searched (search.py) and mapped (dso.py);
  3. static TLS offsets are assigned and the TLS area + TCB set up (tls.py);
  4. objects are relocated in reverse load order, the program last (reloc.py); lazy
     JUMP_SLOTs are pointed at their PLT stubs and GOT[1]/GOT[2] installed (lazy.py);
     TLS descriptors get their functions (tlsdesc.py);
     PT_GNU_RELRO is made read-only after each object's relocation;
  5. the program's DT_PREINIT_ARRAY, then DT_INIT and DT_INIT_ARRAY of every dependency,
     dependencies before their users (the program's own are libc's job, as with glibc);
  6. the entry point gets %rdx = a function that runs DT_FINI_ARRAY/DT_FINI at exit.
"""
from __future__ import annotations

import os
import struct

from elfkit.elf import ElfFile
from elfkit.elf.constants import DF, DF_1, DT, PT
from elfkit.linker.cache import read_cache
from elfkit.linker.dso import Dso, LinkError, map_object
from elfkit.linker.lazy import LazyResolver
from elfkit.linker.namespace import Namespace
from elfkit.linker.search import Searcher
from elfkit.linker.tls import assign_offsets, setup_static_tls, tls_get_addr
from elfkit.linker.tlsdesc import TlsDescriptors, dynamic_slow_path

GLIBC_PRIVATE = ("libc.so.6",)
Q = struct.Struct("<Q")


def env_value(envp: list[bytes], name: str) -> str | None:
    key = name.encode() + b"="
    for e in envp:
        if e.startswith(key):
            return os.fsdecode(e[len(key):])
    return None


class Linker(Namespace):
    """One dynamic link of one process."""

    def __init__(self, proc, envp: list[bytes]):
        super().__init__(proc)
        self.envp = envp
        self.bind_now = bool(env_value(envp, "LD_BIND_NOW"))
        self.tp = 0

    # --- dl_main ---------------------------------------------------------------------------
    def link(self):
        image = self.proc.image
        main = self._add(image.program.path, image.program.path, image.program.host_path,
                         image.program.elf, image.program.load_bias, None)
        main.is_main = True
        main.real_path = image.program.display_path
        self._check_dynamic(main)
        self.lazy = LazyResolver(self)
        self._define_rtld_symbols()
        searcher = Searcher(self.proc.sysroot, env_value(self.envp, "LD_LIBRARY_PATH"), self._cache())
        preloads = [self._load(p, main, searcher) for p in self._preload_names()]
        self._load_needed_breadth_first([main, *preloads], searcher)
        self.scope = self.dsos[:]
        self._refuse_glibc()
        static_size = assign_offsets(self.dsos)
        # the TCB exists even without TLS: the stack protector reads its canary at %fs:0x28
        self.tp = setup_static_tls(self.proc, self.dsos, static_size, self._random_bytes())
        for dso in reversed(self.dsos):
            now = self.bind_now or bool(dso.flags & DF.BIND_NOW) or bool(dso.flags_1 & DF_1.NOW) \
                or dso.dt(DT.BIND_NOW) is not None
            self.relocator.relocate(dso, bind_now=now)
            if not now:
                self.lazy.install(dso)
            self._protect_relro(dso)
        self._run_initializers(main)
        return self._fini_trap()

    # --- loading ---------------------------------------------------------------------------
    def _add(self, name, path, host_path, elf, base, loader) -> Dso:
        dso = Dso(len(self.dsos) + 1, name, path, host_path, elf, base, loader)
        self.dsos.append(dso)
        self.dsos_by_id[dso.id] = dso
        return dso

    def _cache(self) -> dict[str, str]:
        try:
            with open(self.proc.sysroot.host_path("/etc/ld.so.cache"), "rb") as f:
                return read_cache(f.read())
        except OSError:
            return {}

    def _preload_names(self) -> list[str]:
        value = env_value(self.envp, "LD_PRELOAD") or ""
        return [p for p in value.replace(":", " ").split() if p]

    def _is_the_dynamic_linker(self, name: str) -> bool:
        """A NEEDED entry naming ld.so itself: that is elfkit now (its symbols, such as
        __tls_get_addr, are elfkit's own), as glibc's rtld is its own link_map."""
        from elfkit.elf.segments import interpreter
        interp = interpreter(self.proc.image.program.elf)
        base = os.path.basename(name)
        return base == "ld-linux-x86-64.so.2" or (interp is not None and base == os.path.basename(interp))

    def _load_needed_breadth_first(self, roots, searcher):
        queue = list(roots)
        while queue:
            dso = queue.pop(0)
            for name in dso.needed:
                if self._is_the_dynamic_linker(name):
                    continue
                dep = self._already_loaded(name)
                if dep is None:
                    dep = self._load(name, dso, searcher)
                    queue.append(dep)
                dso.deps.append(dep)

    def _already_loaded(self, name: str) -> Dso | None:
        for d in self.dsos:
            if d.name == name or d.soname == name or d.path == name:
                return d
        return None

    def _load(self, name: str, loader: Dso, searcher) -> Dso:
        path = searcher.find(name, loader)
        if path is None:
            raise LinkError(f"error while loading shared libraries: {name}: cannot open shared "
                            f"object file: No such file or directory (needed by {loader.path})")
        host = self.proc.sysroot.host_path(path)
        existing = next((d for d in self.dsos if os.path.realpath(d.host_path) == os.path.realpath(host)),
                        None)
        if existing is not None:
            return existing
        elf = ElfFile.open(host)
        if elf.header.type != 3:
            raise LinkError(f"{path}: not a shared object (e_type {elf.header.type})")
        base = map_object(self.proc, elf, host, self.proc.sysroot.display_path(host))
        dso = self._add(name, path, host, elf, base, loader)
        dso.real_path = self.proc.sysroot.display_path(host)
        self._check_dynamic(dso)
        return dso

    def _check_dynamic(self, dso):
        if dso.elf.warnings:
            raise LinkError(f"{dso.path}: damaged: {dso.elf.warnings[0]}")

    def _refuse_glibc(self):
        for d in self.dsos:
            if (d.soname or os.path.basename(d.path)) in GLIBC_PRIVATE:
                raise LinkError(
                    f"{d.path} is glibc's libc, which needs private symbols of glibc's own ld.so "
                    "(_rtld_global, _rtld_global_ro, ...): --linker=elfkit cannot run it. Use "
                    "--linker=system --resolver=elfkit to let glibc's ld.so load the program and "
                    "elfkit resolve its lazy PLT calls.")

    def _random_bytes(self) -> bytes:
        image = self.proc.image
        return self.proc.cpu.read(image.stack.random, 16)

    # --- the rtld's own symbols (__tls_get_addr) and TLS descriptor functions --------------
    def _define_rtld_symbols(self):
        self.tls_get_addr_trap = self.proc.cpu.add_trap(0x20, self.on_tls_get_addr)
        self.rtld_symbols = {"__tls_get_addr": self.tls_get_addr_trap}
        self.tlsdesc = TlsDescriptors(self.proc.cpu.add_trap(0x50, self.on_tlsdesc_dynamic))

    def _dsos_by_module(self) -> dict:
        return {d.tls_module: d for d in self.dsos if d.tls_module}

    def on_tls_get_addr(self):
        """The trap __tls_get_addr points at: the address of a TLS variable of the calling
        thread."""
        cpu = self.proc.cpu
        rdi = cpu.reg("rdi")
        try:
            cpu.set_reg("rax", tls_get_addr(self.proc, self._dsos_by_module(), rdi))
        except LinkError as e:
            self.fail(str(e))
            return
        rsp = cpu.reg("rsp")
        (ret,) = Q.unpack(cpu.read(rsp, 8))
        cpu.set_reg("rsp", rsp + 8)
        cpu.set_reg("rip", ret)

    def on_tlsdesc_dynamic(self):
        """The trap _dl_tlsdesc_dynamic's slow path jumps to (a thread's first access to a
        module in dynamic TLS)."""
        try:
            dynamic_slow_path(self.proc, self._dsos_by_module())
        except LinkError as e:
            self.fail(str(e))

    def _protect_relro(self, dso):
        seg = dso.relro()
        if seg is None:
            return
        start = (dso.base + seg.vaddr) & ~0xFFF
        end = (dso.base + seg.vaddr + seg.memsz) & ~0xFFF
        if end > start:
            self.proc.mm.mprotect(start, end - start, 1)

    # --- init and fini -----------------------------------------------------------------------
    def search_list(self, dso) -> list[Dso]:
        """l_initfini without the object itself: its dependencies, breadth-first."""
        out, queue, seen = [], list(dso.deps), {dso.id}
        while queue:
            d = queue.pop(0)
            if d.id in seen:
                continue
            seen.add(d.id)
            out.append(d)
            queue.extend(d.deps)
        return out

    def sorted_maps(self) -> list[Dso]:
        """elf/dl-sort-maps.c, _dl_sort_maps_dfs: a depth-first traversal from the last loaded
        object back to the first, each finished object put at the front of what is left.
        Initialisers run from the end of this list, destructors from its start."""
        maps = self.dsos
        out: list[Dso | None] = [None] * len(maps)
        head = len(maps)
        visited: set[int] = set()

        def dfs(m):
            nonlocal head
            visited.add(m.id)
            for dep in self.search_list(m):
                if dep.id not in visited and not dep.is_main:
                    dfs(dep)
            head -= 1
            out[head] = m
        for m in reversed(maps):
            if m.id not in visited:
                dfs(m)
            if head == 0:
                break
        return [m for m in out if m is not None]

    def init_order(self) -> list[Dso]:
        return list(reversed(self.sorted_maps()))

    def _array(self, dso, tag, size_tag) -> list[int]:
        addr, size = dso.dt(tag), dso.dt(size_tag)
        if addr is None or not size:
            return []
        raw = self.proc.cpu.read(dso.base + addr, size)
        return [v for (v,) in struct.iter_unpack("<Q", raw) if v not in (0, 0xFFFFFFFFFFFFFFFF)]

    def _run_initializers(self, main):
        argc, argv, envp = self._main_args()
        for fn in self._array(main, DT.PREINIT_ARRAY, DT.PREINIT_ARRAYSZ):
            self.proc.call_guest(fn, argc, argv, envp)
        for dso in self.init_order():
            if dso.is_main or dso.initialized:
                continue
            dso.initialized = True
            if dso.dt(DT.INIT):
                self.proc.call_guest(dso.base + dso.dt(DT.INIT), argc, argv, envp)
            for fn in self._array(dso, DT.INIT_ARRAY, DT.INIT_ARRAYSZ):
                self.proc.call_guest(fn, argc, argv, envp)
            if self.proc.exit is not None:
                return

    def _main_args(self):
        stack = self.proc.image.stack
        argc = len(stack.argv)
        return argc, stack.sp + 8, stack.sp + 8 * (argc + 2)

    def _fini_trap(self) -> int:
        """The address handed to _start in %rdx: _dl_fini, run at exit."""
        return self.proc.cpu.add_trap(0x30, self.dl_fini)

    def dl_fini(self):
        cpu = self.proc.cpu
        calls = []
        for dso in self.sorted_maps():             # _dl_fini: from the front, the program too
            if not dso.initialized and not dso.is_main:
                continue
            calls += [(fn, ()) for fn in reversed(self._array(dso, DT.FINI_ARRAY, DT.FINI_ARRAYSZ))]
            if dso.dt(DT.FINI):
                calls.append((dso.base + dso.dt(DT.FINI), ()))

        def back_to_caller(_results):
            rsp = cpu.reg("rsp")
            (ret,) = Q.unpack(cpu.read(rsp, 8))
            cpu.set_reg("rsp", rsp + 8)
            cpu.set_reg("rip", ret)
        self.proc.call_from_hook(calls, back_to_caller)


def has_pt_interp(elf) -> bool:
    return any(s.type == PT.INTERP for s in elf.segments)
