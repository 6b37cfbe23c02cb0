"""Working days for statutory clocks: the State Council calendar with its make-up workdays (调休).

A complaint is accepted within 5 working days, a case finished within 60 (DOMAIN.md): counted
on the published holiday calendar, where a holiday week is paid for with a Saturday or Sunday
of work. ``chinesecalendar`` knows the published years (1.11.0: 2004–2026). Over it lies an
override table (``calendar_override``: a date is a holiday or a make-up workday, with the
reason), and a year the library does not know counts only once an administrator has entered
it from the notice and said so (``calendar_year``); before that a deadline that reaches it is
refused naming the year and how to enter it — never guessed from weekdays.

Every deadline carries how it was computed (start, days, the holidays and weekends skipped,
the make-up days counted, the overrides used). Stored clocks (``deadline``) are recomputed
when the calendar changes, so an open deadline moves when a holiday is entered.

Day 0 is the start date (the day of receipt or filing); the deadline is the Nth working day
after it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import chinese_calendar
import sqlalchemy as sa
from chinese_calendar.constants import Holiday
from sqlalchemy.orm import Session

from gisgrid.access.audit import record_audit
from gisgrid.errors import GisgridError, InputError

__all__ = ["Deadline", "UnknownYear", "WorkCalendar", "add_workdays", "enter_year", "load_calendar",
           "recompute_open_deadlines", "set_deadline", "set_override", "close_deadline"]

#: The longest clock counted (60 + 30 working days is about 130 calendar days).
MAX_DAYS = 400
OVERRIDE_KINDS = {"holiday": "放假", "workday": "调休上班"}
_HOLIDAY_NAMES = {h.value: h.chinese for h in Holiday}
_WEEKDAYS = "一二三四五六日"


class UnknownYear(GisgridError):
    """A deadline reaches a year whose holidays nobody has published to gisgrid yet."""

    status = 409
    kind = "calendar"

    def __init__(self, year: int):
        first, last = _library_years()
        super().__init__(
            f"{year} 年的放假安排尚未录入（内置日历只含 {first}–{last} 年），期限暂不能推算，录入后自动算出："
            f"请系统管理员在“工作日日历”页面按国务院办公厅 {year} 年放假安排通知录入放假和调休上班日期，"
            f"并声明该年已录入完毕（命令行：gisgrid workdays set 日期 holiday|workday --reason 依据 --commit；"
            f"gisgrid workdays year {year} --source 通知文号 --commit）")
        self.year = year


def _library_years() -> tuple[int, int]:
    years = sorted({d.year for d in chinese_calendar.holidays})
    return years[0], years[-1]


def _library_knows(year: int) -> bool:
    first, last = _library_years()
    return first <= year <= last


@dataclass(frozen=True)
class Override:
    kind: str  # 'holiday' | 'workday'
    reason: str


@dataclass(frozen=True)
class Deadline:
    """The Nth working day after ``start`` and how it was found."""

    start: dt.date
    days: int
    due: dt.date
    holidays: tuple[tuple[dt.date, str], ...]  # skipped: (date, why)
    weekend_days: tuple[dt.date, ...]  # ordinary Saturdays and Sundays skipped
    makeup_days: tuple[tuple[dt.date, str], ...]  # Saturdays/Sundays worked and counted
    overrides: tuple[tuple[dt.date, str, str], ...]  # (date, kind, reason) used
    sources: tuple[str, ...] = field(default=())

    def computation(self) -> dict:
        """What the ``deadline`` row keeps (JSON) and ``gisgrid workdays add --json`` prints."""
        return {
            "start": self.start.isoformat(), "days": self.days, "date": self.due.isoformat(),
            "holidays_skipped": [{"date": d.isoformat(), "why": why} for d, why in self.holidays],
            "weekend_days_skipped": [d.isoformat() for d in self.weekend_days],
            "makeup_workdays_counted": [{"date": d.isoformat(), "why": why} for d, why in self.makeup_days],
            "overrides_used": [{"date": d.isoformat(), "kind": k, "reason": r} for d, k, r in self.overrides],
            "sources": list(self.sources), "explanation": self.explain(),
        }

    def explain(self) -> str:
        """One Chinese sentence: start, days, result, what was skipped and what was counted."""
        text = f"自 {self.start.isoformat()}（第 0 日）起第 {self.days} 个工作日为 {self.due.isoformat()}"
        text += f"（星期{_WEEKDAYS[self.due.weekday()]}）"
        parts = []
        if self.holidays:
            names = "、".join(dict.fromkeys(why for _, why in self.holidays))
            parts.append(f"跳过节假日 {len(self.holidays)} 天（{names}：{_ranges([d for d, _ in self.holidays])}）")
        if self.weekend_days:
            parts.append(f"跳过周末 {len(self.weekend_days)} 天")
        if self.makeup_days:
            parts.append(f"计入调休上班日 {len(self.makeup_days)} 天（{_ranges([d for d, _ in self.makeup_days])}）")
        if self.overrides:
            parts.append("其中按本地录入：" + "、".join(f"{d.isoformat()} {OVERRIDE_KINDS[k]}（{r}）"
                                                  for d, k, r in self.overrides))
        if parts:
            text += "；" + "；".join(parts)
        return text + "。"


def _ranges(days: list[dt.date]) -> str:
    """2026-10-01 至 2026-10-08、2026-10-10: consecutive dates as one range."""
    runs: list[list[dt.date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return "、".join(r[0].isoformat() if len(r) == 1 else f"{r[0].isoformat()} 至 {r[-1].isoformat()}" for r in runs)


class WorkCalendar:
    """chinesecalendar, under the overrides, plus the years entered by hand."""

    def __init__(self, overrides: dict[dt.date, Override] | None = None,
                 entered_years: dict[int, str] | None = None):
        self.overrides = dict(overrides or {})
        self.entered_years = dict(entered_years or {})

    def knows(self, year: int) -> bool:
        return _library_knows(year) or year in self.entered_years

    def day(self, day: dt.date) -> tuple[bool, str, str]:
        """``(working, category, why)``; category is holiday, weekend, makeup, weekday or override."""
        override = self.overrides.get(day)
        if override is not None:
            return override.kind == "workday", "override", override.reason
        if not self.knows(day.year):
            raise UnknownYear(day.year)
        if _library_knows(day.year):
            is_holiday, name = chinese_calendar.get_holiday_detail(day)
            label = _HOLIDAY_NAMES.get(name, name) if name else None
            if is_holiday:  # a named holiday (on a weekday or not), else an ordinary weekend
                return (False, "holiday", label) if label else (False, "weekend", "周末")
            if day.weekday() >= 5:
                return True, "makeup", f"{label}调休" if label else "调休上班"
            return True, "weekday", ""
        # An entered year: its holidays and make-up days are overrides; the rest is the week.
        if day.weekday() >= 5:
            return False, "weekend", "周末"
        return True, "weekday", ""

    def add(self, start: dt.date, days: int) -> Deadline:
        """The ``days``-th working day after ``start`` (day 0)."""
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= MAX_DAYS:
            raise InputError(f"工作日天数为 {days!r}；应为 0–{MAX_DAYS} 的整数")
        if not dt.date(2000, 1, 1) <= start <= dt.date(2100, 1, 1):
            raise InputError(f"起算日期为 {start.isoformat()}；应在 2000-01-01 至 2100-01-01 之间")
        holidays, weekends, makeup, used = [], [], [], []
        day, counted = start, 0
        while counted < days:
            day += dt.timedelta(days=1)
            working, category, why = self.day(day)
            if category == "override":
                used.append((day, self.overrides[day].kind, why))
                if working and day.weekday() >= 5:
                    makeup.append((day, why))
                elif not working:
                    holidays.append((day, why))
            elif category == "holiday":
                holidays.append((day, why))
            elif category == "weekend":
                weekends.append(day)
            elif category == "makeup":
                makeup.append((day, why))
            counted += working
        sources = [f"chinesecalendar {chinese_calendar.__version__}"]
        for year in sorted({start.year, day.year} | set(range(start.year, day.year + 1))):
            if year in self.entered_years and not _library_knows(year):
                sources.append(f"{year} 年按 {self.entered_years[year]} 录入")
        return Deadline(start, days, day, tuple(holidays), tuple(weekends), tuple(makeup), tuple(used),
                        tuple(sources))


def load_calendar(session: Session) -> WorkCalendar:
    """The calendar as this database knows it (overrides and entered years)."""
    overrides = {r.day: Override(r.kind, r.reason) for r in session.execute(sa.text(
        "SELECT day, kind, reason FROM calendar_override"))}
    years = dict(session.execute(sa.text("SELECT year, source FROM calendar_year")).all())
    return WorkCalendar(overrides, years)


def add_workdays(session: Session, start: dt.date, days: int) -> Deadline:
    """:meth:`WorkCalendar.add` on this database's calendar."""
    return load_calendar(session).add(start, days)


