"""Export jobs on a real PostGIS queue: queued, run by the worker, stored, served again, failed."""

from __future__ import annotations

import datetime as dt
import io
import threading
import zipfile

import openpyxl
import pytest
import sqlalchemy as sa

from gisgrid import clock
from gisgrid.export.diagram import export_diagram
from gisgrid.export.package import export_package
from gisgrid.export.registers import export_registers
from gisgrid.jobs.exports import (TooManyJobs, get_job, output_settings, request_export, result_path, steps_of)
from gisgrid.jobs.queue import run_worker
from tests.jobs.conftest import DIAGRAM

TODAY = clock.today()


def _request(session, settings, kind="diagram", params=None, requester="10.1.1.1", today=None):
    job, new = request_export(session, settings, kind, dict(DIAGRAM if params is None else params), requester,
                              today=today)
    session.commit()
    return job, new


def _count(session, table: str) -> int:
    return session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def _cells(data: bytes) -> list:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [(ws.title, [list(r) for r in ws.iter_rows(values_only=True)]) for ws in book.worksheets]


def test_worker_runs_a_queued_diagram_and_the_file_equals_the_synchronous_one(city_session, city_settings):
    job, new = _request(city_session, city_settings)
    assert new and job["status"] == "queued" and job["steps"] == 3 and job["queue_job_id"]
    assert result_path(city_settings, job) is None
    run_worker(city_settings, wait=False)
    done = get_job(city_session, job["id"])
    assert done["status"] == "done", done
    assert done["progress"] == "3/3 完成" and done["started_at"] <= done["finished_at"]
    path = result_path(city_settings, done)
    assert path.parent == city_settings.home / "exports" / str(job["id"])
    assert done["file_name"] == f"网格划分示意图_{TODAY:%Y%m%d}.png" and done["size"] == path.stat().st_size
    direct = io.BytesIO()
    export_diagram(city_session, direct, paper="A4", fmt="png", settings=city_settings, issued_on=TODAY)
    assert path.read_bytes() == direct.getvalue()  # the very same PNG, byte for byte


def test_whole_city_register_job_equals_the_synchronous_register(city_session, city_settings):
    job, _ = _request(city_session, city_settings, "register", {"grid": None, "level": None})
    run_worker(city_settings, wait=False)
    done = get_job(city_session, job["id"])
    assert done["status"] == "done", done
    direct = io.BytesIO()
    export_registers(city_session, direct, today=TODAY, stale_months=city_settings.stale_months)
    stored = _cells(result_path(city_settings, done).read_bytes())
    assert stored == _cells(direct.getvalue()) and len(stored) > 200


def test_package_job_reports_each_step_and_holds_what_the_synchronous_package_holds(city_session, city_settings,
                                                                                      city_engine):
    job, _ = _request(city_session, city_settings, "package", {"level": 2, "paper": "A4"})
    assert job["steps"] == steps_of("package") == 11
    seen = []
    # Watch the steps as the worker writes them (its own transactions, visible at once).
    stop = threading.Event()

    def look(conn):
        row = conn.execute(sa.text("SELECT step, step_label FROM export_job WHERE id = :id"),
                           {"id": job["id"]}).first()
        conn.commit()
        if row and (not seen or seen[-1] != tuple(row)):
            seen.append(tuple(row))

    def watch():
        with city_engine.connect() as conn:
            while not stop.is_set():
                look(conn)
                stop.wait(0.05)
            look(conn)  # the last step, written after the watcher's previous look

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run_worker(city_settings, wait=False)
    finally:
        stop.set()
        watcher.join()
    done = get_job(city_session, job["id"])
    assert done["status"] == "done", done
    labels = [label for _, label in seen]
    for label in ("核对数据", "网格图集", "用人单位登记册", "风险分级图", "清单与压缩"):
        assert label in labels, labels
    steps = [s for s, _ in seen]
    assert steps == sorted(steps) and steps[-1] == 11
    stored = zipfile.ZipFile(result_path(city_settings, done))
    direct = io.BytesIO()
    export_package(city_session, direct, level=2, paper="A4", settings=city_settings, today=TODAY)
    expected = zipfile.ZipFile(direct)
    assert stored.namelist() == expected.namelist()
    for name in expected.namelist():
        if name.endswith((".png", ".shp", ".cpg")):
            assert stored.read(name) == expected.read(name), name
        if name.endswith(".xlsx"):
            assert _cells(stored.read(name)) == _cells(expected.read(name)), name


