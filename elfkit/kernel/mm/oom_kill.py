"""mm/oom_kill.c: the OOM killer -- when no frame can be had, a process dies so others may live.

The physical pool (--memory-limit) is the machine's RAM, with no swap behind
it. When an allocation finds no frame left (a page fault, MAP_POPULATE, a page
table, a copy-on-write copy, elfkit's own write into guest memory),
`PhysMem.alloc` asks `out_of_memory`, which does what the kernel does:

1. reclaim: page-cache ranges no process maps are dropped (filemap.shrink);
   if that freed anything, the allocation is tried again; an allocation of
   more than COSTLY_PAGES contiguous frames stops there and fails (the kernel's
   costly-order rule: killing does not help it);
2. a task that is already dying (SIGKILL pending, exiting) is the one whose
   memory comes back: nothing else is killed while it exits. The allocating
   task itself dying gets no more memory (OomKill ends its system call or
   fault); another has its memory reaped at once;
3. otherwise `select_bad_process` scores every process with `oom_badness`:
   its resident pages, swap entries (none here) and page-table pages, plus
   oom_score_adj thousandths of the machine's pages. init, kernel threads,
   a vfork child and a process with oom_score_adj -1000 cannot be chosen.
   The highest score is killed with SIGKILL (every process sharing its mm
   too) and its private memory reaped by the oom_reaper kernel thread -- at
   once, after the CPU running it (if another) has stopped, so it never runs
   guest code over frames given to someone else;
4. when nothing can be killed, the kernel would panic: every guest ends and
   elfkit says why (exit status 125, see the README).

The kernel's lines go to stderr (`Out of memory: Killed process ...`); with
--trace-procs the table dump_tasks prints comes too, and the reaping, under
the oom_reaper's pid. /proc/PID/oom_score and oom_score_adj (fs/proc/base.c)
are here as well.
"""
from __future__ import annotations

import errno
import sys
import time

from elfkit.kernel.mm.paging import COSTLY_PAGES, PAGE, OutOfMemory
from elfkit.kernel.task import TASK_DEAD, TASK_ZOMBIE, ExitStatus, GuestExit

OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX = -1000, 1000
SIGKILL = 9
STOP_WAIT_S = 5.0            # longest wait for another CPU to leave a victim's guest code


class OomKill(GuestExit, OutOfMemory):
    """The allocating task was killed for memory (or the machine has none to give): its
    system call or page fault ends here, and so does the task."""


def _cdiv(a: int, b: int) -> int:
    """C's integer division (truncating toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def totalpages(kernel) -> int:
    """totalram_pages() + total_swap_pages: the machine's frames (no swap)."""
    return kernel.machine.phys.frames.total // PAGE


def is_kthread(task) -> bool:
    return getattr(task, "kthread", False)


def oom_unkillable_task(task) -> bool:
    return task is task.kernel.init or is_kthread(task)


def find_lock_task_mm(task):
    """The first thread of the process that still has an mm (None: all have let it go)."""
    group = getattr(task, "group", None)
    threads = group.threads if group is not None else [task]
    return next((t for t in threads if t.mm is not None and t.state not in (TASK_ZOMBIE, TASK_DEAD)),
                None)


def _in_vfork(task) -> bool:
    parent = getattr(task, "vfork_parent", None)
    return parent is not None and parent.mm is task.mm


def oom_score_adj(task) -> int:
    return getattr(task.group, "oom_score_adj", 0)


def mm_rss_pages(mm) -> tuple[int, int, int]:
    anon, file, shmem = mm.rss_counters()
    return anon // PAGE, file // PAGE, shmem // PAGE


