"""Variables: what the app's code defines (``setVars``) and the values a team chooses (API.md §6.5).

Variables are stored flat, one per leaf, under their dotted name (``limits.maxItems``); groups are the
dotted prefixes. Kinds are Leanplum's: integer, float, string, bool, file, list, action, color, group (a map
whose members are variables). A team value overrides the code default for everyone; an A/B variant overrides
it again for the users in that variant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from openplum.errors import ApiError
from openplum.services.naming import name_problem

KINDS = ("integer", "float", "string", "bool", "file", "list", "action", "color", "group")
MAX_TOTAL_BYTES = 1024 * 1024


class VariableError(ApiError):
    """A variable name or value that cannot be accepted; the message names it."""


def infer_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "group"
    return "string"


def flatten(
    values: dict[str, Any], kinds: dict[str, str] | None = None, prefix: str = ""
) -> Iterator[tuple[str, str, Any]]:
    """(dotted name, kind, value) for every leaf of a nested ``vars`` object; a ``group`` kind recurses."""
    kinds = kinds or {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        kind = normalise_kind(kinds.get(name)) or infer_kind(value)
        if isinstance(value, dict) and kind == "group":
            if value:
                yield from flatten(value, kinds, name + ".")
            else:
                yield name, "group", {}
        else:
            yield name, kind, value


def normalise_kind(kind: str | None) -> str | None:
    if kind is None:
        return None
    lowered = kind.lower()
    aliases = {"int": "integer", "number": "float", "text": "string", "boolean": "bool", "map": "group",
               "dictionary": "group", "array": "list"}
    lowered = aliases.get(lowered, lowered)
    if lowered not in KINDS:
        raise VariableError(f"Unknown variable kind {kind!r} (expected one of: {', '.join(KINDS)})")
    return lowered


def check_name(name: str) -> None:
    for part in name.split("."):
        problem = name_problem("Variable", part)
        if problem:
            raise VariableError(f"Invalid variable name {name!r}: {problem}")


def check_value(name: str, kind: str, value: Any) -> Any:
    """The value as the kind stores it; raise ``VariableError`` naming the variable when it does not fit."""
    ok: bool
    if kind == "integer":
        integral = isinstance(value, float) and value.is_integer()
        ok = (isinstance(value, int) and not isinstance(value, bool)) or integral
        value = int(value) if ok else value
    elif kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind in ("string", "file"):
        ok = isinstance(value, str)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "list":
        ok = isinstance(value, list)
    elif kind in ("group", "action"):
        ok = isinstance(value, dict)
    elif kind == "color":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = False
    if not ok:
        kind_of = type(value).__name__
        raise VariableError(f"Variable {name!r} is of kind {kind}; the {kind_of} value {value!r} does not fit")
    return value


def unflatten(values: dict[str, Any]) -> dict[str, Any]:
    """Nest dotted names back into groups: ``{"a.b": 1}`` → ``{"a": {"b": 1}}``."""
    tree: dict[str, Any] = {}
    for name in sorted(values):
        node = tree
        parts = name.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = values[name]
    return tree
