"""Static grid diagrams for filing upward (网格划分示意图): PNG at print resolution, vector PDF.

Drawn with matplotlib in the CGCS2000 3° Gauss–Krüger zone of the data, so that one map
unit is one metre and the page carries an exact numeric scale (1:N at 100 % print).
Every page has what a print layout needs (DOMAIN.md, QGIS print layout): title, legend of
what is shown, metric scale bar with numeric scale, north arrow (pointing to true north:
grid north differs by the meridian convergence), CRS note, issuing unit, dates, and the
grids coloured so that neighbours never share a colour (:func:`colour_adjacent`).

Labels are measured before they are drawn: a grid gets its code + name only when the
label fits inside it; otherwise it gets a number and a row in the numbered key table.
Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state), so the web
app can render diagrams in threads.
"""

from __future__ import annotations

import datetime as dt
import glob
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import pyproj
import shapely
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager
from matplotlib.patches import PathPatch, Polygon as MplPolygon, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.textpath import TextPath
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.analysis.risk import RISK_LEVELS
from gisgrid.config import Settings
from gisgrid.crs import STORAGE_CRS, gauss_kruger_epsg
from gisgrid.errors import InputError
from gisgrid.export.data import (
    describe_target,
    KIND_LABELS, GenerationInfo, find_export_generation, find_grid, read_employer_points, read_grids,
)
from gisgrid.export.fonts import use_truetype_fonts
from gisgrid.analysis.indicators import grid_indicators, indicator_by_key
from gisgrid.maps.choropleth import Classes, classify_indicator
from gisgrid.maps.colouring import colour_adjacent

__all__ = ["PAPERS", "export_diagram", "render_diagram"]

#: Paper sizes, landscape, in millimetres.
PAPERS = {"A4": (297.0, 210.0), "A3": (420.0, 297.0)}
FORMATS = ("png", "pdf")
PRINT_DPI = 300
MM_PER_PT = 25.4 / 72
CJK_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei")
FONT_FAMILY = ["Noto Sans CJK SC"]  # narrowed by _ensure_fonts() to the first one installed
NUMBER_FONT = "DejaVu Sans"  # ships with matplotlib; digits only, and far quicker to lay out than a CJK font
FONT_GLOBS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK*.otf",
              "/usr/share/fonts/truetype/noto/NotoSansCJK*.tt?")
# text.parse_math off: names come from files, and a pair of "$" in one must print as typed,
# not as matplotlib mathtext.
RC = {"font.family": "sans-serif", "pdf.fonttype": 42, "ps.fonttype": 42, "axes.unicode_minus": False,
      "svg.fonttype": "none", "text.parse_math": False}

# Nice numeric-scale mantissas: the denominator is rounded *up* to one of these × 10^k so
# that a printed 1:N is a round number and the data still fits the frame.
_NICE_SCALES = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5, 8.0, 10.0)
INK, GRID_EDGE, CHILD_EDGE, CONTEXT_FILL, CONTEXT_EDGE = "#212121", "#37474f", "#607d8b", "#eceff1", "#b0bec5"


@dataclass(frozen=True)
class _Layout:
    """Page geometry in millimetres (origin bottom-left) and type sizes in points."""

    paper: str
    width: float
    height: float
    margin: float
    title_band: float
    panel: float
    gap: float
    title_pt: float
    subtitle_pt: float
    text_pt: float
    note_pt: float
    label_pts: tuple[float, ...]
    number_pt: float

    @property
    def map_box(self) -> tuple[float, float, float, float]:
        w = self.width - 2 * self.margin - self.panel - self.gap
        return (self.margin, self.margin, w, self.height - 2 * self.margin - self.title_band)

    @property
    def panel_box(self) -> tuple[float, float, float, float]:
        left, bottom, w, h = self.map_box
        return (left + w + self.gap, bottom, self.panel, h)


_LAYOUTS = {
    "A4": _Layout("A4", *PAPERS["A4"], margin=10, title_band=17, panel=74, gap=5, title_pt=18, subtitle_pt=9.5,
                  text_pt=8, note_pt=6.5, label_pts=(9, 8, 7, 6), number_pt=6.5),
    "A3": _Layout("A3", *PAPERS["A3"], margin=12, title_band=22, panel=96, gap=6, title_pt=24, subtitle_pt=12,
                  text_pt=9.5, note_pt=7.5, label_pts=(11, 10, 9, 8, 7, 6), number_pt=7),
}


@dataclass
class _Page:
    """What one page shows (geometries already in the Gauss–Krüger CRS)."""

    title: str
    subtitle: str
    grids: gpd.GeoDataFrame            # coloured and labelled: code, name, employers, colour
    level_label: str
    children: gpd.GeoSeries | None = None
    parents: gpd.GeoSeries | None = None
    context: gpd.GeoDataFrame | None = None
    points: gpd.GeoDataFrame | None = None
    child_label: str = ""
    parent_label: str = ""
    info: dict = field(default_factory=dict)
    classes: Classes | None = None     # colour by an indicator instead of by adjacency


