"""Settings from ``GISGRID_*`` environment variables.

This module is the only reader of ``os.environ`` in gisgrid: everything else
receives a :class:`Settings` object.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from gisgrid.errors import ConfigError
from gisgrid.labels import KIND_LABELS, ROLE_LABELS

BASEMAPS = ("none", "osm", "tianditu", "mbtiles:/path/city.mbtiles")
# Chinese commercial basemaps are in GCJ-02: our CGCS2000 data would sit 300–700 m off.
GCJ02_BASEMAPS = ("gaode", "amap", "autonavi", "baidu", "bmap", "tencent", "qq")
# Above this many employers a page would move more than ~0.4 MB of GeoJSON (≈ 385 bytes each):
# vector tiles instead (issue 15: a page ≤ 1.5 MB in all).
DEFAULT_MAP_TILES_ABOVE = 1_000
DEFAULT_DB_PORT = 55432
#: DOMAIN.md: the register is refreshed at least every half year.
DEFAULT_STALE_MONTHS = 6
#: Integrity grade schemes: A/B/C (人社部规〔2016〕1号) or A–D (older local schemes).
GRADE_SCHEMES = ("ABC", "ABCD")
#: GISGRID_CSP: enforce the Content-Security-Policy, only report violations, or send none.
CSP_MODES = ("on", "report-only", "off")
#: GISGRID_MAX_UPLOAD_MB: the largest request body the web app reads (413 above it).
DEFAULT_MAX_UPLOAD_MB = 2.0
#: GISGRID_MAX_EDIT_VERTICES: the most vertices one edit geometry posted to the grid editor may have.
DEFAULT_MAX_EDIT_VERTICES = 20_000
#: Host names always trusted besides the serve address (GISGRID_TRUSTED_HOSTS unset).
DEFAULT_TRUSTED_HOSTS = ("localhost", "127.0.0.1", "::1")
#: GISGRID_STAFF_MINIMUMS unset (DOMAIN.md 四定): a street/town/park needs at least 2 inspectors
#: (专职 or 兼职; ≥ 2 per grid in Chengdu, and investigations need 2 — 条例 art. 16); a
#: community/village 1–3 coordinators (协管员). Both are local numbers: settings, not constants.
DEFAULT_STAFF_MINIMUMS = "street/town/township/park:2:full_time+part_time,community/village:1-3:coordinator"
#: GISGRID_EMPLOYERS_PER_COORDINATOR unset: Hangzhou's one coordinator per grid of 200 employers.
DEFAULT_EMPLOYERS_PER_COORDINATOR = 200
#: Grid kinds a staffing rule may name and the staff roles it may count.
_GRID_KINDS = tuple(KIND_LABELS)
_STAFF_ROLES = ROLE_LABELS


@dataclass(frozen=True)
class StaffingRule:
    """How many staff in force one grid of some kinds or levels needs (四定 配备标准).

    ``kinds`` are grid kinds (street, community …) and ``levels`` grid levels the rule
    applies to; only staff whose role is in ``roles`` count; ``maximum`` None: no upper limit.
    """

    kinds: tuple[str, ...]
    levels: tuple[int, ...]
    minimum: int
    maximum: int | None
    roles: tuple[str, ...]

    def describe(self) -> str:
        """Chinese, e.g. "兼职监察员/专职监察员 ≥ 2" or "协管员 1–3 人"."""
        who = "/".join(_STAFF_ROLES[r] for r in self.roles)
        if self.maximum is None:
            return f"{who} ≥ {self.minimum} 人"
        if self.maximum == self.minimum:
            return f"{who} {self.minimum} 人"
        return f"{who} {self.minimum}–{self.maximum} 人"


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of one gisgrid process.

    ``staff_minimums`` (``GISGRID_STAFF_MINIMUMS``): the 四定 staffing standard, comma-separated
    rules ``WHERE:MIN[-MAX][:ROLES]``. ``WHERE`` is one or more grid kinds (street, town,
    township, park, community, village, district, city, grid) or levels (``level2``) joined by
    ``/``; ``MIN-MAX`` the staff in force a grid needs (``2`` = at least 2, ``1-3`` = 1 to 3);
    ``ROLES`` the staff roles counted, joined by ``+`` (full_time, part_time, coordinator;
    default all three). A grid takes the rule naming its kind, else the one naming its level,
    else none (no standard, never marked). Default :data:`DEFAULT_STAFF_MINIMUMS`:
    ``street/town/township/park:2:full_time+part_time,community/village:1-3:coordinator``;
    ``none`` switches the standard off.
    """

    home: Path
    database_url: str | None = None
    #: The web app's own non-privileged role on an external database (GISGRID_WEB_DATABASE_URL).
    web_database_url: str | None = None
    db_port: int = DEFAULT_DB_PORT
    pg_bindir: Path | None = None
    secret_key: str | None = None
    basemap: str = "none"
    #: the MBTiles file of GISGRID_BASEMAP=mbtiles:PATH (served at /basemap/{z}/{x}/{y})
    basemap_path: Path | None = None
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
    #: Heavy exports one client may have queued or running at once (GISGRID_EXPORT_JOBS_PER_CLIENT).
    export_jobs_per_client: int = 2
    #: Finished export results kept per kind; older ones are deleted (GISGRID_EXPORT_RESULTS_KEPT).
    export_results_kept: int = 5
    #: Largest request body in MB (GISGRID_MAX_UPLOAD_MB); larger ones answer 413.
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    #: Most vertices of one geometry posted to the grid editor (GISGRID_MAX_EDIT_VERTICES).
    max_edit_vertices: int = DEFAULT_MAX_EDIT_VERTICES
    #: Host names the web app answers to (GISGRID_TRUSTED_HOSTS); None: the serve address,
    #: localhost, 127.0.0.1 and ::1 (see gisgrid.web.trusted_hosts).
    trusted_hosts: tuple[str, ...] | None = None
    #: Served over HTTPS (GISGRID_HTTPS=1): cookies Secure and ``__Host-`` prefixed.
    https: bool = False
    #: Minutes without a request before a login session ends (GISGRID_SESSION_IDLE_MINUTES).
    session_idle_minutes: int = 30
    #: Hours after login when a session ends whatever happens (GISGRID_SESSION_HOURS).
    session_hours: int = 12
    #: Password of the demo accounts (GISGRID_DEMO_PASSWORD); None: generated once.
    demo_password: str | None = None
    #: The 四定 staffing standard per grid kind/level (GISGRID_STAFF_MINIMUMS; see above).
    staff_minimums: tuple[StaffingRule, ...] = field(
        default_factory=lambda: parse_staff_minimums(DEFAULT_STAFF_MINIMUMS))
    #: Employers one coordinator (协管员) can serve before a grid is over capacity
    #: (GISGRID_EMPLOYERS_PER_COORDINATOR; Hangzhou: one coordinator per 200 employers).
    employers_per_coordinator: int = DEFAULT_EMPLOYERS_PER_COORDINATOR
    #: Target employers per grid by level (GISGRID_BALANCE_TARGETS, e.g. ``3:150,2:3000``);
    #: a level without one is measured against the mean of the grid and its siblings.
    balance_targets: dict[int, int] = field(default_factory=dict)
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
    raw_basemap = env.get("GISGRID_BASEMAP", "none").strip()
    basemap = raw_basemap.lower() or "none"
    basemap_path = None
    if basemap.startswith("mbtiles:"):
        from gisgrid.maps.mbtiles import MBTilesError, read_info

        try:
            basemap_path = read_info(Path(raw_basemap[len("mbtiles:"):].strip())).path
        except MBTilesError as exc:
            raise ConfigError(f"GISGRID_BASEMAP: {exc}") from None
        basemap = "mbtiles"
    if basemap in GCJ02_BASEMAPS:
        raise ConfigError(
            f"GISGRID_BASEMAP was {basemap!r}: that basemap is in GCJ-02 and gisgrid's data is "
            f"CGCS2000 (EPSG:4490), so every grid and employer would be drawn 300–700 m off; "
            f"use one of {', '.join(BASEMAPS)} (tianditu is CGCS2000)"
        )
    if basemap not in BASEMAPS and basemap != "mbtiles":
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
        basemap_path=basemap_path,
        tianditu_key=env.get("GISGRID_TIANDITU_KEY") or None,
        city_name=env.get("GISGRID_CITY_NAME", "示范市"),
        issuer=env.get("GISGRID_ISSUER", "示范市人力资源和社会保障局"),
        map_tiles_above=_count("GISGRID_MAP_TILES_ABOVE", env.get("GISGRID_MAP_TILES_ABOVE")),
        stale_months=_months(env.get("GISGRID_STALE_MONTHS")),
        grade_scheme=_grade_scheme(env.get("GISGRID_GRADE_SCHEME")),
        csp=_csp_mode(env.get("GISGRID_CSP")),
        export_jobs_per_client=_whole("GISGRID_EXPORT_JOBS_PER_CLIENT", env.get("GISGRID_EXPORT_JOBS_PER_CLIENT"), 2, 1, 100),
        export_results_kept=_whole("GISGRID_EXPORT_RESULTS_KEPT", env.get("GISGRID_EXPORT_RESULTS_KEPT"), 5, 1, 1000),
        max_upload_mb=_upload_mb(env.get("GISGRID_MAX_UPLOAD_MB")),
        max_edit_vertices=_edit_vertices(env.get("GISGRID_MAX_EDIT_VERTICES")),
        trusted_hosts=_trusted_hosts(env.get("GISGRID_TRUSTED_HOSTS")),
        https=_flag("GISGRID_HTTPS", env.get("GISGRID_HTTPS")),
        session_idle_minutes=_whole("GISGRID_SESSION_IDLE_MINUTES", env.get("GISGRID_SESSION_IDLE_MINUTES"),
                                    30, 1, 24 * 60),
        session_hours=_whole("GISGRID_SESSION_HOURS", env.get("GISGRID_SESSION_HOURS"), 12, 1, 24 * 7),
        demo_password=env.get("GISGRID_DEMO_PASSWORD") or None,
        staff_minimums=parse_staff_minimums(env.get("GISGRID_STAFF_MINIMUMS")),
        employers_per_coordinator=_whole("GISGRID_EMPLOYERS_PER_COORDINATOR",
                                         env.get("GISGRID_EMPLOYERS_PER_COORDINATOR"),
                                         DEFAULT_EMPLOYERS_PER_COORDINATOR, 1, 1_000_000),
        balance_targets=parse_balance_targets(env.get("GISGRID_BALANCE_TARGETS")),
    )


