"""Every numeric parameter of every action, sent each value at the edge of its type (a sweep, not random).

Random examples reach a given parameter of a given action only now and then; this sweep reaches each one with
every edge value in every run, so a number that a column, a JSON encoder or a C long cannot hold is caught in CI
the first time, not by chance.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec.inspect as mi
import pytest

from openplum.actions.params import Common
from openplum.actions.table import ACTIONS
from tests.conftest import ApiClient
from tests.fuzz import strategies as fz
from tests.fuzz.test_actions import carried, exchange

pytestmark = pytest.mark.fuzz

FLOAT_EDGES: tuple[Any, ...] = (*fz.HUGE, "NaN", "-Infinity", "1e309", "1e-400", "-0", "١٢٣", "0x10")
INT_EDGES: tuple[Any, ...] = (*fz.INT_EDGES, str(2**63), str(-(2**63) - 1), "1e3", "1.5", " 7 ")


def _numeric(t: mi.Type) -> str | None:
    kinds = {type(x) for x in (t.types if isinstance(t, mi.UnionType) else (t,))} - {mi.NoneType}
    return {frozenset({mi.IntType}): "int", frozenset({mi.FloatType}): "float"}.get(frozenset(kinds))


def _fields() -> list[tuple[str, str, str]]:
    """(action, parameter, int or float) for each numeric parameter; the common ones once, on ``track``."""
    common = {f.encode_name for f in mi.type_info(Common).fields}  # type: ignore[union-attr]
    out = []
    for name in fz.implemented:
        for field, t in fz.field_types(ACTIONS[name]).items():
            kind = _numeric(t)
            if kind and (field not in common or name == "track"):
                out.append((name, field, kind))
    return out


FIELDS = _fields()


@pytest.mark.parametrize(("action", "field", "kind"), FIELDS, ids=[f"{a}.{f}" for a, f, _ in FIELDS])
def test_each_numeric_parameter_at_the_edges_of_its_type(fuzz_api: ApiClient, action: str, field: str,
                                                         kind: str) -> None:
    for value in INT_EDGES if kind == "int" else FLOAT_EDGES:
        params = {"appId": fuzz_api.app.app_id, "clientKey": fz.right_key(fuzz_api, ACTIONS[action]),
                  "action": action, "userId": "u1", field: value}
        bare = value if not isinstance(value, float) or math.isfinite(value) else repr(value)
        exchange(fuzz_api, carried(fuzz_api, {**params, field: bare}, "json"), action)
