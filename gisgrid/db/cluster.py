"""The private local PostgreSQL + PostGIS cluster that gisgrid manages itself.

With no ``GISGRID_DATABASE_URL`` gisgrid keeps a cluster under ``GISGRID_HOME``:
``pgdata/`` (the data directory), ``log/postgresql.log``, ``db-password`` (the owner
account ``gisgrid``) and ``db-web-password`` (the web app's role ``gisgrid_web``, see
:mod:`gisgrid.db.roles`); the log and the password files are created 0600.
The server listens on 127.0.0.1 only, on ``GISGRID_DB_PORT``, with password
authentication; it has no Unix socket, so an ordinary user needs no write access
to ``/var/run/postgresql``. PostgreSQL refuses to run as root, so when gisgrid is
run as root the server runs as the ``postgres`` system user (``runuser``).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from gisgrid import clock
from gisgrid.config import Settings
from gisgrid.db.roles import WEB_ROLE
from gisgrid.errors import DatabaseError

DB_NAME = "gisgrid"
DB_USER = "gisgrid"
SERVER_PACKAGE_HINT = "apt-get install postgresql-15 postgresql-15-postgis-3"

# Settings written into postgresql.conf at initdb. JIT and parallel start-up cost
# ≥ 50 ms per small query (map tiles, single lookups) and buy nothing for our
# set-based joins on two cores (ECOSYSTEM.md, tile traps).
SERVER_CONF = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "shared_buffers": "'256MB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'256MB'",
    "max_wal_size": "'2GB'",
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    "timezone": f"'{clock.ZONE_NAME}'",
    "log_timezone": f"'{clock.ZONE_NAME}'",
    # The log keeps no employer data: no statement text (psycopg2 binds values into it)
    # and no DETAIL lines ("Failing row contains (…)") after an error.
    "log_min_error_statement": "panic",
    "log_error_verbosity": "terse",
}


@dataclass(frozen=True)
class ClusterStatus:
    """What ``gisgrid db status`` shows: URLs without passwords, and where the passwords are."""

    running: bool
    initialised: bool
    url: str
    datadir: Path
    port: int
    version: str | None
    password_file: Path | None = None
    web_url: str | None = None
    web_password_file: Path | None = None

    def as_dict(self) -> dict:
        return {
            "running": self.running,
            "initialised": self.initialised,
            "managed": True,
            "url": self.url,
            "password_file": str(self.password_file) if self.password_file else None,
            "web_url": self.web_url,
            "web_password_file": str(self.web_password_file) if self.web_password_file else None,
            "datadir": str(self.datadir),
            "port": self.port,
            "version": self.version,
        }


class LocalCluster:
    """A private PostgreSQL cluster in ``settings.home``."""

    def __init__(self, settings: Settings, extra_conf: dict[str, str] | None = None):
        self.home = settings.home
        self.datadir = self.home / "pgdata"
        self.logfile = self.home / "log" / "postgresql.log"
        self.password_file = self.home / "db-password"
        self.web_password_file = self.home / "db-web-password"
        self.port = settings.db_port
        self.explicit_bindir = settings.pg_bindir
        self.extra_conf = extra_conf or {}
        self._bindir: Path | None = None

    # -- public operations -------------------------------------------------
    @property
    def url(self) -> str:
        """The owner's URL, password included (for engines; never printed)."""
        return self._role_url(DB_USER, self._password(), DB_NAME)

    @property
    def public_url(self) -> str:
        """The owner's URL without the password (it is in :attr:`password_file`)."""
        return self._role_url(DB_USER, "", DB_NAME)

    @property
    def web_url(self) -> str:
        """The web role's URL, password included (for the web app's engine; never printed)."""
        return self.web_url_for(DB_NAME)

    def web_url_for(self, database: str) -> str:
        """The web role's URL for another database of this cluster (tests)."""
        password = self.web_password_file.read_text().strip() if self.web_password_file.exists() else ""
        return self._role_url(WEB_ROLE, password, database)

    def ensure_web_password(self) -> tuple[str, bool]:
        """The web role's password, generated into a 0600 file the first time; (password, new)."""
        if self.web_password_file.exists():
            return self.web_password_file.read_text().strip(), False
        self.home.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        write_secret(self.web_password_file, password + "\n")
        return password, True

    def status(self) -> ClusterStatus:
        """Whether the cluster exists and runs; never starts anything."""
        initialised = (self.datadir / "PG_VERSION").exists()
        running = initialised and self._pg_ctl_status() == 0
        version = (self.datadir / "PG_VERSION").read_text().strip() if initialised else None
        return ClusterStatus(
            running, initialised, self.public_url, self.datadir, self.port, version,
            password_file=self.password_file,
            web_url=self._role_url(WEB_ROLE, "", DB_NAME), web_password_file=self.web_password_file,
        )

    def _role_url(self, user: str, password: str, database: str) -> str:
        auth = f"{user}:{password}@" if password else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{database}"

    def up(self) -> list[str]:
        """Initialise (first time) and start the cluster; return what was done."""
        done: list[str] = []
        if not (self.datadir / "PG_VERSION").exists():
            self._initdb()
            done.append(f"initialised a PostgreSQL {self.server_major()} cluster in {self.datadir}")
        self._check_version()
        if self._pg_ctl_status() != 0:
            self._start()
            done.append(f"started the server on 127.0.0.1:{self.port}")
        if self._ensure_database():
            done.append(f"created database {DB_NAME!r}")
        return done

    def down(self) -> bool:
        """Stop the server if it runs; return whether it was running."""
        if not (self.datadir / "PG_VERSION").exists() or self._pg_ctl_status() != 0:
            return False
        self._run([self._bin("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"])
        return True

    def drop_database(self) -> None:
        """Drop and re-create the gisgrid database (used by ``gisgrid db reset``)."""
        self.up()
        self._psql("postgres", f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        self._ensure_database()

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create another database in this cluster (tests); return its URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise DatabaseError(f"database name was {name!r}; expected lower-case letters, digits, _")
        clause = f' TEMPLATE "{template}"' if template else ""
        self._psql("postgres", f'CREATE DATABASE "{name}"{clause}')
        return self.url.rsplit("/", 1)[0] + "/" + name

    # -- binaries -----------------------------------------------------------
    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir(self.explicit_bindir)
        return self._bindir

    def _bin(self, name: str) -> str:
        return str(self.bindir / name)

    def server_major(self) -> str:
        out = subprocess.run([self._bin("postgres"), "--version"], capture_output=True, text=True)
        match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
        if not match:
            raise DatabaseError(f"could not read the server version from {out.stdout!r}")
        return match.group(1)

    # -- steps --------------------------------------------------------------
    def _initdb(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700 if not _as_root() else 0o711)
        self.datadir.mkdir(mode=0o700, exist_ok=True)
        self.logfile.parent.mkdir(mode=0o700, exist_ok=True)
        password = secrets.token_urlsafe(24)
        write_secret(self.password_file, password + "\n")
        pwfile = self.datadir.parent / ".initdb-pw"
        write_secret(pwfile, password + "\n")
        if _as_root():
            _grant_traverse(self.home)
            for path in (self.datadir, self.logfile.parent, pwfile):
                shutil.chown(path, "postgres", "postgres")
        try:
            self._run([
                self._bin("initdb"), "-D", str(self.datadir), "-U", DB_USER, "--pwfile", str(pwfile),
                "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                "--locale=C.UTF-8", "--no-instructions",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        conf = {**SERVER_CONF, "port": str(self.port), **self.extra_conf}
        with open(self.datadir / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write("\n# written by gisgrid\n")
            fh.writelines(f"{key} = {value}\n" for key, value in conf.items())

    def _check_version(self) -> None:
        data_version = (self.datadir / "PG_VERSION").read_text().strip()
        server = self.server_major()
        if data_version != server:
            raise DatabaseError(
                f"data directory {self.datadir} was made by PostgreSQL {data_version}, but the server "
                f"binaries in {self.bindir} are PostgreSQL {server}; set GISGRID_PG_BINDIR to the "
                f"PostgreSQL {data_version} binaries, or move the directory away and run `gisgrid db up`"
            )

    def _start(self) -> None:
        if not port_is_free(self.port):
            raise DatabaseError(
                f"port {self.port} on 127.0.0.1 is in use by another program; "
                "set GISGRID_DB_PORT to a free port"
            )
        self._create_logfile()
        self._run([
            self._bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
            "-o", f"-p {self.port}", "-w", "-t", "60", "start",
        ], what="start the PostgreSQL server")

    def _create_logfile(self) -> None:
        """The server log, 0600 before pg_ctl appends to it: errors may name employer data."""
        self.logfile.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(self.logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        os.chmod(self.logfile, 0o600)
        if _as_root():
            shutil.chown(self.logfile, "postgres", "postgres")

    def _ensure_database(self) -> bool:
        exists = self._psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'")
        if exists.strip() == "1":
            return False
        self._psql("postgres", f'CREATE DATABASE "{DB_NAME}"')
        return True

    def _pg_ctl_status(self) -> int:
        proc = subprocess.run(
            self._as_server([self._bin("pg_ctl"), "-D", str(self.datadir), "status"]),
            capture_output=True, text=True,
        )
        return proc.returncode

    def _psql(self, database: str, sql: str) -> str:
        for attempt in range(50):
            proc = subprocess.run(
                self._as_server([
                    self._bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                    "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER, "-d", database, "-c", sql,
                ]),
                capture_output=True, text=True, env={**os.environ, "PGPASSFILE": "/dev/null",
                                                     "PGPASSWORD": self._password()},
            )
            if proc.returncode == 0:
                return proc.stdout
            if "the database system is starting up" not in proc.stderr:
                break
            time.sleep(0.1 * (attempt + 1))
        raise DatabaseError(f"psql failed on {sql.split()[0]} …: {proc.stderr.strip()}")

    def _password(self) -> str:
        return self.password_file.read_text().strip() if self.password_file.exists() else ""

    def _as_server(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if _as_root() else argv

    def _run(self, argv: list[str], what: str | None = None) -> None:
        proc = subprocess.run(self._as_server(argv), capture_output=True, text=True)
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            tail = self._log_tail()
            reason = detail[-1] if detail else "no output"
            raise DatabaseError(
                f"could not {what or Path(argv[0]).name}: {reason}"
                + (f" (server log: {tail})" if tail else "")
            )

    def _log_tail(self) -> str:
        try:
            lines = [ln for ln in self.logfile.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        errors = [ln for ln in lines if "FATAL" in ln or "ERROR" in ln]
        return (errors or lines or [""])[-1][-300:]


def find_bindir(explicit: Path | None = None) -> Path:
    """Locate the PostgreSQL server binaries (newest version first).

    Raises
    ------
    DatabaseError
        When no ``pg_ctl`` is found, naming the Debian package to install.
    """
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += [Path(p) for p in found]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        if out:
            candidates.append(Path(out))
    which = shutil.which("pg_ctl")
    if which:
        candidates.append(Path(which).resolve().parent)
    for path in candidates:
        if (path / "pg_ctl").exists() and (path / "postgres").exists() and (path / "initdb").exists():
            return path
    if explicit:
        raise DatabaseError(f"GISGRID_PG_BINDIR is {explicit}, which has no pg_ctl/postgres/initdb")
    raise DatabaseError(
        "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); "
        f"install them with: {SERVER_PACKAGE_HINT}"
    )


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a file that only its owner can read (0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _version_key(path: str) -> float:
    match = re.search(r"/postgresql/(\d+(?:\.\d+)?)/", path)
    return float(match.group(1)) if match else 0.0


def _as_root() -> bool:
    return os.geteuid() == 0


def _grant_traverse(path: Path) -> None:
    """Let the ``postgres`` user reach ``path`` (as root, e.g. under /root).

    Adds only the execute (search) bit for others on ancestors that lack it:
    nothing becomes listable or readable.
    """
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise DatabaseError(
            "running as root needs the 'postgres' system user to run the server; "
            f"install the server package: {SERVER_PACKAGE_HINT}"
        ) from None
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, mode | stat.S_IXOTH)
