"""Parents from children: `grids import villages --level 3 --build-parents`."""

from __future__ import annotations

import json

import shapely
import sqlalchemy as sa
from shapely.geometry import box

from tests.boundaries.defects import CITY, S1, S2, deg, frame, layers


def test_build_parents_dissolves_villages_into_towns_and_city(run_cli, tmp_path, engine):
    villages = frame(layers()[3])
    villages["上级名称"] = ["东风街道", "东风街道", "西河镇", "西河镇"]
    path = tmp_path / "villages.shp"
    villages.to_file(path, encoding="GBK")
    out = json.loads(run_cli("grids", "import", path, "--level", "3", "--build-parents", "--commit",
                             "--json").output)
    assert [(b["level"], b["codes"]) for b in out["built_parents"]] == [(1, [CITY]), (2, [S1, S2])]
    assert out["created"] == 4 and out["validation"]["errors"] == []
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT g.code, g.name, g.kind, p.code, ST_AsBinary(g.geom) FROM grid g "
            "LEFT JOIN grid p ON p.id = g.parent_id WHERE g.level < 3 ORDER BY g.code")).all()
    by_code = {r[0]: r for r in rows}
    assert by_code[S1][1:4] == ("东风街道", "street", CITY) and by_code[S2][1:4] == ("西河镇", "town", CITY)
    assert shapely.from_wkb(bytes(by_code[S2][4])).equals(deg(box(2, 0, 4, 2)))
    assert shapely.from_wkb(bytes(by_code[CITY][4])).equals(deg(box(0, 0, 4, 2)))
    assert json.loads(run_cli("grids", "validate", "--generation", "draft", "--json").output)["errors"] == []


def test_build_parents_needs_parent_codes(run_cli, tmp_path):
    villages = frame(layers()[3]).drop(columns="上级代码")
    path = tmp_path / "villages.geojson"
    villages.to_file(path)
    result = run_cli("grids", "import", path, "--level", "3", "--build-parents", expect=1)
    assert "needs a parent code on every feature" in result.output
