"""The ASGI application: ``/api`` (the Leanplum contract), ``/health``, and the lifespan of store and workers.

``/api`` is plain ASGI on purpose: it is the hot path, and a framework's routing and request objects cost more
than the whole of parsing a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from openplum import collector, logs
from openplum.actions.context import Runtime
from openplum.errors import RequestRejected
from openplum.http.api import Api, location_of
from openplum.http.auth import AppDirectory
from openplum.http.cors import cors_headers
from openplum.http.envelope import encode, error_envelope
from openplum.http.exports import ExportFileEndpoint
from openplum.http.files import FileEndpoint, absolute, public_base
from openplum.http.transport import parse_query, parse_request
from openplum.manage import app as manage_app
from openplum.services.catalog import NameCatalog
from openplum.services.snapshot import ContentCache
from openplum.settings import Settings
from openplum.store import open_store
from openplum.store.base import Store, Tx
from openplum.workers.runner import WorkerRunner, default_workers

log = logging.getLogger("openplum")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = (b"content-type", b"application/json")


class OpenplumApp:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store: Store = store or open_store(settings)
        self.directory = AppDirectory(self.store)
        self.runtime = Runtime(settings, NameCatalog(), ContentCache())
        self.api = Api(self.runtime, self.store, self.directory)
        self.files = FileEndpoint(settings, self.store)
        self.workers = WorkerRunner(settings, self.store, default_workers(settings, self.runtime.content))
        self.manage = manage_app.build(manage_app.Services(self.store, self.runtime, self.directory))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.store.start()
                    if self.settings.run_workers:
                        self.workers.start()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.workers.stop()
                await self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        headers = dict(scope["headers"])
        if path in ("/api", "/api/"):
            origin = headers.get(b"origin")
            if method == "OPTIONS":
                cors = cors_headers(origin, headers.get(b"access-control-request-headers", b""))
                await _respond(send, 204, b"", cors)
            elif method in ("GET", "POST"):
                status, body, content = await self._api(scope, receive, headers)
                await _respond(send, status, body, [*content, *cors_headers(origin)])
            else:
                await _respond(send, 405, encode(error_envelope("Use GET or POST.")), [_JSON])
        elif path.startswith(manage_app.PREFIX + "/"):
            await self.manage(scope, receive, send)  # type: ignore[arg-type]
        elif path == "/health" and method in ("GET", "HEAD"):
            await self._health(send)
        elif path.startswith("/files/"):
            await self.files(scope, receive, send)
        elif path.startswith("/exports/"):
            await ExportFileEndpoint(self.settings, self.store)(scope, receive, send)
        else:
            await _respond(send, 404, encode(error_envelope("Not found.")), [_JSON])

    async def _api(
        self, scope: Scope, receive: Receive, headers: dict[bytes, bytes]
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """Status, body and content headers: JSON, or an empty body with a Location (``downloadFile``)."""
        try:
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            query = parse_query(scope["query_string"], self.settings.max_params)
            framed = b"content-length" in headers or b"transfer-encoding" in headers
            body = await _read_body(receive, headers, self._body_limit(query, content_type)) if framed else b""
            request = parse_request(scope["query_string"], content_type, body, self.settings.max_params, query)
            request.base_url = public_base(self.settings, scope, headers)  # export file URLs are absolute
            status, envelope = await self.api.handle(request)
            location = location_of(status, envelope)
            if location is not None:
                return status, b"", [(b"location", absolute(self.settings, scope, headers, location).encode())]
        except RequestRejected as exc:
            status, envelope = exc.status, error_envelope(exc.message)
        except Exception:
            log.exception("unhandled error in /api")
            status, envelope = 500, error_envelope("Internal server error.")
        return status, encode(envelope), [_JSON]

    def _body_limit(self, query: dict[str, Any], content_type: str) -> int:
        uploading = content_type.lower().startswith(("multipart/", "text/csv", "application/csv"))  # CSV imports too
        if uploading or query.get("action") == "uploadFile":
            return self.settings.max_upload_bytes
        return self.settings.max_body_bytes

    async def _health(self, send: Send) -> None:
        def ping(tx: Tx) -> None:
            tx.ping()

        try:
            await self.store.read(ping)
        except Exception:
            await _respond(send, 503, b'{"status":"unavailable"}', [_JSON])
            return
        await _respond(send, 200, b'{"status":"ok"}', [_JSON])


class ClientGone(RequestRejected):
    def __init__(self) -> None:
        super().__init__(400, "The client disconnected before sending the whole request.")


async def _read_body(receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
    """The request's body. Called only for a request that declares one (``Content-Length`` or
    ``Transfer-Encoding``): HTTP/1.1 gives any other request (an SDK's GET) an empty body without asking."""
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestRejected(413, f"Request body too large (the limit is {limit} bytes).")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # The client went away before sending the whole body: run nothing of what did arrive (a
            # truncated form or batch would otherwise apply part of a request). It will resend.
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestRejected(413, f"Request body too large (the limit is {limit} bytes).")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None) -> OpenplumApp:
    """The app as ``openplum serve`` builds it in each of its processes: logging as the server does (``logs``),
    with the garbage collector set for serving (``collector``)."""
    from openplum.settings import from_env

    logs.configure_worker()
    app = OpenplumApp(settings or from_env())
    collector.settle()
    return app
