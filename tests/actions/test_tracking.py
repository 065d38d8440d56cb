"""Events and states through plain HTTP (API.md §4, §6.1): ``track`` with its dispositions, times and values,
message interactions, ``advance``, ``pauseState`` and ``resumeState``. Naming limits: ``tests/services``."""

from __future__ import annotations

import pytest

from tests.clients import Js, count_events, event_rows, missing, rows, send, send_ok, state_rows
from tests.conftest import ApiClient

# -- track ---------------------------------------------------------------------------------------------


def test_track_counts_value_and_first_and_last_time(api: ApiClient) -> None:
    t = Js(api, "dev-1", "u-1").at
    api.ok("track", userId="u-1", deviceId="dev-1", event="Purchase", value=2.5, time=t(0))
    api.ok("track", userId="u-1", deviceId="dev-1", event="Purchase", value=4, time=t(30))
    api.ok("track", userId="u-1", deviceId="dev-1", event="Share", time=t(10))

    events = api.profile("u-1")["events"]
    assert events["Purchase"] == {"count": 2, "value": 6.5, "firstTime": pytest.approx(t(0), abs=1e-3),
                                  "lastTime": pytest.approx(t(30), abs=1e-3)}
    assert events["Share"]["count"] == 1
    assert events["Share"]["firstTime"] == events["Share"]["lastTime"] == pytest.approx(t(10), abs=1e-3)


def test_track_keeps_currency_info_and_params_with_the_event(api: ApiClient) -> None:
    t = Js(api, "dev-1", "u-1").at
    api.ok("track", userId="u-1", deviceId="dev-1", event="Purchase", value=9.99, currencyCode="EUR",
           info="order 17", params={"sku": "A1", "qty": 2}, time=t(0))

    [(name, when, value, currency, info, params)] = event_rows(api, "u-1")
    assert (name, value, currency, info) == ("Purchase", 9.99, "EUR", "order 17")
    assert when == pytest.approx(t(0), abs=1e-3)
    assert isinstance(params, dict)
    assert params["sku"] == "A1"
    assert params["qty"] == 2
    assert params["localCurrency"] == "EUR"
    assert params["localPrice"] == 9.99
    assert api.profile("u-1")["events"]["Purchase"]["value"] == 9.99


def test_track_params_as_a_json_string_like_the_sdks_send(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("track", 0, event="Add to cart", value=0, params={"sku": "B2"})])

    [(_, _, _, _, _, params)] = event_rows(api, "u-1")
    assert params == {"sku": "B2"}


def test_past_time_on_a_single_call_is_kept(api: ApiClient) -> None:
    two_days_ago = Js(api, "dev-1").at(0) - 2 * 86400
    api.ok("track", userId="u-1", event="Offline", time=two_days_ago)

    event = api.profile("u-1")["events"]["Offline"]
    assert event["firstTime"] == pytest.approx(two_days_ago, abs=1e-3)
    assert event["lastTime"] == pytest.approx(two_days_ago, abs=1e-3)


def test_queued_items_keep_their_spacing_in_a_batch(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("track", 0, event="Tap"), js.item("track", 3600 * 5, event="Tap")])

    event = api.profile("u-1")["events"]["Tap"]
    assert event["lastTime"] - event["firstTime"] == pytest.approx(3600 * 5, abs=1e-3)


def test_future_times_are_not_believed(api: ApiClient) -> None:
    far_future = Js(api, "dev-1").at(0) + 365 * 86400
    api.ok("track", userId="u-1", event="Tap", time=far_future)

    assert api.profile("u-1")["events"]["Tap"]["lastTime"] < far_future - 300 * 86400


def test_track_without_event_or_message_id_is_an_error(api: ApiClient) -> None:
    response = api.call("track", userId="u-1", value=1)

    assert response.status_code == 400
    item = response.json()["response"][0]
    assert item["success"] is False
    assert "event" in item["error"]["message"]


# -- dispositions --------------------------------------------------------------------------------------


