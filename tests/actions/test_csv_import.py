"""CSV import (API.md §1.2, §1.8, §6.8): ``multi`` with ``createJob=true`` answers a ``jobId`` and imports the rows
of a CSV sent as the raw body, as a multipart part or named in the bucket; ``getMultiResults`` reports the counts
and per-row result files. Good rows are applied, bad rows are reported with their row number and error."""

from __future__ import annotations

import pytest

from tests.clients import event_rows
from tests.conftest import ApiClient
from tests.imports import (
    bucket_keys,
    bucket_object,
    check_profiles,
    finished,
    im_api,
    im_server,
    lines,
    refused,
    results,
    s3_endpoint,
    send,
    start,
    ten_thousand,
    to_csv,
)

__all__ = ["im_api", "im_server", "s3_endpoint"]  # fixtures used by name


@pytest.mark.parametrize("how", ["body", "multipart"])
def test_ten_thousand_rows_apply_the_good_ones_and_report_the_bad_ones(api: ApiClient, how: str) -> None:
    data, expected = ten_thousand(f"{how}-user")

    item = finished(api, start(api, data, how))

    assert item["data"]["successesCount"] == expected.rows - len(expected.failures)
    assert item["data"]["failuresCount"] == len(expected.failures) == 28
    reported = lines(item)
    assert [line["row"] for line in reported] == list(range(1, expected.rows + 1))
    failed = {line["row"]: line["error"]["message"] for line in reported if not line["success"]}
    assert failed.keys() == expected.failures.keys()
    for row, fragment in expected.failures.items():
        assert fragment in failed[row], (row, failed[row])
    assert all(set(line) == {"row", "success"} for line in reported if line["success"])
    check_profiles(api, expected)


def test_dotted_columns_nest_and_values_stay_strings(api: ApiClient) -> None:
    data = to_csv([
        ["userId", "userAttributes.Gender", "userAttributes.Age", "userAttributes.address.city"],
        ["nest-1", "f", "34", "Lyon"],
        ["nest-2", "", "41", ""],
    ])

    item = finished(api, start(api, data, defaultAction="setUserAttributes"))

    assert item["data"]["successesCount"] == 2
    assert api.profile("nest-1")["userAttributes"] == {"Gender": "f", "Age": "34", "address": {"city": "Lyon"}}
    assert api.profile("nest-2")["userAttributes"] == {"Age": "41"}, "an empty cell leaves its parameter out"


def test_event_parameters_come_from_dotted_columns(api: ApiClient) -> None:
    data = to_csv([["userId", "event", "value", "params.item", "params.size"], ["par-1", "Buy", "2.5", "hat", "M"]])

    finished(api, start(api, data, defaultAction="track"))

    ((name, _, value, _, _, params),) = event_rows(api, "par-1")
    assert (name, value, params) == ("Buy", 2.5, {"item": "hat", "size": "M"})


def test_default_action_runs_rows_without_an_action_of_their_own(api: ApiClient) -> None:
    data = to_csv([
        ["action", "userId", "event", "userAttributes.plan"],
        ["", "def-1", "Open", ""],
        ["setUserAttributes", "def-1", "", "pro"],
        ["", "def-2", "Open", ""],
    ])

    item = finished(api, start(api, data, "multipart", defaultAction="track"))

    assert (item["data"]["successesCount"], item["data"]["failuresCount"]) == (3, 0)
    assert api.profile("def-1")["userAttributes"] == {"plan": "pro"}
    assert api.profile("def-1")["events"]["Open"]["count"] == 1
    assert api.profile("def-2")["events"]["Open"]["count"] == 1


def test_without_default_action_each_row_needs_an_action(api: ApiClient) -> None:
    data = to_csv([["action", "userId", "event"], ["track", "act-1", "Open"], ["", "act-1", "Open"]])

    item = finished(api, start(api, data))

    assert lines(item) == [
        {"row": 1, "success": True},
        {"row": 2, "success": False, "error": {"message": "Missing required parameter: action"}},
    ]


def test_warnings_are_reported_with_their_row_and_count_as_successes(api: ApiClient) -> None:
    data = to_csv([["userId", "state"], ["nobody-here", "Menu"]])

    item = finished(api, start(api, data, defaultAction="advance"))

    assert item["data"] == {"successesCount": 1, "failuresCount": 0, "files": item["data"]["files"]}
    assert lines(item) == [{"row": 1, "success": True, "warning": {"message": "User not found; request skipped."}}]


def test_rows_of_actions_the_development_key_may_not_call_fail(api: ApiClient) -> None:
    data = to_csv([["action", "userId"], ["exportUser", "someone"], ["getMultiResults", "someone"]])

    reported = lines(finished(api, start(api, data)))

    assert "requires the data export key" in reported[0]["error"]["message"]
    assert reported[1]["error"]["message"] == "Missing required parameter: jobId"


def test_a_header_only_file_finishes_with_no_files(api: ApiClient) -> None:
    item = finished(api, start(api, "userId,event\r\n", defaultAction="track"))

    assert item["data"] == {"successesCount": 0, "failuresCount": 0, "files": []}


def test_quoting_a_byte_order_mark_and_blank_lines_are_read_as_csv(api: ApiClient) -> None:
    data = '\ufeffuserId,event,params.note\n\n"q-1","Say","hello, ""world""\nagain"\n\nq-1,Say,x\n'

    item = finished(api, start(api, data.encode(), defaultAction="track"))

    assert item["data"]["successesCount"] == 2
    assert [p for *_, p in event_rows(api, "q-1")] == [{"note": 'hello, "world"\nagain'}, {"note": "x"}]


