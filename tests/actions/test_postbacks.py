"""Postback actions (API.md §6.6): ``addPostback``, ``listPostbacks``, ``deletePostback``, and which behaviour
puts events in the outbox: message interactions (``track`` with a ``messageId``) and first A/B exposures, in the
same transaction as the behaviour itself."""

from __future__ import annotations

from typing import Any

import pytest

from openplum.services import postbacks
from openplum.settings import from_env
from tests.admin import Admin, get_vars, make_users, start_test, variant, variant_ids
from tests.clients import count_events
from tests.conftest import ApiClient
from tests.postbacks import Receiver, add_postback, deliver, message, outbox

ALL_CHANNELS = ["Push Notification", "Email", "In-app Message", "Webhook"]


def _list(api: ApiClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.ok("listPostbacks", api.app.data_export)["postbacks"]
    return found


def _refused(api: ApiClient, **params: Any) -> tuple[int, str]:
    response = api.call("addPostback", api.app.data_export, **params)
    item = response.json()["response"][0]
    assert item["success"] is False, item
    message: str = item["error"]["message"]
    return response.status_code, message


# -- the definitions -----------------------------------------------------------------------------------


def test_a_postback_is_added_listed_and_deleted(pb_api: ApiClient, receiver: Receiver) -> None:
    first = add_postback(pb_api, receiver.url("/a"))
    second = add_postback(pb_api, receiver.url("/b", "v={{Variant ID}}"), "abTestEvents",
                          channels=["Email", "Push Notification"])

    assert isinstance(first, int)
    assert isinstance(second, int)
    assert first != second
    assert _list(pb_api) == [
        {"postbackId": first, "type": "messageEvents", "postbackUrl": receiver.url("/a"), "channels": ALL_CHANNELS},
        {"postbackId": second, "type": "abTestEvents", "postbackUrl": receiver.url("/b", "v={{Variant ID}}"),
         "channels": ["Push Notification", "Email"]},
    ]

    pb_api.ok("deletePostback", pb_api.app.data_export, postbackId=first)
    assert [p["postbackId"] for p in _list(pb_api)] == [second]
    response = pb_api.call("deletePostback", pb_api.app.data_export, postbackId=first)
    assert response.status_code == 404
    assert response.json()["response"][0]["error"]["message"] == f"No postback with id {first}"


@pytest.mark.parametrize(("channels", "expected"), [
    ("email,push", ["Push Notification", "Email"]),
    ('["In-app Message", "Webhook"]', ["In-app Message", "Webhook"]),
    ("", ALL_CHANNELS),
])
def test_channels_may_be_a_comma_list_or_a_json_string(
    pb_api: ApiClient, receiver: Receiver, channels: str, expected: list[str]
) -> None:
    add_postback(pb_api, receiver.url(), channels=channels)

    assert _list(pb_api)[0]["channels"] == expected


@pytest.mark.parametrize(("params", "problem"), [
    ({"type": "sessions", "postbackUrl": "http://127.0.0.1/x"}, "Invalid value for parameter 'type'"),
    ({"type": "messageEvents"}, "Missing required parameter: postbackUrl"),
    ({"postbackUrl": "http://127.0.0.1/x"}, "Missing required parameter: type"),
    ({"type": "messageEvents", "postbackUrl": "http://127.0.0.1/x", "channels": ["SMS"]},
     "Invalid value for parameter 'channels': 'SMS'"),
    ({"type": "messageEvents", "postbackUrl": "http://127.0.0.1/x?u={{User id}}"},
     "Unknown template value {{User id}} in postbackUrl; the values are: {{User ID}}"),
    ({"type": "messageEvents", "postbackUrl": "http://{{User ID}}.127.0.0.1/x"},
     "postbackUrl: template values may not be used in the scheme, host name or port"),
    ({"type": "messageEvents", "postbackUrl": "/relative/{{User ID}}"}, "Outbound URL must be an absolute http(s)"),
])
def test_a_bad_definition_is_refused_with_the_reason(pb_api: ApiClient, params: dict[str, Any], problem: str) -> None:
    status, message = _refused(pb_api, **params)

    assert status == 400
    assert message.startswith(problem), message
    assert _list(pb_api) == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/hook", "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook", "http://0.0.0.0/hook",
])
def test_a_url_reaching_a_non_public_address_is_refused_without_the_allow_list(api: ApiClient, url: str) -> None:
    status, message = _refused(api, type="messageEvents", postbackUrl=url)

    assert status == 400
    assert "non-public address" in message
    assert "OPENPLUM_OUTBOUND_ALLOW" in message
    assert _list(api) == []


def test_an_app_has_at_most_three_postbacks(pb_api: ApiClient, receiver: Receiver) -> None:
    ids = [add_postback(pb_api, receiver.url(f"/{n}")) for n in range(3)]

    status, message = _refused(pb_api, type="abTestEvents", postbackUrl=receiver.url("/4"))
    assert status == 403
    assert message.startswith("The app already has 3 postbacks, the most allowed (OPENPLUM_MAX_POSTBACKS=3)")

    pb_api.ok("deletePostback", pb_api.app.data_export, postbackId=ids[0])
    add_postback(pb_api, receiver.url("/4"))
    assert len(_list(pb_api)) == 3


