"""Reading a register file (CSV or XLSX) as it really arrives, into a frame of text columns.

CSV in UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode 文本"), GBK or GB18030 (detected,
or given), separated by commas, tabs or semicolons (detected from the header lines); XLSX
workbooks with one register per sheet (every visible sheet with a register header is read),
title rows above the header and merged header cells (the header row is the one whose cells
match the most known headers); the content decides the format, not the file's name. The
survey form's Chinese headers, English aliases, or a mapping file for any other layout.
Every value is read as text, so credit codes and phone numbers keep their leading zeros and
digits; line breaks typed inside a cell are removed. Rows that are no records (blank lines,
合计/小计, section titles, signatures, notes, a repeated header) and rows the file itself broke
(a truncated last line) are left out and listed in ``frame.attrs``. Checking the values is
:func:`gisgrid.employers.register.validate_register`'s job.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import re
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from gisgrid.errors import InputError

# column → accepted headers (the survey form's Chinese ones first, then English)
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("单位名称", "用人单位名称", "企业名称", "单位全称", "用人单位", "企业(单位)名称", "单位(企业)名称",
             "市场主体名称", "用人单位全称", "企业全称", "个体工商户名称", "name", "company", "employer",
             "company name", "employer name", "enterprise name", "unit name"),
    "credit_code": ("统一社会信用代码", "信用代码", "社会信用代码", "统一社会信用代码/注册号",
                    "信用代码/注册号", "统一代码", "纳税人识别号", "统一社会信用代码或注册号",
                    "社会信用代码/组织机构代码", "统一社会信用代码/组织机构代码", "credit_code", "uscc",
                    "unified_social_credit_code", "credit code", "unified social credit code"),
    "org_code": ("组织机构代码", "机构代码", "org_code", "organization_code", "organisation_code"),
    "address": ("地址", "单位地址", "注册地址", "经营地址", "详细地址", "生产经营地址", "住所", "经营场所",
                "住所(经营场所)", "单位详细地址", "企业地址", "实际经营地址", "办公地址", "通讯地址", "所在地址",
                "生产经营场所", "经营地点", "单位所在地", "单位所在地址", "住所地", "注册地址(住所)",
                "address", "company address", "registered address", "business address"),
    "legal_rep": ("法定代表人", "法人代表", "负责人", "法定代表人(负责人)", "legal_rep",
                  "法人", "经营者", "投资人", "法定代表人姓名", "法人代表姓名", "负责人姓名", "经营者姓名",
                  "法定代表人(负责人)姓名", "法定代表人/负责人", "法定代表人或负责人", "legal_representative",
                  "legal representative"),
    "hr_contact": ("劳资人员/联系人", "劳资联系人", "劳资人员", "联系人", "劳资员", "劳资专管员", "劳资专员",
                   "劳资管理员", "劳资管理人员", "劳资负责人", "劳资联络员", "联系人姓名", "hr_contact", "contact",
                   "contact person"),
    "phone": ("联系电话", "电话", "手机", "手机号码", "移动电话", "固定电话", "联系方式", "联系电话/手机",
              "电话/手机", "手机/电话", "联系电话(手机)", "办公电话", "单位电话", "联系人电话", "联系人手机",
              "手机号", "电话号码", "phone", "telephone", "tel", "mobile", "phone number", "contact number"),
    "industry": ("行业", "所属行业", "行业类别", "行业门类", "行业分类", "国民经济行业", "行业类型",
                 "所属行业类别", "国民经济行业分类", "industry"),
    "ownership": ("经济类型", "单位类型", "登记注册类型", "企业类型", "企业性质", "单位性质", "经济性质",
                  "市场主体类型", "企业登记注册类型", "单位经济类型", "ownership"),
    "headcount": ("职工人数", "用工人数", "从业人数", "职工总数", "职工总人数", "员工人数", "在职职工人数",
                  "用工总数", "从业人员数", "从业人员人数", "从业人员期末人数", "年末从业人员数", "期末从业人员数",
                  "员工总数", "员工总人数", "在岗职工人数", "用工总人数", "headcount", "employees",
                  "number of employees", "employee count"),
    "contracts_signed": ("签订劳动合同人数", "签订合同人数", "签订劳动合同", "劳动合同签订人数",
                         "已签劳动合同人数", "已签订劳动合同人数", "签订劳动合同职工人数", "劳动合同签订数",
                         "签订劳动合同数", "已签合同人数", "contracts_signed", "contracts"),
    "insured": ("参加社会保险人数", "参保人数", "参加社会保险", "参加社保人数", "社保参保人数", "社会保险参保人数",
                "参加社会保险职工人数", "缴纳社会保险人数", "缴纳社保人数", "insured"),
    "wage_arrears_months": ("欠薪月数", "拖欠工资月数", "wage_arrears_months", "wage_arrears"),
    "fee_arrears_months": ("欠费月数", "欠缴社保费月数", "欠缴社会保险费月数", "fee_arrears_months",
                           "fee_arrears"),
    "complaints_12m": ("投诉次数(12个月)", "近12个月投诉次数", "一年内投诉次数", "投诉次数",
                       "complaints_12m", "complaints"),
    "integrity_grade": ("诚信等级", "守法诚信等级", "劳动保障守法诚信等级", "劳动保障诚信等级", "诚信评价等级",
                        "守法诚信评价等级", "integrity_grade", "grade"),
    "grade_year": ("评价年度", "等级年度", "诚信等级年度", "grade_year"),
    "opened_on": ("开业日期", "成立日期", "开业时间", "成立时间", "注册日期", "登记成立日期", "开业(成立)日期",
                  "开业(成立)时间", "成立(开业)日期", "成立(开业)时间", "设立日期", "opened_on", "opened",
                  "date of establishment", "established", "founded"),
    "surveyed_on": ("调查日期", "登记日期", "调查时间", "填表日期", "采集日期", "核查日期", "巡查日期",
                    "surveyed_on", "surveyed"),
    "lon": ("经度", "东经", "经度坐标", "x坐标", "gps经度", "经纬度", "经纬度坐标", "lon", "lng", "longitude", "x"),
    "lat": ("纬度", "北纬", "纬度坐标", "y坐标", "gps纬度", "lat", "latitude", "y"),
    "crs": ("坐标系", "坐标系统", "坐标类型", "坐标系类型", "crs"),
    # Market-registration and tax extracts compared with the register (存续, 注销, 吊销 …).
    "registration_status": ("登记状态", "经营状态", "企业状态", "登记状况", "存续状态", "registration_status",
                            "status"),
}

# Headers of a form's own bookkeeping, left out without a word.
IGNORED_HEADERS = frozenset({"序号", "编号", "序", "no", "no.", "备注", "说明", "备注说明"})
HEADER_SCAN_ROWS = 30
CSV_SPARE_FIELDS = 20
ENCODINGS = ("utf-8-sig", "gb18030")  # GB18030 is a superset of GBK
# Field separators tried on the header lines: Excel's CSV, its "Unicode 文本"/"文本文件(制表符分隔)",
# and the CSV of a European-locale Excel.
SEPARATORS = (",", "\t", ";")
# The k-th sheet read from a workbook numbers its rows k * SHEET_ROWS + row (an XLSX sheet has at
# most 1,048,576 rows), so one index names a row in any sheet.
SHEET_ROWS = 10_000_000
ZIP_MAGIC = b"PK\x03\x04"  # XLSX/XLSM are ZIP packages
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # old binary .xls (and password-protected workbooks)
TRUNCATED_MESSAGE = "文件末行不完整，可能未完整保存或上传：请重新导出/上传完整文件"


def header_key(text) -> str:
    """Normalise a header for matching: NFKC, no spaces/asterisks/line breaks, lower case.

    >>> header_key(" 职工人数\\n（人）*"), header_key("Credit_Code")
    ('职工人数(人)', 'credit_code')
    """
    text = unicodedata.normalize("NFKC", str(text if text is not None else ""))
    return re.sub(r"[\s*※:：]", "", text).lstrip("\ufeff").lower()


def _header_variants(text) -> list[str]:
    key = header_key(text)
    variants = [key]
    bare = re.sub(r"\([^)]*\)$", "", key)  # "职工人数(人)" → "职工人数"
    unbracketed = re.sub(r"\([^)]*\)", "", key)  # "开业(成立)日期" → "开业日期"
    # "联系电话/手机", "社会信用代码/组织机构代码": the first of two names for one column.
    first = re.split(r"[/、]", bare, maxsplit=1)[0] if re.search(r"[/、]", bare) else ""
    for variant in (bare, unbracketed, first):
        if variant and variant not in variants:
            variants.append(variant)
    return variants


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
        ``.csv``/``.txt``/``.tsv`` or ``.xlsx``/``.xlsm``; the content decides (an XLSX
        named ``.csv`` is read as XLSX, a text file named ``.xlsx`` as text).
    encoding
        Text encoding of a CSV; detected (UTF-8 or UTF-16, with or without BOM, else
        GB18030/GBK) when omitted. The field separator (comma, tab or semicolon) is detected
        from the header lines.
    mapping
        From :func:`read_mapping`: file header → register column, before the known headers.

    Returns
    -------
    pandas.DataFrame
        Indexed by the row number a person sees in the file or sheet (the first line is 1;
        the k-th sheet read adds ``k * SHEET_ROWS``). Rows that are no records (blank, 合计,
        section titles, signatures, notes, a repeated header) are left out and listed in
        ``attrs["skipped_rows"]``; rows the file itself broke (a truncated last line) in
        ``attrs["rejected_rows"]``. ``frame.attrs`` also holds ``encoding``, ``header_row``,
        ``header_rows``, ``sheet``, ``sheets``, ``ignored_sheets`` (hidden sheets with a
        register header, not read because a visible one has one), ``columns`` (register
        column → the file's header) and ``ignored_columns``; for a CSV also ``separator``.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = open(p, "wb").write("示范市用人单位登记表\\n单位名称,统一社会信用代码,联系电话\\n甲,0012,0371\\n合计,,\\n"
    ...                         .encode("gbk"))
    >>> frame = read_register(p)
    >>> frame.index.tolist(), frame.at[3, "credit_code"], frame.at[3, "phone"], frame.attrs["encoding"]
    ([3], '0012', '0371', 'gb18030')
    >>> frame.attrs["skipped_rows"]
    [{'row': 4, 'reason': 'total', 'text': '合计'}]
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"file {path} does not exist")
    suffix = path.suffix.lower()
    with path.open("rb") as stream:
        start = stream.read(4096)
    if not start.strip():
        if path.stat().st_size <= len(start):
            raise InputError(f"{path.name}：文件为空（{path.stat().st_size} 字节），没有可读取的内容")
    if start.startswith(OLE_MAGIC):
        raise InputError(f"{path.name}：旧版 .xls（或加密的）工作簿，无法读取：请在 Excel/WPS 中另存为 .xlsx 或 CSV")
    if start.startswith(ZIP_MAGIC):
        if suffix not in (".xlsx", ".xlsm", ".csv", ".txt", ".tsv", ".xls", ""):
            raise InputError(f"{path.name}: file type {suffix} is not supported; expected .csv or .xlsx")
        return _frame_from_sheets(path, _read_xlsx_rows(path, mapping))
    if suffix in (".xlsx", ".xlsm", ".xls"):
        # A text file saved under a workbook's name (a CSV renamed .xlsx, a web system's "xls"
        # export): read it as text when it is text.
        if b"\0" in start and not start.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InputError(f"{path.name} is not a readable XLSX workbook (not a ZIP package)")
        if start.lstrip().startswith(b"<"):
            raise InputError(f"{path.name}：这是网页（HTML）格式的表格，不是 Excel 工作簿：请在 Excel/WPS 中打开后"
                             "另存为 .xlsx 或 CSV")
    elif suffix not in (".csv", ".txt", ".tsv"):
        raise InputError(f"{path.name}: file type {suffix or '(none)'} is not supported; expected .csv or .xlsx")
    parts, attrs = _read_csv_rows(path, encoding, mapping)
    return _frame_from_rows(path, parts, attrs)


def _frame_from_sheets(path: Path, sheets: list) -> pd.DataFrame:
    """One frame from the sheets read (each with its own header), rows numbered per sheet."""
    frames = [_frame_from_rows(path, parts, attrs) for parts, attrs in sheets]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames)
    columns: dict[str, str] = {}
    ignored: list[str] = []
    skipped: list[dict] = []
    rejected: list[dict] = []
    for part in frames:
        for column, header in part.attrs["columns"].items():
            columns.setdefault(column, header)
        ignored += [h for h in part.attrs["ignored_columns"] if h not in ignored]
        skipped += part.attrs["skipped_rows"]
        rejected += part.attrs["rejected_rows"]
    first = frames[0].attrs
    frame.attrs = {"encoding": None, "sheet": first["sheet"], "header_row": first["header_row"],
                   "sheets": [part.attrs["sheet"] for part in frames],
                   "header_rows": [part.attrs["header_row"] for part in frames],
                   "columns": columns, "ignored_columns": ignored, "skipped_rows": skipped,
                   "rejected_rows": rejected, "ignored_sheets": first.get("ignored_sheets", [])}
    return frame


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


def _decode_text(path: Path, data: bytes, encoding: str | None) -> tuple[str, str]:
    """The file's text and the encoding it was decoded with (given, or detected)."""
    if encoding:
        candidates = [encoding]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]  # Excel's "Unicode 文本" (UTF-16 LE with BOM)
    else:
        # UTF-16 without a BOM: the high byte of every ASCII character (digits, separators,
        # line ends) is NUL, on one side only (a CJK character's low byte is NUL now and then).
        sample = data[:4096]
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if len(sample) >= 8 and max(even, odd) > len(sample) // 16 and min(even, odd) * 4 < max(even, odd):
            candidates = ["utf-16-le" if odd else "utf-16-be"]
        else:
            candidates = list(ENCODINGS)
    for enc in candidates:
        try:
            return data.decode(enc), enc
        except (UnicodeDecodeError, LookupError) as exc:
            if encoding:
                raise InputError(f"{path.name} cannot be decoded as {encoding}: {exc}; "
                                 "expected e.g. utf-8, gbk, gb18030 or utf-16") from None
    raise InputError(f"{path.name} is neither UTF-8, UTF-16 nor GBK/GB18030 text; give --encoding")


