"""``/files/{appId}/{name}``: the bytes of a stored file, at the signed URL ``downloadFile`` redirects to.

Answers with the file's content type, its MD5 as a strong ETag (``If-None-Match`` → 304), and single byte
ranges (``Range`` → 206, or 416 when the range holds no byte of the file; ``If-Range`` honoured). Bytes stream
from the blob store a chunk at a time, read off the event loop. Uploaded content is served sandboxed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from openplum.http.envelope import encode, error_envelope
from openplum.services import file_urls, files
from openplum.services.blobs import BlobMissing, Blobs, Chunks, blobs_for
from openplum.settings import Settings
from openplum.store.base import Store, Tx
from openplum.store.files import FileRow

log = logging.getLogger("openplum.files")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_ALWAYS: Headers = [
    (b"cache-control", b"no-cache"),  # a name's content can change: revalidate, cheaply, with the ETag
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"sandbox"),  # uploaded HTML or SVG must not run as this server's origin
    (b"access-control-allow-origin", b"*"),
]


class Unsatisfiable(Exception):
    """The Range names no byte of the file."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``[start, end)`` of a single ``bytes=`` range; None to serve the whole file (no, or an unusable, Range)."""
    found = _RANGE.fullmatch(header.strip()) if header else None
    if found is None or found.group(1) == found.group(2) == "":
        return None
    first, last = found.group(1), found.group(2)
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable
    return start, min(int(last) + 1, size) if last else size


def _matches(header: str, etag: str) -> bool:
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def public_base(settings: Settings, scope: Scope, headers: dict[bytes, bytes]) -> str:
    """This server's absolute base URL: ``OPENPLUM_PUBLIC_URL``, else the request's scheme and Host."""
    if settings.public_url:
        return settings.public_url
    server = scope.get("server")
    args = (scope.get("scheme", "http"), headers.get(b"host", b""), tuple(server) if server else None)
    return _base(*args) if len(args[1]) <= _HOST_CACHED else _base.__wrapped__(*args)


_HOST_CACHED = 300
"""The longest Host header whose base URL is kept: a host name and port fit, so a client sending long ones
cannot fill the cache with them."""


@lru_cache(maxsize=256)
def _base(scheme: str, host_header: bytes, server: tuple[str, int | None] | None) -> str:
    """Every ``/api`` request asks, with the few Host values a server is reached by: the check is done once.

    ``server`` is the ASGI scope's: its port is None when the server has none to give (a Unix socket, an
    in-process client)."""
    host = host_header.decode("latin-1")
    if not _HOST.fullmatch(host):
        name, port = server or ("127.0.0.1", 80)
        host = name if port is None else f"{name}:{port}"
    return f"{scheme}://{host}"


def absolute(settings: Settings, scope: Scope, headers: dict[bytes, bytes], location: str) -> str:
    return public_base(settings, scope, headers) + location if location.startswith("/") else location


class FileEndpoint:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    @property
    def blobs(self) -> Blobs:
        return blobs_for(self.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _error(send, 405, "Use GET or HEAD.", [(b"allow", b"GET, HEAD")])
            return
        app_id, _, name = scope["path"].removeprefix(file_urls.PREFIX).partition("/")
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        settings = self.settings

        def look_up(tx: Tx) -> tuple[bytes | None, FileRow | None]:
            return files.served(tx, settings, app_id, name)

        key, row = await self.store.read(look_up)
        now = settings.clock.now()
        if key is None or not file_urls.verify(key, app_id, name, query.get("expires", ""), query.get("sig", ""), now):
            await _error(send, 403, "This file link is invalid or has expired; ask downloadFile for a new one.")
        elif row is None:
            await _error(send, 404, f"File not found: {name!r}")
        else:
            await self._serve(scope, send, row)

    async def _serve(self, scope: Scope, send: Send, row: FileRow) -> None:
        headers = {k.lower(): v.decode("latin-1") for k, v in scope["headers"]}
        etag = f'"{row.md5}"'
        common = [(b"etag", etag.encode()), (b"accept-ranges", b"bytes"), *_ALWAYS]
        if _matches(headers.get(b"if-none-match", ""), etag):
            await _respond(send, 304, common)
            return
        wanted = headers.get(b"range") if headers.get(b"if-range", etag) == etag else None
        try:
            span = byte_range(wanted, row.size)
        except Unsatisfiable:
            await _error(send, 416, "The range holds no byte of the file.",
                         [(b"content-range", f"bytes */{row.size}".encode())])
            return
        start, end = span or (0, row.size)
        status = 206 if span else 200
        common += [(b"content-type", row.content_type.encode()), (b"content-length", str(end - start).encode())]
        if span:
            common.append((b"content-range", f"bytes {start}-{end - 1}/{row.size}".encode()))
        try:
            chunks = await asyncio.to_thread(self.blobs.read, row.storage_key, start, end)
        except BlobMissing:
            log.error("file %r has a row but no blob %s", row.name, row.storage_key)
            await _error(send, 404, f"File not found: {row.name!r}")
            return
        await _respond(send, status, common)
        await _stream(send, chunks, scope["method"] == "HEAD")


async def _stream(send: Send, chunks: Chunks, head: bool) -> None:
    try:
        while not head:
            chunk = await asyncio.to_thread(next, chunks, None)
            if chunk is None:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        await asyncio.to_thread(chunks.close)


async def _respond(send: Send, status: int, headers: Headers) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if status == 304:
        await send({"type": "http.response.body", "body": b""})


async def _error(send: Send, status: int, message: str, extra: Headers | None = None) -> None:
    body = encode(error_envelope(message))
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or []),
    ]})
    await send({"type": "http.response.body", "body": body})
