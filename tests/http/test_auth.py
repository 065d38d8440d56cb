"""Apps and key classes (API.md §2): every key class against every action class, and what a refusal looks like."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from openplum.actions.table import ACTIONS
from openplum.services.apps import KeyClass
from tests.conftest import ApiClient, AppUnderTest, create_test_app

P, D, X, C = KeyClass.PRODUCTION, KeyClass.DEVELOPMENT, KeyClass.DATA_EXPORT, KeyClass.CONTENT_READ_ONLY


def key_of(app: AppUnderTest, key_class: KeyClass) -> str:
    return {P: app.production, D: app.development, X: app.data_export, C: app.content_read_only}[key_class]


def may_call(given: KeyClass, required: KeyClass) -> bool:
    """API.md §2.3: each class calls its own actions; the development key may also call production ones."""
    return given is required or (required is P and given is D)


def representatives() -> list[str]:
    """For each action class, one live action and one not implemented yet (when the table has them)."""
    chosen: list[str] = []
    for key_class in KeyClass:
        specs = [s for s in ACTIONS.values() if s.key_class is key_class and s.name != "multi"]
        for implemented in (True, False):
            first = next((s.name for s in specs if s.implemented is implemented), None)
            if first is not None:
                chosen.append(first)
    return chosen


MATRIX = [(given, name) for given in KeyClass for name in representatives()]


def only_item(response: httpx.Response) -> dict[str, Any]:
    answers = response.json()["response"]
    assert len(answers) == 1, answers
    item: dict[str, Any] = answers[0]
    return item


def message(response: httpx.Response) -> str:
    item = only_item(response)
    assert item["success"] is False, item
    text: str = item["error"]["message"]
    return text


def test_matrix_covers_every_action_class() -> None:
    assert {ACTIONS[name].key_class for name in representatives()} == set(KeyClass)


@pytest.mark.parametrize(
    ("given", "action"),
    [m for m in MATRIX if not may_call(m[0], ACTIONS[m[1]].key_class)],
    ids=lambda v: v.value if isinstance(v, KeyClass) else v,
)
def test_wrong_key_class_is_refused(api: ApiClient, given: KeyClass, action: str) -> None:
    response = api.call(action, key_of(api.app, given), method="GET")
    assert response.status_code == 403, response.text
    assert message(response).startswith("Invalid access key"), response.text


@pytest.mark.parametrize(
    ("given", "action"),
    [m for m in MATRIX if may_call(m[0], ACTIONS[m[1]].key_class)],
    ids=lambda v: v.value if isinstance(v, KeyClass) else v,
)
def test_right_key_class_passes_authentication(api: ApiClient, given: KeyClass, action: str) -> None:
    """Whatever the action then answers (success, a missing parameter, not implemented), it is not an auth error."""
    response = api.call(action, key_of(api.app, given), method="GET")
    assert response.status_code != 403, response.text
    item = only_item(response)
    assert not item.get("error", {}).get("message", "").startswith("Invalid access key"), item


def test_wrong_key_class_message_names_the_class_needed(api: ApiClient) -> None:
    response = api.call("getMigrateState", api.app.data_export)
    assert "production" in message(response)


def test_unknown_app_is_403_app_not_found(api: ApiClient) -> None:
    response = api.http.get("/api", params={"appId": "app_does_not_exist", "clientKey": api.app.production,
                                            "action": "getMigrateState"})
    assert response.status_code == 403
    assert message(response).startswith("App not found")


def test_wrong_key_is_403_invalid_access_key(api: ApiClient) -> None:
    response = api.call("getMigrateState", "prod_not-a-key-of-this-app")
    assert response.status_code == 403
    assert message(response).startswith("Invalid access key")


@pytest.mark.parametrize("suffix", ["é", "\u2028", "😀"], ids=["latin", "separator", "emoji"])
def test_key_with_characters_beyond_ascii_is_403_invalid_access_key(api: ApiClient, suffix: str) -> None:
    """Keys are ASCII; a key that is not matches none (and is not an error of the server)."""
    for given in (api.app.production + suffix, suffix):
        response = api.call("getMigrateState", given)
        assert response.status_code == 403
        assert message(response).startswith("Invalid access key")


def test_key_in_a_batch_item_with_characters_beyond_ascii_is_refused(api: ApiClient) -> None:
    item = {"action": "getMigrateState", "clientKey": api.app.production + "é"}
    answers = api.multi([item]).json()["response"]
    assert answers[0]["success"] is False
    assert answers[0]["error"]["message"].startswith("Invalid access key")


@pytest.mark.parametrize("missing", ["appId", "clientKey"])
def test_missing_credential_is_400(api: ApiClient, missing: str) -> None:
    params = {"appId": api.app.app_id, "clientKey": api.app.production, "action": "getMigrateState"}
    del params[missing]
    response = api.http.get("/api", params=params)
    assert response.status_code == 400
    assert message(response) == f"Missing required parameter: {missing}"


@pytest.mark.parametrize("empty", ["appId", "clientKey"])
def test_empty_credential_is_400(api: ApiClient, empty: str) -> None:
    params = {"appId": api.app.app_id, "clientKey": api.app.production, "action": "getMigrateState", empty: ""}
    response = api.http.get("/api", params=params)
    assert response.status_code == 400
    assert message(response) == f"Missing required parameter: {empty}"


@pytest.mark.parametrize("dev_mode", [None, "true", "false"], ids=["absent", "true", "false"])
def test_development_key_may_call_production_actions(api: ApiClient, dev_mode: str | None) -> None:
    params = {"devMode": dev_mode} if dev_mode else {}
    item = api.ok("getMigrateState", api.app.development, **params)
    assert item["sdk"] == "lp"


def test_development_key_in_dev_mode_may_call_production_actions_in_a_batch(api: ApiClient) -> None:
    response = api.multi([{"action": "getMigrateState", "devMode": True}, {"action": "log", "devMode": True}],
                         api.app.development)
    assert response.status_code == 200
    assert [a["success"] for a in response.json()["response"]] == [True, True]


def test_production_key_with_dev_mode_is_refused(api: ApiClient) -> None:
    response = api.call("getMigrateState", api.app.production, devMode="true")
    assert response.status_code == 403
    assert message(response).startswith("Development mode requested but not permitted")


def test_production_key_without_dev_mode_is_accepted(api: ApiClient) -> None:
    api.ok("getMigrateState", api.app.production, devMode="false")


@pytest.mark.parametrize("key_class", list(KeyClass), ids=lambda k: k.value)
def test_key_of_one_app_never_works_for_another(api: ApiClient, key_class: KeyClass) -> None:
    other = create_test_app(api.server)
    action = next(s.name for s in ACTIONS.values() if s.key_class is key_class and s.name != "multi")
    response = api.http.get("/api", params={"appId": other.app_id, "clientKey": key_of(api.app, key_class),
                                            "action": action})
    assert response.status_code == 403
    assert message(response).startswith("Invalid access key")


def test_each_app_accepts_its_own_key(api: ApiClient) -> None:
    other = create_test_app(api.server)
    response = api.http.get("/api", params={"appId": other.app_id, "clientKey": other.production,
                                            "action": "getMigrateState"})
    assert response.status_code == 200


def test_keys_never_appear_in_server_logs(api: ApiClient, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("openplum", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    api.call("getMigrateState", api.app.production)
    api.call("getMigrateState", api.app.data_export)
    api.call("getMigrateState", api.app.production + "x")
    api.call("getMigrateState", api.app.production, devMode="true")
    server_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("openplum", "uvicorn")))
    for key in (api.app.production, api.app.data_export):
        assert key not in server_logs


FAILURES = {
    "wrong-key": lambda app: {"appId": app.app_id, "clientKey": "prod_wrong"},
    "wrong-class": lambda app: {"appId": app.app_id, "clientKey": app.data_export},
    "dev-mode-refused": lambda app: {"appId": app.app_id, "clientKey": app.production, "devMode": "true"},
    "other-app-key": lambda app: {"appId": app.app_id, "clientKey": "dev_of_another_app"},
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_refused_request_writes_nothing(api: ApiClient, failure: str) -> None:
    # The control proves the observation works: an accepted track shows up in the user's profile.
    api.ok("track", userId="accepted-user", event="Seen")
    assert api.profile("accepted-user").get("userId") == "accepted-user"

    credentials = FAILURES[failure](api.app)
    response = api.http.post("/api", params={**credentials, "action": "track", "userId": "refused-user",
                                             "event": "Seen"})
    assert response.status_code == 403, response.text
    profile = api.profile("refused-user")
    assert profile.get("userId") is None, profile
    assert not profile.get("events"), profile


def test_refused_batch_item_writes_nothing(api: ApiClient) -> None:
    response = api.multi([
        {"action": "track", "userId": "kept", "event": "Seen"},
        {"action": "track", "userId": "refused", "event": "Seen", "clientKey": api.app.content_read_only},
    ])
    assert [a["success"] for a in response.json()["response"]] == [True, False]
    assert api.profile("kept").get("userId") == "kept"
    assert api.profile("refused").get("userId") is None