def _read_csv_rows(path: Path, encoding: str | None, mapping):
    data = path.read_bytes()
    text, enc = _decode_text(path, data, encoding)
    text = text.lstrip("\ufeff")
    if not text or text.isspace():  # isspace stops at the first other character; strip copies
        raise InputError(f"{path.name}：文件为空（没有表头和数据），没有可读取的内容")
    # The separator is the one under which the header lines name the most register columns
    # (a tab- or semicolon-separated file is one field per line under the comma).
    head_lines = list(itertools.islice(io.StringIO(text), HEADER_SCAN_ROWS))
    best = None
    for sep in SEPARATORS:
        if sep != "," and not any(sep in line for line in head_lines):
            continue
        head = list(csv.reader(head_lines, delimiter=sep))
        found = _find_header(head, mapping)
        if best is None or len(found[2]) > len(best[2][2]):
            best = (sep, head, found)
    sep, head, (first, last, positions) = best
    if not positions:
        raise InputError(f"{path.name}: no known header (单位名称, 统一社会信用代码 …) in the first "
                         f"{HEADER_SCAN_ROWS} lines (fields separated by comma, tab or semicolon); give --mapping")
    # Every field of the widest header line (plus spare ones for notes typed to the right):
    # with fewer names than fields pandas would turn the leading fields into an index.
    narrow = max(max(len(line) for line in head), max(positions) + 1)
    width = narrow + CSV_SPARE_FIELDS
    rejected: list[dict] = []
    # Bytes, not a StringIO: pandas re-encodes a text buffer in small chunks (28 s at 1M rows).
    # UTF-8 input goes as it came (less its BOM): no second encoding of the whole text.
    if enc.startswith("utf-8"):
        source = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    else:
        source = text.encode("utf-8")
    cut = None
    try:
        body = _parse_csv(path, source, sep, last + 1, narrow, width)
    except _OpenQuote:
        # The file ends inside a quoted field: read it without that last record.
        cut = _truncated_tail(text, sep)
        if cut is None:
            raise InputError(f"{path.name}: broken quoting (a quoted field is never closed)") from None
        try:
            body = _parse_csv(path, text[:cut[0]].encode("utf-8"), sep, last + 1, narrow, width)
        except _OpenQuote:
            raise InputError(f"{path.name}: broken quoting (a quoted field is never closed)") from None
    # Line numbers as a person sees them (assuming no line breaks inside quoted cells).
    body.index = pd.RangeIndex(last + 2, last + 2 + len(body), name="row")
    header_fields = max(p for p, cell in enumerate(head[last]) if cell.strip()) + 1 if any(
        cell.strip() for cell in head[last]) else 0
    if cut is not None:
        row = last + 2 + len(body)
        rejected.append(_truncated_row(row, cut[1], positions, head[last]))
    elif not text.endswith(("\n", "\r")) and len(body):
        # The last line without a line end and with fewer fields than the header: cut off.
        line = text[text.rfind("\n") + 1:]
        fields = next(csv.reader([line], delimiter=sep), [])
        if line.strip() and len(fields) < header_fields:
            rejected.append(_truncated_row(int(body.index[-1]), max(len(fields) - 1, 0), positions, head[last]))
    attrs = {"encoding": encoding or enc, "header_row": last + 1, "header_rows": [last + 1], "sheet": None,
             "sheets": None, "separator": sep, "rejected_rows": rejected}
    return (body, positions, head[first:last + 1]), attrs


