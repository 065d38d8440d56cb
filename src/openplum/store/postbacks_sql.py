"""Postbacks in the store: definitions per app, a signing secret per app, and the outbox of deliveries.

An outbox row is 'pending' until delivered (then deleted) or until its last attempt failed (then 'dead', a dead
letter that the management API lists and can replay). A worker claims due pending rows by pushing ``due`` a
lease ahead and counting the attempt; a worker that dies mid-send leaves the row to be claimed again once the
lease has passed (at least once). On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED`` so workers on many hosts
share the outbox; SQLite has one writer, so a plain update is already exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

PENDING, DEAD = "pending", "dead"


@dataclass(frozen=True)
class PostbackRow:
    postback_id: int
    kind: str
    url: str
    channels: str
    """JSON array of channel names."""
    created: float


@dataclass(frozen=True)
class NewDelivery:
    postback_id: int
    url: str
    """The postback's URL template with this event's values filled in."""
    event: bytes
    """JSON: what the request body carries besides the delivery id."""


@dataclass(frozen=True)
class DeliveryRow:
    delivery_id: int
    app_id: str
    postback_id: int
    url: str
    event: bytes
    state: str
    attempts: int
    due: float
    created: float
    updated: float
    last_error: str | None


_PB_COLS = "postback_id, kind, url, channels, created"
_COLS = "delivery_id, app_id, postback_id, url, event, state, attempts, due, created, updated, last_error"


def _delivery(r: Sequence[Any]) -> DeliveryRow:
    return DeliveryRow(int(r[0]), r[1], int(r[2]), r[3], bytes(r[4]), r[5], int(r[6]), float(r[7]), float(r[8]),
                       float(r[9]), r[10])


class PostbacksTx(Protocol):
    def insert_postback(self, app_id: str, kind: str, url: str, channels: str, now: float) -> int: ...
    def list_postbacks(self, app_id: str) -> list[PostbackRow]: ...
    def delete_postback(self, app_id: str, postback_id: int) -> bool:
        """Delete the postback and every delivery of it still in the outbox (pending or dead)."""
        ...

    def lock_postback_secret(self, app_id: str, candidate: str, now: float) -> str:
        """The app's secret, storing ``candidate`` when there is none; the row stays locked until the transaction
        ends, which serialises changes to one app's postbacks across processes."""
        ...

    def postback_secrets(self, app_ids: Sequence[str]) -> dict[str, str]: ...
    def set_postback_secret(self, app_id: str, secret: str, now: float) -> None: ...
    def insert_deliveries(self, app_id: str, rows: Sequence[NewDelivery], now: float) -> None: ...
    def claim_deliveries(self, now: float, lease: float, limit: int) -> list[DeliveryRow]: ...
    def delivered(self, delivery_id: int) -> None: ...
    def reschedule_delivery(self, delivery_id: int, attempt: int, due: float, error: str, now: float) -> None:
        """Record a failed ``attempt``; ignored when another worker has claimed the row since."""
        ...

    def bury_delivery(self, delivery_id: int, attempt: int, error: str, now: float) -> None: ...
    def bury_exhausted_deliveries(self, now: float, max_attempts: int) -> int: ...
    def delivery_counts(self, app_id: str) -> dict[str, int]: ...
    def dead_letters(self, app_id: str, after: int, limit: int) -> list[DeliveryRow]: ...
    def replay_dead_letters(self, app_id: str, delivery_id: int | None, now: float) -> int: ...


