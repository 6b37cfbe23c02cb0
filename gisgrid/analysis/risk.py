"""A first four-level risk level from what the employer record shows.

A later issue replaces this with integrity grading (A/B/C) and the key-supervision
flags of DOMAIN.md; until then one function decides, and the rule that fired is
stored beside the level so a person can see why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

# level → (Chinese label, fixed colour). Colours run green → red and stay apart for
# red–green colour-blind readers by lightness as well as hue.
RISK_LEVELS: dict[int, tuple[str, str]] = {
    0: ("低风险", "#2e7d32"),
    1: ("一般风险", "#f9a825"),
    2: ("较高风险", "#ef6c00"),
    3: ("高风险", "#c62828"),
}


@dataclass(frozen=True)
class RiskRules:
    """Thresholds (local settings, not constants)."""

    arrears_months: int = 2          # wage or social-insurance-fee arrears (DOMAIN.md)
    low_rate: float = 0.8            # contract-signing / insurance rate counted as a shortfall
    watch_rate: float = 0.95         # below this a shortfall is worth watching
    new_days: int = 365              # newly opened: not yet under supervision


def assess_risk(records: pd.DataFrame, today: dt.date | None = None,
                rules: RiskRules = RiskRules()) -> pd.DataFrame:
    """Risk level (0–3) and the rule that fired, for each employer record.

    Parameters
    ----------
    records
        Columns ``headcount``, ``contracts_signed``, ``insured``,
        ``wage_arrears_months``, ``fee_arrears_months``, ``opened_on`` (missing
        values allowed: a missing figure never raises the level by itself).
    today
        Reference date for "newly opened"; today when omitted.

    Returns
    -------
    pandas.DataFrame
        Same index, columns ``risk_level`` (int) and ``risk_rule`` (Chinese text of
        every rule that fired, the decisive one first; "无异常" when none did).

    Examples
    --------
    >>> frame = pd.DataFrame({"headcount": [10, 10], "contracts_signed": [10, 5], "insured": [10, 10],
    ...     "wage_arrears_months": [2, 0], "fee_arrears_months": [0, 0], "opened_on": [None, None]})
    >>> assess_risk(frame, dt.date(2026, 11, 1))["risk_level"].tolist()
    [3, 2]
    """
    today = today or dt.date.today()
    n = len(records)
    col = lambda name: pd.to_numeric(records.get(name, pd.Series([np.nan] * n, index=records.index)),  # noqa: E731
                                     errors="coerce")
    head = col("headcount").where(lambda s: s > 0)
    contract_rate = col("contracts_signed") / head
    insured_rate = col("insured") / head
    wage, fee = col("wage_arrears_months").fillna(0), col("fee_arrears_months").fillna(0)
    opened = pd.to_datetime(records.get("opened_on", pd.Series([None] * n, index=records.index)),
                            errors="coerce")
    new = (pd.Timestamp(today) - opened).dt.days.between(0, rules.new_days)

    checks = [  # (level, mask, reason): highest level first
        (3, wage >= rules.arrears_months, f"欠薪{rules.arrears_months}个月及以上"),
        (3, fee >= rules.arrears_months, f"欠缴社会保险费{rules.arrears_months}个月及以上"),
        (2, contract_rate < rules.low_rate, f"劳动合同签订率低于{rules.low_rate:.0%}"),
        (2, insured_rate < rules.low_rate, f"参保率低于{rules.low_rate:.0%}"),
        (1, (wage > 0) | (fee > 0), "存在欠薪或欠费"),
        (1, contract_rate < rules.watch_rate, f"劳动合同签订率低于{rules.watch_rate:.0%}"),
        (1, insured_rate < rules.watch_rate, f"参保率低于{rules.watch_rate:.0%}"),
        (1, new.fillna(False), "新开业（一年内），尚未纳入监管"),
    ]
    level = pd.Series(0, index=records.index, dtype="int16")
    reasons = pd.Series([[] for _ in range(n)], index=records.index, dtype=object)
    for lvl, mask, reason in checks:
        mask = mask.fillna(False).astype(bool)
        level = level.where(~mask | (level >= lvl), lvl)
        for idx in mask.index[mask]:
            reasons[idx].append(reason)
    rule = reasons.map(lambda r: "；".join(r) if r else "无异常")
    return pd.DataFrame({"risk_level": level.astype(int), "risk_rule": rule}, index=records.index)
