"""System V IPC and POSIX message queues against the real thing, where the family fixtures
(fixtures/src/sys/sysv_*.c, mqueue.c, keys.c, process_vm.c, run by test_syscalls.py) cannot
say it: /proc/sysvipc reads as the host kernel's, and the guest's IPC objects are its own --
never the host's, which it cannot see either."""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

import pytest

from conftest import run_elfkit

LIBC = ctypes.CDLL(None, use_errno=True)
IPC_CREAT, IPC_RMID = 0o1000, 0

GUEST = r"""
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/msg.h>
int main(int argc, char **argv) {
    key_t host = (key_t)atoi(argv[1]), mine = ftok(argv[2], 'G');
    printf("host's segment: %d\n", shmget(host, 0, 0) >= 0);
    shmget(mine, 4096, IPC_CREAT | 0600);          /* left behind on purpose */
    msgget(mine, IPC_CREAT | 0600);
    char line[256];
    const char *files[] = {"/proc/sysvipc/shm", "/proc/sysvipc/msg"};
    for (int i = 0; i < 2; i++) {
        FILE *p = fopen(files[i], "r");
        fgets(line, sizeof line, p);
        fputs(line, stdout);
        int rows = 0;
        while (fgets(line, sizeof line, p)) rows++;
        printf("rows %d\n", rows);
        fclose(p);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    d = tmp_path_factory.mktemp("ipc")
    (d / "g.c").write_text(GUEST.replace("#include <stdio.h>", "#include <stdio.h>\n#include <stdlib.h>"))
    subprocess.run(["gcc", "-O2", "-o", str(d / "g"), str(d / "g.c")], check=True)
    return d / "g"


def test_guest_ipc_is_its_own(guest, tmp_path):
    """A host segment is invisible to the guest; what the guest leaves behind is not in the
    host's namespace; /proc/sysvipc lists only the guest's objects, under the host's headers."""
    host_key = 0x5E1F0000 | (os.getpid() & 0xFFFF)
    hid = LIBC.shmget(host_key, 4096, IPC_CREAT | 0o600)
    assert hid >= 0
    try:
        out = run_elfkit("load-and-run", "--allow-write", tmp_path, guest, str(host_key),
                         str(tmp_path), timeout=120)
    finally:
        LIBC.shmctl(hid, IPC_RMID, None)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    assert lines[0] == "host's segment: 0"
    with open("/proc/sysvipc/shm") as f:
        assert lines[1] == f.readline().rstrip("\n")
    assert lines[2] == "rows 1"
    with open("/proc/sysvipc/msg") as f:
        assert lines[3] == f.readline().rstrip("\n")
    assert lines[4] == "rows 1"
    key = LIBC.ftok(str(tmp_path).encode(), ord("G"))
    assert LIBC.shmget(key, 0, 0) == -1 and ctypes.get_errno() == 2      # ENOENT on the host
    assert LIBC.msgget(key, 0) == -1 and ctypes.get_errno() == 2
