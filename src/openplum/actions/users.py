"""User actions: ``setUserAttributes``, ``setDeviceAttributes``, ``setTrafficSourceInfo``, ``registerDevice``,
``deleteUser``, ``block`` and ``unblock``."""

from __future__ import annotations

from typing import Any

import msgspec

from openplum import client_json
from openplum.actions.common import client_info, device_key, subject, timeouts, when, wire_values
from openplum.actions.context import ActionContext, Reply
from openplum.actions.device_params import DeviceParams
from openplum.actions.params import Common
from openplum.errors import ApiError
from openplum.services import attributes, identity, sessions
from openplum.services import users as user_service
from openplum.services.attributes import EventFigures, StateFigures
from openplum.services.identity import USER_NOT_FOUND
from openplum.services.profile import DEVICE_FIELDS, LOCATION_FIELDS, Device, Profile
from openplum.services.unit import Unit


class SetUserAttributesParams(Common):
    user_attributes: dict[str, Any] | None = None
    user_attribute_values_to_add: dict[str, Any] | None = None
    user_attribute_values_to_remove: dict[str, Any] | None = None
    user_attribute_values_to_increment: dict[str, Any] | None = None
    unsubscribe_categories_to_add: Any = None
    unsubscribe_categories_to_remove: Any = None
    unsubscribe_channels_to_add: Any = None
    unsubscribe_channels_to_remove: Any = None
    new_user_id: str | None = None
    events: dict[str, EventFigures] | None = None
    states: dict[str, StateFigures] | None = None
    created: float | None = None
    last_active: float | None = None
    total_sessions: int | None = None
    time_spent_in_app: float | None = None
    devices: list[dict[str, Any]] | None = None
    locale: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    location: str | None = None
    location_accuracy_type: str | None = None
    timezone: str | None = None
    timezone_offset_seconds: int | None = None
    reset_anomalies: bool | None = None


class TrafficSourceParams(Common):
    traffic_source: dict[str, Any]


class RegisterDeviceParams(Common):
    email: str


class DeleteUserParams(Common):
    full_erasure: bool = False


def _listish(value: Any) -> Any:
    """``...ToAdd``/``...ToRemove`` lists may arrive as a JSON string of a list, or a single value."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return client_json.decode(value)
        except msgspec.DecodeError:
            raise ApiError(f"Invalid list value: {value[:60]!r}") from None
    return value


def set_user_attributes(ctx: ActionContext, p: SetUserAttributesParams) -> Reply:
    # Everything that can refuse the item is checked before anything changes.
    if p.new_user_id is not None and (not p.new_user_id or len(p.new_user_id) > 400):
        raise ApiError("newUserId must be 1-400 characters")
    attributes.check_figures(p.events)
    attributes.check_figures(p.states)
    unsubscribes = [_listish(v) for v in (
        p.unsubscribe_channels_to_add, p.unsubscribe_channels_to_remove,
        p.unsubscribe_categories_to_add, p.unsubscribe_categories_to_remove,
    )]
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    at = when(ctx, p)
    if p.new_user_id is not None and p.new_user_id != profile.user_id:
        profile = user_service.change_user_id(
            ctx.unit, profile, p.new_user_id, p.device_id, at, timeouts(ctx), dev_mode=p.dev_mode,
            client=client_info(p),
        )
    warnings = _apply(ctx.unit, profile, p, unsubscribes)
    session = profile.sessions.get(device_key(p))
    if session is not None:
        sessions.touch(ctx.unit, profile, session, at, timeouts(ctx))
    ctx.unit.changed(profile)
    return Reply(warning="; ".join(warnings) or None)


def _apply(unit: Unit, profile: Profile, p: SetUserAttributesParams, unsubscribes: list[Any]) -> list[str]:
    warnings: list[str] = []
    if p.user_attributes:
        warnings += attributes.set_attributes(unit, profile, p.user_attributes)
    if p.user_attribute_values_to_add:
        attributes.add_values(profile, p.user_attribute_values_to_add)
    if p.user_attribute_values_to_remove:
        attributes.remove_values(profile, p.user_attribute_values_to_remove)
    if p.user_attribute_values_to_increment:
        warnings += attributes.increment(profile, p.user_attribute_values_to_increment)
    attributes.unsubscribe(profile, *unsubscribes)
    attributes.set_location(profile, dict(wire_values(p, LOCATION_FIELDS)))
    if p.events:
        warnings += attributes.import_events(unit, profile, p.events)
    if p.states:
        warnings += attributes.import_states(unit, profile, p.states)
    if p.created is not None:
        profile.created = p.created
    if p.last_active is not None:
        profile.last_active = p.last_active
    if p.total_sessions is not None:
        profile.total_sessions = p.total_sessions
    if p.time_spent_in_app is not None:
        profile.time_spent_in_app = p.time_spent_in_app
    for entry in p.devices or []:
        device_id = entry.get("deviceId")
        if not isinstance(device_id, str) or not device_id:
            warnings.append("A device without a deviceId was skipped.")
            continue
        device = profile.devices.setdefault(device_id, Device(device_id=device_id))
        attributes.set_device_fields(device.fields, ((k, v) for k, v in entry.items() if k in DEVICE_FIELDS))
    return warnings


def set_device_attributes(ctx: ActionContext, p: DeviceParams) -> Reply:
    if not p.device_id:
        raise ApiError("Missing required parameter: deviceId")
    values = dict(wire_values(p, DEVICE_FIELDS))
    if not values:
        raise ApiError("setDeviceAttributes needs at least one device attribute (appVersion, systemName, ...)")
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    device = identity.ensure_device(ctx.unit, profile, p.device_id)
    if attributes.set_device_fields(device.fields, values.items()):
        ctx.unit.changed(profile)
    attributes.set_location(profile, dict(wire_values(p, LOCATION_FIELDS)))
    return Reply()


def set_traffic_source_info(ctx: ActionContext, p: TrafficSourceParams) -> Reply:
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    profile.traffic_source = {k: v for k, v in p.traffic_source.items() if v is not None}
    ctx.unit.changed(profile)
    return Reply()


def register_device(ctx: ActionContext, p: RegisterDeviceParams) -> Reply:
    if not p.device_id:
        raise ApiError("Missing required parameter: deviceId")
    registered = ctx.unit.tx.register_test_device(ctx.app.app_id, p.device_id, p.email, ctx.now)
    return Reply({"registered": registered})


def delete_user(ctx: ActionContext, p: DeleteUserParams) -> Reply:
    profile = subject(ctx, p, allow_blocked=True)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    user_service.delete(ctx.unit, profile, full_erasure=p.full_erasure)
    return Reply()


def block(ctx: ActionContext, p: Common) -> Reply:
    profile = subject(ctx, p, allow_blocked=True)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    user_service.block(ctx.unit, profile)
    return Reply()


def unblock(ctx: ActionContext, p: Common) -> Reply:
    profile = subject(ctx, p, allow_blocked=True)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    user_service.unblock(ctx.unit, profile)
    return Reply()
