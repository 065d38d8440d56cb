"""Every way Leanplum clients send parameters to ``/api`` (API.md §1.2, §1.3), as plain HTTP from outside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openplum.http.transport import parse_query
from tests.conftest import ApiClient

JS_CAPTURE = Path(__file__).parents[1] / "fixtures" / "wire-captures" / "leanplum-sdk-js-1.9.0-chromium.jsonl"


def auth(api: ApiClient, key: str | None = None) -> dict[str, str]:
    return {"appId": api.app.app_id, "clientKey": key or api.app.production}


def items(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    assert isinstance(body["response"], list), body
    return body["response"]


def only_item(response: httpx.Response) -> dict[str, Any]:
    answers = items(response)
    assert len(answers) == 1, answers
    return answers[0]


def assert_migrate_state(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    item = only_item(response)
    assert item["success"] is True, item
    assert item["sdk"] == "lp", item


# -- carriers ------------------------------------------------------------------------------------------


def test_query_string_only_get(api: ApiClient) -> None:
    assert_migrate_state(api.http.get("/api", params={**auth(api), "action": "getMigrateState"}))


def test_query_string_only_post_with_empty_body(api: ApiClient) -> None:
    assert_migrate_state(api.http.post("/api", params={**auth(api), "action": "getMigrateState"}))


def test_json_body_as_application_json(api: ApiClient) -> None:
    response = api.http.post("/api", json={**auth(api), "action": "getMigrateState", "apiVersion": "1.0.6"})
    assert_migrate_state(response)


def test_json_body_as_text_plain_like_the_js_sdk(api: ApiClient) -> None:
    body = json.dumps({**auth(api), "action": "getMigrateState"})
    response = api.http.post("/api", content=body, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert_migrate_state(response)


def test_json_body_without_content_type(api: ApiClient) -> None:
    response = api.http.post("/api", content=json.dumps({**auth(api), "action": "getMigrateState"}))
    assert_migrate_state(response)


def test_form_urlencoded_body(api: ApiClient) -> None:
    response = api.http.post("/api", data={**auth(api), "action": "getMigrateState"})
    assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert_migrate_state(response)


def test_form_urlencoded_multi_as_android_sends_it(api: ApiClient) -> None:
    """Android: form fields, ``data`` a JSON string of ``{"data": [...]}``, every value a string, a reqId each."""
    batch = [
        {"action": "getMigrateState", "deviceId": "d1", "userId": "u1", "devMode": "false",
         "time": "1700000000.5", "reqId": "req-1", "uuid": "batch-1", "sdkVersion": "7.0.0"},
        {"action": "log", "type": "sdkLog", "message": "hello", "count": "2", "deviceId": "d1", "userId": "u1",
         "devMode": "false", "time": "1700000000.6", "reqId": "req-2", "uuid": "batch-1"},
    ]
    form = {**auth(api), "client": "android", "sdkVersion": "7.0.0", "action": "multi",
            "time": "1700000001.0", "data": json.dumps({"data": batch})}
    response = api.http.post("/api", data=form)
    assert response.status_code == 200, response.text
    answers = items(response)
    assert [a["reqId"] for a in answers] == ["req-1", "req-2"]
    assert [a["success"] for a in answers] == [True, True], answers
    assert answers[0]["sdk"] == "lp"


def test_multipart_form_data_text_fields(api: ApiClient) -> None:
    fields = {**auth(api), "action": "getMigrateState", "apiVersion": "1.0.6"}
    response = api.http.post("/api", files={name: (None, value) for name, value in fields.items()})
    assert response.request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert_migrate_state(response)


def test_params_split_between_query_and_body_are_merged(api: ApiClient) -> None:
    response = api.http.post("/api", params={"action": "getMigrateState"}, json=auth(api))
    assert_migrate_state(response)


# -- value encoding ------------------------------------------------------------------------------------


def test_object_param_in_the_url_is_json_text(api: ApiClient) -> None:
    data = json.dumps([{"action": "getMigrateState"}, {"action": "log", "message": "m"}])
    response = api.http.get("/api", params={**auth(api), "action": "multi", "data": data})
    assert response.status_code == 200, response.text
    assert [a["success"] for a in items(response)] == [True, True]


@pytest.mark.parametrize("as_string", [True, False], ids=["json-string", "object"])
def test_object_param_accepted_as_json_string_and_as_object(api: ApiClient, as_string: bool) -> None:
    attributes = {"plan": "pro", "age": 31}
    value: Any = json.dumps(attributes) if as_string else attributes
    body = {**auth(api), "action": "setUserAttributes", "userId": "u-obj", "userAttributes": value}
    response = api.http.post("/api", json=body)
    assert response.status_code == 200, response.text
    assert only_item(response)["success"] is True
    profile = api.profile("u-obj")
    assert profile["userAttributes"]["plan"] == "pro"
    assert profile["userAttributes"]["age"] == 31


@pytest.mark.parametrize("dev_mode", ["true", True], ids=["string", "json"])
def test_boolean_true_as_string_or_json(api: ApiClient, dev_mode: object) -> None:
    """devMode=true is understood either way: a production key asking for it is refused."""
    response = api.http.post("/api", json={**auth(api), "action": "getMigrateState", "devMode": dev_mode})
    assert response.status_code == 403, response.text
    assert only_item(response)["error"]["message"].startswith("Development mode requested but not permitted")


@pytest.mark.parametrize("dev_mode", ["false", False], ids=["string", "json"])
def test_boolean_false_as_string_or_json(api: ApiClient, dev_mode: object) -> None:
    assert_migrate_state(api.http.post("/api", json={**auth(api), "action": "getMigrateState", "devMode": dev_mode}))


@pytest.mark.parametrize("count", ["3", 3], ids=["string", "json"])
def test_number_as_string_or_json(api: ApiClient, count: object) -> None:
    response = api.http.post("/api", json={**auth(api), "action": "log", "type": "sdkCount", "count": count})
    assert response.status_code == 200, response.text
    assert only_item(response)["success"] is True


def test_number_param_that_is_not_a_number_is_refused_by_name(api: ApiClient) -> None:
    response = api.http.post("/api", json={**auth(api), "action": "log", "count": "three"})
    assert response.status_code == 400, response.text
    item = only_item(response)
    assert item["success"] is False
    assert "'count'" in item["error"]["message"], item


def test_time_as_string_of_float_seconds(api: ApiClient) -> None:
    response = api.http.post("/api", data={**auth(api), "action": "log", "time": "1700000000.123"})
    assert response.status_code == 200, response.text
    assert only_item(response)["success"] is True


@pytest.mark.parametrize("api_version", [None, "1.0.6"], ids=["absent", "1.0.6"])
def test_api_version_is_optional(api: ApiClient, api_version: str | None) -> None:
    params = {**auth(api), "action": "getMigrateState"}
    if api_version:
        params["apiVersion"] = api_version
    assert_migrate_state(api.http.get("/api", params=params))


def test_json_null_means_absent(api: ApiClient) -> None:
    """Wrappers that send every argument send unset ones as null: none of these may count as a value."""
    body = {**auth(api), "action": "log", "type": None, "message": None, "count": None, "devMode": None,
            "userId": None, "deviceId": None, "createDisposition": None, "apiVersion": None, "time": None}
    response = api.http.post("/api", json=body)
    assert response.status_code == 200, response.text
    assert only_item(response)["success"] is True


def test_json_null_for_a_required_param_is_missing(api: ApiClient) -> None:
    response = api.http.post("/api", json={"appId": api.app.app_id, "clientKey": None, "action": "log"})
    assert response.status_code == 400, response.text
    assert only_item(response)["error"]["message"] == "Missing required parameter: clientKey"


def test_body_value_wins_over_query_value(api: ApiClient) -> None:
    response = api.http.post(
        "/api",
        params={"appId": api.app.app_id, "clientKey": "wrong-key", "action": "log"},
        json={"clientKey": api.app.production, "action": "getMigrateState"},
    )
    assert_migrate_state(response)


@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_body_value_wins_over_query_value_in_forms(api: ApiClient, encoding: str) -> None:
    body = {"clientKey": api.app.production, "action": "getMigrateState"}
    query = {"appId": api.app.app_id, "clientKey": "wrong-key", "action": "log"}
    if encoding == "form":
        response = api.http.post("/api", params=query, data=body)
    else:
        response = api.http.post("/api", params=query, files={k: (None, v) for k, v in body.items()})
    assert_migrate_state(response)


# -- the response --------------------------------------------------------------------------------------


def test_success_response_is_application_json(api: ApiClient) -> None:
    response = api.call("getMigrateState")
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "params",
    [{"action": "getMigrateState", "clientKey": "nope"}, {"action": "noSuchAction"}, {"action": ""}],
    ids=["bad-key", "unknown-action", "empty-action"],
)
def test_error_response_is_application_json_in_leanplum_shape(api: ApiClient, params: dict[str, str]) -> None:
    response = api.http.get("/api", params={**auth(api), **params})
    assert response.status_code >= 400
    assert response.headers["content-type"] == "application/json"
    item = only_item(response)
    assert item["success"] is False
    assert isinstance(item["error"]["message"], str)
    assert item["error"]["message"]


@pytest.mark.parametrize("data", [[], {"data": []}, "[]"], ids=["list", "object", "string"])
def test_response_array_is_never_empty(api: ApiClient, data: object) -> None:
    response = api.http.post("/api", json={**auth(api), "action": "multi", "data": data})
    answers = items(response)
    assert len(answers) >= 1, response.text
    assert answers[0]["success"] is False


# -- golden requests: what the JS SDK really sent ------------------------------------------------------


def _captures() -> list[dict[str, Any]]:
    return [json.loads(line) for line in JS_CAPTURE.read_text().splitlines() if line.strip()]


def _substitute(text: str, api: ApiClient) -> str:
    return (text.replace("app_TEST", api.app.app_id)
                .replace("prod_KEY", api.app.production)
                .replace("dev_KEY", api.app.development))


@pytest.mark.parametrize("capture", _captures(), ids=lambda c: f"{c['journey']}-{c['seq']}")
def test_js_sdk_capture_is_accepted_as_sent(api: ApiClient, capture: dict[str, Any]) -> None:
    """Each request of the JS SDK capture gets one item per data item, each with a boolean ``success``.

    Only the envelope is asserted: most of the actions these batches carry are implemented by later issues.
    """
    headers = {"Content-Type": capture["headers"]["Content-Type"], "Origin": capture["headers"]["Origin"]}
    response = api.http.request(
        capture["method"],
        f"{capture['path']}?{_substitute(capture['raw_query'], api)}",
        content=_substitute(capture["body_raw"], api).encode(),
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == headers["Origin"]
    answers = items(response)
    assert len(answers) == len(capture["body"]["data"]), answers
    assert all(isinstance(a.get("success"), bool) for a in answers), answers


# -- the query string's own reading ----------------------------------------------------------------------

_QUERY_TEXT = st.text(alphabet=st.sampled_from("ab=&é_-.;x0 \u2028"), max_size=40)


@given(_QUERY_TEXT)
def test_query_without_escapes_reads_as_parse_qsl_reads_it(text: str) -> None:
    """The split taken for unescaped text (most SDK requests) gives what ``urllib.parse.parse_qsl`` gives:
    blank values kept, a name without ``=`` blank, the last of a repeated name winning."""
    assert parse_query(text.encode(), 1000) == dict(parse_qsl(text, keep_blank_values=True))