def _count(calendar: WorkCalendar, start: dt.date, days: int) -> tuple[dt.date | None, int | None, dict]:
    """(due, unknown year, computation) — a clock into an unknown year is kept pending, not guessed."""
    try:
        deadline = calendar.add(start, days)
    except UnknownYear as exc:
        return None, exc.year, {"start": start.isoformat(), "days": days, "date": None,
                                "unknown_year": exc.year, "explanation": exc.message}
    return deadline.due, None, deadline.computation()


def set_deadline(session: Session, subject: str, subject_id: int, kind: str, start: dt.date, days: int,
                 calendar: WorkCalendar | None = None) -> dict:
    """Store (or restart) the clock ``kind`` of ``subject`` ``subject_id``: due date and how.

    A clock that reaches a year nobody has entered is stored without a date (``due`` None,
    ``unknown_year`` and the explanation say why) and gets its date when the year is entered.
    """
    due, unknown, computation = _count(calendar or load_calendar(session), start, days)
    session.execute(sa.text("""
        INSERT INTO deadline (subject, subject_id, kind, start, days, due, unknown_year, computation)
        VALUES (:s, :i, :k, :start, :days, :due, :unknown, CAST(:c AS jsonb))
        ON CONFLICT (subject, subject_id, kind) DO UPDATE SET start = excluded.start, days = excluded.days,
            due = excluded.due, unknown_year = excluded.unknown_year, computation = excluded.computation,
            computed_at = now(), closed_on = NULL"""),
        {"s": subject, "i": subject_id, "k": kind, "start": start, "days": days, "due": due, "unknown": unknown,
         "c": _json(computation)})
    return {"due": due, "unknown_year": unknown, **computation}


