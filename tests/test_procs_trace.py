"""`elfkit load-and-run --trace-procs` against `strace -f -e trace=process` of the native run.

The contract of the option (issue 10):

  --trace-procs                      one line per event on stderr, each starting `elfkit: procs: `,
                                     and at the end the process tree
  --trace-procs-format json          instead one JSON document, written to
  --trace-procs-output FILE          FILE:  {"events": [EVENT...], "tree": NODE}

  EVENT  {"pid": P, "event": "clone", "child": C, "flags": [...]}   fork/vfork/clone/clone3, with
             the flags the guest passed: fork() == ["SIGCHLD"], vfork() == ["CLONE_VM",
             "CLONE_VFORK", "SIGCHLD"]; clone3's exit_signal counts as a flag (SIGCHLD)
         {"pid": P, "event": "execve", "path": PATH, "argv": [...], "result": 0 or "-ENOENT"}
         {"pid": P, "event": "state", "state": "sleeping"|"running"|"stopped", "wchan": ...}
         {"pid": P, "event": "exit", "code": N}  or  {..., "signal": "SIGTERM", "core": false}
         {"pid": P, "event": "reaped", "by": PARENTPID}
  NODE   {"pid": P, "ppid": Q, "programs": [...], "exit": {"code": N} or
          {"signal": "SIGKILL", "core": false}, "children": [NODE...]}   children in creation
          order; programs = every path this process execve'd successfully, in order, the first
          process's list starting with the program elfkit was given.

What is compared with strace (`strace -f -qq -s 4096 -e trace=process -o FILE`, same argv,
environment and working directory): the tree with pids left out -- each process's successful
execve paths in order, its failed execve attempts (path and errno), how it ended (exit code, or
signal and core flag), the flags of the clone/vfork/clone3 that created it, and its children in
the order its clone calls returned.  strace prints the path argument as the guest passed it,
and both sides start the same commands from the same PATH, so the strings compare as they are.
Also: stdout and returncode equal the native run's, and the JSON is consistent with itself
(events name processes of the tree, clone events match the children, every child is reaped by
its parent, exit events match the tree).

The text form is checked more loosely: every stderr line that is not the guest's own starts
with `elfkit: `, there are `elfkit: procs: ` lines, and they describe as many clone, execve and
exit events as the JSON form.  A text event line is classified by the first event word in it:
clone/fork/vfork, execve, exit/exited/killed (reaped and state lines have their own words and
are not counted); the process tree printed at the end starts at the first line containing the
word "tree" and is not counted.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, run_elfkit
from test_procs_native import (ENV, EMU_TIMEOUT, Run, assert_same, elfkit_lines_removed,
                               native, no_core_dumps, no_traceback, sh)

PREFIX = b"elfkit: procs: "

SCENARIOS = {
    "pipeline": sh("echo hello | tr a-z A-Z"),
    "pipeline-3": sh("printf 'b\\na\\n' | sort | head -1"),
    "subshell-exit-3": sh("(exit 3); echo $?"),
    "trap-kill-term": sh('trap "echo got TERM" TERM; kill -TERM $$; echo after'),
    "kill-9-self": sh("kill -9 $$"),
    "child-killed-by-term": sh('sh -c "kill -TERM \\$\\$"; echo $?'),
    "exec-replaces-shell": sh("exec /bin/echo replaced"),
    # dash vforks for a simple command; env's execvp tries every PATH entry
    "failing-execve": sh("/nonexistent/cmd_xyz; env nonexistent_cmd_xyz; echo $?"),
}
TEXT_SCENARIOS = ["pipeline", "failing-execve", "kill-9-self"]


# ------------------------------------------------------------ strace side ----

VFORK_FLAGS = ["CLONE_VM", "CLONE_VFORK", "SIGCHLD"]
LINE = re.compile(r"^(\d+)\s+(.*)$")
CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(?:\s+(E[A-Z0-9]+)\b.*)?$", re.S)
KILLED = re.compile(r"^\+\+\+ killed by (SIG[A-Z0-9]+)( \(core dumped\))? \+\+\+$")
EXITED = re.compile(r"^\+\+\+ exited with (\d+) \+\+\+$")
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def c_unquote(s: str) -> str:
    """strace's C-style string escapes (\\" \\\\ \\n \\t \\xHH \\ooo)."""
    out, i = [], 0
    while i < len(s):
        ch = s[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = s[i + 1]
        if nxt == "x":
            out.append(chr(int(s[i + 2:i + 4], 16)))
            i += 4
        elif nxt in "01234567":
            j = i + 1
            while j < len(s) and j < i + 4 and s[j] in "01234567":
                j += 1
            out.append(chr(int(s[i + 1:j], 8)))
            i = j
        else:
            out.append({"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f"}.get(nxt, nxt))
            i += 2
    return "".join(out)


def clone_flags(name: str, args: str) -> list[str]:
    if name == "fork":
        return ["SIGCHLD"]
    if name == "vfork":
        return list(VFORK_FLAGS)
    m = re.search(r"flags=([A-Z0-9_|]+)", args)
    flags = m.group(1).split("|") if m and m.group(1) != "0" else []
    m = re.search(r"exit_signal=(SIG[A-Z0-9]+)", args)            # clone3
    if m:
        flags.append(m.group(1))
    return flags


def parse_strace(text: str) -> dict:
    """strace -f output -> the tree, pids removed (see normal_node)."""
    procs: dict[int, dict] = {}
    pending: dict[int, str] = {}
    root = None

    def proc(pid):
        return procs.setdefault(pid, {"programs": [], "failed": [], "children": [], "flags": None,
                                      "exit": None})

    for raw in text.splitlines():
        m = LINE.match(raw)
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(2).strip()
        if root is None:
            root = pid
        p = proc(pid)
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        resumed = re.match(r"^<\.\.\. \w+ resumed>\s?(.*)$", rest, re.S)
        if resumed:
            rest = pending.pop(pid, "") + resumed.group(1)
        if rest.startswith("---"):
            continue
        km = KILLED.match(rest)
        if km:
            p["exit"] = {"signal": km.group(1), "core": bool(km.group(2))}
            continue
        em = EXITED.match(rest)
        if em:
            p["exit"] = {"code": int(em.group(1))}
            continue
        cm = CALL.match(rest)
        if not cm:
            continue
        name, args, ret, err = cm.groups()
        if name in ("clone", "clone3", "fork", "vfork") and ret not in ("?",) and int(ret) > 0:
            child = proc(int(ret))
            child["flags"] = sorted(clone_flags(name, args))
            p["children"].append(int(ret))
        elif name == "execve":
            path = c_unquote(STRING.match(args).group(1))
            if ret == "0":
                p["programs"].append(path)
            else:
                p["failed"].append([path, f"-{err}"])
        elif name in ("exit_group", "exit") and p["exit"] is None:
            p["exit"] = {"code": int(args.strip()) & 0xFF}
    assert root is not None, f"no strace output:\n{text}"

    def build(pid):
        p = procs[pid]
        return normal_node(p["programs"], p["failed"], p["exit"], p["flags"],
                           [build(c) for c in p["children"]])
    return build(root)


def normal_node(programs, failed, exit, flags, children) -> dict:
    """One process, comparable across the two sides (no pids)."""
    return {"programs": list(programs), "failed_execve": [list(f) for f in failed],
            "exit": exit, "clone_flags": flags, "children": children}


def strace_native(argv, tmp_path) -> tuple[Run, dict]:
    strace = shutil.which("strace", path=ENV["PATH"])
    assert strace, "strace is not installed (.ci/run installs it)"
    out = tmp_path / "native.strace"
    cmd = [strace, "-f", "-qq", "-s", "4096", "-e", "trace=process", "-o", str(out), *argv]
    p = subprocess.run(cmd, capture_output=True, env=ENV, cwd=ROOT, timeout=60,
                       preexec_fn=no_core_dumps)
    return Run("native+strace", argv, p.returncode, p.stdout, p.stderr), \
        parse_strace(out.read_text())


# ------------------------------------------------------------ elfkit side ----

def emulated_json(argv, out) -> tuple[Run, dict]:
    opts = ["--trace-procs", "--trace-procs-format", "json", "--trace-procs-output", str(out)]
    try:
        p = run_elfkit("load-and-run", *opts, *argv, env=ENV, timeout=EMU_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"elfkit {argv!r} did not finish within {EMU_TIMEOUT} s")
    run = Run("elfkit", ["elfkit", "load-and-run", *opts, *argv], p.returncode, p.stdout,
              p.stderr)
    no_traceback(run)
    assert out.exists(), f"--trace-procs-output wrote nothing: {run!r}"
    try:
        doc = json.loads(out.read_text())
    except ValueError as e:
        pytest.fail(f"--trace-procs-format json wrote invalid JSON ({e}):\n"
                    f"{out.read_text()[:3000]}")
    return run, doc


def walk(node):
    yield node
    for c in node.get("children", []):
        yield from walk(c)


def check_consistent(doc: dict):
    """The JSON document agrees with itself (pids are elfkit's own; only relations checked)."""
    assert set(doc) >= {"events", "tree"}, doc.keys()
    nodes = {n["pid"]: n for n in walk(doc["tree"])}
    assert len(nodes) == sum(1 for _ in walk(doc["tree"])), "a pid appears twice in the tree"
    for n in nodes.values():
        assert set(n) >= {"pid", "ppid", "programs", "exit", "children"}, n
        for c in n["children"]:
            assert c["ppid"] == n["pid"], (n["pid"], c)
    clones: dict[int, list[int]] = {}
    reaped: dict[int, int] = {}
    for ev in doc["events"]:
        assert ev["event"] in ("clone", "execve", "state", "exit", "reaped"), ev
        assert ev["pid"] in nodes, f"event of a process missing from the tree: {ev}"
        if ev["event"] == "clone":
            assert isinstance(ev["flags"], list), ev
            clones.setdefault(ev["pid"], []).append(ev["child"])
        elif ev["event"] == "execve":
            assert set(ev) >= {"path", "argv", "result"}, ev
        elif ev["event"] == "exit":
            want = nodes[ev["pid"]]["exit"]
            got = {k: ev[k] for k in ("code", "signal", "core") if k in ev}
            assert got == want, f"exit event {ev} but the tree says {want}"
        elif ev["event"] == "reaped":
            reaped[ev["pid"]] = ev["by"]
        elif ev["event"] == "state":
            assert ev["state"] in ("sleeping", "running", "stopped", "zombie"), ev
    for pid, n in nodes.items():
        assert clones.get(pid, []) == [c["pid"] for c in n["children"]], (
            f"clone events of {pid} {clones.get(pid)} do not match its children in the tree")
        ok = [ev["path"] for ev in doc["events"]
              if ev["event"] == "execve" and ev["pid"] == pid and ev["result"] == 0]
        if pid == doc["tree"]["pid"]:
            assert n["programs"] in (ok, n["programs"][:1] + ok), (n["programs"], ok)
        else:
            assert n["programs"] == ok, (n["programs"], ok)
        for c in n["children"]:       # in every scenario here each parent waits for its children
            assert reaped.get(c["pid"]) == pid, f"{c['pid']} was not reaped by its parent {pid}"


def normalise_json(doc: dict) -> dict:
    events = doc["events"]
    flags = {ev["child"]: sorted(ev["flags"]) for ev in events if ev["event"] == "clone"}

    def build(n, is_root):
        failed = [[ev["path"], ev["result"]] for ev in events
                  if ev["event"] == "execve" and ev["pid"] == n["pid"] and ev["result"] != 0]
        return normal_node(n["programs"], failed, n["exit"],
                           None if is_root else flags.get(n["pid"]),
                           [build(c, False) for c in n["children"]])
    return build(doc["tree"], True)


# ------------------------------------------------------------------ tests ----

@pytest.mark.parametrize("name", list(SCENARIOS))
def test_json_tree_matches_strace(name, tmp_path):
    argv = SCENARIOS[name]
    nat, want = strace_native(argv, tmp_path)
    plain = native(argv)
    assert (plain.stdout, plain.returncode) == (nat.stdout, nat.returncode), \
        "strace changed the native run"
    emu, doc = emulated_json(argv, tmp_path / "elfkit.json")
    assert_same(plain, emu)
    check_consistent(doc)
    got = normalise_json(doc)
    assert got == want, ("process tree differs from strace's\n"
                         f"strace: {json.dumps(want, indent=1)}\n"
                         f"elfkit: {json.dumps(got, indent=1)}")


def classify(line: bytes) -> str | None:
    words = re.findall(rb"[a-z]+", line[len(PREFIX):].lower())
    for w in words:
        if w in (b"clone", b"fork", b"vfork", b"clone3"):
            return "clone"
        if w == b"execve":
            return "execve"
        if w in (b"exit", b"exited", b"killed"):
            return "exit"
        if w in (b"reaped", b"state", b"sleeping", b"running", b"stopped", b"zombie"):
            return None
    return None


@pytest.mark.parametrize("name", TEXT_SCENARIOS)
def test_text_form_on_stderr(name, tmp_path):
    argv = SCENARIOS[name]
    plain = native(argv)
    try:
        p = run_elfkit("load-and-run", "--trace-procs", *argv, env=ENV, timeout=EMU_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"elfkit --trace-procs {argv!r} did not finish within {EMU_TIMEOUT} s")
    emu = Run("elfkit", ["elfkit", "load-and-run", "--trace-procs", *argv], p.returncode,
              p.stdout, p.stderr)
    assert_same(plain, emu)                  # guest stderr intact, everything else `elfkit: `
    lines = emu.stderr.splitlines()
    procs = [ln for ln in lines if ln.startswith(PREFIX)]
    assert procs, f"no `elfkit: procs: ` lines on stderr:\n{emu.stderr.decode(errors='replace')}"
    assert elfkit_lines_removed(emu.stderr) == plain.stderr

    tree_at = next((i for i, ln in enumerate(procs) if re.search(rb"\btree\b", ln.lower())),
                   len(procs))
    counted = {"clone": 0, "execve": 0, "exit": 0}
    for ln in procs[:tree_at]:
        kind = classify(ln)
        if kind:
            counted[kind] += 1
    _, doc = emulated_json(argv, tmp_path / "elfkit.json")
    in_json = {k: sum(1 for ev in doc["events"] if ev["event"] == k) for k in counted}
    assert counted == in_json, (
        f"text form counts {counted}, JSON form {in_json}\n"
        + b"\n".join(procs).decode(errors="replace"))


def test_contract_example_matches_strace(tmp_path):
    """The JSON contract written out by hand for `sh -c 'echo hello | tr a-z A-Z'` (pids as a
    fresh namespace would number them) normalises to exactly what strace shows natively: this
    pins down how the comparison above reads the contract, independently of elfkit."""
    child_flags = ["CLONE_CHILD_CLEARTID", "CLONE_CHILD_SETTID", "SIGCHLD"]
    doc = {
        "events": [
            {"pid": 2, "event": "clone", "child": 3, "flags": child_flags},
            {"pid": 2, "event": "clone", "child": 4, "flags": child_flags},
            {"pid": 2, "event": "state", "state": "sleeping", "wchan": "wait4"},
            {"pid": 3, "event": "exit", "code": 0},
            {"pid": 4, "event": "execve", "path": "/usr/bin/tr", "argv": ["tr", "a-z", "A-Z"],
             "result": 0},
            {"pid": 3, "event": "reaped", "by": 2},
            {"pid": 4, "event": "state", "state": "sleeping", "wchan": "pipe_read"},
            {"pid": 4, "event": "exit", "code": 0},
            {"pid": 4, "event": "reaped", "by": 2},
            {"pid": 2, "event": "exit", "code": 0},
        ],
        "tree": {"pid": 2, "ppid": 1, "programs": ["/bin/sh"], "exit": {"code": 0}, "children": [
            {"pid": 3, "ppid": 2, "programs": [], "exit": {"code": 0}, "children": []},
            {"pid": 4, "ppid": 2, "programs": ["/usr/bin/tr"], "exit": {"code": 0},
             "children": []},
        ]},
    }
    check_consistent(doc)
    _, want = strace_native(SCENARIOS["pipeline"], tmp_path)
    assert normalise_json(doc) == want
