"""User attributes and everything else ``setUserAttributes`` can change on a profile (API.md §6.2).

Attributes merge (only given keys change; a null removes one); set-valued attributes grow and shrink with
``...ValuesToAdd``/``...ToRemove``; integer counters with ``...ToIncrement``. The bulk-import fields write the
lifetime figures directly, for data brought in from another system.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openplum.services.catalog import ATTRIBUTE
from openplum.services.naming import name_problem
from openplum.services.profile import LOCATION_FIELDS, EventStats, Profile, StateStats
from openplum.services.unit import Unit


def set_attributes(unit: Unit, profile: Profile, values: dict[str, Any]) -> list[str]:
    """Merge ``values``; return a warning per attribute skipped for its name or the app's cap on names."""
    warnings: list[str] = []
    valid: dict[str, Any] = {}
    for name, value in values.items():
        problem = name_problem("Attribute", name)
        if problem:
            warnings.append(problem)
        else:
            valid[name] = value
    refused = unit.admit(ATTRIBUTE, [n for n in valid if n not in profile.attributes])
    if refused:
        warnings += refused
        allowed = unit.catalog.known(unit.app_id, ATTRIBUTE)
        valid = {n: v for n, v in valid.items() if n in allowed or n in profile.attributes}
    for name, value in valid.items():
        if value is None:
            profile.attributes.pop(name, None)
        else:
            profile.attributes[name] = value
    return warnings


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def add_values(profile: Profile, values: dict[str, Any]) -> None:
    for name, added in values.items():
        current = profile.attributes.get(name)
        items = _as_list(current) if current is not None else []
        for value in _as_list(added):
            if value not in items:
                items.append(value)
        profile.attributes[name] = items


def remove_values(profile: Profile, values: dict[str, Any]) -> None:
    for name, removed in values.items():
        current = profile.attributes.get(name)
        if current is None:
            continue
        gone = _as_list(removed)
        profile.attributes[name] = [v for v in _as_list(current) if v not in gone]


def increment(profile: Profile, values: dict[str, Any]) -> list[str]:
    warnings: list[str] = []
    for name, step in values.items():
        current = profile.attributes.get(name, 0)
        if not _is_int(step) or not _is_int(current):
            warnings.append(f"Attribute {name!r} not incremented: only integers can be incremented.")
            continue
        profile.attributes[name] = int(current) + int(step)
    return warnings


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, str):
        try:
            int(value)
        except ValueError:
            return False
        return True
    return False


def _channels(value: Any) -> list[str]:
    return [str(v) for v in _as_list(value) if v not in (None, "")]


def unsubscribe(profile: Profile, channels_add: Any, channels_remove: Any, cats_add: Any, cats_remove: Any) -> None:
    if channels_add is not None or channels_remove is not None:
        chans = set(profile.unsubscribe_channels) | set(_channels(channels_add or []))
        profile.unsubscribe_channels = sorted(chans - set(_channels(channels_remove or [])))
    if cats_add is not None or cats_remove is not None:
        cats = set(profile.unsubscribe_categories) | set(_channels(cats_add or []))
        profile.unsubscribe_categories = sorted(cats - set(_channels(cats_remove or [])))


def set_location(profile: Profile, values: dict[str, Any]) -> None:
    """Locale, country, region, city, location, accuracy and timezone; ``(detect)`` means unknown here."""
    for name in LOCATION_FIELDS:
        value = values.get(name)
        if value is None or value == "(detect)":
            continue
        profile.location[name] = value


def import_events(profile: Profile, events: dict[str, Any]) -> list[str]:
    warnings: list[str] = []
    for name, spec in events.items():
        problem = name_problem("Event", name)
        if problem or not isinstance(spec, dict):
            warnings.append(problem or f"Event {name!r}: expected an object of figures.")
            continue
        stats = profile.events.setdefault(name, EventStats())
        _apply_figures(stats, spec)
        if "value" in spec:
            stats.value = float(spec["value"])
        if "valueIncrement" in spec:
            stats.value += float(spec["valueIncrement"])
    return warnings


def import_states(profile: Profile, states: dict[str, Any]) -> list[str]:
    warnings: list[str] = []
    for name, spec in states.items():
        problem = name_problem("State", name)
        if problem or not isinstance(spec, dict):
            warnings.append(problem or f"State {name!r}: expected an object of figures.")
            continue
        _apply_figures(profile.states.setdefault(name, StateStats()), spec)
    return warnings


def _apply_figures(stats: EventStats | StateStats, spec: dict[str, Any]) -> None:
    if "count" in spec:
        stats.count = int(spec["count"])
    if "countIncrement" in spec:
        stats.count += int(spec["countIncrement"])
    if "firstTime" in spec:
        stats.first_time = float(spec["firstTime"])
    if "lastTime" in spec:
        stats.last_time = float(spec["lastTime"])


def set_device_fields(fields: dict[str, Any], values: Iterable[tuple[str, Any]]) -> bool:
    changed = False
    for name, value in values:
        if value is None or (value == "" and name not in fields):
            continue
        if fields.get(name) != value:
            fields[name] = value
            changed = True
    return changed
