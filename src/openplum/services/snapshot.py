"""Each app's content compiled into an immutable, versioned snapshot held in memory by every process.

Variables (code defaults and team values), action definitions, audiences and running A/B tests are loaded
once per content version; ``getVars`` and ``start`` then cost one profile read plus pure CPU. Every change
bumps the app's version in the store; each process notices within a second (``workers.content``) and
reloads on next use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import msgspec

from openplum.services import experiments, variables
from openplum.services.audiences import Audience, Rule, parse_audience
from openplum.services.experiments import AbTest, Variant
from openplum.services.profile import Profile
from openplum.store.base import Tx


@dataclass(frozen=True)
class Assignment:
    test: AbTest
    variant: Variant


@dataclass(frozen=True)
class Snapshot:
    app_id: str
    version: int
    kinds: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    """Code defaults (``setVars``), flat by dotted name."""
    team_values: dict[str, Any] = field(default_factory=dict)
    """Values the team chose, flat by dotted name: they override the code defaults for everyone."""
    action_definitions: dict[str, Any] = field(default_factory=dict)
    audiences: dict[int, Audience] = field(default_factory=dict)
    tests: tuple[AbTest, ...] = ()
    running: tuple[tuple[AbTest, Rule | None], ...] = ()
    forced: dict[tuple[str, int], int] = field(default_factory=dict)

    def assignments(self, profile: Profile | None, device_id: str | None, now: float) -> list[Assignment]:
        if profile is None:
            return []
        out: list[Assignment] = []
        for test, rule in self.running:
            forced = self.forced.get((device_id, test.id)) if device_id else None
            variant = test.variant(forced) if forced is not None else None
            if variant is None and test.targeting_sticky:
                # Sticky: once exposed, a user keeps the variant even if they leave the audience.
                exposed = profile.exposures.get(str(test.id))
                variant = test.variant(exposed) if exposed is not None else None
            if variant is None:
                if rule is not None and not rule.matches(profile, now):
                    continue
                if not experiments.in_traffic(self.app_id, test, profile.user_id):
                    continue
                variant = experiments.pick_variant(self.app_id, test, profile.user_id)
            if variant is not None:
                out.append(Assignment(test, variant))
        return out

    def vars_for(self, assignments: list[Assignment], *, include_defaults: bool) -> dict[str, Any]:
        flat = dict(self.defaults) if include_defaults else {}
        flat.update(self.team_values)
        for assignment in assignments:
            flat.update(_fitting(assignment.variant.overrides, self.kinds))
        return variables.unflatten(flat)


def _fitting(values: dict[str, Any], kinds: dict[str, str]) -> dict[str, Any]:
    """The values that still fit their variable: the code may since have deleted it or changed its kind."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        kind = kinds.get(name)
        if kind is None:
            continue
        try:
            out[name] = variables.check_value(name, kind, value)
        except variables.VariableError:
            continue
    return out


def load(tx: Tx, app_id: str, version: int) -> Snapshot:
    kinds: dict[str, str] = {}
    defaults: dict[str, Any] = {}
    team: dict[str, Any] = {}
    for row in tx.list_variables(app_id):
        kinds[row.name] = row.kind
        if row.default is not None:
            defaults[row.name] = msgspec.json.decode(row.default)
        if row.value is not None:
            team[row.name] = msgspec.json.decode(row.value)
    team = _fitting(team, kinds)
    audiences = {
        row.audience_id: parse_audience(row.name, msgspec.json.decode(row.rule), audience_id=row.audience_id)
        for row in tx.list_audiences(app_id)
    }
    tests = tuple(experiments.decode(row.doc) for row in tx.list_ab_tests(app_id))
    running = tuple(
        (t, audiences[t.audience_id].rule if t.audience_id in audiences else None)
        for t in tests if t.state == "running"
    )
    return Snapshot(
        app_id=app_id, version=version, kinds=kinds, defaults=defaults, team_values=team,
        action_definitions={n: msgspec.json.decode(d) for n, d in tx.list_action_definitions(app_id).items()},
        audiences=audiences, tests=tests, running=running, forced=tx.forced_variants(app_id),
    )


class ContentCache:
    """Snapshots by app, reloaded when the store's content version for the app moves past them."""

    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self._latest: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, tx: Tx, app_id: str) -> Snapshot:
        with self._lock:
            snap = self._snapshots.get(app_id)
            latest = self._latest.get(app_id, 0)
        if snap is not None and snap.version >= latest:
            return snap
        # The version is read in the same transaction as the content, so a snapshot never claims a version
        # whose changes it does not hold.
        fresh = load(tx, app_id, tx.content_version(app_id))
        with self._lock:
            current = self._snapshots.get(app_id)
            if current is None or current.version <= fresh.version:
                self._snapshots[app_id] = fresh
        return fresh

    def note_versions(self, versions: dict[str, int]) -> None:
        with self._lock:
            for app_id, version in versions.items():
                if version > self._latest.get(app_id, 0):
                    self._latest[app_id] = version

    def invalidate(self, app_id: str, version: int) -> None:
        self.note_versions({app_id: version})