class _OpenQuote(Exception):
    """The CSV ends inside a quoted field."""


def _parse_csv(path: Path, source: bytes, sep: str, skip: int, narrow: int, width: int) -> pd.DataFrame:
    # First without the spare fields (20 columns of empty strings were a quarter of the
    # parse); a line wider than the header makes pandas refuse, and then it is read again
    # with them, as always.
    for names in (narrow, width):
        try:
            with warnings.catch_warnings():
                # pandas only warns (and drops the extra field) when the first line is the wide one
                warnings.simplefilter("error", pd.errors.ParserWarning)
                return pd.read_csv(io.BytesIO(source), encoding="utf-8", header=None, skiprows=skip, sep=sep,
                                   dtype=str, na_filter=False, skip_blank_lines=False, names=range(names),
                                   index_col=False, engine="c", low_memory=False)
        except pd.errors.EmptyDataError:  # nothing after the header
            return pd.DataFrame({p: pd.Series([], dtype=object) for p in range(narrow)})
        except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as exc:
            if "EOF inside string" in str(exc):
                raise _OpenQuote() from None
            if names == width:
                raise InputError(f"{path.name}: a line has more than {width} fields, or broken quoting: {exc}") \
                    from None
    raise AssertionError("unreachable")


def _truncated_tail(text: str, sep: str) -> tuple[int, int] | None:
    """Where the record left open by a quote at the end of the file starts, and its open field.

    Quotes come in pairs in a well-formed CSV (open, doubled ones inside, close), so an odd
    count means the last quote opened a field that the file never closes.
    """
    if text.count('"') % 2 == 0:
        return None
    opened = text.rfind('"')
    start = text.rfind("\n", 0, opened) + 1
    field = next(csv.reader([text[start:opened]], delimiter=sep), [""])
    return start, max(len(field) - 1, 0) if text[start:opened] else 0


