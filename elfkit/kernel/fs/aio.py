"""fs/aio.c's kioctx: one native AIO context and the ring of completions it shares with the process.

io_setup maps the ring into the process (MAP_SHARED, read-write, "/[aio] (deleted)" in
/proc/PID/maps, VM_DONTCOPY so a forked child has no such area). It starts with struct aio_ring

    unsigned id, nr, head, tail, magic, compat_features, incompat_features, header_length

(32 bytes, the size of one event) followed by nr struct io_event {u64 data, obj; s64 res, res2}.
The context's id *is* the ring's address, and the ring is the truth, as it is for the kernel:
a completion is written at the context's own tail and ring->tail follows; io_getevents reads
from ring->head (which user space may advance itself, as libaio's fast path does) to ring->tail
and writes the new head back.

The ring's slots are counted as the kernel counts them (reqs_available, req_batch, the
completions noticed reaped at the next completion or when the slots run out); the per-CPU
stash is modelled as one CPU's, the one a single-threaded submitter stays on.

The contexts live in the mm (`Mm.ioctx_table`, index = ring->id) and die with it (exit, exec:
`Mm.mmput` calls kill); the machine-wide count of their max_reqs (aio-nr) is on the Kernel.
"""
from __future__ import annotations

import struct

from elfkit.kernel.wait import WaitQueue

AIO_RING_MAGIC = 0xA10A10A1
AIO_RING_COMPAT_FEATURES, AIO_RING_INCOMPAT_FEATURES = 1, 0
RING_HEADER = 32                          # sizeof(struct aio_ring) == sizeof(struct io_event)
EVENT = struct.Struct("<QQqq")            # struct io_event
EVENTS_PER_PAGE = 4096 // EVENT.size      # AIO_EVENTS_PER_PAGE
RING_NAME = "/[aio] (deleted)"
AIO_MAX_NR = 65536                        # fs.aio-max-nr's default
PAGE = 4096


def aio_nr(kernel) -> int:
    """/proc/sys/fs/aio-nr: the max_reqs of every live context on the machine."""
    return getattr(kernel, "aio_nr", 0)


class PollRequest:
    """An IOCB_CMD_POLL waiting for its file (aio_poll's request on active_reqs)."""
    __slots__ = ("obj", "data", "file", "events", "eventfd")

    def __init__(self, obj, data, f, events, eventfd):
        self.obj, self.data, self.file, self.events, self.eventfd = obj, data, f, events, eventfd


