"""The statistics table per grid (网格统计表): one row per grid of a level, the parent's totals.

Every column is rolled up: a grid counts its own employers, staff, complaints and cases and
those of every grid inside it. The employer counts, rates and the 四定 staff come from
:func:`gisgrid.analysis.indicators.grid_indicators` (one query per level); open and overdue
complaints and cases are counted here, as the complaint and case lists count them
(:mod:`gisgrid.supervision.complaints`, :mod:`gisgrid.supervision.cases`): a complaint is
open while it waits for the decision (待受理) and overdue when its acceptance day has passed;
a case is open until closed and overdue when its finish day (with any extension) has passed.

Counting the same query at the parent's level gives the totals row, so a street's 四定 total
holds its own inspectors beside its communities' coordinators, and a person who answers for
two grids counts once in the total.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Collection

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.analysis.indicators import INDICATORS, STALE_MONTHS, grid_indicators
from gisgrid.errors import InputError, NotFound

__all__ = ["STAT_COLUMNS", "SUPERVISION_COLOURS", "StatColumn", "GridStatistics", "grid_statistics"]


@dataclass(frozen=True)
class StatColumn:
    """One column of the table: its key in the frame, heading, unit and group.

    ``colour`` is the map indicator that colours the city map by this column
    (:data:`gisgrid.analysis.indicators.INDICATORS`, or for complaints and cases one of
    :data:`gisgrid.analysis.progress.PROGRESS_INDICATORS`, which the map offers only to those
    who may read cases), or None where the map has none.
    """

    key: str
    label: str
    unit: str            # "家", "人", "件" or "%"
    group: str
    colour: str | None = None

    @property
    def is_share(self) -> bool:
        return self.unit == "%"

    def format(self, value) -> str:
        """The cell text: ``83.4%``, ``1,312``; ``—`` where a rate has no data."""
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "—"
        return f"{value:.1f}%" if self.is_share else f"{int(value):,}"


STAT_COLUMNS: tuple[StatColumn, ...] = (
    StatColumn("employers", "用人单位", "家", "基本情况", "employers"),
    StatColumn("headcount", "职工人数", "人", "基本情况", "headcount"),
    StatColumn("contract_rate", "劳动合同签订率", "%", "基本情况", "contract_rate"),
    StatColumn("insured_rate", "社会保险参保率", "%", "基本情况", "insured_rate"),
    StatColumn("risk0", "低风险", "家", "风险等级", "risk_share"),
    StatColumn("risk1", "一般风险", "家", "风险等级", "risk_share"),
    StatColumn("risk2", "较高风险", "家", "风险等级", "risk_share"),
    StatColumn("risk3", "高风险", "家", "风险等级", "risk_share"),
    StatColumn("risk_share", "较高及以上占比", "%", "风险等级", "risk_share"),
    StatColumn("key", "重点监管", "家", "监管", "key_share"),
    StatColumn("key_share", "重点监管占比", "%", "监管", "key_share"),
    StatColumn("stale_share", "超期未调查占比", "%", "监管", "stale_share"),
    StatColumn("staff_full_time", "专职监察员", "人", "四定人员", "staff_total"),
    StatColumn("staff_part_time", "兼职监察员", "人", "四定人员", "staff_total"),
    StatColumn("staff_coordinator", "协管员", "人", "四定人员", "staff_total"),
    StatColumn("staff_total", "四定合计", "人", "四定人员", "staff_total"),
    StatColumn("complaints_open", "待受理投诉", "件", "投诉案件"),
    StatColumn("complaints_overdue", "超期未受理", "件", "投诉案件", "overdue"),
    StatColumn("cases_open", "在办案件", "件", "投诉案件", "cases_open"),
    StatColumn("cases_overdue", "超期案件", "件", "投诉案件", "overdue"),
)
#: Map indicators of the supervision figures (the map offers them to case readers only).
SUPERVISION_COLOURS = frozenset({"overdue", "cases_open"})
assert all(c.colour is None or c.colour in INDICATORS or c.colour in SUPERVISION_COLOURS for c in STAT_COLUMNS)

_SUPERVISION = ["complaints_open", "complaints_overdue", "cases_open", "cases_overdue"]

# Complaints and cases keep the grid they were routed to; a grid's identity survives a new
# generation, so they are counted on the grid of the same identity in the asked generation.
_SUPERVISION_SQL = """
WITH RECURSIVE below AS (
    SELECT g.id AS top, g.id AS gid FROM grid g WHERE g.generation_id = :gen AND g.level = :level
    UNION ALL
    SELECT b.top, c.id FROM below b JOIN grid c ON c.parent_id = b.gid
),
items AS (
    SELECT g.identity, 'complaint' AS kind, c.status = 'received' AS open, d.due
    FROM complaint c JOIN grid g ON g.id = c.grid_id
    LEFT JOIN deadline d ON d.subject = 'complaint' AND d.subject_id = c.id AND d.kind = 'accept'
    UNION ALL
    SELECT g.identity, 'case', k.status <> 'closed', d.due
    FROM case_file k JOIN grid g ON g.id = k.grid_id
    LEFT JOIN deadline d ON d.subject = 'case' AND d.subject_id = k.id AND d.kind = 'finish'
)
SELECT t.code,
       count(*) FILTER (WHERE i.kind = 'complaint' AND i.open) AS complaints_open,
       count(*) FILTER (WHERE i.kind = 'complaint' AND i.open AND i.due < :on) AS complaints_overdue,
       count(*) FILTER (WHERE i.kind = 'case' AND i.open) AS cases_open,
       count(*) FILTER (WHERE i.kind = 'case' AND i.open AND i.due < :on) AS cases_overdue
