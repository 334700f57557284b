"""ld's command line, as gcc passes it when it links a static program (issue 13).

Hand-written because ld's grammar is getopt_long_only's plus ld's own rules, which click
cannot express:

* a long option takes one dash or two (`-Map`, `--Map`, `-static`, `--entry`), except that
  a word starting with a lower-case `o` after one dash is `-o WORD` (`-omagic` names the
  output `magic`), as ld's manual says;
* a long option's value follows `=` or is the next argument (`-Map=f`, `-Map f`); an
  optional value (`--build-id[=STYLE]`) only follows `=`;
* a one-letter option's value is attached or the next argument (`-lc`, `-l c`, `-zrelro`,
  `-z relro`, `-melf_x86_64`, `-m elf_x86_64`); grouped one-letter options (`-sS`) are
  not taken (ld 2.40 deprecates them);
* `--` ends the options; `-` and every word not starting with `-` is an input file;
* `@FILE` anywhere is replaced by FILE's words before anything else (see expand_response_files).

Only exact option names are taken: ld also takes unambiguous abbreviations (`--gc-sec`);
elfkit does not, and names them as unrecognized.

Options that decide per input file (`-Bstatic`/`-Bdynamic`, `--whole-archive`,
`--as-needed`, `--push-state`/`--pop-state`) are recorded on each InputFile/InputLibrary.
`-L` is not: ld applies every -L to every -l wherever they stand, so find_library searches
the whole LinkOptions.library_paths.

parse_args prints each warning to stderr when it finds it (as ld does) and keeps the same
line in LinkOptions.warnings; callers must not print them again. Errors raise
LinkUsageError (exit code 2) with one line naming the option.
"""
from __future__ import annotations

import os
import sys
from elfkit.elf.record import Record

from elfkit import __version__
from elfkit.errors import ElfkitError, InputError

PROG = "elfkit link"
EMULATION = "elf_x86_64"

# SEARCH_DIR lines of ld's default script on x86_64 Debian (`ld --verbose | grep SEARCH_DIR`).
# `=` is the sysroot (empty unless --sysroot: Debian's ld prints an empty --print-sysroot).
DEFAULT_SEARCH_DIRS = (
    "=/usr/local/lib/x86_64-linux-gnu", "=/lib/x86_64-linux-gnu", "=/usr/lib/x86_64-linux-gnu",
    "=/usr/lib/x86_64-linux-gnu64", "=/usr/local/lib64", "=/lib64", "=/usr/lib64",
    "=/usr/local/lib", "=/lib", "=/usr/lib", "=/usr/x86_64-linux-gnu/lib64",
    "=/usr/x86_64-linux-gnu/lib",
)

# -z keywords elfkit records; any other one is ignored with a warning, as ld does.
Z_KEYWORDS = ("now", "lazy", "relro", "norelro", "noexecstack", "execstack", "separate-code",
              "noseparate-code", "text", "notext", "textoff", "defs", "undefs")
Z_VALUED = ("max-page-size", "common-page-size")


class LinkUsageError(ElfkitError):
    """A command line elfkit link does not take: one line naming the option, exit code 2."""

    exit_code = 2

    def __init__(self, message):
        super().__init__(PROG, message)


# ---------------------------------------------------------------------------- input items

class InputFile(Record):
    """An input named by path (object, archive, or anything else ld would open); `static`:
    the -Bstatic (True) or -Bdynamic (False) state at this point."""
    __slots__ = ("path", "whole_archive", "static", "as_needed")
    __hash__ = Record._hash

    def __init__(self, path: str, whole_archive=False, static=False, as_needed=False):
        self.path, self.whole_archive, self.static, self.as_needed = \
            path, whole_archive, static, as_needed


class InputLibrary(Record):
    """`-lNAME` (name "NAME") or `-l:FILE` (name ":FILE"), searched by find_library."""
    __slots__ = ("name", "whole_archive", "static", "as_needed")
    __hash__ = Record._hash

    def __init__(self, name: str, whole_archive=False, static=False, as_needed=False):
        self.name, self.whole_archive, self.static, self.as_needed = \
            name, whole_archive, static, as_needed

    @property
    def spelled(self) -> str:
        return f"-l{self.name}"


class GroupStart(Record):
    """`--start-group` / `-(`: archives up to the matching GroupEnd are searched repeatedly."""
    __slots__ = ()
    __hash__ = Record._hash


