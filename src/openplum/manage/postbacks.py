"""Management routes for postbacks: the definitions and signing secret, dead letters and their replay.

Registered on ``manage.resources.routes``; imported once by ``manage.app``. The secret is shown here (and only
here) so receivers can verify ``X-Openplum-Signature``; rotating it signs every later attempt with the new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from openplum.errors import ApiError
from openplum.manage.registry import Call
from openplum.manage.resources import paging, path_id, routes
from openplum.services import postbacks
from openplum.store.base import Tx
from openplum.store.postbacks_sql import DEAD, PENDING, DeliveryRow

T = TypeVar("T")
TAG = "postbacks"


class Postback(msgspec.Struct):
    postbackId: int
    type: str
    postbackUrl: str
    channels: list[str]
    created: float


class PostbackList(msgspec.Struct):
    secret: str
    """Key of the HMAC-SHA256 in ``X-Openplum-Signature`` (``sha256=<hex>`` of the request body)."""
    postbacks: list[Postback]
    pending: int
    deadLetters: int


class DeadLetter(msgspec.Struct):
    id: int
    postbackId: int
    url: str
    body: Any
    attempts: int
    lastError: str | None
    created: float
    failedAt: float


class DeadLetterPage(msgspec.Struct):
    deadLetters: list[DeadLetter]
    next: int


class Replayed(msgspec.Struct):
    replayed: int


class Secret(msgspec.Struct):
    secret: str


async def _in_app(call: Call, fn: Callable[[Tx], T], *, write: bool) -> T:
    app_id = call.path["appId"]

    def work(tx: Tx) -> T:
        if tx.get_app(app_id) is None:
            raise ApiError(f"No app with id {app_id!r}", status=404)
        return fn(tx)

    store = call.services.store
    result: T = await (store.write(work) if write else store.read(work))
    return result


def _dead_letter(row: DeliveryRow) -> DeadLetter:
    return DeadLetter(row.delivery_id, row.postback_id, row.url, msgspec.json.decode(row.event), row.attempts,
                      row.last_error, row.created, row.updated)


@routes.add("GET", "/apps/{appId}/postbacks", "List postbacks with the signing secret and outbox counts", TAG,
            response=PostbackList)
async def list_postbacks(call: Call) -> PostbackList:
    app_id = call.path["appId"]

    def work(tx: Tx) -> PostbackList:
        found = postbacks.list_postbacks(tx, app_id)
        counts = tx.delivery_counts(app_id)
        return PostbackList(postbacks.secret(tx, app_id, call.now),
                            [Postback(p.postback_id, p.kind, p.url, p.channels, p.created) for p in found],
                            counts.get(PENDING, 0), counts.get(DEAD, 0))

    return await _in_app(call, work, write=True)  # the secret is made on first use, maybe now


@routes.add("GET", "/apps/{appId}/postbacks/dead-letters", "Deliveries that failed every attempt, oldest first",
            TAG, response=DeadLetterPage, query=(("after", int), ("limit", int)))
async def list_dead_letters(call: Call) -> DeadLetterPage:
    app_id = call.path["appId"]
    after, limit = paging(call)
    rows = await _in_app(call, lambda tx: tx.dead_letters(app_id, after, limit), write=False)
    return DeadLetterPage([_dead_letter(r) for r in rows], rows[-1].delivery_id if rows else after)


@routes.add("POST", "/apps/{appId}/postbacks/dead-letters/{deliveryId}/replay",
            "Send a dead letter again (a fresh series of attempts)", TAG, response=Replayed)
async def replay_dead_letter(call: Call) -> Replayed:
    app_id = call.path["appId"]
    delivery_id = path_id(call, "deliveryId")

    def work(tx: Tx) -> Replayed:
        if not tx.replay_dead_letters(app_id, delivery_id, call.now):
            raise ApiError(f"No dead letter with id {delivery_id}", status=404)
        tx.audit(app_id, call.now, call.actor, "postbacks.replay", str(delivery_id), None)
        return Replayed(1)

    return await _in_app(call, work, write=True)


@routes.add("POST", "/apps/{appId}/postbacks/dead-letters/replay", "Send every dead letter of the app again", TAG,
            response=Replayed)
async def replay_all(call: Call) -> Replayed:
    app_id = call.path["appId"]

    def work(tx: Tx) -> Replayed:
        count = tx.replay_dead_letters(app_id, None, call.now)
        tx.audit(app_id, call.now, call.actor, "postbacks.replay", "*", msgspec.json.encode({"replayed": count}))
        return Replayed(count)

    return await _in_app(call, work, write=True)


@routes.add("POST", "/apps/{appId}/postbacks/secret/rotate", "Replace the signing secret", TAG, response=Secret)
async def rotate_secret(call: Call) -> Secret:
    app_id = call.path["appId"]

    def work(tx: Tx) -> Secret:
        fresh = postbacks.rotate_secret(tx, app_id, call.now)
        tx.audit(app_id, call.now, call.actor, "postbacks.secret.rotate", app_id, None)
        return Secret(fresh)

    return await _in_app(call, work, write=True)
