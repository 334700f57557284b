"""Symbol names as people read them: C++ and Rust demangling, as binutils' `-C` does it.

binutils (readelf -C, objdump -C, c++filt) calls libiberty's `cplus_demangle(name,
DMGL_PARAMS | DMGL_ANSI)` in its automatic style: a Rust name first (v0 `_R...`, or legacy
`_ZN...17h<16 hex digits>E`), then the Itanium C++ ABI (`_Z...`, and `_GLOBAL_[._$][DI]_...`
constructor/destructor keys); anything else is left as it is. elfkit writes no demangler of its
own; it asks two well-kept ones:

- C++: the toolchain's own `__cxa_demangle` (libstdc++'s copy of the same cp-demangle.c
  libiberty has), through the `cxxfilt` package (ctypes).
- Rust: the `rustc-demangle` crate (the Rust project's own, which rustc's backtraces use),
  through the `pyderust` bindings, with the hash kept as binutils 2.40 prints it
  (`foo::bar::h05af221e174051e8`). One difference remains: for a v0 crate root with no
  disambiguator binutils prints `test[0]::main`, rustc-demangle `test::main`.

Either package missing or unusable: names stay mangled (never an error). Results are memoised:
a table repeats names (relocations), and the C call costs a few microseconds.
"""
from __future__ import annotations

import re

# legacy Rust: _ZN ... 17h<16 hex digits>E (libiberty's rust_demangle rule: the last path
# element is the hash)
_RUST_LEGACY = re.compile(r"_ZN.*17h[0-9a-f]{16}E\Z", re.S)
_GLOBAL_KEY = re.compile(r"_GLOBAL_[._$][DI]_")

_memo: dict[str, str] = {}
_cxx = _rust = None
_loaded = False


def _load():
    global _cxx, _rust, _loaded
    _loaded = True
    try:
        import cxxfilt
        d = cxxfilt.default_demangler
        d.demangle("_Z1fv", external_only=False)             # a DeferedErrorDemangler raises

        def cxx(name: str):
            try:
                return d.demangle(name, external_only=False)
            except cxxfilt.Error:
                return None
        _cxx = cxx
    except Exception:                   # noqa: BLE001 - no libstdc++, no package: stay mangled
        _cxx = None
    try:
        import pyderust

        def rust(name: str):
            try:
                return pyderust.demangle(name, include_hash=True)
            except ValueError:
                return None
        _rust = rust
    except Exception:                   # noqa: BLE001
        _rust = None


def demangle(name: str) -> str:
    """`name` demangled as binutils' cplus_demangle(DMGL_PARAMS | DMGL_ANSI) would, or `name`
    itself when it is not a mangled name (or cannot be demangled)."""
    try:
        return _memo[name]
    except KeyError:
        pass
    if not _loaded:
        _load()
    out = None
    if name.startswith("_R") or (name.startswith("_ZN") and _RUST_LEGACY.match(name)):
        out = _rust(name) if _rust else None
    if out is None and (name.startswith("_Z") or _GLOBAL_KEY.match(name)) and _cxx:
        out = _cxx(name)
    _memo[name] = out = out or name
    return out


def demangle_versioned(name: str) -> str:
    """As bfd_demangle (objdump -C): a `@version` or `@plt` suffix is kept as it is and the
    name before it demangled."""
    at = name.find("@")
    if at <= 0:
        return demangle(name)
    return demangle(name[:at]) + name[at:]


def demangle_all(names) -> list[str]:
    """A column of names demangled (each distinct name once)."""
    if not _loaded:
        _load()
    return [demangle(n) if n[:2] in _PREFIXES else n for n in names]


_PREFIXES = frozenset(("_Z", "_R", "_G"))