def _truncated_row(row: int, position: int, positions: dict[int, str], header: list[str]) -> dict:
    # The column the line was cut in, or the first register column after it, by its header
    # in the file (as the other rejected rows name it).
    if position not in positions:
        position = next((p for p in sorted(positions) if p > position), min(positions))
    text = header[position].strip() if position < len(header) else ""
    return {"row": row, "column": text or COLUMNS[positions[position]][0], "reason": "truncated_row",
            "message": TRUNCATED_MESSAGE}


def _read_xlsx_rows(path: Path, mapping) -> list:
    """Every visible sheet with a register header (hidden ones only when no visible one has
    one), each as (body, positions, header lines) and its attrs, rows numbered per sheet."""
    import openpyxl

    # An open file, not the path: openpyxl refuses a name not ending .xlsx/.xlsm, and an
    # XLSX saved as .csv is still one.
    stream = path.open("rb")
    try:
        book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        stream.close()
        raise InputError(f"{path.name} is not a readable XLSX workbook: {exc}") from None
    registers, best = [], None
    try:
        for sheet in book.worksheets:
            if hasattr(sheet, "reset_dimensions"):
                # Read-only mode trusts the sheet's <dimension> record, which some programs
                # write wrong ("A1"): without this, rows and columns past it are lost.
                sheet.reset_dimensions()
            lines = [list(r) for r in sheet.iter_rows(values_only=True)]
            while lines and all(v is None or (isinstance(v, str) and not v.strip()) for v in lines[-1]):
                lines.pop()  # formatted but empty rows at the end
            first, last, positions = _find_header(lines, mapping)
            if not positions:
                continue
            found = (sheet.title, getattr(sheet, "sheet_state", "visible") == "visible", lines, first, last,
                     positions)
            if "name" in positions.values():
                registers.append(found)
            elif best is None or len(positions) > len(best[5]):
                best = found
    finally:
        book.close()
        stream.close()
    # A sheet is a register when its header names the unit; a hidden one (an old copy, a
    # dictionary) only counts when no visible sheet is one.
    chosen = [r for r in registers if r[1]] or registers or ([best] if best else [])
    left_out = [r[0] for r in registers if r not in chosen]
    if not chosen:
        raise InputError(f"{path.name}: no sheet has a known header (单位名称, 统一社会信用代码 …) in its first "
                         f"{HEADER_SCAN_ROWS} rows; give --mapping")
    sheets = []
    for k, (title, _visible, lines, first, last, positions) in enumerate(chosen):
        # The columns under a header (序号, 备注 … too: the text of rows that are no records
        # may stand there), not every stray cell to the right.
        headed = max((p + 1 for line in lines[first:last + 1] for p, v in enumerate(line)
                      if v is not None and str(v).strip()), default=0)
        width = max(max(positions) + 1, headed)
        cells = [[_cell_text(v) for v in (line + [None] * width)[:width]] for line in lines[last + 1:]]
        body = pd.DataFrame(cells, columns=range(width), dtype=object).fillna("")
        offset = k * SHEET_ROWS
        body.index = pd.RangeIndex(offset + last + 2, offset + last + 2 + len(body), name="row")
        sheets.append(((body, positions, lines[first:last + 1]),
                       {"encoding": None, "header_row": last + 1, "header_rows": [last + 1], "sheet": title,
                        "sheets": [title], "ignored_sheets": left_out, "rejected_rows": []}))
    return sheets


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
    attrs = dict(attrs)
    rejected = attrs.pop("rejected_rows", [])
    columns: dict[str, object] = {}
    texts: dict[str, np.ndarray] = {}  # the cleaned values, for looking at the rows set aside
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
        joined = _joined(values)
        strip, breaks = _needs_cleaning(values, joined)
        if strip or breaks:
            values = np.array([_clean_text(v, breaks) if isinstance(v, str) else v for v in values], dtype=object)
            filled |= (values != "") & pd.notna(values)
            columns[column] = pd.array(values, dtype="string")
        else:  # all text: StringArray only checks that (pd.array would convert value by value)
            filled |= values != ""
            columns[column] = pd.arrays.StringArray(values.copy())  # it writes into its array
        texts[column] = values
        if column == "name":
            name_joined = _joined(values) if strip or breaks else joined
        used[column] = next((str(line[position]).strip() for line in reversed(header_lines)
                             if position < len(line) and line[position] not in (None, "")), column)
    if "name" not in used:
        raise InputError(f"{path.name}: no 单位名称 (name) column among the headers "
                         f"{', '.join(str(c) for line in header_lines for c in line if c not in (None, ''))}")
    keep = filled.copy()
    if rejected:
        keep &= ~body.index.isin([r["row"] for r in rejected])
    skipped = _skip_rows(body, texts, used, filled, keep, name_joined)
    frame = pd.DataFrame(columns, index=body.index, copy=False)  # the arrays are new already
    if not keep.all():
        frame = frame[keep]
    # Headers of the columns left out (the lowest header line's text: a sub-header, not its group title).
    width = max((len(line) for line in header_lines), default=0)
    ignored = []
    for position in range(width):
        text = next((str(line[position]).strip() for line in reversed(header_lines)
                     if position < len(line) and line[position] is not None and str(line[position]).strip()), "")
        if position not in positions and text and header_key(text) not in IGNORED_HEADERS and text not in ignored:
            ignored.append(text)
    frame.attrs.update(attrs, columns=used, ignored_columns=ignored, skipped_rows=skipped, rejected_rows=rejected)
    return frame


