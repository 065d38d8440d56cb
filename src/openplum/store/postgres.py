"""The scale-out store: PostgreSQL through psycopg 3, group-commit writers, reads of one lookup on the event loop
(``store.loop_reads``) and the others on pooled reader threads.

A ``schema`` query parameter in the URL (``postgresql://host/db?schema=name``) selects the schema, which is
created on first start; test runs use it to keep their data apart.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from openplum.errors import StoreUnavailable
from openplum.store.base import EventRow, StateRow
from openplum.store.loop_reads import LoopReader
from openplum.store.migrate import apply_migrations
from openplum.store.reads import ReadGate
from openplum.store.sql import PROFILE_OF_USER, ReadAgain, SqlTx, pyformat
from openplum.store.writer import GroupCommitWriter

T = TypeVar("T")


_INSERT_EVENTS = (
    "INSERT INTO events (app_id, event_id, user_id, device_id, session_id, state_id, name, time, received, value, "
    "currency, info, params, message_id, dev_mode) "
    "SELECT %s, r.i, r.u, r.d, r.s, r.t, r.n, r.w, r.r, r.v, r.c, r.f, decode(r.p, 'hex'), r.m, r.x "
    "FROM json_to_recordset(%s::json) AS r(i bigint, u text, d text, s bigint, t bigint, n text, w float8, "
    "r float8, v float8, c text, f text, p text, m text, x boolean)"
)
_INSERT_STATES = (
    "INSERT INTO states (app_id, state_id, user_id, device_id, session_id, name, time, info, params) "
    "SELECT %s, r.i, r.u, r.d, r.s, r.n, r.w, r.f, decode(r.p, 'hex') "
    "FROM json_to_recordset(%s::json) AS r(i bigint, u text, d text, s bigint, n text, w float8, f text, p text)"
)
_CLAIM_PACKED = (
    "INSERT INTO ingest_keys (app_id, key, seen) "
    "SELECT %s, substring(%s::bytea FROM g * %s + 1 FOR %s), %s FROM generate_series(0, %s - 1) AS g "
    "ON CONFLICT (app_id, key) DO NOTHING RETURNING key"
)
_LOCK_USERS = (
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(%s || chr(31) || u, 0) AS k "
    "FROM unnest(%s::text[]) AS u) AS s ORDER BY k"
)
_LOCK_PAIRS = (
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(a || chr(31) || u, 0) AS k "
    "FROM unnest(%s::text[], %s::text[]) AS p(a, u)) AS s ORDER BY k"
)
"""The same locks as ``_LOCK_USERS``, for users of several apps."""
_LOCK_NAMES = "SELECT pg_advisory_xact_lock(hashtextextended(%s || chr(30) || 'names', 0))"
_json = msgspec.json.Encoder()
_SHARED_READS = {
    pyformat(PROFILE_OF_USER):
        "SELECT user_id, doc FROM profiles WHERE app_id = %s AND user_id = ANY(%s::text[])",
}
"""Single-key lookups that concurrent requests' loop reads share, with their form for many keys."""


