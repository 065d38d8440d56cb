"""The names an app uses (events, states, user attributes, parameters), and Leanplum's per-app caps on them.

API.md §3.6: at most 500 event names, 500 state names, 500 attribute names and 200 parameter names per app, and
an event may not share a name with a state. Known names are cached per process; a new name is recorded in
the same transaction as the behaviour that introduced it, and cached once that transaction has committed.
Transactions running at once (in one process or several) may overshoot a cap by the few names each adds;
the catalog never refuses a name it has already accepted.
"""

from __future__ import annotations

import threading
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
        """Accept the names of ``kind`` the caps allow (new ones appended to ``pending``, the transaction's own
        names); return problems. The catalog itself learns them only once their transaction has committed
        (``remember``): until then a name is new to every other transaction, each of which records it again
        (recording one is idempotent), and one that rolls back leaves nothing behind.

        Before refusing anything the cache is reloaded from the store (another process may have changed it).
        """
        problems = self._admit(self._names(tx, app_id), kind, names, pending)
        if problems:
            self.forget(app_id)
            problems = self._admit(self._names(tx, app_id), kind, names, pending)
        return problems

    def _admit(self, app: _AppNames, kind: str, names: list[str], pending: list[tuple[str, str]]) -> list[str]:
        stored = app.by_kind.get(kind, set())
        other = STATE if kind == EVENT else EVENT if kind == STATE else None
        other_stored = app.by_kind.get(other, set()) if other is not None else set()
        mine = {name for pending_kind, name in pending if pending_kind == kind}
        problems: list[str] = []
        for name in names:
            if name in stored or name in mine:
                continue
            if other is not None and (name in other_stored or (other, name) in pending):
                problems.append(f"{kind.capitalize()} name {name!r} is already used by a {other}")
                continue
            cap = self.caps.of(kind)
            if len(stored) + len(mine) >= cap:
                problems.append(f"The app already has {cap} {kind} names; {name!r} was not recorded")
                continue
            mine.add(name)
            pending.append((kind, name))
        return problems

    def remember(self, app_id: str, names: list[tuple[str, str]]) -> None:
        """Names a transaction recorded, once it has committed. An app whose names are not loaded yet reads
        them from the store when first asked."""
        with self._lock:
            app = self._apps.get(app_id)
            if app is not None:
                for kind, name in names:
                    app.by_kind.setdefault(kind, set()).add(name)

    def known(self, app_id: str, kind: str) -> frozenset[str]:
        with self._lock:
            app = self._apps.get(app_id)
        return frozenset(app.by_kind.get(kind, ())) if app else frozenset()

    def forget(self, app_id: str) -> None:
        with self._lock:
            self._apps.pop(app_id, None)
