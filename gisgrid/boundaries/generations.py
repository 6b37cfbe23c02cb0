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
