"""Postbacks (API.md §6.6): an app's outbound notifications of message events and A/B exposures.

An app has at most ``OPENPLUM_MAX_POSTBACKS`` postbacks, each of type ``messageEvents`` or ``abTestEvents``, with a
URL template (``services.postback_template``) and, for message events, the channels it listens to.

Events reach the outbox in the transaction of the behaviour that caused them: the behaviour code calls
``enqueue`` (buffered in the ``Unit``), and ``Unit.flush`` calls ``write_outbox``, which reads the app's postbacks
in that same transaction (only when the request produced such an event, which is rare: message interactions and
first exposures) and writes one outbox row per matching postback. Reading there rather than caching per process
means a postback added or deleted through any process applies to the very next event, with nothing to
invalidate; plain ``track`` calls never touch the postbacks table. A rolled-back request writes nothing.

A message event's channel comes from the ``channel`` parameter of its ``track`` (``Push Notification``,
``Email``, ``In-app Message``, ``Webhook``, or ``push``/``email``/``in-app``/``webhook``) and its template name
from ``templateName``; without a recognised channel the event is delivered to every ``messageEvents``
postback, whatever channels it listens to, with an empty ``{{Message channel}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from openplum.errors import ApiError
from openplum.services import postback_template as tpl
from openplum.store.base import Tx
from openplum.store.postbacks_sql import NewDelivery, PostbackRow

if TYPE_CHECKING:
    from openplum.services.unit import Unit

MESSAGE_EVENTS, AB_TEST_EVENTS = "messageEvents", "abTestEvents"
TYPES = (MESSAGE_EVENTS, AB_TEST_EVENTS)
PUSH, EMAIL, IN_APP, WEBHOOK = "Push Notification", "Email", "In-app Message", "Webhook"
CHANNELS = (PUSH, EMAIL, IN_APP, WEBHOOK)
IMPRESSION = "View"
"""The message event of a ``track`` with a ``messageId`` and no ``event`` (an impression, API.md §4)."""

_ALIASES = {c.lower(): c for c in CHANNELS} | {
    "push": PUSH, "email": EMAIL, "in-app": IN_APP, "inapp": IN_APP, "in_app": IN_APP, "webhook": WEBHOOK,
}


@dataclass(frozen=True)
class Postback:
    postback_id: int
    kind: str
    url: str
    channels: list[str]
    created: float


@dataclass(frozen=True)
class PostbackEvent:
    """One event a postback may be told about."""

    kind: str
    user_id: str
    device_id: str | None
    time: float
    message_id: str | None = None
    event: str | None = None
    channel: str | None = None
    template: str | None = None
    params: dict[str, Any] | None = None
    ab_test_id: int | None = None
    variant_id: int | None = None

    def values(self) -> dict[str, str]:
        """The template values (API.md §6.6) as text."""
        def text(value: object) -> str:
            return "" if value is None else str(value)

        return {
            tpl.USER_ID: self.user_id, tpl.DEVICE_ID: text(self.device_id),
            tpl.TRIGGER_TIME: str(round(self.time * 1000)), tpl.MESSAGE_ID: text(self.message_id),
            tpl.MESSAGE_EVENT: text(self.event), tpl.MESSAGE_CHANNEL: text(self.channel),
            tpl.TEMPLATE_NAME: text(self.template),
            tpl.PARAMETERS: msgspec.json.encode(self.params or {}).decode(),
            tpl.AB_TEST_ID: text(self.ab_test_id), tpl.VARIANT_ID: text(self.variant_id),
        }

    def body(self, app_id: str, postback_id: int) -> dict[str, Any]:
        return {
            "appId": app_id, "postbackId": postback_id, "type": self.kind, "userId": self.user_id,
            "deviceId": self.device_id, "triggerTime": round(self.time * 1000), "messageId": self.message_id,
            "messageEvent": self.event, "messageChannel": self.channel, "templateName": self.template,
            "parameters": self.params or {}, "abTestId": self.ab_test_id, "variantId": self.variant_id,
        }


def view(row: PostbackRow) -> Postback:
    return Postback(row.postback_id, row.kind, row.url, list(msgspec.json.decode(row.channels)), row.created)


# -- definitions -----------------------------------------------------------------------------------------
def channels_of(raw: list[str] | None) -> list[str]:
    """Channel names in Leanplum's spelling (aliases accepted), in the canonical order; None or []: all."""
    if not raw:
        return list(CHANNELS)
    chosen: set[str] = set()
    for name in raw:
        channel = _ALIASES.get(str(name).strip().lower())
        if channel is None:
            raise ApiError(f"Invalid value for parameter 'channels': {name!r} is not one of {list(CHANNELS)}")
        chosen.add(channel)
    return [c for c in CHANNELS if c in chosen]


