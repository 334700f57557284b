"""`elfkit report`'s page: one self-contained HTML file, inline SVG and CSS, nothing fetched.

  page.py        the document: head, style, the sections in order
  svg.py         what the drawings share: escaping, sizes, permission patterns and colours
  file_layout.py the file's segments to scale, against file offsets and virtual addresses
  space.py       the address space at entry and at exit, gaps compressed, and its table
  stack.py       the initial stack as the classic start-up figure draws it, pointers as arrows
  timeline.py    the start-up timeline, the system-call lane, the GOT, the processes
"""
from elfkit.render.report.page import render_report

__all__ = ["render_report"]
