"""Backups of the gisgrid database: ``gisgrid db backup`` and ``gisgrid db restore``.

A backup is one uncompressed tar file holding two members:

- ``manifest.json`` — format and gisgrid version, the time (UTC), the Alembic schema
  version, the server and PostGIS versions, the dump's size and SHA-256, and per
  table its row count and a content checksum;
- ``dump.pgcustom`` — ``pg_dump --format=custom`` of the whole database (already
  compressed).

The manifest's counts and checksums are taken in the same snapshot as the dump
(``pg_export_snapshot`` + ``pg_dump --snapshot``), so a restore can be checked
against them table by table. The file is written 0600 (it holds employer data)
under a temporary name and renamed into place when complete.

A restore verifies the checksum, refuses a schema version this gisgrid does not
know and a target database whose gisgrid tables hold rows, then runs
``pg_restore --single-transaction --no-owner --no-privileges`` (nothing is left
half-restored), checks the restored tables against the manifest, applies later
migrations and grants the web role again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gisgrid.config import Settings
from gisgrid.errors import DatabaseError, InputError

FORMAT = "gisgrid-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = "dump.pgcustom"
_CHUNK = 1 << 20

# Text forms that depend on session settings are pinned, so a checksum taken here
# and one taken after a restore elsewhere compare the same values.
_STABLE_TEXT = (
    "SET LOCAL TimeZone = 'UTC'", "SET LOCAL DateStyle = 'ISO, YMD'", "SET LOCAL IntervalStyle = 'postgres'",
    "SET LOCAL extra_float_digits = 1", "SET LOCAL bytea_output = 'hex'",
)

_TABLES = """
SELECT c.relname, format('%I.%I', n.nspname, c.relname) AS qualified
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relpersistence = 'p'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""

# Order-independent: the sum of two 64-bit halves of each row's md5, so no primary
# key, sort or string aggregate of the whole table is needed.
_TABLE_STATS = """
SELECT count(*) AS rows,
       md5(coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0)::text || ':' ||
           coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0)::text) AS checksum
FROM (SELECT md5(t::text) AS h FROM {table} t) s
"""


def table_stats(conn) -> dict[str, dict]:
    """Row count and content checksum of every gisgrid table (in the connection's transaction)."""
    for statement in _STABLE_TEXT:
        conn.execute(sa.text(statement))
    stats = {}
    for name, qualified in conn.execute(sa.text(_TABLES)).all():
        row = conn.execute(sa.text(_TABLE_STATS.format(table=qualified))).mappings().one()
        stats[name] = {"rows": int(row["rows"]), "checksum": row["checksum"]}
    return stats


def backup_database(settings: Settings, engine: Engine, path: Path, force: bool = False) -> dict:
    """Write a backup of the database behind ``engine`` to ``path``; return its manifest.

    Raises
    ------
    InputError
        When ``path`` exists (without ``force``) or its folder does not.
    DatabaseError
        When ``pg_dump`` is missing or fails.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"backup path {path} is a directory; expected a file name such as {path / 'gisgrid.backup'}")
    if path.exists() and not force:
        raise InputError(f"backup file {path} exists; give another path, or --force to replace it")
    if not path.parent.is_dir():
        raise InputError(f"folder {path.parent} of the backup file does not exist")
    pg_dump = client_tool(settings, "pg_dump")
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".gisgrid-backup-") as tmp:
        dump = Path(tmp) / DUMP
        # One snapshot for the manifest's counts and the dump; held open while pg_dump runs.
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar()
            manifest = _describe(conn)
            _run_tool(engine, [pg_dump, "--format=custom", f"--snapshot={snapshot}", "--file", str(dump),
                               "--dbname", "{url}"], "pg_dump")
        os.chmod(dump, 0o600)
        manifest["dump"] = {"file": DUMP, "bytes": dump.stat().st_size, "sha256": _sha256_file(dump)}
        partial = Path(tmp) / "backup.tar"
        _write_bundle(partial, manifest, dump)
        os.replace(partial, path)
    return manifest


def read_backup(path: Path) -> dict:
    """The manifest of the backup at ``path``, after checking the dump against its SHA-256.

    Raises
    ------
    InputError
        One line for a file that is no gisgrid backup, is damaged or incomplete.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"backup file {path} does not exist")
    with _open_bundle(path) as bundle:
        manifest = _manifest(path, bundle)
        digest = hashlib.sha256()
        _copy_dump(path, bundle, manifest, digest.update)
    _check_digest(path, manifest, digest.hexdigest())
    return manifest


