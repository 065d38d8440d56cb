"""Isolation: app by key class by action, over every action of the table, and the management API's admin token.

Two apps full of data (``alpha`` and ``beta``, see ``tenants.seed``): no key of one app reads or changes anything
of the other through any action; each key class reaches exactly its own actions; what one app holds never shows
in an answer to the other's keys, whichever of its identifiers are sent; and every management route but the
OpenAPI document refuses a request without a valid admin token, changing nothing.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

import openplum.app  # noqa: F401 - wires every management route module onto the registry, as the server does
from openplum.actions.prepare import INVALID_KEY
from openplum.actions.table import ACTIONS
from openplum.http.auth import APP_NOT_FOUND
from openplum.manage.registry import Route
from openplum.manage.resources import routes
from openplum.services import admin_tokens
from openplum.services.apps import KeyClass
from tests.admin import MANAGE, make_token, open_admin, token_id
from tests.conftest import ApiClient, Server, create_test_app
from tests.reliability.tenants import (
    Tenant,
    as_json,
    call,
    changes,
    error_of,
    fingerprint,
    items,
    key_of,
    may_call,
    params_for,
    seed,
)

CLASSES = list(KeyClass)
LAST = ("unblock", "block", "deleteVars", "deletePostback", "deleteUser")
"""Actions that take away what others act on: the matrix runs them last."""
ORDER = sorted(ACTIONS, key=lambda name: LAST.index(name) if name in LAST else -1)
NO_BATCH = {"multi", "uploadFile", "downloadFile"}
"""Actions that cannot be an item of a JSON ``multi`` (a nested batch; needs file parts; must be alone)."""


def _label(value: Any) -> str:
    return value.value if isinstance(value, KeyClass) else str(value)


@pytest.fixture(scope="module")
def alpha_beta(server: Server) -> tuple[Tenant, Tenant]:
    with open_admin(server) as admin, httpx.Client(base_url=server.url, timeout=30) as http:
        return (seed(ApiClient(server, create_test_app(server), http), admin, "alpha"),
                seed(ApiClient(server, create_test_app(server), http), admin, "beta"))


@pytest.fixture(scope="module")
def gamma(server: Server) -> Tenant:
    """An app of its own for the key-class matrix, which changes what it holds."""
    with open_admin(server) as admin, httpx.Client(base_url=server.url, timeout=30) as http:
        return seed(ApiClient(server, create_test_app(server), http), admin, "gamma")


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


# -- app against app----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key_class", CLASSES, ids=_label)
def test_no_key_of_one_app_acts_on_another_through_any_action(
    server: Server, http: httpx.Client, alpha_beta: tuple[Tenant, Tenant], key_class: KeyClass
) -> None:
    alpha, beta = alpha_beta
    before = fingerprint(server, beta.app.app_id)
    wrong = []
    for action in ORDER:
        response = call(http, beta.app.app_id, key_of(alpha.app, key_class), action, params_for(action, beta))
        answer = items(response)
        if response.status_code != 403 or len(answer) != 1 or error_of(answer[0]) != INVALID_KEY:
            wrong.append(f"{action}: {response.status_code} {response.text[:200]}")
    batch = [{"action": a, **params_for(a, beta)} for a in ORDER if a not in NO_BATCH]
    response = http.post("/api", params={"appId": beta.app.app_id, "clientKey": key_of(alpha.app, key_class),
                                         "action": "multi"}, json={"data": batch})
    if response.status_code != 403 or error_of(items(response)[0]) != INVALID_KEY:
        wrong.append(f"multi of {len(batch)} items: {response.status_code} {response.text[:200]}")

    assert not wrong, wrong
    assert changes(before, fingerprint(server, beta.app.app_id)) == {}


@pytest.mark.parametrize("key_class", CLASSES, ids=_label)
def test_a_batch_of_one_app_cannot_carry_items_for_another(
    server: Server, http: httpx.Client, alpha_beta: tuple[Tenant, Tenant], key_class: KeyClass
) -> None:
    """Items naming the other app, or carrying the other app's key, are refused one by one; the batch's own run."""
    alpha, beta = alpha_beta
    before = fingerprint(server, beta.app.app_id)
    foreign = [a for a in ORDER if a not in NO_BATCH]
    batch = [{"action": "getMigrateState"}]
    batch += [{"action": a, **params_for(a, beta), "appId": beta.app.app_id, "clientKey": key_of(beta.app, key_class)}
              for a in foreign]
    batch += [{"action": a, **params_for(a, beta), "clientKey": key_of(beta.app, key_class)} for a in foreign]
    response = http.post("/api", params={"appId": alpha.app.app_id, "clientKey": alpha.app.development,
                                         "action": "multi"}, json={"data": batch})

    assert response.status_code == 200, response.text
    answers = items(response)
    assert answers[0]["success"] is True, answers[0]
    other_app = answers[1 : 1 + len(foreign)]
    other_key = answers[1 + len(foreign) :]
    assert {error_of(a) for a in other_app} == {"All actions in a batch must be for the same app."}, other_app
    assert {error_of(a) for a in other_key} == {INVALID_KEY}, other_key
    assert changes(before, fingerprint(server, beta.app.app_id)) == {}


@pytest.mark.parametrize("key_class", CLASSES, ids=_label)
def test_a_key_for_an_app_that_does_not_exist_is_app_not_found(
    http: httpx.Client, alpha_beta: tuple[Tenant, Tenant], key_class: KeyClass
) -> None:
    alpha, _ = alpha_beta
    wrong = []
    for action in ORDER:
        response = call(http, "app_missing", key_of(alpha.app, key_class), action, params_for(action, alpha))
        if response.status_code != 403 or error_of(items(response)[0]) != APP_NOT_FOUND:
            wrong.append(f"{action}: {response.status_code} {response.text[:200]}")
    assert not wrong, wrong


def test_what_one_app_holds_is_invisible_to_the_other_apps_reads(
    server: Server, http: httpx.Client, alpha_beta: tuple[Tenant, Tenant]
) -> None:
    alpha, beta = alpha_beta

    def read(action: str, **params: Any) -> dict[str, Any]:
        response = call(http, beta.app.app_id, key_of(beta.app, ACTIONS[action].key_class), action, params)
        assert alpha.secret not in response.text, (action, response.text[:500])
        answer = items(response)
        assert len(answer) == 1, answer
        return answer[0]

    profile = read("exportUser", userId=alpha.user)
    assert profile["success"] is True, profile
    assert "userId" not in profile, profile
    assert profile["warning"]["message"] == "User not found.", profile
    content = read("getVars", userId=alpha.user, deviceId=alpha.device, includeDefaults=True)
    assert alpha.variable not in content["vars"], content
    assert beta.variable in content["vars"], "the control: beta's own variable is served"
    tests = read("getAbTests", includeDrafts=True, recent=False)["abTests"]
    assert [t["name"] for t in tests] == [f"{beta.secret}-test"], tests
    for action, ident in [("getAbTest", alpha.test_id), *[("getVariant", v) for v in alpha.variant_ids]]:
        found = read(action, id=ident, includeDrafts=True)
        assert found["success"] is False or beta.secret in as_json(found), (action, found)
    hooks = read("listPostbacks")["postbacks"]
    assert [h["postbackId"] for h in hooks] == [beta.postback_id], hooks
    for action, job in [("getExportResults", alpha.export_job), ("getMultiResults", alpha.import_job)]:
        found = read(action, jobId=job)
        assert found["success"] is False, (action, found)
        assert error_of(found).startswith("No "), (action, found)
    missing_file = call(http, beta.app.app_id, beta.app.production, "downloadFile", {"filename": alpha.filename})
    assert missing_file.status_code == 404, missing_file.text
    found = read("exportUsers", audienceName=alpha.audience)
    assert found["success"] is False, found
    assert "audience" in error_of(found), found
    assert read("exportUsers", audienceName=beta.audience)["success"] is True, "the control: beta's own audience"


def test_one_apps_keys_change_nothing_of_another_whatever_identifiers_they_send(
    server: Server, http: httpx.Client, alpha_beta: tuple[Tenant, Tenant]
) -> None:
    """Every action with beta's own (right) key, aimed at alpha's user, file, postback, jobs, test and variable."""
    alpha, beta = alpha_beta
    before = fingerprint(server, alpha.app.app_id)
    leaks = []
    for action in ORDER:
        response = call(http, beta.app.app_id, key_of(beta.app, ACTIONS[action].key_class), action,
                        params_for(action, alpha))
        assert response.status_code < 500 or (response.status_code, ACTIONS[action].implemented) == (501, False), (
            action, response.text)
        if alpha.secret in response.text or alpha.secret in response.headers.get("location", ""):
            leaks.append(f"{action}: {response.text[:300]}")

    assert not leaks, leaks
    assert changes(before, fingerprint(server, alpha.app.app_id)) == {}


def test_a_signed_file_url_does_not_open_another_apps_file(
    http: httpx.Client, alpha_beta: tuple[Tenant, Tenant]
) -> None:
    alpha, beta = alpha_beta
    redirect = call(http, alpha.app.app_id, alpha.app.production, "downloadFile", {"filename": alpha.filename})
    assert redirect.status_code == 302, redirect.text
    url = redirect.headers["location"]
    assert http.get(url).content == f"{alpha.secret} file bytes".encode(), "the control: the URL works as given"

    for app_id in (beta.app.app_id, "app_missing"):
        moved = http.get(url.replace(f"/files/{alpha.app.app_id}/", f"/files/{app_id}/"))
        assert moved.status_code in (403, 404), (moved.status_code, moved.text[:200])
        assert alpha.secret.encode() not in moved.content


# -- key class against action-------------------------------------------------------------------------------


def _own(http: httpx.Client, tenant: Tenant, suffix: str) -> Tenant:
    """The tenant with a user of the test's own and a fresh postback, so that one test's deleteUser, block or
    deletePostback leaves the next test something to act on."""
    query = {"appId": tenant.app.app_id, "clientKey": tenant.app.data_export}
    for hook in http.get("/api", params={**query, "action": "listPostbacks"}).json()["response"][0]["postbacks"]:
        http.get("/api", params={**query, "action": "deletePostback", "postbackId": hook["postbackId"]})
    added = http.post("/api", params={**query, "action": "addPostback"}, json=params_for("addPostback", tenant))
    postback_id = added.json()["response"][0]["postbackId"]
    return replace(tenant, user=f"{tenant.user}-{suffix}", device=f"{tenant.device}-{suffix}",
                   postback_id=postback_id)


@pytest.mark.parametrize("key_class", CLASSES, ids=_label)
def test_each_key_class_reaches_exactly_its_own_actions(
    http: httpx.Client, gamma: Tenant, key_class: KeyClass
) -> None:
    """Refused with the class it needs; else not implemented (501, saying so), or done."""
    mine = _own(http, gamma, key_class.value)
    wrong = []
    for action in ORDER:
        spec = ACTIONS[action]
        response = call(http, gamma.app.app_id, key_of(gamma.app, key_class), action, params_for(action, mine))
        answer = items(response)[0]
        message = error_of(answer)
        if not may_call(key_class, spec.key_class):
            expected = f"{INVALID_KEY}: action '{action}' requires the {spec.key_class.label} key"
            if (response.status_code, message) != (403, expected):
                wrong.append(f"{action} should be refused: {response.status_code} {response.text[:200]}")
        elif not spec.implemented:
            if response.status_code != 501 or "not implemented" not in message:
                wrong.append(f"{action} should say it is not implemented: {response.status_code} {message}")
        elif response.status_code not in (200, 302) or answer["success"] is not True:
            wrong.append(f"{action} should be done: {response.status_code} {response.text[:200]}")
    assert not wrong, wrong


@pytest.mark.parametrize("key_class", CLASSES, ids=_label)
def test_each_key_class_reaches_exactly_its_own_actions_inside_a_batch(
    http: httpx.Client, gamma: Tenant, key_class: KeyClass
) -> None:
    mine = _own(http, gamma, f"{key_class.value}-batch")
    batched = [a for a in ORDER if a not in NO_BATCH]
    batch = [{"action": a, **params_for(a, mine)} for a in batched]
    response = http.post("/api", params={"appId": gamma.app.app_id, "clientKey": key_of(gamma.app, key_class),
                                         "action": "multi"}, json={"data": batch})

    assert response.status_code == 200, response.text
    wrong = []
    for action, answer in zip(batched, items(response), strict=True):
        spec = ACTIONS[action]
        message = error_of(answer)
        if not may_call(key_class, spec.key_class):
            if message != f"{INVALID_KEY}: action '{action}' requires the {spec.key_class.label} key":
                wrong.append(f"{action} should be refused: {answer}")
        elif not spec.implemented:
            if "not implemented" not in message:
                wrong.append(f"{action} should say it is not implemented: {answer}")
        elif answer["success"] is not True:
            wrong.append(f"{action} should be done: {answer}")
    assert not wrong, wrong


# -- the management API ----------------------------------------------------------------------------------


def _route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


SECURED = [r for r in routes.routes if not r.public]


def _concrete(route: Route, target: Tenant) -> str:
    values = {"appId": target.app.app_id, "keyClass": "production", "name": target.variable,
              "audienceId": str(target.audience_id), "testId": str(target.test_id), "deviceId": target.device,
              "jobId": target.export_job}

    def fill(match: re.Match[str]) -> str:
        return values.get(match.group(1), "1")

    return MANAGE + re.sub(r"\{(\w+)(?::\w+)?\}", fill, route.path)


def _global_counts(server: Server) -> tuple[int, ...]:
    def count(tx: Any) -> tuple[int, ...]:
        return tuple(int(tx._exec(f"SELECT COUNT(*) FROM {t}", ()).fetchone()[0])
                     for t in ("apps", "admin_tokens", "audit_log"))

    return server.app.store.run(count)


def test_the_registry_holds_every_route_module() -> None:
    modules = {r.handler.__module__ for r in routes.routes}
    expected = {"openplum.manage.resources", "openplum.manage.postbacks"}
    expected |= {m for m in ("openplum.manage.jobs",) if importlib.util.find_spec(m) is not None}
    assert expected <= modules, modules
    assert [r.path for r in routes.routes if r.public] == ["/openapi.json"]


@pytest.fixture(scope="module")
def bad_credentials(server: Server, alpha_beta: tuple[Tenant, Tenant]) -> dict[str, str | None]:
    """``Authorization`` headers that must not open the management API (None: no header)."""
    alpha, _ = alpha_beta
    valid = make_token(server, "isolation")
    revoked = make_token(server, "revoked")
    server.app.store.run(lambda tx: admin_tokens.revoke(tx, token_id(revoked), server.clock.now()))
    return {
        "none": None,
        "an app's key": f"Bearer {alpha.app.development}",
        "an unknown token": "Bearer opk_000000000000_" + "x" * 43,
        "a revoked token": f"Bearer {revoked}",
        "a valid token under another scheme": f"Basic {valid}",
        "a valid token's id with another secret": f"Bearer opk_{token_id(valid)}_" + "y" * 43,
    }


@pytest.mark.parametrize("route", SECURED, ids=_route_id)
def test_every_management_route_refuses_requests_without_a_valid_admin_token(
    server: Server, http: httpx.Client, alpha_beta: tuple[Tenant, Tenant], bad_credentials: dict[str, str | None],
    route: Route,
) -> None:
    alpha, _ = alpha_beta
    path = _concrete(route, alpha)
    before = fingerprint(server, alpha.app.app_id), _global_counts(server)

    wrong = []
    for name, header in bad_credentials.items():
        headers = {"Authorization": header} if header else {}
        response = http.request(route.method, path, headers=headers, json={} if route.body else None)
        message = response.json().get("error", {}).get("message", "") if response.content else ""
        if response.status_code != 401 or not message.startswith("An admin token is required"):
            wrong.append(f"{name}: {response.status_code} {response.text[:200]}")

    assert not wrong, (route.method, path, wrong)
    assert changes(before[0], fingerprint(server, alpha.app.app_id)) == {}
    assert _global_counts(server) == before[1]


def test_the_openapi_document_is_the_only_public_route(server: Server) -> None:
    with httpx.Client(base_url=server.url + MANAGE, timeout=30) as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert {(r.method, r.path) for r in routes.routes if r.public} == {("GET", "/openapi.json")}
