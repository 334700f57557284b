"""Hardening and ABI checks over parsed ELF files."""