FROM below b
JOIN grid t ON t.id = b.top
JOIN grid g ON g.id = b.gid
JOIN items i ON i.identity = g.identity
GROUP BY t.code
"""


@dataclass
class GridStatistics:
    """The table: ``rows`` (one per grid, indexed by code, with ``name``, ``parent_code``,
    ``parent_name`` and a column per :data:`STAT_COLUMNS` key) and the ``total`` row of
    ``parent`` (the grid they lie in), or of the whole generation when there is no parent."""

    generation: str
    level: int
    on: dt.date
    parent: dict | None
    rows: pd.DataFrame
    total: dict
    columns: tuple[StatColumn, ...] = field(default=STAT_COLUMNS)

    @property
    def level_label(self) -> str:
        kinds = self.rows["kind_label"].dropna().unique().tolist()
        return "、".join(kinds[:3]) or f"第{self.level}级网格"


def grid_statistics(session: Session, generation_id: int, level: int | None = None, *,
                    within: str | None = None, today: dt.date | None = None,
                    stale_months: int = STALE_MONTHS, keep: Collection[int] | None = None) -> GridStatistics:
    """The statistics of every grid of ``level`` inside grid ``within`` (or the generation).

    Parameters
    ----------
    generation_id : int
        The generation whose grids, assignments and staff count.
    level : int, optional
        Level of the rows; default the level below ``within``, or 2 (streets/towns).
    within : str, optional
        Code of the grid the rows lie in; its own figures are the totals row.
    today : date, optional
        The day staff are in force and deadlines are compared with (default today).
    keep : collection of int, optional
        Only the grids of these ids (a user's scope); when the parent is not among them the
        totals are the sum of the rows kept.

    Returns
    -------
    GridStatistics

    Examples
    --------
    >>> stats = grid_statistics(session, gen.id, 2)               # doctest: +SKIP
    >>> stats.parent["name"], int(stats.total["staff_total"])     # doctest: +SKIP
    ('示范市', 563)
    >>> grid_statistics(session, gen.id, 9)                       # doctest: +SKIP
    Traceback (most recent call last):
    gisgrid.errors.InputError: 层级为 9；本网格版本有第 1、2、3 级
    """
    today = today or clock.today()
    grids = _read_grids(session, generation_id)
    levels = sorted(grids["level"].unique().tolist())
    parent = None
    if within is not None:
        match = grids[grids["code"] == within]
        if match.empty:
            raise NotFound(f"网格 {within!r} 不存在")
        parent = match.iloc[0].to_dict()
    if parent is not None and parent["level"] >= levels[-1]:
        raise InputError(f"网格 {within} 是第 {parent['level']} 级（最细一级），没有下级网格可统计；"
                         f"请给出第 1–{levels[-1] - 1} 级网格的编码")
    if level is None:
        level = (int(parent["level"]) + 1) if parent is not None else min(2, levels[-1])
    if level not in levels:
        raise InputError(f"层级为 {level!r}；本网格版本有第 {'、'.join(map(str, levels))} 级")
    if parent is not None and level <= parent["level"]:
        raise InputError(f"网格 {within} 是第 {parent['level']} 级；层级为 {level}，应为 "
                         f"{parent['level'] + 1}–{levels[-1]} 之一（其下级网格）")
    if parent is None and level > 1 and (grids["level"] == 1).sum() == 1:
        parent = grids[grids["level"] == 1].iloc[0].to_dict()  # the city: its totals row
    rows = _figures(session, generation_id, level, today, stale_months)
    inside = _descendants(grids, parent["id"]) if parent is not None else set(grids["id"])
    mine = grids[(grids["level"] == level) & grids["id"].isin(inside)].set_index("code")
    if keep is not None:
        mine = mine[mine["id"].isin(set(keep))]
        if parent is not None and parent["id"] not in set(keep):
            parent = None
    rows = mine[["id", "name", "kind_label", "parent_code", "parent_name"]].join(rows, how="left")
    if parent is not None:
        top = _figures(session, generation_id, int(parent["level"]), today, stale_months)
        total = {"code": parent["code"], "name": parent["name"], **top.loc[parent["code"]].to_dict()}
    else:
        total = {"code": "", "name": "合计", **_summed(rows)}
    name = session.execute(sa.text("SELECT name FROM generation WHERE id = :g"), {"g": generation_id}).scalar()
    return GridStatistics(generation=name, level=level, on=today, parent=parent, rows=rows, total=total)


def _figures(session: Session, generation_id: int, level: int, today: dt.date, stale_months: int) -> pd.DataFrame:
    frame = grid_indicators(session, generation_id, level, stale_months=stale_months, today=today)
    extra = session.execute(sa.text(_SUPERVISION_SQL), {"gen": generation_id, "level": level,
                                                        "on": today}).mappings().all()
    extra = pd.DataFrame([dict(r) for r in extra], columns=["code", *_SUPERVISION]).set_index("code")
    return frame.join(extra).fillna({k: 0 for k in _SUPERVISION}).astype({k: "int64" for k in _SUPERVISION})


def _read_grids(session: Session, generation_id: int) -> pd.DataFrame:
    from gisgrid.labels import KIND_LABELS

    rows = session.execute(sa.text("""
        SELECT g.id, g.code, g.name, g.level, g.kind, g.parent_id, p.code AS parent_code, p.name AS parent_name
        FROM grid g LEFT JOIN grid p ON p.id = g.parent_id
        WHERE g.generation_id = :gen ORDER BY g.level, g.code"""), {"gen": generation_id}).mappings().all()
    if not rows:
        raise NotFound(f"网格版本 {generation_id} 没有网格")
    frame = pd.DataFrame([dict(r) for r in rows])
    frame["kind_label"] = frame["kind"].map(lambda k: KIND_LABELS.get(k, k))
    return frame


def _descendants(grids: pd.DataFrame, grid_id: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for gid, pid in zip(grids["id"], grids["parent_id"]):
        if pid is not None and not pd.isna(pid):
            children.setdefault(int(pid), []).append(int(gid))
    found, todo = set(), [int(grid_id)]
    while todo:
        node = todo.pop()
        for child in children.get(node, ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _summed(rows: pd.DataFrame) -> dict:
    """Totals of rows with no common parent: counts added, rates of the added counts."""
    keys = ["employers", "high_risk", "contract_base", "contracts", "insured_base", "insured", "stale",
            "headcount", "risk0", "risk1", "risk2", "risk3", "key", "staff_full_time", "staff_part_time",
            "staff_coordinator", "staff_total", *_SUPERVISION]
    total = {k: int(rows[k].sum()) for k in keys}

    def share(part, whole):
        return 100.0 * total[part] / total[whole] if total[whole] else float("nan")

    total.update(risk_share=share("high_risk", "employers"), contract_rate=share("contracts", "contract_base"),
                 insured_rate=share("insured", "insured_base"), stale_share=share("stale", "employers"),
                 key_share=share("key", "employers"))
    return total