def oom_badness(task, total: int) -> int | None:
    """How much killing `task` would give back, adjusted by its oom_score_adj; None (the
    kernel's LONG_MIN) for a task that must not be chosen."""
    if oom_unkillable_task(task):
        return None
    p = find_lock_task_mm(task)
    if p is None:
        return None
    adj = oom_score_adj(task)
    if adj == OOM_SCORE_ADJ_MIN or p.mm.oom_skip or _in_vfork(p):
        return None
    points = sum(mm_rss_pages(p.mm)) + 0 + p.mm.pages.page_tables_bytes() // PAGE
    return points + adj * (total // 1000)


def proc_oom_score(task) -> int:
    """/proc/PID/oom_score: the badness scaled to [0, 2000] (times 2/3), 0 for the unkillable."""
    total = totalpages(task.kernel)
    badness = oom_badness(task, total)
    if badness is None:
        return 0
    return max(0, _cdiv((1000 + _cdiv(badness * 1000, total)) * 2, 3))


def set_oom_score_adj(writer, task, text: bytes) -> int:
    """__set_oom_adj: a write of /proc/PID/oom_score_adj; 0 or -errno. Below the process's
    oom_score_adj_min (0 unless a privileged writer set a lower value) needs CAP_SYS_RESOURCE."""
    from elfkit.kernel.cred import capable
    try:
        value = int(text.strip() or b"x", 10)
    except ValueError:
        return -errno.EINVAL
    if not OOM_SCORE_ADJ_MIN <= value <= OOM_SCORE_ADJ_MAX:
        return -errno.EINVAL
    group = task.group
    privileged = capable(writer.creds, CAP_SYS_RESOURCE)
    if value < getattr(group, "oom_score_adj_min", 0) and not privileged:
        return -errno.EACCES
    group.oom_score_adj = value
    if privileged:
        group.oom_score_adj_min = value
    return 0


CAP_SYS_RESOURCE = 24


# --- choosing and killing --------------------------------------------------------------------

def _dying(task) -> bool:
    """SIGKILL pending or exiting: the task will free its memory without more killing."""
    group = getattr(task, "group", None)
    return task.exit is not None or (group is not None and getattr(group, "group_exit", None)
                                     is not None)


def select_bad_process(kernel, total: int):
    """The process with the highest badness (the last of equals, in creation order); "abort"
    when an earlier victim is still dying and not yet reaped."""
    chosen, chosen_points = None, None
    for p in kernel.processes():
        if oom_unkillable_task(p) or p.state in (TASK_ZOMBIE, TASK_DEAD):
            continue
        t = find_lock_task_mm(p)
        if t is not None and _dying(p) and not t.mm.oom_skip:
            return "abort", p
        points = oom_badness(p, total)
        if points is None or chosen_points is not None and points < chosen_points:
            continue
        chosen, chosen_points = p, points
    return chosen, chosen_points


def dump_tasks(kernel) -> list[str]:
    """The candidate table: every killable process's memory, in pages."""
    lines = ["Tasks state (memory values in pages):",
             "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name"]
    for p in kernel.processes():
        if oom_unkillable_task(p):
            continue
        t = find_lock_task_mm(p)
        if t is None:
            continue
        mm = t.mm
        lines.append(f"[{t.pid:7d}] {t.creds.uid:5d} {t.tgid:5d} {mm.total_vm() // PAGE:8d} "
                     f"{sum(mm_rss_pages(mm)):8d} {mm.pages.page_tables_bytes():8d} {0:8d}"
                     f"         {oom_score_adj(p):5d} {t.comm}")
    return lines


def _kmsg(kernel, task, lines: list[str], always: bool = False):
    """Kernel log lines: to --trace-procs (under `task`'s pid) and, `always`, to stderr."""
    if always:
        for line in lines:
            sys.stderr.write(f"elfkit: {line}\n")
        sys.stderr.flush()
    tracer = kernel.tracer
    if tracer is not None and hasattr(tracer, "kmsg"):
        tracer.kmsg(task, lines)


def _oom_reaper(kernel):
    return getattr(kernel, "oom_reaper", None) or kernel.init


def _wait_off_cpu(kernel, mm) -> bool:
    """The victim's mm is running on another CPU: stop that CPU and wait until it has left
    guest code (the big kernel lock is let go meanwhile, so that CPU can come back into the
    kernel and end the task). False when it did not stop in time."""
    cpu = mm.on_cpu
    me = kernel.machine.cpu
    if cpu is None or cpu is me or not kernel.running:
        return True
    cpu.stop()
    give_up = time.monotonic() + STOP_WAIT_S
    while cpu.running and mm.on_cpu is cpu:
        if time.monotonic() > give_up:
            return False
        cpu.stop()
        kernel.idle_cond.wait(0.001)
    return True


def oom_reap(kernel, victim):
    """oom_reap_task_mm, as the oom_reaper kernel thread does it: the dying process's private
    memory goes back now, not when it is next scheduled to exit."""
    t = find_lock_task_mm(victim)
    if t is None or t.mm.oom_skip:
        return
    mm = t.mm
    if not _wait_off_cpu(kernel, mm):
        return
    t = find_lock_task_mm(victim)            # (it may have exited meanwhile: nothing to reap)
    if t is None or t.mm is not mm or mm.oom_skip:
        return
    mm.reap()
    anon, file, shmem = mm_rss_pages(mm)
    _kmsg(kernel, _oom_reaper(kernel),
          [f"oom_reaper: reaped process {victim.pid} ({victim.comm}), now anon-rss:{anon * 4}kB, "
           f"file-rss:{file * 4}kB, shmem-rss:{shmem * 4}kB"])


def oom_kill_process(kernel, victim, current, total: int, points: int):
    """Kill the victim (and every process sharing its memory) and reap it, unless it is the
    allocating task's own memory: then the allocating task ends (OomKill)."""
    from elfkit.kernel.signals import send_sig
    t = find_lock_task_mm(victim)
    mm = t.mm
    anon, file, shmem = mm_rss_pages(mm)
    if current is not None:
        _kmsg(kernel, current, [f"{current.comm} invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_"
                                f"MOVABLE|__GFP_COMP), order=0, oom_score_adj={oom_score_adj(current)}"])
    _kmsg(kernel, current or kernel.init, dump_tasks(kernel) + [
        f"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
        f"task_memcg=/,task={t.comm},pid={t.pid},uid={t.creds.uid}"])
    _kmsg(kernel, current or kernel.init, [
        f"Out of memory: Killed process {t.pid} ({t.comm}) total-vm:{mm.total_vm() // 1024}kB, "
        f"anon-rss:{anon * 4}kB, file-rss:{file * 4}kB, shmem-rss:{shmem * 4}kB, "
        f"UID:{t.creds.uid} pgtables:{mm.pages.page_tables_bytes() >> 10}kB "
        f"oom_score_adj:{oom_score_adj(victim)}"], always=True)
    send_sig(victim, SIGKILL, sender=None)
    for p in kernel.processes():            # whoever else shares the memory dies with it
        if p is not victim and not oom_unkillable_task(p) and p.mm is mm:
            send_sig(p, SIGKILL, sender=None)
    if current is not None and current.mm is mm:
        raise OomKill(current.exit or ExitStatus(signal=SIGKILL, reason="killed by SIGKILL"))
    oom_reap(kernel, victim)


def _panic(kernel, current):
    """No process can be killed: the kernel would panic. Every guest ends; the run's status
    says why (cli/run.py: exit status 125)."""
    from elfkit.kernel.signals import send_sig
    limit = kernel.machine.phys.frames.total >> 20
    reason = f"out of memory and no killable process (--memory-limit {limit}M)"
    _kmsg(kernel, current or kernel.init, dump_tasks(kernel), always=False)
    kernel.first_status = ExitStatus(signal=SIGKILL, limit="oom", reason=reason)
    for p in kernel.processes():
        if not oom_unkillable_task(p) and p.state not in (TASK_ZOMBIE, TASK_DEAD):
            send_sig(p, SIGKILL, sender=None)
    raise OomKill(ExitStatus(signal=SIGKILL, limit="oom", reason=reason))


def out_of_memory(kernel, size: int) -> bool:
    """PhysMem.on_oom: True when memory was freed (try the allocation again); raises OomKill
    when the allocating task is the one to die (or the machine panics)."""
    if kernel.page_cache.shrink():
        return True
    if size > COSTLY_PAGES * PAGE:
        return False                        # a costly run: fail it (ENOMEM), kill nobody
    cpu = kernel.machine.cpu
    current = cpu.current if cpu is not None else None
    if current is not None and current.mm is not None and _dying(current):
        raise OomKill(current.exit or ExitStatus(signal=SIGKILL, reason="killed by SIGKILL"))
    total = totalpages(kernel)
    chosen, points = select_bad_process(kernel, total)
    if chosen == "abort":
        victim = points
        if current is not None and victim.mm is current.mm:
            raise OomKill(ExitStatus(signal=SIGKILL, reason="killed by SIGKILL"))
        oom_reap(kernel, victim)
        return True
    if chosen is None:
        _panic(kernel, current)
    oom_kill_process(kernel, chosen, current, total, points)
    return True


__all__ = ["OomKill", "oom_badness", "out_of_memory", "proc_oom_score", "set_oom_score_adj",
           "dump_tasks", "totalpages"]