def export_diagram(session: Session, path: str | Path | IO[bytes], level: int | None = None,
                   grid_code: str | None = None, paper: str = "A4", employers: bool = False,
                   atlas: bool = False, settings: Settings | None = None, generation: str | None = None,
                   fmt: str | None = None, dpi: int = PRINT_DPI, issued_on: dt.date | None = None,
                   colour_by: str | None = None) -> dict:
    """Draw the grid division diagram (网格划分示意图) to a PNG or PDF file.

    Parameters
    ----------
    session : Session
        Database session.
    path : str, Path or binary file
        Output; ``.png`` or ``.pdf`` (or a file object with ``fmt``).
    level : int, optional
        Level of the coloured grids; default 2 (streets/towns), or the level below
        ``grid_code`` when that grid is at or below ``level``.
    grid_code : str, optional
        Draw only inside this grid (default: the whole city).
    paper : {"A4", "A3"}
        Landscape paper; the numeric scale is exact when printed at 100 %.
    employers : bool
        Overlay employers as dots coloured by risk level.
    atlas : bool
        PDF only: an overview page, then one page per street/town.
    settings : Settings, optional
        ``city_name`` and ``issuer`` for the title and the issuing unit.
    dpi : int
        PNG resolution (300 = print).
    colour_by : str, optional
        An indicator of :data:`gisgrid.analysis.indicators.INDICATORS` (``employers``,
        ``risk_share``, ``contract_rate``, ``insured_rate``, ``stale_share``): the grids
        are filled by its classes (natural breaks over every grid of that level in the
        city, so all pages of an atlas share one legend) and the title names it.

    Returns
    -------
    dict
        ``path``, ``format``, ``paper``, ``generation``, ``pages`` (per page: title, scale
        denominator, CRS, map extent and the boxes of map, legend, scale bar and north
        arrow in millimetres from the bottom-left corner), ``grids``, ``labelled``,
        ``numbered``, ``seconds``.

    Examples
    --------
    >>> report = export_diagram(session, "/tmp/streets.pdf", paper="A3")   # doctest: +SKIP
    >>> report["pages"][0]["scale"]                                         # doctest: +SKIP
    75000

    A grid code that does not exist raises ``NotFound``; ``atlas=True`` with a PNG path
    raises ``InputError`` (an atlas has many pages).
    """
    started = time.perf_counter()
    fmt = _check_format(path, fmt)
    if paper not in PAPERS:
        raise InputError(f"paper was {paper!r}; expected one of {', '.join(PAPERS)}")
    if atlas and fmt != "pdf":
        raise InputError(f"--atlas writes a multi-page PDF; the output was .{fmt}; expected a .pdf path")
    if not 50 <= dpi <= 1200:
        raise InputError(f"dpi was {dpi!r}; expected 50-1200")
    settings = settings or Settings(home=Path("."))
    if colour_by is not None:
        try:
            indicator_by_key(colour_by)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    gen = find_export_generation(session, generation)
    pages = _build_pages(session, gen, settings, level, grid_code, employers, atlas, colour_by)
    report = render_diagram(pages, path, fmt, paper, settings, gen, dpi, issued_on or clock.today())
    report.update({"generation": gen.name, "seconds": round(time.perf_counter() - started, 2)})
    return report


def _check_format(path, fmt: str | None) -> str:
    if fmt is None:
        suffix = Path(describe_target(path)).suffix.lower().lstrip(".")
        fmt = suffix
    if fmt not in FORMATS:
        raise InputError(f"diagram format was {fmt!r} (from {path!s}); expected .png or .pdf")
    return fmt


# ----------------------------------------------------------------------------- pages


def _level_label(frame: gpd.GeoDataFrame, level: int) -> str:
    kinds = [KIND_LABELS.get(k, k) for k in dict.fromkeys(frame["kind"]) if k] if len(frame) else []
    return "/".join(kinds) or f"第{level}级"


def _build_pages(session, gen: GenerationInfo, settings: Settings, level: int | None, grid_code: str | None,
                 employers: bool, atlas: bool, colour_by: str | None = None) -> list[_Page]:
    everything = read_grids(session, gen)
    if everything.empty:
        raise InputError(f"generation {gen.name!r} has no grids to draw")
    crs = pyproj.CRS.from_epsg(gauss_kruger_epsg(float(np.mean(everything.total_bounds[[0, 2]]))))
    everything = everything.to_crs(crs)
    points = read_employer_points(session, gen).to_crs(crs) if employers else None
    if grid_code:
        scope = find_grid(session, gen, grid_code)
        if level is None or level <= scope["level"]:
            # the grid's children; a grid with none (a community) is drawn on its own
            level = scope["level"] + 1 if (everything["parent_code"] == scope["code"]).any() else scope["level"]
    else:
        scope = None
        level = 2 if level is None else level
    if level not in set(everything["level"]):
        levels = sorted(set(everything["level"]))
        raise InputError(f"level was {level!r}; this generation has levels {levels}")
    shading = _Shading(session, gen, settings, colour_by) if colour_by else None
    pages = [_scope_page(everything, scope, level, settings, gen, points, shading=shading)]
    if atlas:
        streets = everything[everything["level"] == 2]
        if scope is not None:
            streets = streets[streets["code"].isin(_descendant_codes(everything, scope["code"]) | {scope["code"]})]
        for street in streets.itertuples():
            child_level = 3 if (everything["level"] == 3).any() else 2
            pages.append(_scope_page(everything, {"code": street.code, "name": street.name, "level": 2},
                                     child_level, settings, gen, points, context=True, shading=shading))
    return pages


