"""Generations: versions of the whole grid set (draft → active → retired)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid import clock
from gisgrid.db.models import Generation
from gisgrid.db.queries import active_generation, find_generation
from gisgrid.errors import Conflict, InputError


def get_or_create_draft(session: Session, name: str) -> Generation:
    """The draft generation ``name``, created if it does not exist.

    Raises
    ------
    Conflict
        When ``name`` is an active or retired generation: those are never edited
        in place; import into a new draft and activate it.
    """
    if not name or len(name) > 100:
        raise InputError(f"generation name was {name!r}; expected 1 to 100 characters")
    gen = session.scalar(sa.select(Generation).where(Generation.name == name))
    if gen is None:
        gen = Generation(name=name, status="draft")
        session.add(gen)
        session.flush()
    elif gen.status != "draft":
        raise Conflict(
            f"generation {name!r} is {gen.status}; grids are imported into a draft: "
            "choose a new name with --generation"
        )
    return gen


def activate_generation(session: Session, name: str, effective_from: dt.date | None = None) -> dict:
    """Make draft ``name`` the active generation from ``effective_from`` (default today).

    A date after today *schedules* the switch instead: the draft is validated now and waits
    as ``scheduled``; the active generation stays in force until the day before (its
    ``effective_to``), and :func:`switch_due_generation` activates it on the day. The report
    says which (``scheduled``); only an activation today is followed by reassigning employers.

    Runs in the caller's transaction, so the switch and the reassignment that the
    caller runs next are one atomic change. The draft is validated first: any
    error refuses the activation (warnings do not). Splits, merges and reshapes
    against the generation it replaces are recorded in ``grid_lineage``.

    Raises
    ------
    Conflict
        When the draft has validation errors, has no grids, or is retired; when another
        generation is scheduled already.
    """
    gen = find_generation(session, name)
    if gen.status == "active":
        return {"generation": gen.name, "changed": False, "retired": None, "scheduled": False,
                "effective_from": gen.effective_from.isoformat() if gen.effective_from else None}
    if gen.status not in ("draft", "scheduled"):
        raise Conflict(f"generation {name!r} is {gen.status}; only a draft can be activated")
    count = session.scalar(sa.text("SELECT count(*) FROM grid WHERE generation_id = :g"), {"g": gen.id})
    if not count:
        raise Conflict(f"generation {name!r} has no grids; import grids into it first")
    today = clock.today()
    effective_from = effective_from or (gen.effective_from if gen.status == "scheduled" else None) or today
    current = active_generation(session)
    if current is not None and current.effective_from and effective_from <= current.effective_from:
        raise InputError(
            f"--effective-from was {effective_from}; it must be after {current.effective_from}, "
            f"when the active generation {current.name!r} took effect"
        )
    if effective_from > today:
        return _schedule(session, gen, current, effective_from)
    waiting = session.scalar(sa.select(Generation).where(Generation.status == "scheduled", Generation.id != gen.id))
    if waiting is not None:
        raise Conflict(f"generation {waiting.name!r} is scheduled to take effect on {waiting.effective_from}; "
                       f"cancel it first (gisgrid grids unschedule {waiting.name}) or activate that one")
    _refuse_invalid(session, gen.name)
    if current is not None:
        current.status = "retired"
        current.effective_to = effective_from - dt.timedelta(days=1)
        session.flush()
    lineage = 0
    if current is not None:
        from gisgrid.boundaries.diff import record_lineage

        lineage = record_lineage(session, current.id, gen.id)
    gen.status = "active"
    gen.effective_from = effective_from
    session.flush()
    return {"generation": gen.name, "changed": True, "retired": current.name if current else None,
            "scheduled": False, "effective_from": effective_from.isoformat(), "lineage": lineage}


def _schedule(session: Session, gen: Generation, current: Generation | None, effective_from: dt.date) -> dict:
    other = session.scalar(sa.select(Generation).where(Generation.status == "scheduled", Generation.id != gen.id))
    if other is not None:
        raise Conflict(f"generation {other.name!r} is already scheduled to take effect on {other.effective_from}; "
                       f"cancel it first (gisgrid grids unschedule {other.name})")
    _refuse_invalid(session, gen.name)
    gen.status = "scheduled"
    gen.effective_from = effective_from
    if current is not None:
        current.effective_to = effective_from - dt.timedelta(days=1)
    session.flush()
    return {"generation": gen.name, "changed": False, "scheduled": True, "retired": None,
            "effective_from": effective_from.isoformat(),
            "in_force_until": current.effective_to.isoformat() if current is not None else None,
            "replaces": current.name if current is not None else None}


def unschedule_generation(session: Session, name: str) -> dict:
    """A scheduled generation back to a draft; the active one stays in force with no end."""
    gen = find_generation(session, name)
    if gen.status != "scheduled":
        raise Conflict(f"generation {name!r} is {gen.status}, not scheduled")
    gen.status, gen.effective_from = "draft", None
    current = active_generation(session)
    if current is not None:
        current.effective_to = None
    session.flush()
    return {"generation": gen.name, "status": "draft"}


def switch_due_generation(session: Session, today: dt.date | None = None) -> dict | None:
    """Activate the scheduled generation whose day has come (None when there is none): the
    caller reassigns employers in the same transaction."""
    today = today or clock.today()
    gen = session.scalar(sa.select(Generation).where(Generation.status == "scheduled",
                                                     Generation.effective_from <= today).with_for_update())
    if gen is None:
        return None
    return activate_generation(session, gen.name, gen.effective_from)


def staffing_after_switch(session: Session, name: str) -> dict:
    """What a switch to ``name`` means for the 四定 staff: the assignments in force whose grid
    is not in ``name`` (to be reassigned: their grid disappears), and the grids of ``name``
    nobody answers for (new grids, or grids whose staff were not carried over)."""
    gen = find_generation(session, name)
    today = clock.today()
    in_force = "(sg.valid_from IS NULL OR sg.valid_from <= :d) AND (sg.valid_to IS NULL OR sg.valid_to >= :d)"
    orphaned = session.execute(sa.text(f"""
        SELECT s.id AS staff_id, s.name AS staff_name, s.role, g.code, g.name AS grid_name
        FROM staff_grid sg JOIN staff s ON s.id = sg.staff_id
        JOIN grid g ON g.identity = sg.grid_identity
        JOIN generation n ON n.id = g.generation_id AND n.status = 'active'
        WHERE {in_force}
          AND NOT EXISTS (SELECT 1 FROM grid x WHERE x.generation_id = :gen AND x.identity = sg.grid_identity)
        ORDER BY g.code, s.name"""), {"d": today, "gen": gen.id}).mappings().all()
    unstaffed = session.execute(sa.text(f"""
        SELECT g.code, g.name, g.level FROM grid g
        WHERE g.generation_id = :gen AND g.level > 1
          AND NOT EXISTS (SELECT 1 FROM staff_grid sg WHERE sg.grid_identity = g.identity AND {in_force})
        ORDER BY g.level, g.code"""), {"d": today, "gen": gen.id}).mappings().all()
    return {"to_reassign": [dict(r) for r in orphaned], "unstaffed": [dict(r) for r in unstaffed]}


def switch_and_reassign(session: Session, today: dt.date | None = None) -> dict | None:
    """:func:`switch_due_generation` and, when it switched, every employer reassigned to the new
    plan in the same transaction (the worker and ``gisgrid grids switch-due`` run this)."""
    from gisgrid.analysis.assign import assign_employers

    report = switch_due_generation(session, today)
    if report is not None:
        report["assignment"] = assign_employers(session, report["generation"])
    return report


def publish_plan(session: Session, name: str, effective_from: dt.date, actor: str) -> dict:
    """Publish draft (or scheduled) plan ``name`` from ``effective_from``, recorded for ``actor``.

    Today or earlier: activated and every employer reassigned now; a later day: scheduled, the
    plan in force stays until the day before. The report of :func:`activate_generation` plus the
    assignment (when activated now) and :func:`staffing_after_switch` (the 四定 assignments to
    redo, the grids nobody answers for). One transaction: the caller commits or rolls back.
    """
    from gisgrid.access.audit import record_audit
    from gisgrid.analysis.assign import assign_employers
    from gisgrid.labels import GENERATION_STATUS

    status = find_generation(session, name).status
    if status not in ("draft", "scheduled"):
        raise Conflict(f"generation {name!r} is {status}; only a draft (or a scheduled plan) is published",
                       zh=f"网格版本“{name[:100]}”是{GENERATION_STATUS.get(status, status)}版本；只有草稿（或待生效的方案）可以发布")
    report = activate_generation(session, name, effective_from)
    if not report["scheduled"] and report["changed"]:
        report["assignment"] = assign_employers(session, name)
    report.update(staffing_after_switch(session, name))
    record_audit(session, actor, "generation.publish", "generation", name,
                 after={"effective_from": report["effective_from"], "scheduled": report["scheduled"]})
    return report


def _refuse_invalid(session: Session, name: str) -> None:
    """Validation errors block activation (warnings do not)."""
    from gisgrid.boundaries.validate import public_report, validate_generation

    report = public_report(validate_generation(session, name))
    errors = report["errors"]
    if errors:
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        from gisgrid.boundaries.problem_text import describe_zh

        more_zh = f"（另有 {len(errors) - 1} 处错误）" if len(errors) > 1 else ""
        raise Conflict(f"generation {name!r} cannot be activated: {errors[0]['message']}{more}; "
                       f"see `gisgrid grids validate --generation {name}`", details=errors,
                       zh=f"网格版本“{name[:100]}”不能启用：{describe_zh(errors[0])}{more_zh}；"
                          f"请在规划编辑中改正（或用 gisgrid grids validate --generation {name} 查看全部）")


def copy_generation(session: Session, source: str, name: str, *, actor: str = "cli") -> dict:
    """A new draft ``name`` holding a copy of every grid of generation ``source``.

    The copies keep their codes, names, kinds, boundaries and stable identities
    (``grid.identity``: 四定 staff assignments follow them), and each copy's parent is the
    copy of its parent; the draft records ``source`` as what it was copied from. Runs in
    the caller's transaction: roll back for a dry run. The audit log gets one row.

    Raises
    ------
    NotFound
        When ``source`` does not exist.
    Conflict
        When a generation called ``name`` exists already, or ``source`` has no grids.

    Examples
    --------
    >>> copy_generation(session, "2026版", "2027草稿", actor="planner")["grids"]  # doctest: +SKIP
    {'1': 1, '2': 12, '3': 140}
    """
    from gisgrid.access.audit import record_audit

    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InputError(f"草稿名称为 {name[:120]!r}；应为 1–100 个字符")
    src = find_generation(session, source)
    if session.scalar(sa.select(Generation.id).where(Generation.name == name)) is not None:
        raise Conflict(f"网格版本 {name!r} 已存在；请为新草稿另取一个名称")
    levels = dict(session.execute(sa.text(
        "SELECT level, count(*) FROM grid WHERE generation_id = :g GROUP BY level ORDER BY level"),
        {"g": src.id}).all())
    if not levels:
        raise Conflict(f"网格版本 {src.name!r} 没有网格，无可复制；请从有网格的版本复制")
    draft = Generation(name=name, status="draft", source_id=src.id,
                       note=f"复制自 {src.name}")
    session.add(draft)
    session.flush()
    session.execute(sa.text("""
        INSERT INTO grid (generation_id, identity, level, kind, code, name, geom, source_crs, source_file)
        SELECT :new, identity, level, kind, code, name, geom, source_crs, source_file
        FROM grid WHERE generation_id = :src ORDER BY level, code"""), {"new": draft.id, "src": src.id})
    # Parents by code: codes are unique within a generation, so the copy of a grid's parent
    # is the copied grid with the parent's code.
    session.execute(sa.text("""
        UPDATE grid c SET parent_id = np.id
        FROM grid oc JOIN grid op ON op.id = oc.parent_id
        JOIN grid np ON np.generation_id = :new AND np.code = op.code
        WHERE c.generation_id = :new AND oc.generation_id = :src AND oc.code = c.code"""),
        {"new": draft.id, "src": src.id})
    report = {"generation": name, "from": src.name, "from_status": src.status,
              "grids": {str(level): int(n) for level, n in levels.items()}, "total": int(sum(levels.values()))}
    record_audit(session, actor, "generation.draft", "generation", name, after=report)
    return report
