"""Reports (``services.reports``, ``services.ab_results``) on a hand-built history written straight into the
store, around the start of daylight saving time (2024-03-10 in US Pacific time is 23 hours long): every figure of
UserActivity, MessageResults and AbTestResults is checked against numbers worked out by hand or computed here
independently (the statistics with scipy)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from scipy import stats

from openplum.services import abstats, experiments, reports
from openplum.services.exposures import EXPOSURE_EVENT
from openplum.store.base import AbTestRow, EventRow, SessionRow, Tx
from tests.conftest import ApiClient

_ids = itertools.count(1)


def utc(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 3) -> float:
    return dt.datetime(2024, month, day, hour, minute, second, tzinfo=dt.UTC).timestamp()


def session(user: str, started: float, duration: float | None, dev: bool = False) -> SessionRow:
    ended = None if duration is None else started + duration
    return SessionRow(next(_ids), user, None, started, started + 7200, ended, duration,
                      None if duration is None else "stop", dev, b"{}")


def event(user: str, name: str, at: float, value: float = 0.0, message: str | None = None, dev: bool = False,
          params: dict[str, Any] | None = None) -> EventRow:
    return EventRow(next(_ids), user, None, None, None, name, at, at, value, None, None,
                    msgspec.json.encode(params) if params else None, message, dev)


def store(api: ApiClient, sessions: Sequence[SessionRow] = (), events: Sequence[EventRow] = ()) -> None:
    app_id = api.app.app_id

    def write(tx: Tx) -> None:
        tx.upsert_sessions(app_id, list(sessions))
        tx.insert_events(app_id, list(events))

    api.server.app.store.run(write)


def report(api: ApiClient, **params: Any) -> dict[str, Any]:
    req = reports.request(params)
    app_id = api.app.app_id
    done: list[float] = []
    result: dict[str, Any] = api.server.app.store.run(lambda tx: reports.build(tx, app_id, req, done.append))
    assert done[-1] == 1.0
    return result


# -- days ----------------------------------------------------------------------------------------------


def test_days_are_pacific_calendar_days_23_or_25_hours_long_across_daylight_saving_changes() -> None:
    spring = reports.calendar("20240309", "20240311")
    assert [d.key for d in spring] == ["20240309", "20240310", "20240311"]
    assert [(d.lo, d.hi) for d in spring] == [
        (utc(9, 8), utc(10, 8)), (utc(10, 8), utc(11, 7)), (utc(11, 7), utc(12, 7))]
    (autumn,) = reports.calendar("20241103", "20241103")
    assert (autumn.lo, autumn.hi) == (utc(3, 7, month=11), utc(4, 8, month=11))


@pytest.mark.parametrize(("start", "end", "message"), [
    ("20240310", "20240309", "before startDate"), ("20200101", "20240101", "at most 731 days"),
    ("20241301", "20241301", "Invalid date"),
])
def test_impossible_ranges_are_report_errors(start: str, end: str, message: str) -> None:
    with pytest.raises(reports.ReportError, match=message):
        reports.calendar(start, end)


def test_report_names_map_to_stored_message_events() -> None:
    assert reports.event_name(".m123 Open") == reports.EventName("Open", "123")
    assert reports.event_name(".m123") == reports.EventName("", "123")
    assert reports.event_name(".m123 Push Opened") == reports.EventName("Push Opened", "123")
    assert reports.event_name("Level up") == reports.EventName("Level up")
    assert reports.event_name(".m") == reports.EventName(".m")


# -- UserActivity --------------------------------------------------------------------------------------

EVENT_NAMES = ["Level up", ".m123", ".m123 Open", "Open", "Never happened"]


def activity_history(api: ApiClient) -> None:
    store(api, sessions=[
        session("alice", utc(9, 20), 100),          # 03-09 12:00 PST
        session("alice", utc(10, 7, 59, 59), 50),   # 03-09 23:59:59 PST: still the 9th
        session("alice", utc(10, 8), 300),          # 03-10 00:00 PST
        session("bob", utc(11, 6, 30), None),       # 03-10 23:30 PDT, still open
        session("bob", utc(11, 7), 60),             # 03-11 00:00 PDT
        session("carol", utc(1, 20), 40),           # before the report: carol is not new on the 11th
        session("carol", utc(11, 12), 30),
        session("dave", utc(10, 12), 500, dev=True),  # development sessions count for nothing
        session("dave", utc(11, 15), 90),
        session("erin", utc(10, 12), 20, dev=True),
    ], events=[
        event("alice", "Purchase", utc(9, 21), 9.99),
        event("bob", "Purchase", utc(11, 6, 59, 59), 5.0),
        event("erin", "Purchase", utc(10, 13), 100.0, dev=True),
        event("carol", "Purchase", utc(11, 13), 50.0, message="7"),  # a message event, not revenue
        *(event("alice", "Level up", utc(10, 9 + i), float(i + 1)) for i in range(3)),
        event("bob", "Level up", utc(10, 20)),
        event("erin", "Level up", utc(10, 20), 7.0, dev=True),
        event("carol", "Level up", utc(11, 12, 5)),
        event("dave", "Level up", utc(11, 7), 2.5),  # exactly 03-11 00:00 PDT
        event("alice", "", utc(10, 10), message="123"),
        event("bob", "", utc(10, 21), message="123"),
        event("alice", "Open", utc(10, 10, 1), message="123"),
        event("alice", "Open", utc(10, 10, 2), message="999"),
        event("carol", "Open", utc(10, 22)),
    ])


def events(occurrences: int = 0, users: int = 0, value: float = 0.0) -> dict[str, Any]:
    return {"Occurrences": occurrences, "Users": users, "Value": value}


def test_user_activity_counts_every_figure_per_pacific_day(api: ApiClient) -> None:
    activity_history(api)

    result = report(api, startDate="20240308", endDate="20240312", dataType="UserActivity", eventNames=EVENT_NAMES)

    assert result["dataType"] == "UserActivity"
    assert result["timeZone"] == "America/Los_Angeles"
    empty = {"Active users": 0, "New users": 0, "Sessions": 0, "Mean session length": 0.0, "Revenue": 0.0,
             **{name: events() for name in EVENT_NAMES}}
    assert result["data"] == {
        "20240308": empty,
        "20240309": {**empty, "Active users": 1, "New users": 1, "Sessions": 2, "Mean session length": 75.0,
                     "Revenue": 9.99},
        "20240310": {**empty, "Active users": 2, "New users": 1, "Sessions": 2, "Mean session length": 300.0,
                     "Revenue": 5.0, "Level up": events(4, 2, 6.0), ".m123": events(2, 2), ".m123 Open": events(1, 1),
                     "Open": events(1, 1)},
        "20240311": {**empty, "Active users": 3, "New users": 1, "Sessions": 3, "Mean session length": 60.0,
                     "Level up": events(2, 2, 2.5)},
        "20240312": empty,
    }


def test_occurrences_and_users_are_integers(api: ApiClient) -> None:
    activity_history(api)

    result = report(api, startDate="20240310", dataType="UserActivity", eventNames=EVENT_NAMES)

    day = result["data"]["20240310"]
    assert all(type(day[k]) is int for k in ("Active users", "New users", "Sessions"))
    assert all(type(day[n]["Occurrences"]) is int and type(day[n]["Users"]) is int for n in EVENT_NAMES)
    assert list(result["data"]) == ["20240310"]


def test_an_app_without_history_gets_zeros_for_every_day(api: ApiClient) -> None:
    result = report(api, startDate="20240101", endDate="20240331", dataType="UserActivity", eventNames=["Buy"])

    assert len(result["data"]) == 91
    assert set(map(str, result["data"].values())) == {str({
        "Active users": 0, "New users": 0, "Sessions": 0, "Mean session length": 0.0, "Revenue": 0.0,
        "Buy": events()})}


def test_long_reports_are_counted_in_chunks_of_days_without_losing_any(api: ApiClient) -> None:
    store(api, sessions=[session(f"u{i}", utc(1, 20, month=1) + i * 86400 * 3, 10) for i in range(100)])

    result = report(api, startDate="20240101", endDate="20241231", dataType="UserActivity")

    assert len(result["data"]) == 366
    assert sum(d["Sessions"] for d in result["data"].values()) == 100
    assert sum(d["New users"] for d in result["data"].values()) == 100


# -- MessageResults ------------------------------------------------------------------------------------


def test_message_results_count_the_message_events_clients_tracked(api: ApiClient) -> None:
    activity_history(api)
    store(api, events=[event("bob", "Delivered", utc(11, 8), message="123"),
                       event("bob", "Open", utc(11, 9), message="123", dev=True)])

    result = report(api, startDate="20240309", endDate="20240311", dataType="MessageResults", messageId="123")

    assert result["messageId"] == "123"
    assert "does not send messages yet" in result["note"]
    assert result["data"] == {
        "20240309": {"Sent": 0, "Delivered": 0, "Opened": 0},
        "20240310": {"Sent": 2, "Delivered": 0, "Opened": 1},
        "20240311": {"Sent": 0, "Delivered": 1, "Opened": 0},
    }


# -- AbTestResults -------------------------------------------------------------------------------------

TEST_ID, A, B, C = 4_000_000_000_001, 11, 22, 33
OTHER_TEST = 4_000_000_000_002


def exposure(user: str, at: float, variant: int, test: int = TEST_ID) -> EventRow:
    return event(user, EXPOSURE_EVENT, at, params={"abTestId": test, "variantId": variant})


def put_test(api: ApiClient, weights: tuple[float, float, float] = (40, 40, 20),
             goals: tuple[str, ...] = ("Purchase",)) -> None:
    test = experiments.AbTest(
        id=TEST_ID, name="Checkout", created=utc(1, 0), updated=utc(1, 0), state="running", goal_events=list(goals),
        variants=[experiments.Variant(id=A, name="A", weight=weights[0], control=True),
                  experiments.Variant(id=B, name="B", weight=weights[1]),
                  experiments.Variant(id=C, name="C", weight=weights[2])])
    app_id = api.app.app_id
    row = AbTestRow(TEST_ID, experiments.encode(test), "running", test.created, test.updated)
    api.server.app.store.run(lambda tx: tx.put_ab_test(app_id, row))


@dataclass
class Exposed:
    """A user as the test sees them: variant, first exposure, and the goal events (time, value) they did."""

    variant: int
    at: float
    goals: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def ab_history(api: ApiClient) -> dict[str, Exposed]:
    """~200 users over two days; some convert, some several times, some before exposure or after the report."""
    users: dict[str, Exposed] = {}
    rows: list[EventRow] = []
    for i in range(230):
        variant = (A, B, C)[i % 5 % 3] if i % 5 < 3 else (A, B)[i % 2]
        at = utc(9, 9) + i * 600  # one every 10 minutes from 03-09 01:00 PST: ~38 h, over the 9th and 10th
        user = Exposed(variant, at)
        rows.append(exposure(f"u{i}", at, variant))
        rate = {A: 7, B: 4, C: 5}[variant]
        if i % rate == 0:
            times = [(at + 3600, 10.0), (at + 7200, 2.5)] if i % 3 == 0 else [(at + 60, 4.0)]
            user.goals["Purchase"] = times
        if i % 11 == 0:
            user.goals["Share"] = [(at + 30, 0.0)]
        for name, done in user.goals.items():
            rows += [event(f"u{i}", name, t, v) for t, v in done]
        users[f"u{i}"] = user
    for j in range(9):  # a few more in B, so the split is not exactly the weights
        users[f"extra{j}"] = Exposed(B, utc(10, 20) + j)
        rows.append(exposure(f"extra{j}", utc(10, 20) + j, B))
    rows += [
        event("u1", "Purchase", utc(9, 9) + 600 - 10, 99.0),        # before u1's exposure: not a conversion
        event("u2", "Purchase", utc(12, 7) + 1, 99.0),              # after the report
        event("u3", "Purchase", utc(10, 12), 99.0, dev=True),       # development mode
        event("u4", "Purchase", utc(10, 12), 99.0, message="5"),    # a message event of that name
        exposure("u5", utc(11, 1), ({A, B, C} - {users["u5"].variant}).pop()),  # exposed again: first counts
        exposure("early", utc(8, 12), A), exposure("early", utc(10, 12), A),  # first exposed before the report
        event("early", "Purchase", utc(10, 13), 1.0),
        exposure("u0", utc(10, 1), A, test=OTHER_TEST),              # another test
        exposure("late", utc(12, 8), B),                             # after the report
    ]
    store(api, events=rows)
    return users


def expected_day(users: dict[str, Exposed], goals: list[str], until: float) -> dict[str, Any]:
    """One day's cumulated results, counted here from the users' own records."""
    arms: dict[int, dict[str, Any]] = {}
    for v in (A, B, C):
        members = [u for u in users.values() if u.variant == v and u.at < until]
        per_goal = {}
        for goal in goals:
            done = [[(t, x) for t, x in u.goals.get(goal, []) if u.at <= t < until] for u in members]
            conversions = sum(1 for d in done if d)
            per_goal[goal] = {"Conversions": conversions, "Occurrences": sum(len(d) for d in done),
                              "Value": sum(x for d in done for _, x in d), "Users": len(members)}
        arms[v] = per_goal
    return arms


def test_ab_results_count_users_conversions_and_value_per_variant_cumulated_by_day(api: ApiClient) -> None:
    put_test(api)
    users = ab_history(api)
    goals = ["Purchase", "Share"]

    result = report(api, startDate="20240309", endDate="20240311", dataType="AbTestResults", abTestId=TEST_ID,
                    eventNames=["Share"])

    assert (result["abTestId"], result["abTestName"], result["goalEvents"]) == (TEST_ID, "Checkout", goals)
    ends = {"20240309": utc(10, 8), "20240310": utc(11, 7), "20240311": utc(12, 7)}
    assert list(result["data"]) == list(ends)
    for key, until in ends.items():
        expected = expected_day(users, goals, until)
        variants = result["data"][key]["variants"]
        assert [(v["variantId"], v["name"], v["control"], v["weight"]) for v in variants] == [
            (A, "A", True, 40), (B, "B", False, 40), (C, "C", False, 20)]
        for v in variants:
            want = expected[v["variantId"]]
            assert v["Users"] == want["Purchase"]["Users"]
            for goal in goals:
                got = v["goals"][goal]
                assert {k: got[k] for k in ("Conversions", "Occurrences")} == {
                    k: want[goal][k] for k in ("Conversions", "Occurrences")}, (key, v["name"], goal)
                assert got["Value"] == pytest.approx(want[goal]["Value"])
                assert got["Conversion rate"] == pytest.approx(want[goal]["Conversions"] / v["Users"])
    final = result["data"]["20240311"]["variants"]
    assert [v["Users"] for v in final] == [92, 101, 46]  # every user of the two days, "early" and "late" left out


def test_ab_comparisons_match_scipy(api: ApiClient) -> None:
    put_test(api)
    users = ab_history(api)

    result = report(api, startDate="20240309", endDate="20240311", dataType="AbTestResults", abTestId=TEST_ID)

    final = {v["variantId"]: v for v in result["data"]["20240311"]["variants"]}
    control = final[A]
    n_c, x_c = control["Users"], control["goals"]["Purchase"]["Conversions"]
    assert set(control["goals"]["Purchase"]) == {"Conversions", "Conversion rate", "Occurrences", "Value"}
    for variant in (B, C):
        got = final[variant]["goals"]["Purchase"]
        n_t, x_t = final[variant]["Users"], got["Conversions"]
        assert (n_t, x_t) == (sum(1 for u in users.values() if u.variant == variant),
                              sum(1 for u in users.values() if u.variant == variant and "Purchase" in u.goals))
        p_c, p_t = x_c / n_c, x_t / n_t
        se = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
        z = stats.norm.ppf(0.975)
        assert got["Lift"] == pytest.approx(p_t - p_c)
        assert got["Relative lift"] == pytest.approx((p_t - p_c) / p_c)
        assert got["Confidence interval"] == pytest.approx([p_t - p_c - z * se, p_t - p_c + z * se])
        _, p_value, _, _ = stats.chi2_contingency([[x_t, n_t - x_t], [x_c, n_c - x_c]], correction=False)
        assert got["p-value"] == pytest.approx(p_value)
        sequential = abstats.compare((x_c, n_c), (x_t, n_t))  # its method is checked against scipy on its own
        assert got["Sequential interval"] == pytest.approx(list(sequential.sequential_interval or ()))
        assert got["Sequential p-value"] == pytest.approx(sequential.sequential_p_value)
    observed = [final[v]["Users"] for v in (A, B, C)]
    statistic, p_value = stats.chisquare(observed, [sum(observed) * w / 100 for w in (40, 40, 20)])
    srm = result["data"]["20240311"]["Sample ratio mismatch"]
    assert srm["Chi-square"] == pytest.approx(statistic)
    assert srm["Degrees of freedom"] == 2
    assert srm["p-value"] == pytest.approx(p_value)
    assert srm["Mismatch"] is False


def test_a_split_far_from_the_weights_is_flagged(api: ApiClient) -> None:
    put_test(api, weights=(10, 10, 80))
    ab_history(api)

    result = report(api, startDate="20240309", endDate="20240311", dataType="AbTestResults", abTestId=TEST_ID)

    srm = result["data"]["20240311"]["Sample ratio mismatch"]
    assert srm["Mismatch"] is True
    assert srm["p-value"] < 0.001


def test_an_ab_test_nobody_saw_reports_zeros(api: ApiClient) -> None:
    put_test(api)

    result = report(api, startDate="20240309", endDate="20240310", dataType="AbTestResults", abTestId=TEST_ID)

    for day in result["data"].values():
        assert [v["Users"] for v in day["variants"]] == [0, 0, 0]
        b = day["variants"][1]["goals"]["Purchase"]
        assert (b["Conversions"], b["Conversion rate"], b["Lift"], b["p-value"]) == (0, 0.0, None, None)
        assert day["Sample ratio mismatch"]["Mismatch"] is False


def test_an_unknown_ab_test_is_a_report_error(api: ApiClient) -> None:
    with pytest.raises(reports.ReportError, match="No A/B test"):
        report(api, startDate="20240309", dataType="AbTestResults", abTestId=123)
