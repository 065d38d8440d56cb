"""SQL for raw exports (``exportData``, ``exportUsers``): completed sessions in pages, their states and events in
bulk, profiles in pages, and the files an export wrote.

Every read is a page: sessions by keyset on (start, id) and profiles by keyset on user id, never ``OFFSET``, so
a page costs the same at the start and at the end of a long export, and an export holds one page in memory. A
mixin of ``store.sql.SqlTx``, which provides ``_exec``; every statement is written once with ``?`` placeholders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

_CHUNK = 400
"""Ids per ``IN (...)`` list: well under SQLite's bound-parameter limit."""


@dataclass(frozen=True)
class SessionWindow:
    """Which completed sessions an export takes: started in ``[start_lo, start_hi)`` and ended (became available)
    in ``[ended_lo, ended_hi)``; None leaves that side open."""

    start_lo: float | None = None
    start_hi: float | None = None
    ended_lo: float | None = None
    ended_hi: float | None = None


@dataclass(frozen=True)
class ExportSession:
    session_id: int
    user_id: str
    device_id: str | None
    started: float
    ended: float
    duration: float | None
    dev_mode: bool
    info: bytes


@dataclass(frozen=True)
class ExportState:
    state_id: int
    session_id: int
    name: str
    time: float
    duration: float | None
    info: str | None
    params: bytes | None


@dataclass(frozen=True)
class ExportEvent:
    event_id: int
    session_id: int
    state_id: int | None
    name: str
    time: float
    value: float
    info: str | None
    params: bytes | None
    message_id: str | None


@dataclass(frozen=True)
class ExportFileRow:
    token: str
    name: str
    app_id: str
    job_id: str
    storage_key: str
    content_type: str
    size: int | None
    """None while the blob is being written."""
    created: float
    expires: float


class ExportTx(Protocol):
    def export_sessions(
        self, app_id: str, window: SessionWindow, after: tuple[float, int] | None, limit: int
    ) -> list[ExportSession]:
        """Up to ``limit`` completed sessions in the window, ordered by (start, id), after the key ``after``."""
        ...

    def count_export_sessions(self, app_id: str, window: SessionWindow) -> int: ...
    def states_of_sessions(self, app_id: str, session_ids: Sequence[int]) -> list[ExportState]: ...
    def events_of_sessions(self, app_id: str, session_ids: Sequence[int]) -> list[ExportEvent]: ...
    def profile_page(self, app_id: str, after: str | None, limit: int) -> list[tuple[str, bytes]]:
        """Up to ``limit`` (user id, profile document) ordered by user id, after ``after``."""
        ...

    def count_jobs_since(self, app_id: str, kind: str, since: float) -> int: ...

    def add_export_file(self, row: ExportFileRow) -> None: ...
    def complete_export_file(self, token: str, name: str, size: int) -> None: ...
    def get_export_file(self, token: str, name: str) -> ExportFileRow | None: ...
    def expired_export_files(self, now: float, limit: int) -> list[ExportFileRow]: ...
    def forget_export_files(self, keys: Sequence[tuple[str, str]]) -> None: ...