class PgTx(SqlTx):
    """PostgreSQL's own forms of the write path's busiest statements, where psycopg's work per row and per
    parameter in Python costs more than the statement itself: a request's events go as one JSON parameter
    (encoded in C; one statement, held back in the writer's pipeline like ``executemany``, at a sixth of its
    CPU), and so do its states; replay keys are packed into one ``bytea`` parameter (psycopg parses a query
    with more than 50 parameters anew on every call). The states' durations stay one ``UPDATE`` by key per
    state: joined to a JSON recordset, whose size the planner cannot know, the update was planned as a scan of
    the app's states and cost PostgreSQL several times the whole batch."""

    def _send(self, sql: str | None, params: Sequence[Any]) -> Any:
        """After a round trip that failed, psycopg's record of the connection's prepared statements is forgotten.
        psycopg (3.3) prepares a statement on its sixth run and counts it as prepared as soon as the ``PREPARE``
        is queued; in a pipeline behind a statement that fails, the server skips that ``PREPARE``, so the next
        run of the statement on this connection failed with "prepared statement does not exist". psycopg
        forgets them itself on a rollback it sees first, not on the savepoint rollbacks that follow a failed
        job; it has no public call for it, hence its private ``_prepared``, whose ``clear`` also has the server
        deallocate them all with the next statement (tests/store/test_writer.py holds the case)."""
        try:
            return super()._send(sql, params)
        except Exception:
            self._conn._prepared.clear()
            raise

    _locked: frozenset[tuple[str, str]] = frozenset()
    """The users ``lock_users`` locked for the whole transaction (before any savepoint, so a savepoint rolled
    back keeps them)."""

    def lock_users(self, users: Sequence[tuple[str, str]]) -> bool:
        """One statement locks them all, in the order of their lock keys, as ``load_profiles`` locks a request's
        users: two transactions that each lock their users in one statement never wait for each other, where
        requests of one group locking theirs one request at a time could (a deadlock, which PostgreSQL finds
        after a second and breaks by failing one of them). Held back until the next ``sync``."""
        pairs = sorted(set(users))
        if not pairs:
            return False
        self.hold(_LOCK_PAIRS, ([app_id for app_id, _ in pairs], [user_id for _, user_id in pairs]))
        self._locked = frozenset(pairs)
        return True

    def finish(self, sql: str) -> None:
        self._locked = frozenset()
        super().finish(sql)

    def load_profiles(self, app_id: str, user_ids: Sequence[str], *, lock: bool = False) -> dict[str, bytes]:
        """With ``lock``, the users are locked whether or not their profile exists yet: ``FOR UPDATE`` alone
        locks only rows that exist, so two transactions could both create a new user's profile and the later
        upsert would drop the other's events. A transaction-scoped advisory lock per user, taken in one order
        everywhere, makes them take turns; it goes in the same round trip as the profile read, for the users
        the transaction has not locked already (``lock_users``)."""
        if lock and user_ids:
            locked = self._locked
            wanted = sorted({user_id for user_id in user_ids if (app_id, user_id) not in locked})
            if wanted:
                self._later(_LOCK_USERS, (app_id, wanted))
        return super().load_profiles(app_id, user_ids, lock=lock)

    def add_names(self, app_id: str, names: Sequence[tuple[str, str]]) -> None:
        """Each statement adds its names in one order, but a transaction adds them in one statement per request
        of its group: two transactions adding the same new names in different orders would each wait for the
        other's row. The app's lock on names, taken first and held to the commit, makes them take turns (new
        names are rare: a name's first sight in the app)."""
        if names:
            self._later(_LOCK_NAMES, (app_id,))
        super().add_names(app_id, names)

    def insert_events(self, app_id: str, rows: Sequence[EventRow]) -> None:
        if not rows:
            return
        if not all(math.isfinite(r.time + r.received + r.value) for r in rows):  # JSON has no NaN: rare, exact
            super().insert_events(app_id, rows)
            return
        doc = _json.encode([
            {"i": r.event_id, "u": r.user_id, "d": r.device_id, "s": r.session_id, "t": r.state_id, "n": r.name,
             "w": r.time, "r": r.received, "v": r.value, "c": r.currency, "f": r.info,
             "p": None if r.params is None else r.params.hex(), "m": r.message_id, "x": r.dev_mode}
            for r in rows
        ])
        self._many(_INSERT_EVENTS, [(app_id, doc.decode())])

    def insert_states(self, app_id: str, rows: Sequence[StateRow]) -> None:
        if len(rows) < 2 or not all(math.isfinite(r.time) for r in rows):
            super().insert_states(app_id, rows)
            return
        doc = _json.encode([
            {"i": r.state_id, "u": r.user_id, "d": r.device_id, "s": r.session_id, "n": r.name, "w": r.time,
             "f": r.info, "p": None if r.params is None else r.params.hex()}
            for r in rows
        ])
        self._many(_INSERT_STATES, [(app_id, doc.decode())])

    def claim_keys(self, app_id: str, keys: Sequence[bytes], now: float) -> set[bytes]:
        return self.claim_keys_soon(app_id, keys, now)()

    def claim_keys_soon(self, app_id: str, keys: Sequence[bytes], now: float) -> Callable[[], set[bytes]]:
        unique = list(dict.fromkeys(keys))
        size = len(unique[0]) if unique else 0
        if not size or any(len(k) != size for k in unique):
            return super().claim_keys_soon(app_id, keys, now)
        cursor = self._later(_CLAIM_PACKED, (app_id, b"".join(unique), size, size, now, len(unique)))

        def seen() -> set[bytes]:
            fresh = {bytes(r[0]) for r in cursor().fetchall()}
            return {k for k in keys if k not in fresh}

        return seen


def _alone(conn: Any) -> PgTx:
    """A transaction that runs at most one statement, in autocommit."""
    return PgTx(conn, pyformat=True, budget=1)


def _transient(exc: BaseException) -> bool:
    """A refusal the same writes would not meet again: a deadlock victim, a serialization failure."""
    return isinstance(exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure)


