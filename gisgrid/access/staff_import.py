"""四定 staff from a roster file (XLSX or CSV): the roster export, edited, imports back.

The file has the columns :func:`gisgrid.export.registers.export_roster` writes — 网格编码,
网格名称, 级别, 类型, 姓名, 职务, 联系电话, 所在单位, 职责（定责）, 任务（定任务）, 起始日期 — and
may add 截止日期; 网格名称, 级别, 类型 and 配备情况 are read and left alone. The header row is
found among the first rows (the export puts title rows above it); every visible sheet with
one is read. Files arrive as the employer register does (:mod:`gisgrid.employers.reading`:
UTF-8/UTF-16/GBK CSV, comma, tab or semicolon; the content decides the format).

Policy: everything is checked and every problem reported at once, with file, sheet, row
and column; with any problem nothing is written. A row marked 未配备 (the export's row for a
grid with nobody) or with no person at all is skipped and counted. A person is the staff
member with the same name and phone (digits compared) if one exists, else a new one; rows
of one new person become one staff member. A row matches an assignment of that person to
that grid with the same start date (a row without one: the assignment in force today):
unchanged, or updated where its 职责/任务/截止日期 cells say otherwise (an empty cell keeps
what is stored). Any other assignment of the person to
the grid whose dates overlap the row's is a problem. A dry run writes nothing; ``commit``
writes in the caller's transaction and audits every assignment (``staff.import``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.access.audit import record_audit
from gisgrid.employers.reading import (
    HEADER_SCAN_ROWS, OLE_MAGIC, SEPARATORS, ZIP_MAGIC, _cell_text, _decode_text, header_key,
)
from gisgrid.errors import InputError
from gisgrid.labels import ROLE_LABELS

__all__ = ["ROSTER_HEADERS", "StaffImportRefused", "import_staff", "read_roster"]

#: column → accepted headers (the roster export's first)
ROSTER_HEADERS: dict[str, tuple[str, ...]] = {
    "grid_code": ("网格编码", "网格代码", "grid_code"),
    "grid_name": ("网格名称", "grid_name"),
    "level": ("级别", "网格级别", "level"),
    "kind": ("类型", "网格类型", "kind"),
    "name": ("姓名", "人员姓名", "name"),
    "role": ("职务", "人员类别", "角色", "role"),
    "phone": ("联系电话", "电话", "手机", "手机号码", "phone"),
    "unit": ("所在单位", "工作单位", "单位", "unit"),
    "duty": ("职责（定责）", "职责", "定责", "duty"),
    "task": ("任务（定任务）", "任务", "定任务", "task"),
    "valid_from": ("起始日期", "任职起始日期", "开始日期", "valid_from"),
    "valid_to": ("截止日期", "任职截止日期", "结束日期", "valid_to"),
    "staffing": ("配备情况",),
}
#: role words → staff.role (the titles of gisgrid.labels, DOMAIN.md's other names, the codes)
ROLE_WORDS: dict[str, str] = {
    **{title: code for code, title in ROLE_LABELS.items()}, **{code: code for code in ROLE_LABELS},
    "专职": "full_time", "兼职": "part_time", "协理员": "coordinator", "法律监督员": "coordinator",
    "劳动保障协管员": "coordinator",
}
UNSTAFFED = "未配备"
LIMITS = {"name": 50, "phone": 40, "unit": 100, "duty": 500, "task": 500}
PERSON_COLUMNS = ("role", "phone", "unit", "duty", "task", "valid_from", "valid_to")
_KEYS = {re.sub(r"\([^)]*\)", "", header_key(h)) or header_key(h): c for c, hs in ROSTER_HEADERS.items() for h in hs}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PHONE = re.compile(r"(?:\+?86-?)?(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(?:(?:-|转)\d{1,6})?|[2-9]\d{6,7})")
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?|(\d{4})(\d{2})(\d{2})")


class StaffImportRefused(InputError):
    """The file has problems: nothing is written. ``report`` is the whole report."""

    def __init__(self, message: str, report: dict):
        super().__init__(message, details=report["problems"])
        self.report = report


@dataclass
class RosterRow:
    """One data row: where it is in the file and its cells' text by roster column."""

    sheet: str | None
    row: int
    values: dict[str, str]
    cells: dict[str, str] = field(default_factory=dict)  # column → "K7" (XLSX) or the header (CSV)


