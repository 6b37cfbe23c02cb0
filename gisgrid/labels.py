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
