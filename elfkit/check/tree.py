"""Which files a run looks at: arguments walked into files, excludes, and the --shard split.

Directories are walked in name order (so runs are reproducible); symbolic
links met inside a directory are skipped (the file they point to is checked
where it lives, as `find -type f` does), while a link named on the command
line is followed. A shard is chosen by a hash of the path *relative to the
argument it was found under*, so the same tree splits the same way on every
machine and from any working directory.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Target:
    path: str           # what to open
    relpath: str        # below its argument (POSIX separators); the argument itself for files


@dataclass(slots=True)
class Walk:
    targets: list[Target] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)   # (path, why)
    symlinks: int = 0           # links inside directories, not followed
    special: int = 0            # sockets, pipes, devices
    excluded: int = 0
    outside_shard: int = 0


def walk(arguments, exclude=()) -> Walk:
    out = Walk()
    for arg in arguments:
        try:
            st = os.stat(arg)
        except FileNotFoundError:
            out.unreadable.append((arg, "no such file or directory"))
            continue
        except OSError as e:
            out.unreadable.append((arg, e.strerror or str(e)))
            continue
        if stat.S_ISDIR(st.st_mode):
            _walk_dir(arg, "", exclude, out)
        elif stat.S_ISREG(st.st_mode):
            out.targets.append(Target(arg, os.path.normpath(arg).replace(os.sep, "/")))
        else:
            out.unreadable.append((arg, "not a regular file or directory"))
    return out


def _walk_dir(top, rel, exclude, out: Walk):
    here = os.path.join(top, rel) if rel else top
    try:
        with os.scandir(here) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        out.unreadable.append((here, e.strerror or str(e)))
        return
    for entry in entries:
        sub = f"{rel}/{entry.name}" if rel else entry.name
        if exclude and any(fnmatch.fnmatchcase(sub, p) for p in exclude):
            out.excluded += 1
            continue
        try:
            if entry.is_symlink():
                out.symlinks += 1
            elif entry.is_dir(follow_symlinks=False):
                _walk_dir(top, sub, exclude, out)
            elif entry.is_file(follow_symlinks=False):
                out.targets.append(Target(entry.path, sub))
            else:
                out.special += 1
        except OSError as e:
            out.unreadable.append((entry.path, e.strerror or str(e)))


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 1 <= K <= N; ValueError otherwise."""
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise ValueError(f"{text!r} is not K/N (e.g. 1/4)")
    k, n = int(k), int(n)
    if not 1 <= k <= n:
        raise ValueError(f"{text!r}: K must be between 1 and N")
    return k, n


def shard_of(relpath: str, count: int) -> int:
    """1-based shard of a relative path: a hash, so it never depends on the machine."""
    digest = hashlib.blake2b(relpath.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count + 1


def select_shard(w: Walk, k: int, n: int) -> Walk:
    kept = [t for t in w.targets if shard_of(t.relpath, n) == k]
    w.outside_shard = len(w.targets) - len(kept)
    w.targets = kept
    return w
