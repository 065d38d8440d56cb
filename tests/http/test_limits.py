"""Bad input: each gets a clear error in Leanplum's shape, with the documented status, and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from openplum.actions.table import ACTIONS
from tests.conftest import ApiClient
from tests.http.conftest import TIGHT_LIMITS


def error_of(response: httpx.Response) -> str:
    """The one error item's message, after checking the envelope is Leanplum's."""
    assert response.headers["content-type"] == "application/json"
    answers = response.json()["response"]
    assert len(answers) == 1, answers
    assert answers[0]["success"] is False, answers
    text: str = answers[0]["error"]["message"]
    assert text
    return text


def creds(api: ApiClient, key: str | None = None) -> dict[str, str]:
    return {"appId": api.app.app_id, "clientKey": key or api.app.production}


def assert_no_user(api: ApiClient, user_id: str) -> None:
    profile = api.profile(user_id)
    assert profile.get("userId") is None, profile


# -- malformed bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
def test_malformed_json_is_400(api: ApiClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"action": "track", "userId": "u-malformed", "event": "E"'
    response = api.http.post("/api", params=creds(api), content=body, headers=headers)
    assert response.status_code == 400
    assert "JSON" in error_of(response)
    assert_no_user(api, "u-malformed")


@pytest.mark.parametrize("body", ["42", '"text"', "true"])
def test_json_body_that_is_not_an_object_is_400(api: ApiClient, body: str) -> None:
    response = api.http.post("/api", params={**creds(api), "action": "getMigrateState"}, content=body,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert error_of(response)


def test_multipart_without_boundary_is_400(api: ApiClient) -> None:
    response = api.http.post("/api", params={**creds(api), "action": "getMigrateState"}, content=b"x=1",
                             headers={"Content-Type": "multipart/form-data"})
    assert response.status_code == 400
    assert "boundary" in error_of(response)


# -- wrong or missing parameters -----------------------------------------------------------------------


def test_wrong_type_is_400_naming_the_parameter(api: ApiClient) -> None:
    response = api.call("track", userId="u-wrong-type", event="E", value="a lot")
    assert response.status_code == 400
    assert "'value'" in error_of(response)
    assert_no_user(api, "u-wrong-type")


def test_object_param_that_is_not_json_is_400(api: ApiClient) -> None:
    response = api.call("setUserAttributes", userId="u-bad-object", userAttributes="{plan: pro")
    assert response.status_code == 400
    assert "'userAttributes'" in error_of(response)
    assert_no_user(api, "u-bad-object")


def test_missing_required_parameter_is_400(api: ApiClient) -> None:
    response = api.call("exportUser", api.app.data_export, method="GET")
    assert response.status_code == 400
    assert error_of(response).startswith("Missing required parameter")


def test_missing_action_is_400(api: ApiClient) -> None:
    response = api.http.get("/api", params=creds(api))
    assert response.status_code == 400
    assert error_of(response) == "Missing required parameter: action"


def test_unknown_action_is_an_error_item(api: ApiClient) -> None:
    response = api.call("fooBar")
    assert response.status_code == 400
    assert error_of(response) == "Unknown action: 'fooBar'"


def _pending_action() -> tuple[str, str]:
    """An action of the table that is not implemented yet, and the key attribute that may call it."""
    attribute = {"production": "production", "development": "development", "dataExport": "data_export",
                 "contentReadOnly": "content_read_only"}
    for spec in ACTIONS.values():
        if not spec.implemented and spec.name != "multi":
            return spec.name, attribute[spec.key_class.value]
    pytest.skip("every action is implemented")


def test_not_implemented_action_is_501_with_a_clear_message(api: ApiClient) -> None:
    name, key_attribute = _pending_action()
    response = api.call(name, getattr(api.app, key_attribute), method="GET")
    assert response.status_code == 501
    text = error_of(response)
    assert name in text
    assert "not implemented" in text


# -- size limits (a server whose limits are TIGHT_LIMITS) ----------------------------------------------


def test_body_over_the_limit_is_413(tight_api: ApiClient) -> None:
    pad = "x" * TIGHT_LIMITS["max_body_bytes"]
    body = json.dumps({**creds(tight_api), "action": "track", "userId": "u-big", "event": "E", "info": pad})
    response = tight_api.http.post("/api", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "too large" in error_of(response)
    assert_no_user(tight_api, "u-big")


def test_streamed_body_over_the_limit_is_413(tight_api: ApiClient) -> None:
    """A chunked body declares no length: the limit is enforced while reading."""

    def chunks() -> Iterator[bytes]:
        yield json.dumps({**creds(tight_api), "action": "log", "message": ""})[:-2].encode()
        for _ in range(TIGHT_LIMITS["max_body_bytes"] // 512 + 1):
            yield b"y" * 512
        yield b'"}'

    response = tight_api.http.post("/api", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert "too large" in error_of(response)


def test_body_under_the_limit_is_accepted(tight_api: ApiClient) -> None:
    pad = "x" * (TIGHT_LIMITS["max_body_bytes"] // 2)
    response = tight_api.http.post("/api", json={**creds(tight_api), "action": "log", "message": pad})
    assert response.status_code == 200


def _multipart(api: ApiClient, size: int, action: str = "log") -> httpx.Response:
    fields: dict[str, Any] = {name: (None, value) for name, value in {**creds(api), "action": action}.items()}
    fields["file0"] = ("blob.bin", b"z" * size, "application/octet-stream")
    return api.http.post("/api", files=fields)


def test_uploads_get_their_own_larger_limit(tight_api: ApiClient) -> None:
    size = TIGHT_LIMITS["max_body_bytes"] * 2
    assert size < TIGHT_LIMITS["max_upload_bytes"]
    response = _multipart(tight_api, size)
    assert response.status_code == 200, response.text


def test_upload_over_the_upload_limit_is_413(tight_api: ApiClient) -> None:
    response = _multipart(tight_api, TIGHT_LIMITS["max_upload_bytes"] + 1)
    assert response.status_code == 413
    assert "too large" in error_of(response)


def _csv(api: ApiClient, size: int) -> httpx.Response:
    query = {**creds(api, api.app.development), "action": "multi", "createJob": "true"}
    body = b"userId\n" + b"u\n" * (size // 2)
    return api.http.post("/api", params=query, content=body, headers={"Content-Type": "text/csv"})


def test_a_csv_import_body_gets_the_upload_limit(tight_api: ApiClient) -> None:
    response = _csv(tight_api, TIGHT_LIMITS["max_body_bytes"] * 2)
    assert response.status_code == 400, "read whole, then refused for its header (no action), not its size"
    assert "Give defaultAction" in error_of(response)
    assert _csv(tight_api, TIGHT_LIMITS["max_upload_bytes"] + 2).status_code == 413


# -- parameter count -----------------------------------------------------------------------------------


def _many(n: int) -> dict[str, str]:
    return {f"p{i}": "v" for i in range(n)}


@pytest.mark.parametrize("carrier", ["query", "json", "form", "multipart"])
def test_too_many_parameters_is_400(tight_api: ApiClient, carrier: str) -> None:
    params = {**creds(tight_api), "action": "track", "userId": "u-many", "event": "E",
              **_many(TIGHT_LIMITS["max_params"])}
    if carrier == "query":
        response = tight_api.http.get("/api", params=params)
    elif carrier == "json":
        response = tight_api.http.post("/api", json=params)
    elif carrier == "form":
        response = tight_api.http.post("/api", data=params)
    else:
        response = tight_api.http.post("/api", files={k: (None, v) for k, v in params.items()})
    assert response.status_code == 400
    assert "Too many parameters" in error_of(response)
    assert_no_user(tight_api, "u-many")


def test_parameters_at_the_limit_are_accepted(tight_api: ApiClient) -> None:
    params = {**creds(tight_api), "action": "log"}
    params.update(_many(TIGHT_LIMITS["max_params"] - len(params)))
    assert tight_api.http.post("/api", json=params).status_code == 200


# -- paths and methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/nope", "/api/v2", "/apix"])
def test_unknown_path_is_404_json(api: ApiClient, path: str) -> None:
    response = api.http.get(path)
    assert response.status_code == 404
    assert error_of(response)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_wrong_method_on_api_is_405_json(api: ApiClient, method: str) -> None:
    response = api.http.request(method, "/api", params={**creds(api), "action": "getMigrateState"})
    assert response.status_code == 405
    assert error_of(response)


def test_trailing_slash_is_the_same_endpoint(api: ApiClient) -> None:
    response = api.http.get("/api/", params={**creds(api), "action": "getMigrateState"})
    assert response.status_code == 200


def test_percent_encoded_bytes_that_are_not_utf8_are_refused(api: ApiClient) -> None:
    response = api.http.get(f"/api?action=getMigrateState&appId={api.app.app_id}&clientKey={api.app.production}&x=%ff")
    assert response.status_code == 400
    assert response.json()["response"][0]["error"]["message"] == "Parameters are not valid UTF-8."


# -- hostile input the fuzz suite found (tests/fuzz) ---------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_json_body_nested_too_deeply_is_400(api: ApiClient, content_type: str) -> None:
    body = b'{"k":' * 5000 + b"1" + b"}" * 5000
    response = api.http.post("/api", params={**creds(api), "action": "getMigrateState"}, content=body,
                             headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert "nested too deeply" in error_of(response)


def test_batch_data_nested_too_deeply_is_400(api: ApiClient) -> None:
    data = "[" * 5000 + "]" * 5000
    response = api.http.post("/api", data={**creds(api), "action": "multi", "data": data})
    assert response.status_code == 400
    assert "'data'" in error_of(response)


@pytest.mark.parametrize("create_job", [[], {}, ["true"]], ids=["list", "object", "list-of-true"])
def test_create_job_that_is_not_true_runs_the_batch(api: ApiClient, create_job: object) -> None:
    body = {**creds(api, api.app.development), "action": "multi", "createJob": create_job,
            "data": [{"action": "getMigrateState"}]}
    response = api.http.post("/api", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["response"][0]["success"] is True, response.text


@pytest.mark.parametrize("carrier", ["query", "json", "json-in-string", "form"])
def test_a_nul_character_in_a_parameter_is_400(api: ApiClient, carrier: str) -> None:
    """PostgreSQL cannot store U+0000: refused at the edge, on both backends alike, and nothing is stored."""
    params: dict[str, Any] = {**creds(api), "action": "track", "userId": "u-nul", "event": "E\x00vil"}
    if carrier == "query":
        response = api.http.get("/api", params=params)
    elif carrier == "json":
        response = api.http.post("/api", json=params)
    elif carrier == "json-in-string":
        params = {**params, "event": "E", "params": json.dumps({"k\x00": 1})}
        response = api.http.post("/api", json=params)
    else:
        response = api.http.post("/api", data=params)
    assert response.status_code == 400
    assert "NUL" in error_of(response)
    assert_no_user(api, "u-nul")


def test_a_nul_character_in_the_app_id_is_400_not_a_lookup(api: ApiClient) -> None:
    response = api.http.get("/api", params={"appId": "app\x00", "clientKey": "k", "action": "getVars"})
    assert response.status_code == 400
    assert "NUL" in error_of(response)


def test_a_nul_character_fails_only_its_batch_item(api: ApiClient) -> None:
    response = api.multi([{"action": "track", "userId": "u-nul-item", "event": "E\x00"},
                          {"action": "track", "userId": "u-ok-item", "event": "E"}])
    assert response.status_code == 200, response.text
    first, second = response.json()["response"]
    assert first["success"] is False
    assert "NUL" in first["error"]["message"]
    assert second["success"] is True, second
    assert_no_user(api, "u-nul-item")


def test_an_export_file_path_with_a_nul_character_is_404(api: ApiClient) -> None:
    response = api.http.get("/exports/token%00/name")
    assert response.status_code == 404
    assert error_of(response)
