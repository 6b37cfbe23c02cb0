"""Check and load the employer register (用人单位调查登记表) read by :mod:`gisgrid.employers.reading`.

Checking (:func:`validate_register`): every problem is ``{row, column, reason, message}``
with the row number a person sees in the file (and its sheet, when several were read). Only
problems that leave no usable firm reject a row (no name, a name longer than the database
holds, the same firm again inside the file: its latest survey is kept); the others are
warnings and the row is kept:

* a credit code that fails the GB 32100 check character is a **warning**: the row is
  imported with ``credit_code_status = 'check_failed'`` and the warning repeats on every
  import until a person accepts the code (``--accept-code CODE --reason TEXT``), which is
  recorded with who, when and why (``credit_code_acceptance`` and ``audit_log``); the status
  is then ``accepted``. Nothing is dropped silently and nothing is accepted silently.
* a credit code that is no code (an Excel number, a 15-digit 注册号, an organisation code, a
  typo) is left out with a warning saying what it looks like: the firm is known by its name +
  address until a file brings its code.
* a number or date that cannot be right (unreadable, negative, above the headcount, in the
  future) is left out of the row with a warning; an employer already on file keeps its own.
* coordinates that do not parse or lie outside China are dropped (the row is then placed from
  its address, or listed as 待定位); swapped longitude/latitude are swapped back; points outside
  the territory are kept (assigned to no grid, with the nearest one reported).
* columns the file has that are not register columns, and key columns it lacks, are named.

Loading (:func:`load_register`): rows go to a staging table by ``COPY`` and are merged
into ``employer`` in one statement: one firm, one file (matched by credit code, else by
normalised name + address); every new or changed record also lands as a dated survey in
``employer_survey``, and a supplied integrity grade in ``employer_grade``. A column the file
lacks leaves the stored value alone; a survey older than the employer's current one only
joins its history.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import io
import queue
import re
import threading
import time
import unicodedata

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.analysis.risk import RiskRules, assess_risk, normalise_grade
from gisgrid.employers.reading import COLUMNS, SHEET_ROWS
from gisgrid.employers.identifiers import (CREDIT_ALPHABET, are_valid_credit_codes, is_valid_org_code,
                                          match_credit_code_shape)

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
PLACEHOLDERS = ("无", "/", "-", "—", "--", "暂无", "没有", "null", "none", "nan", "n/a", "#n/a", "0",
                "待办理", "未办理", "办理中", "正在办理", "无代码", "未取得", "待补充", "待核实")
NUMBER_PLACEHOLDERS = ("无", "/", "-", "—", "--", "暂无", "null", "none", "nan", "n/a", "#n/a")
# Columns whose absence changes what the import can do, and what it does instead.
KEY_COLUMNS = {
    "credit_code": "文件中没有统一社会信用代码列：同一单位只能按单位名称+地址识别",
    "address": "文件中没有地址列：没有坐标的单位无法按地址定位，将列为待定位",
    "lon": "文件中没有经度/纬度列：单位只能按地址定位，无法定位的列为待定位",
}

# What the merge reads (the file's row number is not: it would only be formatted and parsed).
_STAGE_COLUMNS = [*TEXT_COLUMNS, "headcount", "contracts_signed", "insured", "wage_arrears_months",
                  "fee_arrears_months", "complaints_12m", "opened_on", "surveyed_on", "lon", "lat",
                  "source_crs", "located_by", "location_precision", "credit_code_status", "integrity_grade",
                  "grade_year", "name_key", "risk_level", "risk_rule", "key_flags", "left_out", "zorder"]
# Above this many new rows (and more than the table holds), the spatial and name indexes are
# rebuilt after the merge instead of being updated row by row (DESIGN.md: a GiST build on 1M
# points takes ~2 s, row-by-row insertion several times that).
BULK_REBUILD_ROWS = 100_000




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
            into.append({**row_of(self.frame.attrs, row), "column": header, "reason": reason,
                         "message": message(row)})
        if reject:
            self.bad |= mask
        return mask

    def label(self, row) -> str:
        return row_label(self.frame.attrs, row)


def row_of(attrs: dict, index) -> dict:
    """``{"row": n}`` as a person sees it in the file, with ``"sheet"`` when several were read.

    Rows of the k-th sheet read are indexed ``k * SHEET_ROWS + row`` (see :func:`read_register`).

    >>> row_of({"sheets": ["东苑", "西苑"]}, 10_000_005), row_of({}, 5)
    ({'sheet': '西苑', 'row': 5}, {'row': 5})
    """
    sheets = attrs.get("sheets") or []
    index = int(index)
    if len(sheets) > 1:
        return {"sheet": sheets[index // SHEET_ROWS], "row": index % SHEET_ROWS}
    return {"row": index}


def row_label(attrs: dict, index) -> str:
    """"第 N 行", or "工作表“X”第 N 行" when several sheets were read."""
    place = row_of(attrs, index)
    return f"第 {place['row']} 行" if "sheet" not in place else f"工作表“{place['sheet']}”第 {place['row']} 行"


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
    today = today or clock.today()
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
    # Rows the file itself broke (read_register left them out of the frame).
    problems.rejected += [{**p, **row_of(frame.attrs, p["row"])} for p in frame.attrs.get("rejected_rows", [])]
    _check_headers(frame, problems)
    flag(out["name"].isna() | (out["name"] == ""), "name", "missing_name", lambda r: "单位名称为空")
    _check_codes(out, flag, accepted_codes)
    unusable: dict[str, np.ndarray] = {}  # column → rows whose value was left out
    _check_lengths(out, flag, frame, unusable)
    _check_numbers(out, flag, frame, unusable)
    _check_dates(out, flag, today, frame, unusable)
    grade, bad_grade = normalise_grade(out["integrity_grade"], rules)
    flag(bad_grade, "integrity_grade", "bad_grade",
         lambda r: f"诚信等级 {out.at[r, 'integrity_grade']!r} 不是 {'/'.join(rules.grades)} 之一（已忽略）",
         reject=False)
    out["integrity_grade"] = grade
    out["name_key"] = name_key(out["name"], out["address"])
    _check_duplicates(out, flag, problems.bad, problems.label)
    from gisgrid.employers.place import check_coordinates, locate_from_address

    check_coordinates(out, problems, default_crs, territory)
    out["left_out"] = _left_out_text(unusable, len(out))
    good = out[~problems.bad].copy()
    locate_from_address(good, territory)
    risk = assess_risk(good, today, rules)
    for column in ("risk_level", "risk_rule", "key_flags"):
        good[column] = risk[column]
    good.attrs = copy.deepcopy(frame.attrs)
    return good, problems.rejected, problems.warnings


def _left_out_text(unusable: dict[str, np.ndarray], rows: int) -> np.ndarray:
    """Per row, ",column,column," of the values left out, else None (for the merge)."""
    text = np.full(rows, None, dtype=object)
    if unusable:
        joined = np.full(rows, ",", dtype=object)
        for column, mask in unusable.items():
            joined = np.where(mask, joined + column + ",", joined)
        text = np.where(joined != ",", joined, None)
    return text


def _check_headers(frame: pd.DataFrame, problems: _Problems) -> None:
    """Warn of columns left out and of key columns the file does not have (read files only)."""
    if "columns" not in frame.attrs:  # a frame made in code, not read from a file
        return
    row = frame.attrs.get("header_row")
    for header in frame.attrs.get("ignored_columns", []):
        problems.warnings.append({
            "row": row, "column": header, "reason": "unknown_column",
            "message": f"表头 {header!r} 不是已知的登记表列，该列未导入；如需导入，请用 --mapping 映射文件指定它是"
                       f"哪一列（JSON，如 {{\"列名\": \"{header}\"}}；列名为 name、credit_code、address、phone、"
                       f"headcount 等，见 README）"})
    for sheet in frame.attrs.get("ignored_sheets") or []:
        problems.warnings.append({
            "row": None, "column": None, "reason": "hidden_sheet",
            "message": f"隐藏的工作表“{sheet}”也有登记表表头，未导入（已导入可见的工作表）；如需导入，请在 Excel/WPS "
                       f"中取消隐藏后再导入"})
    given = frame.attrs["columns"]
    for column, message in KEY_COLUMNS.items():
        if column not in given:
            problems.warnings.append({"row": row, "column": COLUMNS[column][0], "reason": "missing_column",
                                      "message": message})


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
    # A code that is no code (an Excel number, an old registration number, a typo) is kept
    # out with a warning that says what it looks like; the firm is imported without one and
    # known by its name + address, and a later file with its code fills the code in.
    malformed = pd.notna(values) & ~well_formed
    given = pd.Series(values, index=out.index, dtype=object)
    org_in_code = np.zeros(len(values), dtype=bool)
    for i in np.flatnonzero(malformed):
        if _ORG_SHAPE.fullmatch(values[i]) and pd.isna(out["org_code"].iat[i]):
            org_in_code[i] = True
    if org_in_code.any():
        out["org_code"] = out["org_code"].mask(org_in_code, pd.Series(values, index=out.index).where(org_in_code))
    flag(pd.Series(malformed, index=out.index), "credit_code", "credit_code_format",
         lambda r: f"统一社会信用代码 {given[r]!r} {_what_code_is(given[r])}：已按无信用代码导入（以单位名称+地址识别"
                   f"同一单位），请核实后补录18位代码", reject=False)
    values[malformed] = None
    well_formed &= ~malformed
    has = pd.notna(values)
    code = pd.Series(pd.array(values, dtype="string"), index=out.index)
    out["credit_code"] = code
    passes = np.ones(len(values), dtype=bool)
    passes[well_formed] = are_valid_credit_codes(values[well_formed])
    failed = well_formed & ~passes
    is_accepted = code.isin(list(accepted)).to_numpy(dtype=bool, na_value=False) if accepted \
        else np.zeros(len(values), dtype=bool)
    # Excel keeps 15 significant digits: an all-digit code typed into a number cell ends in 000.
    zeroed = code.str.endswith("000").to_numpy(dtype=bool, na_value=False)
    for i in np.flatnonzero(zeroed):
        zeroed[i] = values[i].isdigit()
    flag(pd.Series(failed & ~is_accepted & ~zeroed, index=out.index), "credit_code", "credit_code_check",
         lambda r: f"统一社会信用代码 {out.at[r, 'credit_code']} 校验位不正确：已导入并标记为待核实；"
                   f"确属有效（如早期试点代码）请用 --accept-code {out.at[r, 'credit_code']} --reason 说明 确认",
         reject=False)
    flag(pd.Series(zeroed & ~is_accepted, index=out.index), "credit_code", "credit_code_check",
         lambda r: f"统一社会信用代码 {out.at[r, 'credit_code']} 末三位为000，多半被 Excel 当作数字存储而丢失了"
                   f"末几位：已导入并标记为待核实；请按原始证照核对后更正（不要用 --accept-code 接受）",
         reject=False)
    failed |= zeroed & ~is_accepted  # a code that passes its check by chance is still suspect
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
_ORG_SHAPE = re.compile(r"[0-9A-Z]{8}-?[0-9X]")


def _what_code_is(text: str) -> str:
    """What a malformed credit code looks like, for the warning."""
    if re.fullmatch(r"\d(\.\d+)?E\+?\d+", text):
        return "被 Excel 存成了数字，末几位已丢失（请把该列设为文本格式后重新录入）"
    if re.fullmatch(r"\d{15}", text):
        return "是15位工商注册号（旧），不是统一社会信用代码"
    if _ORG_SHAPE.fullmatch(text):
        return "是组织机构代码，不是统一社会信用代码（已记入组织机构代码）"
    return f"不是18位（{len(text)}位；只含数字和除 I O S V Z 以外的大写字母）"
_WHITESPACE = re.compile(r"\s")


def _normalise_code(text: str) -> str:
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", text)).upper()


def _check_lengths(out: pd.DataFrame, flag, source: pd.DataFrame, unusable: dict) -> None:
    """Text longer than its column holds: a name is rejected, any other value left out."""
    from gisgrid.db.models import Employer

    for column in ("name", "legal_rep", "hr_contact", "phone", "industry", "ownership"):
        limit = Employer.__table__.c[column].type.length
        too_long = (out[column].str.len() > limit).to_numpy(dtype=bool, na_value=False)
        if not too_long.any():
            continue
        reject = column == "name"
        flag(pd.Series(too_long, index=out.index), column, "too_long",
             lambda r, c=column, n=limit: f"{header_of(c, source)} 有 {len(out.at[r, c])} 个字，超过 {n} 字上限"
                                          f"（{out.at[r, c][:30]}…）："
                                          + ("请核对是否把几个单元格的内容录在了一起" if c == "name" else
                                             f"{LEFT_OUT}；多个号码或姓名请只留一个"), reject=reject)
        if not reject:
            _leave_out(unusable, column, too_long)
            out[column] = out[column].mask(too_long)


def _check_numbers(out: pd.DataFrame, flag, source: pd.DataFrame, unusable: dict) -> None:
    # A number that cannot be right is a warning: the row (the firm, its place on the map)
    # is kept and the value left out; an employer already on file keeps its own value.
    for column in INTEGER_COLUMNS:
        number, blank = _parse_counts(out[column].to_numpy(dtype=object, na_value=None))
        with np.errstate(invalid="ignore"):  # inf % 1
            bad = ~blank & (np.isnan(number) | (number < 0) | (number % 1 != 0) | (number > NUMBER_LIMITS[column]))
        flag(pd.Series(bad, index=out.index), column, "bad_number",
             lambda r, c=column: f"{header_of(c, source)} 应为 0–{NUMBER_LIMITS[c]:,} 的整数，实为 {out.at[r, c]!r}："
                                 f"{LEFT_OUT}", reject=False)
        _leave_out(unusable, column, bad)
        out[column] = pd.Series(np.where(bad, np.nan, number), index=out.index).astype("Int64")
    year = out["grade_year"]
    too_early = (year.notna() & (year < 2000)).to_numpy(dtype=bool)
    flag(pd.Series(too_early, index=out.index), "grade_year", "bad_number",
         lambda r: f"评价年度应为四位年份，实为 {out.at[r, 'grade_year']}：{LEFT_OUT}", reject=False)
    _leave_out(unusable, "grade_year", too_early)
    out["grade_year"] = year.mask(too_early)
    for part in ("contracts_signed", "insured"):
        above = (out[part] > out["headcount"]).to_numpy(dtype=bool, na_value=False)
        flag(pd.Series(above, index=out.index), part, "above_headcount",
             lambda r, p=part: f"{header_of(p, source)} {out.at[r, p]} 大于职工人数 {out.at[r, 'headcount']}："
                               f"{LEFT_OUT}", reject=False)
        _leave_out(unusable, part, above)
        out[part] = out[part].mask(above)


# What becomes of a value that cannot be right.
LEFT_OUT = "该项未导入（单位照常导入；系统中已有的该项数值保持不变），请核实后更正"


def _leave_out(unusable: dict, column: str, mask: np.ndarray) -> None:
    """Remember the rows whose ``column`` value was left out (so the merge keeps the stored one)."""
    if mask.any():
        unusable[column] = unusable[column] | mask if column in unusable else mask.copy()


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
        cleaned = _COUNT_NOISE.sub("", unicodedata.normalize("NFKC", distinct[i]))  # full-width digits
        if cleaned == "" or cleaned.lower() in NUMBER_PLACEHOLDERS:
            empty[i] = True
        else:
            parsed[i] = pd.to_numeric(pd.Series([cleaned], dtype=object), errors="coerce").iloc[0]
    number[present] = parsed[codes]
    blank[present] = empty[codes]
    return number, blank


# Thousands separators, units and "about" (约50人, 50人左右, 30余人, 100多): the number is kept.
_COUNT_NOISE = re.compile(r"[,，\s人名次个月年度约余多左右]")


def _check_dates(out: pd.DataFrame, flag, today: dt.date, source: pd.DataFrame, unusable: dict) -> None:
    for column in DATE_COLUMNS:
        raw = out[column].where(out[column] != "", None)
        parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        retry = raw.notna() & parsed.isna()
        if retry.any():  # cleaned only where ISO 8601 failed
            parsed[retry] = _parse_loose_dates(raw[retry])
        unreadable = (raw.notna() & parsed.isna()).to_numpy(dtype=bool)
        flag(pd.Series(unreadable, index=out.index), column, "bad_date",
             lambda r, c=column: f"{header_of(c, source)} 无法识别为日期：{out.at[r, c]!r}：{LEFT_OUT}", reject=False)
        impossible = parsed.notna() & ((parsed > pd.Timestamp(today)) | (parsed < pd.Timestamp(EARLIEST_DATE)))
        flag(impossible, column, "impossible_date",
             lambda r, c=column: f"{header_of(c, source)} {out.at[r, c]} 不可能（晚于今天 {today} 或早于 "
                                 f"{EARLIEST_DATE.year} 年）：{LEFT_OUT}", reject=False)
        _leave_out(unusable, column, unreadable | impossible.to_numpy(dtype=bool))
        out[column] = parsed.where(~impossible).dt.normalize()  # datetime64: fast to write with COPY
    flag(pd.to_datetime(out["surveyed_on"]) < pd.to_datetime(out["opened_on"]),
         "surveyed_on", "impossible_date",
         lambda r: f"调查日期 {out.at[r, 'surveyed_on']} 早于开业日期 {out.at[r, 'opened_on']}", reject=False)


def _parse_loose_dates(raw: pd.Series) -> pd.Series:
    """Dates as people type them: "2020年1月1日", "2020.01.01", "2020/1/1", "２０２０-１-１",
    "2019年5月" (the 1st), and Excel's day numbers ("43900", a date cell read as a number)."""
    text = raw.map(lambda v: unicodedata.normalize("NFKC", v).strip())
    serial = text.str.fullmatch(r"\d{5}(\.0+)?").fillna(False)
    month = text.str.fullmatch(r"\d{4}\s*[年./-]\s*\d{1,2}\s*月?").fillna(False)
    text = text.str.replace(r"\s+", "", regex=True).str.replace(r"[年月./]", "-", regex=True) \
        .str.replace(r"[日号]", "", regex=True).str.rstrip("-")
    text = text.where(~month, text + "-01")
    parsed = pd.to_datetime(text.where(~serial), errors="coerce", format="mixed")
    if serial.any():  # Excel counts days from 1899-12-30 (its 1900 leap-year bug included)
        days = pd.to_numeric(text[serial], errors="coerce")
        parsed[serial] = pd.Timestamp("1899-12-30") + pd.to_timedelta(days, unit="D")
    return parsed


