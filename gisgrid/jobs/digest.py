"""The digest of what an export depends on: equal digests, equal files.

An export reads the generation, its grids, the employers and their assignment to the
generation's grids, and the 四定 staff (gisgrid.export.data); its output also depends on the
settings printed or applied (city name, issuing unit, stale months), the issue date and the
export's own parameters, and on the code and schema that read and draw them. The digest
covers all of these, so a stored result is served again only while none of them changed, and
any change (an employer surveyed again, a grid renamed, a staff member added, the next day, a
migration or a new release) makes a new export.

The data part is computed by the server from the rows themselves, not from ``updated_at``
columns that not every writer keeps. The small tables (the generation, its grids, the staff)
are hashed by content. The large ones (employers, assignment: 20,000 rows and more) are
hashed by row version: PostgreSQL writes every INSERT and UPDATE as a new row version, named
by its table (``tableoid``: assignment has a partition per generation), its place in it
(``ctid``) and the transaction that wrote it (``xmin``). The set of these that a snapshot
sees changes with every row inserted, updated or deleted by any writer (SQL, COPY, the web
app, psql), and only then: row locks and reads write no version. They are folded as a count
and an order-free sum of 64-bit hashes, one pass each that reads no column (5 ms for
20,000 employers; hashing their row text took 70–80 ms, paid by every heavy export request).
A rewrite that moves rows without changing them (VACUUM FULL, CLUSTER, a restore) changes
the digest too: that only costs one export built again.
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from sqlalchemy.orm import Session

import gisgrid

__all__ = ["data_digest", "export_digest"]

_DATA_SQL = sa.text("""
SELECT
  (SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version) AS schema,
  (SELECT concat_ws('|', g.id, g.name, g.status, g.effective_from, g.effective_to)
     FROM generation g WHERE g.id = :gen) AS generation,
  (SELECT md5(coalesce(string_agg(concat_ws('|', g.id, g.code, g.name, g.level, g.kind, g.parent_id,
                                            g.identity, g.version, md5(ST_AsEWKB(g.geom))), ','
                                  ORDER BY g.id), ''))
     FROM grid g WHERE g.generation_id = :gen) AS grids,
  (SELECT count(*) || ':' || coalesce(sum(
            hashtextextended(concat_ws('|', e.tableoid, e.xmin, e.ctid), 0)::numeric), 0)
     FROM employer e) AS employers,
  (SELECT count(*) || ':' || coalesce(sum(
            hashtextextended(concat_ws('|', a.tableoid, a.xmin, a.ctid), 0)::numeric), 0)
     FROM assignment a WHERE a.generation_id = :gen) AS assignment,
  (SELECT md5(coalesce(string_agg(s::text, ',' ORDER BY s.id), '')) FROM staff s) AS staff,
  (SELECT md5(coalesce(string_agg(sg::text, ',' ORDER BY sg.id), '')) FROM staff_grid sg) AS staff_grid
""")


def data_digest(session: Session, generation_id: int) -> str:
    """SHA-256 over the rows an export of generation ``generation_id`` reads, the schema
    revision they are read under and the gisgrid release that reads them.

    Run it in the transaction (snapshot) the export itself reads in, so that the digest
    stored with a result describes exactly the rows that went into it.
    """
    row = dict(session.execute(_DATA_SQL, {"gen": generation_id}).mappings().one())
    row["release"] = gisgrid.__version__
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()


def export_digest(session: Session, generation_id: int, kind: str, params: dict) -> str:
    """The digest of one export: its kind and parameters (settings and issue date included)
    together with :func:`data_digest`.

    Examples
    --------
    >>> a = export_digest(session, 1, "package", {"level": 2, "paper": "A3"})   # doctest: +SKIP
    >>> a == export_digest(session, 1, "package", {"paper": "A3", "level": 2})  # doctest: +SKIP
    True
    """
    spec = json.dumps({"kind": kind, "params": params, "data": data_digest(session, generation_id)},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(spec.encode()).hexdigest()
