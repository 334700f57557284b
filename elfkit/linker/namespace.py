"""A link namespace (glibc's struct link_namespaces entry): the loaded objects, their global
scope, and what the relocator and the lazy resolver ask of whoever linked them."""
from __future__ import annotations


class Namespace:
    """Shared by elfkit's own linker (rtld.Linker) and the resolver take-over."""

    def __init__(self, proc):
        from elfkit.linker.reloc import Relocator
        self.proc = proc
        self.dsos: list = []
        self.dsos_by_id: dict[int, object] = {}
        self.scope: list = []
        self.startup_bindings: list = []      # (object, symbol, Definition) bound while relocating
        self.rtld_symbols: dict[str, int] = {}
        self.relocator = Relocator(self)
        self.lazy = None
        self.error: str | None = None
        self._jmprel_tables: dict[int, object] = {}

    def fork(self, child):
        """The same link for a forked child (copy_process): a copy of this namespace and its
        lazy resolver that act on the child, and the child's trap table pointing at them."""
        import copy
        new = copy.copy(self)
        new.proc = child
        new.relocator = copy.copy(self.relocator)
        new.relocator.linker = new
        owners = {id(self): new}
        if self.lazy is not None:
            new.lazy = copy.copy(self.lazy)
            new.lazy.proc, new.lazy.linker = child, new
            owners[id(self.lazy)] = new.lazy
        traps = child.mm.pages.traps
        for address, handler in list(traps.items()):
            owner = owners.get(id(getattr(handler, "__self__", None)))
            if owner is not None:
                traps[address] = getattr(owner, handler.__name__)
        return new

    def record_binding(self, dso, name, definition):
        self.startup_bindings.append((dso, name, definition))

    def scope_for(self, dso, sym):
        return self.scope

    def jmprel_table(self, dso):
        if dso.id not in self._jmprel_tables:
            self._jmprel_tables[dso.id] = dso.jmprel()
        return self._jmprel_tables[dso.id]

    def call_ifunc(self, resolver: int) -> int:
        return self.proc.call_guest(resolver) & 0xFFFFFFFFFFFFFFFF

    def dso_at(self, address: int):
        """The object whose image holds `address`."""
        for d in self.dsos:
            lo, hi = d.elf.load_extent
            if d.base + lo <= address < d.base + hi:
                return d
        return None

    def fail(self, message: str):
        """A link error while the guest runs (in a lazy binding): stop it as ld.so would."""
        from elfkit.kernel.task import ExitStatus
        self.error = message
        self.proc.exit = ExitStatus(code=127, reason=message, limit="link")
        self.proc.cpu.stop()