class GroupEnd(Record):
    """`--end-group` / `-)` (also added at the end for a group left open, as ld does)."""
    __slots__ = ()
    __hash__ = Record._hash


# InputItem: an InputFile, InputLibrary, GroupStart or GroupEnd.


class Defsym(Record):
    """`--defsym NAME=EXPR`, EXPR being NUMBER, SYMBOL, SYMBOL+NUMBER or SYMBOL-NUMBER;
    `symbol` None: an absolute value."""
    __slots__ = ("name", "symbol", "addend")
    __hash__ = Record._hash

    def __init__(self, name: str, symbol, addend: int):
        self.name, self.symbol, self.addend = name, symbol, addend


# LinkOptions' fields and defaults, in order (a plain class: importing dataclasses costs
# elfkit link's start-up more than a small link takes).
_OPTION_DEFAULTS = (
    ("inputs", list),              # InputItem, in command-line order
    ("library_paths", list),       # -L values as given, in order
    ("nostdlib", False),           # no DEFAULT_SEARCH_DIRS
    ("sysroot", ""),               # --sysroot=; replaces a leading = or $SYSROOT
    ("output", "a.out"),
    ("entry", None),               # -e; None: the linker's default (_start)
    ("map_file", None),            # -Map
    ("print_map", False),          # -M / --print-map: the map on stdout
    ("gc_sections", False),
    ("print_gc_sections", False),
    ("build_id", None),            # None, "sha1", "md5", "uuid" or "0x<hex>"
    ("eh_frame_hdr", False),
    ("hash_style", None),          # recorded; a static ET_EXEC has no hash table
    ("emulation", EMULATION),
    # -z keywords: None where the command line said nothing
    ("z_now", None),               # now True, lazy False
    ("z_relro", None),
    ("z_execstack", None),
    ("z_separate_code", None),
    ("z_text", None),
    ("max_page_size", None),
    ("common_page_size", None),
    ("z_keywords", list),          # every -z argument, in order
    ("no_undefined", False),       # --no-undefined / -z defs
    ("undefined", list),           # -u / --undefined, in order
    ("defsyms", list),             # Defsym, in order
    ("strip_all", False),
    ("strip_debug", False),
    ("trace_relocs", False),       # elfkit's own: print S, A, P and the value
    ("trace", False),              # -t / --trace: print each input as it is opened
    ("verbose", False),
    ("dynamic_linker", None),      # recorded; a static ET_EXEC has no PT_INTERP
    ("no_dynamic_linker", False),
    ("plugin", None),              # -plugin: recorded, never loaded (no LTO)
    ("plugin_opts", list),
    ("print_version", False),      # -v / -V / --version: print version_line()
    ("print_emulations", False),   # -V: also list the emulations
    ("print_help", False),         # --help: print help_text()
    ("version_only", False),       # print what was asked, exit 0, link nothing
    ("ignored_options", list),     # accepted with no effect
    ("warnings", list),            # lines already printed on stderr
)


class LinkOptions(Record):
    __slots__ = tuple(name for name, _ in _OPTION_DEFAULTS)

    def __init__(self, **values):
        for name, default in _OPTION_DEFAULTS:
            value = values.pop(name) if name in values else (
                default() if default is list else default)
            setattr(self, name, value)
        if values:
            raise TypeError(f"LinkOptions: no field {next(iter(values))!r}")

    def input_files(self) -> list:
        """The InputFile and InputLibrary items, without group markers."""
        return [i for i in self.inputs if isinstance(i, (InputFile, InputLibrary))]


def version_line() -> str:
    return f"{PROG} {__version__} (compatible with GNU linkers)"


def version_text(options: LinkOptions) -> str:
    text = version_line()
    if options.print_emulations:
        text += f"\n  Supported emulations:\n   {EMULATION}"
    return text


def help_text() -> str:
    return (f"Usage: {PROG} [options] file...\n"
            "elfkit's static linker: ET_REL objects and ar archives in, a static x86-64 ET_EXEC out.\n"
            "It takes the ld command line gcc passes for `gcc -static`: -o, -e/--entry, -l, -L,\n"
            "--start-group/--end-group, --whole-archive, -Bstatic, -static, -nostdlib, --sysroot,\n"
            "-Map, -M, --gc-sections, --print-gc-sections, --build-id, --eh-frame-hdr, -z KEYWORD,\n"
            "-u, --defsym, -s, -S, -t, --verbose, -v, --version, -plugin and -plugin-opt (ignored:\n"
            "no LTO), --trace-relocs (print each relocation's S, A, P and value).\n"
            "Refused: -pie, -static-pie, -shared, -r, -T/--script, --wrap.\n")


