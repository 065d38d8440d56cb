"""``exportReport`` through HTTP (API.md §6.7; EXPORT-FORMAT.md §5.4, §8.2): real clients generate behaviour, the
job runs in the worker, ``getExportResults`` answers ``state`` as ``{"value": ...}`` and, when FINISHED, the
report's ``data`` keyed by Pacific day, whose figures are checked against numbers computed here from what was
sent (the A/B statistics with scipy). Leanplum's own report sample (a JSON body labelled as a form, polling while
``state.value`` is RUNNING, ``int(Occurrences)``) works unchanged."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from scipy import stats

from openplum.workers.jobs import JobRunner
from tests.admin import Admin, assignments, define, make_users, open_admin, start_test, variant, variant_ids
from tests.clients import Js, send_ok
from tests.conftest import ApiClient, Server

PACIFIC = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def admin(server: Server) -> Iterator[Admin]:
    with open_admin(server) as client:
        yield client


def day(at: float) -> str:
    return dt.datetime.fromtimestamp(at, PACIFIC).strftime("%Y%m%d")


def around_today(api: ApiClient) -> tuple[str, str]:
    """Yesterday to tomorrow in Pacific time, by the server's clock (other tests move it), so nothing sent now
    falls outside the report."""
    now = api.server.clock.now()
    return day(now - 86400), day(now + 86400)


def results(api: ApiClient, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Run the job worker once here, then poll ``getExportResults`` until the job is no longer RUNNING."""
    asyncio.run(JobRunner(api.server.settings).run_once(api.server.app.store))
    deadline = time.monotonic() + timeout
    while True:
        response = api.call("getExportResults", api.app.data_export, method="GET", jobId=job_id)
        assert response.status_code == 200, response.text
        item: dict[str, Any] = response.json()["response"][0]
        assert item["state"]["value"] in ("RUNNING", "FINISHED", "FAILED"), item
        if item["state"]["value"] != "RUNNING":
            return item
        assert time.monotonic() < deadline, f"report job {job_id} still running after {timeout} s"
        time.sleep(0.1)


def export_report(api: ApiClient, **params: Any) -> dict[str, Any]:
    """Start a report with a GET (lists as JSON strings, as a URL carries them) and wait for it."""
    query = {k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()}
    response = api.call("exportReport", api.app.data_export, method="GET", **query)
    assert response.status_code == 200, response.text
    item = response.json()["response"][0]
    assert item["success"] is True, item
    return results(api, item["jobId"])


# -- UserActivity --------------------------------------------------------------------------------------


def test_user_activity_reports_what_real_clients_did(api: ApiClient) -> None:
    now = api.server.clock.now()
    alice = Js(api, "alice-phone", "alice", t0=now - 400)
    send_ok(api, [
        alice.item("start", 0), alice.item("track", 10, event="Level up", value=2),
        alice.item("track", 20, event="Purchase", value=4.5), alice.item("track", 30, messageId="123"),
        alice.item("track", 40, event="Open", messageId="123"), alice.item("stop", 400),
    ])
    bob = Js(api, "bob-phone", "bob", t0=now - 200)
    send_ok(api, [bob.item("start", 0), bob.item("track", 5, event="Level up"),
                  bob.item("track", 6, event="Level up", value=1), bob.item("stop", 200)])
    for action, extra in (("start", {}), ("track", {"event": "Level up", "value": 9}),
                          ("track", {"event": "Purchase", "value": 100})):
        api.ok(action, api.app.development, userId="tester", devMode=True, **extra)
    names = ["Level up", ".m123", ".m123 Open", "Never"]
    start, end = around_today(api)

    item = export_report(api, startDate=start, endDate=end, dataType="UserActivity", eventNames=names)

    assert item["state"] == {"value": "FINISHED"}
    expected = {d: {"Active users": 0, "New users": 0, "Sessions": 0, "Mean session length": 0.0, "Revenue": 0.0,
                    **{n: {"Occurrences": 0, "Users": 0, "Value": 0.0} for n in names}} for d in item["data"]}
    assert min(expected) == start
    assert max(expected) == end
    assert len(expected) == 3
    lengths: dict[str, list[float]] = {}
    for _user, started, length in (("alice", now - 400, 400.0), ("bob", now - 200, 200.0)):
        figures = expected[day(started)]
        figures["Sessions"] += 1
        figures["Active users"] += 1
        figures["New users"] += 1
        lengths.setdefault(day(started), []).append(length)
    for key, seen in lengths.items():
        expected[key]["Mean session length"] = sum(seen) / len(seen)
    expected[day(now - 380)]["Revenue"] = 4.5
    for name, _user, at, value in (("Level up", "alice", now - 390, 2.0), ("Level up", "bob", now - 195, 0.0),
                                  ("Level up", "bob", now - 194, 1.0), (".m123", "alice", now - 370, 0.0),
                                  (".m123 Open", "alice", now - 360, 0.0)):
        figures = expected[day(at)][name]
        figures["Occurrences"] += 1
        figures["Value"] += value
    expected[day(now - 390)]["Level up"]["Users"] = 2 if day(now - 390) == day(now - 195) else 1
    for name in (".m123", ".m123 Open"):
        for figures in expected.values():
            figures[name]["Users"] = min(figures[name]["Occurrences"], 1)
    assert set(item["data"]) == set(expected)
    for key, figures in expected.items():
        got = item["data"][key]
        assert got["Mean session length"] == pytest.approx(figures.pop("Mean session length"), abs=0.01), key
        got.pop("Mean session length")
        assert got == figures, key


