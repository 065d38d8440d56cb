"""Content actions: ``getVars`` and the content block ``start`` returns (API.md §6.5, §7.2).

Until the app defines variables, A/B tests or messages, every field is present and empty: that is the app's
real content, and the shapes are what the SDKs parse (``messages`` must be an object, JS writes into it).
"""

from __future__ import annotations

from typing import Any

from openplum.actions.common import subject
from openplum.actions.context import ActionContext, Reply
from openplum.actions.params import Common
from openplum.services.identity import USER_NOT_FOUND
from openplum.services.profile import Profile


class GetVarsParams(Common):
    include_defaults: bool = True
    include_variant_debug_info: bool = False
    newsfeed_messages: list[Any] | None = None


def content_block(ctx: ActionContext, profile: Profile | None, *, include_debug: bool) -> dict[str, Any]:
    block: dict[str, Any] = {
        "vars": {},
        "variants": [],
        "messages": {},
        "actionDefinitions": {},
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
        block["variantDebugInfo"] = {"abTests": []}
    return block


def get_vars(ctx: ActionContext, p: GetVarsParams) -> Reply:
    profile = subject(ctx, p)
    if profile is None:
        return Reply(content_block(ctx, None, include_debug=p.include_variant_debug_info), warning=USER_NOT_FOUND)
    return Reply(content_block(ctx, profile, include_debug=p.include_variant_debug_info))
