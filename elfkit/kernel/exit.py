"""kernel/exit.c: do_exit, zombies and their parents, and wait4/waitid (do_wait).

A task that ends lets go of its memory and files at once, hands its children to
init, and stays a zombie holding only its exit status until its parent waits
for it; init (elfkit) reaps the orphans it inherits straight away. The parent
is told with its exit signal (SIGCHLD), unless it ignores SIGCHLD or set
SA_NOCLDWAIT, in which case the child is reaped as it dies, as Linux does.
"""
from __future__ import annotations

import errno
import struct

from elfkit.kernel.signals import send_sigchld
from elfkit.kernel.task import TASK_DEAD, TASK_STOPPED, TASK_ZOMBIE, ExitStatus, Task
from elfkit.kernel.wait import Sleep

WNOHANG, WUNTRACED, WSTOPPED, WEXITED, WCONTINUED, WNOWAIT = 1, 2, 2, 4, 8, 0x01000000
__WNOTHREAD, __WALL, __WCLONE = 0x20000000, 0x40000000, 0x80000000
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_TRAPPED, CLD_STOPPED, CLD_CONTINUED = 1, 2, 3, 4, 5, 6
SIGCHLD = 17
SA_NOCLDSTOP, SA_NOCLDWAIT = 1, 2
SIG_IGN = 1


def do_exit(task: Task, status: ExitStatus):
    """The task ends with `status`: free what it holds; the last thread of a process makes it
    a zombie and tells the parent. A thread that calls exit (status.thread) ends alone; any
    other end -- exit_group, a fatal signal -- ends every thread of the process
    (zap_other_threads), and is the process's status."""
    kernel = task.kernel
    if task.state in (TASK_ZOMBIE, TASK_DEAD):
        return
    group = task.group
    if not status.thread and group.group_exit is None and len(group.threads) > 1:
        zap_other_threads(task, status)
    task.exit = status
    task.exit_status = status
    if task.blocked_call is not None:
        for q in task.blocked_call[4].queues:
            if task in q.waiters:
                q.waiters.remove(task)
        task.blocked_call = None
    if task in kernel.runqueue:
        kernel.runqueue.remove(task)
    exit_robust_list(task)
    if task.mm is not None and task.kernel.futexes:
        from elfkit.kernel.futex import exit_pi_state_list
        exit_pi_state_list(task)
    _mm_release(task)
    task.files.put()
    if task.vfork_parent is not None:
        _vfork_done(task)
    if task.mm is not None:                    # (its high-water mark, for the parent's rusage)
        task.maxrss = max(getattr(task, "maxrss", 0), task.mm.pages.resident())
    last = not [t for t in group.live_threads() if t is not task]
    leader = group.leader
    if task.mm is not None:
        if kernel.current is task:
            kernel.cpu.switch_mm(kernel.cpu.boot_pages)
        if last and leader is kernel.first:
            # the first process's memory stays until elfkit ends (--maps, the Python API)
            if leader is not task:
                leader.mm, task.mm = task.mm, None
        else:
            task.mm.mmput()
            task.mm = None
    for cpu in kernel.machine.cpus:            # this CPU's current, or registers left on an idle one
        if cpu.current is task:
            cpu.current = None
    if kernel.strace is not None and status.limit is None:
        kernel.strace.finish(task, status)
    if task is not leader:
        group.dead_cputime += task.cputime
        group.dead_minflt += task.minflt
    task.state = TASK_ZOMBIE
    if kernel.tracer is not None:
        kernel.tracer.exited(task, status)
    if task is not leader:
        _release_thread(task)                  # a thread has no exit signal: gone at once
    if not last:
        return                                 # (a leader waits, unreported, for its threads)
    # the process ends with its last thread (release_task -> delay_group_leader)
    # the status is the group exit's, else the last thread's: a leader that called pthread_exit
    # first does not decide it (as Linux 6.x reports it)
    process_status = group.group_exit or status
    leader.exit_status = process_status
    if leader.timers is not None:              # its itimers and POSIX timers end with it
        from elfkit.kernel.time.posix_timers import exit_timers
        exit_timers(leader)
    kernel.ipc.exit_task(leader)               # exit_sem: SEM_UNDO adjustments
    kernel.record_exit(leader, process_status)
    _forget_orphans(leader)
    kernel.poll_wait.wake_all()                # its pidfds are readable now
    _exit_notify(leader)


def zap_other_threads(task: Task, status: ExitStatus):
    """exit_group, or a fatal signal: every other thread of the process is to end (SIGKILL'd,
    as the kernel does), and `status` is the process's."""
    from elfkit.kernel.signals import kill_thread
    group = task.group
    group.group_exit = status
    for t in group.live_threads():
        if t is not task:
            kill_thread(t, status)


