"""The guest's view of the file system: every guest path resolves inside one host directory.

Like chroot(2) (and qemu-user's -L), resolution walks the path one component
at a time, follows symbolic links itself and reads their targets as guest
paths, and clamps `..` at the root, so no path or link can lead outside it.
With the root `/` this is the host's own file system.
"""
from __future__ import annotations

import errno
import os
import stat

MAXSYMLINKS = 40


class PathError(OSError):
    """A guest path that cannot be resolved; .errno is what the syscall returns."""


class _Reached(Exception):
    """Sysroot._walk entered the directory it was asked to stop at; .rest is the path after."""

    def __init__(self, rest: list[str]):
        super().__init__()
        self.rest = rest


class Sysroot:
    def __init__(self, root: str = "/"):
        self.root = os.path.realpath(root)
        self.identity = self.root == "/"

    def host_path(self, guest_path: str, cwd: str = "/", follow_last: bool = True) -> str:
        """The host path for an absolute or cwd-relative guest path."""
        if isinstance(guest_path, bytes):
            guest_path = os.fsdecode(guest_path)
        if not guest_path:
            raise PathError(errno.ENOENT, "empty path")
        if self.identity:
            # The host kernel resolves it exactly as it would for a native process.
            return guest_path if guest_path.startswith("/") else os.path.join(cwd, guest_path)
        parts = self._walk(guest_path, cwd, follow_last)
        return self._join(parts)

    def guest_path(self, host_path: str) -> str:
        """The guest's name for a host path inside the root (for readlink, getcwd)."""
        if self.identity:
            return host_path
        rel = os.path.relpath(host_path, self.root)
        return "/" if rel == "." else "/" + rel

    def display_path(self, host_path: str) -> str:
        """The name the kernel would show for an opened file (/proc/PID/maps, /proc/PID/exe):
        its absolute path with every symbolic link resolved, as the guest sees it."""
        if self.identity:
            return os.path.realpath(host_path)
        return self.guest_path(host_path)

    def _join(self, parts: list[str]) -> str:
        if self.identity:
            return "/" + "/".join(parts)
        return os.path.join(self.root, *parts) if parts else self.root

    def reaches(self, guest_path: str, top: str, follow_last: bool = True) -> str | None:
        """The guest path `/top/...` that guest_path resolves to when its walk enters the
        directory `top` of the root (by any spelling: //top, a symbolic link to it or into
        it), the rest of the path unresolved; None when it does not get there. Files there
        are not the host's to show (/proc: elfkit.kernel.fs.proc)."""
        try:
            self._walk(guest_path, "/", follow_last, stop_at=top)
        except _Reached as r:
            return os.path.normpath("/" + "/".join([top, *r.rest]))
        except PathError:
            pass
        return None

    def _walk(self, path: str, cwd: str, follow_last: bool, stop_at: str | None = None) -> list[str]:
        stack: list[str] = []
        if not path.startswith("/"):
            stack = [p for p in cwd.split("/") if p]
        todo = [p for p in path.split("/") if p][::-1]
        trailing_slash = path.endswith("/")
        links = 0
        while todo:
            part = todo.pop()
            if part == ".":
                continue
            if part == "..":
                if stack:
                    stack.pop()
                continue
            if stop_at is not None and not stack and part == stop_at:
                raise _Reached(todo[::-1])
            candidate = stack + [part]
            last = not todo
            host = self._join(candidate)
            if last and not follow_last and not trailing_slash:
                stack = candidate
                break
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                if last:
                    stack = candidate
                    break
                raise PathError(errno.ENOENT, "no such file or directory") from None
            except NotADirectoryError:
                raise PathError(errno.ENOTDIR, "not a directory") from None
            except OSError as e:
                raise PathError(e.errno or errno.EIO, str(e)) from None
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAXSYMLINKS:
                    raise PathError(errno.ELOOP, "too many levels of symbolic links")
                target = os.readlink(host)
                if target.startswith("/"):
                    stack = []
                todo.extend([p for p in target.split("/") if p][::-1])
                continue
            if not last and not stat.S_ISDIR(st.st_mode):
                raise PathError(errno.ENOTDIR, "not a directory")
            stack = candidate
        return stack