# ------------------------------------------------------------------------ response files

_SPACE = " \t\n\v\f\r"


def buildargv(text: str) -> list[str]:
    """Split a response file's text as libiberty's buildargv does (ld, gcc and collect2 all
    use it): words are separated by white space (space, tab, newline, \\v, \\f, \\r); a
    backslash takes the next character literally, inside quotes too; '...' and "..." quote
    white space and the other quote (the quotes are dropped); quotes may start or end in the
    middle of a word (a'b c'd is one word, ab cd); an empty quoted word ('' or "") is an
    empty argument; an unterminated quote or a trailing backslash ends at the end of text.
    Text of white space only gives no words."""
    if all(c in _SPACE for c in text):
        return []
    words = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        word = []
        squote = dquote = bsquote = False
        while i < n:
            c = text[i]
            if c in _SPACE and not (squote or dquote or bsquote):
                break
            if bsquote:
                bsquote = False
                word.append(c)
            elif c == "\\":
                bsquote = True
            elif squote:
                if c == "'":
                    squote = False
                else:
                    word.append(c)
            elif dquote:
                if c == '"':
                    dquote = False
                else:
                    word.append(c)
            elif c == "'":
                squote = True
            elif c == '"':
                dquote = True
            else:
                word.append(c)
            i += 1
        words.append("".join(word))
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n:
            return words


_MAX_RESPONSE_FILES = 2000


def expand_response_files(argv: list[str]) -> list[str]:
    """libiberty's expandargv: each argument `@FILE` is replaced by FILE's words
    (buildargv), which are scanned again (a response file may name another). An `@FILE`
    that cannot be read, or names a directory, stays as it is, an ordinary argument."""
    args = list(argv)
    i = expanded = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("@"):
            i += 1
            continue
        name = arg[1:]
        if os.path.isdir(name):
            i += 1
            continue
        try:
            with open(name, "rb") as f:
                text = os.fsdecode(f.read())
        except OSError:
            i += 1
            continue
        expanded += 1
        if expanded > _MAX_RESPONSE_FILES:
            raise LinkUsageError(f"{arg}: too many response files (a response file names itself?)")
        args[i:i + 1] = buildargv(text)
    return args


# ------------------------------------------------------------------------------- parsing

NONE, REQUIRED, OPTIONAL = 0, 1, 2

# Patterns as strings, compiled by re's cache on first use: `re` (and `enum` with it) is
# ~10 ms of start-up, and most links parse no script constant.
_NUMBER = (
    r"(?:0[xX](?P<hex>[0-9a-fA-F]+)|\$(?P<dollarhex>[0-9a-fA-F]+)|(?P<sfxhex>[0-9][0-9a-fA-F]*)[hH]"
    r"|(?P<sfxoct>[0-7]+)[oO]|(?P<sfxbin>[01]+)[bB]|(?P<sfxdec>[0-9]+)[dD]"
    r"|(?P<oct>0[0-7]*)|(?P<dec>[1-9][0-9]*))(?P<scale>[kKmM]?)$")
_SYMBOL = r"[A-Za-z_.$][A-Za-z0-9_.$]*$"


def _hex_pairs(value: str) -> bool:
    """0x followed by whole hex byte pairs (--build-id=0x...)."""
    digits = value[2:]
    return value[:2] in ("0x", "0X") and len(digits) % 2 == 0 and bool(digits) and \
        all(c in "0123456789abcdefABCDEF" for c in digits)


def _number(text: str) -> int | None:
    """An ld script constant: 0x/$ hex, leading-0 octal, decimal, h/o/b/d suffixes, K/M scale."""
    import re
    m = re.match(_NUMBER, text)
    if not m:
        return None
    bases = {"hex": 16, "dollarhex": 16, "sfxhex": 16, "sfxoct": 8, "sfxbin": 2, "sfxdec": 10,
             "oct": 8, "dec": 10}
    for group, base in bases.items():
        if m.group(group) is not None:
            value = int(m.group(group), base)
            break
    scale = m.group("scale").lower()
    return value * {"": 1, "k": 1024, "m": 1024 * 1024}[scale]


