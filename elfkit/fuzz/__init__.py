"""The fuzzing harness (issue 14, "every command survives any file").

Deterministic mutations of real ELF files (`mutate.py`: a recipe of field settings, bit flips
and cuts, chosen from (seed, target, index) alone), found with a struct reader of its own
(`layout.py`, which imports nothing of elfkit's parser, so a parser bug cannot hide a case);
each command as a target (`targets.py`: the command line, its base files, what counts as a
failure), each input run in a forked child of a worker that has elfkit imported already, under
a wall-time limit and an address-space cap; campaigns in parallel over the cores, resumable
from a state file per target (`campaign.py`, `python -m elfkit.fuzz`, `make fuzz`).

What is a failure: a Python traceback, "internal error", exit status 3 from a command that
does not run a guest, a hang past the limit, a memory blow-up (MemoryError under the cap), or
elfkit itself dying by a signal. What is not: a one-line error with exit 2, partial output
with the damage reported, execve's refusal (exit 126/127), a guest that runs and exits or
dies of a signal (elfkit's "killed by SIGx" line), or a guest stopped by --timeout or
--max-insns (124).
"""
