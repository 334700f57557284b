"""fs/proc/task_mmu.c's /proc/PID/maps lines, read back into areas, each named by what it is."""
from __future__ import annotations

import os

from elfkit.report.data import Area

SPECIAL = {"[heap]": "heap", "[stack]": "stack", "[vdso]": "vdso", "[vvar]": "vvar",
           "[vvar_vclock]": "vvar", "[vsyscall]": "vsyscall"}


def parse_maps(text: str, program: str | None, interpreter: str | None) -> list[Area]:
    """Every line of `text` (Mm.maps_text) as an Area; `program` and `interpreter` are the paths
    /proc shows for them (their areas, bss included, take their kind)."""
    areas = []
    for line in text.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 5:
            continue
        lo, hi = fields[0].split("-")
        name = fields[5] if len(fields) > 5 else ""
        areas.append(Area(int(lo, 16), int(hi, 16), fields[1], int(fields[2], 16), name,
                          _kind(name, program, interpreter), line))
    _name_bss(areas)
    return areas


def _kind(name: str, program, interpreter) -> str:
    if name in SPECIAL:
        return SPECIAL[name]
    if not name:
        return "anonymous"
    if name == program:
        return "program"
    if name == interpreter:
        return "interpreter"
    base = os.path.basename(name)
    if ".so" in base:
        return "library"
    return "file"


def _name_bss(areas: list[Area]):
    """An anonymous area right after an object's last file area is its bss (binfmt_elf's and
    _dl_map_segments' zero-fill): it is drawn as part of that object."""
    for prev, cur in zip(areas, areas[1:]):
        if cur.kind == "anonymous" and prev.end == cur.start and \
                prev.kind in ("program", "interpreter", "library"):
            cur.kind = prev.kind + "-bss"
            cur.bss_of = prev.bss_of or prev.name


def owner(area: Area) -> str:
    """What the area belongs to, for a label: the file's base name, or the special name."""
    if area.name:
        return os.path.basename(area.name) if area.name.startswith("/") else area.name
    if area.kind.endswith("-bss"):
        return f"{os.path.basename(area.bss_of)} (bss)"
    return "(anonymous)"
