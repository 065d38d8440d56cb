"""Content served to the official Leanplum JavaScript SDK (npm ``leanplum-sdk`` 1.9.0, unmodified): variables a
team sets and A/B tests it runs through the management API reach ``Leanplum.start`` and ``forceContentUpdate``.

The journey: a developer's build defines the app's variables (``setVars`` with the development key); a team sets
one variable's value and starts an A/B test through ``/manage/v1``; the customer's page (production mode) declares
the same defaults, starts the SDK and reads the values through the SDK's public API; the team changes the value
again and moves the browser's device into the other variant; ``forceContentUpdate`` brings both.

SDK 1.9.0 behaviour these tests rely on (read from its published bundle, ``src/VarCache.ts`` and
``src/LeanplumInternal.ts``):

- ``Leanplum.setVariables(defaults)`` only stores the defaults in the page. ``setVars`` is sent in development
  mode only (when the dev socket asks for the variables), so in production the variables must already be defined
  on the server: here by the ``setVars`` call a developer's dev build would have made.
- ``start`` and ``getVars`` (``forceContentUpdate``) both ask for ``includeDefaults: false``: the server answers
  with the values that differ from the code defaults, and the SDK merges them onto the page's defaults.
  ``getVariables()`` returns that merged object, ``getVariable(...path)`` walks it, ``getVariants()`` returns the
  answer's ``variants`` list (``[{"id": ...}]``) as parsed by ``JSON.parse``.
- A variable the answer leaves out keeps the page's default (the merge copies every default the diff lacks).
- ``addVariablesChangedHandler`` handlers run after every successful ``start`` / ``getVars`` answer.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from .conftest import SDK_VERSION
from .test_js_sdk import assert_sdk_run_was_clean

if TYPE_CHECKING:
    from .conftest import E2eApp, LeanplumPage, ManagementApi, OpenplumServer

pytestmark = pytest.mark.e2e

CODE_DEFAULTS: dict[str, Any] = {"welcomeMessage": "hello", "maxLevel": 7, "colors": {"primary": "blue"}}
AB_TEST: dict[str, Any] = {
    "name": "Level cap",
    "variants": [
        {"name": "control", "weight": 50, "control": True},
        {"name": "higher cap", "weight": 50, "overrides": {"maxLevel": 12}},
    ],
}
# JavaScript numbers are doubles: integers above this lose precision in the SDK's JSON.parse.
JS_MAX_SAFE_INTEGER = 2**53 - 1
SAFE_ID_ATTEMPTS = 20


def define_variables_like_a_dev_build(server: OpenplumServer, app: E2eApp, variables: dict[str, Any]) -> None:
    """``setVars`` exactly as SDK 1.9.0 sends it in development mode: a standalone POST with every argument in
    the query, the development key, ``devMode=true`` and a ``text/plain`` body ``{"vars": ...}``."""
    query = {
        "appId": app.app_id,
        "client": "js",
        "clientKey": app.development_key,
        "sdkVersion": SDK_VERSION,
        "deviceId": "e2e-developer-browser",
        "userId": "e2e-developer",
        "action": "setVars",
        "devMode": "true",
        "time": f"{time.time():.3f}",
    }
    response = httpx.post(
        server.api_url,
        params=query,
        content=json.dumps({"vars": variables}),
        headers={"Content-Type": "text/plain"},
        timeout=5.0,
    )
    assert response.status_code == 200, f"setVars: HTTP {response.status_code}: {response.text[:2000]}"
    items = response.json().get("response")
    assert isinstance(items, list), f"setVars: {response.text[:2000]}"
    assert len(items) == 1, f"setVars: {response.text[:2000]}"
    assert items[0].get("success") is True, f"setVars failed: {items[0]!r}"
    assert "error" not in items[0], f"setVars answered {items[0]!r}"
    assert "warning" not in items[0], f"setVars answered {items[0]!r}"


def _ids_of(test: dict[str, Any]) -> list[int]:
    return [test["id"], *(variant["id"] for variant in test["variants"])]


def create_ab_test_with_js_safe_ids(manage: ManagementApi, app_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Creates a draft A/B test whose ids the SDK can hold exactly.

    openplum currently draws ids from [10**15, 10**16), about 11 % of which are above 2**53, so a JS client's
    ``JSON.parse`` may round a variant id (``test_ab_test_ids_are_exact_javascript_numbers`` shows it). Until that
    is fixed, such drafts are deleted and created again, so this journey checks the content path, not luck.
    """
    for _ in range(SAFE_ID_ATTEMPTS):
        test: dict[str, Any] = manage.call("POST", f"/apps/{app_id}/ab-tests", body, expect=201)
        if all(0 < i <= JS_MAX_SAFE_INTEGER for i in _ids_of(test)):
            return test
        manage.call("DELETE", f"/apps/{app_id}/ab-tests/{test['id']}")
    pytest.fail(f"no A/B test with JS-safe ids in {SAFE_ID_ATTEMPTS} attempts", pytrace=False)


