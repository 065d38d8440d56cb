"""Postback URL templates (API.md §6.6): ``{{Name}}`` placeholders filled in per event, each value URL-encoded.

The names are Leanplum's: ``User ID``, ``Device ID``, ``Trigger time`` (ms since 1970), ``Message ID``,
``Message event``, ``Message channel``, ``Template name``, ``Parameters`` (the event's parameters as JSON),
``AB test ID`` and ``Variant ID``. Spaces inside the braces are ignored (``{{ User ID }}``); names are
case-sensitive. A value that does not apply to the event (a variant id for a message event) is empty.
Placeholders may appear in the path, query and fragment, never in the scheme, host or port: the host must be
known when the postback is added, so that it can be checked (``services.outbound``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from openplum.errors import ApiError

USER_ID, DEVICE_ID, TRIGGER_TIME = "User ID", "Device ID", "Trigger time"
MESSAGE_ID, MESSAGE_EVENT, MESSAGE_CHANNEL = "Message ID", "Message event", "Message channel"
TEMPLATE_NAME, PARAMETERS, AB_TEST_ID, VARIANT_ID = "Template name", "Parameters", "AB test ID", "Variant ID"
NAMES = (USER_ID, DEVICE_ID, TRIGGER_TIME, MESSAGE_ID, MESSAGE_EVENT, MESSAGE_CHANNEL, TEMPLATE_NAME, PARAMETERS,
         AB_TEST_ID, VARIANT_ID)

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def placeholders(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def validate(template: str) -> str:
    """``template`` when every placeholder is known and none is in the scheme, host or port; else ``ApiError``."""
    unknown = [name for name in placeholders(template) if name not in NAMES]
    if unknown:
        known = ", ".join("{{" + n + "}}" for n in NAMES)
        raise ApiError(f"Unknown template value {{{{{unknown[0]}}}}} in postbackUrl; the values are: {known}")
    if "{" in urlsplit(template).netloc or "{" in urlsplit(template).scheme:
        raise ApiError("postbackUrl: template values may not be used in the scheme, host name or port")
    return template


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill each placeholder with its value, URL-encoded (``/``, ``&``, ``=``, spaces and all); unknown: empty."""
    return _PLACEHOLDER.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), template)


def blank(template: str) -> str:
    """The template with every placeholder empty: the URL whose host is checked when the postback is added."""
    return _PLACEHOLDER.sub("", template)
