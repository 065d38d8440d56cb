"""Replays when the server is slow or runs as several processes: an SDK that times out resends a batch while the
first copy is still queued or being written, possibly to another server process. ``tests/test_replays.py`` covers
replays one after the other; here the copies race, and each batch still counts exactly once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ApiClient
from tests.reliability.busy import keys, slowed
from tests.reliability.load import (
    ITEMS,
    AppKeys,
    acknowledged,
    batch_items,
    half_applied,
    post_batch,
    profile_mismatches,
    profiles,
    stored_items,
    user_of,
)
from tests.reliability.process import ServerProcess, StoreLocation, create_app


def test_a_batch_resent_while_its_first_copy_is_still_queued_counts_once(
    busy_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = busy_api.server
    slowed(monkeypatch, server, "write", 0.2)  # longer than the SDK waits
    app = keys(busy_api)
    t0 = time.time() - 600
    items = batch_items(app, 0, t0)

    with httpx.Client(base_url=server.url, timeout=0.05) as impatient:
        for _ in range(3):  # the first copy and two retries, each abandoned
            with pytest.raises(httpx.TimeoutException):
                post_batch(impatient, app, items, time.time())
    with httpx.Client(base_url=server.url, timeout=30) as patient:
        final = post_batch(patient, app, items, time.time())

    assert acknowledged(final, len(items)), final.text
    kept = server.app.store.run(lambda tx: stored_items(tx, app.app_id))
    assert {b: sorted(found) for b, found in kept.items()} == {0: list(range(ITEMS))}, kept
    assert not profile_mismatches(kept, profiles(server.url, app, [user_of(0)]))


@pytest.mark.slow
def test_copies_of_a_batch_racing_through_two_server_processes_count_once(
    location: StoreLocation, tmp_path: Path
) -> None:
    app = AppKeys.from_cli(create_app(location, "racing"))
    served = ServerProcess(location, tmp_path / "server.log", "--workers", "2")
    served.start()
    copies, batches = 4, 40
    t0 = time.time() - 600
    answers: dict[int, list[bool]] = {b: [] for b in range(batches)}
    lock = threading.Lock()
    try:
        for batch in range(batches):
            items = batch_items(app, batch, t0)
            start = threading.Barrier(copies)

            def send(items: list[dict[str, Any]], batch: int, start: threading.Barrier) -> None:
                with httpx.Client(base_url=served.url, timeout=30) as http:  # a connection of its own
                    start.wait()
                    ok = acknowledged(post_batch(http, app, items, time.time()), len(items))
                with lock:
                    answers[batch].append(ok)

            senders = [threading.Thread(target=send, args=(items, batch, start)) for _ in range(copies)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()

        assert all(all(oks) and len(oks) == copies for oks in answers.values()), answers
        kept = location.open().run(lambda tx: stored_items(tx, app.app_id))
        assert kept.keys() == set(range(batches))
        assert not half_applied(kept), half_applied(kept)
        users = sorted({user_of(b) for b in range(batches)})
        assert not profile_mismatches(kept, profiles(served.url, app, users))
    finally:
        served.stop()
    assert "Traceback" not in served.log(), served.log()
