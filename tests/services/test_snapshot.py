"""Content snapshots stay fresh across processes: a second server on the same store (the same SQLite data
directory, or the same PostgreSQL schema) serves a change made through the first one's management API within
a second or two, without restarting, because its content watcher polls the store's content versions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.admin import Admin, assignments, define, get_vars, make_users, open_admin, set_value, start_test, variant
from tests.conftest import ApiClient, Server, make_settings, start_server

FRESH_WITHIN = 2.0
"""Seconds a second process may take to serve a change (its watcher polls every 0.5 s)."""


@pytest.fixture
def admin(server: Server) -> Iterator[Admin]:
    with open_admin(server) as client:
        yield client


@pytest.fixture(scope="module")
def second_server(server: Server) -> Iterator[Server]:
    """Another openplum instance, with its own settings object and workers, on the first one's store."""
    settings = make_settings(server.backend, server.clock, server.settings.data_dir, server.settings.database_url)
    assert settings.run_workers
    srv = start_server(settings, server.clock, server.backend)
    yield srv
    srv.stop()


@pytest.fixture
def other(api: ApiClient, second_server: Server) -> Iterator[ApiClient]:
    """The test's app, as seen through the second server."""
    with httpx.Client(base_url=second_server.url, timeout=30) as http:
        yield ApiClient(second_server, api.app, http)


def _eventually(read: Callable[[], Any], expected: Any) -> float:
    """Poll ``read`` until it returns ``expected``; return how long that took, failing after ``FRESH_WITHIN``."""
    started = time.monotonic()
    while True:
        seen = read()
        elapsed = time.monotonic() - started
        if seen == expected:
            return elapsed
        assert elapsed < FRESH_WITHIN, f"still {seen!r} after {elapsed:.2f} s (expected {expected!r})"
        time.sleep(0.05)


def test_the_second_server_is_a_separate_instance_on_the_same_store(api: ApiClient, other: ApiClient) -> None:
    assert other.server.app is not api.server.app
    assert other.server.url != api.server.url
    assert other.server.settings.data_dir == api.server.settings.data_dir
    assert other.server.settings.database_url == api.server.settings.database_url
    api.ok("start", userId="u-1")
    assert other.profile("u-1")["userId"] == "u-1"


def test_a_team_value_set_on_one_server_is_served_by_the_other(
    admin: Admin, api: ApiClient, other: ApiClient
) -> None:
    define(api, {"welcome": "Hi", "limits": {"maxItems": 10}})
    api.ok("start", userId="u-1")
    assert get_vars(other, "u-1")["vars"] == {}  # the second server now holds a snapshot without the value

    set_value(admin, api, "welcome", "Hello from the team")

    assert get_vars(api, "u-1")["vars"] == {"welcome": "Hello from the team"}  # at once where it was changed
    _eventually(lambda: get_vars(other, "u-1")["vars"], {"welcome": "Hello from the team"})


def test_a_later_change_reaches_the_other_server_too(admin: Admin, api: ApiClient, other: ApiClient) -> None:
    define(api, {"welcome": "Hi"})
    api.ok("start", userId="u-1")
    for value in ("one", "two", "three"):
        set_value(admin, api, "welcome", value)
        _eventually(lambda: get_vars(other, "u-1")["vars"], {"welcome": value})

    admin.ok("DELETE", f"/apps/{api.app.app_id}/variables/welcome/value")
    _eventually(lambda: get_vars(other, "u-1")["vars"], {})


def test_variables_defined_through_one_server_are_served_by_the_other(api: ApiClient, other: ApiClient) -> None:
    api.ok("start", userId="u-1")
    define(other, {"welcome": "Hi"})
    assert get_vars(other, "u-1", includeDefaults=True)["vars"] == {"welcome": "Hi"}
    _eventually(lambda: get_vars(api, "u-1", includeDefaults=True)["vars"], {"welcome": "Hi"})

    define(other, {"welcome": "Hi", "extra": 1})

    _eventually(lambda: get_vars(api, "u-1", includeDefaults=True)["vars"], {"welcome": "Hi", "extra": 1})


def test_both_servers_put_every_user_in_the_same_variant(admin: Admin, api: ApiClient, other: ApiClient) -> None:
    define(api, {"color": "blue"})
    users = [f"u-{i:03d}" for i in range(60)]
    make_users(api, users)
    assert all(ids == [] for ids in assignments(other, users).values())

    test = start_test(admin, api, [variant("A", 34), variant("B", 33, color="red"), variant("C", 33, color="green")])
    here = assignments(api, users)

    _eventually(lambda: assignments(other, users[:1]), {users[0]: here[users[0]]})
    assert assignments(other, users) == here
    assert {ids[0] for ids in here.values()} == {v["id"] for v in test["variants"]}


def test_a_forced_variant_reaches_the_other_server(admin: Admin, api: ApiClient, other: ApiClient) -> None:
    define(api, {"color": "blue"})
    api.ok("start", userId="u-1", deviceId="test-phone")
    test = start_test(admin, api, [variant("A", 50), variant("B", 50, color="red")], traffic=0)
    _eventually(lambda: get_vars(other, "u-1", "test-phone")["variants"], [])

    forced = next(v["id"] for v in test["variants"] if v["name"] == "B")
    admin.ok("PUT", f"/apps/{api.app.app_id}/ab-tests/{test['id']}/forced-variants/test-phone", {"variantId": forced})

    _eventually(lambda: get_vars(other, "u-1", "test-phone")["vars"], {"color": "red"})


def test_an_audience_change_reaches_the_other_server(admin: Admin, api: ApiClient, other: ApiClient) -> None:
    define(api, {"color": "blue"})
    make_users(api, ["u-1"], {"plan": "free"})
    audience = admin.ok("POST", f"/apps/{api.app.app_id}/audiences",
                        {"name": "Pro", "rule": {"attribute": "plan", "op": "equals", "value": "pro"}}, 201)
    start_test(admin, api, [variant("Only", 100, color="red")], audienceId=audience["id"])
    _eventually(lambda: get_vars(other, "u-1")["vars"], {})

    admin.ok("PUT", f"/apps/{api.app.app_id}/audiences/{audience['id']}",
             {"name": "Pro", "rule": {"attribute": "plan", "op": "in", "value": ["pro", "free"]}})

    _eventually(lambda: get_vars(other, "u-1")["vars"], {"color": "red"})
