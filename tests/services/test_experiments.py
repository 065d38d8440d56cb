"""A/B tests as users receive them through ``getVars`` and ``start`` (API.md §6.5, §7.2, §7.4): who is in a test
and in which variant (deterministic per app, test and user; stable when traffic widens), audience targeting,
forced test devices, variant overrides on top of team values, and the exposure event recorded once per user."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import msgspec
import pytest

from openplum.services.exposures import EXPOSURE_EVENT
from tests.admin import (
    Admin,
    assignments,
    create_test,
    define,
    get_vars,
    make_users,
    open_admin,
    set_value,
    start_test,
    variant,
    variant_ids,
)
from tests.clients import event_rows, rows
from tests.conftest import ApiClient, Server

CODE: dict[str, Any] = {"welcome": "Hi", "color": "blue", "limits": {"maxItems": 10}}
PRO: dict[str, Any] = {"attribute": "plan", "op": "equals", "value": "pro"}


@pytest.fixture
def admin(server: Server) -> Iterator[Admin]:
    with open_admin(server) as client:
        yield client


@pytest.fixture
def app(api: ApiClient) -> ApiClient:
    """The test's app with the variables its code defines."""
    define(api, CODE)
    return api


def _users(n: int, prefix: str = "u") -> list[str]:
    return [f"{prefix}-{i:03d}" for i in range(n)]


def _tests_path(api: ApiClient, test: dict[str, Any], tail: str = "") -> str:
    return f"/apps/{api.app.app_id}/ab-tests/{test['id']}{tail}"


def _exposures(api: ApiClient, user_id: str) -> list[dict[str, Any]]:
    return [params for name, *_, params in event_rows(api, user_id) if name == EXPOSURE_EVENT]


def _all_exposures(api: ApiClient) -> int:
    found = rows(api, "SELECT COUNT(*) FROM events WHERE app_id = ? AND name = ?", EXPOSURE_EVENT)
    return int(found[0][0])


def _in_variant(api: ApiClient, users: list[str], variant_id: int) -> list[str]:
    return [u for u, ids in assignments(api, users).items() if ids == [variant_id]]


# -- what a test may contain ---------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [(50, 40), (60, 60), (100, 0.5), (0, 0)])
def test_weights_that_do_not_add_up_to_100_are_a_400_naming_variants(
    admin: Admin, app: ApiClient, weights: tuple[float, float]
) -> None:
    body = {"name": "t", "variants": [variant("A", weights[0]), variant("B", weights[1], welcome="Yo")]}

    message = admin.error("POST", f"/apps/{app.app.app_id}/ab-tests", 400, body)

    assert message.startswith("variants"), message
    assert "100" in message
    assert admin.ok("GET", f"/apps/{app.app.app_id}/ab-tests") == {"abTests": []}


def test_editing_weights_so_they_do_not_add_up_is_refused(admin: Admin, app: ApiClient) -> None:
    test = create_test(admin, app, [variant("A", 50), variant("B", 50)])

    message = admin.error("PATCH", _tests_path(app, test), 400, {"variants": [variant("A", 50), variant("B", 20)]})

    assert message.startswith("variants")
    assert admin.ok("GET", _tests_path(app, test)) == test


@pytest.mark.parametrize(("overrides", "named"), [
    ({"nothing": 1}, "variants[1].overrides.nothing"),
    ({"limits.maxItems": "many"}, "variants[1].overrides.limits.maxItems"),
    ({"welcome": 5}, "variants[1].overrides.welcome"),
    ({"color": None}, "variants[1].overrides.color"),
])
def test_an_override_of_an_unknown_variable_or_of_the_wrong_kind_is_a_400(
    admin: Admin, app: ApiClient, overrides: dict[str, Any], named: str
) -> None:
    body = {"name": "t", "variants": [variant("A", 50), {"name": "B", "weight": 50, "overrides": overrides}]}

    assert named in admin.error("POST", f"/apps/{app.app.app_id}/ab-tests", 400, body)
    assert admin.ok("GET", f"/apps/{app.app.app_id}/ab-tests") == {"abTests": []}


