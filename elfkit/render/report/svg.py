"""What the report's drawings share: escaping, sizes, and how permissions look.

A permission is never colour alone: each has a fill pattern (hatching for writable, dots for
executable, cross-hatching for both) and its text (`r-x`) is written beside every area.
"""
from __future__ import annotations

from html import escape


def esc(text) -> str:
    return escape(str(text), quote=True)


def size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.1f} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{n} B"


def gap_text(n: int) -> str:
    for unit, shift in (("EiB", 60), ("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20),
                        ("KiB", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.1f} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{n} B"


# permission -> (pattern id, base colour, pattern ink). Colours are light enough that black text
# on them keeps a contrast above 7:1.
PERMS = {
    "r--": ("p-r", "#cfe3f7", "#6f9cc8"),
    "rw-": ("p-rw", "#fde2c4", "#c27a2c"),
    "r-x": ("p-rx", "#d3f0cf", "#3f8f37"),
    "rwx": ("p-rwx", "#f8cdd0", "#b0303a"),
    "---": ("p-none", "#e4e4e4", "#8a8a8a"),
    "-w-": ("p-rw", "#fde2c4", "#c27a2c"),
    "--x": ("p-rx", "#d3f0cf", "#3f8f37"),
    "-wx": ("p-rwx", "#f8cdd0", "#b0303a"),
}


def perm_fill(perms: str) -> str:
    return f"url(#{PERMS.get(perms[:3], PERMS['---'])[0]})"


def pattern_defs() -> str:
    """The <defs> every drawing refers to (put once, in a hidden SVG at the top of the page)."""
    out = ['<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>']
    for key in ("r--", "rw-", "r-x", "rwx", "---"):
        pid, base, ink = PERMS[key]
        out.append(f'<pattern id="{pid}" width="8" height="8" patternUnits="userSpaceOnUse">'
                   f'<rect width="8" height="8" fill="{base}"/>')
        if key == "rw-":
            out.append(f'<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="{ink}" '
                       'stroke-width="1.2"/>')
        elif key == "r-x":
            out.append(f'<circle cx="4" cy="4" r="1.4" fill="{ink}"/>')
        elif key == "rwx":
            out.append(f'<path d="M0,0 l8,8 M8,0 l-8,8" stroke="{ink}" stroke-width="1.2"/>')
        elif key == "---":
            out.append(f'<path d="M0,4 h8" stroke="{ink}" stroke-width="1"/>')
        out.append("</pattern>")
    out.append('<pattern id="p-bss" width="6" height="6" patternUnits="userSpaceOnUse">'
               '<rect width="6" height="6" fill="#fff4d6"/><path d="M0,6 l6,-6" '
               'stroke="#a07a1a" stroke-width="1"/></pattern>')
    out.append('<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
               'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
               'fill="#3b3b9a"/></marker>')
    out.append("</defs></svg>")
    return "".join(out)


def legend() -> str:
    """The permission key, drawn with the same patterns."""
    items = [("r--", "read-only"), ("rw-", "writable"), ("r-x", "executable"),
             ("rwx", "writable and executable"), ("---", "no access (guard)")]
    parts = ['<svg class="legend" viewBox="0 0 900 24" width="900" height="24" role="img" '
             'aria-label="permission key">']
    x = 0
    for perm, words in items:
        parts.append(f'<rect x="{x}" y="4" width="28" height="16" fill="{perm_fill(perm)}" '
                     f'stroke="#333"/><text x="{x + 34}" y="17">{perm} {words}</text>')
        x += 40 + 8 * len(perm + words)
    parts.append("</svg>")
    return "".join(parts)
