"""fs/pipe.c: pipes between guest processes, inside elfkit.

A pipe is a 64 KiB buffer (PIPE_DEF_BUFFERS pages; F_GETPIPE_SZ, F_SETPIPE_SZ
within /proc/sys/fs/pipe-max-size) with a read end and a write end, each an
open file description that fork and dup share. Reads take what is there, or
sleep until a writer writes, or return 0 (end of file) once no writer is left.
Writes of at most PIPE_BUF bytes are atomic: they wait until all of them fit.
Larger writes go out in pieces as room appears, and the call returns when all
of it is written (or a signal interrupts it after some was: the count so far).
Writing with no reader left raises SIGPIPE and fails with EPIPE. O_NONBLOCK
turns every wait into EAGAIN.
"""
from __future__ import annotations

import errno
import os

from elfkit.kernel.fs.files import O_NONBLOCK, O_RDONLY, O_WRONLY, OpenFile
from elfkit.kernel.wait import Sleep, WaitQueue

PIPE_BUF = 4096
PIPE_DEF_SIZE = 16 * 4096
PIPE_MAX_SIZE = 1048576
S_IFIFO = 0o010000


class Pipe:
    """pipe_inode_info: the buffer, who holds each end, who waits."""
    _next_inode = 0x10000

    def __init__(self, kernel):
        self.kernel = kernel
        self.buf = bytearray()
        self.size = PIPE_DEF_SIZE
        self.readers = 0
        self.writers = 0
        self.rd_wait = WaitQueue()          # readers waiting for data
        self.wr_wait = WaitQueue()          # writers waiting for room
        Pipe._next_inode += 1
        self.inode = Pipe._next_inode

    def wake_readers(self):
        self.rd_wait.wake_all()
        self.kernel.poll_wait.wake_all()

    def wake_writers(self):
        self.wr_wait.wake_all()
        self.kernel.poll_wait.wake_all()


class PipeEnd(OpenFile):
    """One end of a pipe, as an open file description."""

    def __init__(self, pipe: Pipe, flags: int):
        self.pipe = pipe
        self.flags = flags
        self.refs = 1
        self.writing = (flags & 3) == O_WRONLY
        self.path = f"pipe:[{pipe.inode}]"
        if self.writing:
            pipe.writers += 1
        else:
            pipe.readers += 1

    def read(self, n: int):
        if self.writing:
            return -errno.EBADF
        pipe = self.pipe
        if n == 0:
            return b""
        if pipe.buf:
            chunk = bytes(pipe.buf[:n])
            del pipe.buf[:n]
            pipe.wake_writers()
            return chunk
        if pipe.writers == 0:
            return b""
        if self.flags & O_NONBLOCK:
            return -errno.EAGAIN
        raise Sleep("pipe_read", queues=(pipe.rd_wait,))

    def write(self, data: bytes):
        if not self.writing:
            return -errno.EBADF
        pipe = self.pipe
        task = pipe.kernel.current
        done = task.restart.get("done", 0)
        if pipe.readers == 0:
            task.restart = {}
            from elfkit.kernel.signals import send_sig
            send_sig(task, 13, task)                 # SIGPIPE, then EPIPE if it is survived
            return done or -errno.EPIPE
        data = data[done:]
        room = pipe.size - len(pipe.buf)
        if len(data) + done <= PIPE_BUF and room < len(data):
            n = 0                                    # atomic: all or nothing
        else:
            n = min(room, len(data))
        if n:
            pipe.buf += data[:n]
            pipe.wake_readers()
        if n == len(data):
            task.restart = {}
            return done + n
        if self.flags & O_NONBLOCK:
            task.restart = {}
            return done + n if done + n else -errno.EAGAIN
        task.restart["done"] = done + n
        raise Sleep("pipe_write", queues=(pipe.wr_wait,))

    def poll_events(self) -> int:
        """POLLIN/POLLOUT/POLLHUP/POLLERR as pipe_poll reports them."""
        pipe = self.pipe
        if self.writing:
            ev = 0x4 if pipe.size - len(pipe.buf) >= PIPE_BUF else 0
            return ev | (0x8 if pipe.readers == 0 else 0)
        ev = 0x1 if pipe.buf else 0
        return ev | (0x10 if pipe.writers == 0 else 0)

    def stat(self):
        creds = self.pipe.kernel.init.creds
        return os.stat_result((S_IFIFO | 0o600, self.pipe.inode, 0xE, 1, creds.euid, creds.egid,
                               0, 0, 0, 0))

    def release(self):
        pipe = self.pipe
        if self.writing:
            pipe.writers -= 1
            if pipe.writers == 0:
                pipe.wake_readers()
        else:
            pipe.readers -= 1
            if pipe.readers == 0:
                pipe.wake_writers()

    def pipe_size(self, new: int | None = None) -> int:
        pipe = self.pipe
        if new is None:
            return pipe.size
        if new > PIPE_MAX_SIZE:
            return -errno.EPERM
        size = max(4096, 1 << (max(new, 1) - 1).bit_length())
        if size < len(pipe.buf):
            return -errno.EBUSY
        pipe.size = size
        return size


def make_pipe(kernel, flags: int) -> tuple[PipeEnd, PipeEnd]:
    """create_pipe_files: the read end and the write end."""
    pipe = Pipe(kernel)
    return PipeEnd(pipe, O_RDONLY | (flags & O_NONBLOCK)), PipeEnd(pipe, O_WRONLY | (flags & O_NONBLOCK))