def check_schema_version(path: Path, manifest: dict) -> None:
    """Refuse a backup made with a schema version this gisgrid does not know (a newer gisgrid)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from gisgrid.db.migrate import alembic_config, head_revision

    revision = manifest.get("schema_version")
    try:
        known = revision is None or ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise InputError(
            f"backup {path} has schema version {revision} (made by gisgrid {manifest.get('gisgrid_version')}), "
            f"newer than this gisgrid {gisgrid_version()} knows (schema version {head_revision()}); "
            f"restore it with gisgrid {manifest.get('gisgrid_version')} or later"
        )


def rows_in_target(engine: Engine) -> dict[str, int]:
    """gisgrid tables of the target that hold rows (``alembic_version`` aside)."""
    with engine.connect() as conn:
        tables = conn.execute(sa.text(_TABLES)).all()
        counts = {}
        for name, qualified in tables:
            if name == "alembic_version":
                continue
            if conn.execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM {qualified})")).scalar():
                counts[name] = conn.execute(sa.text(f"SELECT count(*) FROM {qualified}")).scalar()
    return counts


def restore_database(settings: Settings, engine: Engine, path: Path, commit: bool = False) -> dict:
    """Restore the backup at ``path`` into the empty database behind ``engine``.

    Without ``commit`` only checks and says what would be restored. Returns a report:
    ``backup`` (the manifest without the tables), ``tables`` (rows per table),
    ``committed`` and, after a restore, ``verified`` (every table's rows and checksum
    equal the manifest's).
    """
    path = Path(path)
    manifest = read_backup(path)
    check_schema_version(path, manifest)
    filled = rows_in_target(engine)
    if filled:
        listed = ", ".join(f"{name} ({count} rows)" for name, count in list(filled.items())[:5])
        raise InputError(
            f"the target database {_safe(engine)} is not empty: {listed}; restore only into an empty database: "
            "`gisgrid db reset --commit` (private cluster) or a new database (GISGRID_DATABASE_URL)"
        )
    report = {
        "backup": {key: value for key, value in manifest.items() if key != "tables"},
        "target": _safe(engine),
        "tables": {name: table["rows"] for name, table in manifest["tables"].items()},
        "committed": False,
    }
    if not commit:
        return report
    pg_restore = client_tool(settings, "pg_restore")
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home, prefix=".restore-") as tmp:
        dump = Path(tmp) / DUMP
        digest = hashlib.sha256()
        with _open_bundle(path) as bundle, open(os.open(dump, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as out:
            _copy_dump(path, bundle, manifest, lambda chunk: (digest.update(chunk), out.write(chunk)))
        _check_digest(path, manifest, digest.hexdigest())
        listing = Path(tmp) / "toc.list"
        listing.write_text(_restorable_toc(engine, pg_restore, dump))
        _make_room(engine, manifest.get("schema_version"))
        _run_tool(engine, [pg_restore, "--single-transaction", "--exit-on-error", "--no-owner",
                           "--no-privileges", "--clean", "--if-exists", "--use-list", str(listing),
                           "--dbname", "{url}", str(dump)], "pg_restore")
    with engine.begin() as conn:
        restored = table_stats(conn)
    differ = [name for name, table in manifest["tables"].items() if restored.get(name) != table]
    if differ:
        raise DatabaseError(f"restored {path}, but these tables differ from its manifest: {', '.join(differ)}")
    report.update(committed=True, verified=True)
    return report


def gisgrid_version() -> str:
    try:
        return version("gisgrid")
    except PackageNotFoundError:  # a checkout without an installed distribution
        return "unknown"


def client_tool(settings: Settings, name: str) -> str:
    """``pg_dump``/``pg_restore``: the private cluster's binaries, else GISGRID_PG_BINDIR, the newest installed, PATH."""
    from gisgrid.db.cluster import SERVER_PACKAGE_HINT, find_bindir

    candidates = []
    if settings.pg_bindir:
        candidates.append(Path(settings.pg_bindir) / name)
    try:
        candidates.append(find_bindir(settings.pg_bindir) / name)
    except DatabaseError:
        pass
    which = shutil.which(name)
    if which:
        candidates.append(Path(which))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise DatabaseError(f"{name} not found (GISGRID_PG_BINDIR, /usr/lib/postgresql/*/bin, PATH); "
                        f"install the PostgreSQL client: {SERVER_PACKAGE_HINT}")


# -- internals -----------------------------------------------------------------

def _describe(conn) -> dict:
    from alembic.runtime.migration import MigrationContext

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "gisgrid_version": gisgrid_version(),
        "schema_version": MigrationContext.configure(conn).get_current_revision(),
        "database": conn.execute(sa.text("SELECT current_database()")).scalar(),
        "server_version": conn.execute(sa.text("SHOW server_version")).scalar(),
        "postgis_version": conn.execute(sa.text(
            "SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar(),
        "tables": table_stats(conn),
    }


def _write_bundle(target: Path, manifest: dict, dump: Path) -> None:
    body = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(body), 0o600, int(dt.datetime.now().timestamp())
        tar.addfile(info, io.BytesIO(body))
        tar.add(dump, arcname=DUMP)
        fh.flush()
        os.fsync(fh.fileno())


def _open_bundle(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"{path} is no gisgrid backup or is damaged ({exc}); expected the tar file "
                         "`gisgrid db backup` writes") from None


def _manifest(path: Path, bundle: tarfile.TarFile) -> dict:
    try:
        member = bundle.extractfile(MANIFEST)
        manifest = json.loads(member.read().decode("utf-8"))
    except KeyError:
        raise InputError(f"{path} is no gisgrid backup: it has no {MANIFEST}") from None
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is damaged or was copied only in part ({exc}); copy the backup again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{path} is no gisgrid backup: its {MANIFEST} is not a {FORMAT} manifest")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise InputError(f"{path} is a backup of format {manifest['format_version']}; this gisgrid reads "
                         f"format {FORMAT_VERSION}: restore it with a newer gisgrid")
    if not isinstance(manifest.get("dump"), dict) or not isinstance(manifest.get("tables"), dict):
        raise InputError(f"{path}: its {MANIFEST} lacks the dump checksum or the tables")
    return manifest


def _copy_dump(path: Path, bundle: tarfile.TarFile, manifest: dict, sink) -> None:
    try:
        member = bundle.extractfile(DUMP)
        while chunk := member.read(_CHUNK):
            sink(chunk)
    except KeyError:
        raise InputError(f"{path} is incomplete: it has no {DUMP}; copy the backup again") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"{path} is damaged or was copied only in part ({exc}); copy the backup again") from None


