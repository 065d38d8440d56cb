"""The route registry: each management route's method, path, types and handler, and the OpenAPI it implies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec


@dataclass
class Call:
    """One management request as a handler sees it: path parameters, the decoded body, who is asking."""

    path: dict[str, str]
    query: dict[str, str]
    body: Any
    actor: str
    now: float
    services: Any
    """``manage.app.Services``: the store, the runtime, the app directory."""
    base_url: str | None = None
    """This server's absolute base URL as the request reached it (the file URLs of exports started here)."""


Handler = Callable[[Call], Awaitable[Any]]
QueryParam = str | tuple[str, Any]
"""A query parameter: its name (a string), or its name and the Python type its value must read as (``int``)."""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    handler: Handler
    tag: str
    body: Any = None
    response: Any = None
    status: int = 200
    query: tuple[QueryParam, ...] = ()
    public: bool = False


@dataclass
class Registry:
    routes: list[Route] = field(default_factory=list)

    def add(self, method: str, path: str, summary: str, tag: str, *, body: Any = None, response: Any = None,
            status: int = 200, query: tuple[QueryParam, ...] = (), public: bool = False,
            ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, summary, handler, tag, body, response, status, query, public))
            return handler

        return register


class ErrorBody(msgspec.Struct):
    message: str


class ErrorResponse(msgspec.Struct):
    error: ErrorBody


def openapi(registry: Registry, prefix: str, version: str) -> dict[str, Any]:
    types = [ErrorResponse]
    for route in registry.routes:
        types += [t for t in (route.body, route.response) if t is not None]
    schemas, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    by_type = dict(zip(types, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in registry.routes:
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in _path_names(route.path)]
        params += [_query_param(q) for q in route.query]
        error = {"content": {"application/json": {"schema": by_type[ErrorResponse]}}}
        responses: dict[str, Any] = {
            str(route.status): {"description": "OK"} if route.response is None else {
                "description": "OK", "content": {"application/json": {"schema": by_type[route.response]}}},
            "400": {"description": "Bad input", **error},
            "404": {"description": "Not found", **error},
            "409": {"description": "Conflict", **error},
        }
        slug = _openapi_path(route.path).strip("/").replace("/", "_")
        operation_id = f"{route.method.lower()}_{slug}".replace("{", "").replace("}", "").replace("-", "_")
        op: dict[str, Any] = {"summary": route.summary, "tags": [route.tag], "parameters": params,
                              "responses": responses, "operationId": operation_id}
        if not route.public:
            op["responses"]["401"] = {"description": "Missing or invalid admin token", **error}
            op["security"] = [{"adminToken": []}]
        if route.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": by_type[route.body]}}}
        paths.setdefault(prefix + _openapi_path(route.path), {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "openplum management API", "version": version},
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}}},
    }


def _query_param(param: QueryParam) -> dict[str, Any]:
    name, typ = (param, str) if isinstance(param, str) else param
    return {"name": name, "in": "query", "required": False, "schema": msgspec.json.schema(typ)}


def _path_names(path: str) -> list[str]:
    return [p[1:-1].split(":")[0] for p in path.split("/") if p.startswith("{") and p.endswith("}")]


def _openapi_path(path: str) -> str:
    """Starlette's ``{name:path}`` (a parameter that may contain '/') is plain ``{name}`` in OpenAPI."""
    return "/".join(f"{{{p[1:-1].split(':')[0]}}}" if p.startswith("{") else p for p in path.split("/"))