def parse_defsym(text: str) -> Defsym:
    import re
    name, eq, expr = text.partition("=")
    name, expr = name.strip(), expr.strip()
    if not eq or not re.match(_SYMBOL, name) or not expr:
        raise LinkUsageError(f"--defsym {text}: expected SYMBOL=EXPRESSION")
    value = _number(expr)
    if value is not None:
        return Defsym(name, None, value)
    m = re.match(r"([A-Za-z_.$][A-Za-z0-9_.$]*)\s*(?:([+-])\s*(\S+))?$", expr)
    if m:
        if m.group(2) is None:
            return Defsym(name, m.group(1), 0)
        addend = _number(m.group(3))
        if addend is not None:
            return Defsym(name, m.group(1), addend if m.group(2) == "+" else -addend)
    raise LinkUsageError(f"--defsym {text}: unsupported expression '{expr}' "
                         "(elfkit takes NUMBER, SYMBOL, SYMBOL+NUMBER or SYMBOL-NUMBER)")


def _page_size(text: str, what: str) -> int:
    # ld parses the value with strtoul(..., 0): 0x hex, leading-0 octal, decimal
    try:
        value = int(text, 16) if text[:2].lower() == "0x" else int(text, 8) if text.startswith("0") \
            else int(text, 10)
    except ValueError:
        value = -1
    if value <= 0 or value & (value - 1):
        raise LinkUsageError(f"invalid {what} page size `{text}'")
    return value