def _joined(values: np.ndarray) -> str | None:
    """The values joined by NUL and framed by NUL; None when one is not text."""
    try:
        return "\0" + "\0".join(values) + "\0"
    except TypeError:  # missing fields of short lines
        return None


def _needs_cleaning(values: np.ndarray, joined: str | None = None) -> tuple[bool, bool]:
    """Whether any value has leading or trailing whitespace (or is not text), and whether any
    holds a line break (typed with Alt+Enter in a cell).

    The column joined by NUL (and framed by NUL) is searched for NUL + whitespace, once
    forwards and once reversed: a pattern with a literal first character is found by a
    fast scan for that character, where an alternation tried at every position took 20×
    longer (0.9 s at 200k rows × 20 columns). A NUL inside a value can only make the
    answer True, never hide a value that needs stripping.
    """
    if joined is None:
        joined = _joined(values)
    if joined is None:
        return True, any(isinstance(v, str) and ("\n" in v or "\r" in v) for v in values)
    breaks = "\n" in joined or "\r" in joined
    # Zero-width spaces are no whitespace to \s; searched for on their own (a literal is a
    # fast scan, a character class after the NUL is not).
    return (breaks or _LEAD_SPACE.search(joined) is not None or _LEAD_SPACE.search(joined[::-1]) is not None
            or "\u200b" in joined or "\ufeff" in joined), breaks


