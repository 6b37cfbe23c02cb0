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
GENERATION_STATUS: dict[str, str] = {"draft": "草稿", "active": "现行", "retired": "已停用", "scheduled": "待生效"}

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


#: Audit actions in words (the audit page); a code not listed shows its prefix's word.
AUDIT_ACTIONS = {
    "login": "登录", "login.failed": "登录失败", "logout": "退出", "access.refused": "拒绝访问",
    "user.add": "新建账号", "user.change_password": "修改密码", "user.disable": "停用账号",
    "user.enable": "启用账号", "user.reset_password": "重置密码", "user.role": "更改角色",
    "staff.assign": "配置四定人员", "staff.end": "四定人员卸任", "staff.import": "导入四定人员",
    "place_employer": "人工标注位置", "employer.contact": "更正联系信息", "employer.visit": "走访检查",
    "employer.flags": "重算重点监管标记", "grades.record": "按记录评定诚信等级",
    "calendar.set": "调整工作日", "calendar.year": "录入年度放假安排",
    "complaint.add": "登记投诉", "complaint.accept": "受理投诉", "complaint.refuse": "不予受理",
    "case.file": "立案", "case.investigating": "开始调查", "case.handling": "进入处理", "case.extend": "延长办案期限",
    "case.close": "结案", "case.inspectors": "添加监察员", "case.document": "上传案件文书",
    "inspection.add": "录入检查", "rectification.settle": "核销整改",
    "incident.raise": "上报应急事件", "incident.note": "记录处置进展", "incident.close": "应急事件办结",
    "incident.ack": "应急事件已阅", "generation.draft": "新建网格草稿",
}
AUDIT_PREFIXES = {"user.": "账号", "staff.": "四定人员", "grid.": "网格编辑", "generation.": "网格版本",
                  "employer.": "用人单位", "complaint.": "投诉", "case.": "案件", "inspection.": "检查",
                  "rectification.": "整改", "incident.": "应急事件", "calendar.": "工作日日历", "grades.": "诚信等级"}
AUDIT_ENTITIES = {
    "app_user": "账号", "endpoint": "页面", "staff": "人员", "staff_grid": "四定配置", "employer": "用人单位",
    "employer_grade": "诚信等级", "generation": "网格版本", "grid": "网格", "complaint": "投诉", "case": "案件",
    "inspection": "检查记录", "rectification": "整改要求", "incident": "应急事件", "calendar_override": "工作日",
    "calendar_year": "年度日历",
}


def audit_action_label(code: str) -> str:
    if code in AUDIT_ACTIONS:
        return AUDIT_ACTIONS[code]
    for prefix, label in AUDIT_PREFIXES.items():
        if code.startswith(prefix):
            return f"{label}：{code[len(prefix):]}"
    return code
