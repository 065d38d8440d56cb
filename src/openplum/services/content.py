"""Changing an app's content: variables defined by code, values chosen by a team, action definitions.

Every change is one transaction that also bumps the app's content version (so every process reloads its
snapshot) and writes an audit entry naming who did it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from openplum.services import variables
from openplum.services.variables import VariableError
from openplum.store.base import Tx


def audit(tx: Tx, app_id: str, now: float, actor: str, action: str, target: str, details: Any = None) -> None:
    tx.audit(app_id, now, actor, action, target, msgspec.json.encode(details) if details is not None else None)


def define_from_code(
    tx: Tx, app_id: str, values: dict[str, Any], kinds: dict[str, str] | None,
    action_definitions: dict[str, Any] | None, now: float, actor: str,
) -> int:
    """``setVars``: record the variables the app's code declares, with their defaults; team values stay."""
    rows: list[tuple[str, str, bytes]] = []
    for name, kind, value in variables.flatten(values, kinds):
        variables.check_name(name)
        if kind != "group":
            variables.check_value(name, kind, value)
        rows.append((name, kind, msgspec.json.encode(value)))
    if sum(len(r[2]) for r in rows) > variables.MAX_TOTAL_BYTES:
        raise VariableError("Variables must add up to less than 1 MB")
    tx.define_variables(app_id, rows, now)
    if action_definitions:
        docs = [(name, msgspec.json.encode(doc)) for name, doc in action_definitions.items()]
        tx.put_action_definitions(app_id, docs, now)
    audit(tx, app_id, now, actor, "variables.define", ",".join(r[0] for r in rows)[:500],
          {"count": len(rows), "actionDefinitions": sorted(action_definitions or {})})
    return tx.bump_content(app_id, now)


def delete_variables(tx: Tx, app_id: str, names: list[str], now: float, actor: str) -> list[str]:
    removed = tx.delete_variables(app_id, names)
    if removed:
        audit(tx, app_id, now, actor, "variables.delete", ",".join(removed)[:500], {"names": removed})
        tx.bump_content(app_id, now)
    return removed


def set_team_value(tx: Tx, app_id: str, name: str, value: Any, now: float, actor: str) -> int:
    """Set (or, with ``None``, clear) the value a team chose for ``name``; it must fit the variable's kind."""
    kinds = {row.name: row.kind for row in tx.list_variables(app_id)}
    kind = kinds.get(name)
    if kind is None:
        raise VariableError(f"No variable named {name!r}", status=404)
    encoded = None if value is None else msgspec.json.encode(variables.check_value(name, kind, value))
    tx.set_variable_value(app_id, name, encoded, now)
    audit(tx, app_id, now, actor, "variables.set" if value is not None else "variables.reset", name, {"value": value})
    return tx.bump_content(app_id, now)
