"""Audiences through the management API: create, read, list, replace, delete; rules validated with the JSON
path of the problem; names unique per app; an audience a running A/B test targets cannot be deleted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin import Admin, define, start_test, variant
from tests.conftest import ApiClient

PRO: dict[str, Any] = {"attribute": "plan", "op": "equals", "value": "pro"}
BUYERS: dict[str, Any] = {
    "all": [{"event": "Purchase", "count": {"gte": 2}}, {"not": {"user": "new", "withinDays": 7}}],
}


def _base(api: ApiClient) -> str:
    return f"/apps/{api.app.app_id}/audiences"


def _create(admin: Admin, api: ApiClient, name: str, rule: Any) -> dict[str, Any]:
    created: dict[str, Any] = admin.ok("POST", _base(api), {"name": name, "rule": rule}, 201)
    return created


def test_create_read_and_list_an_audience(admin: Admin, api: ApiClient) -> None:
    created = _create(admin, api, "Pro users", PRO)

    assert isinstance(created["id"], int)
    assert created == {"id": created["id"], "name": "Pro users", "rule": PRO, "created": created["created"],
                       "updated": created["created"]}
    assert admin.ok("GET", f"{_base(api)}/{created['id']}") == created
    assert admin.ok("GET", _base(api)) == {"audiences": [created]}


def test_replace_an_audience(admin: Admin, api: ApiClient) -> None:
    created = _create(admin, api, "Pro users", PRO)

    replaced = admin.ok("PUT", f"{_base(api)}/{created['id']}", {"name": "Buyers", "rule": BUYERS})

    assert replaced["id"] == created["id"]
    assert (replaced["name"], replaced["rule"]) == ("Buyers", BUYERS)
    assert replaced["created"] == created["created"]
    assert replaced["updated"] >= created["updated"]
    assert admin.ok("GET", f"{_base(api)}/{created['id']}") == replaced


def test_delete_an_audience(admin: Admin, api: ApiClient) -> None:
    created = _create(admin, api, "Pro users", PRO)

    assert admin.ok("DELETE", f"{_base(api)}/{created['id']}") == {"ok": True}

    assert admin.error("GET", f"{_base(api)}/{created['id']}", 404)
    assert admin.ok("GET", _base(api)) == {"audiences": []}
    assert admin.error("DELETE", f"{_base(api)}/{created['id']}", 404)


@pytest.mark.parametrize(("rule", "path"), [
    ({"all": [PRO, {"attribute": "plan", "op": "eqals", "value": "pro"}]}, "rule.all[1].op"),
    ({"any": [{"not": {"attribute": "age", "op": "between", "value": [1]}}]}, "rule.any[0].not.value"),
    ({"attribute": "plan", "op": "equals", "value": "pro", "colour": "red"}, "rule.colour"),
    ({"event": "Purchase", "count": {"atLeast": 2}}, "rule.count"),
    ({"all": "everyone"}, "rule.all"),
    ("plan = pro", "rule"),
])
def test_a_rule_that_does_not_parse_is_a_400_naming_its_json_path(
    admin: Admin, api: ApiClient, rule: Any, path: str
) -> None:
    message = admin.error("POST", _base(api), 400, {"name": "Broken", "rule": rule})

    assert message.startswith(path), message
    assert admin.ok("GET", _base(api)) == {"audiences": []}


def test_replacing_with_a_bad_rule_changes_nothing(admin: Admin, api: ApiClient) -> None:
    created = _create(admin, api, "Pro users", PRO)

    message = admin.error("PUT", f"{_base(api)}/{created['id']}", 400,
                          {"name": "Pro users", "rule": {"attribute": "plan", "op": "gt", "value": "x"}})

    assert message.startswith("rule.value")
    assert admin.ok("GET", f"{_base(api)}/{created['id']}") == created


@pytest.mark.parametrize("body", [
    {"rule": PRO},
    {"name": "", "rule": PRO},
    {"name": "x" * 200, "rule": PRO},
    {"name": 5, "rule": PRO},
    {"name": "Pro", "rule": PRO, "owner": "me"},
])
def test_a_bad_name_or_body_is_a_400(admin: Admin, api: ApiClient, body: dict[str, Any]) -> None:
    assert admin.error("POST", _base(api), 400, body)
    assert admin.ok("GET", _base(api)) == {"audiences": []}


def test_a_duplicate_name_is_a_conflict(admin: Admin, api: ApiClient) -> None:
    _create(admin, api, "Pro users", PRO)
    other = _create(admin, api, "Buyers", BUYERS)

    assert "Pro users" in admin.error("POST", _base(api), 409, {"name": "Pro users", "rule": BUYERS})
    assert admin.error("PUT", f"{_base(api)}/{other['id']}", 409, {"name": "Pro users", "rule": BUYERS})
    assert admin.ok("PUT", f"{_base(api)}/{other['id']}", {"name": "Buyers", "rule": PRO})["rule"] == PRO
    assert sorted(a["name"] for a in admin.ok("GET", _base(api))["audiences"]) == ["Buyers", "Pro users"]


def test_the_same_name_in_another_app_is_fine(admin: Admin, api: ApiClient) -> None:
    _create(admin, api, "Pro users", PRO)
    other = admin.ok("POST", "/apps", {"name": "Other"}, 201)

    admin.ok("POST", f"/apps/{other['appId']}/audiences", {"name": "Pro users", "rule": PRO}, 201)


def test_an_unknown_audience_is_a_404(admin: Admin, api: ApiClient) -> None:
    assert admin.error("GET", f"{_base(api)}/12345", 404)
    assert admin.error("GET", f"{_base(api)}/not-a-number", 404)
    assert admin.error("PUT", f"{_base(api)}/12345", 404, {"name": "x", "rule": PRO})


def test_an_audience_of_another_app_is_not_found(admin: Admin, api: ApiClient) -> None:
    created = _create(admin, api, "Pro users", PRO)
    other = admin.ok("POST", "/apps", {"name": "Other"}, 201)

    assert admin.error("GET", f"/apps/{other['appId']}/audiences/{created['id']}", 404)
    assert admin.error("DELETE", f"/apps/{other['appId']}/audiences/{created['id']}", 404)


def test_an_audience_targeted_by_a_running_test_cannot_be_deleted(admin: Admin, api: ApiClient) -> None:
    define(api, {"welcome": "Hi"})
    audience = _create(admin, api, "Pro users", PRO)
    test = start_test(admin, api, [variant("A", 50), variant("B", 50, welcome="Yo")], audienceId=audience["id"])

    message = admin.error("DELETE", f"{_base(api)}/{audience['id']}", 409)

    assert str(test["id"]) in message
    assert admin.ok("GET", f"{_base(api)}/{audience['id']}") == audience

    admin.ok("POST", f"/apps/{api.app.app_id}/ab-tests/{test['id']}/finish", {"chosenVariantId": None})
    assert admin.ok("DELETE", f"{_base(api)}/{audience['id']}") == {"ok": True}


def test_audience_changes_are_audited(admin: Admin, api: ApiClient) -> None:
    created = _create(admin, api, "Pro users", PRO)
    admin.ok("PUT", f"{_base(api)}/{created['id']}", {"name": "Pros", "rule": PRO})
    admin.ok("DELETE", f"{_base(api)}/{created['id']}")

    entries = admin.audit(api.app.app_id)
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (admin.actor, "audience.create", str(created["id"])),
        (admin.actor, "audience.update", str(created["id"])),
        (admin.actor, "audience.delete", str(created["id"])),
    ]
    assert entries[0]["details"] == {"name": "Pro users", "rule": PRO}
    assert entries[1]["details"] == {"name": "Pros", "rule": PRO}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_id_beyond_64_bits_names_no_audience(admin: Admin, api: ApiClient, method: str) -> None:
    body = {"name": "big", "rule": {"user": "returning"}} if method == "PUT" else None
    assert "no such id" in admin.error(method, f"/apps/{api.app.app_id}/audiences/{2**63}", 404, body)


def test_a_body_nested_too_deeply_is_a_400(admin: Admin, api: ApiClient) -> None:
    body = '{"name": "deep", "rule": ' + "[" * 5000 + "]" * 5000 + "}"
    response = admin.http.post(f"/apps/{api.app.app_id}/audiences", content=body,
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert "nested too deeply" in response.json()["error"]["message"]
