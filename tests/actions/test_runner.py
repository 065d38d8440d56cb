"""A batch runs as one transaction, item by item (API.md §1.5, §1.7): an item that fails is answered with its own
error and leaves no trace, the others are committed, and the profile reflects exactly the items that succeeded."""

from __future__ import annotations

import pytest

from tests.clients import Js, count_events, missing, send
from tests.conftest import ApiClient


def test_a_failing_item_does_not_undo_the_others(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    answers = send(api, [
        js.item("start", 0),
        js.item("track", 1, event="Tap", value=1),
        js.item("track", 2, event="Tap", value="lots"),  # refused at the edge: value is a number
        js.item("advance", 3),  # refused at the edge: state is required
        js.item("track", 4, value=2),  # refused by the action: neither event nor messageId
        js.item("setUserAttributes", 5, newUserId="x" * 401),  # refused by the action
        js.item("track", 6, event="Tap", value=4),
        js.item("setUserAttributes", 7, userAttributes={"plan": "pro"}),
        js.item("stop", 10),
    ])

    assert [a["success"] for a in answers] == [True, True, False, False, False, False, True, True, True]
    for failed in answers[2:6]:
        assert failed["error"]["message"], failed
    profile = api.profile("u-1")
    assert profile["events"] == {"Tap": {"count": 2, "value": 5, "firstTime": profile["events"]["Tap"]["firstTime"],
                                         "lastTime": profile["events"]["Tap"]["lastTime"]}}
    assert profile["states"] == {}
    assert profile["userAttributes"] == {"plan": "pro"}
    assert profile["totalSessions"] == 1
    assert profile["timeSpentInApp"] == pytest.approx(10, abs=0.01)
    assert count_events(api, "u-1") == 2


def test_items_of_other_users_are_committed_next_to_a_failure(api: ApiClient) -> None:
    a, b = Js(api, "dev-a", "u-a"), Js(api, "dev-b", "u-b")
    answers = send(api, [a.item("track", 0, event="Tap"), b.item("track", 1, event="Tap", params="{not json"),
                         b.item("track", 2, event="Ok")])

    assert [x["success"] for x in answers] == [True, False, True]
    assert set(api.profile("u-a")["events"]) == {"Tap"}
    assert set(api.profile("u-b")["events"]) == {"Ok"}


def test_a_failed_item_creates_no_user(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-new")
    answers = send(api, [js.item("setDeviceAttributes", 0)])  # no device attribute: refused

    assert answers[0]["success"] is False
    assert missing(api, "u-new")


def test_a_failed_item_applies_none_of_its_changes(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", userAttributes={"plan": "free"})
    js = Js(api, "dev-1", "u-1")
    answers = send(api, [js.item("setUserAttributes", 0, userAttributes={"plan": "pro"},
                                 unsubscribeChannelsToAdd="[not a list")])

    assert answers[0]["success"] is False
    assert api.profile("u-1")["userAttributes"] == {"plan": "free"}


def test_bad_import_figures_fail_their_item_not_the_batch(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    response = api.multi([js.item("track", 0, event="Tap"),
                          js.item("setUserAttributes", 1, events={"Purchase": {"count": "many"}}),
                          js.item("track", 2, event="Tap")], time=f"{js.at(2):.3f}")

    assert response.status_code == 200, response.text
    answers = response.json()["response"]
    assert [a["success"] for a in answers] == [True, False, True], answers
    assert api.profile("u-1")["events"]["Tap"]["count"] == 2


def test_every_item_is_answered_in_order(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    items = [js.item("track", n, event=f"E{n}") if n % 3 else js.item("track", n, event="") for n in range(12)]
    answers = send(api, items)

    assert ["warning" in a for a in answers] == [n % 3 == 0 for n in range(12)]
    assert sorted(api.profile("u-1")["events"]) == sorted(f"E{n}" for n in range(12) if n % 3)
