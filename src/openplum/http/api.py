"""``/api``: one request in, the envelope out. Parses at the edge, authenticates per item, runs the batch.

Status codes (API.md §1.6): per-item problems inside a 200 for ``multi``; a single action answers with its own
status (400 bad input, 403 auth, 501 not implemented); whole-request failures that a client should retry
(overload, store unavailable) are 503, never 429, because Android drops batches on any other 4xx.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import msgspec

from openplum.actions.context import Runtime
from openplum.actions.params import decode
from openplum.actions.runner import Answer, Prepared, error_item, run_batch
from openplum.actions.table import ACTIONS
from openplum.errors import ApiError, RequestRejected
from openplum.http.auth import INVALID_KEY, AppDirectory, authenticate, permission_error
from openplum.http.envelope import error_envelope
from openplum.http.transport import RequestParams
from openplum.services.apps import KeyClass, classify_key
from openplum.services.timing import EARLIEST, LATEST
from openplum.store.base import AppRecord, Store, Tx

log = logging.getLogger("openplum.api")

# Parameters a multi item takes from the request when it does not carry its own (API.md §1.7).
_INHERITED = ("appId", "clientKey", "devMode", "client", "sdkVersion", "versionName", "apiVersion")
_IDENTITY_FIELDS = ("reqId", "uuid", "time")
_TRUE = {True, "true", "True", "TRUE", "1"}


def _truthy(value: object) -> bool:
    return value in _TRUE


def _request_time(value: object) -> float | None:
    """The batch's top-level ``time``; ignored (no skew correction) unless it is a plausible time."""
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        when = float(value)
    except ValueError:
        return None
    return when if EARLIEST <= when <= LATEST else None


