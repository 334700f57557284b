"""`load-and-run --gdb`: a gdb remote serial protocol stub for the emulated program (issue 17,
phase 1: one process, its first thread). `rsp` frames packets, `target` describes the x86-64
registers, `svr4` lists the shared libraries from ld.so's link map, `stub` answers gdb and
stops and resumes the program from the scheduler's loop (elfkit.kernel.sched)."""
