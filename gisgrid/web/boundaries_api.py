"""JSON API for the grid editor: start a draft, the balance, split, merge, move a unit, replace a boundary.

``POST …/drafts`` copies the generation into a new draft (201 with its name); ``GET …/balance``
is the workload per grid by the generation's own boundaries (:mod:`gisgrid.analysis.balance`).
Every edit endpoint edits a draft generation, takes the version(s) the editor saw and
answers with the result and the validation report, or an error (409 with the new
validation errors when the edit would break the coverage, or when someone else
changed the grid first). A refused edit is rolled back before the response.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

import sqlalchemy as sa
from flask import Blueprint, Response, current_app

from gisgrid.boundaries.edit import EditRefused, merge_grids, move_unit, rename_grid, replace_geometry, split_grid
from gisgrid.boundaries.generations import publish_plan
from gisgrid.boundaries.problem_text import describe_zh
from gisgrid.boundaries.validate import public_report, report_geojson, validate_generation
from gisgrid.db.queries import find_generation
from gisgrid.errors import GisgridError, InputError, NotFound
from gisgrid.web.db import get_session
from gisgrid.web.params import (
    CODE_CHARS, NAME_CHARS, arg_int, check_text, shown, field_codes, field_int, field_number, field_text,
    field_versions, json_object,
)

#: The longest grid name an edit may give (the grid table's name column).
GRID_NAME_CHARS = 100

bp = Blueprint("boundaries_api", __name__, url_prefix="/api/generations/<generation>")


def _body() -> dict:
    return json_object()


def _generation(name: str) -> str:
    return check_text(name, "网格版本名称", NAME_CHARS)


def _code(code: str) -> str:
    return check_text(code, "网格编码", CODE_CHARS)


def _actor(body: dict) -> str:
    """The logged-in user: never a name from the request body (an "actor" field there is ignored)."""
    from gisgrid.web.auth import actor_label

    return actor_label()


def _max_vertices() -> int:
    return current_app.config["GISGRID_SETTINGS"].max_edit_vertices


def _in_chinese(items: list[dict]) -> list[dict]:
    """Validation items with a Chinese ``message`` (the CLI's English one kept as ``message_en``)."""
    return [{**item, "message": describe_zh(item), "message_en": item.get("message")} for item in items]


def _report_in_chinese(report: dict) -> dict:
    return {**report, **{key: _in_chinese(report[key]) for key in ("errors", "warnings") if key in report}}


def _run(edit):
    session = get_session()
    try:
        result = edit(session)
        session.commit()
    except GisgridError as exc:
        session.rollback()
        exc.details = _in_chinese(exc.details) if isinstance(exc, EditRefused) else exc.details
        raise
    if isinstance(result, dict) and isinstance(result.get("validation"), dict):
        result["validation"] = _report_in_chinese(result["validation"])
    return result


@bp.post("/drafts")
def draft(generation: str):
    """A new draft copying this generation: ``{"name": …}`` → 201 ``{"generation": name, …}``."""
    from gisgrid.boundaries.generations import copy_generation

    source, body = _generation(generation), _body()
    name = field_text(body, "name", "草稿名称", NAME_CHARS, required=True)
    actor = _actor(body)
    return _run(lambda s: copy_generation(s, source, name, actor=actor)), 201


@bp.post("/publish")
def publish(generation: str):
    """Publish a draft: ``{"effective_from": "YYYY-MM-DD"}`` (required). Today or earlier:
    activated and every employer reassigned now; a later day: scheduled, the current plan stays
    in force until then. The answer lists the 四定 assignments to redo and the grids without staff."""
    name, body = _generation(generation), _body()
    effective = _effective_date(field_text(body, "effective_from", "生效日期", 10, required=True))
    actor = _actor(body)
    return _run(lambda session: publish_plan(session, name, effective, actor))


def _effective_date(raw: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InputError(f"生效日期为 {raw[:20]!r}；应为 YYYY-MM-DD") from None


@bp.get("/balance")
def balance(generation: str):
    """Employers, headcount, 四定 staff, target, deviation and flags per grid (``?level=N``)."""
    from gisgrid.analysis.balance import generation_balance

    generation, level = _generation(generation), arg_int("level", "网格层级", 1, 6)
    session = get_session()
    _whole_plan(generation)
    settings = current_app.config["GISGRID_SETTINGS"]
    return generation_balance(session, generation, level=level, targets=settings.balance_targets,
                              employers_per_coordinator=settings.employers_per_coordinator,
                              rules=settings.staff_minimums)


def _whole_plan(generation: str):
    """The generation, for a user who sees every grid. A plan's balance, validation and locks
    cover every grid: a user who sees only some of them sees no plan (the 404 of a missing one)."""
    from gisgrid.web.auth import scope

    if not scope().everything:
        raise NotFound(f"generation {generation[:100]!r} does not exist (gisgrid grids list shows them)",
                       zh=f"网格版本“{generation[:100]}”不存在")
    return find_generation(get_session(), generation)


@bp.get("/validation")
def validation(generation: str):
    generation = _generation(generation)
    _whole_plan(generation)
    return _report_in_chinese(public_report(validate_generation(get_session(), generation)))


# Validating a city of 2,000 grids takes seconds and every map page asks for it: keep
# the last few reports, keyed by a digest of everything validation reads (a re-import
# may change a boundary without touching versions).
_REPORTS: OrderedDict = OrderedDict()
_REPORTS_LOCK = threading.Lock()
_REPORTS_KEPT = 8


@bp.get("/validation.geojson")
def validation_geojson(generation: str):
    """The validation report as GeoJSON for the map's "边界问题" layer."""
    session = get_session()
    gen = _whole_plan(_generation(generation))
    state = session.execute(sa.text(
        "SELECT count(*), md5(string_agg(concat_ws('|', id, code, name, level, kind, parent_id, "
        "md5(ST_AsBinary(geom))), ',' ORDER BY id)) FROM grid WHERE generation_id = :g"), {"g": gen.id}).one()
    key = (gen.id, *(str(v) for v in state))
    with _REPORTS_LOCK:
        body = _REPORTS.get(key)
    if body is None:
        collection = report_geojson(validate_generation(session, gen.name))
        for feature in collection["features"]:
            feature["properties"] = _in_chinese([feature["properties"]])[0]
        body = json.dumps(collection, ensure_ascii=False)
        with _REPORTS_LOCK:
            _REPORTS[key] = body
            while len(_REPORTS) > _REPORTS_KEPT:
                _REPORTS.popitem(last=False)
    return Response(body, mimetype="application/geo+json")


@bp.get("/locks")
def locks(generation: str):
    """The draft's locked grids: ``{"locks": {code: {"by", "at", "reason"}}}``."""
    from gisgrid.boundaries.locks import grid_locks

    gen = _whole_plan(_generation(generation))
    return {"generation": gen.name, "locks": grid_locks(get_session(), gen.name)}


@bp.post("/locks")
def set_grid_locks(generation: str):
    """``{"codes": [...], "locked": true|false, "reason": "…"}``: lock or unlock grids of the draft.
    A locked grid is refused by every edit, from any browser, the API or the CLI."""
    from gisgrid.boundaries.locks import set_locks

    generation, body = _generation(generation), _body()
    codes = field_codes(body, "codes", "要锁定或解锁的网格")
    locked = body.get("locked")
    if not isinstance(locked, bool):
        raise InputError(f"“locked”为 {shown(locked)}；应为 true（锁定）或 false（解锁）")
    reason = field_text(body, "reason", "锁定原因", NAME_CHARS)
    actor = _actor(body)
    return _run(lambda s: set_locks(s, generation, codes or [], locked=locked, actor=actor, reason=reason))


@bp.post("/grids/<code>/split")
def split(generation: str, code: str):
    return _run(_split_edit(_generation(generation), _code(code), _body()))


def _split_edit(generation: str, code: str, body: dict):
    version, new_codes, actor = field_int(body, "version", "版本号"), field_codes(body, "new_codes", "新编码"), _actor(body)
    names = _names(body, "names", "各部分的名称")
    return lambda s: split_grid(s, generation, code, body.get("line"), version=version,
                                new_codes=new_codes or None, actor=actor, max_vertices=_max_vertices(),
                                names=names, keep_at=body.get("keep_at"))


def _names(body: dict, key: str, what: str) -> list[str] | None:
    """``body[key]`` as a list of grid names (absent: None), each checked like a grid name."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= 100:
        raise InputError(f"{what}（\"{key}\"）为 {shown(value)}；应为 1–100 个名称的列表，如 [\"甲社区\", \"乙社区\"]")
    return [_grid_name(name, f"{what}中的名称") for name in value]


def _grid_name(value: object, what: str) -> str:
    name = check_text(value, what, GRID_NAME_CHARS).strip()
    if not name:
        raise InputError(f"{what}为空；应为网格的名称，如“东风社区”")
    return name


@bp.post("/merge")
def merge(generation: str):
    return _run(_merge_edit(_generation(generation), None, _body()))


def _merge_edit(generation: str, _code_unused, body: dict):
    codes, versions, actor = field_codes(body, "codes", "要合并的网格"), field_versions(body), _actor(body)
    name = None if body.get("name") is None else _grid_name(body["name"], "合并后的名称（\"name\"）")
    recodes = _recodes(body)
    return lambda s: merge_grids(s, generation, codes, versions=versions, actor=actor, name=name, recodes=recodes)


def _recodes(body: dict) -> dict[str, str] | None:
    """``{"recodes": {"现编码": "原编码", …}}``: children of the merged grid given their codes back."""
    value = body.get("recodes")
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 500:
        raise InputError(f"“recodes”为 {shown(value)}；应为 {{\"现编码\": \"原编码\"}}，至多 500 项")
    return {check_text(k, "现编码（recodes）", CODE_CHARS): check_text(v, "原编码（recodes）", CODE_CHARS)
            for k, v in value.items()}


@bp.post("/grids/<code>/rename")
def rename(generation: str, code: str):
    """``{"name": "新风社区", "version": 3}``: the grid's new name (code, boundary and staff stay)."""
    return _run(_rename_edit(_generation(generation), _code(code), _body()))


def _rename_edit(generation: str, code: str, body: dict):
    name = _grid_name(body.get("name"), "新名称（\"name\"）")
    version, actor = field_int(body, "version", "版本号"), _actor(body)
    return lambda s: rename_grid(s, generation, code, name, version=version, actor=actor)


@bp.post("/grids/<code>/move")
def move(generation: str, code: str):
    return _run(_move_edit(_generation(generation), _code(code), _body()))


def _move_edit(generation: str, code: str, body: dict):
    to = field_text(body, "to", "接收网格的编码", CODE_CHARS, required=True)
    new_code = field_text(body, "new_code", "新编码", CODE_CHARS)
    versions, actor = field_versions(body), _actor(body)
    return lambda s: move_unit(s, generation, code, to, versions=versions, new_code=new_code, actor=actor)


@bp.put("/grids/<code>/geometry")
def geometry(generation: str, code: str):
    return _run(_geometry_edit(_generation(generation), _code(code), _body()))


def _geometry_edit(generation: str, code: str, body: dict):
    snap_m = field_number(body, "snap_m", "吸附容差（米）", 0, 100, default=5.0)
    version, actor = field_int(body, "version", "版本号"), _actor(body)
    return lambda s: replace_geometry(s, generation, code, body.get("geometry"), snap_m=snap_m,
                                      version=version, actor=actor, max_vertices=_max_vertices())


#: The edits a batch may hold: {"edit": kind, "code": …, and the fields of that edit's own request}.
_EDITS = {"split": _split_edit, "merge": _merge_edit, "rename": _rename_edit, "move": _move_edit,
          "geometry": _geometry_edit}
_EDITS_MAX = 100


@bp.post("/edits")
def edits(generation: str):
    """``{"edits": [{"edit": "move", "code": "…", "to": "…", "versions": {…}}, …]}``: several edits
    as one — the editor's brush, the undo of a merge of three grids — saved together or not at all.

    Each step is checked as its own request would be. A version given for a grid an earlier step
    of the batch changed is that grid's version before the batch (the page knew no other), so
    it is checked only at the grid's first step."""
    generation, body = _generation(generation), _body()
    items = body.get("edits")
    if not isinstance(items, list) or not 1 <= len(items) <= _EDITS_MAX or not all(isinstance(i, dict) for i in items):
        raise InputError(f"“edits”为 {shown(items)}；应为 1–{_EDITS_MAX} 项编辑的列表，"
                         "如 [{\"edit\": \"move\", \"code\": \"…\", \"to\": \"…\"}]")

    def run(session):
        touched: set[str] = set()
        results = []
        for n, item in enumerate(items, start=1):
            kind = item.get("edit")
            try:
                if kind not in _EDITS:
                    raise InputError(f"edit was {str(kind)[:20]!r}; expected one of {', '.join(_EDITS)}",
                                     zh=f"编辑类型为 {shown(kind)}；应为 {'、'.join(_EDITS)} 之一")
                code = None if kind == "merge" else _code(item.get("code"))
                result = _EDITS[kind](generation, code, _first_versions(item, touched))(session)
            except GisgridError as exc:
                exc.message = f"step {n} of {len(items)} ({kind}): {exc.message}; nothing of the batch was saved"
                exc.zh = f"第 {n} 步（共 {len(items)} 步）未通过：{exc.zh or exc.message}；整组编辑均未保存"
                raise
            touched |= set(result.get("versions", {}))
            results.append(result)
        return {"generation": generation, "edits": results}

    return _run(run)


def _first_versions(item: dict, touched: set[str]) -> dict:
    """``item`` without the versions of grids an earlier step of the batch changed."""
    item = dict(item)
    if item.get("code") in touched:
        item.pop("version", None)
    if isinstance(item.get("versions"), dict):
        item["versions"] = {c: v for c, v in item["versions"].items() if c not in touched}
    return item
