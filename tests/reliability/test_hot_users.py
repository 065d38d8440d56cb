"""A few users written by many requests at once, through two server processes: every batch is applied on its
first try, whole and once. On PostgreSQL the processes' writers commit groups of requests concurrently, so two
groups often want the same users; each locks all of its users before its first request runs
(``Store.write(users=...)``), where groups that took them request by request used to meet in deadlocks, and
PostgreSQL answered one request of each with a retryable 503 after a second.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.reliability.load import (
    USERS,
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

HOT = 4
"""Users every batch is for: batch ``b`` is for ``user_of(b)``, so batches ``USERS * k + j`` (j < HOT)."""
SENDERS = 16
BATCHES_EACH = 12


@pytest.mark.slow
def test_batches_for_a_few_users_through_two_processes_are_each_applied_on_their_first_try(
    location: StoreLocation, tmp_path: Path
) -> None:
    app = AppKeys.from_cli(create_app(location, "hot"))
    served = ServerProcess(location, tmp_path / "server.log", "--workers", "2")
    served.start()
    t0 = time.time() - 600
    refused: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(SENDERS)

    def send(sender: int) -> None:
        with httpx.Client(base_url=served.url, timeout=60) as http:
            start.wait()
            for n in range(BATCHES_EACH):
                batch = USERS * (sender * BATCHES_EACH + n) + (sender + n) % HOT
                items = batch_items(app, batch, t0)
                response = post_batch(http, app, items, time.time())
                if not acknowledged(response, len(items)):
                    with lock:
                        refused.append(f"batch {batch}: {response.status_code} {response.text[:200]}")

    try:
        senders = [threading.Thread(target=send, args=(s,)) for s in range(SENDERS)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()

        assert not refused, refused[:5]
        kept = location.open().run(lambda tx: stored_items(tx, app.app_id))
        assert len(kept) == SENDERS * BATCHES_EACH
        assert not half_applied(kept), half_applied(kept)
        users = sorted({user_of(b) for b in kept})
        assert len(users) == HOT
        assert not profile_mismatches(kept, profiles(served.url, app, users))
    finally:
        served.stop()
    assert "Traceback" not in served.log(), served.log()
