"""A server built to be overloaded, and ways to make it so: one per backend with a writer queue of ``QUEUE_LIMIT``,
a ``BODY_LIMIT`` body limit and no background workers; ``Slowed`` makes its store slow; ``Held`` counts the
requests it is working on. Test modules import the fixtures they use."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Collection, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import httpx
import pytest

from openplum.errors import RequestRejected
from openplum.http.api import Api
from openplum.store.base import Tx
from tests.conftest import ApiClient, Server, ShiftedClock, create_test_app, make_settings, start_server
from tests.reliability.load import AppKeys

QUEUE_LIMIT = 4
BODY_LIMIT = 256 * 1024
BUSY = {"response": [{"success": False, "error": {"message": "Server is busy; retry later."}}]}


@pytest.fixture(scope="module")
def busy_server(server: Server, request: pytest.FixtureRequest) -> Iterator[Server]:
    """Same backend as ``server``; a tiny writer queue, a small body limit, no background workers."""
    pg_url = request.getfixturevalue("pg_schema_url") if server.backend == "postgres" else None
    clock = ShiftedClock()
    with tempfile.TemporaryDirectory(prefix="openplum-test-busy-") as tmp:
        settings = make_settings(server.backend, clock, Path(tmp), pg_url, writer_queue_limit=QUEUE_LIMIT,
                                 max_body_bytes=BODY_LIMIT, run_workers=False)
        srv = start_server(settings, clock, server.backend)
        yield srv
        srv.stop()


@pytest.fixture
def busy_api(busy_server: Server) -> Iterator[ApiClient]:
    with httpx.Client(base_url=busy_server.url, timeout=30) as http:
        yield ApiClient(busy_server, create_test_app(busy_server), http)


def keys(api: ApiClient) -> AppKeys:
    return AppKeys(api.app.app_id, api.app.production, api.app.data_export)


class Slowed:
    """Every ``store.write`` (or ``store.read``) of the running server spends ``seconds`` in the store's own
    threads, as on a slow disk or a busy database; ``calls`` counts them. Work a store does on the event loop
    itself (SQLite's key lookups) is left alone: sleeping there would stop the whole server, not fill a queue.
    PostgreSQL's reads of one statement wait on the loop for their answer: that wait is made ``seconds`` longer.

    The store's own methods are left as they are (the compiled build cannot replace them): what is slowed is
    what they hand their work to, the group-commit writer's ``submit`` and the reader threads' executor.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, server: Server, method: str, seconds: float) -> None:
        self.calls = 0
        store = server.app.store
        loop_reader = getattr(store, "_loop_reader", None)
        if method == "read" and loop_reader is not None:
            fetch = loop_reader._fetch

            async def slow_fetch(*args: Any) -> Any:
                self.calls += 1
                await asyncio.sleep(seconds)
                return await fetch(*args)

            monkeypatch.setattr(loop_reader, "_fetch", slow_fetch)

        def slowly(fn: Callable[..., Any]) -> Callable[..., Any]:
            def slow(*args: Any) -> Any:
                if not _on_event_loop():
                    self.calls += 1
                    time.sleep(seconds)
                return fn(*args)

            return slow

        if method == "write":
            writer = store._writer
            submit: Callable[..., Awaitable[Any]] = writer.submit

            async def slow_submit(fn: Callable[[Tx], Any], users: Collection[tuple[str, str]] = ()) -> Any:
                return await submit(slowly(fn), users)

            monkeypatch.setattr(writer, "submit", slow_submit)
        else:
            readers: Executor = getattr(store, "_readers", None) or store._executor
            run = readers.submit

            def slow_run(fn: Callable[..., Any], *args: Any) -> Future[Any]:
                return run(slowly(fn), *args)

            monkeypatch.setattr(readers, "submit", slow_run)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def slowed(monkeypatch: pytest.MonkeyPatch, server: Server, method: str, seconds: float) -> Slowed:
    return Slowed(monkeypatch, server, method, seconds)


class Held:
    """How many requests the server is working on at once (``Api.handle`` calls under way), at most, and the
    statuses it answered them with: those of clients that had given up included, which they never saw."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, server: Server) -> None:
        self.now = 0
        self.peak = 0
        self.statuses: dict[int, int] = {}
        api = server.app.api
        held = self

        class Counted(Api):  # a subclass: the compiled build's Api cannot have a method replaced
            async def handle(self, request: Any) -> Any:
                held.now += 1  # one event loop: no lock needed
                held.peak = max(held.peak, held.now)
                status = 0  # no answer: the request was cancelled
                try:
                    answer = await super().handle(request)
                    status = answer[0]
                    return answer
                except RequestRejected as exc:
                    status = exc.status
                    raise
                finally:
                    held.now -= 1
                    held.statuses[status] = held.statuses.get(status, 0) + 1

        monkeypatch.setattr(server.app, "api", Counted(api.runtime, api.store, api.directory))

    def settle(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.now and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.now == 0, f"{self.now} request(s) still held {timeout} s after the flood"


