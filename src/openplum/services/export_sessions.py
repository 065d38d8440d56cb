"""Raw export of sessions (``exportData``): which sessions, and each one as Leanplum's JSON line (EXPORT-FORMAT.md §2).

Only completed sessions are exported (ended by ``stop`` or a timeout). ``startDate``/``endDate`` are calendar days
in US Pacific time and select sessions by when they started; ``startTime``/``endTime`` (epoch seconds) select them
by when they ended, i.e. became available. ``lines`` walks the sessions a page at a time and fetches each page's
states, events and profiles in bulk, so an export holds one page in memory whatever its size.

A line carries the session (``sessionId`` as a string of digits, times and durations as numbers of seconds,
``isSession`` a JSON boolean), the device and location captured when the session started, the user's attributes,
A/B variants (``experiments``, from the profile's exposures) and traffic source as they are now, and ``states``:
each named state with the events tracked while the user was in it, plus one unnamed state (no ``name``) holding
the events tracked outside any named state. Message events are named ``.m<messageId>`` (an impression) or
``.m<messageId> <event>``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from openplum.services import profile as profiles
from openplum.services.profile import Profile
from openplum.store.base import Tx
from openplum.store.export_sql import ExportEvent, ExportSession, ExportState, SessionWindow

T = TypeVar("T")
PACIFIC = ZoneInfo("America/Los_Angeles")
PAGE = 200
"""Sessions per page: with their states, events and profiles, what an export holds in memory at once."""

_DEVICE = ("appVersion", "client", "sdkVersion", "systemName", "systemVersion", "deviceModel", "browserName",
           "browserVersion")
_PLACE = ("country", "region", "city", "locale", "timezone")
_SOURCE = (("publisherId", "sourcePublisherId"), ("publisherName", "sourcePublisher"),
           ("publisherSubPublisher", "sourceSubPublisher"), ("publisherSubSite", "sourceSite"),
           ("publisherSubCampaign", "sourceCampaign"), ("publisherSubAdGroup", "sourceAdGroup"),
           ("publisherSubAd", "sourceAd"))


class ExportError(Exception):
    """An export that cannot be made from these parameters; the message says why."""


class Db(Protocol):
    """The store, called synchronously from the export's worker thread."""

    def read(self, fn: Callable[[Tx], T]) -> T: ...
    def write(self, fn: Callable[[Tx], T]) -> T: ...


# -- which sessions -------------------------------------------------------------------------------------------
def _date(day: str) -> dt.date:
    try:
        return dt.date(int(day[:4]), int(day[4:6]), int(day[6:8]))
    except ValueError:
        raise ExportError(f"Invalid date {day!r}: expected YYYYMMDD") from None


def _midnight(date: dt.date) -> float:
    return dt.datetime.combine(date, dt.time(), tzinfo=PACIFIC).timestamp()


def day_start(now: float) -> float:
    """Start of the Pacific calendar day that ``now`` falls in, in epoch seconds."""
    return _midnight(dt.datetime.fromtimestamp(now, PACIFIC).date())


def window(params: dict[str, Any]) -> SessionWindow:
    """The sessions an ``exportData`` job's parameters (as ``actions.export`` stored them) select."""
    start, end = params.get("startDate"), params.get("endDate") or params.get("startDate")
    lo = _midnight(_date(str(start))) if start else None
    hi = _midnight(_date(str(end)) + dt.timedelta(days=1)) if end else None
    if lo is not None and hi is not None and hi <= lo:
        raise ExportError(f"endDate {end} is before startDate {start}")
    t0, t1 = params.get("startTime"), params.get("endTime")
    return SessionWindow(lo, hi, None if t0 is None else float(t0), None if t1 is None else float(t1))


def count(db: Db, app_id: str, sessions: SessionWindow) -> int:
    return db.read(lambda tx: tx.count_export_sessions(app_id, sessions))


# -- pages of sessions ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Page:
    sessions: list[ExportSession]
    states: list[ExportState]
    events: list[ExportEvent]
    docs: dict[str, bytes]


def _page(app_id: str, sessions: SessionWindow, after: tuple[float, int] | None, size: int) -> Callable[[Tx], _Page]:
    def read(tx: Tx) -> _Page:
        found = tx.export_sessions(app_id, sessions, after, size)
        ids = [s.session_id for s in found]
        return _Page(found, tx.states_of_sessions(app_id, ids), tx.events_of_sessions(app_id, ids),
                     tx.load_profiles(app_id, sorted({s.user_id for s in found})))

    return read


def lines(db: Db, app_id: str, sessions: SessionWindow, page: int = PAGE) -> Iterator[dict[str, Any]]:
    """Every session in the window as its JSON line (a dict), in order of start."""
    after: tuple[float, int] | None = None
    while True:
        got = db.read(_page(app_id, sessions, after, page))
        states: dict[int, list[ExportState]] = {}
        events: dict[int, list[ExportEvent]] = {}
        for state in got.states:
            states.setdefault(state.session_id, []).append(state)
        for event in got.events:
            events.setdefault(event.session_id, []).append(event)
        users = {u: profiles.decode(doc) for u, doc in got.docs.items()}
        for s in got.sessions:
            yield line(s, states.get(s.session_id, []), events.get(s.session_id, []), users.get(s.user_id))
        if len(got.sessions) < page:
            return
        last = got.sessions[-1]
        after = (last.started, last.session_id)


