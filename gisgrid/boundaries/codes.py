"""Grid codes: their form, provisional codes for uncoded grids, and proposals that extend the parent's.

Every grid code has one form (:data:`CODE_FORM`, :func:`code_form_problem`): the division
codes of DOMAIN.md (GB/T 2260 and statistical codes, ASCII digits) and the codes of finer
grids that extend them by digit serials, or a local pattern of capital letters and digits
(``A01-03``); at most 32 characters, what the ``grid.code`` column holds. Every path that
gives a grid a code checks it: a file import reports each code of another form with the
file's other problems (and refuses the file in every ``--on-invalid`` mode), an edit
refuses new codes of another form before it changes anything.

A feature imported without a code (``--on-invalid report``) is stored under a
provisional code ``未编码-L<level>-<feature>``: validation reports it as
``missing_code`` (an error, so the generation cannot be activated) until
:func:`propose_codes` gives it a real one. Existing codes are never renumbered.
"""

from __future__ import annotations

import json
import re

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gisgrid.errors import InputError

PROVISIONAL_PREFIX = "未编码-"
_PROVISIONAL = re.compile(re.escape(PROVISIONAL_PREFIX) + r"L[0-9]+-[0-9]+")
#: Longest code the ``grid.code`` column holds (gisgrid.db.models.Grid).
MAX_CODE_CHARS = 32
# ASCII only, spelled out: ``\d`` and str.isdigit() also take full-width and other digits.
_CODE_FORM = re.compile(r"[0-9A-Z]+(?:-[0-9A-Z]+)*")
_CODE_CHARS = re.compile(r"[0-9A-Z-]")
#: The allowed form, as messages state it.
CODE_FORM = (f"1 to {MAX_CODE_CHARS} ASCII digits 0-9 (a division code, or one extended by digit serials), "
             "or ASCII capital letters A-Z and digits in groups joined by single hyphens (a local pattern "
             "such as A01-03)")
_QUOTED_CHARS = 40


def provisional_code(level: int, feature: int) -> str:
    """The stand-in code of an uncoded feature.

    >>> provisional_code(3, 12)
    '未编码-L3-12'
    """
    return f"{PROVISIONAL_PREFIX}L{level}-{feature}"


def is_provisional(code) -> bool:
    """Whether ``code`` is a stand-in made by :func:`provisional_code` (that exact form).

    >>> is_provisional("未编码-L3-12"), is_provisional("未编码-<b>")
    (True, False)
    """
    return isinstance(code, str) and _PROVISIONAL.fullmatch(code) is not None


def code_form_problem(code: object) -> str | None:
    """What is wrong with the form of grid code ``code``, or None when it has the allowed one.

    The form (:data:`CODE_FORM`) is checked character by character, so the answer names
    what was found: a full-width digit looks like a digit but is not one.

    Examples
    --------
    >>> code_form_problem("419901001001"), code_form_problem("A01-03")
    (None, None)
    >>> code_form_problem("419901<i>x")
    "has characters outside the allowed form: '<', 'i', '>', 'x'"
    >>> code_form_problem("４１９９０１")
    "has characters outside the allowed form: '４', '１', '９', '０'"
    >>> code_form_problem("4" * 33)
    'is 33 characters long'
    """
    if not isinstance(code, str):
        return f"is a {type(code).__name__}, not text"
    if code == "":
        return "is empty"
    if len(code) > MAX_CODE_CHARS:
        return f"is {len(code)} characters long"
    if _CODE_FORM.fullmatch(code):
        return None
    odd = list(dict.fromkeys(ch for ch in code if not _CODE_CHARS.fullmatch(ch)))
    if odd:
        shown = ", ".join(repr(ch) for ch in odd[:6]) + (" …" if len(odd) > 6 else "")
        return f"has characters outside the allowed form: {shown}"
    return "has a hyphen at its start or end, or two in a row"


def quoted_code(code: object) -> str:
    """``code`` as a message shows it: as it is when it has the allowed form (or is
    provisional), else quoted (``repr``, control characters escaped) and cut to 40 characters.

    >>> quoted_code("419901001"), quoted_code("419901 <b>")
    ('419901001', "'419901 <b>'")
    """
    if code_form_problem(code) is None or is_provisional(code):
        return str(code)
    text = repr(code)
    return text if len(text) <= _QUOTED_CHARS else text[:_QUOTED_CHARS - 1] + "…"


