"""Content actions: ``getVars``, ``setVars``, ``deleteVars`` and the content block ``start`` returns
(API.md §6.5, §7.2, §7.4).

``vars`` holds the values that differ from the code defaults (team values, then the user's A/B variants), or
every value with ``includeDefaults``; ``variants`` the A/B variants the user is in. A user's first exposure to
a variant is recorded as an event. Every field SDKs parse is present; ``messages`` is always an object (the JS
SDK writes into it). ``vars`` and ``actionDefinitions`` come already encoded from the snapshot (``msgspec.Raw``):
the same JSON, without encoding a thousand variables per request.
"""

from __future__ import annotations

from typing import Any

from openplum.actions.common import device_key, subject
from openplum.actions.content_params import DeleteVarsParams, GetVarsParams, SetVarsParams
from openplum.actions.context import ActionContext, Reply
from openplum.errors import ApiError
from openplum.services import content as content_service
from openplum.services import exposures
from openplum.services.identity import USER_NOT_FOUND
from openplum.services.profile import Profile
from openplum.services.snapshot import Snapshot


def content_block(
    ctx: ActionContext, profile: Profile | None, device_id: str | None, *, include_defaults: bool,
    include_debug: bool, snapshot: Snapshot | None = None,
) -> dict[str, Any]:
    if snapshot is None:
        snapshot = ctx.content.get(ctx.unit.tx, ctx.app.app_id)
    assignments = snapshot.assignments(profile, device_id, ctx.now)
    if profile is not None and assignments:
        exposures.record(ctx, profile, device_id, assignments)
    block: dict[str, Any] = {
        "vars": snapshot.vars_json(assignments, include_defaults=include_defaults),
        "variants": [a.listed for a in assignments],
        "messages": {},
        "actionDefinitions": snapshot.action_definitions_json(),
        "regions": {},
        "interfaceRules": [],
        "interfaceEvents": [],
        "files": {},
        "localCaps": [],
        "syncNewsfeed": False,
        "loggingEnabled": False,
        "enabledSdkCounters": [],
        "enabledFeatureFlags": [],
        "notificationChannels": [],
        "notificationChannelGroups": [],
    }
    if include_debug:
        block["variantDebugInfo"] = {"abTests": [
            {"id": a.test.id, "name": a.test.name, "variantId": a.variant.id, "variantName": a.variant.name}
            for a in assignments
        ]}
    return block


def get_vars(ctx: ActionContext, p: GetVarsParams) -> Reply:
    snapshot = ctx.content.get(ctx.unit.tx, ctx.app.app_id)
    # Of the profile's counters, only those the running tests' audiences read are decoded (a read-only unit).
    profile = subject(ctx, p, decode=snapshot.profile_reader())
    block = content_block(ctx, profile, p.device_id or None, include_defaults=p.include_defaults,
                          include_debug=p.include_variant_debug_info, snapshot=snapshot)
    return Reply(block, warning=None if profile is not None else USER_NOT_FOUND)


def set_vars(ctx: ActionContext, p: SetVarsParams) -> Reply:
    if p.vars is None and p.action_definitions is None:
        raise ApiError("Missing required parameter: vars")
    version = content_service.define_from_code(
        ctx.unit.tx, ctx.app.app_id, p.vars or {}, p.kinds, p.action_definitions, ctx.now,
        actor=f"api:{ctx.key_class.value}",
    )
    ctx.content.invalidate(ctx.app.app_id, version)
    return Reply()


def delete_vars(ctx: ActionContext, p: DeleteVarsParams) -> Reply:
    removed = content_service.delete_variables(ctx.unit.tx, ctx.app.app_id, p.vars, ctx.now,
                                               actor=f"api:{ctx.key_class.value}")
    ctx.content.invalidate(ctx.app.app_id, ctx.unit.tx.content_version(ctx.app.app_id))
    return Reply({"variablesRemoved": removed})


__all__ = ["DeleteVarsParams", "GetVarsParams", "SetVarsParams", "content_block", "device_key"]
