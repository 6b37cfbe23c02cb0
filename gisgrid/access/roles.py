"""The four roles and what each may do (README.md "Roles and scopes" is the same table).

A capability is a verb on a kind of thing; the scope (which grids) is decided separately
by :mod:`gisgrid.access.scope`.  Nothing else in gisgrid compares role names.
"""

from __future__ import annotations

ROLES: dict[str, str] = {
    "admin": "系统管理员",
    "planner": "网格规划员",
    "leader": "领导",
    "inspector": "监察员/协管员",
}

#: capability → what it allows (for the README table and error messages)
CAPABILITIES: dict[str, str] = {
    "grids.read": "查看网格（各版本、草稿）",
    "grids.edit": "编辑网格草稿、导入、启用",
    "grids.publish": "发布网格方案（启用或定于某日生效）",
    "employers.points": "查看用人单位点位和网格内户数",
    "employers.personal": "查看用人单位档案（法定代表人、联系人、电话等）",
    "employers.write": "记录走访、更正联系信息、人工标注位置",
    "exports": "导出网格图、登记册、花名册、上报材料，查看网格统计",
    "staff.manage": "配置四定人员",
    # Whose staff: every grid with staff.manage; a full-time inspector (专职监察员) the grids
    # below their own (gisgrid.access.staff.staff_area); other inspectors none.
    "staff.area": "在本人负责区域的下级网格配置四定人员（限专职监察员）",
    "complaints.read": "查看投诉举报（投诉人、内容）",
    "complaints.write": "登记投诉举报、决定受理或不予受理",
    "cases.read": "查看案件（立案、调查、处理、结案）和案件文书",
    "cases.write": "立案、添加监察员、推进、延长、结案、上传文书",
    "inspections.read": "查看日常巡查、书面审查和整改记录",
    "inspections.write": "记录日常巡查、书面审查，下达和核销整改",
    "incidents.read": "查看应急事件及其处置进展、结果（并标记已阅）",
    "incidents.write": "上报应急事件、记录处置进展、办结",
    "calendar.manage": "维护工作日日历（放假、调休上班、录入新年度）",
    "users.manage": "管理账号、角色",
    "audit.read": "查看审计日志",
}

_ALL = frozenset(CAPABILITIES)
GRANTS: dict[str, frozenset[str]] = {
    "admin": _ALL,
    # Planners draw grids and balance workloads: counts and points, never personal fields.
    "planner": frozenset({"grids.read", "grids.edit", "employers.points"}),
    "leader": frozenset({"grids.read", "employers.points", "employers.personal", "exports", "audit.read",
                         "complaints.read", "cases.read", "inspections.read", "incidents.read"}),
    # Inspectors: everything about the employers of their own grids (scope), nothing beyond.
    "inspector": frozenset({"grids.read", "employers.points", "employers.personal", "employers.write",
                            "exports", "staff.area", "complaints.read", "complaints.write", "cases.read",
                            "cases.write", "inspections.read", "inspections.write", "incidents.read",
                            "incidents.write"}),
}


def check_role(role: str) -> str:
    """Return ``role`` if it is one of :data:`ROLES`, else raise InputError naming the allowed ones."""
    from gisgrid.errors import InputError

    if role not in ROLES:
        raise InputError(f"role was {role!r}; expected one of {', '.join(ROLES)}")
    return role


def may(role: str, capability: str) -> bool:
    """True when ``role`` has ``capability`` (unknown capabilities are a programming error)."""
    if capability not in CAPABILITIES:
        raise KeyError(f"unknown capability {capability!r}")
    return capability in GRANTS.get(role, frozenset())
