"""Policies: which checks run, which must pass, and the limits they check against.

A policy is built in layers, each overriding the one before:
  1. a built-in preset (`default`, `strict`, `manylinux2014`), named by the
     `preset` key of the config or by `--policy`;
  2. the `[tool.elfkit.check]` table of the nearest pyproject.toml (searched
     from the current directory upwards; `--config FILE` names one, `--no-config`
     skips it);
  3. command-line flags.
Every layer uses the same keys (SETTINGS); unknown keys, unknown check ids
and malformed limits are errors (exit code 2), never silently ignored.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from elfkit.check.compiler import ISA_LEVELS
from elfkit.check.linking import RPATH_KINDS, parse_version
from elfkit.check.memory import RELRO_LEVELS
from elfkit.check.registry import IDS
from elfkit.errors import ElfkitError


class PolicyError(ElfkitError):
    """A policy setting that cannot be used (unknown check, bad limit, bad config file)."""


@dataclass(frozen=True)
class Policy:
    name: str
    checks: tuple[str, ...] = IDS               # run and reported, in registry order
    require: frozenset[str] = frozenset()       # a failure of one of these fails the file
    relro: str = "partial"
    max_glibc: tuple[int, ...] | None = None
    max_glibcxx: tuple[int, ...] | None = None
    max_cxxabi: tuple[int, ...] | None = None
    max_isa: str | None = None
    needed_allow: tuple[str, ...] | None = None
    rpath_allow: tuple[str, ...] = ("origin", "absolute")
    runpath_allow: tuple[str, ...] = ("origin", "absolute")
    exclude: tuple[str, ...] = ()               # glob patterns on paths below an argument
    sources: tuple[str, ...] = field(default=(), compare=False)   # where settings came from

    @property
    def run_ids(self) -> tuple[str, ...]:
        """The checks that run: those selected, plus every required one."""
        return tuple(c for c in IDS if c in self.checks or c in self.require)

    def to_json(self) -> dict:
        ver = lambda v: ".".join(map(str, v)) if v else None     # noqa: E731
        return {"name": self.name, "checks": list(self.run_ids),
                "require": [c for c in IDS if c in self.require],
                "relro": self.relro, "max_glibc": ver(self.max_glibc),
                "max_glibcxx": ver(self.max_glibcxx), "max_cxxabi": ver(self.max_cxxabi),
                "max_isa": self.max_isa,
                "needed_allow": list(self.needed_allow) if self.needed_allow is not None else None,
                "rpath_allow": list(self.rpath_allow), "runpath_allow": list(self.runpath_allow),
                "exclude": list(self.exclude), "sources": list(self.sources)}


_DEFAULT_REQUIRE = ("pie", "nx", "relro", "execstack", "wx-segments", "textrel", "rpath",
                    "runpath", "well-formed")

# auditwheel's manylinux_2_17 (manylinux2014) policy (one library list, and the same newest
# GLIBC/GLIBCXX/CXXABI versions, for each of its architectures), plus the dynamic loader of
# each: x86_64, i686, aarch64, ppc64le, s390x, armv7l.
MANYLINUX2014_LIBS = (
    "libatomic.so.1", "libgcc_s.so.1", "libstdc++.so.6", "libm.so.6", "libanl.so.1",
    "libdl.so.2", "librt.so.1", "libc.so.6", "libnsl.so.1", "libutil.so.1", "libpthread.so.0",
    "libX11.so.6", "libXext.so.6", "libXrender.so.1", "libICE.so.6", "libSM.so.6",
    "libGL.so.1", "libgobject-2.0.so.0", "libgthread-2.0.so.0", "libglib-2.0.so.0",
    "libresolv.so.2", "libexpat.so.1", "libz.so.1", "ld-linux-x86-64.so.2",
    "ld-linux.so.2", "ld-linux-aarch64.so.1", "ld64.so.2", "ld64.so.1", "ld-linux-armhf.so.3")

PRESETS: dict[str, Policy] = {
    # What every hardened distribution build already gives: no false alarms on it.
    "default": Policy("default", require=frozenset(_DEFAULT_REQUIRE)),
    # Everything a modern toolchain can do, including full RELRO and each machine's
    # control-flow protection (CET on x86, BTI and PAC on AArch64; n/a elsewhere).
    "strict": Policy("strict", require=frozenset(_DEFAULT_REQUIRE + (
        "canary", "fortify", "cet-ibt", "cet-shstk", "bti", "pac", "build-id")), relro="full",
        rpath_allow=(), runpath_allow=("origin",)),
    # Binaries to ship in a manylinux2014 wheel (auditwheel's limits).
    "manylinux2014": Policy("manylinux2014", require=frozenset((
        "glibc-version", "glibcxx-version", "cxxabi-version", "needed", "execstack",
        "textrel", "rpath", "well-formed")), max_glibc=(2, 17), max_glibcxx=(3, 4, 19),
        max_cxxabi=(1, 3, 7), needed_allow=MANYLINUX2014_LIBS, rpath_allow=("origin",),
        runpath_allow=("origin",)),
}

# Setting keys, as spelled in pyproject.toml (flags use the same words).
SETTINGS = ("preset", "checks", "require", "extend-require", "ignore", "relro", "max-glibc",
            "max-glibcxx", "max-cxxabi", "max-isa", "needed-allow", "rpath-allow",
            "runpath-allow", "exclude")


def check_ids(values, where: str) -> list[str]:
    """Validate a list of check ids (strings, or one comma-separated string)."""
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values:
        if not isinstance(v, str):
            raise PolicyError(where, f"check names must be strings, not {v!r}")
        for name in (p.strip() for p in v.split(",")):
            if not name:
                continue
            if name not in IDS:
                raise PolicyError(where, f"unknown check {name!r} (known: {', '.join(IDS)})")
            out.append(name)
    return out


def _strings(value, key, where) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [p for p in (s.strip() for s in value.split(",")) if p]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise PolicyError(where, f"{key} must be a list of strings")
    return tuple(value)


def _version(value, key, where):
    if value in (None, "", "none"):
        return None
    try:
        return parse_version(str(value))
    except ValueError as e:
        raise PolicyError(where, f"{key}: {e}") from None


def apply(policy: Policy, settings: dict, where: str) -> Policy:
    """One layer: `settings` (pyproject keys) applied over `policy`."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise PolicyError(where, f"unknown setting(s) {', '.join(unknown)} "
                                 f"(known: {', '.join(SETTINGS)})")
    s = settings
    changes = {}
    if "checks" in s:
        chosen = set(check_ids(s["checks"], where))
        changes["checks"] = tuple(c for c in IDS if c in chosen)
    require = set(policy.require)
    if "require" in s:
        require = set(check_ids(s["require"], where))
    require |= set(check_ids(s.get("extend-require", []), where))
    require -= set(check_ids(s.get("ignore", []), where))
    changes["require"] = frozenset(require)
    if "relro" in s:
        if s["relro"] not in RELRO_LEVELS:
            raise PolicyError(where, f"relro must be one of {', '.join(RELRO_LEVELS)}, "
                                     f"not {s['relro']!r}")
        changes["relro"] = s["relro"]
    for key in ("max-glibc", "max-glibcxx", "max-cxxabi"):
        if key in s:
            changes[key.replace("-", "_")] = _version(s[key], key, where)
    if "max-isa" in s:
        isa = s["max-isa"]
        isa = None if isa in (None, "", "none") else str(isa).removeprefix("x86-64-")
        if isa == "v1":
            isa = "baseline"
        if isa is not None and isa not in ISA_LEVELS:
            raise PolicyError(where, f"max-isa must be one of {', '.join(ISA_LEVELS)}, "
                                     f"not {s['max-isa']!r}")
        changes["max_isa"] = isa
    if "needed-allow" in s:
        changes["needed_allow"] = _strings(s["needed-allow"], "needed-allow", where)
    for key in ("rpath-allow", "runpath-allow"):
        if key in s:
            kinds = _strings(s[key], key, where)
            bad = [k for k in kinds if k not in RPATH_KINDS]
            if bad:
                raise PolicyError(where, f"{key}: unknown kind(s) {', '.join(bad)} "
                                         f"(known: {', '.join(RPATH_KINDS)})")
            changes[key.replace("-", "_")] = kinds
    if "exclude" in s:
        changes["exclude"] = _strings(s["exclude"], "exclude", where)
    return replace(policy, **changes, sources=policy.sources + (where,))


