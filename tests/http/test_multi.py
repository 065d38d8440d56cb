"""``multi``, the JSON batch every SDK uses (API.md §1.7): carriers, order, ``reqId``, partial failure, limits."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import ApiClient
from tests.http.conftest import TIGHT_LIMITS


def answers(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["response"]
    return items


def top(api: ApiClient) -> dict[str, str]:
    return {"appId": api.app.app_id, "clientKey": api.app.production, "action": "multi", "time": "1700000000"}


BATCH = [{"action": "getMigrateState"}, {"action": "log", "message": "x"}]


# -- where the batch comes from ------------------------------------------------------------------------


def _post_data(api: ApiClient, data: object, carrier: str) -> httpx.Response:
    if carrier == "json":
        return api.http.post("/api", json={**top(api), "data": data})
    if carrier == "text-plain-body":
        return api.http.post("/api", params=top(api), content=json.dumps({"data": data}),
                             headers={"Content-Type": "text/plain"})
    assert carrier == "form"
    return api.http.post("/api", data={**top(api), "data": data if isinstance(data, str) else json.dumps(data)})


@pytest.mark.parametrize(
    ("form", "data"),
    [
        ("list", BATCH),
        ("object-with-data", {"data": BATCH}),
        ("list-as-json-string", json.dumps(BATCH)),
        ("object-as-json-string", json.dumps({"data": BATCH})),
    ],
    ids=lambda v: v if isinstance(v, str) and not v.startswith(("[", "{")) else "",
)
@pytest.mark.parametrize("carrier", ["json", "text-plain-body", "form"])
def test_data_accepted_in_every_form(api: ApiClient, form: str, data: object, carrier: str) -> None:
    items = answers(_post_data(api, data, carrier))
    assert len(items) == 2, items
    assert [a["success"] for a in items] == [True, True]
    assert items[0]["sdk"] == "lp"
    assert "sdk" not in items[1]


def test_bare_json_list_body_is_a_batch(api: ApiClient) -> None:
    response = api.http.post("/api", params=top(api), content=json.dumps(BATCH),
                             headers={"Content-Type": "application/json"})
    assert [a["success"] for a in answers(response)] == [True, True]


def test_missing_data_is_400(api: ApiClient) -> None:
    response = api.http.post("/api", params=top(api))
    assert response.status_code == 400
    assert response.json()["response"][0]["error"]["message"] == "Missing required parameter: data"


@pytest.mark.parametrize("data", ["{not json", '"just a string"', "42", '{"other": []}'])
def test_data_that_is_not_a_list_of_actions_is_400(api: ApiClient, data: str) -> None:
    response = api.http.post("/api", data={**top(api), "data": data})
    assert response.status_code == 400, response.text
    item = response.json()["response"][0]
    assert item["success"] is False
    assert "'data'" in item["error"]["message"]


# -- order, reqId, partial failure ---------------------------------------------------------------------


def test_items_are_answered_in_order(api: ApiClient) -> None:
    kinds = ["log", "getMigrateState", "log", "nope", "getMigrateState", "log"]
    items = answers(api.multi([{"action": k} for k in kinds]))
    assert len(items) == len(kinds)
    assert ["sdk" in a for a in items] == [k == "getMigrateState" for k in kinds]
    assert [a["success"] for a in items] == [k != "nope" for k in kinds]


def test_req_id_is_echoed_per_item_and_absent_when_not_sent(api: ApiClient) -> None:
    items = answers(api.multi([
        {"action": "getMigrateState", "reqId": "a-1"},
        {"action": "log"},
        {"action": "log", "reqId": "c-3"},
    ]))
    assert items[0]["reqId"] == "a-1"
    assert "reqId" not in items[1]
    assert items[2]["reqId"] == "c-3"


def test_req_id_is_echoed_on_failed_items(api: ApiClient) -> None:
    """Android matches answers by reqId: an error item without it would never reach the SDK's callback."""
    items = answers(api.multi([
        {"action": "noSuchAction", "reqId": "r-unknown"},
        {"action": "getMigrateState", "reqId": "r-denied", "clientKey": api.app.data_export},
        {"action": "log", "count": "many", "reqId": "r-bad-param"},
    ]))
    assert [a["reqId"] for a in items] == ["r-unknown", "r-denied", "r-bad-param"]
    assert [a["success"] for a in items] == [False, False, False]


def test_a_failing_item_does_not_stop_the_others(api: ApiClient) -> None:
    items = answers(api.multi([
        {"action": "getMigrateState"},
        {"action": "noSuchAction"},
        {"action": "getMigrateState", "clientKey": api.app.data_export},
        {"action": "log", "count": "many"},
        {"action": "getMigrateState"},
    ]))
    assert [a["success"] for a in items] == [True, False, False, False, True]
    assert items[1]["error"]["message"] == "Unknown action: 'noSuchAction'"
    assert items[2]["error"]["message"].startswith("Invalid access key")
    assert "'count'" in items[3]["error"]["message"]
    assert items[4]["sdk"] == "lp"


def test_item_that_is_not_an_object_is_an_error_item(api: ApiClient) -> None:
    items = answers(api.multi([{"action": "getMigrateState"}, "log", 7]))  # type: ignore[list-item]
    assert [a["success"] for a in items] == [True, False, False]


def test_item_without_action_is_an_error_item(api: ApiClient) -> None:
    items = answers(api.multi([{"userId": "u"}, {"action": "getMigrateState"}]))
    assert items[0]["error"]["message"] == "Missing required parameter: action"
    assert items[1]["success"] is True