def _check_digest(path: Path, manifest: dict, actual: str) -> None:
    expected = manifest["dump"].get("sha256")
    if actual != expected:
        raise InputError(
            f"{path} is damaged or was copied only in part: its dump's SHA-256 is {actual[:16]}…, "
            f"the manifest says {str(expected)[:16]}…; copy the backup again"
        )


def _restorable_toc(engine: Engine, pg_restore: str, dump: Path) -> str:
    """The dump's table of contents without the extensions (made by ensure_postgis, owned by another role)."""
    proc = subprocess.run([pg_restore, "--list", str(dump)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise DatabaseError(f"pg_restore could not read the dump: {_last_line(proc)}")
    kept = []
    for line in proc.stdout.splitlines():
        fields = line.split("; ", 1)[-1].split()
        # "<id>; <catalog> <oid> <desc> <schema> <tag> <owner>": desc EXTENSION, or COMMENT … EXTENSION
        if len(fields) >= 3 and (fields[2] == "EXTENSION" or fields[2:5] == ["COMMENT", "-", "EXTENSION"]):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def _make_room(engine: Engine, revision: str | None) -> None:
    """Bring the (empty) target to the backup's schema version, so ``--clean`` drops exactly the dump's objects."""
    from alembic import command

    from gisgrid.db.migrate import alembic_config, current_revision

    current = current_revision(engine)
    if current is None or current == revision:
        return
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision or "base")


def _run_tool(engine: Engine, argv: list[str], what: str) -> None:
    """Run a libpq client on ``engine``'s database; the password goes by environment, not argv."""
    url = engine.url.set(drivername="postgresql")
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(password=None).render_as_string(hide_password=False)
    argv = [uri if arg == "{url}" else arg for arg in argv]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise DatabaseError(f"{what} failed on {_safe(engine)}: {_last_line(proc)}"
                            + ("; nothing was restored" if what == "pg_restore" else ""))


def _last_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or ["no output"])[0 if errors else -1].strip()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _safe(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=True)
