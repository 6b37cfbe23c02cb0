"""Risk from the record: each rule alone, the highest wins, reasons and key-supervision flags kept."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from gisgrid.analysis.risk import KEY_FLAGS, RISK_LEVELS, RiskRules, assess_risk, normalise_grade

TODAY = dt.date(2026, 11, 1)
BASE = {"headcount": 100, "contracts_signed": 100, "insured": 100, "wage_arrears_months": 0,
        "fee_arrears_months": 0, "opened_on": dt.date(2010, 1, 1), "complaints_12m": 0, "integrity_grade": "A"}


@pytest.mark.parametrize("change, level, rule, flag", [
    ({}, 0, "无异常", None),
    ({"wage_arrears_months": 2}, 3, "欠薪2个月及以上", "arrears"),
    ({"fee_arrears_months": 5}, 3, "欠缴社会保险费2个月及以上", "arrears"),
    ({"complaints_12m": 2}, 3, "12个月内投诉2次及以上", "complaints"),
    ({"integrity_grade": "C"}, 3, "诚信等级C级", "grade"),
    ({"integrity_grade": "D"}, 3, "诚信等级D级", "grade"),
    ({"complaints_12m": 1}, 2, "12个月内有投诉", None),
    ({"wage_arrears_months": 1}, 2, "存在欠薪或欠费", None),
    ({"contracts_signed": 79}, 2, "劳动合同签订率低于80%", None),
    ({"insured": 50}, 2, "参保率低于80%", None),
    ({"insured": 90}, 1, "参保率低于95%", None),
    ({"integrity_grade": "B"}, 1, "诚信等级B级", None),
    ({"opened_on": dt.date(2026, 3, 1)}, 1, "新开业（一年内），尚未纳入监管", "new"),
    ({"headcount": None, "contracts_signed": None, "insured": None}, 0, "无异常", None),
    ({"headcount": 0, "contracts_signed": 0, "insured": 0}, 0, "无异常", None),
    ({"complaints_12m": None, "integrity_grade": None}, 0, "无异常", None),
])
def test_each_rule(change, level, rule, flag):
    result = assess_risk(pd.DataFrame([{**BASE, **change}]), TODAY).iloc[0]
    assert result["risk_level"] == level
    assert result["risk_rule"].split("；")[0] == rule
    assert result["key_flags"] == (KEY_FLAGS[flag] if flag else None)


def test_highest_level_wins_and_all_reasons_and_flags_are_kept():
    row = {**BASE, "wage_arrears_months": 3, "insured": 10, "opened_on": dt.date(2026, 6, 1),
           "complaints_12m": 4, "integrity_grade": "C"}
    result = assess_risk(pd.DataFrame([row]), TODAY).iloc[0]
    assert result["risk_level"] == 3
    assert result["risk_rule"].split("；") == [
        "欠薪2个月及以上", "12个月内投诉2次及以上", "诚信等级C级", "参保率低于80%", "参保率低于95%",
        "新开业（一年内），尚未纳入监管"]
    assert result["key_flags"].split("；") == [KEY_FLAGS[k] for k in ("new", "arrears", "complaints", "grade")]
    assert (result["contract_rate"], result["insured_rate"]) == (1.0, 0.1)


def test_thresholds_are_settings():
    row = {**BASE, "wage_arrears_months": 2, "complaints_12m": 2}
    result = assess_risk(pd.DataFrame([row]), TODAY, RiskRules(arrears_months=3, complaints=3)).iloc[0]
    assert result["risk_level"] == 2 and result["key_flags"] is None


def test_grade_scheme_is_a_setting():
    grades, bad = normalise_grade(pd.Series(["a", "D级", "E"]))
    assert grades.tolist() == ["A", None, None] and bad.tolist() == [False, True, True]
    grades, bad = normalise_grade(pd.Series(["D级"]), RiskRules(grades="ABCD"))
    assert grades.tolist() == ["D"] and not bad.any()
    with pytest.raises(ValueError, match="expected 'ABC' or 'ABCD'"):
        RiskRules(grades="ABCDE")


def test_four_levels_with_chinese_labels_and_distinct_colours():
    assert [RISK_LEVELS[k][0] for k in range(4)] == ["低风险", "一般风险", "较高风险", "高风险"]
    assert len({colour for _, colour in RISK_LEVELS.values()}) == 4
