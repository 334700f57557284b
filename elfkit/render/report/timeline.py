"""The program's life on one clock, the system calls it has made: the start-up steps as
markers over a lane of system-call density, process lifetimes as bars, then every event in
order (each lazy binding with its symbol, slot, old and new GOT value and target object), the
system calls counted by name, the GOT before and after, and the process tree."""
from __future__ import annotations

from collections import Counter

from elfkit.render.report.svg import esc

WIDTH, LEFT = 1200, 120
MARK = {"execve": "#444", "load": "#444", "interp": "#444", "stack": "#444", "entry": "#1f5fa8",
        "library": "#7a4a00", "relocated": "#7a4a00", "start": "#1d6b1d", "main": "#1d6b1d", "binding": "#8a1f6a",
        "exit": "#a00000"}
LANES = (("start-up", ("execve", "load", "interp", "stack", "entry", "library", "relocated")),
         ("program", ("start", "main", "exit")), ("lazy bindings", ("binding",)))


def draw_timeline(data) -> str:
    n = max(len(data.syscalls), 1)
    span = WIDTH - LEFT - 20
    x = lambda at: LEFT + span * at / n                    # noqa: E731
    bins = min(300, n)
    counts = Counter(int(i * bins / n) for i in range(len(data.syscalls)))
    peak = max(counts.values(), default=1)
    out = [f'<svg class="timeline" viewBox="0 0 {WIDTH} {{H}}" role="img" aria-label="timeline '
           'on a clock of system calls">',
           f'<text x="4" y="30" class="axis">system calls</text>']
    bw = span / bins
    for b, c in sorted(counts.items()):
        hgt = 30 * c / peak
        out.append(f'<rect x="{LEFT + b * bw:.1f}" y="{44 - hgt:.1f}" '
                   f'width="{max(bw - .3, .5):.1f}" height="{hgt:.1f}" fill="#55607a"/>')
    out.append(f'<line x1="{LEFT}" y1="44.5" x2="{LEFT + span}" y2="44.5" stroke="#222"/>')
    y = 62
    for name, kinds in LANES:
        out.append(f'<text x="4" y="{y + 10}" class="axis">{name}</text>')
        for e in data.events:
            if e.kind in kinds:
                out.append(f'<rect class="mark" x="{x(e.at) - 1.5:.1f}" y="{y}" width="3" '
                           f'height="14" fill="{MARK.get(e.kind, "#444")}"><title>'
                           f'{esc(f"[{e.at}] {e.kind}: {e.text}")}</title></rect>')
        y += 22
    for p in _lifetimes(data):
        pid, lo, hi, label = p
        out.append(f'<g class="lifetime"><title>{esc(label)}</title><text x="4" y="{y + 11}" '
                   f'class="axis">pid {pid}</text><rect x="{x(lo):.1f}" y="{y}" '
                   f'width="{max(x(hi) - x(lo), 2):.1f}" height="14" fill="#c9d4ea" '
                   f'stroke="#333"/><text x="{x(lo) + 4:.1f}" y="{y + 11}">{esc(label)}</text></g>')
        y += 20
    out.append(f'<text x="{LEFT}" y="{y + 14}" class="axis">0</text><text x="{LEFT + span}" '
               f'y="{y + 14}" class="axis" text-anchor="end">{len(data.syscalls)} system calls'
               '</text></svg>')
    return "".join(out).replace("{H}", str(y + 22))


def _lifetimes(data):
    """(pid, first, last, label) of each process, from the process tracer's events."""
    first, last, what, end = {}, {}, {}, {}
    for ev in data.process_events:
        pid, at = ev["pid"], ev.get("at", 0)
        first.setdefault(pid, at)
        last[pid] = at
        if ev["event"] == "clone":
            first.setdefault(ev["child"], at)
        if ev["event"] == "execve" and ev.get("result") == 0:
            what[pid] = ev["path"]
        if ev["event"] == "exit":
            end[pid] = f"exited with {ev['code']}" if "code" in ev else f"killed by {ev['signal']}"
    return [(pid, first[pid], last.get(pid, first[pid]),
             f"{what.get(pid, '(fork)')}: {end.get(pid, 'running')}") for pid in sorted(first)]


