"""How the grids are doing with their supervision work — what the level above watches
(Hunjiang: "适时掌控…各网格劳动保障监察案件的办理情况").

Per grid of a level (its own work and that of every grid inside it), on a day:

- ``complaints_open`` / ``complaints_overdue`` — complaints not yet accepted or refused, and
  those of them past their 5-working-day deadline; ``cases_open`` / ``cases_overdue`` — cases
  not closed, and those past their finish date; ``overdue`` both together;
- ``on_time_rate`` — of the clocks judged in the last 12 months, the share met: a clock is
  judged when it was met or missed in the window (decided/closed), *or* is still open and
  past due (an open-and-overdue item counts against the rate at once, it does not wait);
- ``median_accept_days`` / ``median_close_days`` — calendar days from receipt to decision
  and from filing to closing, over those done in the last 12 months;
- ``complaints_12m`` and ``complaints_per_100`` — complaints received in the last 12 months,
  and per 100 employers of the grid;
- ``incidents_open``, ``rectifications_overdue``.

Work is placed by the grid it was routed to; a grid of an older generation counts for the
active grid with the same stable identity (an unchanged grid keeps it across plans).

:func:`early_warnings` lists, per finest grid, what needs attention before it becomes a case:
repeated complaints against one employer, arrears flags newly raised by the latest survey,
overdue work, open incidents. :func:`complaint_hot_spots` runs Getis-Ord Gi* (``esda``) over
the complaint counts of the finest grids.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.analysis.indicators import Indicator

#: The columns of :func:`grid_progress` a map may be coloured by.
PROGRESS_INDICATORS: dict[str, Indicator] = {
    ind.key: ind for ind in (
        Indicator("overdue", "超期未办（投诉+案件）", "件", True, "超过受理期限未受理的投诉与超过办结期限未结的案件"),
        Indicator("on_time_rate", "按期办结率", "%", False,
                  "近12个月按期受理/办结的件数 ÷（已办的件数 + 未办且已超期的件数）"),
        Indicator("complaints_per_100", "每百家单位投诉数", "件", True, "近12个月投诉件数 ÷ 用人单位数 × 100"),
        Indicator("cases_open", "在办案件", "件", True, "尚未结案的案件"),
    )
}

_ITEMS = """
WITH items AS (
    SELECT 'complaint' AS subject, c.grid_id, c.received_on AS start_on, c.decided_on AS done_on,
           c.status <> 'received' AS done, d.due
    FROM complaint c
    LEFT JOIN deadline d ON d.subject = 'complaint' AND d.subject_id = c.id AND d.kind = 'accept'
    UNION ALL
    SELECT 'case', k.grid_id, k.filed_on, k.closed_on, k.status = 'closed', d.due
    FROM case_file k
    LEFT JOIN deadline d ON d.subject = 'case' AND d.subject_id = k.id AND d.kind = 'finish'
)
SELECT now_grid.id AS gid, i.subject, i.start_on, i.done_on, i.done, i.due
FROM items i
JOIN grid then_grid ON then_grid.id = i.grid_id
JOIN grid now_grid ON now_grid.identity = then_grid.identity AND now_grid.generation_id = :gen
"""

_OTHER = """
SELECT now_grid.id AS gid, x.what
FROM (
    SELECT grid_id, 'incident' AS what FROM incident WHERE status = 'open'
    UNION ALL
    SELECT grid_id, 'rectification' FROM rectification WHERE status = 'open' AND due_on < :on
) x
JOIN grid then_grid ON then_grid.id = x.grid_id
JOIN grid now_grid ON now_grid.identity = then_grid.identity AND now_grid.generation_id = :gen
"""


def _grids(session: Session, generation_id: int) -> pd.DataFrame:
    return pd.DataFrame(session.execute(sa.text(
        "SELECT id, code, name, level, parent_id FROM grid WHERE generation_id = :g"),
        {"g": generation_id}).mappings().all(), columns=["id", "code", "name", "level", "parent_id"])


def _ancestor_at(grids: pd.DataFrame, level: int) -> dict[int, int]:
    """grid id → the id of its ancestor (or itself) at ``level``; grids above the level left out."""
    parent = dict(zip(grids["id"], grids["parent_id"]))
    lvl = dict(zip(grids["id"], grids["level"]))
    found = {}
    for gid in grids["id"]:
        node = gid
        while node is not None and not pd.isna(node) and lvl.get(node, -1) > level:
            node = parent.get(node)
        if node is not None and not pd.isna(node) and lvl.get(node) == level:
            found[gid] = int(node)
    return found


def grid_progress(session: Session, generation_id: int, level: int, *, on: dt.date | None = None,
                  employers: pd.Series | None = None) -> pd.DataFrame:
    """One row per grid of ``level`` (index: code) with the columns named in the module doc.

    ``employers`` (employers per grid code of the level) is read from
    :func:`gisgrid.analysis.indicators.grid_indicators` when not given.
    """
    on = on or clock.today()
    year_ago = on - dt.timedelta(days=365)
    grids = _grids(session, generation_id)
    at_level = grids[grids["level"] == level]
    up = _ancestor_at(grids, level)
    code_of = dict(zip(grids["id"], grids["code"]))
    items = pd.DataFrame(session.execute(sa.text(_ITEMS), {"gen": generation_id}).mappings().all(),
                         columns=["gid", "subject", "start_on", "done_on", "done", "due"])
    other = pd.DataFrame(session.execute(sa.text(_OTHER), {"gen": generation_id, "on": on}).mappings().all(),
                         columns=["gid", "what"])
    out = pd.DataFrame(index=pd.Index(at_level["code"], name="code"))
    out["name"] = list(at_level["name"])
    zero = pd.Series(0, index=out.index, dtype="int64")

    def count(frame: pd.DataFrame, mask) -> pd.Series:
        codes = frame.loc[mask, "gid"].map(up).dropna().map(code_of)
        return zero.add(codes.value_counts(), fill_value=0).astype("int64")

    def median(frame: pd.DataFrame, mask) -> pd.Series:
        part = frame.loc[mask]
        codes = part["gid"].map(up).map(code_of)
        days = (pd.to_datetime(part["done_on"]) - pd.to_datetime(part["start_on"])).dt.days
        return days.groupby(codes).median().reindex(out.index)

    if items.empty:
        items = items.astype({"done": bool})
    open_ = ~items["done"].astype(bool)
    past_due = items["due"].notna() & (pd.to_datetime(items["due"]) < pd.Timestamp(on))
    done_recent = items["done"].astype(bool) & (pd.to_datetime(items["done_on"]) > pd.Timestamp(year_ago))
    met = done_recent & items["due"].notna() & (pd.to_datetime(items["done_on"]) <= pd.to_datetime(items["due"]))
    judged = (done_recent & items["due"].notna()) | (open_ & past_due)
    complaint, case = items["subject"] == "complaint", items["subject"] == "case"
    out["complaints_open"] = count(items, complaint & open_)
    out["complaints_overdue"] = count(items, complaint & open_ & past_due)
    out["cases_open"] = count(items, case & open_)
    out["cases_overdue"] = count(items, case & open_ & past_due)
    out["overdue"] = out["complaints_overdue"] + out["cases_overdue"]
    judged_n, met_n = count(items, judged), count(items, met & judged)
    out["judged"] = judged_n
    out["on_time_rate"] = (100.0 * met_n / judged_n.where(judged_n > 0)).round(1)
    out["median_accept_days"] = median(items, complaint & done_recent)
    out["median_close_days"] = median(items, case & done_recent)
    out["complaints_12m"] = count(items, complaint & (pd.to_datetime(items["start_on"]) > pd.Timestamp(year_ago)))
    if employers is None:
        from gisgrid.analysis.indicators import grid_indicators

        employers = grid_indicators(session, generation_id, level)["employers"]
    out["employers"] = employers.reindex(out.index).fillna(0).astype("int64")
    out["complaints_per_100"] = (100.0 * out["complaints_12m"] / out["employers"].where(out["employers"] > 0)).round(2)
    out["incidents_open"] = count(other, other["what"] == "incident")
    out["rectifications_overdue"] = count(other, other["what"] == "rectification")
    return out


def early_warnings(session: Session, generation_id: int, *, on: dt.date | None = None, repeat_days: int = 90,
                   repeat_count: int = 2, arrears_months: int = 2, limit: int = 300) -> list[dict]:
    """What needs attention, per finest grid: ``kind``, ``grid_code``, ``grid_name``, ``text``,
    and the employer or item it is about (``employer_key``, ``link``)."""
    on = on or clock.today()
    found = []
    for r in session.execute(sa.text("""
        SELECT g.code, g.name, e.id, e.credit_code, e.name AS employer, count(*) AS n, max(c.received_on) AS last
        FROM complaint c JOIN employer e ON e.id = c.employer_id
        JOIN assignment a ON a.employer_id = e.id AND a.generation_id = :gen JOIN grid g ON g.id = a.grid_id
        WHERE c.received_on > CAST(:on AS date) - :days AND c.received_on <= :on AND c.status <> 'refused'
        GROUP BY g.code, g.name, e.id, e.credit_code, e.name HAVING count(*) >= :n
        ORDER BY count(*) DESC, max(c.received_on) DESC LIMIT :limit"""),
            {"gen": generation_id, "on": on, "days": repeat_days, "n": repeat_count, "limit": limit}).mappings():
        found.append({"kind": "重复投诉", "grid_code": r["code"], "grid_name": r["name"],
                      "employer_key": r["credit_code"] or r["id"], "employer": r["employer"],
                      "text": f"{repeat_days} 天内被投诉 {r['n']} 次（最近 {r['last']}）"})
    # Arrears newly at or above the key-supervision threshold in the latest survey of the last
    # half year, where the survey before it was below.
    for r in session.execute(sa.text("""
        WITH recent AS (
            SELECT s.employer_id, s.surveyed_on,
                   greatest(coalesce((s.data->>'wage_arrears_months')::numeric, 0),
                            coalesce((s.data->>'fee_arrears_months')::numeric, 0)) AS months,
                   row_number() OVER (PARTITION BY s.employer_id ORDER BY s.id DESC) AS nth
            FROM employer_survey s
            WHERE s.employer_id IN (SELECT employer_id FROM employer_survey
                                    WHERE created_at > CAST(:on AS date) - 183)
        )
        SELECT g.code, g.name, e.id, e.credit_code, e.name AS employer, now_.months, before.months AS before
        FROM recent now_ JOIN recent before ON before.employer_id = now_.employer_id AND before.nth = 2
        JOIN employer e ON e.id = now_.employer_id
        JOIN assignment a ON a.employer_id = e.id AND a.generation_id = :gen JOIN grid g ON g.id = a.grid_id
        WHERE now_.nth = 1 AND now_.months >= :m AND before.months < :m
        ORDER BY now_.months DESC LIMIT :limit"""),
            {"gen": generation_id, "on": on, "m": arrears_months, "limit": limit}).mappings():
        found.append({"kind": "欠薪欠费上升", "grid_code": r["code"], "grid_name": r["name"],
                      "employer_key": r["credit_code"] or r["id"], "employer": r["employer"],
                      "text": f"最近一次调查欠薪/欠费 {r['months']:g} 个月（上次 {r['before']:g} 个月）"})
    for r in session.execute(sa.text("""
        SELECT g.code, g.name, count(*) FILTER (WHERE d.subject = 'complaint') AS complaints,
               count(*) FILTER (WHERE d.subject = 'case') AS cases
        FROM deadline d
        LEFT JOIN complaint c ON d.subject = 'complaint' AND c.id = d.subject_id AND c.status = 'received'
        LEFT JOIN case_file k ON d.subject = 'case' AND k.id = d.subject_id AND k.status <> 'closed'
        JOIN grid then_grid ON then_grid.id = coalesce(c.grid_id, k.grid_id)
        JOIN grid g ON g.identity = then_grid.identity AND g.generation_id = :gen
        WHERE d.closed_on IS NULL AND d.due < :on AND (c.id IS NOT NULL OR k.id IS NOT NULL)
        GROUP BY g.code, g.name ORDER BY count(*) DESC LIMIT :limit"""),
            {"gen": generation_id, "on": on, "limit": limit}).mappings():
        parts = [f"投诉 {r['complaints']} 件超过受理期限" if r["complaints"] else "",
                 f"案件 {r['cases']} 件超过办结期限" if r["cases"] else ""]
        found.append({"kind": "超期", "grid_code": r["code"], "grid_name": r["name"], "employer_key": None,
                      "employer": None, "text": "，".join(p for p in parts if p)})
    for r in session.execute(sa.text("""
        SELECT g.code, g.name, i.id, i.title FROM incident i
        JOIN grid then_grid ON then_grid.id = i.grid_id
        JOIN grid g ON g.identity = then_grid.identity AND g.generation_id = :gen
        WHERE i.status = 'open' ORDER BY i.raised_at DESC LIMIT :limit"""),
            {"gen": generation_id, "limit": limit}).mappings():
        found.append({"kind": "应急事件", "grid_code": r["code"], "grid_name": r["name"], "employer_key": None,
                      "employer": None, "text": f"处置中：{r['title']}", "incident_id": r["id"]})
    return found


#: Gi* classes: (label, colour, test on (z, p)).
HOT_SPOT_CLASSES = (
    ("热点（99% 置信）", "#b2182b", lambda z, p: z > 0 and p <= 0.01),
    ("热点（95% 置信）", "#ef8a62", lambda z, p: z > 0 and p <= 0.05),
    ("不显著", "#f7f7f7", lambda z, p: p > 0.05),
    ("冷点（95% 置信）", "#67a9cf", lambda z, p: z < 0 and 0.01 < p <= 0.05),
    ("冷点（99% 置信）", "#2166ac", lambda z, p: z < 0 and p <= 0.01),
)
HOT_SPOT_METHOD = ("局部 Getis-Ord Gi*（esda.G_Local，star=True）：近12个月投诉件数（共 {total} 件），社区/村网格，"
                   "Queen 邻接（含自身），z 检验双侧")


def gi_star(frame, column: str):
    """(z, p, class index) per row of the GeoDataFrame ``frame`` for the values in ``column``:
    Getis-Ord Gi* over Queen contiguity with each unit in its own neighbourhood (binary
    weights), from esda; p two-sided from the normal distribution of the analytic z-score (as
    ArcGIS's Hot Spot Analysis). esda's permutation p-value is not used: with counts that are
    mostly 0 (most grids have no complaint) every permutation ties with a grid's own value and
    esda's folding counts the ties as "more extreme", calling every empty grid a 99 % cold spot.
    An island (no neighbour) is 不显著."""
    import warnings

    from esda.getisord import G_Local
    from libpysal.weights import Queen
    from scipy.stats import norm

    weights = Queen.from_dataframe(frame, use_index=False, silence_warnings=True)
    y = frame[column].to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        gi = G_Local(y, weights, transform="B", permutations=0, star=True)
    z = np.asarray(gi.Zs, dtype=float)
    p = 2.0 * norm.sf(np.abs(z))
    islands = set(weights.islands)
    classes = []
    for i, (zi, pi) in enumerate(zip(z, p)):
        if i in islands or np.isnan(zi):
            classes.append(2)
            continue
        classes.append(next((k for k, (_, _, test) in enumerate(HOT_SPOT_CLASSES) if test(zi, pi)), 2))
    return z, p, classes


def complaint_hot_spots(session: Session, generation_id: int, *, on: dt.date | None = None) -> pd.DataFrame:
    """Getis-Ord Gi* over the complaints of the last 12 months counted per finest grid.

    Returns one row per finest grid (index: code) with ``complaints``, ``z`` (the Gi* z-score),
    ``p`` (two-sided, normal), ``hot_class``
    (index into :data:`HOT_SPOT_CLASSES`); an island (no neighbour) is 不显著. Empty when there
    are fewer than 3 grids or no complaint at all.
    """
    import geopandas as gpd

    on = on or clock.today()
    frame = gpd.read_postgis(sa.text("""
        SELECT g.code, g.geom,
               (SELECT count(*) FROM complaint c JOIN grid t ON t.id = c.grid_id
                WHERE t.identity = g.identity AND c.received_on > CAST(:on AS date) - 365
                  AND c.received_on <= :on) AS complaints
        FROM grid g WHERE g.generation_id = :gen AND NOT EXISTS (SELECT 1 FROM grid c WHERE c.parent_id = g.id)
        ORDER BY g.code"""), session.connection(), geom_col="geom", params={"gen": generation_id, "on": on})
    if len(frame) < 3 or frame["complaints"].sum() == 0:
        return pd.DataFrame(columns=["complaints", "z", "p", "hot_class"], index=pd.Index([], name="code"))
    z, p, classes = gi_star(frame, "complaints")
    return pd.DataFrame({"complaints": frame["complaints"].to_numpy(), "z": z.round(3), "p": p.round(4),
                         "hot_class": classes}, index=pd.Index(frame["code"], name="code"))
