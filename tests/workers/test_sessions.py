"""The session-timeout worker (API.md §4): the server ends sessions its clients never stopped.

2 hours without activity ends a session at its last activity; 30 minutes after a pause ends it at the pause.
The server's clock is moved forward instead of waiting, and the worker's pass is run directly.
"""

from __future__ import annotations

import pytest

from tests.clients import Js, send_ok, session_rows, sweep
from tests.conftest import ApiClient

HOUR = 3600.0


def test_sweeper_runs_against_the_live_store_from_another_event_loop(api: ApiClient) -> None:
    assert sweep(api) >= 0


def test_inactive_session_ends_after_two_hours_at_its_last_activity(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("track", 40, event="Tap"), js.item("track", 100, event="Tap")])
    api.server.clock.advance(2 * HOUR - 60)
    sweep(api)
    assert session_rows(api, "u-1") == [(None, None)]  # still open: 1 h 59 min since the last activity

    api.server.clock.advance(2 * 60)
    assert sweep(api) >= 1

    profile = api.profile("u-1")
    assert profile["timeSpentInApp"] == pytest.approx(100, abs=0.01)  # up to the last activity, not the sweep
    assert profile["totalSessions"] == 1
    [(duration, reason)] = session_rows(api, "u-1")
    assert duration == pytest.approx(100, abs=0.01)
    assert reason


def test_paused_session_ends_30_minutes_later_at_the_pause(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("track", 5, event="Tap"), js.item("pauseSession", 10)])
    api.server.clock.advance(25 * 60)
    sweep(api)
    assert session_rows(api, "u-1") == [(None, None)]

    api.server.clock.advance(6 * 60)
    assert sweep(api) >= 1

    assert api.profile("u-1")["timeSpentInApp"] == pytest.approx(10, abs=0.01)
    [(duration, reason)] = session_rows(api, "u-1")
    assert duration == pytest.approx(10, abs=0.01)
    assert reason


def test_resume_after_the_sweeper_ended_a_paused_session_starts_a_new_one(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("pauseSession", 10)])
    api.server.clock.advance(31 * 60)
    sweep(api)

    api.ok("resumeSession", userId="u-1", deviceId="dev-1")

    profile = api.profile("u-1")
    assert profile["totalSessions"] == 2
    assert profile["timeSpentInApp"] == pytest.approx(10, abs=0.01)


def test_heartbeat_pushes_the_inactivity_timeout_back(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    # the start is 1 h 56 min before the heartbeat, which the server receives now
    send_ok(api, [js.item("start", 0), js.item("heartbeat", 7000)])
    api.server.clock.advance(600)  # 2 h 6 min after the start, 10 min after the heartbeat
    sweep(api)
    assert session_rows(api, "u-1") == [(None, None)]

    api.server.clock.advance(2 * HOUR)
    sweep(api)
    assert api.profile("u-1")["timeSpentInApp"] == pytest.approx(7000, abs=0.01)


def test_tracked_activity_keeps_the_session_open(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0)])
    api.server.clock.advance(HOUR + 30 * 60)
    api.ok("track", userId="u-1", deviceId="dev-1", event="Tap")  # no time: it happens on the server's now
    api.server.clock.advance(HOUR)  # 2 h 30 min after the start, 1 h after the track
    sweep(api)

    assert session_rows(api, "u-1") == [(None, None)]


def test_stopped_sessions_are_left_alone(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("stop", 50)])
    api.server.clock.advance(3 * HOUR)
    sweep(api)

    assert api.profile("u-1")["timeSpentInApp"] == pytest.approx(50, abs=0.01)
    assert [d for d, _ in session_rows(api, "u-1")] == [pytest.approx(50, abs=0.01)]


def test_background_start_never_resumed_ends_without_time_in_app(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0, background=True)])
    api.server.clock.advance(2 * HOUR + 60)
    sweep(api)

    profile = api.profile("u-1")
    assert (profile["totalSessions"], profile["timeSpentInApp"]) == (0, 0)
    [(duration, reason)] = session_rows(api, "u-1")
    assert duration == 0
    assert reason


def test_session_of_a_deleted_user_is_closed(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0)])
    api.ok("deleteUser", api.app.development, userId="u-1")
    api.server.clock.advance(2 * HOUR + 60)
    sweep(api)

    [(_, reason)] = session_rows(api, "u-1")
    assert reason
