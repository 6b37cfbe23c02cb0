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
    """Make draft ``name`` the active generation; retire the current one.

    Runs in the caller's transaction, so the switch and the reassignment that the
    caller runs next are one atomic change. The draft is validated first: any
    error refuses the activation (warnings do not). Splits, merges and reshapes
    against the generation it replaces are recorded in ``grid_lineage``.

    Raises
    ------
    Conflict
        When the draft has validation errors, has no grids, or is retired.
    """
    gen = find_generation(session, name)
    if gen.status == "active":
        return {"generation": gen.name, "changed": False, "retired": None,
                "effective_from": gen.effective_from.isoformat() if gen.effective_from else None}
    if gen.status != "draft":
        raise Conflict(f"generation {name!r} is {gen.status}; only a draft can be activated")
    count = session.scalar(sa.text("SELECT count(*) FROM grid WHERE generation_id = :g"), {"g": gen.id})
    if not count:
        raise Conflict(f"generation {name!r} has no grids; import grids into it first")
    _refuse_invalid(session, gen.name)
    effective_from = effective_from or clock.today()
    current = active_generation(session)
    if current is not None:
        if current.effective_from and effective_from <= current.effective_from:
            raise InputError(
                f"--effective-from was {effective_from}; it must be after {current.effective_from}, "
                f"when the active generation {current.name!r} took effect"
            )
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
            "effective_from": effective_from.isoformat(), "lineage": lineage}


def _refuse_invalid(session: Session, name: str) -> None:
    """Validation errors block activation (warnings do not)."""
    from gisgrid.boundaries.validate import public_report, validate_generation

    report = public_report(validate_generation(session, name))
    errors = report["errors"]
    if errors:
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        raise Conflict(f"generation {name!r} cannot be activated: {errors[0]['message']}{more}; "
                       f"see `gisgrid grids validate --generation {name}`", details=errors)


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
