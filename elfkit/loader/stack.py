"""fs/exec.c + fs/binfmt_elf.c: create_elf_tables -- the initial stack a new program finds.

From the top (STACK_TOP) down:
  8 zero bytes                         (bprm->p starts one pointer below the top)
  the executable's name                (AT_EXECFN points here)
  environment strings, last one first  (so envp[0]'s text is the lowest of them)
  argument strings, last one first
  -- aligned down to 16 --
  "x86_64"                             (AT_PLATFORM)
  16 random bytes                      (AT_RANDOM)
  -- room for auxv, envp, argv, argc; the whole block rounded down to 16 --
  argc | argv[0..argc-1] NULL | envp[0..] NULL | auxv pairs ... AT_NULL   <- %rsp at entry
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from elfkit.loader.auxv import AT
from elfkit.loader.layout import PAGE_SIZE, STACK_EXPAND, STACK_TOP, page_start

PLATFORM = b"x86_64\0"


@dataclass(slots=True)
class StackItem:
    """One labelled piece of the initial stack, for --show-stack."""
    address: int
    size: int
    label: str
    value: object = None


@dataclass(slots=True)
class StackImage:
    sp: int                     # %rsp at the entry point
    base: int                   # lowest byte written
    data: bytes                 # STACK_TOP - base bytes
    vma_start: int              # the [stack] area's start (setup_arg_pages: + 128 KiB below)
    execfn: int
    random: int
    platform: int
    argv: list[int]
    envp: list[int]
    auxv: list[tuple[int, int]]
    items: list[StackItem] = field(default_factory=list)


def create_elf_tables(argv: list[bytes], envp: list[bytes], execfn: bytes, random16: bytes,
                      auxv_for) -> StackImage:
    """Lay out the stack. `auxv_for(execfn_addr, random_addr, platform_addr)` returns the vector."""
    assert len(random16) == 16
    items: list[StackItem] = []
    p = STACK_TOP - 8                       # bprm->p = vma->vm_end - sizeof(void *)
    items.append(StackItem(p, 8, "end marker (NULL)"))

    def push_bytes(b: bytes, label, value=None) -> int:
        nonlocal p
        p -= len(b)
        items.append(StackItem(p, len(b), label, value))
        return p

    strings: dict[int, int] = {}
    execfn_addr = push_bytes(execfn + b"\0", "execfn string", execfn)
    env_addrs = [0] * len(envp)
    for i in range(len(envp) - 1, -1, -1):
        env_addrs[i] = push_bytes(envp[i] + b"\0", f"envp[{i}] string", envp[i])
    arg_addrs = [0] * len(argv)
    for i in range(len(argv) - 1, -1, -1):
        arg_addrs[i] = push_bytes(argv[i] + b"\0", f"argv[{i}] string", argv[i])
    del strings
    strings_low = p
    p &= ~0xF                                # arch_align_stack (no randomisation)
    if p != strings_low:
        items.append(StackItem(p, strings_low - p, "padding (16-byte alignment)"))
    platform_addr = push_bytes(PLATFORM, "platform string (AT_PLATFORM)", "x86_64")
    random_addr = push_bytes(random16, "16 random bytes (AT_RANDOM)", random16.hex())
    auxv = auxv_for(execfn_addr, random_addr, platform_addr)
    words = [len(argv), *arg_addrs, 0, *env_addrs, 0]
    for k, v in auxv:
        words += [k, v]
    sp = (p - 8 * len(words)) & ~0xF         # STACK_ROUND(sp, items) after STACK_ADD(p, ei_index)
    table = struct.pack(f"<{len(words)}Q", *words)
    pad = p - (sp + len(table))
    if pad:
        items.append(StackItem(sp + len(table), pad, "padding (16-byte alignment)"))
    _label_table(items, sp, argv, arg_addrs, envp, env_addrs, auxv)

    image = bytearray(STACK_TOP - sp)
    image[0:len(table)] = table
    for it in items:
        if it.label.endswith("string") or it.label.startswith(("platform", "16 random")):
            raw = _raw(it, argv, envp, execfn, random16)
            image[it.address - sp:it.address - sp + len(raw)] = raw
    vma_start = page_start(sp) - STACK_EXPAND
    items.sort(key=lambda it: -it.address)
    return StackImage(sp, sp, bytes(image), vma_start, execfn_addr, random_addr, platform_addr,
                      arg_addrs, env_addrs, auxv, items)


def _raw(item, argv, envp, execfn, random16) -> bytes:
    if item.label == "execfn string":
        return execfn + b"\0"
    if item.label.startswith("platform"):
        return PLATFORM
    if item.label.startswith("16 random"):
        return random16
    idx = int(item.label[item.label.index("[") + 1:item.label.index("]")])
    return (argv if item.label.startswith("argv") else envp)[idx] + b"\0"


def _label_table(items, sp, argv, arg_addrs, envp, env_addrs, auxv):
    a = sp
    items.append(StackItem(a, 8, "argc", len(argv)))
    a += 8
    for i, addr in enumerate(arg_addrs):
        items.append(StackItem(a, 8, f"argv[{i}]", addr))
        a += 8
    items.append(StackItem(a, 8, "argv NULL", 0))
    a += 8
    for i, addr in enumerate(env_addrs):
        items.append(StackItem(a, 8, f"envp[{i}]", addr))
        a += 8
    items.append(StackItem(a, 8, "envp NULL", 0))
    a += 8
    for k, v in auxv:
        name = AT(k).name if k in AT._value2member_map_ else str(k)
        items.append(StackItem(a, 16, f"auxv AT_{name}", v))
        a += 16


__all__ = ["create_elf_tables", "StackImage", "StackItem", "PAGE_SIZE"]
