"""Vendored front-end assets: Folium's CDN links rewritten to files under ``web/static/vendor``.

The app must work on an intranet, so no page may load anything from another host. Folium
declares its JavaScript and CSS as CDN URLs (``default_js`` / ``default_css`` of each element);
:func:`localize` swaps every one of them for the vendored copy, per map instance (folium's class
attributes are left alone). A CDN URL that is not vendored raises, so a folium upgrade that
changes an asset version fails loudly in the tests instead of silently reaching the internet.

The files come from the npm registry (``npm pack <pkg>@<version>``: only the dist files used and
the licences); versions match what folium 0.20 asks for. :data:`PAGE_ASSETS` are the files pages
link themselves (Leaflet-Geoman on the grid editing page).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from branca.element import Element
from folium.elements import JSCSSMixin

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"

# package directory under web/static/vendor → (npm package, version)
PACKAGES: dict[str, tuple[str, str]] = {
    "leaflet-1.9.3": ("leaflet", "1.9.3"),
    "jquery-3.7.1": ("jquery", "3.7.1"),
    "bootstrap-5.2.2": ("bootstrap", "5.2.2"),
    "fontawesome-free-6.2.0": ("@fortawesome/fontawesome-free", "6.2.0"),
    # the npm release 2.0.5 ships the same dist files as the 2.0.2 that folium takes from cdnjs
    "leaflet.awesome-markers-2.0.5": ("leaflet.awesome-markers", "2.0.5"),
    # the icon rotation classes of folium.Icon(angle=...), regenerated (see the file's header)
    "folium-0.20.0": ("folium", "0.20.0"),
    # the grid editing page's vertex editing, drawing and snapping (linked by the page itself)
    "leaflet-geoman-free-2.20.2": ("@geoman-io/leaflet-geoman-free", "2.20.2"),
}

# folium's asset name → (what folium's link must contain: the version vendored, vendored file
# relative to web/static/vendor). Keyed by name, not by link, so no CDN address is written here;
# a folium upgrade that changes a version no longer matches and fails loudly.
LOCAL: dict[str, tuple[str, str]] = {
    "leaflet": ("leaflet@1.9.3/", "leaflet-1.9.3/leaflet.js"),
    "leaflet_css": ("leaflet@1.9.3/", "leaflet-1.9.3/leaflet.css"),
    "jquery": ("jquery-3.7.1.", "jquery-3.7.1/jquery.min.js"),
    "bootstrap": ("bootstrap@5.2.2/", "bootstrap-5.2.2/js/bootstrap.bundle.min.js"),
    "bootstrap_css": ("bootstrap@5.2.2/", "bootstrap-5.2.2/css/bootstrap.min.css"),
    "awesome_markers_font_css": ("fontawesome-free@6.2.0/",
                                 "fontawesome-free-6.2.0/css/all.min.css"),
    "awesome_markers": ("Leaflet.awesome-markers/2.0.2/",
                        "leaflet.awesome-markers-2.0.5/leaflet.awesome-markers.js"),
    "awesome_markers_css": ("Leaflet.awesome-markers/2.0.2/",
                            "leaflet.awesome-markers-2.0.5/leaflet.awesome-markers.css"),
    "awesome_rotate_css": ("leaflet.awesome.rotate", "folium-0.20.0/leaflet.awesome.rotate.css"),
}

# Not vendored, so dropped: Bootstrap 3's glyphicons (no npm release of the 3.0.0 file) are only
# needed by folium.Icon(prefix="glyphicon"); gridmap's icons use Font Awesome (prefix="fa").
DROPPED: frozenset[str] = frozenset({"glyphicons_css"})


# assets a page links itself, not through folium: name → vendored file (relative to
# web/static/vendor); web.edit links these
PAGE_ASSETS: dict[str, str] = {
    "geoman.js": "leaflet-geoman-free-2.20.2/leaflet-geoman.min.js",
    "geoman.css": "leaflet-geoman-free-2.20.2/leaflet-geoman.css",
}


class UnvendoredAssetError(RuntimeError):
    """Folium asked for a CDN asset that has no vendored copy."""


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _rewrite(links: list[tuple[str, str]],
             asset_url: Callable[[str], str]) -> list[tuple[str, str]]:
    out = []
    for name, url in links:
        if name in DROPPED:
            continue
        if url.startswith(("http:", "https:", "//")):
            marker, path = LOCAL.get(name, (None, None))
            if marker is None or marker not in url:
                raise UnvendoredAssetError(
                    f"folium asset {name!r} ({url}) is not vendored: add it under "
                    f"web/static/vendor and to web.assets.LOCAL")
            url = asset_url(path)
        out.append((name, url))
    return out


def localize(root: Element, *, asset_url: Callable[[str], str] | None = None) -> None:
    """Point every JS/CSS link of ``root`` and its descendants at the vendored files.

    Call it after the map is complete (plugins and all) and before rendering it.

    Parameters
    ----------
    root : branca Element
        The folium map (or its figure).
    asset_url : callable, optional
        Turns a path relative to ``web/static/vendor`` into a URL; default
        ``/static/vendor/<path>``. In a request, pass one built on ``url_for("static", ...)``.

    Raises
    ------
    UnvendoredAssetError
        If an element links a CDN asset that is not vendored.
    """
    asset_url = asset_url or (lambda path: f"/static/vendor/{path}")
    for element in _walk(root):
        if isinstance(element, JSCSSMixin):
            # instance attributes: folium's class-level lists stay untouched for other users
            element.default_js = _rewrite(element.default_js, asset_url)
            element.default_css = _rewrite(element.default_css, asset_url)


def missing_files() -> list[str]:
    """Return the vendored paths of :data:`LOCAL` and :data:`PAGE_ASSETS` not on disk (tests)."""
    paths = {path for _, path in LOCAL.values()} | set(PAGE_ASSETS.values())
    return sorted(p for p in paths if not (VENDOR_DIR / p).is_file())
