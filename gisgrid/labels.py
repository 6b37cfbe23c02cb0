"""The Chinese words people see for codes stored in the database (grid kinds, staff roles).

One place for them: the web pages, the map builders, the exports and the grid files written
for other desktop GIS all show the same words.
"""

from __future__ import annotations

#: grid.kind → label
KIND_LABELS: dict[str, str] = {
    "city": "市", "district": "区县", "street": "街道", "town": "镇", "township": "乡",
    "park": "园区", "community": "社区", "village": "村", "grid": "网格",
}

#: staff.role → title (四定)
ROLE_LABELS: dict[str, str] = {"full_time": "专职监察员", "part_time": "兼职监察员", "coordinator": "协管员"}

#: generation.status → label
GENERATION_STATUS: dict[str, str] = {"draft": "草稿", "active": "现行", "retired": "已停用"}

#: employer.located_by → how the point was obtained
LOCATED_BY_LABELS: dict[str, str] = {
    "given": "登记坐标", "gcj02": "登记坐标（由 GCJ-02 火星坐标转换）", "bd09": "登记坐标（由 BD-09 百度坐标转换）",
    "gazetteer": "按地址匹配网格名称（离线地名库）", "provider": "在线地理编码", "manual": "人工标注",
    "none": "待定位",
}

#: employer.credit_code_status → label
CREDIT_CODE_STATUS: dict[str, str] = {
    "valid": "校验通过", "check_failed": "校验位不符，待核实", "accepted": "校验位不符，已核实接受",
}
