"""`gisgrid db backup` / `gisgrid db restore`: a round trip of the demo city, and every refusal."""

from __future__ import annotations

import io
import itertools
import json
import stat
import tarfile

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gisgrid.cli import cli
from gisgrid.db.backup import DUMP, MANIFEST, table_stats
from gisgrid.db.engine import dispose_engines, get_engine
from gisgrid.db.migrate import head_revision

_names = itertools.count()


def _cli(url: str, home, *args):
    env = {"GISGRID_DATABASE_URL": url, "GISGRID_HOME": str(home)}
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def _stats(url: str) -> dict:
    with get_engine(url).begin() as conn:
        return table_stats(conn)


def _sequences(url: str) -> dict:
    with get_engine(url).connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'")).all())


def _empty_database(pg_cluster) -> str:
    """A new database migrated to head with no rows (as after `gisgrid db reset`)."""
    return pg_cluster.create_database(f"restore_{next(_names)}", template="gisgrid")


@pytest.fixture(scope="module")
def demo_backup(demo_url, tmp_path_factory):
    home = tmp_path_factory.mktemp("backup-home")
    path = home / "demo.gisgrid-backup"
    result = _cli(demo_url, home, "db", "backup", path, "--json")
    assert result.exit_code == 0, result.output
    return path, json.loads(result.stdout)


def test_backup_is_a_private_tar_with_manifest_and_dump(demo_backup, demo_url):
    path, manifest = demo_backup
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds employer data
    with tarfile.open(path) as tar:
        assert tar.getnames() == [MANIFEST, DUMP]
        stored = json.load(tar.extractfile(MANIFEST))
    assert stored["schema_version"] == head_revision() == manifest["schema_version"]
    assert stored["tables"] == _stats(demo_url)  # taken in the dump's snapshot
    assert stored["tables"]["employer"]["rows"] == 20_000
    assert len(stored["dump"]["sha256"]) == 64 and stored["gisgrid_version"]
    assert not list(path.parent.glob(".gisgrid-backup-*"))  # no temporary left behind


def test_backup_refuses_to_overwrite_without_force(demo_backup, demo_url, tmp_path):
    path, _ = demo_backup
    before = path.read_bytes()
    result = _cli(demo_url, tmp_path, "db", "backup", path)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: backup file {path} exists; give another path, or --force to replace it"]
    assert path.read_bytes() == before
    other = tmp_path / "again.backup"
    other.write_text("old")
    assert _cli(demo_url, tmp_path, "db", "backup", other, "--force").exit_code == 0
    assert tarfile.is_tarfile(other)


def test_round_trip_restores_every_table_row_for_row(demo_backup, demo_url, pg_cluster, tmp_path):
    path, manifest = demo_backup
    target = _empty_database(pg_cluster)
    dry = _cli(target, tmp_path, "db", "restore", path)
    assert dry.exit_code == 0, dry.output
    assert f"schema version {head_revision()}" in dry.output and "employer 20000" in dry.output
    assert "--commit" in dry.output
    assert all(t["rows"] == 0 for name, t in _stats(target).items() if name != "alembic_version")

    result = _cli(target, tmp_path, "db", "restore", path, "--commit", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["committed"] and report["verified"] and report["revision"] == head_revision()
    dispose_engines()
    source, restored = _stats(demo_url), _stats(target)
    assert set(restored) == set(source) and len(source) >= 8
    for name in source:  # row count and content checksum of every table
        assert restored[name] == source[name] == manifest["tables"][name], name
    assert _sequences(target) == _sequences(demo_url)  # new rows get fresh ids
    # the web role got its grants on the restored tables (pg_restore ran --no-privileges)
    web = pg_cluster.web_url_for(target.rsplit("/", 1)[1])
    with get_engine(web).begin() as conn:
        # Row-level security (migration 0007) came back too: nothing without a scope, all with 'all'.
        assert conn.execute(sa.text("SELECT count(*) FROM employer")).scalar() == 0
        conn.execute(sa.text("SELECT set_config('gisgrid.scope', 'all', true)"))
        assert conn.execute(sa.text("SELECT count(*) FROM employer")).scalar() == 20_000
    dispose_engines()


def test_restore_of_an_older_schema_version_is_migrated(pg_cluster, tmp_path):
    from alembic import command

    from gisgrid.db.migrate import alembic_config

    source = _empty_database(pg_cluster)
    with get_engine(source).begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
        conn.execute(sa.text("INSERT INTO generation (name) VALUES ('2019版')"))
    dispose_engines()
    path = tmp_path / "old.backup"
    # the backup command migrates its database first, as every command does: dump by hand
    from gisgrid.config import Settings
    from gisgrid.db.backup import backup_database

    manifest = backup_database(Settings(home=tmp_path, database_url=source), get_engine(source), path)
    assert manifest["schema_version"] == "0003"
    target = _empty_database(pg_cluster)  # at head: brought down to 0003, restored, migrated up
    result = _cli(target, tmp_path, "db", "restore", path, "--commit", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["revision"] == head_revision()
    with get_engine(target).connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM generation")).scalars().all() == ["2019版"]
    dispose_engines()


def _rewrite(path, out, manifest_change=None, dump_change=None):
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile(MANIFEST))
        dump = tar.extractfile(DUMP).read()
    if manifest_change:
        manifest_change(manifest)
    if dump_change:
        dump = dump_change(dump)
    body = json.dumps(manifest).encode()
    with tarfile.open(out, "w") as tar:
        for name, data in ((MANIFEST, body), (DUMP, dump)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_corrupted_and_half_copied_backups_are_refused(demo_backup, pg_cluster, tmp_path):
    path, _ = demo_backup
    target = _empty_database(pg_cluster)
    flipped = _rewrite(path, tmp_path / "flipped.backup",
                       dump_change=lambda d: d[:5000] + bytes([d[5000] ^ 0xFF]) + d[5001:])
    line = _one_error_line(_cli(target, tmp_path, "db", "restore", flipped, "--commit"))
    assert "damaged or was copied only in part" in line and "SHA-256" in line
    half = tmp_path / "half.backup"
    half.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    line = _one_error_line(_cli(target, tmp_path, "db", "restore", half, "--commit"))
    assert "damaged or was copied only in part" in line
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup")
    assert "no gisgrid backup" in _one_error_line(_cli(target, tmp_path, "db", "restore", junk))
    assert all(t["rows"] == 0 for name, t in _stats(target).items() if name != "alembic_version")
    dispose_engines()


def test_backup_of_a_newer_schema_is_refused_naming_both_versions(demo_backup, pg_cluster, tmp_path):
    path, _ = demo_backup

    def newer(manifest):
        manifest.update(schema_version="0099", gisgrid_version="9.0.0")

    newer_backup = _rewrite(path, tmp_path / "newer.backup", manifest_change=newer)
    line = _one_error_line(_cli(_empty_database(pg_cluster), tmp_path, "db", "restore", newer_backup))
    assert "schema version 0099" in line and "gisgrid 9.0.0" in line and f"schema version {head_revision()}" in line
    dispose_engines()


def test_restore_refuses_a_database_with_rows(demo_backup, demo_url, tmp_path):
    path, _ = demo_backup
    before = _stats(demo_url)
    line = _one_error_line(_cli(demo_url, tmp_path, "db", "restore", path, "--commit"))
    assert "is not empty" in line and "employer (20000 rows)" in line
    assert "gisgrid db reset --commit" in line and "a new database" in line
    assert _stats(demo_url) == before
    dispose_engines()
