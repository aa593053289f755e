"""Who made a change, as recorded in the grid history and the import reports.

The intranet's proxy (or the page) names the user in the ``X-Gridmap-User`` header. HTTP header
values are Latin-1, so a Chinese name travels percent-encoded as UTF-8 (``%E7%8E%8B%E8%8A%B3``
for 王芳, what ``encodeURIComponent`` gives); it is decoded here.
"""

from __future__ import annotations

from urllib.parse import unquote

from flask import request

__all__ = ["current_user"]

MAX_LENGTH = 60


def current_user(default: str = "web") -> str:
    """The request's user name (decoded, trimmed, at most 60 characters), else ``default``."""
    raw = request.headers.get("X-Gridmap-User") or ""
    name = unquote(raw, encoding="utf-8", errors="replace").strip()[:MAX_LENGTH]
    return name or default
