"""Source lines beside the disassembly, as binutils 2.40's `objdump -S` (`--source`), `-l`
(`--line-numbers`) and `--inlines` print them (objdump.c's show_line, dump_lines, print_line,
index_file), from elfkit.debug's answer for each instruction's address (the innermost frame of
`Symbolizer.frames`: what bfd_find_nearest_line_discriminator gives objdump).

Before each instruction, `SourceLines.before(addr)` gives the lines to print:
- with line numbers: `function():` when the function changes (`-C`: its demangled name and
  a colon; its line is then printed whatever it is), `file:line` (with ` (discriminator N)`)
  when the line or the discriminator changes, and with inlines `inlined by file:line
  (function)` for each frame the code was inlined into;
- with source: when the line differs from the last one shown of that file, the lines from
  five before it (the first time, or after a jump forward past what was shown) or from the
  one after the last shown (a short step forward), else the line alone (a step back). A file
  that cannot be read shows nothing (objdump is silent too); a file newer than the binary is
  warned about once, on stderr. The file's lines are those ended by \\n, \\r, \\n\\r or \\r\\n
  (a last line without an end is not shown, as objdump does).
"""
from __future__ import annotations

import os
import re

CONTEXT = 5                         # objdump's SHOW_PRECEDING_CONTEXT_LINES
_EOL = re.compile(rb"\n\r?|\r\n?")


class _File:
    __slots__ = ("lines", "max_printed", "last_line")

    def __init__(self, lines):
        self.lines = lines
        self.max_printed = 0
        self.last_line = 0


def _read_lines(path: str):
    """The file's lines (text without their ends), or None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    out, start = [], 0
    for m in _EOL.finditer(data):
        out.append(data[start:m.start()].decode("utf-8", "replace"))
        start = m.end()
    return out


_CONTROL = re.compile(r"[\x00-\x1f]")


def _sanitize(text: str) -> str:
    """objdump's sanitize_string: a control character shown as ^ and its letter."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: "^" + chr(ord(m.group()) + 0x40), text)


class SourceLines:
    """objdump's show_line state for one disassembly run."""

    def __init__(self, symbolizer, source=True, line_numbers=False, inlines=False,
                 binary_path: str | None = None, warn=None, demangle=None):
        self.symbolizer = symbolizer
        self.demangle = demangle            # objdump -C: the function(): line demangled
        self.source = source
        self.line_numbers = line_numbers
        self.inlines = inlines
        self.warn = warn
        try:
            self.binary_mtime = int(os.stat(binary_path).st_mtime) if binary_path else None
        except OSError:
            self.binary_mtime = None
        self.files: dict[str, _File] = {}
        self.prev_function = None
        self.prev_line = -1
        self.prev_discriminator = 0

    def before(self, addr: int) -> list[str]:
        frames = self.symbolizer.frames(addr)
        if not frames:
            return []
        top = frames[0]
        function = top.function or None
        filename = top.file or None
        line, disc = top.line, top.discriminator
        out = []
        new_function = function is not None and function != self.prev_function
        if self.line_numbers:
            if new_function:
                shown = self.demangle(function) if self.demangle else function
                # objdump: a demangled name is shown without the parentheses it ends in
                out.append(f"{_sanitize(shown)}:" if shown != function
                           else f"{_sanitize(function)}():")
                self.prev_line = -1
            if line > 0 and (line != self.prev_line or disc != self.prev_discriminator):
                name = "???" if filename is None else _sanitize(filename)
                out.append(f"{name}:{line} (discriminator {disc})" if disc
                           else f"{name}:{line}")
            if self.inlines:
                for fr in frames[1:]:
                    out.append(f"inlined by {_sanitize(fr.file or '??')}:{fr.line} "
                               f"({_sanitize(fr.function or '??')})")
        if self.source and filename is not None and line > 0:
            p = self.files.get(filename) or self._open(filename)
            if p is not None and line != p.last_line:
                start = line - CONTEXT if line > CONTEXT else 1
                if p.max_printed >= start:
                    start = p.max_printed + 1 if p.max_printed < line else line
                # lines past the file's end (a stale or different file) are skipped
                out.extend(p.lines[n - 1] for n in range(start, min(line, len(p.lines)) + 1))
                p.max_printed = max(p.max_printed, line)
                p.last_line = line
        if new_function:
            self.prev_function = function
        if line > 0 and line != self.prev_line:
            self.prev_line = line
        self.prev_discriminator = disc
        return out

    def _open(self, filename: str):
        lines = _read_lines(filename)
        if lines is None:
            return None                     # not kept: asked again next time, as objdump
        p = self.files[filename] = _File(lines)
        if self.warn is not None and self.binary_mtime is not None:
            try:
                if int(os.stat(filename).st_mtime) > self.binary_mtime:
                    self.warn(f"source file {filename} is more recent than object file")
            except OSError:
                pass
        return p

    def location(self, addr: int) -> str | None:
        """`file:line` of the code at `addr` (a call's target), as addr2line names it."""
        frames = self.symbolizer.frames(addr)
        if not frames or frames[0].file is None or not frames[0].line:
            return None
        return f"{frames[0].file}:{frames[0].line}"