class PostbacksSql:
    """SQL for ``PostbacksTx``; mixed into ``store.sql.SqlTx`` (which provides ``_exec``, ``_many``, ``_pyformat``)."""

    _pyformat: bool

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def _changed(self, sql: str, params: Sequence[Any] = ()) -> int:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    # -- definitions and secrets -------------------------------------------------------------------------
    def insert_postback(self, app_id: str, kind: str, url: str, channels: str, now: float) -> int:
        row = self._exec(
            "INSERT INTO postbacks (app_id, kind, url, channels, created) VALUES (?, ?, ?, ?, ?) "
            "RETURNING postback_id",
            (app_id, kind, url, channels, now),
        ).fetchone()
        return int(row[0])

    def list_postbacks(self, app_id: str) -> list[PostbackRow]:
        rows = self._exec(
            f"SELECT {_PB_COLS} FROM postbacks WHERE app_id = ? ORDER BY postback_id", (app_id,)
        ).fetchall()
        return [PostbackRow(int(r[0]), r[1], r[2], r[3], float(r[4])) for r in rows]

    def delete_postback(self, app_id: str, postback_id: int) -> bool:
        if not self._changed("DELETE FROM postbacks WHERE app_id = ? AND postback_id = ?", (app_id, postback_id)):
            return False
        self._exec("DELETE FROM postback_outbox WHERE postback_id = ?", (postback_id,))
        return True

    def lock_postback_secret(self, app_id: str, candidate: str, now: float) -> str:
        self._exec(
            "INSERT INTO postback_secrets (app_id, secret, created) VALUES (?, ?, ?) ON CONFLICT (app_id) DO NOTHING",
            (app_id, candidate, now),
        )
        lock = " FOR UPDATE" if self._pyformat else ""
        row = self._exec(f"SELECT secret FROM postback_secrets WHERE app_id = ?{lock}", (app_id,)).fetchone()
        return str(row[0])

    def postback_secrets(self, app_ids: Sequence[str]) -> dict[str, str]:
        if not app_ids:
            return {}
        marks = ",".join("?" * len(app_ids))
        rows = self._exec(
            f"SELECT app_id, secret FROM postback_secrets WHERE app_id IN ({marks})", tuple(app_ids)
        ).fetchall()
        return {str(a): str(s) for a, s in rows}

    def set_postback_secret(self, app_id: str, secret: str, now: float) -> None:
        self._exec(
            "INSERT INTO postback_secrets (app_id, secret, created) VALUES (?, ?, ?) "
            "ON CONFLICT (app_id) DO UPDATE SET secret = excluded.secret, created = excluded.created",
            (app_id, secret, now),
        )

    # -- the outbox --------------------------------------------------------------------------------------
    def insert_deliveries(self, app_id: str, rows: Sequence[NewDelivery], now: float) -> None:
        self._many(
            "INSERT INTO postback_outbox (app_id, postback_id, url, event, state, attempts, due, created, updated) "
            f"VALUES (?, ?, ?, ?, '{PENDING}', 0, ?, ?, ?)",
            [(app_id, r.postback_id, r.url, r.event, now, now, now) for r in rows],
        )

    def claim_deliveries(self, now: float, lease: float, limit: int) -> list[DeliveryRow]:
        lock = " FOR UPDATE SKIP LOCKED" if self._pyformat else ""
        rows = self._exec(
            "UPDATE postback_outbox SET due = ?, attempts = attempts + 1, updated = ? WHERE delivery_id IN ("
            f"SELECT delivery_id FROM postback_outbox WHERE state = '{PENDING}' AND due <= ? ORDER BY due "
            f"LIMIT ?{lock}) RETURNING {_COLS}",
            (now + lease, now, now, limit),
        ).fetchall()
        return sorted((_delivery(r) for r in rows), key=lambda d: d.delivery_id)

    def delivered(self, delivery_id: int) -> None:
        self._exec("DELETE FROM postback_outbox WHERE delivery_id = ?", (delivery_id,))

    def reschedule_delivery(self, delivery_id: int, attempt: int, due: float, error: str, now: float) -> None:
        self._exec(
            "UPDATE postback_outbox SET due = ?, last_error = ?, updated = ? "
            f"WHERE delivery_id = ? AND attempts = ? AND state = '{PENDING}'",
            (due, error, now, delivery_id, attempt),
        )

    def bury_delivery(self, delivery_id: int, attempt: int, error: str, now: float) -> None:
        self._exec(
            f"UPDATE postback_outbox SET state = '{DEAD}', last_error = ?, updated = ? "
            f"WHERE delivery_id = ? AND attempts = ? AND state = '{PENDING}'",
            (error, now, delivery_id, attempt),
        )

    def bury_exhausted_deliveries(self, now: float, max_attempts: int) -> int:
        return self._changed(
            f"UPDATE postback_outbox SET state = '{DEAD}', updated = ?, last_error = COALESCE(last_error, "
            "'The delivery was interrupted too many times (server restarts)') "
            f"WHERE state = '{PENDING}' AND due <= ? AND attempts >= ?",
            (now, now, max_attempts),
        )

    def delivery_counts(self, app_id: str) -> dict[str, int]:
        rows = self._exec(
            "SELECT state, COUNT(*) FROM postback_outbox WHERE app_id = ? GROUP BY state", (app_id,)
        ).fetchall()
        return {str(s): int(n) for s, n in rows}

    def dead_letters(self, app_id: str, after: int, limit: int) -> list[DeliveryRow]:
        rows = self._exec(
            f"SELECT {_COLS} FROM postback_outbox WHERE app_id = ? AND state = '{DEAD}' AND delivery_id > ? "
            "ORDER BY delivery_id LIMIT ?",
            (app_id, after, limit),
        ).fetchall()
        return [_delivery(r) for r in rows]

    def replay_dead_letters(self, app_id: str, delivery_id: int | None, now: float) -> int:
        only = "" if delivery_id is None else " AND delivery_id = ?"
        args: tuple[Any, ...] = (now, now, app_id) if delivery_id is None else (now, now, app_id, delivery_id)
        return self._changed(
            f"UPDATE postback_outbox SET state = '{PENDING}', attempts = 0, due = ?, updated = ? "
            f"WHERE app_id = ? AND state = '{DEAD}'{only}",
            args,
        )