def add(tx: Tx, app_id: str, kind: str, url: str, channels: list[str], now: float, cap: int) -> int:
    """Store a postback (``url`` already checked); refuse it when the app already has ``cap``."""
    secret(tx, app_id, now)  # locks the app's postbacks: concurrent adds cannot both pass the cap
    count = len(tx.list_postbacks(app_id))
    if count >= cap:
        raise ApiError(
            f"The app already has {count} postbacks, the most allowed (OPENPLUM_MAX_POSTBACKS={cap}); "
            "delete one with deletePostback first", status=403,
        )
    return tx.insert_postback(app_id, kind, url, msgspec.json.encode(channels).decode(), now)


def list_postbacks(tx: Tx, app_id: str) -> list[Postback]:
    return [view(row) for row in tx.list_postbacks(app_id)]


def delete(tx: Tx, app_id: str, postback_id: int) -> None:
    if not tx.delete_postback(app_id, postback_id):
        raise ApiError(f"No postback with id {postback_id}", status=404)


# -- the signing secret ----------------------------------------------------------------------------------
def new_secret() -> str:
    return "pbs_" + secrets.token_hex(32)


def secret(tx: Tx, app_id: str, now: float) -> str:
    """The app's signing secret, generated the first time it is needed."""
    return tx.lock_postback_secret(app_id, new_secret(), now)


def rotate_secret(tx: Tx, app_id: str, now: float) -> str:
    fresh = new_secret()
    tx.set_postback_secret(app_id, fresh, now)
    return fresh


def signature(secret_value: str, body: bytes) -> str:
    """The ``X-Openplum-Signature`` header: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret_value.encode(), body, hashlib.sha256).hexdigest()


# -- events into the outbox ------------------------------------------------------------------------------
def channel_of(params: dict[str, Any] | None) -> str | None:
    raw = (params or {}).get("channel")
    return _ALIASES.get(raw.strip().lower()) if isinstance(raw, str) else None


def message_event(
    unit: Unit, user_id: str, device_id: str | None, message_id: str, event: str, when: float,
    params: dict[str, Any] | None,
) -> None:
    """A ``track`` with a ``messageId``: tell the app's ``messageEvents`` postbacks."""
    template = (params or {}).get("templateName")
    unit.postback_events.append(PostbackEvent(
        MESSAGE_EVENTS, user_id, device_id, when, message_id=message_id, event=event or IMPRESSION,
        channel=channel_of(params), template=template if isinstance(template, str) else None, params=params,
    ))


def exposure(unit: Unit, user_id: str, device_id: str | None, test_id: int, variant_id: int, when: float) -> None:
    """A user's first exposure to an A/B variant: tell the app's ``abTestEvents`` postbacks."""
    unit.postback_events.append(PostbackEvent(
        AB_TEST_EVENTS, user_id, device_id, when, ab_test_id=test_id, variant_id=variant_id,
    ))


def _listens(postback: Postback, event: PostbackEvent) -> bool:
    if postback.kind != event.kind:
        return False
    return event.channel is None or event.channel in postback.channels


def write_outbox(tx: Tx, app_id: str, events: list[PostbackEvent], now: float) -> None:
    """One outbox row per (event, postback listening to it); called by ``Unit.flush``."""
    if not events:
        return
    defined = list_postbacks(tx, app_id)
    if not defined:
        return
    rows = [
        NewDelivery(pb.postback_id, tpl.render(pb.url, event.values()),
                    msgspec.json.encode(event.body(app_id, pb.postback_id)))
        for event in events for pb in defined if _listens(pb, event)
    ]
    tx.insert_deliveries(app_id, rows, now)