class Kioctx:
    def __init__(self, kernel, mm, user_id: int, mmap_size: int, nr_events: int, max_reqs: int,
                 ncpus: int, inode: int):
        self.kernel, self.mm = kernel, mm
        self.user_id = user_id              # == mmap_base: the ring's address
        self.mmap_size = mmap_size
        self.inode = inode                  # the ring area's, to know it is still there
        self.nr_events = nr_events          # the trusted copy of ring->nr
        self.max_reqs = max_reqs            # what io_setup was asked for: counted in aio-nr
        self.id = -1
        self.tail = 0                       # the trusted copy of ring->tail
        self.dead = False
        self.wait = WaitQueue()             # io_getevents callers
        self.active: list[PollRequest] = []  # active_reqs: pending polls, the cancellable ones
        self.reqs_available = nr_events - 1
        self.req_batch = max(1, (nr_events - 1) // (ncpus * 4))
        self.cpu_reqs = 0                   # this CPU's stash (kioctx_cpu.reqs_available)
        self.completed_events = 0

    # --- the ring in the process's memory ----------------------------------------------------
    def _ring_there(self, off: int, n: int) -> bool:
        v = self.mm.find(self.user_id)
        return v is not None and v.name == RING_NAME and v.inode == self.inode and \
            self.mm.is_mapped(self.user_id + off, self.user_id + off + n)

    def peek(self, off: int, n: int) -> bytes | None:
        if not self._ring_there(off, n):
            return None
        return self.mm.pages.read(self.user_id + off, n)

    def poke(self, off: int, data: bytes):
        """The kernel's own write to the ring's pages (whatever the area's protection now)."""
        if not self._ring_there(off, len(data)):
            return
        mm, addr = self.mm, self.user_id + off
        cpu = mm.machine.cpu
        if cpu is not None and mm.pages is cpu.pages:
            cpu.write(addr, data)
        else:
            mm.pages.write(addr, data)

    def init_ring(self):
        self.poke(0, struct.pack("<8I", self.id, self.nr_events, 0, 0, AIO_RING_MAGIC,
                                 AIO_RING_COMPAT_FEATURES, AIO_RING_INCOMPAT_FEATURES, RING_HEADER))

    def ring_head(self) -> int:
        raw = self.peek(8, 4)
        return 0 if raw is None else struct.unpack("<I", raw)[0]

    # --- ring slots (get_reqs_available, put_reqs_available, refill_reqs_available) -----------
    def _get_reqs(self) -> bool:
        if not self.cpu_reqs:
            if self.reqs_available < self.req_batch:
                return False
            self.reqs_available -= self.req_batch
            self.cpu_reqs += self.req_batch
        self.cpu_reqs -= 1
        return True

    def put_reqs(self, n: int):
        self.cpu_reqs += n
        while self.cpu_reqs >= self.req_batch * 2:
            self.cpu_reqs -= self.req_batch
            self.reqs_available += self.req_batch

    def _refill(self, head: int, tail: int):
        head %= self.nr_events               # (user space may have written anything there)
        in_ring = tail - head if head <= tail else self.nr_events - (head - tail)
        completed = self.completed_events - in_ring if in_ring < self.completed_events else 0
        if completed:
            self.completed_events -= completed
            self.put_reqs(completed)

    def get_req(self) -> bool:
        """aio_get_req's slot: False (EAGAIN) when the ring could not take its completion."""
        if self._get_reqs():
            return True
        if self.completed_events:             # user_refill_reqs_available
            self._refill(self.ring_head(), self.tail)
        return self._get_reqs()

    # --- completion (aio_complete) and reaping (aio_read_events_ring) -------------------------
    def complete(self, obj: int, data: int, res: int, eventfd=None):
        tail = self.tail
        self.poke(RING_HEADER + EVENT.size * tail, EVENT.pack(data & (1 << 64) - 1, obj, res, 0))
        tail += 1
        if tail >= self.nr_events:
            tail = 0
        self.tail = tail
        head = self.ring_head()
        self.poke(12, struct.pack("<I", tail))
        self.completed_events += 1
        if self.completed_events > 1:
            self._refill(head, tail)
        if eventfd is not None:
            eventfd.signal(1)
        self.wait.wake_all()

    def read_events(self, mm, dest: int, nr: int) -> int:
        """Up to nr events from ring->head into `dest` (the process's io_event array): how many,
        or -EFAULT (the head then stays where it was)."""
        raw = self.peek(8, 8)
        if raw is None:
            return 0
        head, tail = struct.unpack("<II", raw)
        if head == tail:
            return 0
        n = self.nr_events
        head %= n
        tail %= n
        ret = 0
        while ret < nr and head != tail:
            avail = (tail if head <= tail else n) - head
            pos = head + 1                                    # AIO_EVENTS_OFFSET
            avail = min(avail, nr - ret, EVENTS_PER_PAGE - pos % EVENTS_PER_PAGE)
            data = self.peek(RING_HEADER + EVENT.size * head, EVENT.size * avail)
            if data is None or not mm.write(dest + EVENT.size * ret, data):
                return -14                                    # EFAULT
            ret += avail
            head = (head + avail) % n
        self.poke(8, struct.pack("<I", head))
        return ret

    # --- the end (kill_ioctx) -----------------------------------------------------------------
    def kill(self, unmap: bool = False) -> bool:
        """False if it was already dead. Pending polls are cancelled (their completions would go
        to a ring no one reads again); io_getevents callers wake and find no context."""
        if self.dead:
            return False
        self.dead = True
        table = self.mm.ioctx_table
        if 0 <= self.id < len(table) and table[self.id] is self:
            table[self.id] = None
        self.kernel.aio_nr = aio_nr(self.kernel) - self.max_reqs
        for req in self.active:
            req.file.put()
        self.active = []
        self.wait.wake_all()
        if unmap and self.mmap_size:
            self.mm.unmap_range(self.user_id, self.user_id + self.mmap_size)
        return True


def ioctx_alloc(p, nr_events: int, ncpus: int):
    """A new context in p's mm for io_setup's nr_events (already checked non-zero): the Kioctx,
    or -errno, with ioctx_alloc's and aio_setup_ring's checks in their order."""
    import errno
    from elfkit.kernel.mm.mmap import MAP_ANONYMOUS, MAP_SHARED, PROT_READ, PROT_WRITE
    max_reqs = nr_events
    nr_events = max(nr_events, ncpus * 4) * 2 & 0xFFFFFFFF
    if nr_events > 0x10000000 // EVENT.size:
        return -errno.EINVAL
    limit = getattr(p.kernel, "aio_max_nr", AIO_MAX_NR)
    if not nr_events or max_reqs > limit:
        return -errno.EAGAIN
    if aio_nr(p.kernel) + max_reqs > limit:
        return -errno.EAGAIN                         # (the kernel checks after mapping the ring)
    nr_events += 2                                   # the head/tail overlap entry, and one more
    nr_pages = (RING_HEADER + EVENT.size * nr_events + PAGE - 1) // PAGE
    ring_nr = (PAGE * nr_pages - RING_HEADER) // EVENT.size
    mm = p.mm
    addr = mm.mmap(0, nr_pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS)
    if addr < 0:
        return -errno.ENOMEM
    vma = mm.find(addr)
    vma.name = RING_NAME
    ctx = Kioctx(p.kernel, mm, addr, nr_pages * PAGE, ring_nr, max_reqs, ncpus, vma.inode)
    table = mm.ioctx_table
    for i, c in enumerate(table):                    # ioctx_add_table: the first free slot
        if c is None:
            table[i], ctx.id = ctx, i
            break
    else:
        table.append(ctx)
        ctx.id = len(table) - 1
    p.kernel.aio_nr = aio_nr(p.kernel) + max_reqs
    ctx.init_ring()
    return ctx


def lookup_ioctx(p, ctx_id: int):
    """lookup_ioctx: ring->id read from the process's memory at ctx_id names the table slot,
    whose context must have that address. None: EINVAL."""
    raw = p.mm.read(ctx_id, 4)
    if raw is None:
        return None
    i = struct.unpack("<I", raw)[0]
    table = p.mm.ioctx_table
    ctx = table[i] if i < len(table) else None
    if ctx is None or ctx.user_id != ctx_id or ctx.dead:
        return None
    return ctx
