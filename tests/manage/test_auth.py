"""Who may use the management API: an admin token in ``Authorization: Bearer``; the OpenAPI document is public
and describes every route the server registers."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from openplum.manage.resources import routes
from tests.admin import MANAGE, Admin, make_token, token_id
from tests.conftest import ApiClient, Server

UNAUTHORISED = "An admin token is required"


def _anonymous(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url + MANAGE, timeout=30)


def _openapi(server: Server) -> dict[str, Any]:
    with _anonymous(server) as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


def _secured_operations(server: Server) -> list[tuple[str, str]]:
    """(method, concrete path) of every operation the OpenAPI document says needs a token."""
    out = []
    for template, operations in _openapi(server)["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", template).removeprefix(MANAGE)
        out += [(method.upper(), concrete) for method, op in operations.items() if op.get("security")]
    return out


# -- tokens --------------------------------------------------------------------------------------------


def test_every_secured_route_refuses_a_request_without_a_token(server: Server) -> None:
    operations = _secured_operations(server)
    assert len(operations) == sum(1 for r in routes.routes if not r.public)

    with _anonymous(server) as http:
        for method, path in operations:
            response = http.request(method, path, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"]["message"].startswith(UNAUTHORISED)


@pytest.mark.parametrize("header", [
    "Bearer nonsense",
    "Bearer opk_000000000000_secret",
    "Bearer",
    "Token {token}",
    "Basic {token}",
    "{token}",
])
def test_a_malformed_or_unknown_token_is_refused(server: Server, header: str) -> None:
    token = make_token(server)
    with _anonymous(server) as http:
        response = http.get("/apps", headers={"Authorization": header.format(token=token)})

    assert response.status_code == 401, response.text
    assert response.json()["error"]["message"].startswith(UNAUTHORISED)


def test_a_known_token_id_with_the_wrong_secret_is_refused(server: Server) -> None:
    token = make_token(server)
    forged = f"opk_{token_id(token)}_{'x' * 43}"
    with _anonymous(server) as http:
        assert http.get("/apps", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        assert http.get("/apps", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_revoked_token_is_refused(server: Server) -> None:
    token = make_token(server)
    with _anonymous(server) as http:
        headers = {"Authorization": f"Bearer {token}"}
        assert http.get("/apps", headers=headers).status_code == 200

        server.app.store.run(lambda tx: tx._exec("UPDATE admin_tokens SET revoked = ? WHERE token_id = ?",
                                                 (server.clock.now(), token_id(token))))
        response = http.get("/apps", headers=headers)

    assert response.status_code == 401, response.text


def test_a_valid_token_lists_the_apps_with_their_keys(admin: Admin, api: ApiClient) -> None:
    listed = admin.ok("GET", "/apps")["apps"]

    mine = [a for a in listed if a["appId"] == api.app.app_id]
    assert mine == [{
        "appId": api.app.app_id, "name": "test", "created": mine[0]["created"],
        "keys": {"production": api.app.production, "development": api.app.development,
                 "dataExport": api.app.data_export, "contentReadOnly": api.app.content_read_only},
    }]


def test_the_scheme_name_is_case_insensitive(server: Server) -> None:
    token = make_token(server)
    with _anonymous(server) as http:
        assert http.get("/apps", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_an_app_key_is_not_an_admin_token(server: Server, api: ApiClient) -> None:
    with _anonymous(server) as http:
        for key in (api.app.production, api.app.development):
            response = http.get(f"/apps/{api.app.app_id}", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 401, response.text


def test_an_unknown_management_path_answers_a_json_404(admin: Admin) -> None:
    response = admin.http.get("/no-such-resource")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["message"]


# -- the OpenAPI document ------------------------------------------------------------------------------


def test_openapi_is_served_without_a_token_as_openapi_3_1(server: Server) -> None:
    document = _openapi(server)

    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    assert document["components"]["securitySchemes"]["adminToken"] == {"type": "http", "scheme": "bearer"}


def test_openapi_lists_every_registered_route_with_its_method(server: Server) -> None:
    paths = _openapi(server)["paths"]

    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    registered = {(r.method, MANAGE + re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path)) for r in routes.routes}
    assert documented == registered
    assert {"GET /manage/v1/apps", "POST /manage/v1/apps/{appId}/keys/{keyClass}/rotate",
            "PUT /manage/v1/apps/{appId}/variables/{name}/value",
            "DELETE /manage/v1/apps/{appId}/audiences/{audienceId}",
            "PATCH /manage/v1/apps/{appId}/ab-tests/{testId}",
            "PUT /manage/v1/apps/{appId}/ab-tests/{testId}/forced-variants/{deviceId}",
            "GET /manage/v1/audit", "GET /manage/v1/openapi.json"} <= {f"{m} {p}" for m, p in documented}


def test_openapi_operations_are_complete_and_uniquely_named(server: Server) -> None:
    document = _openapi(server)
    operation_ids = []
    for template, operations in document["paths"].items():
        names = set(re.findall(r"\{([^}]+)\}", template))
        for method, op in operations.items():
            assert method in {"get", "put", "post", "delete", "patch"}, method
            operation_ids.append(op["operationId"])
            assert op["summary"], (method, template)
            assert op["tags"], (method, template)
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == names, (method, template)
            assert all(p["required"] for p in op["parameters"] if p["in"] == "path")
            assert any(code.startswith("2") for code in op["responses"]), (method, template)
            for response in op["responses"].values():
                assert response["description"]
            if op.get("security"):
                assert op["security"] == [{"adminToken": []}]
                assert "401" in op["responses"]
            if "requestBody" in op:
                assert method in {"put", "post", "patch"}
                assert "application/json" in op["requestBody"]["content"]
    assert len(operation_ids) == len(set(operation_ids))
    assert document["paths"]["/manage/v1/openapi.json"]["get"].get("security") is None


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{ref} does not resolve"
        assert part in node, f"{ref} does not resolve (no {part!r})"
        node = node[part]
    return node


def test_every_ref_in_openapi_resolves(server: Server) -> None:
    document = _openapi(server)
    refs = _refs(document)

    assert refs, "the document uses components, so it has references"
    for ref in refs:
        assert isinstance(_resolve(document, ref), dict), ref
    for schema in ("App", "AbTest", "Audience", "AuditPage", "ErrorResponse", "VariableList"):
        assert schema in document["components"]["schemas"], schema


def test_openapi_passes_a_3_1_validator_when_one_is_installed(server: Server) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(_openapi(server))