def _check_duplicates(out: pd.DataFrame, flag, bad: pd.Series, label) -> None:
    """Reject the second and later rows of one firm inside the file, keeping its latest survey.

    One firm is one credit code, or, without a code, one normalised name + address (a
    codeless row with the name and address of a coded row is that firm too). Of such rows
    the one with the latest 调查日期 is kept (the first of equals); rows already rejected for
    another reason take no part, so a broken row never costs its firm the good one.
    """
    code, key = out["credit_code"], out["name_key"]
    if bad.any():
        code, key = code.where(~bad), key.where(~bad)
    has_code = code.notna()
    code_repeats, key_repeats = code.duplicated(keep=False), key.duplicated(keep=False)  # once each: 1M rows
    shared_code = has_code & code_repeats
    shared_key = ~has_code & key.notna() & key_repeats
    if shared_code.any() or shared_key.any():
        _reject_repeats(out, flag, label, code, key, shared_code, shared_key)
    # Same firm under two codes (a typo in one of them): kept, but a person should look.
    twin_keys = has_code & key_repeats
    first_name = _first_rows(key, twin_keys)
    twin = twin_keys & ~code_repeats
    later_twin = pd.Series(False, index=out.index)
    if twin.any():
        later_twin[twin] = key[twin_keys].duplicated(keep="first")[twin[twin_keys]].to_numpy()
    flag(later_twin, "credit_code", "possible_duplicate",
         lambda r: f"{out.at[r, 'name']} 与{label(first_name[r])}名称地址相同但信用代码不同"
                   f"（{out.at[r, 'credit_code']}）：是否录入错误？", reject=False)


