"""A/B tests through the management API: a draft is created and edited, started, widened, finished and
deleted; a running test's variants are fixed; test devices can be forced into a variant; every change is
audited. What users then receive is in ``tests/services/test_experiments.py``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin import Admin, create_test, define, get_vars, make_users, start_test, variant, variant_ids
from tests.conftest import ApiClient

JS_MAX_SAFE_INTEGER = 2**53 - 1
PRO: dict[str, Any] = {"attribute": "plan", "op": "equals", "value": "pro"}


@pytest.fixture
def app(api: ApiClient) -> ApiClient:
    """The test's app with variables an A/B test can override."""
    define(api, {"welcome": "Hi", "limits": {"maxItems": 10}, "dark": False})
    return api


def _path(api: ApiClient, test: dict[str, Any] | int | None = None, tail: str = "") -> str:
    base = f"/apps/{api.app.app_id}/ab-tests"
    if test is None:
        return base
    test_id = test if isinstance(test, int) else test["id"]
    return f"{base}/{test_id}{tail}"


def _two(**a: Any) -> list[dict[str, Any]]:
    return [variant("A", 50), variant("B", 50, **(a or {"welcome": "Yo"}))]


# -- drafts --------------------------------------------------------------------------------------------


def test_a_new_test_is_a_draft_whose_first_variant_is_the_control(admin: Admin, app: ApiClient) -> None:
    test = create_test(admin, app, [variant("A", 40), variant("B", 60, welcome="Yo", **{"limits.maxItems": 5})],
                       name="Welcome copy", goalEvents=["Purchase"])

    assert test["name"] == "Welcome copy"
    assert test["createdBy"] == admin.actor
    assert test["goalEvents"] == ["Purchase"]
    a, b = test["variants"]
    assert (a["name"], a["weight"], a["control"]) == ("A", 40, True)
    assert (b["name"], b["weight"], b.get("control", False)) == ("B", 60, False)
    assert b["overrides"] == {"welcome": "Yo", "limits.maxItems": 5}
    assert a["id"] != b["id"]
    assert admin.ok("GET", _path(app, test)) == test
    assert admin.ok("GET", _path(app)) == {"abTests": [test]}


def test_a_test_resource_always_states_its_state_and_traffic(admin: Admin, app: ApiClient) -> None:
    """A dashboard reads ``state`` and ``traffic`` of every test, drafts included."""
    test = create_test(admin, app, _two())

    assert test["state"] == "draft"
    assert test["traffic"] == 100


def test_variant_ids_are_assigned_by_the_server_even_when_given(admin: Admin, app: ApiClient) -> None:
    test = create_test(admin, app, [{**variant("A", 50), "id": 7}, {**variant("B", 50), "id": 7}])

    ids = list(variant_ids(test).values())
    assert 7 not in ids
    assert len(set(ids)) == 2


def test_the_control_can_be_chosen(admin: Admin, app: ApiClient) -> None:
    test = create_test(admin, app, [variant("A", 50), {**variant("B", 50), "control": True}])

    assert [v.get("control", False) for v in test["variants"]] == [False, True]


def test_test_and_variant_ids_are_safe_javascript_integers(admin: Admin, app: ApiClient) -> None:
    """The JS SDK and a browser dashboard parse ids as JavaScript numbers: above 2**53 they would be rounded."""
    ids = []
    for i in range(25):
        test = create_test(admin, app, [variant(f"V{j}", 25) for j in range(4)], name=f"t{i}")
        ids += [test["id"], *variant_ids(test).values()]

    too_big = [i for i in ids if not 0 < i <= JS_MAX_SAFE_INTEGER]
    assert too_big == [], f"{len(too_big)} of {len(ids)} ids exceed Number.MAX_SAFE_INTEGER"


@pytest.mark.parametrize(("body", "named"), [
    ({"name": "", "variants": _two()}, "name"),
    ({"name": "t", "variants": []}, "variants"),
    ({"name": "t", "variants": _two(), "traffic": 150}, "traffic"),
    ({"name": "t", "variants": _two(), "traffic": -1}, "traffic"),
    ({"name": "t", "variants": [variant("A", 120), variant("B", -20)]}, "variants[1].weight"),
    ({"name": "t", "variants": [variant("", 100)]}, "variants[0].name"),
    ({"name": "t", "variants": [{**variant("A", 50), "control": True}, {**variant("B", 50), "control": True}]},
     "variants"),
    ({"name": "t", "variants": _two(), "audienceId": 424242}, "audienceId"),
    ({"name": "t", "variants": _two(), "colour": "red"}, "colour"),
    ({"variants": _two()}, "name"),
])
def test_an_invalid_test_is_a_400_naming_the_field(
    admin: Admin, app: ApiClient, body: dict[str, Any], named: str
) -> None:
    assert named in admin.error("POST", _path(app), 400, body)
    assert admin.ok("GET", _path(app)) == {"abTests": []}


