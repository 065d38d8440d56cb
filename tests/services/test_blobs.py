"""The blob stores behind files: a directory (the default) and an S3-compatible bucket (moto's S3 on loopback),
with the same behaviour: whole and ranged reads, removal, a clear miss; and openplum end to end on S3, where
``downloadFile`` redirects to a presigned bucket URL."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from moto.server import ThreadedMotoServer

from openplum.services.blobs import BlobMissing, Blobs, LocalBlobs, S3Blobs, s3_client
from tests.conftest import ApiClient, Server, ShiftedClock, create_test_app, free_port, make_settings, start_server
from tests.uploads import download, md5, uploaded

DATA = bytes(range(256)) * 600  # a little over two 64 KiB chunks


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


def new_bucket(endpoint: str) -> str:
    bucket = "openplum-test-" + secrets.token_hex(4)
    s3_client(endpoint, "us-east-1").create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    if request.param == "local":
        return LocalBlobs(tmp_path / "files")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return S3Blobs(s3_client(endpoint, "us-east-1"), new_bucket(endpoint))


def read(blobs: Blobs, key: str, start: int, end: int) -> bytes:
    return b"".join(blobs.read(key, start, end))


def test_what_is_put_reads_back_whole_and_in_ranges(blobs: Blobs) -> None:
    blobs.put("app_1/abc", DATA, "image/png")

    assert read(blobs, "app_1/abc", 0, len(DATA)) == DATA
    assert read(blobs, "app_1/abc", 70_000, 140_001) == DATA[70_000:140_001]
    assert read(blobs, "app_1/abc", 5, 5) == b""


def test_put_replaces_a_key(blobs: Blobs) -> None:
    blobs.put("app_1/k", b"first", "text/plain")
    blobs.put("app_1/k", b"second", "text/plain")

    assert read(blobs, "app_1/k", 0, 6) == b"second"


def test_a_missing_key_is_blob_missing(blobs: Blobs) -> None:
    with pytest.raises(BlobMissing):
        blobs.read("app_1/none", 0, 10)


def test_delete_removes_and_tolerates_a_missing_key(blobs: Blobs) -> None:
    blobs.put("app_1/gone", b"x", "text/plain")

    blobs.delete("app_1/gone")
    blobs.delete("app_1/gone")

    with pytest.raises(BlobMissing):
        blobs.read("app_1/gone", 0, 1)


def test_closing_a_read_early_releases_it(blobs: Blobs) -> None:
    blobs.put("app_1/big", DATA, "application/octet-stream")
    chunks = blobs.read("app_1/big", 0, len(DATA))

    assert len(next(chunks)) > 0
    chunks.close()
    assert read(blobs, "app_1/big", 0, 3) == DATA[:3]


@pytest.mark.parametrize("key", ["../outside", "app/../../x", "/abs", "a//b", "a\\b", "."])
def test_local_keys_cannot_leave_the_directory(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        LocalBlobs(tmp_path / "files").put(key, b"x", "text/plain")
    assert list(tmp_path.rglob("*")) in ([], [tmp_path / "files"])


def test_local_blobs_are_served_by_openplum_and_s3_blobs_by_the_bucket(s3_endpoint: str, tmp_path: Path) -> None:
    assert LocalBlobs(tmp_path).presigned_url("a/b", 60) is None
    s3 = S3Blobs(s3_client(s3_endpoint, "us-east-1"), new_bucket(s3_endpoint))
    s3.put("app_1/logo", DATA, "image/png")

    url = s3.presigned_url("app_1/logo", 60)

    assert url is not None
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-type"] == "image/png"


# -- openplum with its files in S3 -------------------------------------------------------------------------------


@pytest.fixture
def s3_api(server: Server, s3_endpoint: str, request: pytest.FixtureRequest) -> Iterator[ApiClient]:
    """A server of the same backend as ``server`` whose files go to a fresh bucket of the moto S3."""
    pg_url = request.getfixturevalue("pg_schema_url") if server.backend == "postgres" else None
    clock = ShiftedClock()
    bucket = new_bucket(s3_endpoint)
    with tempfile.TemporaryDirectory(prefix="openplum-test-s3-") as tmp:
        settings = make_settings(server.backend, clock, Path(tmp), pg_url, s3_bucket=bucket,
                                 s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
        srv = start_server(settings, clock, server.backend)
        try:
            with httpx.Client(base_url=srv.url, timeout=30) as http:
                yield ApiClient(srv, create_test_app(srv), http)
        finally:
            srv.stop()


def test_with_a_bucket_files_go_to_s3_and_downloads_redirect_there(s3_api: ApiClient, s3_endpoint: str) -> None:
    uploaded(s3_api, {"images/logo.png": DATA, "a.json": b"{}"})

    response = download(s3_api, "images/logo.png")

    assert response.status_code == 302
    location: str = response.headers["location"]
    assert location.startswith(s3_endpoint + "/")
    fetched = httpx.get(location)
    assert fetched.content == DATA
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.headers["etag"].strip('"') == md5(DATA)
    assert not (s3_api.server.settings.data_dir / "files").exists()
