"""Risk from the employer record: integrity grade, key-supervision flags, a four-level risk level.

DOMAIN.md: employers carry a yearly integrity grade (A/B/C under 人社部规〔2016〕1号, A–D in
older local schemes); key supervision (重点监管) applies to any employer that is newly opened
or not yet under supervision, has wage or social-insurance-fee arrears of 2 months or more,
had 2 or more complaints within a year, or is graded C or worse. The map needs one of four
levels; the reasons behind it are kept beside it so a person can see why.

The levels:

* 3 高风险 — a serious key-supervision flag: arrears ≥ 2 months, ≥ 2 complaints in 12 months,
  grade C or worse;
* 2 较高风险 — contract-signing or insurance rate below 80 %, one complaint, arrears of one month;
* 1 一般风险 — newly opened (key supervision, but nothing wrong found yet),
  a rate below 95 %, grade B;
* 0 低风险 — none of these.

Every threshold is a setting (:class:`RiskRules`), never a constant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gisgrid import clock

# level → (Chinese label, fixed colour). Colours run green → red and stay apart for
# red–green colour-blind readers by lightness as well as hue.
RISK_LEVELS: dict[int, tuple[str, str]] = {
    0: ("低风险", "#2e7d32"),
    1: ("一般风险", "#f9a825"),
    2: ("较高风险", "#ef6c00"),
    3: ("高风险", "#c62828"),
}

# Key-supervision flags (重点监管, DOMAIN.md) as stored in employer.key_flags.
KEY_FLAGS = {
    "new": "新开业或尚未纳入监管",
    "arrears": "欠薪或欠费2个月及以上",
    "complaints": "12个月内投诉2次及以上",
    "grade": "诚信等级C级及以下",
    "petition": "12个月内发生集体上访",
}


@dataclass(frozen=True)
class RiskRules:
    """Thresholds (local settings, not constants)."""

    arrears_months: int = 2          # wage or social-insurance-fee arrears (DOMAIN.md)
    complaints: int = 2              # complaints within 12 months
    low_rate: float = 0.8            # contract-signing / insurance rate counted as a shortfall
    watch_rate: float = 0.95         # below this a shortfall is worth watching
    new_days: int = 365              # newly opened: not yet under supervision
    grades: str = "ABC"              # "ABC" (人社部规〔2016〕1号) or "ABCD" (older local schemes)

    def __post_init__(self) -> None:
        if self.grades not in ("ABC", "ABCD"):
            raise ValueError(f"grades was {self.grades!r}; expected 'ABC' or 'ABCD'")


def normalise_grade(values: pd.Series, rules: RiskRules = RiskRules()) -> tuple[pd.Series, pd.Series]:
    """Upper-case integrity grades; return (grades, mask of values that are not a grade of the scheme).

    Examples
    --------
    >>> grades, bad = normalise_grade(pd.Series(["a", " C", "", "D", None]))
    >>> grades.tolist(), bad.tolist()
    (['A', 'C', None, None, None], [False, False, False, True, False])
    """
    # Few distinct values: normalise each once, then map (fast on a million rows).
    raw = values.astype(object).where(values.notna(), None)
    clean = {v: (v.strip().upper().rstrip("级") or None) if isinstance(v, str) else None for v in raw.unique()}
    text = raw.map(clean)
    bad = text.notna() & ~text.isin(list(rules.grades))
    return text.where(~bad, None).astype(object).where(lambda s: s.notna(), None), bad.astype(bool)


def assess_risk(records: pd.DataFrame, today: dt.date | None = None,
                rules: RiskRules = RiskRules()) -> pd.DataFrame:
    """Risk level (0–3), its reasons, the key-supervision flags and the rates of each record.

    Parameters
    ----------
    records
        Columns ``headcount``, ``contracts_signed``, ``insured``, ``wage_arrears_months``,
        ``fee_arrears_months``, ``opened_on`` and optionally ``complaints_12m``,
        ``petitions_12m`` (collective petitions, gisgrid.supervision.incidents) and
        ``integrity_grade`` (missing values allowed: a missing figure never raises the
        level by itself). Employers not under supervision at all are the ones missing
        from the register: :mod:`gisgrid.employers.compare` finds them.
    today
        Reference date for "newly opened"; today when omitted.
    rules
        Thresholds and the grade scheme.

    Returns
    -------
    pandas.DataFrame
        Same index; ``risk_level`` (int), ``risk_rule`` (Chinese text of every reason, the
        decisive one first; "无异常" when none), ``key_flags`` (the 重点监管 flags that apply,
        "；"-joined, or None), ``contract_rate`` and ``insured_rate`` (None without headcount).

    Examples
    --------
    >>> frame = pd.DataFrame({"headcount": [10, 10, 10], "contracts_signed": [10, 5, 10],
    ...     "insured": [10, 10, 10], "wage_arrears_months": [2, 0, 0], "fee_arrears_months": [0, 0, 0],
    ...     "opened_on": [None, None, None], "integrity_grade": [None, None, "C"]})
    >>> result = assess_risk(frame, dt.date(2026, 11, 1))
    >>> result["risk_level"].tolist(), result["key_flags"].tolist()
    ([3, 2, 3], ['欠薪或欠费2个月及以上', None, '诚信等级C级及以下'])
    """
    today = today or clock.today()
    n = len(records)
    missing = pd.Series([np.nan] * n, index=records.index)
    col = lambda name: pd.to_numeric(records.get(name, missing), errors="coerce")  # noqa: E731
    head = col("headcount").where(lambda s: s > 0)
    contract_rate = col("contracts_signed") / head
    insured_rate = col("insured") / head
    wage, fee = col("wage_arrears_months").fillna(0), col("fee_arrears_months").fillna(0)
    complaints = col("complaints_12m").fillna(0)
    petitions = col("petitions_12m").fillna(0)
    opened = pd.to_datetime(records.get("opened_on", missing), errors="coerce")
    new = (pd.Timestamp(today) - opened).dt.days.between(0, rules.new_days)
    grade = records.get("integrity_grade", pd.Series([None] * n, index=records.index, dtype=object))
    grade = grade.astype(object).map({g: g.strip().upper() if isinstance(g, str) else None
                                      for g in grade.astype(object).unique()})
    worst = grade.isin(["C", "D"])
    arrears = (wage >= rules.arrears_months) | (fee >= rules.arrears_months)
    many_complaints = complaints >= rules.complaints

    checks = [  # (level, mask, reason): highest level first
        (3, wage >= rules.arrears_months, f"欠薪{rules.arrears_months}个月及以上"),
        (3, fee >= rules.arrears_months, f"欠缴社会保险费{rules.arrears_months}个月及以上"),
        (3, many_complaints, f"12个月内投诉{rules.complaints}次及以上"),
        (3, petitions > 0, "12个月内发生集体上访"),
        (3, grade == "D", "诚信等级D级"),
        (3, grade == "C", "诚信等级C级"),
        (2, contract_rate < rules.low_rate, f"劳动合同签订率低于{rules.low_rate:.0%}"),
        (2, insured_rate < rules.low_rate, f"参保率低于{rules.low_rate:.0%}"),
        (2, (complaints > 0) & ~many_complaints, "12个月内有投诉"),
        (2, ((wage > 0) | (fee > 0)) & ~arrears, "存在欠薪或欠费"),
        (1, contract_rate < rules.watch_rate, f"劳动合同签订率低于{rules.watch_rate:.0%}"),
        (1, insured_rate < rules.watch_rate, f"参保率低于{rules.watch_rate:.0%}"),
        (1, grade == "B", "诚信等级B级"),
        (1, new.fillna(False), "新开业（一年内），尚未纳入监管"),
    ]
    level = pd.Series(0, index=records.index, dtype="int16")
    reasons = pd.Series([None] * n, index=records.index, dtype=object)
    for lvl, mask, reason in checks:
        mask = mask.fillna(False).astype(bool)
        level = level.where(~mask | (level >= lvl), lvl)
        # Only flagged rows are touched: most employers have nothing to say.
        reasons[mask] = reasons[mask].map(lambda r, reason=reason: reason if r is None else f"{r}；{reason}")
    flags = pd.Series([None] * n, index=records.index, dtype=object)
    for key, mask in (("new", new.fillna(False)), ("arrears", arrears),
                      ("complaints", many_complaints), ("grade", worst), ("petition", petitions > 0)):
        mask = mask.fillna(False).astype(bool)
        label = KEY_FLAGS[key]
        flags[mask] = flags[mask].map(lambda f, label=label: label if f is None else f"{f}；{label}")
    rate = lambda s: s.round(4).astype(object).where(s.notna(), None)  # noqa: E731
    return pd.DataFrame({"risk_level": level.astype(int), "risk_rule": reasons.fillna("无异常"),
                         "key_flags": flags, "contract_rate": rate(contract_rate),
                         "insured_rate": rate(insured_rate)}, index=records.index)
