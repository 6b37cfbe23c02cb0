"""Visits (走访/检查) recorded on an employer's file: 一企一档's history of who checked what, when.

A visit is a row of ``employer_survey`` (source ``走访``) whose data holds the date, the
inspector (the logged-in user), companions, what was checked and the findings; the
employer's ``surveyed_on`` moves to the visit's date when that is later, so the visit ends
超期未调查. Each visit is audited.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.access.audit import record_audit
from gisgrid.errors import InputError

#: What a labour-security visit checks (劳动保障监察的常规检查事项).
CHECKS = {
    "contracts": "劳动合同签订",
    "wages": "工资支付",
    "hours": "工作时间和休息休假",
    "insurance": "社会保险参保缴费",
    "minors": "禁止使用童工、女职工和未成年工特殊保护",
    "rules": "规章制度和劳动用工备案",
}
VISIT_SOURCE = "走访"
FINDINGS_MAX = 2000


def record_visit(session: Session, employer_id: int, *, on: dt.date, by: str, companions: str = "",
                 checked: tuple[str, ...] = (), findings: str = "", today: dt.date | None = None) -> dict:
    """Add a visit to employer ``employer_id``; return what was stored (raises InputError in Chinese)."""
    today = today or clock.today()
    if not dt.date(2000, 1, 1) <= on <= today:
        raise InputError(f"走访日期为 {on.isoformat()}；应在 2000-01-01 至今天（{today.isoformat()}）之间")
    unknown = [c for c in checked if c not in CHECKS]
    if unknown:
        raise InputError(f"检查事项 {', '.join(repr(c)[:30] for c in unknown)} 不在清单中；应为 {'、'.join(CHECKS.values())}")
    findings, companions = (findings or "").strip(), (companions or "").strip()
    if not findings and not checked:
        raise InputError("请至少勾选一项检查事项或填写检查情况")
    if len(findings) > FINDINGS_MAX:
        raise InputError(f"检查情况共 {len(findings)} 字；最多 {FINDINGS_MAX} 字")
    if len(companions) > 200:
        raise InputError("同行人员最多 200 字")
    if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in findings + companions):
        raise InputError("检查情况或同行人员中含有控制字符")
    data = {"kind": "visit", "date": on.isoformat(), "by": by, "companions": companions,
            "checked": [CHECKS[c] for c in checked], "findings": findings}
    before = session.execute(sa.text("SELECT surveyed_on FROM employer WHERE id = :id"), {"id": employer_id}).scalar()
    session.execute(sa.text(
        "INSERT INTO employer_survey (employer_id, surveyed_on, source, data) VALUES (:e, :d, :s, CAST(:j AS json))"),
        {"e": employer_id, "d": on, "s": VISIT_SOURCE, "j": json.dumps(data, ensure_ascii=False)})
    if before is None or on > before:
        session.execute(sa.text("UPDATE employer SET surveyed_on = :d WHERE id = :id"), {"d": on, "id": employer_id})
    record_audit(session, by, "employer.visit", "employer", str(employer_id),
                 before={"surveyed_on": before}, after=data)
    return data


#: Contact fields an inspector may correct on the spot, with their length limits.
CONTACT_FIELDS = {"legal_rep": ("法定代表人", 50), "hr_contact": ("劳动保障联系人", 50), "phone": ("联系电话", 40)}
_PHONE_CHARS = set("0123456789+-() 转")


def correct_contact(session: Session, employer_id: int, *, by: str, **fields: str) -> dict:
    """Correct the contact fields given (empty text clears one); the location is not touched.

    Returns {field: (before, after)} of what changed; audited with before and after.
    """
    unknown = sorted(set(fields) - set(CONTACT_FIELDS))
    if unknown:
        raise InputError(f"不能在此更正 {', '.join(unknown)}；可更正：{'、'.join(v[0] for v in CONTACT_FIELDS.values())}")
    values = {}
    for name, raw in fields.items():
        label, limit = CONTACT_FIELDS[name]
        value = (raw or "").strip()
        if len(value) > limit:
            raise InputError(f"{label}共 {len(value)} 个字符；最多 {limit} 个")
        if any(ord(ch) < 32 for ch in value):
            raise InputError(f"{label}中含有控制字符")
        if name == "phone" and value and not set(value) <= _PHONE_CHARS:
            raise InputError(f"联系电话为 {value[:40]!r}；只能含数字、空格、+、-、括号和“转”")
        values[name] = value or None
    row = session.execute(sa.text("SELECT legal_rep, hr_contact, phone FROM employer WHERE id = :id"),
                          {"id": employer_id}).mappings().one()
    changed = {k: (row[k], v) for k, v in values.items() if row[k] != v}
    if changed:
        sets = ", ".join(f"{k} = :{k}" for k in changed)
        session.execute(sa.text(f"UPDATE employer SET {sets}, updated_at = now() WHERE id = :id"),
                        {"id": employer_id, **{k: v for k, (_, v) in changed.items()}})
        record_audit(session, by, "employer.contact", "employer", str(employer_id),
                     before={k: b for k, (b, _) in changed.items()}, after={k: a for k, (_, a) in changed.items()})
    return changed