def test_active_event_outside_a_session_marks_the_user_active(api: ApiClient) -> None:
    t = Js(api, "dev-1").at
    api.ok("track", userId="u-1", event="Tap", time=t(0))

    assert api.profile("u-1")["lastActive"] == pytest.approx(t(0), abs=1e-3)


def test_passive_event_is_recorded_without_marking_the_user_active(api: ApiClient) -> None:
    t = Js(api, "dev-1").at
    api.ok("track", userId="u-1", event="Tap", time=t(0))
    api.ok("track", userId="u-1", event="Email Sent", disposition="passive", time=t(100))

    profile = api.profile("u-1")
    assert profile["events"]["Email Sent"]["count"] == 1
    assert profile["lastActive"] == pytest.approx(t(0), abs=1e-3)


def test_legacy_allow_offline_means_passive(api: ApiClient) -> None:
    t = Js(api, "dev-1").at
    api.ok("track", userId="u-1", event="Tap", time=t(0))
    api.ok("track", userId="u-1", event="Push Sent", allowOffline=True, time=t(50))

    profile = api.profile("u-1")
    assert profile["events"]["Push Sent"]["count"] == 1
    assert profile["lastActive"] == pytest.approx(t(0), abs=1e-3)


def test_require_active_outside_a_session_is_ignored_with_a_warning(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", userAttributes={"a": 1})
    response = api.call("track", userId="u-1", deviceId="dev-1", event="Level Up", disposition="requireActive")

    assert response.status_code == 200
    item = response.json()["response"][0]
    assert item["success"] is True
    assert item["warning"]["message"]
    assert item["warning"]["ignored"] is True
    assert "Level Up" not in api.profile("u-1")["events"]
    assert count_events(api, "u-1") == 0


def test_require_active_in_a_paused_session_is_ignored(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    answers = send(api, [js.item("start", 0), js.item("pauseSession", 5),
                         js.item("track", 6, event="Level Up", disposition="requireActive")])

    assert answers[2]["success"] is True
    assert answers[2]["warning"]["ignored"] is True
    assert "Level Up" not in api.profile("u-1")["events"]


def test_require_active_inside_an_active_session_is_recorded(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("track", 5, event="Level Up", disposition="requireActive")])

    assert api.profile("u-1")["events"]["Level Up"]["count"] == 1


def test_unknown_disposition_is_an_error(api: ApiClient) -> None:
    item = api.call("track", userId="u-1", event="Tap", disposition="sometimes").json()["response"][0]

    assert item["success"] is False
    assert "disposition" in item["error"]["message"]
    assert missing(api, "u-1")


# -- message interactions ------------------------------------------------------------------------------


def test_message_impression_without_event_is_accepted_but_not_a_user_event(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    answers = send_ok(api, [js.item("start", 0), js.item("track", 1, messageId="6200000000000001", value=0)])

    assert answers[1] == {"success": True}
    assert api.profile("u-1")["events"] == {}
    assert count_events(api, "u-1") == 1  # stored as the message's impression


def test_message_impression_with_an_empty_event_is_an_impression(api: ApiClient) -> None:
    # API.md §4: an empty or absent event with a messageId is the Send/View impression
    answer = api.call("track", userId="u-1", deviceId="dev-1", messageId="6200000000000001", event="").json()

    assert answer["response"][0] == {"success": True}
    assert api.profile("u-1")["events"] == {}
    assert count_events(api, "u-1") == 1


def test_message_action_is_stored_against_its_message(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("track", 1, messageId=6300000000000001, event="Open")])

    found = rows(api, "SELECT name, message_id FROM events WHERE app_id = ? AND user_id = ?", "u-1")
    assert [(n, str(m)) for n, m in found] == [("Open", "6300000000000001")]


# -- numbers that are not numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity"])
def test_non_finite_values_are_refused_and_the_profile_stays_readable(api: ApiClient, value: str) -> None:
    api.ok("track", userId="u-1", event="Tap", value=1)
    response = api.call("track", userId="u-1", event="Tap", value=value)

    profile = api.call("exportUser", api.app.data_export, method="GET", userId="u-1")
    assert profile.status_code == 200, profile.text  # one bad number must not make the user unreadable
    assert profile.json()["response"][0]["events"]["Tap"]["value"] == 1
    assert api.call("track", userId="u-1", event="Tap", value=2).status_code == 200, "the user still takes events"
    assert response.status_code == 400, response.text
    assert response.json()["response"][0]["success"] is False


@pytest.mark.parametrize("when", ["-inf", "nan", "inf"])
def test_non_finite_times_leave_the_event_times_numbers(api: ApiClient, when: str) -> None:
    api.ok("track", userId="u-1", event="Tap")
    response = api.call("track", userId="u-1", event="Tap", time=when)  # refused, or taken as "now"

    assert response.status_code in (200, 400), response.text
    event = api.profile("u-1")["events"]["Tap"]
    assert isinstance(event["firstTime"], float), event
    assert isinstance(event["lastTime"], float), event
    assert event["lastTime"] - event["firstTime"] < 60, event


# -- states ---------------------------------------------------------------------------------------------


def test_advance_enters_states_and_counts_them(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("advance", 10, state="Browse"), js.item("advance", 20, state="Cart"),
                  js.item("advance", 50, state="Browse", info="back", params={"from": "Cart"})])

    states = api.profile("u-1")["states"]
    assert states["Browse"]["count"] == 2
    assert states["Cart"]["count"] == 1
    assert states["Browse"]["lastTime"] - states["Browse"]["firstTime"] == pytest.approx(40, abs=1e-3)
    # entering a state leaves the previous one, with its duration
    assert state_rows(api, "u-1") == [("Browse", pytest.approx(10, abs=0.01)), ("Cart", pytest.approx(30, abs=0.01)),
                                      ("Browse", None)]


