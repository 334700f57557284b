"""Demand paging and the OOM killer (issue 11), against the real kernel's rules.

Demand paging: fixtures/src/mem_demand.c maps 64 GiB with MAP_NORESERVE and
reports VmRSS/RssAnon after reading untouched pages, writing one byte in every
GiB and writing a run of consecutive pages. The native run is the reference:
elfkit's resident sizes must grow by what native grows by. Allowance: a write
fault in elfkit maps its page's aligned window of pages with no frame yet
(mm.mmap.FAULT_AROUND, 16 pages, doubling while faults come in order up to
FAULT_AROUND_MAX, 128 pages = 512 KiB), so a run of consecutive pages may be
resident up to one largest window more at each end;
the single pages were read first (the zero page), so their writes copy one
page each, as natively. elfkit's own start-up (its ld.so and libc pages) is
not native's, so deltas are compared, not totals.

The OOM killer: fixtures/src/mem_oom.c under --memory-limit 256M. No native
run can exhaust a 256 MiB machine here, so the reference is the kernel's rule
itself: oom_badness (mm/oom_kill.c) computed in this file from the values
/proc showed the processes just before the kill -- resident pages (VmRSS) plus
page-table pages (VmPTE) plus oom_score_adj * totalpages / 1000 -- and the
victim must be the process with the highest. The allocating child's size at
the kill is its VmRSS when it started plus the memory that was free then
(every free page went to it); the fixture's sizes keep the candidates far
apart so that estimate cannot change the answer.
"""
from __future__ import annotations

import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import ROOT, fixture_path
from elfkit.kernel.mm.mmap import FAULT_AROUND_MAX

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}
ELFKIT = [sys.executable, "-m", "elfkit", "load-and-run"]
LIMIT_MB = 256
TOTALPAGES = LIMIT_MB << 8                   # 4 KiB pages of the machine
WINDOW_KB = FAULT_AROUND_MAX * 4             # the largest fault-around window, in kB


def _native(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, env=ENV, cwd=ROOT,
                          timeout=120)


def _elfkit(*argv, limit: str | None = None) -> subprocess.CompletedProcess:
    opts = ["--memory-limit", limit] if limit else []
    return subprocess.run(ELFKIT + opts + [str(a) for a in argv], capture_output=True, env=ENV,
                          cwd=ROOT, timeout=300)


def _rss_steps(out: bytes) -> dict[str, tuple[int, int]]:
    return {m[1].decode(): (int(m[2]), int(m[3]))
            for m in re.finditer(rb"^rss (\w+) (\d+) (\d+)$", out, re.M)}


# --- demand paging ---------------------------------------------------------------------------------

def test_a_64_gib_noreserve_mapping_is_resident_only_where_touched():
    fixture = fixture_path("mem-demand")
    run = 1024
    nat = _native(fixture, "rss", run)
    emu = _elfkit(fixture, "rss", run)
    assert nat.returncode == 0, nat.stderr
    assert emu.returncode == 0, emu.stderr
    strip = lambda out: re.sub(rb"^rss .*\n", b"", out, flags=re.M)      # noqa: E731
    assert strip(emu.stdout) == strip(nat.stdout)
    n, e = _rss_steps(nat.stdout), _rss_steps(emu.stdout)

    def grew(steps, a, b, column=0):
        return steps[b][column] - steps[a][column]
    # reading untouched pages maps the zero page: (almost) nothing becomes resident
    assert abs(grew(e, "start", "read64") - grew(n, "start", "read64")) <= 256
    for column in (0, 1):                    # VmRSS, RssAnon
        # 64 single pages written (after the reads): one page each
        assert grew(e, "read64", "write64", column) == grew(n, "read64", "write64", column) == 64 * 4
        # a run of consecutive pages: the pages, give or take a fault-around window at each end
        native_run = grew(n, "write64", "run", column)
        assert native_run >= run * 4
        assert run * 4 <= grew(e, "write64", "run", column) <= native_run + 2 * WINDOW_KB
    # and elfkit's own memory did not grow by the 64 GiB it was asked to reserve
    assert e["run"][0] < 64 * 1024