class _Shading:
    """Indicator values and classes per level, computed once for all pages."""

    def __init__(self, session, gen: GenerationInfo, settings: Settings, key: str):
        self.session, self.gen, self.settings = session, gen, settings
        self.indicator = indicator_by_key(key)
        self._levels: dict[int, tuple[pd.Series, Classes]] = {}

    def for_level(self, level: int) -> tuple[pd.Series, Classes]:
        if level not in self._levels:
            values = grid_indicators(self.session, self.gen.id, level,
                                     stale_months=self.settings.stale_months)[self.indicator.key]
            self._levels[level] = (values, classify_indicator(values, self.indicator))
        return self._levels[level]


def _descendant_codes(frame: gpd.GeoDataFrame, code: str) -> set[str]:
    out, frontier = set(), {code}
    while frontier:
        frontier = set(frame.loc[frame["parent_code"].isin(frontier), "code"]) - out
        out |= frontier
    return out


def _scope_page(everything: gpd.GeoDataFrame, scope: dict | None, level: int, settings: Settings,
                gen: GenerationInfo, points, context: bool = False, shading: _Shading | None = None) -> _Page:
    if scope is not None:
        inside = _descendant_codes(everything, scope["code"]) | {scope["code"]}
        frame = everything[everything["code"].isin(inside)]
        outline = frame[frame["code"] == scope["code"]]
        place = scope["name"]
    else:
        frame = everything
        top = everything["level"].min()
        outline = everything[everything["level"] == top]
        place = settings.city_name
    grids = frame[frame["level"] == level].copy()
    if grids.empty:  # a grid with no children: draw the grid itself
        grids = frame[frame["code"] == scope["code"]].copy() if scope else frame[frame["level"] == level].copy()
    classes = None
    if shading is not None:
        values, classes = shading.for_level(int(grids["level"].iloc[0]))
        grids["colour"] = [classes.colour_of(float(values.get(code, np.nan))) for code in grids["code"]]
    else:
        grids["colour"] = colour_adjacent(grids).values
    children = frame.loc[frame["level"] == level + 1].geometry
    parents = frame.loc[(frame["level"] < level) & (frame["level"] >= max(level - 1, outline["level"].min()))]
    level_label = _level_label(grids, level)
    title_place = settings.city_name if scope is None else (
        scope["name"] if scope["name"].startswith(settings.city_name) else settings.city_name + scope["name"])
    title = f"{title_place}劳动保障监察网格划分示意图" if classes is None else \
        f"{title_place}劳动保障监察网格{classes.indicator.label}分级图"
    code_note = f"（{scope['code']}）" if scope else ""
    subtitle = (f"{place}{code_note} · {level_label}网格（第{level}级）共 {len(grids)} 个 · "
                f"网格版本：{gen.name}")
    page = _Page(title=title, subtitle=subtitle, grids=grids.reset_index(drop=True), level_label=level_label,
                 children=children if len(children) else None,
                 parents=parents.geometry if len(parents) else outline.geometry,
                 child_label=_level_label(frame[frame["level"] == level + 1], level + 1) if len(children) else "",
                 parent_label=_level_label(parents, level - 1) if len(parents) else "")
    page.classes = classes
    if context:
        others = everything[(everything["level"] == scope["level"]) & (everything["code"] != scope["code"])]
        page.context = others
    if points is not None:
        page.points = points.iloc[shapely.covered_by(points.geometry.values,
                                                     shapely.union_all(grids.geometry.values))] \
            if scope is not None else points
    return page


# ----------------------------------------------------------------------------- rendering


def _ensure_fonts() -> None:
    """Register the Noto CJK files: matplotlib's cached font list may predate their install."""
    known = {f.fname for f in fontManager.ttflist}
    for pattern in FONT_GLOBS:
        for fname in glob.glob(pattern):
            if fname not in known:
                fontManager.addfont(fname)
    names = {f.name for f in fontManager.ttflist}
    # Only installed families: matplotlib logs a warning per text for each missing one.
    FONT_FAMILY[:] = [next((n for n in CJK_FAMILIES if n in names), "DejaVu Sans")]


def render_diagram(pages: list[_Page], path, fmt: str, paper: str, settings: Settings, gen: GenerationInfo,
                   dpi: int, issued_on: dt.date) -> dict:
    """Render prepared pages to ``path`` (PNG: the first page only)."""
    _ensure_fonts()
    layout = _LAYOUTS[paper]
    infos = []
    with matplotlib.rc_context({**RC, "font.sans-serif": FONT_FAMILY + ["DejaVu Sans"]}):
        if fmt == "png":
            fig, info = _draw_page(pages[0], layout, settings, gen, issued_on)
            FigureCanvasAgg(fig)
            fig.savefig(path, format="png", dpi=dpi, facecolor="white")
            info.pop("_key_pages", None)  # a PNG is one page; its key says the rest is in the PDF
            infos.append(info)
        else:
            figures = []
            for page in pages:
                fig, info = _draw_page(page, layout, settings, gen, issued_on)
                figures += [fig, *info.pop("_key_pages", [])]
                infos.append(info)
            # All pages first, so that one TrueType subset per weight serves the whole document.
            use_truetype_fonts(figures, FONT_FAMILY[0])
            with PdfPages(path, metadata={"Title": pages[0].title, "Author": settings.issuer,
                                          "Subject": "劳动保障监察网格划分示意图", "Creator": "gisgrid"}) as pdf:
                for fig in figures:
                    pdf.savefig(fig)
    return {"path": describe_target(path), "format": fmt, "paper": paper, "dpi": dpi if fmt == "png" else None,
            "pages": infos, "grids": sum(i["grids"] for i in infos[:1]),
            "labelled": infos[0]["labelled"], "numbered": infos[0]["numbered"],
            "unlabelled": infos[0]["unlabelled"]}


