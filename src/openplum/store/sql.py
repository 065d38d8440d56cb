"""The SQL both backends share, written once with ``?`` placeholders; PostgreSQL's driver gets ``%s``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from mypy_extensions import mypyc_attr

from openplum.store.app_settings_sql import AppSettingsSql
from openplum.store.base import (
    AppRecord,
    EventRow,
    OpenSessionRef,
    SessionRow,
    StateRow,
)
from openplum.store.content_sql import ContentSql
from openplum.store.export_sql import ExportSql
from openplum.store.files import FilesSql
from openplum.store.import_sql import ImportSql
from openplum.store.jobs import JobsSql
from openplum.store.postbacks_sql import PostbacksSql
from openplum.store.report_sql import ReportSql

_CHUNK = 400
PROFILE_OF_USER = "SELECT doc FROM profiles WHERE app_id = ? AND user_id = ?"
"""One user's profile (``getVars``, ``exportUser``, most SDK batches): PostgreSQL's loop reads share it."""


def pyformat(sql: str) -> str:
    """A statement written with ``?`` placeholders (SQLite's), in psycopg's ``%s`` form."""
    return sql.replace("?", "%s")


@mypyc_attr(allow_interpreted_subclasses=True)  # the loop reader's first pass raises a kind of its own
class ReadAgain(BaseException):
    """A read tried the cheap way reached a statement beyond its limits: run it again the full way.

    A ``BaseException``, so that no ``except Exception`` in the read itself can swallow it.
    """


class _Held:
    """A statement held back to be sent in the next pipeline: transaction control, an ``executemany`` or a
    statement whose ``cursor`` is read after it has been sent."""

    __slots__ = ("cursor", "data", "many", "params", "sql")

    def __init__(self, sql: str, params: Any, *, many: bool = False, data: bool = False) -> None:
        self.sql = sql
        self.params = params
        self.many = many
        self.data = data or many
        self.cursor: Any = None


class Cursor(Protocol):
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...


def _chunks(seq: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


@mypyc_attr(allow_interpreted_subclasses=True)  # PgTx (store/postgres.py) is interpreted
class SqlTx(ContentSql, FilesSql, JobsSql, PostbacksSql, ReportSql, ExportSql, ImportSql, AppSettingsSql):
    """Implements ``store.base.Tx`` over a DB-API connection already inside a transaction.

    With ``pipeline`` (the PostgreSQL writer), statements whose results nobody reads (``executemany`` and the
    writer's transaction control) are held back and sent together with the next statement that returns rows,
    or at ``sync``: one round trip instead of one each. An error in them is raised there, so the writer syncs
    at the end of every request to keep each request's failures its own.

    A store may first try a read the cheap way, with limits: ``light_only`` (only the one-row key lookups,
    ``_exec_light``, may run) or ``budget`` (at most that many statements, in autocommit). A read that goes past
    its limit is stopped with ``ReadAgain`` and the store runs it again the full way.
    """

    def __init__(
        self, conn: Any, *, pyformat: bool, pipeline: bool = False, light_only: bool = False,
        budget: int | None = None,
    ) -> None:
        self._conn = conn
        self._pyformat = pyformat
        self._cache: dict[str, str] = {}
        self._pipeline = pipeline
        self._held: list[_Held] = []
        self._light_only = light_only
        self._budget = budget

    # -- plumbing --------------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        if not self._pyformat:
            return sql
        out = self._cache.get(sql)
        if out is None:
            out = self._cache[sql] = pyformat(sql)
        return out

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._light_only:
            raise ReadAgain()
        return self._exec_light(sql, params)

    def _exec_light(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """A statement cheap enough for a read run on the event loop: a lookup by primary key."""
        if self._budget is not None:
            if not self._budget:
                raise ReadAgain()
            self._budget -= 1
        if self._held:
            return self._send(self._sql(sql), params)
        return self._conn.execute(self._sql(sql), params)

    def _changed(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement that changes rows; how many it changed."""
        return int(self._exec(sql, params).rowcount or 0)

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self._light_only or self._budget is not None:
            raise ReadAgain()
        if self._pipeline:
            self._held.append(_Held(self._sql(sql), rows, many=True))
            return
        cur = self._conn.cursor()
        try:
            cur.executemany(self._sql(sql), rows)
        finally:
            cur.close()

    def control(self, sql: str) -> None:
        """A transaction-control statement without parameters (``SAVEPOINT`` ...); held back in a pipeline."""
        if self._pipeline:
            self._held.append(_Held(sql, None))
        else:
            self._conn.execute(sql)

    def hold(self, sql: str, params: Sequence[Any]) -> None:
        """A statement of the transaction rather than of one request (a lock for the whole group): held back in a
        pipeline like ``control``, and kept when a failed request's statements are dropped."""
        if self._pipeline:
            self._held.append(_Held(self._sql(sql), params))
        else:
            self._exec(sql, params)

    def _later(self, sql: str, params: Sequence[Any]) -> Callable[[], Any]:
        """A statement whose rows are read later: in a pipeline it goes with the next statement sent."""
        if not self._pipeline:
            sent = self._exec(sql, params)
            return lambda: sent
        held = _Held(self._sql(sql), params, data=True)
        self._held.append(held)

        def cursor() -> Any:
            if held.cursor is None:
                self.sync()
            return held.cursor

        return cursor

    def sync(self) -> None:
        """Run every statement held back, now; raise the first error among them."""
        if self._held:
            self._send(None, ())

    def drop_unsent(self) -> None:
        """Forget the data statements held back (a request failed: nothing of it may reach the database)."""
        self._held = [held for held in self._held if not held.data]

    def finish(self, sql: str) -> None:
        """Run the statements held back, then ``sql`` (``COMMIT`` or ``ROLLBACK``), in one round trip; an error
        in one of them skips ``sql``, so a transaction is never committed past a failed statement."""
        if self._held:
            self._send(sql, ())
        else:
            self._conn.execute(sql)

    def _send(self, sql: str | None, params: Sequence[Any]) -> Any:
        held, self._held = self._held, []
        conn = self._conn
        with conn.pipeline():
            for statement in held:
                if statement.many:
                    conn.cursor().executemany(statement.sql, statement.params)
                else:
                    statement.cursor = conn.execute(statement.sql, statement.params)
            return conn.execute(sql, params) if sql is not None else None

    def ping(self) -> None:
        self._exec_light("SELECT 1").fetchone()

    def lock_users(self, users: Sequence[tuple[str, str]]) -> bool:
        """Nothing to lock: one SQLite transaction writes at a time (``PgTx`` locks)."""
        return False

    # -- apps ------------------------------------------------------------------------------------------
    _APP_COLS = (
        "app_id, name, production_key, development_key, data_export_key, content_read_only_key, created"
    )

    def insert_app(self, app: AppRecord) -> None:
        self._exec(
            f"INSERT INTO apps ({self._APP_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (app.app_id, app.name, app.production_key, app.development_key, app.data_export_key,
             app.content_read_only_key, app.created),
        )

    def get_app(self, app_id: str) -> AppRecord | None:
        row = self._exec_light(f"SELECT {self._APP_COLS} FROM apps WHERE app_id = ?", (app_id,)).fetchone()
        return AppRecord(*row) if row else None

    def list_apps(self) -> list[AppRecord]:
        rows = self._exec(f"SELECT {self._APP_COLS} FROM apps ORDER BY created, app_id").fetchall()
        return [AppRecord(*r) for r in rows]

    # -- profiles --------------------------------------------------------------------------------------
    def load_profiles(self, app_id: str, user_ids: Sequence[str], *, lock: bool = False) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        # Row locks (PostgreSQL; SQLite has one writer at a time) keep processes from losing each other's
        # updates; sorted ids keep the lock order the same everywhere, so batches do not deadlock.
        suffix = " ORDER BY user_id FOR UPDATE" if lock and self._pyformat else ""
        if len(user_ids) == 1:  # getVars, exportUser, most SDK batches: one user, one plain key lookup
            user_id, = user_ids
            row = self._exec_light(PROFILE_OF_USER + suffix, (app_id, user_id)).fetchone()
            return {user_id: bytes(row[0])} if row is not None else {}
        for chunk in _chunks(sorted(set(user_ids))):
            marks = ",".join("?" * len(chunk))
            rows = self._exec_light(
                f"SELECT user_id, doc FROM profiles WHERE app_id = ? AND user_id IN ({marks}){suffix}",
                (app_id, *chunk),
            ).fetchall()
            out.update((u, bytes(d)) for u, d in rows)
        return out

    def save_profiles(self, app_id: str, docs: Iterable[tuple[str, bytes, float]]) -> None:
        self._many(
            "INSERT INTO profiles (app_id, user_id, doc, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (app_id, user_id) DO UPDATE SET doc = excluded.doc, updated = excluded.updated",
            [(app_id, u, d, t) for u, d, t in docs],
        )

    def delete_profile(self, app_id: str, user_id: str) -> None:
        self._exec("DELETE FROM profiles WHERE app_id = ? AND user_id = ?", (app_id, user_id))

    # -- devices ---------------------------------------------------------------------------------------
    def device_users(self, app_id: str, device_ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(device_ids))):
            marks = ",".join("?" * len(chunk))
            rows = self._exec_light(
                f"SELECT device_id, user_id FROM devices WHERE app_id = ? AND device_id IN ({marks})",
                (app_id, *chunk),
            ).fetchall()
            out.update((d, u) for d, u in rows)
        return out

    def set_device_users(self, app_id: str, pairs: Iterable[tuple[str, str]]) -> None:
        self._many(
            "INSERT INTO devices (app_id, device_id, user_id) VALUES (?, ?, ?) "
            "ON CONFLICT (app_id, device_id) DO UPDATE SET user_id = excluded.user_id",
            [(app_id, d, u) for d, u in pairs],
        )

    def delete_devices_of(self, app_id: str, user_id: str) -> None:
        self._exec("DELETE FROM devices WHERE app_id = ? AND user_id = ?", (app_id, user_id))

    # -- behaviour history -----------------------------------------------------------------------------
    def insert_events(self, app_id: str, rows: Sequence[EventRow]) -> None:
        self._many(
            "INSERT INTO events (app_id, event_id, user_id, device_id, session_id, state_id, name, time, "
            "received, value, currency, info, params, message_id, dev_mode) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(app_id, r.event_id, r.user_id, r.device_id, r.session_id, r.state_id, r.name, r.time,
              r.received, r.value, r.currency, r.info, r.params, r.message_id, r.dev_mode) for r in rows],
        )

    def insert_states(self, app_id: str, rows: Sequence[StateRow]) -> None:
        self._many(
            "INSERT INTO states (app_id, state_id, user_id, device_id, session_id, name, time, info, params) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(app_id, r.state_id, r.user_id, r.device_id, r.session_id, r.name, r.time, r.info, r.params)
             for r in rows],
        )

    def set_state_durations(self, app_id: str, durations: Iterable[tuple[int, float]]) -> None:
        self._many(
            "UPDATE states SET duration = ? WHERE app_id = ? AND state_id = ?",
            [(d, app_id, s) for s, d in durations],
        )

    def upsert_sessions(self, app_id: str, rows: Sequence[SessionRow]) -> None:
        self._many(
            "INSERT INTO sessions (app_id, session_id, user_id, device_id, started, expires, ended, "
            "duration, end_reason, dev_mode, info) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (app_id, session_id) DO UPDATE SET user_id = excluded.user_id, "
            "expires = excluded.expires, ended = excluded.ended, duration = excluded.duration, "
            "end_reason = excluded.end_reason",
            [(app_id, r.session_id, r.user_id, r.device_id, r.started, r.expires, r.ended,
              r.duration, r.end_reason, r.dev_mode, r.info) for r in rows],
        )

    def touch_sessions(self, app_id: str, touches: Iterable[tuple[int, float]]) -> None:
        self._many(
            "UPDATE sessions SET expires = ? WHERE app_id = ? AND session_id = ? AND ended IS NULL",
            [(t, app_id, s) for s, t in touches],
        )

    def end_sessions(self, app_id: str, ends: Sequence[tuple[int, float, float | None, str]]) -> None:
        self._many(
            "UPDATE sessions SET ended = ?, duration = ?, end_reason = ? "
            "WHERE app_id = ? AND session_id = ? AND ended IS NULL",
            [(at, duration, reason, app_id, sid) for sid, at, duration, reason in ends],
        )

    def stale_sessions(self, expired_by: float, limit: int) -> list[tuple[str, OpenSessionRef]]:
        rows = self._exec(
            "SELECT app_id, session_id, user_id, device_id FROM sessions "
            "WHERE ended IS NULL AND expires < ? ORDER BY expires LIMIT ?",
            (expired_by, limit),
        ).fetchall()
        return [(a, OpenSessionRef(s, u, d)) for a, s, u, d in rows]

    def reassign_user(self, app_id: str, from_user: str, to_user: str) -> None:
        for table in ("events", "states", "sessions", "devices"):
            self._exec(
                f"UPDATE {table} SET user_id = ? WHERE app_id = ? AND user_id = ?",
                (to_user, app_id, from_user),
            )

    def erase_history(self, app_id: str, user_id: str) -> None:
        for table in ("events", "states", "sessions"):
            self._exec(f"DELETE FROM {table} WHERE app_id = ? AND user_id = ?", (app_id, user_id))

    def count_events(self, app_id: str, user_id: str) -> int:
        row = self._exec(
            "SELECT COUNT(*) FROM events WHERE app_id = ? AND user_id = ?", (app_id, user_id)
        ).fetchone()
        return int(row[0])

    def count_sessions(self, app_id: str, user_id: str) -> int:
        row = self._exec(
            "SELECT COUNT(*) FROM sessions WHERE app_id = ? AND user_id = ?", (app_id, user_id)
        ).fetchone()
        return int(row[0])

    def register_test_device(self, app_id: str, device_id: str, email: str, now: float) -> bool:
        rows = self._exec(
            "INSERT INTO test_devices (app_id, device_id, email, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (app_id, device_id) DO NOTHING RETURNING device_id",
            (app_id, device_id, email, now),
        ).fetchall()
        return bool(rows)

    # -- the catalog of names an app uses -------------------------------------------------------------------
    def list_names(self, app_id: str) -> list[tuple[str, str]]:
        return [(k, n) for k, n in self._exec("SELECT kind, name FROM names WHERE app_id = ?", (app_id,)).fetchall()]

    def add_names(self, app_id: str, names: Sequence[tuple[str, str]]) -> None:
        self._many(
            "INSERT INTO names (app_id, kind, name) VALUES (?, ?, ?) ON CONFLICT (app_id, kind, name) DO NOTHING",
            [(app_id, k, n) for k, n in sorted(names)],  # one order for all: concurrent inserts never deadlock
        )

    # -- replay keys -----------------------------------------------------------------------------------
    def claim_keys_soon(self, app_id: str, keys: Sequence[bytes], now: float) -> Callable[[], set[bytes]]:
        """``claim_keys``, answered when called: PostgreSQL's writer sends it with the profile read."""
        seen = self.claim_keys(app_id, keys, now)
        return lambda: seen

    def claim_keys(self, app_id: str, keys: Sequence[bytes], now: float) -> set[bytes]:
        fresh: set[bytes] = set()
        for chunk in _chunks(list(dict.fromkeys(keys))):
            values = ",".join("(?, ?, ?)" for _ in chunk)
            args: list[Any] = []
            for k in chunk:
                args += (app_id, k, now)
            rows = self._exec(
                f"INSERT INTO ingest_keys (app_id, key, seen) VALUES {values} "
                "ON CONFLICT (app_id, key) DO NOTHING RETURNING key",
                args,
            ).fetchall()
            fresh.update(bytes(r[0]) for r in rows)
        return {k for k in keys if k not in fresh}

    def release_keys(self, app_id: str, keys: Sequence[bytes]) -> None:
        self._many("DELETE FROM ingest_keys WHERE app_id = ? AND key = ?", [(app_id, k) for k in keys])

    def forget_keys(self, seen_before: float) -> int:
        return self._changed("DELETE FROM ingest_keys WHERE seen < ?", (seen_before,))
