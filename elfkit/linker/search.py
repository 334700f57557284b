"""elf/dl-load.c: _dl_map_object's search for a DT_NEEDED name, in glibc's order.

For a name without a slash: the loader's DT_RPATH and its loaders' (only when
the loader has no DT_RUNPATH), LD_LIBRARY_PATH, the loader's DT_RUNPATH,
/etc/ld.so.cache (unless the loader has DF_1_NODEFLIB), then the system
directories. $ORIGIN, $LIB and $PLATFORM are expanded. A candidate that is not
an x86-64 ELF shared object is skipped, as ld.so skips it.
"""
from __future__ import annotations

import os

from elfkit.elf.constants import DF_1, DT, EM
from elfkit.loader.sysroot import PathError

SYSTEM_DIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"]
LIB = "lib/x86_64-linux-gnu"
PLATFORM = "x86_64"


def expand(path: str, origin: str) -> str:
    """Dynamic string tokens ($ORIGIN, $LIB, $PLATFORM, and their ${} forms)."""
    for token, value in (("ORIGIN", origin), ("LIB", LIB), ("PLATFORM", PLATFORM)):
        path = path.replace("${" + token + "}", value).replace("$" + token, value)
    return path


def split_path(value: str | None, origin: str) -> list[str]:
    if not value:
        return []
    return [expand(p, origin) or "." for p in value.split(":")]


class Searcher:
    """Finds the file a NEEDED name refers to, inside the sysroot."""

    def __init__(self, sysroot, ld_library_path: str | None, cache: dict[str, str]):
        self.sysroot = sysroot
        self.ld_library_path = ld_library_path
        self.cache = cache

    def find(self, name: str, loader, trace: list[str] | None = None) -> str | None:
        """The guest path to load for `name` needed by `loader` (a Dso), or None."""
        if "/" in name:
            path = expand(name, loader.origin if loader else "/")
            return path if self._usable(path) else None
        candidates: list[tuple[str, str]] = []
        if loader is not None and not loader.runpath:
            chain = loader
            while chain is not None:
                candidates += [(d, "RPATH") for d in split_path(chain.rpath, chain.origin)]
                chain = chain.loader
        candidates += [(d, "LD_LIBRARY_PATH") for d in
                       split_path(self.ld_library_path, loader.origin if loader else "/")]
        if loader is not None:
            candidates += [(d, "RUNPATH") for d in split_path(loader.runpath, loader.origin)]
        for directory, why in candidates:
            path = os.path.join(directory, name)
            if self._usable(path):
                if trace is not None:
                    trace.append(f"{name}: found in {why} {directory}")
                return path
        nodeflib = loader is not None and loader.flags_1 & DF_1.NODEFLIB
        if not nodeflib:
            path = self.cache.get(name)
            if path and self._usable(path):
                if trace is not None:
                    trace.append(f"{name}: found in ld.so.cache")
                return path
            for directory in SYSTEM_DIRS:
                path = os.path.join(directory, name)
                if self._usable(path):
                    if trace is not None:
                        trace.append(f"{name}: found in system directory {directory}")
                    return path
        return None

    def _usable(self, path: str) -> bool:
        try:
            host = self.sysroot.host_path(path)
        except PathError:
            return False
        try:
            with open(host, "rb") as f:
                head = f.read(20)
        except OSError:
            return False
        return (len(head) == 20 and head[:4] == b"\x7fELF" and head[4] == 2 and
                int.from_bytes(head[18:20], "little") == EM.X86_64)


__all__ = ["Searcher", "expand", "SYSTEM_DIRS", "DT"]
