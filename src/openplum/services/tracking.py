"""Events and states (API.md §4): ``track`` with its dispositions, ``advance``, ``pauseState``/``resumeState``.

Every event updates the profile's lifetime counters as it is stored. Message interactions (a ``messageId``)
are stored as message events and do not count as the user's own events. ``currencyCode`` is kept with the
event (and ``localCurrency``/``localPrice`` added to its parameters); no exchange rates are applied, so the value
stays in the currency the client sent.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from openplum.services import postbacks, sessions
from openplum.services.profile import EventStats, OpenSession, Profile, StateStats
from openplum.services.sessions import Timeouts
from openplum.services.unit import Unit, new_id
from openplum.store.base import EventRow, StateRow

Disposition = Literal["active", "passive", "requireActive"]
NO_ACTIVE_SESSION = "No active session; event ignored (disposition requireActive)."


class Tracked(msgspec.Struct, frozen=True):
    name: str
    value: float
    when: float
    currency: str | None = None
    info: str | None = None
    params: dict[str, Any] | None = None
    message_id: str | None = None
    dev_mode: bool = False


def _json(value: dict[str, Any] | None) -> bytes | None:
    return msgspec.json.encode(value) if value else None


def active_session(profile: Profile, device_key: str) -> OpenSession | None:
    session = profile.sessions.get(device_key)
    return session if session is not None and session.paused_at is None and not session.background else None


def track(
    unit: Unit, profile: Profile, device_key: str, event: Tracked, disposition: Disposition, timeouts: Timeouts
) -> bool:
    """Record ``event``; False when ``requireActive`` found no active session and nothing was recorded."""
    session = profile.sessions.get(device_key)
    if disposition == "requireActive" and active_session(profile, device_key) is None:
        return False
    params = event.params
    if event.currency:
        params = {**(params or {}), "localCurrency": event.currency, "localPrice": event.value}
    unit.add_event(EventRow(
        event_id=new_id(), user_id=profile.user_id, device_id=device_key or None,
        session_id=session.session_id if session else None, state_id=session.state_id if session else None,
        name=event.name, time=event.when, received=unit.now, value=event.value, currency=event.currency,
        info=event.info, params=_json(params), message_id=event.message_id, dev_mode=event.dev_mode,
    ))
    if event.message_id is None:
        profile.events.setdefault(event.name, EventStats()).add(event.when, event.value)
    else:
        postbacks.message_event(unit, profile.user_id, device_key or None, event.message_id, event.name, event.when,
                                params)
    if disposition != "passive":
        if session is not None:
            sessions.touch(unit, profile, session, event.when, timeouts)
        else:
            profile.mark_active(event.when)
    unit.changed(profile)
    return True


def advance(
    unit: Unit, profile: Profile, device_key: str, state: str, when: float, timeouts: Timeouts, *,
    info: str | None, params: dict[str, Any] | None,
) -> None:
    """Leave the current state (recording its duration) and enter ``state``; ``""`` enters none."""
    session = profile.sessions.get(device_key)
    if session is not None:
        sessions.close_state(unit, session, when)
        sessions.touch(unit, profile, session, when, timeouts)
    else:
        profile.mark_active(when)
    unit.changed(profile)
    if not state:
        return
    state_id = new_id()
    unit.add_state(StateRow(
        state_id=state_id, user_id=profile.user_id, device_id=device_key or None,
        session_id=session.session_id if session else None, name=state, time=when, info=info, params=_json(params),
    ))
    profile.states.setdefault(state, StateStats()).add(when)
    if session is not None:
        session.state_id, session.state_name, session.state_started = state_id, state, when
        if session.paused_at is not None:
            session.state_paused_at = when


def pause_state(unit: Unit, profile: Profile, device_key: str, when: float) -> None:
    session = profile.sessions.get(device_key)
    if session is not None:
        sessions.pause_state(session, when)
        unit.changed(profile)


def resume_state(unit: Unit, profile: Profile, device_key: str, when: float) -> None:
    session = profile.sessions.get(device_key)
    if session is not None:
        sessions.resume_state(session, when)
        unit.changed(profile)
