"""``exportUsers`` (API.md §6.7, EXPORT-FORMAT.md §7): the users of an audience (with an attribute's value), of an
A/B test (with their variant), or all users, as a CSV with a header served like exportData's files; an unknown
audience or test is refused at once, and a job whose audience went away fails saying so."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest

from openplum.services import jobs
from openplum.store.base import Tx
from tests.admin import Admin, assignments, make_users, open_admin, start_test, variant, variant_ids
from tests.conftest import ApiClient, Server
from tests.exports import CSV_NAME, download, ex_api, ex_server, finished, s3, start, wait

__all__ = ["ex_api", "ex_server", "s3"]  # fixtures used by name

PRO: dict[str, Any] = {"attribute": "plan", "op": "equals", "value": "pro"}


@pytest.fixture
def ex_admin(ex_server: Server) -> Iterator[Admin]:
    with open_admin(ex_server) as client:
        yield client


def audience(admin: Admin, api: ApiClient, name: str, rule: Any) -> None:
    admin.ok("POST", f"/apps/{api.app.app_id}/audiences", {"name": name, "rule": rule}, 201)


def table(result: dict[str, Any]) -> list[list[str]]:
    """The header, then every row of every file (each file's own header checked against the first)."""
    header: list[str] | None = None
    out: list[list[str]] = []
    for url in result["files"]:
        assert re.match(CSV_NAME, url), url
        found = list(csv.reader(io.StringIO(download(url).decode(), newline="")))
        header = header or found[0]
        assert found[0] == header
        out += found[1:]
    assert header is not None
    return [header, *sorted(out)]


def test_the_users_of_an_audience_with_an_attribute(ex_api: ApiClient, ex_admin: Admin) -> None:
    make_users(ex_api, [f"pro-{i:03}" for i in range(160)], {"plan": "pro", "team": "a, b"})
    make_users(ex_api, [f"free-{i:02}" for i in range(10)], {"plan": "free"})
    audience(ex_admin, ex_api, "Pro users", PRO)

    result = finished(ex_api, start(ex_api, "exportUsers", audienceName="Pro users", userAttribute="team"))

    assert table(result) == [["userId", "team"], *([f"pro-{i:03}", "a, b"] for i in range(160))]
    assert result["numUsers"] == 160
    assert len(result["files"]) > 1, "cut at the shard size like exportData"


def test_the_users_of_an_ab_test_with_their_variant(ex_api: ApiClient, ex_admin: Admin) -> None:
    test = start_test(ex_admin, ex_api, [variant("Blue", 50), variant("Green", 50)])
    users = [f"u-{i:02}" for i in range(20)]
    make_users(ex_api, [*users, "never-asked"])
    seen = assignments(ex_api, users)  # getVars exposes each user to their variant
    names = {v: k for k, v in variant_ids(test).items()}

    result = finished(ex_api, start(ex_api, "exportUsers", abTestId=test["id"], userAttribute="seeded"))

    expected = [[u, str(seen[u][0]), names[seen[u][0]], "true"] for u in users]
    assert table(result) == [["userId", "variantId", "variantName", "seeded"], *expected]


def test_every_user_without_a_filter_and_the_ruby_clients_empty_parameters(ex_api: ApiClient) -> None:
    make_users(ex_api, ["a", "b", "c"])
    query = {"appId": ex_api.app.app_id, "clientKey": ex_api.app.data_export, "action": "exportUsers"}

    response = ex_api.http.get("/api?" + "&".join(f"{k}={v}" for k, v in query.items()) + "&segment&ab_test_id")

    job_id = response.json()["response"][0]["jobId"]
    assert job_id.startswith("export_users_")
    assert table(finished(ex_api, job_id)) == [["userId"], ["a"], ["b"], ["c"]]


def test_no_matching_user_finishes_with_no_files(ex_api: ApiClient, ex_admin: Admin) -> None:
    make_users(ex_api, ["a"], {"plan": "free"})
    audience(ex_admin, ex_api, "Pro users", PRO)

    result = finished(ex_api, start(ex_api, "exportUsers", segment="Pro users"))

    assert (result["files"], result["numUsers"]) == ([], 0)


@pytest.mark.parametrize(("params", "problem"), [
    ({"audienceName": "Nobody"}, "No audience named 'Nobody'"),
    ({"abTestId": 12345}, "No A/B test with id 12345"),
    ({"abTestId": "blue"}, "abTestId"),
])
def test_an_unknown_audience_or_test_is_refused_at_once(
    ex_api: ApiClient, params: dict[str, Any], problem: str
) -> None:
    response = ex_api.call("exportUsers", ex_api.app.data_export, method="GET", **params)

    assert response.status_code == 400
    assert problem in response.json()["response"][0]["error"]["message"]


def test_a_job_whose_audience_has_gone_fails_saying_so(ex_api: ApiClient) -> None:
    app_id, now = ex_api.app.app_id, ex_api.server.clock.now()

    def queued(tx: Tx) -> str:
        return jobs.start(tx, app_id, jobs.EXPORT_USERS, {"audienceName": "Deleted meanwhile"}, now)

    result = wait(ex_api, ex_api.server.app.store.run(queued))

    assert result["state"] == "FAILED"
    assert result["error"]["message"] == "No audience named 'Deleted meanwhile'"


def test_export_users_needs_the_data_export_key(ex_api: ApiClient) -> None:
    response = ex_api.call("exportUsers", ex_api.app.production, method="GET")

    assert response.status_code == 403
