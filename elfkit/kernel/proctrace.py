"""--trace-procs: the life of every guest process, as it happens, and the tree at the end.

The kernel calls the tracer at each event (fork/clone, execve, a change of
state, exit, reaping). In text form each event is one line on stderr (or a
file) starting with `elfkit: procs: `; at the end comes the process tree, each
process with the programs it ran and how it ended. In JSON form (docs/PROCS.md)
the same events and tree are one document, written at the end.
"""
from __future__ import annotations

import json

PREFIX = "elfkit: procs: "


class ProcTracer:
    def __init__(self, stream, as_json: bool = False):
        self.stream = stream
        self.as_json = as_json
        self.events: list[dict] = []
        self.nodes: dict[int, dict] = {}
        self.order: list[dict] = []
        self.root: dict | None = None

    # --- what the kernel calls --------------------------------------------------------------
    def started(self, task, path, argv):
        node = self._node(task, None)
        node["programs"].append(path)
        self.root = node
        self._emit({"pid": task.pid, "event": "execve", "path": path,
                    "argv": [a.decode("utf-8", "replace") for a in argv], "result": 0})

    def cloned(self, parent, child, flags):
        from elfkit.kernel.fork import clone_flag_names
        self._node(child, parent)
        self._emit({"pid": parent.pid, "event": "clone", "child": child.pid,
                    "flags": clone_flag_names(flags)})

    def execve(self, task, path, argv, result):
        import errno as errno_mod
        if result == 0:
            self._current(task)["programs"].append(path)
        self._emit({"pid": task.pid, "event": "execve", "path": path,
                    "argv": [a.decode("utf-8", "replace") for a in argv],
                    "result": 0 if result == 0 else "-" + errno_mod.errorcode.get(-result, str(-result))})

    def state(self, task):
        names = {"R": "running", "S": "sleeping", "T": "stopped"}
        if task.state not in names:
            return
        ev = {"pid": task.pid, "event": "state", "state": names[task.state]}
        if task.state == "S":
            ev["wchan"] = task.wchan
        self._emit(ev)

    def exited(self, task, status):
        from elfkit.kernel.task import signal_name
        node = self._current(task)
        if status.code is not None:
            ev = {"pid": task.pid, "event": "exit", "code": status.code}
            node["exit"] = {"code": status.code}
        else:
            ev = {"pid": task.pid, "event": "exit", "signal": signal_name(status.signal or 9),
                  "core": bool(status.core)}
            node["exit"] = {"signal": ev["signal"], "core": ev["core"]}
        self._emit(ev)

    def kmsg(self, task, lines: list[str]):
        """Lines the kernel logs while `task` works (the OOM killer's report in the task that
        invoked it; the reaping in the oom_reaper kernel thread)."""
        self._emit({"pid": task.pid, "event": "kernel", "lines": list(lines)})

    def reaped(self, task):
        parent = task.parent
        self._emit({"pid": task.pid, "event": "reaped", "by": parent.pid if parent else 0})

    # --- records -------------------------------------------------------------------------------
    def _node(self, task, parent) -> dict:
        node = {"pid": task.pid, "ppid": parent.pid if parent is not None else task.ppid,
                "programs": [], "exit": None, "children": []}
        self.nodes[id(task)] = node
        if parent is not None:
            self._current(parent)["children"].append(node)
        return node

    def _current(self, task) -> dict:
        node = self.nodes.get(id(task))
        if node is None:
            node = self._node(task, None)
        return node

    def _emit(self, ev: dict):
        self.events.append(ev)
        if not self.as_json:
            self.stream.write(PREFIX + format_event(ev) + "\n")
            self.stream.flush()

    def finish(self):
        tree = self.root
        if self.as_json:
            json.dump({"events": self.events, "tree": tree}, self.stream, indent=1)
            self.stream.write("\n")
        elif tree is not None:
            self.stream.write(PREFIX + "process tree:\n")
            for line in tree_lines(tree):
                self.stream.write(PREFIX + line + "\n")
        self.stream.flush()


def format_event(ev: dict) -> str:
    pid = f"[{ev['pid']}]"
    kind = ev["event"]
    if kind == "clone":
        return f"{pid} clone -> {ev['child']} ({'|'.join(ev['flags']) or '0'})"
    if kind == "execve":
        argv = ", ".join(json.dumps(a) for a in ev["argv"])
        return f"{pid} execve {json.dumps(ev['path'])} [{argv}] = {ev['result']}"
    if kind == "state":
        return f"{pid} {ev['state']}" + (f" in {ev['wchan']}" if ev.get("wchan") else "")
    if kind == "exit":
        if "code" in ev:
            return f"{pid} exited with {ev['code']}"
        return f"{pid} killed by {ev['signal']}" + (" (core dumped)" if ev["core"] else "")
    if kind == "reaped":
        return f"{pid} reaped by {ev['by']}"
    if kind == "kernel":
        return f"\n{PREFIX}".join(f"{pid} kernel: {line}" for line in ev["lines"])
    return f"{pid} {kind}"


def tree_lines(node: dict, depth: int = 0) -> list[str]:
    end = node["exit"]
    how = "running" if end is None else (f"exited with {end['code']}" if "code" in end
                                          else f"killed by {end['signal']}")
    progs = " -> ".join(node["programs"]) or "(fork of its parent)"
    lines = [f"{'  ' * depth}{node['pid']} {progs}: {how}"]
    for child in node["children"]:
        lines += tree_lines(child, depth + 1)
    return lines
