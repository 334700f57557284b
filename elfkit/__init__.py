"""elfkit: show, run and check x86-64 Linux ELF programs as the kernel and ld.so see them."""

__version__ = "0.1.0"
