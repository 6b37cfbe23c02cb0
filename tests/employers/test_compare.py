"""Data comparison against another department's list, by credit code, per grid."""

from __future__ import annotations

import json

from gisgrid.employers.identifiers import make_credit_code
from tests.employers.test_place import ADDRESS_ROWS, _write


def test_compare_finds_missing_gone_and_insurance_gaps(grids, run_cli, tmp_path, engine):
    run_cli("employers", "import", _write(tmp_path / "r.csv", ADDRESS_ROWS), "--commit")
    listed = tmp_path / "社保名录.csv"
    listed.write_bytes((
        "单位名称,统一社会信用代码,地址,参保人数\n"
        f"向阳社区的店,{make_credit_code('419999', 1)},,3\n"             # in both; 5 staff, 3 insured
        f"西河镇的厂,{make_credit_code('419999', 2).lower()},,5\n"       # in both, no gap
        f"新开的厂,{make_credit_code('419999', 50)},测试市东风街道东风社区纬一路3号,8\n"   # 未纳入监管, placed
        f"外来的店,{make_credit_code('419999', 51)},别处,1\n"             # 未纳入监管, not placed
    ).encode("gbk"))
    result = json.loads(run_cli("employers", "compare", listed, "--json").output)
    assert result["summary"] == {"list_rows": 4, "compared": 4, "in_both": 2, "not_in_register": 2,
                                 "not_in_register_placed": 1, "not_in_list": 2, "insurance_gaps": 1,
                                 "closed_not_in_register": 0, "closed_in_register": 0}
    missing = {m["name"]: m for m in result["not_in_register"]}
    assert missing["新开的厂"]["grid_code"] == "419999001001" and missing["外来的店"]["grid_code"] is None
    assert {m["name"] for m in result["not_in_list"]} == {"无处可寻", "城外的厂"}
    assert result["insurance_gaps"] == [{
        "credit_code": make_credit_code("419999", 1), "name": "向阳社区的店", "grid_code": "419999001002",
        "grid_name": "向阳社区", "headcount": 5, "insured_in_list": 3, "insured_in_register": None, "gap": 2}]
    by_grid = {g["grid_code"]: g for g in result["by_grid"]}
    assert by_grid["419999001001"]["not_in_register"] == 1 and by_grid["419999001002"]["insurance_gaps"] == 1
    assert by_grid[None]["not_in_list"] == 2
    assert "未纳入监管" in run_cli("employers", "compare", listed).output


def test_closed_firms_are_no_gap_and_those_still_on_file_are_listed(grids, run_cli, tmp_path, engine):
    run_cli("employers", "import", _write(tmp_path / "r.csv", ADDRESS_ROWS), "--commit")
    listed = tmp_path / "市场监管名录.csv"
    listed.write_bytes((
        "统一社会信用代码,企业名称,住所,登记状态\n"
        f"{make_credit_code('419999', 1)},向阳社区的店,,吊销，未注销\n"                     # closed, still on file
        f"{make_credit_code('419999', 2)},西河镇的厂,,存续（在营、开业、在册）\n"
        f"{make_credit_code('419999', 52)},关了的厂,测试市东风街道东风社区纬一路5号,注销\n"   # closed: no gap
        f"{make_credit_code('419999', 53)},新开的厂,测试市东风街道东风社区纬一路3号,在业\n"   # 未纳入监管
    ).encode("utf-8"))
    result = json.loads(run_cli("employers", "compare", listed, "--json").output)
    summary = result["summary"]
    assert (summary["not_in_register"], summary["closed_not_in_register"], summary["closed_in_register"]) == (1, 1, 1)
    assert [m["name"] for m in result["not_in_register"]] == ["新开的厂"]
    assert result["not_in_register"][0]["grid_code"] == "419999001001"  # 住所 is the address
    assert [(c["credit_code"], c["grid_code"], c["status"]) for c in result["closed_in_register"]] == [
        (make_credit_code("419999", 1), "419999001002", "吊销，未注销")]
    assert "closed" in run_cli("employers", "compare", listed).output
