"""Variables end to end: defined by ``setVars`` (API.md §6.5, §7.4) as code declares them, given team values
through the management API, served by ``getVars`` and ``start`` to everyone, removed by ``deleteVars``; bad
names and values refused with nothing changed; every change audited."""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin import Admin, define, get_vars, set_value
from tests.clients import Js, send_ok
from tests.conftest import ApiClient

CODE: dict[str, Any] = {
    "welcome": "Hi",
    "limits": {"maxItems": 10, "ratio": 0.5},
    "flags": {"dark": False},
    "items": [1, 2],
}


def _variables(admin: Admin, api: ApiClient) -> dict[str, dict[str, Any]]:
    listed = admin.ok("GET", f"/apps/{api.app.app_id}/variables")["variables"]
    return {v["name"]: {k: x for k, x in v.items() if k != "name"} for v in listed}


def _users(api: ApiClient, *user_ids: str) -> None:
    for user_id in user_ids:
        api.ok("start", userId=user_id, deviceId=f"{user_id}-phone")


def _refused(api: ApiClient, action: str, **params: Any) -> str:
    """Call a development-key action that must fail alone (HTTP 400); return its error message."""
    response = api.call(action, api.app.development, **params)
    item = response.json()["response"][0]
    assert response.status_code == 400, response.text
    assert item["success"] is False, item
    message: str = item["error"]["message"]
    return message


# -- defining variables (setVars) ----------------------------------------------------------------------


def test_set_vars_defines_nested_variables_with_inferred_kinds(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)

    assert _variables(admin, api) == {
        "welcome": {"kind": "string", "default": "Hi", "value": None, "overridden": False},
        "limits.maxItems": {"kind": "integer", "default": 10, "value": None, "overridden": False},
        "limits.ratio": {"kind": "float", "default": 0.5, "value": None, "overridden": False},
        "flags.dark": {"kind": "bool", "default": False, "value": None, "overridden": False},
        "items": {"kind": "list", "default": [1, 2], "value": None, "overridden": False},
    }


def test_set_vars_takes_the_kinds_the_sdk_gives(admin: Admin, api: ApiClient) -> None:
    define(
        api,
        {"accent": 16711680, "banner": "hero.png", "price": 3, "onTap": {"__name__": "Open URL", "URL": "x"},
         "tags": ["a"], "limits": {"maxItems": 10}},
        {"accent": "color", "banner": "file", "price": "float", "onTap": "action", "tags": "LIST",
         "limits.maxItems": "float"},
    )

    kinds = {name: v["kind"] for name, v in _variables(admin, api).items()}
    assert kinds == {"accent": "color", "banner": "file", "price": "float", "onTap": "action", "tags": "list",
                     "limits.maxItems": "float"}


def test_set_vars_as_the_js_sdk_sends_it_in_a_text_plain_body(admin: Admin, api: ApiClient) -> None:
    response = api.http.post(
        "/api",
        params={"appId": api.app.app_id, "client": "js", "clientKey": api.app.development, "sdkVersion": "1.9.1",
                "deviceId": "dev-1", "userId": "u-42", "action": "setVars", "devMode": "true", "time": "1714000200.5"},
        content=b'{"vars":{"welcomeText":"Hello","limits":{"maxItems":10}}}', headers={"Content-Type": "text/plain"},
    )

    assert response.json() == {"response": [{"success": True}]}
    assert set(_variables(admin, api)) == {"welcomeText", "limits.maxItems"}


def test_get_vars_with_defaults_returns_the_whole_tree(api: ApiClient) -> None:
    define(api, CODE)
    _users(api, "u-1")

    assert get_vars(api, "u-1", includeDefaults=True)["vars"] == CODE
    assert get_vars(api, "u-1")["vars"] == {}


def test_start_returns_every_value_unless_told_not_to(api: ApiClient) -> None:
    define(api, CODE)

    assert api.ok("start", userId="u-1")["vars"] == CODE
    assert api.ok("start", userId="u-2", includeDefaults=False)["vars"] == {}


def test_set_vars_as_android_sends_it_in_a_form(admin: Admin, api: ApiClient) -> None:
    form = {"appId": api.app.app_id, "clientKey": api.app.development, "client": "android", "action": "setVars",
            "devMode": "true", "vars": '{"welcome":"Hi","accent":-16776961}', "kinds": '{"accent":"color"}'}

    response = api.http.post("/api", data=form)

    assert response.json()["response"][0]["success"] is True, response.text
    assert {n: v["kind"] for n, v in _variables(admin, api).items()} == {"welcome": "string", "accent": "color"}


def test_set_vars_needs_the_development_key(api: ApiClient) -> None:
    response = api.call("setVars", api.app.production, vars={"welcome": "Hi"})

    assert response.status_code == 403
    assert response.json()["response"][0]["error"]["message"].startswith("Invalid access key")