def _release_thread(task: Task):
    """A thread that ended is reaped at once (release_task for a non-leader)."""
    kernel = task.kernel
    task.state = TASK_DEAD
    if task in task.group.threads and task is not task.group.leader:
        task.group.threads.remove(task)
    kernel.tasks.pop(task.pid, None)
    if kernel.tracer is not None:
        kernel.tracer.reaped(task)


FUTEX_WAITERS, FUTEX_OWNER_DIED, FUTEX_TID_MASK = 0x80000000, 0x40000000, 0x3FFFFFFF
ROBUST_LIST_LIMIT = 2048


def exit_robust_list(task: Task):
    """kernel/futex/core.c exit_robust_list: each robust mutex the dying thread still holds
    (its futex word's owner is this tid) gets FUTEX_OWNER_DIED, and one waiter is woken, so
    the next locker sees EOWNERDEAD. The list is the thread's (set_robust_list): a head
    {next, futex_offset, list_op_pending}, entries linked through user memory."""
    head, _length = task.robust_list
    task.robust_list = (0, 0)
    if not head or task.mm is None:
        return
    raw = task.mm.read(head, 24)
    if raw is None:
        return
    entry, offset, pending = struct.unpack("<QqQ", raw)
    seen = 0
    # (bit 0 of each link says the futex is a PI one: fetch_robust_entry)
    while entry & ~1 != head and entry & ~1 and seen < ROBUST_LIST_LIMIT:
        nxt = task.mm.read(entry & ~1, 8)
        if entry != pending:
            _handle_futex_death(task, (entry & ~1) + offset, pi=bool(entry & 1))
        if nxt is None:
            break
        entry = struct.unpack("<Q", nxt)[0]
        seen += 1
    if pending & ~1:
        _handle_futex_death(task, (pending & ~1) + offset, pending_op=True, pi=bool(pending & 1))


def _handle_futex_death(task: Task, uaddr: int, pending_op: bool = False, pi: bool = False):
    from elfkit.kernel.futex import futex_wake, pi_owner_died
    uaddr &= 0xFFFFFFFFFFFFFFFF
    if uaddr & 3:
        return
    raw = task.mm.read(uaddr, 4)
    if raw is None:
        return
    word = struct.unpack("<I", raw)[0]
    if pending_op and not pi and not word:
        futex_wake(task, uaddr, 1)              # died between unlock and wake: wake one
        return
    if word & FUTEX_TID_MASK != task.pid:
        return
    task.mm.write(uaddr, struct.pack("<I", (word & FUTEX_WAITERS) | FUTEX_OWNER_DIED))
    if pi:
        pi_owner_died(task, uaddr)              # exit_pi_state_list: a waiter takes it over
    elif word & FUTEX_WAITERS:
        futex_wake(task, uaddr, 1)


def _mm_release(task: Task):
    """CLONE_CHILD_CLEARTID: write 0 at the address and wake a futex waiter (a joiner)."""
    if task.clear_child_tid and task.mm is not None and task.mm.users > 1:
        if task.mm.write(task.clear_child_tid, b"\0\0\0\0"):
            from elfkit.kernel.futex import futex_wake
            futex_wake(task, task.clear_child_tid, 1)
    task.clear_child_tid = 0


def _vfork_done(task: Task):
    """The vfork parent may run again: its child exec'ed or ended (complete_vfork_done)."""
    parent = task.vfork_parent
    task.vfork_parent = None
    if parent.state not in (TASK_ZOMBIE, TASK_DEAD):
        parent.kernel.wake(parent)


def _find_new_reaper(task: Task) -> Task:
    """find_new_reaper: the nearest living ancestor that made itself a child subreaper
    (prctl PR_SET_CHILD_SUBREAPER), else init."""
    t = task.parent
    while t is not None and t is not task.kernel.init:
        if t.child_subreaper and t.state not in (TASK_ZOMBIE, TASK_DEAD) and t.exit is None:
            return t
        t = t.parent
    return task.kernel.init


