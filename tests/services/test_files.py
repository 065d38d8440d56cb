"""Upload rules that the HTTP body limit hides from the public API: the 50 MB total is checked by the service
too, so raising ``OPENPLUM_MAX_UPLOAD_BYTES`` does not raise it; and content types come from the name alone."""

from __future__ import annotations

import hashlib

import pytest

from openplum.errors import ApiError
from openplum.services import files


def declared(name: str, data: bytes) -> files.Declared:
    return files.Declared(name, len(data), hashlib.md5(data).hexdigest(), data)


def test_more_than_50_mb_in_one_upload_is_refused() -> None:
    half = b"x" * (files.MAX_BYTES // 2)

    with pytest.raises(ApiError, match="limit is 52428800 bytes"):
        files.check([declared("a.bin", half), declared("b.bin", half), declared("c.bin", b"y")])


def test_exactly_50_mb_is_accepted() -> None:
    half = b"x" * (files.MAX_BYTES // 2)

    assert [u.name for u in files.check([declared("a.bin", half), declared("b.bin", half)])] == ["a.bin", "b.bin"]


@pytest.mark.parametrize(("name", "expected"), [
    ("logo.PNG", "image/png"), ("dir/photo.jpg", "image/jpeg"), ("a.webp", "image/webp"),
    ("font.woff2", "font/woff2"), ("data.json", "application/json"), ("README", "application/octet-stream"),
    ("archive.tar.gz", "application/gzip"),
])
def test_content_type_comes_from_the_extension(name: str, expected: str) -> None:
    assert files.content_type_of(name) == expected
