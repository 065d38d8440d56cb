"""A/B test reads with the content read-only key: ``getAbTests``, ``getAbTest``, ``getVariant`` (API.md §6.4)."""

from __future__ import annotations

from typing import Any

from openplum.actions.context import ActionContext, Reply
from openplum.actions.params import Common
from openplum.errors import ApiError
from openplum.services.experiments import AbTest, Variant

RECENT_DAYS = 30


class ListParams(Common):
    include_drafts: bool = False
    recent: bool = True


class OneParams(Common):
    id: int
    include_drafts: bool = False


def _variant(variant: Variant) -> dict[str, Any]:
    return {
        "id": variant.id,
        "name": variant.name,
        "percent": variant.weight,
        "variables": [{"name": n, "value": v} for n, v in sorted(variant.overrides.items())],
    }


def _test(test: AbTest, *, details: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": test.id,
        "name": test.name,
        "active": test.state == "running",
        "state": test.state.upper(),
        "created": test.created,
        "updated": test.updated,
        "finished": test.finished,
        "chosenVariant": test.chosen_variant_id,
        "targetingSticky": test.targeting_sticky,
        "variants": [_variant(v) for v in test.variants],
    }
    if details:
        out["details"] = {"publishedBy": test.published_by, "createdBy": test.created_by}
    return out


def _visible(test: AbTest, include_drafts: bool) -> bool:
    return include_drafts or test.state != "draft"


def get_ab_tests(ctx: ActionContext, p: ListParams) -> Reply:
    snapshot = ctx.content.get(ctx.unit.tx, ctx.app.app_id)
    horizon = ctx.now - RECENT_DAYS * 86400
    tests = [
        t for t in snapshot.tests
        if _visible(t, p.include_drafts) and not (p.recent and t.state == "finished" and (t.finished or 0) < horizon)
    ]
    return Reply({"abTests": [_test(t, details=False) for t in tests]})


def get_ab_test(ctx: ActionContext, p: OneParams) -> Reply:
    snapshot = ctx.content.get(ctx.unit.tx, ctx.app.app_id)
    for test in snapshot.tests:
        if test.id == p.id and _visible(test, p.include_drafts):
            return Reply({"abTest": _test(test, details=True)})
    raise ApiError(f"A/B test {p.id} not found", status=404)


def get_variant(ctx: ActionContext, p: OneParams) -> Reply:
    snapshot = ctx.content.get(ctx.unit.tx, ctx.app.app_id)
    for test in snapshot.tests:
        if not _visible(test, p.include_drafts):
            continue
        for variant in test.variants:
            if variant.id == p.id:
                return Reply({"variant": _variant(variant)})
    raise ApiError(f"Variant {p.id} not found", status=404)