class _Parser:
    def __init__(self):
        self.o = LinkOptions()
        self.whole_archive = False
        self.static = False         # ld starts in -Bdynamic state; gcc -static passes -static
        self.as_needed = False
        self.state_stack = []
        self.group_depth = 0
        self.stop = False
        long_opts = {
            # inputs and where -l looks
            "library": (REQUIRED, self.library), "library-path": (REQUIRED, self.library_path),
            "static": (NONE, self.bstatic), "Bstatic": (NONE, self.bstatic),
            "dn": (NONE, self.bstatic), "non_shared": (NONE, self.bstatic),
            "Bdynamic": (NONE, self.bdynamic), "dy": (NONE, self.bdynamic),
            "call_shared": (NONE, self.bdynamic),
            "as-needed": (NONE, lambda v, s: setattr(self, "as_needed", True)),
            "no-as-needed": (NONE, lambda v, s: setattr(self, "as_needed", False)),
            "whole-archive": (NONE, lambda v, s: setattr(self, "whole_archive", True)),
            "no-whole-archive": (NONE, lambda v, s: setattr(self, "whole_archive", False)),
            "push-state": (NONE, self.push_state), "pop-state": (NONE, self.pop_state),
            "start-group": (NONE, self.start_group), "end-group": (NONE, self.end_group),
            "nostdlib": (NONE, lambda v, s: setattr(self.o, "nostdlib", True)),
            "sysroot": (REQUIRED, lambda v, s: setattr(self.o, "sysroot", v)),
            # the output
            "output": (REQUIRED, lambda v, s: setattr(self.o, "output", v)),
            "entry": (REQUIRED, lambda v, s: setattr(self.o, "entry", v)),
            "Map": (REQUIRED, lambda v, s: setattr(self.o, "map_file", v)),
            "print-map": (NONE, lambda v, s: setattr(self.o, "print_map", True)),
            "gc-sections": (NONE, lambda v, s: setattr(self.o, "gc_sections", True)),
            "no-gc-sections": (NONE, lambda v, s: setattr(self.o, "gc_sections", False)),
            "print-gc-sections": (NONE, lambda v, s: setattr(self.o, "print_gc_sections", True)),
            "no-print-gc-sections": (NONE,
                                     lambda v, s: setattr(self.o, "print_gc_sections", False)),
            "build-id": (OPTIONAL, self.build_id),
            "eh-frame-hdr": (NONE, lambda v, s: setattr(self.o, "eh_frame_hdr", True)),
            "no-eh-frame-hdr": (NONE, lambda v, s: setattr(self.o, "eh_frame_hdr", False)),
            "hash-style": (REQUIRED, self.hash_style),
            "strip-all": (NONE, lambda v, s: setattr(self.o, "strip_all", True)),
            "strip-debug": (NONE, lambda v, s: setattr(self.o, "strip_debug", True)),
            "no-undefined": (NONE, lambda v, s: setattr(self.o, "no_undefined", True)),
            "undefined": (REQUIRED, lambda v, s: self.o.undefined.append(v)),
            "defsym": (REQUIRED, lambda v, s: self.o.defsyms.append(parse_defsym(v))),
            "dynamic-linker": (REQUIRED, lambda v, s: setattr(self.o, "dynamic_linker", v)),
            "no-dynamic-linker": (NONE, lambda v, s: setattr(self.o, "no_dynamic_linker", True)),
            "no-pie": (NONE, self.ignore),
            # gcc's LTO plugin: recorded, never loaded
            "plugin": (REQUIRED, lambda v, s: setattr(self.o, "plugin", v)),
            "plugin-opt": (REQUIRED, lambda v, s: self.o.plugin_opts.append(v)),
            # reports
            "trace-relocs": (NONE, lambda v, s: setattr(self.o, "trace_relocs", True)),
            "trace": (NONE, lambda v, s: setattr(self.o, "trace", True)),
            "verbose": (OPTIONAL, lambda v, s: setattr(self.o, "verbose", True)),
            "version": (NONE, self.version),
            "help": (NONE, self.help),
            # refused: one line each
            "pie": (NONE, self.refuse_kind), "pic-executable": (NONE, self.refuse_kind),
            "static-pie": (NONE, self.refuse_kind), "shared": (NONE, self.refuse_kind),
            "Bshareable": (NONE, self.refuse_kind), "relocatable": (NONE, self.refuse_kind),
            "wrap": (REQUIRED, self.refuse_wrap),
            "script": (REQUIRED, self.refuse_script), "default-script": (REQUIRED, self.refuse_script),
            "dT": (REQUIRED, self.refuse_script),
            # accepted, no effect on a static ET_EXEC elfkit writes
            "color-diagnostics": (OPTIONAL, self.ignore), "no-color-diagnostics": (NONE, self.ignore),
            "add-needed": (NONE, self.ignore), "no-add-needed": (NONE, self.ignore),
            "copy-dt-needed-entries": (NONE, self.ignore),
            "no-copy-dt-needed-entries": (NONE, self.ignore),
            "enable-new-dtags": (NONE, self.ignore), "disable-new-dtags": (NONE, self.ignore),
            "export-dynamic": (NONE, self.ignore), "no-export-dynamic": (NONE, self.ignore),
            "fatal-warnings": (NONE, self.ignore), "no-fatal-warnings": (NONE, self.ignore),
            "warn-common": (NONE, self.ignore), "sort-common": (OPTIONAL, self.ignore),
            "relax": (NONE, self.ignore), "no-relax": (NONE, self.ignore),
            "warn-execstack": (NONE, self.ignore), "no-warn-execstack": (NONE, self.ignore),
            "warn-rwx-segments": (NONE, self.ignore), "no-warn-rwx-segments": (NONE, self.ignore),
            "discard-all": (NONE, self.ignore), "discard-locals": (NONE, self.ignore),
            "rpath": (REQUIRED, self.ignore), "rpath-link": (REQUIRED, self.ignore),
            "demangle": (OPTIONAL, self.ignore), "no-demangle": (NONE, self.ignore),
        }
        self.long_opts = long_opts
        self.short_opts = {
            "l": (REQUIRED, self.library), "L": (REQUIRED, self.library_path),
            "o": long_opts["output"], "e": long_opts["entry"], "m": (REQUIRED, self.emulation),
            "z": (REQUIRED, self.z_keyword), "u": long_opts["undefined"],
            "T": (REQUIRED, self.refuse_script), "O": (REQUIRED, self.ignore),
            "I": long_opts["dynamic-linker"], "s": long_opts["strip-all"],
            "S": long_opts["strip-debug"], "t": long_opts["trace"], "M": long_opts["print-map"],
            "v": (NONE, self.v), "V": (NONE, self.v), "E": (NONE, self.ignore),
            "x": (NONE, self.ignore), "X": (NONE, self.ignore), "g": (NONE, self.ignore),
            "r": (NONE, self.refuse_kind), "i": (NONE, self.refuse_kind),
            "(": long_opts["start-group"], ")": long_opts["end-group"],
        }

    # -- handlers: (value, the option as spelled on the command line)
    def add_input(self, item):
        self.o.inputs.append(item)

    def library(self, value, spelled):
        if not value:
            raise LinkUsageError(f"{spelled}: missing library name")
        self.add_input(InputLibrary(value, self.whole_archive, self.static, self.as_needed))

    def library_path(self, value, spelled):
        if not value:
            raise LinkUsageError(f"{spelled}: missing directory")
        self.o.library_paths.append(value)

    def bstatic(self, value, spelled):
        self.static = True

    def bdynamic(self, value, spelled):
        self.static = False

    def push_state(self, value, spelled):
        self.state_stack.append((self.whole_archive, self.static, self.as_needed))

    def pop_state(self, value, spelled):
        if not self.state_stack:
            raise LinkUsageError("no state pushed before popping")
        self.whole_archive, self.static, self.as_needed = self.state_stack.pop()

    def start_group(self, value, spelled):
        self.group_depth += 1
        self.add_input(GroupStart())

    def end_group(self, value, spelled):
        if self.group_depth == 0:
            raise LinkUsageError("group ended before it began")
        self.group_depth -= 1
        self.add_input(GroupEnd())

    def emulation(self, value, spelled):
        if value != EMULATION:
            raise LinkUsageError(f"unrecognised emulation mode: {value} "
                                 f"(supported emulations: {EMULATION})")
        self.o.emulation = value

    def build_id(self, value, spelled):
        if value is None or value == "sha1":
            self.o.build_id = "sha1"            # ld's default style
        elif value == "none":
            self.o.build_id = None
        elif value in ("md5", "uuid"):
            self.o.build_id = value
        elif _hex_pairs(value):
            self.o.build_id = "0x" + value[2:].lower()
        else:
            raise LinkUsageError(f"invalid --build-id argument '{value}' "
                                 "(none, sha1, md5, uuid or 0x followed by hex byte pairs)")

    def hash_style(self, value, spelled):
        if value not in ("sysv", "gnu", "both"):
            raise LinkUsageError(f"invalid hash style `{value}'")
        self.o.hash_style = value

    def z_keyword(self, value, spelled):
        o = self.o
        o.z_keywords.append(value)
        key, eq, arg = value.partition("=")
        if eq and key in Z_VALUED:
            size = _page_size(arg, "maximum" if key == "max-page-size" else "common")
            if key == "max-page-size":
                o.max_page_size = size
            else:
                o.common_page_size = size
        elif not eq and key in Z_KEYWORDS:
            settings = {"now": ("z_now", True), "lazy": ("z_now", False),
                        "relro": ("z_relro", True), "norelro": ("z_relro", False),
                        "execstack": ("z_execstack", True), "noexecstack": ("z_execstack", False),
                        "separate-code": ("z_separate_code", True),
                        "noseparate-code": ("z_separate_code", False),
                        "text": ("z_text", True), "notext": ("z_text", False),
                        "textoff": ("z_text", False),
                        "defs": ("no_undefined", True), "undefs": ("no_undefined", False)}
            setattr(o, *settings[key])
        else:
            self.warn(f"-z {value} ignored")

    def v(self, value, spelled):
        self.o.print_version = True
        if spelled == "-V":
            self.o.print_emulations = True

    def version(self, value, spelled):
        # ld prints its version and exits at once, whatever follows
        self.o.print_version = self.o.version_only = True
        self.stop = True

    def help(self, value, spelled):
        self.o.print_help = self.o.version_only = True
        self.stop = True

    def refuse_kind(self, value, spelled):
        raise LinkUsageError(f"{spelled}: not supported: elfkit link makes static ET_EXEC "
                             "executables only")

    def refuse_wrap(self, value, spelled):
        raise LinkUsageError(f"{spelled}: not supported (no symbol wrapping in elfkit link)")

    def refuse_script(self, value, spelled):
        raise LinkUsageError(f"{spelled}: linker scripts are not supported by elfkit link")

    def ignore(self, value, spelled):
        self.o.ignored_options.append(spelled if value is None else f"{spelled} {value}")

    def warn(self, message):
        line = f"{PROG}: warning: {message}"
        self.o.warnings.append(line)
        print(line, file=sys.stderr)

    # -- the loop
    def parse(self, argv):
        args = expand_response_files(argv)
        i = 0
        while i < len(args) and not self.stop:
            arg = args[i]
            i += 1
            if arg == "--":
                for rest in args[i:]:
                    self.add_input(InputFile(rest, self.whole_archive, self.static, self.as_needed))
                break
            if not arg.startswith("-") or arg == "-":
                self.add_input(InputFile(arg, self.whole_archive, self.static, self.as_needed))
                continue
            if arg.startswith("--"):
                name, eq, value = arg[2:].partition("=")
                spec = self.long_opts.get(name)
                if spec is None:
                    raise LinkUsageError(f"unrecognized option '{arg}'")
                i = self._take(spec, f"--{name}", value if eq else None, args, i)
                continue
            body = arg[1:]
            name, eq, value = body.partition("=")
            if body[0] != "o" and name in self.long_opts:
                i = self._take(self.long_opts[name], f"-{name}", value if eq else None, args, i)
                continue
            spec = self.short_opts.get(body[0])
            if spec is None or (spec[0] == NONE and len(body) > 1):
                raise LinkUsageError(f"unrecognized option '{arg}'")
            i = self._take(spec, f"-{body[0]}", body[1:] if len(body) > 1 else None, args, i)
        return self.finish()

    def _take(self, spec, spelled, value, args, i):
        kind, handler = spec
        if kind == NONE and value is not None:
            raise LinkUsageError(f"option '{spelled}' doesn't allow an argument")
        if kind == REQUIRED and value is None:
            if i >= len(args):
                raise LinkUsageError(f"{spelled}: missing argument")
            value = args[i]
            i += 1
        handler(value, spelled)
        return i

    def finish(self):
        o = self.o
        if o.version_only:
            return o
        while self.group_depth:
            self.warn("missing --end-group; added as last command line option")
            self.group_depth -= 1
            o.inputs.append(GroupEnd())
        if not o.input_files():
            if o.print_version:
                o.version_only = True       # `ld -v`: the version, and nothing to link
                return o
            raise LinkUsageError("no input files")
        return o


