"""Serve every script and stylesheet of a folium map from the app, never from a CDN.

gisgrid runs on intranets with no internet.  folium and its plugins link Leaflet, jQuery,
Bootstrap, Font Awesome and plugin files from public CDNs through each element's
``default_js`` / ``default_css`` lists of ``(name, url)``.  :func:`localize_assets` rewrites
those lists, per instance, to the copies vendored under ``gisgrid/web/static/vendor/`` by
``tools/vendor_assets.sh``, and :func:`find_external_links` is the guard that tests and the
app run over rendered HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import branca.colormap
import branca.element
import folium
import folium.map

__all__ = [
    "MissingAssetError",
    "VENDOR_DIR",
    "find_external_links",
    "localize_assets",
    "vendored_path",
]

#: Where tools/vendor_assets.sh puts the vendored files (served as ``/static/vendor``).
VENDOR_DIR = Path(__file__).resolve().parent.parent / "web" / "static" / "vendor"

# CDN file name -> file under VENDOR_DIR.  Keyed by the file name rather than by folium's
# link name because plugins reuse link names loosely and point at different CDNs and
# versions of the same file (MarkerCluster asks for markercluster 1.1.0 on cdnjs; we ship
# 1.5.3, which keeps the same API).
_LOCAL_FILES = {
    "leaflet.js": "leaflet/leaflet.js",
    "leaflet.css": "leaflet/leaflet.css",
    "leaflet.markercluster.js": "leaflet.markercluster/leaflet.markercluster.js",
    "markercluster.css": "leaflet.markercluster/MarkerCluster.css",
    "markercluster.default.css": "leaflet.markercluster/MarkerCluster.Default.css",
    # folium's VectorGridProtobuf asks for @latest on unpkg; we ship 1.3.0 (the latest).
    "leaflet.vectorgrid.bundled.js": "leaflet.vectorgrid/Leaflet.VectorGrid.bundled.js",
    # folium's GeoMan asks for @latest on unpkg; we ship 2.18.3 (the plan editor loads it itself).
    "leaflet-geoman.js": "leaflet-geoman/leaflet-geoman.js",
    "leaflet-geoman.css": "leaflet-geoman/leaflet-geoman.css",
}

# Links folium's Map adds for every map "just in case", by link name, and the element types
# that actually use them.  They are dropped unless such an element is on the map; then they
# need a local copy like any other asset.
_ICON_ASSETS = (
    "awesome_markers",
    "awesome_markers_css",
    "awesome_rotate_css",
    "glyphicons_css",
    "awesome_markers_font_css",
)
_OPTIONAL_USERS: dict[str, tuple[type, ...]] = {
    # folium.Popup builds its content with jQuery's $(...).
    "jquery": (folium.map.Popup,),
    # Bootstrap 5 only restyles the page; nothing in folium's core calls it.
    "bootstrap": (),
    "bootstrap_css": (),
    **{name: (folium.map.Icon,) for name in _ICON_ASSETS},
}

_EXTERNAL = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)

# src=/href= attribute values (quoted or not), url(...) in CSS, and @import "...".
_LINK_PATTERNS = (
    re.compile(r"""\b(?:src|href|srcset)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I),
    re.compile(r"""\burl\(\s*(?:"([^"]*)"|'([^']*)'|([^)"'\s]*))\s*\)""", re.I),
    re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)'|url\()""", re.I),
)


class MissingAssetError(LookupError):
    """A map element needs a CDN file that is not vendored under ``VENDOR_DIR``."""


def localize_assets(fmap: folium.Map, static_url: str = "/static/vendor") -> None:
    """Point every script and stylesheet of `fmap` at the app's vendored copies.

    Walks the map's figure and every element in it.  Each element's ``default_js`` and
    ``default_css`` are replaced by per-instance lists (the class-level lists are shared by
    every map in the process and are never mutated) in which CDN URLs become
    ``{static_url}/<package>/<file>``.  jQuery, Bootstrap, awesome-markers, glyphicons and
    Font Awesome, which folium's Map adds to every page, are dropped unless an element on
    the map uses them (a ``folium.Popup`` uses jQuery; a ``folium.Icon`` uses the rest).
    Links that are already local are kept, so calling this twice is harmless.

    Call it after the last element is added and before rendering.

    Parameters
    ----------
    fmap : folium.Map
        The map to rewrite, in place.
    static_url : str
        URL under which ``gisgrid/web/static/vendor`` is served.

    Raises
    ------
    MissingAssetError
        If an element links a CDN file that has no vendored copy, naming the element and URL.

    Examples
    --------
    >>> import folium
    >>> m = folium.Map(tiles=None)
    >>> localize_assets(m)
    >>> find_external_links(m.get_root().render())
    []
    >>> folium.Marker([34.3, 113.7], icon=folium.Icon(icon="home")).add_to(m)  # doctest: +ELLIPSIS
    <folium.map.Marker object at ...>
    >>> localize_assets(m)
    Traceback (most recent call last):
    ...
    gisgrid.maps.assets.MissingAssetError: Icon ... needs 'awesome_markers' ...
    """
    if not isinstance(fmap, folium.Map):
        raise TypeError(f"fmap was {type(fmap).__name__}; expected folium.Map")
    base = static_url.rstrip("/")
    elements = list(_walk(fmap.get_root()))
    _refuse_colormaps(elements)
    needed = _optional_links_needed(elements)
    for element in elements:
        for attr in ("default_js", "default_css"):
            links = _original_links(element, attr)
            if links is not None:
                setattr(element, attr, _localized(element, links, needed, base))
    _localize_header(fmap.get_root(), needed, base)


