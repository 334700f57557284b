"""`elfkit link ARGS`: ld's command line (options.py) -> a Link (link.py) -> the executable
(write.py), a -Map file (mapfile.py) and, with --trace-relocs, each relocation's S, A, P and
value on stdout.

Inputs are taken in command-line order, as ld takes them: an object is loaded whole; an
archive contributes the members that define a symbol still wanted; archives between
--start-group and --end-group are walked again until none contributes anything; a GNU ld
script given as an input (Debian's libm.a is `GROUP ( libm-2.36.a libmvec.a )`) has its
INPUT/GROUP files taken in its place.
"""
from __future__ import annotations

import os
import sys

from elfkit.ld import options as O
from elfkit.ld.input import LinkError
from elfkit.ld.link import Link

def run(argv: list[str], out=sys.stdout, err=sys.stderr) -> int:
    opts = O.parse_args(argv)
    if opts.print_help:
        out.write(O.help_text())
    if opts.print_version:
        out.write(O.version_text(opts) + "\n")
    if opts.version_only or (opts.print_version and not opts.input_files()):
        return 0
    if not opts.input_files():
        raise LinkError("no input files")
    link = Link(entry=opts.entry or "_start", build_id=opts.build_id not in (None, "none"),
                eh_frame_hdr=True, execstack=opts.z_execstack,
                relro=opts.z_relro is not False, gc_sections=opts.gc_sections,
                defsyms=[_defsym_text(d) for d in opts.defsyms], undefined=opts.undefined,
                trace=opts.trace_relocs)
    if opts.print_gc_sections:
        link.print_gc = lambda line: err.write(f"elfkit link: {line}\n")
    _add_inputs(link, opts, err)
    link.run()
    for w in link.warnings:
        err.write(f"elfkit link: {w}\n")
    from elfkit.ld.write import write_executable
    write_executable(link, opts.output, strip_all=opts.strip_all)
    if opts.map_file or opts.print_map:
        from elfkit.ld.mapfile import write_map
        if opts.print_map:
            write_map(link, out)
        if opts.map_file:
            with open(opts.map_file, "w") as f:
                write_map(link, f)
    if opts.trace_relocs:
        from elfkit.ld.mapfile import write_reloc_trace
        write_reloc_trace(link, out)
    return 0


def _defsym_text(d) -> str:
    if d.symbol is not None:
        raise LinkError(f"--defsym {d.name}={d.symbol}...: only numbers are supported")
    return f"{d.name}={d.addend}"


def _add_inputs(link: Link, opts, err):
    group = None
    for item in opts.inputs:
        if isinstance(item, O.GroupStart):
            group = []
            continue
        if isinstance(item, O.GroupEnd):
            if group:
                link.rescan_group(group)
            group = None
            continue
        if isinstance(item, O.InputLibrary):
            path = O.find_library(item.name, opts, item.static)
        else:
            path = item.path
        if opts.trace:
            err.write(f"{path}\n")
        _add_path(link, path, item.whole_archive, group, opts)


def _without_comments(text: str) -> str:
    out, i = [], 0
    while (start := text.find("/*", i)) >= 0:
        out.append(text[i:start])
        out.append(" ")
        end = text.find("*/", start + 2)
        i = len(text) if end < 0 else end + 2
    out.append(text[i:])
    return "".join(out)


def script_inputs(text: str) -> list[tuple[str, list[str]]]:
    """(GROUP or INPUT, its file names) for each such command of a linker script, in order:
    comments dropped, AS_NEEDED(...) taken as the names it holds, names separated by blanks or
    commas, a double-quoted name whole (ld's ldgram.y and ldlex.l). A command whose
    parentheses do not close is not one. (By hand, not with `re`: importing it, and `enum`
    with it, was ~8 ms of a link whose -lm is a script.)"""
    text = _without_comments(text)
    out, i, n = [], 0, len(text)
    while True:
        found = [p for p in (text.find("GROUP", i), text.find("INPUT", i)) if p >= 0]
        if not found:
            return out
        at = min(found)
        kind, i = text[at:at + 5], at + 5
        if at and (text[at - 1].isalnum() or text[at - 1] == "_"):
            continue                                 # inside a longer word
        j = i
        while j < n and text[j].isspace():
            j += 1
        if j >= n or text[j] != "(":
            continue
        depth, k = 1, j + 1
        while k < n and depth:
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            k += 1
        if depth:
            return out
        out.append((kind, [w for w in _words(text[j + 1:k - 1])
                           if w not in ("(", ")", "AS_NEEDED")]))
        i = k


