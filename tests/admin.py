"""The management API (``/manage/v1``) as tests drive it, and the content shortcuts the A/B tests share.

``Admin`` holds an admin token made in-process (what ``openplum admin-token create`` does) and an httpx client
that sends it. The shortcuts below define variables the way SDKs do (``setVars`` with the development key), give
them team values, create and start A/B tests, and read many users' content in 50-user batches (the ``multi``
user limit).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from openplum.services import admin_tokens
from tests.conftest import ApiClient, Server

MANAGE = "/manage/v1"
BATCH_USERS = 50


def make_token(server: Server, name: str = "tests") -> str:
    """A fresh admin token, created in the server's store as the CLI would."""
    return server.app.store.run(lambda tx: admin_tokens.create(tx, name, server.clock.now()))


def token_id(token: str) -> str:
    return token.removeprefix(admin_tokens.PREFIX).partition("_")[0]


@dataclass
class Admin:
    server: Server
    token: str
    http: httpx.Client
    """Based at ``/manage/v1``, sending ``Authorization: Bearer <token>``."""

    @property
    def actor(self) -> str:
        """How the audit log names changes made with this token."""
        return f"token:{token_id(self.token)}"

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """Send one request; assert its status; return the decoded JSON."""
        response = self.http.request(method, path, json=body)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def error(self, method: str, path: str, status: int, body: Any = None) -> str:
        """Send one request that must fail with ``status``; return its error message."""
        response = self.http.request(method, path, json=body)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        message: str = response.json()["error"]["message"]
        return message

    def audit(self, app_id: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.ok("GET", f"/apps/{app_id}/audit?limit=1000")["entries"]
        return entries


@contextmanager
def open_admin(server: Server) -> Iterator[Admin]:
    token = make_token(server)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url + MANAGE, headers=headers, timeout=30) as http:
        yield Admin(server, token, http)


# -- content shortcuts ---------------------------------------------------------------------------------


def define(api: ApiClient, values: dict[str, Any], kinds: dict[str, str] | None = None) -> None:
    """``setVars`` with the development key, as an SDK in development mode declares its variables."""
    params: dict[str, Any] = {"vars": values}
    if kinds is not None:
        params["kinds"] = kinds
    api.ok("setVars", api.app.development, **params)


def set_value(admin: Admin, api: ApiClient, name: str, value: Any) -> None:
    admin.ok("PUT", f"/apps/{api.app.app_id}/variables/{name}/value", {"value": value})


def variant(name: str, weight: float, **overrides: Any) -> dict[str, Any]:
    return {"name": name, "weight": weight, "overrides": overrides}


def create_test(admin: Admin, api: ApiClient, variants: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A draft A/B test."""
    test: dict[str, Any] = admin.ok("POST", f"/apps/{api.app.app_id}/ab-tests",
                                    {"name": fields.pop("name", "test"), "variants": variants, **fields}, 201)
    return test


def start_test(admin: Admin, api: ApiClient, variants: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A running A/B test."""
    draft = create_test(admin, api, variants, **fields)
    running: dict[str, Any] = admin.ok("POST", f"/apps/{api.app.app_id}/ab-tests/{draft['id']}/start")
    return running


def variant_ids(test: dict[str, Any]) -> dict[str, int]:
    """The test's variant ids by variant name."""
    return {v["name"]: v["id"] for v in test["variants"]}


def get_vars(api: ApiClient, user_id: str, device_id: str | None = None, **params: Any) -> dict[str, Any]:
    """One ``getVars`` as SDKs send it (``includeDefaults`` false unless given); the response item."""
    params.setdefault("includeDefaults", False)
    if device_id is not None:
        params["deviceId"] = device_id
    return api.ok("getVars", userId=user_id, **params)


def batched(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), BATCH_USERS):
        yield ids[i : i + BATCH_USERS]


def make_users(api: ApiClient, user_ids: list[str], attributes: dict[str, Any] | None = None) -> None:
    """Create the users (``setUserAttributes``), 50 per batch."""
    for chunk in batched(user_ids):
        items = [{"action": "setUserAttributes", "userId": u, "userAttributes": attributes or {"seeded": True}}
                 for u in chunk]
        response = api.multi(items)
        assert response.status_code == 200, response.text
        assert all(a["success"] and "warning" not in a for a in response.json()["response"]), response.text


def assignments(api: ApiClient, user_ids: list[str]) -> dict[str, list[int]]:
    """Each user's A/B variant ids from ``getVars``, read 50 users per batch."""
    out: dict[str, list[int]] = {}
    for chunk in batched(user_ids):
        items = [{"action": "getVars", "userId": u, "includeDefaults": False} for u in chunk]
        response = api.multi(items)
        assert response.status_code == 200, response.text
        answers = response.json()["response"]
        for user_id, answer in zip(chunk, answers, strict=True):
            assert answer["success"] is True, answer
            assert "warning" not in answer, answer
            out[user_id] = [v["id"] for v in answer["variants"]]
    return out
