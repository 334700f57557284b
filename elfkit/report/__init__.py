"""`elfkit report`'s data: what one run of a program shows about its start-up and life.

Plain records only (no HTML, no click): `record.Recorder` attaches to a spawned guest, watches
it run and returns a `data.ReportData`, which elfkit/render/report draws as one page.

  data.py      the records: memory areas, stack rows, timeline events, GOT slots, processes
  areas.py     /proc/PID/maps text -> areas with their kind (program, interpreter, library...)
  syscalls.py  a counting stand-in for the strace writer: the system-call lane, each
               file-backed mmap (a library mapped) as it returns
  bindings.py  trace-plt's PltTracer, each lazy binding stamped with its place in the run
  record.py    the Recorder: snapshots at entry, breakpoints at _start and main, the end
  fanout.py    the kernel's one strace hook / process tracer shared with --strace, --trace-procs
"""