def test_meminfo_is_the_memory_limit():
    out = _elfkit("/bin/sh", "-c", "head -3 /proc/meminfo; free -k", limit="256M")
    assert out.returncode == 0, out.stderr
    info = {m[1]: int(m[2]) for m in re.finditer(rb"^(\w+):\s+(\d+) kB$", out.stdout, re.M)}
    assert info[b"MemTotal"] == 256 * 1024
    assert 0 < info[b"MemFree"] <= info[b"MemAvailable"] <= info[b"MemTotal"]
    assert re.search(rb"^Mem:\s+262144\s", out.stdout, re.M), out.stdout


@pytest.mark.parametrize("spelling, kb", [("2G", 2 << 20), ("1024K", 1024), ("1073741824", 1 << 20)])
def test_memory_limit_spellings(spelling, kb):
    out = _elfkit("/bin/cat", "/proc/meminfo", limit=spelling)
    if kb < 4096:                             # too small to start a program: a clear end
        assert out.returncode in (125, -9), out       # no room, or the OOM killer's SIGKILL
        assert b"Traceback" not in out.stderr and b"internal error" not in out.stderr
        return
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(b"MemTotal:%s kB\n" % str(kb).rjust(16 - len("MemTotal:") + 8).encode())


def test_default_memory_is_the_hosts():
    host = int(re.search(r"^MemTotal:\s+(\d+)", open("/proc/meminfo").read(), re.M)[1])
    out = _elfkit("/usr/bin/head", "-1", "/proc/meminfo")
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[1]) == host


# --- the OOM killer ------------------------------------------------------------------------------

def test_a_child_allocating_without_bound_is_killed_and_its_parent_survives():
    out = _elfkit(fixture_path("mem-oom"), "one", limit=f"{LIMIT_MB}M")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (b"child: allocating\nparent: child killed by signal 9\n"
                          b"parent: survived\n")
    killed = re.findall(rb"^elfkit: Out of memory: Killed process (\d+) \(mem-oom\) total-vm:\d+kB, "
                        rb"anon-rss:(\d+)kB, file-rss:\d+kB, shmem-rss:\d+kB, UID:\d+ "
                        rb"pgtables:\d+kB oom_score_adj:0$", out.stderr, re.M)
    assert len(killed) == 1, out.stderr
    assert int(killed[0][1]) > (LIMIT_MB - 32) * 1024    # the child held nearly everything


def _badness(rss_kb: int, pte_kb: int, adj: int) -> int:
    """mm/oom_kill.c oom_badness: rss + swap entries (none) + page-table pages, in pages,
    plus oom_score_adj thousandths of the machine's pages."""
    return rss_kb // 4 + pte_kb // 4 + adj * (TOTALPAGES // 1000)


def _pick(sizes, adjs=(0, 0)):
    out = _elfkit(fixture_path("mem-oom"), "pick", *sizes, *adjs, limit=f"{LIMIT_MB}M")
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    scores = {}
    for m in re.finditer(r"^ready (\w) (\d+) (\d+) \d+ \d+ \d+ (\d+) (-?\d+)$", text, re.M):
        scores[m[1]] = _badness(int(m[3]), int(m[4]), int(m[5]))
    m = re.search(r"^start C (\d+) (\d+) \d+ \d+ \d+ (\d+) (-?\d+) (\d+)$", text, re.M)
    assert m and len(scores) == 2, text
    # at the kill, C held what it had plus everything that was free when it started
    scores["C"] = _badness(int(m[2]) + int(m[5]), int(m[3]), int(m[4]))
    killed = re.findall(r"^end (\w) \d+ killed 9$", text, re.M)
    pids = dict(re.findall(r"^end (\w) (\d+) ", text, re.M))
    return scores, killed, pids, out


