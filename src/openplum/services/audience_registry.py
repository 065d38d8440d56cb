"""Changing audiences: create, replace, delete. Rules are validated (``services.audiences``) before storing."""

from __future__ import annotations

import random
from typing import Any

import msgspec

from openplum.errors import ApiError
from openplum.services.audiences import Audience, RuleError, parse_audience
from openplum.services.content import audit
from openplum.store.base import AudienceRow, Tx

_ids = random.SystemRandom()


def _parse(name: str, rule: Any, audience_id: int | None) -> Audience:
    try:
        return parse_audience(name, rule, audience_id=audience_id)
    except RuleError as exc:
        raise ApiError(str(exc)) from None


def list_audiences(tx: Tx, app_id: str) -> list[tuple[AudienceRow, Any]]:
    return [(row, msgspec.json.decode(row.rule)) for row in tx.list_audiences(app_id)]


def get(tx: Tx, app_id: str, audience_id: int) -> tuple[AudienceRow, Any]:
    for row, rule in list_audiences(tx, app_id):
        if row.audience_id == audience_id:
            return row, rule
    raise ApiError(f"No audience with id {audience_id}", status=404)


def _check_unique(tx: Tx, app_id: str, name: str, audience_id: int | None) -> None:
    for row in tx.list_audiences(app_id):
        if row.name == name and row.audience_id != audience_id:
            raise ApiError(f"name: an audience named {name!r} already exists", status=409)


def create(tx: Tx, app_id: str, name: str, rule: Any, now: float, actor: str) -> AudienceRow:
    audience_id = _ids.randrange(10**9, 10**10)
    _parse(name, rule, audience_id)
    _check_unique(tx, app_id, name, None)
    row = AudienceRow(audience_id, name, msgspec.json.encode(rule), now, now)
    tx.put_audience(app_id, row)
    audit(tx, app_id, now, actor, "audience.create", str(audience_id), {"name": name, "rule": rule})
    tx.bump_content(app_id, now)
    return row


def replace(tx: Tx, app_id: str, audience_id: int, name: str, rule: Any, now: float, actor: str) -> AudienceRow:
    old, _ = get(tx, app_id, audience_id)
    _parse(name, rule, audience_id)
    _check_unique(tx, app_id, name, audience_id)
    row = AudienceRow(audience_id, name, msgspec.json.encode(rule), old.created, now)
    tx.put_audience(app_id, row)
    audit(tx, app_id, now, actor, "audience.update", str(audience_id), {"name": name, "rule": rule})
    tx.bump_content(app_id, now)
    return row


def delete(tx: Tx, app_id: str, audience_id: int, now: float, actor: str) -> None:
    users = [row.test_id for row in tx.list_ab_tests(app_id)
             if msgspec.json.decode(row.doc).get("audienceId") == audience_id and row.state != "finished"]
    if users:
        raise ApiError(f"The audience targets A/B test(s) {users}; change them first", status=409)
    if not tx.delete_audience(app_id, audience_id):
        raise ApiError(f"No audience with id {audience_id}", status=404)
    audit(tx, app_id, now, actor, "audience.delete", str(audience_id))
    tx.bump_content(app_id, now)
