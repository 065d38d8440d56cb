"""The bugs the fuzzers found in modules this suite may not change, each pinned by a strict xfail.

When one is fixed its test passes, which fails the run (strict): then drop the ``xfail`` and the matching entry
in ``known.py``, so the properties generate that input again.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import ApiClient
from tests.fuzz.checks import envelope
from tests.fuzz.known import DEEP

pytestmark = pytest.mark.fuzz


@pytest.mark.xfail(strict=True, reason="actions/prepare.py truthy() tests `value in {True, 'true', ...}`: an "
                                       "object or list sent as devMode is unhashable, a TypeError, a 500")
@pytest.mark.parametrize("dev_mode", [[], {}], ids=["list", "object"])
def test_an_object_as_dev_mode_is_a_client_error(api: ApiClient, dev_mode: object) -> None:
    body = {"appId": api.app.app_id, "clientKey": api.app.production, "action": "getMigrateState",
            "devMode": dev_mode}
    response = api.http.post("/api", json=body)
    envelope(response, "getMigrateState")


@pytest.mark.xfail(strict=True, reason="actions/prepare.py truthy(): the same TypeError from one batch item's "
                                       "devMode fails the whole batch with a 500")
def test_an_object_as_an_items_dev_mode_fails_only_that_item(api: ApiClient) -> None:
    response = api.multi([{"action": "getMigrateState", "devMode": {}}, {"action": "getMigrateState"}])
    answers = envelope(response, "multi", items=2)
    assert answers[1]["success"] is True, answers


DEEP_TEXT = "[" * (DEEP + 300) + "]" * (DEEP + 300)
"""JSON text nested deeper than msgspec can decode: it raises RecursionError, not DecodeError."""


@pytest.mark.xfail(strict=True, reason="msgspec.json.decode of JSON text nested ~1,000 deep raises RecursionError "
                                       "(not DecodeError), uncaught where a parameter's JSON text is decoded: "
                                       "actions/params.py decode() (_json_param and the fast path) and "
                                       "actions/users.py _listish()")
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


@pytest.mark.xfail(strict=True, reason="actions/runner.py _replays() claims an item's replay key before its "
                                       "handler runs and keeps it when the handler fails: the resent request "
                                       "is taken for a replay and answered 200 success:true")
def test_a_failed_request_resent_fails_again(api: ApiClient) -> None:
    body = {"appId": api.app.app_id, "clientKey": api.app.production, "action": "setDeviceAttributes",
            "reqId": "req-fails", "systemName": "iOS"}  # no userId or deviceId: the handler refuses it
    first = api.http.post("/api", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert first.status_code == 400, first.text
    again = api.http.post("/api", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert again.status_code == 400, again.text


OVERFLOW = ("actions/postbacks.py DeletePostbackParams.postback_id is a plain int (msgspec takes up to 2**64-1, "
            "and any size from text); SQLite raises OverflowError on the DELETE: a 500, not 'No postback with id'")


@pytest.mark.parametrize("postback_id", [2**63, str(2**64), str(-(2**63) - 1)])
def test_a_postback_id_beyond_64_bits_names_no_postback(api: ApiClient, request: pytest.FixtureRequest,
                                                        postback_id: object) -> None:
    if api.server.backend == "sqlite":  # PostgreSQL compares the big number and finds nothing, as it should
        request.applymarker(pytest.mark.xfail(strict=True, reason=OVERFLOW))
    body = {"appId": api.app.app_id, "clientKey": api.app.data_export, "action": "deletePostback",
            "postbackId": postback_id}
    response = api.http.post("/api", json=body)
    envelope(response, "deletePostback")
    assert response.status_code == 404, response.text
