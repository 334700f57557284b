"""Parsing: an ELF file turned into plain typed data (no emulator, no CLI)."""
from elfkit.elf.file import ElfFile

__all__ = ["ElfFile"]
