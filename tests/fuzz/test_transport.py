"""Random query strings and bodies at ``/api``, under every content type the transport knows (API.md §1.2).

Whatever arrives: a Leanplum envelope with a documented status, no Python exception text, and a request the
server rejected left no trace in the app's rows.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ApiClient
from tests.fuzz import strategies as fz
from tests.fuzz.checks import FUZZ, envelope
from tests.fuzz.state import changes, fingerprint

pytestmark = pytest.mark.fuzz


def sent(api: ApiClient, request: httpx.Request, action: object = None, items: int | None = None) -> httpx.Response:
    """Send ``request``; check the answer's shape, and that a rejection changed nothing."""
    before = fingerprint(api)
    response = api.http.send(request)
    envelope(response, action, items)
    if response.status_code != 200:
        assert not changes(before, fingerprint(api)), f"a {response.status_code} stored something: {response.text}"
    return response


def creds(api: ApiClient) -> st.SearchStrategy[dict[str, Any]]:
    """None, some or all of the credentials, so random input reaches past authentication too."""
    return st.fixed_dictionaries({}, optional={
        "appId": st.just(api.app.app_id), "clientKey": st.sampled_from([api.app.production, api.app.development]),
        "action": fz.action_names,
    })


@FUZZ
@given(data=st.data())
def test_any_query_string_is_answered_in_leanplum_shape(fuzz_api: ApiClient, data: st.DataObject) -> None:
    known = data.draw(creds(fuzz_api))
    raw = data.draw(fz.raw_query)
    query = "&".join(q for q in (fz.query_of(known), raw) if q)
    method = data.draw(st.sampled_from(["GET", "POST"]))
    sent(fuzz_api, fuzz_api.http.build_request(method, "/api?" + query), known.get("action"))


@st.composite
def bodies(draw: st.DrawFn, api: ApiClient) -> tuple[str, bytes]:
    """A content type and a body: sometimes the kind it announces, sometimes any other kind."""
    content_type = draw(fz.content_types)
    params = draw(st.one_of(fz.action_call(api, fz.every_action), st.dictionaries(fz.scalar_text, fz.hostile,
                                                                                   max_size=5)))
    from_params = {"json": fz.dumps, "form": fz.form, "csv": lambda p: fz.csv_body([p])}
    kind = draw(st.sampled_from([*from_params, "binary", "value", "multipart", "deep", "edge"]))
    if kind in from_params:
        return content_type, from_params[kind](params)
    body = draw({
        "binary": st.binary(max_size=300),
        "value": fz.json_values.map(fz.dumps),
        "multipart": fz.multipart_body(),
        "deep": fz.nested_texts.map(str.encode),
        "edge": st.sampled_from([b"", b" ", b"\r\n", b"{", b"[", b"null", b"[]", b"{}", b'{"data": null}',
                                 b"\xff\xfe", b"\x00" * 64]),
    }[kind])
    return content_type, body


@FUZZ
@given(data=st.data())
def test_any_body_under_any_content_type(fuzz_api: ApiClient, data: st.DataObject) -> None:
    known = data.draw(creds(fuzz_api))
    content_type, body = data.draw(bodies(fuzz_api))
    headers = {"Content-Type": content_type} if content_type else {}
    request = fuzz_api.http.build_request("POST", "/api", params=known, content=body, headers=headers)
    action = "downloadFile" if b"downloadFile" in body else known.get("action")  # the body may name it
    sent(fuzz_api, request, action)
