"""The management API as an ASGI app (Starlette routing), mounted by ``openplum.app`` under ``/manage/v1``.

Every route but the OpenAPI document needs ``Authorization: Bearer <admin token>``. Errors answer
``{"error": {"message": ...}}`` with 400 (bad input, naming the field), 401, 404 or 409.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from openplum.actions.context import Runtime
from openplum.client_text import NUL_MESSAGE, holds_nul
from openplum.errors import ApiError, RequestRejected
from openplum.http.auth import AppDirectory
from openplum.http.files import public_base
from openplum.manage import jobs as _jobs  # noqa: F401 - registers the job routes on ``routes``
from openplum.manage import limits as _limits  # noqa: F401 - registers the limit routes on ``routes``
from openplum.manage import postbacks as _postbacks  # noqa: F401 - registers the postback routes on ``routes``
from openplum.manage.registry import Call, Route
from openplum.manage.resources import routes
from openplum.services import admin_tokens
from openplum.store.base import Store, Tx

log = logging.getLogger("openplum.manage")
PREFIX = "/manage/v1"


@dataclass(frozen=True)
class Services:
    store: Store
    runtime: Runtime
    directory: AppDirectory


def _json(status: int, value: Any) -> Response:
    return Response(msgspec.json.encode(value), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": {"message": message}})


def build(services: Services) -> Starlette:
    async def http_error(request: Request, exc: Exception) -> Response:
        status = int(getattr(exc, "status_code", 500))
        messages = {404: "No such route.", 405: "Method not allowed."}
        return _error(status, messages.get(status, "Request failed."))

    return Starlette(
        routes=[StarletteRoute(PREFIX + r.path, _endpoint(r, services), methods=[r.method]) for r in routes.routes],
        exception_handlers={404: http_error, 405: http_error},
    )


async def _actor(request: Request, services: Services) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None

    def hashes(tx: Tx) -> dict[str, bytes]:
        return tx.admin_token_hashes()

    token_id = admin_tokens.verify(await services.store.read(hashes), token.strip())
    return f"token:{token_id}" if token_id else None


def _endpoint(route: Route, services: Services) -> Any:
    settings = services.runtime.settings

    async def endpoint(request: Request) -> Response:
        try:
            actor = "anonymous" if route.public else await _actor(request, services)
            if actor is None:
                return _error(401, "An admin token is required: Authorization: Bearer <token>")
            body: Any = None
            if route.body is not None:
                raw = await request.body()
                if len(raw) > settings.max_body_bytes:
                    return _error(413, f"Request body too large (the limit is {settings.max_body_bytes} bytes).")
                try:
                    body = msgspec.json.decode(raw or b"null", type=route.body)
                except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                    return _error(400, f"Invalid body: {exc}")
                except RecursionError:  # how msgspec reports JSON nested deeper than Python's stack allows
                    return _error(400, "Invalid body: JSON is nested too deeply")
            base_url = public_base(settings, dict(request.scope), dict(request.headers.raw))
            call = Call(dict(request.path_params), dict(request.query_params), body, actor,
                        settings.clock.now(), services, base_url)
            if holds_nul([call.path, call.query, msgspec.to_builtins(body)]):
                return _error(400, NUL_MESSAGE)
            result = await route.handler(call)
        except ApiError as exc:
            return _error(exc.status, exc.message)
        except RequestRejected as exc:
            return _error(exc.status, exc.message)
        except Exception:
            log.exception("unhandled error in %s %s", route.method, route.path)
            return _error(500, "Internal server error.")
        return _json(route.status, msgspec.to_builtins(result))

    return endpoint