# -- assignment ----------------------------------------------------------------------------------------


def test_each_user_gets_one_variant_and_the_same_one_every_time(admin: Admin, app: ApiClient) -> None:
    users = _users(60)
    make_users(app, users)
    test = start_test(admin, app, [variant("A", 50), variant("B", 50, color="red")])

    first = assignments(app, users)

    assert all(len(ids) == 1 for ids in first.values()), first
    assert {ids[0] for ids in first.values()} == set(variant_ids(test).values())
    assert assignments(app, users) == first
    assert assignments(app, users) == first


def test_a_user_gets_the_same_variant_on_every_device(admin: Admin, app: ApiClient) -> None:
    start_test(admin, app, [variant("A", 50), variant("B", 50, color="red")])
    users = _users(12)

    for user_id in users:
        seen = [app.ok("start", userId=user_id, deviceId=f"{user_id}-{d}", includeDefaults=False)["variants"]
                for d in ("phone", "tablet", "web")]
        seen += [get_vars(app, user_id, f"{user_id}-{d}")["variants"] for d in ("phone", "tablet", "web")]
        assert len(seen[0]) == 1
        assert all(s == seen[0] for s in seen), (user_id, seen)


def test_assignments_survive_a_snapshot_reload(admin: Admin, app: ApiClient) -> None:
    users = _users(60)
    make_users(app, users)
    start_test(admin, app, [variant("A", 34), variant("B", 33, color="red"), variant("C", 33, welcome="Yo")])
    before = assignments(app, users)

    set_value(admin, app, "limits.maxItems", 11)  # a new content version: every process reloads its snapshot
    assert get_vars(app, users[0])["vars"]["limits"] == {"maxItems": 11}

    assert assignments(app, users) == before


def test_assignment_does_not_depend_on_the_order_tests_were_created(admin: Admin, app: ApiClient) -> None:
    users = _users(40)
    make_users(app, users)
    first = start_test(admin, app, [variant("A", 50), variant("B", 50, color="red")], name="first")
    before = assignments(app, users)

    start_test(admin, app, [variant("X", 50), variant("Y", 50, welcome="Yo")], name="second")
    after = assignments(app, users)

    ids = set(variant_ids(first).values())
    assert {u: [i for i in v if i in ids] for u, v in after.items()} == before
    assert all(len(v) == 2 for v in after.values())


def test_variant_overrides_apply_on_top_of_team_values(admin: Admin, app: ApiClient) -> None:
    users = _users(60)
    make_users(app, users)
    set_value(admin, app, "welcome", "Hello from the team")
    set_value(admin, app, "color", "green")
    test = start_test(admin, app, [variant("A", 34), variant("B", 33, color="red"),
                                   variant("C", 33, welcome="Yo", **{"limits.maxItems": 3})])
    ids = variant_ids(test)
    expected = {
        ids["A"]: {"welcome": "Hello from the team", "color": "green"},
        ids["B"]: {"welcome": "Hello from the team", "color": "red"},
        ids["C"]: {"welcome": "Yo", "color": "green", "limits": {"maxItems": 3}},
    }

    seen = set()
    for user_id, (variant_id,) in assignments(app, users).items():
        answer = get_vars(app, user_id)
        assert answer["vars"] == expected[variant_id], user_id
        assert answer["variants"] == [{"id": variant_id}]
        full = get_vars(app, user_id, includeDefaults=True)["vars"]
        assert full == {**CODE, "limits": {"maxItems": 10}, **expected[variant_id]}
        seen.add(variant_id)
    assert seen == set(ids.values())


