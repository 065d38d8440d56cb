"""What every ``/api`` answer must be, whatever was sent (API.md §1.5, §1.6), and the fuzz suite's settings."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("OPENPLUM_FUZZ_EXAMPLES", "200"))
"""Examples per property; raise it for a long hunt (``OPENPLUM_FUZZ_EXAMPLES=5000``)."""

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),  # a request that hangs is a bug too; loopback answers in milliseconds
    # One app (and server) serves every example of a property: that is the point, state builds up between them.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("CI") == "true",  # CI gates on a fixed set; local runs keep exploring
    print_blob=True,
)

ALLOWED = {200, 400, 403, 404, 413, 429, 451, 501, 503}
REDIRECT = 302

_PYTHON_LEAKS = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|\b(?:Key|Type|Attribute|Index|Value|Name|"
    r"Assertion|Recursion|Overflow|ZeroDivision|UnboundLocal|Lookup|Runtime|Unicode(?:De|En)code)Error\b|"
    r"NoneType|object has no attribute|not subscriptable|object is not iterable|sqlite3\.|psycopg|<built-in|"
    r"<class '"
)


def leaks(text: str) -> str | None:
    """Python exception text in a response body, if any."""
    found = _PYTHON_LEAKS.search(text)
    return found.group(0) if found else None


def envelope(response: httpx.Response, action: object = None, items: int | None = None) -> list[dict[str, Any]]:
    """Assert ``response`` is a well-formed Leanplum answer; return its items (none for a redirect).

    ``action`` is the request's action when known (only ``downloadFile`` may redirect); ``items`` the number of
    answers a successful ``multi`` must hold.
    """
    status, text = response.status_code, response.text
    assert leaks(text) is None, f"Python exception text in a {status} response: {leaks(text)!r}: {text[:500]}"
    if status == REDIRECT:
        assert action == "downloadFile", f"only downloadFile may redirect; {action!r} did: {response.headers}"
        assert response.headers.get("location"), response.headers
        return []
    assert status in ALLOWED, f"status {status}: {text[:1000]}"
    assert response.headers.get("content-type") == "application/json", response.headers
    body = response.json()
    assert isinstance(body, dict), text[:500]
    answers = body.get("response")
    assert isinstance(answers, list), text[:500]
    assert answers, "an empty response array (JS dereferences response[0])"
    for answer in answers:
        assert isinstance(answer, dict), text[:500]
        assert isinstance(answer.get("success"), bool), answer
        error = answer.get("error")
        if error is not None:
            assert isinstance(error, dict), answer
            assert isinstance(error.get("message"), str), answer
            assert error["message"], answer
        if not answer["success"]:
            assert isinstance(error, dict), f"a failed item without an error message: {answer}"
    if status != 200:
        assert len(answers) == 1, f"a rejected request answers one item: {text[:500]}"
        assert answers[0]["success"] is False, text[:500]
    elif items is not None:
        assert len(answers) == items, f"{items} items sent, {len(answers)} answered: {text[:500]}"
    return answers
