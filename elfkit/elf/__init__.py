"""Parsing: an ELF file turned into plain typed data (no emulator, no CLI)."""


def __getattr__(name):
    """`ElfFile`, imported on first use: a module of this package (record.py for the linker)
    does not pull in the file, header and constants modules with it."""
    if name == "ElfFile":
        from elfkit.elf.file import ElfFile
        return ElfFile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ElfFile"]
