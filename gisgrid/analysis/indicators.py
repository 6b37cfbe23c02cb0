"""Indicators per grid, for choropleth maps and summaries.

Every indicator is computed over the employers assigned to a grid or to any grid inside
it (the finest grid of each employer, rolled up the parent chain), in one query:

- ``employers`` — number of employers;
- ``risk_share`` — share of employers at risk level 较高 or 高 (2–3) among all employers;
- ``contract_rate`` — labour contracts signed / headcount, over the employers that
  report both (劳动合同签订率);
- ``insured_rate`` — insured / headcount, over the employers that report both
  (社会保险参保率);
- ``stale_share`` — share of employers not surveyed within the stale period (DOMAIN.md:
  the register is refreshed at least every half year), never surveyed included;
- ``headcount`` — workers (职工) of those employers, over the employers that report it;
- ``key_share`` — share of employers under key supervision (重点监管: any key flag);
- ``staff_total`` — 四定 staff in force on the day for the grid or any grid inside it, each
  person once (a street counts its own inspectors and its communities' coordinators).

The same query returns the counts behind them (risk mix ``risk0``–``risk3``, ``key``,
``staff_full_time`` / ``staff_part_time`` / ``staff_coordinator``), which
:mod:`gisgrid.analysis.stats` lays out as the statistics table.

A rate is NaN where its denominator is zero (no employers, or none reporting headcount):
"no data" is not 0 %.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.config import DEFAULT_STALE_MONTHS

__all__ = ["INDICATORS", "Indicator", "grid_indicators", "indicator_by_key"]

STALE_MONTHS = DEFAULT_STALE_MONTHS


@dataclass(frozen=True)
class Indicator:
    """How one indicator reads: label, unit and which end is bad.

    ``worse_when_high`` picks the direction of the colour ramp: dark/red is always the
    end that needs attention.
    """

    key: str
    label: str
    unit: str                # "家" for counts, "%" for shares and rates
    worse_when_high: bool
    description: str

    @property
    def is_share(self) -> bool:
        return self.unit == "%"


INDICATORS: dict[str, Indicator] = {
    ind.key: ind
    for ind in (
        Indicator("employers", "用人单位数", "家", True, "网格内（含下级网格）的用人单位数量"),
        Indicator("risk_share", "较高及以上风险占比", "%", True,
                  "风险等级为较高、高的用人单位占全部用人单位的比例"),
        Indicator("contract_rate", "劳动合同签订率", "%", False,
                  "签订劳动合同人数 ÷ 职工人数（仅计填报了两项的单位）"),
        Indicator("insured_rate", "社会保险参保率", "%", False,
                  "参加社会保险人数 ÷ 职工人数（仅计填报了两项的单位）"),
        Indicator("stale_share", "超期未调查占比", "%", True,
                  "超过调查期限（默认半年）未更新调查的用人单位比例"),
        Indicator("headcount", "职工人数", "人", True, "网格内（含下级网格）用人单位填报的职工人数合计"),
        Indicator("key_share", "重点监管占比", "%", True, "列入重点监管（任一重点监管情形）的用人单位比例"),
        Indicator("staff_total", "四定人员数", "人", False,
                  "当日在岗的四定人员（含下级网格，每人只计一次）"),
    )
}


def indicator_by_key(key: str) -> Indicator:
    """The indicator named ``key``; a clear error naming the choices otherwise.

    Examples
    --------
    >>> indicator_by_key("insured_rate").label
    '社会保险参保率'
    >>> indicator_by_key("x")
    Traceback (most recent call last):
    ...
    ValueError: indicator was 'x'; expected one of employers, risk_share, contract_rate, insured_rate, stale_share, headcount, key_share, staff_total
    """
    try:
        return INDICATORS[key]
    except KeyError:
        raise ValueError(f"indicator was {key!r}; expected one of {', '.join(INDICATORS)}") from None


_SQL = """
WITH RECURSIVE base AS (
    SELECT a.grid_id AS gid,
           count(*) AS employers,
           count(*) FILTER (WHERE e.risk_level >= 2) AS high_risk,
           coalesce(sum(e.headcount) FILTER (WHERE e.headcount > 0 AND e.contracts_signed IS NOT NULL), 0)
               AS contract_base,
           coalesce(sum(least(e.contracts_signed, e.headcount))
                    FILTER (WHERE e.headcount > 0 AND e.contracts_signed IS NOT NULL), 0) AS contracts,
           coalesce(sum(e.headcount) FILTER (WHERE e.headcount > 0 AND e.insured IS NOT NULL), 0)
               AS insured_base,
           coalesce(sum(least(e.insured, e.headcount))
                    FILTER (WHERE e.headcount > 0 AND e.insured IS NOT NULL), 0) AS insured,
           count(*) FILTER (WHERE e.surveyed_on IS NULL OR e.surveyed_on < :cutoff) AS stale,
           coalesce(sum(e.headcount) FILTER (WHERE e.headcount > 0), 0) AS headcount,
           count(*) FILTER (WHERE coalesce(e.risk_level, 0) = 0) AS risk0,
           count(*) FILTER (WHERE e.risk_level = 1) AS risk1,
           count(*) FILTER (WHERE e.risk_level = 2) AS risk2,
           count(*) FILTER (WHERE e.risk_level = 3) AS risk3,
           count(*) FILTER (WHERE coalesce(e.key_flags, '') <> '') AS key
    FROM assignment a JOIN employer e ON e.id = a.employer_id
    WHERE a.generation_id = :gen AND a.grid_id IS NOT NULL
    GROUP BY a.grid_id
),
up AS (
    SELECT * FROM base
    UNION ALL
    SELECT g.parent_id, up.employers, up.high_risk, up.contract_base, up.contracts,
           up.insured_base, up.insured, up.stale, up.headcount, up.risk0, up.risk1, up.risk2, up.risk3, up.key
    FROM up JOIN grid g ON g.id = up.gid
    WHERE g.parent_id IS NOT NULL
)
SELECT g.code,
       coalesce(sum(up.employers), 0)::bigint AS employers,
       coalesce(sum(up.high_risk), 0)::bigint AS high_risk,
       coalesce(sum(up.contract_base), 0)::bigint AS contract_base,
       coalesce(sum(up.contracts), 0)::bigint AS contracts,
       coalesce(sum(up.insured_base), 0)::bigint AS insured_base,
       coalesce(sum(up.insured), 0)::bigint AS insured,
       coalesce(sum(up.stale), 0)::bigint AS stale,
       coalesce(sum(up.headcount), 0)::bigint AS headcount,
       coalesce(sum(up.risk0), 0)::bigint AS risk0,
       coalesce(sum(up.risk1), 0)::bigint AS risk1,
       coalesce(sum(up.risk2), 0)::bigint AS risk2,
       coalesce(sum(up.risk3), 0)::bigint AS risk3,
       coalesce(sum(up.key), 0)::bigint AS key
