"""``Snapshot.vars_for`` keeps what it builds per combination of variants and per group; whatever it reuses, its
answer is the plain definition: defaults (optionally), then team values, then each variant's overrides in the
order of the assignments, nested by dotted name."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from openplum.services import variables
from openplum.services.experiments import AbTest, Variant
from openplum.services.snapshot import Assignment, Snapshot

NAMES = ["a.x", "a.y", "a.z.deep", "b.x", "b.y", "c", "d.x"]
"""Variable names: groups ``a``, ``b`` and ``d``, and a top-level ``c``; ``e.new`` below is none of them."""

values = st.text(max_size=3)
overrides = st.dictionaries(st.sampled_from([*NAMES, "e.new"]), values, max_size=4)


def _snapshot(defaults: dict[str, Any], team: dict[str, Any], tests: list[AbTest]) -> Snapshot:
    return Snapshot("app", 1, kinds=dict.fromkeys([*NAMES, "e.new"], "string"), defaults=defaults, team_values=team,
                    tests=tuple(tests), running=tuple((t, None) for t in tests))


def _expected(snapshot: Snapshot, chosen: list[Assignment], include_defaults: bool) -> dict[str, Any]:
    flat = dict(snapshot.defaults) if include_defaults else {}
    flat.update(snapshot.team_values)
    for assignment in chosen:
        flat.update(assignment.variant.overrides)
    return variables.unflatten(flat)


def _tests(tests: list[list[dict[str, Any]]]) -> list[AbTest]:
    return [AbTest(id=i + 1, name=f"t{i}", created=0, updated=0, state="running",
                   variants=[Variant(id=10 * (i + 1) + j, name=f"v{j}", weight=1, overrides=o)
                             for j, o in enumerate(variant_overrides)])
            for i, variant_overrides in enumerate(tests)]


def _chosen(ab: list[AbTest], pick: list[int]) -> list[Assignment]:
    return [Assignment(test, test.variants[p % len(test.variants)]) for test, p in zip(ab, pick, strict=False)
            if p < 3]


cases = given(
    defaults=st.fixed_dictionaries(dict.fromkeys(NAMES, values)),
    team=st.dictionaries(st.sampled_from(NAMES), values, max_size=3),
    tests=st.lists(st.lists(overrides, min_size=1, max_size=3), min_size=1, max_size=4),
    picks=st.lists(st.lists(st.integers(0, 3), min_size=4, max_size=4), min_size=1, max_size=6),
    include_defaults=st.booleans(),
)
"""Snapshots of up to four tests of up to three variants, and users picking a variant of each (or none)."""


@settings(max_examples=200, deadline=None)
@cases
def test_vars_for_is_the_layered_merge_whatever_was_built_before(
    defaults: dict[str, Any], team: dict[str, Any], tests: list[list[dict[str, Any]]], picks: list[list[int]],
    include_defaults: bool,
) -> None:
    ab = _tests(tests)
    snapshot = _snapshot(defaults, team, ab)
    for pick in picks:  # several users in turn: later ones reuse what earlier ones built
        chosen = _chosen(ab, pick)
        got = snapshot.vars_for(chosen, include_defaults=include_defaults)
        assert got == _expected(snapshot, chosen, include_defaults)


@settings(max_examples=200, deadline=None)
@cases
def test_vars_json_is_vars_for_encoded_byte_for_byte(
    defaults: dict[str, Any], team: dict[str, Any], tests: list[list[dict[str, Any]]], picks: list[list[int]],
    include_defaults: bool,
) -> None:
    ab = _tests(tests)
    encoded, plain = _snapshot(defaults, team, ab), _snapshot(defaults, team, ab)
    for pick in picks:  # the encoded answers reuse pieces built for earlier users; the plain snapshot is apart
        chosen = _chosen(ab, pick)
        got = encoded.vars_json(chosen, include_defaults=include_defaults)
        assert bytes(got) == msgspec.json.encode(plain.vars_for(chosen, include_defaults=include_defaults))
        assert msgspec.json.decode(got) == _expected(encoded, chosen, include_defaults)
