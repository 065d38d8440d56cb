"""``exportData`` end to end (API.md §6.7, EXPORT-FORMAT.md): SDK-shaped traffic goes in, sessions end, an export
job runs in the worker, and the files at the URLs ``getExportResults`` lists hold every session, state, event and
parameter as it was sent, in Leanplum's JSON-lines and CSV layouts, named as consumers parse them."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
import pytest

from openplum.services import jobs
from openplum.store.base import Tx
from tests.clients import Js, rows, send_ok
from tests.conftest import ApiClient
from tests.exports import (
    CSV_NAME,
    JSON_NAME,
    PER_DAY,
    SHARD_BYTES,
    around_now,
    clean,
    download,
    ex_api,
    ex_server,
    fetch,
    finished,
    results,
    s3,
    s3_client,
    start,
    wait,
)

__all__ = ["ex_api", "ex_server", "s3"]  # fixtures used by name

COLUMNS = {  # EXPORT-FORMAT.md §3 and export-format/<kind>.schema.json, in order
    "sessions": ["sessionId", "userId", "userBucket", "userStart", "country", "region", "city", "start", "duration",
                 "lat", "lon", "locale", "timezone", "timezoneOffset", "appVersion", "client", "sdkVersion",
                 "osName", "osVersion", "deviceModel", "browserName", "browserVersion", "deviceId", "priorEvents",
                 "priorSessions", "priorTimeSpentInApp", "priorStates", "isDeveloper", "isSession",
                 "sourcePublisherId", "sourcePublisher", "sourceSubPublisher", "sourceSite", "sourceCampaign",
                 "sourceAdGroup", "sourceAd"],
    "states": ["stateId", "sessionId", "stateName", "start", "duration", "info", "timeUntilFirstForUser"],
    "events": ["eventId", "stateId", "sessionId", "eventName", "start", "value", "info", "timeUntilFirstForUser"],
    "eventparameters": ["eventId", "name", "value"],
    "userattributes": ["sessionId", "name", "value"],
    "experiments": ["experimentId", "sessionId", "variantId"],
}


@dataclass(frozen=True)
class Sent:
    """One event as a client sent it: seconds after its session's start, and what it carried."""

    at: float
    name: str
    value: float = 0.0
    info: str | None = None
    params: dict[str, Any] | None = None
    state: str | None = None


# What u-1 does in one session (state "Checkout" from 10 s on); u-2's session has three plain events.
U1 = [Sent(1, "Viewed", params={"page": "home, top", "tags": ["a", "b"]}),
      Sent(20, "Paid", 19.99, 'first "order"\nsecond line', {"method": "card", "items": 2, "gift": False},
           state="Checkout"),
      Sent(25, ".m123 Open", state="Checkout")]
U2 = [Sent(2, "Tap", 1.5), Sent(3, "Tap", 2.5, params={"x": 1e-05}), Sent(4, "Share", info="twitter")]


def traffic(api: ApiClient) -> None:
    """Two completed sessions (u-1 with a state and a message event, u-2 plain) and one still open (u-3)."""
    one = Js(api, "d-1", "u-1")
    send_ok(api, [
        one.item("start", 0, userAttributes={"plan": "gold", "level": 3}, systemName="Mac OS",
                 browserName="Chrome", browserVersion="120", country="US", region="CA", city="San Francisco",
                 locale="en_US", location="37.77,-122.42", timezone="America/Los_Angeles",
                 timezoneOffsetSeconds=-25200, versionName="1.2.3"),
        one.item("track", 1, event="Viewed", params=U1[0].params),
        one.item("advance", 10, state="Checkout", info="cart", params={"step": 1}),
        one.item("track", 20, event="Paid", value=19.99, info=U1[1].info, params=U1[1].params),
        one.item("track", 25, messageId="123", event="Open"),
        one.item("stop", 40),
    ])
    api.ok("setTrafficSourceInfo", userId="u-1", trafficSource={"publisherName": "Ads Co", "publisherSubAd": "ad 7"})
    two = Js(api, "d-2", "u-2")
    send_ok(api, [two.item("start", 0), *(two.item("track", s.at, event=s.name, value=s.value, info=s.info,
                                                   **({"params": s.params} if s.params else {})) for s in U2),
                  two.item("stop", 30)])
    three = Js(api, "d-3", "u-3")
    send_ok(api, [three.item("start", 0), three.item("track", 1, event="Open session")])


