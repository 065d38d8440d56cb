"""Sessions (API.md §4): start, pause, resume, heartbeat, stop, and the timeouts the server applies itself.

A session ends after ``session_timeout`` (2 h) without activity or ``pause_timeout`` (30 min) after a pause;
its length excludes paused time. A resume after a longer pause starts a new session. A ``background`` start is
not counted until the app comes to the foreground (``resumeSession``).
"""

from __future__ import annotations

import zlib
from typing import Any

import msgspec

from openplum.services.profile import LOCATION_FIELDS, OpenSession, Profile
from openplum.services.unit import Unit, new_id
from openplum.settings import Settings
from openplum.store.base import SessionRow


class Timeouts(msgspec.Struct, frozen=True):
    session: float
    pause: float

    @classmethod
    def of(cls, settings: Settings) -> Timeouts:
        return cls(settings.session_timeout, settings.pause_timeout)


def expires(session: OpenSession, timeouts: Timeouts) -> float:
    if session.paused_at is not None:
        return session.paused_at + timeouts.pause
    return session.last_activity + timeouts.session


def user_bucket(user_id: str) -> int:
    """A stable bucket 0-999 per user, as Leanplum's exports carry (``userBucket``)."""
    return zlib.crc32(user_id.encode()) % 1000


def start(
    unit: Unit, profile: Profile, device_key: str, when: float, timeouts: Timeouts, *,
    background: bool, dev_mode: bool, client: dict[str, Any],
) -> OpenSession:
    if device_key in profile.sessions:
        end(unit, profile, device_key, when, "restarted")
    session = OpenSession(
        session_id=new_id(), device_id=device_key or None, started=when, last_activity=when,
        background=background, dev_mode=dev_mode,
    )
    profile.sessions[device_key] = session
    if not background:
        profile.total_sessions += 1
        profile.mark_active(when)
    info = {
        **client,
        **{k: v for k, v in profile.location.items() if k in LOCATION_FIELDS},
        "priorSessions": profile.total_sessions - (0 if background else 1),
        "priorEvents": sum(s.count for s in profile.events.values()),
        "priorStates": sum(s.count for s in profile.states.values()),
        "priorTimeSpentInApp": profile.time_spent_in_app,
        "firstRun": profile.created,
        "userBucket": user_bucket(profile.user_id),
        "background": background,
    }
    if device_key and device_key in profile.devices:
        info.update(profile.devices[device_key].fields)
    unit.put_session(SessionRow(
        session_id=session.session_id, user_id=profile.user_id, device_id=session.device_id, started=when,
        expires=expires(session, timeouts), ended=None, duration=None, end_reason=None, dev_mode=dev_mode,
        info=msgspec.json.encode(info),
    ))
    unit.changed(profile)
    return session


def length(session: OpenSession, at: float) -> float:
    """Foreground time of ``session`` up to ``at``: paused time and a never-resumed background start excluded."""
    if session.background:
        return 0.0
    paused = session.paused_total
    if session.paused_at is not None:
        paused += max(0.0, at - session.paused_at)
    return max(0.0, at - session.started - paused)


def end(unit: Unit, profile: Profile, device_key: str, at: float, reason: str) -> None:
    session = profile.sessions.pop(device_key, None)
    if session is None:
        return
    at = max(at, session.started)
    close_state(unit, session, at)
    duration = length(session, at)
    profile.time_spent_in_app += duration
    unit.end_session(session.session_id, at, duration, reason)
    unit.changed(profile)


def pause(unit: Unit, profile: Profile, device_key: str, when: float, timeouts: Timeouts) -> bool:
    session = profile.sessions.get(device_key)
    if session is None:
        return False
    if session.paused_at is None:
        session.paused_at = max(when, session.started)
        pause_state(session, when)
    unit.expire_session_at(session.session_id, expires(session, timeouts))
    unit.changed(profile)
    return True


def resume(
    unit: Unit, profile: Profile, device_key: str, when: float, timeouts: Timeouts, *,
    dev_mode: bool, client: dict[str, Any],
) -> OpenSession:
    """Resume the open session, or start a new one when there is none or the pause outlasted the timeout."""
    session = profile.sessions.get(device_key)
    if session is not None and session.paused_at is not None and when - session.paused_at > timeouts.pause:
        end(unit, profile, device_key, session.paused_at, "paused")
        session = None
    if session is None:
        return start(unit, profile, device_key, when, timeouts, background=False, dev_mode=dev_mode, client=client)
    if session.paused_at is not None:
        session.paused_total += max(0.0, when - session.paused_at)
        session.paused_at = None
        resume_state(session, when)
    if session.background:
        session.background = False
        session.started = when
        profile.total_sessions += 1
    touch(unit, profile, session, when, timeouts)
    return session


def touch(unit: Unit, profile: Profile, session: OpenSession, when: float, timeouts: Timeouts) -> None:
    """User activity inside the session: it stays open for another ``session_timeout``."""
    if when > session.last_activity:
        session.last_activity = when
    profile.mark_active(when)
    unit.expire_session_at(session.session_id, expires(session, timeouts))
    unit.changed(profile)


def sweep(unit: Unit, profile: Profile, session_id: int, now: float, timeouts: Timeouts) -> bool:
    """End the session ``session_id`` if it has timed out; True when it ended (or was already gone)."""
    for device_key, session in profile.sessions.items():
        if session.session_id != session_id:
            continue
        if session.paused_at is not None and now - session.paused_at >= timeouts.pause:
            end(unit, profile, device_key, session.paused_at, "pause timeout")
            return True
        if session.paused_at is None and now - session.last_activity >= timeouts.session:
            end(unit, profile, device_key, session.last_activity, "inactivity timeout")
            return True
        unit.expire_session_at(session_id, expires(session, timeouts))
        return False
    unit.end_session(session_id, now, None, "lost")
    return True


# -- the state the user is in, within a session --------------------------------------------------------
def close_state(unit: Unit, session: OpenSession, at: float) -> None:
    if session.state_id is None or session.state_started is None:
        return
    paused = session.state_paused_total
    if session.state_paused_at is not None:
        paused += max(0.0, at - session.state_paused_at)
    unit.end_state(session.state_id, max(0.0, at - session.state_started - paused))
    session.state_id = session.state_name = session.state_started = session.state_paused_at = None
    session.state_paused_total = 0.0


def pause_state(session: OpenSession, when: float) -> None:
    if session.state_id is not None and session.state_paused_at is None:
        session.state_paused_at = when


def resume_state(session: OpenSession, when: float) -> None:
    if session.state_paused_at is not None:
        session.state_paused_total += max(0.0, when - session.state_paused_at)
        session.state_paused_at = None
