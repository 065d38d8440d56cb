"""Changing who a user is, through plain HTTP (API.md §3.4, §6.2): ``newUserId`` (register, login, switch),
``deleteUser`` (with and without ``fullErasure``), ``block`` and ``unblock``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients import Js, count_events, count_sessions, missing, send, send_ok
from tests.conftest import ApiClient

# -- newUserId (§3.4) ----------------------------------------------------------------------------------


def after_set_user_id(js: Js, user_id: str, calls: list[tuple[str, float, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Items JS queues after ``setUserId``: the new id from then on (the batch keeps the queue's timing)."""
    js.user_id = user_id
    return [js.item(action, at, **params) for action, at, params in calls]


def test_register_gives_the_anonymous_user_the_new_id_with_its_history(api: ApiClient) -> None:
    js = Js(api, "anon-dev")
    send_ok(api, [
        js.item("start", 0), js.item("track", 5, event="Browse"), js.item("track", 8, event="Browse"),
        js.item("setUserAttributes", 10, newUserId="u-1", userAttributes={"plan": "pro"}),
        *after_set_user_id(js, "u-1", [("track", 20, {"event": "Buy", "value": 3}), ("stop", 30, {})]),
    ])

    profile = api.profile("u-1")
    assert profile["userId"] == "u-1"
    assert profile["events"]["Browse"]["count"] == 2
    assert profile["events"]["Buy"]["count"] == 1
    assert profile["userAttributes"] == {"plan": "pro"}
    assert profile["totalSessions"] == 1
    assert profile["timeSpentInApp"] == pytest.approx(30, abs=0.01)  # the session moved along
    assert [d["deviceId"] for d in profile["devices"]] == ["anon-dev"]
    assert missing(api, "anon-dev")
    assert count_events(api, "u-1") == 3
    assert count_events(api, "anon-dev") == 0


def test_after_register_the_device_alone_reaches_the_new_user(api: ApiClient) -> None:
    js = Js(api, "anon-dev")
    send_ok(api, [js.item("start", 0), js.item("setUserAttributes", 1, newUserId="u-1")])
    api.ok("track", deviceId="anon-dev", event="Tap")

    assert api.profile("u-1")["events"]["Tap"]["count"] == 1
    assert missing(api, "anon-dev")


def test_login_merges_anonymous_activity_into_the_existing_user(api: ApiClient) -> None:
    laptop = Js(api, "laptop", "u-2")
    send_ok(api, [laptop.item("start", 0), laptop.item("track", 10, event="Purchase", value=20),
                  laptop.item("stop", 60)])
    api.ok("setUserAttributes", userId="u-2", userAttributes={"plan": "pro"})

    phone = Js(api, "phone")  # anonymous: userId is the device id
    send_ok(api, [
        phone.item("start", 100, userAttributes={"theme": "dark"}), phone.item("track", 110, event="Browse"),
        phone.item("track", 115, event="Purchase", value=5),
        phone.item("setUserAttributes", 120, newUserId="u-2"),
        *after_set_user_id(phone, "u-2", [("stop", 140, {})]),
    ])

    profile = api.profile("u-2")
    assert profile["events"]["Purchase"]["count"] == 2
    assert profile["events"]["Purchase"]["value"] == 25
    assert profile["events"]["Browse"]["count"] == 1
    assert profile["userAttributes"] == {"plan": "pro", "theme": "dark"}
    assert profile["totalSessions"] == 2
    assert profile["timeSpentInApp"] == pytest.approx(60 + 40, abs=0.01)
    assert sorted(d["deviceId"] for d in profile["devices"]) == ["laptop", "phone"]
    assert missing(api, "phone")
    assert count_events(api, "u-2") == 3
    assert count_events(api, "phone") == 0
    assert count_sessions(api, "u-2") == 2