def test_second_request_is_served_from_the_stored_result_without_a_new_job(city_session, city_settings):
    job, _ = _request(city_session, city_settings)
    run_worker(city_settings, wait=False)
    rows, queued = _count(city_session, "export_job"), _count(city_session, "procrastinate_jobs")
    again, new = _request(city_session, city_settings, requester="10.9.9.9")
    assert not new and again["id"] == job["id"] and again["status"] == "done"
    assert (_count(city_session, "export_job"), _count(city_session, "procrastinate_jobs")) == (rows, queued)


def test_the_same_export_asked_twice_before_it_ran_is_one_job(city_session, city_settings):
    first, new1 = _request(city_session, city_settings)
    second, new2 = _request(city_session, city_settings, requester="10.2.2.2")
    assert new1 and not new2 and second["id"] == first["id"]
    assert _count(city_session, "export_job") == 1


CHANGES = {
    "employer surveyed again": "UPDATE employer SET headcount = coalesce(headcount, 0) + 1 "
                               "WHERE id = (SELECT min(id) FROM employer)",
    "employer moved to another grid": "UPDATE assignment SET grid_id = (SELECT max(id) FROM grid) "
                                      "WHERE employer_id = (SELECT min(employer_id) FROM assignment)",
    "grid renamed": "UPDATE grid SET name = name || '（新）' WHERE id = (SELECT max(id) FROM grid)",
    "staff added": "INSERT INTO staff (name, role, phone) VALUES ('新同志', 'coordinator', '13800000000')",
    "staff duty changed": "UPDATE staff_grid SET duty = coalesce(duty, '') || '；巡查' "
                          "WHERE id = (SELECT min(id) FROM staff_grid)",
    "employer removed": "DELETE FROM employer WHERE id = (SELECT max(id) FROM employer)",
    # The employers and the assignment are digested by row version (tableoid, ctid, xmin):
    # a new row, a row gone and a row written with its own values again are new versions.
    "employer added": "INSERT INTO employer (name, address) VALUES ('新开业单位', '示范路1号')",
    "employers added in bulk": "INSERT INTO employer (name, address, geom) "
                               "SELECT name || '（分部）', address, geom FROM employer ORDER BY id LIMIT 3",
    "employer rewritten with the same values": "UPDATE employer SET name = name "
                                               "WHERE id = (SELECT min(id) FROM employer)",
    "employer unassigned": "DELETE FROM assignment WHERE employer_id = (SELECT min(employer_id) FROM assignment)",
    "generation renamed": "UPDATE generation SET name = name || '（修订）' WHERE status = 'active'",
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_data_change_makes_a_new_job(city_session, city_settings, change):
    first, _ = _request(city_session, city_settings)
    city_session.execute(sa.text(CHANGES[change]))
    city_session.commit()
    second, new = _request(city_session, city_settings)
    assert new and second["id"] != first["id"] and second["digest"] != first["digest"]


def test_settings_date_and_parameters_are_part_of_the_digest(city_session, city_settings):
    base, _ = _request(city_session, city_settings, requester="a")
    other_city, new1 = _request(city_session, city_settings.with_(city_name="另一市"), requester="b")
    tomorrow, new2 = _request(city_session, city_settings, today=TODAY + dt.timedelta(days=1), requester="c")
    a3, new3 = _request(city_session, city_settings, params={**DIAGRAM, "paper": "A3"}, requester="d")
    assert new1 and new2 and new3
    assert len({base["digest"], other_city["digest"], tomorrow["digest"], a3["digest"]}) == 4
    assert other_city["params"]["settings"] == output_settings(city_settings.with_(city_name="另一市"))


def _data_digest(session) -> str:
    from gisgrid.export.data import find_export_generation
    from gisgrid.jobs.digest import data_digest

    return data_digest(session, find_export_generation(session).id)


def test_the_schema_revision_and_the_release_are_part_of_the_digest(city_session, monkeypatch):
    import gisgrid

    base = _data_digest(city_session)
    monkeypatch.setattr(gisgrid, "__version__", gisgrid.__version__ + ".post1")
    release = _data_digest(city_session)
    monkeypatch.undo()
    city_session.execute(sa.text("UPDATE alembic_version SET version_num = version_num || 'x'"))
    schema = _data_digest(city_session)
    city_session.rollback()
    assert len({base, release, schema}) == 3
    assert _data_digest(city_session) == base


def test_reads_row_locks_rollbacks_and_vacuum_leave_the_digest_alone(city_session, city_engine):
    """What writes no row version changes nothing an export shows, and no digest either:
    a stored result stays in use."""
    base = _data_digest(city_session)
    city_session.execute(sa.text("SELECT id FROM employer FOR UPDATE"))
    city_session.execute(sa.text("SELECT employer_id FROM assignment FOR SHARE"))
    city_session.commit()
    city_session.execute(sa.text(CHANGES["employer surveyed again"]))
    city_session.rollback()
    with city_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM (FREEZE, ANALYZE) employer, assignment"))
    assert _data_digest(city_session) == base


def test_the_digest_reads_no_column_of_the_large_tables(city_session):
    """The digest is computed in every heavy export request: for employers and assignment it
    reads row versions only (tableoid, xmin, ctid), never the rows' text (issue 10: hashing the
    row text of 20,000 employers took 70-80 ms; the time itself is benchmarks/exports_load.py's)."""
    import re

    from gisgrid.jobs.digest import _DATA_SQL

    gen = city_session.execute(sa.text("SELECT id FROM generation WHERE status = 'active'")).scalar()
    plan = "\n".join(city_session.execute(sa.text("EXPLAIN (VERBOSE, COSTS OFF) " + _DATA_SQL.text),
                                          {"gen": gen}).scalars())
    for alias in ("e", "a"):
        outputs = re.findall(rf"Scan on \S*(?:employer|assignment\S*) {alias}\b.*\n\s+Output: (.*)", plan)
        assert outputs, plan
        for output in outputs:
            assert set(c.strip() for c in output.split(",")) <= {f"{alias}.tableoid", f"{alias}.xmin",
                                                                  f"{alias}.ctid"}, output


def test_a_changed_result_is_not_served_again(city_session, city_settings):
    job, _ = _request(city_session, city_settings)
    run_worker(city_settings, wait=False)
    city_session.execute(sa.text(CHANGES["grid renamed"]))
    city_session.commit()
    again, new = _request(city_session, city_settings)
    assert new and again["status"] == "queued"
    run_worker(city_settings, wait=False)
    assert get_job(city_session, again["id"])["status"] == "done"
    assert result_path(city_settings, get_job(city_session, job["id"])) is not None  # older result kept (N=5)


def test_per_client_limit(city_session, city_settings):
    settings = city_settings.with_(export_jobs_per_client=2)
    _request(city_session, settings, params={**DIAGRAM, "paper": "A3"})
    _request(city_session, settings, params={**DIAGRAM, "format": "pdf"})
    with pytest.raises(TooManyJobs) as raised:
        _request(city_session, settings, params={**DIAGRAM, "colour": "risk_share"})
    city_session.rollback()
    assert "最多同时 2 个" in raised.value.message and raised.value.status == 429
    # the same export again is no new job, and another client is not held up
    assert not _request(city_session, settings, params={**DIAGRAM, "paper": "A3"})[1]
    assert _request(city_session, settings, params={**DIAGRAM, "colour": "risk_share"}, requester="10.7.7.7")[1]
    run_worker(settings, wait=False)  # once they are done, the first client may ask again
    assert _request(city_session, settings, params={**DIAGRAM, "colour": "employers"})[1]


def test_a_failing_job_keeps_its_chinese_error(city_session, city_settings):
    job, _ = _request(city_session, city_settings, "package", {"level": 2, "paper": "A4"})
    # While it waits, the generation it would export is retired: the job cannot find it.
    city_session.execute(sa.text("UPDATE generation SET status = 'retired' WHERE status = 'active'"))
    city_session.commit()
    run_worker(city_settings, wait=False)
    failed = get_job(city_session, job["id"])
    assert failed["status"] == "failed" and failed["finished_at"] is not None
    assert failed["error"].startswith("找不到导出所需的数据")
    assert result_path(city_settings, failed) is None
    assert not (city_settings.home / "exports" / str(job["id"])).exists()
    queue_status = city_session.execute(sa.text("SELECT status::text FROM procrastinate_jobs WHERE id = :q"),
                                        {"q": job["queue_job_id"]}).scalar_one()
    assert queue_status == "failed"


def test_old_results_are_deleted_beyond_the_newest_n(city_session, city_settings):
    settings = city_settings.with_(export_results_kept=1)
    first, _ = _request(city_session, settings)
    run_worker(settings, wait=False)
    first_folder = result_path(settings, get_job(city_session, first["id"])).parent
    second, _ = _request(city_session, settings, params={**DIAGRAM, "paper": "A3"})
    run_worker(settings, wait=False)
    assert get_job(city_session, first["id"]) is None and not first_folder.exists()
    assert result_path(settings, get_job(city_session, second["id"])) is not None


def test_a_result_whose_file_is_gone_is_built_again(city_session, city_settings):
    job, _ = _request(city_session, city_settings)
    run_worker(city_settings, wait=False)
    result_path(city_settings, get_job(city_session, job["id"])).unlink()
    again, new = _request(city_session, city_settings)
    assert new and again["id"] != job["id"]


def test_unknown_kind_is_refused(city_session, city_settings):
    from gisgrid.errors import InputError

    with pytest.raises(InputError, match="导出类型为 'svg'"):
        request_export(city_session, city_settings, "svg", {}, "x")
