"""Per-app daily export limits: read and replaced through the management API, audited, and enforced when an export
is requested (429), counting per app, per kind and per US Pacific day.

``ex_server`` sets the server default (``OPENPLUM_EXPORTS_PER_DAY``) to 4, so both sides of "the app's own value
wins, else the server's" show here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from openplum.settings import from_env
from tests.admin import Admin, open_admin
from tests.conftest import ApiClient, Server, create_test_app
from tests.exports import PER_DAY, day, ex_api, ex_server, s3

__all__ = ["ex_api", "ex_server", "s3"]  # fixtures used by name

LEANPLUM = {"exportsPerDay": 24, "reportsPerDay": 100, "exportUsersPerDay": 40}
REPORT = {"startDate": "20200101", "dataType": "UserActivity"}


@pytest.fixture
def ex_admin(ex_server: Server) -> Iterator[Admin]:
    with open_admin(ex_server) as client:
        yield client


def _limits(api: ApiClient) -> str:
    return f"/apps/{api.app.app_id}/limits"


def _request(api: ApiClient, action: str, **params: Any) -> int:
    params = params or ({"startDate": "20200101"} if action == "exportData" else {})
    if action == "exportReport":
        params = REPORT
    status: int = api.call(action, api.app.data_export, method="GET", **params).status_code
    return status


def _allowed(api: ApiClient, action: str, times: int) -> None:
    for n in range(times):
        assert _request(api, action) == 200, f"{action} request {n + 1}"


def test_without_values_of_its_own_an_app_follows_the_server_default(ex_admin: Admin, ex_api: ApiClient) -> None:
    assert ex_admin.ok("GET", _limits(ex_api)) == {
        "exportsPerDay": PER_DAY, "reportsPerDay": None, "exportUsersPerDay": PER_DAY,
        "serverDefault": ["exportsPerDay", "reportsPerDay", "exportUsersPerDay"],
        "usedToday": {"exportsPerDay": 0, "reportsPerDay": 0, "exportUsersPerDay": 0},
    }


def test_the_limits_are_off_by_default() -> None:
    assert from_env({}).exports_per_day == 0


def test_leanplums_limits_can_be_set_and_are_audited(ex_admin: Admin, ex_api: ApiClient) -> None:
    answer = ex_admin.ok("PUT", _limits(ex_api), LEANPLUM)

    assert {k: answer[k] for k in LEANPLUM} == LEANPLUM
    assert answer["serverDefault"] == []
    assert ex_admin.ok("GET", _limits(ex_api)) == answer
    [entry] = [e for e in ex_admin.audit(ex_api.app.app_id) if e["action"] == "limits.set"]
    assert (entry["actor"], entry["details"]) == (ex_admin.actor, LEANPLUM)


def test_an_apps_own_limit_is_enforced_with_a_clear_429(ex_admin: Admin, ex_api: ApiClient) -> None:
    ex_admin.ok("PUT", _limits(ex_api), {"exportsPerDay": 2})
    _allowed(ex_api, "exportData", 2)

    refused = ex_api.call("exportData", ex_api.app.data_export, method="GET", startDate="20200101")

    assert refused.status_code == 429
    assert refused.json()["response"][0]["error"]["message"] == (
        "Too many exportData requests today: the limit is 2 per day (Pacific time)")
    assert ex_admin.ok("GET", _limits(ex_api))["usedToday"]["exportsPerDay"] == 2, "a refused request does not count"


def test_limits_count_per_app(ex_admin: Admin, ex_api: ApiClient) -> None:
    ex_admin.ok("PUT", _limits(ex_api), {"exportsPerDay": 1})
    other = ApiClient(ex_api.server, create_test_app(ex_api.server), ex_api.http)
    _allowed(ex_api, "exportData", 1)

    _allowed(other, "exportData", PER_DAY)
    assert _request(other, "exportData") == 429, "the other app keeps the server default"
    assert _request(ex_api, "exportData") == 429


def test_limits_count_per_kind(ex_admin: Admin, ex_api: ApiClient) -> None:
    ex_admin.ok("PUT", _limits(ex_api), {"exportsPerDay": 1, "reportsPerDay": 2, "exportUsersPerDay": 3})

    _allowed(ex_api, "exportData", 1)
    _allowed(ex_api, "exportReport", 2)
    _allowed(ex_api, "exportUsers", 3)

    assert [_request(ex_api, a) for a in ("exportData", "exportReport", "exportUsers")] == [429, 429, 429]
    assert ex_admin.ok("GET", _limits(ex_api))["usedToday"] == {
        "exportsPerDay": 1, "reportsPerDay": 2, "exportUsersPerDay": 3}


def test_null_is_no_limit_whatever_the_server_default(ex_admin: Admin, ex_api: ApiClient) -> None:
    answer = ex_admin.ok("PUT", _limits(ex_api), {"exportsPerDay": None})

    assert answer["exportsPerDay"] is None
    assert answer["serverDefault"] == ["reportsPerDay", "exportUsersPerDay"]
    _allowed(ex_api, "exportData", PER_DAY + 2)


def test_a_field_left_out_follows_the_server_default_again(ex_admin: Admin, ex_api: ApiClient) -> None:
    ex_admin.ok("PUT", _limits(ex_api), {"exportsPerDay": 1, "exportUsersPerDay": None})

    answer = ex_admin.ok("PUT", _limits(ex_api), {"exportUsersPerDay": None})

    assert (answer["exportsPerDay"], answer["exportUsersPerDay"]) == (PER_DAY, None)
    _allowed(ex_api, "exportData", PER_DAY)
    assert _request(ex_api, "exportData") == 429


def test_zero_refuses_every_request_of_the_kind(ex_admin: Admin, ex_api: ApiClient) -> None:
    ex_admin.ok("PUT", _limits(ex_api), {"reportsPerDay": 0})

    assert _request(ex_api, "exportReport") == 429
    _allowed(ex_api, "exportData", 1)


def test_exports_started_through_the_management_api_obey_and_count_too(ex_admin: Admin, ex_api: ApiClient) -> None:
    ex_admin.ok("PUT", _limits(ex_api), {"exportUsersPerDay": 1})
    ex_admin.ok("POST", f"/apps/{ex_api.app.app_id}/jobs", {"kind": "exportUsers"}, 201)

    message = ex_admin.error("POST", f"/apps/{ex_api.app.app_id}/jobs", 429, {"kind": "exportUsers"})

    assert message == "Too many exportUsers requests today: the limit is 1 per day (Pacific time)"
    assert _request(ex_api, "exportUsers") == 429


def test_the_count_starts_again_each_pacific_day(ex_admin: Admin, ex_api: ApiClient) -> None:
    ex_admin.ok("PUT", _limits(ex_api), {"exportsPerDay": 1})
    _allowed(ex_api, "exportData", 1)
    assert _request(ex_api, "exportData") == 429
    today = day(ex_api)

    ex_api.server.clock.advance(24 * 3600)

    assert day(ex_api) != today
    assert ex_admin.ok("GET", _limits(ex_api))["usedToday"]["exportsPerDay"] == 0
    _allowed(ex_api, "exportData", 1)
    assert _request(ex_api, "exportData") == 429


@pytest.mark.parametrize(("body", "problem"), [
    ({"exportsPerDay": -1}, "exportsPerDay: expected a whole number from 0"),
    ({"reportsPerDay": 10**9}, "reportsPerDay: expected a whole number from 0"),
    ({"exportsPerDay": "24"}, "Invalid body"),
    ({"exportsPerDay": 2.5}, "Invalid body"),
    ({"exportsPerMonth": 3}, "Invalid body"),
])
def test_bad_values_are_refused_and_change_nothing(
    ex_admin: Admin, ex_api: ApiClient, body: dict[str, Any], problem: str
) -> None:
    before = ex_admin.ok("GET", _limits(ex_api))

    assert problem in ex_admin.error("PUT", _limits(ex_api), 400, body)
    assert ex_admin.ok("GET", _limits(ex_api)) == before


def test_unknown_apps_have_no_limits(ex_admin: Admin) -> None:
    assert "No app" in ex_admin.error("GET", "/apps/app_nope/limits", 404)
    assert "No app" in ex_admin.error("PUT", "/apps/app_nope/limits", 404, LEANPLUM)
