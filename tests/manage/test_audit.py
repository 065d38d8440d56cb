"""The audit log: every change, oldest first, for all apps or one, read page by page."""

from __future__ import annotations

from tests.admin import Admin, define, token_id
from tests.conftest import ApiClient


def _change_three_times(admin: Admin, api: ApiClient) -> None:
    define(api, {"welcome": "Hi"})
    for value in ("one", "two", "three"):
        admin.ok("PUT", f"/apps/{api.app.app_id}/variables/welcome/value", {"value": value})


def test_an_apps_log_is_read_page_by_page(admin: Admin, api: ApiClient) -> None:
    _change_three_times(admin, api)
    base = f"/apps/{api.app.app_id}/audit"

    first = admin.ok("GET", f"{base}?limit=2")
    second = admin.ok("GET", f"{base}?limit=2&after={first['next']}")
    last = admin.ok("GET", f"{base}?limit=2&after={second['next']}")

    assert [e["action"] for e in first["entries"]] == ["variables.define", "variables.set"]
    assert [e["details"] for e in second["entries"]] == [{"value": "two"}, {"value": "three"}]
    assert last == {"entries": [], "next": 0}
    assert first["next"] == first["entries"][-1]["seq"]
    assert first["entries"] + second["entries"] == admin.audit(api.app.app_id)


def test_an_apps_log_holds_only_that_app(admin: Admin, api: ApiClient) -> None:
    _change_three_times(admin, api)
    other = admin.ok("POST", "/apps", {"name": "Other"}, 201)

    assert {e["appId"] for e in admin.audit(api.app.app_id)} == {api.app.app_id}
    assert [e["action"] for e in admin.audit(other["appId"])] == ["app.create"]


def test_the_whole_log_includes_token_creation_and_every_app(admin: Admin, api: ApiClient) -> None:
    _change_three_times(admin, api)

    entries, after = [], 0
    while True:
        page = admin.ok("GET", f"/audit?after={after}&limit=1000")
        if not page["entries"]:
            break
        entries += page["entries"]
        after = page["next"]

    assert any(e["action"] == "admin-token.create" and e["target"] == token_id(admin.token) and e["appId"] is None
               for e in entries)
    mine = [e for e in entries if e["appId"] == api.app.app_id]
    assert mine == admin.audit(api.app.app_id)
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    assert len(seqs) == len(set(seqs))


def test_bad_paging_is_a_400(admin: Admin, api: ApiClient) -> None:
    assert admin.error("GET", "/audit?after=first", 400)
    assert admin.error("GET", f"/apps/{api.app.app_id}/audit?limit=many", 400)


def test_the_log_of_an_unknown_app_is_a_404(admin: Admin) -> None:
    assert admin.error("GET", "/apps/app_missing/audit", 404)


def test_reading_the_log_needs_a_token(admin: Admin, api: ApiClient) -> None:
    admin.http.headers.pop("Authorization")

    assert admin.http.get("/audit").status_code == 401
    assert admin.http.get(f"/apps/{api.app.app_id}/audit").status_code == 401


def test_a_cursor_beyond_any_id_is_the_end_of_the_log(admin: Admin, api: ApiClient) -> None:
    _change_three_times(admin, api)
    assert admin.ok("GET", f"/audit?after={2**64}")["entries"] == []
    assert admin.ok("GET", f"/apps/{api.app.app_id}/audit?after={2**70}")["entries"] == []
    assert admin.ok("GET", f"/apps/{api.app.app_id}/audit?after=-5") == admin.ok(
        "GET", f"/apps/{api.app.app_id}/audit")