def _reject_repeats(out: pd.DataFrame, flag, label, code: pd.Series, key: pd.Series, shared_code: pd.Series,
                    shared_key: pd.Series) -> None:
    # Python over the (few) rows that share a code or a name + address only.
    surveyed = out["surveyed_on"] if "surveyed_on" in out else pd.Series(pd.NaT, index=out.index)
    rows = out.index[shared_code | shared_key | (code.notna() & key.isin(set(key[shared_key].dropna())))]
    latest = {}   # ("code", code) or ("key", name key) → kept row
    for row in sorted(rows, key=lambda r: (-(surveyed[r].value if pd.notna(surveyed[r]) else -2 ** 62), r)):
        group = ("code", code[row]) if pd.notna(code[row]) else ("key", key[row])
        latest.setdefault(group, row)
    coded_by_key = {}
    for (kind, value), row in latest.items():
        if kind == "code" and pd.notna(key[row]):
            coded_by_key.setdefault(key[row], row)
    repeat, kept_row = {}, {}
    for row in rows:
        if pd.notna(code[row]):
            if latest[("code", code[row])] != row:
                repeat[row], kept_row[row] = "code", latest[("code", code[row])]
        elif key[row] in coded_by_key:
            repeat[row], kept_row[row] = "coded", coded_by_key[key[row]]
        elif latest[("key", key[row])] != row:
            repeat[row], kept_row[row] = "key", latest[("key", key[row])]

    def which(r) -> str:
        kept = kept_row[r]
        when = surveyed[kept]
        return f"保留{label(kept)}" + (f"（调查日期 {when:%Y-%m-%d}，较新）" if pd.notna(when) and kept > r else "")

    mask = pd.Series(False, index=out.index)
    for kind, column, message in (
            ("code", "credit_code", lambda r: f"统一社会信用代码 {out.at[r, 'credit_code']} 在文件中重复"
                                              f"（与{label(kept_row[r])}；{which(r)}）"),
            ("coded", "name", lambda r: f"无信用代码的 {out.at[r, 'name']}（{out.at[r, 'address']}）与"
                                        f"{label(kept_row[r])}（信用代码 {out.at[kept_row[r], 'credit_code']}）"
                                        f"名称地址相同，视为同一单位：保留有信用代码的行"),
            ("key", "name", lambda r: f"无信用代码的 {out.at[r, 'name']}（{out.at[r, 'address']}）在文件中重复"
                                      f"（与{label(kept_row[r])}；{which(r)}）")):
        mask[:] = False
        mask[[r for r, k in repeat.items() if k == kind]] = True
        flag(mask.copy(), column, "duplicate_in_file", message)


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
                   "grade_year", "key_flags", "complaints_12m", "left_out"):
        if column not in stage:
            stage[column] = None
    stage["zorder"] = _zorder(stage["lon"], stage["lat"])
    # Staged in Z-order already: the insert's ORDER BY then finds its input sorted
    # (PostgreSQL's sort checks for that first) instead of sorting 1M wide rows (~2 s).
    # (Reordered once: a take per 20k-row chunk cost ~2 s more at 1M rows.)
    order = np.argsort(stage["zorder"].to_numpy(dtype=float, na_value=np.inf), kind="stable")
    raw = session.connection().connection.dbapi_connection
    with _CopyStream(stage[_STAGE_COLUMNS].take(order)) as buffer, raw.cursor() as cur:
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
    empty, referring = False, []
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
            # ~3 s less of the merge). The foreign keys that refer to them (a complaint's
            # employer) go first and come back after: with no employer, no row holds one.
            referring = session.execute(sa.text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f' AND confrelid = ANY(CAST(:tables AS regclass[])) "
                "AND conrelid <> ALL(CAST(:tables AS regclass[]))"),
                {"tables": [t for t, _, _ in _BULK_KEYS]}).all()
            for table, constraint, _ in referring:
                session.execute(sa.text(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"'))
            for table, constraint, _ in _BULK_KEYS:
                session.execute(sa.text(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}"))
    sequence = session.execute(sa.text("SELECT pg_get_serial_sequence('employer', 'id')")).scalar()
    params = {"source": source, "sequence": sequence}
    created, updated, older, twins = session.execute(sa.text(_MERGE_ALL_NEW), params).one()
    if not created and not empty:  # the table was not empty (or nothing to load): match every row
        given = good.attrs.get("columns")
        absent = frozenset(c for c in _OPTIONAL_COLUMNS if given is not None and c not in given)
        left_out = frozenset(c for text in good["left_out"].dropna().unique() for c in text.strip(",").split(",")) \
            if "left_out" in good else frozenset()
        created, updated, older, twins = session.execute(
            sa.text(_merge_sql(absent, left_out & set(_OPTIONAL_COLUMNS))), params).one()
    timings["merge"], mark = time.perf_counter() - mark, time.perf_counter()
    if empty:
        for table, constraint, columns in _BULK_KEYS:
            session.execute(sa.text(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} PRIMARY KEY ({columns})"))
        for table, constraint, definition in referring:
            session.execute(sa.text(f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {definition}'))
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
            "changed_ids": created + updated, "warnings": _older_warnings(good, older) + _twin_warnings(good, twins)}


def _twin_warnings(good: pd.DataFrame, twins: list) -> list[dict]:
    """A warning for each new code whose name + address is on file under another code."""
    if not twins:
        return []
    by_code = {k: r for r, k in good["credit_code"].dropna().items()}
    found = [{**row_of(good.attrs, by_code[code]), "column": header_of("credit_code", good),
              "reason": "possible_duplicate",
              "message": f"系统中已有名称地址相同的 {name}（信用代码 {other}），与本行信用代码 {code} 不同：已作为新单位导入；"
                         f"若是同一单位，请核对哪个代码录入有误"}
             for code, other, name in twins if code in by_code]
    return sorted(found, key=lambda p: (p.get("sheet") or "", p["row"]))


def _older_warnings(good: pd.DataFrame, older: list) -> list[dict]:
    """A warning for each row whose survey is older than the employer's current one."""
    if not older:
        return []
    by_code = {k: r for r, k in good["credit_code"].dropna().items()}
    by_key = {k: r for r, k in good.loc[good["credit_code"].isna(), "name_key"].dropna().items()}
    header = header_of("surveyed_on", good)
    found = []
    for code, key, surveyed, current in older:
        row = by_code.get(code) if code is not None else by_key.get(key)
        found.append({**({"row": None} if row is None else row_of(good.attrs, row)), "column": header,
                      "reason": "older_survey",
                      "message": f"调查日期 {surveyed} 早于系统中该单位最近一次调查 {current}：未覆盖现有记录，"
                                 "仅存入调查历史"})
    return sorted(found, key=lambda p: (p["row"] is None, p["row"] or 0))


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
    larger. ``close()`` stops the thread (a failed COPY stops reading).
    """

    def __init__(self, frame: pd.DataFrame, rows: int = 20_000, ahead: int = 3):
        self.frame, self.rows = frame, rows
        self.pending, self.offset, self.done = b"", 0, False
        self.chunks: queue.Queue = queue.Queue(maxsize=ahead)
        self.stop = threading.Event()
        self.worker = threading.Thread(target=self._produce, name="register-copy", daemon=True)
        self.worker.start()

    def _produce(self) -> None:
        try:
            for at in range(0, len(self.frame), self.rows):
                if not self._put(_copy_text(self.frame.iloc[at:at + self.rows])):
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
    risk_level smallint, risk_rule text, key_flags text, left_out text, zorder bigint,
    geom geometry(Point, 4490) GENERATED ALWAYS AS (
        CASE WHEN lon IS NULL OR lat IS NULL THEN NULL
             ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4490) END) STORED
) ON COMMIT DROP
"""

# Located from the file's own coordinates (as opposed to the gazetteer or by hand).
_GIVEN = "('given', 'gcj02', 'bd09')"

# One firm, one file: match on the credit code, else on the normalised name + address (a
# row with a code new to the register also finds the firm filed before without one, and
# fills its code in).
# Only rows whose record differs are written, so importing the same file twice changes
# nothing. Coordinates arrive already converted to CGCS2000. A row without coordinates
# never erases a location the employer already has from coordinates or a person's hand:
# the gazetteer's village-level guess only fills a gap.
# The record's own columns that a file may lack: a register without, say, an 经济类型
# column says nothing about ownership, so a matched employer keeps what it has.
_OPTIONAL_COLUMNS = ("org_code", "address", "legal_rep", "hr_contact", "phone", "industry", "ownership",
                     "headcount", "contracts_signed", "insured", "wage_arrears_months", "fee_arrears_months",
                     "complaints_12m", "opened_on", "surveyed_on")


def _record_updates(absent: frozenset[str], left_out: frozenset[str]) -> list[tuple[str, str]]:
    """(column, new value) of a matched employer's record, ``c`` the staged row, ``e`` the employer.

    ``absent``: columns the file does not have; ``left_out``: columns with values left out in
    some rows (``c.left_out`` names them), where the employer keeps its own value.
    """
    def value(column: str) -> str:
        if column in left_out:
            return f"CASE WHEN c.left_out LIKE '%,{column},%' THEN e.{column} ELSE c.{column} END"
        return f"c.{column}"

    return ([("name", "c.name"), ("credit_code", "coalesce(c.credit_code, e.credit_code)")]
            + [(column, value(column)) for column in _OPTIONAL_COLUMNS if column not in absent]
            + [("risk_level", "c.risk_level"), ("risk_rule", "c.risk_rule"), ("key_flags", "c.key_flags"),
               ("credit_code_status", "coalesce(c.credit_code_status, e.credit_code_status)"),
               ("integrity_grade", "coalesce(c.integrity_grade, e.integrity_grade)"),
               ("grade_year", "coalesce(c.grade_year, e.grade_year)"), ("name_key", "c.name_key")])


# One firm, one file: match on the credit code, else on the normalised name + address (a
# row with a code new to the register also finds the firm filed before without one, and
# fills its code in).
# Only rows whose record would change are written, so importing the same file twice
# changes nothing. Coordinates arrive already converted to CGCS2000. A row without
# coordinates never erases a location the employer already has from coordinates or a
# person's hand (the gazetteer's village-level guess only fills a gap), and a person's
# placement made on or after the row's survey date outranks the survey's coordinates.
# A survey older than the employer's current one only joins its history (``older``).
def _match_sql(absent: frozenset[str], left_out: frozenset[str]) -> str:
    updates = _record_updates(absent, left_out)
    return f"""
WITH matched AS (
    SELECT s.*, coalesce(ec.id, en.id) AS match_id
    FROM _stage s
    LEFT JOIN employer ec ON ec.credit_code = s.credit_code
    LEFT JOIN LATERAL (
        SELECT e.id FROM employer e
        WHERE ec.id IS NULL AND e.name_key = s.name_key AND (s.credit_code IS NULL OR e.credit_code IS NULL)
        ORDER BY e.id LIMIT 1
    ) en ON true
),
placed AS (
    SELECT m.*, keep.keep_location, coalesce(m.surveyed_on < e.surveyed_on, false) AS older,
           e.surveyed_on AS current_survey
    FROM matched m LEFT JOIN employer e ON e.id = m.match_id
    CROSS JOIN LATERAL (SELECT e.geom IS NOT NULL AND (
        ((m.located_by IS NULL OR m.located_by NOT IN {_GIVEN}) AND e.located_by NOT IN ('gazetteer', 'none'))
        OR (e.located_by = 'manual' AND coalesce(m.surveyed_on IS NULL OR e.located_at::date >= m.surveyed_on,
                                                 false))
    ) AS keep_location) keep
),
changed AS (
    SELECT c.*, coalesce(c.match_id, nextval(CAST(:sequence AS regclass))) AS new_id
    FROM placed c LEFT JOIN employer e ON e.id = c.match_id
    WHERE e.id IS NULL OR c.older OR (
        ({", ".join(value for _, value in updates)})
        IS DISTINCT FROM ({", ".join(f"e.{column}" for column, _ in updates)})
        OR (NOT c.keep_location AND NOT (c.geom IS NOT DISTINCT FROM e.geom)))
),
older_surveys AS (
    INSERT INTO employer_survey (employer_id, surveyed_on, source, data)
    SELECT c.match_id, c.surveyed_on, :source, to_json(r)
    FROM changed c CROSS JOIN LATERAL ({_SURVEY_RECORD}) r
    WHERE c.older AND NOT EXISTS (SELECT FROM employer_survey h
                                  WHERE h.employer_id = c.match_id AND h.surveyed_on = c.surveyed_on)
    RETURNING 1
),
"""


def _update_sql(absent: frozenset[str], left_out: frozenset[str]) -> str:
    updates = ",\n        ".join(f"{column} = {value}" for column, value in _record_updates(absent, left_out))
    return f"""updated AS (
    UPDATE employer e SET {updates},
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
    FROM changed c WHERE e.id = c.match_id AND NOT c.older
    RETURNING 1
)
"""


# Into an empty employer table (a first import) every row is new: the same writes as
# _MATCH's, without the three joins that would find nothing (~2.5 s of the merge at 1M
# rows). Emptiness is checked in the statement itself, on the snapshot it writes by: a
# table filled in the meantime makes it write nothing, and the general merge runs.
_ALL_NEW = """
WITH changed AS (
    SELECT s.*, CAST(NULL AS bigint) AS match_id, false AS keep_location, false AS older,
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

# What a survey said, as its history record keeps it.
_SURVEY_RECORD = """SELECT c.name, c.credit_code, c.org_code, c.address, c.legal_rep,
        c.hr_contact, c.phone, c.industry, c.ownership, c.headcount, c.contracts_signed, c.insured,
        c.wage_arrears_months, c.fee_arrears_months, c.complaints_12m, c.integrity_grade, c.grade_year,
        c.opened_on, c.surveyed_on, c.lon, c.lat, c.source_crs"""

_SURVEYS = f"""surveys AS (
    INSERT INTO employer_survey (employer_id, surveyed_on, source, data)
    -- to_json of a row: its text, as the column is json (migration 0004); to_jsonb cost
    -- ~1.5× as much (the merge took ~0.5 s longer per 200k rows).
    SELECT c.new_id, c.surveyed_on, :source, to_json(r)
    FROM changed c CROSS JOIN LATERAL ({_SURVEY_RECORD}) r
    WHERE NOT c.older
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
    FROM changed c WHERE c.integrity_grade IS NOT NULL AND c.match_id IS NOT NULL AND NOT c.older
    ON CONFLICT (employer_id, year) DO UPDATE SET grade = excluded.grade, source = excluded.source,
        recorded_at = now()
    RETURNING 1
)
"""

_RESULT = """-- Two arrays in one row: 1M result rows cost more to fetch than the arrays to parse.
SELECT coalesce(array_agg(c.new_id) FILTER (WHERE c.match_id IS NULL), '{}') AS created,
       coalesce(array_agg(c.new_id) FILTER (WHERE c.match_id IS NOT NULL AND NOT c.older), '{}') AS updated
FROM changed c
"""
# and the surveys older than the record: (credit code, name key, their date, the current one),
# and new codes whose name + address an employer on file has under another code.
_OLDER = """, (SELECT coalesce(json_agg(json_build_array(p.credit_code, p.name_key, p.surveyed_on, p.current_survey)),
                       '[]') FROM changed p WHERE p.older) AS older,
       (SELECT coalesce(json_agg(json_build_array(p.credit_code, t.credit_code, t.name)), '[]')
        FROM changed p CROSS JOIN LATERAL (  -- probed per new code (a hash of all employers cost ~1 s at 1M)
            SELECT t.credit_code, t.name FROM employer t
            WHERE t.name_key = p.name_key AND t.credit_code <> p.credit_code ORDER BY t.id LIMIT 3) t
        WHERE p.match_id IS NULL AND p.credit_code IS NOT NULL) AS twins
"""


@functools.lru_cache(maxsize=64)
def _merge_sql(absent: frozenset[str] = frozenset(), left_out: frozenset[str] = frozenset()) -> str:
    """The general merge (see :func:`_record_updates` for ``absent`` and ``left_out``)."""
    return (_match_sql(absent, left_out) + ",\n".join((_INSERT_NEW, _update_sql(absent, left_out), _SURVEYS,
                                                        _NEW_GRADES, _UPDATE_GRADES))
            + _RESULT.replace("FROM changed c\n", _OLDER + "FROM changed c\n"))


_MERGE_ALL_NEW = (_ALL_NEW + ",\n".join((_INSERT_NEW, _SURVEYS, _NEW_GRADES))
                  + _RESULT.replace("FROM changed c\n", ", '[]'::json AS older, '[]'::json AS twins\nFROM changed c\n"))