class Api:
    def __init__(self, runtime: Runtime, store: Store, directory: AppDirectory) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.store = store
        self.directory = directory

    async def handle(self, request: RequestParams) -> tuple[int, dict[str, Any]]:
        try:
            return await self._dispatch(request)
        except RequestRejected as exc:
            return exc.status, error_envelope(exc.message)

    async def _dispatch(self, request: RequestParams) -> tuple[int, dict[str, Any]]:
        params = request.params
        action = params.get("action")
        if not isinstance(action, str) or not action:
            raise RequestRejected(400, "Missing required parameter: action")
        app, key_class = await authenticate(self.directory, params.get("appId"), params.get("clientKey"))
        if action == "multi" and not _truthy(params.get("createJob")):
            return 200, {"response": await self._multi(app, key_class, params)}
        item = self._prepare(app, key_class, params, params, index=0)
        (answer, status), = await self._run(app, [item], None)
        return status, {"response": [answer]}

    async def _multi(self, app: AppRecord, key_class: KeyClass, params: dict[str, Any]) -> list[dict[str, Any]]:
        raw_items = self._batch_items(params)
        limits = self.settings
        if len(raw_items) > limits.multi_max_items:
            raise RequestRejected(
                403, f"Too many actions in one batch: {len(raw_items)} (the limit is {limits.multi_max_items})."
            )
        users = {str(it.get("userId") or it.get("deviceId")) for it in raw_items
                 if it.get("userId") or it.get("deviceId")}
        if len(users) > limits.multi_max_users:
            raise RequestRejected(
                403, f"Too many users in one batch: {len(users)} (the limit is {limits.multi_max_users})."
            )
        prepared = [self._prepare(app, key_class, it, params, index=i) for i, it in enumerate(raw_items)]
        _number_repeats(prepared)
        return [answer for answer, _ in await self._run(app, prepared, _request_time(params.get("time")))]

    def _batch_items(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        data = params.get("data")
        if data is None:
            raise RequestRejected(400, "Missing required parameter: data")
        for _ in range(3):  # a JSON string of {"data": [...]} (Android) unwraps in two steps
            if isinstance(data, str | bytes):
                try:
                    data = msgspec.json.decode(data)
                except msgspec.DecodeError:
                    raise RequestRejected(400, "Invalid value for parameter 'data': not JSON.") from None
            elif isinstance(data, dict) and "data" in data:
                data = data["data"]
        if not isinstance(data, list):
            raise RequestRejected(400, "Invalid value for parameter 'data': expected a list of actions.")
        items: list[dict[str, Any]] = []
        for entry in data:
            items.append(entry if isinstance(entry, dict) else {"__invalid__": entry})
        return items

    def _prepare(
        self, app: AppRecord, key_class: KeyClass, raw: dict[str, Any], top: dict[str, Any], *, index: int
    ) -> Prepared:
        prepared = self._prepare_item(app, key_class, raw, top, index)
        req_id = raw.get("reqId") if isinstance(raw, dict) else None
        if isinstance(req_id, str | int) and not isinstance(req_id, bool):
            prepared.req_id = str(req_id)
        return prepared

    def _prepare_item(
        self, app: AppRecord, key_class: KeyClass, raw: dict[str, Any], top: dict[str, Any], index: int
    ) -> Prepared:
        own = raw
        if raw is not top:
            raw = dict(raw)
            for name in _INHERITED:
                if raw.get(name) is None and top.get(name) is not None:
                    raw[name] = top[name]
        if "__invalid__" in raw:
            return Prepared(None, answer=error_item("Each batch item must be an object of parameters."))
        action = raw.get("action")
        spec = ACTIONS.get(action) if isinstance(action, str) else None
        if spec is None:
            message = "Missing required parameter: action" if not action else f"Unknown action: '{action}'"
            return Prepared(None, answer=error_item(message), status=400)
        if raw is not top and action == "multi":
            return Prepared(spec, answer=error_item("A batch item cannot itself be 'multi'."))
        if raw.get("appId") != app.app_id:
            return Prepared(spec, answer=error_item("All actions in a batch must be for the same app."))
        item_key = raw.get("clientKey")
        if raw is not top and item_key != top.get("clientKey"):
            found = classify_key(app, item_key) if isinstance(item_key, str) else None
            if found is None:
                return Prepared(spec, answer=error_item(INVALID_KEY), status=403)
            key_class = found
        denied = permission_error(spec.key_class, key_class, _truthy(raw.get("devMode")), spec.name)
        if denied:
            return Prepared(spec, answer=error_item(denied), status=403)
        if not spec.implemented:
            return Prepared(
                spec, answer=error_item(f"Action '{spec.name}' is not implemented by this server yet."), status=501
            )
        try:
            decoded = decode(raw, spec.params)
        except ApiError as exc:
            return Prepared(spec, answer=error_item(exc.message), status=400)
        return Prepared(spec, decoded, key_class, _replay_key(own, top, index) if spec.writes else None)

    async def _run(self, app: AppRecord, items: list[Prepared], request_time: float | None) -> list[Answer]:
        """Run the items (in the write transaction when any of them writes); answers keep the items' order."""
        now = self.settings.clock.now()
        writable = any(it.answer is None and it.spec is not None and it.spec.writes for it in items)
        if not any(it.answer is None for it in items):
            answers = [(it.answer or error_item("Internal error."), it.status or 400) for it in items]
        else:
            runtime = self.runtime
            followups: list[Callable[[Tx], None]] = []

            def work(tx: Tx) -> list[Answer]:
                return run_batch(tx, app, items, runtime, now, request_time, writable=writable, followups=followups)

            answers = await (self.store.write(work) if writable else self.store.read(work))
            if followups:
                await self._follow_up(followups)
        for raw_item, (answer, _) in zip(items, answers, strict=True):
            if raw_item.req_id is not None:
                answer["reqId"] = raw_item.req_id
        return answers


    async def _follow_up(self, followups: list[Callable[[Tx], None]]) -> None:
        """Writes a read-only batch left behind; they are idempotent, so a lost one is redone next time."""

        def work(tx: Tx) -> None:
            for followup in followups:
                followup(tx)

        try:
            await self.store.write(work)
        except RequestRejected:
            log.warning("could not record %d follow-up write(s); they will be retried", len(followups))


def _number_repeats(items: list[Prepared]) -> None:
    """Identical items in one request (two taps queued in the same millisecond) are different actions: each
    repeat's key gets its ordinal, which a resent batch reproduces, so real replays still collapse."""
    seen: dict[bytes, int] = {}
    for item in items:
        key = item.replay_key
        if key is None:
            continue
        count = seen.get(key, 0)
        seen[key] = count + 1
        if count:
            item.replay_key = hashlib.sha256(key + count.to_bytes(4, "big")).digest()[:16]


def _replay_key(own: dict[str, Any], top: dict[str, Any], index: int) -> bytes | None:
    """The item's identity when it carries one: its own fields, never the clientKey (keys rotate).

    With a ``reqId`` the batch ``uuid`` and session ``token`` are left out: Android gives stored items a new
    uuid when it re-splits a batch, and each item keeps its reqId.
    """
    has_identity = any(own.get(f) is not None for f in _IDENTITY_FIELDS)
    batch_uuid = top.get("uuid") if own is not top else None
    if not has_identity and batch_uuid is None:
        return None
    volatile = {"clientKey", "uuid", "token"} if own.get("reqId") is not None else {"clientKey"}
    identity = {k: v for k, v in own.items() if k not in volatile and v is not None}
    if own.get("reqId") is None and own.get("time") is None:
        identity["__batch__"] = [batch_uuid or own.get("uuid"), index]
    encoded = msgspec.json.encode(identity, order="sorted")
    # The key starts with a hash of the user, so one batch's keys sit together in the index: a batch dirties
    # a page or two instead of one page per item.
    who = str(own.get("userId") or own.get("deviceId") or "").encode()
    return hashlib.sha256(who).digest()[:4] + hashlib.sha256(encoded).digest()[:12]