def test_start_returns_the_variant_and_its_values(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, [variant("Only", 100, welcome="Yo")])

    answer = app.ok("start", userId="u-1", deviceId="d-1", includeDefaults=False)

    assert answer["variants"] == [{"id": variant_ids(test)["Only"]}]
    assert answer["vars"] == {"welcome": "Yo"}


def test_variant_debug_info_names_the_test_and_variant(admin: Admin, app: ApiClient) -> None:
    make_users(app, ["u-1"])
    test = start_test(admin, app, [variant("Only", 100, welcome="Yo")], name="Welcome copy")
    variant_id = variant_ids(test)["Only"]

    answer = get_vars(app, "u-1", includeVariantDebugInfo=True)

    assert answer["variantDebugInfo"] == {"abTests": [
        {"id": test["id"], "name": "Welcome copy", "variantId": variant_id, "variantName": "Only"}]}
    assert "variantDebugInfo" not in get_vars(app, "u-1")
    started = app.ok("start", userId="u-1", includeVariantDebugInfo=True)
    assert started["variantDebugInfo"] == answer["variantDebugInfo"]


def test_with_traffic_0_nobody_is_in_the_test(admin: Admin, app: ApiClient) -> None:
    users = _users(100)
    make_users(app, users)
    start_test(admin, app, [variant("A", 50, color="red"), variant("B", 50, color="pink")], traffic=0)

    assert all(ids == [] for ids in assignments(app, users).values())
    assert get_vars(app, users[0])["vars"] == {}
    assert _all_exposures(app) == 0


def test_widening_traffic_keeps_everyone_in_their_variant(admin: Admin, app: ApiClient) -> None:
    users = _users(200)
    make_users(app, users)
    test = start_test(admin, app, [variant("A", 50), variant("B", 50, color="red")], traffic=30)
    at_30 = {u: ids for u, ids in assignments(app, users).items() if ids}

    admin.ok("PATCH", _tests_path(app, test), {"traffic": 60})
    at_60 = {u: ids for u, ids in assignments(app, users).items() if ids}

    assert 25 <= len(at_30) <= 95, len(at_30)
    assert 85 <= len(at_60) <= 155, len(at_60)
    assert len(at_60) > len(at_30)
    moved = {u: (ids, at_60.get(u)) for u, ids in at_30.items() if at_60.get(u) != ids}
    assert moved == {}


def test_a_draft_or_deleted_test_does_not_apply(admin: Admin, app: ApiClient) -> None:
    make_users(app, ["u-1"])
    create_test(admin, app, [variant("Only", 100, welcome="Draft")])
    assert get_vars(app, "u-1")["variants"] == []

    running = start_test(admin, app, [variant("Only", 100, welcome="Running")])
    assert get_vars(app, "u-1")["vars"] == {"welcome": "Running"}

    admin.ok("DELETE", _tests_path(app, running))
    answer = get_vars(app, "u-1")
    assert (answer["vars"], answer["variants"]) == ({}, [])


def test_a_variable_deleted_by_the_code_is_not_served_by_a_running_variant(admin: Admin, app: ApiClient) -> None:
    make_users(app, ["u-1"])
    start_test(admin, app, [variant("Only", 100, color="red", welcome="Yo")])
    assert get_vars(app, "u-1")["vars"] == {"color": "red", "welcome": "Yo"}

    assert app.ok("deleteVars", app.app.development, vars=["color"])["variablesRemoved"] == ["color"]

    assert get_vars(app, "u-1")["vars"] == {"welcome": "Yo"}


def test_a_variant_value_that_no_longer_fits_a_redefined_kind_is_not_served(admin: Admin, app: ApiClient) -> None:
    make_users(app, ["u-1"])
    start_test(admin, app, [variant("Only", 100, color="red")])

    define(app, {**CODE, "color": 3})

    assert get_vars(app, "u-1", includeDefaults=True)["vars"] == {**CODE, "color": 3}


