"""A sample supervision record for the demonstration city, so the 督办, complaint, case,
inspection and incident pages have something to show: complaints over the last four months
(a cluster in two communities, for a visible hot spot; some accepted, some refused, some
waiting, some of them overdue), cases filed from accepted ones (some investigated, one closed),
patrols with rectification orders (one overdue) and one open incident.

Written through the same domain functions as a user's work (clocks, routing, audit), by the
actor ``demo``. Only into a city without any complaint yet: a second run adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock

ACTOR = "demo（示例数据）"
SUMMARIES = ("拖欠两个月工资", "未签订书面劳动合同", "未缴纳社会保险", "加班不支付加班费", "克扣工资",
             "超时加班，每天工作12小时", "解除劳动合同未支付经济补偿", "使用未满16周岁人员")


def add_demo_supervision(session: Session, seed: int = 20261203) -> dict:
    """Add the sample record; returns what was added (all zero when complaints exist already)."""
    from gisgrid.supervision.cases import advance_case, close_case, file_case
    from gisgrid.supervision.complaints import add_complaint, decide_complaint
    from gisgrid.supervision.incidents import add_note, raise_incident
    from gisgrid.supervision.inspections import add_inspection

    added = {"complaints": 0, "cases": 0, "inspections": 0, "incidents": 0}
    if session.execute(sa.text("SELECT EXISTS (SELECT 1 FROM complaint)")).scalar():
        return added
    rng = random.Random(seed)
    today = clock.today()
    employers = session.execute(sa.text("""
        SELECT e.credit_code, g.code AS grid, p.code AS street
        FROM employer e JOIN assignment a ON a.employer_id = e.id
        JOIN generation n ON n.id = a.generation_id AND n.status = 'active'
        JOIN grid g ON g.id = a.grid_id JOIN grid p ON p.id = g.parent_id
        WHERE e.credit_code IS NOT NULL ORDER BY e.id""")).mappings().all()
    if not employers:
        return added
    inspectors = {street: [r.id for r in session.execute(sa.text("""
        SELECT s.id FROM staff s JOIN staff_grid sg ON sg.staff_id = s.id JOIN grid g ON g.identity = sg.grid_identity
        JOIN generation n ON n.id = g.generation_id AND n.status = 'active'
        WHERE g.code = :c AND s.role IN ('full_time', 'part_time') ORDER BY s.id"""), {"c": street})]
        for street in {e["street"] for e in employers}}
    grids = sorted({e["grid"] for e in employers})
    hot = set(rng.sample(grids, min(2, len(grids))))
    weights = [12 if e["grid"] in hot else 1 for e in employers]
    picked = rng.choices(employers, weights=weights, k=min(60, len(employers) * 3))
    accepted = []
    for n, employer in enumerate(picked):
        received = today - dt.timedelta(days=rng.randint(0, 120))
        made = add_complaint(session, received_on=received, summary=rng.choice(SUMMARIES), actor=ACTOR,
                             employer=employer["credit_code"], complainant=f"示例投诉人{n + 1}")
        added["complaints"] += 1
        waited = (today - received).days
        if waited < 3 or n % 9 == 0:
            continue  # still waiting: the old ones among them are overdue
        decided = received + dt.timedelta(days=rng.randint(1, min(waited, 6)))
        if n % 7 == 0:
            decide_complaint(session, made["id"], "refuse", actor=ACTOR, on=decided, reason="不属于劳动保障监察范围")
        else:
            decide_complaint(session, made["id"], "accept", actor=ACTOR, on=decided)
            accepted.append((made, employer, decided))
    for made, employer, decided in accepted[:12]:
        staff = inspectors.get(employer["street"], [])
        case = file_case(session, actor=ACTOR, summary="经初步核查，" + rng.choice(SUMMARIES), complaint_id=made["id"],
                         inspectors=staff[:2], lead=staff[0] if staff else None)
        added["cases"] += 1
        if len(staff) >= 2 and (today - decided).days > 20:
            advance_case(session, case["id"], actor=ACTOR, on=decided + dt.timedelta(days=3), note="两名监察员现场调查")
            if (today - decided).days > 60:
                advance_case(session, case["id"], actor=ACTOR, on=decided + dt.timedelta(days=30))
                close_case(session, case["id"], "corrected", actor=ACTOR, on=decided + dt.timedelta(days=45),
                           note="单位已补发工资")
    for employer in rng.sample(employers, min(8, len(employers))):
        staff = inspectors.get(employer["street"], [])
        if not staff:
            continue
        on = today - dt.timedelta(days=rng.randint(5, 60))
        violation = rng.random() < 0.5
        add_inspection(session, actor=ACTOR, employer=employer["credit_code"], kind="patrol", inspected_on=on,
                       items={"contracts": "violation" if violation else "ok", "wages": "ok", "hours": "ok"},
                       findings="日常巡查" + ("，发现未签劳动合同" if violation else "，未发现问题"), inspectors=staff[:1],
                       orders=[{"item": "contracts", "text": "限期补签劳动合同", "due_on": on + dt.timedelta(days=15)}]
                       if violation else [])
        added["inspections"] += 1
    target = next(e for e in picked if e["grid"] in hot) if hot else picked[0]
    incident = raise_incident(session, actor=ACTOR, kind="collective_petition", title="工人聚集讨要工资（示例）",
                              summary="约二十名工人在单位门口聚集，反映拖欠三个月工资", employer=target["credit_code"],
                              people=20)
    add_note(session, incident["id"], "街道监察员已到现场，约谈单位负责人", actor=ACTOR)
    added["incidents"] = 1
    return added