FROM grid g LEFT JOIN up ON up.gid = g.id
WHERE g.generation_id = :gen AND g.level = :level
GROUP BY g.code
ORDER BY g.code
"""

# 四定 staff rolled up: every grid of the level with the people in force on :on for it or any
# grid inside it, each person counted once per grid and role (a coordinator of two
# communities of one street counts once for the street). Staff hold grids by identity, so an
# assignment survives a new generation.
_STAFF_SQL = """
WITH RECURSIVE below AS (
    SELECT g.id AS top, g.id AS gid FROM grid g WHERE g.generation_id = :gen AND g.level = :level
    UNION ALL
    SELECT b.top, c.id FROM below b JOIN grid c ON c.parent_id = b.gid
)
SELECT t.code,
       count(DISTINCT s.id) FILTER (WHERE s.role = 'full_time') AS staff_full_time,
       count(DISTINCT s.id) FILTER (WHERE s.role = 'part_time') AS staff_part_time,
       count(DISTINCT s.id) FILTER (WHERE s.role NOT IN ('full_time', 'part_time')) AS staff_coordinator,
       count(DISTINCT s.id) AS staff_total
FROM below b
JOIN grid t ON t.id = b.top
JOIN grid g ON g.id = b.gid
JOIN staff_grid sg ON sg.grid_identity = g.identity
     AND (sg.valid_from IS NULL OR sg.valid_from <= :on) AND (sg.valid_to IS NULL OR sg.valid_to >= :on)