def parse_balance_targets(raw: str | None, name: str = "GISGRID_BALANCE_TARGETS") -> dict[int, int]:
    """Target employers per grid by level: ``LEVEL:N`` items, comma-separated (``level3:150`` too).

    >>> parse_balance_targets("3:150, level2:3000")
    {3: 150, 2: 3000}
    """
    targets: dict[int, int] = {}
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        level, _, count = item.strip().lower().removeprefix("level").partition(":")
        if not (level.strip().isdigit() and count.strip().isdigit() and 1 <= int(level) <= 6
                and int(count) > 0):
            raise ConfigError(f"{name} had {item.strip()!r}; expected LEVEL:EMPLOYERS items, comma-separated, "
                              "with a level 1-6 and a whole number above 0 (e.g. 3:150,2:3000)")
        targets[int(level)] = int(count)
    return targets


def parse_staff_minimums(raw: str | None, name: str = "GISGRID_STAFF_MINIMUMS") -> tuple[StaffingRule, ...]:
    """The staffing rules of a ``GISGRID_STAFF_MINIMUMS`` value (unset or empty: the default).

    Examples
    --------
    >>> [(r.kinds, r.minimum, r.maximum, r.roles) for r in parse_staff_minimums("street:2,level3:1-3:coordinator")]
    [(('street',), 2, None, ('full_time', 'part_time', 'coordinator')), ((), 1, 3, ('coordinator',))]
    >>> parse_staff_minimums("none")
    ()
    """
    if raw is None or not raw.strip():
        raw = DEFAULT_STAFF_MINIMUMS
    if raw.strip().lower() in ("none", "off", "0"):
        return ()
    rules, seen = [], set()
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        rule = _staffing_rule(name, raw, item)
        for key in (*rule.kinds, *(f"level{n}" for n in rule.levels)):
            if key in seen:
                raise ConfigError(f"{name} names {key!r} twice (in {raw!r}); give each grid kind or level one rule")
            seen.add(key)
        rules.append(rule)
    return tuple(rules)


