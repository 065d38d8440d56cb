"""The ``admin`` fixture: an admin token on the session's server and an httpx client that sends it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.admin import Admin, open_admin
from tests.conftest import Server
from tests.postbacks import pb_admin, pb_api, pb_server, receiver  # noqa: F401 - the postback tests' fixtures


@pytest.fixture
def admin(server: Server) -> Iterator[Admin]:
    with open_admin(server) as client:
        yield client
