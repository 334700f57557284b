"""`elfkit report`'s document: one HTML file, its drawings inline SVG, its style inline CSS, no
script and nothing fetched (system fonts only), readable offline and attachable to a CI run.

Sections, each <section id=...> with a heading: summary, file, hardening, address-space,
stack, timeline, got, syscalls, processes.
"""
from __future__ import annotations

import os
from io import StringIO

from elfkit.render.report.file_layout import draw_file_layout, segment_table
from elfkit.render.report.space import area_table, draw_space
from elfkit.render.report.stack import draw_stack
from elfkit.render.report.svg import esc, legend, pattern_defs
from elfkit.render.report.timeline import (draw_timeline, event_table, got_table, process_tree,
                                           syscall_table)

CSS = """
:root{color-scheme:light}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0;color:#111;background:#fff}
main{max-width:1220px;margin:0 auto;padding:12px 16px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:24px 0 8px;border-bottom:2px solid #335}
h3{font-size:15px;margin:16px 0 6px}
section{margin-bottom:18px}
section+section{content-visibility:auto;contain-intrinsic-size:auto 1200px}
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px;margin:4px 0}
a{color:#1a4d99}
code,pre,.addr,.num,td.range,td.offset,td.perms{
 font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
svg{display:block;width:100%;height:auto;max-width:1200px}
svg.legend{width:900px;max-width:100%}
svg text{font:12px system-ui,"DejaVu Sans",sans-serif;fill:#111}
svg text.addr,svg text.num{font-family:"DejaVu Sans Mono",monospace;font-size:11.5px}
svg text.axis{font-size:12px;fill:#333}
svg text.muted{fill:#444}
svg text.perm{font-family:"DejaVu Sans Mono",monospace;font-weight:bold}
svg text.rsp{fill:#8a0000;font-weight:bold}
svg text.seclabel{font-size:10px}svg text.seglabel{font-weight:bold}
path.band{fill:#7d8fc0;fill-opacity:.25;stroke:#3b4f86;stroke-width:.8}
path.pointer{fill:none;stroke:#3b3b9a;stroke-width:1;stroke-opacity:.8}
table.data{border-collapse:collapse;margin:8px 0;font-size:13px;max-width:100%}
table.data caption{text-align:left;font-weight:bold;padding:4px 0}
table.data th,table.data td{border:1px solid #bbb;padding:2px 6px;text-align:left;
 vertical-align:top}
table.data th{background:#e8ebf2}
td.num{text-align:right;font-family:"DejaVu Sans Mono",monospace}
td.what,td.name{word-break:break-all}
table.got,table.events{font-size:12px}table.got td{overflow-wrap:anywhere}
td.num,span.num{white-space:nowrap}
.scroll{max-height:520px;overflow-y:auto;border:1px solid #ddd}
.pass{background:#dff3dc}.fail{background:#fbdada}.na{background:#eeeeee}
tr.never td{background:#f3f3f3;color:#333;font-style:italic}
tr.ev-binding td{background:#f7eef5}
dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}
dl.summary dt{font-weight:bold}dl.summary dd{margin:0;word-break:break-all}
ul.tree{list-style:none;padding-left:18px;margin:2px 0}
"""

SECTIONS = (("summary", "Summary"), ("file", "The file: segments and sections"),
            ("hardening", "Hardening (elfkit check)"), ("address-space", "The address space"),
            ("stack", "The initial stack"), ("timeline", "Start-up and life"),
            ("got", "The GOT before and after"), ("syscalls", "System calls"),
            ("processes", "Processes"))


def render_report(data) -> str:
    body = {
        "summary": _summary(data), "file": _file(data), "hardening": _hardening(data),
        "address-space": _space(data), "stack": _stack(data), "timeline": _timeline(data),
        "got": got_table(data.got), "syscalls": syscall_table(data.syscall_counts),
        "processes": process_tree(data.processes),
    }
    nav = "".join(f'<li><a href="#{sid}">{title}</a></li>' for sid, title in SECTIONS)
    sections = "".join(f'<section id="{sid}" aria-labelledby="h-{sid}"><h2 id="h-{sid}">{title}'
                       f'</h2>{body[sid]}</section>' for sid, title in SECTIONS)
    title = f"elfkit report: {esc(' '.join(data.argv))}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<style>{CSS}</style></head><body>{pattern_defs()}<main><h1>{title}</h1>'
            f'<nav aria-label="sections"><ul>{nav}</ul></nav>{sections}</main></body></html>\n')


