"""Requests shaped the way real Leanplum clients send them (API.md §1.7, §7), and read-backs of what was stored.

``Js`` builds the items the JavaScript SDK queues and sends as one ``text/plain`` multi; ``android_batch`` sends a
form-encoded batch with per-item ``reqId`` and a batch ``uuid``. ``send`` uses the last item's client time as the
request's top-level ``time``, so the server's skew correction is neutral: the last item lands on the server's
"now" and every other item keeps its distance from it.

The store read-backs (``count_events``, ``event_rows``, ``state_rows``, ``session_rows``) look at history that no
action exposes yet (raw export is a later issue); ``sweep`` runs one pass of the session-timeout worker.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from openplum.workers.sessions import SessionSweeper
from tests.conftest import ApiClient

NOT_FOUND = "User not found; request skipped."


@dataclass
class Js:
    """One browser running the JS SDK: a device id, the user id it currently sends, and its clock."""

    api: ApiClient
    device_id: str
    user_id: str | None = None
    t0: float = 0.0

    def __post_init__(self) -> None:
        self.t0 = self.t0 or round(time.time() - 3600, 3)

    def item(self, action: str, at: float, **params: Any) -> dict[str, Any]:
        """The item JS queues for ``action`` at ``t0 + at`` seconds (object params as JSON strings, as JS does)."""
        encoded = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
        return {
            **encoded, "appId": self.api.app.app_id, "client": "js", "clientKey": self.api.app.production,
            "sdkVersion": "1.9.0", "deviceId": self.device_id, "userId": self.user_id or self.device_id,
            "action": action, "devMode": False, "time": f"{self.t0 + at:.3f}",
        }

    def at(self, offset: float) -> float:
        return self.t0 + offset


def send(api: ApiClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send ``items`` as one JS multi, stamped with the last item's time; return the answers (HTTP 200)."""
    response = api.multi(items, time=items[-1]["time"])
    assert response.status_code == 200, response.text
    answers: list[dict[str, Any]] = response.json()["response"]
    assert len(answers) == len(items), answers
    return answers


def send_ok(api: ApiClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``send``, asserting every item succeeded without warning or error."""
    answers = send(api, items)
    for answer in answers:
        assert answer["success"] is True, answers
        assert "warning" not in answer, answers
        assert "error" not in answer, answers
    return answers


def android_item(device_id: str, action: str, at: float, batch: str, **params: Any) -> dict[str, Any]:
    """An item as Android's RequestBuilder queues it: strings for booleans and time, a reqId, the batch uuid."""
    encoded = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    return {
        **encoded, "deviceId": device_id, "userId": device_id, "action": action, "sdkVersion": "7.2.0",
        "devMode": "false", "time": f"{at:.3f}", "reqId": str(uuid.uuid4()), "uuid": batch,
    }


def android_batch(api: ApiClient, items: list[dict[str, Any]], sent_at: float) -> list[dict[str, Any]]:
    """POST ``items`` form-encoded, ``data`` a JSON string of ``{"data": [...]}``, as Android uploads."""
    form = {
        "appId": api.app.app_id, "clientKey": api.app.production, "client": "android", "sdkVersion": "7.2.0",
        "action": "multi", "time": f"{sent_at:.3f}", "data": json.dumps({"data": items}),
    }
    response = api.http.post("/api", data=form)
    assert response.status_code == 200, response.text
    answers: list[dict[str, Any]] = response.json()["response"]
    return answers


def missing(api: ApiClient, user_id: str) -> bool:
    """True when exportUser knows no such user (success, a warning, no userId)."""
    item = api.profile(user_id)
    assert item["success"] is True, item
    return "userId" not in item and "warning" in item


def count_events(api: ApiClient, user_id: str) -> int:
    app_id = api.app.app_id
    return api.server.app.store.run(lambda tx: tx.count_events(app_id, user_id))


def count_sessions(api: ApiClient, user_id: str) -> int:
    app_id = api.app.app_id
    return api.server.app.store.run(lambda tx: tx.count_sessions(app_id, user_id))


def rows(api: ApiClient, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Raw history rows of this test's app (``?`` placeholders; the app id is the first argument)."""
    app_id = api.app.app_id
    found = api.server.app.store.run(lambda tx: tx._exec(sql, (app_id, *args)).fetchall())
    return [tuple(r) for r in found]


def event_rows(api: ApiClient, user_id: str) -> list[tuple[str, float, float, str | None, str | None, Any]]:
    """(name, time, value, currency, info, params) of the user's stored events, oldest first."""
    found = rows(api, "SELECT name, time, value, currency, info, params FROM events "
                      "WHERE app_id = ? AND user_id = ? ORDER BY time", user_id)
    return [(n, float(t), float(v), c, i, json.loads(bytes(p)) if p is not None else None)
            for n, t, v, c, i, p in found]


def state_rows(api: ApiClient, user_id: str) -> list[tuple[str, float | None]]:
    """(state name, duration) of every state the user entered, in order."""
    found = rows(api, "SELECT name, duration FROM states WHERE app_id = ? AND user_id = ? ORDER BY time", user_id)
    return [(str(name), None if duration is None else float(duration)) for name, duration in found]


def session_rows(api: ApiClient, user_id: str) -> list[tuple[float | None, str | None]]:
    """(duration, end reason) of every session of the user, oldest first."""
    found = rows(api, "SELECT duration, end_reason FROM sessions WHERE app_id = ? AND user_id = ? ORDER BY started",
                 user_id)
    return [(None if d is None else float(d), r) for d, r in found]


def sweep(api: ApiClient) -> int:
    """One pass of the session-timeout worker, on this thread's own event loop, against the live store."""
    return asyncio.run(SessionSweeper(api.server.settings).run_once(api.server.app.store))
