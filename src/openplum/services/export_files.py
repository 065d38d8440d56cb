"""The files of an export (EXPORT-FORMAT.md §4): cut into shards at a size limit, then served or sent to S3.

Names are Leanplum's: ``export-<appNo>-<uuid>-output-<n>`` for JSON lines, ``export-<appNo>-<uuid>-output<kind>-<n>``
for CSV (each kind sharded on its own, each shard with its header), no extension. A shard is written to a
temporary file (memory stays flat at any size) and cut before it would pass the limit, so a shard exceeds it only
when a single record does.

Served files (the default) go to the blob store and are listed in ``export_files`` before their bytes are written,
so the cleaner finds them even after a crash; they are served at ``/exports/<token>/<name>`` (the random token is
the credential) until 24 hours after they were written, then deleted. With the caller's S3 bucket the shards
are uploaded there instead (gzipped with ``compressData``) and not kept.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from openplum.services.blobs import Blobs, LocalBlobs, S3Blobs
from openplum.services.export_sessions import Db, ExportError
from openplum.settings import Settings
from openplum.store.export_sql import ExportFileRow

LIFETIME = 24 * 3600
PREFIX = "/exports/"
CSV_TYPE, JSON_TYPE = "text/csv; charset=utf-8", "application/x-ndjson"


def temp_dir(settings: Settings) -> Path:
    return settings.data_dir / "tmp" / "exports"


def file_stem(app_id: str) -> str:
    """``export-<appNo>-<uuid>-output``: one per export (and per attempt of it)."""
    app_no = re.sub(r"[^A-Za-z0-9]", "", app_id)[:64] or "app"
    return f"export-{app_no}-{uuid.uuid4()}-output"


def storage_key(token: str, name: str) -> str:
    return f"exports/{token}-{name}"


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def close(self) -> None: ...


class Sink(Protocol):
    def opening(self, name: str, content_type: str) -> None:
        """A shard called ``name`` is about to be written."""
        ...

    def deliver(self, name: str, path: Path, size: int, content_type: str) -> Any:
        """Take the finished shard at ``path`` (the sink may move it away); answer what the result lists."""
        ...


@dataclass
class Served:
    """Shards kept in the blob store and served by openplum at absolute, unguessable URLs."""

    db: Db
    blobs: Blobs
    app_id: str
    job_id: str
    base_url: str
    now: Callable[[], float]
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def opening(self, name: str, content_type: str) -> None:
        now = self.now()
        row = ExportFileRow(self.token, name, self.app_id, self.job_id, storage_key(self.token, name), content_type,
                            None, now, now + LIFETIME)
        self.db.write(lambda tx: tx.add_export_file(row))

    def deliver(self, name: str, path: Path, size: int, content_type: str) -> Any:
        put_file(self.blobs, storage_key(self.token, name), path, content_type)
        self.db.write(lambda tx: tx.complete_export_file(self.token, name, size))
        return f"{self.base_url}{PREFIX}{self.token}/{name}"


def put_file(blobs: Blobs, key: str, path: Path, content_type: str) -> None:
    """Move a finished file into the blob store without reading it into memory."""
    if isinstance(blobs, LocalBlobs):
        target = blobs.root.joinpath(*key.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)  # a rename on the same file system
    elif isinstance(blobs, S3Blobs):
        blobs.client.upload_file(str(path), blobs.bucket, key, ExtraArgs={"ContentType": content_type})
    else:
        blobs.put(key, path.read_bytes(), content_type)


@dataclass
class ToS3:
    """Shards uploaded to the caller's bucket (``s3BucketName``, ``s3ObjectPrefix``) and not kept here."""

    client: Any
    bucket: str
    prefix: str

    def opening(self, name: str, content_type: str) -> None:
        pass

    def key(self, name: str) -> str:
        if not self.prefix or self.prefix.endswith("/"):
            return self.prefix + name
        return f"{self.prefix}/{name}"

    def deliver(self, name: str, path: Path, size: int, content_type: str) -> Any:
        key = self.key(name)
        try:
            self.client.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})
        except Exception as exc:  # boto3 raises a family of its own: each means the copy failed
            raise ExportError(f"Could not write s3://{self.bucket}/{key}: {exc}") from exc
        return {"sourceFile": name, "destFile": key}


def s3_client(settings: Settings, access_id: str, access_key: str) -> Any:
    """A client with the caller's credentials, for ``OPENPLUM_S3_ENDPOINT_URL`` (or AWS) and its region."""
    import boto3  # on first use only: it is slow to import
    from botocore.config import Config

    style = "path" if settings.s3_endpoint_url else "auto"
    session = boto3.session.Session(aws_access_key_id=access_id, aws_secret_access_key=access_key)
    return session.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
                          config=Config(signature_version="s3v4", s3={"addressing_style": style}))


class Shards:
    """One kind of file, cut into shards of at most ``limit`` bytes (before compression)."""

    def __init__(self, output: Output, name: Callable[[int], str], content_type: str, header: bytes = b"") -> None:
        self.output = output
        self.name = name
        self.content_type = content_type
        self.header = header
        self.count = 0
        self._file: _Writable | None = None
        self._raw: _Writable | None = None
        self._path: Path | None = None
        self._size = 0

    def write(self, record: bytes) -> None:
        if self._file is not None and self._size > len(self.header) and self._size + len(record) > self.output.limit:
            self._finish()
        if self._file is None:
            self._open()
        assert self._file is not None
        self._file.write(record)
        self._size += len(record)

    def close(self, *, header_only: bool) -> None:
        """Finish the last shard; with ``header_only``, a kind that got no record still gets its header file."""
        if self._file is None and header_only and self.count == 0:
            self._open()
        if self._file is not None:
            self._finish()

    def discard(self) -> None:
        for handle in (self._file, self._raw):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)
        self._file = self._raw = self._path = None

    def _open(self) -> None:
        name = self.name(self.count)
        self.output.sink.opening(name, self.content_type)
        self.output.tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.output.tmp, prefix=".export-")
        self._path = Path(tmp)
        raw = os.fdopen(fd, "wb")
        self._raw = raw
        self._file = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if self.output.gzip else raw
        self._file.write(self.header)
        self._size = len(self.header)

    def _finish(self) -> None:
        assert self._file is not None
        assert self._raw is not None
        assert self._path is not None
        name, path = self.name(self.count), self._path
        if self._file is not self._raw:
            self._file.close()
        self._raw.close()
        self._file = self._raw = self._path = None
        self.count += 1
        size = path.stat().st_size
        try:
            self.output.files.append(self.output.sink.deliver(name, path, size, self.content_type))
        finally:
            path.unlink(missing_ok=True)
        self.output.num_bytes += size


@dataclass
class Output:
    """Every file of one export, and what its result reports."""

    sink: Sink
    tmp: Path
    limit: int
    gzip: bool = False
    files: list[Any] = field(default_factory=list)
    num_bytes: int = 0
    shards: dict[str, Shards] = field(default_factory=dict)

    def kind(self, key: str, name: Callable[[int], str], content_type: str, header: bytes = b"") -> Shards:
        found = self.shards.get(key)
        if found is None:
            found = self.shards[key] = Shards(self, name, content_type, header)
        return found

    def close(self, *, header_only: bool) -> None:
        for shards in self.shards.values():
            shards.close(header_only=header_only)

    def discard(self) -> None:
        for shards in self.shards.values():
            shards.discard()


def check_limit(limit: int) -> int:
    if limit < 1024:
        raise ExportError(f"The export shard size must be at least 1024 bytes, not {limit}")
    return limit
