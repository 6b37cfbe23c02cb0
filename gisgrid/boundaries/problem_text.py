"""Validation problems said in Chinese, for the people at the web editor.

The validation report's own ``message`` is English (the CLI's, with the fix to type);
:func:`describe_zh` says the same problem from its structured fields — kind, codes,
area, width — so the planner reads which grids, how large and where, in the interface's
language. Unknown kinds keep the English message after a Chinese heading, never lose it.

>>> describe_zh({"kind": "gap", "codes": ["419901002", "419901002001"], "area_m2": 3806.2, "width_m": 25.3})
'419901002 内约 3,806 平方米（宽约 25 米）不属于任何下级网格，靠近 419901002001'
"""

from __future__ import annotations

import re

#: The Chinese name of each problem kind (also the map's legend words).
KIND_ZH = {
    "empty_geometry": "几何为空", "invalid_geometry": "几何无效", "missing_code": "缺少编码",
    "duplicate_code": "编码重复", "bad_code": "编码不合规", "unknown_parent": "上级网格不存在",
    "suspected_offset": "疑似坐标偏移", "outside_parent": "超出上级网格", "gap": "空隙",
    "overlap": "重叠", "check_failed": "无法检查", "sliver": "细缝",
}


def _size(item: dict) -> str:
    area, width = item.get("area_m2"), item.get("width_m")
    if area is None:
        return ""
    text = f"约 {area:,.0f} 平方米"
    if width is not None:
        text += f"（宽约 {width:,.2f} 米）" if width < 10 else f"（宽约 {width:,.0f} 米）"
    return text


def describe_zh(item: dict) -> str:
    """One Chinese sentence for a validation item (see the module doc)."""
    kind, codes = item.get("kind"), [str(c) for c in item.get("codes") or []]
    size = _size(item)
    if kind == "gap" and codes:
        near = f"，靠近 {'、'.join(codes[1:])}" if len(codes) > 1 else ""
        return f"{codes[0]} 内{size}不属于任何下级网格{near}"
    if kind == "overlap" and len(codes) >= 2:
        return f"{codes[0]} 与 {codes[1]} 重叠{size}"
    if kind == "outside_parent" and len(codes) >= 2:
        return f"{codes[0]} 超出其上级网格 {codes[1]}{size}"
    if kind == "sliver":
        what = {"gap": "细缝", "overlap": "细条重叠", "outside_parent": "细条超出上级"}.get(item.get("sliver_of"), "细缝")
        return f"{'、'.join(codes) or '网格'}之间有{what}{size}，可吸附修复"
    if kind == "bad_code" and codes:
        return f"{'、'.join(codes)}：编码不合规（{_bad_code_zh(item.get('message', ''))}）"
    if kind in ("empty_geometry", "invalid_geometry", "missing_code", "duplicate_code") and codes:
        return f"{'、'.join(codes)}：{KIND_ZH[kind]}（{item.get('message', '')}）"
    return f"{KIND_ZH.get(kind, '边界问题')}：{item.get('message', '')}"


def _bad_code_zh(message: str) -> str:
    """The reason of a ``bad_code`` item (gisgrid.boundaries.validate) in Chinese."""
    found = re.search(r"does not extend its parent's code (\S+)", message)
    if found:
        return f"未以上级网格编码 {found.group(1)} 开头"
    found = re.search(r"a (\w+) code must match \S+", message)
    if found:
        return "社区/村编码应为 12 位统计用区划代码（县 6 位 + 乡镇 3 位 + 村 3 位）"
    found = re.search(r"has characters outside the allowed form: (.+?);", message)
    if found:
        return f"含有编码中不允许的字符 {found.group(1)}；编码只能由半角数字组成，或由大写字母和数字以连字符分段"
    found = re.search(r"is (\d+) characters long", message)
    if found:
        return f"长 {found.group(1)} 个字符，超过 32 个字符"
    if "is empty" in message:
        return "编码为空"
    return "编码只能由半角数字组成，或由大写字母和数字以连字符分段，至多 32 个字符"
