"""File actions (API.md §1.9, §6.5): ``uploadFile`` (multipart, development key) and ``downloadFile``.

``uploadFile`` takes either the list form (``data`` = JSON list of ``{filename, size, hash}``, parts ``file0``…
matched by index) or the single form (``filename``, ``size``, ``hash`` and a ``file`` part). ``downloadFile``
answers with a redirect to the file, not with JSON.

The upload's bytes are written to the blob store from the write transaction: uploads are rare (SDKs in
development mode syncing their assets), and writing there keeps the rows and the bytes in step.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from openplum.actions.context import ActionContext, Reply
from openplum.actions.params import Common
from openplum.errors import ApiError
from openplum.services import files
from openplum.services.blobs import blobs_for


class FileMeta(msgspec.Struct):
    filename: str
    size: int
    hash: str | None = None


class UploadFileParams(Common):
    data: list[FileMeta] | None = None
    filename: str | None = None
    size: int | None = None
    hash: str | None = None


class DownloadFileParams(Common):
    filename: str


def upload_file(ctx: ActionContext, p: UploadFileParams) -> Reply:
    uploads = files.check(_declared(p, ctx.uploads))
    files.store(ctx.unit.tx, blobs_for(ctx.settings), ctx.settings, ctx.app.app_id, uploads, ctx.now,
                actor=f"api:{ctx.key_class.value}")
    return Reply()


def _declared(p: UploadFileParams, parts: Mapping[str, bytes]) -> list[files.Declared]:
    if p.data is None:
        if p.filename is None:
            raise ApiError("Missing required parameter: data (or filename, size and a 'file' part)")
        if p.size is None:
            raise ApiError("Missing required parameter: size")
        return [files.Declared(p.filename, p.size, p.hash, _part(parts, "file", p.filename))]
    files.check_count(len(p.data))
    unmatched = set(parts) - {f"file{i}" for i in range(len(p.data))}
    if unmatched:
        raise ApiError(f"Part(s) {', '.join(sorted(unmatched))} have no entry in 'data'.")
    return [files.Declared(m.filename, m.size, m.hash, _part(parts, f"file{i}", m.filename))
            for i, m in enumerate(p.data)]


def _part(parts: Mapping[str, bytes], field: str, filename: str) -> bytes:
    data = parts.get(field)
    if data is None:
        raise ApiError(f"File {filename!r}: the request has no part {field!r} with its bytes.")
    return data


def download_file(ctx: ActionContext, p: DownloadFileParams) -> Reply:
    problem = files.name_problem(p.filename)
    if problem:
        raise ApiError(f"Invalid value for parameter 'filename': {problem}.")
    url = files.location(ctx.unit.tx, blobs_for(ctx.settings), ctx.settings, ctx.app.app_id, p.filename, ctx.now)
    if url is None:
        raise ApiError(f"File not found: {p.filename!r}", status=404)
    return Reply(redirect=url)