def expected_values(variant: dict[str, Any], welcome: str) -> dict[str, Any]:
    """What ``Leanplum.getVariables()`` must return: code defaults < team value < the variant's overrides."""
    max_level = variant.get("overrides", {}).get("maxLevel", CODE_DEFAULTS["maxLevel"])
    return {"welcomeMessage": welcome, "maxLevel": max_level, "colors": {"primary": "blue"}}


def reported_variant(sdk: LeanplumPage, test: dict[str, Any]) -> dict[str, Any]:
    """The one variant of ``test`` that ``Leanplum.getVariants()`` reports (the app runs no other test)."""
    variants = sdk.variants()
    by_id = {variant["id"]: variant for variant in test["variants"]}
    expected = f"expected exactly one of the test's variants {[(v['id'], v['name']) for v in test['variants']]}"
    assert len(variants) == 1, f"Leanplum.getVariants() is {variants!r}; {expected}"
    assert variants[0].get("id") in by_id, f"Leanplum.getVariants() is {variants!r}; {expected}"
    variant: dict[str, Any] = by_id[variants[0]["id"]]
    return variant


def install_variables_changed_recorder(sdk: LeanplumPage) -> None:
    """``Leanplum.addVariablesChangedHandler``: records ``welcomeMessage`` each time the SDK applies content."""
    sdk.page.evaluate(
        """() => {
            window.e2eVariableChanges = [];
            Leanplum.addVariablesChangedHandler(
                () => window.e2eVariableChanges.push(Leanplum.getVariable('welcomeMessage')));
        }"""
    )


def variable_changes(sdk: LeanplumPage) -> list[Any]:
    changes: list[Any] = sdk.page.evaluate("() => window.e2eVariableChanges")
    return changes


