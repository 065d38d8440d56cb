"""CORS on ``/api``: the JS SDK runs on the app's own origin and calls the API cross-origin."""

from __future__ import annotations

from tests.conftest import ApiClient

ORIGIN = "http://shop.example.test:3000"


def test_preflight_answers_204_with_allow_headers(api: ApiClient) -> None:
    response = api.http.options("/api", headers={
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    })
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == ORIGIN
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST"} <= methods
    assert "content-type" in response.headers["access-control-allow-headers"].lower()


def test_preflight_without_requested_headers_still_allows_content_type(api: ApiClient) -> None:
    response = api.http.options("/api", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert "content-type" in response.headers["access-control-allow-headers"].lower()


def test_post_with_origin_gets_allow_origin(api: ApiClient) -> None:
    response = api.http.post(
        "/api",
        params={"appId": api.app.app_id, "clientKey": api.app.production, "action": "getMigrateState"},
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_get_with_origin_gets_allow_origin(api: ApiClient) -> None:
    response = api.http.get(
        "/api",
        params={"appId": api.app.app_id, "clientKey": api.app.production, "action": "getMigrateState"},
        headers={"Origin": ORIGIN},
    )
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_error_answer_is_readable_cross_origin(api: ApiClient) -> None:
    """A browser only lets the SDK read an error (to stop retrying) when the error carries CORS headers too."""
    response = api.http.post(
        "/api",
        params={"appId": api.app.app_id, "clientKey": "wrong", "action": "getMigrateState"},
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 403
    assert response.headers["access-control-allow-origin"] == ORIGIN
