"""Data comparison (数据比对) of the register with another department's list, by credit code.

DOMAIN.md, networked supervision: the register is compared against market registration, tax
or social-insurance extracts. Three findings, each per grid:

* in the list but not in the register — 未纳入监管: placed by address when the gazetteer
  recognises it, so the grid that should survey it is known;
* in the register but not in the list — closed, moved away, or a wrong code;
* headcount vs insured — the list's insured count below the register's headcount.

A list with a registration status (登记状态: 存续, 在业, 注销, 吊销 …) says which firms have
closed: a closed firm missing from the register is no gap, and one still in the register is
listed on its own (在册但已注销/吊销), for its grid to check and close.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.db.queries import active_generation
from gisgrid.employers.geocode import diagnose_address
from gisgrid.employers.queries import load_territory
from gisgrid.errors import InputError


def compare_register(session: Session, external: pd.DataFrame) -> dict:
    """Compare the register with ``external`` (from :func:`~gisgrid.employers.reading.read_register`).

    Parameters
    ----------
    session
        Open session (read only).
    external
        Frame with at least ``credit_code``; ``name``, ``address``, ``headcount`` and
        ``insured`` are used when present.

    Returns
    -------
    dict
        ``summary`` (counts), ``not_in_register``, ``not_in_list``, ``insurance_gaps`` (lists of
        records with ``grid_code``) and ``by_grid`` (the three counts per grid).

    Examples
    --------
    >>> compare_register(session, read_register("市场监管名录.xlsx"))["summary"]  # doctest: +SKIP
    {'list_rows': 1200, 'not_in_register': 35, 'not_in_list': 12, 'insurance_gaps': 80, …}
    """
    codes = external["credit_code"].astype("string").str.upper().str.replace(r"\s", "", regex=True)
    if codes.isna().all():
        raise InputError("the list has no 统一社会信用代码 (credit_code) values to compare by")
    status = external["registration_status"] if "registration_status" in external \
        else pd.Series(pd.NA, index=external.index, dtype="string")
    listed = pd.DataFrame({
        "row": external.index, "credit_code": codes.to_numpy(),
        "name": external["name"].to_numpy(), "address": external["address"].to_numpy(),
        "headcount": pd.to_numeric(external["headcount"], errors="coerce").to_numpy(),
        "insured": pd.to_numeric(external["insured"], errors="coerce").to_numpy(),
        "status": status.to_numpy(dtype=object, na_value=None),
        "closed": status.str.contains(CLOSED, regex=True).to_numpy(dtype=bool, na_value=False),
    }).dropna(subset=["credit_code"]).drop_duplicates("credit_code")
    gen = active_generation(session)
    register = pd.DataFrame(session.execute(sa.text("""
        SELECT e.credit_code, e.name, e.address, e.headcount, e.insured, g.code AS grid_code, g.name AS grid_name
        FROM employer e
        LEFT JOIN assignment a ON a.employer_id = e.id AND a.generation_id = :gen
        LEFT JOIN grid g ON g.id = a.grid_id
        WHERE e.credit_code IS NOT NULL
    """), {"gen": gen.id if gen else -1}).mappings().all(),
        columns=["credit_code", "name", "address", "headcount", "insured", "grid_code", "grid_name"])
    in_register = listed["credit_code"].isin(register["credit_code"])
    territory = load_territory(session)
    names = _grid_names(session, gen)
    missing = []
    closed_in_register = [{"row": int(r["row"]), "credit_code": r["credit_code"], "name": _none(r["name_register"]),
                           "status": r["status"], "grid_code": _none(r["grid_code"]), "grid_name": _none(r["grid_name"])}
                          for r in listed[in_register & listed["closed"]].merge(
                              register, on="credit_code", suffixes=("", "_register")).to_dict("records")]
    for rec in listed[~in_register & ~listed["closed"]].to_dict("records"):
        hit = None
        if territory and territory.geocoder:
            hit, doubts = diagnose_address(territory.geocoder, str(rec["address"] or ""))
            if "town_only_address" in doubts:  # its town has several grids: which one is unknown
                hit = None
        missing.append({"row": int(rec["row"]), "credit_code": rec["credit_code"], "name": _none(rec["name"]),
                        "address": _none(rec["address"]), "grid_code": hit.grid_code if hit else None,
                        "grid_name": names.get(hit.grid_code) if hit else None,
                        "lon": round(hit.lon, 7) if hit else None, "lat": round(hit.lat, 7) if hit else None,
                        "precision": hit.precision if hit else None})
    gone = register[~register["credit_code"].isin(listed["credit_code"])]
    not_in_list = [{k: _none(v) for k, v in r.items()} for r in
                   gone[["credit_code", "name", "address", "grid_code", "grid_name"]].to_dict("records")]
    both = listed[in_register].merge(register, on="credit_code", suffixes=("_list", ""))
    gap = both["insured_list"].notna() & both["headcount"].notna() & (both["insured_list"] < both["headcount"])
    gaps = [{"credit_code": r["credit_code"], "name": r["name"], "grid_code": _none(r["grid_code"]),
             "grid_name": _none(r["grid_name"]), "headcount": int(r["headcount"]),
             "insured_in_list": int(r["insured_list"]),
             "insured_in_register": None if pd.isna(r["insured"]) else int(r["insured"]),
             "gap": int(r["headcount"] - r["insured_list"])} for r in both[gap].to_dict("records")]
    return {"summary": {"list_rows": int(len(external)), "compared": int(len(listed)),
                        "in_both": int(in_register.sum()), "not_in_register": len(missing),
                        "not_in_register_placed": sum(1 for m in missing if m["grid_code"]),
                        "closed_not_in_register": int((~in_register & listed["closed"]).sum()),
                        "closed_in_register": len(closed_in_register),
                        "not_in_list": len(not_in_list), "insurance_gaps": len(gaps)},
            "not_in_register": missing, "closed_in_register": closed_in_register, "not_in_list": not_in_list,
            "insurance_gaps": gaps, "by_grid": _by_grid(missing, not_in_list, gaps, closed_in_register)}


# A registration status meaning the firm no longer exists as an employer.
CLOSED = r"注销|吊销|撤销|迁出|歇业|清算|closed|revoked|cancelled"


def _grid_names(session: Session, gen) -> dict[str, str]:
    if gen is None:
        return {}
    return dict(session.execute(sa.text("SELECT code, name FROM grid WHERE generation_id = :g"), {"g": gen.id}).all())


def _by_grid(missing, not_in_list, gaps, closed) -> list[dict]:
    counts: dict = defaultdict(lambda: {"not_in_register": 0, "not_in_list": 0, "insurance_gaps": 0,
                                        "closed_in_register": 0})
    names = {}
    for key, items in (("not_in_register", missing), ("not_in_list", not_in_list), ("insurance_gaps", gaps),
                       ("closed_in_register", closed)):
        for item in items:
            counts[item["grid_code"]][key] += 1
            names[item["grid_code"]] = item.get("grid_name")
    return [{"grid_code": code, "grid_name": names.get(code), **value}
            for code, value in sorted(counts.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))]


def _none(value):
    return None if value is None or (isinstance(value, float) and value != value) or value is pd.NA else value
