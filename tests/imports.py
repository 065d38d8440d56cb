"""What the CSV import tests share: sending a CSV the ways clients do, running the job, reading its results.

``send`` posts a CSV as the raw body (``Content-Type: text/csv``, arguments in the URL, as Postman does) or as a
multipart part named ``file``; ``finished`` runs one pass of the job worker on this thread and then polls
``getMultiResults`` until the job has ended; ``lines`` downloads its result files as a consumer would.
``ten_thousand`` builds a 10,000-row file with some bad rows and what importing it must leave behind.

``im_server`` is a server per backend (a database of its own) that keeps its files in a bucket of moto's S3 and
runs no background workers, so tests decide when a job runs; it allows 1,000 rows per import and cuts result files
at 4 KB.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from moto.server import ThreadedMotoServer

from openplum.services.blobs import s3_client
from openplum.workers.jobs import JobRunner
from tests.conftest import (
    PG_URL,
    ApiClient,
    Server,
    ShiftedClock,
    create_test_app,
    free_port,
    make_settings,
    start_server,
)

MAX_ROWS = 1000


def send(
    api: ApiClient, data: str | bytes | None, how: str = "body", key: str | None = None, **params: Any
) -> httpx.Response:
    """POST an import: the CSV as the raw body or as the multipart part ``file``, or no CSV (``file`` names one)."""
    query = {"appId": api.app.app_id, "clientKey": key or api.app.development, "action": "multi", "createJob": "true",
             **params}
    if data is None:
        return api.http.post("/api", params=query)
    body = data.encode() if isinstance(data, str) else data
    if how == "multipart":
        return api.http.post("/api", params=query, files={"file": ("rows.csv", body, "text/csv")})
    return api.http.post("/api", params=query, content=body, headers={"Content-Type": "text/csv"})


def start(api: ApiClient, data: str | bytes | None, how: str = "body", **params: Any) -> str:
    response = send(api, data, how, **params)
    assert response.status_code == 200, response.text
    item = response.json()["response"][0]
    assert item["success"] is True, item
    assert set(item) == {"success", "jobId"}, item
    job_id: str = item["jobId"]
    return job_id


def refused(api: ApiClient, data: str | bytes | None, status: int = 400, **params: Any) -> str:
    """Send an import that must be refused at once; the error message."""
    response = send(api, data, **params)
    assert response.status_code == status, response.text
    item = response.json()["response"][0]
    assert item["success"] is False, item
    message: str = item["error"]["message"]
    return message


def results(api: ApiClient, job_id: str) -> dict[str, Any]:
    response = api.call("getMultiResults", api.app.development, method="GET", jobId=job_id)
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["response"][0]
    assert item["success"] is True, item
    return item


def run_jobs(api: ApiClient) -> int:
    """One pass of the job worker on this thread's own event loop, against the live store."""
    return asyncio.run(JobRunner(api.server.settings).run_once(api.server.app.store))


def ended(api: ApiClient, job_id: str, timeout: float = 180.0) -> dict[str, Any]:
    run_jobs(api)
    deadline = time.monotonic() + timeout
    while True:
        item = results(api, job_id)
        if item["state"] in ("FINISHED", "FAILED"):
            return item
        assert time.monotonic() < deadline, f"import {job_id} still {item['state']} after {timeout} s"
        time.sleep(0.1)


def finished(api: ApiClient, job_id: str) -> dict[str, Any]:
    item = ended(api, job_id)
    assert item["state"] == "FINISHED", item
    return item


def lines(item: dict[str, Any]) -> list[dict[str, Any]]:
    """Every per-row result of a finished import, fetched as a consumer does (a bare GET of each URL)."""
    out: list[dict[str, Any]] = []
    for url in item["data"]["files"]:
        assert url.startswith("http://"), url
        response = httpx.get(url, timeout=30)
        assert response.status_code == 200, response.text
        out += [json.loads(line) for line in response.text.splitlines()]
    return out


