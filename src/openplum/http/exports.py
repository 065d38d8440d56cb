"""``/exports/{token}/{name}``: a file an export wrote, at the URL ``getExportResults`` lists.

The random token in the path is the credential (consumers fetch these URLs bare), and the path ends in the
file's Leanplum name (``…-output-0``, ``…-outputsessions-0``) with nothing after it. A file is served for 24 hours
after it was written, uncompressed, with its length and single byte ranges; then it is gone (404).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from openplum.http.envelope import encode, error_envelope
from openplum.http.files import Unsatisfiable, byte_range
from openplum.services.blobs import BlobMissing, Chunks, blobs_for
from openplum.services.export_files import PREFIX
from openplum.settings import Settings
from openplum.store.base import Store, Tx
from openplum.store.export_sql import ExportFileRow

log = logging.getLogger("openplum.exports")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_ALWAYS: Headers = [
    (b"cache-control", b"private, no-store"),  # the URL is the credential: keep it out of shared caches
    (b"x-content-type-options", b"nosniff"),
    (b"access-control-allow-origin", b"*"),
    (b"accept-ranges", b"bytes"),
]


class ExportFileEndpoint:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, "Use GET or HEAD.", [(b"allow", b"GET, HEAD")])
            return
        token, _, name = scope["path"].removeprefix(PREFIX).partition("/")

        def look_up(tx: Tx) -> ExportFileRow | None:
            return tx.get_export_file(token, name)

        usable = token and name and "\x00" not in token + name  # PostgreSQL refuses NUL in a text comparison
        row = await self.store.read(look_up) if usable else None
        if row is None or row.size is None or self.settings.clock.now() >= row.expires:
            await _answer(send, 404, "No such export file: export files are kept for 24 hours.")
            return
        await self._serve(scope, send, row, row.size)

    async def _serve(self, scope: Scope, send: Send, row: ExportFileRow, size: int) -> None:
        headers = {k.lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            span = byte_range(headers.get(b"range"), size)
        except Unsatisfiable:
            await _answer(send, 416, "The range holds no byte of the file.",
                          [(b"content-range", f"bytes */{size}".encode())])
            return
        start, end = span or (0, size)
        out = [*_ALWAYS, (b"content-type", row.content_type.encode()),
               (b"content-disposition", f'attachment; filename="{row.name}"'.encode()),
               (b"content-length", str(end - start).encode())]
        if span:
            out.append((b"content-range", f"bytes {start}-{end - 1}/{size}".encode()))
        try:
            chunks = await asyncio.to_thread(blobs_for(self.settings).read, row.storage_key, start, end)
        except BlobMissing:
            log.error("export file %s/%s has a row but no blob %s", row.token, row.name, row.storage_key)
            await _answer(send, 404, "No such export file.")
            return
        await send({"type": "http.response.start", "status": 206 if span else 200, "headers": out})
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


async def _answer(send: Send, status: int, message: str, extra: Headers | None = None) -> None:
    body = encode(error_envelope(message))
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or []),
    ]})
    await send({"type": "http.response.body", "body": body})
