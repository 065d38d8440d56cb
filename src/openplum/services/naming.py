"""Leanplum's naming rules for events, states, attributes and parameters (API.md §3.6)."""

from __future__ import annotations

from functools import lru_cache

MAX_PARAMS = 50
MAX_NAME = 139
_FORBIDDEN = set(',|"{\t\r\n')


@lru_cache(maxsize=4096)
def name_problem(kind: str, name: str) -> str | None:
    """Why ``name`` is not a valid ``kind`` name, or None when it is. Cached: SDK batches repeat their names."""
    if not name:
        return f"{kind} name must not be empty"
    if len(name) > MAX_NAME:
        return f"{kind} name is longer than {MAX_NAME} characters: {name[:40]!r}..."
    if name[0] in ".-":
        return f"{kind} name must not start with '.' or '-': {name!r}"
    if name.endswith("/"):
        return f"{kind} name must not end with '/': {name!r}"
    bad = _FORBIDDEN.intersection(name)
    if bad:
        shown = ", ".join(repr(c) for c in sorted(bad))
        return f"{kind} name contains characters that are not allowed ({shown}): {name!r}"
    if name.isdigit():
        return f"{kind} name must not be purely numeric: {name!r}"
    return None


def trim_params(params: dict[str, object] | None) -> tuple[dict[str, object] | None, str | None]:
    """Keep at most ``MAX_PARAMS`` parameters; say so when some were dropped."""
    if not params or len(params) <= MAX_PARAMS:
        return params, None
    kept = dict(list(params.items())[:MAX_PARAMS])
    return kept, f"Too many parameters ({len(params)}); only the first {MAX_PARAMS} were kept."
