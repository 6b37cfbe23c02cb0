"""督办: how the grids are doing with complaints, cases and incidents — a table per level with
the city's totals, the map coloured by overdue work, the on-time rate, complaints per 100
employers or open cases, a hot-spot map of complaints (Getis-Ord Gi*), and early warnings.
Figures come from gisgrid.analysis.progress; row-level security limits them to the user's grids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from flask import Blueprint, render_template

from gisgrid import clock
from gisgrid.analysis.indicators import Indicator
from gisgrid.analysis.progress import (
    HOT_SPOT_CLASSES, HOT_SPOT_METHOD, PROGRESS_INDICATORS, complaint_hot_spots, early_warnings, grid_progress,
)
from gisgrid.db.queries import active_generation, grid_frame
from gisgrid.errors import InputError, NotFound
from gisgrid.maps.choropleth import Classes, classify_indicator
from gisgrid.maps.grid_map import ColourBy, MapSelector
from gisgrid.web.auth import scope
from gisgrid.web.db import get_session
from gisgrid.web.maps import AREA_LEVEL, UNIT_LEVEL, _map_parts
from gisgrid.web.params import arg_text, shown

bp = Blueprint("supervision", __name__)

LEVELS = {str(AREA_LEVEL): "街道/乡镇", str(UNIT_LEVEL): "社区/村"}
HOT = "hot_spots"
#: Fewer complaints than this in the window: the legend says the hot spots mean little.
FEW_COMPLAINTS = 30


@dataclass(frozen=True)
class _HotSpotClasses(Classes):
    """Gi* classes: values are class positions from cold (0) to hot (4); labels read as such."""

    def format_value(self, value: float) -> str:
        index = self.class_of(value)
        return "无数据" if index is None else self.labels[index]


def _hot_spot_method(frame) -> str:
    total = int(frame["complaints"].sum()) if len(frame) else 0
    text = HOT_SPOT_METHOD.format(total=total)
    if total < FEW_COMPLAINTS:
        text += f"；投诉不足 {FEW_COMPLAINTS} 件，热点仅供参考"
    return text


def _hot_spot_colouring(frame) -> ColourBy:
    # HOT_SPOT_CLASSES run hot → cold; the map's classes run low → high.
    order = list(range(len(HOT_SPOT_CLASSES)))[::-1]
    position = {cls: pos for pos, cls in enumerate(order)}
    values = {code: float(position[int(c)]) for code, c in frame["hot_class"].items()}
    counts = tuple(sum(1 for v in values.values() if v == pos) for pos in range(len(order)))
    indicator = Indicator(HOT, "投诉热点", "", True, "近12个月投诉的局部空间聚集")
    classes = _HotSpotClasses(indicator, tuple(float(i) for i in range(len(order))),
                              tuple(HOT_SPOT_CLASSES[c][1] for c in order),
                              tuple(HOT_SPOT_CLASSES[c][0] for c in order), counts, 0)
    return ColourBy(classes, values, target="units", level_label="社区/村",
                    note=_hot_spot_method(frame) + "；右列为网格数")


@bp.get("/supervision")
def progress_page():
    session = get_session()
    generation = active_generation(session)
    if generation is None:
        raise NotFound("尚无启用的网格版本")
    level = arg_text("level", "层级", 4) or str(AREA_LEVEL)
    if level not in LEVELS:
        raise InputError(f"层级（level）为 {shown(level)}；应为 {'、'.join(LEVELS)} 之一")
    show = arg_text("show", "着色", 30) or "overdue"
    if show != HOT and show not in PROGRESS_INDICATORS:
        raise InputError(f"着色（show）为 {shown(show)}；应为 {'、'.join([*PROGRESS_INDICATORS, HOT])} 之一")
    today = clock.today()
    table = grid_progress(session, generation.id, int(level), on=today)
    total = grid_progress(session, generation.id, 1, on=today)
    ids = dict(session.execute(sa.text(
        "SELECT code, id FROM grid WHERE generation_id = :g"), {"g": generation.id}).all())
    sees = scope()
    table = table[[sees.sees_grid(ids[c]) for c in table.index]]
    method = None
    if show == HOT:
        spots = complaint_hot_spots(session, generation.id, on=today)
        colour_by, method = _hot_spot_colouring(spots), _hot_spot_method(spots)
    else:
        indicator = PROGRESS_INDICATORS[show]
        values = {code: float(v) for code, v in table[show].items()}
        colour_by = ColourBy(classify_indicator(table[show].astype(float), indicator), values,
                             target="units" if level == str(UNIT_LEVEL) else "areas",
                             level_label=LEVELS[level])
    choices = [(key, ind.label) for key, ind in PROGRESS_INDICATORS.items()] + [(HOT, "投诉热点（Gi*）")]
    selector = MapSelector(fields=(("show", "着色", tuple(choices), show),
                                   ("level", "层级", tuple(LEVELS.items()), level)))
    parts = _map_parts(grid_frame(session, AREA_LEVEL), grid_frame(session, UNIT_LEVEL), None,
                       title="督办：网格办理情况", colour_by=colour_by, selector=selector, employers=False)
    warnings = [w for w in early_warnings(session, generation.id, on=today)
                if w["grid_code"] in ids and sees.sees_grid(ids[w["grid_code"]])]
    rows = [{"code": code, **{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}}
            for code, r in table.sort_values(["overdue", "complaints_open"], ascending=False).iterrows()]
    totals = None
    if sees.everything and len(total):
        totals = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in total.iloc[0].items()}
    return render_template("supervision.html", parts=parts, rows=rows, totals=totals, level=level,
                           levels=LEVELS, show=show, today=today, warnings=warnings,
                           method=method)