@dataclass
class Roster:
    """What :func:`read_roster` read: the rows, and where their headers were."""

    file: str
    rows: list[RosterRow]
    headers: dict[str, str]  # column → header text in the file
    sheets: list[dict]  # name, header_row
    encoding: str | None = None


def read_roster(path: str | Path, *, filename: str | None = None) -> Roster:
    """Read a roster workbook or CSV into :class:`RosterRow` s (text, cells stripped).

    ``filename`` names the file in messages (an upload saved under another name).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = open(p, "wb").write("花名册\\n网格编码,姓名,职务\\n419901001,张三,协管员\\n".encode("gbk"))
    >>> roster = read_roster(p)
    >>> [(r.row, r.values["name"]) for r in roster.rows], roster.encoding
    ([(3, '张三')], 'gb18030')
    """
    path = Path(path)
    name = filename or path.name
    if not path.is_file():
        raise InputError(f"文件 {name} 不存在")
    with path.open("rb") as stream:
        start = stream.read(4096)
    if not start.strip():
        raise InputError(f"{name}：文件为空，没有可读取的内容")
    if start.startswith(OLE_MAGIC):
        raise InputError(f"{name}：旧版 .xls（或加密的）工作簿，无法读取：请在 Excel/WPS 中另存为 .xlsx 或 CSV")
    if start.startswith(ZIP_MAGIC):
        return _read_xlsx(path, name)
    if path.suffix.lower() in (".xlsx", ".xlsm") and b"\0" in start and not start.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{name} 不是可读取的 XLSX 工作簿")
    return _read_csv(path, name)


def import_staff(session: Session, path: str | Path, *, actor: str, commit: bool = False,
                 filename: str | None = None, on: dt.date | None = None) -> dict:
    """Check a roster file against the active generation and the staff; with ``commit`` write it.

    Parameters
    ----------
    path : str or Path
        XLSX or CSV (:func:`read_roster`).
    actor : str
        Who imports (audit rows).
    commit : bool
        False (default): a dry run, nothing is written. True: people and assignments are
        added/updated in ``session``'s transaction (the caller commits), one audit row each.
    on : date, optional
        "Today" for rows without a start date; default :func:`gisgrid.clock.today`.

    Returns
    -------
    dict
        ``file``, ``sheets``, ``rows``, ``skipped`` (未配备 rows), ``new_people``,
        ``existing_people``, ``updated_people``, ``new_assignments``, ``updated_assignments``,
        ``unchanged``, ``problems`` (empty), ``committed``.

    Raises
    ------
    StaffImportRefused
        When any row has a problem (unknown grid or role, no name, bad or reversed dates,
        malformed phone, duplicate rows, overlap with an assignment in the database …);
        its ``report`` lists every one with sheet, row and column, and nothing is written.

    Examples
    --------
    >>> import_staff(session, "roster.xlsx", actor="cli:alice")["unchanged"]  # doctest: +SKIP
    [{'sheet': '四定人员', 'row': 5, 'grid': '419901001', 'name': '张三', 'assignment_id': 12}, ...]
    """
    today = on or clock.today()
    roster = read_roster(path, filename=filename)
    plan = _Plan(session, roster, today)
    report = plan.report(commit)
    if report["problems"]:
        report["committed"] = False
        n = len(report["problems"])
        raise StaffImportRefused(f"{roster.file}：发现 {n} 处问题，未导入任何人员（全部改正后再导入）", report)
    if commit:
        plan.write(actor)
    return report


# -- reading ------------------------------------------------------------------------------


def _column_of(text) -> str | None:
    key = header_key(text)
    return _KEYS.get(key) or _KEYS.get(re.sub(r"\([^)]*\)", "", key))


def _find_header(lines: list[list]) -> tuple[int, dict[int, str]]:
    """(index of the header line, position → column) among the first lines; (-1, {}) if none."""
    best, best_at = {}, -1
    for i, cells in enumerate(lines[:HEADER_SCAN_ROWS]):
        found: dict[int, str] = {}
        for position, cell in enumerate(cells):
            column = _column_of(cell) if cell not in (None, "") else None
            if column and column not in found.values():
                found[position] = column
        if len(found) > len(best):
            best, best_at = found, i
    if not {"grid_code", "name"} <= set(best.values()):
        return -1, {}
    return best_at, best


