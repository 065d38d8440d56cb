"""Postback actions (Data Export key, API.md §6.6): ``addPostback``, ``listPostbacks``, ``deletePostback``.

``channels`` may be a JSON array (or its JSON string) or a comma-separated list; absent means every channel.
The URL is checked when the postback is added (it must be http(s) and reach only public addresses, unless
``OPENPLUM_OUTBOUND_ALLOW`` allows them) and again before each delivery.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from openplum import client_json
from openplum.actions.context import ActionContext, Reply
from openplum.actions.params import Common
from openplum.errors import ApiError
from openplum.services import postback_template, postbacks
from openplum.services.outbound import check_url


class AddPostbackParams(Common):
    type: Literal["messageEvents", "abTestEvents"]
    postback_url: str
    channels: list[str] | str | None = None


class DeletePostbackParams(Common):
    postback_id: Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
    """Bounded to what a 64-bit column holds, so a larger number is a client error, not a store error."""


def _channel_list(raw: list[str] | str | None) -> list[str] | None:
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if text.startswith("["):
        try:
            return [str(c) for c in msgspec.convert(client_json.decode(text), list[str | int])]
        except msgspec.DecodeError:
            raise ApiError(f"Invalid value for parameter 'channels': expected JSON, got {raw[:60]!r}") from None
        except msgspec.ValidationError:
            raise ApiError("Invalid value for parameter 'channels': expected a list of channel names") from None
    return [part for part in text.split(",") if part.strip()]


def add_postback(ctx: ActionContext, p: AddPostbackParams) -> Reply:
    url = postback_template.validate(p.postback_url.strip())
    check_url(postback_template.blank(url), ctx.settings)
    channels = postbacks.channels_of(_channel_list(p.channels))
    postback_id = postbacks.add(ctx.unit.tx, ctx.app.app_id, p.type, url, channels, ctx.now, ctx.settings.max_postbacks)
    return Reply({"postbackId": postback_id})


def list_postbacks(ctx: ActionContext, p: Common) -> Reply:
    found = postbacks.list_postbacks(ctx.unit.tx, ctx.app.app_id)
    return Reply({"postbacks": [
        {"postbackId": pb.postback_id, "type": pb.kind, "postbackUrl": pb.url, "channels": pb.channels}
        for pb in found
    ]})


def delete_postback(ctx: ActionContext, p: DeletePostbackParams) -> Reply:
    postbacks.delete(ctx.unit.tx, ctx.app.app_id, p.postback_id)
    return Reply()
