"""Overload: beyond capacity the server sheds work with a retryable 503 in Leanplum's envelope (never a 429, which
Android treats as final), applies nothing of what it shed, loses nothing it acknowledged, recovers as soon as the
load drops, and holds a bounded amount of work (and memory) however long the flood lasts, even when clients give
up on their requests and send new ones.

The server (``busy_server``, one per backend) has a writer queue of ``QUEUE_LIMIT`` and a 256 KB body limit.
Capacity is made small on purpose: ``slowed`` makes every write (or read) spend a fixed time in the store's own
threads, as a slow disk or a busy database would, so a handful of clients is already a flood.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients import missing
from tests.conftest import ApiClient
from tests.reliability.busy import BODY_LIMIT, BUSY, QUEUE_LIMIT, Held, keys, slowed
from tests.reliability.load import (
    Load,
    half_applied,
    post_batch,
    profile_mismatches,
    profiles,
    resend,
    stored_items,
    user_of,
)

PAD = 192 * 1024
"""Bytes of padding in each flood request, so that work held for a client that left shows in memory."""

def rss() -> int:
    """This process's resident memory in bytes (the in-process server's memory, and the test's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class Peak:
    """The highest RSS seen while the block runs, sampled every 10 ms."""

    def __enter__(self) -> Peak:
        self.base = self.peak = rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def in_parallel(count: int, target: Callable[[], None]) -> None:
    workers = [threading.Thread(target=target) for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def flood(url: str, send: Callable[[httpx.Client], httpx.Response], *, threads: int, seconds: float,
          timeout: float) -> dict[str, int]:
    """``threads`` clients calling ``send`` for ``seconds``, each giving up on an answer after ``timeout`` (and
    sending the next request at once, as an impatient SDK does); the answers by status, and how many gave up."""
    outcomes: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=timeout) as http:
            while time.monotonic() < stop:
                try:
                    outcome = str(send(http).status_code)
                except httpx.TimeoutException:
                    outcome = "gave up"
                with lock:
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1

    in_parallel(threads, client)
    return outcomes


# -- shedding writes -------------------------------------------------------------------------------------