def _summary(data) -> str:
    from elfkit.render.inspect_text import write_summary
    from elfkit.render.rows import summary
    s = summary(data.program)
    text = StringIO()
    write_summary(data.program, text)
    facts = [("file", data.path), ("command line", " ".join(data.argv)),
             ("kind", f"{s['class']} {s['type']} {s['machine']}"),
             ("entry (file)", f"{s['entry']:#x}"), ("load bias", f"{data.load_bias:#x}"),
             ("AT_ENTRY (run)", f"{data.entry:#x}"),
             ("interpreter", s["interpreter"] or "(none: static)"),
             ("needed", ", ".join(s["needed"]) or "(none)"), ("run", data.status),
             ("system calls", str(len(data.syscalls))),
             ("lazy bindings", str(sum(e.kind == "binding" and e.detail["object"] != VDSO
                                       for e in data.events))),
             ("vDSO look-ups", str(sum(e.kind == "binding" and e.detail["object"] == VDSO
                                       for e in data.events)))]
    dl = "".join(f'<dt>{esc(k)}</dt><dd data-key="{esc(k)}">{esc(v)}</dd>' for k, v in facts)
    return f'<dl class="summary">{dl}</dl><pre>{esc(text.getvalue())}</pre>'


def _file(data) -> str:
    try:
        size = os.path.getsize(data.program.path)
    except OSError:
        size = max((s.offset + s.filesz for s in data.program.segments), default=0)
    return (legend() + draw_file_layout(data.program, size) +
            "<p>Bands join each PT_LOAD's bytes in the file to where they are mapped; the "
            "hatched yellow part is bss (zeros past p_filesz). Hover for exact numbers.</p>"
            + segment_table(data.program))


VDSO = "linux-vdso.so.1"
CHECK_COLUMNS = ("pie", "nx", "relro", "canary", "fortify", "cet-ibt", "cet-shstk",
                 "glibc-version")
MARKS = {"pass": "&#10004; ", "fail": "&#10008; ", "n/a": "&#8211; "}


def _hardening(data) -> str:
    rows = []
    for o in data.objects:
        rep = o.check
        cells = []
        for c in CHECK_COLUMNS:
            r = rep.result(c) if rep is not None else None
            if r is None:
                cells.append('<td class="na">&#8211; not run</td>')
                continue
            cls = {"pass": "pass", "fail": "fail"}.get(r.verdict, "na")
            cells.append(f'<td class="{cls}" data-check="{c}" data-verdict="{r.verdict}">'
                         f'<span title="{esc(r.message)}">{MARKS.get(r.verdict, "")}'
                         f'{esc(r.value)}</span></td>')
        status = rep.status if rep is not None else "?"
        cls = {"pass": "pass", "fail": "fail"}.get(status, "na")
        failed = f" ({', '.join(rep.failed)})" if rep is not None and rep.failed else ""
        rows.append(f'<tr class="object" data-path="{esc(o.path)}"><td>{esc(o.role)}</td>'
                    f'<td class="name">{esc(o.path)}</td>{"".join(cells)}'
                    f'<td class="{cls}">{MARKS.get(status, "")}{esc(status)}{esc(failed)}'
                    '</td></tr>')
    head = "".join(f"<th>{c}</th>" for c in CHECK_COLUMNS)
    return ("<p>The verdicts of <code>elfkit check</code> (policy default) for the program and "
            "each object mapped at the end; &#10004; pass, &#10008; fail, &#8211; not "
            "applicable. Hover a cell for the reason.</p><table class=\"data\"><thead><tr>"
            f"<th>role</th><th>object</th>{head}<th>result</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _space(data) -> str:
    return (legend() +
            '<h3 id="space-entry">At entry: as execve left it, before the first instruction</h3>'
            + draw_space(data.areas_entry, "address space at entry") +
            '<h3 id="space-exit">At exit</h3>' + draw_space(data.areas_exit,
                                                            "address space at exit") +
            '<div class="tables"><div id="maps-entry">' +
            area_table(data.areas_entry, "Memory areas at entry (/proc/PID/maps)") +
            '</div><div id="maps-exit">' +
            area_table(data.areas_exit, "Memory areas at exit (what load-and-run --maps prints)")
            + "</div></div>")


def _stack(data) -> str:
    return ("<p>Top (high addresses) to bottom, as <code>create_elf_tables</code> builds it; "
            "the arrows are argv, envp and auxv pointers to their strings. The same rows as "
            "<code>load-and-run --show-stack</code>.</p>" + draw_stack(data.stack, data.stack_sp))


def _timeline(data) -> str:
    return ("<p>The clock is the number of system calls made so far (the same in every run of "
            "the same program). Hover a mark for the event.</p>" + draw_timeline(data)
            + '<div class="scroll" tabindex="0" role="region" aria-label="every event in order">'
            + event_table(data.events) + "</div>")
