"""What the postback tests share: a receiver on loopback, a server that may post to it, and the delivery worker.

``Receiver`` is a tiny threaded HTTP server on 127.0.0.1 that records every request and answers 500 to the next
``failures`` of them (then 200), optionally after a delay. ``pb_server`` is a server per backend (with its own
database, so no other server's worker can deliver its outbox) whose settings allow 127.0.0.1
(``OPENPLUM_OUTBOUND_ALLOW``), retry quickly (backoff 10 s doubling to 40 s, 4 attempts, 2 s timeout) and never
run the delivery worker on their own: tests run one pass with ``deliver`` and move the server's clock to make
retries due. Test modules import the fixtures they use.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from openplum.workers.postbacks import PostbackDeliverer
from tests.admin import Admin, open_admin
from tests.conftest import PG_URL, ApiClient, Server, ShiftedClock, create_test_app, make_settings, start_server

FAST_RETRIES: dict[str, Any] = {
    "outbound_allow": ("127.0.0.1/32",),
    "postback_backoff_base": 10.0,
    "postback_backoff_cap": 40.0,
    "postback_max_attempts": 4,
    "postback_timeout": 2.0,
    "postback_interval": 3600.0,  # tests run the worker themselves
}
EVERY_MESSAGE_VALUE = ("u={{User ID}}&d={{Device ID}}&t={{Trigger time}}&m={{Message ID}}&e={{Message event}}"
                       "&c={{Message channel}}&n={{Template name}}&p={{Parameters}}")


@dataclass(frozen=True)
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # a worker's burst of concurrent connections is accepted, not reset


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failures = 0
        self.delay = 0.0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str = "/hook", query: str = "") -> str:
        return f"{self.base}{path}" + (f"?{query}" if query else "")

    def of(self, api: ApiClient) -> list[Received]:
        """What arrived for the test's app (a port can be reused by a later test's receiver)."""
        with self._lock:
            return [r for r in self.received if r.json.get("appId") == api.app.app_id]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, request: Received) -> int:
        with self._lock:
            self.received.append(request)
            if self.failures > 0:
                self.failures -= 1
                return 500
            return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                request = Received(self.path, query, {k.lower(): v for k, v in self.headers.items()}, body)
                status = receiver._answer(request)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def signed_by(request: Received, secret: str) -> bool:
    """Whether the request's signature header is the HMAC-SHA256 of its body under ``secret``."""
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers.get("x-openplum-signature", ""), expected)


def deliver(api: ApiClient, **overrides: Any) -> int:
    """One pass of the delivery worker against the server's store (with other settings if given)."""
    settings = replace(api.server.settings, **overrides) if overrides else api.server.settings
    return asyncio.run(PostbackDeliverer(settings).run_once(api.server.app.store))


def add_postback(api: ApiClient, url: str, kind: str = "messageEvents", **params: Any) -> int:
    item = api.ok("addPostback", api.app.data_export, type=kind, postbackUrl=url, **params)
    postback_id: int = item["postbackId"]
    return postback_id


def outbox(api: ApiClient) -> dict[str, int]:
    """Rows in the app's outbox by state (``pending``, ``dead``)."""
    app_id = api.app.app_id
    counts: dict[str, int] = api.server.app.store.run(lambda tx: tx.delivery_counts(app_id))
    return counts


def secret_of(admin: Admin, api: ApiClient) -> str:
    secret: str = admin.ok("GET", f"/apps/{api.app.app_id}/postbacks")["secret"]
    return secret


def message(api: ApiClient, user_id: str, message_id: str, event: str | None = None, **params: Any) -> None:
    """A ``track`` with a ``messageId``, as SDKs report a message interaction."""
    fields: dict[str, Any] = {"userId": user_id, "messageId": message_id, **params}
    if event is not None:
        fields["event"] = event
    api.ok("track", **fields)


@pytest.fixture(scope="module")
def pb_server(server: Server) -> Iterator[Server]:
    """Same backend as ``server``, in a database of its own, with ``FAST_RETRIES``."""
    schema = "openplum_pb_" + secrets.token_hex(6)
    pg_url = None
    if server.backend == "postgres":
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        pg_url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    clock = ShiftedClock()
    try:
        with tempfile.TemporaryDirectory(prefix="openplum-test-pb-") as tmp:
            srv = start_server(make_settings(server.backend, clock, Path(tmp), pg_url, **FAST_RETRIES), clock,
                               server.backend)
            yield srv
            srv.stop()
    finally:
        if pg_url is not None:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def pb_api(pb_server: Server) -> Iterator[ApiClient]:
    with httpx.Client(base_url=pb_server.url, timeout=30) as http:
        yield ApiClient(pb_server, create_test_app(pb_server), http)


@pytest.fixture
def pb_admin(pb_server: Server) -> Iterator[Admin]:
    with open_admin(pb_server) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()
