"""Apps and their keys through the management API: create (chosen or generated id and keys), read, list, and
rotate a key, which the Leanplum API stops accepting at once."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.admin import Admin
from tests.conftest import ApiClient

KEY_CLASSES = ("production", "development", "dataExport", "contentReadOnly")


def _start(admin: Admin, app_id: str, key: str) -> httpx.Response:
    """A ``start`` for a fresh user with ``key`` against the app, straight to ``/api``."""
    with httpx.Client(base_url=admin.server.url, timeout=30) as http:
        return http.post("/api", params={"appId": app_id, "clientKey": key, "action": "start",
                                         "userId": "u-" + secrets.token_hex(4)})


def _new_id() -> str:
    return "app_" + secrets.token_hex(8)


def test_create_an_app_with_a_chosen_id_and_keys(admin: Admin) -> None:
    app_id = _new_id()
    keys = {k: f"{k[:4]}_{secrets.token_hex(8)}" for k in KEY_CLASSES}

    created = admin.ok("POST", "/apps", {"name": "Shop", "appId": app_id, "keys": keys}, 201)

    assert created == {"appId": app_id, "name": "Shop", "created": created["created"], "keys": keys}
    assert admin.ok("GET", f"/apps/{app_id}") == created
    assert _start(admin, app_id, keys["production"]).json()["response"][0]["success"] is True


def test_create_an_app_with_a_generated_id_and_keys(admin: Admin) -> None:
    created = admin.ok("POST", "/apps", {"name": "Generated"}, 201)

    assert created["appId"].startswith("app_")
    keys = created["keys"]
    assert set(keys) == set(KEY_CLASSES)
    assert keys["production"].startswith("prod_")
    assert keys["development"].startswith("dev_")
    assert len(set(keys.values())) == 4
    assert all(len(k) > 30 for k in keys.values())
    assert created in admin.ok("GET", "/apps")["apps"]
    assert _start(admin, created["appId"], keys["production"]).json()["response"][0]["success"] is True


def test_some_keys_chosen_the_others_generated(admin: Admin) -> None:
    created = admin.ok("POST", "/apps", {"name": "Mixed", "keys": {"production": "prod_chosen_" + _new_id()}}, 201)

    assert created["keys"]["production"].startswith("prod_chosen_")
    assert created["keys"]["development"].startswith("dev_")


def test_an_app_id_that_exists_is_a_conflict_and_changes_nothing(admin: Admin, api: ApiClient) -> None:
    message = admin.error("POST", "/apps", 409, {"name": "Again", "appId": api.app.app_id})

    assert api.app.app_id in message
    after = admin.ok("GET", f"/apps/{api.app.app_id}")
    assert after["name"] == "test"
    assert after["keys"]["production"] == api.app.production
    assert [e for e in admin.audit(api.app.app_id) if e["action"] == "app.create"] == []


@pytest.mark.parametrize(("body", "named"), [
    ({"name": ""}, "name"),
    ({"name": "x", "appId": "has space"}, "app id"),
    ({"name": "x", "appId": ""}, "app id"),  # empty is not "choose one for me": that is leaving it out
    ({"name": "x", "keys": {"superuser": "k1"}}, "keys"),
    ({"name": "x", "keys": {"production": "same_key", "development": "same_key"}}, "different"),
    ({"name": "x", "keys": {"production": "bad key!"}}, "production key"),
    ({"name": "x", "owner": "me"}, "owner"),
    ({"appId": "app_nameless"}, "name"),
])
def test_invalid_app_input_is_a_400_naming_the_field(admin: Admin, body: dict[str, Any], named: str) -> None:
    before = len(admin.ok("GET", "/apps")["apps"])

    assert named in admin.error("POST", "/apps", 400, body)
    assert len(admin.ok("GET", "/apps")["apps"]) == before


def test_an_unknown_app_is_a_404(admin: Admin) -> None:
    assert "app_missing" in admin.error("GET", "/apps/app_missing", 404)
    assert admin.error("POST", "/apps/app_missing/keys/production/rotate", 404)
    assert admin.error("GET", "/apps/app_missing/variables", 404)


def test_rotating_a_key_refuses_the_old_one_at_once(admin: Admin, api: ApiClient) -> None:
    old = api.app.production
    assert _start(admin, api.app.app_id, old).status_code == 200  # the app is now in /api's cache

    rotated = admin.ok("POST", f"/apps/{api.app.app_id}/keys/production/rotate")

    new = rotated["keys"]["production"]
    assert new != old
    assert new.startswith("prod_")
    refused = _start(admin, api.app.app_id, old)
    assert refused.status_code == 403
    assert refused.json()["response"][0] == {"success": False, "error": {"message": "Invalid access key"}}
    assert _start(admin, api.app.app_id, new).json()["response"][0]["success"] is True


def test_rotating_one_key_keeps_the_others(admin: Admin, api: ApiClient) -> None:
    rotated = admin.ok("POST", f"/apps/{api.app.app_id}/keys/dataExport/rotate")

    assert rotated["keys"]["dataExport"] != api.app.data_export
    assert rotated["keys"]["production"] == api.app.production
    assert rotated["keys"]["development"] == api.app.development
    assert rotated["keys"]["contentReadOnly"] == api.app.content_read_only
    assert admin.ok("GET", f"/apps/{api.app.app_id}") == rotated
    refused = api.call("exportUser", api.app.data_export, method="GET", userId="u-1")
    assert refused.status_code == 403
    accepted = api.call("exportUser", rotated["keys"]["dataExport"], method="GET", userId="u-1")
    assert accepted.status_code == 200
    assert accepted.json()["response"][0]["success"] is True


def test_an_unknown_key_class_cannot_be_rotated(admin: Admin, api: ApiClient) -> None:
    assert "keyClass" in admin.error("POST", f"/apps/{api.app.app_id}/keys/master/rotate", 404)
    assert admin.ok("GET", f"/apps/{api.app.app_id}")["keys"]["production"] == api.app.production


def test_creating_and_rotating_are_audited_with_the_token(admin: Admin) -> None:
    created = admin.ok("POST", "/apps", {"name": "Audited"}, 201)
    admin.ok("POST", f"/apps/{created['appId']}/keys/development/rotate")

    entries = admin.audit(created["appId"])
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (admin.actor, "app.create", created["appId"]),
        (admin.actor, "app.rotateKey", "development"),
    ]
    assert all(e["appId"] == created["appId"] for e in entries)
    assert not any(created["keys"]["development"] in str(e) for e in entries), "the audit log must not hold keys"


def test_a_nul_character_is_a_400_in_a_body_or_a_path(admin: Admin) -> None:
    assert "NUL" in admin.error("POST", "/apps", 400, {"name": "nul\x00app"})
    assert "NUL" in admin.error("GET", "/apps/app%00x", 400)