def test_beyond_capacity_batches_are_shed_with_503_nothing_acknowledged_is_lost_and_retries_succeed(
    busy_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = busy_api.server
    slowed(monkeypatch, server, "write", 0.05)
    app = keys(busy_api)
    load = Load(server.url, app, threads=12, max_batches=100)
    load.start()
    load.wait()

    assert not load.unexpected, load.unexpected[:5]
    assert set(load.statuses) == {200, 503}, load.statuses  # never a 429: Android drops a batch answered with one
    assert {(ctype, json.loads(body) == BUSY) for ctype, body in load.shed} == {("application/json", True)}, load.shed
    kept = server.app.store.run(lambda tx: stored_items(tx, app.app_id))
    assert kept.keys() == load.acked, "acknowledged batches are kept; shed ones are not applied at all"
    assert not half_applied(kept)
    users = sorted({user_of(b) for b in load.attempted})
    assert not profile_mismatches(kept, profiles(server.url, app, users))

    # The SDKs retry what was shed; the load has passed, so every retry is taken.
    retried = resend(server.url, app, load.attempted - load.acked, load.t0, threads=2)
    assert all(retried.values()), [b for b, ok in retried.items() if not ok][:20]
    final = server.app.store.run(lambda tx: stored_items(tx, app.app_id))
    assert final.keys() == load.attempted
    assert not half_applied(final)
    assert not profile_mismatches(final, profiles(server.url, app, users))


def test_a_write_shed_inside_a_single_call_is_a_503_too(busy_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    server = busy_api.server
    # Each writer takes every request queued when it starts a group, so requests must pile up while all writers
    # are busy: a write far longer than the clients take to send theirs. At 20 ms, PostgreSQL's two writers
    # sometimes took each arrival as it came and nothing was ever shed.
    slowed(monkeypatch, server, "write", 0.1)

    def track(http: httpx.Client) -> httpx.Response:
        return http.post("/api", params={"appId": busy_api.app.app_id, "clientKey": busy_api.app.production,
                                         "action": "track", "userId": "u-single", "event": "Tap"})

    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for _ in range(4):
                response = track(http)
                with lock:
                    answers.append(response)

    in_parallel(12, client)

    statuses = sorted({r.status_code for r in answers})
    assert statuses == [200, 503], statuses
    assert all(r.json() == BUSY for r in answers if r.status_code == 503)
    counted = busy_api.profile("u-single")["events"]["Tap"]["count"]
    assert counted == sum(1 for r in answers if r.status_code == 200), "exactly the acknowledged calls count"


# -- bounded work and memory -----------------------------------------------------------------------------


def _padded_track(user: str) -> dict[str, Any]:
    return {"action": "track", "userId": user, "event": "Flood", "info": "p" * PAD, "time": f"{time.time():.6f}"}


@pytest.mark.slow
def test_clients_that_give_up_on_writes_do_not_make_the_server_hold_their_work(
    busy_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = busy_api.server
    slowed(monkeypatch, server, "write", 0.05)
    held = Held(monkeypatch, server)
    app = keys(busy_api)
    threads = 12

    def send(http: httpx.Client) -> httpx.Response:
        return post_batch(http, app, [_padded_track("u-flood")], time.time())

    flood(server.url, send, threads=threads, seconds=0.3, timeout=0.05)  # warm-up: threads, buffers, arenas
    held.settle()
    held.peak, held.statuses = 0, {}
    with Peak() as memory:
        outcomes = flood(server.url, send, threads=threads, seconds=1.5, timeout=0.05)
        held.settle()

    # Beyond capacity the server sheds: on a slow machine every client may have given up before its 503 came
    assert held.statuses.get(503), (held.statuses, outcomes)
    assert not set(outcomes) - {"200", "503", "gave up"}, outcomes
    # the clients' own requests, plus at most a full queue and the group being committed; the bodies of the
    # thousands of requests sent (hundreds of MB) are not kept
    seen = f"{held.peak} requests held at once, memory grew by {memory.growth_mb:.0f} MB; answers: {outcomes}"
    assert held.peak <= threads + 2 * QUEUE_LIMIT + 1, seen
    assert memory.growth_mb < 64, seen
    busy_api.ok("track", userId="u-after", event="Recovered")


@pytest.mark.slow
def test_clients_that_give_up_on_reads_do_not_make_the_server_hold_their_work(
    busy_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same flood of abandoned requests, made of reads that wait for the store (``listPostbacks``: in the
    reader threads, or on PostgreSQL for a connection of the event loop's): the work held stays bounded, as for
    writes.

    Bound: the clients' own requests plus 64 waiting, whatever limit a read queue gets (this server's writer queue
    holds 4). A flood that nobody sheds holds hundreds of requests, and their bodies, here.
    """
    server = busy_api.server
    reads = slowed(monkeypatch, server, "read", 0.05)
    held = Held(monkeypatch, server)
    threads = 12

    def send(http: httpx.Client) -> httpx.Response:
        return http.post("/api", params={"appId": busy_api.app.app_id, "clientKey": busy_api.app.data_export,
                                         "action": "listPostbacks"}, json={"pad": "p" * PAD})

    with Peak() as memory:
        outcomes = flood(server.url, send, threads=threads, seconds=1.5, timeout=0.05)
        held.settle(timeout=60)

    assert reads.calls, "no read waited for the store: this flood tests nothing"
    assert not set(outcomes) - {"200", "503", "gave up"}, outcomes
    seen = f"{held.peak} requests held at once, memory grew by {memory.growth_mb:.0f} MB; answers: {outcomes}"
    assert held.peak <= threads + 64, seen
    assert memory.growth_mb < 64, seen
    busy_api.ok("listPostbacks", busy_api.app.data_export)


# -- the body limit under load ---------------------------------------------------------------------------


def test_the_body_limit_holds_under_load_and_oversized_requests_store_nothing(
    busy_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = busy_api.server
    slowed(monkeypatch, server, "write", 0.05)
    load = Load(server.url, keys(busy_api), threads=16, max_batches=100)
    oversized = json.dumps({"appId": busy_api.app.app_id, "clientKey": busy_api.app.production, "action": "track",
                            "userId": "u-huge", "event": "Huge", "info": "h" * (4 * BODY_LIMIT)}).encode()

    def chunked() -> Iterator[bytes]:
        for start in range(0, len(oversized), 16384):
            yield oversized[start : start + 16384]

    answers = []
    with Peak() as memory:
        load.start()
        for _ in range(10):
            answers.append(busy_api.http.post("/api", content=oversized, headers={"Content-Type": "text/plain"}))
            answers.append(busy_api.http.post("/api", content=chunked(), headers={"Content-Type": "text/plain"}))
        load.wait()

    for response in answers:
        assert response.status_code == 413, response.text[:200]
        assert response.json()["response"][0]["success"] is False
        assert "too large" in response.json()["response"][0]["error"]["message"]
    assert missing(busy_api, "u-huge")
    assert 503 in load.statuses, "the writer was saturated meanwhile"
    assert set(load.statuses) <= {200, 503}, load.statuses
    assert not load.unexpected, load.unexpected[:3]
    assert memory.growth_mb < 64, memory.growth_mb
