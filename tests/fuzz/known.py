"""Bugs the fuzzers found in modules this suite may not change (owned by other work in progress).

Each entry names the module and the input that breaks it; ``test_known_bugs.py`` pins every one with a strict
xfail, so the fix turns that test red until the entry is removed here. The properties skip (``assume``) inputs
that hit a known bug, so they keep hunting for new ones instead of finding the same one again.
"""

from __future__ import annotations

from typing import Any

IGNORED_TABLES = {
    "ingest_keys": "actions/runner.py _replays(): an item's replay key is claimed before its handler runs and kept "
                   "when the handler fails, so a resent failed request is answered success:true",
}
"""Tables whose change after a rejected request is a known bug (see ``test_known_bugs.py``)."""

DEEP = 900
"""JSON text nested this deep makes msgspec raise ``RecursionError`` (Python's limit is 1,000 frames)."""


INT64 = range(-(2**63), 2**63)


def _beyond_int64(value: Any) -> bool:
    """An integer (or its text) that a signed 64-bit column cannot hold."""
    try:
        number = int(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        return False
    return not isinstance(value, bool | float) and number not in INT64


def _deep(text: str) -> bool:
    return "[" * DEEP in text or '{"k":' * DEEP in text


def hit(params: Any, *, textual: bool = False) -> str | None:
    """The known bug ``params`` (a request's parameters or batch items, at any depth) would run into.

    ``textual`` when the parameters travel as text (a query string, a form): a deeply nested value is then a JSON
    string that the server decodes parameter by parameter; inside a JSON body it is a real nested value.
    """
    stack = [params]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if isinstance(value.get("devMode"), dict | list) or hasattr(value.get("devMode"), "depth"):
                return "actions/prepare.py truthy(): an object or list as devMode is unhashable (TypeError)"
            if _beyond_int64(value.get("postbackId")):
                return ("actions/postbacks.py deletePostback: a postbackId beyond 64 bits reaches SQLite, which "
                        "raises OverflowError")
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif (isinstance(value, str) and _deep(value)) or (textual and getattr(value, "depth", 0) >= DEEP):
            return ("actions/params.py decode(), actions/users.py _listish(): deeply nested JSON text in a "
                    "parameter raises RecursionError")
    return None