def _window(window: SessionWindow) -> tuple[str, list[Any]]:
    where, args = ["app_id = ?", "ended IS NOT NULL"], []
    for column, op, bound in (("started", ">=", window.start_lo), ("started", "<", window.start_hi),
                              ("ended", ">=", window.ended_lo), ("ended", "<", window.ended_hi)):
        if bound is not None:
            where.append(f"{column} {op} ?")
            args.append(float(bound))
    return " AND ".join(where), args


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _blob(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


_FILE_COLS = "token, name, app_id, job_id, storage_key, content_type, size, created, expires"


def _file(r: Sequence[Any]) -> ExportFileRow:
    return ExportFileRow(r[0], r[1], r[2], r[3], r[4], r[5], None if r[6] is None else int(r[6]), float(r[7]),
                         float(r[8]))


class ExportSql:
    """SQL for ``ExportTx``; mixed into ``store.sql.SqlTx``."""

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def export_sessions(
        self, app_id: str, window: SessionWindow, after: tuple[float, int] | None, limit: int
    ) -> list[ExportSession]:
        where, args = _window(window)
        if after is not None:
            where += " AND (started > ? OR (started = ? AND session_id > ?))"
            args += [after[0], after[0], after[1]]
        rows = self._exec(
            "SELECT session_id, user_id, device_id, started, ended, duration, dev_mode, info FROM sessions "
            f"WHERE {where} ORDER BY started, session_id LIMIT ?",
            (app_id, *args, limit),
        ).fetchall()
        return [ExportSession(int(s), u, d, float(st), float(e), None if du is None else float(du), bool(dev),
                              bytes(i)) for s, u, d, st, e, du, dev, i in rows]

    def count_export_sessions(self, app_id: str, window: SessionWindow) -> int:
        where, args = _window(window)
        return int(self._exec(f"SELECT COUNT(*) FROM sessions WHERE {where}", (app_id, *args)).fetchone()[0])

    def states_of_sessions(self, app_id: str, session_ids: Sequence[int]) -> list[ExportState]:
        out: list[ExportState] = []
        for chunk in _chunks(session_ids):
            rows = self._exec(
                "SELECT state_id, session_id, name, time, duration, info, params FROM states "
                f"WHERE app_id = ? AND session_id IN ({','.join('?' * len(chunk))})",
                (app_id, *chunk),
            ).fetchall()
            out += [ExportState(int(s), int(ss), n, float(t), None if d is None else float(d), i, _blob(p))
                    for s, ss, n, t, d, i, p in rows]
        return out

    def events_of_sessions(self, app_id: str, session_ids: Sequence[int]) -> list[ExportEvent]:
        out: list[ExportEvent] = []
        for chunk in _chunks(session_ids):
            rows = self._exec(
                "SELECT event_id, session_id, state_id, name, time, value, info, params, message_id FROM events "
                f"WHERE app_id = ? AND session_id IN ({','.join('?' * len(chunk))})",
                (app_id, *chunk),
            ).fetchall()
            out += [ExportEvent(int(e), int(s), None if st is None else int(st), n, float(t), float(v or 0.0), i,
                                _blob(p), m) for e, s, st, n, t, v, i, p, m in rows]
        return out

    def profile_page(self, app_id: str, after: str | None, limit: int) -> list[tuple[str, bytes]]:
        if after is None:
            rows = self._exec(
                "SELECT user_id, doc FROM profiles WHERE app_id = ? ORDER BY user_id LIMIT ?", (app_id, limit)
            ).fetchall()
        else:
            rows = self._exec(
                "SELECT user_id, doc FROM profiles WHERE app_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
                (app_id, after, limit),
            ).fetchall()
        return [(u, bytes(d)) for u, d in rows]

    def count_jobs_since(self, app_id: str, kind: str, since: float) -> int:
        row = self._exec(
            "SELECT COUNT(*) FROM jobs WHERE app_id = ? AND created >= ? AND kind = ?", (app_id, since, kind)
        ).fetchone()
        return int(row[0])

    def add_export_file(self, row: ExportFileRow) -> None:
        self._exec(
            f"INSERT INTO export_files ({_FILE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.token, row.name, row.app_id, row.job_id, row.storage_key, row.content_type, row.size, row.created,
             row.expires),
        )

    def complete_export_file(self, token: str, name: str, size: int) -> None:
        self._exec("UPDATE export_files SET size = ? WHERE token = ? AND name = ?", (size, token, name))

    def get_export_file(self, token: str, name: str) -> ExportFileRow | None:
        row = self._exec(
            f"SELECT {_FILE_COLS} FROM export_files WHERE token = ? AND name = ?", (token, name)
        ).fetchone()
        return _file(row) if row else None

    def expired_export_files(self, now: float, limit: int) -> list[ExportFileRow]:
        rows = self._exec(
            f"SELECT {_FILE_COLS} FROM export_files WHERE expires <= ? ORDER BY expires LIMIT ?", (now, limit)
        ).fetchall()
        return [_file(r) for r in rows]

    def forget_export_files(self, keys: Sequence[tuple[str, str]]) -> None:
        for token, name in keys:
            self._exec("DELETE FROM export_files WHERE token = ? AND name = ?", (token, name))
