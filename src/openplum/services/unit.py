"""The unit of work one request's actions share inside one store transaction.

Write actions run in the store's writer thread; the unit keeps what they change in memory (profiles, new rows)
and writes it once, in bulk, when the request's actions are done: a 50-item SDK batch costs one profile read,
one profile write and one multi-row insert per table.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from typing import Any

import msgspec

from openplum.services import postbacks
from openplum.services import profile as profiles
from openplum.services.catalog import NameCatalog
from openplum.services.profile import Profile
from openplum.services.profile_reader import Decode
from openplum.store.base import EventRow, SessionRow, StateRow, Tx

_ids = random.Random()  # noqa: S311 - seeded from os.urandom; ids need uniqueness, not secrecy
_bits = _ids.getrandbits
os.register_at_fork(after_in_child=_ids.seed)  # a forked worker must not repeat its parent's sequence


def new_id() -> int:
    """A random positive 63-bit id (sessions, states, events), as Leanplum's exports use integers.

    Ids need to be unique, not secret (a session id is also the SDK's opaque token, never a credential): a
    Mersenne Twister seeded from the OS once per process makes collisions as unlikely as ``os.urandom`` would,
    at a fraction of the cost. Its calls are atomic under the GIL, so threads may share it.
    """
    return _bits(63) or 1


class Unit:
    def __init__(
        self, tx: Tx, app_id: str, now: float, *, writable: bool, catalog: NameCatalog | None = None
    ) -> None:
        self.tx = tx
        self.catalog = catalog or NameCatalog()
        self.new_names: list[tuple[str, str]] = []
        self._admitted: dict[str, set[str]] = {}
        """Names the catalog has admitted for this unit, by kind: a batch repeats its names item after item."""
        self.app_id = app_id
        self.now = now
        self.writable = writable
        self._profiles: dict[str, Profile | None] = {}
        self._docs: dict[str, bytes | None] = {}
        """Profiles read but not yet decoded (a request may need only some of those its batch names)."""
        self._partial: dict[str, Profile | None] = {}
        """Profiles decoded in part for reads that change nothing (``reading``); never saved."""
        self._dirty: set[str] = set()
        self._dropped: set[str] = set()
        self._device_users: dict[str, str | None] = {}
        self._device_links: dict[str, str] = {}
        self.events: list[EventRow] = []
        self.states: list[StateRow] = []
        self.state_durations: dict[int, float] = {}
        self.sessions: dict[int, SessionRow] = {}
        self.session_expiry: dict[int, float] = {}
        self.session_ends: dict[int, tuple[float, float | None, str]] = {}
        self.postback_events: list[postbacks.PostbackEvent] = []

    # -- profiles ------------------------------------------------------------------------------------
    def prefetch(self, user_ids: Iterable[str]) -> None:
        """Read the profiles of ``user_ids`` in one statement; each is decoded when first asked for."""
        wanted = [u for u in dict.fromkeys(user_ids) if u and u not in self._profiles and u not in self._docs]
        if not wanted:
            return
        found = self.tx.load_profiles(self.app_id, wanted, lock=self.writable)
        for user_id in wanted:
            self._docs[user_id] = found.get(user_id)

    def profile(self, user_id: str) -> Profile | None:
        if user_id in self._profiles:
            return self._profiles[user_id]
        if user_id not in self._docs:
            self.prefetch([user_id])
        doc = self._docs.pop(user_id)
        self._partial.pop(user_id, None)
        found = self._profiles[user_id] = profiles.decode(doc) if doc is not None else None
        return found

    def reading(self, user_id: str, decode: Decode) -> Profile | None:
        """The profile for a read that never changes it (targeting): on a unit that does not write, decoded by
        ``decode``, which may leave out what the reader does not need (``profile_reader``); otherwise, and
        once the whole profile has been asked for, the whole profile."""
        if self.writable or user_id in self._profiles:
            return self.profile(user_id)
        if user_id in self._partial:
            return self._partial[user_id]
        if user_id not in self._docs:
            self.prefetch([user_id])
        doc = self._docs[user_id]
        found = self._partial[user_id] = decode(doc) if doc is not None else None
        return found

    def create(self, user_id: str, *, identified: bool) -> Profile:
        created = Profile(user_id=user_id, created=self.now, identified=identified)
        self._profiles[user_id] = created
        self._dropped.discard(user_id)
        self.changed(created)
        return created

    def changed(self, profile: Profile) -> None:
        self._dirty.add(profile.user_id)

    def drop(self, user_id: str) -> None:
        self._profiles[user_id] = None
        self._dirty.discard(user_id)
        self._dropped.add(user_id)

    def rename(self, profile: Profile, new_id: str) -> None:
        """Give ``profile`` a new user id, moving its history (stored and still buffered) along."""
        old = profile.user_id
        self.reassign(old, new_id)
        profile.user_id = new_id
        self.drop(old)
        self._profiles[new_id] = profile
        self._dropped.discard(new_id)
        self.changed(profile)

    def replace(self, profile: Profile) -> None:
        self._profiles[profile.user_id] = profile
        self.changed(profile)

    def erase_history(self, user_id: str) -> None:
        """Delete every stored and buffered history row of ``user_id``."""
        self.tx.erase_history(self.app_id, user_id)
        self.events = [e for e in self.events if e.user_id != user_id]
        self.postback_events = [e for e in self.postback_events if e.user_id != user_id]
        gone = {s.state_id for s in self.states if s.user_id == user_id}
        self.states = [s for s in self.states if s.user_id != user_id]
        for state_id in gone:
            self.state_durations.pop(state_id, None)
        for sid, row in list(self.sessions.items()):
            if row.user_id == user_id:
                del self.sessions[sid]

    def reassign(self, old: str, new: str) -> None:
        """Move history rows of ``old`` to ``new``, those stored and those buffered in this unit."""
        self.tx.reassign_user(self.app_id, old, new)
        self.events = [msgspec.structs.replace(e, user_id=new) if e.user_id == old else e for e in self.events]
        self.states = [msgspec.structs.replace(s, user_id=new) if s.user_id == old else s for s in self.states]
        for sid, row in list(self.sessions.items()):
            if row.user_id == old:
                self.sessions[sid] = msgspec.structs.replace(row, user_id=new)
        for device, user in list(self._device_links.items()):
            if user == old:
                self._device_links[device] = new
        for device_id, owner in list(self._device_users.items()):
            if owner == old:
                self._device_users[device_id] = new

    # -- devices -------------------------------------------------------------------------------------
    def device_user(self, device_id: str) -> str | None:
        if device_id not in self._device_users:
            self._device_users[device_id] = self.tx.device_users(self.app_id, [device_id]).get(device_id)
        return self._device_users[device_id]

    def link_device(self, device_id: str, user_id: str) -> None:
        self._device_users[device_id] = user_id
        self._device_links[device_id] = user_id

    def admit(self, kind: str, names: list[str]) -> list[str]:
        """Check new names of ``kind`` against the app's caps; return a problem per refused name."""
        admitted = self._admitted.get(kind)
        if admitted is not None and admitted.issuperset(names):
            return []
        problems = self.catalog.admit(self.tx, self.app_id, kind, names, self.new_names)
        if not problems:
            self._admitted.setdefault(kind, set()).update(names)
        return problems

    # -- history -------------------------------------------------------------------------------------
    def add_event(self, row: EventRow) -> None:
        self.events.append(row)

    def add_state(self, row: StateRow) -> None:
        self.states.append(row)

    def end_state(self, state_id: int, duration: float) -> None:
        self.state_durations[state_id] = duration

    def put_session(self, row: SessionRow) -> None:
        self.sessions[row.session_id] = row
        self.session_expiry.pop(row.session_id, None)

    def end_session(self, session_id: int, at: float, duration: float | None, reason: str) -> None:
        row = self.sessions.get(session_id)
        if row is not None:
            self.sessions[session_id] = msgspec.structs.replace(row, ended=at, duration=duration, end_reason=reason)
        else:
            self.session_ends[session_id] = (at, duration, reason)
        self.session_expiry.pop(session_id, None)

    def expire_session_at(self, session_id: int, when: float) -> None:
        if session_id in self.sessions:
            self.sessions[session_id] = msgspec.structs.replace(self.sessions[session_id], expires=when)
        elif session_id not in self.session_ends:
            self.session_expiry[session_id] = when

    # -- the end -------------------------------------------------------------------------------------
    def flush(self) -> None:
        if not self.writable:
            return
        tx, app = self.tx, self.app_id
        for user_id in self._dropped:
            tx.delete_profile(app, user_id)
        docs: list[tuple[str, bytes, float]] = []
        for user_id in self._dirty:
            current = self._profiles.get(user_id)
            if current is not None:
                docs.append((user_id, profiles.encode(current), self.now))
        tx.save_profiles(app, docs)
        tx.set_device_users(app, self._device_links.items())
        tx.upsert_sessions(app, list(self.sessions.values()))
        tx.touch_sessions(app, self.session_expiry.items())
        tx.end_sessions(app, [(sid, at, dur, why) for sid, (at, dur, why) in self.session_ends.items()])
        tx.insert_states(app, self.states)
        tx.set_state_durations(app, self.state_durations.items())
        tx.insert_events(app, self.events)
        tx.add_names(app, self.new_names)
        postbacks.write_outbox(tx, app, self.postback_events, self.now)

    def debug_state(self) -> dict[str, Any]:
        return {"profiles": sorted(self._profiles), "dirty": sorted(self._dirty)}