def _letter(position: int) -> str:
    out = ""
    position += 1
    while position:
        position, rem = divmod(position - 1, 26)
        out = chr(65 + rem) + out
    return out


def _rows_below(lines: list[list], at: int, positions: dict[int, str], sheet: str | None,
                xlsx: bool) -> list[RosterRow]:
    rows = []
    header = lines[at]
    for i, line in enumerate(lines[at + 1:], start=at + 2):
        values = {c: _cell_text(line[p]).strip() if p < len(line) else "" for p, c in positions.items()}
        if not any(values.values()):
            continue  # blank lines (and formatted but empty ones) are no rows
        cells = {c: f"{_letter(p)}{i}" if xlsx else str(header[p]).strip() for p, c in positions.items()}
        rows.append(RosterRow(sheet, i, values, cells))
    return rows


def _headers(lines: list[list], at: int, positions: dict[int, str]) -> dict[str, str]:
    return {c: str(lines[at][p]).strip() for p, c in positions.items()}


def _read_xlsx(path: Path, name: str) -> Roster:
    import openpyxl

    stream = path.open("rb")
    try:
        book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        stream.close()
        raise InputError(f"{name} 不是可读取的 XLSX 工作簿：{exc}") from None
    rows, headers, sheets = [], {}, []
    try:
        for sheet in book.worksheets:
            if getattr(sheet, "sheet_state", "visible") != "visible":
                continue
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()  # some programs write a wrong <dimension> (see reading.py)
            lines = [list(r) for r in sheet.iter_rows(values_only=True)]
            at, positions = _find_header(lines)
            if at < 0:
                continue
            rows += _rows_below(lines, at, positions, sheet.title, xlsx=True)
            for column, text in _headers(lines, at, positions).items():
                headers.setdefault(column, text)
            sheets.append({"sheet": sheet.title, "header_row": at + 1})
    finally:
        book.close()
        stream.close()
    if not sheets:
        raise InputError(f"{name}：没有工作表在前 {HEADER_SCAN_ROWS} 行内有花名册表头（至少需要“网格编码”和“姓名”两列）")
    return Roster(name, rows, headers, sheets)


def _read_csv(path: Path, name: str) -> Roster:
    text, encoding = _decode_text(path, path.read_bytes(), None)
    text = text.lstrip("\ufeff")
    best = None
    for sep in SEPARATORS:
        lines = list(csv.reader(io.StringIO(text), delimiter=sep))
        at, positions = _find_header(lines)
        if at >= 0 and (best is None or len(positions) > len(best[2])):
            best = (lines, at, positions)
    if best is None:
        raise InputError(f"{name}：前 {HEADER_SCAN_ROWS} 行内没有花名册表头（至少需要“网格编码”和“姓名”两列；"
                         "字段以逗号、制表符或分号分隔）")
    lines, at, positions = best
    return Roster(name, _rows_below(lines, at, positions, None, xlsx=False), _headers(lines, at, positions),
                  [{"sheet": None, "header_row": at + 1}], encoding)


# -- checking and writing -----------------------------------------------------------------


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


def _parse_date(text: str) -> dt.date | None:
    match = _DATE.fullmatch(text)
    if not match:
        raise ValueError(text)
    y, m, d = (int(v) for v in (match.groups()[:3] if match.group(1) else match.groups()[3:]))
    if not 1949 <= y <= 2100:
        raise ValueError(text)
    return dt.date(y, m, d)


def _overlaps(a_from, a_to, b_from, b_to) -> bool:
    lo, hi = dt.date.min, dt.date.max
    return (a_from or lo) <= (b_to or hi) and (b_from or lo) <= (a_to or hi)


def _at(row: RosterRow) -> str:
    return f"第 {row.row} 行" + (f"（工作表 {row.sheet}）" if row.sheet else "")


def _span(start, end) -> str:
    return f"{start or '（无起始日期）'} 至 {end or '今'}"