def preset(name: str, where: str) -> Policy:
    if name not in PRESETS:
        raise PolicyError(where, f"unknown policy preset {name!r} "
                                 f"(known: {', '.join(PRESETS)})")
    return PRESETS[name]


# --- pyproject.toml ------------------------------------------------------------------------
def find_pyproject(start: str) -> str | None:
    """The nearest pyproject.toml at or above `start`."""
    d = os.path.abspath(start)
    while True:
        candidate = os.path.join(d, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def read_config(path: str) -> dict | None:
    """The [tool.elfkit.check] table of `path`, or None when it has none."""
    try:
        import tomllib
    except ModuleNotFoundError:                      # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise PolicyError(path, "reading pyproject.toml needs Python 3.11+ or the tomli "
                                    "package (or pass --no-config)") from None
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise PolicyError(path, f"cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(path, f"not valid TOML: {e}") from None
    table = doc.get("tool", {}).get("elfkit", {}).get("check")
    if table is not None and not isinstance(table, dict):
        raise PolicyError(path, "[tool.elfkit.check] must be a table")
    return table


def build(flags: dict, preset_name: str | None = None, config_path: str | None = None,
          use_config: bool = True, start_dir: str = ".") -> Policy:
    """Preset, then the config table, then the command-line `flags` (same keys as SETTINGS)."""
    config, config_where = None, None
    if use_config:
        path = config_path or find_pyproject(start_dir)
        if path is not None:
            config = read_config(path)
            config_where = f"{path} [tool.elfkit.check]"
        elif config_path:
            raise PolicyError(config_path, "no such file")
    name = preset_name or (config or {}).get("preset") or "default"
    where = "--policy" if preset_name else (config_where if config and "preset" in config
                                            else "built-in")
    if not isinstance(name, str):
        raise PolicyError(where, "preset must be a string")
    policy = preset(name, where)
    policy = replace(policy, sources=(f"preset {name}",))
    if config:
        policy = apply(policy, {k: v for k, v in config.items() if k != "preset"}, config_where)
    if flags:
        policy = apply(policy, flags, "command line")
    return policy