@pytest.mark.parametrize(("data", "params", "fragment"), [
    ("userId,event\nu,e\n", {}, "Give defaultAction, or an 'action' column"),
    ("userId,event\nu,e\n", {"defaultAction": "fly"}, "unknown action 'fly'"),
    ("userId,event\nu,e\n", {"defaultAction": "multi"}, "unknown action 'multi'"),
    ("userId,userId\nu,v\n", {"defaultAction": "track"}, "'userId' appears twice"),
    ("userId,params,params.a\nu,v,w\n", {"defaultAction": "track"}, "'params.a' nests inside column 'params'"),
    ("userId,params..a\nu,v\n", {"defaultAction": "track"}, "invalid name"),
    (",,\nu,e,\n", {"defaultAction": "track"}, "The file has no header row"),
    (b"userId,ev\xffent\nu,e\n", {"defaultAction": "track"}, "The header is not valid UTF-8"),
])
def test_a_file_that_cannot_be_imported_is_refused_at_once(
    api: ApiClient, data: str | bytes, params: dict[str, str], fragment: str
) -> None:
    assert fragment in refused(api, data, **params)


def test_the_csv_comes_one_way_only(api: ApiClient) -> None:
    assert "Send one CSV" in refused(api, None, defaultAction="track")
    assert "Send one CSV" in refused(api, "userId\nu\n", defaultAction="track", file="rows.csv")
    response = send(api, "userId\nu\n", "multipart", defaultAction="track")
    assert response.status_code == 200
    other = api.http.post("/api", params={"appId": api.app.app_id, "clientKey": api.app.development,
                                          "action": "multi", "createJob": "true", "defaultAction": "track"},
                          files={"data": ("rows.csv", b"userId\nu\n", "text/csv")})
    assert other.status_code == 400
    assert "send the CSV as a part named 'file'" in other.json()["response"][0]["error"]["message"]


def test_an_empty_file_is_refused(api: ApiClient) -> None:
    response = send(api, b"  \r\n", "multipart", defaultAction="track")

    assert response.status_code == 400
    assert response.json()["response"][0]["error"]["message"] == "The CSV file is empty."


def test_a_bucket_object_needs_a_configured_bucket(api: ApiClient) -> None:
    message = refused(api, None, defaultAction="track", file="rows.csv")

    assert "no bucket is configured (OPENPLUM_S3_BUCKET)" in message


def test_only_the_development_key_starts_an_import(api: ApiClient) -> None:
    response = send(api, "userId\nu\n", key=api.app.production, defaultAction="track")

    assert response.status_code == 403
    assert "requires the development key" in response.json()["response"][0]["error"]["message"]


def test_get_multi_results_knows_only_this_apps_import_jobs(api: ApiClient) -> None:
    response = api.call("getMultiResults", api.app.development, method="GET", jobId="import_nothing_1")
    assert response.status_code == 404
    export = api.call("exportUsers", api.app.data_export, method="GET").json()["response"][0]["jobId"]
    assert api.call("getMultiResults", api.app.development, jobId=export).status_code == 404
    assert api.call("getMultiResults", api.app.production, jobId=export).status_code == 403


def test_a_pending_import_reports_its_state_and_no_counts_yet(im_api: ApiClient) -> None:
    job_id = start(im_api, "userId,event\nu,e\n", defaultAction="track")

    item = results(im_api, job_id)

    assert (item["state"], item["data"]) == ("PENDING", {"successesCount": 0, "failuresCount": 0, "files": []})


# -- a CSV in the configured bucket ------------------------------------------------------------------------------


def test_an_object_in_the_apps_folder_of_the_bucket_is_imported_and_kept(im_api: ApiClient) -> None:
    data = to_csv([["userId", "event", "value"], ["s3-1", "Buy", "3"], ["s3-1", "Buy", "x"]]).encode()
    key = f"imports/{im_api.app.app_id}/rows.csv"
    bucket_object(im_api, key, data)
    bucket = im_api.server.settings.s3_bucket

    for name in ("rows.csv", key):
        item = finished(im_api, start(im_api, None, defaultAction="track", file=name, gcsBucket=bucket))
        assert (item["data"]["successesCount"], item["data"]["failuresCount"]) == (1, 1)

    assert im_api.profile("s3-1")["events"]["Buy"]["count"] == 2
    assert bucket_object(im_api, key) == data, "the team's own object stays"


def test_an_uploaded_csv_is_deleted_from_the_bucket_once_imported(im_api: ApiClient) -> None:
    finished(im_api, start(im_api, "userId,event\nup-1,Open\n", defaultAction="track"))

    assert bucket_keys(im_api, f"import-uploads/{im_api.app.app_id}/") == []


@pytest.mark.parametrize(("params", "status", "fragment"), [
    ({"file": "missing.csv"}, 404, "No object 'imports/"),
    ({"file": "../other/rows.csv"}, 400, "is not a relative object name"),
    ({"file": "rows.csv", "gcsBucket": "leanplum-gcs"}, 400, "openplum cannot read Google Cloud Storage"),
])
def test_a_bucket_object_that_cannot_be_read_is_refused(
    im_api: ApiClient, params: dict[str, str], status: int, fragment: str
) -> None:
    assert fragment in refused(im_api, None, status, defaultAction="track", **params)


def test_a_bucket_object_in_another_apps_folder_is_out_of_reach(im_api: ApiClient) -> None:
    bucket_object(im_api, "imports/app_someone_else/rows.csv", b"userId,event\nu,e\n")

    message = refused(im_api, None, 404, defaultAction="track", file="imports/app_someone_else/rows.csv")

    assert f"imports/{im_api.app.app_id}/imports/app_someone_else/rows.csv" in message