def test_advance_to_empty_state_leaves_the_current_one(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("advance", 10, state="Checkout"), js.item("advance", 25, state="")])

    profile = api.profile("u-1")
    entered = pytest.approx(profile["created"] - 15, abs=0.01)  # the last item lands on the server's now
    assert profile["states"] == {"Checkout": {"count": 1, "firstTime": entered, "lastTime": entered}}
    assert state_rows(api, "u-1") == [("Checkout", pytest.approx(15, abs=0.01))]


def test_stop_leaves_the_current_state(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("advance", 10, state="Reading"), js.item("stop", 40)])

    assert state_rows(api, "u-1") == [("Reading", pytest.approx(30, abs=0.01))]


def test_pause_and_resume_state_exclude_the_pause_from_its_duration(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    answers = send_ok(api, [js.item("start", 0), js.item("advance", 10, state="Video"), js.item("pauseState", 20),
                            js.item("resumeState", 50), js.item("advance", 60, state="")])

    assert answers[3] == answers[4] == {"success": True}
    assert state_rows(api, "u-1") == [("Video", pytest.approx(20, abs=0.01))]


def test_pause_and_resume_state_leave_the_session_running(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("advance", 1, state="Video"), js.item("pauseState", 10),
                  js.item("resumeState", 20), js.item("stop", 30)])

    assert api.profile("u-1")["timeSpentInApp"] == pytest.approx(30, abs=0.01)


def test_advance_without_state_is_an_error(api: ApiClient) -> None:
    api.ok("start", userId="u-1", deviceId="dev-1")
    response = api.call("advance", userId="u-1", deviceId="dev-1")

    assert response.status_code == 400
    item = response.json()["response"][0]
    assert item["success"] is False
    assert "state" in item["error"]["message"]


def test_events_in_a_state_are_linked_to_it(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("advance", 1, state="Shop"), js.item("track", 2, event="Buy")])

    [(state_id,)] = rows(api, "SELECT state_id FROM states WHERE app_id = ? AND user_id = ?", "u-1")
    [(event_state,)] = rows(api, "SELECT state_id FROM events WHERE app_id = ? AND user_id = ?", "u-1")
    assert event_state == state_id