def parse_args(argv: list[str]) -> LinkOptions:
    """ld's arguments (without argv[0]) -> LinkOptions; LinkUsageError on anything refused."""
    return _Parser().parse(list(argv))


# ------------------------------------------------------------------------ library search

def _with_sysroot(path: str, sysroot: str) -> str:
    if path.startswith("="):
        return sysroot + path[1:]
    if path.startswith("$SYSROOT"):
        return sysroot + path[len("$SYSROOT"):]
    return path


def search_dirs(options: LinkOptions) -> list[str]:
    """Where -l looks, in order: every -L (command-line order), then, unless -nostdlib,
    ld's default SEARCH_DIRs; a leading `=` or `$SYSROOT` is the sysroot."""
    dirs = list(options.library_paths)
    if not options.nostdlib:
        dirs += DEFAULT_SEARCH_DIRS
    return [_with_sysroot(d, options.sysroot) for d in dirs]


def find_library(name: str, options: LinkOptions, static: bool) -> str:
    """The file `-l{name}` names, as ld finds it: `-l:FILE` is FILE itself, `-lNAME` is
    libNAME.a, looked for in each of search_dirs(options) in turn. Pass the item's `static`
    state: in -Bdynamic state (ld's default, before -static/-Bstatic) ld would take
    libNAME.so first; elfkit still takes libNAME.a wherever it is, and when there is only a
    libNAME.so that is an error naming it (in -Bstatic state ld never looks at .so files).
    Raises InputError `cannot find -lNAME: No such file or directory` as ld says."""
    dirs = search_dirs(options)
    if name.startswith(":"):
        candidates = [name[1:]]
    else:
        candidates = [f"lib{name}.a"]
    for d in dirs:
        for c in candidates:
            path = os.path.join(d, c)
            if os.path.isfile(path):
                return path
    if not static and not name.startswith(":"):
        for d in dirs:
            path = os.path.join(d, f"lib{name}.so")
            if os.path.isfile(path):
                raise InputError(PROG, f"-l{name}: only the shared library {path} was found; "
                                 "elfkit link makes static executables only (-static)")
    raise InputError(PROG, f"cannot find -l{name}: No such file or directory")
