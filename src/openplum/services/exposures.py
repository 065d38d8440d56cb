"""A user's first exposure to an A/B variant, recorded once as an event and remembered in the profile."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from openplum.services import postbacks
from openplum.services.unit import Unit, new_id
from openplum.store.base import EventRow, Tx

if TYPE_CHECKING:
    from openplum.actions.context import ActionContext
    from openplum.services.profile import Profile
    from openplum.services.snapshot import Assignment

EXPOSURE_EVENT = "A/B Test Exposure"
"""Stored with ``abTestId`` and ``variantId`` parameters; never counted among the user's own events."""


def record(ctx: ActionContext, profile: Profile, device_id: str | None, assignments: list[Assignment]) -> None:
    exposed = profile.exposures
    fresh = [a for a in assignments if a.key not in exposed]
    if not fresh:
        return
    pairs = [(a.test.id, a.variant.id) for a in fresh]
    if ctx.unit.writable:
        _apply(ctx.unit, profile, device_id, pairs)
        return
    app_id, user_id, now = ctx.app.app_id, profile.user_id, ctx.now

    def later(tx: Tx) -> None:
        unit = Unit(tx, app_id, now, writable=True)
        current = unit.profile(user_id)
        if current is not None:
            _apply(unit, current, device_id, pairs)
            unit.flush()

    ctx.followups.append(later)


def _apply(unit: Unit, profile: Profile, device_id: str | None, pairs: list[tuple[int, int]]) -> None:
    now = unit.now
    for test_id, variant_id in pairs:
        if str(test_id) in profile.exposures:
            continue
        profile.exposures[str(test_id)] = variant_id
        unit.add_event(EventRow(
            event_id=new_id(), user_id=profile.user_id, device_id=device_id, session_id=None, state_id=None,
            name=EXPOSURE_EVENT, time=now, received=now, value=0.0, currency=None, info=None,
            params=msgspec.json.encode({"abTestId": test_id, "variantId": variant_id}), message_id=None,
            dev_mode=False,
        ))
        postbacks.exposure(unit, profile.user_id, device_id, test_id, variant_id, now)
    unit.changed(profile)
