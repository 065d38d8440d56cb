"""Who an action is about: resolving userId/deviceId to a profile (API.md §3.1-§3.4).

A call with only a device id belongs to the user that device last belonged to, or to an anonymous user whose id
is the device id (as SDKs do before the app sets a user id). ``createDisposition`` decides whether an unknown
user is created or the action skipped.
"""

from __future__ import annotations

from openplum.errors import ApiError
from openplum.services.profile import Device, EventStats, Profile, StateStats
from openplum.services.profile_reader import Decode
from openplum.services.unit import Unit

USER_NOT_FOUND = "User not found; request skipped."


class UserBlocked(ApiError):
    def __init__(self) -> None:
        super().__init__("User is blocked; request skipped.", status=451)


def existing(unit: Unit, user_id: str | None, device_id: str | None) -> Profile | None:
    """The profile a call is about, creating nobody: the user named, else the device's current owner."""
    profile = unit.profile(user_id_for(unit, user_id, device_id))
    if profile is None and device_id:
        owner = unit.device_user(device_id)
        profile = unit.profile(owner) if owner else None
    return profile


def user_id_for(unit: Unit, user_id: str | None, device_id: str | None) -> str:
    if user_id:
        return user_id
    if device_id:
        return unit.device_user(device_id) or device_id
    raise ApiError("Missing required parameter: userId or deviceId")


def resolve(
    unit: Unit, user_id: str | None, device_id: str | None, create: bool, *, allow_blocked: bool = False,
    decode: Decode | None = None,
) -> Profile | None:
    """The profile the call is about, created when ``create`` allows; None when it does not exist.

    With ``decode``, a call that only reads (targeting) may get the profile decoded in part (``Unit.reading``).
    """
    if device_id and len(device_id) > 400:
        raise ApiError("deviceId must be at most 400 characters")
    uid = user_id_for(unit, user_id, device_id)
    if len(uid) > 400:
        raise ApiError("userId must be at most 400 characters")
    profile = unit.profile(uid) if decode is None else unit.reading(uid, decode)
    if profile is None:
        if not create:
            return None
        profile = unit.create(uid, identified=bool(user_id) and user_id != device_id)
    if profile.blocked and not allow_blocked:
        raise UserBlocked()
    if device_id:
        ensure_device(unit, profile, device_id)
    return profile


def ensure_device(unit: Unit, profile: Profile, device_id: str) -> Device:
    device = profile.devices.get(device_id)
    if device is None:
        device = profile.devices[device_id] = Device(device_id=device_id, first_seen=unit.now)
        unit.link_device(device_id, profile.user_id)
        unit.changed(profile)
    return device


def merge_into(target: Profile, source: Profile) -> None:
    """Fold an anonymous profile into the profile of the user who just logged in (the login case of §3.4)."""
    for name, stats in source.events.items():
        mine = target.events.setdefault(name, EventStats())
        if stats.count:
            mine.count += stats.count
            mine.value += stats.value
            for when in (stats.first_time, stats.last_time):
                if when is not None:
                    mine.first_time = when if mine.first_time is None else min(mine.first_time, when)
                    mine.last_time = when if mine.last_time is None else max(mine.last_time, when)
    for name, sstats in source.states.items():
        smine = target.states.setdefault(name, StateStats())
        smine.count += sstats.count
        for when in (sstats.first_time, sstats.last_time):
            if when is not None:
                smine.first_time = when if smine.first_time is None else min(smine.first_time, when)
                smine.last_time = when if smine.last_time is None else max(smine.last_time, when)
    for key, value in source.attributes.items():
        target.attributes.setdefault(key, value)
    for device_id, device in source.devices.items():
        target.devices.setdefault(device_id, device)
    for device_key, session in source.sessions.items():
        target.sessions[device_key] = session
    for key, value in source.location.items():
        target.location.setdefault(key, value)
    target.created = min(target.created, source.created)
    target.total_sessions += source.total_sessions
    target.time_spent_in_app += source.time_spent_in_app
    if source.last_active is not None:
        target.mark_active(source.last_active)
    target.unsubscribe_channels = sorted(set(target.unsubscribe_channels) | set(source.unsubscribe_channels))
    target.unsubscribe_categories = sorted(set(target.unsubscribe_categories) | set(source.unsubscribe_categories))
    if target.traffic_source is None:
        target.traffic_source = source.traffic_source