class _Plan:
    """Every row checked against the database; what a commit would write."""

    def __init__(self, session: Session, roster: Roster, today: dt.date):
        self.session, self.roster, self.today = session, roster, today
        self.problems: list[dict] = []
        self.skipped: list[dict] = []
        self.people: dict[tuple[str, str], dict] = {}  # person key → staff id or new person
        self.actions: list[dict] = []  # one per good row: new / update / unchanged
        gen = session.execute(sa.text("SELECT id, name FROM generation WHERE status = 'active'")).first()
        if gen is None:
            raise InputError("还没有现行的网格版本：先导入网格并执行 gisgrid grids activate NAME")
        self.generation = gen.name
        self.grids = {r.code: r for r in session.execute(sa.text(
            "SELECT code, name, identity FROM grid WHERE generation_id = :g"), {"g": gen.id})}
        self.staff: dict[tuple[str, str], dict] = {}
        for r in session.execute(sa.text("SELECT id, name, role, phone, unit FROM staff ORDER BY id")).mappings():
            self.staff.setdefault((r["name"].strip(), _digits(r["phone"])), dict(r))
        self._check()

    def problem(self, row: RosterRow, column: str | None, reason: str, message: str) -> None:
        self.problems.append({"file": self.roster.file, "sheet": row.sheet, "row": row.row,
                              "column": self.roster.headers.get(column, column) if column else None,
                              "cell": row.cells.get(column) if column else None, "reason": reason,
                              "message": message})

    def _check(self) -> None:
        parsed = [p for p in (self._parse(row) for row in self.roster.rows) if p is not None]
        seen: dict[tuple, RosterRow] = {}
        roles: dict[tuple[str, str], tuple[str, RosterRow]] = {}
        for p in parsed:
            row = p["source"]
            first = seen.setdefault((p["key"], p["grid"]), row)
            if first is not row:
                self.problem(row, "name", "duplicate_row",
                             f"{p['name']} 在网格 {p['grid']} 已出现在{_at(first)}：同一人员同一网格只能有一行")
                p["bad"] = True
            role, at = roles.setdefault(p["key"], (p["role"], row))
            if role != p["role"]:
                self.problem(row, "role", "role_conflict",
                             f"{p['name']} 的职务为 {ROLE_LABELS[p['role']]}，{_at(at)}为 "
                             f"{ROLE_LABELS[role]}：同一人员只能有一个职务")
                p["bad"] = True
        good = [p for p in parsed if not p.get("bad")]
        existing = self._assignments({self.staff[p["key"]]["id"] for p in good if p["key"] in self.staff})
        for p in good:
            self._match(p, existing)

    def _parse(self, row: RosterRow) -> dict | None:
        v = row.values
        name = v.get("name", "")
        if name in ("", UNSTAFFED) and not any(v.get(c) for c in PERSON_COLUMNS):
            self.skipped.append({"sheet": row.sheet, "row": row.row, "grid": v.get("grid_code", "")})
            return None
        ok = True
        for column, text in v.items():
            if _CONTROL.search(text):
                self.problem(row, column, "control_character", f"含有控制字符：{text[:40]!r}；应为普通文本")
                ok = False
            elif column in LIMITS and len(text) > LIMITS[column]:
                self.problem(row, column, "too_long", f"过长（{len(text)} 个字符）；最多 {LIMITS[column]} 个字符")
                ok = False
        code = v.get("grid_code", "")
        if not code:
            self.problem(row, "grid_code", "missing_grid", "网格编码为空")
            ok = False
        elif code not in self.grids:
            self.problem(row, "grid_code", "unknown_grid", f"网格编码 {code[:40]!r} 不在现行网格版本“{self.generation}”中")
            ok = False
        if name in ("", UNSTAFFED):
            self.problem(row, "name", "missing_name",
                         "姓名为空" if not name else "姓名为“未配备”，但本行填有人员信息：请填写姓名，或清空本行人员信息")
            ok = False
        role_text = v.get("role", "")
        role = ROLE_WORDS.get(role_text) or ROLE_WORDS.get(role_text.lower())
        if role is None:
            allowed = "、".join(ROLE_LABELS.values())
            self.problem(row, "role", "unknown_role" if role_text else "missing_role",
                         f"职务为 {role_text[:40]!r}；应为 {allowed} 之一" if role_text else f"职务为空；应为 {allowed} 之一")
            ok = False
        phone = v.get("phone", "")
        if phone and not _PHONE.fullmatch(re.sub(r"[\s()（）]", "", phone)):
            self.problem(row, "phone", "bad_phone",
                         f"联系电话 {phone[:40]!r} 格式不对；应为 11 位手机号或带区号的固定电话（如 0371-12345678）")
            ok = False
        dates = {}
        for column, label in (("valid_from", "起始日期"), ("valid_to", "截止日期")):
            text = v.get(column, "")
            try:
                dates[column] = _parse_date(text) if text else None
            except ValueError:
                self.problem(row, column, "bad_date", f"{label} {text[:40]!r} 不是日期；应为 YYYY-MM-DD（如 2026-01-01）")
                ok = False
        start, end = dates.get("valid_from"), dates.get("valid_to")
        if end is not None and end < (start or self.today):
            self.problem(row, "valid_to", "dates_reversed",
                         f"截止日期 {end} 早于起始日期 {start or str(self.today) + '（起始日期为空，按今日）'}")
            ok = False
        if not ok:
            return None
        return {"source": row, "grid": code, "name": name, "role": role, "phone": phone,
                "key": (name, _digits(phone)), "unit": v.get("unit") or None, "duty": v.get("duty") or None,
                "task": v.get("task") or None, "from": start, "to": end}

    def _assignments(self, staff_ids: set[int]) -> dict[tuple[int, str], list[dict]]:
        out: dict[tuple[int, str], list[dict]] = {}
        if not staff_ids:
            return out
        for r in self.session.execute(sa.text(
                "SELECT id, staff_id, grid_identity::text AS identity, duty, task, valid_from, valid_to "
                "FROM staff_grid WHERE staff_id = ANY(:ids) ORDER BY id"), {"ids": sorted(staff_ids)}).mappings():
            out.setdefault((r["staff_id"], r["identity"]), []).append(dict(r))
        return out

    def _match(self, p: dict, existing: dict) -> None:
        row, grid = p["source"], self.grids[p["grid"]]
        person = self.staff.get(p["key"])
        base = {"sheet": row.sheet, "row": row.row, "grid": p["grid"], "grid_name": grid.name, "name": p["name"],
                "role": p["role"], "phone": p["phone"] or None}
        if person is None:
            new = self.people.setdefault(p["key"], {"staff_id": None, "name": p["name"], "role": p["role"],
                                                    "phone": p["phone"] or None, "unit": p["unit"], "rows": []})
            new["rows"].append(row.row)
            self.actions.append({**base, "action": "new", "person": "new", "staff_id": None, "duty": p["duty"],
                                 "task": p["task"], "from": p["from"] or self.today, "to": p["to"], "key": p["key"],
                                 "identity": str(grid.identity)})
            return
        known = self.people.setdefault(p["key"], {"staff_id": person["id"], "name": person["name"],
                                                  "role": person["role"], "phone": person["phone"],
                                                  "unit": person["unit"], "rows": [], "changes": {}})
        known["rows"].append(row.row)
        for column in ("role", "unit"):
            if p[column] and p[column] != person[column]:
                known["changes"][column] = {"before": person[column], "after": p[column]}
        base.update(person="existing", staff_id=person["id"], key=p["key"], identity=str(grid.identity))
        mine = existing.get((person["id"], str(grid.identity)), [])
        same = next((a for a in mine if a["valid_from"] == p["from"]), None)
        if same is None and p["from"] is None:
            # No start date in the file: the assignment in force today is the one meant.
            same = next((a for a in mine if _overlaps(a["valid_from"], a["valid_to"], self.today, self.today)), None)
        start = p["from"] if same is not None else p["from"] or self.today
        end = p["to"] if p["to"] is not None else (same["valid_to"] if same else None)
        for other in mine:
            if other is not same and _overlaps(start, end, other["valid_from"], other["valid_to"]):
                self.problem(row, "valid_from", "overlap",
                             f"{p['name']} 在网格 {p['grid']} 已有任职 {_span(other['valid_from'], other['valid_to'])}"
                             f"，与本行 {_span(start, end)} 重叠：请改起始日期为已有任职的起始日期（修改该任职），"
                             "或先在网格页面卸任")
                return
        if same is None:
            self.actions.append({**base, "action": "new", "duty": p["duty"], "task": p["task"], "from": start,
                                 "to": end})
            return
        changes = {column: {"before": same[column], "after": p[key]}
                   for column, key in (("duty", "duty"), ("task", "task"), ("valid_to", "to"))
                   if p[key] is not None and p[key] != same[column]}
        self.actions.append({**base, "action": "update" if changes else "unchanged", "assignment_id": same["id"],
                             "changes": changes, "duty": same["duty"] if "duty" not in changes else p["duty"],
                             "task": same["task"] if "task" not in changes else p["task"],
                             "from": same["valid_from"], "to": end})

    def report(self, commit: bool) -> dict:
        def public(action: dict) -> dict:
            return {k: v for k, v in action.items() if k not in ("key", "identity", "action")}

        people = list(self.people.values())
        return {
            "file": self.roster.file, "generation": self.generation, "sheets": self.roster.sheets,
            "encoding": self.roster.encoding, "columns": self.roster.headers,
            "rows": len(self.roster.rows), "skipped": len(self.skipped), "skipped_rows": self.skipped,
            "new_people": [p for p in people if p["staff_id"] is None],
            "existing_people": [{k: v for k, v in p.items() if k != "changes"} for p in people
                                if p["staff_id"] is not None],
            "updated_people": [{"staff_id": p["staff_id"], "name": p["name"], "changes": p["changes"]}
                               for p in people if p.get("changes")],
            "new_assignments": [public(a) for a in self.actions if a["action"] == "new"],
            "updated_assignments": [public(a) for a in self.actions if a["action"] == "update"],
            "unchanged": [public(a) for a in self.actions if a["action"] == "unchanged"],
            "problems": self.problems, "committed": commit,
        }

    def write(self, actor: str) -> None:
        source = {"file": self.roster.file}
        for key, person in self.people.items():
            if person["staff_id"] is None:
                person["staff_id"] = self.session.execute(sa.text(
                    "INSERT INTO staff (name, role, phone, unit) VALUES (:n, :r, :p, :u) RETURNING id"),
                    {"n": person["name"], "r": person["role"], "p": person["phone"], "u": person["unit"]}).scalar_one()
                record_audit(self.session, actor, "staff.import", "staff", str(person["staff_id"]),
                             after={**source, "name": person["name"], "role": person["role"], "phone": person["phone"],
                                    "unit": person["unit"]})
            elif person.get("changes"):
                changes = person["changes"]
                self.session.execute(sa.text(
                    "UPDATE staff SET role = coalesce(:r, role), unit = coalesce(:u, unit) WHERE id = :id"),
                    {"r": changes.get("role", {}).get("after"), "u": changes.get("unit", {}).get("after"),
                     "id": person["staff_id"]})
                record_audit(self.session, actor, "staff.import", "staff", str(person["staff_id"]),
                             before={c: v["before"] for c, v in changes.items()},
                             after={**source, **{c: v["after"] for c, v in changes.items()}})
        for a in self.actions:
            staff_id = self.people[a["key"]]["staff_id"]
            after = {**source, "row": a["row"], "sheet": a["sheet"], "grid": a["grid"], "staff_id": staff_id,
                     "name": a["name"], "duty": a["duty"], "task": a["task"], "from": a["from"], "to": a["to"]}
            if a["action"] == "new":
                assignment_id = self.session.execute(sa.text(
                    "INSERT INTO staff_grid (staff_id, grid_identity, duty, task, valid_from, valid_to) "
                    "VALUES (:s, CAST(:g AS uuid), :d, :t, :f, :to) RETURNING id"),
                    {"s": staff_id, "g": a["identity"], "d": a["duty"], "t": a["task"], "f": a["from"],
                     "to": a["to"]}).scalar_one()
                record_audit(self.session, actor, "staff.import", "staff_grid", str(assignment_id), after=after)
            elif a["action"] == "update":
                self.session.execute(sa.text(
                    "UPDATE staff_grid SET duty = :d, task = :t, valid_to = :to WHERE id = :id"),
                    {"d": a["duty"], "t": a["task"], "to": a["to"], "id": a["assignment_id"]})
                record_audit(self.session, actor, "staff.import", "staff_grid", str(a["assignment_id"]),
                             before={c: v["before"] for c, v in a["changes"].items()}, after=after)