def close_deadline(session: Session, subject: str, subject_id: int, kind: str, on: dt.date) -> None:
    """The clock was met (or no longer runs): it stops moving with the calendar."""
    session.execute(sa.text("UPDATE deadline SET closed_on = :on WHERE subject = :s AND subject_id = :i AND kind = :k"),
                    {"on": on, "s": subject, "i": subject_id, "k": kind})


def recompute_open_deadlines(session: Session, calendar: WorkCalendar | None = None) -> list[dict]:
    """Count every open clock again on the current calendar; the ones whose date moved
    (including a pending one that now has a date)."""
    calendar = calendar or load_calendar(session)
    moved = []
    rows = session.execute(sa.text(
        "SELECT id, subject, subject_id, kind, start, days, due FROM deadline WHERE closed_on IS NULL ORDER BY id"))
    for row in rows.mappings().all():
        due, unknown, computation = _count(calendar, row["start"], row["days"])
        session.execute(sa.text("UPDATE deadline SET due = :due, unknown_year = :unknown, "
                                "computation = CAST(:c AS jsonb), computed_at = now() WHERE id = :id"),
                        {"due": due, "unknown": unknown, "c": _json(computation), "id": row["id"]})
        if due != row["due"]:
            moved.append({"id": row["id"], "subject": row["subject"], "subject_id": row["subject_id"],
                          "kind": row["kind"], "before": row["due"].isoformat() if row["due"] else None,
                          "after": due.isoformat() if due else None})
    return moved


def _write_override(session: Session, day: dt.date, kind: str, reason: str, actor: str) -> None:
    """One day's override written (``default``: removed, the calendar package decides again)."""
    if kind == "default":
        session.execute(sa.text("DELETE FROM calendar_override WHERE day = :d"), {"d": day})
    else:
        session.execute(sa.text("""
            INSERT INTO calendar_override (day, kind, reason, entered_by) VALUES (:d, :k, :r, :a)
            ON CONFLICT (day) DO UPDATE SET kind = excluded.kind, reason = excluded.reason,
                entered_by = excluded.entered_by, entered_at = now()"""),
            {"d": day, "k": kind, "r": reason, "a": actor})