def test_an_empty_report_finishes_with_zeros_for_every_day(api: ApiClient) -> None:
    item = export_report(api, startDate="20240301", endDate="20240305", dataType="UserActivity",
                         eventNames=["Buy"])

    assert item["state"] == {"value": "FINISHED"}
    assert item["success"] is True
    assert item["jobId"].startswith("export_report_")
    assert sorted(item["data"]) == ["20240301", "20240302", "20240303", "20240304", "20240305"]
    assert all(d["Buy"] == {"Occurrences": 0, "Users": 0, "Value": 0.0} and d["Sessions"] == 0
               for d in item["data"].values())


def sample_call(api: ApiClient, body: dict[str, Any], content_type: str) -> dict[str, Any]:
    """One call as the sample makes it: everything in a JSON object body."""
    body = {"appId": api.app.app_id, "clientKey": api.app.data_export, "apiVersion": "1.0.6", **body}
    response = api.http.post("/api", content=json.dumps(body), headers={"Content-Type": content_type})
    item: dict[str, Any] = response.json()["response"][0]
    assert item["success"] is True, item
    return item


def test_leanplums_report_sample_works_unchanged(api: ApiClient) -> None:
    """``export_push_notification_stats.py``: JSON object bodies that urllib labels as a form (the sample sets no
    Content-Type), ``eventNames`` a real JSON array, ``state['value']`` polled while RUNNING, then ``data`` sorted
    by date and ``int(Occurrences)``."""
    for _ in range(3):
        api.ok("track", userId="u-1", messageId="42")
    api.ok("track", userId="u-1", event="Open", messageId="42")

    def call(body: dict[str, Any]) -> dict[str, Any]:
        return sample_call(api, body, "application/x-www-form-urlencoded")

    start, end = around_today(api)
    job = call({"action": "exportReport", "startDate": start, "endDate": end, "dataType": "UserActivity",
                "eventNames": [".m42", ".m42 Open"]})["jobId"]
    asyncio.run(JobRunner(api.server.settings).run_once(api.server.app.store))
    deadline = time.monotonic() + 30
    while (polled := call({"action": "getExportResults", "jobId": job}))["state"]["value"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    rows = [(date, int(polled["data"][date].get(".m42", {}).get("Occurrences", 0)),
             int(polled["data"][date].get(".m42 Open", {}).get("Occurrences", 0))) for date in sorted(polled["data"])]
    assert sum(sent for _, sent, _ in rows) == 3
    assert sum(opened for _, _, opened in rows) == 1
    assert day(api.server.clock.now()) in (rows[1][0], rows[2][0])


def test_a_report_on_an_unknown_ab_test_fails_visibly(api: ApiClient) -> None:
    item = export_report(api, startDate="20240301", dataType="AbTestResults", abTestId=987654321)

    assert item["state"] == {"value": "FAILED"}
    assert "No A/B test with id 987654321" in item["error"]["message"]
    assert "data" not in item


def test_message_results_are_an_honest_count_of_tracked_message_events(api: ApiClient) -> None:
    api.ok("track", userId="u-1", messageId="77")
    api.ok("track", userId="u-1", event="Open", messageId="77")
    api.ok("track", userId="u-2", event="Open", messageId="78")
    start, end = around_today(api)

    item = export_report(api, startDate=start, endDate=end, dataType="MessageResults", messageId="77")

    assert item["state"] == {"value": "FINISHED"}
    assert item["data"][day(api.server.clock.now())] == {"Sent": 1, "Delivered": 0, "Opened": 1}
    assert sum(d["Opened"] for d in item["data"].values()) == 1


# -- AbTestResults -------------------------------------------------------------------------------------


def test_ab_results_of_a_running_test_match_an_independent_computation(admin: Admin, api: ApiClient) -> None:
    define(api, {"welcome": "Hi"})
    test = start_test(admin, api, [variant("A", 50), variant("B", 50, welcome="Yo")], goalEvents=["Purchase"])
    ids = variant_ids(test)
    users = [f"user-{i:03d}" for i in range(160)]
    make_users(api, users)
    seen = assignments(api, users)  # getVars: each user's first exposure
    in_variant = {name: [u for u in users if seen[u] == [vid]] for name, vid in ids.items()}
    assert sum(map(len, in_variant.values())) == len(users)
    buyers = {"A": in_variant["A"][::4], "B": in_variant["B"][::3]}
    items = [{"action": "track", "userId": u, "event": "Purchase", "value": 2.5} for b in buyers.values() for u in b]
    items += [{"action": "track", "userId": u, "event": "Purchase", "value": 1} for u in buyers["B"][:5]]
    assert all(a["success"] for a in api.multi(items).json()["response"])
    start, end = around_today(api)

    item = export_report(api, startDate=start, endDate=end, dataType="AbTestResults", abTestId=test["id"])

    assert item["state"] == {"value": "FINISHED"}
    assert item["abTestId"] == test["id"]
    assert item["goalEvents"] == ["Purchase"]
    final = {v["name"]: v for v in item["data"][end]["variants"]}
    assert final["A"]["control"] is True
    for name in ("A", "B"):
        assert final[name]["Users"] == len(in_variant[name])
        purchase = final[name]["goals"]["Purchase"]
        assert purchase["Conversions"] == len(buyers[name])
        assert purchase["Occurrences"] == len(buyers[name]) + (5 if name == "B" else 0)
        assert purchase["Value"] == pytest.approx(2.5 * len(buyers[name]) + (5 if name == "B" else 0))
    (n_c, x_c), (n_t, x_t) = ((len(in_variant[n]), len(buyers[n])) for n in ("A", "B"))
    p_c, p_t = x_c / n_c, x_t / n_t
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    z = stats.norm.ppf(0.975)
    b = final["B"]["goals"]["Purchase"]
    assert b["Lift"] == pytest.approx(p_t - p_c)
    assert b["Confidence interval"] == pytest.approx([p_t - p_c - z * se, p_t - p_c + z * se])
    assert b["p-value"] == pytest.approx(
        stats.chi2_contingency([[x_t, n_t - x_t], [x_c, n_c - x_c]], correction=False)[1])
    lo, hi = b["Sequential interval"]
    assert lo < b["Confidence interval"][0] < b["Confidence interval"][1] < hi
    statistic, p_value = stats.chisquare([n_c, n_t])
    srm = item["data"][end]["Sample ratio mismatch"]
    assert srm["Chi-square"] == pytest.approx(statistic)
    assert srm["p-value"] == pytest.approx(p_value)
    assert srm["Mismatch"] == bool(p_value < 0.001)
