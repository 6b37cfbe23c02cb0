"""Render a folium map to strings in one template pass.

branca (under folium) renders twice: ``MacroElement.render`` and several folium
``render`` methods wrap the *output* of a template in a new ``Element(template=output)``,
so the page's finished HTML and scripts go through Jinja2 a second time, unsandboxed.
A ``{{…}}`` in an employer or grid name then runs as Python in the server, and a
``{{ '"' }}`` emits a quote after our escaping.  Escaping cannot help: ``{``, ``}`` and
``%`` are legitimate text.  The library is wrong here, so :func:`render_map_parts`
renders with every element that is *created during rendering* holding its text as a
literal: no Jinja parse of anything that has already been rendered.  The patch is
installed when this module is imported (``gisgrid.maps`` imports it) and applies to
every render of a map, since rendering always starts at the map's ``Figure``.

Elements built before rendering (folium's own skeletons, our macro templates) keep
their real templates: those are gisgrid's or folium's code, and values reach them only
as template variables (``{{ this.x }}``), rendered once.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from branca.element import Element, Figure

# True while a Figure renders in this thread/context: every Element created then wraps
# already-rendered output.  A context variable, so concurrent requests in the
# multi-threaded server do not see each other's flag.
_rendering: contextvars.ContextVar[bool] = contextvars.ContextVar("gisgrid_rendering", default=False)


class _LiteralTemplate:
    """Stands in for a jinja2 Template whose "source" is finished output."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def render(self, *args, **kwargs) -> str:
        return self.text


_original_init = Element.__init__


def _element_init(self, template=None, template_name=None, *args, **kwargs):
    _original_init(self, None if (template is not None and _rendering.get()) else template,
                   template_name, *args, **kwargs)
    if template is not None and _rendering.get():
        # Not _template_str: unpickling would parse that as a template again.
        self._template = _LiteralTemplate(template)


def _figure_render(self, **kwargs):
    token = _rendering.set(True)
    try:
        return _original_figure_render(self, **kwargs)
    finally:
        _rendering.reset(token)


# Patched once, for every render of every map (also ``fmap.save`` and tests that call
# ``get_root().render()``): rendering a map always starts at its Figure.
if getattr(Element.__init__, "__name__", "") != "_element_init":
    _original_figure_render = Figure.render
    Element.__init__ = _element_init
    Figure.render = _figure_render


@dataclass(frozen=True)
class MapParts:
    """A rendered map: what goes in <head>, in the body, and in one <script>."""

    header: str
    body: str
    script: str


def render_map_parts(fmap) -> MapParts:
    """Render ``fmap`` once and return its header, body and script as strings.

    Examples
    --------
    >>> import folium
    >>> m = folium.Map(location=[34.0, 113.0], tiles=None)
    >>> _ = folium.Marker([34.0, 113.0], tooltip="{{7*7}}").add_to(m)
    >>> "{{7*7}}" in render_map_parts(m).script
    True
    """
    root = fmap.get_root()
    root.render()
    return MapParts(header=root.header.render(), body=root.html.render(), script=root.script.render())


def render_map_html(fmap) -> str:
    """The whole standalone page of ``fmap`` (for files and tests), rendered once."""
    return fmap.get_root().render()
