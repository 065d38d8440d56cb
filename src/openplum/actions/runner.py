"""Runs one request's prepared actions inside one store transaction, in order, each answered on its own.

Replays (API.md §1.7): an item carrying its own identity (``reqId``, batch ``uuid`` or client ``time``) has a
replay key; keys are recorded in the same transaction as the item's effects, so an item seen before is answered
again but not applied again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from openplum.actions.context import ActionContext, Reply, Runtime
from openplum.actions.prepared import Prepared
from openplum.errors import ApiError
from openplum.services.unit import Unit
from openplum.store.base import AppRecord, Tx

log = logging.getLogger("openplum.actions")


REDIRECT = 302
"""The status of an answer that sends the client to the item's ``location`` instead of answering JSON."""


def error_item(message: str) -> dict[str, Any]:
    return {"success": False, "error": {"message": message}}


def reply_item(reply: Reply) -> dict[str, Any]:
    item: dict[str, Any] = {"success": True, **reply.fields}
    if reply.warning:
        item["warning"] = {"message": reply.warning, **reply.extra_warning_fields}
    return item


Answer = tuple[dict[str, Any], int]


def run_batch(
    tx: Tx, app: AppRecord, items: list[Prepared], runtime: Runtime, now: float,
    request_time: float | None, *, writable: bool, followups: list[Callable[[Tx], None]] | None = None,
) -> list[Answer]:
    """Run ``items`` in order; each answer comes with the HTTP status it would have alone.

    A read-only batch appends to ``followups`` the writes it could not do itself. A run that does not finish
    (the store may stop a read and run it again) leaves ``followups`` as it found them.
    """
    later = followups if followups is not None else []
    mark = len(later)
    try:
        return _run_batch(tx, app, items, runtime, now, request_time, writable, later)
    except BaseException:
        del later[mark:]
        raise


def _run_batch(
    tx: Tx, app: AppRecord, items: list[Prepared], runtime: Runtime, now: float, request_time: float | None,
    writable: bool, later: list[Callable[[Tx], None]],
) -> list[Answer]:
    unit = Unit(tx, app.app_id, now, writable=writable, catalog=runtime.catalog)
    replays = _replays(tx, app, items, now) if writable else set
    unit.prefetch(batch_users(items))
    replayed_items = replays()
    answers: list[Answer] = []
    failed_keys: set[bytes] = set()
    kept_keys: set[bytes] = set()
    for index, item in enumerate(items):
        if item.answer is not None or item.spec is None or item.key_class is None:
            answers.append((item.answer or error_item("Internal error: item was not prepared."), item.status or 400))
            continue
        replayed = index in replayed_items
        if replayed and not item.spec.answers_replays:
            answers.append(({"success": True}, 200))
            continue
        ctx = ActionContext(app, unit, runtime.settings, runtime.content, item.key_class, now, request_time,
                            replayed, followups=later,
                            create_default=item.spec.create_disposition == "CreateIfNeeded", uploads=item.uploads,
                            base_url=item.base_url)
        answer = _run_one(ctx, item)
        if answer[1] == REDIRECT and len(items) > 1:  # a redirect cannot share a response (API.md §1.9)
            answer = error_item(f"'{item.spec.name}' answers with a redirect, so it must be alone in its request."), 400
        answers.append(answer)
        if item.replay_key is not None and not replayed and item.spec.writes:
            (kept_keys if answer[0].get("success") else failed_keys).add(item.replay_key)
    unit.flush()
    if writable and failed_keys - kept_keys:  # a refused item was not applied: the same item sent again must run again
        tx.release_keys(app.app_id, sorted(failed_keys - kept_keys))
    if writable:
        for followup in later:
            followup(tx)
        later.clear()
    return answers


def batch_users(items: list[Prepared]) -> list[str]:
    """The users the items name, whose profiles a run of them reads (and, writing, locks) first, in order."""
    return list(dict.fromkeys(str(u) for it in items if it.answer is None for u in (_user_of(it.params),) if u))


def named_users(items: list[Prepared]) -> list[str]:
    """Every user the items name: their users (a device's anonymous user where an item names no user) and those
    they log in as (``newUserId``); a write of them has the store lock these first (``Store.write``). Only a
    device's owner after a login stays unnamed: it is known once the device is read."""
    named = dict.fromkeys(batch_users(items))
    for item in items:
        if item.answer is not None:
            continue
        params = item.params
        device_id = getattr(params, "device_id", None)
        if device_id and not _user_of(params):
            named[str(device_id)] = None
        new_user_id = getattr(params, "new_user_id", None)
        if new_user_id:
            named[str(new_user_id)] = None
    return list(named)


def _user_of(params: Any) -> str | None:
    return getattr(params, "user_id", None)


def _run_one(ctx: ActionContext, item: Prepared) -> Answer:
    assert item.spec is not None
    assert item.spec.handler is not None
    try:
        reply = item.spec.handler(ctx, item.params)
        if reply.redirect is not None:
            return {"success": True, "location": reply.redirect}, REDIRECT
        return reply_item(reply), 200
    except ApiError as exc:
        return error_item(exc.message), exc.status


def _replays(tx: Tx, app: AppRecord, items: list[Prepared], now: float) -> Callable[[], set[int]]:
    """The indexes of the items seen before, once called; the keys are claimed first, so a store that can
    (PostgreSQL's writer) sends the claim together with the profile read."""
    keyed = [(i, it.replay_key) for i, it in enumerate(items)
             if it.replay_key is not None and it.answer is None and it.spec is not None and it.spec.writes]
    if not keyed:
        return set
    keys = [k for _, k in keyed if k is not None]
    claim_soon = getattr(tx, "claim_keys_soon", None)
    seen_later = claim_soon(app.app_id, keys, now) if claim_soon else _claimed(tx.claim_keys(app.app_id, keys, now))

    def replays() -> set[int]:
        seen_before: set[bytes] = seen_later()
        found: set[int] = set()
        seen_now: set[bytes] = set()
        for index, key in keyed:
            assert key is not None
            if key in seen_before or key in seen_now:
                found.add(index)
            seen_now.add(key)
        return found

    return replays


def _claimed(seen: set[bytes]) -> Callable[[], set[bytes]]:
    return lambda: seen
