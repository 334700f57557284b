"""fs/: what a descriptor refers to -- open files and the descriptor table (files), pipes (pipe),
epoll instances (eventpoll), and the guest's /proc (proc)."""
