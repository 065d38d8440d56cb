"""Changing A/B tests: create, edit while draft, start, finish, delete, and force a test device's variant.

A running test's variants and weights are fixed (changing them would move users between variants); its
traffic may only grow, which adds users without moving anyone. Each change bumps the app's content version
and is audited.
"""

from __future__ import annotations

import random
from typing import Any

from openplum.errors import ApiError
from openplum.services import experiments
from openplum.services.content import audit, set_team_value
from openplum.services.experiments import AbTest, Variant
from openplum.services.variables import VariableError
from openplum.store.base import AbTestRow, Tx

_ids = random.SystemRandom()


def _new_id() -> int:
    """16-digit ids like Leanplum's, below 2**53 so JavaScript SDKs read them exactly."""
    return _ids.randrange(10**15, 2**53)


def _load(tx: Tx, app_id: str, test_id: int) -> AbTest:
    for row in tx.list_ab_tests(app_id):
        if row.test_id == test_id:
            return experiments.decode(row.doc)
    raise ApiError(f"No A/B test with id {test_id}", status=404)


def _save(tx: Tx, app_id: str, test: AbTest, *, check: bool = True) -> int:
    """Store ``test``; ``check`` refuses one whose variants or audience do not fit the app's content (a test
    that is only being finished is not checked: what it refers to may have gone since it started)."""
    kinds = {row.name: row.kind for row in tx.list_variables(app_id)}
    problems = experiments.validate(test, kinds) if check else []
    if check and test.audience_id is not None and test.audience_id not in {
        a.audience_id for a in tx.list_audiences(app_id)
    }:
        problems.append(f"audienceId: no audience with id {test.audience_id}")
    if problems:
        raise ApiError("; ".join(problems))
    tx.put_ab_test(app_id, AbTestRow(test.id, experiments.encode(test), test.state, test.created, test.updated))
    return tx.bump_content(app_id, test.updated)


def list_tests(tx: Tx, app_id: str) -> list[AbTest]:
    return [experiments.decode(row.doc) for row in tx.list_ab_tests(app_id)]


def get(tx: Tx, app_id: str, test_id: int) -> AbTest:
    return _load(tx, app_id, test_id)


def create(tx: Tx, app_id: str, fields: dict[str, Any], now: float, actor: str) -> AbTest:
    variants = [Variant(id=_new_id(), **{k: x for k, x in v.items() if k != "id"}) for v in fields.pop("variants", [])]
    if variants and not any(v.control for v in variants):
        variants[0].control = True
    test = AbTest(id=_new_id(), created=now, updated=now, variants=variants, created_by=actor, **fields)
    _save(tx, app_id, test)
    audit(tx, app_id, now, actor, "abTest.create", str(test.id), experiments_json(test))
    return test


def update(tx: Tx, app_id: str, test_id: int, fields: dict[str, Any], now: float, actor: str) -> AbTest:
    test = _load(tx, app_id, test_id)
    if test.state == "finished":
        raise ApiError("A finished test cannot be changed", status=409)
    if test.state == "running":
        allowed = {"name", "traffic", "goalEvents", "goal_events"}
        fixed = sorted(k for k in fields if k not in allowed)
        if fixed:
            raise ApiError(f"A running test's {', '.join(fixed)} cannot change; only name, traffic, goalEvents", 409)
        if "traffic" in fields and fields["traffic"] < test.traffic:
            raise ApiError("traffic: a running test's traffic can only grow (shrinking would move users)", 409)
    if "variants" in fields:
        old = {v.id: v for v in test.variants}
        test.variants = [
            Variant(id=v.get("id") if v.get("id") in old else _new_id(), **{k: x for k, x in v.items() if k != "id"})
            for v in fields.pop("variants")
        ]
        if test.variants and not any(v.control for v in test.variants):
            test.variants[0].control = True
    for key, value in fields.items():
        setattr(test, key, value)
    test.updated = now
    _save(tx, app_id, test)
    audit(tx, app_id, now, actor, "abTest.update", str(test.id), experiments_json(test))
    return test


def start(tx: Tx, app_id: str, test_id: int, now: float, actor: str) -> AbTest:
    test = _load(tx, app_id, test_id)
    if test.state != "draft":
        raise ApiError(f"Only a draft test can start; this one is {test.state}", status=409)
    test.state, test.started, test.updated, test.published_by = "running", now, now, actor
    _save(tx, app_id, test)
    audit(tx, app_id, now, actor, "abTest.start", str(test.id))
    return test


def finish(tx: Tx, app_id: str, test_id: int, chosen_variant_id: int | None, now: float, actor: str) -> AbTest:
    """End a running test. With a winner (``chosen_variant_id``) its values are rolled out: each variable it
    overrides gets that value as the team's value, so every user receives it from now on. A variable deleted or
    given another kind since keeps what it has."""
    test = _load(tx, app_id, test_id)
    if test.state != "running":
        raise ApiError(f"Only a running test can finish; this one is {test.state}", status=409)
    chosen = test.variant(chosen_variant_id) if chosen_variant_id is not None else None
    if chosen_variant_id is not None and chosen is None:
        raise ApiError(f"chosenVariantId: the test has no variant {chosen_variant_id}")
    test.state, test.finished, test.updated, test.chosen_variant_id = "finished", now, now, chosen_variant_id
    _save(tx, app_id, test, check=False)
    rolled_out: list[str] = []
    for name, value in (chosen.overrides if chosen is not None else {}).items():
        try:
            set_team_value(tx, app_id, name, value, now, actor)
        except VariableError:
            continue
        rolled_out.append(name)
    audit(tx, app_id, now, actor, "abTest.finish", str(test.id),
          {"chosenVariantId": chosen_variant_id, "rolledOut": rolled_out})
    return test


def delete(tx: Tx, app_id: str, test_id: int, now: float, actor: str) -> None:
    if not tx.delete_ab_test(app_id, test_id):
        raise ApiError(f"No A/B test with id {test_id}", status=404)
    audit(tx, app_id, now, actor, "abTest.delete", str(test_id))
    tx.bump_content(app_id, now)


def force_variant(
    tx: Tx, app_id: str, test_id: int, device_id: str, variant_id: int | None, now: float, actor: str
) -> None:
    """Put a test device in a variant (``None`` lets assignment decide again)."""
    test = _load(tx, app_id, test_id)
    if variant_id is not None and test.variant(variant_id) is None:
        raise ApiError(f"variantId: the test has no variant {variant_id}")
    tx.force_variant(app_id, device_id, test_id, variant_id)
    audit(tx, app_id, now, actor, "abTest.forceVariant", f"{test_id}/{device_id}", {"variantId": variant_id})
    tx.bump_content(app_id, now)


def experiments_json(test: AbTest) -> Any:
    import msgspec

    return msgspec.to_builtins(test)
