"""The comparison of a plan with the one in force (gisgrid.boundaries.changes): the changes as
events — units moved, grids merged and split, boundaries redrawn — on the map and in a table
with each touched grid's employers, 职工 and 四定 staff before and after. Planners, admins and
leaders (who read the plan before it is published); a user who sees only some grids gets 404.
Beside it the publish form (admins: ``grids.publish``): an effective date, checked by a box that
the changes were read; the answer page says whether the plan switched now or is scheduled, how
many employers changed grid, which 四定 assignments to redo and which grids nobody answers for.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template, request

from gisgrid.analysis.indicators import Indicator
from gisgrid.boundaries.changes import KIND_LABELS, plan_changes
from gisgrid import clock
from gisgrid.boundaries.generations import publish_plan
from gisgrid.db.queries import active_generation, find_generation, grid_frame
from gisgrid.errors import InputError, NotFound
from gisgrid.labels import ROLE_LABELS
from gisgrid.maps.choropleth import Classes
from gisgrid.maps.grid_map import ColourBy
from gisgrid.web.auth import actor_label, scope
from gisgrid.web.db import commit_change, get_session
from gisgrid.web.maps import AREA_LEVEL, UNIT_LEVEL, _map_parts
from gisgrid.web.params import NAME_CHARS, arg_text, check_text, form_date

bp = Blueprint("plan_changes", __name__)

#: Map colours per change, most telling first.
COLOURS = {"move": "#6a3d9a", "merge": "#e31a1c", "split": "#ff7f00", "reshape": "#1f78b4", "added": "#33a02c",
           "rename": "#b15928", "follows": "#a6cee3"}
UNCHANGED = "#eeeeee"


@dataclass(frozen=True)
class _KindClasses(Classes):
    def format_value(self, value: float) -> str:
        index = self.class_of(value)
        return "无数据" if index is None else self.labels[index]


def _colouring(kind_of: dict[str, str], codes: list[str]) -> ColourBy:
    kinds = [*COLOURS, "unchanged"]
    values = {code: float(kinds.index(kind_of.get(code, "unchanged"))) for code in codes}
    counts = tuple(sum(1 for v in values.values() if v == i) for i in range(len(kinds)))
    classes = _KindClasses(Indicator("change", "变化", "", True, "与现行方案相比的变化"),
                           tuple(float(i) for i in range(len(kinds))),
                           tuple([*COLOURS.values(), UNCHANGED]),
                           tuple([*(KIND_LABELS[k] for k in COLOURS), "未变"]), counts, 0)
    return ColourBy(classes, values, target="units", level_label="社区/村",
                    note="社区/村网格与现行方案相比：调整隶属、合并、拆分、调整边界、新增、更名；右列为网格数")


@bp.get("/plans/<generation>/changes")
def changes_page(generation: str):
    session = get_session()
    if not scope().everything:
        raise NotFound(f"generation {generation[:100]!r} does not exist (gisgrid grids list shows them)",
                       zh=f"网格版本“{generation[:100]}”不存在")
    new = find_generation(session, check_text(generation, "网格版本名称", NAME_CHARS))
    against = arg_text("against", "对比的网格版本", NAME_CHARS)
    old = find_generation(session, against) if against else active_generation(session)
    if old is None:
        raise NotFound("尚无现行网格版本可对比")
    report = plan_changes(session, old.name, new.name)
    units = grid_frame(session, UNIT_LEVEL, generation=new.name)
    parts = _map_parts(grid_frame(session, AREA_LEVEL, generation=new.name), units, None,
                       title=f"{new.name} 与 {old.name} 对比", employers=False,
                       colour_by=_colouring(report["kind_of"], list(units["code"])))
    return render_template("plan_changes.html", parts=parts, report=report, new=new, old=old,
                           kind_labels=KIND_LABELS, today=clock.today())


@bp.post("/plans/<generation>/publish")
def publish_plan_form(generation: str):
    """The publish form's answer (the JSON API is ``POST /api/generations/<name>/publish``)."""
    session = get_session()
    name = find_generation(session, check_text(generation, "网格版本名称", NAME_CHARS)).name
    effective = form_date("effective_from", "生效日期")
    if effective is None:
        raise InputError("请填写生效日期（年-月-日，如 2027-01-01）")
    if request.form.get("checked") != "1":
        raise InputError("请先核对本页列出的变化，勾选“已核对”后再发布")
    report = commit_change(lambda: publish_plan(session, name, effective, actor_label()))
    return render_template("plan_published.html", name=name, report=report, staff_roles=ROLE_LABELS)
