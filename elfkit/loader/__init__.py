"""The kernel's exec: turn an ELF file, argv and envp into a process image (no emulator here).

binfmt.load_elf_binary reads like fs/binfmt_elf.c's function of the same
name; stack.create_elf_tables builds the initial stack as fs/exec.c and
create_elf_tables do. The result is an ExecImage: a plan that the kernel
package maps into the emulated CPU.
"""