def _forget_orphans(task: Task):
    """forget_original_parent: the children go to the new reaper (a subreaper, else init, which
    reaps the dead ones at once), each told with its parent-death signal if it asked for one. A
    process group this exit orphans that has stopped members gets SIGHUP and SIGCONT."""
    from elfkit.kernel.signals import send_sig
    kernel = task.kernel
    init = kernel.init
    parent = task.parent
    if parent is not None:                            # exit: was this task the group's link out?
        kill_orphaned_pgrp(kernel, task, parent, ignored=task)
    reaper = _find_new_reaper(task) if task.children else init
    groups_seen = set()                               # (each group's members looked at once:
    for child in list(task.children):                 # a parent of thousands stays linear)
        child.parent = reaper
        reaper.children.append(child)
        if child.state == TASK_ZOMBIE:
            if reaper is init:
                release_task(child)
            else:                                     # reparent_leader: the new parent is told
                _exit_notify(child)
        else:                                         # reparent: was the exiting task its link?
            if child.pdeath_signal:
                send_sig(child, child.pdeath_signal)
            if (child.pgid, child.sid) not in groups_seen:
                groups_seen.add((child.pgid, child.sid))
                kill_orphaned_pgrp(kernel, child, task, ignored=None)
    task.children = []


def kill_orphaned_pgrp(kernel, tsk: Task, parent: Task, ignored: Task | None):
    """kernel/exit.c: when `parent` was the last link of tsk's process group to the rest of its
    session (a parent in another group of the same session; init does not count) and the group
    has stopped members, nobody could continue them: every member gets SIGHUP, then SIGCONT."""
    from elfkit.kernel.signals import kill_pgrp
    pgid = tsk.pgid
    if parent.pgid == pgid or parent.sid != tsk.sid or kernel.ending_all:
        return                                        # (ending_all: nobody is left to continue)
    members = [t for t in kernel.guests() if t.pgid == pgid and t is not ignored
               and t.state not in (TASK_ZOMBIE, TASK_DEAD)]
    if not any(t.state == TASK_STOPPED for t in members):
        return
    for t in members:
        p = t.parent
        if p is not None and p is not kernel.init and p.pgid != pgid and p.sid == t.sid:
            return                                    # still linked: not orphaned
    kill_pgrp(kernel, pgid, 1, None)                  # SIGHUP
    kill_pgrp(kernel, pgid, 18, None)                 # SIGCONT


def _exit_notify(task: Task):
    parent = task.parent
    kernel = task.kernel
    if parent is None or parent is kernel.init:
        release_task(task)                 # init reaps at once
        return
    action = parent.signals.actions.get(SIGCHLD, (0, 0, 0, 0))
    autoreap = action[0] == SIG_IGN or action[1] & SA_NOCLDWAIT
    if task.exit_signal:
        send_sigchld(task, CLD_DUMPED if task.exit_status.core else
                     CLD_KILLED if task.exit_status.signal else CLD_EXITED)
    parent.wait_chldexit.wake_all()
    if autoreap:
        release_task(task)


def release_task(task: Task):
    """The zombie is gone: off its parent's list and out of the pid namespace."""
    kernel = task.kernel
    task.state = TASK_DEAD
    if task.parent is not None and task in task.parent.children:
        task.parent.children.remove(task)
    kernel.tasks.pop(task.pid, None)
    kernel.poll_wait.wake_all()                # its pidfds hang up
    if kernel.tracer is not None:
        kernel.tracer.reaped(task)


# --- wait -----------------------------------------------------------------------------------------

def _selected(waiter: Task, child: Task, idtype: int, ident: int) -> bool:
    if idtype == P_PID:
        return child.pid == ident
    if idtype == P_PGID:
        return child.pgid == ident
    return True


def do_wait(p: Task, idtype: int, ident: int, options: int):
    """The child whose state change wait reports, as (child, kind) -- kind is "exit", "stop"
    or "cont" -- or None (WNOHANG, nothing yet), or -errno. Sleeps otherwise."""
    leader = p.group.leader                     # any thread waits for the process's children
    children = [c for c in leader.children if _selected(p, c, idtype, ident)]
    if not children:
        return -errno.ECHILD
    for c in children:
        if c.state == TASK_ZOMBIE and options & WEXITED and not c.group.live_threads():
            return c, "exit"
        if (c.state == TASK_STOPPED or c.group.stop_signal) and options & WSTOPPED and \
                not c.stop_reported:
            return c, "stop"
        if options & WCONTINUED and not c.cont_reported:
            return c, "cont"
    if options & WNOHANG:
        return None
    raise Sleep("do_wait", queues=(leader.wait_chldexit,))


def reaped_usage(c: Task) -> tuple[float, int, int]:
    """(user seconds, max RSS bytes, minor faults) of a dead child and of the children it
    reaped: what wait4 reports and the reaper's RUSAGE_CHILDREN gains (wait_task_zombie)."""
    cu, crss, cflt = getattr(c, "children_usage", (0.0, 0, 0))
    group = c.group                           # (every thread the child had)
    return c.cputime + group.dead_cputime + cu, max(getattr(c, "maxrss", 0), crss), \
        c.minflt + group.dead_minflt + cflt