def check_code(code: object, what: str = "code") -> str:
    """``code`` if it has the allowed form, else :class:`~gisgrid.errors.InputError` saying why.

    >>> check_code("419901001004")
    '419901001004'
    >>> check_code("419901 004", "new code")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: new code '419901 004' has characters outside the allowed form: ' '; a grid code is ...
    """
    problem = code_form_problem(code)
    if problem is not None:
        from gisgrid.boundaries.problem_text import _bad_code_zh

        raise InputError(f"{what} {quoted_code(code)} {problem}; a grid code is {CODE_FORM}",
                         zh=f"编码 {quoted_code(code)} 不合规：{_bad_code_zh(problem + ';')}")
    return code


def propose_codes(session: Session, generation: str | None = None, *, digits: int = 3,
                  commit: bool = False, actor: str = "cli") -> dict:
    """Propose codes for the grids of a generation that have none.

    Each uncoded grid gets its parent's code followed by the next free
    ``digits``-digit serial among its siblings (3: a town's 9 digits, a
    community's or village's 12). New serials follow reading order within the
    parent: rows north → south, west → east within a row, by representative point.
    Parents are coded before their children in the same run.

    Parameters
    ----------
    digits
        Digits added to the parent's code (1–6).
    commit
        Write the codes (``version`` + 1, one ``audit_log`` row each); otherwise
        only propose them.

    Returns
    -------
    dict
        ``generation``, ``proposed`` (``provisional``, ``code``, ``name``, ``level``,
        ``parent_code``), ``skipped`` (with the reason) and ``committed``.

    Examples
    --------
    Two uncoded villages in town 419901001, which already has 001 and 002:

    >>> propose_codes(session, "2027版")["proposed"]  # doctest: +SKIP
    [{'provisional': '未编码-L3-4', 'code': '419901001003', ...},
     {'provisional': '未编码-L3-5', 'code': '419901001004', ...}]
    """
    from gisgrid.boundaries.generations import get_or_create_draft
    from gisgrid.db.queries import find_generation

    if not 1 <= digits <= 6:
        raise InputError(f"--digits was {digits}; expected 1 to 6")
    gen = find_generation(session, generation)
    if commit:
        get_or_create_draft(session, gen.name)  # only a draft is edited
    rows = session.execute(sa.text(
        "SELECT id, code, name, level, parent_id, ST_AsBinary(ST_PointOnSurface(geom)) AS point, "
        "ST_YMax(geom) - ST_YMin(geom) AS height "
        "FROM grid WHERE generation_id = :g ORDER BY level, code"), {"g": gen.id}).mappings().all()
    code_of = {r["id"]: r["code"] for r in rows}
    children: dict[int | None, list[dict]] = {}
    for r in rows:
        children.setdefault(r["parent_id"], []).append(dict(r))
    proposed, skipped = [], []
    for level in sorted({r["level"] for r in rows}):
        for parent_id, siblings in children.items():
            uncoded = [s for s in siblings if s["level"] == level and is_provisional(s["code"])]
            if not uncoded:
                continue
            parent_code = code_of.get(parent_id)
            reason = _unusable_parent(parent_code)
            if reason is not None:
                skipped += [{"provisional": s["code"], "name": s["name"], "reason": reason} for s in uncoded]
                continue
            serial = _next_serial(parent_code, [s["code"] for s in siblings], digits)
            for grid in _reading_order(uncoded):
                if serial >= 10 ** digits:
                    skipped.append({"provisional": grid["code"], "name": grid["name"],
                                    "reason": f"no free {digits}-digit serial left under {parent_code}"})
                    continue
                new = f"{parent_code}{serial:0{digits}d}"
                serial += 1
                proposed.append({"provisional": grid["code"], "code": new, "name": grid["name"],
                                 "level": level, "parent_code": parent_code, "id": grid["id"]})
                code_of[grid["id"]] = new
    if commit:
        from gisgrid.boundaries.locks import refuse_locked

        refuse_locked(session, gen.name, [p["provisional"] for p in proposed], "coding")
        _write_codes(session, proposed, actor)
    for p in proposed:
        p.pop("id")
    return {"generation": gen.name, "proposed": proposed, "skipped": skipped, "committed": commit}


def _unusable_parent(parent_code: str | None) -> str | None:
    """Why no code can be proposed under ``parent_code`` (one stored before codes were checked
    may have another form), or None."""
    if parent_code is None:
        return "it has no parent grid"
    if is_provisional(parent_code):
        return "its parent has no code"
    problem = code_form_problem(parent_code)
    return f"its parent's code {quoted_code(parent_code)} {problem}" if problem else None


#: The 3-digit serial ranges of the statistical division code (统计用区划代码) by kind: at the
#: town level 街道 001–099, 镇 100–199, 乡 200–399, 园区等乡级单位 400–599; at the village level
#: 居委会（社区） 001–199, 村委会（村） 200–399.  A new grid of a kind is numbered in its range.
SERIAL_RANGES: dict[str, tuple[int, int]] = {
    "street": (1, 99), "town": (100, 199), "township": (200, 399), "park": (400, 599),
    "community": (1, 199), "village": (200, 399),
}