def split_schema(url: str) -> tuple[str, str | None]:
    """Return the libpq URL without our ``schema`` parameter, and that schema."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", None)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), "")), schema


class PostgresStore:
    backend = "postgres"

    def __init__(self, url: str, *, writer_queue_limit: int = 2000, readers: int = 4, writers: int = 1) -> None:
        self.url = url
        self._gate = ReadGate(writer_queue_limit)
        self._conninfo, self._schema = split_schema(url)
        self._kwargs: dict[str, Any] = {"autocommit": True}
        if self._schema:
            self._kwargs["options"] = f"-csearch_path={self._schema}"
        self._writer = GroupCommitWriter(
            connect=self._connect, begin="BEGIN", make_tx=self._writer_tx, queue_limit=writer_queue_limit,
            name="openplum-postgres-writer", lanes=writers, retryable=_transient,
        )
        self._nreaders = readers
        self._pool: ConnectionPool[Any] | None = None
        self._loop_reader: LoopReader | None = None
        self._executor = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="openplum-pg-reader")

    def _connect(self) -> psycopg.Connection[Any]:
        """A write connection; psycopg prepares its repeated statements (about a quarter of PostgreSQL's CPU per
        ingest batch, bench/README.md), and ``PgTx._send`` keeps that safe after a failed round trip."""
        return psycopg.connect(self._conninfo, **self._kwargs)

    @staticmethod
    def _tx(conn: Any) -> SqlTx:
        return PgTx(conn, pyformat=True)

    @staticmethod
    def _writer_tx(conn: Any) -> SqlTx:
        return PgTx(conn, pyformat=True, pipeline=True)

    def migrate(self) -> list[str]:
        if self._schema:
            with psycopg.connect(self._conninfo, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema)))
        return apply_migrations("postgres", self.url)

    async def start(self) -> None:
        await asyncio.to_thread(self.migrate)
        # Readers' connections refuse writes even outside a transaction (reads may run in autocommit). The
        # setting joins any ``options`` the URL itself carries (e.g. a search_path), which a keyword would
        # otherwise replace.
        url_options = psycopg.conninfo.conninfo_to_dict(self._conninfo).get("options") or ""
        options = " ".join(o for o in (str(url_options), self._kwargs.get("options", ""),
                                       "-cdefault_transaction_read_only=on") if o)
        self._pool = ConnectionPool(
            self._conninfo, kwargs={**self._kwargs, "options": options}, min_size=1, max_size=self._nreaders,
            open=False,
        )
        self._pool.open(wait=True, timeout=30)
        self._loop_reader = LoopReader(self._conninfo, {**self._kwargs, "options": options}, self._nreaders,
                                       _SHARED_READS)
        self._loop_reader.open()
        self._writer.start()

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.stop)
        self._executor.shutdown(wait=True)
        if self._loop_reader is not None:
            await self._loop_reader.close()
        if self._pool is not None:
            self._pool.close()

    async def write(self, fn: Callable[[Any], T], *, users: Collection[tuple[str, str]] = ()) -> T:
        return await self._writer.submit(fn, users)

    async def read(self, fn: Callable[[Any], T]) -> T:
        """A read of one statement runs on the event loop (``store.loop_reads``) when called from the loop the
        store started on; any other read runs on a reader thread."""
        loop = asyncio.get_running_loop()
        with self._gate.admit():
            alone = self._loop_reader is not None and self._loop_reader.serves()
            if alone:
                assert self._loop_reader is not None
                try:
                    return await self._loop_reader.read(fn, _alone)
                except ReadAgain:
                    pass
            return await loop.run_in_executor(self._executor, self._read, fn, not alone)

    def _read(self, fn: Callable[[Any], T], try_alone: bool = True) -> T:
        """One statement is consistent on its own: a read is first tried as a single statement in autocommit
        (one round trip instead of three), unless the loop just tried that. A read that needs a second
        statement is run again in a read-only transaction, whose ``BEGIN`` goes with the first statement."""
        assert self._pool is not None, "store not started"
        try:
            with self._pool.connection(timeout=10) as conn:
                if try_alone:
                    try:
                        return fn(_alone(conn))
                    except ReadAgain:
                        pass
                tx = PgTx(conn, pyformat=True, pipeline=True)
                tx.control("BEGIN READ ONLY")
                try:
                    return fn(tx)
                finally:
                    tx.finish("ROLLBACK")
        except psycopg.OperationalError as exc:
            raise StoreUnavailable() from exc

    def run(self, fn: Callable[[Any], T]) -> T:
        with self._connect() as conn:
            conn.execute("BEGIN")
            try:
                result = fn(self._tx(conn))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