def test_a_draft_can_be_edited(admin: Admin, app: ApiClient) -> None:
    audience = admin.ok("POST", f"/apps/{app.app.app_id}/audiences", {"name": "Pro", "rule": PRO}, 201)
    test = create_test(admin, app, _two())
    kept = test["variants"][0]["id"]

    edited = admin.ok("PATCH", _path(app, test), {
        "name": "Renamed", "traffic": 30, "audienceId": audience["id"],
        "variants": [{"id": kept, "name": "A", "weight": 70}, variant("C", 30, dark=True)],
    })

    assert (edited["name"], edited["traffic"], edited["audienceId"]) == ("Renamed", 30, audience["id"])
    assert [v["name"] for v in edited["variants"]] == ["A", "C"]
    assert edited["variants"][0]["id"] == kept
    assert edited["variants"][1]["overrides"] == {"dark": True}
    assert edited["updated"] >= test["updated"]
    assert admin.ok("GET", _path(app, test)) == edited


def test_a_draft_can_drop_its_audience(admin: Admin, app: ApiClient) -> None:
    audience = admin.ok("POST", f"/apps/{app.app.app_id}/audiences", {"name": "Pro", "rule": PRO}, 201)
    test = create_test(admin, app, _two(), audienceId=audience["id"])

    edited = admin.ok("PATCH", _path(app, test), {"audienceId": None})

    assert edited.get("audienceId") is None
    assert admin.ok("GET", _path(app, test)).get("audienceId") is None


def test_a_bad_edit_changes_nothing(admin: Admin, app: ApiClient) -> None:
    test = create_test(admin, app, _two())

    assert "variants" in admin.error("PATCH", _path(app, test), 400, {"variants": [variant("A", 10)]})
    assert admin.ok("GET", _path(app, test)) == test


# -- running, finished, deleted ------------------------------------------------------------------------


def test_starting_a_draft_makes_it_run(admin: Admin, app: ApiClient) -> None:
    test = create_test(admin, app, _two())

    running = admin.ok("POST", _path(app, test, "/start"))

    assert running["state"] == "running"
    assert running["started"] >= test["created"]
    assert running["publishedBy"] == admin.actor
    assert admin.ok("GET", _path(app, test))["state"] == "running"


def test_a_running_test_cannot_start_again(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, _two())

    assert "running" in admin.error("POST", _path(app, test, "/start"), 409)


def test_a_running_tests_variants_and_audience_are_fixed(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, _two())

    message = admin.error("PATCH", _path(app, test), 409, {"variants": [variant("A", 100)]})
    assert "variants" in message
    assert admin.error("PATCH", _path(app, test), 409, {"audienceId": 1})
    assert admin.ok("GET", _path(app, test))["variants"] == test["variants"]


def test_a_running_tests_traffic_can_grow_but_not_shrink(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, _two(), traffic=30)

    assert "traffic" in admin.error("PATCH", _path(app, test), 409, {"traffic": 20})
    widened = admin.ok("PATCH", _path(app, test), {"traffic": 60, "name": "Wider"})

    assert (widened["traffic"], widened["name"], widened["state"]) == (60, "Wider", "running")


def test_finishing_a_running_test_records_the_chosen_variant(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, _two())
    chosen = variant_ids(test)["B"]

    finished = admin.ok("POST", _path(app, test, "/finish"), {"chosenVariantId": chosen})

    assert finished["state"] == "finished"
    assert finished["chosenVariantId"] == chosen
    assert finished["finished"] >= finished["started"]
    assert admin.ok("GET", _path(app, test)) == finished


def test_a_test_can_finish_without_a_winner(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, _two())

    finished = admin.ok("POST", _path(app, test, "/finish"), {})

    assert finished["state"] == "finished"
    assert finished.get("chosenVariantId") is None
    make_users(app, ["after-no-winner"])
    assert get_vars(app, "after-no-winner")["vars"] == {}


def test_the_winner_is_rolled_out_to_every_user(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, [variant("A", 50), variant("B", 50, welcome="Yo", **{"limits.maxItems": 5})])

    admin.ok("POST", _path(app, test, "/finish"), {"chosenVariantId": variant_ids(test)["B"]})

    make_users(app, ["after-1", "after-2", "after-3"])
    for user in ("after-1", "after-2", "after-3"):  # whatever variant they would have had
        answer = get_vars(app, user)
        assert answer["vars"] == {"welcome": "Yo", "limits": {"maxItems": 5}}
        assert answer["variants"] == []
    listed = {v["name"]: v for v in admin.ok("GET", f"/apps/{app.app.app_id}/variables")["variables"]}
    assert listed["welcome"]["value"] == "Yo"


