"""The postback delivery worker: at least once from the outbox, signed, retried with exponential backoff, then
dead-lettered; the URL checked again before each attempt. The worker's pass is run directly and the server's
clock moved forward instead of waiting (backoff here: 10 s doubling to 40 s, 4 attempts, 2 s timeout)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from openplum.settings import Settings
from openplum.workers.postbacks import PostbackDeliverer, backoff, lease
from tests.admin import Admin
from tests.conftest import ApiClient
from tests.postbacks import EVERY_MESSAGE_VALUE, Receiver, add_postback, deliver, message, outbox, secret_of, signed_by


def _track(api: ApiClient, user_id: str, message_id: str, event: str | None, at: float, **params: Any) -> None:
    fields: dict[str, Any] = {"userId": user_id, "deviceId": "dev-1", "messageId": message_id, "time": f"{at:.3f}"}
    if event is not None:
        fields["event"] = event
    if params:
        fields["params"] = params
    api.ok("track", **fields)


def test_a_receiver_that_fails_then_recovers_gets_every_event_signed_with_its_values(
    pb_api: ApiClient, pb_admin: Admin, receiver: Receiver
) -> None:
    add_postback(pb_api, receiver.url("/hook", EVERY_MESSAGE_VALUE))
    at = round(pb_api.server.clock.now() - 60, 3)
    _track(pb_api, "u-1", "m-1", None, at)
    _track(pb_api, "u-1", "m-1", "Accept", at + 1, channel="In-app Message", templateName="Confirm")
    _track(pb_api, "u-2", "m-2", "Open", at + 2, channel="push", campaign="spring")
    receiver.failures = 2

    assert deliver(pb_api) == 3
    assert len(receiver.of(pb_api)) == 3
    assert outbox(pb_api) == {"pending": 2}
    assert deliver(pb_api) == 0  # the two failures wait for their backoff

    pb_api.server.clock.advance(10)
    assert deliver(pb_api) == 2
    assert outbox(pb_api) == {}

    secret = secret_of(pb_admin, pb_api)
    received = receiver.of(pb_api)
    assert all(signed_by(r, secret) for r in received)
    assert all(r.headers["content-type"] == "application/json" for r in received)
    assert all(abs(int(r.headers["x-openplum-timestamp"]) - pb_api.server.clock.now()) < 60 for r in received)
    delivered = {r.json["id"]: r.query for r in received}  # retries carry the id of the first attempt
    assert sorted(delivered.values(), key=lambda q: q["t"]) == [
        {"u": "u-1", "d": "dev-1", "t": str(round(at * 1000)), "m": "m-1", "e": "View", "c": "", "n": "",
         "p": "{}"},
        {"u": "u-1", "d": "dev-1", "t": str(round((at + 1) * 1000)), "m": "m-1", "e": "Accept",
         "c": "In-app Message", "n": "Confirm",
         "p": json.dumps({"channel": "In-app Message", "templateName": "Confirm"}, separators=(",", ":"))},
        {"u": "u-2", "d": "dev-1", "t": str(round((at + 2) * 1000)), "m": "m-2", "e": "Open",
         "c": "Push Notification", "n": "", "p": json.dumps({"channel": "push", "campaign": "spring"},
                                                            separators=(",", ":"))},
    ]


def test_template_values_are_url_encoded(pb_api: ApiClient, receiver: Receiver) -> None:
    add_postback(pb_api, receiver.url("/hook/{{User ID}}", "p={{Parameters}}"))
    user = "ü ser/1&x=y?#"
    message(pb_api, user, "m 1", "Open", params={"a": "b c&d"})
    deliver(pb_api)

    [received] = receiver.of(pb_api)
    assert received.path.startswith("/hook/" + quote(user, safe="") + "?p=")
    assert received.query == {"p": '{"a":"b c&d"}'}
    assert received.json["userId"] == user
    assert received.json["parameters"] == {"a": "b c&d"}


def test_the_body_is_the_event_with_a_delivery_id(pb_api: ApiClient, receiver: Receiver) -> None:
    postback_id = add_postback(pb_api, receiver.url())
    at = round(pb_api.server.clock.now() - 5, 3)
    _track(pb_api, "u-1", "m-9", "Open", at, channel="Email")
    deliver(pb_api)

    [received] = receiver.of(pb_api)
    body = received.json
    assert isinstance(body.pop("id"), int)
    assert body == {
        "appId": pb_api.app.app_id, "postbackId": postback_id, "type": "messageEvents", "userId": "u-1",
        "deviceId": "dev-1", "triggerTime": round(at * 1000), "messageId": "m-9", "messageEvent": "Open",
        "messageChannel": "Email", "templateName": None, "parameters": {"channel": "Email"}, "abTestId": None,
        "variantId": None,
    }


def test_backoff_doubles_from_one_minute_up_to_ten_hours_by_default() -> None:
    settings = Settings()

    assert [backoff(n, settings) for n in range(1, 11)] == [
        60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 30720]
    assert backoff(11, settings) == 36000
    assert settings.postback_max_attempts == 10


def test_failed_attempts_back_off_exponentially_then_become_a_dead_letter(
    pb_api: ApiClient, receiver: Receiver
) -> None:
    add_postback(pb_api, receiver.url())
    message(pb_api, "u-1", "m-1", "Open")
    receiver.failures = 100
    clock = pb_api.server.clock

    deliver(pb_api)
    for wait in (10, 20, 40):  # base 10 s, doubling; capped at 40 s
        clock.advance(wait - 1)
        deliver(pb_api)
        assert len(receiver.of(pb_api)) == 1 + [10, 20, 40].index(wait), wait
        clock.advance(1)
        deliver(pb_api)
    assert len(receiver.of(pb_api)) == 4
    assert outbox(pb_api) == {"dead": 1}

    clock.advance(3600)
    deliver(pb_api)
    assert len(receiver.of(pb_api)) == 4


def test_the_url_is_checked_again_before_each_attempt(pb_api: ApiClient, receiver: Receiver) -> None:
    add_postback(pb_api, receiver.url())
    message(pb_api, "u-1", "m-1", "Open")

    assert deliver(pb_api, outbound_allow=()) == 1  # an attempt, refused before anything is sent
    assert receiver.of(pb_api) == []
    assert outbox(pb_api) == {"pending": 1}

    pb_api.server.clock.advance(10)
    deliver(pb_api)
    assert len(receiver.of(pb_api)) == 1
    assert outbox(pb_api) == {}


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(pb_api: ApiClient, receiver: Receiver) -> None:
    add_postback(pb_api, receiver.url())
    message(pb_api, "u-1", "m-1", "Open")
    receiver.delay = 3.0  # the timeout is 2 s

    deliver(pb_api)
    assert outbox(pb_api) == {"pending": 1}

    receiver.delay = 0.0
    pb_api.server.clock.advance(10)
    deliver(pb_api)
    assert outbox(pb_api) == {}
    assert len(receiver.of(pb_api)) == 2


def test_a_crash_between_sending_and_recording_sends_again(
    pb_api: ApiClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_postback(pb_api, receiver.url())
    message(pb_api, "u-1", "m-1", "Open")

    def crash(self: PostbackDeliverer, tx: Any, outcomes: Any) -> None:
        raise RuntimeError("the process died before recording the delivery")

    monkeypatch.setattr(PostbackDeliverer, "_record", crash)
    with pytest.raises(RuntimeError):
        deliver(pb_api)
    monkeypatch.undo()
    assert len(receiver.of(pb_api)) == 1

    assert deliver(pb_api) == 0  # still leased to the worker that died
    pb_api.server.clock.advance(lease(pb_api.server.settings) + 1)
    assert deliver(pb_api) == 1

    first, second = receiver.of(pb_api)
    assert first.body == second.body  # the same id: the receiver can tell it is the same event
    assert outbox(pb_api) == {}


def test_a_deleted_postback_is_not_delivered(pb_api: ApiClient, receiver: Receiver) -> None:
    postback_id = add_postback(pb_api, receiver.url())
    message(pb_api, "u-1", "m-1", "Open")

    pb_api.ok("deletePostback", pb_api.app.data_export, postbackId=postback_id)
    deliver(pb_api)

    assert receiver.of(pb_api) == []
    assert outbox(pb_api) == {}


def test_one_pass_delivers_a_backlog_larger_than_a_batch(pb_api: ApiClient, receiver: Receiver) -> None:
    add_postback(pb_api, receiver.url())
    users = [f"u-{n}" for n in range(40)]
    items = [{"action": "track", "appId": pb_api.app.app_id, "clientKey": pb_api.app.production, "userId": u,
              "messageId": f"m-{k}", "event": "Open"} for u in users for k in range(3)]
    assert pb_api.multi(items).status_code == 200

    assert deliver(pb_api) >= 120
    received = receiver.of(pb_api)
    assert len({r.json["id"] for r in received}) == 120
    assert outbox(pb_api) == {}
