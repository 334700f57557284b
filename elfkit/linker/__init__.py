"""ld.so's work in Python: load dependencies, look symbols up, relocate, TLS, init/fini, lazy binding.

One module per concept of glibc's elf/ directory: `cache` (ld.so.cache),
`search` (which file a DT_NEEDED name means), `dso` (one record per loaded
object, like link_map / musl's struct dso), `lookup` (GNU/SysV hash lookup
with versions), `reloc` (one small function per relocation kind), `tls`
(static TLS, variant II, and the DTV), `tlsdesc` (TLS descriptors and their
functions in guest code), `lazy` (the _dl_fixup resolver) and `rtld` (the
order of it all, like rtld.c's dl_main). The linker works on the guest
through the kernel package (memory areas, guest memory, trap addresses),
never on Unicorn directly.
"""
