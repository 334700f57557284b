"""What the file carries besides code: symbol table, debug info, build-id, and damage found.

All from section headers and notes; none of these needs the symbol tables
decoded (a .symtab is recognised by its section header alone).
"""
from __future__ import annotations

from elfkit.check.facts import KINDS
from elfkit.check.results import FAIL, NA, PASS, result
from elfkit.elf.constants import SHT


def check_stripped(facts, policy):
    """Stripped: no .symtab (only .dynsym, which ld.so needs, remains)."""
    if facts.kind in ("object", "core", "other"):
        return result("stripped", NA, "n/a", f"{KINDS[facts.kind]}", symtab_entries=None)
    sections = facts.elf.sections
    if not sections:
        return result("stripped", PASS, "yes", "no section headers, so no .symtab",
                      symtab_entries=0)
    tables = [s for s in sections if s.type == SHT.SYMTAB]
    if not tables:
        return result("stripped", PASS, "yes", "no .symtab", symtab_entries=0)
    entsize = facts.elf.fmt.sym.size
    count = sum(s.size // entsize for s in tables)
    return result("stripped", FAIL, "no", f".symtab with {count} entries", symtab_entries=count)


def check_debug_info(facts, policy):
    """Debug info in the file itself (.debug_* / .zdebug_*), as opposed to a separate file."""
    if facts.kind in ("core", "other"):
        return result("debug-info", NA, "n/a", KINDS[facts.kind], sections=[], debuglink=None)
    sections = facts.elf.sections
    debug = [s.name for s in sections if s.name.startswith((".debug_", ".zdebug_"))
             and s.type != SHT.NOBITS and s.size]
    link = next((s for s in sections if s.name == ".gnu_debuglink"), None)
    debuglink = facts.elf.cstring(link.offset, link.offset + link.size) if link else None
    if debug:
        return result("debug-info", FAIL, "yes", f"{len(debug)} DWARF section(s) in the file",
                      sections=debug, debuglink=debuglink)
    why = (f"no DWARF sections; separate debug file {debuglink!r}" if debuglink else
           "no DWARF sections")
    return result("debug-info", PASS, "no", why, sections=[], debuglink=debuglink)


def check_build_id(facts, policy):
    """NT_GNU_BUILD_ID: what debuginfod, crash reports and separate debug files key on."""
    if facts.kind in ("core", "other"):
        return result("build-id", NA, "n/a", KINDS[facts.kind], build_id=None)
    bid = facts.build_id
    if bid is None:
        return result("build-id", FAIL, "none", "no NT_GNU_BUILD_ID note", build_id=None)
    return result("build-id", PASS, bid[:12], f"build-id {bid}", build_id=bid)


def check_well_formed(facts, policy):
    """Damage found while reading what the other checks needed (run last)."""
    warnings = list(facts.elf.warnings)
    if warnings:
        return result("well-formed", FAIL, f"{len(warnings)} problem(s)", warnings[0],
                      warnings=warnings)
    return result("well-formed", PASS, "yes", "no damage found in what was read", warnings=[])
