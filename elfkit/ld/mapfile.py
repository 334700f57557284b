"""`-Map FILE`: where every input section and symbol went (ld's map, in a simpler layout),
and `--trace-relocs`: each relocation of the link with the lecture's S, A, P and the value
written."""
from __future__ import annotations

from elfkit.elf.constants import reloc_type_name


def write_map(link, out):
    w = out.write
    w("Memory map (elfkit link)\n\n")
    w(f"{'Output section / input':<40} {'Address':>18} {'Size':>10}  Object\n")
    for o in link.outputs:
        w(f"\n{o.name:<40} {o.addr:#18x} {o.size:#10x}\n")
        for s in o.inputs:
            owner = getattr(s.obj, "name", "<linker>")
            w(f" {s.name:<39} {o.addr + s.out_offset:#18x} {s.size:#10x}  {owner}\n")
    w("\nSymbols\n\n")
    rows = []
    for g in link.table.symbols.values():
        if g.defined and (g.section is None or g.section.out is not None):
            rows.append((link._sym_addr(g), g.name, g.obj.name if g.obj else "<linker>"))
    for addr, name, owner in sorted(rows):
        w(f"{addr:#18x}  {name:<40} {owner}\n")


def write_reloc_trace(link, out):
    w = out.write
    from elfkit.elf.reloc_names import X86_64_FORMULAS
    w(f"{'Place (P)':>18} {'Type':<24} {'Symbol':<32} {'S':>18} {'A':>10} {'Value':>18}  "
      "Input  Formula\n")
    for sec, off, rtype, name, S, A, P, value in link.relocator.trace:
        w(f"{P:#18x} {reloc_type_name(rtype, 62):<24} {name[:32]:<32} {S:#18x} {A:>#10x} "
          f"{value & 0xFFFFFFFFFFFFFFFF:#18x}  {sec.obj.name}({sec.name}+{off:#x})  "
          f"{X86_64_FORMULAS.get(rtype, '?')}\n")