def _staffing_rule(name: str, raw: str, item: str) -> StaffingRule:
    shape = ("expected rules WHERE:MIN[-MAX][:ROLES] separated by commas, e.g. "
             "street/town:2:full_time+part_time,community/village:1-3:coordinator")
    parts = [p.strip() for p in item.split(":")]
    if len(parts) not in (2, 3) or not parts[0]:
        raise ConfigError(f"{name} had {item!r} (in {raw!r}); {shape}")
    kinds, levels = [], []
    for where in (w.strip().lower() for w in parts[0].split("/")):
        level = re.fullmatch(r"(?:level|l)([1-6])", where)
        if level:
            levels.append(int(level.group(1)))
        elif where in _GRID_KINDS:
            kinds.append(where)
        else:
            raise ConfigError(f"{name} had grid kind {where!r} (in {item!r}); expected one of "
                              f"{', '.join(_GRID_KINDS)} or level1-level6")
    numbers = re.fullmatch(r"(\d{1,3})(?:\s*-\s*(\d{1,3}))?", parts[1])
    if not numbers:
        raise ConfigError(f"{name} had {parts[1]!r} as the number of staff (in {item!r}); expected MIN or MIN-MAX, "
                          "e.g. 2 or 1-3")
    minimum = int(numbers.group(1))
    maximum = int(numbers.group(2)) if numbers.group(2) else None
    if maximum is not None and maximum < minimum:
        raise ConfigError(f"{name} had {parts[1]!r} (in {item!r}): the maximum is below the minimum")
    roles = tuple(r.strip().lower() for r in parts[2].split("+")) if len(parts) == 3 else tuple(_STAFF_ROLES)
    bad = [r for r in roles if r not in _STAFF_ROLES]
    if bad or not roles:
        raise ConfigError(f"{name} had role {', '.join(map(repr, bad)) or '(none)'} (in {item!r}); expected "
                          f"{' + '.join(_STAFF_ROLES)} (joined by +)")
    return StaffingRule(tuple(kinds), tuple(levels), minimum, maximum, roles)