def to_csv(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


@dataclass
class Expected:
    """What importing a generated file must leave behind."""

    events: dict[str, dict[str, tuple[int, float]]] = field(default_factory=dict)
    """user → event → (count, value)."""
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    """row → a fragment of its error message."""
    rows: int = 0

    def track(self, user: str, event: str, value: float) -> None:
        count, total = self.events.setdefault(user, {}).get(event, (0, 0.0))
        self.events[user][event] = (count + 1, total + value)


def ten_thousand(tag: str) -> tuple[str, Expected]:
    """10,000 rows for 500 users: attribute rows and purchases, with an unknown action every 997 rows, a bad
    number every 1,009 rows and a missing user every 1,013 rows."""
    header = ["userId", "action", "event", "value", "params.item", "userAttributes.plan", "userAttributes.city"]
    rows: list[list[Any]] = [header]
    expected = Expected(rows=10_000)
    for number in range(1, 10_001):
        user = f"{tag}-{number % 500}"
        if number % 997 == 0:
            rows.append([user, "fly", "", "", "", "", ""])
            expected.failures[number] = "Unknown action: 'fly'"
        elif number % 1009 == 0:
            rows.append([user, "track", "Purchase", "ten", "", "", ""])
            expected.failures[number] = "Invalid value for parameter 'value'"
        elif number % 1013 == 0:
            rows.append(["", "track", "Purchase", "1", "", "", ""])
            expected.failures[number] = "Missing required parameter: userId"
        elif number % 10 == 0:
            plan, city = ("pro" if number % 20 == 0 else "free"), f"city {number}"
            rows.append([user, "setUserAttributes", "", "", "", plan, city])
            expected.attributes[user] = {"plan": plan, "city": city}
        else:
            rows.append([user, "track", "Purchase", f"{number % 7}.5", f"item-{number % 3}", "", ""])
            expected.track(user, "Purchase", number % 7 + 0.5)
    return to_csv(rows), expected


def check_profiles(api: ApiClient, expected: Expected) -> None:
    for user in sorted(set(expected.events) | set(expected.attributes)):
        profile = api.profile(user)
        assert profile.get("userId") == user, profile
        assert profile["userAttributes"] == expected.attributes.get(user, {}), user
        wanted = expected.events.get(user, {})
        assert {name: e["count"] for name, e in profile["events"].items()} == {n: c for n, (c, _) in wanted.items()}
        assert {name: e["value"] for name, e in profile["events"].items()} == pytest.approx(
            {n: v for n, (_, v) in wanted.items()}), user


# -- a server whose files are in S3 and whose jobs run when a test says so ----------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 in server mode on a free loopback port, with throwaway credentials in the environment."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.delenv("AWS_PROFILE", raising=False)
        yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def im_server(server: Server, s3_endpoint: str) -> Iterator[Server]:
    schema = "openplum_im_" + secrets.token_hex(6)
    pg_url = None
    if server.backend == "postgres":
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        pg_url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    bucket = "openplum-im-" + secrets.token_hex(4)
    s3_client(s3_endpoint, "us-east-1").create_bucket(Bucket=bucket)
    clock = ShiftedClock()
    try:
        with tempfile.TemporaryDirectory(prefix="openplum-test-im-") as tmp:
            settings = make_settings(server.backend, clock, Path(tmp), pg_url, run_workers=False, s3_bucket=bucket,
                                     s3_endpoint_url=s3_endpoint, s3_region="us-east-1", import_max_rows=MAX_ROWS,
                                     export_shard_bytes=4096)
            srv = start_server(settings, clock, server.backend)
            yield srv
            srv.stop()
    finally:
        if pg_url is not None:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def im_api(im_server: Server) -> Iterator[ApiClient]:
    with httpx.Client(base_url=im_server.url, timeout=30) as http:
        yield ApiClient(im_server, create_test_app(im_server), http)


def bucket_object(api: ApiClient, key: str, data: bytes | None = None) -> bytes | None:
    """Put ``data`` at ``key`` of the server's bucket (when given); the object's bytes, None when it has none."""
    settings = api.server.settings
    client = s3_client(settings.s3_endpoint_url, settings.s3_region)
    if data is not None:
        client.put_object(Bucket=settings.s3_bucket, Key=key, Body=data)
    try:
        body: bytes = client.get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    return body


def bucket_keys(api: ApiClient, prefix: str) -> list[str]:
    settings = api.server.settings
    client = s3_client(settings.s3_endpoint_url, settings.s3_region)
    found = client.list_objects_v2(Bucket=settings.s3_bucket, Prefix=prefix)
    return sorted(o["Key"] for o in found.get("Contents", []))
