"""Import the employer register (用人单位调查登记表) from CSV or XLSX as it really arrives.

Reading: CSV in UTF-8 (with or without BOM), GBK or GB18030 (detected, or given); XLSX
sheets with title rows above the header and merged header cells (the header row is the one
whose cells match the most known headers); the survey form's Chinese headers, English
aliases, or a mapping file for any other layout. Every value is read as text, so credit
codes and phone numbers keep their leading zeros and digits.

Checking (:func:`validate_register`): every problem is ``{row, column, reason, message}``
with the row number a person sees in the file. Problems that make a row unusable reject it
(no name, malformed credit code, impossible numbers or dates, duplicates inside the file);
the others are warnings and the row is kept:

* a credit code that fails the GB 32100 check character is a **warning**: the row is
  imported with ``credit_code_status = 'check_failed'`` and the warning repeats on every
  import until a person accepts the code (``--accept-code CODE --reason TEXT``), which is
  recorded with who, when and why (``credit_code_acceptance`` and ``audit_log``); the status
  is then ``accepted``. Nothing is dropped silently and nothing is accepted silently.
* coordinates that do not parse or lie outside China are dropped (the row is then placed from
  its address, or listed as 待定位); swapped longitude/latitude are swapped back; points outside
  the territory are kept (assigned to no grid, with the nearest one reported).

Loading (:func:`load_register`): rows go to a staging table by ``COPY`` and are merged
into ``employer`` in one statement: one firm, one file (matched by credit code, else by
normalised name + address); every new or changed record also lands as a dated survey in
``employer_survey``, and a supplied integrity grade in ``employer_grade``.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import itertools
import json
import queue
import re
import threading
import time
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.analysis.risk import RiskRules, assess_risk, normalise_grade
from gisgrid.employers.identifiers import (CREDIT_ALPHABET, are_valid_credit_codes, is_valid_org_code,
                                          match_credit_code_shape)
from gisgrid.errors import InputError

# column → accepted headers (the survey form's Chinese ones first, then English)
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("单位名称", "用人单位名称", "企业名称", "单位全称", "name", "company", "employer"),
    "credit_code": ("统一社会信用代码", "信用代码", "社会信用代码", "credit_code", "uscc",
                    "unified_social_credit_code", "credit code"),
    "org_code": ("组织机构代码", "机构代码", "org_code", "organization_code", "organisation_code"),
    "address": ("地址", "单位地址", "注册地址", "经营地址", "详细地址", "生产经营地址", "address"),
    "legal_rep": ("法定代表人", "法人代表", "负责人", "法定代表人(负责人)", "legal_rep",
                  "legal_representative"),
    "hr_contact": ("劳资人员/联系人", "劳资联系人", "劳资人员", "联系人", "hr_contact", "contact"),
    "phone": ("联系电话", "电话", "手机", "联系方式", "phone", "telephone", "tel"),
    "industry": ("行业", "所属行业", "行业类别", "industry"),
    "ownership": ("经济类型", "单位类型", "登记注册类型", "企业类型", "ownership"),
    "headcount": ("职工人数", "用工人数", "从业人数", "职工总数", "headcount", "employees"),
    "contracts_signed": ("签订劳动合同人数", "签订合同人数", "签订劳动合同", "contracts_signed", "contracts"),
    "insured": ("参加社会保险人数", "参保人数", "参加社会保险", "insured"),
    "wage_arrears_months": ("欠薪月数", "拖欠工资月数", "wage_arrears_months", "wage_arrears"),
    "fee_arrears_months": ("欠费月数", "欠缴社保费月数", "欠缴社会保险费月数", "fee_arrears_months",
                           "fee_arrears"),
    "complaints_12m": ("投诉次数(12个月)", "近12个月投诉次数", "一年内投诉次数", "投诉次数",
                       "complaints_12m", "complaints"),
    "integrity_grade": ("诚信等级", "守法诚信等级", "劳动保障守法诚信等级", "integrity_grade", "grade"),
    "grade_year": ("评价年度", "等级年度", "诚信等级年度", "grade_year"),
    "opened_on": ("开业日期", "成立日期", "开业时间", "成立时间", "opened_on", "opened"),
    "surveyed_on": ("调查日期", "登记日期", "调查时间", "填表日期", "surveyed_on", "surveyed"),
    "lon": ("经度", "lon", "lng", "longitude", "x"),
    "lat": ("纬度", "lat", "latitude", "y"),
    "crs": ("坐标系", "坐标系统", "crs"),
}
INTEGER_COLUMNS = ("headcount", "contracts_signed", "insured", "wage_arrears_months", "fee_arrears_months",
                   "complaints_12m", "grade_year")
DATE_COLUMNS = ("opened_on", "surveyed_on")
TEXT_COLUMNS = ("name", "credit_code", "org_code", "address", "legal_rep", "hr_contact", "phone",
                "industry", "ownership")
# Upper bounds beyond which a number is a typing slip, not a fact.
NUMBER_LIMITS = {"headcount": 1_000_000, "contracts_signed": 1_000_000, "insured": 1_000_000,
                 "wage_arrears_months": 240, "fee_arrears_months": 240, "complaints_12m": 1_000,
                 "grade_year": 2100}
# China's extent, for coordinates that are swapped or garbage.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)
EARLIEST_DATE = dt.date(1900, 1, 1)
# Values people type for "none" in a register.
PLACEHOLDERS = ("无", "/", "-", "—", "--", "暂无", "没有", "null", "none", "nan", "n/a", "#n/a", "0")
NUMBER_PLACEHOLDERS = ("无", "/", "-", "—", "--", "暂无", "null", "none", "nan", "n/a", "#n/a")
HEADER_SCAN_ROWS = 30
CSV_SPARE_FIELDS = 20
ENCODINGS = ("utf-8-sig", "gb18030")  # GB18030 is a superset of GBK

# What the merge reads (the file's row number is not: it would only be formatted and parsed).
_STAGE_COLUMNS = [*TEXT_COLUMNS, "headcount", "contracts_signed", "insured", "wage_arrears_months",
                  "fee_arrears_months", "complaints_12m", "opened_on", "surveyed_on", "lon", "lat",
                  "source_crs", "located_by", "location_precision", "credit_code_status", "integrity_grade",
                  "grade_year", "name_key", "risk_level", "risk_rule", "key_flags", "zorder"]
# Above this many new rows (and more than the table holds), the spatial and name indexes are
# rebuilt after the merge instead of being updated row by row (DESIGN.md: a GiST build on 1M
# points takes ~2 s, row-by-row insertion several times that).
BULK_REBUILD_ROWS = 100_000


def header_key(text) -> str:
    """Normalise a header for matching: NFKC, no spaces/asterisks/line breaks, lower case.

    >>> header_key(" 职工人数\\n（人）*"), header_key("Credit_Code")
    ('职工人数(人)', 'credit_code')
    """
    text = unicodedata.normalize("NFKC", str(text if text is not None else ""))
    return re.sub(r"[\s*※:：]", "", text).lstrip("\ufeff").lower()


def _header_variants(text) -> list[str]:
    key = header_key(text)
    bare = re.sub(r"\([^)]*\)$", "", key)  # "职工人数(人)" → "职工人数"
    return [key, bare] if bare and bare != key else [key]


_ALIAS_INDEX: dict[str, str] = {}
for _column, _aliases in COLUMNS.items():
    for _alias in _aliases:
        _ALIAS_INDEX.setdefault(header_key(_alias), _column)


def column_of_header(text) -> str | None:
    """The register column a header stands for, or None.

    >>> column_of_header("统一社会信用代码"), column_of_header("职工人数（人）"), column_of_header("备注")
    ('credit_code', 'headcount', None)
    """
    for key in _header_variants(text):
        if key in _ALIAS_INDEX:
            return _ALIAS_INDEX[key]
    return None


def read_mapping(path: str | Path) -> dict[str, str]:
    """Read a mapping file: register column (or a known header) → the header used in the file.

    JSON ``{"name": "企业名", "credit_code": "代码"}`` or a two-column CSV (``column,header``);
    either side may be the register column. Returns ``{file header key: column}``.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.json")
    >>> _ = open(p, "w", encoding="utf-8").write('{"企业名": "name", "headcount": "人数"}')
    >>> read_mapping(p)
    {'企业名': 'name', '人数': 'headcount'}
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"mapping file {path} does not exist")
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    if path.suffix.lower() == ".json":
        try:
            pairs = list(json.loads(text).items())
        except (ValueError, AttributeError) as exc:
            raise InputError(f"mapping file {path.name} is not a JSON object of column → header: {exc}") from None
    else:
        pairs = [tuple(r[:2]) for r in csv.reader(io.StringIO(text)) if len(r) >= 2]
    mapping: dict[str, str] = {}
    for left, right in pairs:
        left_col = left if left in COLUMNS else column_of_header(left)
        right_col = right if right in COLUMNS else column_of_header(right)
        if left in COLUMNS or (left_col and not right_col):
            mapping[header_key(right)] = left_col
        elif right_col:
            mapping[header_key(left)] = right_col
        elif left_col is None and right_col is None and header_key(left) not in ("column", "列"):
            raise InputError(f"mapping file {path.name}: neither {left!r} nor {right!r} is a register column; "
                             f"allowed columns: {', '.join(COLUMNS)}")
    return mapping


