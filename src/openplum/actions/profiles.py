"""``exportUser``: one user's profile in Leanplum's shape (API.md §3.5, §6.7), read from counters, O(1)."""

from __future__ import annotations

from typing import Any

from openplum.actions.context import ActionContext, Reply
from openplum.actions.params import Common
from openplum.errors import ApiError
from openplum.services import identity
from openplum.services.profile import Profile


def export_user(ctx: ActionContext, p: Common) -> Reply:
    if not p.user_id and not p.device_id:
        raise ApiError("Missing required parameter: userId")
    profile = ctx.unit.profile(identity.user_id_for(ctx.unit, p.user_id, p.device_id))
    if profile is None:
        return Reply(warning="User not found.")
    return Reply(render(profile))


def render(profile: Profile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "userId": profile.user_id,
        "userAttributes": dict(profile.attributes),
        "events": {n: _figures(s.count, s.first_time, s.last_time, s.value) for n, s in profile.events.items()},
        "states": {n: _figures(s.count, s.first_time, s.last_time) for n, s in profile.states.items()},
        "created": profile.created,
        "lastActive": profile.last_active,
        "totalSessions": profile.total_sessions,
        "timeSpentInApp": round(profile.time_spent_in_app, 3),
        "unsubscribeChannels": list(profile.unsubscribe_channels),
        "unsubscribeCategories": [{"id": c, "name": c} for c in profile.unsubscribe_categories],
        "devices": [{"deviceId": d.device_id, **d.fields} for d in profile.devices.values()],
        "locationAccuracyType": "IP",
    }
    out.update(profile.location)
    if profile.traffic_source:
        out["trafficSource"] = dict(profile.traffic_source)
    if profile.blocked:
        out["blocked"] = True
    return out


def _figures(count: int, first: float | None, last: float | None, value: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"count": count, "firstTime": first, "lastTime": last}
    if value is not None:
        out["value"] = value
    return out
