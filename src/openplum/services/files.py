"""An app's files (``uploadFile``, ``downloadFile``, the management API): rules, storage, URLs and removal.

Rules (API.md §1.9): up to 16 files and 50 MB per call; each file's size, and its MD5 hash when the client sent
one, must match the bytes; a name is a relative path (``images/logo.png``) of at most 400 characters. A bad
file fails the whole call and nothing is stored.

Bytes go to the blob store under a key of their own before the row that points at them is written, so a
replaced file keeps being served whole until the replacement commits. The blob a replacement or deletion
leaves behind is queued in the same transaction and removed by ``collect_garbage`` once that has committed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mimetypes
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import msgspec

from openplum.errors import ApiError
from openplum.services import file_urls
from openplum.services.blobs import Blobs
from openplum.settings import Settings
from openplum.store.base import Tx
from openplum.store.files import FileRow

log = logging.getLogger("openplum.files")

MAX_FILES = 16
MAX_BYTES = 50 * 1024 * 1024
MAX_NAME = 400
GARBAGE_GRACE = 60.0
"""Seconds a discarded blob is kept: long enough that the change discarding it has committed (a group commit
takes well under a second), so a rolled-back replacement never points at a removed blob."""

_HEX = re.compile(r"^[0-9a-f]{1,32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_MIME = mimetypes.MimeTypes()  # the built-in table only: the same answer on every machine
for _type, _ext in (("font/ttf", ".ttf"), ("font/otf", ".otf"), ("font/woff", ".woff"), ("font/woff2", ".woff2"),
                    ("application/gzip", ".gz")):
    _MIME.add_type(_type, _ext)


@dataclass(frozen=True)
class Declared:
    """A file as the client describes it in ``data`` (or ``filename``/``size``/``hash``) next to its bytes."""

    name: str
    size: int
    hash: str | None
    data: bytes


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes
    md5: str
    content_type: str


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a file (None when it can): never a way out of the app's own files."""
    if not name or len(name) > MAX_NAME:
        return f"a name must be 1-{MAX_NAME} characters"
    if _CONTROL.search(name):
        return "a name must not contain control characters or backslashes"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "a name must be a relative path without empty, '.' or '..' parts"
    return None


def content_type_of(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    strict, loose = _MIME.types_map[True], _MIME.types_map[False]
    return strict.get(suffix) or loose.get(suffix) or "application/octet-stream"


def check_count(count: int) -> None:
    if count == 0:
        raise ApiError("No file to upload: send 'data' with parts file0..fileN, or 'filename' with a 'file' part.")
    if count > MAX_FILES:
        raise ApiError(f"Too many files in one upload: {count} (the limit is {MAX_FILES}).")


def check(files: Sequence[Declared]) -> list[Upload]:
    """The uploads ``files`` describe, or an ``ApiError`` naming the first file that breaks a rule."""
    check_count(len(files))
    total = sum(len(f.data) for f in files)
    if total > MAX_BYTES:
        raise ApiError(f"Files too large: {total} bytes in one upload (the limit is {MAX_BYTES} bytes).")
    seen: set[str] = set()
    return [_check_one(f, seen) for f in files]


def _check_one(f: Declared, seen: set[str]) -> Upload:
    problem = name_problem(f.name)
    if problem:
        raise ApiError(f"Invalid file name {f.name[:MAX_NAME]!r}: {problem}.")
    if f.name in seen:
        raise ApiError(f"File {f.name!r} appears twice in one upload.")
    seen.add(f.name)
    if f.size != len(f.data):
        raise ApiError(f"File {f.name!r}: received {len(f.data)} bytes, but its size was declared as {f.size}.")
    md5 = hashlib.md5(f.data, usedforsecurity=False).hexdigest()
    declared = (f.hash or "").strip().lower()
    if declared:
        if not _HEX.match(declared):
            raise ApiError(f"File {f.name!r}: hash must be the file's MD5 in hexadecimal, got {f.hash!r}.")
        if declared.rjust(32, "0") != md5:  # some clients drop leading zeros of the hex digest
            raise ApiError(f"File {f.name!r}: its MD5 hash is {md5}, but {f.hash} was declared.")
    return Upload(f.name, f.data, md5, content_type_of(f.name))


def store(
    tx: Tx, blobs: Blobs, settings: Settings, app_id: str, uploads: Sequence[Upload], now: float, actor: str
) -> None:
    """Write the bytes, then the rows (replacing files of the same names); on failure remove what was written."""
    file_urls.ensure_key(tx, settings, now)
    written: list[str] = []
    try:
        for upload in uploads:
            key = f"{app_id}/{secrets.token_hex(16)}"
            blobs.put(key, upload.data, upload.content_type)
            written.append(key)
        for upload, key in zip(uploads, written, strict=True):
            _record(tx, app_id, upload, key, now, actor)
    except BaseException:
        for key in written:
            with contextlib.suppress(Exception):  # best effort: an unreferenced blob is only wasted space
                blobs.delete(key)
        raise
    collect_garbage(tx, blobs, now)


def _record(tx: Tx, app_id: str, upload: Upload, key: str, now: float, actor: str) -> None:
    old = tx.get_file(app_id, upload.name)
    tx.put_file(app_id, FileRow(upload.name, len(upload.data), upload.md5, upload.content_type, key, now, now))
    if old is not None:
        tx.discard_blob(old.storage_key, now)
    details = {"size": len(upload.data), "md5": upload.md5, "replaced": old is not None}
    tx.audit(app_id, now, actor, "files.upload", upload.name, msgspec.json.encode(details))


def delete(tx: Tx, app_id: str, name: str, now: float, actor: str) -> bool:
    """Remove the file ``name``; its bytes go with the next ``collect_garbage``. False when there was none."""
    row = tx.get_file(app_id, name)
    if row is None:
        return False
    tx.delete_file(app_id, name)
    tx.discard_blob(row.storage_key, now)
    tx.audit(app_id, now, actor, "files.delete", name, None)
    return True


def collect_garbage(tx: Tx, blobs: Blobs, now: float, limit: int = 32) -> int:
    """Remove blobs discarded more than ``GARBAGE_GRACE`` seconds ago; return how many went."""
    keys = tx.discarded_blobs(now - GARBAGE_GRACE, limit)
    removed: list[str] = []
    for key in keys:
        try:
            blobs.delete(key)
        except Exception:
            log.warning("could not remove discarded blob %s; will retry", key, exc_info=True)
            continue
        removed.append(key)
    tx.forget_discarded(removed)
    return len(removed)


def location(tx: Tx, blobs: Blobs, settings: Settings, app_id: str, name: str, now: float) -> str | None:
    """Where ``downloadFile`` sends the client: a presigned bucket URL, else a signed path on this server.

    None when the app has no such file.
    """
    row = tx.get_file(app_id, name)
    if row is None:
        return None
    url = blobs.presigned_url(row.storage_key, file_urls.LIFETIME)
    return url or file_urls.signed_path(file_urls.signing_key(tx, settings), app_id, name, now)


def served(tx: Tx, settings: Settings, app_id: str, name: str) -> tuple[bytes | None, FileRow | None]:
    """What ``/files/`` needs to answer: the URL signing key (None if none exists yet) and the file's row."""
    try:
        key = file_urls.signing_key(tx, settings)
    except file_urls.NoSigningKey:
        return None, None
    return key, tx.get_file(app_id, name)