def test_the_cap_and_retry_schedule_are_configurable() -> None:
    default = from_env({})
    assert (default.max_postbacks, default.postback_timeout, default.postback_max_attempts) == (3, 30.0, 10)
    assert (default.postback_backoff_base, default.postback_backoff_cap) == (60.0, 36000.0)

    custom = from_env({"OPENPLUM_MAX_POSTBACKS": "5", "OPENPLUM_POSTBACK_TIMEOUT": "5",
                       "OPENPLUM_POSTBACK_BACKOFF_BASE": "1", "OPENPLUM_POSTBACK_BACKOFF_CAP": "8",
                       "OPENPLUM_POSTBACK_MAX_ATTEMPTS": "3"})
    assert (custom.max_postbacks, custom.postback_timeout, custom.postback_max_attempts) == (5, 5.0, 3)
    assert (custom.postback_backoff_base, custom.postback_backoff_cap) == (1.0, 8.0)


@pytest.mark.parametrize("action", ["addPostback", "listPostbacks", "deletePostback"])
def test_postback_actions_need_the_data_export_key(pb_api: ApiClient, action: str) -> None:
    response = pb_api.call(action, pb_api.app.production, type="messageEvents", postbackUrl="http://127.0.0.1/",
                           postbackId=1)

    assert response.status_code == 403


# -- what reaches the outbox ---------------------------------------------------------------------------


def test_only_message_interactions_reach_the_outbox(pb_api: ApiClient, receiver: Receiver) -> None:
    add_postback(pb_api, receiver.url())

    pb_api.ok("track", userId="u-1", event="Purchase", value=3)
    pb_api.ok("advance", userId="u-1", state="Checkout")
    assert outbox(pb_api) == {}

    message(pb_api, "u-1", "m-1", "Open")
    message(pb_api, "u-1", "m-1")
    assert outbox(pb_api) == {"pending": 2}


def test_without_postbacks_nothing_reaches_the_outbox(pb_api: ApiClient) -> None:
    message(pb_api, "u-1", "m-1", "Open")

    assert outbox(pb_api) == {}


def test_a_rolled_back_request_enqueues_nothing(
    pb_api: ApiClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_postback(pb_api, receiver.url())
    write_outbox = postbacks.write_outbox  # the last of a request's writes (Unit.flush)

    def write_then_fail(*args: Any) -> None:
        write_outbox(*args)
        raise RuntimeError("the request fails after its writes")

    monkeypatch.setattr(postbacks, "write_outbox", write_then_fail)
    response = pb_api.call("track", userId="u-1", messageId="m-1", event="Open")
    monkeypatch.undo()

    assert response.status_code == 500
    assert outbox(pb_api) == {}
    assert count_events(pb_api, "u-1") == 0
    deliver(pb_api)
    assert receiver.of(pb_api) == []
    message(pb_api, "u-1", "m-1", "Open")
    assert outbox(pb_api) == {"pending": 1}


def test_a_replayed_message_event_is_enqueued_once(pb_api: ApiClient, receiver: Receiver) -> None:
    add_postback(pb_api, receiver.url())
    item = {"action": "track", "appId": pb_api.app.app_id, "clientKey": pb_api.app.production, "userId": "u-1",
            "messageId": "m-1", "event": "Open", "reqId": "r-1"}

    for _ in range(2):
        assert pb_api.multi([item]).status_code == 200

    assert outbox(pb_api) == {"pending": 1}


def test_the_channel_parameter_selects_the_postbacks(pb_api: ApiClient, receiver: Receiver) -> None:
    add_postback(pb_api, receiver.url("/all"))
    add_postback(pb_api, receiver.url("/email"), channels=["Email"])

    message(pb_api, "u-1", "m-1", "Open", params={"channel": "Push Notification"})
    message(pb_api, "u-1", "m-2", "Open", params={"channel": "email"})
    message(pb_api, "u-1", "m-3", "Open")
    deliver(pb_api)

    seen = sorted((r.path, r.json["messageId"], r.json["messageChannel"]) for r in receiver.of(pb_api))
    assert seen == [("/all", "m-1", "Push Notification"), ("/all", "m-2", "Email"), ("/all", "m-3", None),
                    ("/email", "m-2", "Email"), ("/email", "m-3", None)]


def test_a_first_ab_exposure_notifies_ab_test_postbacks_once(
    pb_api: ApiClient, pb_admin: Admin, receiver: Receiver
) -> None:
    add_postback(pb_api, receiver.url("/ab", "t={{AB test ID}}&v={{Variant ID}}&u={{User ID}}"), "abTestEvents")
    add_postback(pb_api, receiver.url("/messages"))
    test = start_test(pb_admin, pb_api, [variant("A", 50), variant("B", 50)])

    make_users(pb_api, ["u-1"])
    answer = get_vars(pb_api, "u-1", "d-1")
    get_vars(pb_api, "u-1", "d-1")
    assert deliver(pb_api) == 1

    [received] = receiver.of(pb_api)
    [assigned] = [v["id"] for v in answer["variants"]]
    assert assigned in variant_ids(test).values()
    assert received.path.startswith("/ab?")
    assert received.query == {"t": str(test["id"]), "v": str(assigned), "u": "u-1"}
    assert received.json | {"id": 0, "triggerTime": 0} == {
        "id": 0, "appId": pb_api.app.app_id, "postbackId": received.json["postbackId"], "type": "abTestEvents",
        "userId": "u-1", "deviceId": "d-1", "triggerTime": 0, "messageId": None, "messageEvent": None,
        "messageChannel": None, "templateName": None, "parameters": {}, "abTestId": test["id"],
        "variantId": assigned,
    }
