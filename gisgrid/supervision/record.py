"""Grades and key-supervision flags from the supervision record, not from typed figures.

* **Complaints in the last 12 months** are counted from the complaints gisgrid holds (received
  in the 365 days up to the day; refused ones — 不予受理, the complaint did not qualify — are
  not counted), and replace the count a register typed. The count moves with the day, so
  :func:`refresh_flags` runs after every complaint and daily over the whole register
  (``gisgrid employers flags --commit``). A collective petition (集体上访, an incident of
  gisgrid.supervision.incidents naming the employer) in the same 12 months is key supervision
  too (DOMAIN.md), flagged the moment it is raised.
* **The yearly integrity grade** (人社部规〔2016〕1号) of year Y is computed on the record of
  Y − 1: a violation is *handled* (查处) by a case closed in Y − 1 with a conclusion that found
  one (gisgrid.supervision.items.VIOLATION_FOUND); a serious act is one found by such a case,
  or a rectification order refused in Y − 1 (拒不履行责令改正指令). A: nothing handled;
  B: handled, not C; C: handled ≥ 3 times or any serious act. The older local A–D schemes
  (setting ``GISGRID_GRADE_SCHEME=ABCD``) are read here as: A and B as above, C handled ≥ 3
  times, D any serious act — the most watched grade. Each grade keeps its reasons, naming the
  cases and orders.

After either, the employers whose figures changed get their risk level, reasons and flags
recomputed by the one rule set (gisgrid.analysis.risk), so maps and lists follow.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.access.audit import record_audit
from gisgrid.analysis.risk import RiskRules, assess_risk
from gisgrid.errors import InputError
from gisgrid.supervision.items import SERIOUS_ACTS, VIOLATION_FOUND

#: Handled violations in a year that grade C (人社部规〔2016〕1号).
HANDLED_FOR_C = 3
#: How often an employer of each grade is inspected (months between patrols), per scheme:
#: a setting's default, read by gisgrid.supervision.inspections.due_inspections.
INSPECTION_MONTHS = {"ABC": {"A": 12, "B": 6, "C": 3, None: 12},
                     "ABCD": {"A": 12, "B": 6, "C": 3, "D": 1, None: 12}}

_RISK_COLUMNS = ("headcount", "contracts_signed", "insured", "wage_arrears_months", "fee_arrears_months",
                 "opened_on", "complaints_12m", "integrity_grade")


def recompute_risk(session: Session, employer_ids, *, rules: RiskRules, today: dt.date | None = None) -> int:
    """Risk level, reasons and key flags of ``employer_ids`` from their stored figures; returns
    how many rows changed."""
    ids = sorted({int(i) for i in employer_ids})
    if not ids:
        return 0
    rows = session.execute(sa.text(
        f"SELECT id, {', '.join(_RISK_COLUMNS)}, risk_level, risk_rule, key_flags, "
        "(SELECT count(*) FROM incident i WHERE i.employer_id = employer.id AND i.kind = 'collective_petition' "
        " AND i.occurred_at::date > CAST(:on AS date) - 365) AS petitions_12m "
        "FROM employer WHERE id = ANY(:ids)"), {"ids": ids, "on": today or clock.today()}).mappings().all()
    if not rows:
        return 0
    frame = pd.DataFrame([dict(r) for r in rows]).set_index("id")
    risk = assess_risk(frame, today or clock.today(), rules)
    changed = [{"id": int(i), "level": int(r.risk_level), "rule": r.risk_rule, "flags": r.key_flags}
               for i, r in risk.iterrows()
               if any(_differs(new, frame.at[i, column]) for new, column in
                      ((r.risk_level, "risk_level"), (r.risk_rule, "risk_rule"), (r.key_flags, "key_flags")))]
    if changed:
        session.execute(sa.text(
            "UPDATE employer e SET risk_level = c.level, risk_rule = c.rule, key_flags = c.flags "
            "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS c(id bigint, level smallint, rule text, flags text) "
            "WHERE e.id = c.id"), {"rows": _json(changed)})
    return len(changed)


def _differs(new, old) -> bool:
    """``new != old``, with None and NaN (pandas reads a NULL as NaN) the same: no flags was
    counted as a change for every employer without flags."""
    if pd.isna(new) or pd.isna(old):
        return not (pd.isna(new) and pd.isna(old))
    return new != old


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


_COUNTED = """
SELECT e.id, e.complaints_12m AS before,
       (SELECT count(*) FROM complaint c WHERE c.employer_id = e.id AND c.status <> 'refused'
          AND c.received_on > CAST(:on AS date) - 365 AND c.received_on <= :on) AS counted