def test_login_keeps_the_existing_users_attribute_values(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-2", userAttributes={"plan": "pro"})
    phone = Js(api, "phone")
    send_ok(api, [phone.item("start", 0, userAttributes={"plan": "trial"}),
                  phone.item("setUserAttributes", 1, newUserId="u-2")])

    assert api.profile("u-2")["userAttributes"]["plan"] == "pro"


def test_switch_ends_the_old_users_session_and_starts_one_for_the_new_user(api: ApiClient) -> None:
    js = Js(api, "shared", "u-3")
    send_ok(api, [js.item("start", 0), js.item("track", 10, event="Read"),
                  js.item("setUserAttributes", 40, newUserId="u-4"),
                  *after_set_user_id(js, "u-4", [("track", 50, {"event": "Write"}), ("stop", 100, {})])])

    old, new = api.profile("u-3"), api.profile("u-4")
    assert old["totalSessions"] == 1
    assert old["timeSpentInApp"] == pytest.approx(40, abs=0.01)
    assert old["events"] == {"Read": {"count": 1, "value": 0, "firstTime": old["events"]["Read"]["firstTime"],
                                      "lastTime": old["events"]["Read"]["lastTime"]}}
    assert new["totalSessions"] == 1
    assert new["timeSpentInApp"] == pytest.approx(60, abs=0.01)
    assert list(new["events"]) == ["Write"]
    assert count_sessions(api, "u-3") == 1
    assert count_sessions(api, "u-4") == 1


def test_switch_to_an_existing_user_keeps_both_profiles(api: ApiClient) -> None:
    api.ok("track", userId="u-4", event="Old")
    js = Js(api, "shared", "u-3")
    send_ok(api, [js.item("start", 0), js.item("track", 1, event="Read"),
                  js.item("setUserAttributes", 2, newUserId="u-4")])

    assert list(api.profile("u-3")["events"]) == ["Read"]
    assert list(api.profile("u-4")["events"]) == ["Old"]
    assert api.profile("u-4")["totalSessions"] == 1


def test_new_user_id_too_long_is_an_error(api: ApiClient) -> None:
    api.ok("start", userId="anon", deviceId="anon")
    answer = api.call("setUserAttributes", userId="anon", deviceId="anon", newUserId="x" * 401).json()["response"][0]

    assert answer["success"] is False
    assert answer["error"]["message"]
    assert api.profile("anon")["userId"] == "anon"


# -- delete, block, unblock ----------------------------------------------------------------------------


def _history(api: ApiClient, user_id: str = "u-1") -> None:
    js = Js(api, "dev-1", user_id)
    send_ok(api, [js.item("start", 0), js.item("track", 5, event="Tap"), js.item("track", 6, event="Tap"),
                  js.item("advance", 7, state="Home"), js.item("stop", 10)])


def test_delete_user_removes_the_profile(api: ApiClient) -> None:
    _history(api)
    api.ok("deleteUser", api.app.development, userId="u-1")

    assert missing(api, "u-1")
    assert count_events(api, "u-1") == 2  # without fullErasure the analytics history stays


def test_delete_user_with_full_erasure_erases_events_and_sessions(api: ApiClient) -> None:
    _history(api)
    api.ok("deleteUser", api.app.development, userId="u-1", fullErasure=True)

    assert missing(api, "u-1")
    assert count_events(api, "u-1") == 0
    assert count_sessions(api, "u-1") == 0


def test_a_deleted_user_starts_over(api: ApiClient) -> None:
    _history(api)
    api.ok("deleteUser", api.app.development, userId="u-1", fullErasure=True)
    api.ok("start", userId="u-1", deviceId="dev-1")

    profile = api.profile("u-1")
    assert (profile["totalSessions"], profile["events"], profile["states"]) == (1, {}, {})


def test_delete_user_needs_the_development_key(api: ApiClient) -> None:
    _history(api)
    response = api.call("deleteUser", userId="u-1")

    assert response.status_code == 403
    assert api.profile("u-1")["userId"] == "u-1"


def test_block_erases_the_users_data(api: ApiClient) -> None:
    _history(api)
    api.ok("setUserAttributes", userId="u-1", userAttributes={"email": "a@example.com"})
    api.ok("block", userId="u-1")

    profile = api.profile("u-1")
    assert profile["userAttributes"] == {}
    assert (profile["events"], profile["states"], profile["devices"]) == ({}, {}, [])
    assert (profile["totalSessions"], profile["timeSpentInApp"]) == (0, 0)
    assert count_events(api, "u-1") == 0
    assert count_sessions(api, "u-1") == 0


def test_calls_for_a_blocked_user_answer_451_and_collect_nothing(api: ApiClient) -> None:
    _history(api)
    api.ok("block", userId="u-1")

    response = api.call("track", userId="u-1", deviceId="dev-1", event="Tap")
    assert response.status_code == 451
    item = response.json()["response"][0]
    assert item["success"] is False
    assert item["error"]["message"]
    for action, params in (("start", {}), ("setUserAttributes", {"userAttributes": {"a": 1}})):
        assert api.call(action, userId="u-1", deviceId="dev-1", **params).status_code == 451, action

    profile = api.profile("u-1")
    assert (profile["events"], profile["userAttributes"], profile["totalSessions"]) == ({}, {}, 0)
    assert count_events(api, "u-1") == 0


def test_a_blocked_user_inside_a_batch_fails_only_its_own_items(api: ApiClient) -> None:
    api.ok("track", userId="u-1", event="Tap")
    api.ok("block", userId="u-1")
    blocked, other = Js(api, "dev-1", "u-1"), Js(api, "dev-2", "u-2")

    answers = send(api, [blocked.item("track", 0, event="Tap"), other.item("track", 1, event="Tap")])

    assert answers[0]["success"] is False
    assert answers[0]["error"]["message"]
    assert answers[1] == {"success": True}
    assert api.profile("u-2")["events"]["Tap"]["count"] == 1


def test_unblock_resumes_collection_without_restoring_data(api: ApiClient) -> None:
    _history(api)
    api.ok("block", userId="u-1")
    api.ok("unblock", api.app.development, userId="u-1")
    api.ok("track", userId="u-1", deviceId="dev-1", event="Back")

    profile = api.profile("u-1")
    assert set(profile["events"]) == {"Back"}
    assert count_events(api, "u-1") == 1


def test_block_and_unblock_of_an_unknown_user_are_skipped(api: ApiClient) -> None:
    for action, key in (("block", None), ("unblock", api.app.development)):
        item = api.call(action, key, userId="ghost").json()["response"][0]
        assert item["success"] is True, (action, item)
        assert item["warning"]["message"], (action, item)
    assert missing(api, "ghost")
