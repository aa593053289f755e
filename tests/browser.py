"""What the browser tests share: the live server, opening a page with its requests tracked.

Debian's ``chromium`` is driven through Playwright (``playwright install`` cannot download
browsers here); the ``chromium`` fixture in ``conftest.py`` launches it. Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from helpers import app_for
from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}


def page_point(map_js: str) -> str:
    """A ``([lat, lon]) => [x, y]`` page-pixel conversion on the map that ``map_js`` yields."""
    return f"""([lat, lon]) => {{
    const map = {map_js};
    const p = map.latLngToContainerPoint([lat, lon]);
    const r = map.getContainer().getBoundingClientRect();
    return [r.left + p.x, r.top + p.y];
}}"""


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@contextlib.contextmanager
def live_server(database_url: str) -> Iterator[str]:
    """Serve the app on ``database_url`` at 127.0.0.1 in a thread; yields its base URL."""
    app = app_for(database_url)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def new_log() -> dict[str, list[str]]:
    """An empty record of requests, failures and errors, for :func:`track`."""
    return {"requests": [], "failures": [], "errors": []}


def track(page, *, answered=(), log: dict[str, list[str]] | None = None) -> dict:
    """Record ``page``'s requests, failed ones and script errors.

    Returns ``{"requests", "failures", "errors"}`` (lists that fill as the page goes on; ``log``,
    when given, is filled and returned: several pages can share one). An HTTP status of 400 or
    more is a failure unless it is one of ``answered``: answers the page handles itself.
    """
    log = new_log() if log is None else log
    page.on("request", lambda r: log["requests"].append(r.url))
    page.on("response", lambda r: r.status >= 400 and r.status not in answered
            and log["failures"].append(f"{r.status} {r.url}"))
    page.on("requestfailed", lambda r: log["failures"].append(f"failed {r.url}"))
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    return log


def open_tracked(browser, url: str, ready: str, *, fonts: bool = True, answered=(),
                 log: dict[str, list[str]] | None = None) -> dict:
    """Open ``url`` in a new tab, tracked, and wait for the JS condition ``ready``.

    Returns the :func:`track` record (``answered``, ``log``) with the page under ``"page"``;
    ``fonts`` also waits for the web fonts (for screenshots).
    """
    page = browser.new_page(viewport=VIEWPORT)
    log = track(page, answered=answered, log=log)
    page.goto(url, wait_until="load")
    page.wait_for_function(ready, timeout=30_000)
    if fonts:
        page.evaluate("document.fonts.ready")
    return {"page": page, **log}


def hosts(requests: list[str]) -> set[str | None]:
    """The hosts ``requests`` went to (``data:`` and ``blob:`` URLs go nowhere)."""
    return {urlsplit(u).hostname for u in requests if urlsplit(u).scheme not in ("data", "blob")}