@pytest.mark.parametrize("sizes, adjs", [
    ((120, 40, 100), (0, 0)),              # the larger holder is chosen, not the allocator
    ((120, 40, 100), (0, 1000)),           # oom_score_adj=1000 makes the small one the victim
    ((40, 120, 100), (0, 0)),              # the order of creation does not matter
])
def test_the_victim_has_the_highest_badness(sizes, adjs):
    scores, killed, pids, out = _pick(sizes, adjs)
    ranked = sorted(scores, key=scores.get, reverse=True)
    assert killed == [ranked[0]], (scores, out.stdout.decode())
    # the estimate for C cannot have decided it: the victim leads by a clear margin
    assert scores[ranked[0]] - scores[ranked[1]] > TOTALPAGES // 20, scores
    line = re.search(rb"Out of memory: Killed process (\d+) \(mem-oom\)", out.stderr)
    assert line and line[1].decode() == pids[ranked[0]], out.stderr
    assert b"done C" in out.stdout                       # the allocation went on after the kill


def _has_cap_sys_resource() -> bool:
    eff = re.search(r"^CapEff:\s+([0-9a-f]+)", open("/proc/self/status").read(), re.M)
    return bool(int(eff[1], 16) >> 24 & 1)


@pytest.mark.skipif(not _has_cap_sys_resource(), reason="lowering oom_score_adj needs "
                    "CAP_SYS_RESOURCE, which neither elfkit nor a native run has here")
def test_oom_score_adj_minus_1000_protects_the_largest():
    scores, killed, _pids, out = _pick((100, 80, 120), (-1000, 0))
    assert "A" not in killed and killed, out.stdout.decode()


def test_oom_score_adj_rules_as_the_kernel_has_them():
    """fs/proc/base.c: -1000..1000 else EINVAL; lowering below the process's oom_score_adj_min
    (0) needs CAP_SYS_RESOURCE; fork inherits the value; oom_score is readable."""
    script = ("a=/proc/self/oom_score_adj; cat $a; (echo 1001 > $a) 2>/dev/null || echo einval; "
              "echo 500 > $a; cat $a; echo 200 > $a && cat $a; "
              "(echo -1 > $a) 2>/dev/null && echo lowered || echo refused; "
              "sh -c 'cat /proc/self/oom_score_adj'; "
              "s=$(cat /proc/self/oom_score); [ \"$s\" -ge 0 ] && [ \"$s\" -le 2000 ] && echo score-ok")
    nat = _native("/bin/sh", "-c", script)
    emu = _elfkit("/bin/sh", "-c", script)
    assert nat.returncode == 0 and emu.returncode == 0, (nat.stderr, emu.stderr)
    assert emu.stdout == nat.stdout


def test_select_bad_process_skips_the_protected_and_kernel_threads():
    """-1000 cannot be set by an unprivileged guest here, so the rule is checked on the OOM
    killer's own function with processes made for it: the largest is protected, init and a
    kernel thread have no mm to speak of, the next largest is chosen."""
    from elfkit.kernel.mm import oom_kill

    kernel = SimpleNamespace()
    kernel.init = None

    def proc(pid, rss_pages, adj, kthread=False):
        mm = SimpleNamespace(oom_skip=False, rss_counters=lambda: (rss_pages * 4096, 0, 0),
                             pages=SimpleNamespace(page_tables_bytes=lambda: 4096))
        t = SimpleNamespace(pid=pid, kernel=kernel, mm=None if kthread else mm, exit=None,
                            state="S", vfork_parent=None, kthread=kthread,
                            group=SimpleNamespace(oom_score_adj=adj, group_exit=None))
        t.group.threads = [t]
        return t
    init = proc(1, 10, 0)
    kernel.init = init
    procs = [init, proc(2, 0, 0, kthread=True), proc(5, 50_000, -1000), proc(6, 30_000, 0),
             proc(7, 20_000, 0)]
    kernel.processes = lambda: procs
    chosen, points = oom_kill.select_bad_process(kernel, TOTALPAGES)
    assert chosen.pid == 6 and points == 30_001
    procs[3].group.oom_score_adj = -500                   # adj moves it below pid 7
    assert oom_kill.select_bad_process(kernel, TOTALPAGES)[0].pid == 7


def test_kernel_threads_ignore_signals_and_the_run_ends_without_them():
    out = _elfkit("/bin/sh", "-c", "kill -9 2 3; echo $?; ps -o pid=,comm= -p 2,3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [b"0", b"2", b"kthreadd", b"3", b"oom_reaper"]
