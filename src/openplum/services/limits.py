"""Per-app daily limits on exports: how many ``exportData``, ``exportReport`` and ``exportUsers`` jobs an app may
start per US Pacific day.

Off by default: a self-hoster's server answers every export. An app's own value (set through the management API,
kept in the app's settings) wins; an app without one follows the server default, ``OPENPLUM_EXPORTS_PER_DAY``
for ``exportsPerDay`` and ``exportUsersPerDay`` (0: no limit) and no limit for ``reportsPerDay``. An app's own
``null`` is "no limit" whatever the server default, and its own 0 refuses every request of that kind. Every job
of the kind started that day counts, however it was started (API, management API, CLI); a refused request does
not count. Leanplum's own limits were 24, 100 and 40 a day; ``PUT /manage/v1/apps/{appId}/limits`` sets them.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from openplum.errors import ApiError
from openplum.services import jobs
from openplum.services.export_sessions import day_start
from openplum.settings import Settings
from openplum.store.base import Tx

EXPORTS, REPORTS, EXPORT_USERS = "exportsPerDay", "reportsPerDay", "exportUsersPerDay"
NAMES = (EXPORTS, REPORTS, EXPORT_USERS)
KIND_OF = {EXPORTS: jobs.EXPORT_DATA, REPORTS: jobs.EXPORT_REPORT, EXPORT_USERS: jobs.EXPORT_USERS}
NAME_OF = {kind: name for name, kind in KIND_OF.items()}
MAX = 1_000_000
_PREFIX = "limits."


@dataclass(frozen=True)
class Limit:
    per_day: int | None
    """None: no limit."""
    own: bool
    """The app's own value; False when it follows the server default."""


def server_default(settings: Settings, name: str) -> int | None:
    if name == REPORTS or settings.exports_per_day <= 0:
        return None
    return settings.exports_per_day


def of_app(tx: Tx, settings: Settings, app_id: str) -> dict[str, Limit]:
    """Every limit of the app by name, its own or the server's."""
    stored = tx.app_settings(app_id, _PREFIX)
    return {name: _limit(settings, name, stored.get(_PREFIX + name)) for name in NAMES}


def _limit(settings: Settings, name: str, own: bytes | None) -> Limit:
    if own is None:
        return Limit(server_default(settings, name), False)
    return Limit(msgspec.json.decode(own, type=int | None), True)


def used_today(tx: Tx, app_id: str, now: float) -> dict[str, int]:
    """Jobs of each kind the app has started since the Pacific day began."""
    since = day_start(now)
    return {name: tx.count_jobs_since(app_id, KIND_OF[name], since) for name in NAMES}


def check_value(name: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= MAX:
        raise ApiError(f"{name}: expected a whole number from 0 to {MAX}, or null for no limit; got {value}")


def replace(tx: Tx, app_id: str, own: dict[str, int | None], now: float, actor: str) -> None:
    """Make ``own`` the app's values: a name left out follows the server default again."""
    for name, value in own.items():
        if name not in NAMES:
            raise ApiError(f"{name}: not a limit (expected one of {', '.join(NAMES)})")
        check_value(name, value)
    tx.put_app_settings(app_id, [(_PREFIX + n, msgspec.json.encode(own[n]) if n in own else None) for n in NAMES],
                        now)
    tx.audit(app_id, now, actor, "limits.set", app_id, msgspec.json.encode(own))


def check(tx: Tx, settings: Settings, app_id: str, kind: str, now: float) -> None:
    """Refuse (429) one more job of ``kind`` when the app has had its limit of them today."""
    name = NAME_OF.get(kind)
    if name is None:
        return
    key = _PREFIX + name
    limit = _limit(settings, name, tx.app_settings(app_id, key).get(key)).per_day
    if limit is not None and tx.count_jobs_since(app_id, kind, day_start(now)) >= limit:
        raise ApiError(f"Too many {kind} requests today: the limit is {limit} per day (Pacific time)", status=429)
