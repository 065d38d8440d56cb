"""Each app's content compiled into an immutable, versioned snapshot held in memory by every process.

Variables (code defaults and team values), action definitions, audiences and running A/B tests are loaded
once per content version; ``getVars`` and ``start`` then cost one profile read plus pure CPU. Every change
bumps the app's version in the store; each process notices within a second (``workers.content``) and
reloads on next use.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from openplum.services import experiments, profile_reader, variables
from openplum.services.audiences import Audience, Rule, parse_audience
from openplum.services.experiments import AbTest, Variant
from openplum.services.placement import Placement
from openplum.services.profile import Profile
from openplum.services.profile_reader import Decode
from openplum.store.base import Tx

COMBINATIONS = 4096
"""How many combinations of variants a snapshot keeps the ``vars`` of: a few MiB at most, whatever the users."""

_encoder = msgspec.json.Encoder()
_UNKNOWN: Any = object()


class Assignment:
    """A user's variant in one running test. A snapshot makes one per variant of each running test, shared by
    every user in it: never change one. What requests derive from it is worked out here, once: ``key``, the
    test's key in the profile's ``exposures``; ``variant_key``, the variant's key in the snapshot's caches (the
    snapshot holds its variants, so their ids stay theirs); ``listed``, its entry in an answer's ``variants``."""

    __slots__ = ("key", "listed", "test", "variant", "variant_key")

    def __init__(self, test: AbTest, variant: Variant) -> None:
        self.test = test
        self.variant = variant
        self.key = str(test.id)
        self.variant_key: Hashable = (test.id, id(variant))
        """Typed as any key, so that compiled code keeps the one tuple instead of boxing its ids at each use."""
        self.listed = msgspec.Raw(_encoder.encode({"id": variant.id}))


_Running = tuple[AbTest, Rule | None, str, dict[Hashable, Assignment], Placement, tuple[Assignment, ...], bool]


@dataclass(frozen=True)
class _Base:
    """The variables every user gets before A/B variants: flat, nested, and the flat names under each top-level
    name (the unit in which a variant's overrides are applied)."""

    flat: dict[str, Any]
    tree: dict[str, Any]
    groups: dict[str, list[str]]


@dataclass(frozen=True)
class _Layout:
    """The base ``vars`` encoded: one ``"top":value`` piece per top-level name, in order, and all of them."""

    parts: list[bytes]
    index: dict[str, int]
    whole: msgspec.Raw


