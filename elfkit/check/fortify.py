"""glibc's FORTIFY_SOURCE entry points: each `__X_chk` and the plain function(s) it guards.

Data, from glibc's exported `__*_chk` symbols (debug/Versions; 2.36 plus the
2.38 strlcpy family and the 2.40 inet_ntop/inet_pton). Only these names
count: `__stack_chk_fail` (the stack protector), `__chk_fail` (the failure
report) and any other `*_chk` symbol a program happens to import are not
fortified calls.
"""
from __future__ import annotations

# __X_chk -> the unfortified names it replaces.  __fdelt_chk guards the FD_SET/FD_CLR/
# FD_ISSET macros, which have no function of their own to call unfortified.
CHK_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "__longjmp_chk": ("longjmp", "_longjmp", "siglongjmp"),
    "__fdelt_chk": (),
    **{f"__{name}_chk": (name,) for name in """
        asprintf confstr dprintf explicit_bzero fgets fgets_unlocked fgetws fgetws_unlocked
        fprintf fread fread_unlocked fwprintf getcwd getdomainname getgroups gethostname
        getlogin_r gets getwd mbsnrtowcs mbsrtowcs mbstowcs memcpy memmove mempcpy memset
        obstack_printf obstack_vprintf poll ppoll pread64 pread printf ptsname_r read readlink
        readlinkat realpath recv recvfrom snprintf sprintf stpcpy stpncpy strcat strcpy strncat
        strncpy swprintf syslog ttyname_r vasprintf vdprintf vfprintf vfwprintf vprintf
        vsnprintf vsprintf vswprintf vsyslog vwprintf wcpcpy wcpncpy wcrtomb wcscat wcscpy
        wcsncat wcsncpy wcsnrtombs wcsrtombs wcstombs wctomb wmemcpy wmemmove wmempcpy wmemset
        wprintf
        strlcpy strlcat wcslcpy wcslcat
        inet_ntop inet_pton
        """.split()},
}

# __X_chk entry points newer than glibc 2.36, with the release that added them. Their
# plain names count as fortifiable only in files that need at least that glibc: a file
# built against an older one had no checked variant to call (and strlcpy then comes
# from libbsd, not glibc).
CHK_SINCE: dict[str, tuple[int, int]] = {
    "__strlcpy_chk": (2, 38), "__strlcat_chk": (2, 38), "__wcslcpy_chk": (2, 38),
    "__wcslcat_chk": (2, 38), "__inet_ntop_chk": (2, 40), "__inet_pton_chk": (2, 40),
}

# plain name -> its __X_chk
PLAIN_TO_CHK: dict[str, str] = {plain: chk for chk, plains in CHK_FUNCTIONS.items()
                                for plain in plains}


def canonical(name: str) -> str:
    """The glibc function a per-machine alias stands for. Machines whose `long double`
    changed have extra entry points for the printf family: `__nldbl___printf_chk` and
    `__nldbl_printf` (code built with long double = double: PowerPC, s390, SPARC, MIPS,
    ...), `__printf_chkieee128` and `__printfieee128` (PowerPC64 built with IEEE 128-bit
    long double). Each counts as the function it aliases; other names are unchanged."""
    if name.startswith("__nldbl_"):
        rest = name[8:]
        if rest in CHK_FUNCTIONS or rest in PLAIN_TO_CHK:
            return rest
    elif name.endswith("ieee128"):
        base = name[:-7]
        if base in CHK_FUNCTIONS:
            return base
        if base.startswith("__") and base[2:] in PLAIN_TO_CHK:
            return base[2:]
    return name


def classify(names, glibc: tuple[int, ...] | None = None) -> tuple[list[str], list[str]]:
    """(fortified, unfortified): the `__X_chk` names referenced, and the plain names
    referenced that have a `__X_chk` variant in glibc `glibc` (the newest GLIBC_ version
    the file needs; None: 2.36). Per-machine aliases count as what they alias (canonical).
    Sorted, for stable output."""
    names = {canonical(n) for n in names}
    fortified = sorted(n for n in names if n in CHK_FUNCTIONS)
    floor = glibc or (2, 36)
    unfortified = sorted(n for n in names if n in PLAIN_TO_CHK
                         and CHK_SINCE.get(PLAIN_TO_CHK[n], (0,)) <= floor)
    return fortified, unfortified
