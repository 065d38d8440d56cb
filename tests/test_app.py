"""The ASGI application outside ``/api``'s actions: ``/health``, and what a failing store looks like to clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import httpx

from openplum.app import OpenplumApp
from openplum.errors import Overloaded, StoreUnavailable
from openplum.settings import Settings
from openplum.store.base import AppRecord, Tx
from tests.conftest import Server

T = TypeVar("T")

APP = AppRecord("app_fake", "fake", "prod_fake", "dev_fake", "exp_fake", "cro_fake", 0.0)


class FailingStore:
    """A store whose reads and writes fail the way the real ones do when the database is gone or saturated; it
    notes the users each write names."""

    backend = "fake"

    def __init__(self, read_error: Exception | None = None, write_error: Exception | None = None) -> None:
        self.read_error = read_error
        self.write_error = write_error
        self.users: list[list[tuple[str, str]]] = []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def read(self, fn: Callable[[Tx], T]) -> T:
        if self.read_error is not None:
            raise self.read_error
        return fn(_OneAppTx())  # type: ignore[arg-type]

    async def write(self, fn: Callable[[Tx], T], *, users: Collection[tuple[str, str]] = ()) -> T:
        self.users.append(list(users))
        if self.write_error is not None:
            raise self.write_error
        return fn(_OneAppTx())  # type: ignore[arg-type]

    def run(self, fn: Callable[[Tx], T]) -> T:
        raise NotImplementedError


class _OneAppTx:
    def get_app(self, app_id: str) -> AppRecord | None:
        return APP if app_id == APP.app_id else None

    def ping(self) -> None:
        pass


def request(store: FailingStore, method: str, path: str, **kwargs: Any) -> httpx.Response:
    app = OpenplumApp(Settings(data_dir=Path("unused")), store=store)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # dict scopes vs MutableMapping
        async with httpx.AsyncClient(transport=transport, base_url="http://openplum.test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(send())


# -- /health -------------------------------------------------------------------------------------------


def test_health_is_200_when_the_store_answers(server: Server) -> None:
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok"}


def test_health_answers_head(server: Server) -> None:
    assert httpx.head(f"{server.url}/health").status_code == 200


def test_health_is_503_when_the_store_is_unreachable() -> None:
    response = request(FailingStore(read_error=StoreUnavailable()), "GET", "/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def test_health_is_503_whatever_the_store_raises() -> None:
    response = request(FailingStore(read_error=ConnectionRefusedError("no route")), "GET", "/health")
    assert response.status_code == 503


def test_health_is_200_with_a_store_that_answers() -> None:
    assert request(FailingStore(), "GET", "/health").status_code == 200


# -- /api with a failing store: retryable, so SDKs keep their batches ----------------------------------


def _api_item(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    items = response.json()["response"]
    assert len(items) == 1
    item: dict[str, Any] = items[0]
    assert item["success"] is False
    return item


def test_api_is_503_when_the_store_is_unreachable() -> None:
    params = {"appId": APP.app_id, "clientKey": APP.production_key, "action": "getMigrateState"}
    response = request(FailingStore(read_error=StoreUnavailable()), "GET", "/api", params=params)
    assert response.status_code == 503
    assert _api_item(response)["error"]["message"] == StoreUnavailable().message


def test_api_is_503_not_429_when_the_writer_is_overloaded() -> None:
    params = {"appId": APP.app_id, "clientKey": APP.production_key, "action": "track", "userId": "u", "event": "E"}
    response = request(FailingStore(write_error=Overloaded()), "POST", "/api", params=params)
    assert response.status_code == 503
    assert _api_item(response)["error"]["message"] == Overloaded().message


def test_api_batch_is_503_when_its_commit_fails() -> None:
    body = {"appId": APP.app_id, "clientKey": APP.production_key, "action": "multi",
            "data": [{"action": "track", "userId": "u", "event": "E"}, {"action": "getMigrateState"}]}
    response = request(FailingStore(write_error=StoreUnavailable()), "POST", "/api", json=body)
    assert response.status_code == 503, "no item may be acknowledged when its writes are not durable"
    _api_item(response)


def test_api_batch_names_the_users_it_writes_to_the_store() -> None:
    """The store locks them for the batch's whole commit group before any batch of it runs (``Store.write``)."""
    body = {"appId": APP.app_id, "clientKey": APP.production_key, "action": "multi",
            "data": [{"action": "track", "userId": "u2", "event": "E"}, {"action": "track", "userId": "u1"},
                     {"action": "advance", "userId": "u2", "state": "S"}, {"action": "getMigrateState"},
                     {"action": "setUserAttributes", "deviceId": "d9", "newUserId": "u3"}]}
    store = FailingStore(write_error=StoreUnavailable())
    request(store, "POST", "/api", json=body)
    assert store.users == [[(APP.app_id, user) for user in ("u2", "u1", "d9", "u3")]]


def test_unexpected_error_is_500_in_leanplum_shape() -> None:
    params = {"appId": APP.app_id, "clientKey": APP.production_key, "action": "getMigrateState"}
    response = request(FailingStore(read_error=ZeroDivisionError()), "GET", "/api", params=params)
    assert response.status_code == 500
    assert _api_item(response)["error"]["message"] == "Internal server error."
