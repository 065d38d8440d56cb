"""Crash safety: ``openplum serve`` killed with SIGKILL in the middle of a load keeps every acknowledged batch,
exactly once, applies no batch in part, and keeps its replay keys, so SDKs resending after the crash count nothing
twice. On SQLite (``synchronous=FULL``, the default) and on PostgreSQL; each kill point is a run on a fresh store,
killed at a slightly different instant every time (the instant is in every failure message).

A client that drops its connection in the middle of sending a request has not sent that request: nothing of it
may be applied.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.clients import missing
from tests.conftest import ApiClient
from tests.reliability.load import (
    AppKeys,
    Load,
    half_applied,
    profile_mismatches,
    profiles,
    resend,
    stored_items,
    user_of,
)
from tests.reliability.process import ServerProcess, StoreLocation, create_app

KILL_POINTS = [0.3, 1.0, 2.0]


@pytest.fixture
def served(location: StoreLocation, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(location, tmp_path / "server.log")
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", KILL_POINTS, ids=lambda s: f"kill-after-{s}s")
def test_sigkill_mid_load_loses_no_acknowledged_batch_and_applies_none_in_part(
    location: StoreLocation, served: ServerProcess, kill_after: float
) -> None:
    app = AppKeys.from_cli(create_app(location, "crash"))
    served.start()
    load = Load(served.url, app)
    delay = kill_after * random.uniform(0.8, 1.2)  # a different instant on every run

    load.start()
    load.wait_for_first_ack()  # the clock starts once the load is flowing
    time.sleep(delay)
    acked_before, in_flight = load.snapshot()
    served.kill()
    load.stop()
    run = (f"{location.backend}, killed {delay:.3f} s after the first acknowledgement: {acked_before} batch(es) "
           f"acknowledged, {in_flight} in flight, {len(load.attempted)} attempted")
    assert in_flight > 0, f"nothing was in flight at the kill ({run})"
    assert not load.unexpected, (run, load.unexpected[:5])

    served.start()  # the same store, after the crash
    store = location.open()
    users = sorted({user_of(b) for b in load.attempted})
    kept = store.run(lambda tx: stored_items(tx, app.app_id))
    assert not half_applied(kept), (run, half_applied(kept))
    assert not load.acked - kept.keys(), (run, f"acknowledged but lost: {sorted(load.acked - kept.keys())[:20]}")
    assert kept.keys() <= load.attempted
    assert not profile_mismatches(kept, profiles(served.url, app, users)), run

    # The answers to some acknowledged batches were "lost": their SDKs send them again.
    again = resend(served.url, app, load.acked, load.t0)
    assert all(again.values()), (run, [b for b, ok in again.items() if not ok][:20])
    assert store.run(lambda tx: stored_items(tx, app.app_id)) == kept, f"a resent batch was counted again ({run})"
    assert not profile_mismatches(kept, profiles(served.url, app, users)), run

    # Unacknowledged batches are still queued in their SDKs: each counts once, committed before the kill or not.
    again = resend(served.url, app, load.attempted - load.acked, load.t0)
    assert all(again.values()), (run, [b for b, ok in again.items() if not ok][:20])
    final = store.run(lambda tx: stored_items(tx, app.app_id))
    assert final.keys() == load.attempted, run
    assert not half_applied(final), (run, half_applied(final))
    assert not profile_mismatches(final, profiles(served.url, app, users)), run


# -- a request cut off by its client -------------------------------------------------------------------


def _cut_off(api: ApiClient, body: bytes, sent: int, content_type: str) -> None:
    """Declare ``body`` whole, send its first ``sent`` bytes, then drop the connection (a phone losing network)."""
    host, port = api.server.url.removeprefix("http://").split(":")
    head = (f"POST /api HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(head + body[:sent])
        time.sleep(0.3)  # let the server read what was sent before it sees the connection go


def _settle(api: ApiClient) -> None:
    """Give the server time to finish the cut-off request, which it works on after its client has gone."""
    api.ok("getMigrateState")
    time.sleep(0.2)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "application/json"])
def test_a_request_cut_off_mid_body_applies_nothing(api: ApiClient, content_type: str) -> None:
    def body_for(user: str) -> bytes:
        pad = "x" * 300_000  # several reads' worth: the server has part of the body before the connection drops
        fields = {"appId": api.app.app_id, "clientKey": api.app.production, "action": "track", "userId": user,
                  "event": "Purchase", "info": pad, "value": "100"}
        if content_type.endswith("json"):
            return httpx.Request("POST", "/", json=fields).content
        return urlencode(fields).encode()

    whole = api.http.post("/api", content=body_for("u-whole"), headers={"Content-Type": content_type})
    assert whole.status_code == 200, whole.text  # the request itself is good: sent whole, it counts
    cut = body_for("u-cut")
    _cut_off(api, cut, len(cut) * 2 // 3, content_type)
    _settle(api)

    assert api.profile("u-whole")["events"]["Purchase"]["count"] == 1
    assert missing(api, "u-cut"), api.profile("u-cut")
