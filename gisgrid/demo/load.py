"""Load the demonstration city through the same import path a user's files take."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gisgrid.analysis.assign import assign_employers, assignment_summary
from gisgrid.boundaries.generations import activate_generation
from gisgrid.boundaries.load import import_grids
from gisgrid.boundaries.read import read_grid_file
from gisgrid.db.engine import session_scope
from gisgrid.db.models import Generation
from gisgrid.employers.reading import read_register
from gisgrid.employers.register import load_register, validate_register

DEMO_GENERATION = "示范市网格2026版"
DEMO_EFFECTIVE_FROM = dt.date(2026, 1, 1)
DEFAULT_EMPLOYERS = 20_000
REPO_SHAPES = Path(__file__).resolve().parents[2] / "data" / "shapes"
# The survey dates of the demo register end in 2026-10; "newly opened" is judged
# against that date so the demo's risk levels do not drift with the calendar.
DEMO_TODAY = dt.date(2026, 11, 1)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建华文辉鹏飞玉兰志强海燕红梅国庆永刚春华晓东"


def demo_files(home: Path, employers: int) -> dict[str, Path]:
    """The demo source files: the committed ones in data/shapes/ for the default
    size, otherwise generated (deterministically) under ``home``."""
    names = {"city": "demo_city.geojson", "streets": "demo_streets.geojson",
             "communities": "demo_communities.geojson", "employers": "demo_employers.csv"}
    if employers == DEFAULT_EMPLOYERS and all((REPO_SHAPES / n).exists() for n in names.values()):
        return {key: REPO_SHAPES / name for key, name in names.items()}
    from gisgrid.demo.generate import generate_city

    out = home / "demo" / f"employers-{employers}"
    if not all((out / n).exists() for n in names.values()):
        out.mkdir(parents=True, exist_ok=True)
        return generate_city(out, employers=employers)
    return {key: out / name for key, name in names.items()}


def load_demo(engine: Engine, home: Path, employers: int = DEFAULT_EMPLOYERS, commit: bool = True,
              password: str | None = None, sample_record: bool = False) -> dict:
    """Load grids (3 levels), activate them, import employers, assign, add 四定 staff and accounts.

    ``password`` is the demo accounts' password (GISGRID_DEMO_PASSWORD); without one a
    password is generated once into ``home/demo-password`` (0600). ``sample_record`` adds
    sample complaints, cases, inspections and an incident (gisgrid.demo.supervision).
    Idempotent: a second run finds the grids active and every employer unchanged.
    """
    files = demo_files(home, employers)
    report: dict = {"files": {k: str(v) for k, v in files.items()}}
    with session_scope(engine, commit=commit) as session:
        gen = session.scalar(sa.select(Generation).where(Generation.name == DEMO_GENERATION))
        if gen is None or gen.status == "draft":
            levels = [(1, "city"), (2, "streets"), (3, "communities")]
            report["grids"] = [import_grids(session, read_grid_file(files[key]), level=level,
                                            generation=DEMO_GENERATION) for level, key in levels]
            report["activation"] = activate_generation(session, DEMO_GENERATION, DEMO_EFFECTIVE_FROM)
        else:
            report["grids"] = f"generation {DEMO_GENERATION} already {gen.status}: unchanged"
        good, rejected, warnings = validate_register(read_register(files["employers"]), DEMO_TODAY)
        loaded = load_register(session, good, files["employers"].name)
        report["employers"] = {"rows": len(good) + len({r['row'] for r in rejected}),
                               "rejected": len(rejected), "warnings": len(warnings),
                               **{k: v for k, v in loaded.items() if k not in ("changed_ids", "warnings")}}
        if "activation" in report:
            report["assignment"] = assign_employers(session)
        elif loaded["changed_ids"]:
            assign_employers(session, employer_ids=loaded["changed_ids"])
            report["assignment"] = assignment_summary(session)
        else:
            report["assignment"] = assignment_summary(session)
        report["staff_added"] = add_demo_staff(session)
        report["accounts"] = add_demo_accounts(session, home, password)
        if sample_record:
            from gisgrid.demo.supervision import add_demo_supervision

            report["sample_record"] = add_demo_supervision(session)
    report["committed"] = commit
    return report


def add_demo_staff(session) -> int:
    """四定 staff for every street/town and community/village grid that has none.

    Deterministic: names come from the grid code, so reruns add nothing.
    """
    grids = session.execute(sa.text("""
        SELECT g.code, g.name, g.level, g.identity FROM grid g JOIN generation n ON n.id = g.generation_id
        WHERE n.status = 'active' AND g.level >= 2
          AND NOT EXISTS (SELECT 1 FROM staff_grid sg WHERE sg.grid_identity = g.identity)
        ORDER BY g.code
    """)).mappings().all()
    added = 0
    for grid in grids:
        rng = np.random.default_rng(int(grid["code"]))
        roles = [("full_time", "专职监察员", "负责本网格劳动保障监察执法，组织专项检查和举报投诉调查"),
                 ("part_time", "兼职监察员", "协助日常巡查和书面审查材料收集")] if grid["level"] == 2 else \
                [("coordinator", "协管员", "负责用人单位信息采集、动态更新和日常巡查"),
                 ("coordinator", "协管员", "负责劳动保障政策宣传和矛盾纠纷排查")]
        for role, title, duty in roles:
            name = _SURNAMES[rng.integers(len(_SURNAMES))] + "".join(
                _GIVEN[i] for i in rng.integers(len(_GIVEN), size=int(rng.integers(1, 3))))
            phone = "13" + "".join(str(d) for d in rng.integers(0, 10, size=9))
            staff_id = session.execute(sa.text(
                "INSERT INTO staff (name, role, phone, unit) VALUES (:n, :r, :p, :u) RETURNING id"),
                {"n": name, "r": role, "p": phone, "u": f"{grid['name']}{title}"}).scalar()
            session.execute(sa.text(
                "INSERT INTO staff_grid (staff_id, grid_identity, duty, task, valid_from) "
                "VALUES (:s, :g, :d, :t, :f)"),
                {"s": staff_id, "g": grid["identity"], "d": duty,
                 "t": "每半年至少完成一次网格内用人单位全面巡查", "f": DEMO_EFFECTIVE_FROM})
            added += 1
    return added


#: The demo's fixed accounts besides one per 四定 staff member.
DEMO_ACCOUNTS = (("admin", "admin", "系统管理员"), ("planner", "planner", "网格规划员"), ("leader", "leader", "局领导"))
#: User-name prefixes of the staff accounts, by staff role: jc = 监察员, xg = 协管员.
STAFF_PREFIX = {"full_time": "jc", "part_time": "jc", "coordinator": "xg"}


def demo_password(home: Path, given: str | None) -> tuple[str, Path | None]:
    """The demo accounts' password: ``given`` (checked against the rules), or the one in
    ``home/demo-password``, generated there (0600) on the first run."""
    from gisgrid.access.passwords import check_password_rules, generate_password

    if given:
        check_password_rules(given, "")
        return given, None
    path = home / "demo-password"
    if path.exists():
        return path.read_text().strip(), path
    path.parent.mkdir(parents=True, exist_ok=True)
    password = generate_password()
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    return password, path


def add_demo_accounts(session, home: Path, password: str | None = None) -> dict:
    """admin, planner and leader, and an inspector account for each demo staff member.

    Staff accounts are named by the grid and the order of the staff on it: ``jc419901001-1``
    is the first 监察员 of street 419901001, ``xg419901001001-2`` the second 协管员 of that
    community. All share the demo password, and need no change at first login (a demo).
    One argon2id hash serves every account: hashing 500 times would cost half a minute.
    """
    from gisgrid.access.audit import record_audit
    from gisgrid.access.passwords import hash_password

    generated_now = password is None and not (home / "demo-password").exists()
    password, path = demo_password(home, password)
    existing = set(session.execute(sa.text("SELECT username FROM app_user")).scalars())
    staff = session.execute(sa.text("""
        SELECT s.id, s.name, s.role, g.code,
               row_number() OVER (PARTITION BY g.code ORDER BY s.id) AS n
        FROM staff s JOIN staff_grid sg ON sg.staff_id = s.id
        JOIN grid g ON g.identity = sg.grid_identity
        JOIN generation n ON n.id = g.generation_id AND n.status = 'active'
        WHERE NOT EXISTS (SELECT 1 FROM app_user u WHERE u.staff_id = s.id)
        ORDER BY g.code, s.id""")).mappings().all()
    rows = [{"u": u, "d": d, "r": r, "s": None} for u, r, d in DEMO_ACCOUNTS if u not in existing]
    rows += [{"u": f"{STAFF_PREFIX.get(m['role'], 'jc')}{m['code']}-{m['n']}", "d": m["name"],
              "r": "inspector", "s": m["id"]} for m in staff]
    rows = [r for r in rows if r["u"] not in existing]
    if rows:
        digest = hash_password(password)
        session.execute(sa.text(
            "INSERT INTO app_user (username, display_name, role, password_hash, staff_id, must_change_password, "
            "password_changed_at) VALUES (:u, :d, :r, :h, :s, false, now())"), [{**r, "h": digest} for r in rows])
        record_audit(session, "gisgrid demo", "user.add", "app_user", None,
                     after={"demo_accounts": len(rows)})
    return {"added": len(rows), "password_file": str(path) if path else None,
            "password_from": "GISGRID_DEMO_PASSWORD" if path is None else "file",
            # Shown once, on the run that generated it; afterwards only the file's path.
            "generated_password": password if generated_now else None}