def set_override(session: Session, day: dt.date, kind: str, reason: str, *, actor: str) -> dict:
    """Say that ``day`` is a holiday or a make-up workday (``kind`` 'default' removes the entry);
    audited; open deadlines are recomputed. Returns before/after and the moved deadlines."""
    allowed = {**OVERRIDE_KINDS, "default": "恢复为日历默认"}
    if kind not in allowed:
        raise InputError(f"类型为 {kind!r}；应为 {'、'.join(f'{k}（{v}）' for k, v in allowed.items())} 之一")
    reason = (reason or "").strip()
    if kind != "default" and not reason:
        raise InputError("请写明依据（--reason），例如国务院办公厅通知文号或本地调整的文件")
    if len(reason) > 200:
        raise InputError("依据最多 200 个字符")
    if not dt.date(2000, 1, 1) <= day <= dt.date(2100, 12, 31):
        raise InputError(f"日期为 {day.isoformat()}；应在 2000–2100 年之间")
    calendar = load_calendar(session)
    before = _describe(calendar, day)
    _write_override(session, day, kind, reason, actor)
    calendar = load_calendar(session)
    after = _describe(calendar, day)
    moved = recompute_open_deadlines(session, calendar)
    record_audit(session, actor, "calendar.set", "calendar_override", day.isoformat(),
                 before={"day": before}, after={"day": after, "reason": reason, "moved": len(moved)})
    return {"date": day.isoformat(), "before": before, "after": after, "moved": moved}


def enter_year(session: Session, year: int, source: str, *, actor: str) -> dict:
    """Declare that ``year``'s holidays and make-up workdays have all been entered as overrides
    (from the notice ``source``): from now on deadlines may reach it."""
    source = (source or "").strip()
    if not 2000 <= year <= 2100:
        raise InputError(f"年份为 {year}；应在 2000–2100 之间")
    if _library_knows(year):
        raise InputError(f"chinesecalendar 已含 {year} 年的放假安排；如有本地调整，请用 gisgrid workdays set 逐日录入")
    if not source:
        raise InputError("请写明依据（--source），例如“国办发明电〔2026〕N号”")
    entered = session.execute(sa.text(
        "SELECT day, kind FROM calendar_override WHERE extract(year FROM day) = :y ORDER BY day"),
        {"y": year}).all()
    holidays = [d for d, k in entered if k == "holiday"]
    if not holidays:
        raise InputError(f"{year} 年尚未录入任何放假日期：请先按通知逐日录入（gisgrid workdays set 日期 holiday "
                         f"--reason …），再声明该年录入完毕")
    session.execute(sa.text("""
        INSERT INTO calendar_year (year, source, entered_by) VALUES (:y, :s, :a)
        ON CONFLICT (year) DO UPDATE SET source = excluded.source, entered_by = excluded.entered_by,
            entered_at = now()"""), {"y": year, "s": source[:200], "a": actor})
    moved = recompute_open_deadlines(session)
    record_audit(session, actor, "calendar.year", "calendar_year", str(year),
                 after={"source": source, "holidays": len(holidays), "workdays": len(entered) - len(holidays)})
    return {"year": year, "source": source, "holidays": len(holidays), "workdays": len(entered) - len(holidays),
            "moved": moved}


def _describe(calendar: WorkCalendar, day: dt.date) -> str:
    try:
        working, category, why = calendar.day(day)
    except UnknownYear:
        return "未知（该年放假安排未录入）"
    word = "工作日" if working else "休息日"
    return f"{word}（{why}）" if why else word


def _json(value: dict) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


_KIND_WORDS = {"holiday": "holiday", "放假": "holiday", "休": "holiday", "休息": "holiday",
               "workday": "workday", "上班": "workday", "调休上班": "workday", "班": "workday",
               "default": "default", "恢复": "default"}