def test_a_finished_test_no_longer_applies(admin: Admin, app: ApiClient) -> None:
    make_users(app, ["u-1"])
    set_value(admin, app, "welcome", "Team")
    test = start_test(admin, app, [variant("Only", 100, color="red")])
    assert get_vars(app, "u-1")["vars"] == {"welcome": "Team", "color": "red"}

    admin.ok("POST", _tests_path(app, test, "/finish"), {})  # no winner: nothing is rolled out

    answer = get_vars(app, "u-1", includeVariantDebugInfo=True)
    assert answer["variants"] == []
    assert answer["variantDebugInfo"] == {"abTests": []}
    assert answer["vars"] == {"welcome": "Team"}


# -- audience targeting --------------------------------------------------------------------------------


def test_a_test_with_an_audience_applies_only_to_matching_users(admin: Admin, app: ApiClient) -> None:
    pros, frees, bare = _users(20, "pro"), _users(20, "free"), _users(5, "bare")
    make_users(app, pros, {"plan": "pro"})
    make_users(app, frees, {"plan": "free"})
    make_users(app, bare)
    audience = admin.ok("POST", f"/apps/{app.app.app_id}/audiences", {"name": "Pro", "rule": PRO}, 201)
    start_test(admin, app, [variant("A", 50, color="red"), variant("B", 50, color="pink")],
               audienceId=audience["id"])

    seen = assignments(app, pros + frees + bare)

    assert all(len(seen[u]) == 1 for u in pros)
    assert all(seen[u] == [] for u in frees + bare)
    assert all(get_vars(app, u)["vars"] == {} for u in frees[:3])


def test_behaviour_targeting_reads_its_counters_among_a_long_history(admin: Admin, app: ApiClient) -> None:
    """getVars decodes, of a profile's counters, only those the running tests' audiences read: the decision is the
    same as on the whole profile, and the first exposure, written afterwards, keeps the whole history."""
    buyers, checkers, browsers = _users(4, "buyer"), _users(4, "checker"), _users(4, "browser")
    for user_id in buyers + checkers + browsers:
        items: list[dict[str, Any]] = [{"action": "track", "userId": user_id, "event": f"Seen {i:02d}"}
                                       for i in range(60)]
        if user_id not in browsers:
            items += [{"action": "track", "userId": user_id, "event": "Purchase", "value": 5}] * 2
        if user_id in checkers:
            items.append({"action": "advance", "userId": user_id, "state": "Checkout"})
        response = app.multi(items)
        assert response.status_code == 200, response.text
    rule = {"all": [{"event": "Purchase", "count": {"gte": 2}}, {"not": {"state": "Checkout"}}]}
    audience = admin.ok("POST", f"/apps/{app.app.app_id}/audiences", {"name": "Buyers", "rule": rule}, 201)
    test = start_test(admin, app, [variant("Only", 100, color="red")], audienceId=audience["id"])

    seen = assignments(app, buyers + checkers + browsers)

    assert {u: seen[u] for u in buyers} == {u: [variant_ids(test)["Only"]] for u in buyers}
    assert all(seen[u] == [] for u in checkers + browsers)
    profile = app.profile(buyers[0])
    assert len(profile["events"]) == 61
    assert profile["events"]["Purchase"]["count"] == 2
    assert _exposures(app, buyers[0]) == [{"abTestId": test["id"], "variantId": variant_ids(test)["Only"]}]


def test_a_user_who_comes_to_match_the_audience_joins_the_test(admin: Admin, app: ApiClient) -> None:
    make_users(app, ["u-1"], {"plan": "free"})
    audience = admin.ok("POST", f"/apps/{app.app.app_id}/audiences", {"name": "Pro", "rule": PRO}, 201)
    test = start_test(admin, app, [variant("Only", 100, color="red")], audienceId=audience["id"])
    assert get_vars(app, "u-1")["variants"] == []

    app.ok("setUserAttributes", userId="u-1", userAttributes={"plan": "pro"})

    assert get_vars(app, "u-1")["variants"] == [{"id": variant_ids(test)["Only"]}]


