"""What the export tests share: a server made for exports, a local S3, and the consumer's side of an export.

``ex_server`` is a server per backend (a database of its own, so its clock can be moved freely) whose settings
cut export files at 2 KB (so every export has several shards), allow callbacks to 127.0.0.1, cap each kind of
export at 4 per app and day, and send S3 exports to moto's S3 on loopback (``s3``). The helpers do what a
consumer does: start an export, poll ``getExportResults`` until it ends, download each file with a plain GET.
Test modules import the fixtures they use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import httpx
import psycopg
import pytest
from moto.server import ThreadedMotoServer

from openplum.workers.export_jobs import ExportCleaner
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

SHARD_BYTES = 2048
PER_DAY = 4
PACIFIC = ZoneInfo("America/Los_Angeles")
JSON_NAME = r"^.*/export-.*-output-([0-9]+)$"
CSV_NAME = r"^.*/export-.*-output([a-z0-9]+)-([0-9]+)$"


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """moto's S3 in server mode on a free loopback port; its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.session.Session(aws_access_key_id="id", aws_secret_access_key="secret").client(
        "s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture(scope="module")
def ex_server(server: Server, s3: str) -> Iterator[Server]:
    schema = "openplum_ex_" + secrets.token_hex(6)
    pg_url = None
    if server.backend == "postgres":
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        pg_url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    clock = ShiftedClock()
    try:
        with tempfile.TemporaryDirectory(prefix="openplum-test-ex-") as tmp:
            settings = make_settings(server.backend, clock, Path(tmp), pg_url, outbound_allow=("127.0.0.1/32",),
                                     export_shard_bytes=SHARD_BYTES, exports_per_day=PER_DAY, s3_endpoint_url=s3,
                                     s3_region="us-east-1")
            srv = start_server(settings, clock, server.backend)
            yield srv
            srv.stop()
    finally:
        if pg_url is not None:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def ex_api(ex_server: Server) -> Iterator[ApiClient]:
    with httpx.Client(base_url=ex_server.url, timeout=30) as http:
        yield ApiClient(ex_server, create_test_app(ex_server), http)


def day(api: ApiClient, offset_days: int = 0) -> str:
    """``YYYYMMDD`` of the server's today (its clock may have been moved) in Pacific time, plus ``offset_days``."""
    now = dt.datetime.fromtimestamp(api.server.clock.now(), PACIFIC) + dt.timedelta(days=offset_days)
    return now.strftime("%Y%m%d")


def around_now(api: ApiClient) -> dict[str, str]:
    """A date window that holds everything sent in the last day, whatever the time of day."""
    return {"startDate": day(api, -1), "endDate": day(api, 1)}


def start(api: ApiClient, action: str = "exportData", method: str = "GET", **params: Any) -> str:
    response = api.call(action, api.app.data_export, method=method, **params)
    assert response.status_code == 200, response.text
    item = response.json()["response"][0]
    assert item["success"] is True, item
    job_id: str = item["jobId"]
    return job_id


def results(api: ApiClient, job_id: str) -> dict[str, Any]:
    response = api.call("getExportResults", api.app.data_export, method="GET", jobId=job_id)
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["response"][0]
    return item


def wait(api: ApiClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll ``getExportResults`` until the job has ended; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        item = results(api, job_id)
        if item["state"] in ("FINISHED", "FAILED"):
            return item
        assert time.monotonic() < deadline, f"job {job_id} still {item['state']} after {timeout} s"
        time.sleep(0.1)


def finished(api: ApiClient, job_id: str) -> dict[str, Any]:
    item = wait(api, job_id)
    assert item["state"] == "FINISHED", item
    return item


def fetch(url: str) -> httpx.Response:
    """A consumer's download: a bare GET, no credentials, redirects followed."""
    return httpx.get(url, follow_redirects=True, timeout=30)


def download(url: str) -> bytes:
    response = fetch(url)
    assert response.status_code == 200, (url, response.status_code, response.text)
    assert "content-encoding" not in response.headers
    return response.content


def clean(api: ApiClient) -> int:
    """One pass of the export-file cleaner against the server's store."""
    return asyncio.run(ExportCleaner(api.server.settings).run_once(api.server.app.store))