def _part(top: str, value: Any) -> bytes:
    return _encoder.encode(top) + b":" + _encoder.encode(value)


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
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """What requests derive from the snapshot, computed once (it never changes): racing threads may both
    compute an entry, with the same result."""
    _combinations: dict[Any, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)
    """``vars_for`` answers by combination of variants, oldest first (bounded by ``COMBINATIONS``)."""
    _groups: dict[Any, tuple[Any, bytes | None]] = field(default_factory=dict, compare=False, repr=False)
    """One top-level group's nested values (and their JSON, once asked for) by the variants that change it
    (bounded by ``COMBINATIONS``)."""

    def profile_reader(self) -> Decode:
        """A decoder of profiles that keeps, of their counters, those the running tests' audiences read."""
        reader: Decode | None = self._memo.get("profile_reader")
        if reader is None:
            rules = [rule for _, rule in self.running if rule is not None]
            events = frozenset(name for rule in rules for name in rule.events)
            states = frozenset(name for rule in rules for name in rule.states)
            reader = self._memo["profile_reader"] = profile_reader.reader(events, states)
        return reader

    def assignments(self, profile: Profile | None, device_id: str | None, now: float) -> list[Assignment]:
        if profile is None:
            return []
        out: list[Assignment] = []
        forced = self._forced_by_device().get(device_id) if device_id else None
        exposures = profile.exposures
        user_id = profile.user_id
        for test, rule, key, by_id, placement, made, sticky in self._running():
            assignment = by_id.get(forced[test.id]) if forced and test.id in forced else None
            if assignment is None and sticky:
                # Sticky: once exposed, a user keeps the variant even if they leave the audience.
                exposed: Hashable | None = exposures.get(key)
                if exposed is not None:
                    assignment = by_id.get(exposed)
            if assignment is None:
                if rule is not None and not rule.matches(profile, now):
                    continue
                if not placement.in_traffic(user_id):
                    continue
                index = placement.pick(user_id)
                if index is None:
                    continue
                assignment = made[index]
            out.append(assignment)
        return out

    def vars_for(self, assignments: list[Assignment], *, include_defaults: bool) -> dict[str, Any]:
        """The nested ``vars`` for a user in ``assignments``: the same as unflattening defaults (optionally),
        team values and the variants' overrides, but only the top-level groups a variant touches are rebuilt.

        The answer is shared with every user in the same variants (and its groups no variant touches with the
        snapshot): read it, never change it. Up to ``COMBINATIONS`` answers are kept per snapshot.
        """
        key = (include_defaults, *[a.variant_key for a in assignments])
        tree: dict[str, Any] | None = self._combinations.get(key)
        if tree is None:
            tree = self._vars_for(assignments, include_defaults)
            if len(self._combinations) >= COMBINATIONS:
                self._combinations.pop(next(iter(self._combinations)), None)
            self._combinations[key] = tree
        return tree

    def vars_json(self, assignments: list[Assignment], *, include_defaults: bool) -> msgspec.Raw:
        """``vars_for`` already encoded as JSON, byte for byte what encoding ``vars_for`` gives.

        Each top-level group is encoded once per snapshot, and once per combination of the variants that change
        it; an answer is those pieces joined, so nothing is encoded per request however many combinations of
        variants the users are in.
        """
        layout = self._layout(include_defaults)
        tops_of = self._tops_of(include_defaults)
        touched: dict[str, list[Hashable]] = {}  # each group the variants change: the variants, in order
        for assignment in assignments:
            variant_key = assignment.variant_key
            tops = tops_of.get(variant_key, _UNKNOWN)
            if tops is _UNKNOWN:
                split = self._split(assignment.test, assignment.variant, include_defaults)
                tops = tops_of[variant_key] = None if split is None else tuple(split)
            if tops is None:  # a new top-level name reorders the groups: encode the whole rebuilt tree
                return msgspec.Raw(_encoder.encode(self.vars_for(assignments, include_defaults=include_defaults)))
            for top in tops:
                layers = touched.get(top)
                if layers is None:
                    touched[top] = [variant_key]
                else:
                    layers.append(variant_key)
        if not touched:
            return layout.whole
        parts = layout.parts.copy()
        groups, index = self._groups, layout.index
        for top, layers in touched.items():
            found = groups.get((include_defaults, top, *layers))
            part = found[1] if found is not None else None
            if part is None:
                by_key = {a.variant_key: a for a in assignments}
                part = self._group(top, [by_key[k] for k in layers], include_defaults, encoded=True)[1]
                assert part is not None
            parts[index[top]] = part
        return msgspec.Raw(b"{" + b",".join(parts) + b"}")

    def _vars_for(self, assignments: list[Assignment], include_defaults: bool) -> dict[str, Any]:
        base = self._base(include_defaults)
        touched = self._touched(assignments, include_defaults)
        if touched is None:  # a new top-level name moves the groups' order (sorted by first name): rebuild all
            overrides: dict[str, Any] = {}
            for each in assignments:
                overrides.update(self._fitted(each.test, each.variant))
            return variables.unflatten({**base.flat, **overrides})
        tree = dict(base.tree)
        for top, layers in touched.items():
            tree[top] = self._group(top, layers, include_defaults)[0]
        return tree

    def _touched(self, assignments: list[Assignment], include_defaults: bool) -> dict[str, list[Assignment]] | None:
        """The top-level groups the assignments change, each with the assignments that change it, in order; None
        when one adds a top-level name."""
        touched: dict[str, list[Assignment]] = {}
        for assignment in assignments:
            split = self._split(assignment.test, assignment.variant, include_defaults)
            if split is None:
                return None
            for top in split:
                touched.setdefault(top, []).append(assignment)
        return touched

    def _group(self, top: str, layers: list[Assignment], include_defaults: bool, *,
               encoded: bool = False) -> tuple[Any, bytes | None]:
        """Group ``top`` as ``layers`` (the assignments that change it, in order) leave it, and its encoded
        ``"top":value`` piece when ``encoded`` (made once, on first demand)."""
        key = (include_defaults, top, *[a.variant_key for a in layers])
        found: tuple[Any, bytes | None] | None = self._groups.get(key)
        if found is None:
            base = self._base(include_defaults)
            group = {name: base.flat[name] for name in base.groups[top]}
            for assignment in layers:  # in the order of the assignments: a later test's value wins
                split = self._split(assignment.test, assignment.variant, include_defaults)
                assert split is not None
                group.update(split[top])
            found = (variables.unflatten(group)[top], None)
            if len(self._groups) >= COMBINATIONS:
                self._groups.pop(next(iter(self._groups)), None)
        if encoded and found[1] is None:
            found = (found[0], _part(top, found[0]))
        self._groups[key] = found
        return found

    def _split(self, test: AbTest, variant: Variant, include_defaults: bool) -> dict[str, dict[str, Any]] | None:
        """A variant's overrides by the top-level group they change; None when one adds a top-level name."""
        key = ("split", include_defaults, test.id, id(variant))
        if key in self._memo:
            found: dict[str, dict[str, Any]] | None = self._memo[key]
            return found
        base = self._base(include_defaults)
        split: dict[str, dict[str, Any]] = {}
        for name, value in self._fitted(test, variant).items():
            top = name.split(".", 1)[0]
            if top not in base.groups or (top == name and name not in base.flat):
                self._memo[key] = None
                return None
            split.setdefault(top, {})[name] = value
        self._memo[key] = split
        return split

    # -- derived once per snapshot -------------------------------------------------------------------------
    def _base(self, include_defaults: bool) -> _Base:
        key = ("base", include_defaults)
        base: _Base | None = self._memo.get(key)
        if base is None:
            flat = dict(self.defaults) if include_defaults else {}
            flat.update(self.team_values)
            groups: dict[str, list[str]] = {}
            for name in flat:
                groups.setdefault(name.split(".", 1)[0], []).append(name)
            base = self._memo[key] = _Base(flat, variables.unflatten(flat), groups)
        return base

    def _layout(self, include_defaults: bool) -> _Layout:
        key = ("layout", include_defaults)
        layout: _Layout | None = self._memo.get(key)
        if layout is None:
            tree = self._base(include_defaults).tree
            parts = [_part(top, value) for top, value in tree.items()]
            layout = self._memo[key] = _Layout(parts, {top: i for i, top in enumerate(tree)},
                                               msgspec.Raw(_encoder.encode(tree)))
        return layout

    def action_definitions_json(self) -> msgspec.Raw:
        """``action_definitions`` encoded once per snapshot."""
        found: msgspec.Raw | None = self._memo.get("actions")
        if found is None:
            found = self._memo["actions"] = msgspec.Raw(_encoder.encode(self.action_definitions))
        return found

    def _tops_of(self, include_defaults: bool) -> dict[Hashable, tuple[str, ...] | None]:
        """The top-level groups each variant changes (None: it adds a top-level name), filled on demand."""
        found: dict[Hashable, tuple[str, ...] | None] | None = self._memo.get(("tops", include_defaults))
        if found is None:
            found = self._memo[("tops", include_defaults)] = {}
        return found

    def _fitted(self, test: AbTest, variant: Variant) -> dict[str, Any]:
        key = ("fitted", test.id, id(variant))  # the snapshot holds its variants: their ids stay theirs
        fitted: dict[str, Any] | None = self._memo.get(key)
        if fitted is None:
            fitted = self._memo[key] = _fitting(variant.overrides, self.kinds)
        return fitted

    def _running(self) -> tuple[_Running, ...]:
        """``running`` with what assigning a user needs, worked out once: each test's id as the profile's
        exposures key it, where users fall in it, and an ``Assignment`` for each of its variants (in order, and
        by id: the first of a repeated id, as ``AbTest.variant`` finds it), shared by every user in it."""
        found: tuple[_Running, ...] | None = self._memo.get("running")
        if found is None:
            running = []
            for test, rule in self.running:
                made = tuple(Assignment(test, variant) for variant in test.variants)
                by_id: dict[Hashable, Assignment] = {}
                for assignment in made:
                    by_id.setdefault(assignment.variant.id, assignment)
                running.append(
                    (test, rule, str(test.id), by_id, Placement(self.app_id, test), made, test.targeting_sticky)
                )
            found = self._memo["running"] = tuple(running)
        return found

    def _forced_by_device(self) -> dict[str, dict[int, int]]:
        """``forced`` by device: the variant id each test forces the device into."""
        found: dict[str, dict[int, int]] | None = self._memo.get("forced")
        if found is None:
            found = {}
            for (device_id, test_id), variant_id in self.forced.items():
                found.setdefault(device_id, {})[test_id] = variant_id
            self._memo["forced"] = found
        return found


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
        # Read without the lock (each lookup is atomic): a version noted between the two lookups only makes
        # this request reload, and a snapshot replaced between them was current when it was read.
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