_LEAD_SPACE = re.compile(r"\0\s")
_SPACE_CHARS = " \t\r\n\f\v\u3000\xa0\u200b\ufeff"


def _clean_text(value: str, breaks: bool = True) -> str:
    """A cell's text without spaces at its ends (U+3000 and no-break spaces too) and with the
    line breaks typed inside it removed: Chinese text runs on without a space; two Latin
    words keep one.

    >>> _clean_text("\\u3000示范市巳90\\n000010餐饮店 "), _clean_text("Demo\\r\\nCo. Ltd")
    ('示范市巳90000010餐饮店', 'Demo Co. Ltd')
    """
    if breaks and ("\n" in value or "\r" in value):
        out = ""
        for piece in _LINE_BREAK.split(value):
            piece = piece.strip(_SPACE_CHARS)
            if piece:
                if out and out[-1].isascii() and out[-1].isalpha() and piece[0].isascii() and piece[0].isalpha():
                    out += " "
                out += piece
        return out
    return value.strip().strip(_SPACE_CHARS)


_LINE_BREAK = re.compile(r"[\r\n]+")

# Rows that are no records. A name column is searched (joined by NUL, patterns with a literal
# first character: one fast scan each) for candidates, which are then looked at one by one.
_CANDIDATE_START = re.compile(
    "\0[\\s\u3000]*(?:[合小总共累]\\s*计|填表|填报|审核|审批|制表|复核|统计人|经办人|单位负责人|负责人\\s*[(（:：]|"
    "主管|分管|注|说明|备注\\s*[:：]|附\\s*[注件表]|[一二三四五六七八九十百]+\\s*[、.．]|[(（]\\s*[一二三四五六七八九十百\\d]+"
    "\\s*[)）]|第\\s*[一二三四五六七八九十百\\d]+|单位\\s*[(（]\\s*盖章|[(（]\\s*盖章)")
