"""The parsers' property, for property-based and coverage-guided fuzzing of elfkit/elf.

`parse_everything(data)`: any bytes handed to ElfFile and to every view of both renderers
(text and JSON, what `inspect --all` prints) and the hardening facts (`check`) end either in
output or in elfkit's documented error (ElfkitError: one line, exit 2), never in another
exception. tests/test_fuzz_parsers.py states it for hypothesis (random bytes, and real files
with bytes changed, shrunk to a minimal example on failure); run as

    python -m elfkit.fuzz.parsers [CORPUS_DIR ...] [-atheris_runs=N]

it is a libFuzzer target under atheris (coverage-guided: the inputs that reach new lines of
elfkit/elf are kept and mutated further), when atheris is installed (it is not a dependency).
"""
from __future__ import annotations

import io
import sys

VIEWS = ["summary", "header", "segments", "sections", "dynamic", "relocations", "symbols",
         "dyn_syms", "versions", "notes", "arch_specific", "got"]


def parse_everything(data: bytes) -> bool:
    """True when `data` was read and rendered, False when it was refused with ElfkitError;
    any other exception propagates (the property's failure)."""
    from elfkit.check.hardening import nx, relro
    from elfkit.elf import ElfFile
    from elfkit.errors import ElfkitError
    from elfkit.render.inspect_json import write_inspect_json
    from elfkit.render.inspect_text import write_inspect_text
    try:
        elf = ElfFile.from_bytes(bytes(data), "<fuzz>")
        write_inspect_text(elf, VIEWS, io.StringIO())
        write_inspect_json(elf, VIEWS, io.StringIO())
        relro(elf)
        nx(elf)
    except ElfkitError as e:
        if "\n" in e.one_line():
            raise AssertionError(f"error message spans lines: {e.one_line()!r}") from None
        return False
    return True


def main(argv):
    import atheris
    with atheris.instrument_imports(include=["elfkit.elf", "elfkit.render", "elfkit.check"]):
        import elfkit.check.hardening  # noqa: F401
        import elfkit.elf  # noqa: F401
        import elfkit.render.inspect_json  # noqa: F401
        import elfkit.render.inspect_text  # noqa: F401
    atheris.Setup(argv, parse_everything)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
