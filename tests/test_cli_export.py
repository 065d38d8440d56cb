"""``openplum export data|users|report`` and ``openplum jobs list``, run as subprocesses the way operators run them,
against a data directory (SQLite) or a PostgreSQL schema that an in-process server also uses: its data goes in
through the API, the CLI takes it out, with a progress bar on stderr and the files in ``--output``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from openplum.services import audience_registry, limits
from openplum.store.base import Tx
from tests.clients import Js, send_ok
from tests.conftest import (
    BACKENDS,
    PG_URL,
    ApiClient,
    Server,
    ShiftedClock,
    create_test_app,
    make_settings,
    start_server,
)
from tests.exports import around_now, day, download, finished, results, start

JSON_FILE = re.compile(r"^export-[A-Za-z0-9]+-[0-9a-f-]{36}-output-[0-9]+$")
CSV_KINDS = ("sessions", "states", "events", "eventparameters", "userattributes", "experiments")


@dataclass
class Site:
    """A data directory (or schema), the server running on it with one app's traffic, and the CLI's environment."""

    server: Server
    api: ApiClient
    env: dict[str, str]
    tmp: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "openplum", *args], env=self.env, cwd=self.tmp,
                              capture_output=True, text=True, timeout=120, check=False)

    def ok(self, *args: str) -> dict[str, Any]:
        """Run the CLI; assert success; its stdout, one line of JSON."""
        done = self.cli(*args)
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.strip().splitlines()) == 1, done.stdout
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    def window(self) -> list[str]:
        return ["--start-date", around_now(self.api)["startDate"], "--end-date", around_now(self.api)["endDate"]]


def _env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPLUM_")}
    env["OPENPLUM_DATA_DIR"] = str(data_dir)
    if database_url:
        env["OPENPLUM_DATABASE_URL"] = database_url
    return env


def traffic(api: ApiClient) -> None:
    """Two completed sessions: u-gold buys twice (plan gold), u-free once (plan free)."""
    gold, free = Js(api, "d-gold", "u-gold"), Js(api, "d-free", "u-free")
    send_ok(api, [gold.item("start", 0, userAttributes={"plan": "gold"}), gold.item("track", 1, event="Buy", value=5),
                  gold.item("track", 2, event="Buy", value=7, params={"sku": "a,b"}), gold.item("stop", 10)])
    send_ok(api, [free.item("start", 0, userAttributes={"plan": "free"}), free.item("track", 3, event="Buy", value=1),
                  free.item("stop", 20)])
    api.server.app.store.run(lambda tx: audience_registry.create(
        tx, api.app.app_id, "Gold", {"attribute": "plan", "op": "equals", "value": "gold"}, api.server.clock.now(),
        "tests"))


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with tempfile.TemporaryDirectory(prefix="openplum-test-cli-") as tmp:
        clock = ShiftedClock()
        server = start_server(make_settings("sqlite", clock, Path(tmp), None), clock, "sqlite")
        with httpx.Client(base_url=server.url, timeout=30) as http:
            api = ApiClient(server, create_test_app(server), http)
            traffic(api)
            yield Site(server, api, _env(Path(tmp)), Path(tmp))
        server.stop()


def json_lines(paths: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for path in paths for line in Path(path).read_text().splitlines()]


def by_session(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(lines, key=lambda line: line["sessionId"])


# -- exportData --------------------------------------------------------------------------------------------------


def test_export_data_writes_what_the_api_export_gives_into_the_output_directory(site: Site) -> None:
    out = site.tmp / "out-json"

    answer = site.ok("export", "data", "--app-id", site.api.app.app_id, *site.window(), "--output", str(out))

    assert (answer["state"], answer["numSessions"]) == ("FINISHED", 2)
    assert answer["files"], answer
    assert all(Path(p).parent == out.resolve() and JSON_FILE.match(Path(p).name) for p in answer["files"])
    assert answer["numBytes"] == sum(Path(p).stat().st_size for p in answer["files"])
    from_api = finished(site.api, start(site.api, **around_now(site.api)))
    api_lines = [json.loads(raw) for url in from_api["files"] for raw in download(url).decode().splitlines()]
    assert by_session(json_lines(answer["files"])) == by_session(api_lines)
    gold = next(line for line in json_lines(answer["files"]) if line["userId"] == "u-gold")
    assert [e["value"] for s in gold["states"] for e in s["events"]] == [5, 7]


def test_export_data_as_csv_writes_each_kind_with_its_header(site: Site) -> None:
    out = site.tmp / "out-csv"

    answer = site.ok("export", "data", "--app-id", site.api.app.app_id, *site.window(), "--format", "csv",
                     "--output", str(out))

    names = sorted(Path(p).name for p in answer["files"])
    assert sorted(re.sub(r"^.*-output([a-z]+)-0$", r"\1", n) for n in names) == sorted(CSV_KINDS)
    sessions = next(Path(p) for p in answer["files"] if "outputsessions-" in p).read_text().splitlines()
    assert sessions[0].startswith("sessionId,userId,")
    assert len(sessions) == 3


def test_the_progress_bar_goes_to_stderr_and_only_json_to_stdout(site: Site) -> None:
    done = site.cli("export", "data", "--app-id", site.api.app.app_id, *site.window(), "--output",
                    str(site.tmp / "out-bar"))

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "FINISHED"
    assert re.search(r"\[#{30}\] 100%", done.stderr), done.stderr
    assert done.stderr.rstrip().endswith(": FINISHED")


def test_a_cli_export_is_a_job_of_the_store_the_server_sees(site: Site) -> None:
    answer = site.ok("export", "data", "--app-id", site.api.app.app_id, *site.window(), "--output",
                     str(site.tmp / "out-shared"))

    seen = results(site.api, answer["jobId"])
    listed = json.loads(site.cli("jobs", "list", "--app-id", site.api.app.app_id).stdout)

    assert (seen["state"], seen["numSessions"]) == ("FINISHED", 2)
    [mine] = [job for job in listed if job["jobId"] == answer["jobId"]]
    assert (mine["kind"], mine["state"], mine["attempts"]) == ("exportData", "FINISHED", 1), "run once, by the CLI"
    for url, path in zip(sorted(seen["files"]), sorted(answer["files"]), strict=True):
        assert download(site.server.url + urlsplit(url).path) == Path(path).read_bytes()


def test_jobs_list_shows_every_apps_jobs_newest_first_without_secrets(site: Site) -> None:
    job_id = start(site.api, startDate="20200101", s3BucketName="b", s3AccessId="id", s3AccessKey="hush")

    listed = json.loads(site.cli("jobs", "list").stdout)
    only_users = json.loads(site.cli("jobs", "list", "--kind", "exportUsers").stdout)

    assert listed[0]["jobId"] == job_id
    assert [j["created"] for j in listed] == sorted((j["created"] for j in listed), reverse=True)
    assert "hush" not in json.dumps(listed)
    assert all(j["kind"] == "exportUsers" for j in only_users)


# -- exportUsers and exportReport ------------------------------------------------------------------------------------


def test_export_users_of_an_audience_with_an_attribute(site: Site) -> None:
    answer = site.ok("export", "users", "--app-id", site.api.app.app_id, "--audience", "Gold", "--attribute", "plan",
                     "--output", str(site.tmp / "out-users"))

    [path] = answer["files"]
    assert answer["numUsers"] == 1
    assert Path(path).read_text().splitlines() == ["userId,plan", "u-gold,gold"]


def test_export_users_refuses_an_unknown_ab_test(site: Site) -> None:
    done = site.cli("export", "users", "--app-id", site.api.app.app_id, "--ab-test-id", "999")

    assert done.returncode == 1
    assert "No A/B test with id 999" in done.stderr
    assert done.stdout == ""


def test_export_report_prints_the_report_json(site: Site) -> None:
    done = site.cli("export", "report", "--app-id", site.api.app.app_id, "--start-date", day(site.api, -1),
                    "--end-date", day(site.api, 1), "--type", "UserActivity", "--event-name", "Buy")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["dataType"] == "UserActivity"
    assert set(report["data"]) == {day(site.api, -1), day(site.api), day(site.api, 1)}
    assert sum(d["Buy"]["Occurrences"] for d in report["data"].values()) == 3
    assert sum(d["Active users"] for d in report["data"].values()) == 2


def test_export_report_writes_to_a_file_when_asked(site: Site) -> None:
    target = site.tmp / "reports" / "activity.json"

    answer = site.ok("export", "report", "--app-id", site.api.app.app_id, "--start-date", day(site.api),
                     "--type", "UserActivity", "--output", str(target))

    assert answer["file"] == str(target.resolve())
    assert json.loads(target.read_text())["data"].keys() == {day(site.api)}


# -- refusals ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "problem"), [
    (["export", "data", "--start-date", "2020-01-01"], "expected YYYYMMDD"),
    (["export", "data", "--start-date", "20200105", "--end-date", "20200101"], "before startDate"),
    (["export", "report", "--start-date", "20200101", "--type", "AbTestResults"], "abTestId"),
    (["export", "users", "--audience", "Nobody"], "No audience named 'Nobody'"),
])
def test_bad_requests_are_refused_as_the_api_refuses_them(site: Site, args: list[str], problem: str) -> None:
    done = site.cli(*args, "--app-id", site.api.app.app_id)

    assert done.returncode == 1
    assert problem in done.stderr


def test_an_unknown_app_is_refused(site: Site) -> None:
    done = site.cli("export", "data", "--app-id", "app_nope", "--start-date", "20200101")

    assert done.returncode == 1
    assert "No app with id 'app_nope'" in done.stderr


def test_the_apps_daily_limit_applies(site: Site) -> None:
    other = create_test_app(site.server)

    def cap(tx: Tx) -> None:
        limits.replace(tx, other.app_id, {"exportsPerDay": 1}, site.server.clock.now(), "tests")

    site.server.app.store.run(cap)
    site.ok("export", "data", "--app-id", other.app_id, "--start-date", "20200101", "--output", str(site.tmp / "o"))

    done = site.cli("export", "data", "--app-id", other.app_id, "--start-date", "20200101")

    assert done.returncode == 1
    assert "Too many exportData requests today: the limit is 1 per day" in done.stderr


# -- without a server, and on PostgreSQL ----------------------------------------------------------------------------


def test_export_works_with_no_server_running(tmp_path: Path) -> None:
    clock = ShiftedClock()
    server = start_server(make_settings("sqlite", clock, tmp_path, None), clock, "sqlite")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        api = ApiClient(server, create_test_app(server), http)
        traffic(api)
    server.stop()
    stopped = Site(server, api, _env(tmp_path), tmp_path)

    answer = stopped.ok("export", "data", "--app-id", api.app.app_id, *stopped.window(), "--output",
                        str(tmp_path / "out"))

    assert answer["numSessions"] == 2
    assert {line["userId"] for line in json_lines(answer["files"])} == {"u-gold", "u-free"}


@pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL not among OPENPLUM_TEST_BACKENDS")
def test_export_on_postgresql(tmp_path: Path) -> None:
    schema = "openplum_cli_ex_" + secrets.token_hex(6)
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    clock = ShiftedClock()
    server = start_server(make_settings("postgres", clock, tmp_path, url), clock, "postgres")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            api = ApiClient(server, create_test_app(server), http)
            traffic(api)
            pg = Site(server, api, _env(tmp_path, url), tmp_path)

            answer = pg.ok("export", "data", "--app-id", api.app.app_id, *pg.window(), "--output", str(tmp_path / "o"))
            users = pg.ok("export", "users", "--app-id", api.app.app_id, "--output", str(tmp_path / "u"))
            listed = json.loads(pg.cli("jobs", "list", "--app-id", api.app.app_id).stdout)

            assert answer["numSessions"] == 2
            assert {line["userId"] for line in json_lines(answer["files"])} == {"u-gold", "u-free"}
            assert users["numUsers"] == 2
            assert [j["jobId"] for j in listed] == [users["jobId"], answer["jobId"]]
            assert results(api, answer["jobId"])["state"] == "FINISHED"
    finally:
        server.stop()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