def _nice_scale(raw: float) -> int:
    exponent = math.floor(math.log10(raw))
    for mantissa in _NICE_SCALES:
        if mantissa * 10 ** exponent >= raw * (1 - 1e-9):
            return int(round(mantissa * 10 ** exponent))
    return int(10 ** (exponent + 1))


def _draw_page(page: _Page, layout: _Layout, settings: Settings, gen: GenerationInfo,
               issued_on: dt.date) -> tuple[Figure, dict]:
    W, H = layout.width, layout.height
    fig = Figure(figsize=(W / 25.4, H / 25.4))
    ml, mb, mw, mh = layout.map_box
    ax = fig.add_axes((ml / W, mb / H, mw / W, mh / H))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(1.0)
        spine.set_color(INK)
    crs = page.grids.crs
    xmin, ymin, xmax, ymax = page.grids.total_bounds
    pad = 0.04 * max(xmax - xmin, ymax - ymin)
    scale = _nice_scale(max((xmax - xmin + 2 * pad) / (mw / 1000), (ymax - ymin + 2 * pad) / (mh / 1000)))
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    half_w, half_h = mw / 1000 * scale / 2, mh / 1000 * scale / 2
    extent = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)

    if page.context is not None and len(page.context):
        page.context.plot(ax=ax, color=CONTEXT_FILL, edgecolor=CONTEXT_EDGE, linewidth=0.5, aspect=None)
    page.grids.plot(ax=ax, color=list(page.grids["colour"]), edgecolor=GRID_EDGE, linewidth=0.7, aspect=None)
    if page.children is not None:
        page.children.plot(ax=ax, facecolor="none", edgecolor=CHILD_EDGE, linewidth=0.3, aspect=None)
    if page.parents is not None:
        page.parents.plot(ax=ax, facecolor="none", edgecolor=INK, linewidth=1.6, aspect=None)
    risk_counts = {}
    if page.points is not None and len(page.points):
        size = 1.2 if len(page.points) > 5000 else 3.0
        for lvl, (label, colour) in RISK_LEVELS.items():
            pts = page.points[page.points["risk_level"] == lvl]
            risk_counts[lvl] = len(pts)
            if len(pts):
                ax.scatter(pts.geometry.x, pts.geometry.y, s=size, c=colour, linewidths=0, zorder=3 + lvl * 0.1)
    ax.set_aspect("auto")
    ax.set_xlabel("")  # geopandas labels projected axes "Easting [metre]"
    ax.set_ylabel("")
    ax.set_xlim(extent[0], extent[2])
    ax.set_ylim(extent[1], extent[3])

    # Furniture on the map (north arrow top right, scale bar bottom left): boxes in mm.
    arrow_box = (ml + mw - 16, mb + mh - 22, 12, 18)
    bar_box = _scale_bar_box(layout, scale)
    obstacles = [_mm_to_data(b, layout, extent) for b in (arrow_box, bar_box)]
    labels, numbered, crowded = _place_labels(page.grids, scale, layout, obstacles)
    # The white halo is a separate stroke-only copy underneath: text drawn with a path
    # effect becomes outlines, and the labels must stay real text (searchable, pdftotext).
    halo = [patheffects.Stroke(linewidth=1.8, foreground="white")]
    for x, y, text, size in labels:
        for effects, z in ((halo, 4.9), (None, 5)):
            ax.text(x, y, text, fontsize=size, ha="center", va="center", color=INK, linespacing=1.1,
                    path_effects=effects, zorder=z, clip_on=True)
    if numbered:
        _draw_numbers(ax, numbered, layout.number_pt, scale * MM_PER_PT / 1000)

    paper_ax = fig.add_axes((0, 0, 1, 1), zorder=10)
    paper_ax.set_xlim(0, W)
    paper_ax.set_ylim(0, H)
    paper_ax.set_axis_off()
    paper_ax.patch.set_alpha(0)
    _draw_title(paper_ax, page, layout)
    _draw_north_arrow(paper_ax, arrow_box, crs, extent)
    _draw_scale_bar(paper_ax, bar_box, scale, layout)
    legend_box, key_pages = _draw_panel(paper_ax, page, layout, numbered, crowded, risk_counts, scale, crs,
                                        settings, gen, issued_on)
    info = {"title": page.title, "scale": scale, "crs": f"EPSG:{crs.to_epsg()}", "extent": extent,
            "paper_mm": (W, H), "map_box_mm": layout.map_box, "legend_box_mm": legend_box,
            "scalebar_box_mm": bar_box, "north_arrow_box_mm": arrow_box, "grids": len(page.grids),
            "labelled": len(labels), "numbered": len(numbered), "unlabelled": len(crowded),
            "key_pages": len(key_pages),
            "_key_pages": key_pages}
    return fig, info


def _draw_numbers(ax, numbered, size: float, m_per_pt: float) -> None:
    """Key numbers as two compound outline paths (white halo, then ink).

    Thousands of small numbers as separate text artists take ~4 ms each to write to a PDF;
    as outlines in one path they take milliseconds in all. The numbers stay findable as
    text in the key table beside the map.
    """
    prop = FontProperties(family=NUMBER_FONT, weight="bold", size=size)
    paths = []
    for x, y, number, _ in numbered:
        glyphs = TextPath((0, 0), str(number), size=size, prop=prop)
        # Control-point bounds: exact extents walk every Bézier (seconds for 2,000 numbers).
        lo, hi = glyphs.vertices.min(axis=0), glyphs.vertices.max(axis=0)
        paths.append(MplPath((glyphs.vertices - (lo + hi) / 2) * m_per_pt + (x, y), glyphs.codes))
    compound = MplPath.make_compound_path(*paths)
    # add_artist, not add_patch: the limits are fixed already and add_patch would measure the path.
    ax.add_artist(PathPatch(compound, facecolor="none", edgecolor="white", linewidth=1.8, zorder=4.9,
                            joinstyle="round"))
    ax.add_artist(PathPatch(compound, facecolor=INK, edgecolor="none", zorder=5))