def pack_rusage(utime: float, maxrss: int, minflt: int) -> bytes:
    """struct rusage: all of the CPU time as user time, max RSS in KiB, the minor faults."""
    us = int(utime * 1e6)
    return struct.pack("<qqqq14q", us // 10**6, us % 10**6, 0, 0, maxrss // 1024, 0, 0, 0,
                       minflt, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def _consume(c: Task, kind: str, options: int) -> int:
    """The status word wait reports for it; reaps a zombie unless WNOWAIT (its usage then goes
    to the reaper's children's usage)."""
    if kind == "exit":
        status = c.exit_status.wait_status
        if not options & WNOWAIT:
            parent = c.parent
            if parent is not None:
                u, rss, flt = reaped_usage(c)
                pu, prss, pflt = getattr(parent, "children_usage", (0.0, 0, 0))
                parent.children_usage = (pu + u, max(prss, rss), pflt + flt)
            release_task(c)
        return status
    if kind == "stop":
        if not options & WNOWAIT:
            c.stop_reported = True
        return 0x7F | (c.stop_signal << 8)
    if not options & WNOWAIT:
        c.cont_reported = True
    return 0xFFFF


def sys_wait4(p: Task, pid, status_ptr, options, rusage, *_):
    pid = pid - (1 << 32) if pid & 0x80000000 else pid & 0xFFFFFFFF
    options &= 0xFFFFFFFF
    if options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE):
        return -errno.EINVAL
    if pid == -(1 << 31):
        return -errno.ESRCH
    if pid > 0:
        idtype, ident = P_PID, pid
    elif pid == 0:
        idtype, ident = P_PGID, p.pgid
    elif pid == -1:
        idtype, ident = P_ALL, 0
    else:
        idtype, ident = P_PGID, -pid
    found = do_wait(p, idtype, ident, (options & ~WNOWAIT) | WEXITED)
    if isinstance(found, int):
        return found
    if found is None:
        return 0
    child, kind = found
    cpid = child.pid
    usage = pack_rusage(*reaped_usage(child)) if kind == "exit" else bytes(144)
    status = _consume(child, kind, options)
    if status_ptr and not p.mm.write(status_ptr, struct.pack("<i", status if status < 0x80000000
                                                           else status - (1 << 32))):
        return -errno.EFAULT
    if rusage and not p.mm.write(rusage, usage):
        return -errno.EFAULT
    return cpid


def sys_waitid(p: Task, idtype, ident, infop, options, rusage, *_):
    options &= 0xFFFFFFFF
    if options & ~(WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED | __WNOTHREAD | __WALL |
                   __WCLONE) or not options & (WEXITED | WSTOPPED | WCONTINUED):
        return -errno.EINVAL
    if idtype == P_PGID and ident == 0:
        ident = p.pgid
    if idtype == P_PIDFD:                         # pidfd_get_pid: the process the pidfd names
        from elfkit.kernel.syscalls.anonfd import pidfd_task
        f = pidfd_task(p, ident)
        if isinstance(f, int):
            return f
        if f.task.parent is not p.group.leader:
            return -errno.ECHILD
        if f.flags & 0o4000:                      # PIDFD_NONBLOCK: EAGAIN rather than a wait
            if f.task.state not in (TASK_ZOMBIE, TASK_DEAD) and not options & WNOHANG:
                found = do_wait(p, P_PID, f.pid, options | WNOHANG)
                if found is None:
                    return -errno.EAGAIN
        idtype, ident = P_PID, f.pid
    if idtype not in (P_ALL, P_PID, P_PGID):
        return -errno.EINVAL
    found = do_wait(p, idtype, ident & 0xFFFFFFFF, options)
    if isinstance(found, int):
        return found
    info = bytes(128)
    if found is not None:
        child, kind = found
        if kind == "exit":
            st = child.exit_status
            code = CLD_EXITED if st.code is not None else CLD_DUMPED if st.core else CLD_KILLED
            value = st.code if st.code is not None else st.signal
        elif kind == "stop":
            code, value = CLD_STOPPED, child.stop_signal
        else:
            code, value = CLD_CONTINUED, 18
        uid = child.creds.uid
        # siginfo_t: si_signo, si_errno, si_code, pad, si_pid, si_uid, si_status
        info = struct.pack("<iiiiiIi", SIGCHLD, 0, code, 0, child.pid, uid, value) + bytes(100)
        _consume(child, kind, options)
    if infop and not p.mm.write(infop, info):
        return -errno.EFAULT
    if rusage and not p.mm.write(rusage, bytes(144)):
        return -errno.EFAULT
    return 0


__all__ = ["do_exit", "release_task", "sys_wait4", "sys_waitid"]
