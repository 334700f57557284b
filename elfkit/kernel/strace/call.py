"""One system call being printed: its arguments, memory reads, and the two halves of the line."""
from __future__ import annotations

from elfkit.kernel.strace.xlat import (  # noqa: F401
    M64,
    MAX_STRLEN,
    NEVER_FAILS,
    PAGE,
    PATH_MAX,
    _addr,
    _x,
    string_quote,
)

# --- one system call being printed -----------------------------------------------------------------

class _Call:
    """The state of one call between enter() and leave(): what strace keeps in its tcb."""

    __slots__ = ("proc", "name", "args", "specs", "ret", "parts", "result", "exiting")

    def __init__(self, proc, name, args):
        self.proc = proc
        self.name = name
        self.args = tuple(int(a) & M64 for a in args)
        self.specs: list = []
        self.ret = "int"
        self.parts: list = []
        self.result: int | None = None
        self.exiting = False

    # syserror(): the call is being left and failed
    @property
    def err(self) -> bool:
        return self.exiting and self.result is not None and _is_error(self.name, self.result)

    @property
    def rval(self) -> int:
        return self.result if self.result is not None else 0

    # --- guest memory, as strace's umoven / umovestr / tfetch_mem see it ---
    def umoven(self, addr: int, n: int) -> bytes | None:
        if n < 0 or addr + n > M64:
            return None
        try:
            data = self.proc.mm.read(addr, n)
        except Exception:  # noqa: BLE001 - an unreadable guest is shown as an address
            return None
        return bytes(data) if data is not None and len(data) == n else None

    def umovestr(self, addr: int, n: int):
        """(bytes read, NUL seen) reading at most n bytes page by page, or None."""
        out = bytearray()
        pos = addr
        while n > 0:
            chunk = min(n, PAGE - (pos & (PAGE - 1)))
            data = self.umoven(pos, chunk)
            if data is None:
                return None
            k = data.find(b"\0")
            if k >= 0:
                out += data[:k + 1]
                return bytes(out), True
            out += data
            pos += chunk
            n -= chunk
        return bytes(out), False

    def fetch(self, addr: int, n: int) -> bytes | None:
        """tfetch_mem: nothing for NULL or for an output of a failed call."""
        if not addr or (self.exiting and self.err):
            return None
        return self.umoven(addr, n)

    def fetch_any(self, addr: int, n: int) -> bytes | None:
        """tfetch_mem_ignore_syserror."""
        return self.umoven(addr, n) if addr else None

    # --- strace's printers ---
    def printstr_ex(self, addr: int, length: int, zero: bool = False, force_hex: bool = False,
                    omit_trailing_0: bool = False) -> str:
        if not addr:
            return "NULL"
        length &= M64
        size = min(MAX_STRLEN + 1, length)
        if zero:
            r = self.umovestr(addr, size)
            if r is None:
                return _addr(addr)
            buf = r[0]
        else:
            buf = self.umoven(addr, size)
            if buf is None:
                return _addr(addr)
        if size > MAX_STRLEN:
            size = MAX_STRLEN
        else:
            buf = buf[:size] + b"\xff"
        text, unterminated = string_quote(buf, size, zero, force_hex, omit_trailing_0)
        if unterminated and length and (zero or length > MAX_STRLEN):
            text += "..."
        return text

    def printstrn(self, addr: int, length: int) -> str:
        return self.printstr_ex(addr, length)

    def printstr(self, addr: int) -> str:
        return self.printstr_ex(addr, M64, zero=True)

    def printpathn(self, addr: int, n: int) -> str:
        if not addr:
            return "NULL"
        n = min(n & 0xFFFFFFFF, PATH_MAX - 1)
        r = self.umovestr(addr, n + 1)
        if r is None:
            return _addr(addr)
        data, nul = r
        buf = data[:n].ljust(n, b"\xff") + (b"\0" if nul else b"\1")
        text, unterminated = string_quote(buf, n, True)
        return text + "..." if unterminated else text

    def printpath(self, addr: int) -> str:
        return self.printpathn(addr, PATH_MAX - 1)

    def printnum(self, addr: int, fmt: str, size: int = 4) -> str:
        """printnum_int / printnum_int64 / printnum_kptr: [value] or the address."""
        raw = self.fetch(addr, size)
        if raw is None:
            return _addr(addr)
        v = int.from_bytes(raw, "little")
        if fmt == "d":
            v = v - (1 << (8 * size)) if v >> (8 * size - 1) else v
            return f"[{v}]"
        if fmt == "x":
            return f"[{_x(v)}]"
        return f"[{v}]"

    def print_array(self, addr: int, nmemb: int, size: int, elem, truncate: bool = True) -> str:
        """print_array: [a, b, ...] with at most 32 elements, or the address."""
        if not addr:
            return "NULL"
        if not nmemb:
            return "[]"
        if nmemb * size + addr > M64:
            return _addr(addr)
        out = []
        for k in range(nmemb):
            cur = addr + k * size
            raw = self.fetch(cur, size)
            if raw is None:
                if k == 0:
                    return _addr(cur)
                out.append(f"... /* {_addr(cur)} */")
                break
            if truncate and k >= MAX_STRLEN:
                out.append("...")
                break
            out.append(elem(raw))
        return "[" + ", ".join(out) + "]"


def _is_error(name: str, result: int) -> bool:
    return -4095 < result < 0 and name not in NEVER_FAILS


