"""Rendering: what elfkit shows, as text (readelf's layouts), JSON, bars and HTML.

`use_color` lives here, not in bars.py, so that a plain `elfkit inspect` decides about the
segment bars without importing bars.py (its output is rarely a terminal).
"""
from __future__ import annotations

import os


def use_color(choice: str, stream) -> bool:
    """--color: always, never, or auto (the stream is a terminal, and NO_COLOR is not set)."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    try:
        return stream.isatty() and not os.environ.get("NO_COLOR")
    except (AttributeError, ValueError):
        return False
