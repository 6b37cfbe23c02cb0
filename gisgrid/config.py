"""Settings from ``GISGRID_*`` environment variables.

This module is the only reader of ``os.environ`` in gisgrid: everything else
receives a :class:`Settings` object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from gisgrid.errors import ConfigError

BASEMAPS = ("none", "osm", "tianditu")
# Chinese commercial basemaps are in GCJ-02: our CGCS2000 data would sit 300–700 m off.
GCJ02_BASEMAPS = ("gaode", "amap", "autonavi", "baidu", "bmap", "tencent", "qq")
DEFAULT_MAP_TILES_ABOVE = 50_000
DEFAULT_DB_PORT = 55432
#: DOMAIN.md: the register is refreshed at least every half year.
DEFAULT_STALE_MONTHS = 6
#: Integrity grade schemes: A/B/C (人社部规〔2016〕1号) or A–D (older local schemes).
GRADE_SCHEMES = ("ABC", "ABCD")
#: GISGRID_CSP: enforce the Content-Security-Policy, only report violations, or send none.
CSP_MODES = ("on", "report-only", "off")


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of one gisgrid process."""

    home: Path
    database_url: str | None = None
    #: The web app's own non-privileged role on an external database (GISGRID_WEB_DATABASE_URL).
    web_database_url: str | None = None
    db_port: int = DEFAULT_DB_PORT
    pg_bindir: Path | None = None
    secret_key: str | None = None
    basemap: str = "none"
    tianditu_key: str | None = None
    city_name: str = "示范市"
    issuer: str = "示范市人力资源和社会保障局"
    #: Maps draw employers as vector tiles above this many, as clustered GeoJSON below.
    map_tiles_above: int = DEFAULT_MAP_TILES_ABOVE
    #: Employers not surveyed for more than this many months are stale (过期未调查).
    stale_months: int = DEFAULT_STALE_MONTHS
    #: Integrity grades accepted by the register import: "ABC" or "ABCD".
    grade_scheme: str = "ABC"
    #: Content-Security-Policy on pages: "on", "report-only" or "off" (see gisgrid.web.csp).
    csp: str = "on"
    extra: dict = field(default_factory=dict)

    @property
    def managed(self) -> bool:
        """True when gisgrid runs its own private PostGIS cluster."""
        return self.database_url is None

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from ``environ`` (default: the process environment).

    Examples
    --------
    >>> load_settings({"GISGRID_HOME": "/tmp/g", "GISGRID_DB_PORT": "6000"}).db_port
    6000
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("GISGRID_HOME") or Path.home() / ".local/share/gisgrid").expanduser()
    basemap = env.get("GISGRID_BASEMAP", "none").strip().lower() or "none"
    if basemap in GCJ02_BASEMAPS:
        raise ConfigError(
            f"GISGRID_BASEMAP was {basemap!r}: that basemap is in GCJ-02 and gisgrid's data is "
            f"CGCS2000 (EPSG:4490), so every grid and employer would be drawn 300–700 m off; "
            f"use one of {', '.join(BASEMAPS)} (tianditu is CGCS2000)"
        )
    if basemap not in BASEMAPS:
        raise ConfigError(f"GISGRID_BASEMAP was {basemap!r}; expected one of {', '.join(BASEMAPS)}")
    if basemap == "tianditu" and not env.get("GISGRID_TIANDITU_KEY"):
        raise ConfigError("GISGRID_BASEMAP is 'tianditu' but GISGRID_TIANDITU_KEY is not set")
    bindir = env.get("GISGRID_PG_BINDIR")
    if env.get("GISGRID_WEB_DATABASE_URL") and not env.get("GISGRID_DATABASE_URL"):
        raise ConfigError(
            "GISGRID_WEB_DATABASE_URL is set but GISGRID_DATABASE_URL is not: the private cluster makes "
            "its own web role; unset GISGRID_WEB_DATABASE_URL, or set both for an external database"
        )
    return Settings(
        home=home.resolve(),
        database_url=env.get("GISGRID_DATABASE_URL") or None,
        web_database_url=env.get("GISGRID_WEB_DATABASE_URL") or None,
        db_port=_port(env.get("GISGRID_DB_PORT")),
        pg_bindir=Path(bindir) if bindir else None,
        secret_key=env.get("GISGRID_SECRET_KEY") or None,
        basemap=basemap,
        tianditu_key=env.get("GISGRID_TIANDITU_KEY") or None,
        city_name=env.get("GISGRID_CITY_NAME", "示范市"),
        issuer=env.get("GISGRID_ISSUER", "示范市人力资源和社会保障局"),
        map_tiles_above=_count("GISGRID_MAP_TILES_ABOVE", env.get("GISGRID_MAP_TILES_ABOVE")),
        stale_months=_months(env.get("GISGRID_STALE_MONTHS")),
        grade_scheme=_grade_scheme(env.get("GISGRID_GRADE_SCHEME")),
        csp=_csp_mode(env.get("GISGRID_CSP")),
    )


def _csp_mode(raw: str | None) -> str:
    mode = (raw or "").strip().lower() or "on"
    if mode not in CSP_MODES:
        raise ConfigError(
            f"GISGRID_CSP was {raw!r}; expected one of {', '.join(CSP_MODES)} "
            f"(on enforces the Content-Security-Policy, report-only only reports violations)"
        )
    return mode


def _months(raw: str | None) -> int:
    if not raw:
        return DEFAULT_STALE_MONTHS
    try:
        months = int(raw)
    except ValueError:
        raise ConfigError(f"GISGRID_STALE_MONTHS was {raw!r}; expected a whole number of months 1-120") from None
    if not 1 <= months <= 120:
        raise ConfigError(f"GISGRID_STALE_MONTHS was {months}; expected a whole number of months 1-120")
    return months


def _grade_scheme(raw: str | None) -> str:
    scheme = (raw or "ABC").strip().upper().replace("/", "").replace("-", "").replace("–", "")
    if scheme == "AD":
        scheme = "ABCD"
    if scheme not in GRADE_SCHEMES:
        raise ConfigError(f"GISGRID_GRADE_SCHEME was {raw!r}; expected ABC (A/B/C, 人社部规〔2016〕1号) "
                          f"or ABCD (A–D, older local schemes)")
    return scheme


def _count(name: str, raw: str | None) -> int:
    if not raw:
        return DEFAULT_MAP_TILES_ABOVE
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{name} was {raw!r}; expected a whole number ≥ 0") from None
    if value < 0:
        raise ConfigError(f"{name} was {value}; expected a whole number ≥ 0")
    return value


def _port(raw: str | None) -> int:
    if not raw:
        return DEFAULT_DB_PORT
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"GISGRID_DB_PORT was {raw!r}; expected a port number 1024-65535") from None
    if not 1024 <= port <= 65535:
        raise ConfigError(f"GISGRID_DB_PORT was {port}; expected a port number 1024-65535")
    return port
