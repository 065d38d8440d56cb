"""The names an app uses (events, states, user attributes, parameters), and Leanplum's per-app caps on them.

API.md §3.6: at most 500 event names, 500 state names, 500 attribute names and 200 parameter names per app, and
an event may not share a name with a state. Known names are cached per process; a new name is recorded in
the same transaction as the behaviour that introduced it, and cached as soon as it is admitted, so that
concurrent transactions of one process do not record it again. A write that fails must therefore make the
catalog forget the app (``forgotten_on_failure``): the names its transaction admitted were never stored, and
the reload finds what was. A concurrent transaction that took such a name as known commits without it; the
next batch bringing the name records it. Across processes a cap may be overshot by the few names added
concurrently; the catalog never refuses a name it has already accepted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from openplum.store.base import Tx

EVENT, STATE, ATTRIBUTE, PARAMETER = "event", "state", "attribute", "parameter"


@dataclass(frozen=True)
class Caps:
    event: int = 500
    state: int = 500
    attribute: int = 500
    parameter: int = 200

    def of(self, kind: str) -> int:
        return int(getattr(self, kind))


@dataclass
class _AppNames:
    by_kind: dict[str, set[str]] = field(default_factory=dict)


class NameCatalog:
    def __init__(self, caps: Caps | None = None) -> None:
        self.caps = caps or Caps()
        self._apps: dict[str, _AppNames] = {}
        self._lock = threading.Lock()

    def _names(self, tx: Tx, app_id: str) -> _AppNames:
        with self._lock:
            known = self._apps.get(app_id)
        if known is None:
            known = _AppNames()
            for kind, name in tx.list_names(app_id):
                known.by_kind.setdefault(kind, set()).add(name)
            with self._lock:
                self._apps[app_id] = known
        return known

    def admit(self, tx: Tx, app_id: str, kind: str, names: list[str], pending: list[tuple[str, str]]) -> list[str]:
        """Accept the names of ``kind`` the caps allow (new ones appended to ``pending``); return problems.

        The cache may hold names whose transaction rolled back; before refusing anything it is reloaded from
        the store, so a refusal always rests on stored names.
        """
        problems = self._admit(self._names(tx, app_id), kind, names, pending)
        if problems:
            self.forget(app_id)
            fresh = self._names(tx, app_id)
            for pending_kind, name in pending:  # this transaction's names, not yet written
                fresh.by_kind.setdefault(pending_kind, set()).add(name)
            problems = self._admit(fresh, kind, names, pending)
        return problems

    def _admit(self, app: _AppNames, kind: str, names: list[str], pending: list[tuple[str, str]]) -> list[str]:
        mine = app.by_kind.setdefault(kind, set())
        problems: list[str] = []
        for name in names:
            if name in mine:
                continue
            other = STATE if kind == EVENT else EVENT if kind == STATE else None
            if other is not None and name in app.by_kind.get(other, ()):
                problems.append(f"{kind.capitalize()} name {name!r} is already used by a {other}")
                continue
            cap = self.caps.of(kind)
            if len(mine) >= cap:
                problems.append(f"The app already has {cap} {kind} names; {name!r} was not recorded")
                continue
            mine.add(name)
            if (kind, name) not in pending:
                pending.append((kind, name))
        return problems

    def known(self, app_id: str, kind: str) -> frozenset[str]:
        with self._lock:
            app = self._apps.get(app_id)
        return frozenset(app.by_kind.get(kind, ())) if app else frozenset()

    @contextmanager
    def forgotten_on_failure(self, app_id: str) -> Iterator[None]:
        """Around a write of ``app_id``: when it raises (rolled back, or its outcome unknown), forget the app."""
        try:
            yield
        except BaseException:
            self.forget(app_id)
            raise

    def forget(self, app_id: str) -> None:
        with self._lock:
            self._apps.pop(app_id, None)
