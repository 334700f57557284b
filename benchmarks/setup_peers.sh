#!/bin/sh
# Set up the benchmark peers that are not Debian packages (called by bench_run.py when missing).
#
#   sh benchmarks/setup_peers.sh            venv + rootfs (each only if missing)
#   sh benchmarks/setup_peers.sh --force    rebuild both
#
# * benchmarks/.venv-qiling   a venv of its own with Qiling from PyPI: Qiling pins its own
#                             unicorn version, which must not meet elfkit's in .venv
# * benchmarks/.qiling-rootfs a tiny x86-64 Linux rootfs for Qiling, made from the host's
#                             ld.so and libc (plus whatever the dynamic fixtures need)
# Both are git-ignored.  qemu-x86_64 comes from Debian: apt-get install qemu-user (this
# script only says so when it is missing).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
VENV="$HERE/.venv-qiling"
ROOTFS="$HERE/.qiling-rootfs"
QILING_SPEC=${QILING_SPEC:-qiling==1.4.6}
PYTHON=${PYTHON:-python3}
FORCE=no
[ "${1:-}" = "--force" ] && FORCE=yes

if [ "$FORCE" = yes ]; then
    rm -rf "$VENV" "$ROOTFS"
fi

# --- Qiling venv -------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import qiling' 2>/dev/null; then
    echo "setup_peers: creating $VENV with $QILING_SPEC" >&2
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # setuptools: Qiling 1.4.x imports pkg_resources.
    "$VENV/bin/python" -m pip install --quiet "$QILING_SPEC" setuptools
    "$VENV/bin/python" -c 'import qiling, unicorn; print("setup_peers: qiling", qiling.__version__, "unicorn", unicorn.__version__)' >&2
fi

# --- Qiling rootfs -----------------------------------------------------------------------
# Qiling loads the program itself from its host path; the rootfs only has to hold what the
# program opens: ld.so (PT_INTERP) and the shared libraries for dynamic programs.
copy_into_rootfs() {   # copy host file $1 to the same path under $ROOTFS, following symlinks
    [ -e "$1" ] || return 0
    mkdir -p "$ROOTFS$(dirname "$1")"
    cp -L "$1" "$ROOTFS$1"
}

if [ ! -e "$ROOTFS/.complete" ]; then
    echo "setup_peers: building $ROOTFS" >&2
    rm -rf "$ROOTFS"
    mkdir -p "$ROOTFS/etc" "$ROOTFS/tmp" "$ROOTFS/proc" "$ROOTFS/dev" "$ROOTFS/lib64" \
             "$ROOTFS/lib/x86_64-linux-gnu" "$ROOTFS/usr/lib/x86_64-linux-gnu"
    copy_into_rootfs /lib64/ld-linux-x86-64.so.2
    copy_into_rootfs /lib/x86_64-linux-gnu/libc.so.6
    # whatever the dynamic fixtures link against (ldd's "=> /path" and the interpreter)
    for f in "$TOP"/fixtures/build/cpubound "$TOP"/fixtures/build/hello-pie; do
        [ -e "$f" ] || continue
        ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p' |
        while read -r lib; do copy_into_rootfs "$lib"; done
    done
    # Debian's /lib is a symlink to /usr/lib: mirror the libraries there too, so either
    # spelling of the path (ld.so's search list has both) finds them.
    cp -L "$ROOTFS"/lib/x86_64-linux-gnu/* "$ROOTFS/usr/lib/x86_64-linux-gnu/" 2>/dev/null || true
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ROOTFS/etc/passwd"
    printf 'root:x:0:\n' > "$ROOTFS/etc/group"
    touch "$ROOTFS/.complete"
fi
echo "setup_peers: ready: $VENV $ROOTFS" >&2

# --- qemu-user (a Debian package, not set up here) ---------------------------------------
if ! command -v qemu-x86_64 >/dev/null 2>&1 && ! command -v qemu-x86_64-static >/dev/null 2>&1; then
    echo "setup_peers: qemu-x86_64 is missing: the qemu-user rows of bench_run and bench_procs" \
         "will say so; install it with: apt-get install qemu-user" >&2
fi
