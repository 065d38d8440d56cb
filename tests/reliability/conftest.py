"""Fixtures of the reliability tests: the server built to be overloaded (``tests.reliability.busy``), and a fresh
store on each backend for tests that run ``openplum serve`` as a process of its own (``location``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.reliability.busy import busy_api, busy_server
from tests.reliability.process import StoreLocation, fresh_store

__all__ = ["busy_api", "busy_server", "location"]


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreLocation]:
    with fresh_store(request.param, tmp_path) as found:
        yield found
