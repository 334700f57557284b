"""`elfkit link` as gcc's linker: `gcc -static -B fixtures/ld/` runs fixtures/ld/ld, which
runs `python -m elfkit link` with collect2's arguments (crt files, libc.a, libgcc.a,
libgcc_eh.a, --start-group ... --end-group, Debian's libm.a GROUP script).

Oracle: the same program linked by ld.bfd (plain `gcc -static`), run natively: elfkit's
executable must print the same and exit the same, natively and under `elfkit load-and-run`;
`readelf -a -W` must have nothing to say on stderr about it.

Programs (gcc's and clang's objects): a glibc C program (stdio, printf of a double, strdup,
qsort with a callback, a __thread variable, getenv), the same through musl-gcc, a C++ program that throws and
catches an exception through two frames (libstdc++'s TLS and unwinder: .eh_frame,
.gcc_except_table, IFUNC-free but TLS-heavy), and a C program using libm (-lm: the GROUP
script).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_elfkit

ROOT = Path(__file__).resolve().parent.parent
LD_DIR = ROOT / "fixtures" / "ld"

C_PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
static __thread int calls = 3;
static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
int main(int argc, char **argv) {
    int v[] = {5, 3, 9, 1, 7};
    qsort(v, 5, sizeof v[0], cmp);
    char *d = strdup("duplicated");
    calls++;
    printf("argc=%d sorted=%d,%d,%d,%d,%d %s %.3f tls=%d env=%s\n", argc, v[0], v[1], v[2],
           v[3], v[4], d, 2.0 / 3.0, calls, getenv("ELFKIT_LINK_TEST") ? "set" : "unset");
#ifdef WITH_LIBM
    printf("libm %.6f %.6f\n", sqrt(2.0), cos(1.0));
#endif
    free(d);
    return 7;
}
"""

CXX_PROGRAM = r"""
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>
static int check(int x) { if (x > 2) throw std::runtime_error("too big: " + std::to_string(x)); return x; }
static int outer(std::vector<int> &v, int i) { v.push_back(check(i)); return i; }
int main() {
    std::vector<int> v;
    try { for (int i = 0;; i++) outer(v, i); }
    catch (const std::exception &e) { std::printf("caught '%s' after %zu\n", e.what(), v.size()); }
    return 0;
}
"""


def _env():
    env = dict(os.environ)
    env["ELFKIT_PYTHON"] = sys.executable
    env["ELFKIT_LINK_TEST"] = "1"
    return env


