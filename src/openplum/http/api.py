"""``/api``: one request in, the envelope out. Parses at the edge, authenticates per item, runs the batch.

Items are prepared by ``actions.prepare`` (the CSV import worker prepares its rows with it too); a CSV import
(``multi`` with createJob) has its file stored by ``actions.import_staging`` before its transaction.

Status codes (API.md §1.6): per-item problems inside a 200 for ``multi``; a single action answers with its own
status (400 bad input, 403 auth, 501 not implemented); whole-request failures that a client should retry
(overload, store unavailable) are 503, never 429, because Android drops batches on any other 4xx.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from mypy_extensions import mypyc_attr

from openplum import client_json
from openplum.actions.context import Runtime
from openplum.actions.import_staging import stage
from openplum.actions.prepare import number_repeats, prepare, truthy
from openplum.actions.prepared import Prepared
from openplum.actions.runner import REDIRECT, Answer, error_item, named_users, run_batch
from openplum.client_text import NUL_MESSAGE, holds_nul
from openplum.errors import RequestRejected
from openplum.http.auth import AppDirectory, authenticate, authenticate_cached
from openplum.http.envelope import error_envelope
from openplum.http.transport import RequestParams
from openplum.services.apps import KeyClass
from openplum.services.timing import EARLIEST, LATEST
from openplum.store.base import AppRecord, Store, Tx
from openplum.store.rehearsal import Rehearsable

log = logging.getLogger("openplum.api")


def _request_time(value: object) -> float | None:
    """The batch's top-level ``time``; ignored (no skew correction) unless it is a plausible time."""
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        when = float(value)
    except ValueError:
        return None
    return when if EARLIEST <= when <= LATEST else None


def _refused(message: str) -> Prepared:
    """A batch item answered at the edge, with the status it would have alone."""
    return Prepared(None, answer=error_item(message), status=400)


def _flag(value: object) -> bool:
    """A boolean parameter; an object or list sent as one is not true (and not a server error)."""
    return not isinstance(value, dict | list) and truthy(value)


@mypyc_attr(allow_interpreted_subclasses=True)  # the overload tests count the requests under way in one
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
        batch = action == "multi" and not _flag(params.get("createJob"))
        if request.nul_possible and holds_nul([v for k, v in params.items() if not (batch and k == "data")]):
            raise RequestRejected(400, NUL_MESSAGE)  # a batch's items are checked one by one
        app_id, client_key = params.get("appId"), params.get("clientKey")
        known = authenticate_cached(self.directory, app_id, client_key)
        app, key_class = known if known is not None else await authenticate(self.directory, app_id, client_key)
        if batch:
            answers = await self._multi(app, key_class, params, request.nul_possible)
            if len(answers) == 1 and answers[0][1] == REDIRECT:  # downloadFile alone in its batch
                return REDIRECT, {"response": [answers[0][0]]}
            return 200, {"response": [answer for answer, _ in answers]}
        item = prepare(app, key_class, params, params, index=0)
        if request.files:
            item.uploads = {part.field: part.data for part in request.files}
        item.base_url = request.base_url
        if action == "multi" and item.answer is None:  # a CSV import: its file is stored before the transaction
            await asyncio.to_thread(stage, item, request.csv, self.settings, app.app_id)
        (answer, status), = await self._run(app, [item], None)
        return status, {"response": [answer]}

    async def _multi(self, app: AppRecord, key_class: KeyClass, params: dict[str, Any],
                     nul_possible: bool) -> list[Answer]:
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
        prepared = [_refused(NUL_MESSAGE) if nul_possible and holds_nul(it) else
                    prepare(app, key_class, it, params, index=i) for i, it in enumerate(raw_items)]
        number_repeats(prepared)
        return await self._run(app, prepared, _request_time(params.get("time")))

    def _batch_items(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        data = params.get("data")
        if data is None:
            raise RequestRejected(400, "Missing required parameter: data")
        for _ in range(3):  # a JSON string of {"data": [...]} (Android) unwraps in two steps
            if isinstance(data, str | bytes):
                try:
                    data = client_json.decode(data)
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

    async def _run(self, app: AppRecord, items: list[Prepared], request_time: float | None) -> list[Answer]:
        """Run the items (in the write transaction when any of them writes); answers keep the items' order."""
        now = self.settings.clock.now()
        runnable = [it for it in items if it.answer is None]
        writable = any(it.spec is not None and it.spec.writes for it in runnable)
        if not runnable:
            answers = [(it.answer or error_item("Internal error."), it.status or 400) for it in items]
        else:
            runtime = self.runtime
            followups: list[Callable[[Tx], None]] = []

            def work(tx: Tx) -> list[Answer]:
                return run_batch(tx, app, items, runtime, now, request_time, writable=writable, followups=followups)

            if not writable:
                answers = await self.store.read(work)
            else:
                rehearsable = all(it.spec is not None and it.spec.rehearsable for it in runnable)
                job = Rehearsable(work, lambda: runtime.catalog.forget(app.app_id)) if rehearsable else work
                with runtime.catalog.forgotten_on_failure(app.app_id):
                    answers = await self.store.write(job, users=_users(app, items))
            if followups:
                await self._follow_up(followups, _users(app, items))
        for raw_item, (answer, _) in zip(items, answers, strict=True):
            if raw_item.req_id is not None:
                answer["reqId"] = raw_item.req_id
        return answers


    async def _follow_up(self, followups: list[Callable[[Tx], None]], users: list[tuple[str, str]]) -> None:
        """Writes a read-only batch left behind; they are idempotent, so a lost one is redone next time."""

        def work(tx: Tx) -> None:
            for followup in followups:
                followup(tx)

        try:  # their units have catalogs of their own
            await self.store.write(Rehearsable(work, lambda: None), users=users)
        except RequestRejected:
            log.warning("could not record %d follow-up write(s); they will be retried", len(followups))


def _users(app: AppRecord, items: list[Prepared]) -> list[tuple[str, str]]:
    """The users a batch writes, for the store to lock with the rest of its group (``Store.write``)."""
    return [(app.app_id, user_id) for user_id in named_users(items)]


def location_of(status: int, envelope: dict[str, Any]) -> str | None:
    """Where a redirect answer (``downloadFile``) sends the client; None for a JSON answer."""
    if status != REDIRECT:
        return None
    location: str = envelope["response"][0]["location"]
    return location

