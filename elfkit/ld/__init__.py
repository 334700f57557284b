"""elfkit's static linker (binutils ld's job): ET_REL objects and `ar` archives in, a static
x86-64 ET_EXEC out. Not to be confused with elfkit/linker, the dynamic linker (ld.so's job).

Modules, in the order a link runs through them:
  options.py    ld's command line as gcc passes it (`elfkit link ARGS`, fixtures/ld/ld)
  driver.py     the inputs in command-line order: objects, archives, groups, -l, GROUP scripts
  archive.py    `ar` archives: members, the symbol index, thin archives
  input.py      one ET_REL object: sections, symbols, RELA relocations, COMDAT groups
  resolve.py    symbol resolution (strong/weak/COMMON, visibility) and archive member pulling
  gc.py         --gc-sections; the .eh_frame records of code that is not in the output
  layout.py     ld's default script: output sections, their order, SHF_MERGE merging
  link.py       the link itself: placing, the linker's own sections, addresses, ld's symbols
  relocate.py   x86-64 static relocation and ld's relaxations (GOTPCRELX, TLS, IFUNC)
  eh_frame.py   .eh_frame records and the .eh_frame_hdr search table
  write.py      the executable: headers, sections, .symtab, build-id
  mapfile.py    -Map and --trace-relocs
"""
