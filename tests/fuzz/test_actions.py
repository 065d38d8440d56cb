"""Every action of the action table with random parameters named after its struct's fields, alone and in
``multi`` batches, through every carrier clients use (API.md §1.2, §1.3, §1.7)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ApiClient
from tests.fuzz import strategies as fz
from tests.fuzz.checks import EXAMPLES, FUZZ, envelope
from tests.fuzz.state import changes, fingerprint

pytestmark = pytest.mark.fuzz

MAX_URL = 8_000
"""Longer parameters go in a body: a real client's URL stays short (API.md §1.1), and the HTTP parser in front of
the app would answer an over-long request line itself."""


def carried(api: ApiClient, params: dict[str, Any], carrier: str) -> httpx.Request:
    """``params`` as one of the carriers: a JSON body (two content types), a query string, a form, multipart."""
    http = api.http
    if carrier == "query" and len(fz.query_of(params)) < MAX_URL:
        return http.build_request("GET", "/api?" + fz.query_of(params))
    if carrier == "form":
        return http.build_request("POST", "/api", content=fz.form(params),
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    if carrier == "multipart":
        fields = {k: fz.as_text(v).encode("utf-8", "surrogatepass") for k, v in params.items()}
        return http.build_request("POST", "/api", files={k: (None, v) for k, v in fields.items()})
    content_type = "text/plain;charset=UTF-8" if carrier == "text" else "application/json"
    return http.build_request("POST", "/api", content=fz.dumps(params), headers={"Content-Type": content_type})


carriers = st.sampled_from(["json", "text", "query", "form", "multipart"])
TEXTUAL = ("query", "form", "multipart")
"""Carriers where every value is text: a nested value travels as its JSON string."""


def exchange(api: ApiClient, request: httpx.Request, action: object, items: int | None = None) -> list[dict[str, Any]]:
    """Send; check the envelope; check that a rejected request, or a batch whose every item failed, stored nothing."""
    before = fingerprint(api)
    response = api.http.send(request)
    answers = envelope(response, action, items)
    rejected = response.status_code != 200 or (items is not None and not any(a["success"] for a in answers))
    if rejected:
        stored = changes(before, fingerprint(api))
        assert not stored, f"{response.status_code} {response.text[:400]} stored {stored}"
    return answers


@FUZZ
@given(data=st.data())
def test_every_action_with_random_parameters(fuzz_api: ApiClient, data: st.DataObject) -> None:
    params = data.draw(fz.action_call(fuzz_api, fz.every_action))
    carrier = data.draw(carriers)
    request = carried(fuzz_api, params, carrier)
    exchange(fuzz_api, request, params["action"])


@pytest.mark.parametrize("action", fz.implemented)
@settings(FUZZ, max_examples=max(10, EXAMPLES // 10))
@given(data=st.data())
def test_each_action_with_random_parameters(fuzz_api: ApiClient, action: str, data: st.DataObject) -> None:
    """Each action that runs gets examples of its own (with mostly its own key), so every handler is reached."""
    params = data.draw(fz.action_call(fuzz_api, [action]))
    carrier = data.draw(st.sampled_from(["json", "text", "form"]))
    request = carried(fuzz_api, params, carrier)
    exchange(fuzz_api, request, action)


@FUZZ
@given(data=st.data())
def test_multi_batches_of_random_items(fuzz_api: ApiClient, data: st.DataObject) -> None:
    items = data.draw(st.lists(fz.batch_item(fuzz_api), min_size=1, max_size=8))
    top: dict[str, Any] = {"appId": fuzz_api.app.app_id, "action": "multi",
                           "clientKey": data.draw(st.sampled_from([fuzz_api.app.production, fuzz_api.app.development]))}
    top.update(data.draw(st.fixed_dictionaries({}, optional={
        "time": fz.value_for("time"), "devMode": fz.value_for("devMode"), "uuid": fz.value_for("uuid"),
        "userId": fz.value_for("userId"),
    })))
    shape = data.draw(st.sampled_from(["js", "android", "list", "json"]))
    if shape in ("js", "list") and len(fz.query_of(top)) >= MAX_URL:
        shape = "json"
    http = fuzz_api.http
    if shape == "js":  # top-level in the URL, {"data": [...]} as text/plain
        request = http.build_request("POST", "/api?" + fz.query_of(top), content=fz.dumps({"data": items}),
                                     headers={"Content-Type": "text/plain;charset=UTF-8"})
    elif shape == "android":  # form fields, data a JSON string of {"data": [...]}
        form = {**top, "data": fz.dumps({"data": items}).decode("utf-8", "surrogatepass")}
        request = http.build_request("POST", "/api", content=fz.form(form),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    elif shape == "list":  # a bare JSON list of actions
        request = http.build_request("POST", "/api?" + fz.query_of(top), content=fz.dumps(items),
                                     headers={"Content-Type": "application/json"})
    else:
        request = http.build_request("POST", "/api", content=fz.dumps({**top, "data": items}),
                                     headers={"Content-Type": "application/json"})
    alone = len(items) == 1 and isinstance(items[0], dict) and items[0].get("action") == "downloadFile"
    exchange(fuzz_api, request, "downloadFile" if alone else "multi", items=len(items))  # alone, it may redirect
