"""Behaviour actions: ``track`` (and ``trackGeofence``), ``advance``, ``pauseState``, ``resumeState``."""

from __future__ import annotations

from typing import Any, Literal

from openplum.actions.common import device_key, subject, timeouts, when
from openplum.actions.context import ActionContext, Reply
from openplum.actions.params import Common
from openplum.errors import ApiError
from openplum.services import tracking
from openplum.services.catalog import EVENT, PARAMETER, STATE
from openplum.services.identity import USER_NOT_FOUND
from openplum.services.naming import name_problem, trim_params


class TrackParams(Common):
    event: str | None = None
    value: float = 0.0
    currency_code: str | None = None
    info: str | None = None
    params: dict[str, Any] | None = None
    message_id: str | None = None
    disposition: Literal["active", "passive", "requireActive"] | None = None
    allow_offline: bool | None = None


class AdvanceParams(Common):
    state: str
    info: str | None = None
    params: dict[str, Any] | None = None


def _disposition(p: TrackParams) -> tracking.Disposition:
    if p.disposition is not None:
        return p.disposition
    return "passive" if p.allow_offline else "active"


def track(ctx: ActionContext, p: TrackParams) -> Reply:
    if p.event is None and p.message_id is None:
        raise ApiError("Missing required parameter: event")
    impression = not p.event and p.message_id is not None
    problem = None if impression else name_problem("Event", p.event or "")
    if problem:
        return Reply(warning=f"{problem}; event skipped.")
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    if p.message_id is None:
        refused = ctx.unit.admit(EVENT, [p.event or ""])
        if refused:
            return Reply(warning=f"{refused[0]}; event skipped.")
    params, warnings = _admit_params(ctx, p.params)
    event = tracking.Tracked(
        name=p.event or "", value=p.value, when=when(ctx, p), currency=p.currency_code, info=p.info,
        params=params, message_id=p.message_id, dev_mode=p.dev_mode,
    )
    if not tracking.track(ctx.unit, profile, device_key(p), event, _disposition(p), timeouts(ctx)):
        return Reply({"ignored": True}, warning=tracking.NO_ACTIVE_SESSION, extra_warning_fields={"ignored": True})
    return Reply(warning="; ".join(warnings) or None)


def _admit_params(ctx: ActionContext, params: dict[str, Any] | None) -> tuple[dict[str, Any] | None, list[str]]:
    """At most 50 parameters, whose names the app's catalog accepts; a warning for each one dropped."""
    kept, trimmed = trim_params(params)
    warnings = [trimmed] if trimmed else []
    if not kept:
        return kept, warnings
    refused = ctx.unit.admit(PARAMETER, list(kept))
    if refused:
        warnings += refused
        allowed = ctx.unit.catalog.known(ctx.app.app_id, PARAMETER)
        kept = {k: v for k, v in kept.items() if k in allowed}
    return kept, warnings


def advance(ctx: ActionContext, p: AdvanceParams) -> Reply:
    problem = name_problem("State", p.state) if p.state else None
    if problem:
        return Reply(warning=f"{problem}; state skipped.")
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    if p.state:
        refused = ctx.unit.admit(STATE, [p.state])
        if refused:
            return Reply(warning=f"{refused[0]}; state skipped.")
    params, warnings = _admit_params(ctx, p.params)
    tracking.advance(ctx.unit, profile, device_key(p), p.state, when(ctx, p), timeouts(ctx), info=p.info,
                     params=params)
    return Reply(warning="; ".join(warnings) or None)


def pause_state(ctx: ActionContext, p: Common) -> Reply:
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    tracking.pause_state(ctx.unit, profile, device_key(p), when(ctx, p))
    return Reply()


def resume_state(ctx: ActionContext, p: Common) -> Reply:
    profile = subject(ctx, p)
    if profile is None:
        return Reply(warning=USER_NOT_FOUND)
    tracking.resume_state(ctx.unit, profile, device_key(p), when(ctx, p))
    return Reply()