@pytest.mark.parametrize(("values", "named"), [
    ({".hidden": 1}, ".hidden"),
    ({"-dash": 1}, "-dash"),
    ({"ends/": 1}, "ends/"),
    ({"a,b": 1}, "a,b"),
    ({"a|b": 1}, "a|b"),
    ({'say"hi': 1}, 'say"hi'),
    ({"{brace": 1}, "{brace"),
    ({"tab\there": 1}, "tab\\there"),
    ({"12345": 1}, "12345"),
    ({"x" * 140: 1}, "x" * 40),
    ({"limits": {".inner": 1}}, "limits..inner"),
])
def test_an_invalid_variable_name_is_refused_and_nothing_is_defined(
    admin: Admin, api: ApiClient, values: dict[str, Any], named: str
) -> None:
    message = _refused(api, "setVars", vars={"fine": "ok", **values})

    assert "Invalid variable name" in message
    assert named in message
    assert _variables(admin, api) == {}


def test_a_default_that_does_not_fit_its_given_kind_is_refused(admin: Admin, api: ApiClient) -> None:
    message = _refused(api, "setVars", vars={"fine": "ok", "count": "many"}, kinds={"count": "integer"})

    assert "'count'" in message
    assert "integer" in message
    assert _variables(admin, api) == {}


def test_an_unknown_kind_is_refused(admin: Admin, api: ApiClient) -> None:
    message = _refused(api, "setVars", vars={"count": 1}, kinds={"count": "bignum"})

    assert "bignum" in message
    assert _variables(admin, api) == {}


# -- team values ---------------------------------------------------------------------------------------


def test_a_team_value_overrides_the_default_for_everyone(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)
    _users(api, "u-1", "u-2")

    set_value(admin, api, "welcome", "Hello from the team")
    set_value(admin, api, "limits.maxItems", 20)

    for user_id in ("u-1", "u-2"):
        assert get_vars(api, user_id)["vars"] == {"welcome": "Hello from the team", "limits": {"maxItems": 20}}
        assert get_vars(api, user_id, includeDefaults=True)["vars"] == {
            **CODE, "welcome": "Hello from the team", "limits": {"maxItems": 20, "ratio": 0.5}}
    started = api.ok("start", userId="u-3", includeDefaults=False)
    assert started["vars"] == {"welcome": "Hello from the team", "limits": {"maxItems": 20}}
    assert started["variants"] == []


def test_start_as_the_js_sdk_sends_it_sees_the_team_value(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)
    set_value(admin, api, "flags.dark", True)
    js = Js(api, "Qm4x0PzL8rTa2cYw", "u-42")

    answer, = send_ok(api, [js.item("start", 0, includeDefaults=False, includeVariantDebugInfo=False,
                                    userAttributes={"plan": "pro"})])

    assert answer["vars"] == {"flags": {"dark": True}}
    assert isinstance(answer["messages"], dict)


def test_the_variable_list_shows_team_values(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)
    set_value(admin, api, "items", [3, 4, 5])

    assert _variables(admin, api)["items"] == {"kind": "list", "default": [1, 2], "value": [3, 4, 5],
                                               "overridden": True}


def test_include_defaults_false_returns_only_overridden_values(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)
    _users(api, "u-1")
    set_value(admin, api, "limits.ratio", 0.75)

    assert get_vars(api, "u-1", includeDefaults=False)["vars"] == {"limits": {"ratio": 0.75}}
    assert get_vars(api, "u-1", includeDefaults="false")["vars"] == {"limits": {"ratio": 0.75}}


def test_an_integral_float_is_accepted_for_an_integer(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)
    _users(api, "u-1")
    set_value(admin, api, "limits.maxItems", 30.0)

    assert get_vars(api, "u-1")["vars"] == {"limits": {"maxItems": 30}}


def test_redefining_a_variable_in_code_keeps_the_team_value(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)
    _users(api, "u-1")
    set_value(admin, api, "welcome", "Team")

    define(api, {**CODE, "welcome": "New code default"})

    assert get_vars(api, "u-1", includeDefaults=True)["vars"]["welcome"] == "Team"
    assert _variables(admin, api)["welcome"]["default"] == "New code default"


def test_a_team_value_that_no_longer_fits_a_redefined_kind_is_not_served(admin: Admin, api: ApiClient) -> None:
    """Typed SDKs (Android's ``Var<Integer>``) cannot take a string for a variable the code now declares an
    integer: after the code changes a variable's kind, the old team value must not reach them."""
    define(api, {"count": "few"})
    _users(api, "u-1")
    set_value(admin, api, "count", "many")

    define(api, {"count": 5})

    assert get_vars(api, "u-1", includeDefaults=True)["vars"] == {"count": 5}
    assert get_vars(api, "u-1")["vars"] == {}


def test_get_vars_returns_every_value_unless_told_not_to(api: ApiClient) -> None:
    define(api, CODE)
    _users(api, "u-1")

    assert api.ok("getVars", userId="u-1")["vars"] == CODE