def event_table(events) -> str:
    rows = []
    for i, e in enumerate(events):
        attrs = ""
        if e.kind == "binding":
            attrs = (f' data-symbol="{esc(e.detail["symbol"])}" data-version='
                     f'"{esc(e.detail["version"])}" data-object="{esc(e.detail["object"])}" '
                     f'data-target="{esc(e.detail["target"])}"')
        rows.append(f'<tr class="event ev-{e.kind}"{attrs}><td class="num">{i + 1}</td>'
                    f'<td class="num">{e.at}</td><td class="num">{e.pid}</td><td>{e.kind}</td>'
                    f'<td class="what">{esc(e.text)}</td></tr>')
    return ('<table class="data events"><caption>Every event in order (system call count when '
            'it happened)</caption><thead><tr><th>#</th><th>syscalls</th><th>pid</th>'
            '<th>event</th><th>what</th></tr></thead><tbody>' + "".join(rows)
            + "</tbody></table>")


def syscall_table(counts: Counter) -> str:
    total = sum(counts.values()) or 1
    peak = max(counts.values(), default=1)
    rows = [f'<tr class="syscall" data-name="{esc(name)}" data-count="{n}"><td>{esc(name)}</td>'
            f'<td class="num">{n}</td><td class="barcell"><svg viewBox="0 0 300 12" width="300" '
            f'height="12" aria-hidden="true"><rect width="{300 * n / peak:.1f}" height="12" '
            f'fill="#55607a"/></svg> {100 * n / total:.1f}%</td></tr>'
            for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ('<table class="data"><caption>System calls by name (every process)</caption><thead>'
            '<tr><th>name</th><th>calls</th><th>share</th></tr></thead><tbody>' + "".join(rows)
            + "</tbody></table>")


def got_table(slots) -> str:
    if not slots:
        return "<p>No PLT/GOT slot: the program has no dynamic linking (or it was not seen).</p>"
    rows = []
    for s in slots:
        cls = "never" if s.how == "never called" else "lazy" if s.how.startswith("lazy") else ""
        first = f"{s.first:#x}" if s.first is not None else "?"
        last = f"{s.last:#x}" if s.last is not None else "?"
        slot = f"{s.slot:#x}" if s.slot is not None else "(vDSO)"
        how = "&#9675; never called" if cls == "never" else esc(s.how)
        rows.append(f'<tr class="got {cls}"><td>{esc(s.object)}</td><td>{esc(s.symbol)}</td>'
                    f'<td class="num">{slot}</td><td>{esc(s.reloc_type.removeprefix("R_X86_64_"))}'
                    f'</td><td><span class="num">{first}</span><br>{esc(s.first_target)}</td>'
                    f'<td><span class="num">{last}</span><br>{esc(s.last_target)}</td>'
                    f'<td>{how}</td></tr>')
    return ('<table class="data got"><caption>Each slot: its value at the program\'s entry '
            '(first) and at the end (last), and where it points</caption><thead><tr>'
            '<th>object</th><th>symbol</th><th>slot</th><th>relocation (R_X86_64_)</th>'
            '<th>first</th><th>last</th><th>how</th></tr></thead><tbody>' + "".join(rows)
            + "</tbody></table>")


def process_tree(node) -> str:
    if node is None:
        return "<p>No process record.</p>"
    end = node["exit"]
    how = "running" if end is None else (f"exited with {end['code']}" if "code" in end
                                         else f"killed by {end['signal']}")
    progs = " &#8594; ".join(esc(p) for p in node["programs"]) or "(fork of its parent)"
    kids = "".join(process_tree(c) for c in node["children"])
    return (f'<ul class="tree"><li class="proc" data-pid="{node["pid"]}"><b>{node["pid"]}</b> '
            f'{progs}: {how}{kids}</li></ul>')
