"""``/files/…``: the signed URL ``downloadFile`` redirects to serves the bytes with the right content type, the MD5
as ETag (``If-None-Match`` → 304) and byte ranges (206 / 416); a wrong, foreign or expired signature is refused."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from openplum.http import files as files_endpoint
from openplum.http.files import Unsatisfiable, absolute, byte_range
from openplum.settings import Settings
from tests.conftest import ApiClient, ShiftedClock, start_server
from tests.uploads import fetch, file_url, md5, uploaded

DATA = bytes(range(256)) * 1024  # 256 KiB: several chunks
NAME = "media/clip.mp4"


@pytest.fixture
def clip(api: ApiClient) -> str:
    uploaded(api, {NAME: DATA})
    return file_url(api, NAME)


# -- the whole file -----------------------------------------------------------------------------------------


def test_serves_the_bytes_with_type_length_and_etag(api: ApiClient, clip: str) -> None:
    response = api.http.get(clip)

    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == f'"{md5(DATA)}"'
    assert response.headers["accept-ranges"] == "bytes"


def test_uploaded_content_cannot_run_as_this_origin(api: ApiClient) -> None:
    uploaded(api, {"page.html": b"<script>alert(1)</script>"})

    response = fetch(api, "page.html")

    assert response.headers["content-type"] == "text/html"
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_head_answers_the_headers_without_the_body(api: ApiClient, clip: str) -> None:
    response = api.http.head(clip)

    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(DATA))
    assert response.content == b""


def test_names_with_spaces_unicode_and_url_characters_round_trip(api: ApiClient) -> None:
    name = "dir/ünï cødé #1?+%20&.png"
    uploaded(api, {name: b"odd"})

    response = fetch(api, name)

    assert response.status_code == 200
    assert response.content == b"odd"
    assert response.headers["content-type"] == "image/png"


def test_an_empty_file_is_served(api: ApiClient) -> None:
    uploaded(api, {"empty.txt": b""})

    response = fetch(api, "empty.txt")

    assert response.status_code == 200
    assert response.content == b""


# -- conditional requests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
def test_if_none_match_with_the_etag_is_304(api: ApiClient, clip: str, given: str) -> None:
    etag = f'"{md5(DATA)}"'

    response = api.http.get(clip, headers={"If-None-Match": given.format(etag=etag)})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag


def test_if_none_match_with_another_etag_serves_the_file(api: ApiClient, clip: str) -> None:
    response = api.http.get(clip, headers={"If-None-Match": '"0123"'})

    assert response.status_code == 200
    assert response.content == DATA


# -- ranges ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-99", 0, 100),
    ("bytes=70000-200000", 70000, 200001),
    ("bytes=262000-", 262000, len(DATA)),
    ("bytes=-100", len(DATA) - 100, len(DATA)),
    ("bytes=100-999999999", 100, len(DATA)),
])
def test_range_is_206_with_those_bytes(api: ApiClient, clip: str, header: str, start: int, end: int) -> None:
    response = api.http.get(clip, headers={"Range": header})

    assert response.status_code == 206
    assert response.content == DATA[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert response.headers["content-length"] == str(end - start)


@pytest.mark.parametrize("header", [f"bytes={len(DATA)}-", "bytes=999999999-", "bytes=-0"])
def test_range_outside_the_file_is_416(api: ApiClient, clip: str, header: str) -> None:
    response = api.http.get(clip, headers={"Range": header})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=5-1", "bytes=0-1,5-9", "items=0-1", "bytes=x-y"])
def test_unusable_range_serves_the_whole_file(api: ApiClient, clip: str, header: str) -> None:
    response = api.http.get(clip, headers={"Range": header})

    assert response.status_code == 200
    assert response.content == DATA


def test_if_range_with_a_stale_etag_serves_the_whole_file(api: ApiClient, clip: str) -> None:
    stale = api.http.get(clip, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    fresh = api.http.get(clip, headers={"Range": "bytes=0-9", "If-Range": f'"{md5(DATA)}"'})

    assert stale.status_code == 200
    assert fresh.status_code == 206


def test_no_range_of_an_empty_file_holds_a_byte() -> None:
    assert byte_range(None, 0) is None
    for header in ("bytes=-1", "bytes=0-"):
        with pytest.raises(Unsatisfiable):
            byte_range(header, 0)


# -- signatures ----------------------------------------------------------------------------------------------


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return f"{parts.path}?{urlencode({**query, **changes})}"


def test_a_tampered_signature_is_403(api: ApiClient, clip: str) -> None:
    sig = parse_qs(urlsplit(clip).query)["sig"][0]
    forged = ("A" if sig[0] != "A" else "B") + sig[1:]

    response = api.http.get(_with(clip, sig=forged))

    assert response.status_code == 403
    assert response.json()["response"][0]["success"] is False


def test_a_longer_expiry_breaks_the_signature(api: ApiClient, clip: str) -> None:
    expires = int(parse_qs(urlsplit(clip).query)["expires"][0])

    assert api.http.get(_with(clip, expires=str(expires + 86400))).status_code == 403


def test_the_signature_is_for_one_file(api: ApiClient, clip: str) -> None:
    uploaded(api, {"media/other.mp4": b"other"})

    assert api.http.get(clip.replace("clip.mp4", "other.mp4")).status_code == 403


def test_no_signature_is_403(api: ApiClient, clip: str) -> None:
    assert api.http.get(urlsplit(clip).path).status_code == 403


def test_an_expired_link_is_403_and_a_new_one_works(api: ApiClient, clip: str) -> None:
    api.server.clock.advance(86400 + 60)

    assert api.http.get(clip).status_code == 403
    assert fetch(api, NAME).content == DATA


def test_a_link_to_a_replaced_file_serves_the_new_content(api: ApiClient, clip: str) -> None:
    uploaded(api, {NAME: b"v2"})

    assert api.http.get(clip).content == b"v2"


def test_only_get_and_head(api: ApiClient, clip: str) -> None:
    response = api.http.post(clip)

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


# -- where redirects point --------------------------------------------------------------------------------------


def test_redirect_uses_the_public_url_when_configured() -> None:
    settings = Settings(data_dir=Path("unused"), public_url="https://files.example.com/openplum")
    scope = {"scheme": "http", "server": ("10.0.0.5", 8080)}

    assert absolute(settings, scope, {b"host": b"internal:8080"}, "/files/a/b?x=1") == (
        "https://files.example.com/openplum/files/a/b?x=1")


def test_redirect_uses_the_request_host_otherwise() -> None:
    settings = Settings(data_dir=Path("unused"))
    scope = {"scheme": "https", "server": ("10.0.0.5", 8080)}

    assert absolute(settings, scope, {b"host": b"api.example.com"}, "/files/a") == "https://api.example.com/files/a"
    assert absolute(settings, scope, {b"host": b"evil.com/x?"}, "/files/a") == "https://10.0.0.5:8080/files/a"
    assert absolute(settings, scope, {}, "https://bucket.example.com/k") == "https://bucket.example.com/k"


def test_the_request_host_is_checked_the_same_however_often_or_long() -> None:
    settings = Settings(data_dir=Path("unused"))
    scope = {"scheme": "https", "server": ["10.0.0.5", 8080]}  # a list, as some ASGI servers give it
    long_name = b"a" * 2000 + b".example.com"

    for _ in range(2):  # the second time from the cache of checked Host values
        assert absolute(settings, scope, {b"host": b"api.example.com:8443"}, "/f") == "https://api.example.com:8443/f"
        assert absolute(settings, scope, {b"host": b"evil.com/x?"}, "/f") == "https://10.0.0.5:8080/f"
    kept = files_endpoint._base.cache_info().currsize
    assert absolute(settings, scope, {b"host": long_name}, "/f") == f"https://{long_name.decode()}/f"
    assert files_endpoint._base.cache_info().currsize == kept  # a long Host header is checked, never kept


def test_a_server_address_without_a_port_gives_a_base_without_one() -> None:
    settings = Settings(data_dir=Path("unused"))
    scope = {"scheme": "http", "server": ("openplum.internal", None)}  # ASGI: no port to give (a Unix socket)

    assert absolute(settings, scope, {b"host": b"bad host"}, "/f") == "http://openplum.internal/f"


# -- the signing secret ---------------------------------------------------------------------------------------


def test_a_link_signed_by_one_process_is_honoured_by_another(api: ApiClient, clip: str) -> None:
    """Without OPENPLUM_SECRET_KEY the generated secret is in the store, which every process shares."""
    settings = api.server.settings.with_overrides(run_workers=False)
    other = start_server(settings, ShiftedClock(), api.server.backend)
    try:
        response = httpx.get(other.url + clip)
    finally:
        other.stop()

    assert response.status_code == 200
    assert response.content == DATA


def test_a_configured_secret_key_signs_instead(api: ApiClient, clip: str) -> None:
    settings = api.server.settings.with_overrides(run_workers=False, secret_key="s3cret-for-tests")
    other = start_server(settings, ShiftedClock(), api.server.backend)
    try:
        with httpx.Client(base_url=other.url) as http:
            theirs = ApiClient(other, api.app, http)
            own_link = http.get(file_url(theirs, NAME))
            foreign_link = http.get(clip)
    finally:
        other.stop()

    assert own_link.content == DATA
    assert foreign_link.status_code == 403
