"""The app's name catalog (API.md §3.6) through plain HTTP: at most 500 event, 500 state, 500 attribute and 200
parameter names per app, and an event may not share a name with a state, whichever action brings the name."""

from __future__ import annotations

from typing import Any

import pytest

from openplum.services import postbacks
from tests.clients import Js, count_events, event_rows, rows, send
from tests.conftest import ApiClient


def test_an_event_may_not_share_a_name_with_a_state(api: ApiClient) -> None:
    api.ok("start", userId="u-1", deviceId="dev-1")
    api.ok("track", userId="u-1", deviceId="dev-1", event="Checkout")
    item = api.call("advance", userId="u-1", deviceId="dev-1", state="Checkout").json()["response"][0]

    assert item["success"] is True
    assert "Checkout" in item["warning"]["message"]
    assert api.profile("u-1")["states"] == {}


def test_a_state_may_not_share_a_name_with_an_event(api: ApiClient) -> None:
    api.ok("start", userId="u-1", deviceId="dev-1")
    api.ok("advance", userId="u-1", deviceId="dev-1", state="Home")
    item = api.call("track", userId="u-1", deviceId="dev-1", event="Home").json()["response"][0]

    assert item["success"] is True
    assert "Home" in item["warning"]["message"]
    assert api.profile("u-1")["events"] == {}
    assert count_events(api, "u-1") == 0


def test_an_app_keeps_at_most_500_event_names(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    answers = send(api, [js.item("track", n / 100, event=f"Event {n}") for n in range(501)])

    assert [a for a in answers[:500] if "warning" in a] == []
    assert answers[500]["success"] is True
    assert "500" in answers[500]["warning"]["message"]
    events = api.profile("u-1")["events"]
    assert len(events) == 500
    assert "Event 500" not in events
    api.ok("track", userId="u-1", event="Event 7")  # names already known keep working
    assert api.profile("u-1")["events"]["Event 7"]["count"] == 2


def test_an_app_keeps_at_most_200_parameter_names(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    batches = [{f"p{n * 50 + i}": i for i in range(50)} for n in range(5)]  # 250 distinct names
    answers = send(api, [js.item("track", n, event="Tap", params=params) for n, params in enumerate(batches)])

    assert [("warning" in a) for a in answers] == [False, False, False, False, True]
    stored = [p for *_, p in event_rows(api, "u-1")]
    names = {name for params in stored if isinstance(params, dict) for name in params}
    assert len(names) == 200
    assert api.profile("u-1")["events"]["Tap"]["count"] == 5  # the event itself is kept


def test_an_app_keeps_at_most_500_attribute_names(api: ApiClient) -> None:
    attributes = {f"attr{n}": n for n in range(501)}
    item = api.call("setUserAttributes", userId="u-1", userAttributes=attributes).json()["response"][0]

    assert item["success"] is True
    assert item["warning"]["message"]
    stored = api.profile("u-1")["userAttributes"]
    assert len(stored) == 500
    api.ok("setUserAttributes", userId="u-2", userAttributes={"attr3": "again"})  # known names still work


def test_imported_names_follow_the_apps_naming_rules(api: ApiClient) -> None:
    api.ok("start", userId="u-1", deviceId="dev-1")
    api.ok("track", userId="u-1", deviceId="dev-1", event="Checkout")
    api.ok("advance", userId="u-1", deviceId="dev-1", state="Home")
    answer = api.call("setUserAttributes", userId="u-2", states={"Checkout": {"count": 2}},
                      events={"Home": {"count": 3}}).json()["response"][0]

    assert answer["success"] is True
    assert answer["warning"]["message"]  # an event and a state may not share a name (API.md §3.6)
    profile = api.profile("u-2")
    assert (profile["events"], profile["states"]) == ({}, {})


def test_a_name_from_a_failed_write_is_recorded_by_the_next_one(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog caches a name as soon as it is admitted; a write that then fails was rolled back, so the name
    was never stored and the next batch that brings it must record it (else a restart would not know it)."""
    api.ok("start", userId="u-1", deviceId="dev-1")
    write_outbox = postbacks.write_outbox  # the last of a request's writes, after the names (Unit.flush)

    def write_then_fail(*args: Any) -> None:
        write_outbox(*args)
        raise RuntimeError("the request fails after its writes")

    monkeypatch.setattr(postbacks, "write_outbox", write_then_fail)
    assert api.call("track", userId="u-1", deviceId="dev-1", event="Checkout").status_code == 500
    monkeypatch.undo()
    assert rows(api, "SELECT kind, name FROM names WHERE app_id = ? AND name = 'Checkout'") == []

    api.ok("track", userId="u-1", deviceId="dev-1", event="Checkout")

    assert rows(api, "SELECT kind, name FROM names WHERE app_id = ? AND name = 'Checkout'") == [("event", "Checkout")]
