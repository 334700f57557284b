"""The emulated Linux: the CPU (the only unicorn user), memory areas, files, signals, system calls."""