def test_attributes_sent_with_start_decide_that_starts_content(admin: Admin, app: ApiClient) -> None:
    audience = admin.ok("POST", f"/apps/{app.app.app_id}/audiences", {"name": "Pro", "rule": PRO}, 201)
    test = start_test(admin, app, [variant("Only", 100, color="red")], audienceId=audience["id"])

    answer = app.ok("start", userId="u-new", userAttributes={"plan": "pro"}, includeDefaults=False)

    assert answer["variants"] == [{"id": variant_ids(test)["Only"]}]
    assert answer["vars"] == {"color": "red"}


def test_an_exposed_user_stays_in_a_sticky_test_after_leaving_its_audience(admin: Admin, app: ApiClient) -> None:
    """``getAbTest`` reports ``targetingSticky: true``: a user who received a variant keeps it."""
    make_users(app, ["u-1"], {"plan": "pro"})
    audience = admin.ok("POST", f"/apps/{app.app.app_id}/audiences", {"name": "Pro", "rule": PRO}, 201)
    test = start_test(admin, app, [variant("Only", 100, color="red")], audienceId=audience["id"])
    assert get_vars(app, "u-1")["variants"] == [{"id": variant_ids(test)["Only"]}]
    shown = app.ok("getAbTest", app.app.content_read_only, id=test["id"])["abTest"]
    assert shown["targetingSticky"] is True

    app.ok("setUserAttributes", userId="u-1", userAttributes={"plan": "free"})

    assert get_vars(app, "u-1")["variants"] == [{"id": variant_ids(test)["Only"]}]


# -- forced variants -----------------------------------------------------------------------------------


def test_a_forced_device_gets_its_variant_and_clearing_it_restores_assignment(admin: Admin, app: ApiClient) -> None:
    users = _users(30)
    for user_id in users:
        app.ok("start", userId=user_id, deviceId=f"{user_id}-phone")
    test = start_test(admin, app, [variant("A", 50), variant("B", 50, color="red")])
    ids = variant_ids(test)
    user_id = _in_variant(app, users, ids["A"])[0]
    forced = f"{user_id}-phone"
    path = _tests_path(app, test, f"/forced-variants/{forced}")

    admin.ok("PUT", path, {"variantId": ids["B"]})

    answer = get_vars(app, user_id, forced, includeVariantDebugInfo=True)
    assert answer["variants"] == [{"id": ids["B"]}]
    assert answer["vars"] == {"color": "red"}
    assert answer["variantDebugInfo"]["abTests"][0]["variantName"] == "B"
    assert get_vars(app, user_id, f"{user_id}-laptop")["variants"] == [{"id": ids["A"]}]

    admin.ok("PUT", path, {"variantId": None})

    answer = get_vars(app, user_id, forced)
    assert (answer["variants"], answer["vars"]) == ([{"id": ids["A"]}], {})


def test_a_forced_device_is_in_the_test_whatever_its_traffic_and_audience(admin: Admin, app: ApiClient) -> None:
    app.ok("start", userId="u-1", deviceId="test-phone", userAttributes={"plan": "free"})
    audience = admin.ok("POST", f"/apps/{app.app.app_id}/audiences", {"name": "Pro", "rule": PRO}, 201)
    test = start_test(admin, app, [variant("A", 50), variant("B", 50, color="red")], traffic=0,
                      audienceId=audience["id"])
    assert get_vars(app, "u-1", "test-phone")["variants"] == []

    admin.ok("PUT", _tests_path(app, test, "/forced-variants/test-phone"), {"variantId": variant_ids(test)["B"]})

    assert get_vars(app, "u-1", "test-phone")["vars"] == {"color": "red"}
    started = app.ok("start", userId="u-1", deviceId="test-phone", includeDefaults=False)
    assert started["variants"] == [{"id": variant_ids(test)["B"]}]