def test_not_implemented_item_is_an_error_item(api: ApiClient) -> None:
    from openplum.actions.table import ACTIONS

    pending = [s.name for s in ACTIONS.values() if not s.implemented and s.key_class.value == "production"]
    if not pending:
        pytest.skip("every production action is implemented")
    items = answers(api.multi([{"action": pending[0]}, {"action": "getMigrateState"}]))
    assert items[0]["success"] is False
    assert "not implemented" in items[0]["error"]["message"]
    assert items[1]["success"] is True


def test_nested_multi_item_is_an_error_item(api: ApiClient) -> None:
    items = answers(api.multi([{"action": "multi", "data": [{"action": "log"}]}, {"action": "log"}]))
    assert items[0]["success"] is False
    assert "multi" in items[0]["error"]["message"]
    assert items[1]["success"] is True


def test_item_for_another_app_is_an_error_item(api: ApiClient) -> None:
    items = answers(api.multi([{"action": "getMigrateState", "appId": "app_other"}, {"action": "log"}]))
    assert items[0]["success"] is False
    assert "same app" in items[0]["error"]["message"]
    assert items[1]["success"] is True


def test_item_inherits_appid_and_key_from_the_request(api: ApiClient) -> None:
    """Items carrying null (or nothing) for appId/clientKey use the request's own."""
    items = answers(api.multi([{"action": "getMigrateState", "appId": None, "clientKey": None}]))
    assert items[0]["success"] is True


def test_item_with_its_own_key_is_authorised_by_that_key(api: ApiClient) -> None:
    """A batch sent with the production key may carry an item with the key that item's action needs."""
    items = answers(api.multi([
        {"action": "getMigrateState", "clientKey": api.app.content_read_only},
        {"action": "getMigrateState", "clientKey": api.app.development},
    ]))
    assert items[0]["error"]["message"].startswith("Invalid access key")
    assert items[1]["success"] is True


def test_item_with_an_unknown_key_is_refused(api: ApiClient) -> None:
    items = answers(api.multi([{"action": "getMigrateState", "clientKey": "prod_forged"}, {"action": "log"}]))
    assert items[0]["error"]["message"].startswith("Invalid access key")
    assert items[1]["success"] is True


def test_wrong_key_class_for_the_whole_batch_fails_each_item(api: ApiClient) -> None:
    items = answers(api.multi([{"action": "getMigrateState"}, {"action": "log"}], api.app.data_export))
    assert [a["success"] for a in items] == [False, False]
    assert all(a["error"]["message"].startswith("Invalid access key") for a in items)


def test_production_key_dev_mode_item_is_refused_alone(api: ApiClient) -> None:
    items = answers(api.multi([{"action": "getMigrateState", "devMode": True}, {"action": "log"}]))
    assert items[0]["error"]["message"].startswith("Development mode requested but not permitted")
    assert items[1]["success"] is True


# -- limits --------------------------------------------------------------------------------------------


def test_batch_at_the_item_cap_runs(tight_api: ApiClient) -> None:
    cap = TIGHT_LIMITS["multi_max_items"]
    items = answers(tight_api.multi([{"action": "log"}] * cap))
    assert len(items) == cap


def test_batch_over_the_item_cap_is_403_and_nothing_runs(tight_api: ApiClient) -> None:
    cap = TIGHT_LIMITS["multi_max_items"]
    response = tight_api.multi([{"action": "getMigrateState"}] * (cap + 1))
    assert response.status_code == 403
    items = response.json()["response"]
    assert len(items) == 1, "no item ran, so none is answered"
    assert items[0]["success"] is False
    assert "Too many actions" in items[0]["error"]["message"]


def test_batch_over_the_item_cap_writes_nothing(tight_api: ApiClient) -> None:
    cap = TIGHT_LIMITS["multi_max_items"]
    response = tight_api.multi([{"action": "track", "userId": "capped", "event": f"e{i}"} for i in range(cap + 1)])
    assert response.status_code == 403
    assert tight_api.profile("capped").get("userId") is None


def test_fifty_distinct_users_are_allowed(api: ApiClient) -> None:
    items = answers(api.multi([{"action": "log", "userId": f"user-{i}"} for i in range(50)]))
    assert len(items) == 50


def test_more_than_fifty_distinct_users_is_403(api: ApiClient) -> None:
    response = api.multi([{"action": "log", "userId": f"user-{i}"} for i in range(51)])
    assert response.status_code == 403
    items = response.json()["response"]
    assert len(items) == 1
    assert "Too many users" in items[0]["error"]["message"]


def test_users_are_counted_by_user_or_device_id(api: ApiClient) -> None:
    same_users = [{"action": "log", "userId": f"user-{i % 10}", "deviceId": f"device-{i}"} for i in range(60)]
    assert len(answers(api.multi(same_users))) == 60
    device_only = [{"action": "log", "deviceId": f"device-{i}"} for i in range(51)]
    assert api.multi(device_only).status_code == 403


def test_more_than_fifty_users_writes_nothing(api: ApiClient) -> None:
    response = api.multi([{"action": "track", "userId": f"crowd-{i}", "event": "Seen"} for i in range(51)])
    assert response.status_code == 403
    assert api.profile("crowd-0").get("userId") is None


def test_batch_applies_every_accepted_item(api: ApiClient) -> None:
    items = answers(api.multi([
        {"action": "track", "userId": "batch-user", "event": "First"},
        {"action": "noSuchAction"},
        {"action": "track", "userId": "batch-user", "event": "Second"},
    ]))
    assert [a["success"] for a in items] == [True, False, True]
    events = api.profile("batch-user")["events"]
    assert {"First", "Second"} <= set(events)
