"""A/B test reads with the content read-only key (API.md §6.4): ``getAbTests``, ``getAbTest``, ``getVariant``,
in Leanplum's shapes; drafts only on request, old finished tests only without ``recent``; other keys refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.admin import Admin, create_test, define, open_admin, start_test, variant, variant_ids
from tests.conftest import ApiClient, Server

DAY = 86400.0


@pytest.fixture
def admin(server: Server) -> Iterator[Admin]:
    with open_admin(server) as client:
        yield client


@pytest.fixture
def app(api: ApiClient) -> ApiClient:
    define(api, {"welcome": "Hi", "limits": {"maxItems": 10}})
    return api


def _read(api: ApiClient, action: str, **params: Any) -> dict[str, Any]:
    """A §6.4 read as the spec sends it: GET with the content read-only key; the response item."""
    response = api.call(action, api.app.content_read_only, method="GET", **params)
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["response"][0]
    assert item["success"] is True, item
    assert "error" not in item, item
    return item


def _refused(api: ApiClient, action: str, status: int, key: str | None = None, **params: Any) -> str:
    response = api.call(action, key or api.app.content_read_only, method="GET", **params)
    assert response.status_code == status, response.text
    item = response.json()["response"][0]
    assert item["success"] is False, item
    message: str = item["error"]["message"]
    return message


def _finish(admin: Admin, api: ApiClient, test: dict[str, Any], chosen: int | None = None) -> dict[str, Any]:
    finished: dict[str, Any] = admin.ok("POST", f"/apps/{api.app.app_id}/ab-tests/{test['id']}/finish",
                                        {"chosenVariantId": chosen})
    return finished


def test_get_ab_test_has_the_spec_shape(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, [variant("Control", 60), variant("Bold", 40, welcome="Yo", **{"limits.maxItems": 5})],
                      name="Welcome copy")
    ids = variant_ids(test)

    shown = _read(app, "getAbTest", id=test["id"])["abTest"]

    assert shown == {
        "id": test["id"], "name": "Welcome copy", "active": True, "state": "RUNNING",
        "created": test["created"], "updated": test["updated"], "finished": None, "chosenVariant": None,
        "targetingSticky": True,
        "variants": [
            {"id": ids["Control"], "name": "Control", "percent": 60, "variables": []},
            {"id": ids["Bold"], "name": "Bold", "percent": 40,
             "variables": [{"name": "limits.maxItems", "value": 5}, {"name": "welcome", "value": "Yo"}]},
        ],
        "details": {"publishedBy": admin.actor, "createdBy": admin.actor},
    }


def test_get_ab_test_of_a_finished_test_shows_the_winner(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, [variant("A", 50), variant("B", 50, welcome="Yo")])
    finished = _finish(admin, app, test, variant_ids(test)["B"])

    shown = _read(app, "getAbTest", id=test["id"])["abTest"]

    assert (shown["state"], shown["active"]) == ("FINISHED", False)
    assert shown["finished"] == finished["finished"]
    assert shown["chosenVariant"] == variant_ids(test)["B"]


def test_get_ab_tests_lists_tests_without_details(admin: Admin, app: ApiClient) -> None:
    running = start_test(admin, app, [variant("A", 50), variant("B", 50, welcome="Yo")], name="running")
    finished = start_test(admin, app, [variant("A", 100)], name="finished")
    _finish(admin, app, finished)

    listed = _read(app, "getAbTests")["abTests"]

    assert sorted(t["name"] for t in listed) == ["finished", "running"]
    assert all("details" not in t for t in listed)
    by_name = {t["name"]: t for t in listed}
    single = _read(app, "getAbTest", id=running["id"])["abTest"]
    assert by_name["running"] == {k: v for k, v in single.items() if k != "details"}


def test_get_ab_tests_hides_drafts_unless_asked(admin: Admin, app: ApiClient) -> None:
    start_test(admin, app, [variant("A", 100)], name="running")
    draft = create_test(admin, app, [variant("A", 100)], name="draft")

    assert [t["name"] for t in _read(app, "getAbTests")["abTests"]] == ["running"]
    assert [t["name"] for t in _read(app, "getAbTests", includeDrafts="false")["abTests"]] == ["running"]
    with_drafts = _read(app, "getAbTests", includeDrafts="true")["abTests"]
    assert sorted(t["name"] for t in with_drafts) == ["draft", "running"]
    shown = next(t for t in with_drafts if t["name"] == "draft")
    assert (shown["id"], shown["state"], shown["active"]) == (draft["id"], "DRAFT", False)


def test_get_ab_test_and_get_variant_hide_drafts_unless_asked(admin: Admin, app: ApiClient) -> None:
    draft = create_test(admin, app, [variant("A", 100, welcome="Yo")])
    variant_id = variant_ids(draft)["A"]

    assert str(draft["id"]) in _refused(app, "getAbTest", 404, id=draft["id"])
    assert _read(app, "getAbTest", id=draft["id"], includeDrafts=True)["abTest"]["state"] == "DRAFT"
    assert _refused(app, "getVariant", 404, id=variant_id)
    assert _read(app, "getVariant", id=variant_id, includeDrafts=True)["variant"]["name"] == "A"


def test_get_ab_tests_leaves_out_tests_finished_long_ago_unless_recent_is_false(
    admin: Admin, app: ApiClient
) -> None:
    old = start_test(admin, app, [variant("A", 100)], name="old")
    _finish(admin, app, old)
    app.server.clock.advance(31 * DAY)
    start_test(admin, app, [variant("A", 100)], name="current")

    assert [t["name"] for t in _read(app, "getAbTests")["abTests"]] == ["current"]
    assert sorted(t["name"] for t in _read(app, "getAbTests", recent="false")["abTests"]) == ["current", "old"]


def test_get_variant_has_the_spec_shape(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, [variant("A", 25), variant("B", 75, welcome="Yo")])

    shown = _read(app, "getVariant", id=variant_ids(test)["B"])["variant"]

    assert shown == {"id": variant_ids(test)["B"], "name": "B", "percent": 75,
                     "variables": [{"name": "welcome", "value": "Yo"}]}


def test_reads_of_unknown_ids_fail_with_a_message(app: ApiClient) -> None:
    assert "12345" in _refused(app, "getAbTest", 404, id=12345)
    assert "12345" in _refused(app, "getVariant", 404, id=12345)
    assert _refused(app, "getAbTest", 400) == "Missing required parameter: id"
    assert "id" in _refused(app, "getVariant", 400, id="first")


@pytest.mark.parametrize("action", ["getAbTests", "getAbTest", "getVariant"])
def test_other_keys_are_refused(admin: Admin, app: ApiClient, action: str) -> None:
    test = start_test(admin, app, [variant("A", 100)])
    ids = {"getAbTests": None, "getAbTest": test["id"], "getVariant": test["variants"][0]["id"]}
    params = {} if ids[action] is None else {"id": ids[action]}

    for key in (app.app.production, app.app.development, app.app.data_export):
        message = _refused(app, action, 403, key, **params)
        assert message.startswith("Invalid access key"), message
        assert "content read-only" in message
    _read(app, action, **params)


def test_reads_work_inside_a_multi_batch(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, [variant("A", 100)])

    response = app.multi([{"action": "getAbTests"}, {"action": "getAbTest", "id": test["id"]}],
                         key=app.app.content_read_only)

    first, second = response.json()["response"]
    assert [t["id"] for t in first["abTests"]] == [test["id"]]
    assert second["abTest"]["id"] == test["id"]