_CANDIDATE_FIRST = "合小总共累填审制复统经单负主分注说备附一二三四五六七八九十百(（第\u3000 \t"
_CANDIDATE_COUNT = re.compile("共\\s*[计有]?\\s*\\d+\\s*[家户个]")
_CANDIDATE_TOTAL = re.compile("计(?:\0|\\s*[:：(（\\d])")
_CANDIDATE_TITLE = re.compile("表\0")
# A form's title repeated above a pasted page ("示范市用人单位劳动保障信息调查登记表"), alone in its row.
_TITLE = re.compile(".*(?:登记表|调查表|统计表|信息表|汇总表|一览表|明细表|采集表|花名册)")
_TOTAL = re.compile("(?:.{0,30}?)(?:合计|小计|总计|共计|总合计|累计)(?:[:：(（].*|\\d.*)?")
_SIGNATURE = re.compile(
    "(?:填表|填报|审核|审批|制表|复核|统计|经办|单位负责|负责|主管|分管)(?:人|日期|时间|领导|单位|人员)?\\s*"
    "(?:[(（][^)）]{0,8}[)）])?\\s*(?:[:：]|$|\\s)|(?:单位)?\\s*[(（]\\s*盖章")
_NOTE = re.compile("(?:注|说明|备注|附注|填表说明|填报说明)\\s*[\\d一二三四五六七八九十]*\\s*[:：、.．]")
_SECTION = re.compile("(?:[一二三四五六七八九十百]+\\s*[、.．]|[(（]\\s*[一二三四五六七八九十百\\d]+\\s*[)）]|"
                      "第\\s*[一二三四五六七八九十百\\d]+\\s*(?:部分|类|组|片区|片|网格|节))|.*共\\s*[计有]?\\s*\\d+\\s*[家户个]")
SKIPPED_TEXT_CHARS = 60


