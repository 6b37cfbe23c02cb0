"""``/plan/<generation>`` — the planner's editor: a draft's grids on a map, edited in the browser.

The page is a skeleton: ``static/js/plan.js`` draws the grids it fetches from
``/plan/<generation>/grids.geojson`` (every street and community with its version, the
edit API's version check), the balance from ``GET /api/generations/<name>/balance``, and
sends each edit (move a unit, split, merge, reshape) to the edit API with the CSRF token.
Python passes data only: the URLs and the generation in a JSON block the module reads.

Only those who may edit grids (planners, admins) see the editor or its data: for everyone
else the page does not exist (404, not 403: the drafts of a plan are not announced). An
active or retired plan shows read-only, with the button that starts a draft from it.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Blueprint, Response, render_template, url_for

from gisgrid.access import may
from gisgrid.db.queries import find_generation
from gisgrid.errors import NotFound
from gisgrid.web.auth import current_user
from gisgrid.web.db import get_session
from gisgrid.web.params import NAME_CHARS, check_text

bp = Blueprint("plan", __name__, url_prefix="/plan/<generation>")

#: The levels the editor draws: streets/towns (the grids being balanced) and the
#: communities/villages they are made of (the units a planner moves).
AREA_LEVEL, UNIT_LEVEL = 2, 3
STATUS_LABELS = {"draft": "草稿", "active": "现行", "scheduled": "待生效", "retired": "已停用"}


def _editable_generation(name: str):
    """The generation, for a user who may edit grids; everyone else gets the 404 of a missing page."""
    user = current_user()
    name = check_text(name, "网格版本名称", NAME_CHARS)
    if user is None or not may(user.role, "grids.edit"):
        raise NotFound(f"规划编辑页 {name[:40]!r} 不存在")
    return find_generation(get_session(), name)


@bp.get("")
def editor_page(generation: str):
    gen = _editable_generation(generation)
    editable = gen.status == "draft"
    config = {
        "generation": gen.name,
        "editable": editable,
        "gridsUrl": url_for("plan.grids_data", generation=gen.name),
        "balanceUrl": url_for("boundaries_api.balance", generation=gen.name),
        "checksUrl": url_for("boundaries_api.validation_geojson", generation=gen.name),
        "apiBase": url_for("boundaries_api.balance", generation=gen.name).rsplit("/", 1)[0],
        "draftsUrl": url_for("boundaries_api.draft", generation=gen.name),
        "planUrl": url_for("plan.editor_page", generation="__NAME__"),
        "areaLevel": AREA_LEVEL,
        "unitLevel": UNIT_LEVEL,
    }
    source = get_session().execute(sa.text("SELECT name FROM generation WHERE id = :i"),
                                   {"i": gen.source_id}).scalar() if gen.source_id else None
    return render_template("plan.html", plan=gen, editable=editable, source=source,
                           status_label=STATUS_LABELS.get(gen.status, gen.status),
                           config_json=json.dumps(config, ensure_ascii=False).replace("</", "<\\/"))


_FEATURES = """
SELECT g.code, g.name, g.level, g.kind, g.version, p.code AS parent_code,
       ST_AsGeoJSON(g.geom, 7) AS geometry
FROM grid g LEFT JOIN grid p ON p.id = g.parent_id
WHERE g.generation_id = :gen AND g.level IN (:area, :unit)
ORDER BY g.level, g.code
"""


@bp.get("/grids.geojson")
def grids_data(generation: str):
    """Every street and community of the generation with its version, as GeoJSON (7 decimals: ~1 cm,
    so that a boundary sent back by a reshape or an undo is the one stored)."""
    gen = _editable_generation(generation)
    rows = get_session().execute(sa.text(_FEATURES), {"gen": gen.id, "area": AREA_LEVEL, "unit": UNIT_LEVEL})
    features = [{"type": "Feature", "geometry": json.loads(r.geometry),
                 "properties": {"code": r.code, "name": r.name, "level": r.level, "kind": r.kind,
                                "version": r.version, "parent_code": r.parent_code}} for r in rows]
    body = json.dumps({"type": "FeatureCollection", "generation": gen.name, "features": features},
                      ensure_ascii=False)
    return Response(body, mimetype="application/geo+json")
