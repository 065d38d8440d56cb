"""Test harness: a real openplum server per backend (SQLite and PostgreSQL) on loopback, one app per test.

Every test that uses ``api`` runs twice, once per backend. ``OPENPLUM_TEST_BACKENDS=sqlite`` (or ``postgres``)
narrows that; PostgreSQL comes from ``OPENPLUM_TEST_DATABASE_URL`` (default: the local server, database
``test``), in a schema of its own that is dropped at the end, so runs never see each other's data. An
unreachable PostgreSQL fails the run rather than skipping it.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from openplum.app import OpenplumApp
from openplum.http.protocol import HeldWritesProtocol
from openplum.services import apps
from openplum.settings import Settings
from openplum.store.base import Tx

PG_URL = os.environ.get("OPENPLUM_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = [b for b in os.environ.get("OPENPLUM_TEST_BACKENDS", "sqlite,postgres").split(",") if b]


class ShiftedClock:
    """Real time plus an offset that tests can push forward (session timeouts, expiries)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    backend: str
    app: OpenplumApp
    url: str
    clock: ShiftedClock
    settings: Settings
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


def start_server(settings: Settings, clock: ShiftedClock, backend: str) -> Server:
    app = OpenplumApp(settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            loop=settings.event_loop, http=HeldWritesProtocol)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if not thread.is_alive() or time.time() > deadline:
            raise RuntimeError(f"openplum test server ({backend}) did not start")
        time.sleep(0.02)
    return Server(backend, app, f"http://127.0.0.1:{port}", clock, settings, server, thread)


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    schema = "openplum_test_" + secrets.token_hex(6)
    try:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL}: {exc}")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def make_settings(backend: str, clock: ShiftedClock, data_dir: Path, pg_url: str | None, **overrides: Any) -> Settings:
    base = Settings(
        data_dir=data_dir,
        database_url=pg_url if backend == "postgres" else None,
        clock=clock,
        sqlite_synchronous="NORMAL",
        sqlite_rehearse="always",  # every SDK batch through the rehearsal that several workers use
        session_sweep_interval=3600.0,  # tests run the sweeper themselves
    )
    return base.with_overrides(**overrides)


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    backend: str = request.param
    pg_url = request.getfixturevalue("pg_schema_url") if backend == "postgres" else None
    clock = ShiftedClock()
    with tempfile.TemporaryDirectory(prefix="openplum-test-") as tmp:
        srv = start_server(make_settings(backend, clock, Path(tmp), pg_url), clock, backend)
        yield srv
        srv.stop()


@dataclass
class AppUnderTest:
    app_id: str
    production: str
    development: str
    data_export: str
    content_read_only: str


@dataclass
class ApiClient:
    """Plain HTTP against the running server, with the test's app filled in."""

    server: Server
    app: AppUnderTest
    http: httpx.Client

    def call(self, action: str, key: str | None = None, method: str = "POST", **params: Any) -> httpx.Response:
        query = {"appId": self.app.app_id, "clientKey": key or self.app.production, "action": action}
        query.update({k: v for k, v in params.items() if not isinstance(v, dict | list)})
        body = {k: v for k, v in params.items() if isinstance(v, dict | list)}
        if method == "GET":
            return self.http.get("/api", params=query)
        return self.http.post("/api", params=query, json=body or None)

    def ok(self, action: str, key: str | None = None, **params: Any) -> dict[str, Any]:
        """Call one action and return its response item, asserting success without warning or error."""
        response = self.call(action, key, **params)
        assert response.status_code == 200, response.text
        item: dict[str, Any] = response.json()["response"][0]
        assert item["success"] is True, item
        assert "error" not in item, item
        assert "warning" not in item, item
        return item

    def multi(self, items: list[dict[str, Any]], key: str | None = None, **top: Any) -> httpx.Response:
        query = {"appId": self.app.app_id, "clientKey": key or self.app.production, "action": "multi",
                 "time": f"{time.time():.3f}", **top}
        return self.http.post("/api", params=query, content=httpx_json({"data": items}),
                              headers={"Content-Type": "text/plain"})

    def profile(self, user_id: str) -> dict[str, Any]:
        response = self.call("exportUser", self.app.data_export, method="GET", userId=user_id)
        assert response.status_code == 200, response.text
        item: dict[str, Any] = response.json()["response"][0]
        return item


def httpx_json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def create_test_app(server: Server) -> AppUnderTest:
    record = apps.new_app("test", server.clock.now(), "app_" + secrets.token_hex(8))

    def create(tx: Tx) -> apps.AppRecord:
        return apps.create_app(tx, record)

    server.app.store.run(create)
    return AppUnderTest(record.app_id, record.production_key, record.development_key, record.data_export_key,
                        record.content_read_only_key)


@pytest.fixture
def api(server: Server) -> Iterator[ApiClient]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield ApiClient(server, create_test_app(server), http)