def find_external_links(html: str) -> list[str]:
    """Return every asset reference in `html` that points off the server.

    Looks at ``src=``, ``href=`` and ``srcset=`` attributes, ``url(...)`` in CSS and
    ``@import``, and reports values that start with ``http://``, ``https://`` or a
    protocol-relative ``//``.  URLs inside JavaScript strings (tile templates, for example)
    and plain text are not asset links and are ignored.

    Parameters
    ----------
    html : str
        A rendered page.

    Returns
    -------
    list of str
        The external URLs in document order, duplicates kept.

    Examples
    --------
    >>> find_external_links('<script src="//cdn.example/x.js"></script> see https://a.b')
    ['//cdn.example/x.js']
    >>> find_external_links('<link href="/static/vendor/leaflet/leaflet.css">')
    []
    """
    found: list[tuple[int, str]] = []
    for pattern in _LINK_PATTERNS:
        for match in pattern.finditer(html):
            value = next((g for g in match.groups() if g is not None), "")
            if _EXTERNAL.match(value):
                found.append((match.start(), value.strip()))
    return [value for _, value in sorted(found)]


def vendored_path(url: str, static_url: str = "/static/vendor") -> Path | None:
    """Map a local asset URL under `static_url` to its file in ``VENDOR_DIR``, else None."""
    base = static_url.rstrip("/") + "/"
    if not url.startswith(base):
        return None
    return VENDOR_DIR / url[len(base):].split("?", 1)[0].split("#", 1)[0]


def _walk(element: branca.element.Element) -> Iterator[branca.element.Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _refuse_colormaps(elements: list[branca.element.Element]) -> None:
    # branca's colour-map legend adds d3 from a CDN while rendering, past any rewriting,
    # and offline the legend silently disappears: refuse it here, loudly.
    for element in elements:
        if isinstance(element, branca.colormap.ColorMap):
            raise MissingAssetError(
                f"{type(element).__name__} {element.get_name()} loads d3 from a CDN when "
                "rendered; draw the legend as HTML instead"
            )


def _optional_links_needed(elements: list[branca.element.Element]) -> dict[str, object]:
    """Optional link name -> the first element on the map that uses it."""
    needed: dict[str, object] = {}
    for element in elements:
        for name, users in _OPTIONAL_USERS.items():
            if isinstance(element, users):
                needed.setdefault(name, element)
        if isinstance(element, folium.Map) and element.objects_to_stay_in_front:
            # folium's "bring to front" handler is wired with $(document).ready.
            needed.setdefault("jquery", element)
    return needed


def _original_links(element, attr: str) -> list[tuple[str, str]] | None:
    """The element's links as folium declared them, plus any added since.

    The CDN originals are kept on the instance at the first call, so that a later call on
    a map that has gained, say, a folium.Icon can bring back the links it needs.
    """
    current = getattr(element, attr, None)
    if not isinstance(current, (list, tuple)):
        return None
    stash = f"_gisgrid_cdn_{attr}"
    original = getattr(element, stash, None)
    if original is None:
        original = list(current)
        setattr(element, stash, original)
    names = {name for name, _ in original}
    return original + [(name, url) for name, url in current if name not in names]


def _localized(element, links, needed, base) -> list[tuple[str, str]]:
    result = []
    for name, url in links:
        if not _EXTERNAL.match(url):
            result.append((name, url))
        elif name in _OPTIONAL_USERS and name not in needed:
            continue
        else:
            user = needed.get(name, element)
            result.append((name, _local_url(user, name, url, base)))
    return result


def _localize_header(figure: branca.element.Figure, needed, base) -> None:
    # Links already placed in the page header by an earlier render (or added by hand).
    header = figure.header
    for key, child in list(header._children.items()):
        url = getattr(child, "url", None)
        if not isinstance(child, branca.element.Link) or not url or not _EXTERNAL.match(url):
            continue
        if key in _OPTIONAL_USERS and key not in needed:
            del header._children[key]
        else:
            child.url = _local_url(needed.get(key, child), key, url, base)


def _local_url(element, name: str, url: str, base: str) -> str:
    file_name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
    local = _LOCAL_FILES.get(file_name)
    if local is None:
        label = f"{type(element).__name__} {element.get_name()}"
        raise MissingAssetError(
            f"{label} needs {name!r} from {url}, which has no local copy; vendor it "
            f"with tools/vendor_assets.sh and map it in gisgrid/maps/assets.py "
            f"(vendored: {sorted(_LOCAL_FILES)})"
        )
    return f"{base}/{local}"