@pytest.mark.parametrize(("name", "value"), [
    ("limits.maxItems", "lots"),
    ("limits.maxItems", 1.5),
    ("limits.maxItems", True),
    ("limits.ratio", "half"),
    ("flags.dark", "true"),
    ("flags.dark", 1),
    ("welcome", 5),
    ("items", {"a": 1}),
])
def test_a_value_of_the_wrong_kind_is_a_400_naming_the_variable(
    admin: Admin, api: ApiClient, name: str, value: Any
) -> None:
    define(api, CODE)
    _users(api, "u-1")
    before, audit_before = _variables(admin, api), admin.audit(api.app.app_id)

    message = admin.error("PUT", f"/apps/{api.app.app_id}/variables/{name}/value", 400, {"value": value})

    assert repr(name) in message
    assert _variables(admin, api) == before
    assert admin.audit(api.app.app_id) == audit_before
    assert get_vars(api, "u-1")["vars"] == {}


def test_an_unknown_variable_is_a_404(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)

    message = admin.error("PUT", f"/apps/{api.app.app_id}/variables/nothing/value", 404, {"value": 1})
    assert "'nothing'" in message
    assert admin.error("DELETE", f"/apps/{api.app.app_id}/variables/nothing/value", 404)
    assert admin.error("PUT", f"/apps/{api.app.app_id}/variables/limits/value", 404, {"value": {}})


def test_a_null_value_is_refused(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)

    assert "value" in admin.error("PUT", f"/apps/{api.app.app_id}/variables/welcome/value", 400, {"value": None})
    assert "value" in admin.error("PUT", f"/apps/{api.app.app_id}/variables/welcome/value", 400, {})
    assert admin.error("PUT", f"/apps/{api.app.app_id}/variables/welcome/value", 400, {"value": 1, "extra": 2})


def test_a_team_value_for_a_name_with_a_slash(admin: Admin, api: ApiClient) -> None:
    """§3.6 allows '/' inside a name (not at its end); the name travels URL-encoded in the path."""
    define(api, {"onboarding/title": "Welcome"})
    _users(api, "u-1")

    admin.ok("PUT", f"/apps/{api.app.app_id}/variables/onboarding%2Ftitle/value", {"value": "Hi there"})

    assert get_vars(api, "u-1")["vars"] == {"onboarding/title": "Hi there"}


def test_deleting_the_team_value_returns_to_the_default(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)
    _users(api, "u-1")
    set_value(admin, api, "welcome", "Team")

    admin.ok("DELETE", f"/apps/{api.app.app_id}/variables/welcome/value")

    assert get_vars(api, "u-1")["vars"] == {}
    assert get_vars(api, "u-1", includeDefaults=True)["vars"]["welcome"] == "Hi"
    assert _variables(admin, api)["welcome"] == {"kind": "string", "default": "Hi", "value": None,
                                                 "overridden": False}


# -- deleting variables (deleteVars) -------------------------------------------------------------------


def test_delete_vars_removes_variables_and_names_those_removed(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)
    _users(api, "u-1")
    set_value(admin, api, "welcome", "Team")

    answer = api.ok("deleteVars", api.app.development, vars=["welcome", "nothing", "limits.ratio"])

    assert answer["variablesRemoved"] == ["welcome", "limits.ratio"]
    assert set(_variables(admin, api)) == {"limits.maxItems", "flags.dark", "items"}
    assert get_vars(api, "u-1", includeDefaults=True)["vars"] == {
        "limits": {"maxItems": 10}, "flags": {"dark": False}, "items": [1, 2]}
    assert get_vars(api, "u-1")["vars"] == {}


def test_delete_vars_of_unknown_names_removes_nothing(api: ApiClient) -> None:
    define(api, CODE)

    assert api.ok("deleteVars", api.app.development, vars=["nothing"])["variablesRemoved"] == []


def test_delete_vars_needs_the_development_key(admin: Admin, api: ApiClient) -> None:
    define(api, CODE)

    response = api.call("deleteVars", api.app.production, vars=["welcome"])

    assert response.status_code == 403
    assert "welcome" in _variables(admin, api)


# -- the audit log -------------------------------------------------------------------------------------


def test_every_variable_change_is_audited_with_who_and_what(admin: Admin, api: ApiClient) -> None:
    define(api, {"welcome": "Hi", "limits": {"maxItems": 10}})
    set_value(admin, api, "welcome", "Team")
    admin.ok("DELETE", f"/apps/{api.app.app_id}/variables/welcome/value")
    api.ok("deleteVars", api.app.development, vars=["limits.maxItems"])

    entries = admin.audit(api.app.app_id)
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("api:development", "variables.define", "welcome,limits.maxItems"),
        (admin.actor, "variables.set", "welcome"),
        (admin.actor, "variables.reset", "welcome"),
        ("api:development", "variables.delete", "limits.maxItems"),
    ]
    assert entries[0]["details"]["count"] == 2
    assert entries[1]["details"] == {"value": "Team"}
    assert entries[3]["details"] == {"names": ["limits.maxItems"]}
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    assert all(e["at"] > 0 for e in entries)
