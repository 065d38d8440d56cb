"""Profiles decoded in part for targeting: only the named counters, everything else as the whole profile has it,
and only for units that never write the profile back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from openplum.services import profile as profiles
from openplum.services.profile import Device, EventStats, Profile, StateStats
from openplum.services.profile_reader import reader
from openplum.services.unit import Unit
from openplum.store import SqliteStore
from openplum.store.base import Tx
from tests.store.stores import app, insert


def _long_history() -> Profile:
    profile = Profile(user_id="u1", created=1.0, total_sessions=3, attributes={"plan": "pro"},
                      exposures={"17": 4}, location={"country": "GB"})
    profile.devices["d1"] = Device(device_id="d1", fields={"browserName": "Chrome"})
    for i in range(100):
        profile.events[f"Event {i:03d}"] = EventStats(count=i + 1, value=i * 2.5, first_time=10.0, last_time=10.0 + i)
    profile.events["Purchase"] = EventStats(count=2, value=30.0, first_time=5.0, last_time=6.0)
    profile.states["Checkout"] = StateStats(count=1, first_time=7.0, last_time=7.0)
    profile.states["Browse"] = StateStats(count=9, first_time=1.0, last_time=8.0)
    return profile


def test_only_the_named_counters_are_kept_and_the_rest_of_the_profile_is_whole() -> None:
    whole = _long_history()
    doc = profiles.encode(whole)

    part = reader(frozenset({"Purchase", "Never done"}), frozenset({"Checkout"}))(doc)

    assert isinstance(part, Profile)
    assert part.events == {"Purchase": whole.events["Purchase"]}
    assert part.states == {"Checkout": whole.states["Checkout"]}
    for field in ("user_id", "created", "total_sessions", "attributes", "devices", "exposures", "location"):
        assert getattr(part, field) == getattr(whole, field), field


def test_no_names_keep_no_counters_and_a_profile_without_any_reads_as_empty() -> None:
    part = reader(frozenset(), frozenset())(profiles.encode(_long_history()))
    assert (part.events, part.states) == ({}, {})
    fresh = Profile(user_id="u2", created=1.0)
    part = reader(frozenset({"Purchase"}), frozenset({"Checkout"}))(profiles.encode(fresh))
    assert (part.events, part.states) == ({}, {})


def _named(names: list[str]) -> Profile:
    profile = Profile(user_id="u1", created=1.0)
    for i, name in enumerate(names):
        profile.events[name] = EventStats(count=i + 1)
    return profile


def test_names_of_any_characters_are_read_as_stored() -> None:
    odd = ["", " ", "e0", "s0", "dotted.name", "Ünïcode ✓", "count", "a/b:c"]
    part = reader(frozenset(odd[1:]), frozenset())(profiles.encode(_named(odd)))
    assert part.events == {name: EventStats(count=i + 1) for i, name in enumerate(odd) if name}


def test_a_name_msgspec_cannot_give_a_field_is_read_too_with_the_whole_profile() -> None:
    names = ['say "hi"', "back\\slash", "tab\tbed", "Purchase", "other"]
    whole = _named(names)
    part = reader(frozenset(names[:4]), frozenset())(profiles.encode(whole))
    assert part.events == whole.events


def _units(tmp_path: Path, check: Callable[[Tx, str, bool], None]) -> None:
    """Save the long-history profile, then run ``check(tx, app_id)`` in a read and in a write of the store."""
    store = SqliteStore(tmp_path / "units.db", synchronous="NORMAL")
    record = app("reader")
    doc = profiles.encode(_long_history())

    async def scenario() -> None:
        await store.start()
        try:
            await store.write(insert(record))
            await store.write(lambda tx: tx.save_profiles(record.app_id, [("u1", doc, 1.0)]))
            def read(tx: Tx) -> None:
                check(tx, record.app_id, False)

            def write(tx: Tx) -> None:
                check(tx, record.app_id, True)

            await store.read(read)
            await store.write(write)
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_unit_that_does_not_write_reads_in_part_until_the_whole_profile_is_asked_for(tmp_path: Path) -> None:
    decode = reader(frozenset({"Purchase"}), frozenset())
    seen: dict[bool, tuple[int, int, int]] = {}

    def check(tx: Tx, app_id: str, writable: bool) -> None:
        unit = Unit(tx, app_id, 100.0, writable=writable)
        unit.prefetch(["u1", "nobody"])
        first = unit.reading("u1", decode)
        assert first is not None
        again = unit.reading("u1", decode)
        whole = unit.profile("u1")
        assert whole is not None
        after = unit.reading("u1", decode)
        assert again is first
        assert after is whole
        assert unit.reading("nobody", decode) is None
        assert unit.profile("nobody") is None
        seen[writable] = (len(first.events), len(whole.events), len(after.events))

    _units(tmp_path, check)

    assert seen[False] == (1, 101, 101)  # in part, then whole once asked for
    assert seen[True] == (101, 101, 101)  # a unit that writes never holds a partial profile