def _mm_to_data(box, layout: _Layout, extent) -> shapely.Polygon:
    ml, mb, mw, mh = layout.map_box
    left, bottom, w, h = box
    sx, sy = (extent[2] - extent[0]) / mw, (extent[3] - extent[1]) / mh
    x0, y0 = extent[0] + (left - ml) * sx, extent[1] + (bottom - mb) * sy
    return shapely.box(x0, y0, x0 + w * sx, y0 + h * sy)


# ----------------------------------------------------------------------------- labels

_MEASURE: list = []  # one RendererAgg at 72 dpi (one pixel is one point), made on first use


_CHAR_WIDTHS: dict[tuple[str, str], float] = {}


def _text_size_pt(text: str, size: float) -> tuple[float, float]:
    """Width and height of (possibly multi-line) text in points, measured with the real font.

    Widths are summed from per-character advances measured once (CJK has no kerning and
    the digit pairs' kerning is negligible): laying out each label with FreeType costs
    ~1 ms in a CJK font, 20 s for a 2,000-grid diagram.
    """
    family = FONT_FAMILY[0]
    lines = text.split("\n")
    width = max(sum(_char_width(family, ch) for ch in line) for line in lines) * size / 10
    return width, size * (1.1 * (len(lines) - 1) + 1.15)


def _char_width(family: str, ch: str) -> float:
    key = (family, ch)
    width = _CHAR_WIDTHS.get(key)
    if width is None:
        if not _MEASURE:
            _MEASURE.append(RendererAgg(10, 10, 72))
        measure = _MEASURE[0].get_text_width_height_descent
        prop = FontProperties(family=[family], size=10)
        width = measure(ch, prop, ismath=False)[0] if ch != " " else \
            measure("a a", prop, ismath=False)[0] - measure("aa", prop, ismath=False)[0]
        _CHAR_WIDTHS[key] = width
    return width


def _place_labels(grids: gpd.GeoDataFrame, scale: int, layout: _Layout, obstacles: list):
    """Code + name inside each grid where it fits; numbers (for the key table) elsewhere."""
    geoms = np.asarray(grids.geometry.values, dtype=object)  # shapely ufuncs on a plain array, not pandas'
    circles = shapely.maximum_inscribed_circle(geoms)
    anchors = shapely.get_point(circles, 0)
    ax_, ay_ = shapely.get_x(anchors), shapely.get_y(anchors)
    m_per_pt = scale * MM_PER_PT / 1000
    obstacle = shapely.union_all(obstacles)
    candidates = [f"{name}\n{code}" for code, name in zip(grids["code"], grids["name"])]
    oneline = [f"{code} {name}" for code, name in zip(grids["code"], grids["name"])]
    # Measure once at 10 pt: text width scales linearly with size.
    base = np.array([[*_text_size_pt(a, 10)] for a in candidates])
    base1 = np.array([[*_text_size_pt(a, 10)] for a in oneline])
    bounds = shapely.bounds(geoms)
    spans = np.column_stack([bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]])
    chosen: list = [None] * len(grids)
    for size in layout.label_pts:
        todo = np.array([c is None for c in chosen])
        if not todo.any():
            break
        for texts, dims in ((candidates, base), (oneline, base1)):
            w = dims[:, 0] * size / 10 * m_per_pt
            h = dims[:, 1] * size / 10 * m_per_pt
            # Cheap test first: a label wider or taller than the grid's bounds cannot fit, and
            # on a dense map that rules out most grids before any polygon intersection.
            maybe = todo & (w <= spans[:, 0]) & (h <= spans[:, 1])
            if not maybe.any():
                continue
            boxes = np.full(len(geoms), None, dtype=object)
            boxes[maybe] = shapely.box(ax_[maybe] - w[maybe] / 2, ay_[maybe] - h[maybe] / 2,
                                       ax_[maybe] + w[maybe] / 2, ay_[maybe] + h[maybe] / 2)
            fits = maybe.copy()
            fits[maybe] = _mostly_inside(boxes[maybe], geoms[maybe]) & ~shapely.intersects(boxes[maybe], obstacle)
            for i in np.flatnonzero(fits):
                if chosen[i] is None:
                    chosen[i] = (ax_[i], ay_[i], texts[i], size, boxes[i])
            todo = np.array([c is None for c in chosen])
    labels = [c for c in chosen if c is not None]
    # Grids that overlap (bad data) could put labels on each other: demote the later one.
    if labels:
        tree = shapely.STRtree([c[4] for c in labels])
        left, right = tree.query([c[4] for c in labels], predicate="intersects")
        clash = {max(i, j) for i, j in zip(left, right) if i != j}
        keep = set(range(len(labels))) - clash
        demoted = {id(labels[i]) for i in clash}
        chosen = [None if (c is not None and id(c) in demoted) else c for c in chosen]
        labels = [labels[i] for i in sorted(keep)]
    numbered = []
    taken = [c[4] for c in labels] + [obstacle]
    radius = shapely.length(circles)
    side = layout.number_pt * m_per_pt
    crowded = []
    for i, c in enumerate(chosen):
        if c is None:
            w = len(str(len(numbered) + 1)) * 0.62 * side
            spot = _free_spot(ax_[i], ay_[i], radius[i], w, side * 1.1, taken)
            if spot is None:  # a number here would sit on another: leave it to the atlas page
                crowded.append(i)
                continue
            x, y = spot
            taken.append(shapely.box(x - w / 2, y - side * 0.55, x + w / 2, y + side * 0.55))
            numbered.append((x, y, len(numbered) + 1, i))
    return [(x, y, t, s) for x, y, t, s, _ in labels], numbered, crowded