JOIN staff s ON s.id = sg.staff_id
GROUP BY t.code
"""

_COUNTS = ["employers", "high_risk", "contract_base", "contracts", "insured_base", "insured", "stale",
           "headcount", "risk0", "risk1", "risk2", "risk3", "key"]
_STAFF = ["staff_full_time", "staff_part_time", "staff_coordinator", "staff_total"]


def grid_indicators(session: Session, generation_id: int, level: int, *,
                    stale_months: int = STALE_MONTHS, today: dt.date | None = None) -> pd.DataFrame:
    """Every indicator for every grid of one level of a generation.

    Parameters
    ----------
    session : Session
        Open session.
    generation_id : int
        The generation whose grids and assignments count.
    level : int
        Grid level (1 city, 2 street/town, 3 community/village, …).
    stale_months : int
        An employer is stale when its last survey is older than this many months.
    today : date, optional
        Reference date for staleness and for the staff in force (default: today).

    Returns
    -------
    DataFrame
        One row per grid, indexed by ``code``: the counts (``employers``, ``high_risk``,
        ``contract_base``, ``contracts``, ``insured_base``, ``insured``, ``stale``,
        ``headcount``, ``risk0``–``risk3``, ``key``, the staff ``staff_full_time``,
        ``staff_part_time``, ``staff_coordinator``, ``staff_total``) and
        one column per key of :data:`INDICATORS`, shares and rates in percent (NaN where
        the denominator is 0).  Contracts and insured above headcount count as the
        headcount (the register import warns about them).

    Examples
    --------
    >>> frame = grid_indicators(session, gen.id, 2)  # doctest: +SKIP
    >>> frame.loc["419901001", ["employers", "insured_rate"]]  # doctest: +SKIP
    employers       1312.0
    insured_rate      83.4
    """
    if stale_months < 1:
        raise ValueError(f"stale_months was {stale_months}; expected at least 1")
    today = today or clock.today()
    cutoff = pd.Timestamp(today) - pd.DateOffset(months=stale_months)
    rows = session.execute(sa.text(_SQL), {"gen": generation_id, "level": level,
                                           "cutoff": cutoff.date()}).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows], columns=["code", *_COUNTS]).set_index("code")
    staff = session.execute(sa.text(_STAFF_SQL), {"gen": generation_id, "level": level,
                                                  "on": today}).mappings().all()
    staff = pd.DataFrame([dict(r) for r in staff], columns=["code", *_STAFF]).set_index("code")
    frame = frame.join(staff).fillna(0).astype("int64")
    frame["risk_share"] = _percent(frame["high_risk"], frame["employers"])
    frame["contract_rate"] = _percent(frame["contracts"], frame["contract_base"])
    frame["insured_rate"] = _percent(frame["insured"], frame["insured_base"])
    frame["stale_share"] = _percent(frame["stale"], frame["employers"])
    frame["key_share"] = _percent(frame["key"], frame["employers"])
    return frame


def _percent(part: pd.Series, whole: pd.Series) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 100.0 * part.to_numpy(float) / whole.to_numpy(float)
    share[whole.to_numpy() == 0] = np.nan
    return pd.Series(share, index=part.index)
