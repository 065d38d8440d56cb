"""Where file bytes live: a directory under the data directory (default) or an S3-compatible bucket.

Keys are chosen by ``services.files``: a key is written once and never rewritten, so a reader never sees a
half-replaced file, and a failed transaction leaves at worst an unreferenced blob, never a broken file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any, Protocol

from openplum.settings import Settings

CHUNK = 64 * 1024
Chunks = Generator[bytes, None, None]
"""A blob's bytes, a chunk at a time; ``close()`` releases the file or connection early."""


class BlobMissing(LookupError):
    """The blob store has nothing under the key."""


class Blobs(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def read(self, key: str, start: int, end: int) -> Chunks:
        """The bytes ``[start, end)`` in chunks; raises ``BlobMissing`` before the first chunk."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; a key that is already gone is fine."""
        ...

    def presigned_url(self, key: str, expires_in: int) -> str | None:
        """A URL clients may fetch the blob from directly, or None when openplum serves the bytes itself."""
        ...


class LocalBlobs:
    """Blobs as files under ``root``; each written to a temporary file, synced, then renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
            raise ValueError(f"unsafe blob key {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, key: str, start: int, end: int) -> Chunks:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise BlobMissing(key) from None
        return _chunks_of(handle, start, end)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def presigned_url(self, key: str, expires_in: int) -> str | None:
        return None


def _chunks_of(handle: Any, start: int, end: int) -> Chunks:
    with handle:
        handle.seek(start)
        left = end - start
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


class S3Blobs:
    """Blobs as objects of one bucket; downloads go to the bucket directly through presigned URLs."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client  # a boto3 S3 client: thread-safe, shared by every request of the process
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> None:
        # The bucket checks the bytes against this hash on arrival.
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, ContentMD5=digest)

    def read(self, key: str, start: int, end: int) -> Chunks:
        if end <= start:
            return _stream(None)
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")
        except self.client.exceptions.NoSuchKey:
            raise BlobMissing(key) from None
        return _stream(got["Body"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def presigned_url(self, key: str, expires_in: int) -> str | None:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url


def _stream(body: Any) -> Chunks:
    if body is None:
        return
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def s3_client(endpoint_url: str | None, region: str | None) -> Any:
    import boto3  # on first use only: it is slow to import, and local storage never needs it
    from botocore.config import Config

    # Path-style addressing: S3-compatible stores (MinIO, moto, Ceph) rarely resolve bucket sub-domains.
    style = "path" if endpoint_url else "auto"
    config = Config(signature_version="s3v4", s3={"addressing_style": style})
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


_opened: dict[tuple[Path, str | None, str | None, str | None], Blobs] = {}
_lock = threading.Lock()


def blobs_for(settings: Settings) -> Blobs:
    """The process's blob store for these settings (S3 clients are costly to build; one is shared)."""
    key = (settings.data_dir, settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region)
    with _lock:
        blobs = _opened.get(key)
        if blobs is None:
            if settings.s3_bucket:
                blobs = S3Blobs(s3_client(settings.s3_endpoint_url, settings.s3_region), settings.s3_bucket)
            else:
                blobs = LocalBlobs(settings.data_dir / "files")
            _opened[key] = blobs
    return blobs
