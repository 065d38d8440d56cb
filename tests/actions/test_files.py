"""``uploadFile`` and ``downloadFile`` (API.md §1.9, §6.5): both upload forms, the limits and checks (each refusal
names the file and stores nothing), replacement, and the redirect ``downloadFile`` answers with."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from openplum.services import files
from openplum.store.base import Tx
from tests.conftest import ApiClient
from tests.uploads import blobs_of, download, fetch, md5, upload, upload_one, uploaded

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def error_of(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.text
    item = response.json()["response"][0]
    assert item["success"] is False, item
    message: str = item["error"]["message"]
    return message


def assert_absent(api: ApiClient, *names: str) -> None:
    for name in names:
        assert download(api, name).status_code == 404, name


# -- uploading --------------------------------------------------------------------------------------------


def test_list_form_stores_every_file_and_each_downloads_with_its_bytes(api: ApiClient) -> None:
    uploaded(api, {"images/logo.png": PNG, "config.json": b'{"a": 1}', "notes": b"plain"})

    for name, data, ctype in [("images/logo.png", PNG, "image/png"), ("config.json", b'{"a": 1}', "application/json"),
                              ("notes", b"plain", "application/octet-stream")]:
        response = fetch(api, name)
        assert response.status_code == 200, name
        assert response.content == data
        assert response.headers["content-type"] == ctype
        assert response.headers["etag"] == f'"{md5(data)}"'


def test_single_file_form(api: ApiClient) -> None:
    response = upload_one(api, "welcome.txt", b"hello")

    assert response.status_code == 200, response.text
    assert response.json()["response"][0]["success"] is True
    assert fetch(api, "welcome.txt").content == b"hello"


def test_android_metadata_shapes_are_accepted(api: ApiClient) -> None:
    """Android sends sizes as strings and an empty hash when it has none; some MD5 hex drops leading zeros."""
    zero_led = next(d for d in (f"asset {i}".encode() for i in range(10_000)) if md5(d).startswith("0"))
    meta = [{"hash": "", "size": "3", "filename": "a.bin"},
            {"hash": md5(zero_led).lstrip("0").upper(), "size": str(len(zero_led)), "filename": "b.bin"}]

    response = upload(api, {"a.bin": b"abc", "b.bin": zero_led}, meta=meta)

    assert response.status_code == 200, response.text
    assert fetch(api, "b.bin").content == zero_led


def test_re_uploading_a_name_replaces_the_file(api: ApiClient) -> None:
    uploaded(api, {"banner.png": PNG})
    uploaded(api, {"banner.png": b"new banner"})

    response = fetch(api, "banner.png")
    assert response.content == b"new banner"
    assert response.headers["etag"] == f'"{md5(b"new banner")}"'


def test_a_replaced_file_s_old_bytes_are_removed_once_the_replacement_has_settled(api: ApiClient) -> None:
    uploaded(api, {"banner.png": PNG})
    uploaded(api, {"banner.png": b"second"})
    assert len(blobs_of(api)) == 2  # the first stays until the replacement has surely committed

    api.server.clock.advance(files.GARBAGE_GRACE + 1)
    uploaded(api, {"other.png": b"third"})

    assert [p.read_bytes() for p in blobs_of(api)].count(PNG) == 0
    assert len(blobs_of(api)) == 2


def test_upload_needs_the_development_key(api: ApiClient) -> None:
    response = upload(api, {"a.png": PNG}, key=api.app.production)

    assert error_of(response, 403).startswith("Invalid access key")
    assert_absent(api, "a.png")


def test_deleted_file_stops_downloading(api: ApiClient) -> None:
    uploaded(api, {"gone.png": PNG})

    def remove(tx: Tx) -> bool:
        return files.delete(tx, api.app.app_id, "gone.png", api.server.clock.now(), "test")

    assert api.server.app.store.run(remove) is True
    assert_absent(api, "gone.png")
    assert api.server.app.store.run(remove) is False


# -- refusals: a clear error naming the file, and nothing stored --------------------------------------------


def test_missing_part_is_refused(api: ApiClient) -> None:
    meta = [{"filename": n, "size": str(len(PNG)), "hash": md5(PNG)} for n in ("one.png", "two.png")]
    response = upload(api, {"one.png": PNG, "two.png": PNG}, meta=meta, parts={"file0": PNG})

    message = error_of(response)
    assert "two.png" in message
    assert "file1" in message
    assert_absent(api, "one.png", "two.png")


def test_part_without_metadata_is_refused(api: ApiClient) -> None:
    response = upload(api, {"one.png": PNG}, parts={"file0": PNG, "file1": PNG})

    assert "file1" in error_of(response)
    assert_absent(api, "one.png")


def test_size_mismatch_is_refused(api: ApiClient) -> None:
    meta = [{"filename": "ok.png", "size": len(PNG), "hash": md5(PNG)},
            {"filename": "short.png", "size": 10, "hash": md5(PNG)}]
    response = upload(api, {"ok.png": PNG, "short.png": PNG}, meta=meta)

    message = error_of(response)
    assert "short.png" in message
    assert "size" in message
    assert_absent(api, "ok.png", "short.png")


def test_hash_mismatch_is_refused(api: ApiClient) -> None:
    meta = [{"filename": "ok.png", "size": len(PNG), "hash": md5(PNG)},
            {"filename": "corrupt.png", "size": len(PNG), "hash": md5(b"something else")}]
    response = upload(api, {"ok.png": PNG, "corrupt.png": PNG}, meta=meta)

    message = error_of(response)
    assert "corrupt.png" in message
    assert "MD5" in message
    assert_absent(api, "ok.png", "corrupt.png")


def test_a_hash_that_is_not_md5_hex_is_refused(api: ApiClient) -> None:
    response = upload_one(api, "a.txt", b"abc", hash="not-a-hash")

    assert "a.txt" in error_of(response)
    assert_absent(api, "a.txt")


def test_more_than_16_files_are_refused(api: ApiClient) -> None:
    many = {f"f{i}.txt": b"x" for i in range(17)}

    message = error_of(upload(api, many))
    assert "17" in message
    assert "16" in message
    assert_absent(api, "f0.txt")


def test_16_files_are_accepted(api: ApiClient) -> None:
    uploaded(api, {f"f{i}.txt": str(i).encode() for i in range(16)})

    assert fetch(api, "f15.txt").content == b"15"


@pytest.mark.parametrize("name", ["../escape.png", "/etc/passwd", "a//b.png", "dir/./x.png", "a\\b.png",
                                  "tab\there.png", "x" * 401, "dir/", ""])
def test_bad_names_are_refused(api: ApiClient, name: str) -> None:
    response = upload(api, {"fine.png": PNG, name: b"data"})

    assert "Invalid file name" in error_of(response)
    assert_absent(api, "fine.png")


def test_a_name_of_400_characters_is_accepted(api: ApiClient) -> None:
    name = "d/" + "x" * 398
    uploaded(api, {name: b"long"})

    assert fetch(api, name).content == b"long"


def test_the_same_name_twice_in_one_upload_is_refused(api: ApiClient) -> None:
    meta = [{"filename": "twin.png", "size": len(PNG), "hash": md5(PNG)}] * 2
    response = upload(api, {"twin.png": PNG, "other": PNG}, meta=meta)

    assert "twin.png" in error_of(response)
    assert_absent(api, "twin.png")


def test_upload_without_files_is_refused(api: ApiClient) -> None:
    query = {"appId": api.app.app_id, "clientKey": api.app.development, "action": "uploadFile"}

    assert "data" in error_of(api.http.post("/api", params=query))
    assert "No file" in error_of(api.http.post("/api", params=query, data={"data": "[]"}))


def test_single_form_without_its_part_is_refused(api: ApiClient) -> None:
    query = {"appId": api.app.app_id, "clientKey": api.app.development, "action": "uploadFile",
             "filename": "lonely.txt", "size": "3"}

    assert "lonely.txt" in error_of(api.http.post("/api", params=query))


def test_metadata_that_is_not_a_list_of_files_is_refused(api: ApiClient) -> None:
    query = {"appId": api.app.app_id, "clientKey": api.app.development, "action": "uploadFile"}
    response = api.http.post("/api", params=query, data={"data": json.dumps({"filename": "x"})},
                             files={"file0": ("x", b"x", "application/octet-stream")})

    assert "'data'" in error_of(response)


# -- downloading ----------------------------------------------------------------------------------------------


def test_download_redirects_to_a_signed_url_that_expires_in_a_day(api: ApiClient) -> None:
    uploaded(api, {"images/logo.png": PNG})

    response = download(api, "images/logo.png")

    assert response.status_code == 302
    assert response.content == b""
    location = urlsplit(response.headers["location"])
    assert location.path == f"/files/{api.app.app_id}/images/logo.png"
    query = parse_qs(location.query)
    assert set(query) == {"expires", "sig"}
    assert int(query["expires"][0]) == pytest.approx(api.server.clock.now() + 86400, abs=5)


def test_download_of_an_unknown_file_is_404_in_the_envelope(api: ApiClient) -> None:
    response = download(api, "nothing-here.png")

    assert response.headers["content-type"] == "application/json"
    assert "nothing-here.png" in error_of(response, 404)


def test_download_with_an_invalid_name_is_400(api: ApiClient) -> None:
    assert "filename" in error_of(download(api, "../secret"))


def test_download_without_a_name_is_400(api: ApiClient) -> None:
    response = api.http.get("/api", params={"appId": api.app.app_id, "clientKey": api.app.production,
                                            "action": "downloadFile"})

    assert "filename" in error_of(response)


def test_download_alone_in_a_batch_redirects(api: ApiClient) -> None:
    uploaded(api, {"a.png": PNG})

    response = api.multi([{"action": "downloadFile", "filename": "a.png"}])

    assert response.status_code == 302
    assert urlsplit(response.headers["location"]).path == f"/files/{api.app.app_id}/a.png"


def test_download_next_to_other_actions_in_a_batch_is_an_error_item(api: ApiClient) -> None:
    uploaded(api, {"a.png": PNG})

    response = api.multi([{"action": "getMigrateState"}, {"action": "downloadFile", "filename": "a.png"}])

    assert response.status_code == 200
    first, second = response.json()["response"]
    assert first["success"] is True
    assert second["success"] is False
    assert "alone" in second["error"]["message"]
