"""Text the stores cannot hold: NUL characters, refused at the edge so both backends answer alike.

PostgreSQL's text columns refuse U+0000 outright (a server error if it reached them) and no Leanplum client sends
it, so a parameter holding one is a client error, on SQLite too. A value that holds the JSON escape ``\\u0000`` is
refused as well, because object parameters arrive as JSON text and are decoded only later. Looking costs nothing
on the hot path: ``may_hold_nul`` scans the raw request once, and only a request that might hold one is walked.
"""

from __future__ import annotations

from typing import Any

NUL_MESSAGE = "Parameters must not contain NUL (\\u0000) characters."

def may_hold_nul(*raw: bytes) -> bool:
    """Whether any parameter decoded from these raw bytes (query string, body) could hold a NUL: raw, as a JSON
    escape (``\\u0000``), percent-encoded (``%00``), or a percent-encoded JSON escape (``%5Cu0000``). Any
    ``u0000`` counts, escaped or not: a false alarm only costs the exact walk of ``holds_nul``.

    ``find`` rather than ``in``: CPython 3.11 tries the operand of ``in`` on bytes as an integer first, and
    builds (then drops) a TypeError for every bytes operand, four times the cost of the search. A plain loop
    rather than ``any`` over a generator: every request asks, and an empty body needs no search."""
    for part in raw:  # noqa: SIM110 - a loop costs less than any() over a generator, on every request
        if part and (part.find(b"\x00") >= 0 or part.find(b"u0000") >= 0 or part.find(b"%00") >= 0):
            return True
    return False


def holds_nul(value: Any) -> bool:
    """Whether ``value`` (a parameter, an item, any JSON value) has a NUL in any string or key, at any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or "\\u0000" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False