def test_a_winner_whose_variable_was_deleted_rolls_out_the_rest(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, [variant("A", 50), variant("B", 50, welcome="Yo", dark=True)])
    app.ok("deleteVars", app.app.development, vars=["dark"])

    admin.ok("POST", _path(app, test, "/finish"), {"chosenVariantId": variant_ids(test)["B"]})

    make_users(app, ["after-delete"])
    assert get_vars(app, "after-delete")["vars"] == {"welcome": "Yo"}


def test_finishing_needs_a_running_test_and_one_of_its_variants(admin: Admin, app: ApiClient) -> None:
    draft = create_test(admin, app, _two())
    assert "draft" in admin.error("POST", _path(app, draft, "/finish"), 409, {})

    test = start_test(admin, app, _two())
    assert "chosenVariantId" in admin.error("POST", _path(app, test, "/finish"), 400,
                                            {"chosenVariantId": variant_ids(draft)["A"]})
    assert admin.ok("GET", _path(app, test))["state"] == "running"

    admin.ok("POST", _path(app, test, "/finish"), {})
    assert "finished" in admin.error("POST", _path(app, test, "/finish"), 409, {})
    assert admin.error("POST", _path(app, test, "/start"), 409)
    assert admin.error("PATCH", _path(app, test), 409, {"name": "Again"})


def test_delete_a_test(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, _two())

    assert admin.ok("DELETE", _path(app, test)) == {"ok": True}

    assert admin.error("GET", _path(app, test), 404)
    assert admin.error("DELETE", _path(app, test), 404)
    assert admin.ok("GET", _path(app)) == {"abTests": []}


def test_an_unknown_test_is_a_404(admin: Admin, app: ApiClient) -> None:
    assert admin.error("GET", _path(app, 123), 404)
    assert admin.error("GET", _path(app) + "/abc", 404)
    assert admin.error("PATCH", _path(app, 123), 404, {"name": "x"})
    assert admin.error("POST", _path(app, 123, "/start"), 404)
    assert admin.error("PUT", _path(app, 123, "/forced-variants/dev-1"), 404, {"variantId": None})


def test_a_test_of_another_app_is_not_found(admin: Admin, app: ApiClient) -> None:
    test = create_test(admin, app, _two())
    other = admin.ok("POST", "/apps", {"name": "Other"}, 201)

    assert admin.error("GET", f"/apps/{other['appId']}/ab-tests/{test['id']}", 404)
    assert admin.error("DELETE", f"/apps/{other['appId']}/ab-tests/{test['id']}", 404)


def test_forcing_a_device_needs_a_variant_of_that_test(admin: Admin, app: ApiClient) -> None:
    test = start_test(admin, app, _two())
    other = create_test(admin, app, _two())

    path = _path(app, test, "/forced-variants/dev-1")
    assert "variantId" in admin.error("PUT", path, 400, {"variantId": variant_ids(other)["A"]})
    assert admin.error("PUT", path, 400, {})
    assert admin.ok("PUT", path, {"variantId": variant_ids(test)["B"]}) == {"ok": True}
    assert admin.ok("PUT", path, {"variantId": None}) == {"ok": True}


def test_every_test_change_is_audited(admin: Admin, app: ApiClient) -> None:
    test = create_test(admin, app, _two())
    admin.ok("PATCH", _path(app, test), {"name": "Renamed"})
    admin.ok("POST", _path(app, test, "/start"))
    b = variant_ids(test)["B"]
    admin.ok("PUT", _path(app, test, "/forced-variants/dev-1"), {"variantId": b})
    admin.ok("POST", _path(app, test, "/finish"), {"chosenVariantId": b})
    admin.ok("DELETE", _path(app, test))

    entries = [e for e in admin.audit(app.app.app_id) if e["action"].startswith("abTest.")]
    tid = str(test["id"])
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (admin.actor, "abTest.create", tid),
        (admin.actor, "abTest.update", tid),
        (admin.actor, "abTest.start", tid),
        (admin.actor, "abTest.forceVariant", f"{tid}/dev-1"),
        (admin.actor, "abTest.finish", tid),
        (admin.actor, "abTest.delete", tid),
    ]
    assert entries[1]["details"]["name"] == "Renamed"
    assert entries[3]["details"] == {"variantId": b}
    assert entries[4]["details"]["chosenVariantId"] == b
