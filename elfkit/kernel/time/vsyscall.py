"""kernel/time/vsyscall.c update_vsyscall: the clock data in [vvar] that the vDSO's time functions
read without a system call.

The vDSO's clock_gettime, gettimeofday and time (elfkit.loader.vdso) compute the time as the
kernel's do: the TSC, read in the guest with `rdtsc` (Unicorn's is the host's own counter),
turned into nanoseconds by a multiplier, added to the clock's value at a reference count, all
under a sequence count that is odd while elfkit writes. The data lives in one frame that every
process maps as its [vvar] (the page cache's ("kernel", "[vvar]") range), at VVAR_* offsets:

    0  seq      u32   odd while being written
    4  mode     u32   0: make the system call (not calibrated yet), 1: use the TSC
    8  cycle    u64   the TSC at the reference point
    16 mult     u64   nanoseconds per TSC tick, << 32
    24 base[4]  u64   CLOCK_REALTIME, MONOTONIC, BOOTTIME, TAI in ns at `cycle`
    56 coarse[2] u64  CLOCK_REALTIME_COARSE, MONOTONIC_COARSE in ns (the reference point)

The multiplier is measured against the host's CLOCK_MONOTONIC over the whole run (from when
this module was imported), so it gets better as the run goes on; until 50 ms have passed the
mode is 0. Each update (before a CPU runs guest code, at most every UPDATE_S) takes the host's
clocks again; no clock goes back (the new value is at least what the old data gives now; for
REALTIME and TAI unless the host's clock was set back by more than STEP_NS), so the guest's
readings are monotonic across updates too.
"""
from __future__ import annotations

import ctypes
import struct
import time

VVAR_SEQ, VVAR_MODE, VVAR_CYCLE, VVAR_MULT, VVAR_BASE, VVAR_COARSE = 0, 4, 8, 16, 24, 56
VVAR_SIZE = 72
# base[] order, and the host clock each follows (CLOCK_TAI is 11)
CLOCKS = (time.CLOCK_REALTIME, time.CLOCK_MONOTONIC, time.CLOCK_BOOTTIME, 11)
CALIBRATE_NS = 50_000_000           # the TSC's rate is trusted after this much host time
UPDATE_S = 0.002
STEP_NS = 1_000_000                 # a REALTIME/TAI change back larger than this is a clock set

_DATA = struct.Struct("<IIQQ4Q2Q")


def _tsc_reader():
    """The host's TSC, read by machine code of elfkit's own (rdtsc; shl; or; ret) on an
    executable page (kernel.exitcheck.code_page): Python has no other way to it."""
    from elfkit.kernel.exitcheck import code_page
    page = code_page([(0, b"\x0f\x31\x48\xc1\xe2\x20\x48\x09\xd0\xc3")])
    return None if page is None else ctypes.CFUNCTYPE(ctypes.c_uint64)(page)


try:
    read_tsc = _tsc_reader()
except (OSError, AttributeError):
    read_tsc = None


def _sample() -> tuple[int, list[int]]:
    """(TSC, [each of CLOCKS in ns]) at one moment: the TSC halfway through the readings, of
    the tightest of a few tries -- on a loaded host the thread can lose the CPU between the two
    TSC reads, and a pair milliseconds apart would skew the multiplier and the bases by that
    much (as the kernel's TSC calibration retries a read that an interrupt stretched)."""
    best = None
    for _ in range(4):
        c0 = read_tsc()
        ns = [time.clock_gettime_ns(c) for c in CLOCKS]
        c1 = read_tsc()
        if best is None or c1 - c0 < best[0]:
            best = (c1 - c0, (c0 + c1) // 2, ns)
        if c1 - c0 < 20_000:                 # (a few µs: no preemption in between)
            break
    return best[1], best[2]


_FIRST = _sample() if read_tsc is not None else None


class VsyscallData:
    """The writer of one machine's [vvar] clock data."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.written: tuple | None = None        # (cycle, mult, base, host clocks) last published
        self.at = 0.0                             # time.monotonic() of the last update

    def frame(self) -> int | None:
        """The physical address of the [vvar] frame, while some process maps it."""
        from elfkit.kernel.mm.filemap import PageCache
        from elfkit.loader.vdso import VVAR_PAGES, PAGE, vvar_data
        cache = self.kernel.page_cache
        if cache is None:
            return None
        key = PageCache.key(("kernel", "[vvar]"), 0, VVAR_PAGES * PAGE, vvar_data())
        return cache.ranges.get(key)

    def update(self, force: bool = False):
        """update_vsyscall: publish the clocks now (the caller holds the kernel lock)."""
        now = time.monotonic()
        if not force and now - self.at < UPDATE_S or read_tsc is None:
            return
        paddr = self.frame()
        if paddr is None:
            return
        self.at = now
        cycle, ns = _sample()
        first_cycle, first_ns = _FIRST
        span = ns[1] - first_ns[1]
        if span < CALIBRATE_NS or cycle <= first_cycle:
            return                                          # mode stays 0: system calls
        mult = (span << 32) // (cycle - first_cycle)
        base = list(ns)
        if self.written is not None:
            # what the data published last gives now: no clock goes below it (the multiplier's
            # error would otherwise step a clock back at an update), unless the host's clock
            # itself was set (REALTIME, TAI: its distance to MONOTONIC changed by more than
            # STEP_NS since the last update -- how far the extrapolation is off says nothing)
            old_cycle, old_mult, old_base, old_host = self.written
            delta = ((cycle - old_cycle) * old_mult) >> 32 if cycle > old_cycle else 0
            for i in range(len(base)):
                then = old_base[i] + delta
                was_set = i in (0, 3) and abs((ns[i] - ns[1]) - (old_host[i] - old_host[1])) > STEP_NS
                if then > base[i] and not was_set:
                    base[i] = then
        self.written = (cycle, mult, base, ns)
        phys = self.kernel.machine.phys
        seq = struct.unpack("<I", phys.read(paddr, 4))[0]
        phys.write(paddr, struct.pack("<I", (seq + 1) | 1))                 # odd: writing
        phys.write(paddr + 4, _DATA.pack(0, 1, cycle, mult, *base, base[0], base[1])[4:])
        phys.write(paddr, struct.pack("<I", (seq + 2) & ~1 & 0xFFFFFFFF))   # even: done