def parse_calendar_lines(text: str) -> tuple[list[tuple[dt.date, str, str]], list[str]]:
    """Lines of a State Council notice as entered by hand: ``日期[~日期] 放假|上班 [说明]`` (also
    holiday/workday/default, and 至 for a range). Returns (date, kind, note) for each day and
    every problem with its line number — all of them, not the first."""
    entries, problems, seen = [], [], {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace("～", "~").replace("至", "~").split(None, 2)
        if len(parts) < 2:
            problems.append(f"第 {number} 行“{line[:40]}”：应为“日期 放假|上班 [说明]”，如 2027-01-01 放假 元旦")
            continue
        span, word = parts[0], parts[1]
        note = parts[2].strip() if len(parts) > 2 else ""
        kind = _KIND_WORDS.get(word.lower())
        if kind is None:
            problems.append(f"第 {number} 行：类型“{word[:10]}”应为 放假、上班（或 holiday、workday、default）")
            continue
        try:
            first, _, last = span.partition("~")
            start = dt.date.fromisoformat(first)
            end = dt.date.fromisoformat(last) if last else start
        except ValueError:
            problems.append(f"第 {number} 行：日期“{span[:25]}”应为 年-月-日 或 年-月-日~年-月-日")
            continue
        if end < start or (end - start).days > 31:
            problems.append(f"第 {number} 行：日期范围 {span} 应由早到晚且不超过 31 天")
            continue
        day = start
        while day <= end:
            if day in seen and seen[day][0] != kind:
                problems.append(f"第 {number} 行：{day.isoformat()} 在第 {seen[day][1]} 行已录为"
                                f"{_KIND_LABEL[seen[day][0]]}，与本行矛盾")
            seen[day] = (kind, number)
            entries.append((day, kind, note))
            day += dt.timedelta(days=1)
    if not entries and not problems:
        problems.append("没有录入任何日期")
    return entries, problems


_KIND_LABEL = {**OVERRIDE_KINDS, "default": "恢复为日历默认"}


def calendar_overview(session: Session) -> dict:
    """What the calendar page shows: the years chinesecalendar knows, the years entered by hand,
    the overrides, and the open deadlines waiting for a year."""
    first, last = _library_years()
    years = [dict(r) for r in session.execute(sa.text(
        "SELECT year, source, entered_by, entered_at FROM calendar_year ORDER BY year")).mappings()]
    overrides = [dict(r) for r in session.execute(sa.text(
        "SELECT day, kind, reason, entered_by, entered_at FROM calendar_override ORDER BY day DESC LIMIT 400"))
        .mappings()]
    waiting = [dict(r) for r in session.execute(sa.text(
        "SELECT unknown_year AS year, subject, count(*) AS n FROM deadline WHERE closed_on IS NULL "
        "AND unknown_year IS NOT NULL GROUP BY unknown_year, subject ORDER BY 1, 2")).mappings()]
    return {"library_first": first, "library_last": last, "years": years, "overrides": overrides,
            "waiting": waiting}


def apply_calendar(session: Session, entries: list[tuple[dt.date, str, str]], basis: str, *, actor: str,
                   year: int | None = None, source: str | None = None) -> dict:
    """Write the overrides of :func:`parse_calendar_lines` (each day audited, with ``basis`` — the
    notice — and the line's note as its reason), optionally declare ``year`` entered, and count
    the open deadlines again once. The caller commits or rolls back (a preview)."""
    basis = (basis or "").strip()
    if not basis:
        raise InputError("请写明依据，例如国务院办公厅关于某年部分节假日安排的通知文号")
    calendar = load_calendar(session)
    changes = []
    for day, kind, note in entries:
        reason = (basis + (f"：{note}" if note else ""))[:200]
        if not dt.date(2000, 1, 1) <= day <= dt.date(2100, 12, 31):
            raise InputError(f"日期为 {day.isoformat()}；应在 2000–2100 年之间")
        before = _describe(calendar, day)
        _write_override(session, day, kind, reason, actor)
        changes.append({"date": day, "kind": kind, "before": before, "reason": reason})
    calendar = load_calendar(session)
    for change in changes:
        change["after"] = _describe(calendar, change["date"])
        record_audit(session, actor, "calendar.set", "calendar_override", change["date"].isoformat(),
                     before={"day": change["before"]}, after={"day": change["after"], "reason": change["reason"]})
    if year is not None:
        entered = enter_year(session, year, source or basis, actor=actor)
        moved = entered["moved"]
    else:
        moved = recompute_open_deadlines(session, calendar)
    return {"changes": changes, "moved": moved, "year": year}