def _serials(parent_code: str, codes: list[str], digits: int) -> list[int]:
    return [int(c[len(parent_code):]) for c in codes
            if not is_provisional(c) and c.startswith(parent_code)
            and len(c) == len(parent_code) + digits and c[len(parent_code):].isdigit()]


def _next_serial(parent_code: str, sibling_codes: list[str], digits: int, kind: str | None = None,
                 same_kind: list[str] | None = None) -> int:
    """The next free serial under ``parent_code``: after the highest one used; or, for a ``kind``
    with a range (:data:`SERIAL_RANGES`, 3-digit serials) whose siblings of that kind
    (``same_kind``) all lie in it, after the highest one used in the range, from its start —
    a city that numbers otherwise keeps its own order.  A full range gives its end + 1 (the
    caller refuses it).

    >>> _next_serial("419901001", ["419901001001", "419901001002", "419901001200"], 3,
    ...              "community", ["419901001001", "419901001002"])
    3
    >>> _next_serial("419901001", ["419901001001", "419901001200"], 3, "village", ["419901001200"])
    201
    >>> _next_serial("419999002", ["419999002001", "419999002002"], 3, "village", ["419999002001"])
    3
    """
    used = _serials(parent_code, sibling_codes, digits)
    span = _ranged(parent_code, digits, kind, same_kind)
    if span is not None:
        low, high = span
        return max([u for u in used if low <= u <= high], default=low - 1) + 1
    return max(used, default=0) + 1


def serial_limit(parent_code: str, digits: int, kind: str | None, same_kind: list[str] | None) -> int:
    """The highest serial :func:`_next_serial` may give: its kind's range end, or 10^digits − 1."""
    span = _ranged(parent_code, digits, kind, same_kind)
    return span[1] if span is not None else 10 ** digits - 1


def _ranged(parent_code: str, digits: int, kind: str | None, same_kind: list[str] | None):
    span = SERIAL_RANGES.get(kind or "") if digits == 3 else None
    if span is None or same_kind is None:
        return None
    low, high = span
    return span if all(low <= u <= high for u in _serials(parent_code, same_kind, digits)) else None


def _reading_order(grids: list[dict]) -> list[dict]:
    points = [shapely.from_wkb(bytes(g["point"])) for g in grids]
    # Rows as tall as a typical grid: grids whose points differ less than that in
    # latitude are one row, read west → east; rows go north → south.
    band = float(np.median([g["height"] for g in grids])) or 1e-9
    top = max(p.y for p in points)
    keyed = sorted(zip(points, grids), key=lambda pg: (round((top - pg[0].y) / band), pg[0].x))
    return [g for _, g in keyed]


def _write_codes(session: Session, proposed: list[dict], actor: str) -> None:
    for p in proposed:
        session.execute(sa.text("UPDATE grid SET code = :code, version = version + 1 WHERE id = :id"),
                        {"code": p["code"], "id": p["id"]})
        session.execute(sa.text(
            "INSERT INTO audit_log (actor, action, entity, entity_id, before, after) "
            "VALUES (:actor, 'grid.code', 'grid', :entity, CAST(:before AS jsonb), CAST(:after AS jsonb))"),
            {"actor": actor, "entity": str(p["id"]), "before": json.dumps({"code": p["provisional"]}),
             "after": json.dumps({"code": p["code"], "name": p["name"]}, ensure_ascii=False)})


def significant_code(code: str) -> str:
    """A division code without its zero padding: the part its children extend.

    GB/T 2260 pads a province or city code with pairs of zeros to 6 digits, and the
    statistics bureau pads a county or town code with groups of three zeros to 12.
    Other codes (finer grids with a local pattern) are returned unchanged.

    >>> significant_code("410100"), significant_code("410000"), significant_code("410102001000")
    ('4101', '41', '410102001')
    >>> significant_code("410102000000"), significant_code("A01-03")
    ('410102', 'A01-03')
    """
    text = str(code)
    if not text.isdigit() or len(text) not in (6, 9, 12):
        return text
    while len(text) > 6 and text.endswith("000"):
        text = text[:-3]
    if len(text) == 6:
        while len(text) > 2 and text.endswith("00"):
            text = text[:-2]
    return text


def code_extends(code: str, parent: str) -> bool:
    """Whether ``code`` is a proper extension of ``parent`` (zero padding allowed).

    >>> code_extends("410102", "410100"), code_extends("410102001", "410102"), code_extends("410201", "410100")
    (True, True, False)
    >>> code_extends("410100000000", "410100")
    False
    """
    child, root = significant_code(code), significant_code(parent)
    return child.startswith(root) and len(child) > len(root)
