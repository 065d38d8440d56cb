"""The ``AbTestResults`` report: how each variant of an A/B test did on its goal events.

The users of a variant are those whose first exposure to the test (the ``services.exposures`` event, recorded
when ``getVars`` or ``start`` first gave them a variant) falls between ``startDate`` and ``endDate``; each is
counted in the variant of that first exposure. A user *converted* on a goal when they did the goal event at or
after that exposure and before the end of the report. The goals are the test's ``goalEvents`` followed by the
request's ``eventNames`` (message events named as in ``services.reports``).

``data`` is keyed by day like every report; each day holds the results *cumulated up to the end of that day*,
as someone looking at the test every evening would have seen them: the last day is the whole report. Per
variant: ``Users``, and per goal ``Conversions``, ``Conversion rate``, ``Occurrences`` and ``Value`` (the sum of
the goal events' values); per goal of a non-control variant, the comparison with the control and per day a
sample-ratio-mismatch check, both described (methods and assumptions) in ``services.abstats``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from openplum.services import abstats, experiments
from openplum.services.experiments import AbTest
from openplum.services.exposures import EXPOSURE_EVENT
from openplum.services.reports import EventName, Progress, ReportError, ReportRequest, chunks, event_filter, event_name
from openplum.store.base import Tx
from openplum.store.report_sql import Exposures


@dataclass
class _Goal:
    conversions: int = 0
    occurrences: int = 0
    value: float = 0.0

    def add(self, other: _Goal) -> None:
        self.conversions += other.conversions
        self.occurrences += other.occurrences
        self.value += other.value


@dataclass
class _Arm:
    users: int = 0
    goals: dict[EventName, _Goal] = field(default_factory=dict)

    def goal(self, key: EventName) -> _Goal:
        return self.goals.setdefault(key, _Goal())

    def add(self, other: _Arm) -> None:
        self.users += other.users
        for key, tally in other.goals.items():
            self.goal(key).add(tally)


def _test(tx: Tx, app_id: str, test_id: int) -> AbTest:
    for row in tx.list_ab_tests(app_id):
        if row.test_id == test_id:
            return experiments.decode(row.doc)
    raise ReportError(f"No A/B test with id {test_id}")


def _variant_params(tx: Tx, app_id: str, test: AbTest) -> dict[bytes, int]:
    """The stored exposure parameter documents of ``test``, each with its variant id."""
    out: dict[bytes, int] = {}
    for params in tx.exposure_params(app_id, EXPOSURE_EVENT):
        try:
            doc = msgspec.json.decode(params)
        except msgspec.DecodeError:
            continue
        if not isinstance(doc, dict) or str(doc.get("abTestId")) != str(test.id):
            continue
        variant = next((v for v in test.variants if str(v.id) == str(doc.get("variantId"))), None)
        if variant is not None:
            out[params] = variant.id
    return out


def report(tx: Tx, app_id: str, req: ReportRequest, progress: Progress) -> dict[str, Any]:
    assert req.ab_test_id is not None
    test = _test(tx, app_id, req.ab_test_id)
    goals = list(dict.fromkeys([*test.goal_events, *req.event_names]))
    keys = {g: event_name(g) for g in goals}
    daily = _daily(tx, app_id, req, test, set(keys.values()), progress)
    totals = {v.id: _Arm() for v in test.variants}
    data: dict[str, Any] = {}
    for day in req.days:
        for variant_id, arm in daily[day.lo].items():
            totals[variant_id].add(arm)
        data[day.key] = snapshot(test, totals, keys)
    return {"abTestId": test.id, "abTestName": test.name, "goalEvents": goals,
            "confidenceLevel": 1 - abstats.ALPHA, "mixingSd": abstats.MIXING_SD, "data": data}


def _daily(
    tx: Tx, app_id: str, req: ReportRequest, test: AbTest, goals: set[EventName], progress: Progress
) -> dict[float, dict[int, _Arm]]:
    """What each day added to each variant (keyed by the day's start and the variant id)."""
    params = _variant_params(tx, app_id, test)
    exposures = Exposures(EXPOSURE_EVENT, tuple(params), (req.days[0].lo, req.days[-1].hi))
    variant_of = list(params.values())
    daily: dict[float, dict[int, _Arm]] = {d.lo: {} for d in req.days}
    parts = list(chunks(req.days))
    for i, part in enumerate(parts):
        spans = [d.span for d in part]
        for x in tx.exposure_days(app_id, exposures, spans):
            daily[x.lo].setdefault(variant_of[x.variant], _Arm()).users += x.users
        for g in tx.goal_days(app_id, exposures, event_filter(goals), spans) if goals else ():
            key = EventName(g.name, g.message_id)
            if key in goals:
                arm = daily[g.lo].setdefault(variant_of[g.variant], _Arm())
                arm.goal(key).add(_Goal(g.users, g.occurrences, g.value))
        progress((i + 1) / len(parts))
    return daily


def _control(test: AbTest) -> int:
    return next((v.id for v in test.variants if v.control), test.variants[0].id if test.variants else 0)


def _comparison(c: abstats.Comparison) -> dict[str, Any]:
    return {
        "Lift": c.lift, "Relative lift": c.relative_lift,
        "Confidence interval": list(c.interval) if c.interval else None, "p-value": c.p_value,
        "Sequential interval": list(c.sequential_interval) if c.sequential_interval else None,
        "Sequential p-value": c.sequential_p_value,
    }


def snapshot(test: AbTest, totals: dict[int, _Arm], goals: dict[str, EventName]) -> dict[str, Any]:
    """The results of ``test`` given each variant's cumulated users and goal tallies."""
    control_id = _control(test)
    control = totals.get(control_id, _Arm())
    variants = []
    for v in test.variants:
        arm = totals[v.id]
        per_goal: dict[str, Any] = {}
        for name, key in goals.items():
            tally = arm.goals.get(key, _Goal())
            rate = tally.conversions / arm.users if arm.users else 0.0
            entry: dict[str, Any] = {"Conversions": tally.conversions, "Conversion rate": rate,
                                     "Occurrences": tally.occurrences, "Value": tally.value}
            if v.id != control_id:
                base = control.goals.get(key, _Goal())
                entry.update(_comparison(abstats.compare((base.conversions, control.users),
                                                         (tally.conversions, arm.users))))
            per_goal[name] = entry
        variants.append({"variantId": v.id, "name": v.name, "control": v.id == control_id, "weight": v.weight,
                         "Users": arm.users, "goals": per_goal})
    srm = abstats.sample_ratio([totals[v.id].users for v in test.variants], [v.weight for v in test.variants])
    return {"variants": variants, "Sample ratio mismatch": {
        "Chi-square": srm.chi_square, "Degrees of freedom": srm.degrees_of_freedom, "p-value": srm.p_value,
        "Mismatch": srm.mismatch, "Threshold": abstats.SRM_THRESHOLD,
    }}
