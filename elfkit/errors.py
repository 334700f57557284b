"""The one exception hierarchy: every error elfkit reports names the file and the problem."""


class ElfkitError(Exception):
    """Base of every error elfkit raises on purpose; the CLI turns it into one line and an exit code."""

    exit_code = 2

    def __init__(self, path, message, offset=None):
        self.path = str(path)
        self.message = message
        self.offset = offset
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f" at offset {self.offset:#x}" if self.offset is not None else ""
        return f"{self.path}: {self.message}{where}"


class ElfFormatError(ElfkitError):
    """The file is not ELF, or is damaged beyond reading the part that was asked for."""


class DebugInfoError(ElfFormatError):
    """The DWARF of a file (or of its separate debug file) is damaged or cannot be decoded."""


class InputError(ElfkitError):
    """The file cannot be opened or read at all."""
