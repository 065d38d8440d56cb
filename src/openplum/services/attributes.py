"""User attributes and everything else ``setUserAttributes`` can change on a profile (API.md §6.2).

Attributes merge (only given keys change; a null removes one); set-valued attributes grow and shrink with
``...ValuesToAdd``/``...ToRemove``; integer counters with ``...ToIncrement``. The bulk-import fields write the
lifetime figures directly, for data brought in from another system.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import msgspec

from openplum.errors import ApiError
from openplum.services.catalog import ATTRIBUTE, EVENT, STATE
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


class EventFigures(msgspec.Struct, rename="camel", kw_only=True):
    """Lifetime figures of one event, imported from another system (``setUserAttributes.events``)."""

    count: int | None = None
    count_increment: int | None = None
    value: float | None = None
    value_increment: float | None = None
    first_time: float | None = None
    last_time: float | None = None


class StateFigures(msgspec.Struct, rename="camel", kw_only=True):
    count: int | None = None
    count_increment: int | None = None
    first_time: float | None = None
    last_time: float | None = None


def check_figures(figures: dict[str, EventFigures] | dict[str, StateFigures] | None) -> None:
    """Refuse imported figures that are not finite numbers, before anything changes."""
    for name, entry in (figures or {}).items():
        numbers = [getattr(entry, f) for f in entry.__struct_fields__]
        if any(isinstance(n, float) and not math.isfinite(n) for n in numbers):
            raise ApiError(f"Invalid figures for {name!r}: counts, values and times must be finite numbers")


def _figures_problem(kind: str, name: str, figures: EventFigures | StateFigures) -> str | None:
    return name_problem(kind, name)


def import_events(unit: Unit, profile: Profile, events: dict[str, EventFigures]) -> list[str]:
    warnings = [p for n, f in events.items() if (p := _figures_problem("Event", n, f))]
    valid = {n: f for n, f in events.items() if _figures_problem("Event", n, f) is None}
    refused = unit.admit(EVENT, [n for n in valid if n not in profile.events])
    warnings += refused
    allowed = unit.catalog.known(unit.app_id, EVENT) if refused else None
    for name, figures in valid.items():
        if allowed is not None and name not in allowed and name not in profile.events:
            continue
        stats = profile.events.setdefault(name, EventStats())
        _apply_figures(stats, figures)
        if figures.value is not None:
            stats.value = figures.value
        if figures.value_increment is not None:
            stats.value += figures.value_increment
    return warnings


def import_states(unit: Unit, profile: Profile, states: dict[str, StateFigures]) -> list[str]:
    warnings = [p for n, f in states.items() if (p := _figures_problem("State", n, f))]
    valid = {n: f for n, f in states.items() if _figures_problem("State", n, f) is None}
    refused = unit.admit(STATE, [n for n in valid if n not in profile.states])
    warnings += refused
    allowed = unit.catalog.known(unit.app_id, STATE) if refused else None
    for name, figures in valid.items():
        if allowed is not None and name not in allowed and name not in profile.states:
            continue
        _apply_figures(profile.states.setdefault(name, StateStats()), figures)
    return warnings


def _apply_figures(stats: EventStats | StateStats, figures: EventFigures | StateFigures) -> None:
    if figures.count is not None:
        stats.count = figures.count
    if figures.count_increment is not None:
        stats.count += figures.count_increment
    if figures.first_time is not None:
        stats.first_time = figures.first_time
    if figures.last_time is not None:
        stats.last_time = figures.last_time


def set_device_fields(fields: dict[str, Any], values: Iterable[tuple[str, Any]]) -> bool:
    changed = False
    for name, value in values:
        if value is None or (value == "" and name not in fields):
            continue
        if fields.get(name) != value:
            fields[name] = value
            changed = True
    return changed