def _flag(name: str, raw: str | None) -> bool:
    value = (raw or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} was {raw!r}; expected 1 or 0 (true/false)")


def _upload_mb(raw: str | None) -> float:
    if not raw or not raw.strip():
        return DEFAULT_MAX_UPLOAD_MB
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0.01 <= value <= 1024:  # also refuses NaN
        raise ConfigError(f"GISGRID_MAX_UPLOAD_MB was {raw!r}; expected a number of megabytes 0.01-1024")
    return value


def _edit_vertices(raw: str | None) -> int:
    if not raw or not raw.strip():
        return DEFAULT_MAX_EDIT_VERTICES
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if not 4 <= value <= 10_000_000:
        raise ConfigError(f"GISGRID_MAX_EDIT_VERTICES was {raw!r}; expected a whole number 4-10000000")
    return value


def _trusted_hosts(raw: str | None) -> tuple[str, ...] | None:
    if raw is None or not raw.strip():
        return None
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    bad = [h for h in hosts if not re.fullmatch(r"\.?[a-z0-9.-]+|\[?[0-9a-f:.]+\]?", h) or h in (".", "*")]
    if bad:
        raise ConfigError(f"GISGRID_TRUSTED_HOSTS had {', '.join(map(repr, bad))}; expected comma-separated "
                          "host names or addresses without port (e.g. grid.example.gov.cn,10.0.0.5,::1; "
                          "a leading dot allows subdomains)")
    return hosts


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


def _whole(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if not raw or not raw.strip():
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{name} was {raw!r}; expected a whole number {low}-{high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} was {value}; expected a whole number {low}-{high}")
    return value


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