FROM employer e
WHERE (CAST(:ids AS bigint[]) IS NULL OR e.id = ANY(:ids))
  AND (CAST(:ids AS bigint[]) IS NOT NULL OR coalesce(e.complaints_12m, 0) > 0
       OR EXISTS (SELECT 1 FROM complaint c WHERE c.employer_id = e.id)
       OR EXISTS (SELECT 1 FROM incident i WHERE i.employer_id = e.id AND i.kind = 'collective_petition'))
"""


def refresh_flags(session: Session, *, rules: RiskRules, on: dt.date | None = None, employer_ids=None,
                  actor: str | None = None) -> dict:
    """Complaints of the last 12 months counted from the record for ``employer_ids`` (None: every
    employer with complaints or a typed count), and their risk recomputed where it changed."""
    on = on or clock.today()
    ids = None if employer_ids is None else sorted({int(i) for i in employer_ids if i is not None})
    if ids == []:
        return {"on": on.isoformat(), "counted": 0, "changed": 0, "risk_changed": 0, "now_key": []}
    rows = session.execute(sa.text(_COUNTED), {"on": on, "ids": ids}).mappings().all()
    changed = [{"id": r["id"], "n": r["counted"], "before": r["before"]} for r in rows
               if (r["before"] or 0) != r["counted"]]
    if changed:
        session.execute(sa.text(
            "UPDATE employer e SET complaints_12m = c.n FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
            "AS c(id bigint, n smallint) WHERE e.id = c.id"), {"rows": _json(changed)})
    # Risk of every employer looked at: a collective petition entering or leaving the window
    # changes it without any complaint count changing.
    risk_changed = recompute_risk(session, [r["id"] for r in rows], rules=rules, today=on)
    now_key = [c["id"] for c in changed if c["n"] >= rules.complaints > (c["before"] or 0)]
    if actor and changed:
        record_audit(session, actor, "employer.flags", "employer", None,
                     after={"on": on, "changed": len(changed), "now_key": now_key[:100]})
    return {"on": on.isoformat(), "counted": len(rows), "changed": len(changed), "risk_changed": risk_changed,
            "now_key": now_key}


def refresh_imported(session: Session, employer_ids, *, rules: RiskRules, on: dt.date | None = None) -> dict:
    """After a register import: those of ``employer_ids`` the record knows (a complaint, a
    collective petition) get their complaint count from the record and their risk recomputed.

    The import assesses risk from the file's own figures, so an employer under key supervision
    for a petition lost its flag until the daily ``gisgrid employers flags`` run; the others keep
    the file's figures (nothing in the record to add)."""
    # The record's employers, intersected here: sending a million imported ids to the server
    # took 2 s, the record is small.
    on_record = set(session.execute(sa.text(
        "SELECT employer_id FROM complaint WHERE employer_id IS NOT NULL UNION "
        "SELECT employer_id FROM incident WHERE kind = 'collective_petition' AND employer_id IS NOT NULL")).scalars())
    known = [i for i in {int(i) for i in employer_ids if i is not None} if i in on_record]
    return refresh_flags(session, rules=rules, on=on, employer_ids=known)


_RECORD = """
WITH handled AS (
    SELECT k.employer_id, count(*) AS n, string_agg(k.number, '、' ORDER BY k.number) AS numbers,
           array_agg(DISTINCT s) FILTER (WHERE s IS NOT NULL) AS serious,
           string_agg(k.number, '、' ORDER BY k.number) FILTER (WHERE cardinality(k.serious) > 0) AS serious_numbers
    FROM case_file k LEFT JOIN LATERAL unnest(CASE WHEN cardinality(k.serious) > 0 THEN k.serious
                                                   ELSE ARRAY[NULL]::varchar[] END) AS s ON true
    WHERE k.employer_id IS NOT NULL AND k.status = 'closed' AND k.conclusion = ANY(:found)
      AND k.closed_on >= :start AND k.closed_on < :end
    GROUP BY k.employer_id
), refused AS (
    SELECT r.employer_id, string_agg(r.id::text, '、' ORDER BY r.id) AS ids
    FROM rectification r WHERE r.status = 'refused' AND r.settled_on >= :start AND r.settled_on < :end
    GROUP BY r.employer_id
)
SELECT e.id, e.name, e.integrity_grade, e.grade_year, g.grade AS stored, g.source AS stored_source,
       coalesce(h.n, 0) AS handled, h.numbers, coalesce(h.serious, '{}') AS serious, h.serious_numbers,
       f.ids AS refused
FROM employer e
LEFT JOIN handled h ON h.employer_id = e.id
LEFT JOIN refused f ON f.employer_id = e.id
LEFT JOIN employer_grade g ON g.employer_id = e.id AND g.year = :year
WHERE CAST(:ids AS bigint[]) IS NULL OR e.id = ANY(:ids)
"""


