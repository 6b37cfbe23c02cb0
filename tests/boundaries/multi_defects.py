"""A village layer with several defects at once, for the CLI and the property tests.

The city and streets are those of tests/boundaries/defects.py (S1 = x 0..2, S2 = x 2..4,
y 0..2, in units of 0.01°). Each street is cut into villages at the given x positions;
each defect then changes one village of its own, so the defects do not hide each other:

- ``invalid_geometry``: the village becomes a bow-tie crossing itself in its middle;
- ``duplicate_code``: it takes the code of another village of the layer;
- ``bad_code``: its code no longer extends its street's (``419998…``);
- ``missing_code``: it has no code;
- ``outside_parent``: it reaches 0.3 units (≈ 330 m) north beyond its street;
- ``gap``: its east edge moves back by 30 % of its width;
- ``overlap``: its east edge moves 30 % of its neighbour's width into that neighbour;
- ``sliver``: its east edge moves 0.002 units (≈ 1.8 m) into its neighbour.

``overlap`` and ``sliver`` need an eastern neighbour in the same street.
"""

from __future__ import annotations

from shapely.geometry import Polygon, box

from tests.boundaries.defects import S1, S2

DEFECTS = ("invalid_geometry", "duplicate_code", "bad_code", "missing_code", "outside_parent", "gap", "overlap",
           "sliver")
NEEDS_NEIGHBOUR = {"overlap", "sliver"}
STREETS = ((S1, 0.0, 2.0), (S2, 2.0, 4.0))
EVEN_CUTS = ((0.5, 1.0, 1.5), (2.5, 3.0, 3.5))


def village_rows(cuts=EVEN_CUTS) -> list[dict]:
    """Clean villages: per street, cells between its edges and the interior ``cuts``."""
    rows = []
    for (street, west, east), inner in zip(STREETS, cuts):
        edges = [west, *sorted(inner), east]
        for n, (x0, x1) in enumerate(zip(edges, edges[1:]), start=1):
            rows.append(dict(code=f"{street}{n:03d}", name=f"{street[-1]}街{n}村", parent=street,
                             geom=box(x0, 0, x1, 2), x0=x0, x1=x1, last=n == len(edges) - 1))
    return rows


def eligible(rows: list[dict], defect: str) -> list[int]:
    """Rows that ``defect`` may be injected into."""
    if defect in NEEDS_NEIGHBOUR:
        return [i for i, r in enumerate(rows) if not r["last"]]
    if defect == "duplicate_code":
        return list(range(1, len(rows)))
    return list(range(len(rows)))


def inject(rows: list[dict], targets: dict[str, int]) -> list[dict]:
    """``rows`` with each defect put into its own row (``targets``: defect → row index)."""
    assert len(set(targets.values())) == len(targets), targets
    out = [dict(r) for r in rows]
    for defect, i in targets.items():
        assert i in eligible(rows, defect), (defect, i)
        row, x0, x1 = out[i], rows[i]["x0"], rows[i]["x1"]
        if defect == "invalid_geometry":
            row["geom"] = Polygon([(x0, 0), (x1, 2), (x1, 0), (x0, 2)])
        elif defect == "duplicate_code":
            source = next(j for j in range(len(rows))
                          if j != i and j not in (targets.get("bad_code"), targets.get("missing_code")))
            row["code"] = rows[source]["code"]
        elif defect == "bad_code":
            row["code"] = "419998" + rows[i]["code"][6:]
        elif defect == "missing_code":
            row["code"] = None
        elif defect == "outside_parent":
            row["geom"] = box(x0, 0, x1, 2.3)
        elif defect == "gap":
            row["geom"] = box(x0, 0, x1 - 0.3 * (x1 - x0), 2)
        elif defect == "overlap":
            neighbour = rows[i + 1]
            row["geom"] = box(x0, 0, x1 + 0.3 * (neighbour["x1"] - neighbour["x0"]), 2)
        elif defect == "sliver":
            row["geom"] = box(x0, 0, x1 + 0.002, 2)
        else:
            raise ValueError(f"defect was {defect!r}; expected one of {DEFECTS}")
    return [{k: r[k] for k in ("code", "name", "parent", "geom")} for r in out]


# Seven defects at once, on the even cuts: S1's villages 2–4 and S2's four carry one each.
ALL_AT_ONCE = {"invalid_geometry": 1, "bad_code": 2, "duplicate_code": 3,
               "gap": 4, "overlap": 5, "sliver": 6, "outside_parent": 7}


def memory_frame(villages: list[dict], shift: str | None = None):
    """City, streets and ``villages`` (``shift`` applied to them) as :func:`validate_grids` takes
    them, the villages numbered as features 1, 2, … of a file."""
    import pandas as pd

    from tests.boundaries.defects import frame, layers

    levels = {**{lv: rows for lv, rows in layers().items() if lv < 3}, 3: villages}
    parts = []
    for level, rows in levels.items():
        part = frame(rows, shift if level == 3 else None).rename(
            columns={"代码": "code", "名称": "name", "上级代码": "parent_code"})
        part["level"] = level
        part["kind"] = {1: "city", 2: "street", 3: "village"}[level]
        part["feature"] = list(range(1, len(rows) + 1)) if level == 3 else [None] * len(rows)
        parts.append(part)
    combined = pd.concat(parts, ignore_index=True)
    combined["feature"] = combined["feature"].astype(object)
    return combined.set_geometry("geometry")
