"""CORS for ``/api``: the JS SDK runs on the app's own origin and calls the API cross-origin."""

from __future__ import annotations

ALLOW_METHODS = b"GET, POST, OPTIONS"
MAX_AGE = b"86400"


def cors_headers(origin: bytes | None, request_headers: bytes | None = None) -> list[tuple[bytes, bytes]]:
    """Any origin may call: the API is authenticated by app keys in the request, never by cookies."""
    headers = [(b"access-control-allow-origin", origin or b"*"), (b"vary", b"Origin")]
    if request_headers is not None:
        headers += [
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", request_headers or b"Content-Type"),
            (b"access-control-max-age", MAX_AGE),
        ]
    return headers
