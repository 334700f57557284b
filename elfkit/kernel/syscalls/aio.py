"""Linux native AIO (fs/aio.c): io_setup and the calls on its contexts.

Not modelled: an AIO context is a ring the kernel maps into the process and
libaio reads in user space. io_setup is refused with EAGAIN, what the kernel
answers when fs.aio-max-nr is used up (callers such as libaio users and
databases then fall back to threads or plain I/O); every other call therefore
meets no context and fails as the kernel fails for an unknown one (EINVAL).
"""
from __future__ import annotations

import errno

from elfkit.kernel.syscalls import Syscall
from elfkit.kernel.syscalls.numbers import NR

_REASON = "native AIO rings are not modelled; refused as when fs.aio-max-nr is used up"


def sys_io_setup(p, nr_events, ctxp, *_):
    nr_events &= 0xFFFFFFFF
    raw = p.mm.read(ctxp, 8)
    if raw is None:
        return -errno.EFAULT
    if int.from_bytes(raw, "little") != 0 or nr_events == 0 or nr_events >= 0x80000000:
        return -errno.EINVAL
    p.warn_once("refused:io_setup", f"{p.image.execfn if p.image else 'guest'}: io_setup is "
                                    f"refused: {_REASON} (-EAGAIN)")
    return -errno.EAGAIN


def sys_io_no_context(p, ctx, *_):
    return -errno.EINVAL                           # lookup_ioctx: no such context


def sys_io_submit(p, ctx, nr, *_):
    return -errno.EINVAL                           # nr < 0 or no context: EINVAL either way


_NOTE = "EINVAL: no AIO context can exist (io_setup is refused)"

TABLE = [
    Syscall(NR.io_setup, sys_io_setup, ("int", "hex"), status="refused", note="EAGAIN: " + _REASON),
    Syscall(NR.io_destroy, sys_io_no_context, ("hex",), status="refused", note=_NOTE),
    Syscall(NR.io_submit, sys_io_submit, ("hex", "int", "hex"), status="refused", note=_NOTE),
    Syscall(NR.io_getevents, sys_io_no_context, ("hex", "int", "int", "hex", "hex"),
            status="refused", note=_NOTE),
    Syscall(NR.io_pgetevents, sys_io_no_context, ("hex", "int", "int", "hex", "hex", "hex"),
            status="refused", note=_NOTE),
    Syscall(NR.io_cancel, sys_io_no_context, ("hex", "hex", "hex"), status="refused", note=_NOTE),
]
