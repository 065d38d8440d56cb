"""Text the stores cannot hold: NUL characters, refused at the edge so both backends answer alike.

PostgreSQL's text columns refuse U+0000 outright (a server error if it reached them) and no Leanplum client sends
it, so a parameter holding one is a client error, on SQLite too. A value that holds the JSON escape ``\\u0000`` is
refused as well, because object parameters arrive as JSON text and are decoded only later. Looking costs nothing
on the hot path: ``may_hold_nul`` scans the raw request once, and only a request that might hold one is walked.
"""

from __future__ import annotations

from typing import Any

NUL_MESSAGE = "Parameters must not contain NUL (\\u0000) characters."

_MARKERS = (b"\x00", b"\\u0000", b"%00", b"%5Cu0000", b"%5cu0000")
"""How a NUL reaches a decoded value: raw, as a JSON escape, percent-encoded, or a percent-encoded JSON escape."""


def may_hold_nul(*raw: bytes) -> bool:
    """Whether any parameter decoded from these raw bytes (query string, body) could hold a NUL."""
    return any(marker in part for part in raw for marker in _MARKERS)


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
