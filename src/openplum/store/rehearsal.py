"""Write jobs rehearsed ahead of their turn: on SQLite a server's workers write one file one at a time
(``store.write_turns``), so whatever a write job computes inside its transaction keeps the others waiting.

A job that allows it (a ``Rehearsable``: the ``/api`` batches of behaviour actions, ``http.api``) is first run
by its writer outside the turn, in a read transaction, against a ``Rehearsal``: a stand-in for the transaction
that lets through the reads it knows (each answer noted), notes the writes it knows instead of making them,
and stops (``NeedsTurn``) at anything else. Then, in the turn, ``replay`` asks the same reads again and makes
the noted writes, in their order; when every read gets the answer it got before, the job's result is the
rehearsal's, as if it had run there. When one does not (another worker changed that profile, or an earlier
job of the same group did), the job's writes are rolled back (to its savepoint, or with its group's
transaction: ``store.writer``) and it runs again the ordinary way, inside the turn. The replay keys' claim, a
write whose answer matters, is rehearsed as if none of the keys had been seen (an SDK resending a batch is
rare) and replayed as the claim itself, whose answer must then be that none had: a resent batch is found out
there and runs again in its turn, as a replay.

So the handlers' Python of two workers' batches runs at once, and only the statements take turns. A rehearsal
that is thrown away may have left names in the process's name catalog (``services.catalog``) that were never
written: the job's ``discarded`` drops them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")

READS = frozenset({"load_profiles", "device_users", "list_names", "list_postbacks"})
"""Reads a rehearsal lets through; their answers (plain values) are compared when replayed."""
WRITES = frozenset({
    "save_profiles", "delete_profile", "set_device_users", "insert_events", "insert_states", "set_state_durations",
    "upsert_sessions", "touch_sessions", "end_sessions", "add_names", "insert_deliveries", "release_keys",
})
"""Writes a rehearsal notes (their arguments taken as they are at that moment) and makes when replayed."""
_CLAIM = "claim_keys"
_PLAIN = (str, bytes, int, float, bool, type(None), list, tuple, dict, set, frozenset)


class NeedsTurn(Exception):
    """The job asked for something a rehearsal cannot stand in for: it runs in its turn instead."""


class Rehearsable(Generic[T]):
    """A write job (``fn(tx)``) that its writer may rehearse; ``discarded`` is called when a rehearsal of it is
    thrown away. Stores that do not rehearse call it like ``fn``."""

    __slots__ = ("discarded", "fn")

    def __init__(self, fn: Callable[[Any], T], discarded: Callable[[], None]) -> None:
        self.fn = fn
        self.discarded = discarded

    def __call__(self, tx: Any) -> T:
        return self.fn(tx)


Call = tuple[str, tuple[Any, ...], dict[str, Any], Any]
"""A noted call: method, arguments, keyword arguments, and the answer for a read (None for a write)."""


def _kept(value: Any) -> Any:
    """An argument as it is now: views and iterators over the job's state are copied into lists."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Iterable):
        return list(value)
    return value


class Rehearsal:
    """The transaction as a rehearsal sees it (see the module's text)."""

    def __init__(self, tx: Any) -> None:
        self._tx = tx
        self.calls: list[Call] = []

    def __getattr__(self, name: str) -> Any:
        if name in READS:
            return lambda *args, **kwargs: self._read(name, args, kwargs)
        if name in WRITES:
            return lambda *args, **kwargs: self._write(name, args, kwargs)
        if name == _CLAIM:
            return self._claim
        if name == "claim_keys_soon":
            return lambda app_id, keys, now: (lambda seen: lambda: seen)(self._claim(app_id, keys, now))
        raise NeedsTurn(name)

    def _read(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        answer = getattr(self._tx, name)(*args, **kwargs)
        self.calls.append((name, args, kwargs, _copy(answer)))
        return answer

    def _write(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.calls.append((name, tuple(_kept(a) for a in args), {k: _kept(v) for k, v in kwargs.items()}, None))

    def _claim(self, app_id: str, keys: Sequence[bytes], now: float) -> set[bytes]:
        self.calls.append((_CLAIM, (app_id, list(keys), now), {}, set()))
        return set()


def _copy(answer: Any) -> Any:
    """The answer as noted: containers copied, so the job changing the one it was given does not change it."""
    if isinstance(answer, dict):
        return dict(answer)
    if isinstance(answer, list):
        return list(answer)
    if isinstance(answer, set):
        return set(answer)
    return answer


def replay(tx: Any, calls: list[Call]) -> bool:
    """Make the rehearsed calls in ``tx`` (inside the turn); False as soon as a read or the claim answers
    differently, leaving the writes made so far for the caller to roll back."""
    for name, args, kwargs, noted in calls:
        if name in WRITES:
            getattr(tx, name)(*args, **kwargs)
        elif getattr(tx, name)(*args, **kwargs) != noted:
            return False
    return True
