"""Helpers the behaviour actions share: who the item is about, when it happened, what client sent it."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import msgspec

from openplum.actions.context import ActionContext
from openplum.actions.params import Common
from openplum.services import identity
from openplum.services.profile import Profile
from openplum.services.profile_reader import Decode
from openplum.services.sessions import Timeouts
from openplum.services.timing import event_time


def subject(
    ctx: ActionContext, params: Common, *, allow_blocked: bool = False, decode: Decode | None = None
) -> Profile | None:
    return identity.resolve(
        ctx.unit, params.user_id, params.device_id, ctx.creates(params.create_disposition), allow_blocked=allow_blocked,
        decode=decode,
    )


def device_key(params: Common) -> str:
    return params.device_id or ""


def when(ctx: ActionContext, params: Common) -> float:
    return event_time(params.time, ctx.request_time, ctx.now)


def timeouts(ctx: ActionContext) -> Timeouts:
    return Timeouts.of(ctx.settings)


def client_info(params: Common, app_version: str | None = None) -> dict[str, Any]:
    info = {"client": params.client, "sdkVersion": params.sdk_version, "appVersion": app_version or params.version_name}
    return {k: v for k, v in info.items() if v is not None}


@cache
def _wire_names(typ: type[msgspec.Struct]) -> dict[str, str]:
    return {f.encode_name: f.name for f in msgspec.structs.fields(typ)}


def wire_values(params: msgspec.Struct, names: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """(wire name, value) of each field of ``params`` named in ``names`` that was sent."""
    fields = _wire_names(type(params))
    for name in names:
        attr = fields.get(name)
        if attr is not None:
            value = getattr(params, attr)
            if value is not None:
                yield name, value
