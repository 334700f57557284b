"""`elfkit disasm FILE [SYMBOL]`: capstone disassembly with call and jump targets named."""
from __future__ import annotations

import click

from elfkit.elf import ElfFile
from elfkit.errors import ElfkitError


def _int(ctx, param, value):
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number (use 0x... for hex)") from None


@click.command()
@click.argument("file", type=click.Path(path_type=str))
@click.argument("symbol", required=False)
@click.option("--section", help="Disassemble this whole section (e.g. .plt).")
@click.option("--start", callback=_int, help="Start at this virtual address.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after N instructions.")
@click.option("-C", "--demangle", is_flag=True,
              help="Show C++ and Rust names of call and jump targets demangled, as objdump -C.")
@click.option("-S", "--source", is_flag=True,
              help="Source lines interleaved with the instructions, as objdump -S, and "
                   "file:line beside call targets (DWARF of FILE or its debug file).")
@click.option("-l", "--line-numbers", is_flag=True,
              help="function(): and file:line before the code of each line, as objdump -l.")
@click.option("--inlines", is_flag=True,
              help="With -l: where inlined code was inlined, as objdump --inlines.")
@click.option("--debug-dir", "debug_dirs", multiple=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=str),
              help="Also look for separate debug files in DIR, before /usr/lib/debug.")
def disasm(file, symbol, section, start, count, demangle, source=False, line_numbers=False,
           inlines=False, debug_dirs=()):
    """Disassemble SYMBOL (default: the code at the entry point) or --section / --start."""
    from elfkit.render.disasm import (code_address, code_sections, disassemble, find_symbol,
                                      symbol_code)
    elf = ElfFile.open(file)
    symbolizer = lines = None
    if source or line_numbers:
        # debug information: source lines and, for a stripped file, names from its DWARF
        from elfkit.debug import DebugStore
        from elfkit.render.source import SourceLines
        symbolizer = DebugStore(debug_dirs).symbolizer(elf)
        lines = SourceLines(symbolizer, source=source, line_numbers=line_numbers,
                            inlines=inlines, binary_path=file,
                            warn=lambda m: click.echo(f"elfkit: warning: {m}", err=True),
                            demangle=_demangler() if demangle else None)
    sections = code_sections(elf)
    in_section = None            # the section's index, when it is known which one
    if section:
        sec = next((s for s in elf.sections if s.name == section), None)
        if sec is None:
            raise ElfkitError(file, f"no section named {section}")
        begin, end = sec.addr, sec.addr + sec.size
        in_section = sec.index
    elif symbol:
        sym = find_symbol(elf, symbol)
        found = symbolizer.find_function(symbol) if sym is None and symbolizer else None
        if sym is None and found is None:
            raise ElfkitError(file, f"no defined symbol named {symbol}")
        if found is not None:                 # a stripped file's function, from debug info
            (begin, size), in_section = found, None
        else:
            # the code it stands for: an ARM Thumb function without bit 0, a PowerPC64 ELFv1
            # descriptor's entry point; in a relocatable object, inside the symbol's section
            begin, size, in_section = symbol_code(elf, sym)
        end = begin + (size or 64)
        if not size and count is None:
            count = 20
    else:
        begin = start if start is not None else code_address(elf, elf.header.entry)
        end = None
        if count is None and start is None:
            count = 30
    code_offset, limit, in_section = _locate(elf, begin, end, sections, in_section)
    if code_offset is None:
        raise ElfkitError(file, f"address {begin:#x} is not in any code in the file")
    code = bytes(elf.data[code_offset:code_offset + limit])
    for line in disassemble(elf, begin, code, count, in_section):
        name = line.target_name
        where = None
        if symbolizer is not None and line.target is not None:
            if name is None:                  # a stripped file: the debug file's names
                name = symbolizer.function_at(line.target)
            if line.mnemonic.startswith("call"):
                where = lines.location(line.target)
        if lines is not None:
            for text in lines.before(line.address):
                click.echo(text)
        if name and demangle:
            from elfkit.elf.demangle import demangle_versioned
            name = demangle_versioned(name)        # `name@plt` as bfd_demangle: suffix kept
        target = f"    <{name}>" if name else ""
        if where:
            target += f" at {where}"
        click.echo(f"{line.address:16x}:  {line.raw.hex(' '):<32} {line.mnemonic:<7} "
                   f"{line.operands}{target}")
    for w in elf.warnings:
        click.echo(f"elfkit: warning: {elf.path}: {w}", err=True)
    if elf.warnings:
        click.get_current_context().exit(2)


def _locate(elf, begin, end, sections, index=None):
    """(file offset, byte count, section index) of [begin, end) inside a code section (the
    one numbered `index` when given: a relocatable object has every section at 0) or a
    PT_LOAD (section index None)."""
    for s in sections:
        if s.addr <= begin < s.addr + s.size and (index is None or s.index == index):
            stop = s.addr + s.size if end is None else min(end, s.addr + s.size)
            return s.offset + (begin - s.addr), stop - begin, s.index
    off = elf.vaddr_to_offset(begin)
    if off is None:
        return None, 0, None
    seg = next(g for g in elf.load_segments if g.vaddr <= begin < g.vaddr + g.filesz)
    stop = seg.vaddr + seg.filesz if end is None else min(end, seg.vaddr + seg.filesz)
    return off, stop - begin, None


def _demangler():
    from elfkit.elf.demangle import demangle_versioned
    return demangle_versioned
