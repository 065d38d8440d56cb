"""Jobs in the management API: an app's jobs listed newest first and filtered, one job's state with its secrets
left out, and exports started here with the export actions' own checks, run by the server's worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import msgspec.inspect
import pytest

from openplum.actions import export as export_actions
from openplum.services import export_requests
from tests.admin import Admin, open_admin
from tests.clients import Js, send_ok
from tests.conftest import ApiClient, Server, create_test_app
from tests.exports import around_now, ex_api, ex_server, finished, s3, start

__all__ = ["ex_api", "ex_server", "s3"]  # fixtures used by name


@pytest.fixture
def ex_admin(ex_server: Server) -> Iterator[Admin]:
    with open_admin(ex_server) as client:
        yield client


def _jobs(api: ApiClient, query: str = "") -> str:
    return f"/apps/{api.app.app_id}/jobs{query}"


def _sessions(api: ApiClient, users: int) -> None:
    for n in range(users):
        js = Js(api, f"d-{n}", f"u-{n}")
        send_ok(api, [js.item("start", 0), js.item("track", 1, event="Buy", value=2.5), js.item("stop", 5)])


def _wait(admin: Admin, api: ApiClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        job: dict[str, Any] = admin.ok("GET", _jobs(api, f"/{job_id}"))
        if job["state"] in ("FINISHED", "FAILED"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_an_export_started_here_runs_in_the_worker_and_reports_its_state(ex_admin: Admin, ex_api: ApiClient) -> None:
    _sessions(ex_api, 3)

    started = ex_admin.ok("POST", _jobs(ex_api), {"kind": "exportData", "params": around_now(ex_api)}, 201)
    job = _wait(ex_admin, ex_api, started["jobId"])

    assert started["kind"] == "exportData"
    assert started["state"] in ("PENDING", "RUNNING", "FINISHED")
    assert job["state"] == "FINISHED"
    assert job["progress"] == 1.0
    assert job["attempts"] == 1
    assert job["error"] is None
    assert job["result"]["numSessions"] == 3
    assert job["result"]["files"], job
    assert all(url.startswith(ex_api.server.url + "/exports/") for url in job["result"]["files"])
    assert job["created"] <= job["started"] <= job["finished"]
    assert job["params"]["startDate"] == around_now(ex_api)["startDate"]


def test_an_export_started_here_is_visible_to_the_api_like_any_other(ex_admin: Admin, ex_api: ApiClient) -> None:
    _sessions(ex_api, 2)
    job_id = ex_admin.ok("POST", _jobs(ex_api), {"kind": "exportData", "params": around_now(ex_api)}, 201)["jobId"]

    assert finished(ex_api, job_id)["numSessions"] == 2


def test_jobs_are_listed_newest_first_and_filtered_by_kind_state_and_count(ex_admin: Admin, ex_api: ApiClient) -> None:
    first = start(ex_api, startDate="20200101")
    users = start(ex_api, "exportUsers")
    finished(ex_api, first)
    finished(ex_api, users)
    report = ex_admin.ok("POST", _jobs(ex_api), {"kind": "exportReport", "params": {
        "startDate": "20200101", "dataType": "UserActivity"}}, 201)["jobId"]
    _wait(ex_admin, ex_api, report)

    listed = [j["jobId"] for j in ex_admin.ok("GET", _jobs(ex_api))["jobs"]]
    by_kind = ex_admin.ok("GET", _jobs(ex_api, "?kind=exportUsers"))["jobs"]
    finished_jobs = ex_admin.ok("GET", _jobs(ex_api, "?state=FINISHED"))["jobs"]

    assert listed == [report, users, first]
    assert [j["jobId"] for j in by_kind] == [users]
    assert {j["jobId"] for j in finished_jobs} == {report, users, first}
    assert ex_admin.ok("GET", _jobs(ex_api, "?state=PENDING"))["jobs"] == []
    assert [j["jobId"] for j in ex_admin.ok("GET", _jobs(ex_api, "?limit=2"))["jobs"]] == [report, users]


def test_a_report_job_shows_a_summary_not_its_figures(ex_admin: Admin, ex_api: ApiClient) -> None:
    params = {"startDate": "20200101", "endDate": "20200103", "dataType": "UserActivity", "eventNames": ["Buy"]}
    job_id = ex_admin.ok("POST", _jobs(ex_api), {"kind": "exportReport", "params": params}, 201)["jobId"]

    job = _wait(ex_admin, ex_api, job_id)

    assert job["state"] == "FINISHED"
    assert job["result"] == {"dataType": "UserActivity", "startDate": "20200101", "endDate": "20200103",
                             "timeZone": "America/Los_Angeles"}
    assert job["params"]["eventNames"] == ["Buy"]


def test_secrets_are_left_out_and_a_failure_shows_its_error(ex_admin: Admin, ex_api: ApiClient) -> None:
    _sessions(ex_api, 1)
    job_id = start(ex_api, **around_now(ex_api), s3BucketName="no-such-bucket", s3AccessId="id",
                   s3AccessKey="very-secret")

    job = _wait(ex_admin, ex_api, job_id)
    listed = ex_admin.ok("GET", _jobs(ex_api))["jobs"]

    assert "very-secret" not in msgspec.json.encode([job, listed]).decode()
    assert "s3AccessKey" not in job["params"]
    assert job["params"]["s3AccessId"] == "id"
    assert job["params"]["s3BucketName"] == "no-such-bucket"
    assert job["state"] == "FAILED"
    assert "no-such-bucket" in job["error"]
    assert job["result"] is None


@pytest.mark.parametrize(("kind", "params", "problem"), [
    ("exportData", {}, "Missing required parameter: startDate"),
    ("exportData", {"startDate": "2020-01-01"}, "expected YYYYMMDD"),
    ("exportData", {"startDate": "20200105", "endDate": "20200101"}, "before startDate"),
    ("exportData", {"startDate": "20200101", "s3BucketName": "b"}, "s3AccessId and s3AccessKey are required"),
    ("exportData", {"startDate": "20200101", "exportFormat": "xml"}, "exportFormat"),
    ("exportData", {"startDate": "20200101", "callbackUrl": "http://10.1.2.3/x"}, "10.1.2.3"),
    ("exportUsers", {"audienceName": "nobody"}, "No audience named 'nobody'"),
    ("exportUsers", {"abTestId": "x1"}, "abTestId"),
    ("exportReport", {"dataType": "UserActivity"}, "startDate"),
    ("exportReport", {"startDate": "20200101", "dataType": "AbTestResults"}, "abTestId"),
    ("exportReport", {"startDate": "20200101", "dataType": "BookmarkedReport"}, "not supported"),
])
def test_bad_parameters_are_refused_as_the_api_refuses_them(
    ex_admin: Admin, ex_api: ApiClient, kind: str, params: dict[str, Any], problem: str
) -> None:
    from_api = ex_api.call(kind, ex_api.app.data_export, method="GET", **params)
    message = ex_admin.error("POST", _jobs(ex_api), 400, {"kind": kind, "params": params})

    assert problem in message
    assert from_api.status_code == 400
    assert from_api.json()["response"][0]["error"]["message"] == message
    assert ex_admin.ok("GET", _jobs(ex_api))["jobs"] == []


def test_wire_spellings_and_loose_values_are_read_as_the_api_reads_them(ex_admin: Admin, ex_api: ApiClient) -> None:
    job = ex_admin.ok("POST", _jobs(ex_api), {"kind": "exportData", "params": {
        "startDate": 20200101, "exportFormat": "csv", "compressData": "false", "startTime": "1577836800"}}, 201)

    assert job["params"]["startDate"] == "20200101"
    assert job["params"]["exportFormat"] == "csv"
    assert job["params"]["startTime"] == 1577836800.0


def test_starting_a_job_is_audited(ex_admin: Admin, ex_api: ApiClient) -> None:
    job_id = ex_admin.ok("POST", _jobs(ex_api), {"kind": "exportUsers"}, 201)["jobId"]

    [entry] = [e for e in ex_admin.audit(ex_api.app.app_id) if e["action"] == "job.start"]

    assert (entry["actor"], entry["target"], entry["details"]) == (ex_admin.actor, job_id, {"kind": "exportUsers"})


def test_unknown_apps_jobs_kinds_and_filters_are_refused(ex_admin: Admin, ex_api: ApiClient) -> None:
    other = create_test_app(ex_api.server)
    job_id = start(ex_api, startDate="20200101")

    assert "No app" in ex_admin.error("GET", "/apps/app_nope/jobs", 404)
    assert "No app" in ex_admin.error("POST", "/apps/app_nope/jobs", 404, {"kind": "exportUsers"})
    assert "No job" in ex_admin.error("GET", f"/apps/{other.app_id}/jobs/{job_id}", 404)
    assert "No job" in ex_admin.error("GET", _jobs(ex_api, "/export_nope_1"), 404)
    assert "kind" in ex_admin.error("GET", _jobs(ex_api, "?kind=nope"), 400)
    assert "state" in ex_admin.error("GET", _jobs(ex_api, "?state=DONE"), 400)
    assert "limit" in ex_admin.error("GET", _jobs(ex_api, "?limit=x"), 400)
    assert "Invalid body" in ex_admin.error("POST", _jobs(ex_api), 400, {"kind": "importCsv"})
    assert "Invalid body" in ex_admin.error("POST", _jobs(ex_api), 400, {"kind": "exportUsers", "extra": 1})


def test_the_job_routes_need_an_admin_token(ex_server: Server, ex_api: ApiClient) -> None:
    for method, path in (("GET", _jobs(ex_api)), ("GET", _jobs(ex_api, "/x")), ("POST", _jobs(ex_api))):
        response = httpx.request(method, f"{ex_server.url}/manage/v1{path}", json={"kind": "exportUsers"})
        assert response.status_code == 401


@pytest.mark.parametrize(("action_params", "request_type"), [
    (export_actions.ExportDataParams, export_requests.DataExport),
    (export_actions.ExportUsersParams, export_requests.UsersExport),
    (export_actions.ExportReportParams, export_requests.ReportExport),
])
def test_the_api_and_the_management_api_read_the_same_parameters(action_params: Any, request_type: Any) -> None:
    def fields(typ: Any) -> dict[str, tuple[Any, Any]]:
        info = msgspec.inspect.type_info(typ)
        return {f.encode_name: (f.type, f.default) for f in info.fields}

    action = fields(action_params)
    assert {name: action[name] for name in fields(request_type)} == fields(request_type)