def _grade(row, scheme: str, basis: int) -> tuple[str, str]:
    serious = [SERIOUS_ACTS[s] for s in row["serious"] if s in SERIOUS_ACTS]
    if row["refused"] and SERIOUS_ACTS["refused_order"] not in serious:
        serious.append(SERIOUS_ACTS["refused_order"])
    reasons = []
    if row["handled"]:
        reasons.append(f"{basis} 年因劳动保障违法行为被查处 {row['handled']} 次（案件 {row['numbers']}）")
    if serious:
        where = "；".join(x for x in (f"案件 {row['serious_numbers']}" if row["serious_numbers"] else "",
                                     f"整改要求 {row['refused']} 拒不整改" if row["refused"] else "") if x)
        reasons.append(f"存在严重情形：{'、'.join(serious)}（{where}）")
    if serious and scheme == "ABCD":
        grade = "D"
    elif serious or row["handled"] >= HANDLED_FOR_C:
        grade = "C"
    elif row["handled"]:
        grade = "B"
    else:
        grade = "A"
        reasons.append(f"{basis} 年未因劳动保障违法行为被查处")
    return grade, f"依据 {basis} 年度监察记录：" + "；".join(reasons)


def grade_from_record(session: Session, year: int, *, rules: RiskRules, actor: str, employer_ids=None,
                      write: bool = True) -> dict:
    """The integrity grade of ``year`` for every employer (or ``employer_ids``) from the record of
    ``year`` − 1; written to employer_grade (replacing a typed grade of that year) and, where it is
    the employer's newest grade, to the register with the risk recomputed. ``write`` False: only
    the report (what would change)."""
    today = clock.today()
    if not 2017 <= year <= today.year:
        raise InputError(f"评价年度为 {year}；应在 2017（人社部规〔2016〕1号施行）至 {today.year} 年之间")
    basis = year - 1
    ids = None if employer_ids is None else sorted({int(i) for i in employer_ids})
    rows = session.execute(sa.text(_RECORD), {
        "found": sorted(VIOLATION_FOUND), "start": dt.date(basis, 1, 1), "end": dt.date(year, 1, 1),
        "year": year, "ids": ids}).mappings().all()
    graded, changes = [], []
    counts = {g: 0 for g in rules.grades}
    for row in rows:
        grade, source = _grade(row, rules.grades, basis)
        counts[grade] += 1
        graded.append({"id": row["id"], "grade": grade, "source": source,
                       "newest": row["grade_year"] is None or row["grade_year"] <= year})
        if row["stored"] != grade:
            changes.append({"employer_id": row["id"], "name": row["name"], "before": row["stored"], "after": grade,
                            "reasons": source})
    report = {"year": year, "basis_year": basis, "scheme": rules.grades, "graded": len(graded), "counts": counts,
              "changed": len(changes), "changes": changes[:200], "risk_changed": 0}
    if not write or not graded:
        return report
    payload = _json([{"id": g["id"], "grade": g["grade"], "source": g["source"]} for g in graded])
    session.execute(sa.text("""
        INSERT INTO employer_grade (employer_id, year, grade, source)
        SELECT c.id, :year, c.grade, c.source FROM jsonb_to_recordset(CAST(:rows AS jsonb))
            AS c(id bigint, grade text, source text)
        ON CONFLICT (employer_id, year) DO UPDATE SET grade = EXCLUDED.grade, source = EXCLUDED.source,
            recorded_at = now()
        WHERE employer_grade.grade IS DISTINCT FROM EXCLUDED.grade
           OR employer_grade.source IS DISTINCT FROM EXCLUDED.source"""), {"year": year, "rows": payload})
    newest = [g for g in graded if g["newest"]]
    moved = session.execute(sa.text("""
        UPDATE employer e SET integrity_grade = c.grade, grade_year = :year
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS c(id bigint, grade text)
        WHERE e.id = c.id AND (e.integrity_grade IS DISTINCT FROM c.grade OR e.grade_year IS DISTINCT FROM :year)
        RETURNING e.id"""), {"year": year, "rows": _json([{"id": g["id"], "grade": g["grade"]} for g in newest])}
    ).scalars().all()
    report["risk_changed"] = recompute_risk(session, moved, rules=rules, today=today)
    record_audit(session, actor, "grades.record", "employer_grade", str(year),
                 after={"year": year, "scheme": rules.grades, "counts": counts, "changed": len(changes),
                        "register_updated": len(moved)})
    return report
