"""Background jobs in PostgreSQL: the long exports run by a worker, with progress.

- :mod:`gisgrid.jobs.queue` — the procrastinate queue on the gisgrid database, the worker
  (``gisgrid jobs worker``, and a child of ``gisgrid serve``);
- :mod:`gisgrid.jobs.exports` — export jobs: requested (stored result, per-client limit,
  queue), run with progress, results under ``GISGRID_HOME/exports``;
- :mod:`gisgrid.jobs.digest` — what an export depends on, as one digest.
"""
