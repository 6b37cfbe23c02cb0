"""The one date of gisgrid: today in China Standard Time (UTC+8), wherever the server's clock is.

Every "today" — a staff assignment in force, 超期未调查, a visit not in the future, the date
printed on an export, the scope of an inspector — is :func:`today`, never ``date.today()``
(the process's local zone: a server in UTC is eight hours behind the bureau) nor SQL
``current_date`` (the database's zone: an external database may be set to anything).
Queries take the date as a parameter.  China has had one zone without daylight saving
since 1991, so a fixed offset is exact and needs no tz database on the machine.
Tests move the clock by monkeypatching :func:`today`; call it as ``clock.today()``.
"""

from __future__ import annotations

import datetime as dt

#: China Standard Time; the private cluster runs in the same zone (gisgrid.db.cluster).
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
#: The same zone by name, for PostgreSQL's ``timezone`` setting.
ZONE_NAME = "Asia/Shanghai"


def now() -> dt.datetime:
    """The current moment in China Standard Time (timezone-aware)."""
    return dt.datetime.now(CHINA)


def today() -> dt.date:
    """Today's date in China Standard Time."""
    return now().date()