def _build(tmp_path, compiler, source, name, extra=(), suffix=".c"):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    src = tmp_path / f"{name}{suffix}"
    src.write_text(source)
    ref, mine = tmp_path / f"{name}-ld", tmp_path / f"{name}-elfkit"
    base = [compiler, "-static", "-O2", str(src), *extra]
    r = subprocess.run(base + ["-o", str(ref)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"{compiler} -static cannot link here: {r.stderr[-300:]}")
    r = subprocess.run([compiler, "-B", f"{LD_DIR}/", *base[1:], "-o", str(mine)],
                       capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    return ref, mine


def _same_natively_and_emulated(ref, mine):
    args = ["one", "two"]
    want = subprocess.run([str(ref), *args], capture_output=True, env=_env())
    got = subprocess.run([str(mine), *args], capture_output=True, env=_env())
    assert (got.returncode, got.stdout) == (want.returncode, want.stdout)
    emu = run_elfkit("load-and-run", str(mine), *args, env=_env(), timeout=300)
    # argv[0] is the path given: the same in both runs only if printed identically
    assert (emu.returncode, emu.stdout) == (want.returncode, want.stdout), emu.stderr
    check = subprocess.run(["readelf", "-a", "-W", str(mine)], capture_output=True, text=True)
    assert check.returncode == 0 and not check.stderr.strip(), check.stderr[:500]


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_glibc_c_program(tmp_path, compiler):
    _same_natively_and_emulated(*_build(tmp_path, compiler, C_PROGRAM, "c"))


def test_glibc_with_libm_group_script(tmp_path):
    _same_natively_and_emulated(*_build(tmp_path, "gcc", C_PROGRAM, "m",
                                        ["-DWITH_LIBM", "-lm"]))


def test_musl_c_program(tmp_path):
    _same_natively_and_emulated(*_build(tmp_path, "musl-gcc", C_PROGRAM, "musl"))


@pytest.mark.parametrize("compiler", ["g++", "clang++"])
def test_cxx_exception(tmp_path, compiler):
    ref, mine = _build(tmp_path, compiler, CXX_PROGRAM, "cxx", suffix=".cc")
    _same_natively_and_emulated(ref, mine)


def test_errors_are_lds(tmp_path):
    """An undefined reference and a multiple definition: the lines ld.bfd prints (the
    oracle) name the symbol; elfkit's do too, with the objects, and exit 1."""
    a, b = tmp_path / "a.c", tmp_path / "b.c"
    a.write_text("extern int nowhere(void); int twice = 1; int main(void){return nowhere();}\n")
    b.write_text("int twice = 2;\n")
    objs = []
    for src in (a, b):
        subprocess.run(["gcc", "-c", "-O2", str(src), "-o", str(src.with_suffix(".o"))],
                       check=True)
        objs.append(str(src.with_suffix(".o")))
    ld = subprocess.run(["ld", "-static", "-e", "main", "-o", str(tmp_path / "x"), *objs],
                        capture_output=True, text=True)
    assert "undefined reference to `nowhere'" in ld.stderr
    assert "multiple definition of `twice'" in ld.stderr
    r = run_elfkit("link", "-static", "-e", "main", "-o", str(tmp_path / "y"), *objs)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "multiple definition of `twice'" in err and "b.o" in err and "a.o" in err, err
    assert not (tmp_path / "y").exists()
    assert "Traceback" not in err


def test_load_and_run_links_objects(tmp_path):
    """`elfkit load-and-run prog.o -- ARGS`: linked in memory as `gcc -static` links it (the
    object defines no _start), then run; the oracle is gcc -static's executable run
    natively. An object with an undefined symbol is ld's line and exit 127, nothing run."""
    src = tmp_path / "p.c"
    src.write_text(C_PROGRAM)
    obj = tmp_path / "p.o"
    subprocess.run(["gcc", "-O2", "-c", str(src), "-o", str(obj)], check=True)
    ref = tmp_path / "p"
    subprocess.run(["gcc", "-static", str(obj), "-o", str(ref)], check=True)
    want = subprocess.run([str(ref), "a", "b"], capture_output=True, env=_env())
    got = run_elfkit("load-and-run", str(obj), "--", "a", "b", env=_env())
    assert (got.returncode, got.stdout) == (want.returncode, want.stdout), got.stderr
    bad = tmp_path / "bad.c"
    bad.write_text("int missing_function(void); int main(void) { return missing_function(); }\n")
    subprocess.run(["gcc", "-c", str(bad), "-o", str(tmp_path / "bad.o")], check=True)
    r = run_elfkit("load-and-run", str(tmp_path / "bad.o"))
    assert r.returncode == 127
    assert r.stderr.decode().strip().endswith("undefined reference to `missing_function'")
    assert b"Traceback" not in r.stderr


def test_gc_sections_like_ld(tmp_path):
    """--gc-sections (gcc -Wl,--gc-sections -Wl,--print-gc-sections), ld.bfd as the oracle:
    the program's own sections removed are exactly ld's; elfkit never removes a section ld
    keeps (ld may remove more: the COMDAT personality words of libc's unwind tables); the C++
    program built so still throws and catches, natively and under load-and-run."""
    src = tmp_path / "g.c"
    src.write_text("int used(int x) { return x + 1; }\nint unused(int x) { return x * 3; }\n"
                   "int unused_data[1000] = {1};\n"
                   "int main(int argc, char **argv) { return used(argc) - 2; }\n")
    obj = tmp_path / "g.o"
    subprocess.run(["gcc", "-O1", "-fno-inline", "-ffunction-sections", "-fdata-sections",
                    "-c", str(src), "-o", str(obj)], check=True)
    flags = ["-static", "-Wl,--gc-sections", "-Wl,--print-gc-sections", str(obj)]

    def removed(stderr):
        return {line.split("removing unused section ", 1)[1] for line in stderr.splitlines()
                if "removing unused section " in line}
    ld = subprocess.run(["gcc", *flags, "-o", str(tmp_path / "g-ld")], capture_output=True,
                        text=True)
    mine = subprocess.run(["gcc", "-B", f"{LD_DIR}/", *flags, "-o", str(tmp_path / "g-ek")],
                          capture_output=True, text=True, env=_env())
    assert ld.returncode == 0 and mine.returncode == 0, mine.stderr
    theirs, ours = removed(ld.stderr), removed(mine.stderr)
    own = {r for r in theirs if str(obj) in r}
    assert own and {r for r in ours if str(obj) in r} == own
    assert ours <= theirs, sorted(ours - theirs)[:5]
    assert subprocess.run([str(tmp_path / "g-ek")]).returncode == 0
    ref, exe = _build(tmp_path, "g++", CXX_PROGRAM, "cxxgc", ["-Wl,--gc-sections"], ".cc")
    _same_natively_and_emulated(ref, exe)


def test_debug_info_and_stack_flags_like_ld(tmp_path):
    """A -g program: addr2line maps main's address to the same file:line in elfkit's output
    as in ld.bfd's (the .debug_* sections linked and relocated). An object without
    .note.GNU-stack: PT_GNU_STACK as ld.bfd makes it (RWE, and RW with -z noexecstack), and no
    section is emitted for the assembler's empty .data/.bss (ld drops them too)."""
    src = tmp_path / "d.c"
    src.write_text("#include <stdio.h>\nstatic int twice(int x) { return 2 * x; }\n"
                   "int main(int argc, char **argv) {\n  printf(\"%d\\n\", twice(argc));\n"
                   "  return 0;\n}\n")
    ref, mine = tmp_path / "d-ld", tmp_path / "d-ek"
    subprocess.run(["gcc", "-g", "-O0", "-static", str(src), "-o", str(ref)], check=True)
    subprocess.run(["gcc", "-B", f"{LD_DIR}/", "-g", "-O0", "-static", str(src), "-o",
                    str(mine)], check=True, env=_env())

    def where(exe):
        nm = subprocess.run(["nm", str(exe)], capture_output=True, text=True).stdout
        addr = next(line.split()[0] for line in nm.splitlines() if line.endswith(" main"))
        return subprocess.run(["addr2line", "-e", str(exe), addr], capture_output=True,
                              text=True).stdout.strip()
    assert where(mine) == where(ref) and where(ref).endswith("d.c:3")
    asm = tmp_path / "s.s"
    asm.write_text(".globl _start\n_start:\n  mov $60, %eax\n  xor %edi, %edi\n  syscall\n")
    obj = tmp_path / "s.o"
    subprocess.run(["as", str(asm), "-o", str(obj)], check=True)

    def stack_and_sections(exe):
        ph = subprocess.run(["readelf", "-lW", str(exe)], capture_output=True, text=True).stdout
        sh = subprocess.run(["readelf", "-SW", str(exe)], capture_output=True, text=True).stdout
        flags = next((line.split()[-2] for line in ph.splitlines() if "GNU_STACK" in line),
                     None)
        return flags, (".data " in sh, ".bss " in sh)
    noted = tmp_path / "n.o"
    (tmp_path / "n.s").write_text('.section .note.GNU-stack,"",@progbits\n.data\nv: .long 1\n')
    subprocess.run(["as", str(tmp_path / "n.s"), "-o", str(noted)], check=True)
    xnote = tmp_path / "x.o"
    (tmp_path / "x.s").write_text('.section .note.GNU-stack,"x",@progbits\n')
    subprocess.run(["as", str(tmp_path / "x.s"), "-o", str(xnote)], check=True)
    # no note anywhere (no PT_GNU_STACK), -z noexecstack, one object without the note, an
    # executable note: the header and ld's warning (the words after "warning: OBJ: ")
    for extra, objs in (([], [obj]), (["-z", "noexecstack"], [obj]), ([], [obj, noted]),
                        ([], [noted, xnote, obj]), (["-z", "execstack"], [noted])):
        ld = subprocess.run(["ld", *extra, *map(str, objs), "-o", str(tmp_path / "s-ld")],
                            capture_output=True, text=True)
        ek = run_elfkit("link", *extra, *objs, "-o", tmp_path / "s-ek")
        assert ld.returncode == 0 and ek.returncode == 0, ek.stderr
        assert stack_and_sections(tmp_path / "s-ek") == stack_and_sections(tmp_path / "s-ld")

        def said(text):
            return sorted(line.split(": ", 2)[-1] for line in text.splitlines()
                          if "warning:" in line and "stack" in line)
        assert said(ek.stderr.decode()) == said(ld.stderr), (ek.stderr, ld.stderr)


CLANG_TLS_A = r"""
#include <stdio.h>
__thread int le_var = 11;
extern __thread int ie_var;
extern __thread long gd_var;
extern __thread char desc_var[16];
int ie_read(void), gd_read(void), desc_read(void);
static const char *const names[] = {"zero", "one", "two"};
int main(int argc, char **argv) {
    le_var += argc;
    printf("le=%d ie=%d gd=%d desc=%d name=%s\n", le_var, ie_read(), gd_read(), desc_read(),
           names[argc % 3]);
    return ie_var + (int)gd_var + desc_var[3] == 3 + 4 + 5 ? 0 : 1;
}
"""

CLANG_TLS_B = r"""
__thread int ie_var = 3;
__thread long gd_var = 4;
__thread char desc_var[16] = {0, 0, 0, 5};
int ie_read(void) { return ie_var; }
int gd_read(void) { return (int)gd_var; }
int desc_read(void) { return desc_var[3]; }
"""


@pytest.mark.parametrize("model", ["initial-exec", "global-dynamic", "local-dynamic"])
def test_clang_objects(tmp_path, model):
    """clang's objects (clang -fPIC with each TLS model -- clang 14 has no TLSDESC dialect --
    and -mcmodel=large for one), linked by `clang -static -B` through elfkit: the same output
    as clang's own static link with ld.bfd, natively and under load-and-run. readelf -r shows
    the objects carry the model's relocations."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (.ci/packages lists it)")
    a, b = tmp_path / "a.c", tmp_path / "b.c"
    a.write_text(CLANG_TLS_A)
    b.write_text(CLANG_TLS_B)
    objs = []
    flags = {"initial-exec": ["-fPIC"], "global-dynamic": ["-fPIC"],
             "local-dynamic": ["-fPIC", "-mcmodel=large"]}[model]
    want = {"initial-exec": "R_X86_64_GOTTPOFF", "global-dynamic": "R_X86_64_TLSGD",
            "local-dynamic": "R_X86_64_TLSLD"}[model]
    for src in (a, b):
        obj = src.with_suffix(".o")
        subprocess.run(["clang", "-O2", "-c", f"-ftls-model={model}", *flags, str(src), "-o",
                        str(obj)], check=True)
        objs.append(str(obj))
    relocs = subprocess.run(["readelf", "-rW", objs[1]], capture_output=True, text=True).stdout
    assert want in relocs
    ref, mine = tmp_path / "ref", tmp_path / "mine"
    subprocess.run(["clang", "-static", *objs, "-o", str(ref)], check=True)
    r = subprocess.run(["clang", "-static", "-B", f"{LD_DIR}/", *objs, "-o", str(mine)],
                       capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    _same_natively_and_emulated(ref, mine)