# -- exposure ------------------------------------------------------------------------------------------


def test_the_first_exposure_through_read_only_get_vars_is_recorded_once(admin: Admin, app: ApiClient) -> None:
    make_users(app, ["u-1"])
    test = start_test(admin, app, [variant("Only", 100, color="red")])
    variant_id = variant_ids(test)["Only"]

    for _ in range(3):
        get_vars(app, "u-1")
    batch = app.multi([{"action": "getVars", "userId": "u-1"}, {"action": "getVars", "userId": "u-1"}])
    assert [a["variants"] for a in batch.json()["response"]] == [[{"id": variant_id}]] * 2

    assert _exposures(app, "u-1") == [{"abTestId": test["id"], "variantId": variant_id}]


def test_concurrent_first_reads_record_one_exposure(admin: Admin, app: ApiClient) -> None:
    make_users(app, ["u-1"])
    test = start_test(admin, app, [variant("Only", 100, color="red")])

    def read(_: int) -> list[dict[str, Any]]:
        with httpx.Client(base_url=app.server.url, timeout=30) as http:
            response = http.post("/api", params={"appId": app.app.app_id, "clientKey": app.app.production,
                                                 "action": "getVars", "userId": "u-1"})
        variants: list[dict[str, Any]] = response.json()["response"][0]["variants"]
        return variants

    with ThreadPoolExecutor(max_workers=8) as pool:
        seen = list(pool.map(read, range(16)))

    assert seen == [[{"id": variant_ids(test)["Only"]}]] * 16
    assert len(_exposures(app, "u-1")) == 1


def test_the_first_exposure_through_start_is_recorded_once(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, [variant("Only", 100, color="red")])

    app.ok("start", userId="u-1", deviceId="d-1")
    app.ok("start", userId="u-1", deviceId="d-2")
    get_vars(app, "u-1")

    assert _exposures(app, "u-1") == [{"abTestId": test["id"], "variantId": variant_ids(test)["Only"]}]


def test_each_test_a_user_enters_is_one_exposure(admin: Admin, app: ApiClient) -> None:
    make_users(app, ["u-1"])
    first = start_test(admin, app, [variant("Only", 100, color="red")], name="first")
    get_vars(app, "u-1")
    second = start_test(admin, app, [variant("Only", 100, welcome="Yo")], name="second")
    get_vars(app, "u-1")
    get_vars(app, "u-1")

    assert sorted(e["abTestId"] for e in _exposures(app, "u-1")) == sorted([first["id"], second["id"]])


def test_users_outside_a_test_are_not_exposed(admin: Admin, app: ApiClient) -> None:
    users = _users(100)
    make_users(app, users)
    start_test(admin, app, [variant("A", 50), variant("B", 50, color="red")], traffic=30)

    inside = {u for u, ids in assignments(app, users).items() if ids}

    assert {u for u in users if _exposures(app, u)} == inside
    assert _all_exposures(app) == len(inside)


def test_the_exposure_event_is_not_one_of_the_users_own_events(admin: Admin, app: ApiClient) -> None:
    make_users(app, ["u-1"])
    start_test(admin, app, [variant("Only", 100, color="red")])
    get_vars(app, "u-1")

    assert len(_exposures(app, "u-1")) == 1
    assert EXPOSURE_EVENT not in app.profile("u-1").get("events", {})


def test_the_exposure_is_remembered_in_the_profile(admin: Admin, app: ApiClient) -> None:
    make_users(app, ["u-1"])
    test = start_test(admin, app, [variant("Only", 100, color="red")])
    get_vars(app, "u-1")

    found = rows(app, "SELECT doc FROM profiles WHERE app_id = ? AND user_id = ?", "u-1")
    doc = msgspec.json.decode(bytes(found[0][0]))
    assert doc["exposures"] == {str(test["id"]): variant_ids(test)["Only"]}