def _free_spot(x: float, y: float, radius: float, w: float, h: float, taken: list) -> tuple[float, float] | None:
    """The anchor, or a nearby point inside the grid's inscribed circle not covered by a label; None."""
    tree = shapely.STRtree(taken[-400:])  # neighbours were placed recently: grids come in code order
    for dx, dy in ((0, 0), (0, 0.5), (0, -0.5), (0.5, 0), (-0.5, 0), (0.35, 0.35), (-0.35, -0.35),
                   (0.35, -0.35), (-0.35, 0.35)):
        cx, cy = x + dx * radius, y + dy * radius
        if not len(tree.query(shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), predicate="intersects")):
            return cx, cy
    return None


def _mostly_inside(boxes: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    # A label may graze its boundary (the halo keeps it legible) but not cross it.
    inside = shapely.area(shapely.intersection(boxes, geoms))
    return inside >= 0.97 * shapely.area(boxes)


# ----------------------------------------------------------------------------- furniture


def _draw_title(pax, page: _Page, layout: _Layout) -> None:
    top = layout.height - layout.margin
    pax.text(layout.width / 2, top - layout.title_band * 0.35, page.title, fontsize=layout.title_pt,
             fontweight="bold", ha="center", va="center", color=INK)
    pax.text(layout.width / 2, top - layout.title_band * 0.82, page.subtitle, fontsize=layout.subtitle_pt,
             ha="center", va="center", color="#455a64")


def _draw_north_arrow(pax, box, crs, extent) -> None:
    left, bottom, w, h = box
    # True north in the Gauss–Krüger plane: the meridian convergence at the map centre.
    to_ll = pyproj.Transformer.from_crs(crs, STORAGE_CRS, always_xy=True)
    to_gk = pyproj.Transformer.from_crs(STORAGE_CRS, crs, always_xy=True)
    cx, cy = (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2
    lon, lat = to_ll.transform(cx, cy)
    nx, ny = to_gk.transform(lon, lat + 0.01)
    angle = math.atan2(nx - cx, ny - cy)
    pax.add_patch(Rectangle((left, bottom), w, h, facecolor="white", edgecolor="none", alpha=0.85))
    ox, oy = left + w / 2, bottom + h * 0.42
    length = h * 0.55

    def rot(dx, dy):
        return ox + dx * math.cos(angle) + dy * math.sin(angle), oy - dx * math.sin(angle) + dy * math.cos(angle)

    tip, base_l, base_r, notch = rot(0, length * 0.6), rot(-w * 0.28, -length * 0.4), rot(w * 0.28, -length * 0.4), \
        rot(0, -length * 0.18)
    pax.add_patch(MplPolygon([tip, base_l, notch], closed=True, facecolor="white", edgecolor=INK, linewidth=0.8))
    pax.add_patch(MplPolygon([tip, notch, base_r], closed=True, facecolor=INK, edgecolor=INK, linewidth=0.8))
    nx_, ny_ = rot(0, length * 0.6 + 3.2)
    pax.text(nx_, ny_, "北", fontsize=9, fontweight="bold", ha="center", va="center", color=INK)


def _scale_bar_length(scale: int, max_mm: float) -> tuple[float, int]:
    """A round ground length (1, 2, 5 × 10^k m) whose bar is at most ``max_mm`` long; and segments."""
    limit = max_mm / 1000 * scale
    exponent = math.floor(math.log10(limit))
    for mantissa in (5, 2, 1):
        metres = mantissa * 10 ** exponent
        if metres <= limit:
            return metres, (5 if mantissa == 5 else 4 if mantissa == 2 else 2)
    return 10 ** exponent, 2


def _scale_bar_box(layout: _Layout, scale: int) -> tuple[float, float, float, float]:
    ml, mb, mw, _ = layout.map_box
    metres, _ = _scale_bar_length(scale, mw * 0.3)
    bar_mm = metres / scale * 1000
    return (ml + 3, mb + 3, bar_mm + 16, 15)


def _draw_scale_bar(pax, box, scale: int, layout: _Layout) -> None:
    left, bottom, w, h = box
    metres, segments = _scale_bar_length(scale, layout.map_box[2] * 0.3)
    bar_mm = metres / scale * 1000
    pax.add_patch(Rectangle((left, bottom), w, h, facecolor="white", edgecolor="none", alpha=0.85))
    x0, y0, seg = left + 5, bottom + 6.5, bar_mm / segments
    km = metres >= 1000
    unit = "千米" if km else "米"
    for i in range(segments):
        pax.add_patch(Rectangle((x0 + i * seg, y0), seg, 1.6, facecolor=INK if i % 2 == 0 else "white",
                                edgecolor=INK, linewidth=0.6))
    for i in range(segments + 1):
        value = metres * i / segments / (1000 if km else 1)
        text = f"{value:g}" + (f" {unit}" if i == segments else "")
        pax.text(x0 + i * seg, y0 + 2.6, text, fontsize=layout.note_pt, ha="center", va="bottom", color=INK)
    pax.text(x0, bottom + 2.2, f"比例尺 1:{scale:,}".replace(",", " "), fontsize=layout.note_pt,
             ha="left", va="bottom", color=INK)


def _draw_panel(pax, page: _Page, layout: _Layout, numbered, crowded, risk_counts, scale: int, crs, settings: Settings,
                gen: GenerationInfo, issued_on: dt.date):
    left, bottom, w, h = layout.panel_box
    pax.add_patch(Rectangle((left, bottom), w, h, facecolor="white", edgecolor=INK, linewidth=0.8))
    pt = layout.text_pt
    line = pt * MM_PER_PT * 1.55
    x, y = left + 4, bottom + h - 4
    pax.text(left + w / 2, y - line * 0.5, "图　例", fontsize=pt + 2, fontweight="bold", ha="center", va="center")
    y -= line * 1.6
    swatch_w, swatch_h = 9, line * 0.62

    def item(draw, text):
        nonlocal y
        draw(x, y - line / 2)
        pax.text(x + swatch_w + 3, y - line / 2, text, fontsize=pt, va="center", ha="left", color=INK)
        y -= line

    colours = list(dict.fromkeys(page.grids["colour"]))[:4]

    def fills(x0, yc):
        part = swatch_w / max(len(colours), 1)
        for i, colour in enumerate(colours):
            pax.add_patch(Rectangle((x0 + i * part, yc - swatch_h / 2), part, swatch_h, facecolor=colour,
                                    edgecolor="none"))
        pax.add_patch(Rectangle((x0, yc - swatch_h / 2), swatch_w, swatch_h, facecolor="none", edgecolor=GRID_EDGE,
                                linewidth=0.7))

    if page.classes is not None:
        pax.text(x, y - line / 2, f"{page.level_label}网格：{page.classes.indicator.label}", fontsize=pt,
                 va="center", ha="left", color=INK, fontweight="bold")
        y -= line
        # Classes are the city's (one legend for every page); counts are this page's grids.
        for colour, label, _ in page.classes.legend_rows():
            count = int((page.grids["colour"] == colour).sum())
            item(lambda x0, yc, c=colour: pax.add_patch(Rectangle(
                (x0, yc - swatch_h / 2), swatch_w, swatch_h, facecolor=c, edgecolor=GRID_EDGE, linewidth=0.5)),
                f"{label}（{count} 个）")
    else:
        item(fills, f"{page.level_label}网格（相邻异色）")
    if page.parents is not None:
        item(lambda x0, yc: pax.plot([x0, x0 + swatch_w], [yc, yc], color=INK, linewidth=1.6),
             f"{page.parent_label or '上级'}界线")
    if page.children is not None:
        item(lambda x0, yc: pax.plot([x0, x0 + swatch_w], [yc, yc], color=CHILD_EDGE, linewidth=0.4),
             f"{page.child_label}网格界线")
    if page.context is not None and len(page.context):
        item(lambda x0, yc: pax.add_patch(Rectangle((x0, yc - swatch_h / 2), swatch_w, swatch_h,
                                                    facecolor=CONTEXT_FILL, edgecolor=CONTEXT_EDGE, linewidth=0.5)),
             "相邻街道/乡镇")
    if risk_counts:
        for lvl, (label, colour) in RISK_LEVELS.items():
            item(lambda x0, yc, c=colour: pax.add_patch(matplotlib.patches.Circle(
                (x0 + swatch_w / 2, yc), swatch_h * 0.35, facecolor=c, edgecolor="none")),
                f"用人单位·{label}（{risk_counts.get(lvl, 0)} 家）")
    if numbered:
        item(lambda x0, yc: pax.text(x0 + swatch_w / 2, yc, "12", fontsize=layout.number_pt, fontweight="bold",
                                     ha="center", va="center"), "小网格以编号标注，见编号对照表")
    if crowded:
        item(lambda x0, yc: None, f"另有 {len(crowded)} 个网格过小未标注，见分幅图")
    legend_box = (left, y, w, bottom + h - y)
    pax.plot([left + 2, left + w - 2], [y - 1, y - 1], color="#b0bec5", linewidth=0.5)

    notes = _notes(page, scale, crs, settings, gen, issued_on, layout)
    note_line = layout.note_pt * MM_PER_PT * 1.45
    notes_top = bottom + 3 + note_line * len(notes)
    for i, text in enumerate(notes):
        pax.text(x, notes_top - (i + 0.5) * note_line, text, fontsize=layout.note_pt, va="center", ha="left",
                 color=INK, fontweight="bold" if text.startswith("内部资料") else "normal")
    pax.plot([left + 2, left + w - 2], [notes_top + 1, notes_top + 1], color="#b0bec5", linewidth=0.5)
    key_pages = _draw_key(pax, page, layout, numbered, (left + 3, notes_top + 2.5, w - 6, y - 3 - notes_top - 2.5))
    return legend_box, key_pages


def _notes(page: _Page, scale: int, crs, settings: Settings, gen: GenerationInfo, issued_on: dt.date,
           layout: _Layout) -> list[str]:
    epsg = crs.to_epsg()
    meridian = 75 + 3 * (epsg - 4534)
    data_date = gen.effective_from.isoformat() if gen.effective_from else "未设定"
    return [
        "坐标系：CGCS2000 (EPSG:4490)",
        f"投影：高斯-克吕格3度带，中央经线{meridian}°E (EPSG:{epsg})",
        f"比例尺：1:{scale:,}（{layout.paper} 纸原大打印）".replace(",", " "),
        f"数据日期：{gen.name}，{data_date} 起施行",
        f"编制单位：{settings.issuer}",
        f"编制日期：{issued_on.isoformat()}",
        "内部资料 注意保存（非公开地图）",
    ]


def _draw_key(pax, page: _Page, layout: _Layout, numbered, box) -> list[Figure]:
    """The numbered key table in ``box`` (mm); rows that do not fit go on extra pages (PDF)."""
    left, bottom, w, h = box
    if not numbered:
        _draw_grid_list(pax, page, layout, box)
        return []
    rows = [(n, page.grids["code"].iat[i], page.grids["name"].iat[i]) for _, _, n, i in numbered]
    head_pt, min_pt = layout.text_pt, 5.5
    pax.text(left + w / 2, bottom + h - head_pt * MM_PER_PT, "网格编号对照表", fontsize=head_pt, fontweight="bold",
             ha="center", va="center")
    avail = h - head_pt * MM_PER_PT * 2.2
    size = layout.text_pt - 1
    while True:
        line = size * MM_PER_PT * 1.45
        per_col = max(int(avail // line), 1)
        widest = max(_text_size_pt(f"{n} {c} {name}", size)[0] for n, c, name in rows) * MM_PER_PT + 3
        cols = max(int(w // widest), 1)
        if per_col * cols >= len(rows) or size <= min_pt:
            break
        size -= 0.5
    fit = per_col * cols
    shown = rows[:fit] if len(rows) > fit else rows
    if len(rows) > fit:
        shown = rows[:fit - 1]
    col_w = w / cols
    top = bottom + avail
    _draw_columns(pax, [f"{n} {code} {name}" for n, code, name in shown], left, top, col_w, per_col, size, line)
    if len(rows) > fit:
        col, row = divmod(len(shown), per_col)
        pax.text(left + col * col_w, top - (row + 0.5) * line, f"其余 {len(rows) - len(shown)} 个见续表（PDF）",
                 fontsize=size, va="center", ha="left", color="#c62828")
        return _key_continuation(page, layout, rows[len(shown):])
    return []


def _draw_grid_list(pax, page: _Page, layout: _Layout, box) -> None:
    """Every grid with its colour, code, name and employers, when they fit (else nothing)."""
    left, bottom, w, h = box
    size = layout.text_pt - 0.5
    line = size * MM_PER_PT * 1.6
    head = layout.text_pt * MM_PER_PT * 2.2
    if len(page.grids) * line > h - head:
        return
    pax.text(left + w / 2, bottom + h - layout.text_pt * MM_PER_PT, "网格一览", fontsize=layout.text_pt,
             fontweight="bold", ha="center", va="center")
    top = bottom + h - head
    pax.text(left + w, top + line * 0.1, "用人单位（家）", fontsize=size - 1, ha="right", va="bottom", color="#607d8b")
    for k, grid in enumerate(page.grids.itertuples()):
        yc = top - (k + 0.5) * line
        pax.add_patch(Rectangle((left, yc - line * 0.3), 5, line * 0.6, facecolor=grid.colour, edgecolor=GRID_EDGE,
                                linewidth=0.5))
        pax.text(left + 7, yc, f"{grid.code} {grid.name}", fontsize=size, va="center", ha="left", color=INK)
        pax.text(left + w, yc, f"{grid.employers:,}", fontsize=size, va="center", ha="right", color=INK)


def _draw_columns(pax, rows: list[str], left: float, top: float, col_w: float, per_col: int, size: float,
                  line: float) -> None:
    """Rows in columns, one multi-line text per column (a text per row costs ~3 ms each to draw)."""
    spacing = line / (size * MM_PER_PT)
    for col, start in enumerate(range(0, len(rows), per_col)):
        pax.text(left + col * col_w, top, "\n".join(rows[start:start + per_col]), fontsize=size, va="top",
                 ha="left", color=INK, linespacing=spacing)


def _key_continuation(page: _Page, layout: _Layout, rows) -> list[Figure]:
    W, H = layout.width, layout.height
    figs = []
    size = layout.text_pt
    line = size * MM_PER_PT * 1.5
    col_w = 90
    cols = int((W - 2 * layout.margin) // col_w)
    per_col = int((H - 2 * layout.margin - layout.title_band) // line)
    per_page = cols * per_col
    for start in range(0, len(rows), per_page):
        fig = Figure(figsize=(W / 25.4, H / 25.4))
        pax = fig.add_axes((0, 0, 1, 1))
        pax.set_xlim(0, W)
        pax.set_ylim(0, H)
        pax.set_axis_off()
        pax.text(W / 2, H - layout.margin - layout.title_band * 0.4, f"{page.title} — 网格编号对照表（续）",
                 fontsize=layout.subtitle_pt + 2, fontweight="bold", ha="center", va="center")
        top = H - layout.margin - layout.title_band
        _draw_columns(pax, [f"{n} {code} {name}" for n, code, name in rows[start:start + per_page]],
                      layout.margin, top, col_w, per_col, size, line)
        figs.append(fig)
    return figs
