"""The fuzz suite's server: one per backend, like the session's, but with its background workers off and, on
PostgreSQL, a schema of its own.

Fuzzed requests start export and import jobs and add postbacks with random URLs; with workers running (this
server's, or the session server's sharing its database), those would reach out to random hosts and change the
app's rows while a test compares them before and after a rejected request. Requests themselves take exactly the
same path as on any server.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import PG_URL, ApiClient, Server, ShiftedClock, create_test_app, make_settings, start_server
from tests.fuzz.seed import seed
from tests.fuzz.state import reader


@pytest.fixture(scope="session")
def fuzz_server(server: Server, request: pytest.FixtureRequest) -> Iterator[Server]:
    """Same backend as ``server`` (so each fuzz test runs once per backend), without workers."""
    clock = ShiftedClock()
    with tempfile.TemporaryDirectory(prefix="openplum-test-fuzz-") as tmp, _own_schema(server.backend) as pg_url:
        settings = make_settings(server.backend, clock, Path(tmp), pg_url, run_workers=False)
        srv = start_server(settings, clock, server.backend)
        with reader(srv):
            yield srv
        srv.stop()


@contextmanager
def _own_schema(backend: str) -> Iterator[str | None]:
    """A PostgreSQL schema only the fuzz server uses (None on SQLite), dropped afterwards."""
    if backend != "postgres":
        yield None
        return
    schema = "openplum_fuzz_" + secrets.token_hex(6)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def fuzz_api(fuzz_server: Server) -> Iterator[ApiClient]:
    """An app on the fuzz server, seeded with users, sessions, variables, a file, an A/B test, that every fuzz test
    of the backend then shares: what one property's requests store, the next one's meet."""
    with httpx.Client(base_url=fuzz_server.url, timeout=30) as http:
        client = ApiClient(fuzz_server, create_test_app(fuzz_server), http)
        seed(client)
        yield client