def _skip_rows(body: pd.DataFrame, texts: dict[str, np.ndarray], used: dict[str, str], filled: np.ndarray,
               keep: np.ndarray, joined: str | None = None) -> list[dict]:
    """Blank rows and rows that are no records (合计, section titles, signatures, notes, a
    repeated header): cleared from ``keep`` and listed with their reason and text."""
    names = texts["name"]
    candidates = ~filled
    if joined is None:
        joined = "\0" + "\0".join(v if isinstance(v, str) else "" for v in names) + "\0"
    headers = {used["name"], *COLUMNS["name"]}
    # One scan per pattern, each starting with a literal or one character class (an
    # alternation tried at every NUL took 4× longer); the names found are then matched
    # one by one against the full patterns.
    first = re.compile("\0[" + re.escape(_CANDIDATE_FIRST + "".join({h[0] for h in headers if h})) + "]")
    found = [m.start() for m in first.finditer(joined)]
    more = [m.start() for pattern in (_CANDIDATE_COUNT, _CANDIDATE_TOTAL, _CANDIDATE_TITLE)
            for m in pattern.finditer(joined)]
    if found or more:
        lengths = np.fromiter((len(v) if isinstance(v, str) else 0 for v in names), dtype=np.int64, count=len(names))
        starts = np.concatenate(([1], 1 + np.cumsum(lengths + 1)[:-1]))
        rows = np.searchsorted(starts, np.array(found + more) + 1, side="right") - 1
        rows = rows[(rows >= 0) & (rows < len(names))]
        # A name that only starts with a character of the patterns stays out when no pattern
        # matches it (一品香饭店 is not 一、…).
        strong = set(rows[len(found):].tolist())
        rows = [i for i in dict.fromkeys(rows.tolist()) if i in strong or names[i] in headers
                or _CANDIDATE_START.match("\0" + names[i])]
        candidates = candidates.copy()
        candidates[rows] = True
    # Rows whose name is empty: a 合计 or a 填表人 line typed in the 序号 column.
    candidates |= filled & (names == "")
    candidates &= keep | ~filled
    picked = np.flatnonzero(candidates)
    if not len(picked):
        return []
    skipped = []
    cells = body.iloc[picked].to_numpy(dtype=object)
    index = body.index.to_numpy()
    for i, line in zip(picked, cells):
        line_texts = [t for t in (_clean_text(str(v)) for v in line if isinstance(v, str) and v) if t]
        mapped = {c: v[i] for c, v in texts.items() if isinstance(v[i], str) and v[i]}
        reason = _non_record_reason(line_texts, mapped, used)
        if reason is None and not filled[i]:
            reason = "blank"
        if reason is not None:
            keep[i] = False
            text = line_texts[0] if line_texts else ""
            skipped.append({"row": int(index[i]), "reason": reason, "text": text[:SKIPPED_TEXT_CHARS]})
    # Empty lines after the last row with any text are no part of the register (an export
    # of formatted but empty rows, a final blank line): not worth a line each in the report.
    kept = np.flatnonzero(keep)
    last = max([int(index[kept[-1]]) if len(kept) else -1] + [r["row"] for r in skipped if r["text"]])
    return [r for r in skipped if r["text"] or r["reason"] != "blank" or r["row"] < last]


def _non_record_reason(line_texts: list[str], mapped: dict[str, str], used: dict[str, str]) -> str | None:
    """Why a row is no record, or None for a record (a firm named 合计餐饮店 or 一品香饭店)."""
    if not line_texts:
        return None
    name = mapped.get("name", "")
    same = sum(1 for c, v in mapped.items() if header_key(v) == header_key(used[c]) or column_of_header(v) == c)
    if same and same * 2 >= len(mapped) and (same >= 2 or name):
        return "header_repeat"
    first = line_texts[0]
    if "credit_code" not in mapped:
        for text in dict.fromkeys((name, first)):
            if text and _TOTAL.fullmatch(re.sub(r"\s", "", text)):
                return "total"
    for text in dict.fromkeys((first, name)):
        if text and _SIGNATURE.match(text):
            return "signature"
        if text and _NOTE.match(text):
            return "note"
    # A section title stands alone: no register value but (at most) the name.
    if set(mapped) <= {"name"} and (_SECTION.match("".join(line_texts))
                                    or (len(line_texts) == 1 and _TITLE.fullmatch(line_texts[0]))):
        return "section"
    return None
