"""Where a CSV import's file comes from, checked and put in the object store before the request's transaction.

A CSV comes as the raw request body (``Content-Type: text/csv``, parameters in the URL, as Postman sends it), as a
multipart part named ``file``, or as ``file`` naming an object in the configured S3 bucket (``OPENPLUM_S3_BUCKET``)
under the app's folder ``imports/<appId>/``: the bucket also holds every app's files and exports, so an app's key
reads only its own folder. Leanplum's ``gcsBucket`` is accepted when it names that bucket; openplum cannot read
Google Cloud Storage. The header is checked here, so a file that cannot be imported is refused at once (400)
rather than failing later as a job.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from openplum.actions.imports import ImportParams, StagedImport
from openplum.actions.prepared import Prepared
from openplum.actions.runner import error_item
from openplum.actions.table import ACTIONS
from openplum.errors import ApiError
from openplum.services.blobs import Blobs, Chunks, S3Blobs, blobs_for
from openplum.services.import_csv import CsvFile, CsvProblem
from openplum.settings import Settings

FOLDER = "imports"
UPLOADS = "import-uploads"
PART = "file"
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def stage(item: Prepared, body: bytes | None, settings: Settings, app_id: str) -> None:
    """Replace the item's parameters by the staged import, or answer the item with why it cannot be imported."""
    try:
        assert isinstance(item.params, ImportParams)
        item.params = _staged(item.params, item.uploads, body, settings, app_id)
    except ApiError as exc:
        item.answer, item.status = error_item(exc.message), exc.status


def _staged(
    p: ImportParams, parts: Mapping[str, bytes], body: bytes | None, settings: Settings, app_id: str
) -> StagedImport:
    default = p.default_action or None
    if default is not None and (default not in ACTIONS or default == "multi"):
        raise ApiError(f"Invalid value for parameter 'defaultAction': unknown action {default!r}")
    stray = sorted(set(parts) - {PART})
    if stray:
        raise ApiError(f"Unexpected file part(s) {', '.join(stray)}: send the CSV as a part named '{PART}'.")
    part = parts.get(PART)
    given = [s for s in (body, part, p.file) if s is not None]
    if len(given) != 1:
        raise ApiError("Send one CSV: as the request body (Content-Type: text/csv), as a multipart part named "
                       "'file', or as 'file' naming an object in the configured bucket.")
    top = _inherited(p, app_id)
    if p.file is not None:
        key, size = _in_bucket(p, settings, app_id)
        return StagedImport(key, size, False, default, top)
    data = body if body is not None else part
    assert data is not None
    if not data.strip():
        raise ApiError("The CSV file is empty.")
    _check_header(_whole(data), default)
    key = f"{UPLOADS}/{app_id}/{secrets.token_hex(16)}.csv"
    try:
        blobs_for(settings).put(key, data, "text/csv")
    except Exception as exc:  # a local disk or an S3 store: each fails in its own way, all retryable
        raise ApiError(f"Could not store the CSV file; try again ({type(exc).__name__}).", status=503) from exc
    return StagedImport(key, len(data), True, default, top)


def _inherited(p: ImportParams, app_id: str) -> dict[str, Any]:
    top: dict[str, Any] = {"appId": app_id, "client": p.client, "sdkVersion": p.sdk_version,
                           "versionName": p.version_name, "devMode": True if p.dev_mode else None}
    return {k: v for k, v in top.items() if v is not None}


def _in_bucket(p: ImportParams, settings: Settings, app_id: str) -> tuple[str, int]:
    bucket = settings.s3_bucket
    if not bucket:
        raise ApiError("'file' names an object in the object store, but no bucket is configured "
                       "(OPENPLUM_S3_BUCKET): send the CSV in the request instead.")
    if p.gcs_bucket and p.gcs_bucket != bucket:
        raise ApiError(f"gcsBucket {p.gcs_bucket!r} is not this server's bucket: openplum cannot read Google Cloud "
                       f"Storage; put the file in the configured bucket {bucket!r} and leave gcsBucket out.")
    key = object_key(app_id, p.file or "")
    blobs = blobs_for(settings)
    size = _size(blobs, key)
    try:
        chunks = blobs.read(key, 0, size)
    except Exception as exc:  # gone since the HEAD, or the store failing
        raise ApiError(f"Could not read {key!r} from bucket {bucket!r}: {exc}", status=503) from exc
    _check_header(chunks, p.default_action or None)
    return key, size


def object_key(app_id: str, name: str) -> str:
    """The key of ``name`` in the app's folder (a name may also be given with the folder)."""
    folder = f"{FOLDER}/{app_id}/"
    relative = name.removeprefix(folder)
    parts = relative.split("/")
    if not relative or any(part in ("", ".", "..") for part in parts) or "\\" in relative or "\x00" in relative:
        raise ApiError(f"Invalid value for parameter 'file': {name!r} is not a relative object name.")
    return folder + relative


def _size(blobs: Blobs, key: str) -> int:
    assert isinstance(blobs, S3Blobs)
    try:
        head = blobs.client.head_object(Bucket=blobs.bucket, Key=key)
    except Exception as exc:  # botocore's ClientError carries the HTTP answer; anything else is the store failing
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            raise ApiError(f"No object {key!r} in bucket {blobs.bucket!r}.", status=404) from None
        raise ApiError(f"Could not read {key!r} from bucket {blobs.bucket!r}: {exc}", status=503) from exc
    return int(head["ContentLength"])


def _whole(data: bytes) -> Chunks:
    yield data


def _check_header(chunks: Chunks, default_action: str | None) -> None:
    try:
        with CsvFile(chunks) as source:
            source.header(default_action)
    except CsvProblem as exc:
        raise ApiError(str(exc)) from None