def _words(body: str) -> list[str]:
    """A command's names: separated by blanks, commas and parentheses; a name in double quotes
    is taken whole, quotes off (ldlex.l's quoted strings: "foo bar.o" is one file)."""
    out, i, n = [], 0, len(body)
    while i < n:
        c = body[i]
        if c.isspace() or c == ",":
            i += 1
        elif c in "()":
            out.append(c)
            i += 1
        elif c == '"':
            end = body.find('"', i + 1)
            end = n if end < 0 else end
            out.append(body[i + 1:end])
            i = end + 1
        else:
            j = i
            while j < n and not body[j].isspace() and body[j] not in ',()"':
                j += 1
            out.append(body[i:j])
            i = j
    return out


def _add_path(link, path, whole, group, opts, depth=0):
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        head = b""
    if head and not head.startswith((b"\x7fELF", b"!<arch>\n", b"!<thin>\n")) and \
            script_inputs(head.decode("latin-1")):
        if depth > 8:
            raise LinkError(f"{path}: linker scripts nest too deeply")
        text = open(path, encoding="latin-1").read()
        base = os.path.dirname(path)
        for kind, names in script_inputs(text):
            archives = [] if kind == "GROUP" else group
            for n in names:
                p = O.find_library(n[2:], opts) if n.startswith("-l") else \
                    (n if os.path.isabs(n) or os.path.exists(n) else os.path.join(base, n))
                _add_path(link, p, whole, archives, opts, depth + 1)
            if kind == "GROUP" and archives:
                link.rescan_group(archives)
                if group is not None:
                    group.extend(archives)
        return
    archive = link.add_file(path, whole)
    if archive is not None and group is not None:
        group.append(archive)


__all__ = ["run"]


# --- load-and-run on objects ---------------------------------------------------------------
def is_link_input(path: str) -> bool:
    """An ET_REL ELF file or an ar archive (what `load-and-run` links before it runs)."""
    try:
        with open(path, "rb") as f:
            head = f.read(18)
    except OSError:
        return False
    if head.startswith((b"!<arch>\n", b"!<thin>\n")):
        return True
    return head[:4] == b"\x7fELF" and len(head) == 18 and head[16] == 1 and head[17] == 0


def _gcc_file(name: str) -> str:
    """Where gcc finds a start-up file or library (`gcc -print-file-name`): the same files
    `gcc -static` would link."""
    import subprocess
    try:
        out = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                             text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    if not out or out == name or not os.path.exists(out):
        raise LinkError(f"{name}: not found (the objects define no _start, so they are linked "
                        "as `gcc -static` links them, and that needs gcc's C library files)")
    return os.path.normpath(out)


def link_for_run(paths: list[str], output: str) -> None:
    """Link `paths` (objects and archives, in order) into the static executable `output`: as
    they are when one of them defines _start, else as `gcc -static` would (crt1.o crti.o
    crtbeginT.o OBJECTS --start-group libgcc.a libgcc_eh.a libc.a --end-group crtend.o
    crtn.o)."""
    from elfkit.ld.input import ObjectFile
    from elfkit.ld.write import write_executable
    inputs = []                         # each object read and parsed once, archives by path
    for p in paths:
        try:
            with open(p, "rb") as f:
                head = f.read(8)
                data = None if head.startswith((b"!<arch>\n", b"!<thin>\n")) else head + f.read()
        except OSError as e:
            raise LinkError(f"{p}: {e.strerror or e}") from None
        inputs.append(p if data is None else ObjectFile(p, data))
    defines_start = any(s.name == "_start" and s.bind != 0 and s.shndx != 0
                        for o in inputs if not isinstance(o, str) for s in o.symbols)
    link = Link()

    def add_inputs():
        for item in inputs:
            if isinstance(item, str):
                link.add_archive(item)
            else:
                link.add_object(item)
    if defines_start:
        add_inputs()
    else:
        for name in ("crt1.o", "crti.o", "crtbeginT.o"):
            link.add_file(_gcc_file(name))
        add_inputs()
        group = [link.add_archive(_gcc_file(n)) for n in ("libgcc.a", "libgcc_eh.a", "libc.a")]
        link.rescan_group(group)
        for name in ("crtend.o", "crtn.o"):
            link.add_file(_gcc_file(name))
    link.run()
    write_executable(link, output)
