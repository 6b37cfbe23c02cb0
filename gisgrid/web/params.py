"""Reading what a request gives: query parameters, path segments and JSON bodies.

Every reader refuses what it cannot use with a 400 (:class:`~gisgrid.errors.InputError`)
whose one Chinese line names what was given (cut short) and what is allowed, so no
hostile value reaches SQL, shapely or pyproj as something other than what it claims:
no NUL characters, no text longer than its column, no booleans or dicts where a number
or a code is due, no NaN or infinity.
"""

from __future__ import annotations

import math
import re

from flask import request

from gisgrid.errors import InputError

#: Longest values the database holds (gisgrid.db.models): grid codes, names, actors.
CODE_CHARS, NAME_CHARS, ACTOR_CHARS = 32, 100, 100
_SHOWN = 40
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def shown(value: object) -> str:
    """``value`` as a message quotes it: repr, cut to 40 characters.

    >>> shown("x" * 50)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…"
    """
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"


def check_text(value: object, what: str, max_chars: int) -> str:
    """``value`` if it is text without control characters of at most ``max_chars``; else 400."""
    if not isinstance(value, str):
        raise InputError(f"{what}为 {type(value).__name__} 类型的 {shown(value)}；应为文本（字符串）")
    if _CONTROL.search(value):
        raise InputError(f"{what}含有控制字符（如 NUL）：{shown(value)}；应为普通文本")
    if len(value) > max_chars:
        raise InputError(f"{what}过长（{len(value)} 个字符）：{shown(value)}；最多 {max_chars} 个字符")
    return value


def form_date(name: str, what: str):
    """Form field ``name`` as a date (None when empty); 400 in Chinese for anything but 年-月-日."""
    import datetime as dt

    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InputError(f"{what}为 {shown(raw)}；应为 年-月-日，如 2026-12-01") from None


def arg_text(name: str, what: str, max_chars: int) -> str | None:
    """Query parameter ``name`` as text (None when absent or empty)."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    return check_text(value, what, max_chars)


def arg_int(name: str, what: str, low: int, high: int) -> int | None:
    """Query parameter ``name`` as a whole number ``low``–``high`` (None when absent or empty)."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", value.strip()) or not low <= int(value) <= high:
        raise InputError(f"{what}为 {shown(value)}；应为 {low}–{high} 的整数")
    return int(value)


def json_object() -> dict:
    """The request body as a JSON object; 400 for anything else (not JSON, a list, bad UTF-8 …)."""
    if not request.get_data(cache=True):
        raise InputError("请求体为空；应为 JSON 对象（Content-Type: application/json）")
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        kind = "无法解析为 JSON（或不是 UTF-8）" if body is None else f"为 JSON {type(body).__name__}"
        raise InputError(f"请求体{kind}；应为 JSON 对象，如 {{\"version\": 3, …}}")
    _refuse_nul(body)
    return body


def _refuse_nul(value: object, depth: int = 0) -> None:
    if depth > 64:
        raise InputError("请求体嵌套过深（超过 64 层）；应为普通的 JSON 对象")
    if isinstance(value, str) and "\x00" in value:
        raise InputError(f"请求体中的文本含有 NUL 字符：{shown(value)}；应为普通文本")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, depth + 1)
            _refuse_nul(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _refuse_nul(item, depth + 1)


def field_text(body: dict, key: str, what: str, max_chars: int, *, required: bool = False) -> str | None:
    """``body[key]`` as text (None when absent, null or empty unless ``required``)."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise InputError(f"缺少{what}（\"{key}\"）；应为文本")
        return None
    return check_text(value, f"{what}（\"{key}\"）", max_chars)


def field_int(body: dict, key: str, what: str, low: int = 0, high: int = 2**31 - 1) -> int | None:
    """``body[key]`` as a whole number (a JSON number or digits), or None when absent/null."""
    value = body.get(key)
    if value is None:
        return None
    return check_int(value, f"{what}（\"{key}\"）", low, high)


def check_int(value: object, what: str, low: int = 0, high: int = 2**31 - 1) -> int:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}", value.strip()):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{what}为 {shown(value)}；应为 {low}–{high} 的整数")
    return value


def field_number(body: dict, key: str, what: str, low: float, high: float,
                 default: float | None = None) -> float | None:
    """``body[key]`` as a finite number ``low``–``high`` (a JSON number or numeric text)."""
    value = body.get(key)
    if value is None:
        return default
    return check_number(value, f"{what}（\"{key}\"）", low, high)


def check_number(value: object, what: str, low: float, high: float) -> float:
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?\s*", value):
        number = float(value)
    if number is None or not math.isfinite(number) or not low <= number <= high:
        raise InputError(f"{what}为 {shown(value)}；应为 {low:g}–{high:g} 的数")
    return number


def field_codes(body: dict, key: str, what: str, *, max_items: int = 100) -> list[str]:
    """``body[key]`` as a list of grid codes (an absent key is an empty list)."""
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{what}（\"{key}\"）为 {type(value).__name__} 类型的 {shown(value)}；"
                         "应为网格编码的列表，如 [\"419901001001\", \"419901001002\"]")
    if len(value) > max_items:
        raise InputError(f"{what}（\"{key}\"）有 {len(value)} 项；最多 {max_items} 项")
    return [check_text(code, f"{what}中的网格编码", CODE_CHARS) for code in value]


def field_versions(body: dict, key: str = "versions", *, max_items: int = 100) -> dict[str, int]:
    """``body[key]`` as ``{grid code: version}`` (an absent key is an empty dict)."""
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"版本号（\"{key}\"）为 {type(value).__name__} 类型的 {shown(value)}；"
                         "应为 {\"网格编码\": 版本号} 形式的 JSON 对象")
    if len(value) > max_items:
        raise InputError(f"版本号（\"{key}\"）有 {len(value)} 项；最多 {max_items} 项")
    return {check_text(code, "版本号中的网格编码", CODE_CHARS): check_int(v, f"网格 {shown(code)} 的版本号", 0)
            for code, v in value.items()}
