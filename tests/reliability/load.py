"""Identifiable batches, a threaded load client that records which of them the server acknowledged, and the
read-backs that check what the store kept.

Batch ``b`` is a JavaScript-SDK ``multi`` for one user (``user_of(b)``): ``ITEMS`` tracks of the event
``event_of(b)``, item ``i`` carrying ``params={"b": b, "n": i}``, then a ``setUserAttributes`` that increments the
user's ``batches`` attribute. So every stored event names its batch and item, and a user's ``batches`` attribute
counts the batches applied for them: a batch is whole when all ``ITEMS`` events are stored and the increment is
counted. Event names repeat (an app may have at most 500), so profile counters sum over batches.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from openplum.store.base import Tx

ITEMS = 10
USERS = 40
NAMES = 7
COUNTER = "batches"


@dataclass(frozen=True)
class AppKeys:
    app_id: str
    production: str
    data_export: str

    @classmethod
    def from_cli(cls, created: dict[str, Any]) -> AppKeys:
        keys = created["keys"]
        return cls(created["appId"], keys["production"], keys["dataExport"])


def user_of(batch: int) -> str:
    return f"u{batch % USERS}"


def event_of(batch: int) -> str:
    return f"E{batch % NAMES}"


def batch_items(app: AppKeys, batch: int, t0: float) -> list[dict[str, Any]]:
    """The items the JS SDK queues: object parameters as JSON strings, each item with its own client ``time``."""
    user = user_of(batch)

    def item(action: str, at: float, **params: Any) -> dict[str, Any]:
        return {**params, "appId": app.app_id, "client": "js", "clientKey": app.production, "sdkVersion": "1.9.0",
                "deviceId": f"dev-{user}", "userId": user, "action": action, "devMode": False,
                "time": f"{t0 + batch * 0.01 + at:.3f}"}

    tracks = [item("track", i * 0.0005, event=event_of(batch), value=1, params=json.dumps({"b": batch, "n": i}))
              for i in range(ITEMS)]
    counter = item("setUserAttributes", ITEMS * 0.0005, userAttributeValuesToIncrement=json.dumps({COUNTER: 1}))
    return [*tracks, counter]


def post_batch(http: httpx.Client, app: AppKeys, items: list[dict[str, Any]], sent_at: float) -> httpx.Response:
    """One upload as the JS SDK sends it: credentials in the URL, ``{"data": [...]}`` as ``text/plain``."""
    query = {"appId": app.app_id, "clientKey": app.production, "action": "multi", "time": f"{sent_at:.3f}"}
    return http.post("/api", params=query, content=json.dumps({"data": items}).encode(),
                     headers={"Content-Type": "text/plain"})


def acknowledged(response: httpx.Response, items: int) -> bool:
    """HTTP 200 and every item answered ``success``: what lets an SDK drop the batch from its queue."""
    if response.status_code != 200:
        return False
    answers = response.json()["response"]
    return len(answers) == items and all(a.get("success") is True for a in answers)


def surprise(response: httpx.Response) -> str | None:
    """Why an answer is not what these batches should get (200 with clean items, or a retryable 503)."""
    if response.status_code == 503:
        return None
    if response.status_code == 200 and not any(
        "warning" in a or "error" in a or a.get("success") is not True for a in response.json()["response"]
    ):
        return None
    return f"{response.status_code} {response.text[:300]}"


@dataclass
class Load:
    """Threads sending batches 0, 1, 2... until stopped, ``max_batches`` or a transport error (a dead server)."""

    url: str
    app: AppKeys
    threads: int = 8
    max_batches: int = 4000
    t0: float = field(default_factory=lambda: round(time.time() - 3600, 3))
    attempted: set[int] = field(default_factory=set)
    acked: set[int] = field(default_factory=set)
    in_flight: set[int] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    shed: set[tuple[str, str]] = field(default_factory=set)
    """(content type, body) of every distinct 503 answer."""
    unexpected: list[str] = field(default_factory=list)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _first_ack: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self.wait(timeout)

    def wait(self, timeout: float = 60) -> None:
        """Until every batch has been sent (or the threads stopped)."""
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        assert not any(w.is_alive() for w in self._workers), "load threads did not stop"

    def wait_for_first_ack(self, timeout: float = 30) -> None:
        assert self._first_ack.wait(timeout), f"no batch acknowledged within {timeout} s: {self.unexpected[:3]}"

    def snapshot(self) -> tuple[int, int]:
        """(acknowledged so far, requests in flight now)."""
        with self._lock:
            return len(self.acked), len(self.in_flight)

    def _claim(self) -> int | None:
        with self._lock:
            if self._stop.is_set() or self._next >= self.max_batches:
                return None
            batch, self._next = self._next, self._next + 1
            self.attempted.add(batch)
            self.in_flight.add(batch)
            return batch

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=20) as http:
            while (batch := self._claim()) is not None:
                items = batch_items(self.app, batch, self.t0)
                try:
                    response = post_batch(http, self.app, items, time.time())
                except httpx.TransportError:
                    with self._lock:
                        self.in_flight.discard(batch)
                    return  # the server is gone: this SDK would retry later
                ok, odd = acknowledged(response, len(items)), surprise(response)
                with self._lock:
                    self.in_flight.discard(batch)
                    self.statuses[response.status_code] += 1
                    if ok:
                        self.acked.add(batch)
                        self._first_ack.set()
                    if response.status_code == 503:
                        self.shed.add((response.headers.get("content-type", ""), response.text))
                    if odd:
                        self.unexpected.append(f"batch {batch}: {odd}")


def resend(url: str, app: AppKeys, batches: Iterable[int], t0: float, threads: int = 8) -> dict[int, bool]:
    """Send ``batches`` again (an SDK retrying after a timeout); whether each was acknowledged."""
    todo = sorted(batches)
    outcome: dict[int, bool] = {}
    lock = threading.Lock()

    def run(share: list[int]) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for batch in share:
                items = batch_items(app, batch, t0)
                ok = acknowledged(post_batch(http, app, items, time.time()), len(items))
                with lock:
                    outcome[batch] = ok

    workers = [threading.Thread(target=run, args=(todo[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcome


# -- what the store kept -------------------------------------------------------------------------------


def stored_items(tx: Tx, app_id: str) -> dict[int, list[int]]:
    """Item numbers stored per batch (a list, so a duplicate shows), read straight from the events table."""
    rows = tx._exec("SELECT name, params FROM events WHERE app_id = ?", (app_id,)).fetchall()
    out: dict[int, list[int]] = defaultdict(list)
    for name, params in rows:
        ids = json.loads(bytes(params))
        batch = int(ids["b"])
        assert name == event_of(batch), f"event {name!r} stored for batch {batch}"
        out[batch].append(int(ids["n"]))
    return dict(out)


def half_applied(kept: dict[int, list[int]]) -> dict[int, list[int]]:
    """Batches whose stored items are not exactly 0..ITEMS-1 once each."""
    return {b: sorted(items) for b, items in kept.items() if sorted(items) != list(range(ITEMS))}


def profiles(url: str, app: AppKeys, users: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each user's profile through ``exportUser`` (data export key); a user never seen maps to ``{}``."""
    out: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=url, timeout=30) as http:
        for user in users:
            response = http.get("/api", params={"appId": app.app_id, "clientKey": app.data_export,
                                                "action": "exportUser", "userId": user})
            assert response.status_code == 200, response.text
            item = response.json()["response"][0]
            assert item["success"] is True, item
            out[user] = item if "userId" in item else {}
    return out


def profile_mismatches(kept: dict[int, list[int]], found: dict[str, dict[str, Any]]) -> list[str]:
    """Where a profile's counters disagree with the stored events (per event name) or with the batches applied."""
    expected_events: dict[str, Counter[str]] = defaultdict(Counter)
    expected_batches: Counter[str] = Counter()
    for batch, items in kept.items():
        expected_events[user_of(batch)][event_of(batch)] += len(items)
        expected_batches[user_of(batch)] += 1
    problems = []
    for user, profile in found.items():
        events = {name: figures["count"] for name, figures in profile.get("events", {}).items()}
        expected = dict(expected_events[user])
        if events != expected:
            problems.append(f"{user}: event counts in the profile {events}, stored {expected}")
        counted = profile.get("userAttributes", {}).get(COUNTER, 0)
        if counted != expected_batches[user]:
            problems.append(f"{user}: {COUNTER}={counted}, but {expected_batches[user]} batch(es) are stored")
    return problems