def read_register(path: str | Path, encoding: str | None = None,
                  mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a register file into a frame of text columns named as in :data:`COLUMNS`.

    Parameters
    ----------
    path
        ``.csv``/``.txt`` or ``.xlsx``/``.xlsm``.
    encoding
        Text encoding of a CSV; detected (UTF-8 with or without BOM, else GB18030/GBK) when
        omitted.
    mapping
        From :func:`read_mapping`: file header → register column, before the known headers.

    Returns
    -------
    pandas.DataFrame
        Indexed by the row number a person sees in the file or sheet (the first line is 1);
        blank rows are skipped. ``frame.attrs`` holds ``encoding``, ``header_row``, ``sheet``
        and ``columns`` (register column → the file's header).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = open(p, "wb").write("示范市用人单位登记表\\n单位名称,统一社会信用代码,联系电话\\n甲,0012,0371\\n".encode("gbk"))
    >>> frame = read_register(p)
    >>> frame.index.tolist(), frame.at[3, "credit_code"], frame.at[3, "phone"], frame.attrs["encoding"]
    ([3], '0012', '0371', 'gb18030')
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows, attrs = _read_xlsx_rows(path, mapping)
    elif suffix in (".csv", ".txt"):
        rows, attrs = _read_csv_rows(path, encoding, mapping)
    else:
        raise InputError(f"{path.name}: file type {suffix or '(none)'} is not supported; expected .csv or .xlsx")
    return _frame_from_rows(path, rows, attrs)


def _find_header(lines: list[list], mapping: dict[str, str] | None) -> tuple[int, int, dict[int, str]]:
    """Header block (first, last line index) and position → column, from the first lines."""
    def columns_of(cells) -> dict[int, str]:
        found = {}
        for position, cell in enumerate(cells):
            if cell is None or str(cell).strip() == "":
                continue
            key = header_key(cell)
            column = (mapping or {}).get(key) or column_of_header(cell)
            if column and column not in found.values():
                found[position] = column
        return found

    scored = [(len(columns_of(cells)), -i) for i, cells in enumerate(lines[:HEADER_SCAN_ROWS])]
    if not scored or max(scored)[0] == 0:
        return -1, -1, {}
    best = -max(scored)[1]
    first, last = best, best
    positions = columns_of(lines[best])
    # Merged header cells: a group title above ("用工情况" over three sub-headers) or the
    # sub-headers on the next line, with vertically merged cells empty below their title.
    if best + 1 < len(lines):
        below = columns_of(lines[best + 1])
        cells = lines[best + 1]
        # A sub-header line is blank under the header's own cells (merged down over it); a
        # data line is not (its 单位名称 is filled), whatever its values happen to spell.
        blank_under = all(p >= len(cells) or cells[p] is None or str(cells[p]).strip() == "" for p in positions)
        if below and blank_under and not any(p in positions for p in below):
            last = best + 1
            for position, column in below.items():
                if column not in positions.values():
                    positions[position] = column
    if best > 0:
        above = columns_of(lines[best - 1])
        for position, column in above.items():
            if position not in positions and column not in positions.values():
                positions[position] = column
                first = best - 1
    return first, last, positions


def _read_csv_rows(path: Path, encoding: str | None, mapping):
    data = path.read_bytes()
    for enc in [encoding] if encoding else ENCODINGS:
        try:
            text = data.decode(enc)
            break
        except (UnicodeDecodeError, LookupError) as exc:
            if encoding:
                raise InputError(f"{path.name} cannot be decoded as {encoding}: {exc}; "
                                 "expected e.g. utf-8, gbk or gb18030") from None
    else:
        raise InputError(f"{path.name} is neither UTF-8 nor GBK/GB18030 text; give --encoding")
    text = text.lstrip("\ufeff")
    head = list(csv.reader(itertools.islice(io.StringIO(text), HEADER_SCAN_ROWS)))
    first, last, positions = _find_header(head, mapping)
    if not positions:
        raise InputError(f"{path.name}: no known header (单位名称, 统一社会信用代码 …) in the first "
                         f"{HEADER_SCAN_ROWS} lines; give --mapping")
    # Every field of the widest header line (plus spare ones for notes typed to the right):
    # with fewer names than fields pandas would turn the leading fields into an index.
    narrow = max(max(len(line) for line in head), max(positions) + 1)
    width = narrow + CSV_SPARE_FIELDS
    # Bytes, not a StringIO: pandas re-encodes a text buffer in small chunks (28 s at 1M rows).
    # UTF-8 input goes as it came (less its BOM): no second encoding of the whole text.
    raw = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    source = raw if enc.startswith("utf-8") else text.encode("utf-8")
    # First without the spare fields (20 columns of empty strings were a quarter of the
    # parse); a line wider than the header makes pandas refuse, and then it is read again
    # with them, as always.
    for names in (narrow, width):
        try:
            with warnings.catch_warnings():
                # pandas only warns (and drops the extra field) when the first line is the wide one
                warnings.simplefilter("error", pd.errors.ParserWarning)
                body = pd.read_csv(io.BytesIO(source), encoding="utf-8", header=None, skiprows=last + 1,
                                   dtype=str, na_filter=False, skip_blank_lines=False, names=range(names),
                                   index_col=False, engine="c", low_memory=False)
            break
        except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as exc:
            if names == width:
                raise InputError(f"{path.name}: a line has more than {width} fields, or broken quoting: {exc}") \
                    from None
    body = body[sorted(positions)]
    # Line numbers as a person sees them (assuming no line breaks inside quoted cells).
    body.index = pd.RangeIndex(last + 2, last + 2 + len(body), name="row")
    attrs = {"encoding": encoding or enc, "header_row": last + 1, "sheet": None}
    return (body, positions, head[first:last + 1]), attrs


def _read_xlsx_rows(path: Path, mapping):
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InputError(f"{path.name} is not a readable XLSX workbook: {exc}") from None
    try:
        best = None
        for sheet in book.worksheets:
            lines = [list(r) for r in sheet.iter_rows(values_only=True)]
            first, last, positions = _find_header(lines, mapping)
            if positions and (best is None or len(positions) > len(best[3])):
                best = (sheet.title, lines, (first, last), positions)
    finally:
        book.close()
    if best is None:
        raise InputError(f"{path.name}: no sheet has a known header (单位名称, 统一社会信用代码 …) in its first "
                         f"{HEADER_SCAN_ROWS} rows; give --mapping")
    title, lines, (first, last), positions = best
    width = max(positions) + 1
    cells = [[_cell_text(v) for v in (line + [None] * width)[:width]] for line in lines[last + 1:]]
    body = pd.DataFrame(cells, columns=range(width), dtype=object).fillna("")
    body.index = pd.RangeIndex(last + 2, last + 2 + len(body), name="row")
    return (body, positions, lines[first:last + 1]), {"encoding": None, "header_row": last + 1, "sheet": title}


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # a phone number typed as a number: 13812345678.0 → 13812345678
    return str(value)


def _frame_from_rows(path: Path, parts, attrs) -> pd.DataFrame:
    body, positions, header_lines = parts
    columns: dict[str, object] = {}
    used = {}
    filled = np.zeros(len(body), dtype=bool)
    for column in COLUMNS:
        position = next((p for p, c in positions.items() if c == column), None)
        if position is None:
            columns[column] = pd.arrays.StringArray(np.full(len(body), pd.NA, dtype=object))
            continue
        values = body[position].to_numpy(dtype=object)
        # A row is blank when every cell is empty (after stripping): compared on the plain
        # object array, not on the string column (whose isna/ne loops cost 0.5 s at 200k).
        if _needs_strip(values):
            values = np.array([v.strip() if isinstance(v, str) else v for v in values], dtype=object)
            filled |= (values != "") & pd.notna(values)
            columns[column] = pd.array(values, dtype="string")
        else:  # all text: StringArray only checks that (pd.array would convert value by value)
            filled |= values != ""
            columns[column] = pd.arrays.StringArray(values.copy())  # it writes into its array
        used[column] = next((str(line[position]).strip() for line in reversed(header_lines)
                             if position < len(line) and line[position] not in (None, "")), column)
    if "name" not in used:
        raise InputError(f"{path.name}: no 单位名称 (name) column among the headers "
                         f"{', '.join(str(c) for line in header_lines for c in line if c not in (None, ''))}")
    frame = pd.DataFrame(columns, index=body.index, copy=False)  # the arrays are new already
    if not filled.all():
        frame = frame[filled]
    frame.attrs.update(attrs, columns=used)
    return frame


def _needs_strip(values: np.ndarray) -> bool:
    """Whether any value has leading or trailing whitespace (or is not text).

    The column joined by NUL (and framed by NUL) is searched for NUL + whitespace, once
    forwards and once reversed: a pattern with a literal first character is found by a
    fast scan for that character, where an alternation tried at every position took 20×
    longer (0.9 s at 200k rows × 20 columns). A NUL inside a value can only make the
    answer True, never hide a value that needs stripping.
    """
    try:
        joined = "\0" + "\0".join(values) + "\0"
    except TypeError:  # missing fields of short lines
        return True
    return _LEAD_SPACE.search(joined) is not None or _LEAD_SPACE.search(joined[::-1]) is not None


_LEAD_SPACE = re.compile(r"\0\s")


def header_of(column: str, frame: pd.DataFrame | None = None) -> str:
    """The header a person sees for a register column (the file's own when known)."""
    if frame is not None and column in frame.attrs.get("columns", {}):
        return frame.attrs["columns"][column]
    return COLUMNS[column][0]


def name_key(name: pd.Series, address: pd.Series) -> pd.Series:
    """Normalised name + address for matching firms without a credit code.

    Full-width and half-width forms, spaces, brackets and punctuation do not count.

    >>> name_key(pd.Series(["示范市 甲（有限）公司"]), pd.Series(["和平路1号"])).tolist()
    ['示范市甲有限公司|和平路1号']
    """
    def clean(values: pd.Series) -> list[str]:
        texts = [t if isinstance(t, str) else "" for t in values.to_numpy(dtype=object, na_value=None)]
        # One normalize/sub/lower over the whole column joined by NUL (a starter that NFKC,
        # the noise pattern and lower() all leave alone) instead of three calls per value:
        # 5× faster at 1M rows. A value holding NUL itself falls back to the loop.
        joined = "\0".join(texts)
        if texts and joined.count("\0") == len(texts) - 1:
            parts = _NAME_NOISE.sub("", unicodedata.normalize("NFKC", joined)).lower().split("\0")
            if len(parts) == len(texts):
                return parts
        return [_NAME_NOISE.sub("", unicodedata.normalize("NFKC", t)).lower() for t in texts]

    return pd.Series([f"{n}|{a}" for n, a in zip(clean(name), clean(address))], index=name.index, dtype=object)


_NAME_NOISE = re.compile(r"[\s()\[\]【】（）《》<>,，.。·、\-—_'\"“”‘’]")


class _Problems:
    """Collects problems; per-row Python work runs over flagged rows only."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.rejected: list[dict] = []
        self.warnings: list[dict] = []
        self.bad = pd.Series(False, index=frame.index)

    def flag(self, mask: pd.Series, column: str, reason: str, message, reject: bool = True) -> pd.Series:
        mask = mask.fillna(False).astype(bool) & ~self.bad  # one reason per rejected row is enough
        into = self.rejected if reject else self.warnings
        header = header_of(column, self.frame) if column in COLUMNS else column
        for row in self.frame.index[mask]:
            into.append({"row": int(row), "column": header, "reason": reason, "message": message(row)})
        if reject:
            self.bad |= mask
        return mask


def validate_register(frame: pd.DataFrame, today: dt.date | None = None, default_crs: str | None = None,
                      accepted_codes: set[str] | frozenset = frozenset(), territory=None,
                      rules: RiskRules = RiskRules()) -> tuple[pd.DataFrame, list[dict], list[dict]]:
    """Check every row; return (good rows typed, rejected problems, warnings).

    Parameters
    ----------
    frame
        From :func:`read_register`.
    today
        Reference date for dates in the future and for risk; today when omitted.
    default_crs
        CRS of rows without a 坐标系 value (``--crs``); CGCS2000 when omitted.
    accepted_codes
        Credit codes that fail the GB 32100 check but were accepted by a person.
    territory
        A :class:`gisgrid.employers.place.Territory` (the active generation's grids) for the
        outside-the-territory check, the suspected-shift check and the gazetteer; None skips them.
    rules
        Risk thresholds and the integrity-grade scheme.

    Returns
    -------
    tuple
        ``good`` (typed, with ``lon``/``lat`` in CGCS2000, ``located_by``, risk columns),
        ``rejected`` and ``warnings``, each a list of ``{row, column, reason, message}``.
        A row with any rejecting problem is left out whole; warnings keep the row.

    Examples
    --------
    >>> frame = pd.DataFrame({"name": ["甲", ""], "credit_code": ["91110000600037341M", None]},
    ...                      index=pd.Index([2, 3], name="row"))
    >>> good, rejected, warnings = validate_register(frame, dt.date(2026, 11, 1))
    >>> good.index.tolist(), [p["reason"] for p in rejected], [p["reason"] for p in warnings]
    ([2], ['missing_name'], ['credit_code_check'])
    """
    today = today or dt.date.today()
    out = frame.copy()
    # Without attrs: pandas deep-copies a frame's attrs into the result of every operation
    # on it (thousands here); the headers are read from ``frame``, and ``good`` gets them back.
    out.attrs = {}
    for column in COLUMNS:
        if column not in out:
            out[column] = pd.Series(pd.NA, index=out.index, dtype="string")
        elif out[column].dtype != "string":
            out[column] = out[column].astype("string").str.strip()  # read_register strips its own
    problems = _Problems(frame)
    flag = problems.flag
    flag(out["name"].isna() | (out["name"] == ""), "name", "missing_name", lambda r: "单位名称为空")
    _check_codes(out, flag, accepted_codes)
    _check_numbers(out, flag, frame)
    _check_dates(out, flag, today, frame)
    grade, bad_grade = normalise_grade(out["integrity_grade"], rules)
    flag(bad_grade, "integrity_grade", "bad_grade",
         lambda r: f"诚信等级 {out.at[r, 'integrity_grade']!r} 不是 {'/'.join(rules.grades)} 之一（已忽略）",
         reject=False)
    out["integrity_grade"] = grade
    out["name_key"] = name_key(out["name"], out["address"])
    _check_duplicates(out, flag)
    from gisgrid.employers.place import check_coordinates, locate_from_address

    check_coordinates(out, problems, default_crs, territory)
    good = out[~problems.bad].copy()
    locate_from_address(good, territory)
    risk = assess_risk(good, today, rules)
    for column in ("risk_level", "risk_rule", "key_flags"):
        good[column] = risk[column]
    good.attrs = copy.deepcopy(frame.attrs)
    return good, problems.rejected, problems.warnings


def _check_codes(out: pd.DataFrame, flag, accepted: set[str] | frozenset) -> None:
    # Column-wide numpy checks; per-value Python only for the few codes that are not
    # already 18 upper-case characters of the alphabet (normalised, placeholders blanked).
    values = out["credit_code"].to_numpy(dtype=object, na_value=None).copy()
    well_formed = match_credit_code_shape(values)
    for i in np.flatnonzero(~well_formed):
        value = values[i]
        if isinstance(value, str):
            value = _normalise_code(value)
            value = None if value == "" or value.lower() in PLACEHOLDERS else value
            values[i] = value
            well_formed[i] = value is not None and _CODE_SHAPE.fullmatch(value) is not None
    has = pd.notna(values)
    code = pd.Series(pd.array(values, dtype="string"), index=out.index)
    out["credit_code"] = code
    flag(pd.Series(has & ~well_formed, index=out.index), "credit_code", "credit_code_format",
         lambda r: f"统一社会信用代码 {out.at[r, 'credit_code']!r} 不是18位（只含数字和除 I O S V Z 以外的大写字母）")
    passes = np.ones(len(values), dtype=bool)
    passes[well_formed] = are_valid_credit_codes(values[well_formed])
    failed = well_formed & ~passes
    is_accepted = code.isin(list(accepted)).to_numpy(dtype=bool, na_value=False) if accepted \
        else np.zeros(len(values), dtype=bool)
    flag(pd.Series(failed & ~is_accepted, index=out.index), "credit_code", "credit_code_check",
         lambda r: f"统一社会信用代码 {out.at[r, 'credit_code']} 校验位不正确：已导入并标记为待核实；"
                   f"确属有效（如早期试点代码）请用 --accept-code {out.at[r, 'credit_code']} --reason 说明 确认",
         reject=False)
    out["credit_code_status"] = np.where(~has, None, np.where(~failed, "valid",
                                         np.where(is_accepted, "accepted", "check_failed")))
    # Organisation codes: only the rows that have one are looked at.
    org = out["org_code"].to_numpy(dtype=object, na_value=None).copy()
    bad_org = np.zeros(len(org), dtype=bool)
    mismatch = np.zeros(len(org), dtype=bool)
    for i in np.flatnonzero(pd.notna(org)):
        value = _WHITESPACE.sub("", org[i].upper())
        if value == "" or value.lower() in PLACEHOLDERS:
            org[i] = None
        elif not is_valid_org_code(value):
            bad_org[i], org[i] = True, value
        else:
            org[i] = value
            mismatch[i] = well_formed[i] and not failed[i] and value.replace("-", "") != values[i][8:17]
    flag(pd.Series(bad_org, index=out.index), "org_code", "org_code_check",
         lambda r: f"组织机构代码 {out.at[r, 'org_code']!r} 不符合 GB 11714（8位本体+校验码）：已忽略", reject=False)
    flag(pd.Series(mismatch, index=out.index), "org_code", "org_code_mismatch",
         lambda r: f"组织机构代码 {out.at[r, 'org_code']} 与统一社会信用代码第9–17位 "
                   f"{out.at[r, 'credit_code'][8:17]} 不一致",
         reject=False)
    out["org_code"] = pd.Series(pd.array(np.where(bad_org, None, org), dtype=out["org_code"].dtype),
                                index=out.index)  # "string" from read_register; "str" stays "str"


_CODE_SHAPE = re.compile(f"[{CREDIT_ALPHABET}]{{18}}")
_WHITESPACE = re.compile(r"\s")


def _normalise_code(text: str) -> str:
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", text)).upper()


def _check_numbers(out: pd.DataFrame, flag, source: pd.DataFrame) -> None:
    for column in INTEGER_COLUMNS:
        number, blank = _parse_counts(out[column].to_numpy(dtype=object, na_value=None))
        with np.errstate(invalid="ignore"):  # inf % 1
            bad = ~blank & (np.isnan(number) | (number < 0) | (number % 1 != 0) | (number > NUMBER_LIMITS[column]))
        flag(pd.Series(bad, index=out.index), column, "bad_number",
             lambda r, c=column: f"{header_of(c, source)} 应为 0–{NUMBER_LIMITS[c]:,} 的整数，实为 {out.at[r, c]!r}")
        out[column] = pd.Series(np.where(bad, np.nan, number), index=out.index).astype("Int64")
    year = out["grade_year"]
    flag(year.notna() & (year < 2000), "grade_year", "bad_number",
         lambda r: f"评价年度应为四位年份，实为 {out.at[r, 'grade_year']}")
    for part in ("contracts_signed", "insured"):
        flag(out[part] > out["headcount"], part, "above_headcount",
             lambda r, p=part: f"{header_of(p, source)} {out.at[r, p]} 大于职工人数 {out.at[r, 'headcount']}")


def _parse_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(number or NaN, whether the cell counts as empty) of each cell of a count column.

    Each distinct text is parsed once (a column of a million headcounts holds a few
    thousand distinct values): ``pd.to_numeric``, and where that fails the text cleaned of
    thousands separators and units ("1,200", "12人"); a placeholder ("无", "/") is empty.
    """
    number = np.full(len(values), np.nan)
    blank = np.ones(len(values), dtype=bool)
    present = np.flatnonzero(pd.notna(values) & (values != ""))
    if not len(present):
        return number, blank
    codes, distinct = pd.factorize(values[present])
    distinct = np.asarray(distinct, dtype=object)
    parsed = pd.to_numeric(distinct, errors="coerce").astype(float)
    empty = np.zeros(len(distinct), dtype=bool)
    for i in np.flatnonzero(np.isnan(parsed)):  # "1,200", "12人", "无": cleaned only where the parse failed
        cleaned = _COUNT_NOISE.sub("", distinct[i])
        if cleaned == "" or cleaned.lower() in NUMBER_PLACEHOLDERS:
            empty[i] = True
        else:
            parsed[i] = pd.to_numeric(pd.Series([cleaned], dtype=object), errors="coerce").iloc[0]
    number[present] = parsed[codes]
    blank[present] = empty[codes]
    return number, blank


_COUNT_NOISE = re.compile(r"[,，\s人次个月年度]")


def _check_dates(out: pd.DataFrame, flag, today: dt.date, source: pd.DataFrame) -> None:
    for column in DATE_COLUMNS:
        raw = out[column].where(out[column] != "", None)
        parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        retry = raw.notna() & parsed.isna()
        if retry.any():  # "2020年1月1日", "2020.01.01", "2020/1/1": cleaned only where ISO 8601 failed
            text = raw[retry].str.replace(r"[年月./]", "-", regex=True).str.replace("日", "", regex=False)
            parsed[retry] = pd.to_datetime(text, errors="coerce", format="mixed")
        flag(raw.notna() & parsed.isna(), column, "bad_date",
             lambda r, c=column: f"{header_of(c, source)} 无法识别为日期：{out.at[r, c]!r}")
        impossible = parsed.notna() & ((parsed > pd.Timestamp(today)) | (parsed < pd.Timestamp(EARLIEST_DATE)))
        flag(impossible, column, "impossible_date",
             lambda r, c=column: f"{header_of(c, source)} {out.at[r, c]} 不可能（晚于今天 {today} 或早于 {EARLIEST_DATE.year} 年）")
        out[column] = parsed.where(~impossible).dt.normalize()  # datetime64: fast to write with COPY
    flag(pd.to_datetime(out["surveyed_on"]) < pd.to_datetime(out["opened_on"]),
         "surveyed_on", "impossible_date",
         lambda r: f"调查日期 {out.at[r, 'surveyed_on']} 早于开业日期 {out.at[r, 'opened_on']}", reject=False)


def _check_duplicates(out: pd.DataFrame, flag) -> None:
    has_code = out["credit_code"].notna()
    dup = has_code & out["credit_code"].duplicated(keep="first")
    first_row = _first_rows(out["credit_code"], dup)
    flag(dup, "credit_code", "duplicate_in_file",
         lambda r: f"统一社会信用代码 {out.at[r, 'credit_code']} 在文件中重复（与第 {int(first_row[r])} 行；保留首次出现的行）")
    no_code = ~has_code
    dup_name = no_code & out["name_key"].where(no_code).duplicated(keep="first") & out["name_key"].notna()
    twin_keys = has_code & out["name_key"].duplicated(keep=False)
    first_name = _first_rows(out["name_key"], dup_name | twin_keys)
    flag(dup_name, "name", "duplicate_in_file",
         lambda r: f"无信用代码的 {out.at[r, 'name']}（{out.at[r, 'address']}）在文件中重复"
                   f"（与第 {int(first_name[r])} 行；保留首次出现的行）")
    # Same firm under two codes (a typo in one of them): kept, but a person should look.
    twin = twin_keys & ~out["credit_code"].duplicated(keep=False)
    flag(twin & out["name_key"].duplicated(keep="first"), "credit_code", "possible_duplicate",
         lambda r: f"{out.at[r, 'name']} 与第 {int(first_name[r])} 行名称地址相同但信用代码不同"
                   f"（{out.at[r, 'credit_code']}）：是否录入错误？", reject=False)


def _first_rows(keys: pd.Series, among: pd.Series) -> dict:
    """Row → the row of the first occurrence of its key, for the (few) rows in ``among``."""
    wanted = set(keys[among].dropna())
    if not wanted:
        return {}
    hits = keys[keys.isin(list(wanted))]
    first: dict = {}
    for row, key in zip(hits.index, hits.to_numpy()):
        first.setdefault(key, row)
    return {row: first[key] for row, key in zip(hits.index, hits.to_numpy())}


def load_register(session: Session, good: pd.DataFrame, source: str, timings: dict | None = None) -> dict:
    """Merge checked rows into ``employer`` (COPY + one upsert); return counts and new/changed ids.

    Parameters
    ----------
    session
        Open session; the caller commits or rolls back (one transaction).
    good
        From :func:`validate_register`.
    source
        File name recorded with each survey.
    timings
        When given, filled with the seconds spent in each step (``copy``, ``analyze``,
        ``merge``, ``indexes``), for benchmarks.

    Returns
    -------
    dict
        ``imported``, ``updated``, ``unchanged`` and ``changed_ids`` (new and changed employers).

    Examples
    --------
    >>> load_register(session, good, "登记表.xlsx")  # doctest: +SKIP
    {'imported': 2, 'updated': 0, 'unchanged': 0, 'changed_ids': [1, 2]}
    """
    timings = {} if timings is None else timings
    mark = time.perf_counter()
    session.execute(sa.text("DROP TABLE IF EXISTS _stage"))
    session.execute(sa.text(_STAGE_DDL))
    stage = good.reset_index()
    for column in ("located_by", "location_precision", "source_crs", "credit_code_status", "integrity_grade",
                   "grade_year", "key_flags", "complaints_12m"):
        if column not in stage:
            stage[column] = None
    stage["zorder"] = _zorder(stage["lon"], stage["lat"])
    # Staged in Z-order already: the insert's ORDER BY then finds its input sorted
    # (PostgreSQL's sort checks for that first) instead of sorting 1M wide rows (~2 s).
    order = np.argsort(stage["zorder"].to_numpy(dtype=float, na_value=np.inf), kind="stable")
    raw = session.connection().connection.dbapi_connection
    with _CopyStream(stage[_STAGE_COLUMNS], order=order) as buffer, raw.cursor() as cur:
        cur.copy_expert(f"COPY _stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN", buffer, size=1 << 20)
    timings["copy"], mark = time.perf_counter() - mark, time.perf_counter()
    bulk = len(good) >= BULK_REBUILD_ROWS
    if bulk:
        # Room for the merge's hash joins and sort and for the index builds: the defaults
        # (4 MB / 64 MB) spill a 1M-row merge to disk. Restored after the load.
        saved = session.execute(sa.text("SELECT current_setting('work_mem'), "
                                        "current_setting('maintenance_work_mem')")).one()
        session.execute(sa.text("SELECT set_config('work_mem', '1GB', true), "
                                "set_config('maintenance_work_mem', '512MB', true)"))
        # Statistics only of the columns the merge joins on (and the row count): the
        # planner needs nothing else, and all 31 columns took 3× as long (0.5 s at 200k).
        session.execute(sa.text("ANALYZE _stage (credit_code, name_key)"))
        # The commit of a bulk import need not wait for its WAL to reach the disk: the
        # transaction stays atomic (all rows or none); a crash in the next fraction of a
        # second could only lose the whole import, which re-running restores. Transaction-local.
        session.execute(sa.text("SELECT set_config('synchronous_commit', 'off', true)"))
    rebuild = bulk and len(good) > session.execute(sa.text("SELECT count(*) FROM employer")).scalar()
    timings["analyze"], mark = time.perf_counter() - mark, time.perf_counter()
    empty = False
    if rebuild:
        # Index builds after the bulk insert instead of index upkeep row by row. The unique
        # index is rebuilt too: duplicates inside the file are rejected before, and codes
        # already present are matched, so the rebuild cannot fail on this import's rows.
        # Dropping takes each table's exclusive lock until commit: no one else writes
        # employers meanwhile, so the emptiness seen next stays true for this import.
        session.execute(sa.text(f"DROP INDEX {', '.join(_BULK_INDEXES)}"))
        empty = not session.execute(sa.text("SELECT EXISTS (SELECT FROM employer)")).scalar()
        if empty:
            # Into empty tables even the primary keys are cheaper built once after (1M rows:
            # ~3 s less of the merge). Nothing refers to them by foreign key.
            for table, constraint, _ in _BULK_KEYS:
                session.execute(sa.text(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}"))
    sequence = session.execute(sa.text("SELECT pg_get_serial_sequence('employer', 'id')")).scalar()
    params = {"source": source, "sequence": sequence}
    created, updated = session.execute(sa.text(_MERGE_ALL_NEW), params).one()
    if not created and not empty:  # the table was not empty (or nothing to load): match every row
        created, updated = session.execute(sa.text(_MERGE), params).one()
    timings["merge"], mark = time.perf_counter() - mark, time.perf_counter()
    if empty:
        for table, constraint, columns in _BULK_KEYS:
            session.execute(sa.text(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} PRIMARY KEY ({columns})"))
    if rebuild:
        for statement in _BULK_INDEXES.values():
            session.execute(sa.text(statement))
    if bulk:
        session.execute(sa.text("SELECT set_config('work_mem', :work, true), "
                                "set_config('maintenance_work_mem', :maintenance, true)"),
                        {"work": saved[0], "maintenance": saved[1]})
    session.execute(sa.text("DROP TABLE _stage"))
    timings["indexes"] = time.perf_counter() - mark
    return {"imported": len(created), "updated": len(updated),
            "unchanged": len(good) - len(created) - len(updated),
            "changed_ids": created + updated}


# Dropped before a bulk load and built after it (name → its definition, as in the migrations).
_BULK_INDEXES = {
    "employer_geom_gix": "CREATE INDEX employer_geom_gix ON employer USING gist (geom)",
    "employer_name_key_ix": "CREATE INDEX employer_name_key_ix ON employer (name_key)",
    "employer_credit_code_uq": "CREATE UNIQUE INDEX employer_credit_code_uq ON employer (credit_code) "
                               "WHERE credit_code IS NOT NULL",
    "ix_employer_survey_employer_id": "CREATE INDEX ix_employer_survey_employer_id ON employer_survey (employer_id)",
}
# and, when the tables were empty, their primary keys: (table, constraint, columns)
_BULK_KEYS = (("employer", "employer_pkey", "id"), ("employer_survey", "employer_survey_pkey", "id"),
              ("employer_grade", "employer_grade_pkey", "employer_id, year"))


class _CopyStream(io.RawIOBase):
    """The frame in COPY's text format (tab-separated, ``\\N`` for NULL), produced in chunks.

    ``DataFrame.to_csv`` formats cell by cell (10 s at 1M rows × 30 columns). Here each
    column of a chunk is formatted at once, by a thread a few chunks ahead of COPY: the
    server parses one chunk while Python formats the next (two processes, two cores; the
    driver lets go of the GIL while it sends). Formatting a chunk only when COPY asked for
    more left each side waiting for the other: the copy took the sum of both, not the
    larger. ``order`` (positions) sends the rows in that order. ``close()`` stops the
    thread (a failed COPY stops reading).
    """

    def __init__(self, frame: pd.DataFrame, rows: int = 20_000, ahead: int = 3, order: np.ndarray | None = None):
        self.frame, self.rows, self.order = frame, rows, order
        self.pending, self.offset, self.done = b"", 0, False
        self.chunks: queue.Queue = queue.Queue(maxsize=ahead)
        self.stop = threading.Event()
        self.worker = threading.Thread(target=self._produce, name="register-copy", daemon=True)
        self.worker.start()

    def _produce(self) -> None:
        try:
            for at in range(0, len(self.frame), self.rows):
                part = slice(at, at + self.rows) if self.order is None else self.order[at:at + self.rows]
                if not self._put(_copy_text(self.frame.iloc[part])):
                    return
            self._put(None)
        except BaseException as exc:  # handed to the reading thread, raised there
            self._put(exc)

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while self.offset >= len(self.pending):
            if self.done:
                return b""
            item = self.chunks.get()
            if item is None:
                self.done = True
                return b""
            if isinstance(item, BaseException):
                self.done = True
                raise item
            self.pending, self.offset = item, 0
        if size is None or size < 0:
            size = len(self.pending) - self.offset
        chunk = self.pending[self.offset:self.offset + size]  # no copy of the rest of the chunk
        self.offset += len(chunk)
        return chunk

    def close(self) -> None:
        self.stop.set()
        if self.worker.is_alive() and self.worker is not threading.current_thread():
            self.worker.join()
        super().close()


def _zorder(lon: pd.Series, lat: pd.Series) -> pd.Series:
    """Z-order (Morton) key of each point, None without one: a cheap integer sort key that
    keeps neighbouring points together (like a geohash, at a fraction of the cost)."""
    x = pd.to_numeric(lon, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    y = pd.to_numeric(lat, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    scale = float(1 << 21)

    def spread(v: np.ndarray) -> np.ndarray:  # 21 bits → every other bit of 42
        v = np.clip(np.nan_to_num(v), 0, scale - 1).astype(np.uint64)
        for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF), (4, 0x0F0F0F0F0F0F0F0F),
                            (2, 0x3333333333333333), (1, 0x5555555555555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    key = (spread((x + 180) / 360 * scale) | (spread((y + 90) / 180 * scale) << np.uint64(1))).astype(np.int64)
    return pd.Series(key, index=lon.index, dtype="Int64").mask(np.isnan(x) | np.isnan(y))


def _copy_text(frame: pd.DataFrame) -> bytes:
    columns = []
    for name in frame.columns:
        series = frame[name]
        missing = series.isna().to_numpy()
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            days = series.to_numpy(dtype="datetime64[D]", na_value=np.datetime64(0, "D"))
            distinct, inverse = np.unique(days, return_inverse=True)  # a few thousand dates
            text = np.datetime_as_string(distinct, unit="D").astype(object)[inverse]
        elif pd.api.types.is_float_dtype(series.dtype):
            text = np.array(list(map(repr, series.to_numpy(dtype=float, na_value=0.0).tolist())), dtype=object)
        elif pd.api.types.is_integer_dtype(series.dtype):
            numbers = series.to_numpy(dtype=np.int64, na_value=0)
            if name in ("row", "zorder"):  # all distinct
                text = np.array(list(map(str, numbers.tolist())), dtype=object)
            else:  # counts repeat (headcounts, months, levels): each distinct value formatted once
                distinct, inverse = np.unique(numbers, return_inverse=True)
                text = np.array(list(map(str, distinct.tolist())), dtype=object)[inverse]
        else:
            text = series.to_numpy(dtype=object, na_value=None)
            present = text[~missing]
            try:  # all text (always so for a string column): joined once for the escape scan
                joined = "".join(present)
            except TypeError:
                text = np.array([v if isinstance(v, str) else _copy_scalar(v) for v in text], dtype=object)
                joined = "".join(text[~missing])
            # Escaping is rarely needed: one scan of the joined column decides.
            if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
                text = np.array([v.translate(_COPY_ESCAPES) if isinstance(v, str) else v for v in text],
                                dtype=object)
        if missing.any():
            text = np.where(missing, "\\N", text)
        columns.append(text.tolist())
    if not columns or not len(frame):
        return b""
    return ("\n".join(map("\t".join, zip(*columns))) + "\n").encode("utf-8")


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_scalar(value) -> str:
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, (bool, np.bool_)):
        return "t" if value else "f"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


_STAGE_DDL = """
CREATE TEMP TABLE _stage (
    name text, credit_code text, org_code text, address text, legal_rep text,
    hr_contact text, phone text, industry text, ownership text, headcount integer,
    contracts_signed integer, insured integer, wage_arrears_months smallint,
    fee_arrears_months smallint, complaints_12m smallint, opened_on date, surveyed_on date,
    lon float8, lat float8, source_crs text, located_by text, location_precision text,
    credit_code_status text, integrity_grade text, grade_year smallint, name_key text,
    risk_level smallint, risk_rule text, key_flags text, zorder bigint,
    geom geometry(Point, 4490) GENERATED ALWAYS AS (
        CASE WHEN lon IS NULL OR lat IS NULL THEN NULL
             ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4490) END) STORED
) ON COMMIT DROP
"""

# Located from the file's own coordinates (as opposed to the gazetteer or by hand).
_GIVEN = "('given', 'gcj02', 'bd09')"

# One firm, one file: match on the credit code, else on the normalised name + address.
# Only rows whose record differs are written, so importing the same file twice changes
# nothing. Coordinates arrive already converted to CGCS2000. A row without coordinates
# never erases a location the employer already has from coordinates or a person's hand:
# the gazetteer's village-level guess only fills a gap.
_MATCH = f"""
WITH matched AS (
    SELECT s.*, coalesce(ec.id, en.id) AS match_id
    FROM _stage s
    LEFT JOIN employer ec ON ec.credit_code = s.credit_code
    LEFT JOIN LATERAL (
        SELECT e.id FROM employer e
        WHERE s.credit_code IS NULL AND e.name_key = s.name_key ORDER BY e.id LIMIT 1
    ) en ON true
),
placed AS (
    SELECT m.*, keep.keep_location
    FROM matched m LEFT JOIN employer e ON e.id = m.match_id
    CROSS JOIN LATERAL (SELECT (m.located_by IS NULL OR m.located_by NOT IN {_GIVEN})
        AND e.geom IS NOT NULL AND e.located_by NOT IN ('gazetteer', 'none') AS keep_location) keep
),
changed AS (
    SELECT p.*, coalesce(p.match_id, nextval(CAST(:sequence AS regclass))) AS new_id
    FROM placed p LEFT JOIN employer e ON e.id = p.match_id
    WHERE e.id IS NULL OR (p.name, p.org_code, p.address, p.legal_rep, p.hr_contact, p.phone,
        p.industry, p.ownership, p.headcount, p.contracts_signed, p.insured,
        p.wage_arrears_months, p.fee_arrears_months, p.complaints_12m, p.opened_on, p.surveyed_on,
        p.risk_level, p.risk_rule, p.key_flags, p.credit_code_status, p.integrity_grade, p.grade_year)
      IS DISTINCT FROM (e.name, e.org_code, e.address, e.legal_rep, e.hr_contact, e.phone,
        e.industry, e.ownership, e.headcount, e.contracts_signed, e.insured,
        e.wage_arrears_months, e.fee_arrears_months, e.complaints_12m, e.opened_on, e.surveyed_on,
        e.risk_level, e.risk_rule, e.key_flags, e.credit_code_status, e.integrity_grade, e.grade_year)
      OR (NOT p.keep_location AND NOT (p.geom IS NOT DISTINCT FROM e.geom))
),
"""

# Into an empty employer table (a first import) every row is new: the same writes as
# _MATCH's, without the three joins that would find nothing (~2.5 s of the merge at 1M
# rows). Emptiness is checked in the statement itself, on the snapshot it writes by: a
# table filled in the meantime makes it write nothing, and the general merge runs.
_ALL_NEW = """
WITH changed AS (
    SELECT s.*, CAST(NULL AS bigint) AS match_id, false AS keep_location,
           nextval(CAST(:sequence AS regclass)) AS new_id
    FROM _stage s WHERE NOT EXISTS (SELECT FROM employer)
),
"""

# The writing CTEs, joined with commas after a statement's ``changed`` CTE.
_INSERT_NEW = """-- New employers: a plain INSERT (ON CONFLICT's speculative insertion cost ~2× per row).
-- They land in spatial (Z-)order: the point-in-polygon join of the bulk assignment then
-- reads neighbouring heap pages (≈1.5× faster at 1M). An integer key sorts in memory in
-- a fraction of the time ORDER BY ST_GeoHash took (3 s, on disk, at 1M).
inserted AS (
    INSERT INTO employer (id, credit_code, org_code, name, address, legal_rep, hr_contact, phone,
        industry, ownership, headcount, contracts_signed, insured, wage_arrears_months,
        fee_arrears_months, complaints_12m, opened_on, surveyed_on, geom, source_crs, located_by,
        location_precision, located_at, risk_level, risk_rule, key_flags, credit_code_status,
        integrity_grade, grade_year, name_key)
    SELECT c.new_id, c.credit_code, c.org_code, c.name, c.address, c.legal_rep, c.hr_contact,
        c.phone, c.industry, c.ownership, c.headcount, c.contracts_signed, c.insured,
        c.wage_arrears_months, c.fee_arrears_months, c.complaints_12m, c.opened_on, c.surveyed_on, c.geom,
        CASE WHEN c.geom IS NULL THEN NULL ELSE c.source_crs END,
        CASE WHEN c.geom IS NULL THEN 'none' ELSE coalesce(c.located_by, 'given') END,
        CASE WHEN c.geom IS NULL THEN NULL ELSE coalesce(c.location_precision, 'point') END,
        CASE WHEN c.geom IS NULL THEN NULL ELSE now() END,
        c.risk_level, c.risk_rule, c.key_flags, c.credit_code_status, c.integrity_grade,
        c.grade_year, c.name_key
    FROM changed c WHERE c.match_id IS NULL
    ORDER BY c.zorder NULLS LAST
    RETURNING 1
)
"""

_UPDATE_MATCHED = """updated AS (
    UPDATE employer e SET credit_code = coalesce(c.credit_code, e.credit_code), org_code = c.org_code,
        name = c.name, address = c.address, legal_rep = c.legal_rep, hr_contact = c.hr_contact,
        phone = c.phone, industry = c.industry, ownership = c.ownership, headcount = c.headcount,
        contracts_signed = c.contracts_signed, insured = c.insured,
        wage_arrears_months = c.wage_arrears_months, fee_arrears_months = c.fee_arrears_months,
        complaints_12m = c.complaints_12m, opened_on = c.opened_on, surveyed_on = c.surveyed_on,
        risk_level = c.risk_level, risk_rule = c.risk_rule, key_flags = c.key_flags,
        credit_code_status = coalesce(c.credit_code_status, e.credit_code_status),
        integrity_grade = coalesce(c.integrity_grade, e.integrity_grade),
        grade_year = coalesce(c.grade_year, e.grade_year), name_key = c.name_key,
        geom = CASE WHEN c.keep_location THEN e.geom ELSE c.geom END,
        source_crs = CASE WHEN c.keep_location THEN e.source_crs WHEN c.geom IS NULL THEN NULL
                          ELSE c.source_crs END,
        located_by = CASE WHEN c.keep_location THEN e.located_by WHEN c.geom IS NULL THEN 'none'
                          ELSE coalesce(c.located_by, 'given') END,
        location_precision = CASE WHEN c.keep_location THEN e.location_precision WHEN c.geom IS NULL THEN NULL
                                  ELSE coalesce(c.location_precision, 'point') END,
        located_at = CASE WHEN c.keep_location OR c.geom IS NOT DISTINCT FROM e.geom THEN e.located_at
                          WHEN c.geom IS NULL THEN NULL ELSE now() END,
        placed_by = CASE WHEN c.keep_location THEN e.placed_by END,
        updated_at = now()
    FROM changed c WHERE e.id = c.match_id
    RETURNING 1
)
"""

_SURVEYS = """surveys AS (
    INSERT INTO employer_survey (employer_id, surveyed_on, source, data)
    -- to_json of a row: its text, as the column is json (migration 0004); to_jsonb cost
    -- ~1.5× as much (the merge took ~0.5 s longer per 200k rows).
    SELECT c.new_id, c.surveyed_on, :source, to_json(r)
    FROM changed c CROSS JOIN LATERAL (SELECT c.name, c.credit_code, c.org_code, c.address, c.legal_rep,
        c.hr_contact, c.phone, c.industry, c.ownership, c.headcount, c.contracts_signed, c.insured,
        c.wage_arrears_months, c.fee_arrears_months, c.complaints_12m, c.integrity_grade, c.grade_year,
        c.opened_on, c.surveyed_on, c.lon, c.lat, c.source_crs) r
    RETURNING 1
)
"""

_NEW_GRADES = """-- A grade supplied with a survey is the grade of its year (the given 评价年度, else the
-- survey's year, else this year); a later import for the same year replaces it.
-- New employers cannot have a grade yet: a plain INSERT (no speculative insertion).
new_grades AS (
    INSERT INTO employer_grade (employer_id, year, grade, source)
    SELECT c.new_id, coalesce(c.grade_year, extract(year FROM c.surveyed_on)::int,
                              extract(year FROM now())::int), c.integrity_grade, :source
    FROM changed c WHERE c.integrity_grade IS NOT NULL AND c.match_id IS NULL
    RETURNING 1
)
"""

# Needs employer_grade's primary key (ON CONFLICT), so it is left out of the all-new
# statement, which may run while the key is dropped for a bulk load.
_UPDATE_GRADES = """grades AS (
    INSERT INTO employer_grade (employer_id, year, grade, source)
    SELECT c.new_id, coalesce(c.grade_year, extract(year FROM c.surveyed_on)::int,
                              extract(year FROM now())::int), c.integrity_grade, :source
    FROM changed c WHERE c.integrity_grade IS NOT NULL AND c.match_id IS NOT NULL
    ON CONFLICT (employer_id, year) DO UPDATE SET grade = excluded.grade, source = excluded.source,
        recorded_at = now()
    RETURNING 1
)
"""

_RESULT = """-- Two arrays in one row: 1M result rows cost more to fetch than the arrays to parse.
SELECT coalesce(array_agg(c.new_id) FILTER (WHERE c.match_id IS NULL), '{}') AS created,
       coalesce(array_agg(c.new_id) FILTER (WHERE c.match_id IS NOT NULL), '{}') AS updated
FROM changed c
"""
_MERGE = _MATCH + ",\n".join((_INSERT_NEW, _UPDATE_MATCHED, _SURVEYS, _NEW_GRADES, _UPDATE_GRADES)) + _RESULT
_MERGE_ALL_NEW = _ALL_NEW + ",\n".join((_INSERT_NEW, _SURVEYS, _NEW_GRADES)) + _RESULT