def json_lines(urls: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for url in urls:
        assert re.match(JSON_NAME, url), url
        body = download(url)
        assert body.endswith(b"\n")
        for raw in body.decode().split("\n")[:-1]:
            assert raw.strip(), "no blank lines"
            out.append(json.loads(raw))
    return out


def events_of(line: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """(state name, event) of every event of a session line, by time."""
    found = [(s.get("name"), e) for s in line["states"] for e in s["events"]]
    return sorted(found, key=lambda pair: pair[1]["time"])


def assert_events_as_sent(line: dict[str, Any], sent: list[Sent]) -> None:
    got = events_of(line)
    assert [e["name"] for _, e in got] == [s.name for s in sent]
    for (state, event), expected in zip(got, sent, strict=True):
        assert state == expected.state, event
        assert event["time"] - line["time"] == pytest.approx(expected.at, abs=2e-3)
        assert event["value"] == expected.value
        assert event.get("info") == expected.info
        assert event.get("parameters") == expected.params
        assert isinstance(event["eventId"], int)


def test_json_lines_hold_each_completed_session_with_its_events_and_parameters(ex_api: ApiClient) -> None:
    traffic(ex_api)

    result = finished(ex_api, start(ex_api, **around_now(ex_api)))

    lines = {line["userId"]: line for line in json_lines(result["files"])}
    assert set(lines) == {"u-1", "u-2"}, "the open session of u-3 is not exported"
    assert result["numSessions"] == 2
    assert result["numBytes"] == sum(len(download(url)) for url in result["files"])
    one = lines["u-1"]
    assert isinstance(one["sessionId"], str)
    assert one["sessionId"].isdigit()
    assert one["isSession"] is True
    assert one["isDeveloper"] is False
    assert isinstance(one["time"], float)
    assert isinstance(one["firstRun"], float)
    assert one["duration"] == pytest.approx(40, abs=2e-3)
    assert (one["deviceId"], one["client"], one["sdkVersion"], one["appVersion"]) == ("d-1", "js", "1.9.0", "1.2.3")
    assert (one["systemName"], one["browserName"], one["browserVersion"]) == ("Mac OS", "Chrome", "120")
    assert (one["country"], one["region"], one["city"], one["locale"]) == ("US", "CA", "San Francisco", "en_US")
    assert (one["lat"], one["lon"], one["timezoneOffsetSeconds"]) == ("37.77", "-122.42", -25200)
    assert (one["sourcePublisher"], one["sourceAd"]) == ("Ads Co", "ad 7")
    assert one["userAttributes"] == {"plan": "gold", "level": 3}
    assert one["experiments"] == []
    assert 0 <= one["userBucket"] < 1000
    unnamed, checkout = one["states"]
    assert "name" not in unnamed
    assert (checkout["name"], checkout["info"], checkout["parameters"]) == ("Checkout", "cart", {"step": 1})
    assert checkout["time"] - one["time"] == pytest.approx(10, abs=2e-3)
    assert checkout["duration"] == pytest.approx(30, abs=2e-3)
    assert_events_as_sent(one, U1)
    assert_events_as_sent(lines["u-2"], U2)
    assert lines["u-2"]["priorSessions"] == 0


def csv_files(urls: list[str]) -> dict[str, list[list[str]]]:
    """Rows by kind across shards (each shard's header checked and dropped)."""
    out: dict[str, list[list[str]]] = {}
    for url in urls:
        found = re.match(CSV_NAME, url)
        assert found, url
        kind = found.group(1)
        table = list(csv.reader(io.StringIO(download(url).decode(), newline="")))
        assert table[0] == COLUMNS[kind], kind
        out.setdefault(kind, []).extend(table[1:])
    return out


def test_csv_files_have_the_schema_columns_and_the_same_data(ex_api: ApiClient) -> None:
    traffic(ex_api)
    window = around_now(ex_api)
    lines = {line["userId"]: line for line in json_lines(finished(ex_api, start(ex_api, **window))["files"])}

    result = finished(ex_api, start(ex_api, exportFormat="csv", **window))

    tables = csv_files(result["files"])
    assert set(tables) == set(COLUMNS), "every kind, even an empty one, has a file"
    assert tables["experiments"] == []
    sessions = {r[1]: dict(zip(COLUMNS["sessions"], r, strict=True)) for r in tables["sessions"]}
    assert set(sessions) == {"u-1", "u-2"}
    one = sessions["u-1"]
    assert one["sessionId"] == lines["u-1"]["sessionId"], "the same id in both layouts"
    assert float(one["start"]) == lines["u-1"]["time"]
    assert (one["isSession"], one["isDeveloper"], one["osName"], one["sourcePublisher"]) == (
        "true", "false", "Mac OS", "Ads Co")
    assert not any("e" in r[7].lower() or "e" in r[3].lower() for r in tables["sessions"]), "no exponents"
    assert [r[2] for r in tables["states"]] == ["Checkout"]
    events = {r[0]: dict(zip(COLUMNS["events"], r, strict=True)) for r in tables["events"]}
    params: dict[str, dict[str, str]] = {}
    for event_id, name, value in tables["eventparameters"]:
        params.setdefault(event_id, {})[name] = value
    for user, sent in (("u-1", U1), ("u-2", U2)):
        got = sorted((e for e in events.values() if e["sessionId"] == sessions[user]["sessionId"]),
                     key=lambda e: float(e["start"]))
        assert [e["eventName"] for e in got] == [s.name for s in sent]
        for event, expected in zip(got, sent, strict=True):
            assert float(event["value"]) == expected.value
            assert event["info"] == (expected.info or "")
            assert params.get(event["eventId"], {}) == {k: _text(v) for k, v in (expected.params or {}).items()}
    paid = next(e for e in events.values() if e["eventName"] == "Paid")
    assert paid["stateId"] == tables["states"][0][0]
    assert sorted(r[1:] for r in tables["userattributes"] if r[0] == one["sessionId"]) == [
        ["level", "3"], ["plan", "gold"]]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return "0.00001" if value == 1e-05 else str(value)


def test_files_are_cut_into_shards_at_the_size_limit(ex_api: ApiClient) -> None:
    js = Js(ex_api, "d-1", "u-1")
    for n in range(12):
        send_ok(ex_api, [js.item("start", n * 100), *(js.item("track", n * 100 + i, event=f"E{i}",
                                                              params={"n": n, "pad": "x" * 40}) for i in range(5)),
                         js.item("stop", n * 100 + 50)])

    result = finished(ex_api, start(ex_api, **around_now(ex_api)))

    shards = sorted(int(re.match(JSON_NAME, url).group(1)) for url in result["files"])  # type: ignore[union-attr]
    assert shards == list(range(len(shards)))
    assert len(shards) >= 3
    assert all(len(download(url)) <= SHARD_BYTES for url in result["files"])
    assert len(json_lines(result["files"])) == result["numSessions"] == 12


def test_no_matching_session_still_gives_a_job_that_finishes_with_no_files(ex_api: ApiClient) -> None:
    traffic(ex_api)

    result = finished(ex_api, start(ex_api, startDate="20200101"))

    assert (result["files"], result["numSessions"], result["numBytes"]) == ([], 0, 0)


def test_get_post_with_everything_in_the_url_and_a_json_body_all_start_exports(ex_api: ApiClient) -> None:
    traffic(ex_api)
    query = {"appId": ex_api.app.app_id, "clientKey": ex_api.app.data_export, "apiVersion": "1.0.6",
             "action": "exportData", **around_now(ex_api)}

    by_get = ex_api.http.get("/api", params=query).json()["response"][0]["jobId"]
    by_post = ex_api.http.post("/api", params=query).json()["response"][0]["jobId"]
    by_body = ex_api.http.post("/api", json=query)

    for job_id in (by_get, by_post, by_body.json()["response"][0]["jobId"]):
        assert job_id.startswith("export_")
        assert finished(ex_api, job_id)["numSessions"] == 2


def test_start_and_end_time_select_sessions_by_when_they_ended(ex_api: ApiClient) -> None:
    traffic(ex_api)
    now = ex_api.server.clock.now()

    later = finished(ex_api, start(ex_api, startTime=now + 60))
    recent = finished(ex_api, start(ex_api, startTime=now - 600, endTime=now + 60))

    assert later["numSessions"] == 0
    assert {line["userId"] for line in json_lines(recent["files"])} == {"u-1", "u-2"}


def test_files_expire_after_a_day_and_are_deleted(ex_api: ApiClient) -> None:
    traffic(ex_api)
    result = finished(ex_api, start(ex_api, **around_now(ex_api)))
    urls = result["files"]
    assert all(fetch(url).status_code == 200 for url in urls)

    ex_api.server.clock.advance(24 * 3600 + 1)
    assert clean(ex_api) >= len(urls)

    assert all(fetch(url).status_code == 404 for url in urls)
    assert rows(ex_api, "SELECT token FROM export_files WHERE app_id = ?") == []
    assert not list((ex_api.server.settings.data_dir / "files" / "exports").glob("*"))


def test_a_file_url_needs_its_token(ex_api: ApiClient) -> None:
    traffic(ex_api)
    [url, *_] = finished(ex_api, start(ex_api, **around_now(ex_api)))["files"]
    token = url.split("/exports/")[1].split("/")[0]

    assert fetch(url.replace(token, "A" * len(token))).status_code == 404
    assert fetch(url + "x").status_code == 404


def test_a_job_left_running_by_a_dead_worker_is_run_again(ex_api: ApiClient) -> None:
    traffic(ex_api)
    app_id, now = ex_api.app.app_id, ex_api.server.clock.now()
    params = {"exportFormat": "json", "baseUrl": ex_api.server.url, **around_now(ex_api)}

    def crashed(tx: Tx) -> str:
        job_id = jobs.start(tx, app_id, jobs.EXPORT_DATA, params, now)
        tx._exec("UPDATE jobs SET state = 'RUNNING', attempts = 1, lease_until = ? WHERE job_id = ?",  # type: ignore[attr-defined]
                 (now - 1, job_id))
        return job_id

    job_id = ex_api.server.app.store.run(crashed)

    result = finished(ex_api, job_id)
    assert {line["userId"] for line in json_lines(result["files"])} == {"u-1", "u-2"}
    assert rows(ex_api, "SELECT attempts FROM jobs WHERE app_id = ?") == [(2,)]


def test_exports_per_day_are_capped_when_configured(ex_api: ApiClient) -> None:
    for _ in range(PER_DAY):
        start(ex_api, startDate="20200101")

    refused = ex_api.call("exportData", ex_api.app.data_export, method="GET", startDate="20200101")

    assert refused.status_code == 429
    assert "4 per day" in refused.json()["response"][0]["error"]["message"]


@pytest.mark.parametrize(("params", "problem"), [
    ({}, "startDate"),
    ({"startDate": "2020-01-01"}, "YYYYMMDD"),
    ({"startDate": "20200105", "endDate": "20200101"}, "before"),
    ({"startDate": "20200101", "s3BucketName": "b"}, "s3AccessId"),
])
def test_bad_requests_are_refused_at_once(ex_api: ApiClient, params: dict[str, Any], problem: str) -> None:
    response = ex_api.call("exportData", ex_api.app.data_export, method="GET", **params)

    assert response.status_code == 400
    assert problem in response.json()["response"][0]["error"]["message"]


# -- delivery elsewhere -----------------------------------------------------------------------------------------


def test_s3_delivery_writes_every_shard_to_the_bucket_gzipped_on_request(ex_api: ApiClient, s3: str) -> None:
    traffic(ex_api)
    bucket = "exports-" + ex_api.app.app_id.replace("_", "-").lower()
    client = s3_client(s3)
    client.create_bucket(Bucket=bucket)
    common = {"s3BucketName": bucket, "s3AccessId": "id", "s3AccessKey": "secret", **around_now(ex_api)}

    plain = finished(ex_api, start(ex_api, s3ObjectPrefix="raw", **common))
    packed = finished(ex_api, start(ex_api, s3ObjectPrefix="gz/", compressData="true", **common))

    import gzip

    for result, prefix, unpack in ((plain, "raw/", bytes), (packed, "gz/", gzip.decompress)):
        copies = result["s3CopyStatus"]["success"]
        assert result["files"] == []
        assert copies
        assert all(c["destFile"] == prefix + c["sourceFile"] for c in copies)
        assert all(re.match(JSON_NAME, "/" + c["destFile"]) for c in copies)
        bodies = [unpack(client.get_object(Bucket=bucket, Key=c["destFile"])["Body"].read()) for c in copies]
        users = {json.loads(line)["userId"] for body in bodies for line in body.decode().splitlines()}
        assert users == {"u-1", "u-2"}
        assert result["numSessions"] == 2


def test_a_bucket_that_cannot_be_written_fails_the_job_visibly(ex_api: ApiClient) -> None:
    traffic(ex_api)

    result = wait(ex_api, start(ex_api, s3BucketName="no-such-bucket", s3AccessId="id", s3AccessKey="secret",
                                **around_now(ex_api)))

    assert result["state"] == "FAILED"
    assert "no-such-bucket" in result["error"]["message"]


def test_the_s3_secret_is_forgotten_once_the_job_has_ended(ex_api: ApiClient) -> None:
    traffic(ex_api)
    job_id = start(ex_api, s3BucketName="no-such-bucket", s3AccessId="the-id", s3AccessKey="the-secret",
                   **around_now(ex_api))
    wait(ex_api, job_id)

    row = ex_api.server.app.store.run(lambda tx: tx.get_job(ex_api.app.app_id, job_id))
    assert row is not None
    kept = json.loads(row.params)
    assert "s3AccessKey" not in kept
    assert b"the-secret" not in row.params
    assert kept["s3AccessId"] == "the-id"
    assert kept["s3BucketName"] == "no-such-bucket"


class _Hook:
    """A callback receiver on loopback that records each POSTed body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.bodies.append(msgspec.json.decode(self.rfile.read(int(self.headers["Content-Length"]))))
                hook.arrived.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/done"


def test_the_callback_url_receives_the_results_when_the_job_ends(ex_api: ApiClient) -> None:
    traffic(ex_api)
    hook = _Hook()
    try:
        job_id = start(ex_api, callbackUrl=hook.url, **around_now(ex_api))

        assert hook.arrived.wait(30)
        [body] = hook.bodies
        item = body["response"][0]
        assert (item["success"], item["jobId"], item["state"], item["numSessions"]) == (True, job_id, "FINISHED", 2)
        assert item["files"] == finished(ex_api, job_id)["files"]
    finally:
        hook.server.shutdown()
        hook.server.server_close()


def test_a_callback_to_an_internal_address_is_refused_at_request_time(ex_api: ApiClient) -> None:
    response = ex_api.call("exportData", ex_api.app.data_export, method="GET", startDate="20200101",
                           callbackUrl="http://169.254.169.254/latest")

    assert response.status_code == 400
    assert "non-public" in response.json()["response"][0]["error"]["message"]


def test_the_state_of_an_export_data_job_is_a_plain_string(ex_api: ApiClient) -> None:
    job_id = start(ex_api, startDate="20200101")

    first = results(ex_api, job_id)

    assert first["state"] in ("PENDING", "RUNNING", "FINISHED")
    assert isinstance(first["progress"], float | int)
    assert "files" not in first or first["state"] == "FINISHED"


def test_the_same_export_request_sent_twice_answers_two_jobs(api: ApiClient) -> None:
    """Consumers read jobId unconditionally; a resent request (same client time) is a new job, not a replay."""
    params = {"startDate": "20260101", "time": "1795000000.5"}
    first = api.ok("exportData", api.app.data_export, **params)
    second = api.ok("exportData", api.app.data_export, **params)
    assert first["jobId"]
    assert second["jobId"]
    assert first["jobId"] != second["jobId"]
