"""A messy register of several thousand rows, made from the demo city with every real-world fault.

Every row must end either in the grid its address names or in the report with its reason.
The demo addresses name the street and community that contain the point, so the address is
the answer key; the faults are injected here, independently of the register code.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from gisgrid.crs import wgs84_to_shifted
from gisgrid.demo.generate import is_outside_row
from gisgrid.demo.load import REPO_SHAPES

ROWS = 3_000


@pytest.fixture
def city(run_cli, engine):
    for level, name in ((1, "city"), (2, "streets"), (3, "communities")):
        run_cli("grids", "import", REPO_SHAPES / f"demo_{name}.geojson", "--level", level, "--generation", "示范",
                "--commit")
    run_cli("grids", "activate", "示范", "--effective-from", "2026-01-01", "--commit")
    import geopandas as gpd

    streets = gpd.read_file(REPO_SHAPES / "demo_streets.geojson")
    communities = gpd.read_file(REPO_SHAPES / "demo_communities.geojson")
    street_names = dict(zip(streets["代码"], streets["名称"]))
    return {"示范市" + street_names[p] + n: c for p, n, c in
            zip(communities["上级代码"], communities["名称"], communities["代码"])}


def _messy_register() -> tuple[pd.DataFrame, dict[str, list[int]]]:
    frame = pd.read_csv(REPO_SHAPES / "demo_employers.csv", dtype=str, nrows=ROWS, keep_default_na=False)
    frame["诚信等级"] = np.where(np.arange(ROWS) % 97 == 0, "C", np.where(np.arange(ROWS) % 7 == 0, "B", "A"))
    frame["投诉次数（12个月）"] = np.where(np.arange(ROWS) % 89 == 0, "3", "0")
    kinds: dict[str, list[int]] = {}
    lon, lat = frame["经度"].astype(float).to_numpy(), frame["纬度"].astype(float).to_numpy()
    for system, rows, label in (("gcj02", range(1_000, 1_200), "GCJ02"), ("bd09", range(1_200, 1_300), "百度")):
        rows = list(rows)
        x, y = wgs84_to_shifted(lon[rows], lat[rows], system)
        frame.loc[rows, "经度"], frame.loc[rows, "纬度"] = [f"{v:.7f}" for v in x], [f"{v:.7f}" for v in y]
        frame.loc[rows, "坐标系"] = label
        kinds[system] = rows
    kinds["address_only"] = list(range(1_300, 1_400))
    frame.loc[kinds["address_only"], ["经度", "纬度", "坐标系"]] = ""
    kinds["typo"] = list(range(1_400, 1_420))
    frame.loc[kinds["typo"], "统一社会信用代码"] = [c[:-1] + ("1" if c[-1] != "1" else "2")
                                                  for c in frame.loc[kinds["typo"], "统一社会信用代码"]]
    kinds["swapped"] = list(range(1_420, 1_430))
    frame.loc[kinds["swapped"], ["经度", "纬度"]] = frame.loc[kinds["swapped"], ["纬度", "经度"]].to_numpy()
    kinds["negative"] = list(range(1_430, 1_440))
    frame.loc[kinds["negative"], "职工人数"] = "-3"
    kinds["bad_date"] = list(range(1_440, 1_450))
    frame.loc[kinds["bad_date"], "开业日期"] = "2019-02-30"
    kinds["spaces"] = list(range(1_450, 1_460))  # lower case and spaces in the code: normalised, kept
    frame.loc[kinds["spaces"], "统一社会信用代码"] = [f" {c[:6]} {c[6:].lower()} "
                                                    for c in frame.loc[kinds["spaces"], "统一社会信用代码"]]
    duplicates = frame.iloc[2_000:2_020].copy()  # surveyed twice in the same file
    frame = pd.concat([frame, duplicates], ignore_index=True)
    kinds["duplicate"] = list(range(ROWS, ROWS + 20))
    return frame, kinds


def _write_gbk_with_title(frame: pd.DataFrame, path) -> None:
    body = frame.to_csv(index=False, lineterminator="\n")
    path.write_bytes(("示范市用人单位调查登记表（2026年）\n" + body).encode("gbk"))


def test_every_row_lands_in_its_grid_or_in_the_report(city, run_cli, tmp_path, engine):
    frame, kinds = _messy_register()
    path = tmp_path / "登记表.csv"
    _write_gbk_with_title(frame, path)
    report = json.loads(run_cli("employers", "import", path, "--commit", "--json").output)
    line = lambda i: i + 3  # noqa: E731  title, header, then data
    assert report["encoding"] == "gb18030" and report["rows"] == len(frame)
    rejected = {p["row"]: p["reason"] for p in report["rejected"]}
    assert rejected == {line(i): "duplicate_in_file" for i in kinds["duplicate"]}
    warned = {(p["row"], p["reason"]) for p in report["warnings"]}
    assert warned == ({(line(i), "credit_code_check") for i in kinds["typo"]}
                      | {(line(i), "bad_number") for i in kinds["negative"]}  # left out, the firm kept
                      | {(line(i), "bad_date") for i in kinds["bad_date"]}
                      | {(line(i), "swapped_coordinates") for i in kinds["swapped"]}
                      | {(line(i), "outside_territory") for i in range(ROWS) if is_outside_row(i)})
    assert report["imported"] == len(frame) - len(rejected) and report["unlocated"] == 0
    assert report["located_by"] == {"given": ROWS - 400, "gcj02": 200, "bd09": 100, "gazetteer": 100}

    with engine.connect() as conn:
        placed = conn.execute(sa.text("""
            SELECT e.name, e.address, g.code, e.located_by, e.location_precision, e.credit_code_status, e.risk_level
            FROM employer e LEFT JOIN assignment a ON a.employer_id = e.id LEFT JOIN grid g ON g.id = a.grid_id
        """)).mappings().all()
    assert len(placed) == report["imported"]
    by_name = {r["name"]: r for r in placed}
    for i in range(ROWS):
        if line(i) in rejected:
            assert frame.at[i, "单位名称"] not in by_name or i in kinds["duplicate"]
            continue
        row = by_name[frame.at[i, "单位名称"]]
        expected = None if is_outside_row(i) else next(c for p, c in city.items() if row["address"].startswith(p))
        assert row["code"] == expected, (i, row)
    assert {by_name[frame.at[i, "单位名称"]]["credit_code_status"] for i in kinds["typo"]} == {"check_failed"}
    assert {by_name[frame.at[i, "单位名称"]]["location_precision"] for i in kinds["address_only"]} == {"村/社区级"}
    assert by_name[frame.at[0, "单位名称"]]["risk_level"] == 3  # row 0: grade C

    again = json.loads(run_cli("employers", "import", path, "--commit", "--json").output)
    assert (again["imported"], again["updated"]) == (0, 0)