# -- one line -------------------------------------------------------------------------------------------------
def implicit_state_id(session_id: int) -> int:
    """The id of a session's unnamed state: derived from the session id, so every export (JSON or CSV) gives the
    same one, and negative, so it never equals a stored state's id (those are positive)."""
    digest = hashlib.blake2b(session_id.to_bytes(8, "big", signed=True), digest_size=8).digest()
    return -(int.from_bytes(digest, "big") >> 1) - 1


def event_name(event: ExportEvent) -> str:
    if event.message_id is None:
        return event.name
    return f".m{event.message_id} {event.name}" if event.name else f".m{event.message_id}"


def _json(doc: bytes | None) -> dict[str, Any] | None:
    if not doc:
        return None
    value = msgspec.json.decode(doc)
    return value if isinstance(value, dict) and value else None


def _number(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _integer(value: Any) -> int:
    return int(_number(value))


def _event(event: ExportEvent, user: Profile | None, first_run: float) -> dict[str, Any]:
    out: dict[str, Any] = {"eventId": event.event_id, "name": event_name(event), "time": event.time,
                           "value": event.value}
    if event.info is not None:
        out["info"] = event.info
    stats = user.events.get(event.name) if user is not None and event.message_id is None else None
    if user is not None and stats is not None and stats.first_time == event.time:
        out["timeUntilFirstForUser"] = max(0.0, event.time - first_run)
    params = _json(event.params)
    if params is not None:
        out["parameters"] = params
    return out


def _state(state: ExportState, user: Profile | None, first_run: float) -> dict[str, Any]:
    out: dict[str, Any] = {"stateId": state.state_id, "name": state.name, "time": state.time}
    if state.duration is not None:
        out["duration"] = state.duration
    if state.info is not None:
        out["info"] = state.info
    params = _json(state.params)
    if params is not None:
        out["parameters"] = params
    stats = user.states.get(state.name) if user is not None else None
    if user is not None and stats is not None and stats.first_time == state.time:
        out["timeUntilFirstForUser"] = max(0.0, state.time - first_run)
    return out


def _states(session: ExportSession, states: Sequence[ExportState], events: Sequence[ExportEvent],
            user: Profile | None, first_run: float) -> list[dict[str, Any]]:
    ordered = sorted(states, key=lambda s: (s.time, s.state_id))
    named = {s.state_id: {**_state(s, user, first_run), "events": []} for s in ordered}
    outside: list[dict[str, Any]] = []
    for event in sorted(events, key=lambda e: (e.time, e.event_id)):
        holder = named.get(event.state_id) if event.state_id is not None else None
        (holder["events"] if holder is not None else outside).append(_event(event, user, first_run))
    unnamed = [{"stateId": implicit_state_id(session.session_id), "events": outside}] if outside else []
    return unnamed + list(named.values())


def _location(info: dict[str, Any], out: dict[str, Any]) -> None:
    for name in _PLACE:
        if isinstance(info.get(name), str):
            out[name] = info[name]
    if info.get("timezoneOffsetSeconds") is not None:
        out["timezoneOffsetSeconds"] = _integer(info["timezoneOffsetSeconds"])
    where = info.get("location")
    if isinstance(where, str) and where.count(",") == 1:
        lat, lon = (part.strip() for part in where.split(","))
        if lat and lon:
            out["lat"], out["lon"] = lat, lon


def line(session: ExportSession, states: Sequence[ExportState], events: Sequence[ExportEvent],
         user: Profile | None) -> dict[str, Any]:
    """One session as its export line (EXPORT-FORMAT.md §2.2), keys in the documented order."""
    info = msgspec.json.decode(session.info)
    info = info if isinstance(info, dict) else {}
    duration = session.duration or 0.0
    # The profile's creation is stamped with the server's clock when the first request arrived, which can be
    # after the first session's start as the client's clock tells it; the first run is never after a session.
    first_run = min(_number(info.get("firstRun"), session.started), session.started)
    out: dict[str, Any] = {"sessionId": str(session.session_id), "userId": session.user_id}
    if session.device_id:
        out["deviceId"] = session.device_id
    out.update({
        "userBucket": _integer(info.get("userBucket")),
        # A background start never brought to the foreground did not count as a session.
        "isSession": not (info.get("background") is True and duration == 0.0),
        "isDeveloper": session.dev_mode,
        "time": session.started,
        "firstRun": first_run,
        "duration": duration,
        "priorEvents": _integer(info.get("priorEvents")),
        "priorStates": _integer(info.get("priorStates")),
        "priorSessions": _integer(info.get("priorSessions")),
        "priorTimeSpentInApp": _number(info.get("priorTimeSpentInApp")),
    })
    _location(info, out)
    for name in _DEVICE:
        if isinstance(info.get(name), str):
            out[name] = info[name]
    source = (user.traffic_source if user is not None else None) or {}
    for given, named in _SOURCE:
        if source.get(given) is not None:
            out[named] = str(source[given])
    out["userAttributes"] = dict(user.attributes) if user is not None else {}
    out["experiments"] = [{"id": int(test), "variantId": int(variant)}
                          for test, variant in (user.exposures.items() if user is not None else ())
                          if str(test).lstrip("-").isdigit()]
    out["states"] = _states(session, states, events, user, first_run)
    return out
