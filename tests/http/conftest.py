"""A second server per backend with tight limits, for the tests that push requests over them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ApiClient, Server, ShiftedClock, create_test_app, make_settings, start_server

TIGHT_LIMITS = {
    "multi_max_items": 5,
    "max_body_bytes": 4096,
    "max_upload_bytes": 16384,
    "max_params": 30,
}


@pytest.fixture(scope="session")
def tight_server(server: Server, request: pytest.FixtureRequest) -> Iterator[Server]:
    """Same backend as ``server`` (so it runs once per backend), with the limits in ``TIGHT_LIMITS``."""
    pg_url = request.getfixturevalue("pg_schema_url") if server.backend == "postgres" else None
    clock = ShiftedClock()
    with tempfile.TemporaryDirectory(prefix="openplum-test-tight-") as tmp:
        settings = make_settings(server.backend, clock, Path(tmp), pg_url, **TIGHT_LIMITS)
        srv = start_server(settings, clock, server.backend)
        yield srv
        srv.stop()


@pytest.fixture
def tight_api(tight_server: Server) -> Iterator[ApiClient]:
    with httpx.Client(base_url=tight_server.url, timeout=30) as http:
        yield ApiClient(tight_server, create_test_app(tight_server), http)
