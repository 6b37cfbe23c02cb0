"""The fixed lists of supervision work: the 9 items an employer is checked and graded on, how a
case may end, and the serious acts that grade an employer C (DOMAIN.md, 人社部规〔2016〕1号).

Codes are stored; the labels are what people see (pages, exports, command output).
"""

from __future__ import annotations

#: The 9 items of 《企业劳动保障守法诚信等级评价办法》 (人社部规〔2016〕1号), code → label.
ITEMS: dict[str, str] = {
    "rules": "制定内部劳动保障规章制度",
    "contracts": "与劳动者订立劳动合同",
    "dispatch": "遵守劳务派遣规定",
    "child_labour": "遵守禁止使用童工规定",
    "special_protection": "遵守女职工和未成年工特殊劳动保护规定",
    "hours": "遵守工作时间和休息休假规定",
    "wages": "支付劳动者工资和执行最低工资标准",
    "social_insurance": "参加各项社会保险和缴纳社会保险费",
    "other": "其他遵守法律、法规和规章的情况",
}

#: An item's result in an inspection.
RESULTS: dict[str, str] = {"ok": "符合", "violation": "存在违法行为", "na": "不适用/未检查"}

#: How a case ends (结案方式), code → label; ``VIOLATION_FOUND`` are those where a violation
#: was handled (处理) — what the yearly grade counts.
CONCLUSIONS: dict[str, str] = {
    "no_violation": "违法事实不成立",
    "corrected": "责令改正，已改正",
    "decision": "作出劳动保障监察行政处理决定",
    "penalty": "作出行政处罚决定",
    "transferred": "移送司法机关或其他部门",
    "withdrawn": "撤销立案",
}
VIOLATION_FOUND = frozenset({"corrected", "decision", "penalty", "transferred"})

#: Serious acts found by a case: any one grades the employer C (人社部规〔2016〕1号 art. 8).
SERIOUS_ACTS: dict[str, str] = {
    "group_incident": "引发群体性事件、极端事件或造成严重不良社会影响",
    "child_labour": "使用童工",
    "forced_labour": "强迫劳动",
    "refused_order": "拒不履行责令改正指令、行政处理决定或行政处罚决定",
    "obstruction": "无理抗拒、阻挠实施劳动保障监察",
    "criminal": "被依法追究刑事责任",
}

#: Case states in order (立案 → 调查 → 处理 → 结案).
CASE_STATUS: dict[str, str] = {"filed": "已立案", "investigating": "调查中", "handling": "处理中", "closed": "已结案"}
CASE_SOURCES: dict[str, str] = {"complaint": "投诉举报", "inspection": "检查发现", "direct": "其他来源"}
INSPECTION_KINDS: dict[str, str] = {"patrol": "日常巡查", "review": "书面审查"}
RECTIFICATION_STATUS: dict[str, str] = {"open": "整改中", "done": "已整改", "refused": "拒不整改"}


def check_codes(given, allowed: dict[str, str], what: str) -> list[str]:
    """``given`` codes, each one of ``allowed``; else an InputError naming the bad one and the list."""
    from gisgrid.errors import InputError

    codes = [str(c).strip() for c in (given or []) if str(c).strip()]
    bad = [c for c in codes if c not in allowed]
    if bad:
        listed = "、".join(f"{k}（{v}）" for k, v in allowed.items())
        raise InputError(f"{what} {bad[0][:30]!r} 不在规定的列表中；可选：{listed}")
    return list(dict.fromkeys(codes))
