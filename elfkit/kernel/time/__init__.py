"""kernel/time: the machine's timers (hrtimer), interval timers and alarm (itimer), POSIX timers."""
