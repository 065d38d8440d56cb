"""Inputs the fuzzers once found to break the server, kept as plain examples so they stay fixed."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ApiClient
from tests.fuzz.checks import envelope

pytestmark = pytest.mark.fuzz


@pytest.mark.parametrize("dev_mode", [[], {}], ids=["list", "object"])
def test_an_object_as_dev_mode_is_a_client_error(api: ApiClient, dev_mode: object) -> None:
    body = {"appId": api.app.app_id, "clientKey": api.app.production, "action": "getMigrateState",
            "devMode": dev_mode}
    response = api.http.post("/api", json=body)
    envelope(response, "getMigrateState")


def test_an_object_as_an_items_dev_mode_fails_only_that_item(api: ApiClient) -> None:
    response = api.multi([{"action": "getMigrateState", "devMode": {}}, {"action": "getMigrateState"}])
    answers = envelope(response, "multi", items=2)
    assert answers[1]["success"] is True, answers


DEEP = 900
"""Deeper than Python's default frame limit lets msgspec follow."""
DEEP_TEXT = "[" * (DEEP + 300) + "]" * (DEEP + 300)
"""JSON text nested deeper than msgspec can decode: it raises RecursionError, not DecodeError."""


@pytest.mark.parametrize(("action", "params"), [
    ("track", {"userId": "u-deep", "event": "E", "params": DEEP_TEXT}),
    ("setUserAttributes", {"userId": "u-deep", "unsubscribeCategoriesToAdd": DEEP_TEXT}),
], ids=["params.decode", "users._listish"])
@pytest.mark.parametrize("carrier", ["json", "form"])
def test_a_deeply_nested_json_parameter_is_a_client_error(api: ApiClient, action: str, params: dict[str, str],
                                                          carrier: str) -> None:
    body = {"appId": api.app.app_id, "clientKey": api.app.production, "action": action, **params}
    response = api.http.post("/api", json=body) if carrier == "json" else api.http.post("/api", data=body)
    envelope(response, action)


def test_a_failed_request_resent_fails_again(api: ApiClient) -> None:
    body = {"appId": api.app.app_id, "clientKey": api.app.production, "action": "setDeviceAttributes",
            "reqId": "req-fails", "systemName": "iOS"}  # no userId or deviceId: the handler refuses it
    first = api.http.post("/api", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert first.status_code == 400, first.text
    again = api.http.post("/api", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert again.status_code == 400, again.text


@pytest.mark.parametrize("postback_id", [2**63, str(2**64), str(-(2**63) - 1)])
def test_a_postback_id_beyond_64_bits_is_a_client_error(api: ApiClient, postback_id: object) -> None:
    body = {"appId": api.app.app_id, "clientKey": api.app.data_export, "action": "deletePostback",
            "postbackId": postback_id}
    response = api.http.post("/api", json=body)
    envelope(response, "deletePostback")
    assert response.status_code == 400, response.text
