"""Leanplum's naming limits (API.md §3.6) through plain HTTP: what an event, state or attribute may be called, and
at most 50 parameters per event. A refused name is answered with a warning and nothing is recorded."""

from __future__ import annotations

import pytest

from tests.clients import Js, count_events, event_rows, missing, send, send_ok
from tests.conftest import ApiClient


def test_more_than_50_params_is_answered_with_a_warning(api: ApiClient) -> None:
    params = {f"p{i}": i for i in range(60)}
    item = api.call("track", userId="u-1", event="Big", params=params).json()["response"][0]

    assert item["success"] is True
    assert "50" in item["warning"]["message"]
    assert api.profile("u-1")["events"]["Big"]["count"] == 1
    [(_, _, _, _, _, kept)] = event_rows(api, "u-1")
    assert isinstance(kept, dict)
    assert len(kept) == 50


def test_exactly_50_params_is_fine(api: ApiClient) -> None:
    api.ok("track", userId="u-1", event="Big", params={f"p{i}": i for i in range(50)})


@pytest.mark.parametrize(
    "name",
    ["", ".hidden", "-dash", "a|b", "a,b", 'say "hi"', "a{b", "tab\there", "line\nbreak", "slash/", "12345",
     "x" * 140],
    ids=["empty", "dot", "dash", "pipe", "comma", "quote", "brace", "tab", "newline", "trailing-slash", "numeric",
         "140-chars"],
)
def test_invalid_event_names_are_refused_with_a_warning(api: ApiClient, name: str) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0)])
    [answer] = send(api, [js.item("track", 1, event=name, value=3)])

    assert answer["success"] is True
    assert answer["warning"]["message"]
    assert api.profile("u-1")["events"] == {}
    assert count_events(api, "u-1") == 0


def test_a_track_with_an_invalid_name_does_not_create_the_user(api: ApiClient) -> None:
    item = api.call("track", userId="u-1", event="99").json()["response"][0]

    assert item["success"] is True
    assert item["warning"]["message"]
    assert missing(api, "u-1")


def test_names_up_to_139_characters_are_accepted(api: ApiClient) -> None:
    name = "e" * 139
    api.ok("track", userId="u-1", event=name)
    api.ok("advance", userId="u-1", state="s" * 139)

    profile = api.profile("u-1")
    assert profile["events"][name]["count"] == 1
    assert profile["states"]["s" * 139]["count"] == 1


@pytest.mark.parametrize("name", [".hidden", "a|b", "42", "x" * 140])
def test_invalid_state_names_are_refused_with_a_warning(api: ApiClient, name: str) -> None:
    api.ok("start", userId="u-1", deviceId="dev-1")
    item = api.call("advance", userId="u-1", deviceId="dev-1", state=name).json()["response"][0]

    assert item["success"] is True
    assert item["warning"]["message"]
    assert api.profile("u-1")["states"] == {}
