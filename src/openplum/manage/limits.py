"""Management routes for an app's daily export limits (``services.limits``): read them, replace them.

Registered on ``manage.resources.routes``; imported once by ``manage.app``. ``PUT`` replaces the app's own values:
a number is that many jobs per Pacific day (0: none), ``null`` is no limit, and a field left out follows the server
default again. Leanplum's own limits, for apps that should behave as they did there, are
``{"exportsPerDay": 24, "reportsPerDay": 100, "exportUsersPerDay": 40}``.
"""

from __future__ import annotations

import msgspec

from openplum.errors import ApiError
from openplum.manage.registry import Call
from openplum.manage.resources import routes
from openplum.services import limits
from openplum.store.base import Tx

TAG = "limits"


class Limits(msgspec.Struct):
    exportsPerDay: int | None
    """exportData jobs per Pacific day; null: no limit."""
    reportsPerDay: int | None
    """exportReport jobs per Pacific day; null: no limit."""
    exportUsersPerDay: int | None
    """exportUsers jobs per Pacific day; null: no limit."""
    serverDefault: list[str]
    """The limits the app has no value of its own for: they follow the server's (``OPENPLUM_EXPORTS_PER_DAY``)."""
    usedToday: dict[str, int]
    """Jobs of each kind started since the Pacific day began, by limit name."""


class LimitsInput(msgspec.Struct, forbid_unknown_fields=True):
    exportsPerDay: int | msgspec.UnsetType | None = msgspec.UNSET
    reportsPerDay: int | msgspec.UnsetType | None = msgspec.UNSET
    exportUsersPerDay: int | msgspec.UnsetType | None = msgspec.UNSET


def _read(tx: Tx, call: Call) -> Limits:
    app_id = call.path["appId"]
    if tx.get_app(app_id) is None:
        raise ApiError(f"No app with id {app_id!r}", status=404)
    found = limits.of_app(tx, call.services.runtime.settings, app_id)
    return Limits(found[limits.EXPORTS].per_day, found[limits.REPORTS].per_day, found[limits.EXPORT_USERS].per_day,
                  [name for name in limits.NAMES if not found[name].own], limits.used_today(tx, app_id, call.now))


@routes.add("GET", "/apps/{appId}/limits", "Daily export limits (null: no limit) and today's use", TAG,
            response=Limits)
async def get_limits(call: Call) -> Limits:
    result: Limits = await call.services.store.read(lambda tx: _read(tx, call))
    return result


@routes.add("PUT", "/apps/{appId}/limits", "Replace the app's daily export limits (left out: server default)", TAG,
            body=LimitsInput, response=Limits)
async def put_limits(call: Call) -> Limits:
    app_id, body = call.path["appId"], call.body
    own = {name: value for name in limits.NAMES
           if (value := getattr(body, name)) is not msgspec.UNSET}
    for name, value in own.items():
        limits.check_value(name, value)

    def work(tx: Tx) -> Limits:
        if tx.get_app(app_id) is None:
            raise ApiError(f"No app with id {app_id!r}", status=404)
        limits.replace(tx, app_id, own, call.now, call.actor)
        return _read(tx, call)

    result: Limits = await call.services.store.write(work)
    return result
