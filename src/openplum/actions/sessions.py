"""Session actions: ``start`` (and ``restart``), ``stop``, ``pauseSession``, ``resumeSession``, ``heartbeat``."""

from __future__ import annotations

from typing import Any

from openplum.actions import content
from openplum.actions.common import client_info, device_key, subject, timeouts, when, wire_values
from openplum.actions.context import ActionContext, Reply
from openplum.actions.device_params import DeviceParams
from openplum.actions.params import Common
from openplum.services import attributes, identity, sessions
from openplum.services.identity import USER_NOT_FOUND, ensure_device
from openplum.services.profile import DEVICE_FIELDS, LOCATION_FIELDS


class StartParams(DeviceParams):
    user_attributes: dict[str, Any] | None = None
    background: bool = False
    include_defaults: bool = True
    include_variant_debug_info: bool = False
    newsfeed_messages: list[Any] | None = None


def start(ctx: ActionContext, p: StartParams) -> Reply:
    if ctx.replayed:
        return _answer_replayed_start(ctx, p)
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    warnings: list[str] = []
    at = when(ctx, p)
    if p.device_id:
        device = ensure_device(ctx.unit, profile, p.device_id)
        values = dict(wire_values(p, DEVICE_FIELDS))
        if p.version_name and "appVersion" not in values:
            values["appVersion"] = p.version_name
        attributes.set_device_fields(device.fields, values.items())
        device.last_seen = at
    attributes.set_location(profile, dict(wire_values(p, LOCATION_FIELDS)))
    if p.user_attributes:
        warnings += attributes.set_attributes(ctx.unit, profile, p.user_attributes)
    session = sessions.start(
        ctx.unit, profile, device_key(p), at, timeouts(ctx), background=p.background, dev_mode=p.dev_mode,
        client=client_info(p, p.app_version),
    )
    ctx.unit.changed(profile)
    fields = content.content_block(ctx, profile, p.device_id or None, include_defaults=p.include_defaults,
                                   include_debug=p.include_variant_debug_info)
    fields["token"] = str(session.session_id)
    return Reply(fields, warning="; ".join(warnings) or None)


def _answer_replayed_start(ctx: ActionContext, p: StartParams) -> Reply:
    """A resent ``start`` changes nothing: it is answered with the content and the session of the user who
    now owns the device (the user may have logged in since), and creates nobody."""
    profile = identity.existing(ctx.unit, p.user_id, p.device_id)
    open_session = profile.sessions.get(device_key(p)) if profile is not None else None
    fields = content.content_block(ctx, profile, p.device_id or None, include_defaults=p.include_defaults,
                                   include_debug=p.include_variant_debug_info)
    fields["token"] = str(open_session.session_id) if open_session else ""
    return Reply(fields)


def stop(ctx: ActionContext, p: Common) -> Reply:
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    sessions.end(ctx.unit, profile, device_key(p), when(ctx, p), "stopped")
    return Reply()


def pause_session(ctx: ActionContext, p: Common) -> Reply:
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    if not sessions.pause(ctx.unit, profile, device_key(p), when(ctx, p), timeouts(ctx)):
        return Reply(warning="No open session to pause.")
    return Reply()


def resume_session(ctx: ActionContext, p: Common) -> Reply:
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    sessions.resume(ctx.unit, profile, device_key(p), when(ctx, p), timeouts(ctx), dev_mode=p.dev_mode,
                    client=client_info(p))
    return Reply()


def heartbeat(ctx: ActionContext, p: Common) -> Reply:
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    session = profile.sessions.get(device_key(p))
    if session is None:
        return Reply(warning="No open session.")
    sessions.touch(ctx.unit, profile, session, when(ctx, p), timeouts(ctx))
    return Reply()