def test_team_values_and_ab_variants_reach_the_sdk(
    content_sdk: LeanplumPage, content_app: E2eApp, openplum_server: OpenplumServer, manage: ManagementApi
) -> None:
    sdk, app_id = content_sdk, content_app.app_id
    user_id = f"e2e-content-{secrets.token_hex(4)}"

    # A developer's build defined the variables; the team sets a value and starts an A/B test.
    define_variables_like_a_dev_build(openplum_server, content_app, CODE_DEFAULTS)
    listed = manage.call("GET", f"/apps/{app_id}/variables")["variables"]
    assert {(v["name"], v["kind"], v["default"]) for v in listed} == {
        ("welcomeMessage", "string", "hello"),
        ("maxLevel", "integer", 7),
        ("colors.primary", "string", "blue"),
    }, f"variables after setVars: {listed!r}"
    manage.call("PUT", f"/apps/{app_id}/variables/welcomeMessage/value", {"value": "hello from the team"})
    draft = create_ab_test_with_js_safe_ids(manage, app_id, AB_TEST)
    test_id = draft["id"]
    started = manage.call("POST", f"/apps/{app_id}/ab-tests/{test_id}/start")
    assert started["state"] == "running", f"after start: {started!r}"
    test = manage.call("GET", f"/apps/{app_id}/ab-tests/{test_id}")

    # The customer's page declares the same defaults in code and starts the SDK in production mode.
    sdk.set_variables(CODE_DEFAULTS)
    install_variables_changed_recorder(sdk)
    assert sdk.start(user_id, {}) is True, "Leanplum.start reported failure"
    variant = reported_variant(sdk, test)
    assert sdk.variables() == expected_values(variant, "hello from the team"), f"in variant {variant['name']!r}"
    assert sdk.variable("welcomeMessage") == "hello from the team"
    assert sdk.variable("maxLevel") == expected_values(variant, "")["maxLevel"]
    assert sdk.variable("colors", "primary") == "blue"

    # The team changes the value again: forceContentUpdate brings it, the variant stays.
    manage.call("PUT", f"/apps/{app_id}/variables/welcomeMessage/value", {"value": "hello again"})
    assert sdk.force_content_update() is True, "Leanplum.forceContentUpdate reported failure"
    assert reported_variant(sdk, test) == variant, "the user's variant changed without a reason"
    assert sdk.variables() == expected_values(variant, "hello again")

    # The browser's device is forced into the other variant: the SDK follows, whichever it was in.
    other = next(v for v in test["variants"] if v["id"] != variant["id"])
    manage.call(
        "PUT", f"/apps/{app_id}/ab-tests/{test_id}/forced-variants/{sdk.device_id()}", {"variantId": other["id"]}
    )
    assert sdk.force_content_update() is True, "Leanplum.forceContentUpdate reported failure"
    assert reported_variant(sdk, test) == other, f"device forced into {other['name']!r}"
    assert sdk.variables() == expected_values(other, "hello again"), f"in variant {other['name']!r}"

    sdk.stop()
    sdk.wait_until_flushed(last_action="stop")
    assert_sdk_run_was_clean(sdk)
    assert sdk.sent_actions() == ["start", "getVars", "getVars", "stop"], "production mode never sends setVars"
    for item in sdk.sent_items("start") + sdk.sent_items("getVars"):
        assert item["userId"] == user_id, f"content request {item!r}"
        assert item["includeDefaults"] is False, f"content request {item!r}"
    assert variable_changes(sdk) == ["hello from the team", "hello again", "hello again"], (
        "addVariablesChangedHandler: one call per applied answer"
    )


def test_ab_test_ids_are_exact_javascript_numbers(
    content_sdk: LeanplumPage, content_app: E2eApp, manage: ManagementApi
) -> None:
    """Every A/B test and variant id survives the SDK's ``JSON.parse``: ``getVariants()`` must report the id
    the server assigned. Many drafts are created so that an id range reaching past 2**53 shows every run."""
    app_id = content_app.app_id
    ids: list[int] = []
    for _ in range(50):
        test = manage.call(
            "POST",
            f"/apps/{app_id}/ab-tests",
            {
                "name": "Ids",
                "variants": [
                    {"name": "a", "weight": 50, "control": True},
                    {"name": "b", "weight": 50},
                ],
            },
            expect=201,
        )
        ids.extend(_ids_of(test))
    # What the SDK's Network.ajax does with an answer: JSON.parse of the response text.
    parsed = content_sdk.page.evaluate(
        """texts => texts.map(text => {
            const id = JSON.parse(`{"id": ${text}}`).id;
            return {text, safe: Number.isSafeInteger(id), parsed: JSON.stringify(id)};
        })""",
        [str(i) for i in ids],
    )
    unsafe = [entry for entry in parsed if not entry["safe"]]
    assert not unsafe, (
        f"{len(unsafe)} of {len(ids)} A/B test/variant ids are above Number.MAX_SAFE_INTEGER (2**53 - 1), so the "
        "JS SDK cannot hold them exactly (JSON.parse rounds; neighbours collide), e.g. "
        + ", ".join(f"{e['text']} -> {e['parsed']}" for e in unsafe[:5])
    )
