"""The first four-level risk rule: each rule alone, the highest wins, missing figures never raise."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from gisgrid.analysis.risk import RISK_LEVELS, RiskRules, assess_risk

TODAY = dt.date(2026, 11, 1)
BASE = {"headcount": 100, "contracts_signed": 100, "insured": 100, "wage_arrears_months": 0,
        "fee_arrears_months": 0, "opened_on": dt.date(2010, 1, 1)}


@pytest.mark.parametrize("change, level, rule", [
    ({}, 0, "无异常"),
    ({"wage_arrears_months": 2}, 3, "欠薪2个月及以上"),
    ({"fee_arrears_months": 5}, 3, "欠缴社会保险费2个月及以上"),
    ({"wage_arrears_months": 1}, 1, "存在欠薪或欠费"),
    ({"contracts_signed": 79}, 2, "劳动合同签订率低于80%"),
    ({"insured": 50}, 2, "参保率低于80%"),
    ({"insured": 90}, 1, "参保率低于95%"),
    ({"opened_on": dt.date(2026, 3, 1)}, 1, "新开业（一年内），尚未纳入监管"),
    ({"headcount": None, "contracts_signed": None, "insured": None}, 0, "无异常"),
    ({"headcount": 0, "contracts_signed": 0, "insured": 0}, 0, "无异常"),
])
def test_each_rule(change, level, rule):
    result = assess_risk(pd.DataFrame([{**BASE, **change}]), TODAY).iloc[0]
    assert result["risk_level"] == level
    assert result["risk_rule"].split("；")[0] == rule


def test_highest_level_wins_and_all_reasons_are_kept():
    row = {**BASE, "wage_arrears_months": 3, "insured": 10, "opened_on": dt.date(2026, 6, 1)}
    result = assess_risk(pd.DataFrame([row]), TODAY).iloc[0]
    assert result["risk_level"] == 3
    assert result["risk_rule"].split("；") == [
        "欠薪2个月及以上", "参保率低于80%", "存在欠薪或欠费", "参保率低于95%", "新开业（一年内），尚未纳入监管"]


def test_thresholds_are_settings():
    row = {**BASE, "wage_arrears_months": 2}
    assert assess_risk(pd.DataFrame([row]), TODAY, RiskRules(arrears_months=3)).iloc[0]["risk_level"] == 1


def test_four_levels_with_chinese_labels_and_distinct_colours():
    assert [RISK_LEVELS[k][0] for k in range(4)] == ["低风险", "一般风险", "较高风险", "高风险"]
    assert len({colour for _, colour in RISK_LEVELS.values()}) == 4
