"""The user profile: one document per (app, user), maintained as behaviour arrives (API.md §3.5).

Lifetime counters per event and state, sessions and time in app, attributes, devices, location and locale,
unsubscribes, traffic source, and the sessions open on each device. Reading a profile never scans history, so
it costs the same at any number of events; audiences and triggers read these counters.
"""

from __future__ import annotations

from typing import Any

import msgspec


# The structs that hold only numbers and strings are not tracked by the garbage collector (``gc=False``): they
# cannot be part of a reference cycle, and a profile with a long history decodes hundreds of them.
class EventStats(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    count: int = 0
    value: float = 0.0
    first_time: float | None = None
    last_time: float | None = None

    def add(self, when: float, value: float, count: int = 1) -> None:
        self.count += count
        self.value += value
        self.first_time = when if self.first_time is None else min(self.first_time, when)
        self.last_time = when if self.last_time is None else max(self.last_time, when)


class StateStats(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    count: int = 0
    first_time: float | None = None
    last_time: float | None = None

    def add(self, when: float, count: int = 1) -> None:
        self.count += count
        self.first_time = when if self.first_time is None else min(self.first_time, when)
        self.last_time = when if self.last_time is None else max(self.last_time, when)


DEVICE_FIELDS = (
    "appVersion", "systemName", "systemVersion", "browserName", "browserVersion", "deviceName", "deviceModel",
    "iosPushToken", "gcmRegistrationId", "webPushSubscription", "huaweiPushRegId", "iosPushTypes",
    "iosPushCategories", "richPushEnabled", "limitTracking", "installDate", "updateDate",
)


class Device(msgspec.Struct, omit_defaults=True):
    """One device of the user: its attributes keyed by their wire names (``appVersion``, ``iosPushToken`` ...)."""

    device_id: str
    fields: dict[str, Any] = msgspec.field(default_factory=dict)
    first_seen: float | None = None
    last_seen: float | None = None


class OpenSession(msgspec.Struct, omit_defaults=True, gc=False):
    """A session open on one device, and the state the user is in within it."""

    session_id: int
    device_id: str | None
    started: float
    last_activity: float
    paused_at: float | None = None
    paused_total: float = 0.0
    background: bool = False
    dev_mode: bool = False
    state_id: int | None = None
    state_name: str | None = None
    state_started: float | None = None
    state_paused_at: float | None = None
    state_paused_total: float = 0.0


class Profile(msgspec.Struct, omit_defaults=True):
    user_id: str
    created: float
    identified: bool = False
    """True once the user has an id of their own (not the device id): decides register/login vs switch."""
    last_active: float | None = None
    total_sessions: int = 0
    time_spent_in_app: float = 0.0
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    events: dict[str, EventStats] = msgspec.field(default_factory=dict)
    states: dict[str, StateStats] = msgspec.field(default_factory=dict)
    devices: dict[str, Device] = msgspec.field(default_factory=dict)
    location: dict[str, Any] = msgspec.field(default_factory=dict)
    """locale, country, region, city, location, locationAccuracyType, timezone, timezoneOffsetSeconds."""
    unsubscribe_channels: list[str] = msgspec.field(default_factory=list)
    unsubscribe_categories: list[str] = msgspec.field(default_factory=list)
    traffic_source: dict[str, Any] | None = None
    blocked: bool = False
    sessions: dict[str, OpenSession] = msgspec.field(default_factory=dict)
    """Open sessions by device id ('' for calls that name no device)."""
    exposures: dict[str, int] = msgspec.field(default_factory=dict)
    """A/B test id -> the variant the user was first exposed to."""

    def mark_active(self, when: float) -> None:
        self.last_active = when if self.last_active is None else max(self.last_active, when)


LOCATION_FIELDS = (
    "locale", "country", "region", "city", "location", "locationAccuracyType", "timezone", "timezoneOffsetSeconds",
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Profile)


def encode(profile: Profile) -> bytes:
    return _encoder.encode(profile)


def decode(doc: bytes) -> Profile:
    return _decoder.decode(doc)
